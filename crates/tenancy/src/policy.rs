//! The authorization policy: which role may do what inside an organization.

use docent_kernel::TenantCtx;

use crate::model::{Organization, Role};

/// Something a member may or may not do in an organization.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permission {
    /// See the organization and its members.
    ReadOrg,
    /// Rename the organization or change its slug.
    UpdateOrg,
    /// Delete the organization.
    DeleteOrg,
    /// Change roles and remove members.
    ManageMembers,
    /// Invite people and revoke invitations.
    ManageInvitations,
    /// Create, list and revoke API keys, and read the audit log.
    ManageKeys,
    /// Read the organization's content (documents, chatbots, conversations).
    ReadContent,
    /// Change the organization's content.
    WriteContent,
    /// Create, change and delete model provider connections (they hold API keys).
    ManageProviders,
}

impl Permission {
    /// The least powerful role that has this permission.
    #[must_use]
    pub const fn minimum_role(self) -> Role {
        match self {
            Self::ReadOrg | Self::ReadContent => Role::Viewer,
            Self::WriteContent => Role::Member,
            Self::UpdateOrg
            | Self::ManageMembers
            | Self::ManageInvitations
            | Self::ManageKeys
            | Self::ManageProviders => Role::Admin,
            Self::DeleteOrg => Role::Owner,
        }
    }

    /// Whether `role` has this permission.
    #[must_use]
    pub const fn allowed_for(self, role: Role) -> bool {
        role.at_least(self.minimum_role())
    }
}

/// Proof that a user is a member of an organization with a role that allows a permission: the only
/// way to obtain a [`TenantCtx`] for a user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrgAccess {
    /// The tenant context for services.
    pub tenant: TenantCtx,
    /// The organization.
    pub org: Organization,
    /// The user's role in it.
    pub role: Role,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_inherit_the_permissions_of_weaker_roles() {
        use Permission::*;
        let matrix: [(Role, [bool; 9]); 4] = [
            (
                Role::Viewer,
                [true, false, false, false, false, false, true, false, false],
            ),
            (
                Role::Member,
                [true, false, false, false, false, false, true, true, false],
            ),
            (
                Role::Admin,
                [true, true, false, true, true, true, true, true, true],
            ),
            (
                Role::Owner,
                [true, true, true, true, true, true, true, true, true],
            ),
        ];
        let permissions: [Permission; 9] = [
            ReadOrg,
            UpdateOrg,
            DeleteOrg,
            ManageMembers,
            ManageInvitations,
            ManageKeys,
            ReadContent,
            WriteContent,
            ManageProviders,
        ];
        for (role, expected) in matrix {
            for (permission, allowed) in permissions.iter().zip(expected) {
                assert_eq!(
                    permission.allowed_for(role),
                    allowed,
                    "{role} {permission:?}"
                );
            }
        }
    }
}
