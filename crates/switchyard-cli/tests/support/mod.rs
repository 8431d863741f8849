//! Helpers shared by the end-to-end tests: run the real `switchyard` binary, start a
//! server on a reserved loopback port, read its API.

#![allow(dead_code)] // each test binary uses a different subset

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use switchyard_bus::ReservedPort;

pub fn binary() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_switchyard"));
    for name in [
        "SWITCHYARD_DATA_DIR",
        "SWITCHYARD_LISTEN",
        "SWITCHYARD_SERVER",
        "SWITCHYARD_BUS",
        "SWITCHYARD_STATE",
        "SWITCHYARD_OUTBOX",
        "REDIS_URL",
    ] {
        command.env_remove(name);
    }
    command
}

pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/e2e")
}

/// Runs `switchyard ARGS --data-dir DIR` to completion.
pub fn run(data_dir: &Path, args: &[&str]) -> Output {
    binary()
        .args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .output()
        .expect("the binary runs")
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Search hits as JSON values, through the CLI.
pub fn search(data_dir: &Path, user: &str, query: &str, extra: &[&str]) -> Vec<serde_json::Value> {
    let mut args = vec!["search", query, "--user", user, "--json"];
    args.extend_from_slice(extra);
    let output = run(data_dir, &args);
    assert!(
        output.status.success(),
        "search failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout(&output)
        .lines()
        .map(|line| serde_json::from_str(line).expect("each line is JSON"))
        .collect()
}

/// An email announcing a UPS shipment, which the shipments role tracks.
pub const SHIPPING_EMAIL: &str = "From: Shop <orders@shop.example>\r\n\
To: Dora <dora@example.com>\r\n\
Message-ID: <ship-1@shop.example>\r\n\
Date: Tue, 05 Mar 2024 09:00:00 +0000\r\n\
Subject: Your order has shipped\r\n\
\r\n\
Good news: your parcel is on its way. UPS tracking number 1Z879E930346834440.\r\n";

/// A running `switchyard serve`, killed on drop, with an admin token of its data
/// directory for the test's own requests.
pub struct Server {
    pub child: Child,
    pub base_url: String,
    pub admin_token: String,
    data_dir: PathBuf,
    /// Held until the server is dropped, so no other process takes its port.
    _port: ReservedPort,
}

/// Mints an API token in `data_dir` with `switchyard token create`.
pub fn create_token(data_dir: &Path, user: &str, scope: &str) -> String {
    let output = run(
        data_dir,
        &["token", "create", "--user", user, "--scope", scope],
    );
    assert!(output.status.success(), "token create failed: {output:?}");
    let token = stdout(&output)
        .lines()
        .last()
        .unwrap_or_default()
        .trim()
        .to_string();
    assert!(token.starts_with("sy_"), "not a token: {token}");
    token
}

impl Server {
    pub fn start(data_dir: &Path) -> Server {
        Server::start_with(data_dir, &[])
    }

    /// A server with extra global flags (engine URLs, roles).
    pub fn start_with(data_dir: &Path, extra: &[&str]) -> Server {
        Server::start_with_env(data_dir, extra, &[])
    }

    /// A server with extra global flags and environment variables, on a port reserved for
    /// it ([`ReservedPort`]), so that no other process can take the port before `serve`
    /// binds it. `{base_url}` in a variable's value is the server's own URL. The server
    /// counts as up once its log says it serves and `/health` answers.
    pub fn start_with_env(data_dir: &Path, extra: &[&str], env: &[(&str, &str)]) -> Server {
        let admin_token = create_token(data_dir, "ops", "admin");
        let port = ReservedPort::new().expect("a free loopback port");
        let base_url = format!("http://127.0.0.1:{}", port.port());
        let log = std::fs::File::create(Server::log_path(data_dir)).expect("server log");
        let child = binary()
            .env("SWITCHYARD_LOG", "info")
            .envs(
                env.iter()
                    .map(|(name, value)| (*name, value.replace("{base_url}", &base_url))),
            )
            .args([
                "serve",
                "--listen",
                &format!("127.0.0.1:{}", port.port()),
                "--data-dir",
            ])
            .arg(data_dir)
            .args(extra)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("serve starts");
        let mut server = Server {
            child,
            base_url,
            admin_token,
            data_dir: data_dir.to_path_buf(),
            _port: port,
        };
        if let Err(log) = server.wait_until_up() {
            panic!("serve did not come up: {log}");
        }
        server
    }

    /// Waits until this server serves and answers `/health`; the log's tail if it exited
    /// or did not come up within 30 s.
    fn wait_until_up(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().expect("the server can be polled") {
                return Err(format!("exited with {status}: {}", self.log_tail(20)));
            }
            let serving = std::fs::read_to_string(Server::log_path(&self.data_dir))
                .is_ok_and(|log| log.contains("switchyard serving"));
            if serving && get(&format!("{}/health", self.base_url)).is_some() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(self.log_tail(20));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Where the server of `data_dir` writes its log: beside the data directory.
    pub fn log_path(data_dir: &Path) -> PathBuf {
        data_dir.with_extension("serve.log")
    }

    /// The last `lines` lines of the server's log, for failure messages.
    pub fn log_tail(&self, lines: usize) -> String {
        let text = std::fs::read_to_string(Server::log_path(&self.data_dir)).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// Runs `switchyard ARGS --data-dir DIR` pointed at this server (`SWITCHYARD_LISTEN`),
    /// as a client finding the data directory busy does, and checks that it succeeded.
    pub fn run_client(&self, data_dir: &Path, args: &[&str]) -> Output {
        let listen = self.base_url.trim_start_matches("http://");
        let output = binary()
            .args(args)
            .arg("--data-dir")
            .arg(data_dir)
            .env("SWITCHYARD_LISTEN", listen)
            .output()
            .expect("the binary runs");
        assert!(
            output.status.success(),
            "{args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        output
    }

    /// A token of `user` with `scope` (`read`, `write`, `admin`) on this server.
    pub fn token(&self, user: &str, scope: &str) -> String {
        create_token(&self.data_dir, user, scope)
    }

    /// GET `path` (with its query) as the admin: (status, JSON body).
    pub fn get(&self, path: &str) -> (u16, serde_json::Value) {
        self.get_as(&self.admin_token, path)
    }

    /// GET `path` with `token`: (status, JSON body).
    pub fn get_as(&self, token: &str, path: &str) -> (u16, serde_json::Value) {
        self.send_as(reqwest::Method::GET, token, path, None)
    }

    /// DELETE `path` with `token`: (status, JSON body).
    pub fn delete_as(&self, token: &str, path: &str) -> (u16, serde_json::Value) {
        self.send_as(reqwest::Method::DELETE, token, path, None)
    }

    /// POST a JSON `body` to `path` as the admin: (status, JSON body).
    pub fn post(&self, path: &str, body: &str) -> (u16, serde_json::Value) {
        self.post_as(&self.admin_token, path, body)
    }

    /// POST a JSON `body` to `path` with `token`: (status, JSON body).
    pub fn post_as(&self, token: &str, path: &str, body: &str) -> (u16, serde_json::Value) {
        self.send_as(reqwest::Method::POST, token, path, Some(body))
    }

    /// `method path` with `token` (and a JSON `body`): (status, JSON body).
    fn send_as(
        &self,
        method: reqwest::Method,
        token: &str,
        path: &str,
        body: Option<&str>,
    ) -> (u16, serde_json::Value) {
        tls_provider();
        let mut request = reqwest::blocking::Client::new()
            .request(method, format!("{}{path}", self.base_url))
            .bearer_auth(token);
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body.to_string());
        }
        let response = request.send().expect("server answers");
        let status = response.status().as_u16();
        (status, response.json().unwrap_or(serde_json::Value::Null))
    }

    pub fn status(&self) -> serde_json::Value {
        self.get("/v1/status").1
    }

    /// Waits until the server has indexed everything it accepted.
    pub fn wait_until_indexed(&self) {
        let deadline = Instant::now() + Duration::from_secs(120);
        while self.status()["indexer_lag"] != 0 {
            assert!(
                Instant::now() < deadline,
                "indexing did not finish: {}",
                self.status()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Sends SIGKILL and reaps the process.
    pub fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Gives the test process the binary's TLS provider (ring): reqwest is built without one.
pub fn tls_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// An unauthenticated GET returning (status, JSON body), or None when nothing answers.
pub fn get(url: &str) -> Option<(u16, serde_json::Value)> {
    tls_provider();
    let response = reqwest::blocking::get(url).ok()?;
    let status = response.status().as_u16();
    Some((status, response.json().unwrap_or(serde_json::Value::Null)))
}
