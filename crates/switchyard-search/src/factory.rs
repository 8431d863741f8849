//! The document factory: [`SearchDocument::from_event`] maps every office event to its
//! search document, the common fields from the event's sync metadata and the
//! type-specific fields from its item. The match over kinds is exhaustive: a kind added to
//! the contracts does not compile until it has its mapping here.

use switchyard_contracts::{
    AnyOfficeEvent, Document, DocumentBody, Fragment, Mailbox, OfficeEvent, OfficeItem, TimeSlot,
    WordBlock,
};

use crate::{ParentLink, SearchDocument};

/// How much of a document's text its own search document holds: the beginning, so that
/// a search finds the document by its opening; the rest is found through its fragments.
pub const DOCUMENT_CONTENT_MAX_CHARS: usize = 4_000;

impl SearchDocument {
    /// The document for the item an office event carries.
    ///
    /// The event's operation is not looked at: for a delete, the caller removes the
    /// document by `(user_id, doc_type, id)` instead of indexing this one.
    pub fn from_event(event: &AnyOfficeEvent) -> SearchDocument {
        match event {
            AnyOfficeEvent::Email(event) => {
                let email = &event.item;
                let people: Vec<&Mailbox> = email
                    .from
                    .iter()
                    .chain(&email.to)
                    .chain(&email.cc)
                    .chain(&email.bcc)
                    .collect();
                SearchDocument {
                    title: email.subject.clone(),
                    content: join_non_empty(
                        [email.body_text.as_str()]
                            .into_iter()
                            .chain(email.attachment_names.iter().map(String::as_str)),
                    ),
                    created_at: email.date.unwrap_or(event.last_updated),
                    from_address: email.from.as_ref().map(|from| from.address.clone()),
                    to_addresses: email.to.iter().map(|to| to.address.clone()).collect(),
                    thread_id: email.thread_id.clone(),
                    attachment_names: email.attachment_names.clone(),
                    ..with_people(common_fields(event), people)
                }
            }
            AnyOfficeEvent::Calendar(event) => {
                let calendar = &event.item;
                let people = calendar
                    .organizer
                    .iter()
                    .chain(calendar.attendees.iter().map(|attendee| &attendee.mailbox))
                    .collect();
                SearchDocument {
                    title: calendar.title.clone(),
                    content: join_non_empty([
                        calendar.description.as_str(),
                        calendar.location.as_deref().unwrap_or_default(),
                    ]),
                    created_at: calendar.start.unwrap_or(event.last_updated),
                    starts_at: calendar.start.into_iter().collect(),
                    ends_at: calendar.end.into_iter().collect(),
                    location: calendar.location.clone(),
                    organizer: calendar.organizer.as_ref().map(Mailbox::display),
                    ..with_people(common_fields(event), people)
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
                    addresses: contact.emails.iter().filter_map(|e| address(e)).collect(),
                    emails: contact.emails.clone(),
                    phones: contact.phones.clone(),
                    organization: contact.organization.clone(),
                    relevance_milli: contact
                        .relevance
                        .filter(|r| r.is_finite() && *r > 0.0)
                        .map(|r| (r * 1000.0).round() as u64),
                    ..common_fields(event)
                }
            }
            AnyOfficeEvent::Document(event) => from_document(event),
            AnyOfficeEvent::Fragment(event) => from_fragment(event),
            AnyOfficeEvent::Task(event) => {
                let task = &event.item;
                SearchDocument {
                    title: task.title.clone(),
                    content: join_non_empty([task.description.as_str(), task.status.as_str()]),
                    status: non_empty(&task.status),
                    due_at: task.due,
                    ..common_fields(event)
                }
            }
            AnyOfficeEvent::Todo(event) => {
                let todo = &event.item;
                SearchDocument {
                    title: todo.title.clone(),
                    content: join_non_empty([todo.notes.as_str(), todo.status.as_str()]),
                    status: non_empty(&todo.status),
                    due_at: todo.due,
                    assignee: todo.assignee.as_ref().map(Mailbox::display),
                    ..with_people(common_fields(event), todo.assignee.iter().collect())
                }
            }
            AnyOfficeEvent::LlmChat(event) => {
                let chat = &event.item;
                SearchDocument {
                    title: chat.title.clone(),
                    content: join_non_empty(
                        chat.messages.iter().map(|message| message.content.as_str()),
                    ),
                    model: non_empty(&chat.model),
                    ..common_fields(event)
                }
            }
            AnyOfficeEvent::Shipment(event) => {
                let shipment = &event.item;
                SearchDocument {
                    title: join_words([
                        shipment.carrier.as_str(),
                        shipment.tracking_number.as_str(),
                    ]),
                    content: join_non_empty([
                        shipment.status.as_str(),
                        shipment.carrier.as_str(),
                        shipment.tracking_number.as_str(),
                    ]),
                    carrier: non_empty(&shipment.carrier),
                    tracking_number: non_empty(&shipment.tracking_number),
                    status: non_empty(&shipment.status),
                    source_email_ids: shipment.source_email_ids.clone(),
                    ..common_fields(event)
                }
            }
            AnyOfficeEvent::MeetingPoll(event) => {
                let poll = &event.item;
                let people = std::iter::once(&poll.organizer)
                    .chain(&poll.participants)
                    .collect();
                let options: Vec<String> = poll.options.iter().map(slot_text).collect();
                SearchDocument {
                    title: poll.title.clone(),
                    content: join_non_empty(options.iter().map(String::as_str)),
                    starts_at: poll.options.iter().map(|slot| slot.start).collect(),
                    ends_at: poll.options.iter().map(|slot| slot.end).collect(),
                    organizer: non_empty(&poll.organizer.display()),
                    ..with_people(common_fields(event), people)
                }
            }
            AnyOfficeEvent::MeetingBooking(event) => {
                let booking = &event.item;
                let people = [&booking.organizer, &booking.attendee]
                    .into_iter()
                    .collect();
                SearchDocument {
                    title: booking.title.clone(),
                    content: booking.slot.as_ref().map(slot_text).unwrap_or_default(),
                    created_at: booking
                        .slot
                        .as_ref()
                        .map_or(event.last_updated, |slot| slot.start),
                    starts_at: booking.slot.iter().map(|slot| slot.start).collect(),
                    ends_at: booking.slot.iter().map(|slot| slot.end).collect(),
                    organizer: non_empty(&booking.organizer.display()),
                    poll_id: booking.poll_id.clone(),
                    ..with_people(common_fields(event), people)
                }
            }
        }
    }
}

/// A Word, sheet or presentation document: title, author and the beginning of its text.
fn from_document(event: &OfficeEvent<Document>) -> SearchDocument {
    let document = &event.item;
    let author = document.author.as_deref().and_then(non_empty);
    SearchDocument {
        title: document.title.clone(),
        content: document
            .body
            .as_ref()
            .map(|body| body_prefix(body, DOCUMENT_CONTENT_MAX_CHARS))
            .unwrap_or_default(),
        participants: author.iter().cloned().collect(),
        addresses: author.iter().filter_map(|author| address(author)).collect(),
        author,
        ..common_fields(event)
    }
}

/// A section, block of rows or slide, linked to its document.
fn from_fragment(event: &OfficeEvent<Fragment>) -> SearchDocument {
    let fragment = &event.item;
    SearchDocument {
        title: fragment.title.clone().unwrap_or_default(),
        content: fragment.text.clone(),
        parent: Some(ParentLink {
            id: fragment.parent_id.clone(),
            doc_type: fragment.kind.document().doc_type().to_string(),
            title: fragment.parent_title.clone(),
            position: fragment.position,
        }),
        ..common_fields(event)
    }
}

/// The fields every kind takes from the event's sync metadata alone.
fn common_fields<T: OfficeItem>(event: &OfficeEvent<T>) -> SearchDocument {
    SearchDocument {
        id: event.item.item_id().to_string(),
        user_id: event.user_id.clone(),
        doc_type: event.item.kind().doc_type().to_string(),
        created_at: event.last_updated,
        last_updated: event.last_updated,
        sync_timestamp: event.sync_timestamp,
        ..SearchDocument::default()
    }
}

/// Sets the participants (`Name <address>`) and their addresses from mailboxes.
fn with_people(doc: SearchDocument, people: Vec<&Mailbox>) -> SearchDocument {
    let people: Vec<&Mailbox> = people
        .into_iter()
        .filter(|mailbox| !mailbox.address.trim().is_empty() || mailbox.name.is_some())
        .collect();
    SearchDocument {
        participants: people.iter().map(|mailbox| mailbox.display()).collect(),
        addresses: people
            .iter()
            .filter_map(|mailbox| address(&mailbox.address))
            .collect(),
        ..doc
    }
}

/// The lowercased address, when `text` is one.
fn address(text: &str) -> Option<String> {
    let text = text.trim();
    (text.contains('@') && !text.contains(char::is_whitespace)).then(|| text.to_lowercase())
}

fn non_empty(text: &str) -> Option<String> {
    (!text.trim().is_empty()).then(|| text.to_string())
}

fn slot_text(slot: &TimeSlot) -> String {
    format!(
        "{} to {}",
        slot.start.format("%Y-%m-%d %H:%M UTC"),
        slot.end.format("%Y-%m-%d %H:%M UTC")
    )
}

/// The beginning of a document's text, in reading order, at most `max_chars` characters;
/// stops reading the body once that much is written, so huge workbooks cost little.
fn body_prefix(body: &DocumentBody, max_chars: usize) -> String {
    let mut prefix = Prefix {
        text: String::new(),
        remaining_chars: max_chars,
    };
    match body {
        DocumentBody::Word { blocks } => {
            for block in blocks {
                let full = match block {
                    WordBlock::Heading { text, .. } | WordBlock::Paragraph { text } => {
                        prefix.line(text)
                    }
                    WordBlock::Table { rows } => rows.iter().any(|row| prefix.cells(row)),
                };
                if full {
                    break;
                }
            }
        }
        DocumentBody::Sheet { sheets } => {
            for sheet in sheets {
                let full = prefix.line(&sheet.name)
                    || prefix.cells(&sheet.header)
                    || sheet.rows.iter().any(|row| prefix.cells(row));
                if full {
                    break;
                }
            }
        }
        DocumentBody::Presentation { slides } => {
            for slide in slides {
                let full = prefix.line(slide.title.as_deref().unwrap_or_default())
                    || prefix.line(&slide.body)
                    || prefix.line(&slide.notes);
                if full {
                    break;
                }
            }
        }
    }
    prefix.text
}

/// A text growing line by line up to a character budget.
struct Prefix {
    text: String,
    remaining_chars: usize,
}

impl Prefix {
    /// Appends a non-empty line; true once the budget is spent.
    fn line(&mut self, line: &str) -> bool {
        let line = line.trim();
        if self.remaining_chars == 0 {
            return true;
        }
        if line.is_empty() {
            return false;
        }
        if !self.text.is_empty() {
            self.text.push('\n');
            self.remaining_chars = self.remaining_chars.saturating_sub(1);
        }
        let taken: String = line.chars().take(self.remaining_chars).collect();
        self.remaining_chars -= taken.chars().count();
        self.text.push_str(&taken);
        self.remaining_chars == 0
    }

    /// Appends a row of cells as one line.
    fn cells(&mut self, cells: &[String]) -> bool {
        let cells: Vec<&str> = cells
            .iter()
            .map(|cell| cell.trim())
            .filter(|cell| !cell.is_empty())
            .collect();
        self.line(&cells.join(" | "))
    }
}

/// Non-empty parts separated by spaces.
fn join_words<'a>(parts: impl IntoIterator<Item = &'a str>) -> String {
    parts
        .into_iter()
        .map(str::trim)
        .filter(|part| !part.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
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
mod tests;
