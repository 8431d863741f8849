//! The [`Handler`] trait: a consumer's domain logic, free of delivery concerns.

use async_trait::async_trait;
use switchyard_contracts::{ContractError, Envelope};

/// One event handed to a handler, with what it may want to know about its delivery.
#[derive(Debug)]
pub struct Incoming<E> {
    /// The decoded event.
    pub event: E,
    /// Its envelope id.
    pub event_id: String,
    /// How many times it was retried before (`X-Retry-Count`).
    pub retry_count: u32,
    /// Its envelope's `correlationid`: events a handler publishes because of it carry it on.
    pub correlation_id: Option<String>,
    /// Its envelope's W3C `traceparent`: events a handler publishes continue its trace.
    pub traceparent: Option<String>,
}

impl<E> Incoming<E> {
    /// `event` with envelope id `event_id`, first delivered, without correlation or trace.
    pub fn new(event: E, event_id: impl Into<String>) -> Self {
        Incoming {
            event,
            event_id: event_id.into(),
            retry_count: 0,
            correlation_id: None,
            traceparent: None,
        }
    }
}

/// What became of one event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Handled.
    Done,
    /// A passing failure (disk full, lock busy, a service down): retried later.
    Retry(String),
    /// It can never succeed as it is: dead-lettered at once.
    Fail(String),
}

/// A consumer's domain logic: how to read an event and what to do with a batch.
///
/// `handle` may see an event again after a crash between its success and the runtime
/// recording the idempotency keys, so its effect must be safe to repeat (an upsert, not an
/// increment).
#[async_trait]
pub trait Handler: Send + Sync + 'static {
    /// The decoded event the handler works on.
    type Event: Send + 'static;

    /// Decodes an envelope's payload; an error dead-letters the message.
    fn decode(&self, envelope: &Envelope) -> Result<Self::Event, ContractError>;

    /// Applies a batch; returns one outcome per event, in order.
    async fn handle(&self, batch: Vec<Incoming<Self::Event>>) -> Vec<Outcome>;
}

/// The shape most handlers share: `change` says what each event of `batch` changes (`None`:
/// nothing, the event is done), `apply` applies every change at once, and when it fails
/// each event that contributed a change is retried with the reason, naming `what` failed
/// (`"meeting changes"`). Returns one outcome per event, and what `apply` returned when it
/// ran and succeeded (for the caller's log).
pub async fn apply_changes<E, C, R, Err, Fut>(
    batch: &[Incoming<E>],
    change: impl Fn(&E) -> Option<C>,
    apply: impl FnOnce(Vec<C>) -> Fut,
    what: &str,
) -> (Vec<Outcome>, Option<R>)
where
    Fut: std::future::Future<Output = Result<R, Err>>,
    Err: std::fmt::Display,
{
    let mut outcomes = vec![Outcome::Done; batch.len()];
    let (positions, changes): (Vec<usize>, Vec<C>) = batch
        .iter()
        .enumerate()
        .filter_map(|(position, incoming)| change(&incoming.event).map(|c| (position, c)))
        .unzip();
    if changes.is_empty() {
        return (outcomes, None);
    }
    match apply(changes).await {
        Ok(applied) => (outcomes, Some(applied)),
        Err(err) => {
            tracing::warn!(error = %err, "{what} not applied, retrying");
            // The store failed, not the events: retry (the runtime dead-letters after the
            // retry budget).
            let reason = format!("failed to apply {what}: {err}");
            for position in positions {
                outcomes[position] = Outcome::Retry(reason.clone());
            }
            (outcomes, None)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn incoming(event: u32) -> Incoming<u32> {
        Incoming::new(event, format!("e{event}"))
    }

    #[tokio::test]
    async fn only_events_with_a_change_are_retried_when_apply_fails() {
        let batch: Vec<Incoming<u32>> = (0..4).map(incoming).collect();
        let even = |n: &u32| n.is_multiple_of(2).then_some(*n);
        let (outcomes, applied) = apply_changes(
            &batch,
            even,
            |changes| async move { Ok::<_, String>(changes) },
            "numbers",
        )
        .await;
        assert_eq!(applied, Some(vec![0, 2]));
        assert!(outcomes.iter().all(|o| *o == Outcome::Done));

        let (outcomes, applied) = apply_changes(
            &batch,
            even,
            |_| async { Err::<(), _>("disk full") },
            "numbers",
        )
        .await;
        assert_eq!(applied, None);
        let retry = Outcome::Retry("failed to apply numbers: disk full".into());
        assert_eq!(
            outcomes,
            [retry.clone(), Outcome::Done, retry, Outcome::Done]
        );
    }
}
