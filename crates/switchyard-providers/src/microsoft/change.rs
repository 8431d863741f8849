//! One delta item of any data type as a [`Change`]: the generic entry point ([`change`])
//! and the readers of Graph's shared shapes every type's mapping uses (strings, dates,
//! `{dateTime, timeZone}` pairs, bodies, `emailAddress` recipients, booleans).
//!
//! An item with `@removed` is a deletion of the topic's data kind; drive items say the
//! same with a `deleted` facet (`drive.rs`). Anything else is the type's mapping
//! (`mail.rs`, `calendar.rs`, `contact.rs`, `todo.rs`, `drive.rs`). Knows no HTTP.

use chrono::{DateTime, NaiveDateTime, Utc};
use serde_json::Value;
use switchyard_contracts::{CalendarItem, Contact, DataKind, Email, Mailbox, Todo};
use switchyard_timezone::Zone;

use super::drive::DriveFile;
use super::{calendar, contact, drive, mail, todo};
use crate::DataType;

/// An item read from Graph, mapped onto its office contract.
#[derive(Debug, Clone, PartialEq)]
pub enum Item {
    /// A mail message.
    Email(Email),
    /// A calendar event (an occurrence of a series is an item of its own).
    Calendar(CalendarItem),
    /// A contact.
    Contact(Contact),
    /// A To Do task.
    Todo(Todo),
    /// A Word, Excel or PowerPoint file of the drive, to download and parse
    /// ([`GraphClient::download`](super::GraphClient::download), [`document`](super::document)).
    File(DriveFile),
}

/// What one delta item says.
#[derive(Debug, Clone, PartialEq)]
#[expect(
    clippy::large_enum_variant,
    reason = "a change is consumed as soon as it is read, a page at most is held, and callers match on the item unboxed"
)]
pub enum Change {
    /// The item, new or changed.
    Upsert {
        /// The item.
        item: Item,
        /// When it last changed (`lastModifiedDateTime`), if Graph said.
        last_modified: Option<DateTime<Utc>>,
    },
    /// The item of this kind and id is gone.
    Removed {
        /// The data kind of the topic the item was published to.
        kind: DataKind,
        /// The Graph id.
        id: String,
    },
    /// Nothing to publish (a folder, a file that is no office document, a deleted drive
    /// item whose kind cannot be told): why.
    Ignored(String),
}

/// The change one delta item of `data_type` describes, or why it cannot be read (that
/// item then counts as failed).
pub fn change(data_type: DataType, item: &Value) -> Result<Change, String> {
    let id = item
        .get("id")
        .and_then(Value::as_str)
        .filter(|id| !id.is_empty())
        .ok_or_else(|| format!("{} without `id`", noun(data_type)))?
        .to_string();
    let (kind, map): (DataKind, fn(String, &Value) -> Item) = match data_type {
        DataType::Emails => (DataKind::Email, |id, item| {
            Item::Email(mail::email(id, item))
        }),
        DataType::Calendars => (DataKind::Calendar, |id, item| {
            Item::Calendar(calendar::calendar_item(id, item))
        }),
        DataType::Contacts => (DataKind::Contact, |id, item| {
            Item::Contact(contact::contact(id, item))
        }),
        DataType::Todos => (DataKind::Todo, |id, item| Item::Todo(todo::todo(id, item))),
        DataType::Files => return Ok(drive::drive_change(id, item)),
    };
    if item.get("@removed").is_some() {
        return Ok(Change::Removed { kind, id });
    }
    Ok(Change::Upsert {
        item: map(id, item),
        last_modified: date(item, "lastModifiedDateTime"),
    })
}

/// What an item of `data_type` is called in errors.
fn noun(data_type: DataType) -> &'static str {
    match data_type {
        DataType::Emails => "message",
        DataType::Calendars => "event",
        DataType::Contacts => "contact",
        DataType::Todos => "task",
        DataType::Files => "drive item",
    }
}

/// The string property `name`, trimmed, when it is not empty.
pub(super) fn text(item: &Value, name: &str) -> Option<String> {
    item.get(name)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|value| !value.is_empty())
        .map(str::to_string)
}

/// The RFC 3339 date-time property `name`, in UTC.
pub(super) fn date(item: &Value, name: &str) -> Option<DateTime<Utc>> {
    let value = item.get(name)?.as_str()?;
    DateTime::parse_from_rfc3339(value)
        .ok()
        .map(|date| date.with_timezone(&Utc))
}

/// A Graph `dateTimeTimeZone` (`{"dateTime": "2016-12-09T20:30:00.0000000", "timeZone":
/// "UTC"}`) in UTC. The zone is `UTC`, an IANA or a Windows name; a zone nobody knows is
/// taken as UTC, as calendar data does everywhere.
pub(super) fn zoned_date(value: &Value) -> Option<DateTime<Utc>> {
    let local = value.get("dateTime")?.as_str()?.trim();
    let local = NaiveDateTime::parse_from_str(local, "%Y-%m-%dT%H:%M:%S%.f").ok()?;
    let zone = value
        .get("timeZone")
        .and_then(Value::as_str)
        .and_then(Zone::named);
    Some(match zone {
        Some(zone) => zone.to_utc(local),
        None => local.and_utc(),
    })
}

/// A Graph `itemBody` as text: HTML bodies turned into text.
pub(super) fn body_text(body: &Value) -> String {
    let content = body["content"].as_str().unwrap_or_default();
    let text = if body["contentType"]
        .as_str()
        .is_some_and(|kind| kind.eq_ignore_ascii_case("html"))
    {
        mail_parser::decoders::html::html_to_text(content)
    } else {
        content.to_string()
    };
    text.trim().to_string()
}

/// A Graph `recipient` (`{"emailAddress": {"name", "address"}}`).
pub(super) fn mailbox(recipient: &Value) -> Option<Mailbox> {
    let address = &recipient["emailAddress"];
    let name = text(address, "name");
    let address = text(address, "address").unwrap_or_default();
    (name.is_some() || !address.is_empty()).then_some(Mailbox { name, address })
}

/// A boolean, written as one or as the string `"true"` (Graph's documented samples do
/// both).
pub(super) fn flag(value: Option<&Value>) -> bool {
    match value {
        Some(Value::Bool(value)) => *value,
        Some(Value::String(value)) => value.eq_ignore_ascii_case("true"),
        _ => false,
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// A documented Graph payload of `shared/testdata/providers/msgraph`.
    pub(in crate::microsoft) fn sample(name: &str) -> Value {
        let path = switchyard_office::shared_testdata()
            .join("providers/msgraph")
            .join(name);
        serde_json::from_slice(&std::fs::read(&path).expect("shared sample is there"))
            .expect("shared sample is JSON")
    }

    fn check_zoned(value: Value, expected: Option<&str>) {
        assert_eq!(
            zoned_date(&value).map(|date| date.to_rfc3339()).as_deref(),
            expected,
            "{value}"
        );
    }

    #[test]
    fn zoned_dates_become_utc() {
        let at = |zone: &str| serde_json::json!({"dateTime": "2024-07-01T09:30:00.0000000", "timeZone": zone});
        check_zoned(at("UTC"), Some("2024-07-01T09:30:00+00:00"));
        check_zoned(at("Europe/Berlin"), Some("2024-07-01T07:30:00+00:00"));
        check_zoned(
            at("Pacific Standard Time"),
            Some("2024-07-01T16:30:00+00:00"),
        );
        check_zoned(at("Nowhere/Special"), Some("2024-07-01T09:30:00+00:00"));
        check_zoned(serde_json::json!({"timeZone": "UTC"}), None);
        check_zoned(serde_json::json!({"dateTime": "July"}), None);
    }

    #[test]
    fn items_without_id_fail_and_removals_name_the_topics_kind() {
        assert_eq!(
            change(
                DataType::Contacts,
                &sample("contacts-delta-page-nextLink.json")["value"][0]
            )
            .unwrap_err(),
            "contact without `id`"
        );
        let removed = &sample("events-delta-round2-removed-and-added.json")["value"][0];
        assert_eq!(
            change(DataType::Calendars, removed).unwrap(),
            Change::Removed {
                kind: DataKind::Calendar,
                id: "AAMkADk0MGFkODE3LWE4MmYtNDRhOS04OGQLkRkXbBznTvAADb6ytyAAA=".into()
            }
        );
        let tombstone = serde_json::json!({"id": "t1", "@removed": {"reason": "deleted"}});
        for (data_type, kind) in [
            (DataType::Emails, DataKind::Email),
            (DataType::Contacts, DataKind::Contact),
            (DataType::Todos, DataKind::Todo),
        ] {
            assert_eq!(
                change(data_type, &tombstone).unwrap(),
                Change::Removed {
                    kind,
                    id: "t1".into()
                }
            );
        }
    }
}
