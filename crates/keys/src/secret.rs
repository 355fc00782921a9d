//! The key format: `dk_live_` (or `dk_pub_` for a publishable key, made to sit in a web page) +
//! 43 random base62 characters (256 bits) + a 6-character base62 CRC32 checksum of everything
//! before it.
//!
//! The checksum lets a mistyped or truncated key be refused before any database lookup; it is no
//! protection against forgery (the 256 random bits are). Only the SHA-256 hash of a key is stored.

use docent_kernel::{SecretString, TokenHash};
use rand::Rng as _;
use rand::distr::Alphanumeric;

/// The visible prefix of every live key; it makes leaked keys recognisable to secret scanners.
pub const PREFIX: &str = "dk_live_";
const RANDOM_LEN: usize = 43;
const CHECKSUM_LEN: usize = 6;
/// The visible prefix of a publishable key (the chat widget's, safe in a web page).
pub const PUBLISHABLE_PREFIX: &str = "dk_pub_";
/// The length of a whole live key.
pub const KEY_LEN: usize = PREFIX.len() + RANDOM_LEN + CHECKSUM_LEN;
/// How many characters after the prefix are kept in clear to tell keys apart in lists.
const SHOWN_AFTER_PREFIX: usize = 4;

const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// Why a presented string is not a well-formed key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum KeyFormatError {
    /// It does not start with `dk_live_`.
    #[error("not an API key")]
    Prefix,
    /// Wrong length or characters.
    #[error("malformed API key")]
    Shape,
    /// The checksum does not match: a typo or a truncated key.
    #[error("API key checksum mismatch")]
    Checksum,
}

/// What is stored and shown of a key: its hash, and a prefix and last four characters for people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyParts {
    /// The SHA-256 hash of the whole key.
    pub hash: TokenHash,
    /// The first characters (`dk_live_` and four more).
    pub prefix: String,
    /// The last four characters.
    pub last4: String,
}

fn checksum(body: &str) -> String {
    let mut value = u64::from(crc32fast::hash(body.as_bytes()));
    let mut out = [b'0'; CHECKSUM_LEN];
    for slot in out.iter_mut().rev() {
        // `value % 62` is below 62, so the index is always in range.
        *slot = BASE62[usize::try_from(value % 62).unwrap_or(0)];
        value /= 62;
    }
    out.iter().map(|&b| char::from(b)).collect()
}

fn parts_of(key: &str) -> KeyParts {
    KeyParts {
        hash: TokenHash::of(key),
        prefix: key
            .chars()
            .take(prefix_of(key).map_or(0, str::len) + SHOWN_AFTER_PREFIX)
            .collect(),
        last4: key.chars().skip(key.len().saturating_sub(4)).collect(),
    }
}

/// The prefix `key` starts with, if it is one of ours.
fn prefix_of(key: &str) -> Option<&'static str> {
    [PREFIX, PUBLISHABLE_PREFIX]
        .into_iter()
        .find(|p| key.starts_with(p))
}

/// A fresh key (shown to its creator once) and what is stored of it.
#[must_use]
pub fn generate() -> (SecretString, KeyParts) {
    generate_with(PREFIX)
}

/// A fresh publishable key (`dk_pub_…`) and what is stored of it.
#[must_use]
pub fn generate_publishable() -> (SecretString, KeyParts) {
    generate_with(PUBLISHABLE_PREFIX)
}

fn generate_with(prefix: &str) -> (SecretString, KeyParts) {
    let random: String = rand::rng()
        .sample_iter(Alphanumeric)
        .take(RANDOM_LEN)
        .map(char::from)
        .collect();
    let body = format!("{prefix}{random}");
    let key = format!("{body}{}", checksum(&body));
    let parts = parts_of(&key);
    (SecretString::from(key), parts)
}

/// Whether `presented` is shaped like a publishable key (its prefix only; nothing is checked).
#[must_use]
pub fn is_publishable(presented: &str) -> bool {
    presented.starts_with(PUBLISHABLE_PREFIX)
}

/// Checks a presented key's shape and checksum, without any lookup.
pub fn parse(presented: &str) -> Result<KeyParts, KeyFormatError> {
    let Some(prefix) = prefix_of(presented) else {
        return Err(KeyFormatError::Prefix);
    };
    let len = prefix.len() + RANDOM_LEN + CHECKSUM_LEN;
    if presented.len() != len
        || !presented[prefix.len()..]
            .bytes()
            .all(|b| b.is_ascii_alphanumeric())
    {
        return Err(KeyFormatError::Shape);
    }
    let (body, sum) = presented.split_at(len - CHECKSUM_LEN);
    if checksum(body) != sum {
        return Err(KeyFormatError::Checksum);
    }
    Ok(parts_of(presented))
}

#[cfg(test)]
mod tests {
    use docent_kernel::ExposeSecret as _;

    use super::*;

    #[test]
    fn generated_keys_round_trip() {
        let (key, parts) = generate();
        let key = key.expose_secret();
        assert_eq!(key.len(), KEY_LEN);
        assert!(key.starts_with("dk_live_"));
        assert_eq!(parse(key), Ok(parts.clone()));
        assert_eq!(parts.hash, TokenHash::of(key));
        assert!(key.starts_with(&parts.prefix) && key.ends_with(&parts.last4));
        assert_eq!(parts.prefix.len(), 12);
    }

    #[test]
    fn publishable_keys_round_trip_and_say_what_they_are() {
        let (key, parts) = generate_publishable();
        let key = key.expose_secret();
        assert!(key.starts_with("dk_pub_") && is_publishable(key));
        assert_eq!(key.len(), KEY_LEN - 1);
        assert_eq!(parse(key), Ok(parts.clone()));
        assert_eq!(parts.prefix.len(), "dk_pub_".len() + 4);
        assert!(key.ends_with(&parts.last4));
        let (live, _) = generate();
        assert!(!is_publishable(live.expose_secret()));
        // A live key's body under the publishable prefix fails its checksum.
        let swapped = live.expose_secret().replacen("dk_live_", "dk_pub_", 1);
        assert!(parse(&swapped).is_err());
    }

    #[test]
    fn every_single_character_typo_is_caught_by_the_checksum_or_the_shape() {
        let (key, _) = generate();
        let key = key.expose_secret().to_owned();
        for i in PREFIX.len()..key.len() {
            let mut typo = key.clone().into_bytes();
            typo[i] = if typo[i] == b'a' { b'b' } else { b'a' };
            let typo = String::from_utf8(typo).unwrap();
            assert!(parse(&typo).is_err(), "typo at {i} accepted");
        }
    }

    #[test]
    fn malformed_keys_are_refused_before_lookup() {
        let (key, _) = generate();
        let key = key.expose_secret();
        assert_eq!(parse(""), Err(KeyFormatError::Prefix));
        assert_eq!(parse("dss_whatever"), Err(KeyFormatError::Prefix));
        assert_eq!(parse(&key[..KEY_LEN - 1]), Err(KeyFormatError::Shape));
        assert_eq!(parse(&format!("{key}x")), Err(KeyFormatError::Shape));
        let mut bad = key.to_owned();
        bad.replace_range(10..11, "-");
        assert_eq!(parse(&bad), Err(KeyFormatError::Shape));
    }

    proptest::proptest! {
        /// Any key body with its checksum parses back to its own hash, prefix and last four.
        #[test]
        fn every_well_formed_key_round_trips(random in "[0-9A-Za-z]{43}") {
            let body = format!("{PREFIX}{random}");
            let key = format!("{body}{}", checksum(&body));
            let parts = parse(&key).unwrap();
            proptest::prop_assert_eq!(parts.hash, TokenHash::of(&key));
            proptest::prop_assert!(key.starts_with(&parts.prefix));
            proptest::prop_assert!(key.ends_with(&parts.last4));
        }

        /// Changing any one character after the prefix to any other is caught.
        #[test]
        fn any_one_character_change_is_refused(
            random in "[0-9A-Za-z]{43}",
            at in PREFIX.len()..KEY_LEN,
            other in proptest::char::any(),
        ) {
            let body = format!("{PREFIX}{random}");
            let key = format!("{body}{}", checksum(&body));
            let original = key.chars().nth(at).unwrap();
            proptest::prop_assume!(other != original);
            let changed: String = key
                .chars()
                .enumerate()
                .map(|(i, c)| if i == at { other } else { c })
                .collect();
            proptest::prop_assert!(parse(&changed).is_err(), "{changed} was accepted");
        }

        /// Arbitrary strings never panic the parser, and are refused unless they have the shape.
        #[test]
        fn arbitrary_strings_are_refused_without_panicking(presented in ".{0,80}") {
            if parse(&presented).is_ok() {
                proptest::prop_assert_eq!(presented.len(), KEY_LEN);
                proptest::prop_assert!(presented.starts_with(PREFIX));
            }
        }
    }

    #[test]
    fn keys_are_unique_and_hashes_differ() {
        let (a, pa) = generate();
        let (b, pb) = generate();
        assert_ne!(a.expose_secret(), b.expose_secret());
        assert_ne!(pa.hash, pb.hash);
    }
}
