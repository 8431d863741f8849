//! Switchyard's event contracts: the CloudEvents 1.0 envelope every event travels in,
//! the rules for topic names, and the typed office payloads (email, calendar, contact).
//!
//! This crate does no I/O: it only defines shapes, validates them and (de)serializes them.
//!
//! ```
//! use switchyard_contracts::{Email, EmailEvent, Envelope, Operation, SyncType, Topic};
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
//! assert_eq!(envelope.topic().unwrap(), Topic::emails());
//! let json = envelope.to_json_bytes();
//! let decoded = Envelope::from_json_slice(&json).unwrap();
//! assert_eq!(decoded.id, envelope.id);
//! ```
#![warn(missing_docs)]

mod envelope;
mod error;
mod office;
mod topic;
mod traceparent;

pub use envelope::{CLOUDEVENTS_CONTENT_TYPE, Envelope, JSON_CONTENT_TYPE, SPEC_VERSION};
pub use error::ContractError;
pub use office::{
    AnyOfficeEvent, Attendee, CalendarEvent, CalendarItem, Contact, ContactEvent, DataKind, Email,
    EmailEvent, Mailbox, OfficeEvent, OfficeItem, Operation, SyncType, decode_office_event,
};
pub use topic::Topic;
pub use traceparent::TraceParent;
