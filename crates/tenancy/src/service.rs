//! The tenancy service: organizations, members, invitations, and access checks.

use std::sync::Arc;

use chrono::Duration;
use docent_kernel::{
    Actor, Allowance, AuditEvent, AuditFilter, AuditLog, Clock, Email, ExposeSecret as _,
    InvitationId, Limiter, Mailer, OrgId, OutgoingMail, Page, PageRequest, RequestMeta,
    SecretString, StoreError, StoredAuditEvent, TenantCtx, TokenKind, UserId, record_or_log,
};

use crate::error::TenancyError;
use crate::model::{
    Invitation, IssuedInvitation, Member, OrgName, OrgWithRole, Organization, Role,
};
use crate::policy::{OrgAccess, Permission};
use crate::ports::{InvitationRepo, MemberRepo, OrgRepo};
use docent_kernel::Slug;

/// Settings of the tenancy service.
#[derive(Debug, Clone)]
pub struct TenancyConfig {
    /// How long an invitation works.
    pub invitation_ttl: Duration,
    /// The base URL of the web app, for links in e-mails (no trailing slash).
    pub public_url: String,
    /// Invitation mails per organization (a daily cap by default).
    pub invitations_per_org: Allowance,
    /// Invitation mails per client address.
    pub invitations_per_client: Allowance,
}

/// What the tenancy service is built from.
#[derive(Debug, Clone)]
pub struct TenancyPorts {
    /// Stores organizations.
    pub orgs: Arc<dyn OrgRepo>,
    /// Stores memberships.
    pub members: Arc<dyn MemberRepo>,
    /// Stores invitations.
    pub invitations: Arc<dyn InvitationRepo>,
    /// The audit log.
    pub audit: Arc<dyn AuditLog>,
    /// Sends invitation mails.
    pub mailer: Arc<dyn Mailer>,
    /// Caps invitation mails per organization and per client.
    pub limiter: Arc<dyn Limiter>,
    /// The clock.
    pub clock: Arc<dyn Clock>,
}

/// Organizations, members, invitations and the access policy.
#[derive(Debug)]
pub struct TenancyService {
    orgs: Arc<dyn OrgRepo>,
    members: Arc<dyn MemberRepo>,
    invitations: Arc<dyn InvitationRepo>,
    audit: Arc<dyn AuditLog>,
    mailer: Arc<dyn Mailer>,
    limiter: Arc<dyn Limiter>,
    clock: Arc<dyn Clock>,
    config: TenancyConfig,
}

/// What a caller changes on an organization; `None` keeps the current value.
#[derive(Debug, Clone, Default)]
pub struct OrgUpdate<'a> {
    /// A new name.
    pub name: Option<&'a str>,
    /// A new slug.
    pub slug: Option<&'a str>,
}

impl TenancyService {
    /// Builds the service.
    #[must_use]
    pub fn new(ports: TenancyPorts, config: TenancyConfig) -> Self {
        let TenancyPorts {
            orgs,
            members,
            invitations,
            audit,
            mailer,
            limiter,
            clock,
        } = ports;
        Self {
            orgs,
            members,
            invitations,
            audit,
            mailer,
            limiter,
            clock,
            config,
        }
    }

    async fn audit(&self, event: AuditEvent) {
        record_or_log(self.audit.as_ref(), event).await;
    }

    /// Counts one invitation mail against the organization's cap and the client's.
    async fn count_invitation(&self, access: &OrgAccess) -> Result<(), TenancyError> {
        let mut keys = vec![(
            format!("invite:org:{}", access.org.id),
            self.config.invitations_per_org,
        )];
        if let Some(client) = &access.tenant.request().client_addr {
            keys.push((
                format!("invite:client:{client}"),
                self.config.invitations_per_client,
            ));
        }
        self.limiter.acquire(&keys).await.map_err(|retry_after| {
            TenancyError::TooManyInvitations(
                "the organization's cap or this address's limit is reached",
                retry_after,
            )
        })
    }

    /// Checks that `user` is a member of `org` whose role allows `permission`.
    ///
    /// A non-member gets `OrgNotFound` (never `Forbidden`), so org ids cannot be probed.
    pub async fn authorize(
        &self,
        user: UserId,
        org: OrgId,
        permission: Permission,
    ) -> Result<OrgAccess, TenancyError> {
        let found = self
            .orgs
            .find_for_member(org, user)
            .await?
            .ok_or(TenancyError::OrgNotFound)?;
        if !permission.allowed_for(found.role) {
            return Err(TenancyError::Forbidden);
        }
        Ok(OrgAccess {
            tenant: TenantCtx::new(found.org.id, Actor::User(user)),
            org: found.org,
            role: found.role,
        })
    }

    /// Creates an organization owned by `user`.
    pub async fn create_org(
        &self,
        user: UserId,
        name: &str,
        request: &RequestMeta,
    ) -> Result<OrgWithRole, TenancyError> {
        let name = OrgName::parse(name).map_err(|reason| invalid("name", reason))?;
        let base = Slug::derive(name.as_str(), "org");
        let now = self.clock.now();
        let mut slug = base.clone();
        // A clash on the derived slug is resolved with a short random suffix; a handful of tries
        // makes a persistent clash practically impossible.
        for _ in 0..5 {
            let org = Organization {
                id: OrgId::generate(),
                name: name.clone(),
                slug: slug.clone(),
                created_at: now,
            };
            match self.orgs.create(&org, user, now).await {
                Ok(()) => {
                    let tenant =
                        TenantCtx::new(org.id, Actor::User(user)).with_request(request.clone());
                    self.audit(
                        AuditEvent::new(&tenant, "org.create", ("org", org.id.as_uuid()), now)
                            .with_detail(format!("{} ({})", org.name.as_str(), org.slug.as_str())),
                    )
                    .await;
                    return Ok(OrgWithRole {
                        org,
                        role: Role::Owner,
                    });
                }
                Err(StoreError::Conflict(_)) => {
                    let suffix = &org.id.as_uuid().simple().to_string()[26..];
                    slug = base.with_suffix(suffix);
                }
                Err(other) => return Err(other.into()),
            }
        }
        Err(TenancyError::SlugTaken)
    }

    /// The organizations `user` belongs to.
    pub async fn list_orgs(
        &self,
        user: UserId,
        page: &PageRequest,
    ) -> Result<Page<OrgWithRole>, TenancyError> {
        let rows = self.orgs.list_for_member(user, page).await?;
        Ok(Page::from_rows(rows, page, |o| o.org.id.as_uuid()))
    }

    /// Renames an organization or changes its slug (admin or owner).
    pub async fn update_org(
        &self,
        access: &OrgAccess,
        update: OrgUpdate<'_>,
    ) -> Result<Organization, TenancyError> {
        require(access, Permission::UpdateOrg)?;
        let mut org = access.org.clone();
        if let Some(name) = update.name {
            org.name = OrgName::parse(name).map_err(|reason| invalid("name", reason))?;
        }
        if let Some(slug) = update.slug {
            org.slug = Slug::parse(slug).map_err(|reason| invalid("slug", reason))?;
        }
        self.orgs.update(&org).await.map_err(|e| match e {
            StoreError::Conflict(_) => TenancyError::SlugTaken,
            StoreError::NotFound => TenancyError::OrgNotFound,
            other @ (StoreError::Unavailable(_) | StoreError::Corrupt(_)) => other.into(),
        })?;
        let detail = format!("{} ({})", org.name.as_str(), org.slug.as_str());
        let event = AuditEvent::new(
            &access.tenant,
            "org.update",
            ("org", org.id.as_uuid()),
            self.clock.now(),
        );
        self.audit(event.with_detail(detail)).await;
        Ok(org)
    }

    /// Deletes an organization (owner only).
    pub async fn delete_org(&self, access: &OrgAccess) -> Result<(), TenancyError> {
        require(access, Permission::DeleteOrg)?;
        let now = self.clock.now();
        self.orgs
            .delete(access.org.id, now)
            .await
            .map_err(|e| e.or_on_not_found(TenancyError::OrgNotFound))?;
        let event = AuditEvent::new(
            &access.tenant,
            "org.delete",
            ("org", access.org.id.as_uuid()),
            now,
        );
        self.audit(event).await;
        Ok(())
    }

    /// The members of the organization.
    pub async fn list_members(
        &self,
        access: &OrgAccess,
        page: &PageRequest,
    ) -> Result<Page<Member>, TenancyError> {
        require(access, Permission::ReadOrg)?;
        let rows = self.members.list(access.org.id, page).await?;
        Ok(Page::from_rows(rows, page, |m| m.user_id.as_uuid()))
    }

    /// Changes a member's role. Admins manage admins, members and viewers; only owners grant or
    /// take away ownership; the last owner cannot be demoted.
    pub async fn change_role(
        &self,
        access: &OrgAccess,
        user: UserId,
        role: Role,
    ) -> Result<Member, TenancyError> {
        require(access, Permission::ManageMembers)?;
        let target = self
            .members
            .get(access.org.id, user)
            .await?
            .ok_or(TenancyError::MemberNotFound)?;
        let touches_ownership = target.role == Role::Owner || role == Role::Owner;
        if touches_ownership && access.role != Role::Owner {
            return Err(TenancyError::Forbidden);
        }
        self.members
            .set_role(access.org.id, user, role)
            .await
            .map_err(member_store_error)?;
        let event = AuditEvent::new(
            &access.tenant,
            "member.role_change",
            ("user", user.as_uuid()),
            self.clock.now(),
        )
        .with_detail(format!("{} -> {role}", target.role));
        self.audit(event).await;
        Ok(Member { role, ..target })
    }

    /// Removes a member. Anyone may leave; removing someone else needs admin (owner to remove an
    /// owner); the last owner cannot leave.
    pub async fn remove_member(
        &self,
        access: &OrgAccess,
        user: UserId,
    ) -> Result<(), TenancyError> {
        let leaving = access.tenant.actor() == Actor::User(user);
        if !leaving {
            require(access, Permission::ManageMembers)?;
            let target = self
                .members
                .get(access.org.id, user)
                .await?
                .ok_or(TenancyError::MemberNotFound)?;
            if target.role == Role::Owner && access.role != Role::Owner {
                return Err(TenancyError::Forbidden);
            }
        }
        self.members
            .remove(access.org.id, user)
            .await
            .map_err(member_store_error)?;
        let event = AuditEvent::new(
            &access.tenant,
            "member.remove",
            ("user", user.as_uuid()),
            self.clock.now(),
        )
        .with_detail(if leaving { "left" } else { "removed" });
        self.audit(event).await;
        Ok(())
    }

    /// Invites `email` with `role` and mails the link. Admins cannot invite owners.
    pub async fn invite(
        &self,
        access: &OrgAccess,
        inviter: UserId,
        email: &str,
        role: Role,
    ) -> Result<IssuedInvitation, TenancyError> {
        require(access, Permission::ManageInvitations)?;
        let email = Email::parse(email).map_err(|e| invalid("email", e.to_string()))?;
        if role == Role::Owner && access.role != Role::Owner {
            return Err(TenancyError::Forbidden);
        }
        if self
            .members
            .has_member_with_email(access.org.id, &email)
            .await?
        {
            return Err(TenancyError::AlreadyMember);
        }
        self.count_invitation(access).await?;
        let now = self.clock.now();
        let invitation = Invitation {
            id: InvitationId::generate(),
            org_id: access.org.id,
            email,
            role,
            invited_by: inviter,
            created_at: now,
            expires_at: now + self.config.invitation_ttl,
        };
        let (token, hash) = TokenKind::Invitation.generate();
        self.invitations.create(&invitation, &hash, now).await?;
        let days = self.config.invitation_ttl.num_days();
        let body = format!(
            "Hello,\n\nYou have been invited to join the organization \"{org}\" on docent as {role}.\n\
             To accept, sign in (or sign up with this e-mail address) and open this link within {days} days:\n\n\
             {url}/accept-invitation?token={token}\n\n\
             If the web app is not in use, send the token to POST /v1/invitations/accept.\n\
             Token: {token}\n",
            org = access.org.name.as_str(),
            url = self.config.public_url,
            token = token.expose_secret(),
        );
        let mail = OutgoingMail {
            to: invitation.email.clone(),
            subject: format!("You are invited to {} on docent", access.org.name.as_str()),
            body,
        };
        if let Err(error) = self.mailer.send(mail).await {
            tracing::warn!(%error, invitation_id = %invitation.id, "could not send the invitation mail");
            // An invitation nobody received is useless and would block a retry's replacement
            // semantics only confusingly; revoke it and tell the caller to try again.
            self.invitations
                .revoke(access.org.id, invitation.id, self.clock.now())
                .await?;
            return Err(TenancyError::MailUnavailable);
        }
        let event = AuditEvent::new(
            &access.tenant,
            "invitation.create",
            ("invitation", invitation.id.as_uuid()),
            now,
        )
        .with_detail(format!("{} as {}", invitation.email, invitation.role));
        self.audit(event).await;
        Ok(IssuedInvitation { invitation, token })
    }

    /// The organization's audit log, newest first, narrowed by `filter` (admins and owners).
    pub async fn audit_events(
        &self,
        access: &OrgAccess,
        filter: &AuditFilter,
        page: &PageRequest,
    ) -> Result<Page<StoredAuditEvent>, TenancyError> {
        require(access, Permission::ManageKeys)?;
        let rows = self.audit.list(access.org.id, filter, page).await?;
        Ok(Page::from_rows(rows, page, |e| e.id))
    }

    /// The organization's pending invitations.
    pub async fn list_invitations(
        &self,
        access: &OrgAccess,
        page: &PageRequest,
    ) -> Result<Page<Invitation>, TenancyError> {
        require(access, Permission::ManageInvitations)?;
        let rows = self
            .invitations
            .list_pending(access.org.id, self.clock.now(), page)
            .await?;
        Ok(Page::from_rows(rows, page, |i| i.id.as_uuid()))
    }

    /// Revokes a pending invitation.
    pub async fn revoke_invitation(
        &self,
        access: &OrgAccess,
        id: InvitationId,
    ) -> Result<(), TenancyError> {
        require(access, Permission::ManageInvitations)?;
        let now = self.clock.now();
        if !self.invitations.revoke(access.org.id, id, now).await? {
            return Err(TenancyError::InvitationNotFound);
        }
        let event = AuditEvent::new(
            &access.tenant,
            "invitation.revoke",
            ("invitation", id.as_uuid()),
            now,
        );
        self.audit(event).await;
        Ok(())
    }

    /// Accepts an invitation for the signed-in user `user` whose address is `email`.
    pub async fn accept_invitation(
        &self,
        user: UserId,
        email: &Email,
        token: &SecretString,
        request: &RequestMeta,
    ) -> Result<OrgWithRole, TenancyError> {
        let hash = TokenKind::Invitation
            .parse_secret(token)
            .ok_or(TenancyError::InvalidInvitation)?;
        let now = self.clock.now();
        let invitation = self
            .invitations
            .find_pending(&hash, now)
            .await?
            .ok_or(TenancyError::InvalidInvitation)?;
        if &invitation.email != email {
            return Err(TenancyError::InvitationEmailMismatch);
        }
        let accepted = self
            .invitations
            .accept(&invitation, user, now)
            .await
            .map_err(|e| e.or_on_conflict(TenancyError::AlreadyMember))?;
        if !accepted {
            return Err(TenancyError::InvalidInvitation);
        }
        let tenant =
            TenantCtx::new(invitation.org_id, Actor::User(user)).with_request(request.clone());
        let event = AuditEvent::new(
            &tenant,
            "invitation.accept",
            ("invitation", invitation.id.as_uuid()),
            now,
        )
        .with_detail(format!("{} as {}", invitation.email, invitation.role));
        self.audit(event).await;
        self.orgs
            .find_for_member(invitation.org_id, user)
            .await?
            .ok_or(TenancyError::InvalidInvitation)
    }
}

fn require(access: &OrgAccess, permission: Permission) -> Result<(), TenancyError> {
    if permission.allowed_for(access.role) {
        Ok(())
    } else {
        Err(TenancyError::Forbidden)
    }
}

fn invalid(field: &'static str, reason: impl Into<String>) -> TenancyError {
    TenancyError::Invalid {
        field,
        reason: reason.into(),
    }
}

fn member_store_error(e: StoreError) -> TenancyError {
    match e {
        StoreError::Conflict(_) => TenancyError::LastOwner,
        StoreError::NotFound => TenancyError::MemberNotFound,
        other @ (StoreError::Unavailable(_) | StoreError::Corrupt(_)) => other.into(),
    }
}
