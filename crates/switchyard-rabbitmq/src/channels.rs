//! The channels the broker shares ([`ChannelSlot`]) and how it sends many frames at once
//! ([`in_order`], [`settle_all`]).

use std::future::Future;
use std::pin::Pin;
use std::task::Context;
use std::time::Duration;

use futures_util::future::{MaybeDone, maybe_done};
use lapin::Channel;
use lapin::options::{BasicNackOptions, ConfirmSelectOptions};
use switchyard_bus::{BusError, BusErrorKind};

use crate::error::amqp;
use crate::link::Open;

/// A channel opened on first use, and again after the server closed it or the
/// connection it was on was replaced: a channel of an older connection is never handed
/// out, even while that connection's socket is still open.
pub(crate) struct ChannelSlot {
    confirms: bool,
    /// The channel and the generation of its connection.
    channel: tokio::sync::Mutex<Option<(u64, Channel)>>,
}

impl ChannelSlot {
    pub(crate) fn new(confirms: bool) -> Self {
        ChannelSlot {
            confirms,
            channel: tokio::sync::Mutex::new(None),
        }
    }

    /// The slot's channel on `open`. Opening one waits for the server: callers bound it
    /// (`Link::answered`), which also bounds the wait for another caller opening one.
    pub(crate) async fn get(&self, open: &Open) -> Result<Channel, BusError> {
        let mut slot = self.channel.lock().await;
        if let Some((_, channel)) = slot
            .as_ref()
            .filter(|(generation, c)| *generation == open.generation && c.status().connected())
        {
            return Ok(channel.clone());
        }
        // A channel of a replaced connection is closed when its last handle goes.
        *slot = None;
        let channel = open
            .connection
            .create_channel()
            .await
            .map_err(|err| amqp("failed to open a channel", err))?;
        if self.confirms {
            channel
                .confirm_select(ConfirmSelectOptions::default())
                .await
                .map_err(|err| amqp("failed to enable publisher confirms", err))?;
        }
        *slot = Some((open.generation, channel.clone()));
        Ok(channel)
    }

    /// Forgets `channel` after the server closed it.
    pub(crate) async fn discard(&self, channel: &Channel) {
        let mut slot = self.channel.lock().await;
        if slot.as_ref().is_some_and(|(_, c)| c.id() == channel.id()) {
            *slot = None;
        }
    }
}

/// Puts back every message still taken on `channel` (in their original places) and
/// closes it.
pub(crate) async fn give_back(channel: &Channel, last_tag: Option<u64>) -> Result<(), BusError> {
    if let Some(last_tag) = last_tag {
        channel
            .basic_nack(
                last_tag,
                BasicNackOptions {
                    multiple: true,
                    requeue: true,
                },
            )
            .await
            .map_err(|err| amqp("failed to give back browsed messages", err))?;
    }
    channel
        .close(200, "OK".into())
        .await
        .map_err(|err| amqp("failed to close a channel", err))
}

pub(crate) async fn close_quietly(channel: &Channel) {
    if let Err(err) = channel.close(200, "OK".into()).await {
        tracing::debug!(error = %err, "closing a channel failed");
    }
}

/// Runs `sends` (lapin sends: each queues its frames on its first poll, then waits until
/// the I/O loop wrote them) so that all are queued, in order, before any is waited for:
/// a batch then costs one turn of the I/O loop instead of one per message, and frames
/// still leave in the given order, which keeps per-key publish order.
pub(crate) async fn in_order<F: Future>(sends: impl IntoIterator<Item = F>) -> Vec<F::Output> {
    let mut started: Vec<Pin<Box<MaybeDone<F>>>> = sends
        .into_iter()
        .map(|send| Box::pin(maybe_done(send)))
        .collect();
    {
        let mut context = Context::from_waker(futures_util::task::noop_waker_ref());
        for send in &mut started {
            // Pending is expected: the real wait is below, with the task's own waker.
            let _ = send.as_mut().poll(&mut context);
        }
    }
    for send in &mut started {
        send.as_mut().await;
    }
    started
        .into_iter()
        .map(|mut send| {
            send.as_mut()
                .take_output()
                .expect("every send was awaited to completion")
        })
        .collect()
}

/// Runs `settles` (acks, nacks or rejects of deliveries) like [`in_order`], for at most
/// `limit`. Unbounded, one settle sent just as its connection died could wait for ever
/// (lapin never settles its promise), and the consumer calling it with it. Fails with
/// the first refusal, or `Unavailable` without an answer in time; either way the
/// deliveries not settled come again.
pub(crate) async fn settle_all<F>(
    settles: impl IntoIterator<Item = F>,
    limit: Duration,
    context: &str,
) -> Result<(), BusError>
where
    F: Future<Output = Result<bool, lapin::Error>>,
{
    match tokio::time::timeout(limit, in_order(settles)).await {
        Ok(results) => match results.into_iter().find_map(Result::err) {
            None => Ok(()),
            Some(err) => Err(amqp(context, err)),
        },
        Err(_) => Err(BusError::new(
            BusErrorKind::Unavailable,
            format!("{context}: no answer within {limit:?}"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use std::future::{pending, ready};
    use std::time::Duration;

    use switchyard_bus::BusErrorKind;
    use tokio::time::Instant;

    use super::settle_all;

    const LIMIT: Duration = Duration::from_secs(10);

    // Regression: in the restart test under load, an ack sent as the node was killed never
    // completed, the consumer waited on it for ever, and nothing was consumed after the
    // node came back.
    #[tokio::test(start_paused = true)]
    async fn a_settle_without_an_answer_fails_at_the_limit() {
        let started = Instant::now();
        let settles = [
            Box::pin(ready(Ok(true))) as std::pin::Pin<Box<dyn Future<Output = _>>>,
            Box::pin(pending::<Result<bool, lapin::Error>>()),
        ];
        let err = settle_all(settles, LIMIT, "failed to ack deliveries")
            .await
            .expect_err("one settle never completes");
        assert_eq!(started.elapsed(), LIMIT);
        assert_eq!(err.kind(), BusErrorKind::Unavailable);
        assert_eq!(
            err.to_string(),
            "failed to ack deliveries: no answer within 10s"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn answered_settles_return_at_once() {
        let started = Instant::now();
        let settles = [ready(Ok::<bool, lapin::Error>(true)), ready(Ok(false))];
        settle_all(settles, LIMIT, "failed to ack deliveries")
            .await
            .expect("both settles completed");
        assert_eq!(started.elapsed(), Duration::ZERO);
    }
}
