//! Stream and consumer setup: topic → stream (created on first use, name collisions
//! refused), subscription → durable pull consumer (created, or updated when its ack
//! deadline changed), and finding a subscription that another process created.
//!
//! It names things through `codec` and must not know how messages are laid out.

use std::sync::{Arc, PoisonError};
use std::time::Duration;

use async_nats::jetstream::ErrorCode;
use async_nats::jetstream::consumer::{AckPolicy, DeliverPolicy, pull};
use async_nats::jetstream::stream::{self, DiscardPolicy, RetentionPolicy, StorageType};
use switchyard_bus::{BusError, BusErrorKind, SubscriptionConfig, is_pattern, validate_pattern};

use crate::broker::Inner;
use crate::codec::{
    consumer_description, consumer_name, pattern_of_description, stream_description, stream_name,
    subject_name, subscription_of, topic_of_subject, validate_topic,
};
use crate::delivery::SubscriptionState;
use crate::error::api_error;

pub(crate) fn invalid(message: String) -> BusError {
    BusError::new(BusErrorKind::InvalidArgument, message)
}

pub(crate) fn unknown_subscription(name: &str) -> BusError {
    BusError::new(
        BusErrorKind::UnknownSubscription,
        format!("unknown subscription {name}"),
    )
}

impl Inner {
    pub(crate) fn stream_prefix(&self) -> String {
        format!("{}_", self.options.stream_prefix)
    }

    /// The stream of `topic`, created when missing.
    pub(crate) async fn ensure_stream(&self, topic: &str) -> Result<String, BusError> {
        if let Some(stream) = self
            .streams
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(topic)
        {
            return Ok(stream.clone());
        }
        validate_topic(topic)?;
        let name = stream_name(&self.options.stream_prefix, topic);
        let subject = subject_name(&self.options.stream_prefix, topic);
        let mut created = false;
        let info = match self.api.stream_info(&name).await? {
            Some(info) => info,
            None => {
                let config = stream::Config {
                    name: name.clone(),
                    description: Some(stream_description(topic)),
                    subjects: vec![subject.clone()],
                    retention: RetentionPolicy::Limits,
                    discard: DiscardPolicy::Old,
                    max_age: self.options.max_age,
                    duplicate_window: self.options.duplicate_window,
                    storage: StorageType::File,
                    num_replicas: self.options.replicas,
                    allow_direct: true,
                    ..stream::Config::default()
                };
                match self.api.create_stream(&config).await? {
                    Ok(info) => {
                        created = true;
                        info
                    }
                    // Another process created it first, or the name is taken.
                    Err(err) if err.error_code() == ErrorCode::STREAM_NAME_EXIST => {
                        self.api.stream_info(&name).await?.ok_or_else(|| {
                            api_error(&format!("failed to create stream {name}"), &err)
                        })?
                    }
                    Err(err) if err.error_code() == ErrorCode::STREAM_SUBJECT_OVERLAP => {
                        return Err(invalid(format!(
                            "topic {topic} is already captured by a stream that is not {name}"
                        )));
                    }
                    Err(err) => {
                        return Err(api_error(&format!("failed to create stream {name}"), &err));
                    }
                }
            }
        };
        if info.config.subjects != [subject.as_str()] {
            return Err(invalid(format!(
                "topic {topic} maps to stream {name}, which captures {:?} instead of {subject}; \
                 rename the topic, or delete that stream if an older version made it",
                info.config.subjects
            )));
        }
        if created && let Err(err) = self.source_into_patterns(topic, &name).await {
            // The topic is usable; a pattern subscription missing it gets it when it is
            // next ensured (every consumer start).
            tracing::warn!(topic, error = %err, "new topic stream not added to pattern streams");
        }
        self.streams
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(topic.to_string(), name.clone());
        Ok(name)
    }

    /// The topic a stream of this prefix carries, or the pattern a pattern subscription's
    /// stream gathers.
    pub(crate) fn topic_of_stream<'a>(&self, config: &'a stream::Config) -> Option<&'a str> {
        pattern_of_description(config.description.as_deref()).or_else(|| {
            config
                .subjects
                .first()
                .and_then(|subject| topic_of_subject(&self.options.stream_prefix, subject))
        })
    }

    pub(crate) fn forget_stream(&self, topic: &str) {
        self.streams
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(topic);
    }

    pub(crate) fn cached_subscription(&self, name: &str) -> Option<Arc<SubscriptionState>> {
        self.subscriptions
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(name)
            .cloned()
    }

    pub(crate) fn remember_subscription(
        &self,
        name: &str,
        state: SubscriptionState,
    ) -> Arc<SubscriptionState> {
        self.subscriptions
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(name.to_string())
            .or_insert_with(|| Arc::new(state))
            .clone()
    }

    /// Finds subscription `name` among the consumers of this prefix's streams, for a
    /// process that did not ensure it itself (a restart).
    pub(crate) async fn find_subscription(
        &self,
        name: &str,
    ) -> Result<Option<SubscriptionState>, BusError> {
        let consumer = consumer_name(name);
        let prefix = self.stream_prefix();
        for stream in self.api.stream_names().await? {
            if !stream.starts_with(&prefix) {
                continue;
            }
            let Some(info) = self.api.consumer_info(&stream, &consumer).await? else {
                continue;
            };
            if subscription_of(&info.name, info.config.description.as_deref()) != name {
                continue;
            }
            let Some(stream_info) = self.api.stream_info(&stream).await? else {
                continue;
            };
            let Some(topic) = self.topic_of_stream(&stream_info.config) else {
                continue;
            };
            return Ok(Some(SubscriptionState::new(
                topic.to_string(),
                stream,
                consumer,
                &self.options,
            )));
        }
        Ok(None)
    }

    /// The subscription, from this process or the server; `UnknownSubscription` when
    /// neither knows it.
    pub(crate) async fn subscription(
        &self,
        name: &str,
    ) -> Result<Arc<SubscriptionState>, BusError> {
        if let Some(state) = self.cached_subscription(name) {
            return Ok(state);
        }
        match self.find_subscription(name).await? {
            Some(state) => Ok(self.remember_subscription(name, state)),
            None => Err(unknown_subscription(name)),
        }
    }

    pub(crate) fn forget_subscription(&self, name: &str) {
        self.subscriptions
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(name);
    }

    pub(crate) async fn ensure_subscription(
        &self,
        config: &SubscriptionConfig,
    ) -> Result<(), BusError> {
        let name = config.name.as_str();
        if name.is_empty() {
            return Err(invalid("subscription name is empty".to_string()));
        }
        if config.ack_deadline < Duration::from_millis(1) {
            return Err(invalid(format!(
                "ack deadline of subscription {name} must be at least 1 ms"
            )));
        }
        let stream = if is_pattern(&config.topic) {
            validate_pattern(&config.topic)?;
            self.ensure_pattern_stream(name, &config.topic).await?
        } else {
            self.ensure_stream(&config.topic).await?
        };
        let bound = match self.cached_subscription(name) {
            Some(state) => Some(state.topic.clone()),
            None => self.find_subscription(name).await?.map(|state| state.topic),
        };
        if let Some(bound) = bound.filter(|bound| *bound != config.topic) {
            return Err(invalid(format!(
                "subscription {name} is bound to topic {bound}, not {}",
                config.topic
            )));
        }
        let consumer = consumer_name(name);
        let existing = self.api.consumer_info(&stream, &consumer).await?;
        if let Some(info) = &existing {
            let owner = subscription_of(&info.name, info.config.description.as_deref());
            if owner != name {
                return Err(invalid(format!(
                    "subscription {name} maps to consumer {consumer} of stream {stream}, \
                     which serves subscription {owner}"
                )));
            }
        }
        let up_to_date = existing.as_ref().is_some_and(|info| {
            info.config.ack_wait == config.ack_deadline
                && info.config.max_ack_pending == self.options.max_ack_pending
        });
        if !up_to_date {
            let consumer_config = pull::Config {
                durable_name: Some(consumer.clone()),
                description: Some(consumer_description(name)),
                deliver_policy: DeliverPolicy::All,
                ack_policy: AckPolicy::Explicit,
                ack_wait: config.ack_deadline,
                max_deliver: -1,
                max_ack_pending: self.options.max_ack_pending,
                ..pull::Config::default()
            };
            self.api
                .create_durable_consumer(&stream, &consumer_config)
                .await?;
        }
        self.remember_subscription(
            name,
            SubscriptionState::new(config.topic.clone(), stream, consumer, &self.options),
        );
        Ok(())
    }
}
