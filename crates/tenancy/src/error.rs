//! Errors of the tenancy service.

use docent_kernel::{ErrorKind, PagingError, StoreError};

/// Why a tenancy operation failed. Messages are safe to show to clients.
#[derive(Debug, thiserror::Error)]
pub enum TenancyError {
    /// A field is invalid.
    #[error("invalid {field}: {reason}")]
    Invalid {
        /// The field.
        field: &'static str,
        /// Why.
        reason: String,
    },
    /// The organization does not exist or the caller is not a member.
    #[error("organization not found")]
    OrgNotFound,
    /// The caller's role does not allow this.
    #[error("your role in this organization does not allow this")]
    Forbidden,
    /// The user is not a member of the organization.
    #[error("member not found")]
    MemberNotFound,
    /// The invitation does not exist (in this organization).
    #[error("invitation not found")]
    InvitationNotFound,
    /// The invitation token is malformed, unknown, accepted, revoked or expired.
    #[error("the invitation is invalid or expired")]
    InvalidInvitation,
    /// The invitation is for another e-mail address.
    #[error("this invitation was sent to another e-mail address")]
    InvitationEmailMismatch,
    /// The change would leave the organization without an owner.
    #[error("an organization must keep at least one owner")]
    LastOwner,
    /// The user is already a member.
    #[error("this user is already a member of the organization")]
    AlreadyMember,
    /// The slug is taken.
    #[error("this slug is taken")]
    SlugTaken,
    /// The organization sent its day's worth of invitations, or the client asked too often.
    #[error("too many invitations: {0}; retry later")]
    TooManyInvitations(
        /// Which limit, in words.
        &'static str,
        /// How long to wait.
        std::time::Duration,
    ),
    /// The invitation mail could not be sent.
    #[error("the invitation e-mail could not be sent; try again later")]
    MailUnavailable,
    /// Paging parameters are invalid.
    #[error(transparent)]
    Paging(#[from] PagingError),
    /// Storage failed.
    #[error("storage failure")]
    Store(#[from] StoreError),
}

impl TenancyError {
    /// The kind of this failure.
    #[must_use]
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::Invalid { .. } | Self::Paging(_) | Self::InvalidInvitation => {
                ErrorKind::InvalidInput
            }
            Self::OrgNotFound | Self::MemberNotFound | Self::InvitationNotFound => {
                ErrorKind::NotFound
            }
            Self::Forbidden | Self::InvitationEmailMismatch => ErrorKind::Forbidden,
            Self::LastOwner | Self::AlreadyMember | Self::SlugTaken => ErrorKind::Conflict,
            Self::MailUnavailable => ErrorKind::Unavailable,
            Self::TooManyInvitations(..) => ErrorKind::RateLimited,
            Self::Store(e) => e.kind(),
        }
    }
}
