//! End-to-end tests of the notifier: a real HTTP server on 127.0.0.1:0 serving
//! `stream_router`, fed by the `Notifier` handler, read by an SSE client over reqwest.

use std::future::IntoFuture;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail, ensure};
use chrono::Utc;
use serde_json::{Value, json};
use switchyard_contracts::{
    AnyOfficeEvent, Email, EmailEvent, Operation, SyncType, Todo, TodoEvent,
};
use switchyard_notifier::{
    Journal, Notifier, NotifierConfig, RedbJournalStore, STREAM_PATH, StreamAuth, TokenSigner,
    stream_router,
};
use switchyard_runtime::{Handler, Incoming, Outcome};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

const SECRET: &str = "test-secret-test-secret-test-secret";
/// How long a test waits for an event that should come.
const WAIT: Duration = Duration::from_secs(5);
/// How long a test listens to be sure nothing else comes.
const QUIET: Duration = Duration::from_millis(400);

/// A notifier behind a real HTTP server.
struct Server {
    addr: SocketAddr,
    notifier: Notifier,
    shutdown: Option<oneshot::Sender<()>>,
    task: JoinHandle<std::io::Result<()>>,
}

impl Server {
    async fn start(data_dir: &Path, config: NotifierConfig) -> anyhow::Result<Server> {
        let store = RedbJournalStore::open(data_dir, config.retention())?;
        let journal = Journal::new(Arc::new(store), config)?;
        let notifier = Notifier::new(journal.clone());
        let router = stream_router(journal, StreamAuth::signed(SECRET)?);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (shutdown, stop) = oneshot::channel::<()>();
        let serve = axum::serve(listener, router).with_graceful_shutdown(async {
            let _ = stop.await;
        });
        let task = tokio::spawn(serve.into_future());
        Ok(Server {
            addr,
            notifier,
            shutdown: Some(shutdown),
            task,
        })
    }

    /// Stops the server and waits until every connection (and so every router clone,
    /// with its journal) is gone.
    async fn stop(mut self) -> anyhow::Result<()> {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        tokio::time::timeout(WAIT, &mut self.task)
            .await
            .context("server did not stop")???;
        Ok(())
    }

    fn url(&self, query: &str) -> String {
        format!("http://{}{STREAM_PATH}?{query}", self.addr)
    }

    /// Handles one batch of events as the runtime would.
    async fn deliver(&self, events: &[AnyOfficeEvent]) -> anyhow::Result<()> {
        let batch = events
            .iter()
            .enumerate()
            .map(|(i, event)| Incoming::new(event.clone(), format!("event-{i}")))
            .collect();
        let outcomes = self.notifier.handle(batch).await;
        ensure!(
            outcomes.iter().all(|o| *o == Outcome::Done),
            "outcomes: {outcomes:?}"
        );
        Ok(())
    }

    /// Opens `user`'s stream with a valid token and optional `Last-Event-ID` header.
    async fn open(&self, user: &str, last_event_id: Option<&str>) -> anyhow::Result<SseClient> {
        let mut request = client()
            .get(self.url(&format!("user={user}")))
            .bearer_auth(token(user));
        if let Some(id) = last_event_id {
            request = request.header("Last-Event-ID", id);
        }
        SseClient::new(request.send().await?)
    }
}

fn client() -> reqwest::Client {
    // The binary's TLS provider (ring), which its `main` installs: in a workspace build
    // reqwest has rustls without a provider of its own.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("a plain http client builds")
}

fn token(user: &str) -> String {
    TokenSigner::new(SECRET)
        .expect("a long secret")
        .issue(user, Utc::now() + chrono::Duration::hours(1))
}

fn email(user: &str, id: &str, operation: Operation) -> AnyOfficeEvent {
    let mut event = EmailEvent::new(
        operation,
        SyncType::Streaming,
        "test",
        user,
        "batch-1",
        Email {
            id: id.into(),
            subject: "secret subject".into(),
            body_text: "secret body".into(),
            ..Email::default()
        },
    );
    event.last_updated = "2024-05-01T12:00:00Z".parse().expect("a time");
    AnyOfficeEvent::Email(event)
}

fn todo(user: &str, id: &str) -> AnyOfficeEvent {
    let item: Todo =
        serde_json::from_value(json!({"id": id, "title": "buy milk"})).expect("a minimal todo");
    let mut event = TodoEvent::new(
        Operation::Update,
        SyncType::Streaming,
        "test",
        user,
        "batch-1",
        item,
    );
    event.last_updated = "2024-05-01T12:00:00Z".parse().expect("a time");
    AnyOfficeEvent::Todo(event)
}

fn config() -> NotifierConfig {
    NotifierConfig {
        heartbeat_secs: 60,
        ..NotifierConfig::default()
    }
}

/// One server-sent event, or a comment.
#[derive(Debug, Clone, PartialEq)]
enum Sse {
    Event {
        id: Option<String>,
        event: Option<String>,
        data: String,
    },
    Comment(String),
}

/// A minimal SSE reader over a streaming response body.
struct SseClient {
    response: reqwest::Response,
    buffer: String,
}

impl SseClient {
    fn new(response: reqwest::Response) -> anyhow::Result<Self> {
        ensure!(
            response.status() == reqwest::StatusCode::OK,
            "status {}",
            response.status()
        );
        let content_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        ensure!(
            content_type.starts_with("text/event-stream"),
            "content type {content_type}"
        );
        Ok(SseClient {
            response,
            buffer: String::new(),
        })
    }

    /// The next frame, or `None` if none comes within `within`.
    async fn next_frame(&mut self, within: Duration) -> anyhow::Result<Option<Sse>> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let frame: String = self.buffer.drain(..end + 2).collect();
                return Ok(Some(parse_frame(&frame)));
            }
            match tokio::time::timeout_at(deadline, self.response.chunk()).await {
                Err(_) => return Ok(None),
                Ok(chunk) => match chunk? {
                    Some(bytes) => self.buffer.push_str(std::str::from_utf8(&bytes)?),
                    None => bail!("stream ended"),
                },
            }
        }
    }

    /// The next event (not comment), or `None` if none comes within `within`.
    async fn next_event(
        &mut self,
        within: Duration,
    ) -> anyhow::Result<Option<(String, u64, Value)>> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.next_frame(left).await? {
                None => return Ok(None),
                Some(Sse::Comment(_)) => {}
                Some(Sse::Event { id, event, data }) => {
                    let id = id.context("every event has an id")?.parse()?;
                    let kind = event.context("every event has a type")?;
                    return Ok(Some((kind, id, serde_json::from_str(&data)?)));
                }
            }
        }
    }

    /// The next `count` item events as `(id, signal)`.
    async fn items(&mut self, count: usize) -> anyhow::Result<Vec<(u64, Value)>> {
        let mut items = Vec::new();
        while items.len() < count {
            let (kind, id, data) = self
                .next_event(WAIT)
                .await?
                .with_context(|| format!("expected {count} items, got {items:?}"))?;
            ensure!(kind == "item", "expected an item, got {kind} {id} {data}");
            items.push((id, data));
        }
        Ok(items)
    }

    /// Asserts no event comes for a while.
    async fn quiet(&mut self) -> anyhow::Result<()> {
        if let Some(event) = self.next_event(QUIET).await? {
            bail!("unexpected event {event:?}");
        }
        Ok(())
    }
}

fn parse_frame(frame: &str) -> Sse {
    let (mut id, mut event, mut data, mut comment) = (None, None, Vec::new(), None);
    for line in frame.lines() {
        if let Some(text) = line.strip_prefix(':') {
            comment = Some(text.trim().to_string());
            continue;
        }
        let (field, value) = line.split_once(':').unwrap_or((line, ""));
        let value = value.strip_prefix(' ').unwrap_or(value).to_string();
        match field {
            "id" => id = Some(value),
            "event" => event = Some(value),
            "data" => data.push(value),
            _ => {}
        }
    }
    match (comment, id, event, data.is_empty()) {
        (Some(comment), None, None, true) => Sse::Comment(comment),
        (_, id, event, _) => Sse::Event {
            id,
            event,
            data: data.join("\n"),
        },
    }
}

fn signal(doc_type: &str, id: &str, operation: &str) -> Value {
    json!({"type": doc_type, "id": id, "operation": operation})
}

#[tokio::test]
async fn each_user_sees_only_their_own_signals() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let server = Server::start(dir.path(), config()).await?;
    let mut alice = server.open("alice", None).await?;
    let mut bob = server.open("bob", None).await?;
    server
        .deliver(&[
            email("alice", "a1", Operation::Create),
            email("bob", "b1", Operation::Create),
            todo("alice", "t1"),
            email("alice", "a1", Operation::Delete),
        ])
        .await?;
    assert_eq!(
        alice.items(3).await?,
        [
            (1, signal("email", "a1", "create")),
            (2, signal("todo", "t1", "update")),
            (3, signal("email", "a1", "delete")),
        ]
    );
    assert_eq!(bob.items(1).await?, [(1, signal("email", "b1", "create"))]);
    alice.quiet().await?;
    bob.quiet().await?;
    // Signals never carry content.
    server
        .deliver(&[email("bob", "b2", Operation::Update)])
        .await?;
    let (_, data) = bob.items(1).await?.remove(0);
    assert!(!data.to_string().contains("secret"), "{data}");
    alice.quiet().await?;
    Ok(())
}

#[tokio::test]
async fn requests_without_a_valid_token_for_the_user_are_refused() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let server = Server::start(dir.path(), config()).await?;
    server
        .deliver(&[email("alice", "a1", Operation::Create)])
        .await?;
    let http = client();
    let status = |response: &reqwest::Response| response.status().as_u16();

    let missing = http.get(server.url("user=alice")).send().await?;
    assert_eq!(status(&missing), 401);
    assert_eq!(
        missing
            .headers()
            .get("www-authenticate")
            .map(|v| v.to_str().ok()),
        Some(Some("Bearer"))
    );
    let forged = format!(
        "alice:{}:{}",
        Utc::now().timestamp() + 3600,
        "00".repeat(32)
    );
    let expired =
        TokenSigner::new(SECRET)?.issue("alice", Utc::now() - chrono::Duration::seconds(1));
    let other_secret =
        TokenSigner::new([9u8; 40])?.issue("alice", Utc::now() + chrono::Duration::hours(1));
    for bad in [
        "garbage",
        forged.as_str(),
        expired.as_str(),
        other_secret.as_str(),
    ] {
        let response = http
            .get(server.url("user=alice&last_event_id=0"))
            .bearer_auth(bad)
            .send()
            .await?;
        assert_eq!(status(&response), 401, "token {bad}");
        let body: Value = response.json().await?;
        assert!(
            body["error"]
                .as_str()
                .is_some_and(|e| e.starts_with("invalid access token")),
            "{body}"
        );
    }
    // Bob's genuine token does not open Alice's stream, by header or by query.
    let bobs = http
        .get(server.url("user=alice&last_event_id=0"))
        .bearer_auth(token("bob"))
        .send()
        .await?;
    assert_eq!(status(&bobs), 403);
    let bobs_in_query = http
        .get(server.url(&format!("user=alice&access_token={}", token("bob"))))
        .send()
        .await?;
    assert_eq!(status(&bobs_in_query), 403);
    let no_user = http
        .get(server.url(""))
        .bearer_auth(token("alice"))
        .send()
        .await?;
    assert_eq!(status(&no_user), 400);

    // The query parameter works for clients that cannot set headers.
    let response = http
        .get(server.url(&format!(
            "user=alice&last_event_id=0&access_token={}",
            token("alice")
        )))
        .send()
        .await?;
    let mut alice = SseClient::new(response)?;
    assert_eq!(
        alice.items(1).await?,
        [(1, signal("email", "a1", "create"))]
    );
    Ok(())
}

#[tokio::test]
async fn last_event_id_resumes_after_a_disconnect_without_gap_or_duplicate() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let server = Server::start(dir.path(), config()).await?;
    let mut alice = server.open("alice", None).await?;
    server
        .deliver(&[
            email("alice", "a1", Operation::Create),
            email("alice", "a2", Operation::Create),
        ])
        .await?;
    let seen = alice.items(2).await?;
    assert_eq!(seen.iter().map(|(id, _)| *id).collect::<Vec<_>>(), [1, 2]);
    drop(alice);

    server
        .deliver(&[
            email("alice", "a3", Operation::Create),
            email("alice", "a4", Operation::Create),
        ])
        .await?;
    let mut alice = server.open("alice", Some("2")).await?;
    assert_eq!(
        alice.items(2).await?,
        [
            (3, signal("email", "a3", "create")),
            (4, signal("email", "a4", "create"))
        ]
    );
    // Then live, continuing the same sequence.
    server
        .deliver(&[email("alice", "a5", Operation::Update)])
        .await?;
    assert_eq!(
        alice.items(1).await?,
        [(5, signal("email", "a5", "update"))]
    );
    alice.quiet().await?;

    // The query parameter resumes the same way; the header wins over it.
    let response = client()
        .get(server.url(&format!(
            "user=alice&last_event_id=3&access_token={}",
            token("alice")
        )))
        .send()
        .await?;
    let mut by_query = SseClient::new(response)?;
    assert_eq!(
        by_query
            .items(2)
            .await?
            .iter()
            .map(|(id, _)| *id)
            .collect::<Vec<_>>(),
        [4, 5]
    );
    by_query.quiet().await?;
    let response = client()
        .get(server.url("user=alice&last_event_id=1"))
        .bearer_auth(token("alice"))
        .header("Last-Event-ID", "4")
        .send()
        .await?;
    let mut both = SseClient::new(response)?;
    assert_eq!(both.items(1).await?[0].0, 5);
    both.quiet().await?;
    // An up-to-date client gets nothing until the next signal.
    let mut current = server.open("alice", Some("5")).await?;
    current.quiet().await?;
    Ok(())
}

#[tokio::test]
async fn a_last_event_id_outside_the_window_gets_a_reset() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let config = NotifierConfig {
        max_signals_per_user: Some(3),
        ..config()
    };
    let server = Server::start(dir.path(), config).await?;
    let events: Vec<_> = (1..=6)
        .map(|i| email("alice", &format!("a{i}"), Operation::Create))
        .collect();
    server.deliver(&events).await?;

    // Ids 3..=6 are kept in full only from 3 on: 3 resumes, 2 does not.
    let mut fine = server.open("alice", Some("3")).await?;
    assert_eq!(
        fine.items(3)
            .await?
            .iter()
            .map(|(id, _)| *id)
            .collect::<Vec<_>>(),
        [4, 5, 6]
    );

    let mut stale = server.open("alice", Some("2")).await?;
    let (kind, id, data) = stale.next_event(WAIT).await?.context("a reset")?;
    assert_eq!((kind.as_str(), id), ("reset", 6), "{data}");
    assert_eq!(data["latest_id"], 6);
    // After the reset the stream carries on live from the newest id.
    server
        .deliver(&[email("alice", "a7", Operation::Create)])
        .await?;
    assert_eq!(
        stale.items(1).await?,
        [(7, signal("email", "a7", "create"))]
    );

    // An id never given out (a wiped journal) or unreadable resets too.
    for unknown in ["99", "not-a-number"] {
        let mut client = server.open("alice", Some(unknown)).await?;
        let (kind, id, _) = client.next_event(WAIT).await?.context("a reset")?;
        assert_eq!((kind.as_str(), id), ("reset", 7), "{unknown}");
        client.quiet().await?;
    }
    Ok(())
}

#[tokio::test]
async fn heartbeats_arrive_while_idle() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let config = NotifierConfig {
        heartbeat_secs: 1,
        ..NotifierConfig::default()
    };
    let server = Server::start(dir.path(), config).await?;
    let mut alice = server.open("alice", None).await?;
    for _ in 0..2 {
        let frame = alice
            .next_frame(Duration::from_secs(3))
            .await?
            .context("a heartbeat within 3 s")?;
        assert_eq!(frame, Sse::Comment("heartbeat".into()));
    }
    Ok(())
}

#[tokio::test]
async fn redelivered_events_add_no_signal() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let server = Server::start(dir.path(), config()).await?;
    let mut alice = server.open("alice", None).await?;
    let batch = [email("alice", "a1", Operation::Create), todo("alice", "t1")];
    server.deliver(&batch).await?;
    assert_eq!(alice.items(2).await?.len(), 2);
    // The same events again (a redelivery, or a re-import of the same versions), also
    // twice within one batch.
    server.deliver(&batch).await?;
    server
        .deliver(&[batch[0].clone(), batch[0].clone()])
        .await?;
    alice.quiet().await?;
    assert_eq!(server.notifier.journal().latest_seq("alice").await?, 2);
    // A new version of the same item is a new signal.
    let mut newer = email("alice", "a1", Operation::Update);
    if let AnyOfficeEvent::Email(event) = &mut newer {
        event.last_updated = "2024-05-02T12:00:00Z".parse()?;
    }
    server.deliver(&[newer]).await?;
    assert_eq!(
        alice.items(1).await?,
        [(3, signal("email", "a1", "update"))]
    );
    Ok(())
}

#[tokio::test]
async fn the_journal_survives_reopening_the_store() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let server = Server::start(dir.path(), config()).await?;
    let mut alice = server.open("alice", None).await?;
    server
        .deliver(&[
            email("alice", "a1", Operation::Create),
            email("alice", "a2", Operation::Create),
        ])
        .await?;
    assert_eq!(alice.items(2).await?.len(), 2);
    drop(alice);
    server
        .deliver(&[email("alice", "a3", Operation::Create)])
        .await?;
    server.stop().await?;

    let server = Server::start(dir.path(), config()).await?;
    let mut alice = server.open("alice", Some("2")).await?;
    assert_eq!(
        alice.items(1).await?,
        [(3, signal("email", "a3", "create"))]
    );
    // Dedupe and numbering carry over too.
    server
        .deliver(&[
            email("alice", "a3", Operation::Create),
            email("alice", "a4", Operation::Create),
        ])
        .await?;
    assert_eq!(
        alice.items(1).await?,
        [(4, signal("email", "a4", "create"))]
    );
    alice.quiet().await?;
    Ok(())
}

#[tokio::test]
async fn a_slow_client_catches_up_from_the_journal() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let config = NotifierConfig {
        live_buffer_signals: 2,
        replay_page_signals: 3,
        ..config()
    };
    let server = Server::start(dir.path(), config).await?;
    let mut slow = server.open("alice", None).await?;
    let mut fast = server.open("alice", None).await?;
    // Far more signals than the live buffer, in separate batches, while `slow` reads
    // nothing: recording must not wait for it, and it must miss nothing.
    for i in 1..=20 {
        server
            .deliver(&[email("alice", &format!("a{i}"), Operation::Create)])
            .await?;
    }
    let expected: Vec<u64> = (1..=20).collect();
    let ids = |items: Vec<(u64, Value)>| items.into_iter().map(|(id, _)| id).collect::<Vec<_>>();
    assert_eq!(ids(fast.items(20).await?), expected);
    assert_eq!(ids(slow.items(20).await?), expected);
    slow.quiet().await?;
    Ok(())
}

#[tokio::test]
async fn open_streams_are_capped_per_user_and_freed_when_they_end() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let config = NotifierConfig {
        heartbeat_secs: 1,
        max_streams_per_user: 2,
        max_streams: 3,
        ..NotifierConfig::default()
    };
    let server = Server::start(dir.path(), config).await?;
    let first = server.open("alice", None).await?;
    let _second = server.open("alice", None).await?;
    let third = client()
        .get(server.url("user=alice"))
        .bearer_auth(token("alice"))
        .send()
        .await?;
    assert_eq!(third.status().as_u16(), 429);
    let body: Value = third.json().await?;
    assert!(
        body["error"]
            .as_str()
            .unwrap_or_default()
            .contains("max_streams_per_user"),
        "{body}"
    );
    // Another user still gets one, up to the node's cap.
    let _bob = server.open("bob", None).await?;
    let over = client()
        .get(server.url("user=carol"))
        .bearer_auth(token("carol"))
        .send()
        .await?;
    assert_eq!(over.status().as_u16(), 503);

    // A stream that ends gives its place back (noticed at the next heartbeat).
    drop(first);
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let again = client()
            .get(server.url("user=alice"))
            .bearer_auth(token("alice"))
            .send()
            .await?;
        if again.status().as_u16() == 200 {
            break;
        }
        ensure!(
            tokio::time::Instant::now() < deadline,
            "the slot never came back"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Ok(())
}
