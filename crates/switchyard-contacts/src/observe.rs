//! From office events to [`ItemChange`]s: which addresses an item mentions, in which
//! roles, with which names, at which date. Pure: no store, no clock.
//!
//! | event | roles | date |
//! |---|---|---|
//! | email | `from` → email_from, `to` and `bcc` → email_to, `cc` → email_cc | `date` |
//! | calendar | organizer → calendar_organizer, attendees → calendar_attendee | `start` |
//! | document | author (when it holds an address) → document_author, addresses in the title and text → document_mention | `last_modified` |
//! | todo | assignee → todo_assignee | — |
//!
//! The date falls back to the event's `last_updated`. Every other kind mentions nobody.
//! Ignored addresses ([`AddressRules`]) are dropped here and never reach the store.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use switchyard_contracts::{
    AnyOfficeEvent, DocumentBody, Mailbox, OfficeEvent, OfficeItem, Operation, WordBlock,
};

use crate::address::clean_name;
use crate::{AddressClass, AddressRules, Role, find_addresses, normalize_address, parse_author};

/// One address in one item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observation {
    /// The normalized address.
    pub address: String,
    /// The first display name the item gave it.
    pub name: Option<String>,
    /// Its roles in the item, sorted and distinct.
    pub roles: Vec<Role>,
    /// Whether the address looks like a mailing list.
    pub mailing_list: bool,
}

/// What one office event says about a user's contacts: the item's full list of
/// observations (which replaces the previous version's), or its deletion.
#[derive(Debug, Clone, PartialEq)]
pub struct ItemChange {
    /// Whose item.
    pub user_id: String,
    /// `{source}:{item id}` with source `email`, `calendar`, `document` or `todo`.
    pub item_ref: String,
    /// The event's `last_updated`: an older version than the one applied is skipped.
    pub version: DateTime<Utc>,
    /// The item's date (see the module docs).
    pub seen_at: DateTime<Utc>,
    /// The addresses of the item, sorted by address; empty for a delete.
    pub observations: Vec<Observation>,
    /// The item was deleted.
    pub deleted: bool,
}

/// Collects the observations of one item.
struct Collector<'a> {
    rules: &'a AddressRules,
    user_id: &'a str,
    by_address: BTreeMap<String, Observation>,
}

impl Collector<'_> {
    fn add(&mut self, address: &str, name: Option<&str>, role: Role) {
        let Some(address) = normalize_address(address) else {
            return;
        };
        let class = self.rules.classify(self.user_id, &address);
        if class == AddressClass::Ignored {
            return;
        }
        let name = name.and_then(|name| clean_name(name, &address));
        let observation = self
            .by_address
            .entry(address.clone())
            .or_insert_with(|| Observation {
                address,
                name: None,
                roles: Vec::new(),
                mailing_list: class == AddressClass::MailingList,
            });
        if observation.name.is_none() {
            observation.name = name;
        }
        if !observation.roles.contains(&role) {
            observation.roles.push(role);
            observation.roles.sort();
        }
    }

    fn mailbox(&mut self, mailbox: &Mailbox, role: Role) {
        self.add(&mailbox.address, mailbox.name.as_deref(), role);
    }
}

fn change<T: OfficeItem>(
    event: &OfficeEvent<T>,
    source: &str,
    date: Option<DateTime<Utc>>,
    rules: &AddressRules,
    collect: impl FnOnce(&mut Collector<'_>),
) -> ItemChange {
    let deleted = event.operation == Operation::Delete;
    let mut collector = Collector {
        rules,
        user_id: &event.user_id,
        by_address: BTreeMap::new(),
    };
    if !deleted {
        collect(&mut collector);
    }
    ItemChange {
        user_id: event.user_id.clone(),
        item_ref: format!("{source}:{}", event.item.item_id()),
        version: event.last_updated,
        seen_at: date.unwrap_or(event.last_updated),
        observations: collector.by_address.into_values().collect(),
        deleted,
    }
}

/// The change `event` makes to its user's contacts, or `None` for kinds that mention
/// nobody. At most `max_mentions` addresses are taken from a document's text.
pub fn observe(
    event: &AnyOfficeEvent,
    rules: &AddressRules,
    max_mentions: usize,
) -> Option<ItemChange> {
    Some(match event {
        AnyOfficeEvent::Email(event) => {
            let email = &event.item;
            change(event, "email", email.date, rules, |c| {
                if let Some(from) = &email.from {
                    c.mailbox(from, Role::EmailFrom);
                }
                for to in email.to.iter().chain(&email.bcc) {
                    c.mailbox(to, Role::EmailTo);
                }
                for cc in &email.cc {
                    c.mailbox(cc, Role::EmailCc);
                }
            })
        }
        AnyOfficeEvent::Calendar(event) => {
            let calendar = &event.item;
            change(event, "calendar", calendar.start, rules, |c| {
                if let Some(organizer) = &calendar.organizer {
                    c.mailbox(organizer, Role::CalendarOrganizer);
                }
                for attendee in &calendar.attendees {
                    c.mailbox(&attendee.mailbox, Role::CalendarAttendee);
                }
            })
        }
        AnyOfficeEvent::Document(event) => {
            let document = &event.item;
            change(event, "document", document.last_modified, rules, |c| {
                if let Some((address, name)) = document.author.as_deref().and_then(parse_author) {
                    c.add(&address, name.as_deref(), Role::DocumentAuthor);
                }
                let mut mentions = Vec::new();
                find_addresses(&document.title, max_mentions, &mut mentions);
                if let Some(body) = &document.body {
                    for text in body_texts(body) {
                        if mentions.len() >= max_mentions {
                            break;
                        }
                        find_addresses(text, max_mentions, &mut mentions);
                    }
                }
                for address in mentions {
                    c.add(&address, None, Role::DocumentMention);
                }
            })
        }
        AnyOfficeEvent::Todo(event) => change(event, "todo", None, rules, |c| {
            if let Some(assignee) = &event.item.assignee {
                c.mailbox(assignee, Role::TodoAssignee);
            }
        }),
        _ => return None,
    })
}

/// Every piece of text of a document body, in reading order.
fn body_texts(body: &DocumentBody) -> Box<dyn Iterator<Item = &str> + '_> {
    match body {
        DocumentBody::Word { blocks } => Box::new(blocks.iter().flat_map(|block| {
            let texts: Box<dyn Iterator<Item = &str>> = match block {
                WordBlock::Heading { text, .. } | WordBlock::Paragraph { text } => {
                    Box::new(std::iter::once(text.as_str()))
                }
                WordBlock::Table { rows } => Box::new(rows.iter().flatten().map(String::as_str)),
            };
            texts
        })),
        DocumentBody::Sheet { sheets } => Box::new(sheets.iter().flat_map(|sheet| {
            std::iter::once(sheet.name.as_str())
                .chain(sheet.header.iter().map(String::as_str))
                .chain(sheet.rows.iter().flatten().map(String::as_str))
        })),
        DocumentBody::Presentation { slides } => Box::new(slides.iter().flat_map(|slide| {
            slide
                .title
                .as_deref()
                .into_iter()
                .chain([slide.body.as_str(), slide.notes.as_str()])
        })),
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use switchyard_contracts::{
        Attendee, CalendarItem, Document, DocumentKind, Email, LlmChat, Sheet, SyncType, Todo,
    };

    use super::*;
    use crate::ContactsConfig;

    fn rules() -> AddressRules {
        AddressRules::new(&ContactsConfig {
            self_addresses: [("alice".to_string(), vec!["alice@x.org".to_string()])].into(),
            ..ContactsConfig::default()
        })
    }

    fn mailbox(name: Option<&str>, address: &str) -> Mailbox {
        Mailbox {
            name: name.map(str::to_string),
            address: address.into(),
        }
    }

    fn event<T: OfficeItem>(operation: Operation, item: T) -> OfficeEvent<T> {
        let mut event = OfficeEvent::new(operation, SyncType::Backfill, "test", "alice", "b", item);
        event.last_updated = Utc.with_ymd_and_hms(2024, 5, 1, 0, 0, 0).unwrap();
        event
    }

    /// `(address, roles, name, mailing list)` of each observation.
    fn summary(change: &ItemChange) -> Vec<(String, Vec<Role>, Option<String>, bool)> {
        change
            .observations
            .iter()
            .map(|o| {
                (
                    o.address.clone(),
                    o.roles.clone(),
                    o.name.clone(),
                    o.mailing_list,
                )
            })
            .collect()
    }

    #[test]
    fn an_email_gives_its_participants_without_the_user_and_automated_senders() {
        let date = Utc.with_ymd_and_hms(2024, 3, 1, 9, 0, 0).unwrap();
        let email = Email {
            id: "<m1@x>".into(),
            from: Some(mailbox(Some("\"Bob B.\""), "Bob@Y.org")),
            to: vec![
                mailbox(Some("Alice"), "alice@x.org"),
                mailbox(None, "qemu-devel@nongnu.org"),
            ],
            cc: vec![
                mailbox(Some("Bob"), "bob@y.org"),
                mailbox(None, "no-reply@y.org"),
            ],
            bcc: vec![mailbox(Some("Carol"), "carol@z.org")],
            date: Some(date),
            ..Email::default()
        };
        let change = observe(
            &AnyOfficeEvent::Email(event(Operation::Create, email)),
            &rules(),
            10,
        )
        .unwrap();
        assert_eq!(change.item_ref, "email:<m1@x>");
        assert_eq!(change.seen_at, date);
        assert!(!change.deleted);
        assert_eq!(
            summary(&change),
            [
                (
                    "bob@y.org".into(),
                    vec![Role::EmailFrom, Role::EmailCc],
                    Some("Bob B.".into()),
                    false
                ),
                (
                    "carol@z.org".into(),
                    vec![Role::EmailTo],
                    Some("Carol".into()),
                    false
                ),
                (
                    "qemu-devel@nongnu.org".into(),
                    vec![Role::EmailTo],
                    None,
                    true
                ),
            ]
        );
    }

    #[test]
    fn calendars_documents_and_todos_give_their_roles() {
        let calendar = CalendarItem {
            id: "ev1".into(),
            organizer: Some(mailbox(Some("Dan"), "dan@x.org")),
            attendees: vec![Attendee {
                mailbox: mailbox(None, "erin@x.org"),
                status: None,
            }],
            ..CalendarItem::default()
        };
        let change = observe(
            &AnyOfficeEvent::Calendar(event(Operation::Update, calendar)),
            &rules(),
            10,
        )
        .unwrap();
        assert_eq!(change.seen_at, change.version, "no start: last_updated");
        assert_eq!(
            summary(&change),
            [
                (
                    "dan@x.org".into(),
                    vec![Role::CalendarOrganizer],
                    Some("Dan".into()),
                    false
                ),
                (
                    "erin@x.org".into(),
                    vec![Role::CalendarAttendee],
                    None,
                    false
                ),
            ]
        );

        let document = Document {
            id: "doc".into(),
            kind: DocumentKind::Sheet,
            title: "Budget for frank@x.org".into(),
            author: Some("Gina <gina@x.org>".into()),
            body: Some(DocumentBody::Sheet {
                sheets: vec![Sheet {
                    name: "Owners".into(),
                    header: vec!["who".into()],
                    rows: vec![vec!["gina@x.org".into()], vec!["hank@x.org".into()]],
                }],
            }),
            ..Document::default()
        };
        let change = observe(
            &AnyOfficeEvent::Document(event(Operation::Create, document.clone())),
            &rules(),
            10,
        )
        .unwrap();
        assert_eq!(change.item_ref, "document:doc");
        assert_eq!(
            summary(&change),
            [
                (
                    "frank@x.org".into(),
                    vec![Role::DocumentMention],
                    None,
                    false
                ),
                (
                    "gina@x.org".into(),
                    vec![Role::DocumentAuthor, Role::DocumentMention],
                    Some("Gina".into()),
                    false
                ),
                (
                    "hank@x.org".into(),
                    vec![Role::DocumentMention],
                    None,
                    false
                ),
            ]
        );
        let bounded = observe(
            &AnyOfficeEvent::Document(event(Operation::Create, document)),
            &rules(),
            1,
        )
        .unwrap();
        assert_eq!(bounded.observations.len(), 2, "the author and one mention");

        let todo = Todo {
            id: "t1".into(),
            assignee: Some(mailbox(Some("Ivy"), "ivy@x.org")),
            ..Todo::default()
        };
        let change = observe(
            &AnyOfficeEvent::Todo(event(Operation::Create, todo.clone())),
            &rules(),
            10,
        )
        .unwrap();
        assert_eq!(
            summary(&change),
            [(
                "ivy@x.org".into(),
                vec![Role::TodoAssignee],
                Some("Ivy".into()),
                false
            )]
        );
        let deleted = observe(
            &AnyOfficeEvent::Todo(event(Operation::Delete, todo)),
            &rules(),
            10,
        )
        .unwrap();
        assert!(deleted.deleted && deleted.observations.is_empty());
    }

    #[test]
    fn other_kinds_mention_nobody() {
        let chat = LlmChat {
            id: "c".into(),
            ..LlmChat::default()
        };
        assert!(
            observe(
                &AnyOfficeEvent::LlmChat(event(Operation::Create, chat)),
                &rules(),
                10
            )
            .is_none()
        );
    }
}
