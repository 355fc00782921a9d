//! Where values come from: the compiled-in defaults (`defaults.toml`), an optional file, the
//! `DOCENT_*` environment, command-line overrides. Also the keys renamed when flat keys became
//! sections (still read, with a warning) and the keys nothing reads (warned about, so a typo is
//! never silently ignored).

use figment::Figment;
use figment::providers::{Format as _, Serialized, Toml};
use figment::value::Value;

use super::Config;

/// The defaults, with the documentation of every key: `docent-api config defaults` prints this.
pub const DEFAULTS: &str = include_str!("defaults.toml");

/// Keys renamed when the flat ones were grouped into sections: (old, new).
pub const RENAMED: [(&str, &str); 6] = [
    ("redis_url", "redis.url"),
    ("qdrant_url", "qdrant.url"),
    ("qdrant_api_key", "qdrant.api_key"),
    ("models_dir", "models.dir"),
    ("master_key", "secrets.master_key"),
    ("previous_master_keys", "secrets.previous_master_keys"),
];

/// `DOCENT_*` variables that belong to docent's tools rather than to its configuration (the
/// remote `import`, the test suite, the benchmarks, the evaluation); they are not warned about.
const NOT_CONFIGURATION: [&str; 4] = ["url", "api_key", "org", "token"];
const NOT_CONFIGURATION_PREFIXES: [&str; 3] = ["test_", "soak_", "eval_"];

/// The user's layers with renamed keys moved to their new names (when the new one is not set
/// too), plus a warning for each renamed key found.
pub(super) fn with_renamed_keys(user: Figment) -> (Figment, Vec<String>) {
    let mut user = user;
    let mut warnings = Vec::new();
    for (old, new) in RENAMED {
        let Ok(value) = user.find_value(old) else {
            continue;
        };
        let source = user
            .find_metadata(old)
            .map_or_else(|| "the configuration".to_owned(), |m| m.name.to_string());
        let env_new = format!("DOCENT_{}", new.replace('.', "__").to_uppercase());
        if user.find_value(new).is_ok() {
            warnings.push(format!(
                "`{old}` (from {source}) is deprecated and ignored: `{new}` is set too \
                 (environment: {env_new})"
            ));
        } else {
            warnings.push(format!(
                "`{old}` (from {source}) is deprecated: use `{new}` (environment: {env_new})"
            ));
            user = user.merge(Serialized::default(new, value));
        }
    }
    (user, warnings)
}

/// The compiled-in defaults under the user's layers.
pub(super) fn with_defaults(user: &Figment) -> Figment {
    Figment::from(Toml::string(DEFAULTS)).merge(user.clone())
}

/// A warning for every key in `figment` that no part of the configuration reads.
pub(super) fn unknown_keys(figment: &Figment) -> Vec<String> {
    let Ok(value) = figment.extract::<Value>() else {
        return Vec::new();
    };
    let mut unknown = Vec::new();
    // Extraction already succeeded; this second pass only records what it skipped.
    let _ = serde_ignored::deserialize(&value, |path| {
        let key = path.to_string().replace(".?", "");
        let renamed = RENAMED.iter().any(|(old, _)| key == *old);
        let tools = NOT_CONFIGURATION.contains(&key.as_str())
            || NOT_CONFIGURATION_PREFIXES
                .iter()
                .any(|p| key.starts_with(p));
        if !renamed && !tools {
            unknown.push(key);
        }
    })
    .map(|_: Config| ());
    unknown
        .into_iter()
        .map(|key| {
            let source = figment
                .find_metadata(&key)
                .map_or_else(String::new, |m| format!(" (from {})", m.name));
            format!(
                "unknown configuration key `{key}`{source} is ignored; `docent-api config defaults` lists every key"
            )
        })
        .collect()
}
