//! The printable configuration: serializers that write secrets as `<redacted>` and URLs without
//! their credentials, the effective configuration (derived defaults filled in) as TOML for
//! `docent-api config check`, and the one-line start-up summary derived from the same value.

use std::fmt::Write as _;

use secrecy::{ExposeSecret as _, SecretString};
use serde::Serializer;

use super::Config;

/// What a secret is printed as.
pub const REDACTED: &str = "<redacted>";

/// Serializes a set secret as [`REDACTED`].
pub(super) fn secret<S: Serializer>(
    value: &Option<SecretString>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match value {
        Some(_) => serializer.serialize_some(REDACTED),
        None => serializer.serialize_none(),
    }
}

/// Serializes each secret of a list as [`REDACTED`].
pub(super) fn secrets<S: Serializer>(
    values: &[SecretString],
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.collect_seq(values.iter().map(|_| REDACTED))
}

/// Serializes a secret URL without its password and query.
pub(super) fn secret_url<S: Serializer>(
    value: &Option<SecretString>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match value {
        Some(url) => serializer.serialize_some(&redact_url(url.expose_secret())),
        None => serializer.serialize_none(),
    }
}

/// Serializes a URL without its password and query.
pub(super) fn url<S: Serializer>(value: &Option<String>, serializer: S) -> Result<S::Ok, S::Error> {
    match value {
        Some(url) => serializer.serialize_some(&redact_url(url)),
        None => serializer.serialize_none(),
    }
}

/// Removes the password (and any query string) from a URL.
#[must_use]
pub fn redact_url(raw: &str) -> String {
    match url::Url::parse(raw) {
        Ok(mut url) => {
            if url.password().is_some() {
                let _ = url.set_password(Some(REDACTED));
            }
            url.set_query(None);
            // The URL's own encoding would write `%3Credacted%3E`.
            url.to_string().replace("%3Credacted%3E", REDACTED)
        }
        Err(_) => "<unparseable>".to_owned(),
    }
}

impl Config {
    /// This configuration with every default that depends on another value filled in (the
    /// database URL, the public URL, the models, blobs and mail directories, PDFium's library).
    #[must_use]
    pub fn effective(&self) -> Self {
        let mut effective = self.clone();
        effective.database.url = Some(SecretString::from(self.database_url()));
        effective.public_url = Some(self.public_url());
        effective.models.dir = Some(self.models_dir());
        effective.blobs.dir = Some(self.blobs_dir());
        effective.mail.file_dir = Some(self.mail_dir());
        effective.documents.pdfium_library = Some(self.pdfium_library());
        effective.warnings.clear();
        effective
    }

    /// The effective configuration as TOML, secrets redacted.
    ///
    /// # Errors
    /// When a value cannot be written as TOML (not expected: the shape is fixed).
    pub fn redacted_toml(&self) -> Result<String, toml::ser::Error> {
        toml::to_string(&self.effective())
    }

    /// The effective configuration on one line (`key=value` pairs, unset keys left out, secrets
    /// redacted), for the start-up log.
    #[must_use]
    pub fn redacted_summary(&self) -> String {
        let value = serde_json::to_value(self.effective()).unwrap_or_default();
        let mut out = String::new();
        flatten("", &value, &mut out);
        out
    }
}

/// Appends `key=value` for every set leaf of `value`, keys dotted from `prefix`.
fn flatten(prefix: &str, value: &serde_json::Value, out: &mut String) {
    let mut pair = |value: &dyn std::fmt::Display| {
        if !out.is_empty() {
            out.push(' ');
        }
        let _ = write!(out, "{prefix}={value}");
    };
    match value {
        serde_json::Value::Null => {}
        serde_json::Value::Object(map) => {
            for (key, value) in map {
                let key = if prefix.is_empty() {
                    key.clone()
                } else {
                    format!("{prefix}.{key}")
                };
                flatten(&key, value, out);
            }
        }
        // A value with spaces is quoted, so the line still splits into pairs.
        serde_json::Value::String(text) if text.contains(char::is_whitespace) => {
            pair(&format!("{text:?}"))
        }
        serde_json::Value::String(text) => pair(text),
        serde_json::Value::Array(_) | serde_json::Value::Bool(_) | serde_json::Value::Number(_) => {
            pair(value);
        }
    }
}
