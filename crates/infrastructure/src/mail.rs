//! The mail adapters: log (development), file (`.eml` files, for local setups and tests) and SMTP.

use std::path::PathBuf;

use async_trait::async_trait;
use docent_kernel::{MailError, Mailer, OutgoingMail};
use lettre::message::Mailbox;
use lettre::message::header::ContentType;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{
    AsyncFileTransport, AsyncSmtpTransport, AsyncTransport as _, Message, Tokio1Executor,
};
use secrecy::ExposeSecret as _;

use crate::config::{MailConfig, MailTransport, SmtpTls};

/// Builds the mailer the configuration asks for.
pub fn from_config(config: &MailConfig, file_dir: PathBuf) -> Result<Box<dyn Mailer>, String> {
    crate::tls::init();
    let from: Mailbox = config.from.parse().map_err(|e| format!("mail.from: {e}"))?;
    Ok(match config.transport {
        MailTransport::Log => Box::new(LogMailer),
        MailTransport::File => {
            std::fs::create_dir_all(&file_dir)
                .map_err(|e| format!("mail.file_dir {}: {e}", file_dir.display()))?;
            Box::new(FileMailer {
                from,
                transport: AsyncFileTransport::new(file_dir),
            })
        }
        MailTransport::Smtp => {
            let smtp = &config.smtp;
            let host = smtp
                .host
                .as_deref()
                .ok_or_else(|| "mail.smtp.host is required".to_owned())?;
            let builder = match smtp.tls {
                SmtpTls::Starttls => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(host)
                    .map_err(|e| format!("mail.smtp.host: {e}"))?,
                SmtpTls::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(host)
                    .map_err(|e| format!("mail.smtp.host: {e}"))?,
                SmtpTls::None => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host),
            };
            let mut builder = match smtp.port {
                Some(port) => builder.port(port),
                None => builder,
            };
            if let (Some(user), Some(password)) = (&smtp.username, &smtp.password) {
                builder = builder.credentials(Credentials::new(
                    user.clone(),
                    password.expose_secret().to_owned(),
                ));
            }
            Box::new(SmtpMailer {
                from,
                transport: builder.build(),
            })
        }
    })
}

fn build_message(from: &Mailbox, mail: OutgoingMail) -> Result<Message, MailError> {
    let to: Mailbox = mail
        .to
        .as_str()
        .parse()
        .map_err(|e| MailError::Rejected(format!("recipient: {e}")))?;
    Message::builder()
        .from(from.clone())
        .to(to)
        .subject(mail.subject)
        .header(ContentType::TEXT_PLAIN)
        .body(mail.body)
        .map_err(|e| MailError::Rejected(e.to_string()))
}

/// Writes each message to the log. For development only: reset and invitation links are secrets.
#[derive(Debug, Clone, Copy, Default)]
pub struct LogMailer;

#[async_trait]
impl Mailer for LogMailer {
    async fn send(&self, mail: OutgoingMail) -> Result<(), MailError> {
        tracing::info!(
            to = %mail.to,
            subject = %mail.subject,
            body = %mail.body,
            "mail not sent (log transport); configure mail.transport = \"smtp\" to deliver it"
        );
        Ok(())
    }
}

/// Writes each message as an `.eml` file into a directory.
#[derive(Debug)]
pub struct FileMailer {
    from: Mailbox,
    transport: AsyncFileTransport<Tokio1Executor>,
}

#[async_trait]
impl Mailer for FileMailer {
    async fn send(&self, mail: OutgoingMail) -> Result<(), MailError> {
        let message = build_message(&self.from, mail)?;
        self.transport
            .send(message)
            .await
            .map(|_| ())
            .map_err(|e| MailError::Unavailable(e.to_string()))
    }
}

/// Sends through an SMTP server.
#[derive(Debug)]
pub struct SmtpMailer {
    from: Mailbox,
    transport: AsyncSmtpTransport<Tokio1Executor>,
}

#[async_trait]
impl Mailer for SmtpMailer {
    async fn send(&self, mail: OutgoingMail) -> Result<(), MailError> {
        let message = build_message(&self.from, mail)?;
        self.transport.send(message).await.map(|_| ()).map_err(|e| {
            if e.is_permanent() {
                MailError::Rejected(e.to_string())
            } else {
                MailError::Unavailable(e.to_string())
            }
        })
    }
}
