//! The channels the broker shares ([`ChannelSlot`]) and how it sends many frames at once
//! ([`in_order`]).

use std::future::Future;
use std::pin::Pin;
use std::task::Context;

use futures_util::future::{MaybeDone, maybe_done};
use lapin::options::{BasicNackOptions, ConfirmSelectOptions};
use lapin::{Channel, Connection};
use switchyard_bus::BusError;

use crate::error::amqp;

/// A channel opened on first use and again after the server closed it.
pub(crate) struct ChannelSlot {
    confirms: bool,
    channel: tokio::sync::Mutex<Option<Channel>>,
}

impl ChannelSlot {
    pub(crate) fn new(confirms: bool) -> Self {
        ChannelSlot {
            confirms,
            channel: tokio::sync::Mutex::new(None),
        }
    }

    pub(crate) async fn get(&self, connection: &Connection) -> Result<Channel, BusError> {
        let mut slot = self.channel.lock().await;
        if let Some(channel) = slot.as_ref().filter(|c| c.status().connected()) {
            return Ok(channel.clone());
        }
        let channel = connection
            .create_channel()
            .await
            .map_err(|err| amqp("failed to open a channel", err))?;
        if self.confirms {
            channel
                .confirm_select(ConfirmSelectOptions::default())
                .await
                .map_err(|err| amqp("failed to enable publisher confirms", err))?;
        }
        *slot = Some(channel.clone());
        Ok(channel)
    }

    /// Forgets `channel` after the server closed it.
    pub(crate) async fn discard(&self, channel: &Channel) {
        let mut slot = self.channel.lock().await;
        if slot.as_ref().is_some_and(|c| c.id() == channel.id()) {
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
