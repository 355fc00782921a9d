//! Provider API keys at rest: AES-256-GCM under a master key, a fresh 96-bit nonce per seal, the
//! organization and provider ids bound as associated data, and the master key's id stored with each
//! ciphertext so keys can be rotated.
//!
//! The master key comes from configuration (`secrets.master_key`, 32 bytes in base64). Without one,
//! docent generates a key file in the data directory (`master.key`, mode 0600) on first start; that
//! suits the embedded default. Earlier keys stay readable through `secrets.previous_master_keys` (and the
//! key file, when a configured key has replaced it) until `docent-api rotate-master-key` has
//! re-sealed everything under the current one.

use std::io::Write as _;
use std::path::Path;

use aes_gcm::aead::{Aead, KeyInit, OsRng, Payload};
use aes_gcm::{AeadCore, Aes256Gcm, Nonce};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use docent_kernel::{ExposeSecret as _, SecretString};
use docent_providers::{SealError, SealedKey, SecretBox};
use sha2::{Digest as _, Sha256};

/// The nonce length of AES-GCM.
const NONCE_BYTES: usize = 12;

/// A master key and its id.
struct MasterKey {
    id: String,
    cipher: Aes256Gcm,
}

impl MasterKey {
    fn from_bytes(bytes: &[u8; 32]) -> Self {
        // The id names the key without revealing it: the first 8 bytes of its SHA-256, in hex.
        let digest = Sha256::digest(bytes);
        Self {
            id: hex::encode(&digest[..8]),
            cipher: Aes256Gcm::new(bytes.into()),
        }
    }

    fn parse(encoded: &str) -> Result<Self, String> {
        let bytes = STANDARD
            .decode(encoded.trim())
            .map_err(|_| "a master key must be 32 bytes in base64".to_owned())?;
        let bytes: [u8; 32] = bytes
            .try_into()
            .map_err(|_| "a master key must be 32 bytes in base64".to_owned())?;
        Ok(Self::from_bytes(&bytes))
    }
}

/// AES-256-GCM sealing under the current master key, opening under any known one.
pub struct AesGcmBox {
    current: MasterKey,
    previous: Vec<MasterKey>,
}

impl std::fmt::Debug for AesGcmBox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AesGcmBox")
            .field("current", &self.current.id)
            .field(
                "previous",
                &self.previous.iter().map(|k| &k.id).collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl AesGcmBox {
    /// A box from base64 keys: the current one and earlier ones that may still have sealed data.
    pub fn new(current: &SecretString, previous: &[SecretString]) -> Result<Self, String> {
        let current = MasterKey::parse(current.expose_secret())?;
        let previous = previous
            .iter()
            .map(|k| MasterKey::parse(k.expose_secret()))
            .collect::<Result<Vec<_>, _>>()?
            .into_iter()
            .filter(|k| k.id != current.id)
            .collect();
        Ok(Self { current, previous })
    }

    /// The key in `path`, created (32 random bytes, base64, mode 0600) when missing. Creation is
    /// atomic: the key is written to a private temporary file that is then hard-linked into place,
    /// so processes starting together on a fresh data directory all end up with the one key that
    /// won, and none ever reads a half-written file.
    pub fn key_file(path: &Path) -> Result<SecretString, String> {
        match std::fs::read_to_string(path) {
            Ok(encoded) => {
                MasterKey::parse(&encoded).map_err(|e| format!("{}: {e}", path.display()))?;
                Ok(SecretString::from(encoded.trim().to_owned()))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key: [u8; 32] = Aes256Gcm::generate_key(OsRng).into();
                let encoded = STANDARD.encode(key);
                let suffix: [u8; 8] = Aes256Gcm::generate_nonce(&mut OsRng)[..8]
                    .try_into()
                    .map_err(|_| "cannot draw a random name".to_owned())?;
                let temporary = path.with_extension(format!("new-{}", hex::encode(suffix)));
                let written = write_private(&temporary, encoded.as_bytes());
                let linked = written.and_then(|()| std::fs::hard_link(&temporary, path));
                let _ = std::fs::remove_file(&temporary);
                match linked {
                    Ok(()) => {
                        tracing::info!(path = %path.display(), "generated a master key for provider API keys");
                        Ok(SecretString::from(encoded))
                    }
                    // Another process created it first: use that one.
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Self::key_file(path),
                    Err(e) => Err(format!("cannot create {}: {e}", path.display())),
                }
            }
            Err(e) => Err(format!("cannot read {}: {e}", path.display())),
        }
    }
}

/// Writes `bytes` to a new file readable by its owner only, and syncs it.
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

impl SecretBox for AesGcmBox {
    fn current_key_id(&self) -> &str {
        &self.current.id
    }

    fn seal(&self, secret: &SecretString, aad: &[u8]) -> Result<SealedKey, SealError> {
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        let sealed = self
            .current
            .cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: secret.expose_secret().as_bytes(),
                    aad,
                },
            )
            .map_err(|_| SealError::Corrupt)?;
        let mut ciphertext = nonce.to_vec();
        ciphertext.extend_from_slice(&sealed);
        Ok(SealedKey {
            key_id: self.current.id.clone(),
            ciphertext,
        })
    }

    fn open(&self, sealed: &SealedKey, aad: &[u8]) -> Result<SecretString, SealError> {
        let key = std::iter::once(&self.current)
            .chain(&self.previous)
            .find(|k| k.id == sealed.key_id)
            .ok_or_else(|| SealError::UnknownKey(sealed.key_id.clone()))?;
        if sealed.ciphertext.len() < NONCE_BYTES {
            return Err(SealError::Corrupt);
        }
        let (nonce, body) = sealed.ciphertext.split_at(NONCE_BYTES);
        let nonce: [u8; NONCE_BYTES] = nonce.try_into().map_err(|_| SealError::Corrupt)?;
        let plain = key
            .cipher
            .decrypt(&Nonce::from(nonce), Payload { msg: body, aad })
            .map_err(|_| SealError::Corrupt)?;
        String::from_utf8(plain)
            .map(SecretString::from)
            .map_err(|_| SealError::Corrupt)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> SecretString {
        SecretString::from(STANDARD.encode(Aes256Gcm::generate_key(OsRng)))
    }

    #[test]
    fn keys_round_trip_only_with_their_binding() {
        let secrets = AesGcmBox::new(&key(), &[]).unwrap();
        let secret = SecretString::from("sk-live-secret-1234".to_owned());
        let sealed = secrets.seal(&secret, b"org-a/provider-1").unwrap();
        assert_eq!(sealed.key_id, secrets.current_key_id());
        assert!(
            !sealed.ciphertext.windows(4).any(|w| w == b"1234"),
            "the secret is not in the ciphertext"
        );
        let opened = secrets.open(&sealed, b"org-a/provider-1").unwrap();
        assert_eq!(opened.expose_secret(), "sk-live-secret-1234");
        // Copied to another provider, or tampered with: it does not open.
        assert_eq!(
            secrets.open(&sealed, b"org-b/provider-1").unwrap_err(),
            SealError::Corrupt
        );
        let mut tampered = sealed.clone();
        *tampered.ciphertext.last_mut().unwrap() ^= 1;
        assert_eq!(
            secrets.open(&tampered, b"org-a/provider-1").unwrap_err(),
            SealError::Corrupt
        );
        // Two seals of the same secret differ (fresh nonces).
        assert_ne!(
            secrets.seal(&secret, b"x").unwrap(),
            secrets.seal(&secret, b"x").unwrap()
        );
    }

    #[test]
    fn a_new_master_key_still_opens_what_the_previous_one_sealed() {
        let (old, new) = (key(), key());
        let before = AesGcmBox::new(&old, &[]).unwrap();
        let sealed = before
            .seal(&SecretString::from("sk-1".to_owned()), b"aad")
            .unwrap();
        let without = AesGcmBox::new(&new, &[]).unwrap();
        assert_eq!(
            without.open(&sealed, b"aad").unwrap_err(),
            SealError::UnknownKey(sealed.key_id.clone())
        );
        let after = AesGcmBox::new(&new, &[old]).unwrap();
        assert_ne!(after.current_key_id(), sealed.key_id);
        assert_eq!(after.open(&sealed, b"aad").unwrap().expose_secret(), "sk-1");
        assert!(AesGcmBox::new(&SecretString::from("short".to_owned()), &[]).is_err());
    }

    #[test]
    fn the_key_file_is_created_private_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("master.key");
        let first = AesGcmBox::key_file(&path).unwrap();
        let again = AesGcmBox::key_file(&path).unwrap();
        assert_eq!(first.expose_secret(), again.expose_secret());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::write(&path, "garbage").unwrap();
        assert!(AesGcmBox::key_file(&path).is_err());
    }

    #[test]
    fn processes_starting_together_share_one_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("master.key");
        let keys: Vec<String> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..16)
                .map(|_| scope.spawn(|| AesGcmBox::key_file(&path).unwrap()))
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap().expose_secret().to_owned())
                .collect()
        });
        assert!(keys.iter().all(|k| k == &keys[0]), "{keys:?}");
        // No temporary files are left behind.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
