//! The serve record, `{data_dir}/serve.json`: where the `serve` holding a data directory
//! listens, so that the commands run beside it (`import`, `status`, `dlq`, `forget`,
//! `state`) find it without `--server`; and [`find_server`], how they do.
//!
//! Format: one JSON object, `{"pid": 4242, "address": "127.0.0.1:8080"}`, the process of
//! the server and the address its listener bound (a port 0 resolved to the port it got).
//! `serve` writes it once its listener is bound, to a temporary file renamed into place
//! (no reader sees half a record), and removes it when it stops, after a signal or a
//! failure alike ([`HeldServeRecord`]). A server killed outright leaves its record behind:
//! a record whose process has exited, or where nothing answers, is stale. Clients say so
//! and ignore it; the next `serve` replaces it (holding the data directory, it knows that
//! any record it finds is stale).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::{Deserialize, Serialize};

use crate::config::Settings;
use crate::import::RemoteServer;

/// The record's file name in the data directory.
const FILE_NAME: &str = "serve.json";

/// Which `serve` holds a data directory, and where it listens.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServeRecord {
    /// The server's process id.
    pub pid: u32,
    /// The address its listener bound.
    pub address: SocketAddr,
}

impl ServeRecord {
    /// Where the record of `data_dir` is.
    pub fn path(data_dir: &Path) -> PathBuf {
        data_dir.join(FILE_NAME)
    }

    /// The record of `data_dir`; `None` when there is none.
    pub fn read(data_dir: &Path) -> anyhow::Result<Option<ServeRecord>> {
        let path = ServeRecord::path(data_dir);
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(err) => {
                return Err(anyhow::Error::new(err).context(format!(
                    "failed to read the serve record {}",
                    path.display()
                )));
            }
        };
        serde_json::from_slice(&bytes)
            .map(Some)
            .with_context(|| format!("failed to parse the serve record {}", path.display()))
    }

    /// The base URL a client on this machine reaches the server at: a server listening on
    /// every address (`0.0.0.0`, `::`) is reached on loopback.
    pub fn url(&self) -> String {
        let ip = match self.address.ip() {
            IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
            ip => ip,
        };
        format!("http://{}", SocketAddr::new(ip, self.address.port()))
    }

    /// Whether the process that wrote the record still exists.
    pub fn process_is_running(&self) -> bool {
        let Ok(pid) = libc::pid_t::try_from(self.pid) else {
            return false;
        };
        if pid <= 0 {
            // 0 and negative ids name process groups, never one server.
            return false;
        }
        // SAFETY: signal 0 is never delivered; `kill` only checks that the process
        // exists and may be signalled, and touches no memory of ours.
        let result = unsafe { libc::kill(pid, 0) };
        // EPERM: it exists, under another user.
        result == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
    }
}

/// The record of this `serve` process, removed when dropped: when `serve` returns, after
/// a signal or a failure.
#[derive(Debug)]
pub struct HeldServeRecord {
    path: PathBuf,
}

impl HeldServeRecord {
    /// Records that this process serves `data_dir` at `address`, replacing the record of
    /// a server that did not stop cleanly (this process holds the data directory, so
    /// that server is gone).
    pub fn write(data_dir: &Path, address: SocketAddr) -> anyhow::Result<HeldServeRecord> {
        let path = ServeRecord::path(data_dir);
        match ServeRecord::read(data_dir) {
            Ok(None) => {}
            Ok(Some(stale)) => tracing::warn!(
                record = %path.display(), pid = stale.pid, address = %stale.address,
                "replacing the serve record of a server that did not stop cleanly"
            ),
            Err(err) => {
                tracing::warn!(error = %format!("{err:#}"), "replacing an unreadable serve record")
            }
        }
        let record = ServeRecord {
            pid: std::process::id(),
            address,
        };
        let failed = || format!("failed to write the serve record {}", path.display());
        let mut temporary = tempfile::NamedTempFile::new_in(data_dir).with_context(failed)?;
        serde_json::to_writer(&mut temporary, &record).with_context(failed)?;
        temporary.persist(&path).with_context(failed)?;
        Ok(HeldServeRecord { path })
    }
}

impl Drop for HeldServeRecord {
    fn drop(&mut self) {
        if let Err(err) = std::fs::remove_file(&self.path)
            && err.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(record = %self.path.display(), error = %err, "failed to remove the serve record");
        }
    }
}

/// The running server a command of `settings` talks to, once it answers: at `given`
/// (`--server`) when there is one, else where the data directory's serve record says,
/// else at the `listen` address. A stale record is ignored with a warning naming it.
pub async fn find_server(
    settings: &Settings,
    given: Option<String>,
) -> anyhow::Result<RemoteServer> {
    let credential =
        crate::token::client_credential(&settings.data_dir, settings.client_token.as_deref())?;
    if let Some(url) = given {
        let server = RemoteServer::new(&url, credential);
        anyhow::ensure!(
            server.is_up().await,
            "no server answers at {} (given by --server)",
            server.base_url()
        );
        return Ok(server);
    }
    let record_path = ServeRecord::path(&settings.data_dir);
    let record_state = match ServeRecord::read(&settings.data_dir) {
        Ok(None) => "does not exist".to_string(),
        Ok(Some(record)) => {
            let server = RemoteServer::new(&record.url(), credential.clone());
            let stale = if !record.process_is_running() {
                format!("is stale: its process {} has exited", record.pid)
            } else if server.is_up().await {
                return Ok(server);
            } else {
                format!(
                    "is stale: nothing answers at {}, where process {} listened",
                    server.base_url(),
                    record.pid
                )
            };
            tracing::warn!(record = %record_path.display(), "ignoring the serve record: it {stale}");
            stale
        }
        Err(err) => {
            let unreadable = format!("is unreadable ({err:#})");
            tracing::warn!(record = %record_path.display(), "ignoring the serve record: it {unreadable}");
            unreadable
        }
    };
    let server = RemoteServer::new(&format!("http://{}", settings.listen), credential);
    anyhow::ensure!(
        server.is_up().await,
        "the data directory {} is in use, but its serve record {} {record_state}, and no \
         server answers at {} (the --listen address): pass --server",
        settings.data_dir.display(),
        record_path.display(),
        server.base_url()
    );
    Ok(server)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_url(address: &str, expected: &str) {
        let record = ServeRecord {
            pid: 1,
            address: address.parse().unwrap(),
        };
        assert_eq!(record.url(), expected);
    }

    #[test]
    fn a_server_on_every_address_is_reached_on_loopback() {
        check_url("127.0.0.1:43210", "http://127.0.0.1:43210");
        check_url("0.0.0.0:8080", "http://127.0.0.1:8080");
        check_url("[::]:8080", "http://[::1]:8080");
        check_url("[::1]:9000", "http://[::1]:9000");
        check_url("192.0.2.7:80", "http://192.0.2.7:80");
    }

    #[test]
    fn a_record_is_written_read_and_removed_when_dropped() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(ServeRecord::read(dir.path()).unwrap(), None);
        // A record a killed server left is replaced whole.
        std::fs::write(
            ServeRecord::path(dir.path()),
            r#"{"pid": 4242, "address": "127.0.0.1:1"}"#,
        )
        .unwrap();
        let address: SocketAddr = "127.0.0.1:43210".parse().unwrap();
        let held = HeldServeRecord::write(dir.path(), address).unwrap();
        let record = ServeRecord::read(dir.path()).unwrap().unwrap();
        assert_eq!(
            record,
            ServeRecord {
                pid: std::process::id(),
                address
            }
        );
        assert!(record.process_is_running());
        drop(held);
        // Nothing is left behind, not even a temporary file.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn the_record_of_an_exited_process_is_known_stale() {
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        let record = ServeRecord {
            pid,
            address: "127.0.0.1:1".parse().unwrap(),
        };
        assert!(!record.process_is_running());
        for pid in [0, u32::MAX] {
            assert!(
                !ServeRecord {
                    pid,
                    ..record.clone()
                }
                .process_is_running()
            );
        }
    }

    #[test]
    fn an_unreadable_record_names_its_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(ServeRecord::path(dir.path()), "{\"pid\": 1").unwrap();
        let err = format!("{:#}", ServeRecord::read(dir.path()).unwrap_err());
        assert!(
            err.starts_with(&format!(
                "failed to parse the serve record {}",
                ServeRecord::path(dir.path()).display()
            )),
            "{err}"
        );
    }
}
