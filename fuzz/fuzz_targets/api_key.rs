//! The API-key parser on arbitrary strings: it never panics, and whatever it accepts is a key of
//! the documented shape whose hash is the hash of exactly that string.

#![no_main]

use docent_keys::secret::parse;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(presented) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(parts) = parse(presented) {
        assert!(presented.starts_with("dk_"));
        assert!(presented.starts_with(parts.prefix.as_str()));
        assert!(presented.ends_with(parts.last4.as_str()));
        assert_eq!(parse(presented).map(|p| p.hash), Ok(parts.hash));
    }
});
