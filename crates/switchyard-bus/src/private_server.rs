//! [`PrivateServer`]: a server process of one test only (a `nats-server`, a
//! `redis-server`, …) on a free loopback port with its own directory, which the test can
//! kill with SIGKILL and start again on the same port and directory. Fault tests use it
//! so that the machine's shared servers are never touched.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail, ensure};

/// Where to look for a server binary besides `PATH`.
const EXTRA_BIN_DIRS: &[&str] = &["/usr/sbin", "/usr/local/sbin", "/usr/local/bin"];

/// How long a starting server may take to accept connections.
const START_BUDGET: Duration = Duration::from_secs(15);

/// The arguments of a server: given its port and directory.
pub type ServerArgs = fn(port: u16, dir: &Path) -> Vec<String>;

/// A server process of this test only; killed when dropped.
pub struct PrivateServer {
    binary: PathBuf,
    args: ServerArgs,
    port: u16,
    /// Holds the server's files and `server.log`.
    dir: tempfile::TempDir,
    child: Option<Child>,
}

impl PrivateServer {
    /// Starts `binary` (found on `PATH` or in the usual sbin folders) with `args`, and
    /// waits until it accepts connections; `requirement` names what to install when the
    /// binary is missing.
    pub async fn start(
        binary: &str,
        requirement: &str,
        args: ServerArgs,
    ) -> anyhow::Result<PrivateServer> {
        let mut server = PrivateServer {
            binary: find_binary(binary, requirement)?,
            args,
            port: free_port()?,
            dir: tempfile::tempdir()?,
            child: None,
        };
        server.spawn().await?;
        Ok(server)
    }

    /// Its loopback port.
    pub fn port(&self) -> u16 {
        self.port
    }

    fn log(&self) -> PathBuf {
        self.dir.path().join("server.log")
    }

    /// Starts the server again on the same port and directory (after [`Self::kill`]).
    pub async fn spawn(&mut self) -> anyhow::Result<()> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log())?;
        let mut child = Command::new(&self.binary)
            .args((self.args)(self.port, self.dir.path()))
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("failed to start {}", self.binary.display()))?;
        let ready = wait_for_port(self.port, &mut child, &self.log()).await;
        self.child = Some(child);
        ready
    }

    /// SIGKILL: no shutdown, no flush; nothing answers on the port afterwards.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for PrivateServer {
    fn drop(&mut self) {
        self.kill();
    }
}

fn find_binary(name: &str, requirement: &str) -> anyhow::Result<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(EXTRA_BIN_DIRS.iter().map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
        .ok_or_else(|| {
            anyhow!(
                "{name} not found on PATH or in {EXTRA_BIN_DIRS:?}: this test starts a private \
                 {name}, install it ({requirement})"
            )
        })
}

/// A loopback port nobody listens on right now.
fn free_port() -> anyhow::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").context("no free loopback port")?;
    Ok(listener.local_addr()?.port())
}

/// Waits until something accepts connections on `port`, or the child exits.
async fn wait_for_port(port: u16, child: &mut Child, log: &Path) -> anyhow::Result<()> {
    let deadline = Instant::now() + START_BUDGET;
    loop {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return Ok(());
        }
        if let Some(status) = child.try_wait()? {
            bail!(
                "server on port {port} exited with {status} before accepting connections: {}",
                log_tail(log)
            );
        }
        ensure!(
            Instant::now() < deadline,
            "server on port {port} did not accept connections within {START_BUDGET:?}: {}",
            log_tail(log)
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn log_tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}
