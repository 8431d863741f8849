//! A PostgreSQL cluster of one test only, for the tests that configure, kill or restart
//! their server: `initdb` into a `PrivateServer`'s directory, run as the `postgres` user
//! when the test runs as root (the server refuses root), its own socket directory, on a
//! free loopback port, `fsync` off. The machine's shared PostgreSQL is never touched.
//!
//! Fails, naming what to install, when the server binaries (`/usr/lib/postgresql/*/bin`)
//! or `runuser` are missing.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use switchyard_bus::PrivateServer;
use switchyard_postgres::PostgresOutbox;

/// The newest installed server's `bin` directory.
fn postgres_bin_dir() -> anyhow::Result<PathBuf> {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .context("PostgreSQL server binaries not found in /usr/lib/postgresql: this test starts a private cluster, install postgresql")?
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

/// `command` as the `postgres` user when running as root.
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

pub fn running_as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| out.stdout.trim_ascii() == b"0")
}

/// Starts a private cluster with the server settings `settings` gives for the server's
/// directory (`name=value`, each passed as `-c`). `prepare` runs in that directory before
/// `initdb`, to write files the settings name; when the test runs as root, files the
/// server must read alone (a TLS key) are for `prepare` to hand to `postgres`.
pub async fn private_postgres(
    settings: impl Fn(&Path) -> Vec<String> + Send + Sync + 'static,
    prepare: impl FnOnce(&Path) -> anyhow::Result<()> + Send + 'static,
) -> anyhow::Result<PrivateServer> {
    let bin = postgres_bin_dir()?;
    let (binary, prefix) = as_postgres(&bin.join("postgres"));
    PrivateServer::builder(
        &binary,
        "postgresql (server) and util-linux (runuser)",
        move |port, dir| {
            let mut args = prefix.clone();
            args.extend(
                [
                    "-D",
                    &dir.join("data").display().to_string(),
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
            for setting in settings(dir) {
                args.extend(["-c".to_string(), setting]);
            }
            args
        },
    )
    .prepare(move |_, dir| {
        if running_as_root() {
            // The server runs as `postgres`: it owns its directory.
            let status = Command::new("chown").arg("postgres:").arg(dir).status()?;
            ensure!(status.success(), "chown postgres {} failed", dir.display());
        }
        prepare(dir)?;
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
    .start()
    .await
}

/// Connects to the outbox `table`, waiting out "the database system is starting up" after
/// the port opened.
pub async fn connect(
    url: &str,
    table: &str,
    ca_file: Option<&Path>,
) -> anyhow::Result<PostgresOutbox> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match PostgresOutbox::connect_with_ca_file(url, table, ca_file).await {
            Ok(outbox) => return Ok(outbox),
            Err(err) if err.to_string().contains("starting up") && Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(err) => return Err(err.into()),
        }
    }
}
