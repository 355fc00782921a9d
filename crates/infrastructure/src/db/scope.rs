//! The one tenant filter of the relational store: every table whose rows belong to an organization
//! implements [`OrgScoped`], and every read, change and deletion of such rows starts from
//! [`OrgScoped::of`], [`OrgScoped::update_of`] or [`OrgScoped::delete_of`] (or adds
//! [`OrgScoped::in_org`] to a join). No repository writes `org_id = …` by hand.

use docent_kernel::OrgId;
use sea_orm::{
    ColumnTrait as _, Condition, DeleteMany, EntityTrait, QueryFilter as _, Select, UpdateMany,
};

use super::entity;

/// A table whose rows belong to one organization.
pub(crate) trait OrgScoped: EntityTrait {
    /// The column that holds a row's organization.
    fn org_column() -> Self::Column;

    /// "The row belongs to `org`".
    fn in_org(org: OrgId) -> Condition {
        Condition::all().add(Self::org_column().eq(org.as_uuid()))
    }

    /// The rows of `org`, to read.
    fn of(org: OrgId) -> Select<Self> {
        Self::find().filter(Self::in_org(org))
    }

    /// The rows of `org`, to change.
    fn update_of(org: OrgId) -> UpdateMany<Self> {
        Self::update_many().filter(Self::in_org(org))
    }

    /// The rows of `org`, to delete.
    fn delete_of(org: OrgId) -> DeleteMany<Self> {
        Self::delete_many().filter(Self::in_org(org))
    }
}

macro_rules! org_scoped {
    ($($table:ident),* $(,)?) => {
        $(
            impl OrgScoped for entity::$table::Entity {
                fn org_column() -> Self::Column {
                    entity::$table::Column::OrgId
                }
            }
        )*
    };
}

org_scoped!(
    memberships,
    invitations,
    api_keys,
    audit_events,
    usage_daily,
    documents,
    document_chunks,
    jobs,
    providers,
    chatbots,
    conversations,
    chat_messages,
);
