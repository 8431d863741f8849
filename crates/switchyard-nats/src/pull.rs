//! [`Puller`]: the pull requests of one subscription in this process, and the fetch built
//! on them. It owns the rule that no pull request is abandoned while the server may still
//! hold it; what a delivered message means is `delivery`'s business.
//!
//! # Why no request expires
//!
//! nats-server before 2.9.16 drops an expired pull request without answering when it comes
//! across it while handing over a message, and before 2.10.14 that message, when it is a
//! redelivery (a nack's delay or an ack deadline passed), leaves the redelivery queue and
//! comes back only after another ack wait. A fetch whose request expired while a nacked
//! message fell due therefore waited `request_timeout` for an answer that never came, and
//! the message stayed away for the whole ack deadline. The server drops requests only when
//! they expired or nobody listens on their reply subject, and hands the message to the
//! next request in its queue if there is one. So here no request carries `expires`, a
//! request's reply subscription lives until the server ended the request, and a request
//! still open when a fetch returns stays open: what it delivers later is kept for the next
//! fetch.
//!
//! # Requests
//!
//! At most one request is open at a time, so messages arrive in stream order:
//! - a *take* (`no_wait`, the batch still missing): the server answers at once with what
//!   is there, ended by `404` or `408`. It is never sent behind another open request of
//!   ours: seeing the messages go to that one, the server would keep the take open without
//!   a word (a `no_wait` request that found messages pending but got none stays queued).
//! - a *doorbell* (one message, no `no_wait`), sent when a take found nothing and the
//!   fetch may wait. It stays open across fetches until a message comes, so at most one
//!   message per subscription and process is delivered before a fetch asks for it.
//!
//! A fetch takes what is there, rings the doorbell if it found nothing, and after the
//! doorbell rang takes the rest of its batch. A take that goes unanswered for
//! [`TAKE_ANSWER_WAIT`] (the server kept it open as above) is treated as a doorbell.
//!
//! # Reconnects
//!
//! Requests belong to the connection they were sent on (`Statistics::connects`). After a
//! reconnect they are retired (a restarted server knows none of them): their subscriptions
//! are still read, and dropped only once a replacement request is on its way, so the
//! server never holds only requests of ours that nobody listens to. While the client is
//! disconnected a fetch sends nothing; it waits for the reconnection within its `max_wait`
//! and fails as unavailable if it found nothing.

use std::collections::VecDeque;
use std::future::poll_fn;
use std::sync::atomic::Ordering;
use std::task::Poll;
use std::time::Duration;

use async_nats::connection::State;
use async_nats::{Client, Message, StatusCode, Subscriber};
use futures_util::{FutureExt, StreamExt};
use serde::Serialize;
use switchyard_bus::{BusError, BusErrorKind};
use tokio::time::Instant;
use tracing::debug;

use crate::error::unavailable;
use crate::topology::unknown_subscription;

/// How long a fetch waits for the server's answer to a take before it stops waiting; the
/// take then stays open like a doorbell.
const TAKE_ANSWER_WAIT: Duration = Duration::from_secs(1);

/// How often a waiting fetch checks whether the connection was lost or re-established.
const CONNECTION_CHECK_INTERVAL: Duration = Duration::from_millis(100);

/// The body of a `CONSUMER.MSG.NEXT` request.
#[derive(Serialize)]
struct NextRequest {
    batch: usize,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    no_wait: bool,
}

/// A pull request the server may still hold.
struct OpenRequest {
    id: u64,
    replies: Subscriber,
    /// Messages it may still deliver.
    remaining: usize,
    /// The connection it was sent on (`Statistics::connects` at the time).
    connection: u64,
}

/// Where a subscription's pull requests go.
pub(crate) struct PullTarget<'a> {
    pub(crate) client: &'a Client,
    /// How long sending a request may take.
    pub(crate) request_timeout: Duration,
    pub(crate) subscription: &'a str,
    pub(crate) stream: &'a str,
    pub(crate) consumer: &'a str,
}

impl PullTarget<'_> {
    fn context(&self) -> String {
        format!("failed to fetch from subscription {}", self.subscription)
    }
}

/// The connection the client is on now, `None` while it is not connected.
fn current_connection(client: &Client) -> Option<u64> {
    (client.connection_state() == State::Connected)
        .then(|| client.statistics().connects.load(Ordering::Relaxed))
}

/// Whether a message came from a request other than this fetch's take (a doorbell, or a
/// take an earlier fetch stopped waiting for): then more may be there, and a take is due.
fn rang_elsewhere(delivered_by: Option<u64>, take: Option<(u64, Instant)>) -> bool {
    delivered_by.is_some_and(|by| take.is_none_or(|(id, _)| id != by))
}

/// Which request a reply came to.
#[derive(Clone, Copy)]
enum Source {
    Open,
    Retired(usize),
}

/// The pull requests of one subscription in this process and the messages they delivered
/// that no fetch has taken yet.
#[derive(Default)]
pub(crate) struct Puller {
    open: Option<OpenRequest>,
    /// Requests of an earlier connection, read until a replacement is sent.
    retired: Vec<OpenRequest>,
    /// Delivered, not yet fetched, in delivery order.
    delivered: VecDeque<Message>,
    next_id: u64,
}

impl Puller {
    /// Up to `max` messages: what the subscription holds now, else the first to come within
    /// `max_wait` with what else is there by then. Cancelling the future loses nothing:
    /// messages already delivered stay for the next fetch.
    pub(crate) async fn fetch(
        &mut self,
        target: &PullTarget<'_>,
        max: usize,
        max_wait: Duration,
    ) -> Result<Vec<Message>, BusError> {
        let deadline = Instant::now() + max_wait;
        // Whether messages may be there that no take of this fetch asked for.
        let mut take_wanted = true;
        // The take this fetch sent, and until when its answer is awaited.
        let mut take: Option<(u64, Instant)> = None;
        loop {
            let connection = current_connection(target.client);
            if let Some(connection) = connection
                && self.retire_before(connection)
            {
                debug!(
                    subscription = target.subscription,
                    "pull request replaced after a reconnect"
                );
            }
            while let Some((source, reply)) = self.next_reply().now_or_never() {
                let delivered_by = self.on_reply(target, source, reply)?;
                take_wanted |= rang_elsewhere(delivered_by, take);
            }
            if self.delivered.len() >= max {
                break;
            }
            let now = Instant::now();
            let until = match &self.open {
                None => {
                    let Some(connection) = connection else {
                        if now >= deadline {
                            break;
                        }
                        self.wait_for_reply(target, deadline, take, &mut take_wanted)
                            .await?;
                        continue;
                    };
                    if take_wanted {
                        let batch = max - self.delivered.len();
                        let id = self.send(target, batch, true, connection).await?;
                        take = Some((id, now + TAKE_ANSWER_WAIT));
                        take_wanted = false;
                        continue;
                    }
                    // A take found nothing more: return what there is, or wait for more.
                    if !self.delivered.is_empty() || now >= deadline {
                        break;
                    }
                    self.send(target, 1, false, connection).await?;
                    continue;
                }
                Some(open) => match take {
                    Some((id, answer_by)) if id == open.id => {
                        if self.delivered.is_empty() {
                            deadline.max(answer_by)
                        } else {
                            answer_by
                        }
                    }
                    // A doorbell, or a take some earlier fetch stopped waiting for: either
                    // would already have delivered what is there.
                    _ if !self.delivered.is_empty() => break,
                    _ => deadline,
                },
            };
            if now >= until {
                break;
            }
            self.wait_for_reply(target, until, take, &mut take_wanted)
                .await?;
        }
        if self.delivered.is_empty() && current_connection(target.client).is_none() {
            return Err(unavailable(
                &target.context(),
                "not connected to the server",
            ));
        }
        let count = max.min(self.delivered.len());
        Ok(self.delivered.drain(..count).collect())
    }

    /// Waits until `until` (at most [`CONNECTION_CHECK_INTERVAL`]) for one reply.
    async fn wait_for_reply(
        &mut self,
        target: &PullTarget<'_>,
        until: Instant,
        take: Option<(u64, Instant)>,
        take_wanted: &mut bool,
    ) -> Result<(), BusError> {
        let until = until.min(Instant::now() + CONNECTION_CHECK_INTERVAL);
        if let Ok((source, reply)) = tokio::time::timeout_at(until, self.next_reply()).await {
            let delivered_by = self.on_reply(target, source, reply)?;
            *take_wanted |= rang_elsewhere(delivered_by, take);
        }
        Ok(())
    }

    /// Retires the open request if it was sent on a connection before `connection`;
    /// returns whether it did.
    fn retire_before(&mut self, connection: u64) -> bool {
        let stale = self
            .open
            .as_ref()
            .is_some_and(|open| open.connection < connection);
        if stale {
            self.retired.extend(self.open.take());
        }
        stale
    }

    /// Sends a pull request for `batch` messages; returns its id. Retired requests are
    /// dropped once it is sent.
    async fn send(
        &mut self,
        target: &PullTarget<'_>,
        batch: usize,
        no_wait: bool,
        connection: u64,
    ) -> Result<u64, BusError> {
        debug_assert!(self.open.is_none(), "one pull request at a time");
        let context = target.context();
        let payload = serde_json::to_vec(&NextRequest { batch, no_wait })
            .map_err(|err| unavailable(&context, err))?;
        let inbox = target.client.new_inbox();
        // The client queues commands while it reconnects; a full queue must not hold the
        // fetch longer than any other call.
        let send = async {
            let replies = target
                .client
                .subscribe(inbox.clone())
                .await
                .map_err(|err| unavailable(&context, err))?;
            target
                .client
                .publish_with_reply(
                    format!(
                        "$JS.API.CONSUMER.MSG.NEXT.{}.{}",
                        target.stream, target.consumer
                    ),
                    inbox,
                    payload.into(),
                )
                .await
                .map_err(|err| unavailable(&context, err))?;
            Ok::<_, BusError>(replies)
        };
        let replies = tokio::time::timeout(target.request_timeout, send)
            .await
            .map_err(|_| unavailable(&context, "the client's send queue stayed full"))??;
        self.next_id += 1;
        self.open = Some(OpenRequest {
            id: self.next_id,
            replies,
            remaining: batch,
            connection,
        });
        // Unsubscribing now is safe: the new request reaches the server first.
        self.retired.clear();
        Ok(self.next_id)
    }

    /// The next reply to the open request or a retired one; `None` when a subscription
    /// ended. Pending while there is none, forever when no request is open.
    async fn next_reply(&mut self) -> (Source, Option<Message>) {
        poll_fn(|cx| {
            if let Some(open) = &mut self.open
                && let Poll::Ready(reply) = open.replies.poll_next_unpin(cx)
            {
                return Poll::Ready((Source::Open, reply));
            }
            for (index, retired) in self.retired.iter_mut().enumerate() {
                if let Poll::Ready(reply) = retired.replies.poll_next_unpin(cx) {
                    return Poll::Ready((Source::Retired(index), reply));
                }
            }
            Poll::Pending
        })
        .await
    }

    /// Takes in one reply: a message is kept for fetching, a status may end its request.
    /// Returns the id of the request that delivered a message, if it was one.
    fn on_reply(
        &mut self,
        target: &PullTarget<'_>,
        source: Source,
        reply: Option<Message>,
    ) -> Result<Option<u64>, BusError> {
        let request = match source {
            Source::Open => self.open.as_mut(),
            Source::Retired(index) => self.retired.get_mut(index),
        }
        .expect("a reply comes from a request held");
        let id = request.id;
        let (ended, outcome) = match reply {
            None => (true, Ok(None)),
            Some(message) => match message.status {
                None | Some(StatusCode::OK) => {
                    request.remaining = request.remaining.saturating_sub(1);
                    self.delivered.push_back(message);
                    (request.remaining == 0, Ok(Some(id)))
                }
                Some(StatusCode::IDLE_HEARTBEAT) => (false, Ok(None)),
                // No messages (a take), or the request timed out: it is over.
                Some(StatusCode::NOT_FOUND) | Some(StatusCode::TIMEOUT) => (true, Ok(None)),
                Some(StatusCode::NO_RESPONDERS) => (
                    true,
                    Err(BusError::new(
                        BusErrorKind::UnknownSubscription,
                        format!(
                            "subscription {} is gone from the server (consumer {} of stream {})",
                            target.subscription, target.consumer, target.stream
                        ),
                    )),
                ),
                Some(StatusCode::REQUEST_TERMINATED) => {
                    let description = message.description.unwrap_or_default();
                    let outcome = if description.contains("Deleted") {
                        Err(unknown_subscription(target.subscription))
                    } else if description.contains("MaxAckPending")
                        || description.contains("Leadership Change")
                    {
                        // The request is over; the next one is sent when needed.
                        debug!(subscription = target.subscription, %description, "pull request ended");
                        Ok(None)
                    } else {
                        Err(unavailable(&target.context(), description))
                    };
                    (true, outcome)
                }
                Some(status) => {
                    let description = message.description.unwrap_or_default();
                    (
                        true,
                        Err(unavailable(
                            &target.context(),
                            format!("status {status}: {description}"),
                        )),
                    )
                }
            },
        };
        if ended {
            match source {
                Source::Open => self.open = None,
                Source::Retired(index) => {
                    self.retired.remove(index);
                }
            }
        }
        outcome
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_requests() {
        let check = |request: NextRequest, expected: &str| {
            assert_eq!(serde_json::to_string(&request).expect("encodes"), expected);
        };
        check(
            NextRequest {
                batch: 10,
                no_wait: true,
            },
            r#"{"batch":10,"no_wait":true}"#,
        );
        check(
            NextRequest {
                batch: 1,
                no_wait: false,
            },
            r#"{"batch":1}"#,
        );
    }
}
