//! Tests of the document factory: every office kind maps to its fields.

use chrono::TimeZone;
use chrono::{DateTime, Utc};
use switchyard_contracts::{
    Attendee, CalendarItem, ChatMessage, Contact, DataKind, DocumentKind, Email, EmailFlags,
    LlmChat, MeetingBooking, MeetingPoll, Operation, Sheet, ShipmentUpdate, Slide, SyncType, Task,
    Todo,
};

use super::*;
use crate::{FieldValue, fields_of_doc_type};

fn at(hour: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 5, 1, hour, 0, 0).unwrap()
}

fn mailbox(name: Option<&str>, address: &str) -> Mailbox {
    Mailbox {
        name: name.map(str::to_string),
        address: address.to_string(),
    }
}

/// Wraps `item` in an event for alice last updated at 12:00 and read at 13:00.
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
    event.sync_timestamp = at(13);
    event
}

/// The common fields of alice's item `id` of `doc_type`, as `event` sets them.
fn base(doc_type: &str, id: &str, title: &str) -> SearchDocument {
    SearchDocument {
        id: id.into(),
        user_id: "alice".into(),
        doc_type: doc_type.into(),
        title: title.into(),
        created_at: at(12),
        last_updated: at(12),
        sync_timestamp: at(13),
        ..SearchDocument::default()
    }
}

fn check(event: AnyOfficeEvent, expected: SearchDocument) {
    let doc = SearchDocument::from_event(&event);
    assert_eq!(doc, expected);
    // Whatever a kind writes is a field its doc type carries in the schema table.
    let allowed: Vec<&str> = fields_of_doc_type(&doc.doc_type)
        .map(|field| field.name)
        .collect();
    for (name, _) in doc.field_values() {
        assert!(allowed.contains(&name), "{} writes {name}", doc.doc_type);
    }
}

fn strings(values: &[&str]) -> Vec<String> {
    values.iter().map(|value| value.to_string()).collect()
}

#[test]
fn maps_an_email() {
    let email = Email {
        id: "<1@x>".into(),
        thread_id: Some("t1".into()),
        from: Some(mailbox(Some("Bob"), "Bob@X.com")),
        to: vec![mailbox(None, "alice@x.com")],
        cc: vec![mailbox(Some("Carol"), "carol@x.com")],
        bcc: vec![mailbox(None, "dave@x.com")],
        subject: "Budget".into(),
        date: Some(at(9)),
        body_text: "See attached.".into(),
        attachment_names: strings(&["budget.xlsx"]),
        // FIXME(#14): the folder and flags are not searchable yet.
        folder: Some("Work".into()),
        flags: EmailFlags {
            read: true,
            ..EmailFlags::default()
        },
    };
    let expected = SearchDocument {
        content: "See attached.\nbudget.xlsx".into(),
        participants: strings(&[
            "Bob <Bob@X.com>",
            "alice@x.com",
            "Carol <carol@x.com>",
            "dave@x.com",
        ]),
        addresses: strings(&["bob@x.com", "alice@x.com", "carol@x.com", "dave@x.com"]),
        created_at: at(9),
        from_address: Some("Bob@X.com".into()),
        to_addresses: strings(&["alice@x.com"]),
        thread_id: Some("t1".into()),
        attachment_names: strings(&["budget.xlsx"]),
        ..base("email", "<1@x>", "Budget")
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
            addresses: expected.addresses[1..].to_vec(),
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
            content: "Roadmap review\nRoom 4".into(),
            participants: strings(&["Bob <bob@x.com>", "carol@x.com"]),
            addresses: strings(&["bob@x.com", "carol@x.com"]),
            created_at: at(14),
            starts_at: vec![at(14)],
            ends_at: vec![at(15)],
            location: Some("Room 4".into()),
            organizer: Some("Bob <bob@x.com>".into()),
            ..base("calendar", "uid-1", "Planning")
        },
    );
}

#[test]
fn maps_a_contact_without_email_fields() {
    let item = Contact {
        id: "c1".into(),
        display_name: "Carol Jones".into(),
        emails: strings(&["Carol@x.com"]),
        phones: strings(&["+1 555 0100"]),
        organization: Some("Acme".into()),
        ..Contact::default()
    };
    let doc = SearchDocument::from_event(&AnyOfficeEvent::Contact(event(item.clone())));
    assert_eq!(doc.from_address, None);
    check(
        AnyOfficeEvent::Contact(event(item)),
        SearchDocument {
            content: "Acme\nCarol@x.com\n+1 555 0100".into(),
            participants: strings(&["Carol@x.com"]),
            addresses: strings(&["carol@x.com"]),
            emails: strings(&["Carol@x.com"]),
            phones: strings(&["+1 555 0100"]),
            organization: Some("Acme".into()),
            ..base("contact", "c1", "Carol Jones")
        },
    );
}

#[test]
fn maps_documents_of_each_kind_with_a_bounded_text_prefix() {
    let word = Document {
        id: "d1".into(),
        kind: DocumentKind::Word,
        title: "Plan".into(),
        author: Some("bob@x.com".into()),
        body: Some(DocumentBody::Word {
            blocks: vec![
                WordBlock::Heading {
                    level: 1,
                    text: "Goals".into(),
                },
                WordBlock::Paragraph {
                    text: " Ship it. ".into(),
                },
                WordBlock::Table {
                    rows: vec![strings(&["a", "", "b"])],
                },
            ],
        }),
        ..Document::default()
    };
    check(
        AnyOfficeEvent::Document(event(word.clone())),
        SearchDocument {
            content: "Goals\nShip it.\na | b".into(),
            participants: strings(&["bob@x.com"]),
            addresses: strings(&["bob@x.com"]),
            author: Some("bob@x.com".into()),
            ..base("word", "d1", "Plan")
        },
    );

    let sheet = Document {
        id: "s1".into(),
        kind: DocumentKind::Sheet,
        title: "Numbers".into(),
        author: Some("Bob Smith".into()),
        body: Some(DocumentBody::Sheet {
            sheets: vec![Sheet {
                name: "Q1".into(),
                header: strings(&["region", "sales"]),
                rows: vec![strings(&["north", "10"])],
            }],
        }),
        ..Document::default()
    };
    check(
        AnyOfficeEvent::Document(event(sheet)),
        SearchDocument {
            content: "Q1\nregion | sales\nnorth | 10".into(),
            participants: strings(&["Bob Smith"]),
            author: Some("Bob Smith".into()),
            ..base("sheet", "s1", "Numbers")
        },
    );

    let deck = Document {
        id: "p1".into(),
        kind: DocumentKind::Presentation,
        title: "Pitch".into(),
        body: Some(DocumentBody::Presentation {
            slides: vec![Slide {
                number: 1,
                title: Some("Hello".into()),
                body: "Why now".into(),
                notes: "smile".into(),
            }],
        }),
        ..Document::default()
    };
    check(
        AnyOfficeEvent::Document(event(deck)),
        SearchDocument {
            content: "Hello\nWhy now\nsmile".into(),
            ..base("presentation", "p1", "Pitch")
        },
    );

    // Metadata-only updates carry no body; a huge body is cut to the budget.
    let metadata_only = Document {
        body: None,
        ..word.clone()
    };
    let doc = SearchDocument::from_event(&AnyOfficeEvent::Document(event(metadata_only)));
    assert_eq!(doc.content, "");
    let huge = Document {
        body: Some(DocumentBody::Word {
            blocks: (0..10_000)
                .map(|n| WordBlock::Paragraph {
                    text: format!("paragraph number {n} with some words"),
                })
                .collect(),
        }),
        ..word
    };
    let doc = SearchDocument::from_event(&AnyOfficeEvent::Document(event(huge)));
    assert_eq!(doc.content.chars().count(), DOCUMENT_CONTENT_MAX_CHARS);
    assert!(doc.content.starts_with("paragraph number 0 with"));
}

#[test]
fn maps_fragments_of_each_kind_with_their_parent() {
    for (kind, doc_type, parent_type) in [
        (DocumentKind::Word, "word_fragment", "word"),
        (DocumentKind::Sheet, "sheet_fragment", "sheet"),
        (
            DocumentKind::Presentation,
            "presentation_fragment",
            "presentation",
        ),
    ] {
        let fragment = Fragment {
            id: "d1#2".into(),
            kind,
            parent_id: "d1".into(),
            parent_title: "Plan".into(),
            position: 2,
            title: Some("Risks".into()),
            text: "Budget overrun".into(),
        };
        check(
            AnyOfficeEvent::Fragment(event(fragment.clone())),
            SearchDocument {
                content: "Budget overrun".into(),
                parent: Some(ParentLink {
                    id: "d1".into(),
                    doc_type: parent_type.into(),
                    title: "Plan".into(),
                    position: 2,
                }),
                ..base(doc_type, "d1#2", "Risks")
            },
        );
        let untitled = Fragment {
            title: None,
            ..fragment
        };
        let doc = SearchDocument::from_event(&AnyOfficeEvent::Fragment(event(untitled)));
        assert_eq!(doc.title, "");
        assert!(
            doc.field_values()
                .contains(&("position", FieldValue::Integer(2)))
        );
    }
}

#[test]
fn maps_tasks_and_todos() {
    let task = Task {
        id: "t1".into(),
        title: "File taxes".into(),
        description: "Before April".into(),
        status: "notStarted".into(),
        due: Some(at(18)),
    };
    check(
        AnyOfficeEvent::Task(event(task)),
        SearchDocument {
            content: "Before April\nnotStarted".into(),
            status: Some("notStarted".into()),
            due_at: Some(at(18)),
            ..base("task", "t1", "File taxes")
        },
    );
    let todo = Todo {
        id: "td1".into(),
        title: "Call plumber".into(),
        notes: "Leak under sink".into(),
        status: "needs-action".into(),
        due: None,
        assignee: Some(mailbox(Some("Dave"), "Dave@x.com")),
    };
    check(
        AnyOfficeEvent::Todo(event(todo)),
        SearchDocument {
            content: "Leak under sink\nneeds-action".into(),
            participants: strings(&["Dave <Dave@x.com>"]),
            addresses: strings(&["dave@x.com"]),
            status: Some("needs-action".into()),
            assignee: Some("Dave <Dave@x.com>".into()),
            ..base("todo", "td1", "Call plumber")
        },
    );
}

#[test]
fn maps_llm_chats_and_shipments() {
    let chat = LlmChat {
        id: "chat1".into(),
        title: "Rust help".into(),
        model: "gpt-x".into(),
        messages: vec![
            ChatMessage {
                role: "user".into(),
                content: "How do lifetimes work?".into(),
            },
            ChatMessage {
                role: "assistant".into(),
                content: "They name scopes.".into(),
            },
        ],
    };
    check(
        AnyOfficeEvent::LlmChat(event(chat)),
        SearchDocument {
            content: "How do lifetimes work?\nThey name scopes.".into(),
            model: Some("gpt-x".into()),
            ..base("llm_chat", "chat1", "Rust help")
        },
    );
    let shipment = ShipmentUpdate {
        id: "ups:1Z999".into(),
        carrier: "ups".into(),
        tracking_number: "1Z999".into(),
        status: "in_transit".into(),
        source_email_ids: strings(&["<m1@x>"]),
    };
    check(
        AnyOfficeEvent::Shipment(event(shipment)),
        SearchDocument {
            content: "in_transit\nups\n1Z999".into(),
            carrier: Some("ups".into()),
            tracking_number: Some("1Z999".into()),
            status: Some("in_transit".into()),
            source_email_ids: strings(&["<m1@x>"]),
            ..base("shipment", "ups:1Z999", "ups 1Z999")
        },
    );
}

#[test]
fn maps_meeting_polls_and_bookings() {
    let slot = |start, end| TimeSlot {
        start: at(start),
        end: at(end),
    };
    let poll = MeetingPoll {
        id: "poll1".into(),
        title: "Offsite".into(),
        organizer: mailbox(Some("Bob"), "bob@x.com"),
        options: vec![slot(9, 10), slot(14, 15)],
        participants: vec![mailbox(None, "carol@x.com")],
    };
    check(
        AnyOfficeEvent::MeetingPoll(event(poll)),
        SearchDocument {
            content: "2024-05-01 09:00 UTC to 2024-05-01 10:00 UTC\n\
                      2024-05-01 14:00 UTC to 2024-05-01 15:00 UTC"
                .into(),
            participants: strings(&["Bob <bob@x.com>", "carol@x.com"]),
            addresses: strings(&["bob@x.com", "carol@x.com"]),
            starts_at: vec![at(9), at(14)],
            ends_at: vec![at(10), at(15)],
            organizer: Some("Bob <bob@x.com>".into()),
            ..base("meeting_poll", "poll1", "Offsite")
        },
    );
    let booking = MeetingBooking {
        id: "book1".into(),
        title: "Offsite".into(),
        slot: Some(slot(14, 15)),
        organizer: mailbox(Some("Bob"), "bob@x.com"),
        attendee: mailbox(None, "carol@x.com"),
        poll_id: Some("poll1".into()),
    };
    check(
        AnyOfficeEvent::MeetingBooking(event(booking)),
        SearchDocument {
            content: "2024-05-01 14:00 UTC to 2024-05-01 15:00 UTC".into(),
            participants: strings(&["Bob <bob@x.com>", "carol@x.com"]),
            addresses: strings(&["bob@x.com", "carol@x.com"]),
            created_at: at(14),
            starts_at: vec![at(14)],
            ends_at: vec![at(15)],
            organizer: Some("Bob <bob@x.com>".into()),
            poll_id: Some("poll1".into()),
            ..base("meeting_booking", "book1", "Offsite")
        },
    );
}

#[test]
fn every_kind_gets_its_doc_type_and_event_timestamps() {
    for kind in DataKind::ALL {
        let event = sample_event(kind);
        let doc = SearchDocument::from_event(&event);
        assert_eq!(doc.doc_type, kind.doc_type(), "{kind:?}");
        assert_eq!(doc.last_updated, at(12), "{kind:?}");
        assert_eq!(doc.sync_timestamp, at(13), "{kind:?}");
        assert_eq!((doc.user_id.as_str(), doc.id.as_str()), ("alice", "x"));
    }
}

/// An event of `kind` for alice with item id `x`.
fn sample_event(kind: DataKind) -> AnyOfficeEvent {
    let id = "x".to_string();
    let document = |kind| Document {
        id: id.clone(),
        kind,
        ..Document::default()
    };
    let fragment = |kind| Fragment {
        id: id.clone(),
        kind,
        ..Fragment::default()
    };
    match kind {
        DataKind::Email => AnyOfficeEvent::Email(event(Email {
            id,
            ..Email::default()
        })),
        DataKind::Calendar => AnyOfficeEvent::Calendar(event(CalendarItem {
            id,
            ..CalendarItem::default()
        })),
        DataKind::Contact => AnyOfficeEvent::Contact(event(Contact {
            id,
            ..Contact::default()
        })),
        DataKind::WordDocument => AnyOfficeEvent::Document(event(document(DocumentKind::Word))),
        DataKind::SheetDocument => AnyOfficeEvent::Document(event(document(DocumentKind::Sheet))),
        DataKind::PresentationDocument => {
            AnyOfficeEvent::Document(event(document(DocumentKind::Presentation)))
        }
        DataKind::WordFragment => AnyOfficeEvent::Fragment(event(fragment(DocumentKind::Word))),
        DataKind::SheetFragment => AnyOfficeEvent::Fragment(event(fragment(DocumentKind::Sheet))),
        DataKind::PresentationFragment => {
            AnyOfficeEvent::Fragment(event(fragment(DocumentKind::Presentation)))
        }
        DataKind::Task => AnyOfficeEvent::Task(event(Task {
            id,
            ..Task::default()
        })),
        DataKind::Todo => AnyOfficeEvent::Todo(event(Todo {
            id,
            ..Todo::default()
        })),
        DataKind::LlmChat => AnyOfficeEvent::LlmChat(event(LlmChat {
            id,
            ..LlmChat::default()
        })),
        DataKind::Shipment => AnyOfficeEvent::Shipment(event(ShipmentUpdate {
            id,
            ..ShipmentUpdate::default()
        })),
        DataKind::MeetingPoll => AnyOfficeEvent::MeetingPoll(event(MeetingPoll {
            id,
            ..MeetingPoll::default()
        })),
        DataKind::MeetingBooking => AnyOfficeEvent::MeetingBooking(event(MeetingBooking {
            id,
            ..MeetingBooking::default()
        })),
    }
}
