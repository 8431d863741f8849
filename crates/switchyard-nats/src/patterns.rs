//! Pattern subscriptions (`email.#`) on JetStream. A consumer reads one stream and each
//! topic has its own, so a pattern subscription gets a stream of its own that *sources*
//! every topic stream whose topic the pattern matches (matched here with the bus's
//! `pattern_matches`, not with NATS wildcards, whose `>` cannot match zero tokens), and its
//! consumer reads that stream. Sourced messages keep their subject, which names the
//! concrete topic.
//!
//! The sources follow the topics: a pattern subscription's stream is given every matching
//! topic stream when it is created or ensured again, and a topic stream, when this process
//! creates it, is added to every matching pattern stream. Each side lists the other only
//! after creating its own stream, so of two processes racing (one creating a pattern
//! stream, the other a topic stream) at least one sees the other. A source starts at the
//! first message its topic stream holds, so one added late still brings everything held.
//!
//! A pattern never matches a dead-letter topic (`pattern_matches`), so no pattern stream
//! sources a dead-letter topic's stream; ensuring a pattern stream also drops such a
//! source that an older version added.

use std::time::Duration;

use async_nats::jetstream::ErrorCode;
use async_nats::jetstream::stream::{self, DiscardPolicy, RetentionPolicy, StorageType};
use switchyard_bus::{BusError, BusErrorKind, is_dead_letter_topic, pattern_matches};

use crate::broker::Inner;
use crate::codec::{
    pattern_of_description, pattern_stream_description, pattern_stream_name, topic_of_subject,
};
use crate::error::api_error;
use crate::topology::invalid;

/// The duplicate window of a pattern stream. Sourced messages pass the server's
/// `Nats-Msg-Id` dedupe again, and one message id may rightly come from two topics (a
/// message and its dead letter); the topic streams already deduplicated publishes, so the
/// pattern stream keeps the shortest window the server accepts (100 ms).
const PATTERN_DUPLICATE_WINDOW: Duration = Duration::from_millis(100);

/// How many times adding a source is tried when concurrent updates of the same stream
/// overwrite each other (an update replaces the whole configuration).
const SOURCE_UPDATE_ATTEMPTS: usize = 5;

impl Inner {
    /// The stream of pattern subscription `subscription` on `pattern`, created when
    /// missing, sourcing every topic stream the pattern matches.
    pub(crate) async fn ensure_pattern_stream(
        &self,
        subscription: &str,
        pattern: &str,
    ) -> Result<String, BusError> {
        let name = pattern_stream_name(&self.options.stream_prefix, subscription);
        let description = pattern_stream_description(pattern, subscription);
        let info = match self.api.stream_info(&name).await? {
            Some(info) => info,
            None => {
                let config = stream::Config {
                    name: name.clone(),
                    description: Some(description.clone()),
                    retention: RetentionPolicy::Limits,
                    discard: DiscardPolicy::Old,
                    max_age: self.options.max_age,
                    duplicate_window: PATTERN_DUPLICATE_WINDOW,
                    storage: StorageType::File,
                    num_replicas: self.options.replicas,
                    ..stream::Config::default()
                };
                match self.api.create_stream(&config).await? {
                    Ok(info) => info,
                    Err(err) if err.error_code() == ErrorCode::STREAM_NAME_EXIST => {
                        self.api.stream_info(&name).await?.ok_or_else(|| {
                            api_error(&format!("failed to create stream {name}"), &err)
                        })?
                    }
                    Err(err) => {
                        return Err(api_error(&format!("failed to create stream {name}"), &err));
                    }
                }
            }
        };
        if info.config.description.as_deref() != Some(description.as_str()) {
            return Err(invalid(format!(
                "subscription {subscription} on {pattern} maps to stream {name}, which serves \
                 {:?}",
                info.config.description
            )));
        }
        let topic_prefix = self.stream_prefix();
        let mut dead_letter_streams = Vec::new();
        for topic_stream in self.api.streams().await? {
            let topic = Some(&topic_stream)
                .filter(|stream| {
                    stream.config.name.starts_with(&topic_prefix)
                        && pattern_of_description(stream.config.description.as_deref()).is_none()
                })
                .and_then(|stream| stream.config.subjects.first())
                .and_then(|subject| topic_of_subject(&self.options.stream_prefix, subject));
            let Some(topic) = topic else { continue };
            if pattern_matches(pattern, topic) {
                self.add_source(&name, &topic_stream.config.name).await?;
            } else if is_dead_letter_topic(topic) {
                dead_letter_streams.push(topic_stream.config.name);
            }
        }
        self.drop_sources(&name, &dead_letter_streams).await?;
        Ok(name)
    }

    /// Makes `pattern_stream` stop sourcing `topic_streams`: a pattern stream made before
    /// patterns stopped matching dead-letter topics may source theirs.
    async fn drop_sources(
        &self,
        pattern_stream: &str,
        topic_streams: &[String],
    ) -> Result<(), BusError> {
        for _ in 0..SOURCE_UPDATE_ATTEMPTS {
            let Some(info) = self.api.stream_info(pattern_stream).await? else {
                return Ok(());
            };
            let mut config = info.config;
            let sources = config.sources.get_or_insert_with(Vec::new);
            let before = sources.len();
            sources.retain(|source| !topic_streams.contains(&source.name));
            if sources.len() == before {
                return Ok(());
            }
            self.api.update_stream(&config).await?;
        }
        Err(BusError::new(
            BusErrorKind::Unavailable,
            format!(
                "failed to remove dead-letter streams from the sources of {pattern_stream}: \
                 other updates kept replacing it"
            ),
        ))
    }

    /// Adds the new topic stream of `topic` to every pattern stream that matches it.
    pub(crate) async fn source_into_patterns(
        &self,
        topic: &str,
        topic_stream: &str,
    ) -> Result<(), BusError> {
        let prefix = self.stream_prefix();
        for info in self.api.streams().await? {
            let pattern = pattern_of_description(info.config.description.as_deref());
            if info.config.name.starts_with(&prefix)
                && pattern.is_some_and(|pattern| pattern_matches(pattern, topic))
            {
                self.add_source(&info.config.name, topic_stream).await?;
            }
        }
        Ok(())
    }

    /// Makes `pattern_stream` source `topic_stream`, unless it already does.
    async fn add_source(&self, pattern_stream: &str, topic_stream: &str) -> Result<(), BusError> {
        for _ in 0..SOURCE_UPDATE_ATTEMPTS {
            let Some(info) = self.api.stream_info(pattern_stream).await? else {
                // Deleted meanwhile: nothing to feed.
                return Ok(());
            };
            let mut config = info.config;
            let sources = config.sources.get_or_insert_with(Vec::new);
            if sources.iter().any(|source| source.name == topic_stream) {
                return Ok(());
            }
            sources.push(stream::Source {
                name: topic_stream.to_string(),
                ..stream::Source::default()
            });
            self.api.update_stream(&config).await?;
        }
        Err(BusError::new(
            BusErrorKind::Unavailable,
            format!(
                "failed to add stream {topic_stream} to the sources of {pattern_stream}: other \
                 updates kept replacing it"
            ),
        ))
    }
}
