//! The rules the domain enforces on request fields, declared in the published spec: lengths,
//! ranges, item counts, enums and character patterns. The domain stays where the rules are
//! enforced (its 422 answers name the field and the rule); this table states them for clients and
//! testers, from the domain's own constants where it exports them. `scripts/check-contract` runs
//! schemathesis against a live server on the result in CI, which fails both ways: on a request
//! the spec allows and the server refuses, and on one the spec forbids and the server takes.
//!
//! Text is measured as given (before trimming) in characters. What a pattern cannot state
//! portably (Unicode letter classes of tags, the password's character classes and common
//! passwords, cross-field rules, ids and tokens the server must have issued) is left to the 422
//! and named in `docs/api.md`.

use serde_json::{Value, json};

/// The whitespace Rust's `str::trim` removes (Unicode `White_Space`), as a character class body:
/// `\s` differs between regex dialects.
const WS: &str =
    "\\t\\n\\x0b\\x0c\\r \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000";
/// Control characters (`char::is_control`: Unicode `Cc`).
const CONTROL: &str = "\\x00-\\x1f\\x7f-\\x9f";
/// Control characters except tab, line feed and carriage return.
const CONTROL_BUT_LINES: &str = "\\x00-\\x08\\x0b\\x0c\\x0e-\\x1f\\x7f-\\x9f";

/// No control characters and not blank: names and labels.
fn label() -> String {
    format!("^[^{CONTROL}]*[^{WS}{CONTROL}][^{CONTROL}]*$")
}

/// No control characters but line breaks and tabs, and not blank: prompts and messages.
fn text() -> String {
    format!("^[^{CONTROL_BUT_LINES}]*[^{WS}{CONTROL}][^{CONTROL_BUT_LINES}]*$")
}

/// Not blank (anything else goes): search queries.
fn not_blank() -> String {
    format!("[^{WS}]")
}

/// One or more characters, none of them whitespace or control: model names, API keys.
fn token() -> String {
    format!("^[^{WS}{CONTROL}]+$")
}

/// A slug: `a-z`, `0-9` and single inner dashes.
const SLUG: &str = "^[a-z0-9]+(-[a-z0-9]+)*$";

/// A person's or an organization's name.
fn name() -> Value {
    label_field(docent_identity::DisplayName::MAX_CHARS)
}

fn slug() -> Value {
    json!({"minLength": 2, "maxLength": docent_kernel::Slug::MAX_LEN, "pattern": SLUG})
}

fn password() -> Value {
    json!({
        "minLength": docent_identity::PasswordPolicy::MIN_CHARS,
        "maxLength": docent_identity::PasswordPolicy::MAX_CHARS,
    })
}

fn tags(max_items: usize) -> Value {
    json!({
        "maxItems": max_items,
        "items": {"minLength": 1, "maxLength": docent_documents::MAX_TAG_CHARS},
    })
}

fn text_field(max: usize) -> Value {
    json!({"minLength": 1, "maxLength": max, "pattern": text()})
}

fn label_field(max: usize) -> Value {
    json!({"minLength": 1, "maxLength": max, "pattern": label()})
}

fn token_field(max: usize) -> Value {
    json!({"minLength": 1, "maxLength": max, "pattern": token()})
}

fn range(minimum: impl Into<Value>, maximum: impl Into<Value>) -> Value {
    json!({"minimum": minimum.into(), "maximum": maximum.into()})
}

/// `(schema, property, what to merge into the property's schema)`.
pub(super) fn properties() -> Vec<(&'static str, &'static str, Value)> {
    let email = json!({"format": "email", "maxLength": docent_kernel::Email::MAX_LEN});
    let tones: Vec<&str> = docent_chat::TONES
        .iter()
        .map(|t| t.name)
        .chain(["custom"])
        .collect();
    let chatbot = |schema: &'static str| {
        vec![
            (schema, "name", label_field(docent_chat::MAX_NAME)),
            (schema, "slug", slug()),
            (schema, "model", label_field(docent_chat::MAX_MODEL)),
            (
                schema,
                "system_prompt",
                text_field(docent_chat::MAX_SYSTEM_PROMPT),
            ),
            (schema, "tone", json!({"enum": tones.clone()})),
            (schema, "custom_tone", text_field(docent_chat::MAX_TONE)),
            (schema, "temperature", range(0, 2)),
            (schema, "max_answer_tokens", range(1, 32_768)),
            (schema, "context_window", range(512, 2_000_000)),
            (
                schema,
                "welcome_message",
                text_field(docent_chat::MAX_MESSAGE_TEXT),
            ),
            (
                schema,
                "fallback_answer",
                text_field(docent_chat::MAX_MESSAGE_TEXT),
            ),
        ]
    };
    let provider = |schema: &'static str| {
        vec![
            (
                schema,
                "name",
                label_field(docent_providers::MAX_NAME_CHARS),
            ),
            (
                schema,
                "api_key",
                token_field(docent_providers::MAX_KEY_CHARS),
            ),
            (
                schema,
                "default_model",
                token_field(docent_providers::MAX_MODEL_CHARS),
            ),
            (
                schema,
                "api_version",
                token_field(docent_providers::MAX_MODEL_CHARS),
            ),
            (
                schema,
                "timeout_secs",
                range(1, docent_providers::MAX_TIMEOUT_SECS),
            ),
        ]
    };
    let scopes: Vec<&str> = docent_keys::Scope::ALL.iter().map(|s| s.as_str()).collect();
    let mut all = vec![
        ("SignupRequest", "email", email.clone()),
        ("SignupRequest", "password", password()),
        ("SignupRequest", "name", name()),
        ("UpdateMeRequest", "name", name()),
        ("ChangePasswordRequest", "new_password", password()),
        ("PasswordResetConfirm", "password", password()),
        ("CreateOrgRequest", "name", name()),
        ("UpdateOrgRequest", "name", name()),
        ("UpdateOrgRequest", "slug", slug()),
        ("CreateInvitationRequest", "email", email),
        ("CreateApiKeyRequest", "name", name()),
        (
            "CreateApiKeyRequest",
            "scopes",
            json!({"minItems": 1, "items": {"enum": scopes}}),
        ),
        (
            "CreateApiKeyRequest",
            "chatbot_ids",
            json!({"minItems": 1, "maxItems": 100}),
        ),
        (
            "CreateApiKeyRequest",
            "rate_limit_per_minute",
            range(1, 1_000_000),
        ),
        (
            "CreateApiKeyRequest",
            "monthly_message_quota",
            json!({"minimum": 1}),
        ),
        (
            "CreateApiKeyRequest",
            "monthly_token_quota",
            json!({"minimum": 1}),
        ),
        (
            "TextUpload",
            "title",
            json!({"minLength": 1, "maxLength": docent_documents::MAX_TITLE_CHARS, "pattern": format!("[^{WS}{CONTROL}]")}),
        ),
        ("TextUpload", "text", json!({"minLength": 1})),
        ("TextUpload", "tags", tags(docent_documents::MAX_TAGS)),
        (
            "SearchBody",
            "query",
            json!({"minLength": 1, "maxLength": docent_documents::MAX_QUERY_CHARS, "pattern": not_blank()}),
        ),
        ("SearchBody", "top_k", range(1, docent_documents::MAX_TOP_K)),
        ("SearchBody", "tags", tags(docent_documents::MAX_TAGS)),
        ("RetrievalInput", "top_k", range(1, docent_chat::MAX_TOP_K)),
        ("RetrievalInput", "min_score", range(-1, 1)),
        ("KnowledgeInput", "tags", tags(docent_documents::MAX_TAGS)),
        (
            "AskRequest",
            "content",
            text_field(docent_chat::MAX_QUESTION_CHARS),
        ),
        (
            "CreateConversationRequest",
            "title",
            label_field(docent_chat::MAX_TITLE),
        ),
        (
            "KnowledgeInput",
            "document_ids",
            json!({"maxItems": docent_chat::MAX_SCOPE_IDS}),
        ),
        (
            "TestProviderRequest",
            "model",
            token_field(docent_providers::MAX_MODEL_CHARS),
        ),
    ];
    all.extend(chatbot("CreateChatbotRequest"));
    all.extend(chatbot("UpdateChatbotRequest"));
    all.extend(provider("CreateProviderRequest"));
    all.extend(provider("UpdateProviderRequest"));
    all
}

/// `(query parameter, what to merge into its schema)`, for every operation that takes it.
pub(super) fn query_parameters() -> Vec<(&'static str, Value)> {
    vec![
        ("limit", range(1, docent_kernel::PageRequest::MAX_LIMIT)),
        (
            "tag",
            json!({"minLength": 1, "maxLength": docent_documents::MAX_TAG_CHARS}),
        ),
        // poem-openapi's name for a calendar date; OpenAPI's is `date`.
        ("from", json!({"format": "date"})),
        ("to", json!({"format": "date"})),
    ]
}

/// Merges `patch` into `target`, object by object.
pub(super) fn merge(target: &mut Value, patch: &Value) {
    match (target, patch) {
        (Value::Object(target), Value::Object(patch)) => {
            for (key, value) in patch {
                merge(target.entry(key.clone()).or_insert(Value::Null), value);
            }
        }
        (target, patch) => *target = patch.clone(),
    }
}
