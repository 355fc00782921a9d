//! Tenancy: organizations, memberships and roles, invitations, and the authorization policy that
//! turns "user U asks to do P in org O" into a [`docent_kernel::TenantCtx`] or a refusal.

pub mod error;
pub mod model;
pub mod policy;
pub mod ports;
pub mod service;
#[cfg(test)]
mod service_tests;

pub use docent_kernel::Slug;
pub use error::TenancyError;
pub use model::{Invitation, IssuedInvitation, Member, OrgName, OrgWithRole, Organization, Role};
pub use policy::{OrgAccess, Permission};
pub use ports::{InvitationRepo, MemberRepo, OrgRepo};
pub use service::{OrgUpdate, TenancyConfig, TenancyPorts, TenancyService};
