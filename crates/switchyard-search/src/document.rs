//! The search document: one flat shape for every office item kind, and the factory that
//! builds it from an office event. Knows nothing of tantivy or of how documents are stored.

use chrono::{DateTime, Utc};
use switchyard_contracts::{AnyOfficeEvent, Mailbox, OfficeEvent, OfficeItem};

/// One indexed item: common fields for every kind plus the optional fields of its kind.
///
/// A document is identified by `(user_id, doc_type, id)`; indexing a document with the same
/// triple replaces the previous one.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SearchDocument {
    /// The provider's item id.
    pub id: String,
    /// Whose item it is; every query is scoped to one user.
    pub user_id: String,
    /// `email`, `calendar` or `contact`.
    pub doc_type: String,
    /// Subject, event title or contact name.
    pub title: String,
    /// The searchable body text.
    pub content: String,
    /// People involved, as `Name <address>` or bare addresses.
    pub participants: Vec<String>,
    /// When the item came into being (sent date, event start, or first seen).
    pub created_at: DateTime<Utc>,
    /// When the item last changed at the provider; empty queries sort by it.
    pub updated_at: DateTime<Utc>,
    /// Email: the sender's address.
    pub from_address: Option<String>,
    /// Email: the `To` addresses.
    pub to_addresses: Vec<String>,
    /// Email: the conversation id.
    pub thread_id: Option<String>,
    /// Email: the attachment file names.
    pub attachment_names: Vec<String>,
    /// Calendar: the start.
    pub starts_at: Option<DateTime<Utc>>,
    /// Calendar: the end.
    pub ends_at: Option<DateTime<Utc>>,
    /// Calendar: the location text.
    pub location: Option<String>,
    /// Calendar: the organizer, as `Name <address>` or a bare address.
    pub organizer: Option<String>,
    /// Contact: the email addresses.
    pub emails: Vec<String>,
    /// Contact: the phone numbers.
    pub phones: Vec<String>,
    /// Contact: the organization.
    pub organization: Option<String>,
}

impl SearchDocument {
    /// The document for the item an office event carries.
    ///
    /// The event's operation is not looked at: for a delete, the caller removes the
    /// document by `(user_id, doc_type, id)` instead of indexing this one.
    pub fn from_event(event: &AnyOfficeEvent) -> SearchDocument {
        match event {
            AnyOfficeEvent::Email(event) => {
                let email = &event.item;
                let recipients = || email.to.iter().chain(&email.cc).chain(&email.bcc);
                SearchDocument {
                    title: email.subject.clone(),
                    content: join_non_empty(
                        [email.body_text.as_str()]
                            .into_iter()
                            .chain(email.attachment_names.iter().map(String::as_str)),
                    ),
                    participants: email
                        .from
                        .iter()
                        .chain(recipients())
                        .map(Mailbox::display)
                        .collect(),
                    created_at: email.date.unwrap_or(event.last_updated),
                    from_address: email.from.as_ref().map(|from| from.address.clone()),
                    to_addresses: email.to.iter().map(|to| to.address.clone()).collect(),
                    thread_id: email.thread_id.clone(),
                    attachment_names: email.attachment_names.clone(),
                    ..common_fields(event)
                }
            }
            AnyOfficeEvent::Calendar(event) => {
                let calendar = &event.item;
                let attendees = calendar.attendees.iter().map(|attendee| &attendee.mailbox);
                SearchDocument {
                    title: calendar.title.clone(),
                    content: join_non_empty([
                        calendar.description.as_str(),
                        calendar.location.as_deref().unwrap_or_default(),
                    ]),
                    participants: calendar
                        .organizer
                        .iter()
                        .chain(attendees)
                        .map(Mailbox::display)
                        .collect(),
                    created_at: calendar.start.unwrap_or(event.last_updated),
                    starts_at: calendar.start,
                    ends_at: calendar.end,
                    location: calendar.location.clone(),
                    organizer: calendar.organizer.as_ref().map(Mailbox::display),
                    ..common_fields(event)
                }
            }
            AnyOfficeEvent::Contact(event) => {
                let contact = &event.item;
                SearchDocument {
                    title: contact.display_name.clone(),
                    content: join_non_empty(
                        [contact.organization.as_deref().unwrap_or_default()]
                            .into_iter()
                            .chain(contact.emails.iter().map(String::as_str))
                            .chain(contact.phones.iter().map(String::as_str)),
                    ),
                    participants: contact.emails.clone(),
                    emails: contact.emails.clone(),
                    phones: contact.phones.clone(),
                    organization: contact.organization.clone(),
                    ..common_fields(event)
                }
            }
            other => generic(other),
        }
    }
}

/// A kind without its own mapping: every text value of the item becomes content.
fn generic(event: &AnyOfficeEvent) -> SearchDocument {
    let mut texts = Vec::new();
    collect_texts(&event.item_json(), &mut texts);
    SearchDocument {
        id: event.item_id().to_string(),
        user_id: event.user_id().to_string(),
        doc_type: event.kind().doc_type().to_string(),
        title: event.item_id().to_string(),
        content: join_non_empty(texts.iter().map(String::as_str)),
        created_at: event.last_updated(),
        updated_at: event.last_updated(),
        ..SearchDocument::default()
    }
}

fn collect_texts(value: &serde_json::Value, texts: &mut Vec<String>) {
    match value {
        serde_json::Value::String(text) => texts.push(text.clone()),
        serde_json::Value::Array(values) => values.iter().for_each(|v| collect_texts(v, texts)),
        serde_json::Value::Object(map) => map.values().for_each(|v| collect_texts(v, texts)),
        _ => {}
    }
}

/// The fields every kind takes from the event's sync metadata alone.
fn common_fields<T: OfficeItem>(event: &OfficeEvent<T>) -> SearchDocument {
    SearchDocument {
        id: event.item.item_id().to_string(),
        user_id: event.user_id.clone(),
        doc_type: event.item.kind().doc_type().to_string(),
        created_at: event.last_updated,
        updated_at: event.last_updated,
        ..SearchDocument::default()
    }
}

/// One line per non-empty part, so that the parts stay separate words and phrases.
fn join_non_empty<'a>(parts: impl IntoIterator<Item = &'a str>) -> String {
    parts
        .into_iter()
        .filter(|part| !part.trim().is_empty())
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use switchyard_contracts::{Attendee, CalendarItem, Contact, Email, Operation, SyncType};

    use super::*;

    fn at(hour: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2024, 5, 1, hour, 0, 0).unwrap()
    }

    fn mailbox(name: Option<&str>, address: &str) -> Mailbox {
        Mailbox {
            name: name.map(str::to_string),
            address: address.to_string(),
        }
    }

    /// Wraps `item` in an event for alice last updated at 12:00.
    fn event<T: OfficeItem>(item: T) -> OfficeEvent<T> {
        let mut event = OfficeEvent::new(
            Operation::Create,
            SyncType::Backfill,
            "test",
            "alice",
            "b1",
            item,
        );
        event.last_updated = at(12);
        event
    }

    fn check(event: AnyOfficeEvent, expected: SearchDocument) {
        assert_eq!(SearchDocument::from_event(&event), expected);
    }

    fn strings(values: &[&str]) -> Vec<String> {
        values.iter().map(|value| value.to_string()).collect()
    }

    #[test]
    fn maps_an_email() {
        let email = Email {
            id: "<1@x>".into(),
            thread_id: Some("t1".into()),
            from: Some(mailbox(Some("Bob"), "bob@x.com")),
            to: vec![mailbox(None, "alice@x.com")],
            cc: vec![mailbox(Some("Carol"), "carol@x.com")],
            bcc: vec![mailbox(None, "dave@x.com")],
            subject: "Budget".into(),
            date: Some(at(9)),
            body_text: "See attached.".into(),
            attachment_names: strings(&["budget.xlsx"]),
        };
        let expected = SearchDocument {
            id: "<1@x>".into(),
            user_id: "alice".into(),
            doc_type: "email".into(),
            title: "Budget".into(),
            content: "See attached.\nbudget.xlsx".into(),
            participants: strings(&[
                "Bob <bob@x.com>",
                "alice@x.com",
                "Carol <carol@x.com>",
                "dave@x.com",
            ]),
            created_at: at(9),
            updated_at: at(12),
            from_address: Some("bob@x.com".into()),
            to_addresses: strings(&["alice@x.com"]),
            thread_id: Some("t1".into()),
            attachment_names: strings(&["budget.xlsx"]),
            ..SearchDocument::default()
        };
        check(
            AnyOfficeEvent::Email(event(email.clone())),
            expected.clone(),
        );

        let bare = Email {
            from: None,
            date: None,
            attachment_names: Vec::new(),
            ..email
        };
        check(
            AnyOfficeEvent::Email(event(bare)),
            SearchDocument {
                content: "See attached.".into(),
                participants: expected.participants[1..].to_vec(),
                created_at: at(12),
                from_address: None,
                attachment_names: Vec::new(),
                ..expected
            },
        );
    }

    #[test]
    fn maps_a_calendar_event() {
        let item = CalendarItem {
            id: "uid-1".into(),
            title: "Planning".into(),
            description: "Roadmap review".into(),
            start: Some(at(14)),
            end: Some(at(15)),
            organizer: Some(mailbox(Some("Bob"), "bob@x.com")),
            attendees: vec![Attendee {
                mailbox: mailbox(None, "carol@x.com"),
                status: Some("ACCEPTED".into()),
            }],
            location: Some("Room 4".into()),
            ..CalendarItem::default()
        };
        check(
            AnyOfficeEvent::Calendar(event(item)),
            SearchDocument {
                id: "uid-1".into(),
                user_id: "alice".into(),
                doc_type: "calendar".into(),
                title: "Planning".into(),
                content: "Roadmap review\nRoom 4".into(),
                participants: strings(&["Bob <bob@x.com>", "carol@x.com"]),
                created_at: at(14),
                updated_at: at(12),
                starts_at: Some(at(14)),
                ends_at: Some(at(15)),
                location: Some("Room 4".into()),
                organizer: Some("Bob <bob@x.com>".into()),
                ..SearchDocument::default()
            },
        );
    }

    #[test]
    fn maps_a_contact() {
        let item = Contact {
            id: "c1".into(),
            display_name: "Carol Jones".into(),
            emails: strings(&["carol@x.com"]),
            phones: strings(&["+1 555 0100"]),
            organization: Some("Acme".into()),
            ..Contact::default()
        };
        check(
            AnyOfficeEvent::Contact(event(item)),
            SearchDocument {
                id: "c1".into(),
                user_id: "alice".into(),
                doc_type: "contact".into(),
                title: "Carol Jones".into(),
                content: "Acme\ncarol@x.com\n+1 555 0100".into(),
                participants: strings(&["carol@x.com"]),
                created_at: at(12),
                updated_at: at(12),
                emails: strings(&["carol@x.com"]),
                phones: strings(&["+1 555 0100"]),
                organization: Some("Acme".into()),
                ..SearchDocument::default()
            },
        );
    }
}
