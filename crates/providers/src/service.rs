//! The provider service: an organization's model connections, with API keys sealed at rest and
//! base URLs kept away from internal addresses.

use std::sync::Arc;

use docent_kernel::{
    AuditEvent, AuditLog, Clock, ExposeSecret as _, Page, PageRequest, ProviderId, SecretString,
    TenantCtx, record_or_log,
};

use crate::chat::{ChatError, ChatMessage, ChatModels, ChatRequest, ChatRole};
use crate::error::ProviderError;
use crate::model::{Provider, ProviderKind, SealedKey, key_binding};
use crate::ports::{BaseUrlGuard, ProviderRepo, SecretBox};

/// The longest name.
pub const MAX_NAME_CHARS: usize = 100;
/// The longest API key.
pub const MAX_KEY_CHARS: usize = 1_000;
/// The longest model name or API version.
pub const MAX_MODEL_CHARS: usize = 200;
/// The default per-call timeout.
pub const DEFAULT_TIMEOUT_SECS: u32 = 60;
/// The longest per-call timeout.
pub const MAX_TIMEOUT_SECS: u32 = 600;
/// Azure OpenAI's API version when the connection names none.
pub const DEFAULT_AZURE_API_VERSION: &str = "2024-10-21";

/// A new connection.
#[derive(Debug, Clone)]
pub struct NewProvider {
    /// A label (1–100 characters).
    pub name: String,
    /// The kind.
    pub kind: ProviderKind,
    /// Where the API is; required for `azure_openai` and `openai_compatible`.
    pub base_url: Option<String>,
    /// The API key; required for `openai`, `azure_openai`, `gemini` and `anthropic`.
    pub api_key: Option<SecretString>,
    /// The model chatbots use unless they name one.
    pub default_model: Option<String>,
    /// The API version (Azure OpenAI).
    pub api_version: Option<String>,
    /// Seconds per call (1–600, default 60).
    pub timeout_secs: Option<u32>,
}

/// Changes to a connection; `None` leaves a field as it is. `Some(None)` clears an optional one.
#[derive(Debug, Clone, Default)]
pub struct ProviderPatch {
    /// A new label.
    pub name: Option<String>,
    /// A new base URL, or none.
    pub base_url: Option<Option<String>>,
    /// A new API key, or none.
    pub api_key: Option<Option<SecretString>>,
    /// A new default model, or none.
    pub default_model: Option<Option<String>>,
    /// A new API version, or none.
    pub api_version: Option<Option<String>>,
    /// A new timeout.
    pub timeout_secs: Option<u32>,
}

/// What a connectivity test found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestReport {
    /// Whether the provider answered.
    pub ok: bool,
    /// How long the call took, in milliseconds.
    pub latency_ms: u64,
    /// The model that was called (none for `extractive`).
    pub model: Option<String>,
    /// The provider's error, classified: `(code, message)` with code `unavailable`, `refused` or
    /// `context_too_long`.
    pub error: Option<(&'static str, String)>,
}

/// What the provider service is built from.
#[derive(Debug, Clone)]
pub struct ProviderPorts {
    /// Stores connections.
    pub repo: Arc<dyn ProviderRepo>,
    /// Seals and opens API keys.
    pub secrets: Arc<dyn SecretBox>,
    /// Refuses base URLs on internal addresses.
    pub guard: Arc<dyn BaseUrlGuard>,
    /// Opens model clients (for the connection test).
    pub models: Arc<dyn ChatModels>,
    /// The audit log.
    pub audit: Arc<dyn AuditLog>,
    /// The clock.
    pub clock: Arc<dyn Clock>,
}

/// Organizations' provider connections.
#[derive(Debug, Clone)]
pub struct ProviderService {
    repo: Arc<dyn ProviderRepo>,
    secrets: Arc<dyn SecretBox>,
    guard: Arc<dyn BaseUrlGuard>,
    models: Arc<dyn ChatModels>,
    audit: Arc<dyn AuditLog>,
    clock: Arc<dyn Clock>,
}

fn invalid(field: &'static str, reason: impl Into<String>) -> ProviderError {
    ProviderError::Invalid {
        field,
        reason: reason.into(),
    }
}

fn validate_name(raw: &str) -> Result<String, ProviderError> {
    let name = raw.trim();
    if name.is_empty() || raw.chars().count() > MAX_NAME_CHARS || raw.chars().any(char::is_control)
    {
        return Err(invalid(
            "name",
            format!("must be 1 to {MAX_NAME_CHARS} characters without control characters"),
        ));
    }
    Ok(name.to_owned())
}

fn validate_short(
    field: &'static str,
    raw: Option<String>,
) -> Result<Option<String>, ProviderError> {
    let Some(value) = raw else { return Ok(None) };
    if value.is_empty()
        || value.chars().count() > MAX_MODEL_CHARS
        || value.chars().any(|c| c.is_control() || c.is_whitespace())
    {
        return Err(invalid(
            field,
            format!("must be 1 to {MAX_MODEL_CHARS} characters without spaces"),
        ));
    }
    Ok(Some(value.to_owned()))
}

/// A base URL in canonical form: http or https, a host, no credentials, query or fragment, no
/// trailing slash.
pub fn normalize_base_url(raw: &str) -> Result<String, ProviderError> {
    let url =
        url::Url::parse(raw.trim()).map_err(|e| invalid("base_url", format!("not a URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(invalid("base_url", "must be an http or https URL"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(invalid("base_url", "must name a host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid(
            "base_url",
            "must not contain credentials; pass the key as api_key",
        ));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(invalid("base_url", "must not have a query or fragment"));
    }
    Ok(url.as_str().trim_end_matches('/').to_owned())
}

fn validate_key(key: &SecretString) -> Result<(), ProviderError> {
    let key = key.expose_secret();
    if key.is_empty()
        || key.chars().count() > MAX_KEY_CHARS
        || key.chars().any(|c| c.is_control() || c.is_whitespace())
    {
        return Err(invalid(
            "api_key",
            format!("must be 1 to {MAX_KEY_CHARS} characters without spaces"),
        ));
    }
    Ok(())
}

fn last4(key: &SecretString) -> String {
    let chars: Vec<char> = key.expose_secret().chars().collect();
    chars[chars.len().saturating_sub(4)..].iter().collect()
}

/// Checks what a kind requires and refuses what it cannot use.
fn check_kind(
    kind: ProviderKind,
    base_url: Option<&str>,
    has_key: bool,
    api_version: Option<&str>,
) -> Result<(), ProviderError> {
    if !kind.is_remote() {
        if base_url.is_some() || has_key || api_version.is_some() {
            return Err(invalid(
                "kind",
                "extractive is built in: it takes no base_url, api_key or api_version",
            ));
        }
        return Ok(());
    }
    if base_url.is_none() && kind.default_base_url().is_none() {
        return Err(invalid(
            "base_url",
            format!("is required for {}", kind.as_str()),
        ));
    }
    if kind.needs_api_key() && !has_key {
        return Err(invalid(
            "api_key",
            format!("is required for {}", kind.as_str()),
        ));
    }
    if api_version.is_some() && kind != ProviderKind::AzureOpenAi {
        return Err(invalid("api_version", "applies to azure_openai only"));
    }
    Ok(())
}

impl ProviderService {
    /// A service over these ports.
    #[must_use]
    pub fn new(ports: ProviderPorts) -> Self {
        let ProviderPorts {
            repo,
            secrets,
            guard,
            models,
            audit,
            clock,
        } = ports;
        Self {
            repo,
            secrets,
            guard,
            models,
            audit,
            clock,
        }
    }

    async fn guarded(&self, base_url: Option<String>) -> Result<Option<String>, ProviderError> {
        let Some(raw) = base_url else { return Ok(None) };
        let url = normalize_base_url(&raw)?;
        self.guard
            .check(&url)
            .await
            .map_err(ProviderError::BaseUrlRefused)?;
        Ok(Some(url))
    }

    /// Creates a connection.
    pub async fn create(
        &self,
        tenant: &TenantCtx,
        new: NewProvider,
    ) -> Result<Provider, ProviderError> {
        let name = validate_name(&new.name)?;
        let default_model = validate_short("default_model", new.default_model)?;
        let mut api_version = validate_short("api_version", new.api_version)?;
        if let Some(key) = &new.api_key {
            validate_key(key)?;
        }
        check_kind(
            new.kind,
            new.base_url.as_deref(),
            new.api_key.is_some(),
            api_version.as_deref(),
        )?;
        if new.kind == ProviderKind::AzureOpenAi && api_version.is_none() {
            api_version = Some(DEFAULT_AZURE_API_VERSION.to_owned());
        }
        let timeout_secs = validate_timeout(new.timeout_secs)?;
        let base_url = self.guarded(new.base_url).await?;
        let now = self.clock.now();
        let provider = Provider {
            id: ProviderId::generate(),
            org_id: tenant.org_id(),
            name,
            kind: new.kind,
            base_url,
            default_model,
            api_version,
            api_key_last4: new.api_key.as_ref().map(last4),
            timeout_secs,
            created_at: now,
            updated_at: now,
        };
        let sealed = new
            .api_key
            .as_ref()
            .map(|key| {
                self.secrets
                    .seal(key, &key_binding(provider.org_id, provider.id))
            })
            .transpose()?;
        self.repo.insert(&provider, sealed.as_ref()).await?;
        record_or_log(
            self.audit.as_ref(),
            AuditEvent::new(
                tenant,
                "provider.create",
                ("provider", provider.id.as_uuid()),
                now,
            )
            .with_detail(format!("{} ({})", provider.name, provider.kind.as_str())),
        )
        .await;
        Ok(provider)
    }

    /// A page of the organization's connections.
    pub async fn list(
        &self,
        tenant: &TenantCtx,
        page: &PageRequest,
    ) -> Result<Page<Provider>, ProviderError> {
        let rows = self.repo.list(tenant.org_id(), page).await?;
        Ok(Page::from_rows(rows, page, |p| p.id.as_uuid()))
    }

    /// One connection.
    pub async fn get(&self, tenant: &TenantCtx, id: ProviderId) -> Result<Provider, ProviderError> {
        self.repo
            .get(tenant.org_id(), id)
            .await?
            .ok_or(ProviderError::NotFound)
    }

    /// Changes a connection.
    pub async fn update(
        &self,
        tenant: &TenantCtx,
        id: ProviderId,
        patch: ProviderPatch,
    ) -> Result<Provider, ProviderError> {
        let mut provider = self.get(tenant, id).await?;
        let mut changed = Vec::new();
        if let Some(name) = patch.name {
            provider.name = validate_name(&name)?;
            changed.push("name");
        }
        if let Some(model) = patch.default_model {
            provider.default_model = validate_short("default_model", model)?;
            changed.push("default_model");
        }
        if let Some(version) = patch.api_version {
            provider.api_version = validate_short("api_version", version)?;
            changed.push("api_version");
        }
        if let Some(timeout) = patch.timeout_secs {
            provider.timeout_secs = validate_timeout(Some(timeout))?;
            changed.push("timeout_secs");
        }
        let base_url_changed = patch.base_url.is_some();
        if let Some(base_url) = patch.base_url {
            provider.base_url = base_url;
            changed.push("base_url");
        }
        let had_key = provider.api_key_last4.is_some();
        if base_url_changed && had_key && patch.api_key.is_none() {
            // Otherwise whoever may edit the connection could send its stored key to a host of
            // their choosing.
            return Err(invalid(
                "api_key",
                "changing base_url needs the API key again (or api_key: null to remove it)",
            ));
        }
        let key_change = match patch.api_key {
            Some(Some(key)) => {
                validate_key(&key)?;
                provider.api_key_last4 = Some(last4(&key));
                changed.push("api_key");
                Some(Some(key))
            }
            Some(None) => {
                provider.api_key_last4 = None;
                changed.push("api_key");
                Some(None)
            }
            None => None,
        };
        let has_key = match &key_change {
            Some(key) => key.is_some(),
            None => had_key,
        };
        check_kind(
            provider.kind,
            provider.base_url.as_deref(),
            has_key,
            provider.api_version.as_deref(),
        )?;
        if base_url_changed {
            provider.base_url = self.guarded(provider.base_url.take()).await?;
        }
        let binding = key_binding(provider.org_id, provider.id);
        let sealed = match &key_change {
            Some(Some(key)) => Some(Some(self.secrets.seal(key, &binding)?)),
            Some(None) => Some(None),
            None => None,
        };
        let now = self.clock.now();
        provider.updated_at = now;
        if !self
            .repo
            .update(&provider, sealed.as_ref().map(Option::as_ref))
            .await?
        {
            return Err(ProviderError::NotFound);
        }
        if !changed.is_empty() {
            record_or_log(
                self.audit.as_ref(),
                AuditEvent::new(tenant, "provider.update", ("provider", id.as_uuid()), now)
                    .with_detail(changed.join(", ")),
            )
            .await;
        }
        Ok(provider)
    }

    /// Deletes a connection.
    pub async fn delete(&self, tenant: &TenantCtx, id: ProviderId) -> Result<(), ProviderError> {
        let provider = self.get(tenant, id).await?;
        let deleted = self
            .repo
            .delete(tenant.org_id(), id)
            .await
            .map_err(|e| e.or_on_conflict(ProviderError::InUse))?;
        if !deleted {
            return Err(ProviderError::NotFound);
        }
        record_or_log(
            self.audit.as_ref(),
            AuditEvent::new(
                tenant,
                "provider.delete",
                ("provider", id.as_uuid()),
                self.clock.now(),
            )
            .with_detail(provider.name),
        )
        .await;
        Ok(())
    }

    /// A connection's API key, opened (for the adapters that call the provider).
    pub async fn api_key(
        &self,
        provider: &Provider,
    ) -> Result<Option<SecretString>, ProviderError> {
        let Some(sealed) = self.repo.sealed_key(provider.org_id, provider.id).await? else {
            return Ok(None);
        };
        Ok(Some(self.secrets.open(
            &sealed,
            &key_binding(provider.org_id, provider.id),
        )?))
    }

    /// Makes one tiny real call (a few tokens) to the connection's model and reports how long it
    /// took, or the provider's error. `model` overrides the connection's default model.
    pub async fn test(
        &self,
        tenant: &TenantCtx,
        id: ProviderId,
        model: Option<String>,
    ) -> Result<TestReport, ProviderError> {
        let provider = self.get(tenant, id).await?;
        if !provider.kind.is_remote() {
            return Ok(TestReport {
                ok: true,
                latency_ms: 0,
                model: None,
                error: None,
            });
        }
        let model = validate_short("model", model)?
            .or_else(|| provider.default_model.clone())
            .ok_or_else(|| {
                invalid(
                    "model",
                    "the connection has no default_model; name the model to test",
                )
            })?;
        let key = self.api_key(&provider).await?;
        let started = std::time::Instant::now();
        let outcome = match self.models.connect(&provider, key) {
            Ok(client) => {
                client
                    .complete(ChatRequest {
                        model: model.clone(),
                        messages: vec![ChatMessage {
                            role: ChatRole::User,
                            content: "Reply with the single word: OK".to_owned(),
                        }],
                        temperature: Some(0.0),
                        max_tokens: Some(4),
                    })
                    .await
            }
            Err(error) => Err(error),
        };
        let latency_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        let error = outcome.err().map(|error| {
            let code = match &error {
                ChatError::Transient { .. } => "unavailable",
                ChatError::Permanent(_) => "refused",
                ChatError::ContextTooLong(_) => "context_too_long",
            };
            (code, error.to_string())
        });
        Ok(TestReport {
            ok: error.is_none(),
            latency_ms,
            model: Some(model),
            error,
        })
    }

    /// Re-seals every stored API key under the current master key; returns how many changed.
    /// Keys already under it are left alone, so running it twice is harmless.
    pub async fn reseal_all(&self) -> Result<u64, ProviderError> {
        let mut after = None;
        let mut resealed = 0;
        loop {
            let batch = self.repo.sealed_keys(after, 200).await?;
            let Some(last) = batch.last() else { break };
            after = Some(last.1);
            for (org, id, sealed) in batch {
                if sealed.key_id == self.secrets.current_key_id() {
                    continue;
                }
                let binding = key_binding(org, id);
                let secret = self.secrets.open(&sealed, &binding)?;
                let fresh: SealedKey = self.secrets.seal(&secret, &binding)?;
                if self
                    .repo
                    .replace_sealed_key(org, id, &sealed, &fresh)
                    .await?
                {
                    resealed += 1;
                }
            }
        }
        Ok(resealed)
    }
}

fn validate_timeout(raw: Option<u32>) -> Result<u32, ProviderError> {
    let timeout = raw.unwrap_or(DEFAULT_TIMEOUT_SECS);
    if timeout == 0 || timeout > MAX_TIMEOUT_SECS {
        return Err(invalid(
            "timeout_secs",
            format!("must be 1 to {MAX_TIMEOUT_SECS}"),
        ));
    }
    Ok(timeout)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls_are_canonical_and_clean() {
        assert_eq!(
            normalize_base_url(" https://api.example.com/v1/ ").unwrap(),
            "https://api.example.com/v1"
        );
        for bad in [
            "ftp://example.com",
            "not a url",
            "https://user:pass@example.com",
            "https://example.com/v1?key=x",
            "file:///etc/passwd",
        ] {
            assert!(normalize_base_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn kinds_require_what_they_use_and_refuse_the_rest() {
        use ProviderKind::*;
        assert!(check_kind(Extractive, None, false, None).is_ok());
        assert!(check_kind(Extractive, Some("https://x"), false, None).is_err());
        assert!(check_kind(Extractive, None, true, None).is_err());
        assert!(check_kind(OpenAi, None, true, None).is_ok());
        assert!(check_kind(OpenAi, None, false, None).is_err());
        assert!(check_kind(OpenAiCompatible, None, false, None).is_err());
        assert!(check_kind(OpenAiCompatible, Some("http://llm:8080/v1"), false, None).is_ok());
        assert!(check_kind(AzureOpenAi, None, true, None).is_err());
        assert!(
            check_kind(
                AzureOpenAi,
                Some("https://r.openai.azure.com"),
                true,
                Some("2024-10-21")
            )
            .is_ok()
        );
        assert!(check_kind(Gemini, None, true, Some("v1")).is_err());
        assert!(check_kind(Anthropic, None, false, None).is_err());
    }

    #[test]
    fn keys_show_only_their_last_four_characters() {
        assert_eq!(last4(&SecretString::from("sk-abcdefgh1234")), "1234");
        assert_eq!(last4(&SecretString::from("ab")), "ab");
        assert!(validate_key(&SecretString::from("has space")).is_err());
        assert!(validate_key(&SecretString::from("")).is_err());
        assert!(validate_timeout(Some(0)).is_err());
        assert_eq!(validate_timeout(None).unwrap(), DEFAULT_TIMEOUT_SECS);
    }
}
