//! The configuration's loading, validation, renamed and unknown keys, and redaction.

use figment::Jail;
use figment::providers::{Format as _, Serialized, Toml};
use secrecy::ExposeSecret as _;

use super::*;

#[test]
fn defaults_are_the_embedded_setup() {
    let config = Config::from_figment(&Figment::new()).unwrap();
    assert_eq!(config.addr.to_string(), "127.0.0.1:8080");
    assert!(config.uses_sqlite());
    assert!(config.database_url().ends_with("data/docent.db?mode=rwc"));
    assert_eq!(config.public_url(), "http://127.0.0.1:8080");
}

#[test]
#[allow(clippy::result_large_err)] // figment's Jail API returns its own large error.
fn environment_overrides_file_and_overrides_win() {
    Jail::expect_with(|jail| {
        jail.create_file(
            "docent.toml",
            "addr = \"127.0.0.1:9000\"\n[session]\nlifetime_hours = 5\n",
        )?;
        jail.set_env("DOCENT_SESSION__LIFETIME_HOURS", "7");
        jail.set_env("DOCENT_DATA_DIR", "/tmp/docent-x");
        let config = Config::load(None, &Overrides::default()).unwrap();
        assert_eq!(config.addr.port(), 9000);
        assert_eq!(config.session.lifetime_hours, 7);
        assert_eq!(config.data_dir, PathBuf::from("/tmp/docent-x"));
        let overridden = Config::load(
            None,
            &Overrides {
                addr: Some(SocketAddr::from(([127, 0, 0, 1], 9100))),
                data_dir: None,
            },
        )
        .unwrap();
        assert_eq!(overridden.addr.port(), 9100);
        Ok(())
    });
}

#[test]
#[allow(clippy::result_large_err)] // figment's Jail API returns its own large error.
fn without_a_config_file_the_defaults_apply() {
    Jail::expect_with(|_| {
        let config = Config::load(None, &Overrides::default()).unwrap();
        assert_eq!(config.addr.port(), 8080);
        Ok(())
    });
}

#[test]
fn a_missing_config_file_is_an_error() {
    let message = Config::load(
        Some(Path::new("/nonexistent/docent.toml")),
        &Overrides::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(message.contains("--config"), "{message}");
}

#[test]
fn a_bad_value_names_its_key() {
    let figment = Figment::new().merge(Serialized::default("addr", "not an address"));
    let message = Config::from_figment(&figment).unwrap_err().to_string();
    assert!(message.contains("addr"), "{message}");

    let figment = Figment::new().merge(Serialized::default("database.url", "mysql://x"));
    let message = Config::from_figment(&figment).unwrap_err().to_string();
    assert!(message.contains("database.url"), "{message}");

    let figment = Figment::new().merge(Serialized::default("mail.transport", "pigeon"));
    let message = Config::from_figment(&figment).unwrap_err().to_string();
    assert!(message.contains("mail.transport"), "{message}");
}

#[test]
fn the_summary_hides_secrets() {
    let figment = Figment::new()
        .merge(Serialized::default(
            "database.url",
            "postgres://docent:hunter2hunter2@db:5432/docent?sslmode=require",
        ))
        .merge(Serialized::default("mail.transport", "smtp"))
        .merge(Serialized::default("mail.smtp.host", "smtp.example.com"))
        .merge(Serialized::default(
            "mail.smtp.password",
            "smtp-secret-value",
        ));
    let figment = figment
        .merge(Serialized::default("qdrant.url", "http://qdrant:6334"))
        .merge(Serialized::default("qdrant.api_key", "qdrant-secret-value"))
        .merge(Serialized::default(
            "redis.url",
            "redis://:redis-secret-value@redis:6379",
        ))
        .merge(Serialized::default(
            "secrets.master_key",
            "master-secret-value",
        ))
        .merge(Serialized::default(
            "secrets.previous_master_keys",
            vec!["old-master-secret-value"],
        ))
        .merge(Serialized::default("blobs.backend", "s3"))
        .merge(Serialized::default("blobs.s3.bucket", "docs"))
        .merge(Serialized::default(
            "blobs.s3.secret_access_key",
            "s3-secret-value",
        ))
        .merge(Serialized::default(
            "embedding.provider",
            "openai_compatible",
        ))
        .merge(Serialized::default(
            "embedding.base_url",
            "https://api.example.com/v1",
        ))
        .merge(Serialized::default(
            "embedding.model",
            "text-embedding-3-small",
        ))
        .merge(Serialized::default("embedding.dimensions", 1536))
        .merge(Serialized::default(
            "embedding.api_key",
            "embedding-secret-value",
        ));
    let config = Config::from_figment(&figment).unwrap();
    let summary = config.redacted_summary();
    let toml = config.redacted_toml().unwrap();
    for secret in [
        "hunter2",
        "smtp-secret-value",
        "qdrant-secret-value",
        "s3-secret-value",
        "embedding-secret-value",
        "redis-secret-value",
        "master-secret-value",
        "old-master-secret-value",
    ] {
        assert!(!summary.contains(secret), "{summary}");
        assert!(!format!("{config:?}").contains(secret));
        assert!(!toml.contains(secret), "{toml}");
    }
    for shown in [
        "database.url=postgres://docent:<redacted>@db:5432/docent",
        "qdrant.url=http://qdrant:6334/",
        "qdrant.api_key=<redacted>",
        "blobs.s3.bucket=docs",
        "blobs.s3.secret_access_key=<redacted>",
        "embedding.provider=openai_compatible",
        "embedding.model=text-embedding-3-small",
        "secrets.previous_master_keys=[\"<redacted>\"]",
        "mail.smtp.password=<redacted>",
    ] {
        assert!(summary.contains(shown), "{shown}: {summary}");
    }
    // The printed TOML reads back as a configuration (the redacted values aside).
    let printed: toml::Table = toml.parse().unwrap();
    assert_eq!(
        printed["qdrant"]["url"].as_str(),
        Some("http://qdrant:6334/")
    );
}

#[test]
fn scaled_backends_need_their_settings() {
    for (key, value, named) in [
        ("blobs.backend", "s3", "blobs.s3.bucket"),
        (
            "embedding.provider",
            "openai_compatible",
            "embedding.base_url",
        ),
        ("qdrant.url", "not a url", "qdrant.url"),
        ("documents.chunk_tokens", "8", "documents.chunk_tokens"),
        ("worker.lease_secs", "5", "worker.lease_secs"),
    ] {
        let figment = Figment::new().merge(Serialized::default(key, value));
        let message = Config::from_figment(&figment).unwrap_err().to_string();
        assert!(message.contains(named), "{key}: {message}");
    }
    let figment = Figment::new()
        .merge(Serialized::default(
            "embedding.provider",
            "openai_compatible",
        ))
        .merge(Serialized::default(
            "embedding.base_url",
            "http://127.0.0.1:8000/v1",
        ))
        .merge(Serialized::default("embedding.model", "m"));
    let message = Config::from_figment(&figment).unwrap_err().to_string();
    assert!(message.contains("embedding.dimensions"), "{message}");
}

#[test]
fn a_local_model_directory_replaces_the_default_model() {
    let config = Config::default();
    assert_eq!(config.local_model().id, "all-MiniLM-L6-v2-qint8");
    assert!(config.local_model().dir.ends_with("all-minilm-l6-v2-qint8"));
    let figment = Figment::new()
        .merge(Serialized::default("models.dir", "/opt/models"))
        .merge(Serialized::default("embedding.model_dir", "/opt/bge-small"))
        .merge(Serialized::default("embedding.pooling", "cls"));
    let config = Config::from_figment(&figment).unwrap();
    let local = config.local_model();
    assert_eq!(local.id, "bge-small");
    assert_eq!(local.pooling, crate::embedder::LocalPooling::Cls);
    assert_eq!(
        local.tokenizer(),
        PathBuf::from("/opt/bge-small/tokenizer.json")
    );
    assert_eq!(
        local.runtime,
        PathBuf::from("/opt/models/onnxruntime/libonnxruntime.so")
    );
}

#[test]
fn the_previous_embedding_model_is_one_level_deep_and_validated() {
    let figment = Figment::new()
        .merge(Serialized::default("models.dir", "/opt/models"))
        .merge(Serialized::default("embedding.pooling", "cls"))
        .merge(Serialized::default("embedding.previous.provider", "local"));
    let config = Config::from_figment(&figment).unwrap();
    // The default model pooled otherwise is another model, with its own collection.
    assert_eq!(config.local_model().id, "all-MiniLM-L6-v2-qint8-cls");
    let previous = config.embedding.previous.as_deref().unwrap();
    assert_eq!(
        previous.local_model(&config.models_dir()).id,
        "all-MiniLM-L6-v2-qint8"
    );
    assert!(
        config
            .redacted_summary()
            .contains("embedding.previous.provider=local")
    );
    let remote = Figment::new()
        .merge(Serialized::default(
            "embedding.previous.provider",
            "openai_compatible",
        ))
        .merge(Serialized::default(
            "embedding.previous.base_url",
            "https://api.example.com/v1",
        ));
    let message = Config::from_figment(&remote).unwrap_err().to_string();
    assert!(message.contains("embedding.previous.model"), "{message}");
    let nested = Figment::new().merge(Serialized::default(
        "embedding.previous.previous.provider",
        "local",
    ));
    let message = Config::from_figment(&nested).unwrap_err().to_string();
    assert!(message.contains("embedding.previous.previous"), "{message}");
}

#[test]
fn the_defaults_file_is_the_whole_configuration() {
    // Every key of the compiled-in file is read, and every commented example names a real key:
    // uncommented, the examples give a configuration with nothing unknown.
    let config = Config::from_figment(&Figment::new()).unwrap();
    assert!(config.warnings.is_empty(), "{:?}", config.warnings);
    let examples: String = DEFAULTS
        .lines()
        .map(|line| {
            let example = line.strip_prefix("# ").filter(|rest| {
                rest.starts_with('[')
                    || rest.split_once(" = ").is_some_and(|(key, _)| {
                        key.chars().all(|c| c.is_ascii_lowercase() || c == '_')
                    })
            });
            example.unwrap_or(line).to_owned() + "\n"
        })
        .collect();
    let figment = Figment::from(Toml::string(&examples));
    let (figment, _) = layers::with_renamed_keys(figment);
    let unknown = layers::unknown_keys(&layers::with_defaults(&figment));
    assert!(unknown.is_empty(), "{unknown:?}");
    let every: Config = layers::with_defaults(&figment).extract().unwrap();
    // Each optional key the code reads has an example in the file.
    let summary = serde_json::to_value(&every).unwrap();
    for key in [
        "/public_url",
        "/database/url",
        "/mail/file_dir",
        "/mail/smtp/host",
        "/mail/smtp/password",
        "/limits/org_monthly_token_quota",
        "/redis/url",
        "/qdrant/url",
        "/qdrant/api_key",
        "/models/dir",
        "/secrets/master_key",
        "/providers/proxy_url",
        "/blobs/dir",
        "/blobs/s3/secret_access_key",
        "/embedding/dimensions",
        "/embedding/pooling",
        "/embedding/previous/provider",
        "/documents/extractor_program",
        "/documents/pdfium_library",
    ] {
        assert!(
            summary.pointer(key).is_some_and(|v| !v.is_null()),
            "{key} has no example in defaults.toml"
        );
    }
    // Rust's defaults and the file's agree with what the README promises of the embedded setup.
    assert_eq!(config.documents.chunk_tokens, 250);
    assert!(config.worker.embedded);
}

#[test]
#[allow(clippy::result_large_err)] // figment's Jail API returns its own large error.
fn renamed_keys_are_still_read_with_a_warning() {
    Jail::expect_with(|jail| {
        jail.create_file("docent.toml", "qdrant_url = \"http://qdrant:6334\"\n")?;
        jail.set_env("DOCENT_MODELS_DIR", "/opt/models");
        jail.set_env("DOCENT_MASTER_KEY", "old-name-key");
        jail.set_env("DOCENT_SECRETS__MASTER_KEY", "new-name-key");
        let config = Config::load(None, &Overrides::default()).unwrap();
        assert_eq!(config.qdrant.url.as_deref(), Some("http://qdrant:6334"));
        assert_eq!(config.models_dir(), PathBuf::from("/opt/models"));
        // Where both are set the new name wins.
        assert_eq!(
            config
                .secrets
                .master_key
                .as_ref()
                .map(|k| k.expose_secret().to_owned()),
            Some("new-name-key".to_owned())
        );
        let warnings = config.warnings.join("\n");
        assert!(warnings.contains("`qdrant_url`"), "{warnings}");
        assert!(warnings.contains("use `qdrant.url`"), "{warnings}");
        assert!(warnings.contains("DOCENT_MODELS__DIR"), "{warnings}");
        assert!(warnings.contains("`master_key`"), "{warnings}");
        assert!(warnings.contains("ignored"), "{warnings}");
        assert!(!warnings.contains("unknown"), "{warnings}");
        Ok(())
    });
}

#[test]
#[allow(clippy::result_large_err)] // figment's Jail API returns its own large error.
fn unknown_keys_are_warned_about() {
    Jail::expect_with(|jail| {
        jail.create_file(
            "docent.toml",
            "adr = \"127.0.0.1:1\"\n[database]\nmax_conections = 3\n[embedding.previous]\nprovder = \"local\"\n",
        )?;
        jail.set_env("DOCENT_MAIL__SMPT__HOST", "smtp.example.com");
        // The test suite's and the tools' own variables are not configuration.
        jail.set_env("DOCENT_TEST_REDIS_URL", "redis://127.0.0.1");
        jail.set_env("DOCENT_URL", "http://127.0.0.1:8080");
        let config = Config::load(None, &Overrides::default()).unwrap();
        let warnings = config.warnings.join("\n");
        for key in [
            "`adr`",
            "`database.max_conections`",
            "`embedding.previous.provder`",
            "`mail.smpt`",
        ] {
            assert!(warnings.contains(key), "{key}: {warnings}");
        }
        assert!(warnings.contains("TOML file"), "{warnings}");
        assert!(!warnings.contains("test_redis_url"), "{warnings}");
        assert_eq!(config.warnings.len(), 4, "{warnings}");
        Ok(())
    });
}
