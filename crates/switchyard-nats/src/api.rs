//! The JetStream JSON API calls the backend makes (stream and consumer info, create and
//! list, message get and delete), each answering "absent" as `None` rather than an error.
//!
//! It talks to the API subjects directly rather than through async-nats' typed wrappers:
//! one request path means one error mapping, and the subjects used here
//! (`CONSUMER.DURABLE.CREATE`, `STREAM.MSG.GET` with `next_by_subj`) work on every
//! JetStream server since 2.9. It knows no Switchyard naming.

use async_nats::jetstream::consumer::{self, pull};
use async_nats::jetstream::response::Response;
use async_nats::jetstream::stream::{self, RawMessage};
use async_nats::jetstream::{self, ErrorCode};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::json;
use switchyard_bus::{BusError, BusErrorKind};

use crate::codec::parse_stored_headers;
use crate::error::{api_error, request_error, unavailable};

/// The JetStream API of one connection.
#[derive(Clone)]
pub(crate) struct JetStreamApi {
    context: jetstream::Context,
}

#[derive(Deserialize)]
struct StreamNamesPage {
    total: usize,
    #[serde(default)]
    streams: Option<Vec<String>>,
}

#[derive(Deserialize)]
struct StreamInfoPage {
    total: usize,
    #[serde(default)]
    streams: Option<Vec<stream::Info>>,
}

#[derive(Deserialize)]
struct ConsumerInfoPage {
    total: usize,
    #[serde(default)]
    consumers: Option<Vec<consumer::Info>>,
}

#[derive(Deserialize)]
struct GetMessageResponse {
    message: RawMessage,
}

/// A message read back from a stream.
pub(crate) struct StoredMessage {
    pub(crate) sequence: u64,
    pub(crate) headers: Option<async_nats::HeaderMap>,
    pub(crate) payload: Vec<u8>,
}

#[derive(Deserialize)]
struct DeleteResponse {
    success: bool,
}

fn is_absent(err: &jetstream::Error) -> bool {
    [
        ErrorCode::STREAM_NOT_FOUND,
        ErrorCode::CONSUMER_NOT_FOUND,
        ErrorCode::NO_MESSAGE_FOUND,
    ]
    .contains(&err.error_code())
}

impl JetStreamApi {
    pub(crate) fn new(context: jetstream::Context) -> Self {
        JetStreamApi { context }
    }

    /// One API request; the inner `Err` is the server's refusal.
    async fn call<T: DeserializeOwned>(
        &self,
        subject: String,
        payload: &serde_json::Value,
        context: &str,
    ) -> Result<Result<T, jetstream::Error>, BusError> {
        match self.context.request(subject, payload).await {
            Ok(Response::Ok(value)) => Ok(Ok(value)),
            Ok(Response::Err { error }) => Ok(Err(error)),
            Err(err) => Err(request_error(context, &err)),
        }
    }

    /// Like `call`, with "not found" answers as `None` and other refusals as errors.
    async fn call_optional<T: DeserializeOwned>(
        &self,
        subject: String,
        payload: &serde_json::Value,
        context: &str,
    ) -> Result<Option<T>, BusError> {
        match self.call(subject, payload, context).await? {
            Ok(value) => Ok(Some(value)),
            Err(err) if is_absent(&err) => Ok(None),
            Err(err) => Err(api_error(context, &err)),
        }
    }

    /// Checks that JetStream answers for this account.
    pub(crate) async fn check_account(&self) -> Result<(), BusError> {
        let context = "jetstream is unavailable";
        match self
            .call::<serde_json::Value>("INFO".to_string(), &json!({}), context)
            .await?
        {
            Ok(_) => Ok(()),
            Err(err) => Err(unavailable(context, err)),
        }
    }

    pub(crate) async fn stream_info(&self, stream: &str) -> Result<Option<stream::Info>, BusError> {
        self.call_optional(
            format!("STREAM.INFO.{stream}"),
            &json!({}),
            &format!("failed to read stream {stream}"),
        )
        .await
    }

    /// Creates a stream; the inner `Err` is the server's refusal (name taken, subjects
    /// overlapping another stream…), for the caller to interpret.
    pub(crate) async fn create_stream(
        &self,
        config: &stream::Config,
    ) -> Result<Result<stream::Info, jetstream::Error>, BusError> {
        let payload = serde_json::to_value(config)
            .map_err(|err| unavailable("failed to encode stream config", err))?;
        self.call(
            format!("STREAM.CREATE.{}", config.name),
            &payload,
            &format!("failed to create stream {}", config.name),
        )
        .await
    }

    /// Replaces the configuration of a stream (what the server lets change, e.g. sources).
    pub(crate) async fn update_stream(&self, config: &stream::Config) -> Result<(), BusError> {
        let payload = serde_json::to_value(config)
            .map_err(|err| unavailable("failed to encode stream config", err))?;
        let context = format!("failed to update stream {}", config.name);
        match self
            .call::<stream::Info>(format!("STREAM.UPDATE.{}", config.name), &payload, &context)
            .await?
        {
            Ok(_) => Ok(()),
            Err(err) => Err(api_error(&context, &err)),
        }
    }

    /// Names of every stream of the account.
    pub(crate) async fn stream_names(&self) -> Result<Vec<String>, BusError> {
        let mut names = Vec::new();
        loop {
            let page: StreamNamesPage = self
                .call_optional(
                    "STREAM.NAMES".to_string(),
                    &json!({ "offset": names.len() }),
                    "failed to list streams",
                )
                .await?
                .unwrap_or(StreamNamesPage {
                    total: 0,
                    streams: None,
                });
            let batch = page.streams.unwrap_or_default();
            let done = batch.is_empty();
            names.extend(batch);
            if done || names.len() >= page.total {
                return Ok(names);
            }
        }
    }

    /// Info of every stream of the account.
    pub(crate) async fn streams(&self) -> Result<Vec<stream::Info>, BusError> {
        let mut streams = Vec::new();
        loop {
            let page: StreamInfoPage = self
                .call_optional(
                    "STREAM.LIST".to_string(),
                    &json!({ "offset": streams.len() }),
                    "failed to list streams",
                )
                .await?
                .unwrap_or(StreamInfoPage {
                    total: 0,
                    streams: None,
                });
            let batch = page.streams.unwrap_or_default();
            let done = batch.is_empty();
            streams.extend(batch);
            if done || streams.len() >= page.total {
                return Ok(streams);
            }
        }
    }

    pub(crate) async fn consumer_info(
        &self,
        stream: &str,
        consumer: &str,
    ) -> Result<Option<consumer::Info>, BusError> {
        self.call_optional(
            format!("CONSUMER.INFO.{stream}.{consumer}"),
            &json!({}),
            &format!("failed to read consumer {consumer} of stream {stream}"),
        )
        .await
    }

    /// Creates the durable consumer, or updates the fields the server lets change.
    pub(crate) async fn create_durable_consumer(
        &self,
        stream: &str,
        config: &pull::Config,
    ) -> Result<consumer::Info, BusError> {
        let durable = config.durable_name.as_deref().unwrap_or_default();
        let context = format!("failed to create consumer {durable} on stream {stream}");
        let payload = json!({ "stream_name": stream, "config": config });
        match self
            .call(
                format!("CONSUMER.DURABLE.CREATE.{stream}.{durable}"),
                &payload,
                &context,
            )
            .await?
        {
            Ok(info) => Ok(info),
            Err(err) => Err(api_error(&context, &err)),
        }
    }

    /// Info of every consumer of `stream`.
    pub(crate) async fn consumers(&self, stream: &str) -> Result<Vec<consumer::Info>, BusError> {
        let mut consumers = Vec::new();
        loop {
            let page: ConsumerInfoPage = match self
                .call_optional(
                    format!("CONSUMER.LIST.{stream}"),
                    &json!({ "offset": consumers.len() }),
                    &format!("failed to list consumers of stream {stream}"),
                )
                .await?
            {
                Some(page) => page,
                None => return Ok(consumers),
            };
            let batch = page.consumers.unwrap_or_default();
            let done = batch.is_empty();
            consumers.extend(batch);
            if done || consumers.len() >= page.total {
                return Ok(consumers);
            }
        }
    }

    /// The first message of `subject` in `stream` with a sequence of at least `sequence`.
    pub(crate) async fn next_message(
        &self,
        stream: &str,
        subject: &str,
        sequence: u64,
    ) -> Result<Option<StoredMessage>, BusError> {
        let context = format!("failed to read stream {stream} at {sequence}");
        let Some(response) = self
            .call_optional::<GetMessageResponse>(
                format!("STREAM.MSG.GET.{stream}"),
                &json!({ "seq": sequence, "next_by_subj": subject }),
                &context,
            )
            .await?
        else {
            return Ok(None);
        };
        let raw = response.message;
        let corrupt = |err: base64::DecodeError| {
            BusError::new(BusErrorKind::Corrupt, format!("{context}: {err}"))
        };
        let payload = STANDARD.decode(raw.payload).map_err(corrupt)?;
        let headers = match raw.headers {
            Some(block) => Some(parse_stored_headers(
                &STANDARD.decode(block).map_err(corrupt)?,
            )?),
            None => None,
        };
        Ok(Some(StoredMessage {
            sequence: raw.sequence,
            headers,
            payload,
        }))
    }

    /// Deletes `stream` with its messages and consumers; `false` when it did not exist.
    pub(crate) async fn delete_stream(&self, stream: &str) -> Result<bool, BusError> {
        let context = format!("failed to delete stream {stream}");
        match self
            .call::<DeleteResponse>(format!("STREAM.DELETE.{stream}"), &json!({}), &context)
            .await?
        {
            Ok(response) => Ok(response.success),
            Err(err) if is_absent(&err) => Ok(false),
            Err(err) => Err(api_error(&context, &err)),
        }
    }

    /// Deletes message `sequence` of `stream`; `false` when it did not exist.
    pub(crate) async fn delete_message(
        &self,
        stream: &str,
        sequence: u64,
    ) -> Result<bool, BusError> {
        let context = format!("failed to delete message {sequence} of stream {stream}");
        match self
            .call::<DeleteResponse>(
                format!("STREAM.MSG.DELETE.{stream}"),
                &json!({ "seq": sequence }),
                &context,
            )
            .await?
        {
            Ok(response) => Ok(response.success),
            Err(err) if is_absent(&err) || is_delete_of_missing(&err) => Ok(false),
            Err(err) => Err(api_error(&context, &err)),
        }
    }
}

/// Servers answer the deletion of a missing message with a generic "delete failed" code
/// whose description says the message was not found.
fn is_delete_of_missing(err: &jetstream::Error) -> bool {
    let text = err.to_string().to_ascii_lowercase();
    text.contains("not found") || text.contains("no message") || text.contains("eof")
}
