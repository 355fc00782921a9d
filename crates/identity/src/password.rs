//! The password policy and argon2id hashing.
//!
//! Policy (also in the README): at least 10 and at most 256 characters; characters from at least two
//! of the classes lower-case letters, upper-case letters, digits and everything else; not one of the
//! commonly used passwords below (compared case-insensitively); and not containing the part of the
//! account's e-mail address before the `@` when that part has four or more characters.

use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
use argon2::{Algorithm, Argon2, Params, Version};
use docent_kernel::Email;

/// Common passwords that pass the length and class rules but must still be refused.
const COMMON_PASSWORDS: &[&str] = &[
    "password123",
    "password1!",
    "password12",
    "password1234",
    "passw0rd123",
    "p@ssw0rd123",
    "p@ssword123",
    "p@ssw0rd12",
    "qwerty1234",
    "qwerty12345",
    "qwerty123456",
    "qwertyuiop1",
    "1q2w3e4r5t",
    "1q2w3e4r5t6y",
    "1qaz2wsx3edc",
    "zaq12wsxcde3",
    "abc1234567",
    "abcd123456",
    "a123456789",
    "123456789a",
    "1234567890a",
    "iloveyou123",
    "letmein123",
    "welcome123",
    "welcome1234",
    "changeme123",
    "administrator1",
    "admin12345",
    "admin123456",
    "football123",
    "baseball123",
    "sunshine123",
    "princess123",
    "monkey12345",
    "dragon12345",
    "starwars123",
    "trustno1234",
    "superman123",
    "michael123",
    "computer123",
];

/// The rule a password broke; the message is shown to the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum WeakPassword {
    /// Fewer than 10 characters.
    #[error("the password must have at least 10 characters")]
    TooShort,
    /// More than 256 characters.
    #[error("the password must have at most 256 characters")]
    TooLong,
    /// Only one character class.
    #[error(
        "the password must mix at least two of: lower-case letters, upper-case letters, digits, other characters"
    )]
    SingleClass,
    /// A commonly used password.
    #[error("the password is too common")]
    Common,
    /// Contains the e-mail address's local part.
    #[error("the password must not contain your e-mail address")]
    ContainsEmail,
}

/// The password policy; see the module documentation.
#[derive(Debug, Clone, Copy, Default)]
pub struct PasswordPolicy;

impl PasswordPolicy {
    /// The minimum length in characters.
    pub const MIN_CHARS: usize = 10;
    /// The maximum length in characters.
    pub const MAX_CHARS: usize = 256;

    /// Checks `password` for the account with address `email`.
    pub fn check(&self, password: &str, email: &Email) -> Result<(), WeakPassword> {
        let chars = password.chars().count();
        if chars < Self::MIN_CHARS {
            return Err(WeakPassword::TooShort);
        }
        if chars > Self::MAX_CHARS {
            return Err(WeakPassword::TooLong);
        }
        let (mut lower, mut upper, mut digit, mut other) = (false, false, false, false);
        for c in password.chars() {
            if c.is_lowercase() {
                lower = true;
            } else if c.is_uppercase() {
                upper = true;
            } else if c.is_numeric() {
                digit = true;
            } else {
                other = true;
            }
        }
        if [lower, upper, digit, other].iter().filter(|&&x| x).count() < 2 {
            return Err(WeakPassword::SingleClass);
        }
        let folded = password.to_lowercase();
        if COMMON_PASSWORDS.contains(&folded.as_str()) {
            return Err(WeakPassword::Common);
        }
        let local = email.local_part();
        if local.chars().count() >= 4 && folded.contains(local) {
            return Err(WeakPassword::ContainsEmail);
        }
        Ok(())
    }
}

/// Hashes and verifies passwords with argon2id at OWASP's parameters (m = 19 MiB, t = 2, p = 1).
///
/// Both operations are CPU-bound (tens of milliseconds): async callers run them on a blocking thread.
#[derive(Clone)]
pub struct PasswordHasher {
    argon: Argon2<'static>,
}

impl std::fmt::Debug for PasswordHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PasswordHasher(argon2id)")
    }
}

impl Default for PasswordHasher {
    fn default() -> Self {
        Self::new()
    }
}

impl PasswordHasher {
    /// The hasher with OWASP's recommended argon2id parameters.
    #[must_use]
    pub fn new() -> Self {
        let params = Params::default();
        debug_assert_eq!(
            (params.m_cost(), params.t_cost(), params.p_cost()),
            (19 * 1024, 2, 1)
        );
        Self {
            argon: Argon2::new(Algorithm::Argon2id, Version::V0x13, params),
        }
    }

    /// Hashes a password into a PHC string with a random salt.
    pub fn hash(&self, password: &str) -> Result<String, String> {
        self.argon
            .hash_password(password.as_bytes())
            .map(|hash| hash.to_string())
            .map_err(|e| e.to_string())
    }

    /// Whether `password` matches the PHC string `stored`. A malformed stored hash never matches.
    #[must_use]
    pub fn verify(&self, password: &str, stored: &str) -> bool {
        PasswordHash::new(stored)
            .map(|parsed| {
                self.argon
                    .verify_password(password.as_bytes(), &parsed)
                    .is_ok()
            })
            .unwrap_or(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn email() -> Email {
        Email::parse("alice.smith@example.com").unwrap()
    }

    #[test]
    fn policy_accepts_a_reasonable_password() {
        assert_eq!(
            PasswordPolicy.check("correct horse battery", &email()),
            Ok(())
        );
        assert_eq!(PasswordPolicy.check("Tr0ub4dor&3x", &email()), Ok(()));
    }

    #[test]
    fn policy_refuses_each_weakness() {
        let e = email();
        assert_eq!(
            PasswordPolicy.check("Short1!", &e),
            Err(WeakPassword::TooShort)
        );
        assert_eq!(
            PasswordPolicy.check(&"aB1".repeat(90), &e),
            Err(WeakPassword::TooLong)
        );
        assert_eq!(
            PasswordPolicy.check("abcdefghijkl", &e),
            Err(WeakPassword::SingleClass)
        );
        assert_eq!(
            PasswordPolicy.check("1234567890", &e),
            Err(WeakPassword::SingleClass)
        );
        assert_eq!(
            PasswordPolicy.check("Password123", &e),
            Err(WeakPassword::Common)
        );
        assert_eq!(
            PasswordPolicy.check("xx-Alice.Smith-99", &e),
            Err(WeakPassword::ContainsEmail)
        );
    }

    #[test]
    fn hashes_are_argon2id_salted_and_verify() {
        let hasher = PasswordHasher::new();
        let a = hasher.hash("correct horse battery").unwrap();
        let b = hasher.hash("correct horse battery").unwrap();
        assert!(a.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{a}");
        assert_ne!(a, b);
        assert!(hasher.verify("correct horse battery", &a));
        assert!(!hasher.verify("correct horse batterY", &a));
        assert!(!hasher.verify("correct horse battery", "not a hash"));
    }
}
