//! The one access call: who is calling (a signed-in user or an API key), and what they may do in
//! an organization. Every handler of the HTTP API (and of the web console) resolves its caller here
//! and gets a [`Tenant`]: the tenant context every service method takes, which carries a key's
//! chatbot allow-list to the chat service. What a route needs is one [`Need`]; the policy behind
//! it is tenancy's role policy for members and the key's scopes — capped by what its creator may
//! do now — for keys.

use std::sync::Arc;

use docent_identity::{IdentityError, IdentityService, Principal};
use docent_kernel::{ApiKeyId, ChatbotId, OrgId, RequestMeta, TenantCtx};
use docent_keys::{KeyError, KeyPrincipal, KeyService, RateDecision, Scope, require_scope};
use docent_tenancy::{OrgAccess, Permission, TenancyError, TenancyService};

/// What a route needs from its caller in an organization.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// See the organization (members of any role; people only).
    OrgRead,
    /// Rename it (admins; people only).
    OrgUpdate,
    /// Delete it (owners; people only).
    OrgDelete,
    /// See and change members (any member; the tenancy service checks the stronger permission
    /// for changes; people only).
    Members,
    /// Invite people and revoke invitations (admins; people only).
    Invitations,
    /// Create, list and revoke API keys and read their usage (admins; people only).
    Keys,
    /// Read the audit log (admins; people only).
    Audit,
    /// Read documents and search (viewers, or `documents:read`).
    DocumentsRead,
    /// Upload, reprocess and delete documents (members, or `documents:write`).
    DocumentsWrite,
    /// Read chatbots (viewers, or `chatbots:read`).
    ChatbotsRead,
    /// Create, change and delete chatbots (members, or `chatbots:write`).
    ChatbotsWrite,
    /// Talk to chatbots (viewers, or `chat`).
    Chat,
    /// Read provider connections (viewers, or `providers:read`).
    ProvidersRead,
    /// Change provider connections (admins, or `providers:write`).
    ProvidersWrite,
    /// Read the organization's usage (viewers, or `usage:read`).
    UsageRead,
}

impl Need {
    /// Every need.
    pub const ALL: [Self; 15] = [
        Self::OrgRead,
        Self::OrgUpdate,
        Self::OrgDelete,
        Self::Members,
        Self::Invitations,
        Self::Keys,
        Self::Audit,
        Self::DocumentsRead,
        Self::DocumentsWrite,
        Self::ChatbotsRead,
        Self::ChatbotsWrite,
        Self::Chat,
        Self::ProvidersRead,
        Self::ProvidersWrite,
        Self::UsageRead,
    ];

    /// What a member's role must allow.
    #[must_use]
    pub const fn permission(self) -> Permission {
        match self {
            Self::OrgRead | Self::Members | Self::UsageRead => Permission::ReadOrg,
            Self::OrgUpdate => Permission::UpdateOrg,
            Self::OrgDelete => Permission::DeleteOrg,
            Self::Invitations => Permission::ManageInvitations,
            Self::Keys | Self::Audit => Permission::ManageKeys,
            Self::DocumentsRead | Self::ChatbotsRead | Self::Chat | Self::ProvidersRead => {
                Permission::ReadContent
            }
            Self::DocumentsWrite | Self::ChatbotsWrite => Permission::WriteContent,
            Self::ProvidersWrite => Permission::ManageProviders,
        }
    }

    /// The scope an API key must carry; `None` where only people may act.
    #[must_use]
    pub const fn scope(self) -> Option<Scope> {
        match self {
            Self::OrgRead
            | Self::OrgUpdate
            | Self::OrgDelete
            | Self::Members
            | Self::Invitations
            | Self::Keys
            | Self::Audit => None,
            Self::DocumentsRead => Some(Scope::DocumentsRead),
            Self::DocumentsWrite => Some(Scope::DocumentsWrite),
            Self::ChatbotsRead => Some(Scope::ChatbotsRead),
            Self::ChatbotsWrite => Some(Scope::ChatbotsWrite),
            Self::Chat => Some(Scope::Chat),
            Self::ProvidersRead => Some(Scope::ProvidersRead),
            Self::ProvidersWrite => Some(Scope::ProvidersWrite),
            Self::UsageRead => Some(Scope::UsageRead),
        }
    }
}

/// A credential as presented.
#[derive(Clone, Copy)]
pub enum Credential<'a> {
    /// `Authorization: Bearer …`: a session token, or an API key (`dk_…`).
    Bearer(&'a str),
    /// `X-Api-Key: …`: an API key.
    ApiKey(&'a str),
}

impl Credential<'_> {
    /// Whether it is (meant to be) an API key.
    #[must_use]
    pub fn is_api_key(&self) -> bool {
        match self {
            Self::ApiKey(_) => true,
            Self::Bearer(token) => token.starts_with("dk_"),
        }
    }

    fn secret(&self) -> &str {
        match self {
            Self::Bearer(token) | Self::ApiKey(token) => token,
        }
    }
}

impl std::fmt::Debug for Credential<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.is_api_key() {
            "Credential(api key)"
        } else {
            "Credential(session)"
        })
    }
}

/// An authenticated caller.
#[derive(Debug, Clone)]
pub enum Caller {
    /// A signed-in user.
    User(Principal),
    /// An API key (boxed: it is much larger than a user).
    Key(Box<KeyPrincipal>),
}

/// Why access was refused.
#[derive(Debug, thiserror::Error)]
pub enum AccessError {
    /// The session is invalid.
    #[error(transparent)]
    Identity(#[from] IdentityError),
    /// Not a member, or the role is too weak.
    #[error(transparent)]
    Tenancy(#[from] TenancyError),
    /// The key is invalid, rate limited, or lacks the scope.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// A valid API key on a route only people may use.
    #[error(
        "this operation needs a signed-in user; API keys cannot manage keys, members or organizations"
    )]
    SessionRequired,
}

/// A signed-in member's access.
#[derive(Debug, Clone)]
pub struct Member {
    /// The user and the session.
    pub principal: Principal,
    /// The organization and the user's role in it.
    pub access: OrgAccess,
}

/// A caller admitted to an organization for a [`Need`].
#[derive(Debug, Clone)]
pub struct Tenant {
    ctx: TenantCtx,
    member: Option<Member>,
}

impl Tenant {
    /// The tenant context for services: the organization, the actor, where the request came
    /// from, and the chatbots the actor may use.
    #[must_use]
    pub fn ctx(&self) -> &TenantCtx {
        &self.ctx
    }

    /// The signed-in member, for the routes only people may use (`SessionRequired` for a key,
    /// which such routes never admit in the first place).
    pub fn member(&self) -> Result<&Member, AccessError> {
        self.member.as_ref().ok_or(AccessError::SessionRequired)
    }
}

/// A website's visitor admitted through the chat widget's publishable key.
#[derive(Debug, Clone)]
pub struct Widget {
    /// The tenant scope: the key's organization, acting as the key, on its one chatbot.
    pub tenant: Tenant,
    /// The publishable key.
    pub key: ApiKeyId,
    /// The chatbot the key is for.
    pub chatbot: ChatbotId,
}

/// Resolves callers and their access.
#[derive(Debug, Clone)]
pub struct Access {
    identity: Arc<IdentityService>,
    tenancy: Arc<TenancyService>,
    keys: Arc<KeyService>,
}

impl Access {
    /// Access over the services that know users, members and keys.
    #[must_use]
    pub fn new(
        identity: Arc<IdentityService>,
        tenancy: Arc<TenancyService>,
        keys: Arc<KeyService>,
    ) -> Self {
        Self {
            identity,
            tenancy,
            keys,
        }
    }

    /// Who is calling. A key's rate limit is counted here; its state after this request comes
    /// back with the caller (or with the `RateLimited` error) for the response headers.
    pub async fn caller(
        &self,
        credential: Credential<'_>,
    ) -> (Result<Caller, AccessError>, Option<RateDecision>) {
        if credential.is_api_key() {
            match self.keys.authenticate(credential.secret()).await {
                Ok(key) => {
                    let rate = key.rate;
                    (Ok(Caller::Key(Box::new(key))), rate)
                }
                Err(KeyError::RateLimited(decision)) => {
                    (Err(KeyError::RateLimited(decision).into()), Some(decision))
                }
                Err(error) => (Err(error.into()), None),
            }
        } else {
            (
                self.identity
                    .authenticate(credential.secret())
                    .await
                    .map(Caller::User)
                    .map_err(Into::into),
                None,
            )
        }
    }

    /// Admits `caller` to `org` for `need`, or says why not: `OrgNotFound` to anyone outside the
    /// organization (never `Forbidden`, so ids cannot be probed), `Forbidden` to a member whose
    /// role is too weak, `SessionRequired` to a key on a route for people, `InsufficientScope`
    /// to a key without the scope, and `CreatorLacks` to a key whose creator's role no longer
    /// allows what the scope would.
    pub async fn tenant(
        &self,
        caller: Caller,
        org: OrgId,
        need: Need,
        request: RequestMeta,
    ) -> Result<Tenant, AccessError> {
        match caller {
            Caller::User(principal) => {
                let mut access = self
                    .tenancy
                    .authorize(principal.user.id, org, need.permission())
                    .await?;
                access.tenant = access.tenant.with_request(request);
                Ok(Tenant {
                    ctx: access.tenant.clone(),
                    member: Some(Member { principal, access }),
                })
            }
            Caller::Key(key) if key.key.org_id == org => {
                let scope = need.scope().ok_or(AccessError::SessionRequired)?;
                require_scope(&key, scope)?;
                // A key never carries more than its creator may do now.
                match self
                    .tenancy
                    .authorize(key.key.created_by, org, need.permission())
                    .await
                {
                    Ok(_) => {}
                    Err(TenancyError::Forbidden) => {
                        return Err(KeyError::CreatorLacks(scope).into());
                    }
                    // The creator left the organization (or it is gone): the key is dead.
                    Err(TenancyError::OrgNotFound) => return Err(KeyError::InvalidKey.into()),
                    Err(other) => return Err(other.into()),
                }
                Ok(Tenant {
                    ctx: key.tenant().with_request(request),
                    member: None,
                })
            }
            Caller::Key(_) => Err(TenancyError::OrgNotFound.into()),
        }
    }

    /// Admits a visitor of a website through the chat widget: `presented` must be a publishable
    /// key accepted from `origin` (the request's `Origin`), counted against its rate limit; then,
    /// like any key, it is admitted to its organization for [`Need::Chat`] (its scope, and its
    /// creator's role now). The tenant may use the key's one chatbot only.
    pub async fn widget(
        &self,
        presented: &str,
        origin: Option<&str>,
        request: RequestMeta,
    ) -> Result<Widget, AccessError> {
        let key = self
            .keys
            .authenticate_publishable(presented, origin)
            .await?;
        let chatbot = key
            .key
            .settings
            .chatbot_ids
            .as_deref()
            .and_then(<[ChatbotId]>::first)
            .copied()
            .ok_or(KeyError::InvalidKey)?;
        let (id, org) = (key.key.id, key.key.org_id);
        let tenant = self
            .tenant(Caller::Key(Box::new(key)), org, Need::Chat, request)
            .await?;
        Ok(Widget {
            tenant,
            key: id,
            chatbot,
        })
    }

    /// The signed-in user behind `caller`, for routes outside any organization that only people
    /// may use (`SessionRequired` for a key).
    pub fn person(caller: Caller) -> Result<Principal, AccessError> {
        match caller {
            Caller::User(principal) => Ok(principal),
            Caller::Key(_) => Err(AccessError::SessionRequired),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn people_only_needs_have_no_scope_and_keyed_needs_name_theirs() {
        for need in Need::ALL {
            let people_only = matches!(
                need.permission(),
                Permission::UpdateOrg
                    | Permission::DeleteOrg
                    | Permission::ManageMembers
                    | Permission::ManageInvitations
                    | Permission::ManageKeys
            );
            if people_only {
                assert_eq!(need.scope(), None, "{need:?}");
            }
        }
        assert_eq!(Need::ProvidersWrite.scope(), Some(Scope::ProvidersWrite));
        assert_eq!(
            Need::ProvidersWrite.permission(),
            Permission::ManageProviders
        );
        assert_eq!(Need::Chat.scope(), Some(Scope::Chat));
    }
}
