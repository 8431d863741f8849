//! Secrets sealed at rest: provider refresh tokens, access tokens and client secrets are
//! stored only as AES-256-GCM ciphertexts ([`Sealed`]), each with the id of the key that
//! sealed it, a fresh 96-bit nonce, and its context (what it is and whose: e.g.
//! `integration/42/refresh_token`) bound as associated data, so a ciphertext copied onto
//! another record does not open.
//!
//! [`SecretKeys`] holds the current key, which seals, and previous keys, which still
//! open what they sealed. Rotating: make the new key current and the old one previous,
//! reseal everything [`SecretKeys::needs_reseal`] names, then drop the old key. A key is
//! 32 random bytes, written in base64; its id is derived from it, so configuration names
//! only keys. Without a configured key, [`SecretKeys::in_data_dir`] keeps one in
//! `{data_dir}/auth/encryption.key` (mode 0600), created on first use.
//!
//! [`SecretString`] carries an opened secret and never prints it.

use std::fmt;
use std::path::{Path, PathBuf};

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::tokens::{private_file, random_bytes};

/// The file of a data directory's own key, below the data directory.
const KEY_FILE: &str = "auth/encryption.key";
/// Bytes of an AES-256 key.
const KEY_BYTES: usize = 32;
/// Bytes of an AES-GCM nonce.
const NONCE_BYTES: usize = 12;
/// The longest secret that may be sealed (provider tokens are a few KiB at most).
pub const MAX_SECRET_BYTES: usize = 64 * 1024;

/// Why a secret could not be sealed or opened. Never holds the secret.
#[derive(Debug, thiserror::Error)]
pub enum SealError {
    /// A configured key is not base64 of 32 bytes.
    #[error("invalid encryption key {which}: {reason}")]
    InvalidKey {
        /// Which key (`current`, `previous 1`, or the key file).
        which: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The value was sealed with a key that is not configured (any more).
    #[error("secret sealed with key {key_id}, which is not configured; add it as a previous key")]
    UnknownKey {
        /// The id of the missing key.
        key_id: String,
    },
    /// The ciphertext, nonce or context does not match: altered, or moved to another
    /// record.
    #[error("sealed secret for {context} does not open: altered or not its own")]
    Tampered {
        /// The context it was opened for.
        context: String,
    },
    /// The secret is larger than [`MAX_SECRET_BYTES`].
    #[error("secret of {bytes} bytes is larger than {MAX_SECRET_BYTES}")]
    TooLarge {
        /// Its size.
        bytes: usize,
    },
    /// The key file could not be read or written.
    #[error("encryption key file {}: {source}", path.display())]
    KeyFile {
        /// The file.
        path: PathBuf,
        /// What failed.
        source: std::io::Error,
    },
}

/// A secret as stored: which key sealed it, the nonce and the ciphertext (with its tag),
/// both in base64.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sealed {
    /// The id of the key that sealed it.
    pub key_id: String,
    /// The 96-bit nonce, base64.
    pub nonce: String,
    /// The AES-256-GCM ciphertext and tag, base64.
    pub ciphertext: String,
}

impl fmt::Debug for Sealed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sealed")
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

/// An opened secret. Its `Debug` and `Display` print `[redacted]`.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretString(String);

impl SecretString {
    /// Wraps `secret`.
    pub fn new(secret: impl Into<String>) -> Self {
        SecretString(secret.into())
    }

    /// The secret itself, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl fmt::Display for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// One key and its id.
struct Key {
    id: String,
    cipher: Aes256Gcm,
}

impl Key {
    fn from_bytes(bytes: &[u8]) -> Key {
        let digest = Sha256::new()
            .chain_update(b"switchyard key id\n")
            .chain_update(bytes)
            .finalize();
        Key {
            id: hex::encode(&digest[..8]),
            cipher: Aes256Gcm::new_from_slice(bytes).expect("keys are checked to be 32 bytes"),
        }
    }

    fn from_base64(text: &str, which: &str) -> Result<Key, SealError> {
        let invalid = |reason: String| SealError::InvalidKey {
            which: which.to_string(),
            reason,
        };
        let bytes = BASE64
            .decode(text.trim())
            .map_err(|err| invalid(format!("not base64: {err}")))?;
        if bytes.len() != KEY_BYTES {
            return Err(invalid(format!(
                "{} bytes where {KEY_BYTES} are needed (e.g. `openssl rand -base64 32`)",
                bytes.len()
            )));
        }
        Ok(Key::from_bytes(&bytes))
    }
}

/// The keys secrets are sealed and opened with.
pub struct SecretKeys {
    current: Key,
    previous: Vec<Key>,
}

impl fmt::Debug for SecretKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretKeys")
            .field("current", &self.current.id)
            .field(
                "previous",
                &self.previous.iter().map(|key| &key.id).collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl SecretKeys {
    /// The keys given in base64: `current` seals and opens, `previous` only open.
    pub fn from_base64(current: &str, previous: &[&str]) -> Result<Self, SealError> {
        Ok(SecretKeys {
            current: Key::from_base64(current, "current")?,
            previous: previous
                .iter()
                .enumerate()
                .map(|(index, key)| Key::from_base64(key, &format!("previous {}", index + 1)))
                .collect::<Result<_, _>>()?,
        })
    }

    /// The data directory's own key, from `{data_dir}/auth/encryption.key`, created (32
    /// random bytes, mode 0600) when missing; and whether it was just created.
    pub fn in_data_dir(data_dir: &Path) -> Result<(Self, bool), SealError> {
        let path = data_dir.join(KEY_FILE);
        let file_error = |source| SealError::KeyFile {
            path: path.clone(),
            source,
        };
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                let key = Key::from_base64(&text, &path.display().to_string())?;
                Ok((SecretKeys::with_current(key), false))
            }
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                let bytes = random_bytes::<KEY_BYTES>().map_err(file_error)?;
                if let Some(parent) = path.parent() {
                    std::fs::create_dir_all(parent).map_err(file_error)?;
                }
                // A new file, so that two processes never overwrite each other's key.
                let staged = path.with_extension("key.new");
                let mut file = private_file(&staged).map_err(file_error)?;
                std::io::Write::write_all(&mut file, BASE64.encode(bytes).as_bytes())
                    .and_then(|()| file.sync_all())
                    .map_err(file_error)?;
                match std::fs::hard_link(&staged, &path) {
                    Ok(()) => {
                        let _ = std::fs::remove_file(&staged);
                        Ok((SecretKeys::with_current(Key::from_bytes(&bytes)), true))
                    }
                    // Another process created it first: use theirs.
                    Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => {
                        let _ = std::fs::remove_file(&staged);
                        Self::in_data_dir(data_dir)
                    }
                    Err(err) => Err(file_error(err)),
                }
            }
            Err(err) => Err(file_error(err)),
        }
    }

    fn with_current(current: Key) -> Self {
        SecretKeys {
            current,
            previous: Vec::new(),
        }
    }

    /// The id of the key that seals.
    pub fn current_key_id(&self) -> &str {
        &self.current.id
    }

    /// Seals `secret` for `context` (what it is and whose) with the current key.
    pub fn seal(&self, secret: &SecretString, context: &str) -> Result<Sealed, SealError> {
        let bytes = secret.expose().as_bytes();
        if bytes.len() > MAX_SECRET_BYTES {
            return Err(SealError::TooLarge { bytes: bytes.len() });
        }
        let nonce = random_bytes::<NONCE_BYTES>().map_err(|source| SealError::KeyFile {
            path: PathBuf::from("(random nonce)"),
            source,
        })?;
        let ciphertext = self
            .current
            .cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: bytes,
                    aad: context.as_bytes(),
                },
            )
            .expect("AES-GCM encrypts any message below its size limit");
        Ok(Sealed {
            key_id: self.current.id.clone(),
            nonce: BASE64.encode(nonce),
            ciphertext: BASE64.encode(ciphertext),
        })
    }

    /// Opens what [`seal`](Self::seal) sealed for the same `context`.
    pub fn open(&self, sealed: &Sealed, context: &str) -> Result<SecretString, SealError> {
        let key = std::iter::once(&self.current)
            .chain(&self.previous)
            .find(|key| key.id == sealed.key_id)
            .ok_or_else(|| SealError::UnknownKey {
                key_id: sealed.key_id.clone(),
            })?;
        let tampered = || SealError::Tampered {
            context: context.to_string(),
        };
        let nonce = BASE64.decode(&sealed.nonce).map_err(|_| tampered())?;
        let ciphertext = BASE64.decode(&sealed.ciphertext).map_err(|_| tampered())?;
        if nonce.len() != NONCE_BYTES {
            return Err(tampered());
        }
        let plaintext = key
            .cipher
            .decrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: &ciphertext,
                    aad: context.as_bytes(),
                },
            )
            .map_err(|_| tampered())?;
        String::from_utf8(plaintext)
            .map(SecretString)
            .map_err(|_| tampered())
    }

    /// Whether `sealed` was sealed with a key other than the current one, and should be
    /// sealed again before that key is dropped.
    pub fn needs_reseal(&self, sealed: &Sealed) -> bool {
        sealed.key_id != self.current.id
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key_text(byte: u8) -> String {
        BASE64.encode([byte; KEY_BYTES])
    }

    #[test]
    fn sealed_secrets_open_only_with_their_key_and_context() {
        let keys = SecretKeys::from_base64(&key_text(1), &[]).unwrap();
        let secret = SecretString::new("refresh-token-value");
        let sealed = keys.seal(&secret, "integration/1/refresh_token").unwrap();
        assert!(!sealed.ciphertext.contains("refresh"));
        assert_eq!(sealed.key_id, keys.current_key_id());
        assert_eq!(
            keys.open(&sealed, "integration/1/refresh_token").unwrap(),
            secret
        );
        // The same secret sealed twice differs (fresh nonce).
        assert_ne!(
            keys.seal(&secret, "c").unwrap(),
            keys.seal(&secret, "c").unwrap()
        );
        // Moved to another record, or altered: refused.
        assert!(matches!(
            keys.open(&sealed, "integration/2/refresh_token"),
            Err(SealError::Tampered { .. })
        ));
        let mut altered = sealed.clone();
        let mut bytes = BASE64.decode(&altered.ciphertext).unwrap();
        bytes[0] ^= 1;
        altered.ciphertext = BASE64.encode(bytes);
        assert!(matches!(
            keys.open(&altered, "integration/1/refresh_token"),
            Err(SealError::Tampered { .. })
        ));
        // Nothing prints the secret.
        assert_eq!(format!("{secret:?} {secret}"), "[redacted] [redacted]");
        assert!(!format!("{sealed:?} {keys:?}").contains(&sealed.ciphertext));
    }

    #[test]
    fn rotation_opens_old_secrets_and_names_what_to_reseal() {
        let old = SecretKeys::from_base64(&key_text(1), &[]).unwrap();
        let sealed = old.seal(&SecretString::new("s"), "c").unwrap();
        let rotated = SecretKeys::from_base64(&key_text(2), &[&key_text(1)]).unwrap();
        assert!(rotated.needs_reseal(&sealed));
        assert_eq!(rotated.open(&sealed, "c").unwrap().expose(), "s");
        let resealed = rotated.seal(&SecretString::new("s"), "c").unwrap();
        assert!(!rotated.needs_reseal(&resealed));
        let dropped = SecretKeys::from_base64(&key_text(2), &[]).unwrap();
        let error = dropped.open(&sealed, "c").unwrap_err();
        assert!(matches!(error, SealError::UnknownKey { .. }), "{error}");
        assert!(error.to_string().contains(&sealed.key_id), "{error}");
    }

    #[test]
    fn bad_keys_are_named() {
        let error = SecretKeys::from_base64("c2hvcnQ=", &[]).unwrap_err();
        assert_eq!(
            error.to_string(),
            "invalid encryption key current: 5 bytes where 32 are needed (e.g. `openssl rand -base64 32`)"
        );
        let error = SecretKeys::from_base64(&key_text(1), &["%%%"]).unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("invalid encryption key previous 1: not base64"),
            "{error}"
        );
        let keys = SecretKeys::from_base64(&key_text(1), &[]).unwrap();
        let huge = SecretString::new("x".repeat(MAX_SECRET_BYTES + 1));
        assert!(matches!(
            keys.seal(&huge, "c"),
            Err(SealError::TooLarge { .. })
        ));
    }

    #[test]
    fn a_data_directory_keeps_its_own_private_key() {
        let dir = tempfile::tempdir().unwrap();
        let (keys, created) = SecretKeys::in_data_dir(dir.path()).unwrap();
        assert!(created);
        let sealed = keys.seal(&SecretString::new("s"), "c").unwrap();
        let (again, created) = SecretKeys::in_data_dir(dir.path()).unwrap();
        assert!(!created);
        assert_eq!(again.current_key_id(), keys.current_key_id());
        assert_eq!(again.open(&sealed, "c").unwrap().expose(), "s");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(KEY_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
