//! [`PrivateServer`]: a server process of one test only (a `nats-server`, a
//! `redis-server`, a PostgreSQL cluster, a RabbitMQ node, …) on a loopback port reserved
//! for it ([`ReservedPort`]) with its own directory, which the test can kill with SIGKILL
//! and start again on the same port and directory. Fault and TLS tests use it so that the
//! machine's shared servers are never touched. The port stays reserved for the server's
//! whole life, so no other process can take it before the first start or while the server
//! is down.
//!
//! The server runs in a process group of its own and the whole group is killed, so a
//! wrapper script (`rabbitmq-server`) or a user switch (`runuser`) leaves nothing behind.
//! A server that does not accept connections within its start budget fails the start with
//! the tail of its log.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail, ensure};

use crate::ReservedPort;

/// Where to look for a server binary besides `PATH`.
const EXTRA_BIN_DIRS: &[&str] = &["/usr/sbin", "/usr/local/sbin", "/usr/local/bin"];

/// How long a starting server may take to accept connections, unless the builder says.
const START_BUDGET: Duration = Duration::from_secs(15);

/// The arguments (or environment) of a server: given its port and directory.
pub type ServerArgs = Box<dyn Fn(u16, &Path) -> Vec<String> + Send + Sync>;

type ServerEnv = Box<dyn Fn(u16, &Path) -> Vec<(String, String)> + Send + Sync>;

type Prepare = Box<dyn FnOnce(u16, &Path) -> anyhow::Result<()> + Send>;

/// A server process of this test only; killed when dropped.
pub struct PrivateServer {
    binary: PathBuf,
    args: ServerArgs,
    env: ServerEnv,
    start_budget: Duration,
    ready_line: Option<String>,
    port: ReservedPort,
    /// Holds the server's files and `server.log`.
    dir: tempfile::TempDir,
    child: Option<Child>,
}

/// How to start a [`PrivateServer`]: [`PrivateServer::builder`].
pub struct PrivateServerBuilder {
    binary: String,
    requirement: String,
    args: ServerArgs,
    env: ServerEnv,
    prepare: Option<Prepare>,
    start_budget: Duration,
    ready_line: Option<String>,
}

impl PrivateServerBuilder {
    /// Environment variables of the server process, given its port and directory.
    pub fn env(
        mut self,
        env: impl Fn(u16, &Path) -> Vec<(String, String)> + Send + Sync + 'static,
    ) -> Self {
        self.env = Box::new(env);
        self
    }

    /// Runs once in the fresh directory before the first start: write a config file,
    /// certificates, create a cluster.
    pub fn prepare(
        mut self,
        prepare: impl FnOnce(u16, &Path) -> anyhow::Result<()> + Send + 'static,
    ) -> Self {
        self.prepare = Some(Box::new(prepare));
        self
    }

    /// How long the server may take to accept connections (15 s unless set).
    pub fn start_budget(mut self, start_budget: Duration) -> Self {
        self.start_budget = start_budget;
        self
    }

    /// A server that listens before it serves (RabbitMQ) is started only once its log
    /// shows `line`, besides accepting connections.
    pub fn ready_when_logged(mut self, line: &str) -> Self {
        self.ready_line = Some(line.to_string());
        self
    }

    /// Finds the binary, prepares the directory, starts the server and waits until it
    /// accepts connections.
    pub async fn start(self) -> anyhow::Result<PrivateServer> {
        let mut server = PrivateServer {
            binary: find_binary(&self.binary, &self.requirement)?,
            args: self.args,
            env: self.env,
            start_budget: self.start_budget,
            ready_line: self.ready_line,
            port: ReservedPort::new().context("no free loopback port")?,
            dir: tempfile::tempdir()?,
            child: None,
        };
        if let Some(prepare) = self.prepare {
            prepare(server.port(), server.dir.path()).with_context(|| {
                format!("failed to prepare the private {}", server.binary.display())
            })?;
        }
        server.spawn().await?;
        Ok(server)
    }
}

impl PrivateServer {
    /// Starts `binary` (found on `PATH` or in the usual sbin folders) with `args`, and
    /// waits until it accepts connections; `requirement` names what to install when the
    /// binary is missing.
    pub async fn start(
        binary: &str,
        requirement: &str,
        args: impl Fn(u16, &Path) -> Vec<String> + Send + Sync + 'static,
    ) -> anyhow::Result<PrivateServer> {
        PrivateServer::builder(binary, requirement, args)
            .start()
            .await
    }

    /// Like [`PrivateServer::start`], with an environment, a preparation step or a longer
    /// start budget.
    pub fn builder(
        binary: &str,
        requirement: &str,
        args: impl Fn(u16, &Path) -> Vec<String> + Send + Sync + 'static,
    ) -> PrivateServerBuilder {
        PrivateServerBuilder {
            binary: binary.to_string(),
            requirement: requirement.to_string(),
            args: Box::new(args),
            env: Box::new(|_, _| Vec::new()),
            prepare: None,
            start_budget: START_BUDGET,
            ready_line: None,
        }
    }

    /// Its loopback port.
    pub fn port(&self) -> u16 {
        self.port.port()
    }

    /// Its directory (config, data, certificates, `server.log`).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The last lines of the server's log, for failure messages.
    pub fn log_tail(&self) -> String {
        log_tail(&self.log())
    }

    fn log(&self) -> PathBuf {
        self.dir.path().join("server.log")
    }

    /// Starts the server again on the same port and directory (after [`Self::kill`]).
    pub async fn spawn(&mut self) -> anyhow::Result<()> {
        let started_at = Instant::now();
        let ready_lines_before = self.ready_lines();
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log())?;
        let port = self.port();
        let mut child = Command::new(&self.binary)
            .args((self.args)(port, self.dir.path()))
            .envs((self.env)(port, self.dir.path()))
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("failed to start {}", self.binary.display()))?;
        let mut ready = wait_for_port(port, &mut child, &self.log(), self.start_budget).await;
        self.child = Some(child);
        if ready.is_ok() && self.ready_line.is_some() {
            while self.ready_lines() <= ready_lines_before {
                if started_at.elapsed() > self.start_budget {
                    ready = Err(anyhow!(
                        "server on port {} did not log {:?} within {:?}: {}",
                        port,
                        self.ready_line,
                        self.start_budget,
                        self.log_tail()
                    ));
                    break;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        if ready.is_err() {
            self.kill();
        }
        ready
    }

    /// How often the log shows the ready line so far.
    fn ready_lines(&self) -> usize {
        match &self.ready_line {
            Some(line) => std::fs::read_to_string(self.log())
                .unwrap_or_default()
                .matches(line.as_str())
                .count(),
            None => 0,
        }
    }

    /// SIGKILL to the server's process group: no shutdown, no flush; nothing answers on
    /// the port afterwards.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            // The group id is the child's pid (`process_group(0)`).
            let _ = Command::new("kill")
                .args(["-KILL", "--", &format!("-{}", child.id())])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
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

/// Waits until something accepts connections on `port`, or the child exits.
async fn wait_for_port(
    port: u16,
    child: &mut Child,
    log: &Path,
    budget: Duration,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + budget;
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
            "server on port {port} did not accept connections within {budget:?}: {}",
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
