//! Service tests over in-memory fakes of the ports, with a manual clock for expiry rules.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use docent_kernel::{
    Allowance, AuditEvent, AuditFilter, AuditLog, CountingLimiter, Email, InvitationId, MailError,
    Mailer, ManualClock, OrgId, OutgoingMail, PageRequest, RequestMeta, SecretString, StoreError,
    StoredAuditEvent, TokenHash, UserId,
};

use crate::error::TenancyError;
use crate::model::{Invitation, Member, OrgWithRole, Organization, Role};
use crate::policy::Permission;
use crate::ports::{InvitationRepo, MemberRepo, OrgRepo};
use crate::service::{TenancyConfig, TenancyPorts, TenancyService};

#[derive(Debug, Default)]
struct State {
    orgs: Vec<Organization>,
    members: HashMap<(OrgId, UserId), Role>,
    emails: HashMap<UserId, Email>,
    /// Invitation, token hash, closed (accepted or revoked).
    invitations: Vec<(Invitation, TokenHash, bool)>,
}

#[derive(Debug, Default)]
struct Memory(Mutex<State>);

impl Memory {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.0.lock().unwrap()
    }

    fn owners(state: &State, org: OrgId) -> usize {
        state
            .members
            .iter()
            .filter(|((o, _), r)| *o == org && **r == Role::Owner)
            .count()
    }
}

#[async_trait]
impl OrgRepo for Memory {
    async fn create(
        &self,
        org: &Organization,
        owner: UserId,
        _: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut state = self.state();
        if state.orgs.iter().any(|o| o.slug == org.slug) {
            return Err(StoreError::Conflict("organizations_slug"));
        }
        state.orgs.push(org.clone());
        state.members.insert((org.id, owner), Role::Owner);
        Ok(())
    }

    async fn find_for_member(
        &self,
        org: OrgId,
        user: UserId,
    ) -> Result<Option<OrgWithRole>, StoreError> {
        let state = self.state();
        let role = state.members.get(&(org, user)).copied();
        Ok(role.and_then(|role| {
            let org = state.orgs.iter().find(|o| o.id == org)?.clone();
            Some(OrgWithRole { org, role })
        }))
    }

    async fn list_for_member(
        &self,
        _: UserId,
        _: &PageRequest,
    ) -> Result<Vec<OrgWithRole>, StoreError> {
        Ok(Vec::new())
    }

    async fn update(&self, _: &Organization) -> Result<(), StoreError> {
        Ok(())
    }

    async fn delete(&self, org: OrgId, _: DateTime<Utc>) -> Result<(), StoreError> {
        self.state().orgs.retain(|o| o.id != org);
        Ok(())
    }
}

#[async_trait]
impl MemberRepo for Memory {
    async fn list(&self, _: OrgId, _: &PageRequest) -> Result<Vec<Member>, StoreError> {
        Ok(Vec::new())
    }

    async fn get(&self, org: OrgId, user: UserId) -> Result<Option<Member>, StoreError> {
        let state = self.state();
        Ok(state.members.get(&(org, user)).map(|role| Member {
            user_id: user,
            email: state.emails[&user].clone(),
            name: "Someone".to_owned(),
            role: *role,
            joined_at: Utc::now(),
        }))
    }

    async fn has_member_with_email(&self, org: OrgId, email: &Email) -> Result<bool, StoreError> {
        let state = self.state();
        Ok(state
            .members
            .keys()
            .any(|(o, u)| *o == org && state.emails.get(u) == Some(email)))
    }

    async fn set_role(&self, org: OrgId, user: UserId, role: Role) -> Result<(), StoreError> {
        let mut state = self.state();
        let current = *state
            .members
            .get(&(org, user))
            .ok_or(StoreError::NotFound)?;
        if current == Role::Owner && role != Role::Owner && Self::owners(&state, org) <= 1 {
            return Err(StoreError::Conflict("last_owner"));
        }
        state.members.insert((org, user), role);
        Ok(())
    }

    async fn remove(&self, org: OrgId, user: UserId) -> Result<(), StoreError> {
        let mut state = self.state();
        let current = *state
            .members
            .get(&(org, user))
            .ok_or(StoreError::NotFound)?;
        if current == Role::Owner && Self::owners(&state, org) <= 1 {
            return Err(StoreError::Conflict("last_owner"));
        }
        state.members.remove(&(org, user));
        Ok(())
    }
}

#[async_trait]
impl InvitationRepo for Memory {
    async fn create(
        &self,
        invitation: &Invitation,
        token: &TokenHash,
        _: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut state = self.state();
        for (other, _, closed) in &mut state.invitations {
            if other.org_id == invitation.org_id && other.email == invitation.email {
                *closed = true;
            }
        }
        state.invitations.push((invitation.clone(), *token, false));
        Ok(())
    }

    async fn list_pending(
        &self,
        org: OrgId,
        now: DateTime<Utc>,
        _: &PageRequest,
    ) -> Result<Vec<Invitation>, StoreError> {
        Ok(self
            .state()
            .invitations
            .iter()
            .filter(|(i, _, closed)| i.org_id == org && !closed && i.expires_at > now)
            .map(|(i, _, _)| i.clone())
            .collect())
    }

    async fn revoke(
        &self,
        org: OrgId,
        id: InvitationId,
        _: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut state = self.state();
        let found = state
            .invitations
            .iter_mut()
            .find(|(i, _, closed)| i.org_id == org && i.id == id && !closed);
        Ok(found.map(|entry| entry.2 = true).is_some())
    }

    async fn find_pending(
        &self,
        token: &TokenHash,
        now: DateTime<Utc>,
    ) -> Result<Option<Invitation>, StoreError> {
        Ok(self
            .state()
            .invitations
            .iter()
            .find(|(i, t, closed)| t == token && !closed && i.expires_at > now)
            .map(|(i, _, _)| i.clone()))
    }

    async fn accept(
        &self,
        invitation: &Invitation,
        user: UserId,
        _: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut state = self.state();
        if state.members.contains_key(&(invitation.org_id, user)) {
            return Err(StoreError::Conflict("memberships_pkey"));
        }
        let Some(entry) = state
            .invitations
            .iter_mut()
            .find(|(i, _, closed)| i.id == invitation.id && !closed)
        else {
            return Ok(false);
        };
        entry.2 = true;
        state
            .members
            .insert((invitation.org_id, user), invitation.role);
        Ok(true)
    }
}

/// Keeps every audit event.
#[derive(Debug, Default)]
struct Audit(Mutex<Vec<AuditEvent>>);

#[async_trait]
impl AuditLog for Audit {
    async fn record(&self, event: &AuditEvent) -> Result<(), StoreError> {
        self.0.lock().unwrap().push(event.clone());
        Ok(())
    }

    async fn list(
        &self,
        _: OrgId,
        _: &AuditFilter,
        _: &PageRequest,
    ) -> Result<Vec<StoredAuditEvent>, StoreError> {
        Ok(Vec::new())
    }
}

impl Audit {
    fn actions(&self) -> Vec<&'static str> {
        self.0.lock().unwrap().iter().map(|e| e.action).collect()
    }
}

/// Keeps every message, or fails every send when told to.
#[derive(Debug, Default)]
struct Outbox {
    mails: Mutex<Vec<OutgoingMail>>,
    down: AtomicBool,
}

#[async_trait]
impl Mailer for Outbox {
    async fn send(&self, mail: OutgoingMail) -> Result<(), MailError> {
        if self.down.load(Ordering::SeqCst) {
            return Err(MailError::Unavailable("smtp down".to_owned()));
        }
        self.mails.lock().unwrap().push(mail);
        Ok(())
    }
}

struct Harness {
    service: TenancyService,
    audit: Arc<Audit>,
    memory: Arc<Memory>,
    outbox: Arc<Outbox>,
    clock: Arc<ManualClock>,
}

fn harness() -> Harness {
    let memory = Arc::new(Memory::default());
    let audit = Arc::new(Audit::default());
    let outbox = Arc::new(Outbox::default());
    let clock = Arc::new(ManualClock::new(Utc::now()));
    let service = TenancyService::new(
        TenancyPorts {
            orgs: memory.clone(),
            members: memory.clone(),
            invitations: memory.clone(),
            audit: audit.clone(),
            mailer: outbox.clone(),
            limiter: Arc::new(CountingLimiter::default()),
            clock: clock.clone(),
        },
        TenancyConfig {
            invitation_ttl: Duration::days(7),
            public_url: "http://docent.test".to_owned(),
            invitations_per_org: Allowance::per_day(5),
            invitations_per_client: Allowance::per_hour(100),
        },
    );
    Harness {
        service,
        audit,
        memory,
        outbox,
        clock,
    }
}

fn user(h: &Harness, email: &str) -> (UserId, Email) {
    let id = UserId::generate();
    let email = Email::parse(email).unwrap();
    h.memory.state().emails.insert(id, email.clone());
    (id, email)
}

/// A new organization of `owner` and the owner's access to invite into it.
async fn inviter(h: &Harness, owner: UserId, name: &str) -> crate::policy::OrgAccess {
    let org = h
        .service
        .create_org(owner, name, &RequestMeta::default())
        .await
        .unwrap()
        .org
        .id;
    h.service
        .authorize(owner, org, Permission::ManageInvitations)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_slug_clash_gets_a_suffix() {
    let h = harness();
    let (ann, _) = user(&h, "ann@example.com");
    let first = h
        .service
        .create_org(ann, "Acme", &RequestMeta::default())
        .await
        .unwrap();
    let second = h
        .service
        .create_org(ann, "ACME!", &RequestMeta::default())
        .await
        .unwrap();
    assert_eq!(first.org.slug.as_str(), "acme");
    assert!(
        second.org.slug.as_str().starts_with("acme-"),
        "{:?}",
        second.org.slug
    );
    assert!(matches!(
        h.service
            .create_org(ann, "   ", &RequestMeta::default())
            .await,
        Err(TenancyError::Invalid { field: "name", .. })
    ));
}

#[tokio::test]
async fn invitations_expire_after_seven_days() {
    let h = harness();
    let (ann, _) = user(&h, "ann@example.com");
    let (bo, bo_email) = user(&h, "bo@example.com");
    let access = inviter(&h, ann, "Acme").await;
    let issued = h
        .service
        .invite(&access, ann, "BO@example.com", Role::Member)
        .await
        .unwrap();
    assert_eq!(h.outbox.mails.lock().unwrap()[0].to, bo_email);
    h.clock.advance(Duration::days(7) + Duration::seconds(1));
    assert!(matches!(
        h.service
            .accept_invitation(bo, &bo_email, &issued.token, &RequestMeta::default())
            .await,
        Err(TenancyError::InvalidInvitation)
    ));
    let again = h
        .service
        .invite(&access, ann, "bo@example.com", Role::Member)
        .await
        .unwrap();
    h.clock.advance(Duration::days(6));
    let joined = h
        .service
        .accept_invitation(bo, &bo_email, &again.token, &RequestMeta::default())
        .await
        .unwrap();
    assert_eq!(joined.role, Role::Member);
}

#[tokio::test]
async fn roles_bound_what_admins_and_members_may_do() {
    let h = harness();
    let (ann, _) = user(&h, "ann@example.com");
    let (bo, bo_email) = user(&h, "bo@example.com");
    let (cy, cy_email) = user(&h, "cy@example.com");
    let org = h
        .service
        .create_org(ann, "Acme", &RequestMeta::default())
        .await
        .unwrap()
        .org
        .id;
    let owner = h
        .service
        .authorize(ann, org, Permission::ReadOrg)
        .await
        .unwrap();
    let invite = h
        .service
        .invite(&owner, ann, "bo@example.com", Role::Admin)
        .await
        .unwrap();
    h.service
        .accept_invitation(bo, &bo_email, &invite.token, &RequestMeta::default())
        .await
        .unwrap();
    let invite = h
        .service
        .invite(&owner, ann, "cy@example.com", Role::Viewer)
        .await
        .unwrap();
    h.service
        .accept_invitation(cy, &cy_email, &invite.token, &RequestMeta::default())
        .await
        .unwrap();

    let admin = h
        .service
        .authorize(bo, org, Permission::ReadOrg)
        .await
        .unwrap();
    assert!(matches!(
        h.service
            .invite(&admin, bo, "dee@example.com", Role::Owner)
            .await,
        Err(TenancyError::Forbidden)
    ));
    assert!(matches!(
        h.service.change_role(&admin, ann, Role::Viewer).await,
        Err(TenancyError::Forbidden)
    ));
    assert!(matches!(
        h.service.remove_member(&admin, ann).await,
        Err(TenancyError::Forbidden)
    ));
    h.service
        .change_role(&admin, cy, Role::Member)
        .await
        .unwrap();

    // Not a member: the organization does not exist for them.
    let (eve, _) = user(&h, "eve@example.com");
    assert!(matches!(
        h.service.authorize(eve, org, Permission::ReadOrg).await,
        Err(TenancyError::OrgNotFound)
    ));
    // A member may not administer, but may leave.
    let member = h
        .service
        .authorize(cy, org, Permission::ReadOrg)
        .await
        .unwrap();
    assert!(matches!(
        h.service.remove_member(&member, bo).await,
        Err(TenancyError::Forbidden)
    ));
    h.service.remove_member(&member, cy).await.unwrap();
    assert!(matches!(
        h.service.authorize(cy, org, Permission::ReadOrg).await,
        Err(TenancyError::OrgNotFound)
    ));
    // The last owner stays.
    assert!(matches!(
        h.service.remove_member(&owner, ann).await,
        Err(TenancyError::LastOwner)
    ));
    assert!(matches!(
        h.service.change_role(&owner, ann, Role::Admin).await,
        Err(TenancyError::LastOwner)
    ));
    // Every change that happened is in the audit log, and nothing that was refused.
    assert_eq!(
        h.audit.actions(),
        [
            "org.create",
            "invitation.create",
            "invitation.accept",
            "invitation.create",
            "invitation.accept",
            "member.role_change",
            "member.remove",
        ]
    );
}

#[tokio::test]
async fn an_invitation_whose_mail_fails_is_withdrawn() {
    let h = harness();
    let (ann, _) = user(&h, "ann@example.com");
    let access = inviter(&h, ann, "Acme").await;
    h.outbox.down.store(true, Ordering::SeqCst);
    assert!(matches!(
        h.service
            .invite(&access, ann, "bo@example.com", Role::Member)
            .await,
        Err(TenancyError::MailUnavailable)
    ));
    let pending = h
        .service
        .list_invitations(&access, &PageRequest::first())
        .await
        .unwrap();
    assert!(pending.items.is_empty());
    let (bo, bo_email) = user(&h, "bo@example.com");
    assert!(matches!(
        h.service
            .accept_invitation(
                bo,
                &bo_email,
                &SecretString::from("dsi_x".to_owned()),
                &RequestMeta::default()
            )
            .await,
        Err(TenancyError::InvalidInvitation)
    ));
}

#[tokio::test]
async fn invitation_mails_are_capped_per_organization() {
    let h = harness();
    let (ann, _) = user(&h, "ann@example.com");
    let access = inviter(&h, ann, "Acme").await;
    // The harness allows five a day.
    for i in 0..5 {
        h.service
            .invite(&access, ann, &format!("p{i}@example.com"), Role::Member)
            .await
            .unwrap();
    }
    let refused = h
        .service
        .invite(&access, ann, "p9@example.com", Role::Member)
        .await;
    assert!(
        matches!(refused, Err(TenancyError::TooManyInvitations(..))),
        "{refused:?}"
    );
    assert_eq!(h.outbox.mails.lock().unwrap().len(), 5);
    // Another organization has its own cap.
    let other = inviter(&h, ann, "Other").await;
    h.service
        .invite(&other, ann, "p9@example.com", Role::Member)
        .await
        .unwrap();
}
