//! Every data type read from the crate's stateful fake Graph through the production
//! client: the resources of a mailbox, each delta query paged to its delta link giving
//! exactly the fake's items, the next round giving exactly the changes made since,
//! expired delta links as expired cursors, and drive files downloaded through the
//! redirect without the token and parsed into documents.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value;
use switchyard_auth::SecretString;
use switchyard_contracts::{DataKind, DocumentBody, DocumentKind, WordBlock};
use switchyard_providers::fake::{self, FakeMicrosoft};
use switchyard_providers::microsoft::{
    Change, Cursor, DriveFile, Item, Resource, change, document,
};
use switchyard_providers::{DataType, GraphClient, ProviderErrorKind, Throttle, TokenEndpoint};

const MAILBOX: &str = "adele@contoso.com";
const ALL: [DataType; 5] = [
    DataType::Emails,
    DataType::Calendars,
    DataType::Contacts,
    DataType::Todos,
    DataType::Files,
];

struct Setup {
    fake: Arc<FakeMicrosoft>,
    client: GraphClient,
    token: SecretString,
}

async fn setup() -> Setup {
    // The binary installs ring as the process's TLS provider; so does each test.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let fake = fake::start(|fake| {
        fake.messages = 7;
        fake.events = 9;
        fake.contacts = 5;
        fake.todo_lists = 2;
        fake.tasks_per_list = 4;
        fake.files = 6;
        fake.page_size = 3;
    })
    .await;
    let grant = TokenEndpoint::new(&fake.token_url(), "client", None)
        .refresh(
            &SecretString::new("refresh-0"),
            "offline_access https://graph.microsoft.com/.default",
        )
        .await
        .unwrap();
    let client = GraphClient::new(
        &fake.base_url,
        Throttle::new(Duration::from_secs(5), 3, Duration::from_millis(20)),
    );
    Setup {
        fake,
        client,
        token: grant.access_token,
    }
}

fn window() -> (DateTime<Utc>, DateTime<Utc>) {
    (
        "2024-01-01T00:00:00Z".parse().unwrap(),
        "2024-12-31T00:00:00Z".parse().unwrap(),
    )
}

/// One round from `url` to its delta link: the changes and the delta link.
async fn round(setup: &Setup, data_type: DataType, url: &str) -> (Vec<Change>, String) {
    let mut url = url.to_string();
    let mut changes = Vec::new();
    loop {
        let page = setup
            .client
            .page(MAILBOX, &url, &setup.token)
            .await
            .unwrap();
        for item in &page.items {
            changes.push(change(data_type, item).unwrap());
        }
        match page.cursor {
            Cursor::Next(next) => url = next,
            Cursor::Delta(delta) => return (changes, delta),
        }
    }
}

/// Every resource of `data_type` read from its start: the changes and the delta links.
async fn backfill(setup: &Setup, data_type: DataType) -> (Vec<Change>, Vec<String>) {
    let resources = setup
        .client
        .resources(MAILBOX, data_type, window(), &setup.token)
        .await
        .unwrap();
    let mut changes = Vec::new();
    let mut links = Vec::new();
    for resource in &resources {
        assert_eq!(resource.data_type(), data_type);
        let (more, link) = round(setup, data_type, &setup.client.delta_url(resource)).await;
        changes.extend(more);
        links.push(link);
    }
    (changes, links)
}

/// The next round of every delta link.
async fn next_rounds(
    setup: &Setup,
    data_type: DataType,
    links: &[String],
) -> (Vec<Change>, Vec<String>) {
    let mut changes = Vec::new();
    let mut next = Vec::new();
    for link in links {
        let (more, link) = round(setup, data_type, link).await;
        changes.extend(more);
        next.push(link);
    }
    (changes, next)
}

fn item_id(item: &Item) -> &str {
    match item {
        Item::Email(email) => &email.id,
        Item::Calendar(event) => &event.id,
        Item::Contact(contact) => &contact.id,
        Item::Todo(todo) => &todo.id,
        Item::File(file) => &file.id,
    }
}

/// The upserted items by id; panics on anything else but the drive's root folder.
fn upserts(changes: Vec<Change>) -> BTreeMap<String, Item> {
    let mut items = BTreeMap::new();
    for change in changes {
        match change {
            Change::Upsert { item, .. } => {
                let id = item_id(&item).to_string();
                assert!(items.insert(id.clone(), item).is_none(), "{id} read twice");
            }
            Change::Ignored(reason) => assert_eq!(reason, "a folder"),
            Change::Removed { .. } => panic!("a removal in a first round: {change:?}"),
        }
    }
    items
}

/// The fake's current items, mapped.
fn expected(fake: &FakeMicrosoft, data_type: DataType) -> BTreeMap<String, Item> {
    let items: Vec<Value> = fake.items(data_type);
    upserts(
        items
            .iter()
            .map(|item| change(data_type, item).unwrap())
            .collect(),
    )
}

#[tokio::test]
async fn every_data_type_reads_exactly_the_fakes_items() {
    let setup = setup().await;
    let resources = |data_type| {
        let setup = &setup;
        async move {
            setup
                .client
                .resources(MAILBOX, data_type, window(), &setup.token)
                .await
                .unwrap()
        }
    };
    let folders: Vec<Resource> = ["inbox", "archive", "receipts"]
        .map(|folder| Resource::Mail {
            folder: folder.into(),
        })
        .into();
    assert_eq!(resources(DataType::Emails).await, folders);
    let (from, to) = window();
    assert_eq!(
        resources(DataType::Calendars).await,
        [Resource::Events { from, to }]
    );
    let contacts = resources(DataType::Contacts).await;
    assert_eq!(contacts.len(), 2);
    assert_eq!(contacts[0], Resource::Contacts { folder: None });
    assert_eq!(resources(DataType::Todos).await.len(), 2);
    assert_eq!(resources(DataType::Files).await, [Resource::Files]);
    assert_eq!(
        setup.client.delta_url(&Resource::Events { from, to }),
        format!(
            "{}/v1.0/me/calendarView/delta?startDateTime=2024-01-01T00:00:00Z&endDateTime=2024-12-31T00:00:00Z",
            setup.fake.base_url
        )
    );

    let counts = [7, 9, 5, 8, 6];
    for (data_type, count) in ALL.into_iter().zip(counts) {
        let (changes, links) = backfill(&setup, data_type).await;
        let read = upserts(changes);
        assert_eq!(read.len(), count, "{data_type:?}");
        assert_eq!(read, expected(&setup.fake, data_type), "{data_type:?}");
        // With nothing changed, the delta link is the first fake's `latest`.
        assert!(
            links
                .iter()
                .all(|link| link.ends_with("$deltatoken=latest")),
            "{links:?}"
        );
    }

    // A few fields of each mapping, from the fake's generated items.
    let (events, _) = backfill(&setup, DataType::Calendars).await;
    let Item::Calendar(event) = &upserts(events)["AAMkEvent00001="] else {
        panic!("expected an event");
    };
    assert_eq!(event.title, "Project sync 1");
    assert_eq!(event.description, "Agenda of sync 1");
    assert_eq!(event.start, Some("2024-03-02T09:00:00Z".parse().unwrap()));
    assert_eq!(event.attendees[0].status.as_deref(), Some("ACCEPTED"));
    assert!(event.transparent);
    let (contacts, _) = backfill(&setup, DataType::Contacts).await;
    let Item::Contact(contact) = &upserts(contacts)["AAMkContact00003="] else {
        panic!("expected a contact");
    };
    assert_eq!(contact.emails, ["contact3@contoso.com"]);
    assert_eq!(contact.organization.as_deref(), Some("Contoso"));
    let (todos, _) = backfill(&setup, DataType::Todos).await;
    let statuses: Vec<String> = upserts(todos)
        .values()
        .take(3)
        .map(|item| match item {
            Item::Todo(todo) => todo.status.clone(),
            other => panic!("expected a todo, got {other:?}"),
        })
        .collect();
    assert_eq!(statuses, ["needs-action", "in-process", "completed"]);

    // Each kind of file downloads and parses with its text.
    let (files, _) = backfill(&setup, DataType::Files).await;
    let files: Vec<DriveFile> = upserts(files)
        .into_values()
        .take(3)
        .map(|item| match item {
            Item::File(file) => file,
            other => panic!("expected a file, got {other:?}"),
        })
        .collect();
    let mut documents = Vec::new();
    for file in &files {
        let bytes = setup
            .client
            .download(MAILBOX, file, &setup.token, 1 << 20)
            .await
            .unwrap();
        assert_eq!(bytes.len() as u64, file.size_bytes);
        documents.push(document(file, &bytes).unwrap());
    }
    let kinds: Vec<(&str, DocumentKind, &str)> = documents
        .iter()
        .map(|document| (document.id.as_str(), document.kind, document.title.as_str()))
        .collect();
    assert_eq!(
        kinds,
        [
            ("01FILE00000", DocumentKind::Word, "Report 0"),
            ("01FILE00001", DocumentKind::Sheet, "Budget 1"),
            ("01FILE00002", DocumentKind::Presentation, "Presentation"),
        ]
    );
    assert_eq!(documents[0].last_modified, files[0].last_modified);
    let Some(DocumentBody::Word { blocks }) = &documents[0].body else {
        panic!("expected a Word body");
    };
    assert_eq!(
        blocks[0],
        WordBlock::Paragraph {
            text: "No hyperlinks".into()
        }
    );
    let Some(DocumentBody::Sheet { sheets }) = &documents[1].body else {
        panic!("expected sheets");
    };
    assert_eq!(
        (sheets[0].name.as_str(), sheets[0].header.as_slice()),
        ("Sheet1", ["label", "value"].map(String::from).as_slice())
    );
}

#[tokio::test]
async fn delta_links_give_exactly_the_changes_made_since() {
    let setup = setup().await;
    for data_type in ALL {
        let (first, links) = backfill(&setup, data_type).await;
        let ids: Vec<String> = upserts(first).into_keys().collect();
        let added = setup.fake.add(data_type);
        setup.fake.change(data_type, &ids[0]);
        setup.fake.remove(data_type, &ids[1]);

        let (changes, links) = next_rounds(&setup, data_type, &links).await;
        let mut upserted = Vec::new();
        let mut removed = Vec::new();
        for change in changes {
            match change {
                Change::Upsert { item, .. } => upserted.push(item),
                Change::Removed { kind, id } => removed.push((kind, id)),
                Change::Ignored(reason) => panic!("{data_type:?}: ignored {reason}"),
            }
        }
        let mut upserted_ids: Vec<&str> = upserted.iter().map(item_id).collect();
        upserted_ids.sort_unstable();
        let mut expected_ids = vec![ids[0].as_str(), added.as_str()];
        expected_ids.sort_unstable();
        assert_eq!(upserted_ids, expected_ids, "{data_type:?}");
        let removed_kind = match data_type {
            DataType::Emails => DataKind::Email,
            DataType::Calendars => DataKind::Calendar,
            DataType::Contacts => DataKind::Contact,
            DataType::Todos => DataKind::Todo,
            // The second file is a workbook.
            DataType::Files => DataKind::SheetDocument,
        };
        assert_eq!(removed, [(removed_kind, ids[1].clone())], "{data_type:?}");
        let changed = upserted
            .iter()
            .find(|item| item_id(item) == ids[0])
            .unwrap();
        let title = match changed {
            Item::Email(email) => email.subject.clone(),
            Item::Calendar(event) => event.title.clone(),
            Item::Contact(contact) => contact.display_name.clone(),
            Item::Todo(todo) => todo.title.clone(),
            Item::File(file) => file.name.clone(),
        };
        if data_type != DataType::Files {
            assert!(title.ends_with("(edit 1)"), "{data_type:?}: {title}");
        }

        // Nothing changed since: the next round is empty.
        let (changes, _) = next_rounds(&setup, data_type, &links).await;
        assert_eq!(changes, [], "{data_type:?}");
    }
}

#[tokio::test]
async fn expired_delta_links_are_expired_cursors() {
    let setup = setup().await;
    let (_, links) = backfill(&setup, DataType::Calendars).await;
    let (_, mail_links) = backfill(&setup, DataType::Emails).await;
    setup.fake.expire_delta_links();
    for link in links.iter().chain(&mail_links) {
        let error = setup
            .client
            .page(MAILBOX, link, &setup.token)
            .await
            .unwrap_err();
        assert_eq!(error.kind(), ProviderErrorKind::CursorExpired, "{error}");
        assert!(
            error
                .to_string()
                .contains("HTTP 410 Gone syncStateNotFound"),
            "{error}"
        );
    }
    // A new full round reads everything again, and its delta link works.
    let (changes, links) = backfill(&setup, DataType::Calendars).await;
    assert_eq!(upserts(changes).len(), 9);
    let (changes, _) = next_rounds(&setup, DataType::Calendars, &links).await;
    assert_eq!(changes, []);
}

#[tokio::test]
async fn downloads_follow_the_redirect_without_the_token() {
    let setup = setup().await;
    let (files, _) = backfill(&setup, DataType::Files).await;
    let Some(Item::File(file)) = upserts(files).into_values().next() else {
        panic!("expected a file");
    };
    // The fake's download refuses any Authorization, so a leaked token fails this.
    let bytes = setup
        .client
        .download(MAILBOX, &file, &setup.token, 1 << 20)
        .await
        .unwrap();
    assert!(bytes.starts_with(b"PK"));
    let raw = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let content = format!(
        "{}/v1.0/me/drive/items/{}/content",
        setup.fake.base_url, file.id
    );
    let redirect = raw
        .get(&content)
        .bearer_auth(setup.token.expose())
        .send()
        .await
        .unwrap();
    assert_eq!(redirect.status(), reqwest::StatusCode::FOUND);
    let location = redirect.headers()["location"].to_str().unwrap().to_string();
    let leaked = raw
        .get(&location)
        .bearer_auth(setup.token.expose())
        .send()
        .await
        .unwrap();
    assert_eq!(leaked.status(), reqwest::StatusCode::BAD_REQUEST);

    let error = setup
        .client
        .download(MAILBOX, &file, &setup.token, 1000)
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ProviderErrorKind::Invalid);
    assert!(
        error.to_string().ends_with("answer larger than 1000 bytes"),
        "{error}"
    );
    assert!(!error.to_string().contains("sig="), "{error}");

    // Graph takes only the tokens the token endpoint issued.
    let error = setup
        .client
        .download(MAILBOX, &file, &SecretString::new("access-99"), 1 << 20)
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ProviderErrorKind::NeedsReauth, "{error}");
}
