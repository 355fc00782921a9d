//! An organization's API keys: create one (its secret shown once, with a copy button), scopes and
//! the chatbot allow-list as checkboxes, expiry and limits; the list with status, last use and
//! this month's usage; revoke.

use docent_app::Need;
use docent_kernel::{ApiKeyId, ChatbotId, ExposeSecret as _, PageRequest};
use docent_keys::{ApiKey, KeyRequest, Scope, UsageGroup};
use poem::http::StatusCode;
use poem::web::{Data, Path};
use poem::{Body, Request, Response, handler};
use serde::Serialize;

use super::org::{Inside, enter, frame};
use super::{Fields, failure, flash, form_page, listed, posted_fields, redirect};
use crate::Console;

/// What each scope lets a key do, in words.
const fn meaning(scope: Scope) -> &'static str {
    match scope {
        Scope::DocumentsRead => "read documents and search them",
        Scope::DocumentsWrite => "upload, reprocess and delete documents",
        Scope::ChatbotsRead => "read chatbots",
        Scope::ChatbotsWrite => "create, change and delete chatbots",
        Scope::Chat => "talk to chatbots",
        Scope::ProvidersRead => "read provider connections",
        Scope::ProvidersWrite => "change provider connections",
        Scope::UsageRead => "read the organization's usage",
    }
}

#[derive(Debug, Serialize)]
struct KeyRow {
    id: String,
    name: String,
    shown: String,
    scopes: Vec<&'static str>,
    chatbots: Option<Vec<String>>,
    expires_at: Option<String>,
    rate_limit: Option<u32>,
    message_quota: Option<u64>,
    token_quota: Option<u64>,
    origins: Option<Vec<String>>,
    status: &'static str,
    created_at: String,
    last_used_at: Option<String>,
    requests: u64,
    tokens: u64,
}

/// A key just created: its secret (shown once) and, for a publishable key, the snippet that puts
/// the widget on a website.
struct Issued {
    name: String,
    secret: String,
    embed: Option<String>,
}

/// The form as typed, kept for the page after a refusal.
#[derive(Debug, Default, Serialize)]
struct KeyFields {
    name: String,
    scopes: Vec<String>,
    every_chatbot: bool,
    chatbots: Vec<String>,
    expires_on: String,
    rate_limit: String,
    message_quota: String,
    token_quota: String,
    /// A publishable key's chatbot and origins (one per line).
    chatbot: String,
    origins: String,
}

impl KeyFields {
    fn posted(fields: &Fields) -> Self {
        Self {
            name: fields.get("name").to_owned(),
            scopes: fields
                .all("scopes")
                .into_iter()
                .map(str::to_owned)
                .collect(),
            every_chatbot: fields.get("chatbot_scope") != "some",
            chatbots: fields
                .all("chatbots")
                .into_iter()
                .map(str::to_owned)
                .collect(),
            expires_on: fields.get("expires_on").to_owned(),
            rate_limit: fields.get("rate_limit").to_owned(),
            message_quota: fields.get("message_quota").to_owned(),
            token_quota: fields.get("token_quota").to_owned(),
            chatbot: fields.get("chatbot").to_owned(),
            origins: fields.get("origins").to_owned(),
        }
    }

    /// A publishable key for the widget: `chat` on the one chatbot, from the origins.
    fn publishable(&self) -> Result<KeyRequest, docent_keys::KeyError> {
        if self.chatbot.parse::<uuid::Uuid>().is_err() {
            return Err(docent_keys::KeyError::Invalid {
                field: "chatbot_ids",
                reason: "choose the chatbot the widget talks to".to_owned(),
            });
        }
        let mut request = Self {
            name: self.name.clone(),
            scopes: vec![Scope::Chat.as_str().to_owned()],
            every_chatbot: false,
            chatbots: vec![self.chatbot.clone()],
            rate_limit: self.rate_limit.clone(),
            ..Self::default()
        }
        .request()?;
        request.allowed_origins = Some(
            self.origins
                .split(['\n', ' ', ','])
                .map(str::trim)
                .filter(|o| !o.is_empty())
                .map(str::to_owned)
                .collect(),
        );
        Ok(request)
    }

    fn request(&self) -> Result<KeyRequest, docent_keys::KeyError> {
        fn number<T: std::str::FromStr>(
            field: &'static str,
            raw: &str,
        ) -> Result<Option<T>, docent_keys::KeyError> {
            let raw = raw.trim();
            if raw.is_empty() {
                return Ok(None);
            }
            raw.parse()
                .map(Some)
                .map_err(|_| docent_keys::KeyError::Invalid {
                    field,
                    reason: "must be a whole number".to_owned(),
                })
        }
        let expires_at = match self.expires_on.trim() {
            "" => None,
            day => Some(
                chrono::NaiveDate::parse_from_str(day, "%Y-%m-%d")
                    .ok()
                    .and_then(|d| d.and_hms_opt(23, 59, 59))
                    .map(|t| t.and_utc())
                    .ok_or_else(|| docent_keys::KeyError::Invalid {
                        field: "expires_at",
                        reason: "must be a date".to_owned(),
                    })?,
            ),
        };
        let chatbot_ids = if self.every_chatbot {
            None
        } else {
            Some(
                self.chatbots
                    .iter()
                    .filter_map(|id| id.parse::<uuid::Uuid>().ok())
                    .map(ChatbotId::from_uuid)
                    .collect(),
            )
        };
        Ok(KeyRequest {
            name: self.name.clone(),
            scopes: self.scopes.clone(),
            chatbot_ids,
            expires_at,
            rate_limit_per_minute: number("rate_limit_per_minute", &self.rate_limit)?,
            monthly_message_quota: number("monthly_message_quota", &self.message_quota)?,
            monthly_token_quota: number("monthly_token_quota", &self.token_quota)?,
            allowed_origins: None,
        })
    }
}

fn fresh() -> KeyFields {
    KeyFields {
        scopes: vec![Scope::Chat.as_str().to_owned()],
        every_chatbot: true,
        ..KeyFields::default()
    }
}

async fn keys_page(
    console: &Console,
    req: &Request,
    inside: &Inside,
    status: StatusCode,
    shown: (Option<String>, Option<Issued>, KeyFields),
) -> Response {
    let (error, issued, fields) = shown;
    let services = &console.services;
    let now = chrono::Utc::now();
    let keys = listed(
        "API keys",
        services
            .keys
            .list(inside.tenant(), &PageRequest::largest_first())
            .await,
    );
    let bots = listed(
        "chatbots",
        services
            .chat
            .list_chatbots(inside.tenant(), &PageRequest::largest_first())
            .await,
    );
    let usage = super::usage::report(
        services
            .keys
            .usage_report(
                inside.tenant(),
                docent_keys::UsageFilter::default(),
                None,
                UsageGroup::ApiKey,
            )
            .await,
    );
    let bot_name = |id: &ChatbotId| {
        bots.iter()
            .find(|b| b.id == *id)
            .map_or_else(|| format!("deleted chatbot {id}"), |b| b.name.clone())
    };
    let row = |key: &ApiKey| {
        let used = usage
            .iter()
            .find(|u| u.group.as_deref() == Some(key.id.to_string().as_str()))
            .map(|u| u.totals)
            .unwrap_or_default();
        let settings = &key.settings;
        KeyRow {
            id: key.id.to_string(),
            name: settings.name.clone(),
            shown: format!("{}…{}", key.prefix, key.last4),
            scopes: settings.scopes.iter().map(|s| s.as_str()).collect(),
            chatbots: settings
                .chatbot_ids
                .as_ref()
                .map(|ids| ids.iter().map(bot_name).collect()),
            expires_at: settings
                .expires_at
                .map(|t| t.format("%Y-%m-%d").to_string()),
            rate_limit: settings.rate_limit_per_minute,
            message_quota: settings.monthly_message_quota,
            token_quota: settings.monthly_token_quota,
            origins: settings.allowed_origins.clone(),
            status: if key.revoked_at.is_some() {
                "revoked"
            } else if key.is_active(now) {
                "active"
            } else {
                "expired"
            },
            created_at: key.created_at.format("%Y-%m-%d").to_string(),
            last_used_at: key
                .last_used_at
                .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string()),
            requests: used.requests,
            tokens: used.model_tokens(),
        }
    };
    let rows: Vec<KeyRow> = keys.iter().map(row).collect();
    let scopes: Vec<minijinja::Value> = Scope::ALL
        .iter()
        .map(|s| minijinja::context! { id => s.as_str(), meaning => meaning(*s) })
        .collect();
    let bots: Vec<minijinja::Value> = bots
        .iter()
        .map(|b| minijinja::context! { id => b.id.to_string(), name => b.name.as_str() })
        .collect();
    let issued = issued
        .map(|i| minijinja::context! { name => i.name, secret => i.secret, embed => i.embed });
    let context = minijinja::context! {
        keys => minijinja::value::Value::from(minijinja::value::Serde(&rows)),
        scopes,
        bots,
        key => minijinja::value::Value::from(minijinja::value::Serde(&fields)),
        issued,
        error,
        ..frame(console, inside, "keys").await
    };
    form_page(console, req, "keys.html", status, context)
}

/// `GET /orgs/:org/keys`.
#[handler]
pub(crate) async fn key_list(
    req: &Request,
    Path(org): Path<String>,
    console: Data<&Console>,
) -> Response {
    match enter(&console, req, &org, Need::Keys).await {
        Ok(inside) => {
            keys_page(
                &console,
                req,
                &inside,
                StatusCode::OK,
                (None, None, fresh()),
            )
            .await
        }
        Err(refused) => refused,
    }
}

/// `POST /orgs/:org/keys`: creates a key (`create`; the answer is the page with its secret, shown
/// this once) or revokes one (`revoke`).
#[handler]
pub(crate) async fn update_keys(
    req: &Request,
    Path(org): Path<String>,
    body: Body,
    console: Data<&Console>,
) -> Response {
    let fields = match posted_fields(&console, req, body).await {
        Ok(fields) => fields,
        Err(refused) => return refused,
    };
    let inside = match enter(&console, req, &org, Need::Keys).await {
        Ok(inside) => inside,
        Err(refused) => return refused,
    };
    let keys = &console.services.keys;
    match fields.get("action") {
        action @ ("create" | "create_publishable") => {
            let form = KeyFields::posted(&fields);
            let request = if action == "create" {
                form.request()
            } else {
                form.publishable()
            };
            let created = match request {
                Ok(request) => {
                    keys.create(inside.tenant(), inside.principal.user.id, request)
                        .await
                }
                Err(error) => Err(error),
            };
            match created {
                Ok(issued) => {
                    let secret = issued.secret.expose_secret().to_owned();
                    let embed = issued.key.settings.chatbot_ids.as_deref().and_then(|ids| {
                        let bot = ids.first().filter(|_| issued.key.settings.is_publishable())?;
                        Some(format!(
                            r#"<script src="{}/widget.js" data-chatbot="{bot}" data-key="{secret}" async></script>"#,
                            console.services.config.public_url().trim_end_matches('/')
                        ))
                    });
                    let issued = Issued {
                        name: issued.key.settings.name,
                        secret,
                        embed,
                    };
                    let shown = (None, Some(issued), fresh());
                    keys_page(&console, req, &inside, StatusCode::CREATED, shown).await
                }
                Err(error) => {
                    let (status, message) = failure(error.kind(), &error);
                    keys_page(&console, req, &inside, status, (Some(message), None, form)).await
                }
            }
        }
        "revoke" => {
            let revoked = match fields.get("key").parse::<uuid::Uuid>() {
                Ok(id) => keys.revoke(inside.tenant(), ApiKeyId::from_uuid(id)).await,
                Err(_) => Err(docent_keys::KeyError::NotFound),
            };
            match revoked {
                Ok(()) => redirect(
                    &format!("/orgs/{}/keys", inside.org_id()),
                    vec![flash(
                        &console,
                        "The key is revoked: it stops working at once, on every server.",
                    )],
                ),
                Err(error) => {
                    let (status, message) = failure(error.kind(), &error);
                    keys_page(
                        &console,
                        req,
                        &inside,
                        status,
                        (Some(message), None, fresh()),
                    )
                    .await
                }
            }
        }
        _ => super::forbidden(&console),
    }
}
