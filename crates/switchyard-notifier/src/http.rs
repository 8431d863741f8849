//! The stream endpoint: `GET /v1/stream?user=…` as Server-Sent Events, from
//! [`stream_router`].
//!
//! - Each signal is `id: {seq}`, `event: item`, `data: {"type":…,"id":…,"operation":…}`.
//! - `Last-Event-ID` (header, or the `last_event_id` query parameter) resumes after that
//!   id: the journal replays what followed, then the stream goes live, with no gap and
//!   no duplicate. An id the journal no longer covers (retention), never gave out, or
//!   cannot parse gets `event: reset` with `id:` = the newest id and
//!   `data: {"reason":…,"latest_id":…}`: refetch, then carry on from there. Without an
//!   id, the stream starts with the next signal.
//! - A `:heartbeat` comment goes out after `heartbeat_secs` without an event.
//! - Authorization by a [`StreamAuthorizer`] ([`crate::StreamAuth`] or the node's own):
//!   no or a bad token → 401 with `WWW-Authenticate: Bearer`; a token for another user →
//!   403.
//! - At most `max_streams_per_user` streams per user (429 beyond) and `max_streams` in
//!   all (503 beyond), counted until each stream ends.
//!
//! **Boundary:** reads the [`Journal`] only; knows no broker.

use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use chrono::Utc;
use serde::Deserialize;
use serde_json::json;
use tokio::sync::broadcast::{self, error::RecvError};

use crate::{AuthFailure, Journal, JournalEntry, NotifierError, Replay, StreamAuthorizer};

/// The path of the stream endpoint.
pub const STREAM_PATH: &str = "/v1/stream";

/// What the stream handler shares.
#[derive(Clone)]
struct StreamState {
    journal: Journal,
    auth: Arc<dyn StreamAuthorizer>,
    open: Arc<OpenStreams>,
}

/// The router of `GET /v1/stream`, to merge into the node's HTTP API.
pub fn stream_router(journal: Journal, auth: impl StreamAuthorizer + 'static) -> Router {
    let config = journal.config();
    let open = OpenStreams {
        per_user: Mutex::new(HashMap::new()),
        max_per_user: config.max_streams_per_user,
        max_total: config.max_streams,
    };
    Router::new()
        .route(STREAM_PATH, get(stream))
        .with_state(StreamState {
            journal,
            auth: Arc::new(auth),
            open: Arc::new(open),
        })
}

/// The streams open now, per user, within the configured caps.
struct OpenStreams {
    per_user: Mutex<HashMap<String, usize>>,
    max_per_user: usize,
    max_total: usize,
}

/// One open stream's place, given back when the stream ends.
struct StreamSlot {
    open: Arc<OpenStreams>,
    user_id: String,
}

impl OpenStreams {
    /// A slot for one more stream of `user_id`, or the status and reason refusing it.
    fn take(open: &Arc<OpenStreams>, user_id: &str) -> Result<StreamSlot, (StatusCode, String)> {
        let mut per_user = open.per_user.lock().unwrap_or_else(|e| e.into_inner());
        if per_user.values().sum::<usize>() >= open.max_total {
            return Err((
                StatusCode::SERVICE_UNAVAILABLE,
                format!("this node serves {} live streams already", open.max_total),
            ));
        }
        let count = per_user.entry(user_id.to_string()).or_default();
        if *count >= open.max_per_user {
            return Err((
                StatusCode::TOO_MANY_REQUESTS,
                format!(
                    "user `{user_id}` has {} live streams open already (notifier.max_streams_per_user)",
                    open.max_per_user
                ),
            ));
        }
        *count += 1;
        Ok(StreamSlot {
            open: open.clone(),
            user_id: user_id.to_string(),
        })
    }
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        let mut per_user = self.open.per_user.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(count) = per_user.get_mut(&self.user_id) {
            *count -= 1;
            if *count == 0 {
                per_user.remove(&self.user_id);
            }
        }
    }
}

#[derive(Deserialize)]
struct StreamParams {
    user: Option<String>,
    last_event_id: Option<String>,
    access_token: Option<String>,
}

fn error(status: StatusCode, message: impl std::fmt::Display) -> Response {
    (status, Json(json!({ "error": message.to_string() }))).into_response()
}

fn auth_error(failure: AuthFailure) -> Response {
    let (status, challenge) = match failure {
        AuthFailure::Missing => (StatusCode::UNAUTHORIZED, "Bearer"),
        AuthFailure::Invalid(_) => (StatusCode::UNAUTHORIZED, "Bearer error=\"invalid_token\""),
        AuthFailure::Forbidden(_) => (StatusCode::FORBIDDEN, "Bearer error=\"insufficient_scope\""),
    };
    let mut response = error(status, &failure);
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static(challenge),
    );
    response
}

/// The bearer token of the `Authorization` header, else the `access_token` parameter.
fn token<'a>(headers: &'a HeaderMap, params: &'a StreamParams) -> Option<&'a str> {
    let from_header = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| {
            let (scheme, token) = value.trim().split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
        });
    from_header.or(params.access_token.as_deref())
}

/// The id a client resumes after.
enum LastEventId {
    Seq(u64),
    Unreadable(String),
}

fn last_event_id(headers: &HeaderMap, params: &StreamParams) -> Option<LastEventId> {
    let text = match headers.get("last-event-id") {
        Some(value) => String::from_utf8_lossy(value.as_bytes()).trim().to_string(),
        None => params.last_event_id.as_deref()?.trim().to_string(),
    };
    if text.is_empty() {
        return None;
    }
    Some(match text.parse() {
        Ok(seq) => LastEventId::Seq(seq),
        Err(_) => LastEventId::Unreadable(text),
    })
}

async fn stream(
    State(state): State<StreamState>,
    Query(params): Query<StreamParams>,
    headers: HeaderMap,
) -> Response {
    let Some(user_id) = params.user.clone().filter(|user| !user.is_empty()) else {
        return error(StatusCode::BAD_REQUEST, "missing required parameter `user`");
    };
    if let Err(failure) = state
        .auth
        .authorize(token(&headers, &params), &user_id, Utc::now())
    {
        tracing::debug!(error = %failure, "stream request refused");
        return auth_error(failure);
    }
    let slot = match OpenStreams::take(&state.open, &user_id) {
        Ok(slot) => slot,
        Err((status, reason)) => return error(status, reason),
    };
    let cursor = match Cursor::start(
        state.journal.clone(),
        user_id,
        last_event_id(&headers, &params),
    )
    .await
    {
        Ok(cursor) => cursor,
        Err(err) => {
            tracing::warn!(error = %err, "stream not started");
            return error(StatusCode::SERVICE_UNAVAILABLE, err);
        }
    };
    // The slot lives as long as the stream, whichever way it ends.
    let events = futures_util::stream::unfold((cursor, slot), |(mut cursor, slot)| async move {
        let event = cursor.next().await?.into_event();
        Some((Ok::<_, Infallible>(event), (cursor, slot)))
    });
    let keep_alive = KeepAlive::new()
        .interval(state.journal.config().heartbeat())
        .text("heartbeat");
    (
        // Tells reverse proxies (nginx) not to buffer the stream.
        [(
            header::HeaderName::from_static("x-accel-buffering"),
            HeaderValue::from_static("no"),
        )],
        Sse::new(events).keep_alive(keep_alive),
    )
        .into_response()
}

/// What a stream sends next.
#[derive(Debug, Clone, PartialEq)]
enum Outgoing {
    /// A signal.
    Item(Arc<JournalEntry>),
    /// Refetch, then continue after `latest_seq`.
    Reset { latest_seq: u64, reason: String },
}

impl Outgoing {
    fn into_event(self) -> Event {
        match self {
            Outgoing::Item(entry) => Event::default()
                .id(entry.seq.to_string())
                .event("item")
                .data(serde_json::to_string(&entry.signal).expect("signals serialize to JSON")),
            Outgoing::Reset { latest_seq, reason } => Event::default()
                .id(latest_seq.to_string())
                .event("reset")
                .data(json!({ "reason": reason, "latest_id": latest_seq }).to_string()),
        }
    }
}

/// One client's position: the last id it was sent, events ready to send, and whether
/// it must read the journal before listening live again.
struct Cursor {
    journal: Journal,
    user_id: String,
    live: broadcast::Receiver<Arc<JournalEntry>>,
    last_seq: u64,
    pending: VecDeque<Outgoing>,
    catching_up: bool,
}

impl Cursor {
    /// Subscribes first, then finds where to start, so nothing recorded in between is
    /// lost: live entries at or before the start are skipped, later ones delivered.
    async fn start(
        journal: Journal,
        user_id: String,
        last_event_id: Option<LastEventId>,
    ) -> Result<Self, NotifierError> {
        let live = journal.subscribe(&user_id);
        let mut cursor = Cursor {
            journal,
            user_id,
            live,
            last_seq: 0,
            pending: VecDeque::new(),
            catching_up: false,
        };
        match last_event_id {
            None => cursor.last_seq = cursor.journal.latest_seq(&cursor.user_id).await?,
            Some(LastEventId::Seq(seq)) => {
                cursor.last_seq = seq;
                cursor.catching_up = true;
                cursor.catch_up().await?;
            }
            Some(LastEventId::Unreadable(text)) => {
                let latest_seq = cursor.journal.latest_seq(&cursor.user_id).await?;
                cursor.reset(
                    latest_seq,
                    &format!("last event id `{text}` is not a signal id"),
                );
            }
        }
        Ok(cursor)
    }

    fn reset(&mut self, latest_seq: u64, reason: &str) {
        self.pending.push_back(Outgoing::Reset {
            latest_seq,
            reason: reason.to_string(),
        });
        self.last_seq = latest_seq;
        self.catching_up = false;
    }

    /// Reads the next page of the journal after `last_seq`.
    async fn catch_up(&mut self) -> Result<(), NotifierError> {
        match self
            .journal
            .read_after(&self.user_id, self.last_seq)
            .await?
        {
            Replay::Entries(entries) => {
                self.catching_up = entries.len() >= self.journal.config().replay_page_signals;
                for entry in entries {
                    self.last_seq = entry.seq;
                    self.pending.push_back(Outgoing::Item(Arc::new(entry)));
                }
            }
            Replay::Gap { latest_seq } => {
                let reason = format!(
                    "the journal no longer holds the signals after id {}: refetch",
                    self.last_seq
                );
                self.reset(latest_seq, &reason);
            }
        }
        Ok(())
    }

    /// The next event to send; `None` ends the stream (the client reconnects with its
    /// `Last-Event-ID`).
    async fn next(&mut self) -> Option<Outgoing> {
        loop {
            if let Some(event) = self.pending.pop_front() {
                return Some(event);
            }
            if self.catching_up {
                if let Err(err) = self.catch_up().await {
                    tracing::warn!(error = %err, "stream ended: journal unreadable");
                    return None;
                }
                continue;
            }
            match self.live.recv().await {
                Ok(entry) if entry.seq <= self.last_seq => {}
                Ok(entry) if entry.seq == self.last_seq + 1 => {
                    self.last_seq = entry.seq;
                    return Some(Outgoing::Item(entry));
                }
                // Out of order or overrun: the journal has everything in order.
                Ok(_) | Err(RecvError::Lagged(_)) => self.catching_up = true,
                Err(RecvError::Closed) => return None,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{NewSignal, NotifierConfig, RedbJournalStore};
    use switchyard_contracts::Operation;

    async fn journal(dir: &std::path::Path, live_buffer_signals: usize) -> Journal {
        let config = NotifierConfig {
            live_buffer_signals,
            replay_page_signals: 4,
            max_signals_per_user: Some(50),
            ..NotifierConfig::default()
        };
        let store = RedbJournalStore::open(dir, config.retention()).expect("store opens");
        Journal::new(Arc::new(store), config).expect("valid config")
    }

    async fn record(journal: &Journal, user: &str, ids: impl IntoIterator<Item = u32>) {
        for id in ids {
            let signal = NewSignal::new(
                user,
                "email",
                &format!("m{id}"),
                Operation::Create,
                Utc::now(),
            );
            journal.record(vec![signal]).await.expect("recorded");
        }
    }

    /// The next `count` outgoing items' ids, failing on a reset.
    async fn next_ids(cursor: &mut Cursor, count: usize) -> Vec<u64> {
        let mut ids = Vec::new();
        for _ in 0..count {
            match cursor.next().await {
                Some(Outgoing::Item(entry)) => ids.push(entry.seq),
                other => panic!("expected an item, got {other:?}"),
            }
        }
        ids
    }

    #[tokio::test]
    async fn a_lagging_cursor_catches_up_from_the_journal_in_pages() {
        let dir = tempfile::tempdir().expect("temp dir");
        let journal = journal(dir.path(), 2).await;
        let mut cursor = Cursor::start(journal.clone(), "alice".into(), None)
            .await
            .expect("starts");
        // Ten signals into a live buffer of two: the receiver lags.
        record(&journal, "alice", 1..=10).await;
        assert_eq!(
            next_ids(&mut cursor, 10).await,
            (1..=10).collect::<Vec<_>>()
        );
        // Live again afterwards, with no duplicate of what the journal replayed.
        record(&journal, "alice", 11..=11).await;
        assert_eq!(next_ids(&mut cursor, 1).await, [11]);
        assert!(cursor.pending.is_empty() && !cursor.catching_up);
    }

    #[tokio::test]
    async fn a_resumed_cursor_skips_live_copies_of_replayed_signals() {
        let dir = tempfile::tempdir().expect("temp dir");
        let journal = journal(dir.path(), 64).await;
        record(&journal, "alice", 1..=3).await;
        let mut cursor = Cursor::start(journal.clone(), "alice".into(), Some(LastEventId::Seq(1)))
            .await
            .expect("starts");
        // Recorded after the subscription: both in the live buffer and in the journal.
        record(&journal, "alice", 4..=6).await;
        assert_eq!(next_ids(&mut cursor, 5).await, [2, 3, 4, 5, 6]);
        assert!(
            tokio::time::timeout(std::time::Duration::from_millis(100), cursor.next())
                .await
                .is_err(),
            "nothing more"
        );
    }

    #[tokio::test]
    async fn other_users_signals_never_reach_a_cursor() {
        let dir = tempfile::tempdir().expect("temp dir");
        let journal = journal(dir.path(), 64).await;
        let mut cursor = Cursor::start(journal.clone(), "alice".into(), Some(LastEventId::Seq(0)))
            .await
            .expect("starts");
        record(&journal, "bob", 1..=3).await;
        record(&journal, "alice", 1..=1).await;
        match cursor.next().await {
            Some(Outgoing::Item(entry)) => {
                assert_eq!((entry.user_id.as_str(), entry.seq), ("alice", 1));
            }
            other => panic!("expected alice's item, got {other:?}"),
        }
    }
}
