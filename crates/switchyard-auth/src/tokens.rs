//! API tokens: `sy_{id}_{secret}`, kept as SHA-256 digests in one JSON file.
//!
//! The file (`{data_dir}/auth/tokens.json`, mode 0600) is written whole under an
//! exclusive lock on `tokens.lock`, through a temporary file renamed into place, so
//! `switchyard token create` works while `serve` runs; `serve` notices the change at
//! the next request (file length and modification time) and reloads. A fast digest is
//! right here: the secret is 256 random bits, not a password, so there is nothing to
//! guess that a slow hash would protect.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use switchyard_contracts::check_user_id;

use crate::{AuthError, Credential, Principal, Scope};

/// What every API token starts with.
pub const TOKEN_PREFIX: &str = "sy_";
/// Random bytes in a token id (hex in the token).
const ID_BYTES: usize = 8;
/// Random bytes in a token secret (hex in the token).
const SECRET_BYTES: usize = 32;
/// Expired tokens are kept this long for `token list`, then dropped at the next write.
const EXPIRED_KEPT: chrono::TimeDelta = chrono::TimeDelta::days(1);

/// A token as listed: everything but the secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenInfo {
    /// The token's id, also visible inside the token.
    pub id: String,
    /// Whose token.
    pub user_id: String,
    /// What it may do.
    pub scope: Scope,
    /// A note for humans (`ci`, `cli (local)`, …).
    #[serde(default)]
    pub label: String,
    /// When it was made.
    pub created_at: DateTime<Utc>,
    /// When it stops working, if ever.
    pub expires_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct StoredToken {
    #[serde(flatten)]
    info: TokenInfo,
    /// Lowercase hex SHA-256 of the whole token text.
    sha256: String,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct TokenFile {
    version: u32,
    tokens: Vec<StoredToken>,
}

/// The tokens loaded in memory, with what the file looked like then.
#[derive(Default)]
struct Loaded {
    stamp: Option<(u64, SystemTime)>,
    by_id: HashMap<String, StoredToken>,
}

/// The API tokens of one data directory.
pub struct TokenStore {
    path: PathBuf,
    loaded: Mutex<Loaded>,
}

impl TokenStore {
    /// The tokens of the data directory `data_dir` (`auth/tokens.json`); the file is
    /// created at the first token.
    pub fn in_data_dir(data_dir: &Path) -> Self {
        TokenStore::at(data_dir.join("auth").join("tokens.json"))
    }

    /// The tokens in the file at `path`.
    pub fn at(path: PathBuf) -> Self {
        TokenStore {
            path,
            loaded: Mutex::new(Loaded::default()),
        }
    }

    /// Where the tokens are kept.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Mints a token for `user_id`; returns its description and the token text, which
    /// is never stored and cannot be shown again.
    pub fn create(
        &self,
        user_id: &str,
        scope: Scope,
        ttl: Option<chrono::TimeDelta>,
        label: &str,
    ) -> std::io::Result<(TokenInfo, String)> {
        check_user_id(user_id)
            .map_err(|err| std::io::Error::new(std::io::ErrorKind::InvalidInput, err))?;
        let id = hex::encode(random_bytes::<ID_BYTES>()?);
        let token = format!(
            "{TOKEN_PREFIX}{id}_{}",
            hex::encode(random_bytes::<SECRET_BYTES>()?)
        );
        let now = Utc::now();
        let info = TokenInfo {
            id,
            user_id: user_id.to_string(),
            scope,
            label: label.to_string(),
            created_at: now,
            expires_at: ttl.map(|ttl| now + ttl),
        };
        let stored = StoredToken {
            info: info.clone(),
            sha256: digest_hex(&token),
        };
        self.update(|file| file.tokens.push(stored))?;
        Ok((info, token))
    }

    /// Every token, oldest first.
    pub fn list(&self) -> std::io::Result<Vec<TokenInfo>> {
        Ok(read_file(&self.path)?
            .tokens
            .into_iter()
            .map(|stored| stored.info)
            .collect())
    }

    /// Revokes the token `id`; false when there is none.
    pub fn revoke(&self, id: &str) -> std::io::Result<bool> {
        let mut found = false;
        self.update(|file| {
            let before = file.tokens.len();
            file.tokens.retain(|stored| stored.info.id != id);
            found = file.tokens.len() < before;
        })?;
        Ok(found)
    }

    /// The principal `token` stands for at `now`.
    pub fn verify(&self, token: &str, now: DateTime<Utc>) -> Result<Principal, AuthError> {
        let id = token
            .strip_prefix(TOKEN_PREFIX)
            .and_then(|rest| rest.split_once('_'))
            .map(|(id, _)| id)
            .ok_or_else(|| AuthError::invalid("malformed API token"))?;
        let mut loaded = self.loaded.lock().unwrap_or_else(|e| e.into_inner());
        self.reload_if_changed(&mut loaded)
            .map_err(|err| AuthError::invalid(format!("the token store is unreadable: {err}")))?;
        let stored = loaded
            .by_id
            .get(id)
            .filter(|stored| constant_time_eq(&stored.sha256, &digest_hex(token)))
            .ok_or_else(|| AuthError::invalid("unknown or revoked API token"))?;
        if stored.info.expires_at.is_some_and(|at| at <= now) {
            return Err(AuthError::invalid(format!(
                "API token {} expired",
                stored.info.id
            )));
        }
        Ok(Principal {
            user_id: stored.info.user_id.clone(),
            scope: stored.info.scope,
            credential: Credential::Token(stored.info.id.clone()),
        })
    }

    fn reload_if_changed(&self, loaded: &mut Loaded) -> std::io::Result<()> {
        let stamp = match fs::metadata(&self.path) {
            Ok(meta) => Some((meta.len(), meta.modified()?)),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => None,
            Err(err) => return Err(err),
        };
        if stamp != loaded.stamp || stamp.is_none() {
            let file = read_file(&self.path)?;
            loaded.by_id = file
                .tokens
                .into_iter()
                .map(|stored| (stored.info.id.clone(), stored))
                .collect();
            loaded.stamp = stamp;
        }
        Ok(())
    }

    /// Reads, changes and rewrites the file under the lock, dropping long-expired tokens.
    fn update(&self, change: impl FnOnce(&mut TokenFile)) -> std::io::Result<()> {
        let dir = self.path.parent().unwrap_or(Path::new("."));
        fs::create_dir_all(dir)?;
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join("tokens.lock"))?;
        lock.lock()?;
        let mut file = read_file(&self.path)?;
        change(&mut file);
        let horizon = Utc::now() - EXPIRED_KEPT;
        file.tokens
            .retain(|stored| stored.info.expires_at.is_none_or(|at| at > horizon));
        file.version = 1;
        let temporary = self.path.with_extension("json.tmp");
        let mut out = private_file(&temporary)?;
        out.write_all(&serde_json::to_vec_pretty(&file).map_err(std::io::Error::other)?)?;
        out.sync_all()?;
        fs::rename(&temporary, &self.path)?;
        File::open(dir)?.sync_all()?;
        lock.unlock()
    }
}

fn read_file(path: &Path) -> std::io::Result<TokenFile> {
    match fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|err| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("{}: {err}", path.display()),
            )
        }),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(TokenFile::default()),
        Err(err) => Err(err),
    }
}

/// A new file only its owner can read.
pub(crate) fn private_file(path: &Path) -> std::io::Result<File> {
    let mut options = OpenOptions::new();
    options.create(true).truncate(true).write(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)
}

pub(crate) fn random_bytes<const N: usize>() -> std::io::Result<[u8; N]> {
    let mut bytes = [0; N];
    getrandom::fill(&mut bytes).map_err(std::io::Error::other)?;
    Ok(bytes)
}

fn digest_hex(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Compares two digests without stopping at the first difference.
fn constant_time_eq(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_tokens_verify_and_are_stored_only_as_digests() {
        let dir = tempfile::tempdir().unwrap();
        let store = TokenStore::in_data_dir(dir.path());
        let (info, token) = store.create("alice", Scope::Read, None, "test").unwrap();
        assert!(token.starts_with("sy_"), "{token}");
        assert!(token.contains(&info.id));
        let principal = store.verify(&token, Utc::now()).unwrap();
        assert_eq!(principal.user_id, "alice");
        assert_eq!(principal.scope, Scope::Read);
        assert_eq!(principal.credential, Credential::Token(info.id.clone()));

        let on_disk = fs::read_to_string(store.path()).unwrap();
        let secret = token.rsplit('_').next().unwrap();
        assert!(!on_disk.contains(secret), "the secret is on disk");
        assert!(on_disk.contains(&digest_hex(&token)));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(store.path()).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert_eq!(store.list().unwrap(), vec![info]);
    }

    #[test]
    fn forged_revoked_and_expired_tokens_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let store = TokenStore::in_data_dir(dir.path());
        let (info, token) = store.create("alice", Scope::Admin, None, "").unwrap();
        // The same id with one secret digit changed.
        let last = if token.ends_with('0') { '1' } else { '0' };
        let forged = format!("{}{last}", &token[..token.len() - 1]);
        assert!(matches!(
            store.verify(&forged, Utc::now()),
            Err(AuthError::Invalid(_))
        ));
        assert!(store.verify("sy_nothing", Utc::now()).is_err());

        // A second store on the same file (another process) sees the revocation.
        let other = TokenStore::in_data_dir(dir.path());
        assert!(other.verify(&token, Utc::now()).is_ok());
        assert!(store.revoke(&info.id).unwrap());
        assert!(!store.revoke(&info.id).unwrap());
        assert!(other.verify(&token, Utc::now()).is_err());

        let (_, short) = store
            .create(
                "bob",
                Scope::Write,
                Some(chrono::TimeDelta::seconds(60)),
                "",
            )
            .unwrap();
        assert!(store.verify(&short, Utc::now()).is_ok());
        let later = Utc::now() + chrono::TimeDelta::seconds(61);
        let err = store.verify(&short, later).unwrap_err();
        assert!(err.to_string().contains("expired"), "{err}");
    }

    #[test]
    fn tokens_for_invalid_user_ids_are_not_made() {
        let dir = tempfile::tempdir().unwrap();
        let store = TokenStore::in_data_dir(dir.path());
        let err = store.create("a:b", Scope::Read, None, "").unwrap_err();
        assert!(err.to_string().contains("':'"), "{err}");
    }
}
