//! Switchyard's event catalog: renders an event [`Registry`] as a Markdown page for people
//! and as an AsyncAPI 3.0 document for tools.
//!
//! Every function here is pure: it reads the registry and returns text or JSON. Writing the
//! files is the caller's job (`switchyard catalog docs`), at [`MARKDOWN_PATH`] and
//! [`ASYNCAPI_PATH`] relative to the repository root. A test of this crate keeps the
//! committed files fresh.
//!
//! ```
//! use switchyard_catalog::{asyncapi, markdown};
//! use switchyard_contracts::Registry;
//!
//! let registry = Registry::standard();
//! assert!(markdown(&registry).starts_with("# Event catalog"));
//! let document = asyncapi(&registry);
//! assert_eq!(document["asyncapi"], "3.0.0");
//! assert_eq!(document["defaultContentType"], "application/cloudevents+json");
//! ```
//!
//! [`Registry`]: switchyard_contracts::Registry
#![warn(missing_docs)]

mod asyncapi;
mod markdown;
mod schemas;

pub use asyncapi::{ASYNCAPI_VERSION, asyncapi, asyncapi_json};
pub use markdown::markdown;

/// Where the Markdown catalog is committed, relative to the repository root.
pub const MARKDOWN_PATH: &str = "docs/event-catalog.md";
/// Where the AsyncAPI document is committed, relative to the repository root.
pub const ASYNCAPI_PATH: &str = "docs/asyncapi.json";

/// `switchyard.office.email` → `switchyard.office.email`, `a b/c` → `a-b-c`: the characters
/// AsyncAPI allows in component keys (`[A-Za-z0-9._-]`), which also need no escaping in a
/// JSON pointer.
fn key(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '-'
            }
        })
        .collect()
}

/// Events in catalog order: set order, then domain, topic and type.
fn sorted_events(
    registry: &switchyard_contracts::Registry,
) -> Vec<(
    &switchyard_contracts::EventSet,
    &switchyard_contracts::EventDefinition,
)> {
    let mut events: Vec<_> = registry.events().collect();
    let set_index = |name: &str| registry.sets().iter().position(|set| set.name == name);
    events.sort_by_key(|(set, event)| {
        (
            set_index(set.name),
            event.domain,
            event.topic,
            event.event_type,
        )
    });
    events
}
