//! The authorization matrix, generated from the served spec: every operation × every kind of
//! caller — anonymous, a user of another organization, viewer, member, admin, owner, a key without
//! the scope, a key with it, a revoked, an expired and another organization's key, a disabled
//! user's session and key — is refused the right way or admitted. An operation of the spec
//! without a rule here fails the test. Then ids of another organization, in paths and in bodies,
//! answer 404 and change nothing.

use std::collections::BTreeMap;
use std::time::Duration;

use docent_infrastructure::testing::Backend;
use reqwest::Method;
use serde_json::{Value, json};

use crate::documents::settled;
use crate::on_both_backends;
use crate::support::{Reply, TestApp};

const PW: &str = "correct horse battery";

on_both_backends!(
    every_operation_admits_exactly_the_right_callers,
    ids_of_another_organization_answer_404_and_change_nothing,
);

/// A member role, weakest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Role {
    Viewer,
    Member,
    Admin,
    Owner,
}

/// Who may call an operation.
#[derive(Debug, Clone, Copy)]
enum Rule {
    /// Anybody, without credentials.
    Public,
    /// A signed-in user, outside organizations.
    Person,
    /// A signed-in user or any API key.
    AnyCaller,
    /// An API key with this scope (the OpenAI-compatible endpoint).
    KeyOnly(&'static str),
    /// Members from this role on; API keys with this scope (`None`: people only).
    Org(Role, Option<&'static str>),
}

/// The rule of every operation of the spec.
fn rules() -> BTreeMap<&'static str, Rule> {
    use Role::{Admin, Member, Owner, Viewer};
    use Rule::{AnyCaller, KeyOnly, Org, Person, Public};
    BTreeMap::from([
        ("ops_health", Public),
        ("ops_ready", Public),
        ("auth_signup", Public),
        ("auth_login", Public),
        ("auth_password_reset_request", Public),
        ("auth_password_reset_confirm", Public),
        ("auth_logout", Person),
        ("auth_password_change", Person),
        ("auth_session_list", Person),
        ("auth_session_delete", Person),
        ("user_me_get", Person),
        ("user_me_update", Person),
        ("org_create", Person),
        ("org_list", Person),
        ("invitation_accept", Person),
        ("prompt_template_list", AnyCaller),
        ("chat_completion_create", KeyOnly("chat")),
        ("org_get", Org(Viewer, None)),
        ("org_update", Org(Admin, None)),
        ("org_delete", Org(Owner, None)),
        ("member_list", Org(Viewer, None)),
        ("member_update", Org(Admin, None)),
        ("member_delete", Org(Admin, None)),
        ("invitation_create", Org(Admin, None)),
        ("invitation_list", Org(Admin, None)),
        ("invitation_delete", Org(Admin, None)),
        ("api_key_create", Org(Admin, None)),
        ("api_key_list", Org(Admin, None)),
        ("api_key_get", Org(Admin, None)),
        ("api_key_revoke", Org(Admin, None)),
        ("api_key_usage_get", Org(Admin, None)),
        ("audit_event_list", Org(Admin, None)),
        ("usage_get", Org(Viewer, Some("usage:read"))),
        ("document_create", Org(Member, Some("documents:write"))),
        ("document_create_text", Org(Member, Some("documents:write"))),
        ("document_list", Org(Viewer, Some("documents:read"))),
        ("document_get", Org(Viewer, Some("documents:read"))),
        ("document_chunks", Org(Viewer, Some("documents:read"))),
        ("document_content", Org(Viewer, Some("documents:read"))),
        ("document_reprocess", Org(Member, Some("documents:write"))),
        ("document_delete", Org(Member, Some("documents:write"))),
        ("document_search", Org(Viewer, Some("documents:read"))),
        ("provider_create", Org(Admin, Some("providers:write"))),
        ("provider_list", Org(Viewer, Some("providers:read"))),
        ("provider_get", Org(Viewer, Some("providers:read"))),
        ("provider_update", Org(Admin, Some("providers:write"))),
        ("provider_delete", Org(Admin, Some("providers:write"))),
        ("provider_test", Org(Admin, Some("providers:write"))),
        ("chatbot_create", Org(Member, Some("chatbots:write"))),
        ("chatbot_list", Org(Viewer, Some("chatbots:read"))),
        ("chatbot_get", Org(Viewer, Some("chatbots:read"))),
        ("chatbot_update", Org(Member, Some("chatbots:write"))),
        ("chatbot_delete", Org(Member, Some("chatbots:write"))),
        ("conversation_create", Org(Viewer, Some("chat"))),
        ("conversation_list", Org(Viewer, Some("chat"))),
        ("message_create", Org(Viewer, Some("chat"))),
        ("message_list", Org(Viewer, Some("chat"))),
    ])
}

/// A kind of caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Caller {
    Anonymous,
    Outsider,
    Member(Role),
    KeyWithoutScope,
    KeyWithScope,
    RevokedKey,
    ExpiredKey,
    OtherOrgKey,
    DisabledSession,
    DisabledKey,
}

const CALLERS: [Caller; 13] = [
    Caller::Anonymous,
    Caller::Outsider,
    Caller::Member(Role::Viewer),
    Caller::Member(Role::Member),
    Caller::Member(Role::Admin),
    Caller::Member(Role::Owner),
    Caller::KeyWithoutScope,
    Caller::KeyWithScope,
    Caller::RevokedKey,
    Caller::ExpiredKey,
    Caller::OtherOrgKey,
    Caller::DisabledSession,
    Caller::DisabledKey,
];

/// What an operation must answer a caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// Past the access check: anything but a refusal.
    Admitted,
    /// Refused with this status and code.
    Refused(u16, &'static str),
}

const ALL_SCOPES: [&str; 8] = [
    "documents:read",
    "documents:write",
    "chatbots:read",
    "chatbots:write",
    "chat",
    "providers:read",
    "providers:write",
    "usage:read",
];

/// The outcome `rule` gives `caller` (`None`: not a meaningful pair, such as credentials on a
/// route that takes none).
fn expected(rule: Rule, caller: Caller) -> Option<Outcome> {
    use Outcome::{Admitted, Refused};
    let dead_key = Refused(401, "invalid_api_key");
    let session_required = Refused(403, "session_required");
    Some(match (rule, caller) {
        (Rule::Public, Caller::Anonymous) => Admitted,
        (Rule::Public, _) => return None,
        (_, Caller::Anonymous) => Refused(401, "unauthenticated"),
        (_, Caller::DisabledSession) => Refused(401, "invalid_session"),
        (_, Caller::RevokedKey | Caller::ExpiredKey | Caller::DisabledKey) => dead_key,
        (Rule::Person, Caller::Outsider | Caller::Member(_)) => Admitted,
        (Rule::Person, Caller::KeyWithScope | Caller::KeyWithoutScope | Caller::OtherOrgKey) => {
            session_required
        }
        (Rule::AnyCaller, _) => Admitted,
        (Rule::KeyOnly(_), Caller::Outsider | Caller::Member(_)) => {
            Refused(403, "api_key_required")
        }
        (Rule::KeyOnly(_), Caller::KeyWithScope | Caller::OtherOrgKey) => Admitted,
        (Rule::KeyOnly(_), Caller::KeyWithoutScope) => Refused(403, "insufficient_scope"),
        (Rule::Org(..), Caller::Outsider | Caller::OtherOrgKey) => Refused(404, "org_not_found"),
        (Rule::Org(least, _), Caller::Member(role)) if role >= least => Admitted,
        (Rule::Org(..), Caller::Member(_)) => Refused(403, "forbidden"),
        (Rule::Org(_, Some(_)), Caller::KeyWithScope) => Admitted,
        (Rule::Org(_, Some(_)), Caller::KeyWithoutScope) => Refused(403, "insufficient_scope"),
        (Rule::Org(_, None), Caller::KeyWithScope | Caller::KeyWithoutScope) => session_required,
    })
}

/// Whether `reply` is one of the access check's refusals.
fn refusal(reply: &Reply) -> Option<(u16, String)> {
    let status = reply.status.as_u16();
    let code = reply.body["code"].as_str().unwrap_or_default().to_owned();
    let refused = match status {
        401 => true,
        403 => matches!(
            code.as_str(),
            "forbidden" | "insufficient_scope" | "session_required" | "api_key_required"
        ),
        404 => code == "org_not_found",
        _ => false,
    };
    refused.then_some((status, code))
}

/// One organization with a member of every role and everything the routes take ids of.
struct World {
    owner_id: String,
    sessions: BTreeMap<&'static str, String>,
    outsider: String,
    org: String,
    document: String,
    provider: String,
    chatbot: String,
    chatbot_slug: String,
    conversation: String,
    key_id: String,
    /// Keys: all scopes; only `usage:read`; all scopes but `usage:read`.
    key_all: String,
    key_usage: String,
    key_no_usage: String,
    revoked: String,
    expired: String,
    other_org_key: String,
    disabled_session: String,
    disabled_key: String,
    owner_other_session: String,
}

async fn key(app: &TestApp, session: &str, org: &str, scopes: &[&str], extra: Value) -> Value {
    let mut body = json!({"name": "matrix", "scopes": scopes});
    if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
        body.extend(extra.clone());
    }
    app.post(&format!("/v1/orgs/{org}/api-keys"), Some(session), body)
        .await
        .expect(201)
}

/// The objects routes take ids of, in one organization: a ready document, a provider, a chatbot
/// (with its slug) and a conversation with it.
struct Objects {
    document: String,
    provider: String,
    chatbot: String,
    chatbot_slug: String,
    conversation: String,
}

async fn objects(app: &TestApp, owner: &str, org: &str, text: &str) -> Objects {
    let id = |reply: Reply, status: u16| reply.expect(status)["id"].as_str().unwrap().to_owned();
    let document = id(
        app.post(
            &format!("/v1/orgs/{org}/documents/text"),
            Some(owner),
            json!({"title": "A document", "text": text}),
        )
        .await,
        202,
    );
    settled(app, owner, org, &document).await;
    let provider = id(
        app.post(
            &format!("/v1/orgs/{org}/providers"),
            Some(owner),
            json!({"name": "Offline", "kind": "extractive"}),
        )
        .await,
        201,
    );
    let bot = app
        .post(
            &format!("/v1/orgs/{org}/chatbots"),
            Some(owner),
            json!({"name": "Helper", "provider_id": provider}),
        )
        .await
        .expect(201);
    let chatbot = bot["id"].as_str().unwrap().to_owned();
    let conversation = app
        .post(
            &format!("/v1/orgs/{org}/chatbots/{chatbot}/conversations"),
            Some(owner),
            json!({}),
        )
        .await
        .expect(201)["conversation"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    Objects {
        document,
        provider,
        chatbot,
        chatbot_slug: bot["slug"].as_str().unwrap().to_owned(),
        conversation,
    }
}

async fn world(app: &TestApp) -> World {
    let (owner_id, owner) = app.signup("owner@example.com", PW).await;
    let org = app.create_org(&owner, "Matrix").await;
    let mut sessions = BTreeMap::from([("owner", owner.clone())]);
    for role in ["viewer", "member", "admin"] {
        let (_, session) = app
            .join(&owner, &org, &format!("{role}@example.com"), role, PW)
            .await;
        sessions.insert(role, session);
    }
    let (_, outsider) = app.signup("outsider@example.com", PW).await;
    let elsewhere = app.create_org(&outsider, "Elsewhere").await;
    let Objects {
        document,
        provider,
        chatbot,
        chatbot_slug,
        conversation,
    } = objects(app, &owner, &org, "Refunds are paid within fourteen days.").await;
    let all = key(app, &owner, &org, &ALL_SCOPES, json!({})).await;
    let no_usage: Vec<&str> = ALL_SCOPES
        .iter()
        .copied()
        .filter(|s| *s != "usage:read")
        .collect();
    let revoked = key(app, &owner, &org, &ALL_SCOPES, json!({})).await;
    app.post(
        &format!(
            "/v1/orgs/{org}/api-keys/{}/revoke",
            revoked["id"].as_str().unwrap()
        ),
        Some(&owner),
        json!({}),
    )
    .await
    .expect(204);
    let soon = chrono::Utc::now() + chrono::Duration::seconds(2);
    let expired = key(
        app,
        &owner,
        &org,
        &ALL_SCOPES,
        json!({"expires_at": soon.to_rfc3339()}),
    )
    .await;
    let other_org_key = key(app, &outsider, &elsewhere, &ALL_SCOPES, json!({})).await;
    // A member (an admin, so that they can make a key) who is then disabled.
    let (disabled_id, disabled) = app
        .join(&owner, &org, "disabled@example.com", "admin", PW)
        .await;
    let disabled_key = key(app, &disabled, &org, &ALL_SCOPES, json!({})).await;
    app.services
        .identity
        .set_disabled(
            docent_kernel::UserId::from_uuid(disabled_id.parse().unwrap()),
            true,
        )
        .await
        .unwrap();
    let owner_other_session = app.login("owner@example.com", PW).await;
    let listed = app
        .get("/v1/auth/sessions", Some(&owner_other_session))
        .await
        .expect(200);
    let owner_other_session = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["current"] == true)
        .and_then(|s| s["id"].as_str())
        .unwrap()
        .to_owned();
    let secret = |k: &Value| k["key"].as_str().unwrap().to_owned();
    let key_usage = secret(&key(app, &owner, &org, &["usage:read"], json!({})).await);
    let key_no_usage = secret(&key(app, &owner, &org, &no_usage, json!({})).await);
    // Let the expiring key expire.
    tokio::time::sleep(Duration::from_millis(2_200)).await;
    World {
        owner_id,
        sessions,
        outsider,
        org,
        document,
        provider,
        chatbot,
        chatbot_slug,
        conversation,
        key_id: all["id"].as_str().unwrap().to_owned(),
        key_all: secret(&all),
        key_usage,
        key_no_usage,
        revoked: secret(&revoked),
        expired: secret(&expired),
        other_org_key: secret(&other_org_key),
        disabled_session: disabled,
        disabled_key: secret(&disabled_key),
        owner_other_session,
    }
}

impl World {
    fn owner(&self) -> &str {
        &self.sessions["owner"]
    }

    /// The credential `caller` presents to an operation under `rule`.
    async fn credential(
        &self,
        app: &TestApp,
        caller: Caller,
        rule: Rule,
        op: &str,
    ) -> Option<String> {
        let role_name = |role: Role| match role {
            Role::Viewer => "viewer",
            Role::Member => "member",
            Role::Admin => "admin",
            Role::Owner => "owner",
        };
        Some(match caller {
            Caller::Anonymous => return None,
            // Signing out ends the session it is called with: use a fresh one.
            Caller::Member(role) if op == "auth_logout" => {
                app.login(&format!("{}@example.com", role_name(role)), PW)
                    .await
            }
            Caller::Outsider if op == "auth_logout" => app.login("outsider@example.com", PW).await,
            Caller::Outsider => self.outsider.clone(),
            Caller::Member(role) => self.sessions[role_name(role)].clone(),
            Caller::KeyWithScope => self.key_all.clone(),
            // A key that lacks the scope the rule names (either has the other).
            Caller::KeyWithoutScope => match rule {
                Rule::Org(_, Some("usage:read")) | Rule::KeyOnly("usage:read") => {
                    self.key_no_usage.clone()
                }
                Rule::Org(..)
                | Rule::KeyOnly(_)
                | Rule::Person
                | Rule::AnyCaller
                | Rule::Public => self.key_usage.clone(),
            },
            Caller::RevokedKey => self.revoked.clone(),
            Caller::ExpiredKey => self.expired.clone(),
            Caller::OtherOrgKey => self.other_org_key.clone(),
            Caller::DisabledSession => self.disabled_session.clone(),
            Caller::DisabledKey => self.disabled_key.clone(),
        })
    }

    /// The id a path parameter takes: a fresh object for operations that destroy theirs, when the
    /// caller would be admitted.
    async fn param(&self, app: &TestApp, op: &str, name: &str, admitted: bool) -> String {
        let org = &self.org;
        let owner = self.owner();
        let fresh = |path: String, body: Value, status: u16| async move {
            app.post(&path, Some(owner), body).await.expect(status)["id"]
                .as_str()
                .unwrap()
                .to_owned()
        };
        match (name, op) {
            ("org_id", "org_delete") if admitted => app.create_org(owner, "Throwaway").await,
            ("org_id", _) => org.clone(),
            ("document_id", "document_delete") if admitted => {
                fresh(
                    format!("/v1/orgs/{org}/documents/text"),
                    json!({"title": "Gone", "text": "Soon deleted.", "tags": ["matrix"]}),
                    202,
                )
                .await
            }
            ("document_id", _) => self.document.clone(),
            ("provider_id", "provider_delete") if admitted => {
                fresh(
                    format!("/v1/orgs/{org}/providers"),
                    json!({"name": "Gone", "kind": "extractive"}),
                    201,
                )
                .await
            }
            ("provider_id", _) => self.provider.clone(),
            ("chatbot_id", "chatbot_delete") if admitted => {
                fresh(
                    format!("/v1/orgs/{org}/chatbots"),
                    json!({"name": "Gone", "provider_id": self.provider}),
                    201,
                )
                .await
            }
            ("chatbot_id", _) => self.chatbot.clone(),
            ("conversation_id", _) => self.conversation.clone(),
            ("key_id", "api_key_revoke") if admitted => {
                fresh(
                    format!("/v1/orgs/{org}/api-keys"),
                    json!({"name": "gone", "scopes": ["chat"]}),
                    201,
                )
                .await
            }
            ("key_id", _) => self.key_id.clone(),
            ("session_id", _) => self.owner_other_session.clone(),
            // Members and invitations are addressed by ids that match nothing: the access check
            // comes first, and nobody is removed.
            ("user_id" | "invitation_id", _) => uuid::Uuid::now_v7().to_string(),
            (other, _) => panic!("no value for the path parameter {other} of {op}"),
        }
    }

    /// A body for `op` that passes its validation where the caller is admitted.
    fn body(&self, op: &str) -> Option<Value> {
        let unique = uuid::Uuid::now_v7().simple().to_string();
        Some(match op {
            "auth_signup" => {
                json!({"email": format!("new-{unique}@example.com"), "password": PW, "name": "New"})
            }
            "auth_login" => json!({"email": "owner@example.com", "password": PW}),
            "auth_password_reset_request" => json!({"email": "nobody@example.com"}),
            "auth_password_reset_confirm" => {
                json!({"token": "dsr_not-a-token", "password": "A new pass phrase 1"})
            }
            // A wrong current password: admitted, and nothing changes.
            "auth_password_change" => {
                json!({"current_password": "not the password", "new_password": "A new pass phrase 1"})
            }
            "user_me_update" => json!({"name": "Test User"}),
            "org_create" => json!({"name": format!("Org {unique}")}),
            "org_update" => json!({"name": "Matrix"}),
            "invitation_accept" => json!({"token": "dsi_not-a-token"}),
            "member_update" => json!({"role": "member"}),
            "invitation_create" => {
                json!({"email": format!("invitee-{unique}@example.com"), "role": "member"})
            }
            "api_key_create" => json!({"name": "k", "scopes": ["chat"]}),
            "document_create_text" => json!({"title": "Note", "text": format!("A note {unique}.")}),
            "document_search" => json!({"query": "refunds"}),
            "provider_create" => json!({"name": "Another", "kind": "extractive"}),
            "provider_update" => json!({"name": "Offline"}),
            "provider_test" => json!({}),
            "chatbot_create" => {
                json!({"name": format!("Bot {unique}"), "provider_id": self.provider})
            }
            "chatbot_update" => json!({"name": "Helper"}),
            "conversation_create" => json!({}),
            "message_create" => json!({"content": "How fast are refunds paid?"}),
            "chat_completion_create" => {
                json!({"model": self.chatbot_slug, "messages": [{"role": "user", "content": "How fast are refunds paid?"}]})
            }
            "auth_logout" | "api_key_revoke" | "document_reprocess" => json!({}),
            _ => return None,
        })
    }
}

/// Sends `op` as `token`.
async fn send(
    app: &TestApp,
    method: &Method,
    path: &str,
    op: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> Reply {
    if op == "document_create" {
        let form = reqwest::multipart::Form::new().part(
            "file",
            reqwest::multipart::Part::bytes(
                format!("An uploaded note {}.", uuid::Uuid::now_v7()).into_bytes(),
            )
            .file_name("note.txt"),
        );
        let mut request = app
            .client
            .post(format!("{}{path}", app.base))
            .multipart(form);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap();
        return Reply {
            status,
            headers,
            body: serde_json::from_str(&text).unwrap_or(Value::String(text)),
        };
    }
    app.call(method.clone(), path, token, body).await
}

async fn every_operation_admits_exactly_the_right_callers(backend: Backend) {
    let app = TestApp::start(backend).await;
    let world = world(&app).await;
    let spec = app.get("/openapi.json", None).await.expect(200);
    let rules = rules();
    let mut operations = Vec::new();
    for (path, methods) in spec["paths"].as_object().unwrap() {
        for (method, operation) in methods.as_object().unwrap() {
            let id = operation["operationId"].as_str().unwrap().to_owned();
            operations.push((method.to_uppercase(), path.clone(), id));
        }
    }
    let missing: Vec<_> = operations
        .iter()
        .filter(|(_, _, id)| !rules.contains_key(id.as_str()))
        .map(|(_, _, id)| id.clone())
        .collect();
    assert!(
        missing.is_empty(),
        "operations without an authorization rule: {missing:?}"
    );
    assert_eq!(
        operations.len(),
        rules.len(),
        "rules for operations that are gone"
    );

    let mut wrong = Vec::new();
    let mut checked = 0;
    for (method, template, op) in &operations {
        let rule = rules[op.as_str()];
        let method: Method = method.parse().unwrap();
        for caller in CALLERS {
            let Some(want) = expected(rule, caller) else {
                continue;
            };
            let mut path = template.clone();
            let params: Vec<String> = template
                .split('{')
                .skip(1)
                .filter_map(|p| p.split_once('}').map(|(name, _)| name.to_owned()))
                .collect();
            for name in params {
                let value = world
                    .param(&app, op, &name, want == Outcome::Admitted)
                    .await;
                path = path.replace(&format!("{{{name}}}"), &value);
            }
            if op == "document_create" {
                path.push_str("?allow_duplicate=true");
            }
            let token = world.credential(&app, caller, rule, op).await;
            let reply = send(&app, &method, &path, op, token.as_deref(), world.body(op)).await;
            checked += 1;
            let got = refusal(&reply);
            let fine = match (want, &got) {
                (Outcome::Admitted, None) => !reply.status.is_server_error(),
                (Outcome::Refused(status, code), Some((s, c))) => *s == status && c == code,
                (Outcome::Admitted, Some(_)) | (Outcome::Refused(..), None) => false,
            };
            if !fine {
                wrong.push(format!(
                    "{op} {method} {path} as {caller:?}: wanted {want:?}, got {} {}",
                    reply.status, reply.body
                ));
            }
        }
    }
    assert!(checked > 500, "{checked} pairs checked");
    assert!(
        wrong.is_empty(),
        "{} of {checked} answers were wrong:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
    // The world's own organization stayed (the admitted deletions took throwaway ones), and its
    // owner is still its owner.
    let members = app
        .get(
            &format!("/v1/orgs/{}/members", world.org),
            Some(world.owner()),
        )
        .await
        .expect(200);
    assert!(
        members["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["user"]["id"] == world.owner_id.as_str() && m["role"] == "owner")
            || members.to_string().contains(&world.owner_id),
        "{members}"
    );
    // A malformed id is a bad request, not a server error.
    app.get("/v1/orgs/not-a-uuid", Some(world.owner()))
        .await
        .expect_error(400, "invalid_request");
}

async fn ids_of_another_organization_answer_404_and_change_nothing(backend: Backend) {
    let app = TestApp::start(backend).await;
    let ours = world(&app).await;
    let owner = ours.owner().to_owned();
    let org = ours.org.clone();
    // The other organization, with one of everything, and its owner's view of it.
    let (_, theirs_owner) = app.signup("their-owner@example.com", PW).await;
    let theirs = app.create_org(&theirs_owner, "Theirs").await;
    let Objects {
        document: their_document,
        provider: their_provider,
        chatbot: their_bot,
        conversation: their_conversation,
        ..
    } = objects(&app, &theirs_owner, &theirs, "The launch is on a Tuesday.").await;
    let their_key = key(&app, &theirs_owner, &theirs, &["chat"], json!({})).await;
    let their_key_id = their_key["id"].as_str().unwrap().to_owned();
    let invited = app
        .invite(
            &theirs_owner,
            &theirs,
            "their-invitee@example.com",
            "member",
        )
        .await
        .expect(201);
    let their_invitation = invited["id"].as_str().unwrap().to_owned();
    let their_owner_id = app
        .get("/v1/users/me", Some(&theirs_owner))
        .await
        .expect(200)["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let their_paths = [
        format!("/v1/orgs/{theirs}/documents/{their_document}"),
        format!("/v1/orgs/{theirs}/chatbots/{their_bot}"),
        format!("/v1/orgs/{theirs}/providers/{their_provider}"),
        format!("/v1/orgs/{theirs}/api-keys/{their_key_id}"),
        format!("/v1/orgs/{theirs}/members"),
        format!("/v1/orgs/{theirs}/invitations"),
    ];
    let snapshot = async |app: &TestApp| {
        let mut seen = Vec::new();
        for path in &their_paths {
            seen.push(app.get(path, Some(&theirs_owner)).await.expect(200));
        }
        seen
    };
    let before = snapshot(&app).await;

    // Their ids in our paths.
    let base = format!("/v1/orgs/{org}");
    let in_paths: Vec<(Method, String, Option<Value>, &str)> = vec![
        (
            Method::GET,
            format!("{base}/documents/{their_document}"),
            None,
            "document_not_found",
        ),
        (
            Method::GET,
            format!("{base}/documents/{their_document}/chunks"),
            None,
            "document_not_found",
        ),
        (
            Method::GET,
            format!("{base}/documents/{their_document}/content"),
            None,
            "document_not_found",
        ),
        (
            Method::POST,
            format!("{base}/documents/{their_document}/reprocess"),
            Some(json!({})),
            "document_not_found",
        ),
        (
            Method::DELETE,
            format!("{base}/documents/{their_document}"),
            None,
            "document_not_found",
        ),
        (
            Method::GET,
            format!("{base}/providers/{their_provider}"),
            None,
            "provider_not_found",
        ),
        (
            Method::PATCH,
            format!("{base}/providers/{their_provider}"),
            Some(json!({"name": "Mine now"})),
            "provider_not_found",
        ),
        (
            Method::POST,
            format!("{base}/providers/{their_provider}/test"),
            Some(json!({})),
            "provider_not_found",
        ),
        (
            Method::DELETE,
            format!("{base}/providers/{their_provider}"),
            None,
            "provider_not_found",
        ),
        (
            Method::GET,
            format!("{base}/chatbots/{their_bot}"),
            None,
            "chatbot_not_found",
        ),
        (
            Method::PATCH,
            format!("{base}/chatbots/{their_bot}"),
            Some(json!({"name": "Mine now"})),
            "chatbot_not_found",
        ),
        (
            Method::DELETE,
            format!("{base}/chatbots/{their_bot}"),
            None,
            "chatbot_not_found",
        ),
        (
            Method::POST,
            format!("{base}/chatbots/{their_bot}/conversations"),
            Some(json!({})),
            "chatbot_not_found",
        ),
        (
            Method::GET,
            format!("{base}/chatbots/{their_bot}/conversations"),
            None,
            "chatbot_not_found",
        ),
        (
            Method::GET,
            format!(
                "{base}/chatbots/{}/conversations/{their_conversation}/messages",
                ours.chatbot
            ),
            None,
            "conversation_not_found",
        ),
        (
            Method::POST,
            format!(
                "{base}/chatbots/{}/conversations/{their_conversation}/messages",
                ours.chatbot
            ),
            Some(json!({"content": "Tell me the plans"})),
            "conversation_not_found",
        ),
        (
            Method::GET,
            format!("{base}/api-keys/{their_key_id}"),
            None,
            "api_key_not_found",
        ),
        (
            Method::POST,
            format!("{base}/api-keys/{their_key_id}/revoke"),
            Some(json!({})),
            "api_key_not_found",
        ),
        (
            Method::GET,
            format!("{base}/api-keys/{their_key_id}/usage"),
            None,
            "api_key_not_found",
        ),
        (
            Method::PATCH,
            format!("{base}/members/{their_owner_id}"),
            Some(json!({"role": "viewer"})),
            "member_not_found",
        ),
        (
            Method::DELETE,
            format!("{base}/members/{their_owner_id}"),
            None,
            "member_not_found",
        ),
        (
            Method::DELETE,
            format!("{base}/invitations/{their_invitation}"),
            None,
            "invitation_not_found",
        ),
    ];
    // Their ids in our bodies.
    let in_bodies: Vec<(Method, String, Option<Value>, &str)> = vec![
        (
            Method::POST,
            format!("{base}/chatbots"),
            Some(json!({"name": "Spy", "provider_id": their_provider})),
            "provider_not_found",
        ),
        (
            Method::PATCH,
            format!("{base}/chatbots/{}", ours.chatbot),
            Some(json!({"provider_id": their_provider})),
            "provider_not_found",
        ),
        (
            Method::PATCH,
            format!("{base}/chatbots/{}", ours.chatbot),
            Some(json!({"knowledge": {"document_ids": [their_document]}})),
            "document_not_found",
        ),
        (
            Method::POST,
            format!("{base}/chatbots"),
            Some(
                json!({"name": "Spy", "provider_id": ours.provider, "knowledge": {"document_ids": [their_document]}}),
            ),
            "document_not_found",
        ),
        (
            Method::POST,
            format!("{base}/search"),
            Some(json!({"query": "launch plans", "document_ids": [their_document]})),
            "document_not_found",
        ),
        (
            Method::POST,
            format!("{base}/api-keys"),
            Some(json!({"name": "spy", "scopes": ["chat"], "chatbot_ids": [their_bot]})),
            "chatbot_not_found",
        ),
    ];
    let mut wrong = Vec::new();
    for (method, path, body, code) in in_paths.into_iter().chain(in_bodies) {
        let reply = app.call(method.clone(), &path, Some(&owner), body).await;
        if reply.status.as_u16() != 404 || reply.body["code"] != code {
            wrong.push(format!(
                "{method} {path}: wanted 404 {code}, got {} {}",
                reply.status, reply.body
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    // The completions endpoint takes a chatbot's slug or id; theirs does not exist for our key.
    app.post(
        "/v1/chat/completions",
        Some(&ours.key_all),
        json!({"model": their_bot, "messages": [{"role": "user", "content": "hi"}]}),
    )
    .await
    .expect_error(404, "chatbot_not_found");

    // Nothing of theirs changed, and their key still works.
    assert_eq!(snapshot(&app).await, before);
    app.get(
        &format!("/v1/orgs/{theirs}/chatbots/{their_bot}"),
        Some(their_key["key"].as_str().unwrap()),
    )
    .await
    .expect_error(403, "insufficient_scope");
    let our_bots = app
        .get(&format!("{base}/chatbots"), Some(&owner))
        .await
        .expect(200);
    assert!(
        our_bots["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|b| b["name"] != "Spy"),
        "{our_bots}"
    );
}
