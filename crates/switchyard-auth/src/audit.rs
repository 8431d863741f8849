//! The audit log: one JSON line per admin action and per refused attempt (who, what,
//! when, outcome), appended to a file and never rewritten. Payloads, tokens and
//! query values other than the target user never go in.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use serde::Serialize;

/// One audited event.
#[derive(Debug, Clone, Serialize)]
pub struct AuditEntry {
    /// When.
    pub at: DateTime<Utc>,
    /// The principal's user id, when one was authenticated.
    pub principal: Option<String>,
    /// The credential it presented (`token:{id}`, `jwt:{issuer}`), never the secret.
    pub credential: Option<String>,
    /// The scope it held.
    pub scope: Option<String>,
    /// `METHOD /path`.
    pub action: String,
    /// Whose data the request was about, when it names a user.
    pub target_user: Option<String>,
    /// `allowed` or `refused`.
    pub outcome: &'static str,
    /// The HTTP status answered.
    pub status: u16,
    /// Why it was refused.
    pub reason: Option<String>,
}

/// An append-only JSON Lines file.
pub struct AuditLog {
    path: PathBuf,
    file: Mutex<File>,
}

impl AuditLog {
    /// Opens (or creates, mode 0600) the log at `path` for appending.
    pub fn open(path: &Path) -> std::io::Result<Self> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let mut options = OpenOptions::new();
        options.create(true).append(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        Ok(AuditLog {
            path: path.to_path_buf(),
            file: Mutex::new(options.open(path)?),
        })
    }

    /// Where the log is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends `entry` as one line (one write, so lines of concurrent writers never
    /// interleave); a failure is logged, never fatal to the request.
    pub fn record(&self, entry: &AuditEntry) {
        let mut line = serde_json::to_vec(entry).expect("audit entries serialize");
        line.push(b'\n');
        let mut file = self.file.lock().unwrap_or_else(|e| e.into_inner());
        if let Err(err) = file.write_all(&line) {
            tracing::error!(path = %self.path.display(), error = %err, "failed to write the audit log");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_appended_as_json_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit").join("audit.jsonl");
        let entry = |outcome| AuditEntry {
            at: Utc::now(),
            principal: Some("alice".into()),
            credential: Some("token:ab12".into()),
            scope: Some("read".into()),
            action: "GET /v1/search".into(),
            target_user: Some("bob".into()),
            outcome,
            status: 403,
            reason: Some("another user's data".into()),
        };
        AuditLog::open(&path).unwrap().record(&entry("refused"));
        AuditLog::open(&path).unwrap().record(&entry("allowed"));
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0]["outcome"], "refused");
        assert_eq!(lines[0]["target_user"], "bob");
        assert_eq!(lines[1]["outcome"], "allowed");
    }
}
