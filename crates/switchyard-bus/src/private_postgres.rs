//! [`private_postgres`]: a PostgreSQL cluster of one test (`initdb` into its directory,
//! run as the `postgres` user when the test runs as root, its own socket directory) on a
//! reserved loopback port, plain or with `ssl = on`. The PostgreSQL TLS, restart and fault
//! tests all start their cluster here, so the machine's shared server is never touched.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, ensure};

use crate::{PrivateServer, TestTls};

/// The newest installed server's `bin` directory.
fn postgres_bin_dir() -> anyhow::Result<PathBuf> {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .context(
            "PostgreSQL server binaries not found in /usr/lib/postgresql: this test starts a \
             private cluster, install postgresql",
        )?
        .filter_map(|entry| {
            let entry = entry.ok()?;
            let version = entry.file_name().to_str()?.parse().ok()?;
            let bin = entry.path().join("bin");
            bin.join("postgres").is_file().then_some((version, bin))
        })
        .collect();
    versions.sort();
    versions
        .pop()
        .map(|(_, bin)| bin)
        .context("no /usr/lib/postgresql/*/bin/postgres: install postgresql")
}

/// `command` as the `postgres` user when running as root (the server refuses root).
fn as_postgres(command: &Path) -> (String, Vec<String>) {
    let command = command.display().to_string();
    if running_as_root() {
        let args = ["-u", "postgres", "--", &command]
            .map(String::from)
            .to_vec();
        ("runuser".to_string(), args)
    } else {
        (command, Vec::new())
    }
}

fn running_as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| out.stdout.trim_ascii() == b"0")
}

/// Starts a private PostgreSQL cluster (user `postgres`, trust authentication, database
/// `postgres`): with `tls`, `ssl = on` with that certificate. It is started only once it
/// accepts queries; [`PrivateServer::kill`] and [`PrivateServer::spawn`] stop and start it
/// again on the same port and data directory.
pub async fn private_postgres(tls: Option<TestTls>) -> anyhow::Result<PrivateServer> {
    let bin = postgres_bin_dir()?;
    let (binary, prefix) = as_postgres(&bin.join("postgres"));
    let with_tls = tls.is_some();
    PrivateServer::builder(
        &binary,
        "postgresql (server) and util-linux (runuser)",
        move |port, dir| {
            let mut args = prefix.clone();
            let path = |name: &str| dir.join(name).display().to_string();
            args.extend(
                [
                    "-D",
                    &path("data"),
                    "-p",
                    &port.to_string(),
                    "-k",
                    &dir.display().to_string(),
                    "-c",
                    "listen_addresses=127.0.0.1",
                    "-c",
                    "fsync=off",
                ]
                .map(String::from),
            );
            if with_tls {
                args.extend(
                    [
                        "-c",
                        "ssl=on",
                        "-c",
                        &format!("ssl_cert_file={}", path("server.pem")),
                        "-c",
                        &format!("ssl_key_file={}", path("server.key")),
                    ]
                    .map(String::from),
                );
            }
            args
        },
    )
    .prepare(move |_, dir| {
        let mut owned_by_server = vec![dir.to_path_buf()];
        if let Some(tls) = tls {
            owned_by_server.push(tls.write(dir)?.key);
        }
        if running_as_root() {
            // The server runs as `postgres`: it owns the directory and its key.
            for path in &owned_by_server {
                let status = Command::new("chown").arg("postgres:").arg(path).status()?;
                ensure!(status.success(), "chown postgres {} failed", path.display());
            }
        }
        let (initdb, prefix) = as_postgres(&bin.join("initdb"));
        let output = Command::new(initdb)
            .args(prefix)
            .arg("-D")
            .arg(dir.join("data"))
            .args([
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            ])
            .output()?;
        ensure!(
            output.status.success(),
            "initdb failed: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        Ok(())
    })
    .start_budget(Duration::from_secs(60))
    // The port opens while the database is still starting up.
    .ready_when_logged("database system is ready to accept connections")
    .start()
    .await
}
