//! Identity: user accounts, password hashing (argon2id) and the password policy, sessions, and
//! password reset. It knows nothing of organizations; `docent-tenancy` builds on its user ids.

pub mod error;
pub mod model;
pub mod password;
pub mod ports;
pub mod service;
#[cfg(test)]
mod service_tests;

pub use error::IdentityError;
pub use model::{
    DisplayName, IssuedSession, NewSessionInfo, PasswordReset, Principal, Session, User,
};
pub use password::{PasswordHasher, PasswordPolicy, WeakPassword};
pub use ports::{LoginThrottle, PasswordResetRepo, SessionRepo, UserRepo};
pub use service::{IdentityConfig, IdentityPorts, IdentityService, PasswordResetJob};
