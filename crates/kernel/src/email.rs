//! E-mail addresses, normalized so that uniqueness is case-insensitive.

use std::fmt;

/// A syntactically plausible e-mail address, trimmed and lower-cased.
///
/// Deliverability is not checked: the address is only ever used as a login name and a mail target.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

/// Why a string is not accepted as an e-mail address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a valid e-mail address: {0}")]
pub struct EmailError(&'static str);

impl Email {
    /// The longest address SMTP can carry.
    pub const MAX_LEN: usize = 254;

    /// Normalizes (trim, lower-case) and validates an address.
    pub fn parse(raw: &str) -> Result<Self, EmailError> {
        let normalized = raw.trim().to_lowercase();
        if normalized.is_empty() {
            return Err(EmailError("it is empty"));
        }
        if normalized.len() > Self::MAX_LEN {
            return Err(EmailError("it is longer than 254 bytes"));
        }
        if normalized
            .chars()
            .any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(EmailError("it contains white space or control characters"));
        }
        let Some((local, domain)) = normalized.rsplit_once('@') else {
            return Err(EmailError("it has no @"));
        };
        if local.is_empty() || local.len() > 64 || local.contains('@') {
            return Err(EmailError(
                "the part before @ is empty, too long or contains @",
            ));
        }
        let domain_ok = domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !domain.contains("..")
            && !domain.starts_with('-');
        if !domain_ok {
            return Err(EmailError("the domain is not of the form name.tld"));
        }
        Ok(Self(normalized))
    }

    /// The normalized address.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The part before the `@`.
    #[must_use]
    pub fn local_part(&self) -> &str {
        self.0
            .rsplit_once('@')
            .map_or(self.0.as_str(), |(local, _)| local)
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Email({})", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_case_and_white_space() {
        let email = Email::parse("  Alice.Smith@Example.COM ").unwrap();
        assert_eq!(email.as_str(), "alice.smith@example.com");
        assert_eq!(email.local_part(), "alice.smith");
    }

    #[test]
    fn rejects_malformed_addresses() {
        for bad in [
            "",
            "   ",
            "alice",
            "@example.com",
            "alice@",
            "alice@localhost",
            "alice@.example.com",
            "alice@example..com",
            "al ice@example.com",
            "a@b@example.com",
            "alice@exa\tmple.com",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?} accepted");
        }
        assert!(Email::parse(&format!("{}@example.com", "a".repeat(65))).is_err());
        assert!(Email::parse(&format!("a@{}.com", "b".repeat(260))).is_err());
    }
}
