//! `docent-api admin`: prints what the operator asked for as aligned plain-text tables.

use std::io::Write;
use std::process::ExitCode;

use docent_app::Config;
use docent_app::operator::Operator;
use docent_kernel::OrgId;

use crate::cli::AdminCommand;

fn date(at: chrono::DateTime<chrono::Utc>) -> String {
    at.format("%Y-%m-%d %H:%M").to_string()
}

/// Writes rows under a header, each column as wide as its widest cell.
fn table(out: &mut impl Write, header: &[&str], rows: &[Vec<String>]) -> std::io::Result<()> {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        padded.join("  ").trim_end().to_owned()
    };
    writeln!(out, "{}", line(header.to_vec()))?;
    for row in rows {
        writeln!(out, "{}", line(row.iter().map(String::as_str).collect()))?;
    }
    Ok(())
}

/// Runs one admin command against the configured database.
pub async fn run(
    config: &Config,
    command: AdminCommand,
    out: &mut impl Write,
) -> anyhow::Result<ExitCode> {
    let operator = Operator::open(config).await?;
    match command {
        AdminCommand::Users => {
            let rows: Vec<Vec<String>> = operator
                .users()
                .await?
                .into_iter()
                .map(|u| {
                    vec![
                        u.id.to_string(),
                        u.email,
                        u.name,
                        date(u.created_at),
                        u.disabled_at.map_or_else(
                            || "active".to_owned(),
                            |at| format!("disabled {}", date(at)),
                        ),
                        u.orgs.to_string(),
                        u.active_sessions.to_string(),
                    ]
                })
                .collect();
            table(
                out,
                &[
                    "ID", "EMAIL", "NAME", "CREATED", "STATE", "ORGS", "SESSIONS",
                ],
                &rows,
            )?;
        }
        AdminCommand::Orgs => {
            let rows: Vec<Vec<String>> = operator
                .orgs()
                .await?
                .into_iter()
                .map(|o| {
                    vec![
                        o.id.to_string(),
                        o.name,
                        o.slug,
                        date(o.created_at),
                        o.deleted_at.map_or_else(
                            || "active".to_owned(),
                            |at| format!("deleted {}", date(at)),
                        ),
                        o.members.to_string(),
                        o.documents.to_string(),
                    ]
                })
                .collect();
            table(
                out,
                &[
                    "ID",
                    "NAME",
                    "SLUG",
                    "CREATED",
                    "STATE",
                    "MEMBERS",
                    "DOCUMENTS",
                ],
                &rows,
            )?;
        }
        AdminCommand::DisableUser { email } => {
            operator.set_disabled(&email, true).await?;
            writeln!(
                out,
                "disabled {email}: it cannot sign in and its sessions have ended"
            )?;
        }
        AdminCommand::EnableUser { email } => {
            operator.set_disabled(&email, false).await?;
            writeln!(out, "enabled {email}")?;
        }
        AdminCommand::ResetSessions { email } => {
            let ended = operator.reset_sessions(&email).await?;
            writeln!(out, "ended {ended} sessions of {email}")?;
        }
        AdminCommand::Queue => {
            let rows: Vec<Vec<String>> = operator
                .queue()
                .await?
                .into_iter()
                .map(|(kind, c)| {
                    vec![
                        kind,
                        c.queued.to_string(),
                        c.running.to_string(),
                        c.failed.to_string(),
                    ]
                })
                .collect();
            table(out, &["KIND", "QUEUED", "RUNNING", "FAILED"], &rows)?;
        }
        AdminCommand::Failed { limit } => {
            let jobs: Vec<Vec<String>> = operator
                .failed_jobs(limit)
                .await?
                .into_iter()
                .map(|j| {
                    vec![
                        j.id.to_string(),
                        j.kind,
                        j.org_id.to_string(),
                        j.document_id.to_string(),
                        j.attempts.to_string(),
                        date(j.updated_at),
                        j.last_error.unwrap_or_default(),
                    ]
                })
                .collect();
            writeln!(out, "failed jobs:")?;
            table(
                out,
                &[
                    "JOB",
                    "KIND",
                    "ORG",
                    "DOCUMENT",
                    "ATTEMPTS",
                    "GIVEN UP",
                    "LAST ERROR",
                ],
                &jobs,
            )?;
            let documents: Vec<Vec<String>> = operator
                .failed_documents(None)
                .await?
                .into_iter()
                .map(|d| {
                    vec![
                        d.org_id.to_string(),
                        d.id.to_string(),
                        d.title,
                        d.error_code.unwrap_or_default(),
                        d.error_message.unwrap_or_default(),
                    ]
                })
                .collect();
            writeln!(out, "\nfailed documents:")?;
            table(
                out,
                &["ORG", "DOCUMENT", "TITLE", "CODE", "ERROR"],
                &documents,
            )?;
        }
        AdminCommand::RetryFailed { org } => {
            let org = org
                .map(|raw| {
                    raw.parse::<OrgId>()
                        .map_err(|_| anyhow::anyhow!("`{raw}` is not an organization id"))
                })
                .transpose()?;
            let queued = operator.retry_failed(org).await?;
            for document in &queued {
                writeln!(
                    out,
                    "queued {} ({}) of {}",
                    document.id, document.title, document.org_id
                )?;
            }
            writeln!(
                out,
                "queued {} failed documents for processing again",
                queued.len()
            )?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
