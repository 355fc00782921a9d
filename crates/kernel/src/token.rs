//! Opaque bearer tokens (sessions, password resets, invitations).
//!
//! A token is a kind prefix plus 256 random bits in unpadded base64url. Only its SHA-256 hash is
//! stored; a presented token is checked for shape before any lookup, so an empty or malformed token
//! never reaches the database, and hashes are compared in constant time.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore as _;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;

/// The number of random bytes in a token.
const TOKEN_BYTES: usize = 32;
/// The length of the base64url body of a token.
const BODY_LEN: usize = 43;

/// What a token is for; the prefix keeps a token of one kind from being accepted as another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    /// A signed-in session.
    Session,
    /// A password-reset link.
    PasswordReset,
    /// An invitation to an organization.
    Invitation,
}

impl TokenKind {
    /// The visible prefix of tokens of this kind.
    #[must_use]
    pub const fn prefix(self) -> &'static str {
        match self {
            Self::Session => "dss_",
            Self::PasswordReset => "dsr_",
            Self::Invitation => "dsi_",
        }
    }

    /// A fresh random token of this kind and its hash. The token is shown to its owner once.
    #[must_use]
    pub fn generate(self) -> (SecretString, TokenHash) {
        let mut bytes = [0_u8; TOKEN_BYTES];
        rand::rng().fill_bytes(&mut bytes);
        let token = format!("{}{}", self.prefix(), URL_SAFE_NO_PAD.encode(bytes));
        let hash = TokenHash::of(&token);
        (SecretString::from(token), hash)
    }

    /// The hash of `presented` if it has the shape of a token of this kind, else `None`.
    #[must_use]
    pub fn parse(self, presented: &str) -> Option<TokenHash> {
        let body = presented.strip_prefix(self.prefix())?;
        let well_formed = body.len() == BODY_LEN
            && body
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        well_formed.then(|| TokenHash::of(presented))
    }

    /// Like [`TokenKind::parse`] for a secret.
    #[must_use]
    pub fn parse_secret(self, presented: &SecretString) -> Option<TokenHash> {
        self.parse(presented.expose_secret())
    }
}

/// The SHA-256 hash of a token: what is stored and looked up.
#[derive(Clone, Copy, Eq)]
pub struct TokenHash([u8; 32]);

impl TokenHash {
    /// Hashes a token.
    #[must_use]
    pub fn of(token: &str) -> Self {
        Self(Sha256::digest(token.as_bytes()).into())
    }

    /// Rebuilds a hash read from storage.
    #[must_use]
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The raw hash, for storage.
    #[must_use]
    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Lower-case hex, for storage in text columns.
    #[must_use]
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl PartialEq for TokenHash {
    /// Constant-time comparison.
    fn eq(&self, other: &Self) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

impl std::fmt::Debug for TokenHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenHash(..)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_tokens_parse_back_to_their_hash() {
        let (token, hash) = TokenKind::Session.generate();
        assert!(token.expose_secret().starts_with("dss_"));
        assert_eq!(TokenKind::Session.parse_secret(&token), Some(hash));
    }

    #[test]
    fn tokens_of_another_kind_or_shape_never_match() {
        let (token, _) = TokenKind::PasswordReset.generate();
        assert_eq!(TokenKind::Session.parse_secret(&token), None);
        assert_eq!(TokenKind::PasswordReset.parse(""), None);
        assert_eq!(TokenKind::PasswordReset.parse("dsr_"), None);
        assert_eq!(TokenKind::PasswordReset.parse("dsr_short"), None);
        let too_long = format!("{}x", token.expose_secret());
        assert_eq!(TokenKind::PasswordReset.parse(&too_long), None);
        let bad_char = format!("dsr_{}", "!".repeat(43));
        assert_eq!(TokenKind::PasswordReset.parse(&bad_char), None);
    }

    #[test]
    fn two_tokens_differ() {
        let (a, ha) = TokenKind::Invitation.generate();
        let (b, hb) = TokenKind::Invitation.generate();
        assert_ne!(a.expose_secret(), b.expose_secret());
        assert_ne!(ha, hb);
        assert_eq!(ha.to_hex().len(), 64);
    }
}
