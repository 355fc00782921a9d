//! An organization's pages and what they share: entering one (the one access call, with the
//! need of the page), the switcher and the tabs; then its members and invitations, its settings
//! (rename, delete with a typed confirmation) and its audit log with filters.

use docent_app::{Caller, Need};
use docent_identity::Principal;
use docent_kernel::{AuditFilter, ErrorKind, OrgId, PageRequest};
use docent_tenancy::{OrgAccess, OrgUpdate, Permission, Role};
use poem::http::StatusCode;
use poem::web::{Data, Path};
use poem::{Body, Request, Response, handler};
use serde::{Deserialize, Serialize};

use super::{Posted, error_page, failure, flash, form_page, listed, posted, redirect};
use crate::Console;
use crate::session::current;

/// A signed-in member inside one organization, admitted for a page's need.
pub(crate) struct Inside {
    /// The person.
    pub principal: Principal,
    /// The organization and the person's role in it.
    access: OrgAccess,
    /// The tenant scope the domain services take.
    tenant: docent_app::Tenant,
}

impl Inside {
    /// The member's organization and role.
    pub(crate) fn access(&self) -> &OrgAccess {
        &self.access
    }

    /// The tenant scope for the domain services.
    pub(crate) fn tenant(&self) -> &docent_kernel::TenantCtx {
        self.tenant.ctx()
    }

    /// The organization's id as the pages' URLs spell it.
    pub(crate) fn org_id(&self) -> String {
        self.access().org.id.to_string()
    }
}

/// The one step every organization page starts with: the signed-in person (or the sign-in page,
/// coming back here), admitted to `org` for `need` through the one access call — a page outside
/// the person's organizations is "not found", one their role does not allow is "forbidden".
pub(crate) async fn enter(
    console: &Console,
    req: &Request,
    org: &str,
    need: Need,
) -> Result<Inside, Response> {
    let Some((principal, _)) = current(console, req).await else {
        let here = req
            .uri()
            .path_and_query()
            .map_or("/", poem::http::uri::PathAndQuery::as_str);
        let next: String = url::form_urlencoded::byte_serialize(here.as_bytes()).collect();
        return Err(redirect(&format!("/login?next={next}"), Vec::new()));
    };
    let Ok(org_id) = org.parse::<uuid::Uuid>() else {
        return Err(not_found(console));
    };
    match console
        .services
        .access
        .tenant(
            Caller::User(principal.clone()),
            OrgId::from_uuid(org_id),
            need,
            super::meta(console, req),
        )
        .await
    {
        Ok(tenant) => {
            let access = match tenant.member() {
                Ok(member) => member.access.clone(),
                Err(error) => return Err(refused(console, &error)),
            };
            Ok(Inside {
                access,
                principal,
                tenant,
            })
        }
        Err(error) => Err(refused(console, &error)),
    }
}

/// The page for an access refusal.
fn refused(console: &Console, error: &docent_app::AccessError) -> Response {
    use docent_app::AccessError;
    match error {
        AccessError::Tenancy(docent_tenancy::TenancyError::Forbidden) => error_page(
            console,
            StatusCode::FORBIDDEN,
            "Not allowed",
            "Your role in this organization does not allow this page. An owner or an admin can change your role.",
        ),
        AccessError::Tenancy(docent_tenancy::TenancyError::OrgNotFound) => not_found(console),
        other @ (AccessError::Identity(_)
        | AccessError::Tenancy(_)
        | AccessError::Key(_)
        | AccessError::SessionRequired) => {
            let kind = match other {
                AccessError::Identity(e) => e.kind(),
                AccessError::Tenancy(e) => e.kind(),
                AccessError::Key(e) => e.kind(),
                AccessError::SessionRequired => ErrorKind::Forbidden,
            };
            let (status, message) = failure(kind, other);
            error_page(console, status, "This page is not available", &message)
        }
    }
}

/// The "not found" page.
pub(crate) fn not_found(console: &Console) -> Response {
    error_page(
        console,
        StatusCode::NOT_FOUND,
        "Not found",
        "There is nothing here, or it is in an organization you are not a member of.",
    )
}

#[derive(Debug, Serialize)]
struct Switch {
    id: String,
    name: String,
    current: bool,
}

/// What every organization page shows around its own content: the person, the organization and
/// their role, what the role allows (for the tabs and forms), and the switcher's organizations.
pub(crate) async fn frame(console: &Console, inside: &Inside, tab: &str) -> minijinja::Value {
    let access = inside.access();
    let orgs = listed(
        "organizations",
        console
            .services
            .tenancy
            .list_orgs(inside.principal.user.id, &PageRequest::largest_first())
            .await,
    );
    let switch: Vec<Switch> = orgs
        .iter()
        .map(|o| Switch {
            id: o.org.id.to_string(),
            name: o.org.name.as_str().to_owned(),
            current: o.org.id == access.org.id,
        })
        .collect();
    let role = access.role;
    let allows = |p: Permission| p.allowed_for(role);
    minijinja::context! {
        user => minijinja::context! {
            name => inside.principal.user.name.as_str(),
            email => inside.principal.user.email.as_str(),
        },
        org => minijinja::context! {
            id => access.org.id.to_string(),
            name => access.org.name.as_str(),
            slug => access.org.slug.as_str(),
        },
        role => role.as_str(),
        tab,
        can => minijinja::context! {
            write => allows(Permission::WriteContent),
            admin => allows(Permission::ManageMembers),
            invite => allows(Permission::ManageInvitations),
            keys => allows(Permission::ManageKeys),
            providers => allows(Permission::ManageProviders),
            rename => allows(Permission::UpdateOrg),
            delete => allows(Permission::DeleteOrg),
        },
        switch => minijinja::value::Value::from(minijinja::value::Serde(&switch)),
    }
}

/// `GET /orgs/:org`: the organization's overview.
#[handler]
pub(crate) async fn overview(
    req: &Request,
    Path(org): Path<String>,
    console: Data<&Console>,
) -> Response {
    let inside = match enter(&console, req, &org, Need::OrgRead).await {
        Ok(inside) => inside,
        Err(refused) => return refused,
    };
    let context = frame(&console, &inside, "overview").await;
    form_page(&console, req, "org.html", StatusCode::OK, context)
}

#[derive(Debug, Serialize)]
struct MemberRow {
    id: String,
    name: String,
    email: String,
    role: &'static str,
    joined_at: String,
    you: bool,
}

#[derive(Debug, Serialize)]
struct InvitationRow {
    id: String,
    email: String,
    role: &'static str,
    expires_at: String,
}

async fn members_page(
    console: &Console,
    req: &Request,
    inside: &Inside,
    status: StatusCode,
    error: Option<String>,
) -> Response {
    let access = inside.access();
    let tenancy = &console.services.tenancy;
    let page = PageRequest::largest_first();
    let members = listed("members", tenancy.list_members(access, &page).await);
    let invitations = if Permission::ManageInvitations.allowed_for(access.role) {
        listed("invitations", tenancy.list_invitations(access, &page).await)
    } else {
        Vec::new()
    };
    let members: Vec<MemberRow> = members
        .into_iter()
        .map(|m| MemberRow {
            you: m.user_id == inside.principal.user.id,
            id: m.user_id.to_string(),
            name: m.name,
            email: m.email.as_str().to_owned(),
            role: m.role.as_str(),
            joined_at: m.joined_at.format("%Y-%m-%d").to_string(),
        })
        .collect();
    let invitations: Vec<InvitationRow> = invitations
        .into_iter()
        .map(|i| InvitationRow {
            id: i.id.to_string(),
            email: i.email.as_str().to_owned(),
            role: i.role.as_str(),
            expires_at: i.expires_at.format("%Y-%m-%d %H:%M UTC").to_string(),
        })
        .collect();
    let roles: Vec<&str> = Role::ALL.iter().map(|r| r.as_str()).collect();
    let context = minijinja::context! {
        members => minijinja::value::Value::from(minijinja::value::Serde(&members)),
        invitations => minijinja::value::Value::from(minijinja::value::Serde(&invitations)),
        roles,
        error,
        ..frame(console, inside, "members").await
    };
    form_page(console, req, "members.html", status, context)
}

/// `GET /orgs/:org/members`: members, their roles, and the pending invitations.
#[handler]
pub(crate) async fn member_list(
    req: &Request,
    Path(org): Path<String>,
    console: Data<&Console>,
) -> Response {
    match enter(&console, req, &org, Need::Members).await {
        Ok(inside) => members_page(&console, req, &inside, StatusCode::OK, None).await,
        Err(refused) => refused,
    }
}

#[derive(Debug, Deserialize)]
struct MembersForm {
    csrf: Option<String>,
    /// `role`, `remove`, `invite` or `revoke`.
    #[serde(default)]
    action: String,
    #[serde(default)]
    user: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    invitation: String,
}

impl Posted for MembersForm {
    fn csrf(&self) -> Option<&str> {
        self.csrf.as_deref()
    }
}

/// The posted role, or the error the form shows.
fn role_of(raw: &str) -> Result<Role, docent_tenancy::TenancyError> {
    raw.parse()
        .map_err(|reason| docent_tenancy::TenancyError::Invalid {
            field: "role",
            reason,
        })
}

/// `POST /orgs/:org/members`: changes a role, removes a member (or leaves), invites someone or
/// revokes an invitation, each through the tenancy service's own checks.
#[handler]
pub(crate) async fn update_members(
    req: &Request,
    Path(org): Path<String>,
    body: Body,
    console: Data<&Console>,
) -> Response {
    let posted = match posted::<MembersForm>(&console, req, body).await {
        Ok(posted) => posted,
        Err(refused) => return refused,
    };
    let need = match posted.action.as_str() {
        "role" | "remove" => Need::Members,
        "invite" | "revoke" => Need::Invitations,
        _ => return super::forbidden(&console),
    };
    let inside = match enter(&console, req, &org, need).await {
        Ok(inside) => inside,
        Err(refused) => return refused,
    };
    let access = inside.access();
    let tenancy = &console.services.tenancy;
    let user = || {
        posted
            .user
            .parse::<uuid::Uuid>()
            .map(docent_kernel::UserId::from_uuid)
            .map_err(|_| docent_tenancy::TenancyError::MemberNotFound)
    };
    let outcome = match posted.action.as_str() {
        "role" => match (user(), role_of(&posted.role)) {
            (Ok(user), Ok(role)) => tenancy
                .change_role(access, user, role)
                .await
                .map(|m| format!("{} is now {}.", m.email.as_str(), m.role.as_str())),
            (Err(e), _) | (_, Err(e)) => Err(e),
        },
        "remove" => match user() {
            Ok(user) => tenancy.remove_member(access, user).await.map(|()| {
                if user == inside.principal.user.id {
                    format!("You left {}.", access.org.name.as_str())
                } else {
                    "The member is removed.".to_owned()
                }
            }),
            Err(e) => Err(e),
        },
        "invite" => match role_of(&posted.role) {
            Ok(role) => tenancy
                .invite(access, inside.principal.user.id, &posted.email, role)
                .await
                .map(|issued| {
                    format!(
                        "An invitation is on its way to {}.",
                        issued.invitation.email.as_str()
                    )
                }),
            Err(e) => Err(e),
        },
        _ => match posted.invitation.parse::<uuid::Uuid>() {
            Ok(id) => tenancy
                .revoke_invitation(access, docent_kernel::InvitationId::from_uuid(id))
                .await
                .map(|()| "The invitation is revoked.".to_owned()),
            Err(_) => Err(docent_tenancy::TenancyError::InvitationNotFound),
        },
    };
    // Someone who left has no members page to come back to: home.
    let left = posted.action == "remove" && user().is_ok_and(|u| u == inside.principal.user.id);
    match outcome {
        Ok(done) if left => redirect("/", vec![flash(&console, &done)]),
        Ok(done) => redirect(
            &format!("/orgs/{}/members", inside.org_id()),
            vec![flash(&console, &done)],
        ),
        Err(error) => {
            let (status, message) = failure(error.kind(), &error);
            members_page(&console, req, &inside, status, Some(message)).await
        }
    }
}

async fn settings_page(
    console: &Console,
    req: &Request,
    inside: &Inside,
    status: StatusCode,
    error: Option<String>,
) -> Response {
    let context = minijinja::context! { error, ..frame(console, inside, "settings").await };
    form_page(console, req, "settings.html", status, context)
}

/// `GET /orgs/:org/settings`.
#[handler]
pub(crate) async fn settings(
    req: &Request,
    Path(org): Path<String>,
    console: Data<&Console>,
) -> Response {
    match enter(&console, req, &org, Need::OrgRead).await {
        Ok(inside) => settings_page(&console, req, &inside, StatusCode::OK, None).await,
        Err(refused) => refused,
    }
}

#[derive(Debug, Deserialize)]
struct SettingsForm {
    csrf: Option<String>,
    /// `rename` or `delete`.
    #[serde(default)]
    action: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    slug: String,
    /// For `delete`: the organization's name, typed.
    #[serde(default)]
    confirm: String,
}

impl Posted for SettingsForm {
    fn csrf(&self) -> Option<&str> {
        self.csrf.as_deref()
    }
}

/// `POST /orgs/:org/settings`: renames the organization (admins) or deletes it (owners, after
/// typing its name).
#[handler]
pub(crate) async fn update_settings(
    req: &Request,
    Path(org): Path<String>,
    body: Body,
    console: Data<&Console>,
) -> Response {
    let posted = match posted::<SettingsForm>(&console, req, body).await {
        Ok(posted) => posted,
        Err(refused) => return refused,
    };
    let need = match posted.action.as_str() {
        "rename" => Need::OrgUpdate,
        "delete" => Need::OrgDelete,
        _ => return super::forbidden(&console),
    };
    let inside = match enter(&console, req, &org, need).await {
        Ok(inside) => inside,
        Err(refused) => return refused,
    };
    let access = inside.access();
    let tenancy = &console.services.tenancy;
    if need == Need::OrgDelete {
        if posted.confirm.trim() != access.org.name.as_str() {
            return settings_page(
                &console,
                req,
                &inside,
                StatusCode::UNPROCESSABLE_ENTITY,
                Some(format!(
                    "Type the organization's name, {}, to delete it.",
                    access.org.name.as_str()
                )),
            )
            .await;
        }
        return match tenancy.delete_org(access).await {
            Ok(()) => redirect(
                "/",
                vec![flash(
                    &console,
                    &format!(
                        "{} is deleted; its documents, chatbots and keys are being removed.",
                        access.org.name.as_str()
                    ),
                )],
            ),
            Err(error) => {
                let (status, message) = failure(error.kind(), &error);
                settings_page(&console, req, &inside, status, Some(message)).await
            }
        };
    }
    let slug = posted.slug.trim();
    let update = OrgUpdate {
        name: Some(posted.name.as_str()),
        slug: (!slug.is_empty() && slug != access.org.slug.as_str()).then_some(slug),
    };
    match tenancy.update_org(access, update).await {
        Ok(org) => redirect(
            &format!("/orgs/{}/settings", inside.org_id()),
            vec![flash(
                &console,
                &format!("The organization is now {}.", org.name.as_str()),
            )],
        ),
        Err(error) => {
            let (status, message) = failure(error.kind(), &error);
            settings_page(&console, req, &inside, status, Some(message)).await
        }
    }
}

#[derive(Debug, Default, Deserialize)]
struct AuditQuery {
    #[serde(default)]
    actor: String,
    #[serde(default)]
    action: String,
    #[serde(default)]
    cursor: String,
}

#[derive(Debug, Serialize)]
struct AuditRow {
    at: String,
    actor: String,
    action: String,
    target: String,
    detail: Option<String>,
    client_addr: Option<String>,
}

/// `GET /orgs/:org/audit`: the audit log, newest first, filtered by actor and action.
#[handler]
pub(crate) async fn audit_log(
    req: &Request,
    Path(org): Path<String>,
    console: Data<&Console>,
) -> Response {
    let inside = match enter(&console, req, &org, Need::Audit).await {
        Ok(inside) => inside,
        Err(refused) => return refused,
    };
    let access = inside.access();
    let query: AuditQuery = super::query(req);
    let tenancy = &console.services.tenancy;
    let members = listed(
        "members",
        tenancy
            .list_members(access, &PageRequest::largest_first())
            .await,
    );
    let filter = AuditFilter {
        actor_id: query.actor.parse().ok(),
        action: Some(query.action.trim().to_owned()).filter(|a| !a.is_empty()),
    };
    let cursor = Some(query.cursor.as_str()).filter(|c| !c.is_empty());
    let (events, next, error) = match PageRequest::new(None, cursor) {
        Ok(page) => match tenancy.audit_events(access, &filter, &page).await {
            Ok(events) => (events.items, events.next_cursor, None),
            Err(error) => (Vec::new(), None, Some(failure(error.kind(), &error).1)),
        },
        Err(_) => (
            Vec::new(),
            None,
            Some(
                "That page of the log is no longer there; start again from the newest events."
                    .to_owned(),
            ),
        ),
    };
    let who = |actor: docent_kernel::Actor| match actor {
        docent_kernel::Actor::User(id) => members.iter().find(|m| m.user_id == id).map_or_else(
            || format!("former member {id}"),
            |m| m.email.as_str().to_owned(),
        ),
        docent_kernel::Actor::ApiKey(id) => format!("API key {id}"),
    };
    let rows: Vec<AuditRow> = events
        .into_iter()
        .map(|e| AuditRow {
            at: e.at.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
            actor: who(e.actor),
            action: e.action,
            target: format!("{} {}", e.target_kind, e.target_id),
            detail: e.detail,
            client_addr: e.client_addr,
        })
        .collect();
    let actors: Vec<minijinja::Value> = members
        .iter()
        .map(|m| {
            minijinja::context! {
                id => m.user_id.to_string(),
                label => format!("{} ({})", m.name, m.email.as_str()),
                selected => filter.actor_id == Some(m.user_id.as_uuid()),
            }
        })
        .collect();
    let next = next.map(|cursor| {
        let pairs = [
            ("actor", query.actor.as_str()),
            ("action", query.action.as_str()),
            ("cursor", cursor.as_str()),
        ];
        serde_urlencoded::to_string(pairs).unwrap_or_default()
    });
    let status = if error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let context = minijinja::context! {
        events => minijinja::value::Value::from(minijinja::value::Serde(&rows)),
        actors,
        action => query.action.trim(),
        next,
        error,
        ..frame(&console, &inside, "audit").await
    };
    form_page(&console, req, "audit.html", status, context)
}
