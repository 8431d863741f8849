//! Pattern subscriptions of the embedded broker: each one owns a private log (like a
//! RabbitMQ queue bound with the pattern) that the publish transaction appends to, so
//! fetch, ack, nack and retention work on it as on a topic log. This file owns the
//! private logs' tables, their entry layout, routing at publish and the copy taken when a
//! pattern subscription is created; the layout is described in `embedded.rs`. Matching is
//! the bus's `pattern_matches`, so a dead-letter topic is never routed or copied to a
//! private log: its messages stay in its topic log, where `browse` finds them.

use std::collections::HashSet;

use redb::{ReadableTable, TableDefinition};

use super::store::{
    SUBSCRIPTIONS, SubscriptionState, TOPICS, current_cursor, log_table, pending_def,
    pending_table, storage,
};
use crate::{BusError, BusErrorKind, Message, is_pattern, pattern_matches, record};

/// Pattern subscription name → next sequence number of its private log.
pub(super) const PATTERN_LOGS: TableDefinition<&str, u64> = TableDefinition::new("pattern_logs");

/// The private log of pattern subscription `subscription`.
pub(super) fn routed_table(subscription: &str) -> String {
    format!("routed/{subscription}")
}

/// A private log entry: the concrete topic (u8 length, UTF-8 bytes), then the record.
fn encode_entry(topic: &str, record: &[u8]) -> Vec<u8> {
    let len = u8::try_from(topic.len()).expect("topics are at most 200 bytes");
    let mut entry = Vec::with_capacity(1 + topic.len() + record.len());
    entry.push(len);
    entry.extend_from_slice(topic.as_bytes());
    entry.extend_from_slice(record);
    entry
}

/// The topic and message of a private log entry; `seq` only names it in errors.
pub(super) fn decode_entry(entry: &[u8], seq: u64) -> Result<(String, Message), BusError> {
    let corrupt = || {
        BusError::new(
            BusErrorKind::Corrupt,
            format!("routed entry {seq} is damaged: bad topic"),
        )
    };
    let (&len, rest) = entry.split_first().ok_or_else(corrupt)?;
    let len = usize::from(len);
    let topic = rest.get(..len).ok_or_else(corrupt)?;
    let topic = std::str::from_utf8(topic).map_err(|_| corrupt())?;
    Ok((topic.to_string(), record::decode(&rest[len..], seq)?))
}

/// Who takes a publish, as of the transaction: topics with an exact subscription, and
/// every pattern subscription with the next sequence of its private log.
pub(super) struct Router {
    exact_topics: HashSet<String>,
    patterns: Vec<(String, String, u64)>,
}

impl Router {
    /// Reads the subscriptions as committed, so a subscription created just before this
    /// transaction is routed to, and one created after it starts past what it routes.
    pub(super) fn load(txn: &redb::WriteTransaction) -> Result<Self, BusError> {
        let subscriptions = txn
            .open_table(SUBSCRIPTIONS)
            .map_err(storage("failed to open subscriptions"))?;
        let next_of = txn
            .open_table(PATTERN_LOGS)
            .map_err(storage("failed to open pattern logs"))?;
        let mut router = Router {
            exact_topics: HashSet::new(),
            patterns: Vec::new(),
        };
        for entry in subscriptions
            .iter()
            .map_err(storage("failed to read subscriptions"))?
        {
            let (name, value) = entry.map_err(storage("failed to read subscriptions"))?;
            let Ok(state) = serde_json::from_slice::<SubscriptionState>(value.value()) else {
                continue;
            };
            if is_pattern(&state.topic) {
                let next = next_of
                    .get(name.value())
                    .map_err(storage("failed to read pattern log"))?
                    .map_or(1, |next| next.value());
                router
                    .patterns
                    .push((name.value().to_string(), state.topic, next));
            } else {
                router.exact_topics.insert(state.topic);
            }
        }
        Ok(router)
    }

    /// Appends `records` of `topic` to the private log of every pattern subscription that
    /// matches it; returns those patterns (to wake their fetchers) and whether the topic's
    /// own log must keep the records: when a subscription of the topic reads them, or
    /// when nothing took them (kept for `browse`, as dead letters are).
    pub(super) fn route(
        &mut self,
        txn: &redb::WriteTransaction,
        topic: &str,
        records: &[Vec<u8>],
    ) -> Result<(Vec<String>, bool), BusError> {
        let mut matched = Vec::new();
        for (name, pattern, next) in &mut self.patterns {
            if !pattern_matches(pattern, topic) {
                continue;
            }
            let table_name = routed_table(name);
            let mut log = txn
                .open_table(TableDefinition::<u64, &[u8]>::new(&table_name))
                .map_err(storage("failed to open pattern log"))?;
            for record in records {
                log.insert(*next, encode_entry(topic, record).as_slice())
                    .map_err(storage("failed to append"))?;
                *next += 1;
            }
            matched.push(pattern.clone());
        }
        let keep = matched.is_empty() || self.exact_topics.contains(topic);
        Ok((matched, keep))
    }

    /// Stores the next sequence of every private log.
    pub(super) fn save(&self, txn: &redb::WriteTransaction) -> Result<(), BusError> {
        let mut next_of = txn
            .open_table(PATTERN_LOGS)
            .map_err(storage("failed to open pattern logs"))?;
        for (name, _, next) in &self.patterns {
            next_of
                .insert(name.as_str(), *next)
                .map_err(storage("failed to store pattern log"))?;
        }
        Ok(())
    }
}

/// Fills the private log of a new pattern subscription with what the matching topics
/// still hold, in publish order (by publish time across topics); returns the next
/// sequence of the log.
pub(super) fn copy_held_messages(
    txn: &redb::WriteTransaction,
    subscription: &str,
    pattern: &str,
) -> Result<u64, BusError> {
    let topics: Vec<String> = {
        let table = txn
            .open_table(TOPICS)
            .map_err(storage("failed to open topics"))?;
        let mut topics = Vec::new();
        for entry in table.iter().map_err(storage("failed to read topics"))? {
            let (name, _) = entry.map_err(storage("failed to read topics"))?;
            if pattern_matches(pattern, name.value()) {
                topics.push(name.value().to_string());
            }
        }
        topics
    };
    // (published at, topic, seq) orders the copy; the entry follows.
    let mut held: Vec<(u64, String, u64, Vec<u8>)> = Vec::new();
    for topic in topics {
        let log_name = log_table(&topic);
        let log = txn
            .open_table(TableDefinition::<u64, &[u8]>::new(&log_name))
            .map_err(storage("failed to open topic log"))?;
        for entry in log.iter().map_err(storage("failed to read log"))? {
            let (seq, bytes) = entry.map_err(storage("failed to read log"))?;
            let record = bytes.value();
            let published_at = record
                .get(1..9)
                .and_then(|bytes| bytes.try_into().ok())
                .map_or(0, u64::from_be_bytes);
            held.push((
                published_at,
                topic.clone(),
                seq.value(),
                encode_entry(&topic, record),
            ));
        }
    }
    held.sort_by(|a, b| (a.0, &a.1, a.2).cmp(&(b.0, &b.1, b.2)));
    let table_name = routed_table(subscription);
    let mut log = txn
        .open_table(TableDefinition::<u64, &[u8]>::new(&table_name))
        .map_err(storage("failed to open pattern log"))?;
    let mut next = 1;
    for (_, _, _, entry) in held {
        log.insert(next, entry.as_slice())
            .map_err(storage("failed to copy into pattern log"))?;
        next += 1;
    }
    let mut next_of = txn
        .open_table(PATTERN_LOGS)
        .map_err(storage("failed to open pattern logs"))?;
    next_of
        .insert(subscription, next)
        .map_err(storage("failed to store pattern log"))?;
    Ok(next)
}

/// The next sequence of a pattern subscription's private log (1 when it has none yet).
pub(super) fn next_of(
    table: &impl ReadableTable<&'static str, u64>,
    subscription: &str,
) -> Result<u64, BusError> {
    Ok(table
        .get(subscription)
        .map_err(storage("failed to read pattern log"))?
        .map_or(1, |next| next.value()))
}

/// Deletes what a pattern subscription acknowledged from its private log: it is the
/// log's only reader.
pub(super) fn apply_retention(
    txn: &redb::WriteTransaction,
    subscription: &str,
    state: &SubscriptionState,
) -> Result<(), BusError> {
    let pending_name = pending_table(subscription);
    let pending = txn
        .open_table(pending_def(&pending_name))
        .map_err(storage("failed to open pending table"))?;
    let oldest_pending = pending
        .first()
        .map_err(storage("failed to read pending"))?
        .map(|(seq, _)| seq.value());
    let cursor = current_cursor(txn, subscription, state)?;
    let low_water = oldest_pending.map_or(cursor, |seq| seq.min(cursor));
    let table_name = routed_table(subscription);
    let mut log = txn
        .open_table(TableDefinition::<u64, &[u8]>::new(&table_name))
        .map_err(storage("failed to open pattern log"))?;
    log.retain_in(..low_water, |_, _| false)
        .map_err(storage("failed to apply retention"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The entry layout of the first release; it must stay readable.
    #[test]
    fn reads_frozen_entry() {
        let frozen: &[u8] = &[
            3, b'a', b'.', b'b', // topic "a.b"
            1, 0, 0, 1, 139, 207, 228, 140, 0, // record: version, published at
            255, 255, // no key
            0, 0,    // no header
            b'p', // payload
        ];
        let (topic, message) = decode_entry(frozen, 1).unwrap();
        assert_eq!(topic, "a.b");
        assert_eq!(message.payload, b"p");
        assert_eq!(encode_entry("a.b", &frozen[4..]), frozen);
        for damaged in [&[][..], &[5, b'a'][..], &[1, 0xff, 1][..]] {
            let err = decode_entry(damaged, 1).unwrap_err();
            assert_eq!(err.kind(), BusErrorKind::Corrupt);
        }
    }
}
