//! Switchyard's meetings consumer: a [`MeetingContext`] per (user, calendar item) kept
//! from the `calendars` topic, and per-user [`availability`]: busy blocks (recurring
//! meetings expanded in their own time zone, overlaps merged) and the free slots
//! between them.
//!
//! The [`MeetingsHandler`] is a runtime [`Handler`](switchyard_runtime::Handler) run on
//! the `meetings-calendars` subscription; it applies each event as a [`MeetingChange`]
//! to a [`MeetingStore`] (embedded: [`RedbMeetingStore`], `{data_dir}/meetings.redb`)
//! where the newest version of each meeting wins, so redeliveries and late older
//! versions change nothing. Booking events (`meeting_bookings`) count as busy too when
//! the node subscribes the handler to them.
//!
//! **Boundary:** no broker, HTTP or index code; the store and the handler's inputs are
//! the only I/O.
//!
//! ```no_run
//! # async fn example(data_dir: &std::path::Path) -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use switchyard_meetings::{
//!     AvailabilityOptions, MeetingStore, MeetingsHandler, RedbMeetingStore, WorkingHours,
//!     availability,
//! };
//!
//! let store: Arc<dyn MeetingStore> = Arc::new(RedbMeetingStore::open(data_dir)?);
//! // Run by a `Consumer` on each of its `subscriptions()`.
//! let _handler = MeetingsHandler::new(store.clone());
//!
//! let from = "2024-03-25T00:00:00Z".parse().expect("a time");
//! let to = "2024-03-30T00:00:00Z".parse().expect("a time");
//! let options = AvailabilityOptions {
//!     working_hours: Some(WorkingHours::office_week("Europe/Berlin")),
//!     min_slot_minutes: 30,
//!     ..AvailabilityOptions::default()
//! };
//! let week = availability(store.as_ref(), "alice@example.com", from, to, &options).await?;
//! for block in &week.busy {
//!     println!("busy {} – {}: {:?}", block.start, block.end, block.item_ids);
//! }
//! for slot in &week.free {
//!     println!("free {} – {}", slot.start, slot.end);
//! }
//! # Ok(())
//! # }
//! ```
#![warn(missing_docs)]

mod availability;
mod context;
mod embedded;
mod error;
mod handler;
mod recurrence;
mod store;

pub use availability::{
    Availability, AvailabilityOptions, BusyBlock, FreeSlot, MAX_AVAILABILITY_WINDOW_DAYS,
    WorkingHours, availability, compute_availability,
};
pub use context::{
    MeetingChange, MeetingContext, MeetingSource, MeetingStatus, OnlineMeeting,
    OnlineMeetingService,
};
pub use embedded::RedbMeetingStore;
pub use error::{MeetingsError, MeetingsErrorKind};
pub use handler::{MeetingsHandler, meeting_change, subscriptions};
pub use store::{Applied, MeetingStore};
