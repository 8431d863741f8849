//! Dead letters: a message that failed for good goes to `{topic}.dlq.v1` (or to the one
//! topic its consumer names, `ConsumerConfig::dead_letter_topic`, e.g. `email.errors`),
//! wrapped in a [`DeadLetter`] with its context (original topic, exact bytes, headers,
//! error, retries, when and by whom), and [`DeadLetterQueue`] is the operator's tool over
//! those topics: list with counts, show one, redrive (send back to the original topic with
//! the retry count reset) and purge. It finds every `*.dlq.v1` topic by its name; a named
//! dead-letter topic is listed once given to [`DeadLetterQueue::with_topics`].

use std::collections::BTreeMap;
use std::ops::ControlFlow;
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use switchyard_bus::{Broker, BusError, Delivery, Message, REPUBLISHED_FROM_HEADER};
use switchyard_contracts::headers;

/// Suffix of the dead-letter topic of each topic: the bus's
/// [`DEAD_LETTER_SUFFIX`](switchyard_bus::DEAD_LETTER_SUFFIX), which topic patterns never
/// match.
pub const DLQ_SUFFIX: &str = switchyard_bus::DEAD_LETTER_SUFFIX;

/// The dead-letter topic of `topic`.
pub fn dlq_topic(topic: &str) -> String {
    format!("{topic}{DLQ_SUFFIX}")
}

/// Why a message was dead-lettered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureKind {
    /// The bytes are not an envelope.
    Undecodable,
    /// The envelope breaks its contract.
    Invalid,
    /// The handler said it can never succeed.
    Permanent,
    /// Every retry failed.
    RetriesExhausted,
}

impl FailureKind {
    /// The name used in headers, filters and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            FailureKind::Undecodable => "undecodable",
            FailureKind::Invalid => "invalid",
            FailureKind::Permanent => "permanent",
            FailureKind::RetriesExhausted => "retries_exhausted",
        }
    }
}

/// Who gave up on the message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailedBy {
    /// The service (process role), e.g. `switchyard`.
    pub service: String,
    /// The subscription.
    pub subscription: String,
}

/// A dead-lettered message with its context.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeadLetter {
    /// Where it was published.
    pub original_topic: String,
    /// Its partition key.
    pub original_key: Option<String>,
    /// Its headers, as published.
    pub original_headers: Vec<(String, String)>,
    /// Its bytes, exactly, in base64.
    pub original_event_base64: String,
    /// The event id, when the bytes are an envelope.
    pub event_id: Option<String>,
    /// The event type, when known.
    pub event_type: Option<String>,
    /// What went wrong, last error first.
    pub error: String,
    /// The kind of failure.
    pub error_type: FailureKind,
    /// Retries made before giving up.
    pub retry_count: u32,
    /// When it was given up on.
    pub failed_at: DateTime<Utc>,
    /// Who gave up.
    pub failed_by: FailedBy,
}

impl DeadLetter {
    /// Wraps a failed delivery.
    pub fn new(
        delivery: &Delivery,
        event: Option<(&str, &str)>,
        error: String,
        error_type: FailureKind,
        retry_count: u32,
        failed_by: FailedBy,
    ) -> Self {
        DeadLetter {
            original_topic: delivery.topic.clone(),
            original_key: delivery.message.key.clone(),
            original_headers: delivery.message.headers.clone(),
            original_event_base64: BASE64.encode(&delivery.message.payload),
            event_id: event.map(|(id, _)| id.to_string()),
            event_type: event.map(|(_, event_type)| event_type.to_string()),
            error,
            error_type,
            retry_count,
            failed_at: Utc::now(),
            failed_by,
        }
    }

    /// The original bytes.
    pub fn original_event(&self) -> Vec<u8> {
        BASE64
            .decode(&self.original_event_base64)
            .unwrap_or_default()
    }

    /// The message that carries it on the dead-letter topic.
    pub fn to_message(&self) -> Message {
        Message {
            key: self.original_key.clone(),
            headers: vec![
                ("content-type".into(), "application/json".into()),
                ("x-dlq-error-type".into(), self.error_type.as_str().into()),
            ],
            payload: serde_json::to_vec(self).expect("a dead letter always serializes"),
        }
    }

    /// The original message, ready to publish again: same bytes, key and headers, with
    /// `X-Retry-Count` back at 0 and `X-Republished-From` = `letter_id`, so that an
    /// engine's publish dedupe does not drop it as a copy of the first publish.
    pub fn redrive_message(&self, letter_id: &str) -> Message {
        let mut headers: Vec<(String, String)> = self
            .original_headers
            .iter()
            .filter(|(name, _)| {
                !name.eq_ignore_ascii_case(headers::RETRY_COUNT)
                    && !name.eq_ignore_ascii_case(REPUBLISHED_FROM_HEADER)
            })
            .cloned()
            .collect();
        headers.push((headers::RETRY_COUNT.to_string(), "0".to_string()));
        headers.push((REPUBLISHED_FROM_HEADER.to_string(), letter_id.to_string()));
        Message {
            key: self.original_key.clone(),
            headers,
            payload: self.original_event(),
        }
    }
}

/// A dead letter as stored: its id is `{dlq topic}/{sequence}`.
#[derive(Debug, Clone, Serialize)]
pub struct DeadLetterEntry {
    /// `{dlq topic}/{sequence}`.
    pub id: String,
    /// The letter.
    #[serde(flatten)]
    pub letter: DeadLetter,
}

/// Which dead letters an operation applies to; empty fields match everything.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct DeadLetterFilter {
    /// One entry, by id.
    pub id: Option<String>,
    /// Only letters of this original topic.
    pub topic: Option<String>,
    /// Only letters of this failure kind (`permanent`, `retries_exhausted`, …).
    pub error_type: Option<String>,
}

impl DeadLetterFilter {
    fn matches(&self, entry: &DeadLetterEntry) -> bool {
        self.id.as_ref().is_none_or(|id| *id == entry.id)
            && self
                .topic
                .as_ref()
                .is_none_or(|topic| *topic == entry.letter.original_topic)
            && self
                .error_type
                .as_ref()
                .is_none_or(|kind| kind == entry.letter.error_type.as_str())
    }
}

/// One page of dead letters.
#[derive(Debug, Clone, Serialize)]
pub struct DeadLetterPage {
    /// The letters, in order.
    pub entries: Vec<DeadLetterEntry>,
    /// The cursor of the next page (the last entry's id), when there are more.
    pub next: Option<String>,
}

/// Counts of dead letters per original topic and failure kind.
#[derive(Debug, Clone, Serialize)]
pub struct DeadLetterCount {
    /// Original topic.
    pub topic: String,
    /// Failure kind.
    pub error_type: FailureKind,
    /// How many.
    pub count: u64,
}

/// The operator's view of every dead-letter topic.
#[derive(Clone)]
pub struct DeadLetterQueue {
    broker: Arc<dyn Broker>,
    /// Dead-letter topics without the `.dlq.v1` suffix.
    named_topics: Vec<String>,
}

const PAGE: usize = 500;

impl DeadLetterQueue {
    /// The dead letters on `broker`.
    pub fn new(broker: Arc<dyn Broker>) -> Self {
        DeadLetterQueue {
            broker,
            named_topics: Vec::new(),
        }
    }

    /// Also the dead letters of `topics`, dead-letter topics named by consumers
    /// ([`ConsumerConfig::with_dead_letter_topic`](crate::ConsumerConfig::with_dead_letter_topic))
    /// rather than found by their `.dlq.v1` suffix.
    pub fn with_topics(mut self, topics: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.named_topics.extend(topics.into_iter().map(Into::into));
        self
    }

    fn is_dead_letter_topic(&self, topic: &str) -> bool {
        topic.ends_with(DLQ_SUFFIX) || self.named_topics.iter().any(|named| named == topic)
    }

    /// Every dead letter matching `filter`, oldest first per topic.
    pub async fn list(&self, filter: &DeadLetterFilter) -> Result<Vec<DeadLetterEntry>, BusError> {
        let mut entries = Vec::new();
        self.scan(filter, None, |entry| {
            entries.push(entry);
            ControlFlow::Continue(())
        })
        .await?;
        Ok(entries)
    }

    /// At most `limit` dead letters matching `filter`, in topic-name then sequence order,
    /// after the entry id `after` (`{topic}/{seq}`, the `next` of the previous page).
    /// Only one page is ever held in memory.
    pub async fn page(
        &self,
        filter: &DeadLetterFilter,
        after: Option<(&str, u64)>,
        limit: usize,
    ) -> Result<DeadLetterPage, BusError> {
        let mut entries = Vec::new();
        let mut more = false;
        self.scan(filter, after, |entry| {
            if entries.len() == limit {
                more = true;
                return ControlFlow::Break(());
            }
            entries.push(entry);
            ControlFlow::Continue(())
        })
        .await?;
        let next = more
            .then(|| entries.last().map(|entry| entry.id.clone()))
            .flatten();
        Ok(DeadLetterPage { entries, next })
    }

    /// Visits the matching letters in topic-name then sequence order, starting after
    /// `after`, until `visit` breaks.
    async fn scan(
        &self,
        filter: &DeadLetterFilter,
        after: Option<(&str, u64)>,
        mut visit: impl FnMut(DeadLetterEntry) -> ControlFlow<()>,
    ) -> Result<(), BusError> {
        let mut topics = self.broker.topics().await?;
        topics.sort_by(|a, b| a.name.cmp(&b.name));
        for topic in topics {
            if !self.is_dead_letter_topic(&topic.name) || topic.held == 0 {
                continue;
            }
            let mut after_seq = 0;
            if let Some((after_topic, seq)) = after {
                match topic.name.as_str().cmp(after_topic) {
                    std::cmp::Ordering::Less => continue,
                    std::cmp::Ordering::Equal => after_seq = seq,
                    std::cmp::Ordering::Greater => {}
                }
            }
            loop {
                let page = self.broker.browse(&topic.name, after_seq, PAGE).await?;
                let Some((last, _)) = page.last() else { break };
                after_seq = *last;
                for (seq, message) in page {
                    let id = format!("{}/{seq}", topic.name);
                    match serde_json::from_slice::<DeadLetter>(&message.payload) {
                        Ok(letter) => {
                            let entry = DeadLetterEntry { id, letter };
                            if filter.matches(&entry) && visit(entry).is_break() {
                                return Ok(());
                            }
                        }
                        Err(err) => {
                            tracing::warn!(id = %id, error = %err, "unreadable dead letter left in place")
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// Counts per original topic and failure kind.
    pub async fn counts(&self) -> Result<Vec<DeadLetterCount>, BusError> {
        let mut counts: BTreeMap<(String, FailureKind), u64> = BTreeMap::new();
        self.scan(&DeadLetterFilter::default(), None, |entry| {
            *counts
                .entry((entry.letter.original_topic, entry.letter.error_type))
                .or_default() += 1;
            ControlFlow::Continue(())
        })
        .await?;
        Ok(counts
            .into_iter()
            .map(|((topic, error_type), count)| DeadLetterCount {
                topic,
                error_type,
                count,
            })
            .collect())
    }

    /// Publishes every matching letter's original message back to its topic (retry count
    /// reset, event id unchanged so consumers' dedupe still applies), then removes it from
    /// the dead-letter topic. Returns how many were redriven.
    pub async fn redrive(&self, filter: &DeadLetterFilter) -> Result<usize, BusError> {
        let entries = self.list(filter).await?;
        for entry in &entries {
            self.broker
                .publish(
                    &entry.letter.original_topic,
                    vec![entry.letter.redrive_message(&entry.id)],
                )
                .await?;
            self.remove(entry).await?;
        }
        Ok(entries.len())
    }

    /// Deletes every matching letter. Returns how many.
    pub async fn purge(&self, filter: &DeadLetterFilter) -> Result<usize, BusError> {
        let entries = self.list(filter).await?;
        for entry in &entries {
            self.remove(entry).await?;
        }
        Ok(entries.len())
    }

    async fn remove(&self, entry: &DeadLetterEntry) -> Result<(), BusError> {
        let (topic, seq) = entry
            .id
            .rsplit_once('/')
            .and_then(|(topic, seq)| seq.parse::<u64>().ok().map(|seq| (topic, seq)))
            .expect("entry ids are built as {topic}/{seq}");
        self.broker.remove(topic, &[seq]).await.map(|_| ())
    }
}
