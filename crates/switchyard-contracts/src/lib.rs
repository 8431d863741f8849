//! Switchyard's event contracts: the CloudEvents 1.0 envelope every event travels in, the
//! [`Registry`] where every event type is declared once (topic, kind, version, partition
//! key, retention, domain, payload schema) with the rules it is checked against, and the
//! typed payloads of the shipped event sets (office, identity, education).
//!
//! This crate does no I/O: it only defines shapes, validates them and (de)serializes them.
//!
//! ```
//! use switchyard_contracts::{Email, EmailEvent, Envelope, Operation, Registry, SyncType};
//!
//! let event = EmailEvent::new(
//!     Operation::Create,
//!     SyncType::Backfill,
//!     "mbox",
//!     "alice",
//!     "batch-1",
//!     Email { id: "<msg-1@example.com>".into(), subject: "Hello".into(), ..Email::default() },
//! );
//! let envelope = event.to_envelope("switchyard://import", "job-42").unwrap();
//! let outbound = Registry::standard().prepare(&envelope).unwrap();
//! assert_eq!(outbound.topic, "emails");
//! let json = envelope.to_json_bytes();
//! let decoded = Envelope::from_json_slice(&json).unwrap();
//! assert_eq!(decoded.id, envelope.id);
//! ```
#![warn(missing_docs)]

pub mod education;
mod envelope;
mod error;
pub mod headers;
mod http_binding;
mod idempotency;
pub mod identity;
mod local_time;
mod office;
mod office_items;
pub mod office_set;
mod registry;
mod rules;
mod topic;
mod traceparent;
mod upcast;
mod user_id;
mod validation;

pub use envelope::{CLOUDEVENTS_CONTENT_TYPE, Envelope, JSON_CONTENT_TYPE, SPEC_VERSION};
pub use error::ContractError;
pub use http_binding::{
    CLOUDEVENTS_BATCH_CONTENT_TYPE, HttpContentMode, has_attribute_headers, is_json_content_type,
    media_type,
};
pub use idempotency::{Idempotency, IdempotencyKey, KeyClass};
pub use local_time::local_to_utc;
pub use office::{AnyOfficeEvent, DataKind, OfficeEvent, Operation, SyncType, decode_office_event};
pub use office_items::{
    Attendee, CalendarEvent, CalendarItem, CalendarStatus, ChatMessage, Contact, ContactEvent,
    Document, DocumentBody, DocumentEvent, DocumentKind, Email, EmailEvent, EmailFlags, Fragment,
    FragmentEvent, LlmChat, LlmChatEvent, Mailbox, MeetingBooking, MeetingBookingEvent,
    MeetingPoll, MeetingPollEvent, OfficeItem, Sheet, ShipmentEvent, ShipmentUpdate, Slide, Task,
    TaskEvent, TimeSlot, Todo, TodoEvent, WordBlock,
};
pub use registry::{
    DEFAULT_BACKOFF_MS, DEFAULT_MAX_RETRIES, EventDefinition, EventKind, EventSet, NamingPolicy,
    Registry, UpcastFn,
};
pub use rules::{Rule, Violation};
pub use topic::Topic;
pub use traceparent::TraceParent;
pub use user_id::{MAX_USER_ID_BYTES, UserIdError, check_user_id};
pub use validation::{MAX_PAYLOAD_BYTES, Outbound};
