//! Slugs: URL-safe handles (organizations, chatbots), 2 to 48 of `a-z`, `0-9` and inner single
//! dashes.

/// A validated slug.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Slug(String);

impl Slug {
    /// The longest slug.
    pub const MAX_LEN: usize = 48;

    /// Validates a slug given by a client.
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        let ok_chars = raw
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if raw.len() < 2 || raw.len() > Self::MAX_LEN {
            return Err("a slug has 2 to 48 characters");
        }
        if !ok_chars || raw.starts_with('-') || raw.ends_with('-') || raw.contains("--") {
            return Err("a slug has only a-z, 0-9 and single inner dashes");
        }
        Ok(Self(raw.to_owned()))
    }

    /// Derives a slug from a name: ASCII letters and digits kept (lower-cased), everything else
    /// collapsed to single dashes, short enough to take a suffix; `fallback` when nothing is left.
    #[must_use]
    pub fn derive(name: &str, fallback: &'static str) -> Self {
        let mut slug = String::new();
        for c in name.chars() {
            if c.is_ascii_alphanumeric() {
                slug.push(c.to_ascii_lowercase());
            } else if !slug.ends_with('-') && !slug.is_empty() {
                slug.push('-');
            }
        }
        let mut slug: String = slug.chars().take(Self::MAX_LEN - 7).collect();
        while slug.ends_with('-') {
            slug.pop();
        }
        if slug.len() < 2 {
            fallback.clone_into(&mut slug);
        }
        Self(slug)
    }

    /// This slug with a suffix, to resolve a clash.
    #[must_use]
    pub fn with_suffix(&self, suffix: &str) -> Self {
        Self(format!("{}-{suffix}", self.0))
    }

    /// The slug.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Slug {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_are_validated_and_derived() {
        assert!(Slug::parse("help-desk").is_ok());
        for bad in ["a", "-a", "a-", "a--b", "Ab", "a_b", &"a".repeat(49)] {
            assert!(Slug::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(
            Slug::derive("Help Desk (EU)!", "bot").as_str(),
            "help-desk-eu"
        );
        assert_eq!(Slug::derive("ü", "bot").as_str(), "bot");
        let long = Slug::derive(&"x".repeat(100), "bot");
        assert!(Slug::parse(long.with_suffix("abc123").as_str()).is_ok());
    }
}
