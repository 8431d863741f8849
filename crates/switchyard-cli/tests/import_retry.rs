//! `switchyard import` through an outage of the server it sends to: a fake server (axum,
//! in this test) answers `POST /v1/events` from a script (accept, 503 with or without
//! `Retry-After`, or a restart that drops the connection and refuses new ones for a
//! while), and records every batch it was sent. Its port is reserved for the whole test
//! ([`ReservedPort`]), so no other process takes it while the fake is down.

mod support;

use std::collections::{HashMap, VecDeque};
use std::future::IntoFuture;
use std::path::Path;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use support::{binary, stdout};
use switchyard_bus::ReservedPort;

/// The fake's answer to one `POST /v1/events`.
#[derive(Debug, Clone, Copy)]
enum Answer {
    /// 202: every event accepted.
    Accept,
    /// 503, as a node whose bus is down answers, with this `Retry-After`.
    Unavailable { retry_after_secs: Option<u64> },
    /// The server goes away in the middle of the request and listens again after this.
    Restart { down: Duration },
}

/// One request the fake received: the item ids of its events, and whether it took them.
#[derive(Debug, Clone)]
struct Post {
    item_ids: Vec<String>,
    accepted: bool,
}

enum Control {
    Restart(Duration),
    Stop,
}

struct FakeState {
    script: Mutex<VecDeque<Answer>>,
    /// The answer once the script is done.
    then: Answer,
    posts: Mutex<Vec<Post>>,
    control: Mutex<mpsc::Sender<Control>>,
}

/// A fake `switchyard serve` on a reserved loopback port: `/health`, `/v1/status`
/// (nothing left to index) and a scripted `POST /v1/events`. Stopped on drop.
struct FakeServer {
    base_url: String,
    state: Arc<FakeState>,
    control: mpsc::Sender<Control>,
    thread: Option<JoinHandle<()>>,
    /// Held until the fake is dropped: the port stays ours across restarts.
    _port: ReservedPort,
}

impl FakeServer {
    fn start(script: &[Answer], then: Answer) -> FakeServer {
        let reserved = ReservedPort::new().expect("a free loopback port");
        let port = reserved.port();
        let (control, orders) = mpsc::channel();
        let state = Arc::new(FakeState {
            script: Mutex::new(script.iter().copied().collect()),
            then,
            posts: Mutex::new(Vec::new()),
            control: Mutex::new(control.clone()),
        });
        let serving = state.clone();
        let thread = std::thread::spawn(move || serve(port, serving, orders));
        let base_url = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(10);
        while support::get(&format!("{base_url}/health")).is_none() {
            assert!(Instant::now() < deadline, "the fake server did not come up");
            std::thread::sleep(Duration::from_millis(20));
        }
        FakeServer {
            base_url,
            state,
            control,
            thread: Some(thread),
            _port: reserved,
        }
    }

    fn posts(&self) -> Vec<Post> {
        self.state.posts.lock().unwrap().clone()
    }

    /// Runs `switchyard import ARGS --server … --token …` with `env`; the outcome and
    /// how long it took.
    fn import(&self, args: &[&str], env: &[(&str, &str)]) -> (std::process::Output, Duration) {
        let data = tempfile::tempdir().unwrap();
        let started = Instant::now();
        let output = binary()
            .arg("import")
            .args(args)
            .args(["--server", &self.base_url, "--token", "sy_fake_token"])
            .arg("--data-dir")
            .arg(data.path())
            .envs(env.iter().copied())
            .output()
            .expect("the binary runs");
        (output, started.elapsed())
    }
}

impl Drop for FakeServer {
    fn drop(&mut self) {
        let _ = self.control.send(Control::Stop);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Serves on `port` in a runtime of its own, so that a restart can drop every
/// connection at once by shutting that runtime down.
fn serve(port: u16, state: Arc<FakeState>, orders: mpsc::Receiver<Control>) {
    loop {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind(("127.0.0.1", port)))
            .expect("the fake server binds its reserved port");
        let app = axum::Router::new()
            .route("/health", get(|| async { Json(json!({"status": "ok"})) }))
            .route(
                "/v1/status",
                get(|| async { Json(json!({"subscriptions": [], "indexer_lag": 0})) }),
            )
            .route("/v1/events", post(accept_events))
            .with_state(state.clone());
        runtime.spawn(axum::serve(listener, app).into_future());
        let order = orders.recv();
        runtime.shutdown_background();
        match order {
            Ok(Control::Restart(down)) => std::thread::sleep(down),
            Ok(Control::Stop) | Err(_) => return,
        }
    }
}

async fn accept_events(State(state): State<Arc<FakeState>>, body: String) -> Response {
    let events: Vec<Value> = serde_json::from_str(&body).expect("a batch is a JSON array");
    let item_ids: Vec<String> = events
        .iter()
        .map(|event| event["data"]["item"]["id"].as_str().unwrap().to_string())
        .collect();
    let answer = state
        .script
        .lock()
        .unwrap()
        .pop_front()
        .unwrap_or(state.then);
    let accepted = matches!(answer, Answer::Accept);
    state.posts.lock().unwrap().push(Post {
        item_ids: item_ids.clone(),
        accepted,
    });
    match answer {
        Answer::Accept => {
            let ids: Vec<&Value> = events.iter().map(|event| &event["id"]).collect();
            let body = json!({"accepted": ids.len(), "ids": ids, "rejected": []});
            (StatusCode::ACCEPTED, Json(body)).into_response()
        }
        Answer::Unavailable { retry_after_secs } => {
            let mut headers = HeaderMap::new();
            if let Some(secs) = retry_after_secs {
                headers.insert(header::RETRY_AFTER, secs.into());
            }
            let body = json!({"error": "failed to publish: bus down"});
            (StatusCode::SERVICE_UNAVAILABLE, headers, Json(body)).into_response()
        }
        Answer::Restart { down } => {
            state
                .control
                .lock()
                .unwrap()
                .send(Control::Restart(down))
                .unwrap();
            // Never answers: the runtime goes down with this request in flight.
            std::future::pending().await
        }
    }
}

/// A JSON Lines file of `count` todos `todo-1` … in `dir`: batches of 500 events.
fn todos(dir: &Path, count: usize) -> std::path::PathBuf {
    let path = dir.join("todos.jsonl");
    let lines: String = (1..=count)
        .map(|n| format!("{{\"type\":\"todo\",\"id\":\"todo-{n}\",\"title\":\"Todo {n}\"}}\n"))
        .collect();
    std::fs::write(&path, lines).unwrap();
    path
}

/// How many times each item id was sent, in requests the fake took or did not.
fn sent_counts(posts: &[Post], accepted: bool) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for post in posts.iter().filter(|post| post.accepted == accepted) {
        for id in &post.item_ids {
            *counts.entry(id.clone()).or_default() += 1;
        }
    }
    counts
}

#[test]
fn an_outage_of_the_server_holds_the_import_and_every_event_is_accepted_once() {
    let files = tempfile::tempdir().unwrap();
    let file = todos(files.path(), 1203);
    let fake = FakeServer::start(
        &[
            Answer::Accept,
            Answer::Unavailable {
                retry_after_secs: Some(1),
            },
            Answer::Unavailable {
                retry_after_secs: None,
            },
            Answer::Restart {
                down: Duration::from_millis(1500),
            },
        ],
        Answer::Accept,
    );
    let (output, _) = fake.import(
        &[
            file.to_str().unwrap(),
            "--user",
            "alice",
            "--retry-for",
            "1m",
        ],
        &[],
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(
        stdout(&output).contains("imported 1203, rejected 0"),
        "{}",
        stdout(&output)
    );

    let posts = fake.posts();
    let accepted = sent_counts(&posts, true);
    assert_eq!(accepted.len(), 1203, "events missing");
    assert!(
        accepted.values().all(|&count| count == 1),
        "an event was accepted twice"
    );
    // Batch 1 went once; batch 2 was refused, then sent again whole until the server
    // took it; batch 3 went once, after it.
    let batches: Vec<(usize, bool)> = posts
        .iter()
        .map(|post| (post.item_ids.len(), post.accepted))
        .collect();
    let refused = batches.iter().filter(|(_, accepted)| !accepted).count();
    assert_eq!(
        refused, 3,
        "two 503s and the request the restart cut: {batches:?}"
    );
    assert_eq!(batches[0], (500, true));
    assert_eq!(batches[batches.len() - 1], (203, true));
    assert_eq!(batches[batches.len() - 2], (500, true));
    assert!(
        posts[1..posts.len() - 1]
            .iter()
            .all(|post| post.item_ids == posts[1].item_ids),
        "only batch 2 is sent between batch 1 and batch 3"
    );
    assert_eq!(posts[1].item_ids[0], "todo-501");

    // Each wait is announced: the server's Retry-After, then backoff through the restart.
    assert!(
        stderr.contains(
            "server unavailable (503: failed to publish: bus down), retrying batch 2 in 1 s, giving up at "
        ),
        "{stderr}"
    );
    let waits = stderr
        .lines()
        .filter(|line| line.contains("retrying batch 2 in"))
        .count();
    assert!(waits >= refused, "{stderr}");
}

#[test]
fn a_server_that_stays_down_stops_the_import_after_retry_for_saying_where() {
    let files = tempfile::tempdir().unwrap();
    let file = todos(files.path(), 1203);
    let fake = FakeServer::start(
        &[Answer::Accept],
        Answer::Unavailable {
            retry_after_secs: None,
        },
    );
    let (output, took) = fake.import(
        &[
            file.to_str().unwrap(),
            "--user",
            "alice",
            "--retry-for",
            "2s",
        ],
        &[],
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "error: import stopped at batch 2, which begins at item 501 of {}, after 500 events \
             were imported; run the same import again to finish",
            file.display()
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains(
            "server unavailable (503: failed to publish: bus down), still after retrying for 2s"
        ),
        "{stderr}"
    );
    assert!(
        took >= Duration::from_secs(2) && took < Duration::from_secs(20),
        "{took:?}"
    );
    let posts = fake.posts();
    assert_eq!(sent_counts(&posts, true).len(), 500);
    assert!(posts.len() >= 3, "batch 2 was not retried: {}", posts.len());

    // The environment variable turns retries off: one try, then the same stop.
    let before = fake.posts().len();
    let (output, _) = fake.import(
        &[file.to_str().unwrap(), "--user", "alice"],
        &[("SWITCHYARD_IMPORT_RETRY_FOR", "0")],
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("import stopped at batch 1, which begins at item 1 of"),
        "{stderr}"
    );
    assert!(
        stderr.contains("(not retried: --retry-for is 0)"),
        "{stderr}"
    );
    assert_eq!(fake.posts().len(), before + 1);
}
