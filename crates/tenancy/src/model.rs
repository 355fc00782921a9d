//! The tenancy domain's types.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use docent_kernel::{Email, InvitationId, OrgId, SecretString, Slug, UserId};

/// A member's role in an organization, from most to least powerful.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// Everything, including deleting the organization and managing owners.
    Owner,
    /// Manages members (except owners), invitations and the organization's settings.
    Admin,
    /// Uses and changes the organization's content.
    Member,
    /// Reads the organization's content.
    Viewer,
}

impl Role {
    /// Every role, most powerful first.
    pub const ALL: [Self; 4] = [Self::Owner, Self::Admin, Self::Member, Self::Viewer];

    /// The wire and storage name.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Owner => "owner",
            Self::Admin => "admin",
            Self::Member => "member",
            Self::Viewer => "viewer",
        }
    }

    /// Higher is more powerful.
    #[must_use]
    pub const fn rank(self) -> u8 {
        match self {
            Self::Owner => 3,
            Self::Admin => 2,
            Self::Member => 1,
            Self::Viewer => 0,
        }
    }

    /// Whether this role is at least as powerful as `other`.
    #[must_use]
    pub const fn at_least(self, other: Self) -> bool {
        self.rank() >= other.rank()
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| format!("unknown role {s:?}"))
    }
}

/// An organization's name: at most 100 characters and no control characters as given, not blank;
/// stored trimmed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrgName(String);

impl OrgName {
    /// Validates a name.
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Err("the name is empty");
        }
        if raw.chars().count() > 100 {
            return Err("the name is longer than 100 characters");
        }
        if raw.chars().any(char::is_control) {
            return Err("the name contains control characters");
        }
        Ok(Self(trimmed.to_owned()))
    }

    /// The name.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An organization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Organization {
    /// The id.
    pub id: OrgId,
    /// The display name.
    pub name: OrgName,
    /// The unique handle.
    pub slug: Slug,
    /// When it was created.
    pub created_at: DateTime<Utc>,
}

/// An organization together with the caller's role in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrgWithRole {
    /// The organization.
    pub org: Organization,
    /// The caller's role.
    pub role: Role,
}

/// A member of an organization, with the user's public details.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// The user.
    pub user_id: UserId,
    /// The user's e-mail address.
    pub email: Email,
    /// The user's display name.
    pub name: String,
    /// The role.
    pub role: Role,
    /// When the user joined.
    pub joined_at: DateTime<Utc>,
}

/// An invitation to join an organization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invitation {
    /// The id.
    pub id: InvitationId,
    /// The organization.
    pub org_id: OrgId,
    /// Who is invited; only a user with this address can accept.
    pub email: Email,
    /// The role given on acceptance.
    pub role: Role,
    /// Who invited.
    pub invited_by: UserId,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it stops working.
    pub expires_at: DateTime<Utc>,
}

/// An invitation just created, with its token (sent by mail, never stored in clear).
#[derive(Debug)]
pub struct IssuedInvitation {
    /// The invitation.
    pub invitation: Invitation,
    /// The token.
    pub token: SecretString,
}
