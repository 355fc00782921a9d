//! Repository tests. Every scenario runs twice: on a SQLite file and on a fresh PostgreSQL database.

use chrono::{Duration, SubsecRound as _, Utc};
use docent_identity::{
    DisplayName, PasswordReset, PasswordResetRepo as _, Session, SessionRepo, User, UserRepo,
};
use docent_kernel::{
    Email, InvitationId, OrgId, PageRequest, PasswordResetId, SessionId, StoreError, TokenKind,
    UserId,
};
use docent_tenancy::{
    Invitation, InvitationRepo, MemberRepo, OrgName, OrgRepo, Organization, Role, Slug,
};

use sea_orm::{EntityTrait as _, QueryFilter as _};

use super::SqlStore;
use crate::testing::{Backend, TestDatabase};

/// Generates one test per backend for each scenario.
macro_rules! on_both_backends {
    ($($scenario:ident),* $(,)?) => {
        $(
            mod $scenario {
                #[tokio::test]
                async fn sqlite() {
                    super::run(crate::testing::Backend::Sqlite, super::$scenario).await;
                }

                #[tokio::test]
                async fn postgres() {
                    super::run(crate::testing::Backend::Postgres, super::$scenario).await;
                }
            }
        )*
    };
}

on_both_backends!(
    users_are_unique_by_normalized_email,
    sessions_expire_and_revoke,
    password_change_revokes_other_sessions_and_resets,
    password_resets_are_single_use_and_superseded,
    orgs_are_visible_to_members_only,
    org_pages_follow_cursors,
    the_last_owner_stays,
    concurrent_role_changes_wait_for_each_other,
    invitations_replace_accept_and_revoke,
    deleted_orgs_disappear_with_their_invitations,
    api_keys_are_found_by_hash_while_usable,
    usage_adds_up_per_day_chatbot_and_key,
    quotas_are_reserved_before_use_and_settled_after,
    documents_are_stored_with_their_job_and_scoped_to_their_org,
    jobs_are_leased_heartbeated_retried_and_reclaimed,
    claiming_is_fair_across_organizations,
    concurrent_claims_never_share_a_job,
    providers_keep_their_sealed_keys_per_org,
    chatbots_and_conversations_are_scoped_to_org_and_owner,
    verified_credentials_are_forgotten_here_at_once_and_elsewhere_within_the_window,
    kept_chatbots_follow_every_change_here_at_once_and_elsewhere_within_the_window,
    organizations_with_many_chatbots_are_read_from_the_database,
);

async fn run<F, Fut>(backend: Backend, scenario: F)
where
    F: FnOnce(SqlStore) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let (database, connection) = TestDatabase::migrated(backend).await;
    // Every scenario runs on a serving process's store: with its verified-credential cache.
    let store = SqlStore::with_auth_cache(connection);
    let watch = store.watch_auth_epoch();
    trusted(&store).await;
    scenario(store).await;
    watch.abort();
    drop(database);
}

/// Waits until `store`'s cache answers (its first epoch read).
async fn trusted(store: &SqlStore) {
    for _ in 0..100 {
        if store.auth.generation().is_some() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("the authentication epoch was never read");
}

fn new_user(email: &str) -> User {
    User {
        id: UserId::generate(),
        email: Email::parse(email).unwrap(),
        name: DisplayName::parse("Test User").unwrap(),
        created_at: Utc::now(),
        disabled_at: None,
    }
}

async fn insert_user(store: &SqlStore, email: &str) -> User {
    let user = new_user(email);
    UserRepo::insert(store, &user, "$argon2id$stored-hash")
        .await
        .unwrap();
    user
}

fn new_session(user: UserId, ttl: Duration) -> Session {
    let now = Utc::now();
    Session {
        id: SessionId::generate(),
        user_id: user,
        created_at: now,
        expires_at: now + ttl,
        last_seen_at: now,
        revoked_at: None,
        user_agent: Some("test".to_owned()),
        client_addr: Some("127.0.0.1".to_owned()),
    }
}

async fn new_org(store: &SqlStore, owner: UserId, name: &str) -> Organization {
    let org_name = OrgName::parse(name).unwrap();
    let org = Organization {
        id: OrgId::generate(),
        slug: Slug::derive(org_name.as_str(), "org"),
        name: org_name,
        created_at: Utc::now(),
    };
    OrgRepo::create(store, &org, owner, Utc::now())
        .await
        .unwrap();
    org
}

async fn users_are_unique_by_normalized_email(store: SqlStore) {
    let user = insert_user(&store, "Alice@Example.com").await;
    let clash = new_user("alice@example.COM");
    assert!(matches!(
        UserRepo::insert(&store, &clash, "x").await,
        Err(StoreError::Conflict(_))
    ));
    let (found, hash) = store
        .find_by_email(&Email::parse("ALICE@example.com").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.id, user.id);
    assert_eq!(hash, "$argon2id$stored-hash");
    let renamed = store
        .update_name(user.id, &DisplayName::parse("Alice B").unwrap())
        .await
        .unwrap();
    assert_eq!(renamed.name.as_str(), "Alice B");
    assert!(matches!(
        store
            .update_name(UserId::generate(), &DisplayName::parse("x").unwrap())
            .await,
        Err(StoreError::NotFound)
    ));
    assert_eq!(
        UserRepo::get(&store, user.id)
            .await
            .unwrap()
            .unwrap()
            .name
            .as_str(),
        "Alice B"
    );
}

async fn sessions_expire_and_revoke(store: SqlStore) {
    let user = insert_user(&store, "bob@example.com").await;
    let (_, live_token) = TokenKind::Session.generate();
    let live = new_session(user.id, Duration::hours(1));
    SessionRepo::insert(&store, &live, &live_token)
        .await
        .unwrap();
    let (_, expired_token) = TokenKind::Session.generate();
    let expired = new_session(user.id, Duration::seconds(-1));
    SessionRepo::insert(&store, &expired, &expired_token)
        .await
        .unwrap();

    let now = Utc::now();
    let (found, owner) = store.find_active(&live_token, now).await.unwrap().unwrap();
    assert_eq!((found.id, owner.id), (live.id, user.id));
    assert!(
        store
            .find_active(&expired_token, now)
            .await
            .unwrap()
            .is_none()
    );
    let (_, unknown) = TokenKind::Session.generate();
    assert!(store.find_active(&unknown, now).await.unwrap().is_none());
    let listed: Vec<_> = store
        .list_active(user.id, now)
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.id)
        .collect();
    assert_eq!(listed, vec![live.id]);

    // Another user cannot revoke it; its owner can, once.
    let mallory = insert_user(&store, "mallory@example.com").await;
    assert!(
        !SessionRepo::revoke(&store, mallory.id, live.id, now)
            .await
            .unwrap()
    );
    assert!(
        SessionRepo::revoke(&store, user.id, live.id, now)
            .await
            .unwrap()
    );
    assert!(
        !SessionRepo::revoke(&store, user.id, live.id, now)
            .await
            .unwrap()
    );
    assert!(store.find_active(&live_token, now).await.unwrap().is_none());
}

async fn password_change_revokes_other_sessions_and_resets(store: SqlStore) {
    let user = insert_user(&store, "carol@example.com").await;
    let (_, keep_token) = TokenKind::Session.generate();
    let keep = new_session(user.id, Duration::hours(1));
    SessionRepo::insert(&store, &keep, &keep_token)
        .await
        .unwrap();
    let (_, other_token) = TokenKind::Session.generate();
    SessionRepo::insert(
        &store,
        &new_session(user.id, Duration::hours(1)),
        &other_token,
    )
    .await
    .unwrap();
    let (_, reset_token) = TokenKind::PasswordReset.generate();
    let now = Utc::now();
    let reset = PasswordReset {
        id: PasswordResetId::generate(),
        user_id: user.id,
        created_at: now,
        expires_at: now + Duration::minutes(30),
    };
    store.replace(&reset, &reset_token).await.unwrap();

    store
        .change_password(user.id, "new-hash", Some(keep.id), Utc::now())
        .await
        .unwrap();
    let now = Utc::now();
    assert!(store.find_active(&keep_token, now).await.unwrap().is_some());
    assert!(
        store
            .find_active(&other_token, now)
            .await
            .unwrap()
            .is_none()
    );
    assert!(store.find_valid(&reset_token, now).await.unwrap().is_none());
    assert_eq!(
        store.password_hash(user.id).await.unwrap().as_deref(),
        Some("new-hash")
    );
}

async fn password_resets_are_single_use_and_superseded(store: SqlStore) {
    let user = insert_user(&store, "dave@example.com").await;
    let (_, session_token) = TokenKind::Session.generate();
    SessionRepo::insert(
        &store,
        &new_session(user.id, Duration::hours(1)),
        &session_token,
    )
    .await
    .unwrap();
    let now = Utc::now();
    let first = PasswordReset {
        id: PasswordResetId::generate(),
        user_id: user.id,
        created_at: now,
        expires_at: now + Duration::minutes(30),
    };
    let (_, first_token) = TokenKind::PasswordReset.generate();
    store.replace(&first, &first_token).await.unwrap();
    let second = PasswordReset {
        id: PasswordResetId::generate(),
        ..first.clone()
    };
    let (_, second_token) = TokenKind::PasswordReset.generate();
    store.replace(&second, &second_token).await.unwrap();

    let now = Utc::now();
    assert!(store.find_valid(&first_token, now).await.unwrap().is_none());
    let found = store.find_valid(&second_token, now).await.unwrap().unwrap();
    assert_eq!(found.id, second.id);
    assert!(
        store
            .find_valid(&second_token, now + Duration::minutes(31))
            .await
            .unwrap()
            .is_none()
    );

    assert!(store.complete(&found, "reset-hash", now).await.unwrap());
    assert!(!store.complete(&found, "again", now).await.unwrap());
    assert!(!store.complete(&first, "stale", now).await.unwrap());
    assert_eq!(
        store.password_hash(user.id).await.unwrap().as_deref(),
        Some("reset-hash")
    );
    assert!(
        store
            .find_active(&session_token, now)
            .await
            .unwrap()
            .is_none()
    );
}

async fn orgs_are_visible_to_members_only(store: SqlStore) {
    let owner = insert_user(&store, "erin@example.com").await;
    let outsider = insert_user(&store, "frank@example.com").await;
    let org = new_org(&store, owner.id, "Acme Corp").await;
    let seen = store
        .find_for_member(org.id, owner.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (seen.org.slug.as_str(), seen.role),
        ("acme-corp", Role::Owner)
    );
    assert!(
        store
            .find_for_member(org.id, outsider.id)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .list_for_member(outsider.id, &PageRequest::first())
            .await
            .unwrap()
            .is_empty()
    );

    // Slugs are unique; renaming keeps the row.
    let clash = Organization {
        id: OrgId::generate(),
        ..org.clone()
    };
    assert!(matches!(
        OrgRepo::create(&store, &clash, outsider.id, Utc::now()).await,
        Err(StoreError::Conflict(_))
    ));
    let renamed = Organization {
        name: OrgName::parse("Acme Inc").unwrap(),
        slug: Slug::parse("acme-inc").unwrap(),
        ..org.clone()
    };
    store.update(&renamed).await.unwrap();
    let seen = store
        .find_for_member(org.id, owner.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(seen.org.slug.as_str(), "acme-inc");
    assert!(
        store
            .has_member_with_email(org.id, &owner.email)
            .await
            .unwrap()
    );
    assert!(
        !store
            .has_member_with_email(org.id, &outsider.email)
            .await
            .unwrap()
    );
}

async fn org_pages_follow_cursors(store: SqlStore) {
    let owner = insert_user(&store, "gina@example.com").await;
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(new_org(&store, owner.id, &format!("Org {i}")).await.id);
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = PageRequest::new(Some(2), cursor.as_deref()).unwrap();
        let rows = store.list_for_member(owner.id, &page).await.unwrap();
        let page = docent_kernel::Page::from_rows(rows, &page, |o| o.org.id.as_uuid());
        seen.extend(page.items.iter().map(|o| o.org.id));
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    assert_eq!(seen, ids);
}

async fn concurrent_role_changes_wait_for_each_other(store: SqlStore) {
    // Each change reads the roles and then writes one: on SQLite, transactions that started as
    // readers failed at once with SQLITE_BUSY when several upgraded together (a 503).
    let owner = insert_user(&store, "olga@example.com").await;
    let org = new_org(&store, owner.id, "Concurrent").await;
    let mut members = Vec::new();
    for i in 0..8 {
        let email = format!("member{i}@example.com");
        let member = insert_user(&store, &email).await;
        let invitation = invite(&store, org.id, owner.id, &email, Role::Viewer).await;
        assert!(
            store
                .accept(&invitation.0, member.id, Utc::now())
                .await
                .unwrap()
        );
        members.push(member.id);
    }
    for round in [Role::Admin, Role::Member, Role::Owner] {
        let changes = members.iter().map(|&m| store.set_role(org.id, m, round));
        for result in futures_util::future::join_all(changes).await {
            result.unwrap();
        }
    }
    let listed = store.list(org.id, &PageRequest::first()).await.unwrap();
    assert_eq!(listed.iter().filter(|m| m.role == Role::Owner).count(), 9);
}

async fn the_last_owner_stays(store: SqlStore) {
    let owner = insert_user(&store, "hank@example.com").await;
    let second = insert_user(&store, "ivy@example.com").await;
    let org = new_org(&store, owner.id, "Owners").await;
    assert!(matches!(
        store.set_role(org.id, owner.id, Role::Admin).await,
        Err(StoreError::Conflict("last_owner"))
    ));
    assert!(matches!(
        store.remove(org.id, owner.id).await,
        Err(StoreError::Conflict("last_owner"))
    ));
    assert!(matches!(
        store.set_role(org.id, second.id, Role::Admin).await,
        Err(StoreError::NotFound)
    ));

    // With a second owner, the first may step down.
    let invitation = invite(&store, org.id, owner.id, "ivy@example.com", Role::Owner).await;
    assert!(
        store
            .accept(&invitation.0, second.id, Utc::now())
            .await
            .unwrap()
    );
    store
        .set_role(org.id, owner.id, Role::Viewer)
        .await
        .unwrap();
    let members = store.list(org.id, &PageRequest::first()).await.unwrap();
    let roles: Vec<_> = members.iter().map(|m| (m.email.as_str(), m.role)).collect();
    assert!(roles.contains(&("hank@example.com", Role::Viewer)));
    assert!(roles.contains(&("ivy@example.com", Role::Owner)));
    assert!(matches!(
        store.remove(org.id, second.id).await,
        Err(StoreError::Conflict("last_owner"))
    ));
    store.remove(org.id, owner.id).await.unwrap();
    assert!(
        MemberRepo::get(&store, org.id, owner.id)
            .await
            .unwrap()
            .is_none()
    );
}

async fn invite(
    store: &SqlStore,
    org: OrgId,
    by: UserId,
    email: &str,
    role: Role,
) -> (Invitation, docent_kernel::TokenHash) {
    let now = Utc::now();
    let invitation = Invitation {
        id: InvitationId::generate(),
        org_id: org,
        email: Email::parse(email).unwrap(),
        role,
        invited_by: by,
        created_at: now,
        expires_at: now + Duration::days(7),
    };
    let (_, hash) = TokenKind::Invitation.generate();
    InvitationRepo::create(store, &invitation, &hash, now)
        .await
        .unwrap();
    (invitation, hash)
}

async fn invitations_replace_accept_and_revoke(store: SqlStore) {
    let owner = insert_user(&store, "jack@example.com").await;
    let invitee = insert_user(&store, "kate@example.com").await;
    let org = new_org(&store, owner.id, "Invites").await;
    let (first, first_token) =
        invite(&store, org.id, owner.id, "kate@example.com", Role::Member).await;
    let (second, second_token) =
        invite(&store, org.id, owner.id, "kate@example.com", Role::Viewer).await;
    let now = Utc::now();
    assert!(
        store
            .find_pending(&first_token, now)
            .await
            .unwrap()
            .is_none()
    );
    let pending = store
        .list_pending(org.id, now, &PageRequest::first())
        .await
        .unwrap();
    assert_eq!(
        pending.iter().map(|i| i.id).collect::<Vec<_>>(),
        vec![second.id]
    );
    assert!(!store.accept(&first, invitee.id, now).await.unwrap());

    let found = store
        .find_pending(&second_token, now)
        .await
        .unwrap()
        .unwrap();
    assert!(store.accept(&found, invitee.id, now).await.unwrap());
    assert!(!store.accept(&found, invitee.id, now).await.unwrap());
    let joined = store
        .find_for_member(org.id, invitee.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(joined.role, Role::Viewer);

    // An existing member cannot accept a second invitation.
    let (again, _) = invite(&store, org.id, owner.id, "kate@example.com", Role::Admin).await;
    assert!(matches!(
        store.accept(&again, invitee.id, Utc::now()).await,
        Err(StoreError::Conflict(_))
    ));

    // Revocation is scoped to the organization.
    let other_org = new_org(&store, owner.id, "Other").await;
    let (pending, _) = invite(&store, org.id, owner.id, "liz@example.com", Role::Member).await;
    assert!(
        !InvitationRepo::revoke(&store, other_org.id, pending.id, Utc::now())
            .await
            .unwrap()
    );
    assert!(
        InvitationRepo::revoke(&store, org.id, pending.id, Utc::now())
            .await
            .unwrap()
    );
    assert!(
        !InvitationRepo::revoke(&store, org.id, pending.id, Utc::now())
            .await
            .unwrap()
    );
}

async fn deleted_orgs_disappear_with_their_invitations(store: SqlStore) {
    let owner = insert_user(&store, "mia@example.com").await;
    let org = new_org(&store, owner.id, "Doomed").await;
    let (_, token) = invite(&store, org.id, owner.id, "nick@example.com", Role::Member).await;
    store.delete(org.id, Utc::now()).await.unwrap();
    assert!(
        store
            .find_for_member(org.id, owner.id)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .find_pending(&token, Utc::now())
            .await
            .unwrap()
            .is_none()
    );
    assert!(matches!(
        store.delete(org.id, Utc::now()).await,
        Err(StoreError::NotFound)
    ));
}

mod migrations {
    use crate::db;
    use crate::testing::{Backend, TestDatabase};

    async fn round_trip(backend: Backend) {
        let (database, connection) = TestDatabase::migrated(backend).await;
        let (applied, pending) = db::migration_status(&connection).await.unwrap();
        let all =
            <docent_migration::Migrator as docent_migration::MigratorTrait>::migrations().len();
        assert!(pending.is_empty());
        assert_eq!(applied.len(), all);
        db::migrate_down(&connection, None).await.unwrap();
        let (applied, pending) = db::migration_status(&connection).await.unwrap();
        assert!(applied.is_empty());
        assert_eq!(pending.len(), all);
        db::migrate_up(&connection).await.unwrap();
        drop(database);
    }

    #[tokio::test]
    async fn up_down_up_on_sqlite() {
        round_trip(Backend::Sqlite).await;
    }

    #[tokio::test]
    async fn up_down_up_on_postgres() {
        round_trip(Backend::Postgres).await;
    }
}

async fn api_keys_are_found_by_hash_while_usable(store: SqlStore) {
    use docent_keys::{ApiKey, ApiKeyRepo, KeySettings, Scope};

    let owner = insert_user(&store, "kim@example.com").await;
    let org = new_org(&store, owner.id, "Keys").await;
    let other = new_org(&store, owner.id, "Other keys").await;
    let (_, hash) = TokenKind::Session.generate();
    let key = ApiKey {
        id: docent_kernel::ApiKeyId::generate(),
        org_id: org.id,
        created_by: owner.id,
        prefix: "dk_live_Ab12".to_owned(),
        last4: "wxyz".to_owned(),
        settings: KeySettings {
            name: "bot".to_owned(),
            scopes: [Scope::Chat, Scope::UsageRead].into_iter().collect(),
            chatbot_ids: Some(vec![docent_kernel::ChatbotId::generate()]),
            expires_at: Some((Utc::now() + Duration::days(1)).trunc_subsecs(6)),
            rate_limit_per_minute: Some(60),
            monthly_message_quota: Some(1000),
            monthly_token_quota: None,
            allowed_origins: None,
        },
        created_at: Utc::now(),
        revoked_at: None,
        last_used_at: None,
    };
    ApiKeyRepo::insert(&store, &key, &hash).await.unwrap();
    let found = store.find_usable(&hash).await.unwrap().unwrap();
    assert_eq!(found.settings, key.settings);
    assert_eq!((found.id, found.prefix.as_str()), (key.id, "dk_live_Ab12"));
    let (_, unknown) = TokenKind::Session.generate();
    assert!(store.find_usable(&unknown).await.unwrap().is_none());

    // Scoped to the organization.
    assert!(
        ApiKeyRepo::get(&store, other.id, key.id)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        !ApiKeyRepo::revoke(&store, other.id, key.id, Utc::now())
            .await
            .unwrap()
    );
    let listed = ApiKeyRepo::list(&store, org.id, &PageRequest::first())
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);

    let now = Utc::now();
    ApiKeyRepo::touch(&store, key.id, now).await.unwrap();
    assert!(
        store
            .find_usable(&hash)
            .await
            .unwrap()
            .unwrap()
            .last_used_at
            .is_some()
    );
    assert!(
        ApiKeyRepo::revoke(&store, org.id, key.id, now)
            .await
            .unwrap()
    );
    assert!(
        store
            .find_usable(&hash)
            .await
            .unwrap()
            .unwrap()
            .revoked_at
            .is_some()
    );

    // A disabled creator makes the key unusable until re-enabled.
    let (_, third_hash) = TokenKind::Session.generate();
    let third = ApiKey {
        id: docent_kernel::ApiKeyId::generate(),
        ..key.clone()
    };
    ApiKeyRepo::insert(&store, &third, &third_hash)
        .await
        .unwrap();
    let set_disabled = |at: Option<chrono::DateTime<Utc>>| {
        super::entity::users::Entity::update_many()
            .col_expr(
                super::entity::users::Column::DisabledAt,
                sea_orm::sea_query::Expr::value(at),
            )
            .filter(sea_orm::ColumnTrait::eq(
                &super::entity::users::Column::Id,
                owner.id.as_uuid(),
            ))
            .exec(store.connection())
    };
    set_disabled(Some(Utc::now())).await.unwrap();
    assert!(store.find_usable(&third_hash).await.unwrap().is_none());
    set_disabled(None).await.unwrap();
    assert!(store.find_usable(&third_hash).await.unwrap().is_some());

    // A deleted organization makes its keys unusable.
    let (_, second_hash) = TokenKind::Session.generate();
    let second = ApiKey {
        id: docent_kernel::ApiKeyId::generate(),
        ..key.clone()
    };
    ApiKeyRepo::insert(&store, &second, &second_hash)
        .await
        .unwrap();
    assert!(store.find_usable(&second_hash).await.unwrap().is_some());
    OrgRepo::delete(&store, org.id, Utc::now()).await.unwrap();
    assert!(store.find_usable(&second_hash).await.unwrap().is_none());
}

async fn usage_adds_up_per_day_chatbot_and_key(store: SqlStore) {
    use chrono::NaiveDate;
    use docent_keys::{DayRange, UsageDelta, UsageGroup, UsageLedger, UsageTotals};

    let owner = insert_user(&store, "uma@example.com").await;
    let org = new_org(&store, owner.id, "Usage").await;
    let other = new_org(&store, owner.id, "Other usage").await;
    let day = |s: &str| s.parse::<NaiveDate>().unwrap();
    let key = docent_kernel::ApiKeyId::generate();
    let bot = docent_kernel::ChatbotId::generate();
    let delta = |org: OrgId, on: &str, chatbot, api_key, requests, prompt, completion| UsageDelta {
        org_id: org,
        day: day(on),
        chatbot_id: chatbot,
        api_key_id: api_key,
        requests,
        prompt_tokens: prompt,
        completion_tokens: completion,
        embedded_tokens: 0,
    };
    for d in [
        delta(org.id, "2026-11-01", Some(bot), Some(key), 1, 100, 20),
        delta(org.id, "2026-11-01", Some(bot), Some(key), 1, 50, 10),
        delta(org.id, "2026-11-02", Some(bot), None, 2, 10, 10),
        delta(org.id, "2026-10-31", None, Some(key), 5, 0, 0),
        delta(other.id, "2026-11-01", None, None, 100, 1000, 1000),
    ] {
        store.add(&d).await.unwrap();
    }
    let november = DayRange::new(day("2026-11-01"), day("2026-11-30")).unwrap();
    let totals = store.totals(org.id, None, &november).await.unwrap();
    assert_eq!(
        totals,
        UsageTotals {
            requests: 4,
            prompt_tokens: 160,
            completion_tokens: 40,
            embedded_tokens: 0
        }
    );
    assert_eq!(totals.model_tokens(), 200);
    let by_key = store.totals(org.id, Some(key), &november).await.unwrap();
    assert_eq!((by_key.requests, by_key.model_tokens()), (2, 180));
    let empty = DayRange::new(day("2026-12-01"), day("2026-12-31")).unwrap();
    assert_eq!(
        store.totals(org.id, None, &empty).await.unwrap(),
        UsageTotals::default()
    );

    let days = store
        .report(
            org.id,
            &docent_keys::UsageFilter::default(),
            &november,
            UsageGroup::Day,
        )
        .await
        .unwrap();
    let days: Vec<_> = days
        .iter()
        .map(|r| (r.group.clone().unwrap(), r.totals.requests))
        .collect();
    assert_eq!(
        days,
        vec![("2026-11-01".to_owned(), 2), ("2026-11-02".to_owned(), 2)]
    );
    let wide = DayRange::new(day("2026-10-01"), day("2026-11-30")).unwrap();
    let keys = store
        .report(
            org.id,
            &docent_keys::UsageFilter::default(),
            &wide,
            UsageGroup::ApiKey,
        )
        .await
        .unwrap();
    let mut keys: Vec<_> = keys
        .iter()
        .map(|r| (r.group.clone(), r.totals.requests))
        .collect();
    keys.sort();
    assert_eq!(keys, vec![(None, 2), (Some(key.to_string()), 7)]);
    let bots = store
        .report(
            org.id,
            &docent_keys::UsageFilter::default(),
            &wide,
            UsageGroup::Chatbot,
        )
        .await
        .unwrap();
    let mut bots: Vec<_> = bots
        .iter()
        .map(|r| (r.group.clone(), r.totals.requests))
        .collect();
    bots.sort();
    assert_eq!(bots, vec![(None, 5), (Some(bot.to_string()), 4)]);
    // One chatbot's days, and one key's with that chatbot.
    let bot_days = store
        .report(
            org.id,
            &docent_keys::UsageFilter {
                key: None,
                chatbot: Some(bot),
            },
            &wide,
            UsageGroup::Day,
        )
        .await
        .unwrap();
    let bot_days: Vec<_> = bot_days
        .iter()
        .map(|r| (r.group.clone().unwrap(), r.totals.requests))
        .collect();
    assert_eq!(
        bot_days,
        vec![("2026-11-01".to_owned(), 2), ("2026-11-02".to_owned(), 2)]
    );
    let both = store
        .report(
            org.id,
            &docent_keys::UsageFilter {
                key: Some(key),
                chatbot: Some(bot),
            },
            &wide,
            UsageGroup::Day,
        )
        .await
        .unwrap();
    assert_eq!(both.len(), 1);
    assert_eq!(both[0].totals.requests, 2);
}

async fn quotas_are_reserved_before_use_and_settled_after(store: SqlStore) {
    use std::sync::Arc;

    use docent_kernel::{Actor, SystemClock, TenantCtx};
    use docent_keys::{KeyError, KeyRequest, KeyService, ReportedUsage};

    let owner = insert_user(&store, "quinn@example.com").await;
    let org = new_org(&store, owner.id, "Quotas").await;
    let store = Arc::new(store);
    let keys = KeyService::new(
        docent_keys::KeyPorts {
            repo: store.clone(),
            limiter: Arc::new(crate::rate_limit::InMemoryKeyRateLimiter::default()),
            usage: store.clone(),
            audit: store.clone(),
            clock: Arc::new(SystemClock),
            chatbots: store.clone(),
        },
        docent_keys::MonthlyQuota {
            messages: Some(6),
            tokens: None,
        },
    );
    let tenant = TenantCtx::new(org.id, Actor::User(owner.id));
    let issued = keys
        .create(
            &tenant,
            owner.id,
            KeyRequest {
                name: "metered".to_owned(),
                scopes: vec!["chat".to_owned()],
                monthly_message_quota: Some(2),
                monthly_token_quota: Some(1000),
                allowed_origins: None,
                ..KeyRequest::default()
            },
        )
        .await
        .unwrap();
    let key = issued.key;
    let used = |prompt, completion| ReportedUsage {
        prompt_tokens: prompt,
        completion_tokens: completion,
    };

    // Two messages fit; in flight they already count, so a third is refused before any model call.
    let first = keys.reserve(&tenant, Some(&key), None, 100).await.unwrap();
    let second = keys.reserve(&tenant, Some(&key), None, 100).await.unwrap();
    assert!(matches!(
        keys.reserve(&tenant, Some(&key), None, 100).await,
        Err(KeyError::QuotaExceeded {
            holder: "API key",
            what: "message",
            ..
        })
    ));
    // A dropped reservation gives its message back; a settled one is recorded.
    drop(second);
    keys.settle(first, used(300, 50)).await.unwrap();
    let third = keys.reserve(&tenant, Some(&key), None, 100).await.unwrap();
    keys.settle(third, used(200, 50)).await.unwrap();
    match keys.reserve(&tenant, Some(&key), None, 1).await {
        Err(KeyError::QuotaExceeded {
            holder: "API key",
            what,
            resets_in_secs,
        }) => {
            assert_eq!(what, "message");
            assert!(resets_in_secs > 0 && resets_in_secs <= 31 * 24 * 3600);
        }
        other => panic!("expected the message quota to be used up, got {other:?}"),
    }

    // The token quota counts reported prompt and completion tokens plus the estimate.
    let tokens_only = keys
        .create(
            &tenant,
            owner.id,
            KeyRequest {
                name: "tokens".to_owned(),
                scopes: vec!["chat".to_owned()],
                monthly_token_quota: Some(500),
                allowed_origins: None,
                ..KeyRequest::default()
            },
        )
        .await
        .unwrap()
        .key;
    let r = keys
        .reserve(&tenant, Some(&tokens_only), None, 100)
        .await
        .unwrap();
    keys.settle(r, used(350, 100)).await.unwrap();
    assert!(matches!(
        keys.reserve(&tenant, Some(&tokens_only), None, 100).await,
        Err(KeyError::QuotaExceeded {
            holder: "API key",
            what: "token",
            ..
        })
    ));
    keys.reserve(&tenant, Some(&tokens_only), None, 50)
        .await
        .unwrap();

    // Requests without a key count against the organization only.
    let session = keys.reserve(&tenant, None, None, 10_000).await.unwrap();
    keys.settle(session, used(1, 1)).await.unwrap();
    // The organization's quota (6 messages, set by the operator) covers keys and users alike:
    // 4 are used; one more fits, and with a sixth in flight the next is refused for everyone.
    let fifth = keys.reserve(&tenant, None, None, 1).await.unwrap();
    keys.settle(fifth, used(1, 1)).await.unwrap();
    let sixth = keys.reserve(&tenant, None, None, 1).await.unwrap();
    assert!(matches!(
        keys.reserve(&tenant, Some(&tokens_only), None, 1).await,
        Err(KeyError::QuotaExceeded {
            holder: "organization",
            what: "message",
            ..
        })
    ));
    drop(sixth);
    let (_, rows) = keys
        .usage_report(
            &tenant,
            docent_keys::UsageFilter::default(),
            None,
            docent_keys::UsageGroup::ApiKey,
        )
        .await
        .unwrap();
    let mut rows: Vec<_> = rows
        .iter()
        .map(|r| (r.group.clone(), r.totals.requests))
        .collect();
    rows.sort();
    let mut expected = vec![
        (None, 2),
        (Some(key.id.to_string()), 2),
        (Some(tokens_only.id.to_string()), 1),
    ];
    expected.sort();
    assert_eq!(rows, expected);
}

mod documents {
    use chrono::{DateTime, Duration, SubsecRound as _, Utc};
    use docent_documents::jobs::{JobKind, JobQueue, NewJob};
    use docent_documents::ports::DocumentRepo;
    use docent_documents::{
        Document, DocumentFilter, DocumentStatus, Failure, Progress, StoredChunk,
    };
    use docent_kernel::{Actor, DocumentId, OrgId, PageRequest, UserId};

    use crate::db::SqlStore;

    pub(super) fn now() -> DateTime<Utc> {
        Utc::now().trunc_subsecs(6)
    }

    pub(super) fn document(org: OrgId, checksum: &str, tags: &[&str]) -> Document {
        let at = now();
        Document {
            id: DocumentId::generate(),
            org_id: org,
            title: "Handbook".into(),
            file_name: Some("handbook.md".into()),
            media_type: "text/markdown".into(),
            size_bytes: 42,
            checksum: checksum.into(),
            tags: tags.iter().map(|t| (*t).to_owned()).collect(),
            status: DocumentStatus::Queued,
            progress: Progress::default(),
            failure: None,
            chunk_count: 0,
            embedding_model: None,
            created_by: Actor::User(UserId::generate()),
            created_at: at,
            updated_at: at,
        }
    }

    pub(super) async fn queued(
        store: &SqlStore,
        org: OrgId,
        checksum: &str,
        tags: &[&str],
    ) -> Document {
        let document = document(org, checksum, tags);
        let job = NewJob::new(JobKind::Ingest, org, document.id, document.created_at);
        DocumentRepo::insert(store, &document, &job).await.unwrap();
        document
    }

    pub(super) fn chunk(document: DocumentId, ordinal: u32) -> StoredChunk {
        StoredChunk {
            document_id: document,
            ordinal,
            text: format!("chunk {ordinal}"),
            char_start: u64::from(ordinal) * 10,
            char_end: u64::from(ordinal) * 10 + 9,
            page: Some(ordinal + 1),
            section: ordinal
                .is_multiple_of(2)
                .then(|| format!("Guide › Part {ordinal}")),
            token_count: 3,
        }
    }

    pub(super) fn failure() -> Failure {
        Failure {
            code: "encrypted_pdf".into(),
            message: "the PDF is encrypted".into(),
        }
    }

    pub(super) async fn pending(store: &SqlStore) -> u64 {
        JobQueue::pending(store).await.unwrap()
    }

    pub(super) fn page() -> PageRequest {
        PageRequest::first()
    }

    pub(super) fn filter(status: Option<DocumentStatus>, tag: Option<&str>) -> DocumentFilter {
        DocumentFilter {
            status,
            tag: tag.map(str::to_owned),
        }
    }

    pub(super) fn later(at: DateTime<Utc>, secs: i64) -> DateTime<Utc> {
        at + Duration::seconds(secs)
    }
}

async fn documents_are_stored_with_their_job_and_scoped_to_their_org(store: SqlStore) {
    use docent_documents::DocumentStatus;
    use docent_documents::jobs::{JobKind, JobQueue, NewJob};
    use docent_documents::ports::DocumentRepo;
    use documents::*;

    let owner = insert_user(&store, "docs@example.com").await;
    let org = new_org(&store, owner.id, "Docs").await.id;
    let other = new_org(&store, owner.id, "Other").await.id;

    let handbook = queued(&store, org, "aa", &["hr", "policy_2024"]).await;
    let faq = queued(&store, org, "bb", &["policyx2024"]).await;
    assert_eq!(
        pending(&store).await,
        2,
        "one ingest job per upload, in the same transaction"
    );
    assert_eq!(
        DocumentRepo::get(&store, org, handbook.id).await.unwrap(),
        Some(handbook.clone())
    );
    assert_eq!(
        DocumentRepo::get(&store, other, handbook.id).await.unwrap(),
        None
    );
    assert_eq!(
        store.find_by_checksum(org, "aa").await.unwrap(),
        Some(handbook.id)
    );
    assert_eq!(store.find_by_checksum(other, "aa").await.unwrap(), None);

    let listed = |f| {
        let store = store.clone();
        async move {
            DocumentRepo::list(&store, org, &f, &page())
                .await
                .unwrap()
                .into_iter()
                .map(|d| d.id)
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(listed(filter(None, None)).await, vec![handbook.id, faq.id]);
    // `_` is a literal in tags, not a LIKE wildcard.
    assert_eq!(
        listed(filter(None, Some("policy_2024"))).await,
        vec![handbook.id]
    );
    assert_eq!(listed(filter(None, Some("hr"))).await, vec![handbook.id]);
    assert_eq!(
        listed(filter(None, Some("h"))).await,
        Vec::<docent_kernel::DocumentId>::new()
    );
    assert!(
        DocumentRepo::list(&store, other, &filter(None, None), &page())
            .await
            .unwrap()
            .is_empty()
    );

    // The worker's side.
    let at = now();
    let started = store
        .start_processing(org, handbook.id, at)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(started.status, DocumentStatus::Processing);
    assert!(
        store
            .start_processing(other, handbook.id, at)
            .await
            .unwrap()
            .is_none()
    );
    store
        .set_progress(
            org,
            handbook.id,
            docent_documents::Progress {
                chunks_done: 1,
                chunks_total: 3,
            },
            at,
        )
        .await
        .unwrap();
    let chunks: Vec<_> = (0..3).map(|o| chunk(handbook.id, o)).collect();
    // Chunks are stored batch by batch while the document is processed.
    store
        .store_chunks(org, handbook.id, &chunks[..1])
        .await
        .unwrap();
    store
        .store_chunks(org, handbook.id, &chunks[1..])
        .await
        .unwrap();
    assert!(
        store
            .finish(org, handbook.id, 3, "model-x", at)
            .await
            .unwrap()
    );
    let ready = DocumentRepo::get(&store, org, handbook.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(ready.status, DocumentStatus::Ready);
    assert_eq!(
        (
            ready.chunk_count,
            ready.progress.chunks_done,
            ready.progress.chunks_total
        ),
        (3, 3, 3)
    );
    assert_eq!(ready.embedding_model.as_deref(), Some("model-x"));
    // Processing again replaces the chunks rather than adding to them, and drops those past the
    // new end.
    let mut changed = chunks[..2].to_vec();
    changed[1].text = "a changed second chunk".to_owned();
    store
        .store_chunks(org, handbook.id, &changed)
        .await
        .unwrap();
    assert!(
        store
            .finish(org, handbook.id, 2, "model-x", at)
            .await
            .unwrap()
    );
    let chunks = changed;
    assert_eq!(
        store.chunks(org, handbook.id, None, 10).await.unwrap(),
        chunks[..2].to_vec()
    );
    assert_eq!(
        store.chunks(org, handbook.id, Some(0), 10).await.unwrap(),
        chunks[1..2].to_vec()
    );
    assert!(
        store
            .chunks(other, handbook.id, None, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let found = store
        .chunks_by_key(org, &[(handbook.id, 1), (handbook.id, 9), (faq.id, 0)])
        .await
        .unwrap();
    assert_eq!(found, vec![("Handbook".to_owned(), chunks[1].clone())]);
    assert!(
        store
            .chunks_by_key(other, &[(handbook.id, 1)])
            .await
            .unwrap()
            .is_empty()
    );
    // A failed document's leftover chunks are no search results.
    store.fail(org, handbook.id, &failure(), at).await.unwrap();
    assert!(
        store
            .chunks_by_key(org, &[(handbook.id, 1)])
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .finish(org, handbook.id, 2, "model-x", at)
            .await
            .unwrap()
    );
    // Chunks of a document that is gone are refused (its deletion won the race).
    assert!(matches!(
        store
            .store_chunks(org, docent_kernel::DocumentId::generate(), &chunks[..1])
            .await,
        Err(StoreError::Conflict(_))
    ));

    // Failing records the reason; a failed or ready document can be queued again, a queued one not.
    store.fail(org, faq.id, &failure(), at).await.unwrap();
    let failed = DocumentRepo::get(&store, org, faq.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (failed.status, failed.failure),
        (DocumentStatus::Failed, Some(failure()))
    );
    let again = NewJob::new(JobKind::Ingest, org, faq.id, at);
    assert!(!store.requeue(other, faq.id, &again).await.unwrap());
    assert!(store.requeue(org, faq.id, &again).await.unwrap());
    let requeued = DocumentRepo::get(&store, org, faq.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (requeued.status, requeued.failure),
        (DocumentStatus::Queued, None)
    );
    assert!(
        !store
            .requeue(org, faq.id, &NewJob::new(JobKind::Ingest, org, faq.id, at))
            .await
            .unwrap()
    );
    assert_eq!(pending(&store).await, 3);

    // Deleting removes the row and chunks, cancels pending ingestion, and enqueues the purge.
    let purge = NewJob::new(JobKind::Purge, org, faq.id, at);
    assert!(
        !DocumentRepo::delete(&store, other, faq.id, &purge)
            .await
            .unwrap()
    );
    assert!(
        DocumentRepo::delete(&store, org, faq.id, &purge)
            .await
            .unwrap()
    );
    assert!(
        !DocumentRepo::delete(&store, org, faq.id, &purge)
            .await
            .unwrap()
    );
    assert_eq!(DocumentRepo::get(&store, org, faq.id).await.unwrap(), None);
    let purge_handbook = NewJob::new(JobKind::Purge, org, handbook.id, at);
    assert!(
        DocumentRepo::delete(&store, org, handbook.id, &purge_handbook)
            .await
            .unwrap()
    );
    assert!(
        store
            .chunks(org, handbook.id, None, 10)
            .await
            .unwrap()
            .is_empty()
    );
    // Left: the two purges (both documents' pending ingest jobs were cancelled).
    let mut kinds = Vec::new();
    while let Some(job) = store
        .claim("w", std::time::Duration::from_secs(60), later(at, 1))
        .await
        .unwrap()
    {
        kinds.push((job.kind, job.document_id));
        JobQueue::complete(&store, &job, at).await.unwrap();
    }
    kinds.sort_by_key(|(k, d)| (k.as_str(), *d));
    let mut expected = vec![(JobKind::Purge, handbook.id), (JobKind::Purge, faq.id)];
    expected.sort_by_key(|(k, d)| (k.as_str(), *d));
    assert_eq!(kinds, expected);
}

async fn jobs_are_leased_heartbeated_retried_and_reclaimed(store: SqlStore) {
    use docent_documents::jobs::JobQueue;
    use documents::*;
    use std::time::Duration as Std;

    let owner = insert_user(&store, "jobs@example.com").await;
    let org = new_org(&store, owner.id, "Jobs").await.id;
    let document = queued(&store, org, "cc", &[]).await;
    let t0 = later(document.created_at, 1);
    let lease = Std::from_secs(30);

    let first = store.claim("a", lease, t0).await.unwrap().unwrap();
    assert_eq!((first.document_id, first.attempt), (document.id, 1));
    assert_eq!(
        store.claim("b", lease, later(t0, 10)).await.unwrap(),
        None,
        "leased"
    );
    assert!(store.heartbeat(&first, lease, later(t0, 20)).await.unwrap());
    assert_eq!(
        store.claim("b", lease, later(t0, 40)).await.unwrap(),
        None,
        "the heartbeat extended the lease"
    );

    // The worker dies: once the lease runs out another worker takes the job over.
    let second = store
        .claim("b", lease, later(t0, 51))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((second.id, second.attempt), (first.id, 2));
    assert_ne!(second.lease_token, first.lease_token);
    assert!(
        !store.heartbeat(&first, lease, later(t0, 52)).await.unwrap(),
        "the old claim is dead"
    );
    JobQueue::complete(&store, &first, later(t0, 52))
        .await
        .unwrap();
    assert_eq!(
        pending(&store).await,
        1,
        "completing with a dead claim changes nothing"
    );

    // Retry later: not claimable before its time, claimable after.
    store
        .retry(&second, later(t0, 100), "index down", later(t0, 53))
        .await
        .unwrap();
    assert_eq!(store.claim("c", lease, later(t0, 99)).await.unwrap(), None);
    let third = store
        .claim("c", lease, later(t0, 100))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(third.attempt, 3);

    // Released on shutdown: runnable at once, and the claim does not count.
    store.release(&third, later(t0, 101)).await.unwrap();
    let fourth = store
        .claim("d", lease, later(t0, 101))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(fourth.attempt, 3);

    // Buried: never claimed again.
    store.bury(&fourth, "broken", later(t0, 102)).await.unwrap();
    assert_eq!(
        store.claim("e", lease, later(t0, 1000)).await.unwrap(),
        None
    );
    assert_eq!(pending(&store).await, 0);
}

async fn claiming_is_fair_across_organizations(store: SqlStore) {
    use docent_documents::jobs::JobQueue;
    use documents::*;
    use std::time::Duration as Std;

    let owner = insert_user(&store, "fair@example.com").await;
    let busy = new_org(&store, owner.id, "Busy").await.id;
    let quiet = new_org(&store, owner.id, "Quiet").await.id;
    for i in 0..3 {
        queued(&store, busy, &format!("busy{i}"), &[]).await;
    }
    let lone = queued(&store, quiet, "quiet", &[]).await;
    let mut at = later(lone.created_at, 1);
    let mut order = Vec::new();
    while let Some(job) = store.claim("w", Std::from_secs(30), at).await.unwrap() {
        order.push(job.org_id);
        JobQueue::complete(&store, &job, at).await.unwrap();
        at = later(at, 1);
    }
    // The quiet organization's one job does not wait behind the busy one's backlog.
    assert_eq!(order, vec![busy, quiet, busy, busy]);
}

async fn concurrent_claims_never_share_a_job(store: SqlStore) {
    use docent_documents::jobs::JobQueue;
    use documents::*;
    use std::time::Duration as Std;

    let owner = insert_user(&store, "race@example.com").await;
    let org = new_org(&store, owner.id, "Race").await.id;
    for i in 0..6 {
        queued(&store, org, &format!("race{i}"), &[]).await;
    }
    let at = later(now(), 1);
    let claims = (0..4).map(|i| {
        let store = store.clone();
        tokio::spawn(async move {
            store
                .claim(&format!("w{i}"), Std::from_secs(30), at)
                .await
                .unwrap()
        })
    });
    let mut claimed = Vec::new();
    for claim in claims {
        if let Some(job) = claim.await.unwrap() {
            claimed.push(job.id);
        }
    }
    let count = claimed.len();
    claimed.sort();
    claimed.dedup();
    assert_eq!(claimed.len(), count, "a job was claimed twice");
    assert!(count >= 1);
}

async fn providers_keep_their_sealed_keys_per_org(store: SqlStore) {
    use docent_kernel::ProviderId;
    use docent_providers::{Provider, ProviderKind, ProviderRepo, SealedKey};

    let owner = insert_user(&store, "providers@example.com").await;
    let org = new_org(&store, owner.id, "Providers").await.id;
    let other = new_org(&store, owner.id, "Other").await.id;
    let now = Utc::now().trunc_subsecs(6);
    let provider = Provider {
        id: ProviderId::generate(),
        org_id: org,
        name: "OpenAI".into(),
        kind: ProviderKind::OpenAi,
        base_url: None,
        default_model: Some("gpt-4o-mini".into()),
        api_version: None,
        api_key_last4: Some("WXYZ".into()),
        timeout_secs: 60,
        created_at: now,
        updated_at: now,
    };
    let sealed = SealedKey {
        key_id: "k1".into(),
        ciphertext: vec![1, 2, 3, 0, 255],
    };
    ProviderRepo::insert(&store, &provider, Some(&sealed))
        .await
        .unwrap();
    let offline = Provider {
        id: ProviderId::generate(),
        name: "Offline".into(),
        kind: ProviderKind::Extractive,
        default_model: None,
        api_key_last4: None,
        ..provider.clone()
    };
    ProviderRepo::insert(&store, &offline, None).await.unwrap();

    assert_eq!(
        ProviderRepo::get(&store, org, provider.id).await.unwrap(),
        Some(provider.clone())
    );
    assert_eq!(
        ProviderRepo::get(&store, other, provider.id).await.unwrap(),
        None
    );
    assert_eq!(
        store.sealed_key(org, provider.id).await.unwrap(),
        Some(sealed.clone())
    );
    assert_eq!(store.sealed_key(other, provider.id).await.unwrap(), None);
    assert_eq!(store.sealed_key(org, offline.id).await.unwrap(), None);
    let listed = ProviderRepo::list(&store, org, &PageRequest::first())
        .await
        .unwrap();
    assert_eq!(listed, vec![provider.clone(), offline.clone()]);
    assert!(
        ProviderRepo::list(&store, other, &PageRequest::first())
            .await
            .unwrap()
            .is_empty()
    );

    // Settings change without touching the key, or together with it.
    let renamed = Provider {
        name: "OpenAI prod".into(),
        ..provider.clone()
    };
    assert!(ProviderRepo::update(&store, &renamed, None).await.unwrap());
    assert_eq!(
        store.sealed_key(org, provider.id).await.unwrap(),
        Some(sealed.clone())
    );
    let foreign = Provider {
        org_id: other,
        ..renamed.clone()
    };
    assert!(!ProviderRepo::update(&store, &foreign, None).await.unwrap());

    // Re-sealing sees every organization's keys and only replaces what it read.
    let all = store.sealed_keys(None, 10).await.unwrap();
    assert_eq!(all, vec![(org, provider.id, sealed.clone())]);
    assert!(
        store
            .sealed_keys(Some(provider.id), 10)
            .await
            .unwrap()
            .is_empty()
    );
    let fresh = SealedKey {
        key_id: "k2".into(),
        ciphertext: vec![9, 9, 9],
    };
    assert!(
        store
            .replace_sealed_key(org, provider.id, &sealed, &fresh)
            .await
            .unwrap()
    );
    assert!(
        !store
            .replace_sealed_key(org, provider.id, &sealed, &fresh)
            .await
            .unwrap(),
        "stale"
    );
    assert_eq!(
        store.sealed_key(org, provider.id).await.unwrap(),
        Some(fresh)
    );
    assert!(
        ProviderRepo::update(&store, &renamed, Some(None))
            .await
            .unwrap()
    );
    assert_eq!(store.sealed_key(org, provider.id).await.unwrap(), None);

    assert!(
        !ProviderRepo::delete(&store, other, provider.id)
            .await
            .unwrap()
    );
    assert!(
        ProviderRepo::delete(&store, org, provider.id)
            .await
            .unwrap()
    );
    assert_eq!(
        ProviderRepo::get(&store, org, provider.id).await.unwrap(),
        None
    );
}

async fn chatbots_and_conversations_are_scoped_to_org_and_owner(store: SqlStore) {
    use docent_chat::{
        Chatbot, ChatbotRepo, Citation, CitationStyle, Conversation, ConversationRepo,
        KnowledgeScope, Message, RetrievalSettings, Role, TokenUsage, Tone,
    };
    use docent_kernel::{
        Actor, ApiKeyId, ChatbotId, ConversationId, DocumentId, MessageId, ProviderId,
    };
    use docent_providers::{Provider, ProviderKind, ProviderRepo};

    let owner = insert_user(&store, "chatbots@example.com").await;
    let org = new_org(&store, owner.id, "Bots").await.id;
    let other = new_org(&store, owner.id, "Other bots").await.id;
    let now = Utc::now().trunc_subsecs(6);
    let provider = Provider {
        id: ProviderId::generate(),
        org_id: org,
        name: "Offline".into(),
        kind: ProviderKind::Extractive,
        base_url: None,
        default_model: None,
        api_version: None,
        api_key_last4: None,
        timeout_secs: 60,
        created_at: now,
        updated_at: now,
    };
    ProviderRepo::insert(&store, &provider, None).await.unwrap();
    let doc = DocumentId::generate();
    let bot = Chatbot {
        id: ChatbotId::generate(),
        org_id: org,
        name: "Help".into(),
        slug: Slug::parse("help").unwrap(),
        provider_id: provider.id,
        model: Some("m".into()),
        system_prompt: "Be useful.".into(),
        tone: Tone::Custom("Speak plainly.".into()),
        temperature: 0.25,
        max_answer_tokens: 300,
        context_window: 4096,
        retrieval: RetrievalSettings {
            top_k: 4,
            min_score: 0.35,
        },
        knowledge: KnowledgeScope::Documents(vec![doc]),
        welcome_message: Some("Hello".into()),
        fallback_answer: "No idea.".into(),
        citation_style: CitationStyle::Footnotes,
        created_at: now,
        updated_at: now,
    };
    ChatbotRepo::insert(&store, &bot).await.unwrap();
    assert_eq!(
        ChatbotRepo::get(&store, org, bot.id).await.unwrap(),
        Some(bot.clone())
    );
    assert_eq!(ChatbotRepo::get(&store, other, bot.id).await.unwrap(), None);
    assert_eq!(
        store.by_slug(org, "help").await.unwrap().map(|b| b.id),
        Some(bot.id)
    );
    assert_eq!(store.by_slug(other, "help").await.unwrap(), None);
    // Slugs are unique per organization.
    let twin = Chatbot {
        id: ChatbotId::generate(),
        knowledge: KnowledgeScope::Tags(vec!["a".into()]),
        tone: Tone::Template("concise".into()),
        ..bot.clone()
    };
    assert!(matches!(
        ChatbotRepo::insert(&store, &twin).await,
        Err(StoreError::Conflict("unique"))
    ));
    let twin = Chatbot {
        slug: Slug::parse("help-2").unwrap(),
        ..twin
    };
    ChatbotRepo::insert(&store, &twin).await.unwrap();
    assert_eq!(
        ChatbotRepo::get(&store, org, twin.id).await.unwrap(),
        Some(twin.clone())
    );
    let page = PageRequest::new(None, None).unwrap();
    assert_eq!(
        ChatbotRepo::list(&store, org, None, &page)
            .await
            .unwrap()
            .len(),
        2
    );
    let only = ChatbotRepo::list(&store, org, Some(&[twin.id]), &page)
        .await
        .unwrap();
    assert_eq!(only.iter().map(|b| b.id).collect::<Vec<_>>(), [twin.id]);
    assert!(
        ChatbotRepo::list(&store, other, None, &page)
            .await
            .unwrap()
            .is_empty()
    );
    let existing =
        docent_keys::ChatbotDirectory::existing(&store, org, &[bot.id, ChatbotId::generate()])
            .await
            .unwrap();
    assert_eq!(existing, [bot.id]);
    assert!(
        docent_keys::ChatbotDirectory::existing(&store, other, &[bot.id])
            .await
            .unwrap()
            .is_empty()
    );
    // Updates are scoped too.
    let renamed = Chatbot {
        name: "Helpdesk".into(),
        ..bot.clone()
    };
    assert!(
        !ChatbotRepo::update(
            &store,
            &Chatbot {
                org_id: other,
                ..renamed.clone()
            }
        )
        .await
        .unwrap()
    );
    assert!(ChatbotRepo::update(&store, &renamed).await.unwrap());
    assert_eq!(
        ChatbotRepo::get(&store, org, bot.id)
            .await
            .unwrap()
            .unwrap()
            .name,
        "Helpdesk"
    );

    // Conversations belong to their owner.
    let user = Actor::User(owner.id);
    let key = Actor::ApiKey(ApiKeyId::generate());
    let conversation = Conversation {
        id: ConversationId::generate(),
        org_id: org,
        chatbot_id: bot.id,
        owner: user,
        title: String::new(),
        created_at: now,
        updated_at: now,
    };
    ConversationRepo::insert(&store, &conversation)
        .await
        .unwrap();
    assert_eq!(
        ConversationRepo::get(&store, org, user, conversation.id)
            .await
            .unwrap(),
        Some(conversation.clone())
    );
    assert_eq!(
        ConversationRepo::get(&store, org, key, conversation.id)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        ConversationRepo::get(&store, other, user, conversation.id)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        ConversationRepo::list(&store, org, user, bot.id, &page)
            .await
            .unwrap()
            .len(),
        1
    );
    assert!(
        ConversationRepo::list(&store, org, key, bot.id, &page)
            .await
            .unwrap()
            .is_empty()
    );

    let message = |role: Role, content: &str| Message {
        id: MessageId::generate(),
        conversation_id: conversation.id,
        role,
        content: content.into(),
        citations: Vec::new(),
        usage: TokenUsage::default(),
        latency_ms: 0,
        incomplete: false,
        created_at: now,
    };
    for turn in 0..3 {
        let question = message(Role::User, &format!("q{turn}"));
        let answer = Message {
            citations: vec![Citation {
                n: 1,
                document_id: doc,
                title: "Doc".into(),
                ordinal: 2,
                page: Some(3),
                section: Some("Care › Cleaning".into()),
                char_start: 10,
                char_end: 20,
                score: 0.5,
                snippet: "snip".into(),
            }],
            usage: TokenUsage {
                prompt_tokens: 100,
                completion_tokens: 7,
            },
            latency_ms: 42,
            incomplete: turn == 2,
            ..message(Role::Assistant, &format!("a{turn}"))
        };
        let title = (turn == 0).then_some("first question");
        store
            .append_exchange(org, &question, &answer, title, now)
            .await
            .unwrap();
    }
    let all = ConversationRepo::messages(&store, org, conversation.id, &page)
        .await
        .unwrap();
    let texts: Vec<&str> = all.iter().map(|m| m.content.as_str()).collect();
    assert_eq!(texts, ["q0", "a0", "q1", "a1", "q2", "a2"]);
    assert_eq!(all[1].citations[0].page, Some(3));
    assert_eq!(all[1].usage.completion_tokens, 7);
    assert!(all[5].incomplete && !all[3].incomplete);
    assert!(
        ConversationRepo::messages(&store, other, conversation.id, &page)
            .await
            .unwrap()
            .is_empty()
    );
    let recent = store.recent(org, conversation.id, 3).await.unwrap();
    assert_eq!(
        recent
            .iter()
            .map(|m| m.content.as_str())
            .collect::<Vec<_>>(),
        ["a1", "q2", "a2"]
    );
    let titled = ConversationRepo::get(&store, org, user, conversation.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(titled.title, "first question");
    // Another organization's id cannot take an exchange.
    assert!(matches!(
        store
            .append_exchange(
                other,
                &message(Role::User, "x"),
                &message(Role::Assistant, "y"),
                None,
                now
            )
            .await,
        Err(StoreError::NotFound)
    ));

    // A provider in use cannot be deleted; deleting its chatbots deletes their conversations.
    assert!(
        matches!(
            ProviderRepo::delete(&store, org, provider.id).await,
            Err(StoreError::Conflict("foreign_key"))
        ),
        "{:?}",
        ProviderRepo::delete(&store, org, provider.id).await
    );
    assert!(!ChatbotRepo::delete(&store, other, bot.id).await.unwrap());
    assert!(ChatbotRepo::delete(&store, org, bot.id).await.unwrap());
    assert!(ChatbotRepo::delete(&store, org, twin.id).await.unwrap());
    assert_eq!(
        ConversationRepo::get(&store, org, user, conversation.id)
            .await
            .unwrap(),
        None
    );
    assert!(
        ConversationRepo::messages(&store, org, conversation.id, &page)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        ProviderRepo::delete(&store, org, provider.id)
            .await
            .unwrap()
    );
}

/// How long `check` takes to come true, polled every millisecond, at most two trust windows.
async fn time_until<F, Fut>(mut check: F) -> std::time::Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = std::time::Instant::now();
    while !check().await {
        assert!(
            started.elapsed() < super::auth_cache::TRUST_WINDOW * 2,
            "still answered from the cache after {:?}",
            started.elapsed()
        );
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    }
    started.elapsed()
}

async fn verified_credentials_are_forgotten_here_at_once_and_elsewhere_within_the_window(
    store: SqlStore,
) {
    // A second serving process on the same database: its own cache, its own poll.
    let other = SqlStore::with_auth_cache(store.connection().clone());
    let watch = other.watch_auth_epoch();
    trusted(&other).await;

    let user = insert_user(&store, "cached@example.com").await;
    let owner = insert_user(&store, "owner@example.com").await;
    let org = new_org(&store, owner.id, "Cached").await;
    let (invitation, _) = invite(&store, org.id, owner.id, "cached@example.com", Role::Admin).await;
    assert!(
        store
            .accept(&invitation, user.id, Utc::now())
            .await
            .unwrap()
    );
    let (_, token) = TokenKind::Session.generate();
    let session = new_session(user.id, Duration::hours(1));
    SessionRepo::insert(&store, &session, &token).await.unwrap();
    let now = Utc::now();

    let (here_ref, other_ref) = (&store, &other);
    let (org_id, user_id) = (org.id, user.id);
    // Both processes verify the session and the membership, and keep them.
    for process in [&store, &other] {
        assert!(process.find_active(&token, now).await.unwrap().is_some());
        let found = process
            .find_for_member(org.id, user.id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(found.role, Role::Admin);
        assert!(process.auth.session(&token, now).is_some());
        assert!(process.auth.member(org.id, user.id).is_some());
    }

    // A role change: here at once, there within the window.
    MemberRepo::set_role(&store, org.id, user.id, Role::Viewer)
        .await
        .unwrap();
    let here = store
        .find_for_member(org.id, user.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        here.role,
        Role::Viewer,
        "the writing process sees it at once"
    );
    let role_delay = time_until(move || async move {
        other_ref
            .find_for_member(org_id, user_id)
            .await
            .unwrap()
            .unwrap()
            .role
            == Role::Viewer
    })
    .await;

    // A rename travels with the membership too.
    let mut renamed = org.clone();
    renamed.name = OrgName::parse("Renamed").unwrap();
    OrgRepo::update(&store, &renamed).await.unwrap();
    assert_eq!(
        store
            .find_for_member(org.id, user.id)
            .await
            .unwrap()
            .unwrap()
            .org
            .name
            .as_str(),
        "Renamed"
    );

    // A revoked session: refused here at once, there within the window.
    assert!(other.find_active(&token, now).await.unwrap().is_some());
    assert!(
        SessionRepo::revoke(&store, user.id, session.id, now)
            .await
            .unwrap()
    );
    assert!(store.find_active(&token, now).await.unwrap().is_none());
    let revoke_delay =
        time_until(
            move || async move { other_ref.find_active(&token, now).await.unwrap().is_none() },
        )
        .await;

    // A disabled account, through the other process this time.
    let (_, second_token) = TokenKind::Session.generate();
    let second = new_session(user.id, Duration::hours(1));
    SessionRepo::insert(&store, &second, &second_token)
        .await
        .unwrap();
    assert!(
        store
            .find_active(&second_token, now)
            .await
            .unwrap()
            .is_some()
    );
    other.set_disabled(user.id, Some(now)).await.unwrap();
    assert!(
        other
            .find_active(&second_token, now)
            .await
            .unwrap()
            .is_none()
    );
    let disable_delay = time_until(move || async move {
        here_ref
            .find_active(&second_token, now)
            .await
            .unwrap()
            .is_none()
    })
    .await;

    // Removing the member.
    MemberRepo::remove(&store, org.id, user.id).await.unwrap();
    assert!(
        store
            .find_for_member(org.id, user.id)
            .await
            .unwrap()
            .is_none()
    );
    time_until(move || async move {
        other_ref
            .find_for_member(org_id, user_id)
            .await
            .unwrap()
            .is_none()
    })
    .await;

    // The bound is the poll: well inside the trust window.
    for delay in [role_delay, revoke_delay, disable_delay] {
        assert!(delay <= super::auth_cache::TRUST_WINDOW, "{delay:?}");
    }
    watch.abort();
}

/// A chatbot of `org` named `slug`, with a new extractive provider of its own.
async fn insert_chatbot(store: &SqlStore, org: OrgId, slug: &str) -> docent_chat::Chatbot {
    use docent_chat::{
        Chatbot, ChatbotRepo, CitationStyle, KnowledgeScope, RetrievalSettings, Tone,
    };
    use docent_kernel::{ChatbotId, ProviderId};
    use docent_providers::{Provider, ProviderKind, ProviderRepo};

    let now = Utc::now().trunc_subsecs(6);
    let provider = Provider {
        id: ProviderId::generate(),
        org_id: org,
        name: format!("Provider of {slug}"),
        kind: ProviderKind::Extractive,
        base_url: None,
        default_model: None,
        api_version: None,
        api_key_last4: None,
        timeout_secs: 60,
        created_at: now,
        updated_at: now,
    };
    ProviderRepo::insert(store, &provider, None).await.unwrap();
    let bot = Chatbot {
        id: ChatbotId::generate(),
        org_id: org,
        name: slug.to_owned(),
        slug: Slug::parse(slug).unwrap(),
        provider_id: provider.id,
        model: None,
        system_prompt: "Be useful.".into(),
        tone: Tone::Template("concise".into()),
        temperature: 0.25,
        max_answer_tokens: 300,
        context_window: 4096,
        retrieval: RetrievalSettings {
            top_k: 4,
            min_score: 0.35,
        },
        knowledge: KnowledgeScope::All,
        welcome_message: None,
        fallback_answer: "No idea.".into(),
        citation_style: CitationStyle::Footnotes,
        created_at: now,
        updated_at: now,
    };
    ChatbotRepo::insert(store, &bot).await.unwrap();
    bot
}

/// Lists an organization's chatbots until what was read is kept: the last write's epoch may reach
/// this store's poll after the read and empty the cache once more (on a loaded machine).
async fn list_until_kept(
    store: &SqlStore,
    org: OrgId,
    page: &PageRequest,
) -> Vec<docent_chat::Chatbot> {
    let started = std::time::Instant::now();
    loop {
        let listed = docent_chat::ChatbotRepo::list(store, org, None, page)
            .await
            .unwrap();
        if store.auth.chatbots(org).is_some() {
            return listed;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(5),
            "the chatbots read were never kept"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

async fn kept_chatbots_follow_every_change_here_at_once_and_elsewhere_within_the_window(
    store: SqlStore,
) {
    use docent_chat::ChatbotRepo;

    let other = SqlStore::with_auth_cache(store.connection().clone());
    let watch = other.watch_auth_epoch();
    trusted(&other).await;
    let owner = insert_user(&store, "kept-bots@example.com").await;
    let org = new_org(&store, owner.id, "Kept bots").await.id;
    let first = insert_chatbot(&store, org, "first").await;
    let page = PageRequest::new(None, None).unwrap();

    // Both processes read the organization's chatbots and keep them.
    for process in [&store, &other] {
        let listed = list_until_kept(process, org, &page).await;
        assert_eq!(listed, std::slice::from_ref(&first));
        assert!(matches!(
            process.auth.chatbots(org),
            Some(super::auth_cache::OrgChatbots::All(_))
        ));
    }

    // A new chatbot: listed here at once, there within the window.
    let second = insert_chatbot(&store, org, "second").await;
    let mut both = vec![first.clone(), second.clone()];
    both.sort_by_key(|b| b.id.as_uuid());
    assert_eq!(
        ChatbotRepo::list(&store, org, None, &page).await.unwrap(),
        both
    );
    let (other_ref, page_ref) = (&other, &page);
    let created = time_until(move || async move {
        ChatbotRepo::list(other_ref, org, None, page_ref)
            .await
            .unwrap()
            .len()
            == 2
    })
    .await;

    // Pages, allow-lists, slugs and ids are answered from what is kept as the database would.
    let one = PageRequest::new(Some(1), None).unwrap();
    let head = ChatbotRepo::list(&other, org, None, &one).await.unwrap();
    assert_eq!(head, both, "one item and the look-ahead");
    let only = ChatbotRepo::list(&other, org, Some(&[second.id]), &page)
        .await
        .unwrap();
    assert_eq!(only, std::slice::from_ref(&second));
    assert_eq!(
        other.by_slug(org, "second").await.unwrap().map(|b| b.id),
        Some(second.id)
    );
    assert_eq!(other.by_slug(org, "SECOND").await.unwrap(), None);
    assert_eq!(
        ChatbotRepo::get(&other, org, first.id).await.unwrap(),
        Some(first.clone())
    );
    let elsewhere = new_org(&store, owner.id, "Elsewhere").await.id;
    assert_eq!(
        ChatbotRepo::get(&other, elsewhere, first.id).await.unwrap(),
        None
    );

    // A change, through the other process this time.
    let renamed = docent_chat::Chatbot {
        name: "Renamed".into(),
        ..first.clone()
    };
    assert!(ChatbotRepo::update(&other, &renamed).await.unwrap());
    assert_eq!(
        ChatbotRepo::get(&other, org, first.id).await.unwrap(),
        Some(renamed.clone())
    );
    let store_ref = &store;
    let (first_id, updated) = (first.id, renamed.clone());
    let changed = time_until(move || {
        let updated = updated.clone();
        async move { ChatbotRepo::get(store_ref, org, first_id).await.unwrap() == Some(updated) }
    })
    .await;

    // A deletion.
    assert!(ChatbotRepo::delete(&store, org, second.id).await.unwrap());
    assert_eq!(
        ChatbotRepo::get(&store, org, second.id).await.unwrap(),
        None
    );
    let second_id = second.id;
    let deleted = time_until(move || async move {
        other_ref.by_slug(org, "second").await.unwrap().is_none()
            && ChatbotRepo::get(other_ref, org, second_id)
                .await
                .unwrap()
                .is_none()
    })
    .await;
    for delay in [created, changed, deleted] {
        assert!(delay <= super::auth_cache::TRUST_WINDOW, "{delay:?}");
    }
    watch.abort();
}

async fn organizations_with_many_chatbots_are_read_from_the_database(store: SqlStore) {
    use docent_chat::ChatbotRepo;

    let owner = insert_user(&store, "many-bots@example.com").await;
    let org = new_org(&store, owner.id, "Many bots").await.id;
    let mut ids = Vec::new();
    for n in 0..=super::auth_cache::MAX_CHATBOTS_PER_ORG {
        ids.push(insert_chatbot(&store, org, &format!("bot-{n}")).await.id);
    }
    ids.sort_by_key(|id| id.as_uuid());
    let page = PageRequest::new(Some(200), None).unwrap();
    let listed = list_until_kept(&store, org, &page).await;
    assert_eq!(listed.len(), 201, "a page and the look-ahead");
    assert!(matches!(
        store.auth.chatbots(org),
        Some(super::auth_cache::OrgChatbots::TooMany)
    ));
    let last = *ids.last().unwrap();
    assert_eq!(
        ChatbotRepo::get(&store, org, last)
            .await
            .unwrap()
            .map(|b| b.id),
        Some(last)
    );
    let after = docent_kernel::Cursor::after(ids[199].as_uuid()).encode();
    let cursor = PageRequest::new(Some(200), Some(&after)).unwrap();
    let rest = ChatbotRepo::list(&store, org, None, &cursor).await.unwrap();
    assert_eq!(rest.iter().map(|b| b.id).collect::<Vec<_>>(), [last]);
}
