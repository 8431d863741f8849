//! The fake Graph's mailbox: per data type a list of generated items, each with the
//! version of its last change, and the delta rounds over them.
//!
//! Every change (add, change, remove, expiry) bumps one global version. A full round
//! pages through the live items of one resource (`$skiptoken=full.U.O`: the version `U`
//! the round started at, the offset `O` in the list) and ends with a delta link carrying
//! `$deltatoken=U`; a round from `$deltatoken=S` pages the same way through the items
//! changed after `S` (`$skiptoken=S.U.O`), removed ones as tombstones. Version 0 is
//! written `latest`, as the first fake's only delta token was. Items are generated from
//! their number and edit count, so a large mailbox costs a few words per item.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::DataType;

/// The files the drive serves, by the remainder of the file number by 3.
const FILES: [(&str, &str, &[u8]); 3] = [
    (
        "Report",
        "docx",
        include_bytes!("../../tests/fixtures/par-hyperlinks.docx"),
    ),
    (
        "Budget",
        "xlsx",
        include_bytes!("../../tests/fixtures/temperature-table.xlsx"),
    ),
    (
        "Deck",
        "pptx",
        include_bytes!("../../tests/fixtures/txt-text.pptx"),
    ),
];

/// The statuses of generated tasks, in turn.
const TODO_STATUSES: [&str; 3] = ["notStarted", "inProgress", "completed"];

/// The mail folder holding the generated messages.
pub(super) const INBOX: &str = "inbox";
/// The contact folder besides the default one; odd-numbered contacts are filed there.
pub(super) const CONTACT_FOLDER: &str = "AAMkContactFolderFriends=";

/// The mailbox's items and versions.
#[derive(Debug, Default)]
pub(super) struct Graph {
    version: u64,
    /// Delta tokens up to this version answer 410.
    expired_through: Option<u64>,
    items: BTreeMap<DataType, Vec<Entry>>,
    /// The To Do lists there are.
    lists: Vec<String>,
    /// How many lists were ever made (new ones take the next number).
    lists_made: usize,
}

/// One item: its number, the resource it belongs to (a folder, a list, or none) and
/// its state.
#[derive(Debug, Clone)]
struct Entry {
    number: usize,
    scope: String,
    edits: u32,
    version: u64,
    removed: bool,
}

/// Where a delta request starts, as its tokens say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Round {
    /// Changes after this version; `None` for a full round.
    pub since: Option<u64>,
    /// The version the round started at: its delta link's token.
    pub until: u64,
    /// The position in the data type's list.
    pub offset: usize,
}

/// One page of a round: its items and the next page's round, if any.
pub(super) struct Page {
    pub items: Vec<Value>,
    pub next: Option<Round>,
}

impl Graph {
    /// A mailbox of `counts` items per data type; To Do tasks are spread over
    /// `todo_lists` lists.
    pub(super) fn new(counts: &[(DataType, usize)], todo_lists: usize) -> Self {
        let mut graph = Graph {
            lists: (0..todo_lists.max(1)).map(todo_list_id).collect(),
            lists_made: todo_lists.max(1),
            ..Graph::default()
        };
        for &(data_type, count) in counts {
            for number in 0..count {
                let scope = match data_type {
                    DataType::Contacts if number % 2 == 1 => CONTACT_FOLDER.to_string(),
                    DataType::Todos => todo_list_id(number % todo_lists.max(1)),
                    _ => default_scope(data_type),
                };
                graph.push(data_type, scope, 0);
            }
        }
        graph
    }

    /// Adds one item of `data_type` to `scope` at `version`; returns its id.
    fn push(&mut self, data_type: DataType, scope: String, version: u64) -> String {
        let entries = self.items.entry(data_type).or_default();
        let number = entries.len();
        entries.push(Entry {
            number,
            scope,
            edits: 0,
            version,
            removed: false,
        });
        id(data_type, number)
    }

    /// Adds an item of `data_type` to its default resource; returns its id.
    pub(super) fn add(&mut self, data_type: DataType) -> String {
        self.version += 1;
        let version = self.version;
        self.push(data_type, default_scope(data_type), version)
    }

    /// Makes a To Do list holding one task; its id and the task's.
    pub(super) fn add_todo_list(&mut self) -> (String, String) {
        self.version += 1;
        let list = todo_list_id(self.lists_made);
        self.lists_made += 1;
        self.lists.push(list.clone());
        let task = self.push(DataType::Todos, list.clone(), self.version);
        (list, task)
    }

    /// Deletes the To Do list `list` with its tasks.
    pub(super) fn remove_todo_list(&mut self, list: &str) {
        self.version += 1;
        self.lists.retain(|kept| kept != list);
        let version = self.version;
        for entry in self.items.entry(DataType::Todos).or_default() {
            if entry.scope == list && !entry.removed {
                entry.removed = true;
                entry.version = version;
            }
        }
    }

    /// The To Do lists there are.
    pub(super) fn todo_lists(&self) -> &[String] {
        &self.lists
    }

    /// Edits the live item `id`, or removes it.
    ///
    /// # Panics
    /// When there is no such live item.
    pub(super) fn touch(&mut self, data_type: DataType, item_id: &str, remove: bool) {
        self.version += 1;
        let version = self.version;
        let entry = self
            .items
            .get_mut(&data_type)
            .and_then(|entries| {
                entries
                    .iter_mut()
                    .find(|entry| !entry.removed && id(data_type, entry.number) == item_id)
            })
            .unwrap_or_else(|| panic!("the fake has no {data_type:?} item {item_id}"));
        entry.version = version;
        if remove {
            entry.removed = true;
        } else {
            entry.edits += 1;
        }
    }

    /// Makes every delta token issued so far expire.
    pub(super) fn expire_delta_links(&mut self) {
        self.expired_through = Some(self.version);
        self.version += 1;
    }

    /// Whether a round from `since` can no longer be continued.
    pub(super) fn is_expired(&self, since: u64) -> bool {
        self.expired_through.is_some_and(|through| since <= through)
    }

    /// A new round: a full one, or the changes after `since`.
    pub(super) fn round(&self, since: Option<u64>) -> Round {
        Round {
            since,
            until: self.version,
            offset: 0,
        }
    }

    /// The live items of `data_type`, as Graph writes them.
    pub(super) fn items(&self, data_type: DataType) -> Vec<Value> {
        self.entries(data_type)
            .iter()
            .filter(|entry| !entry.removed)
            .map(|entry| item(data_type, entry))
            .collect()
    }

    /// The page of `round` in the resource `scope` of `data_type`, at most `page_size`
    /// items.
    pub(super) fn page(
        &self,
        data_type: DataType,
        scope: &str,
        round: Round,
        page_size: usize,
    ) -> Page {
        let entries = self.entries(data_type);
        let mut matching = entries
            .iter()
            .enumerate()
            .skip(round.offset)
            .filter(|(_, entry)| {
                entry.scope == scope
                    && match round.since {
                        None => !entry.removed,
                        Some(since) => entry.version > since,
                    }
            });
        let mut items = Vec::new();
        if data_type == DataType::Files && round.since.is_none() && round.offset == 0 {
            items.push(json!({"id": "01ROOT", "name": "root", "root": {}, "folder": {"childCount": entries.len()}}));
        }
        let mut next_offset = round.offset;
        for (position, entry) in matching.by_ref().take(page_size.max(1)) {
            items.push(if entry.removed {
                tombstone(data_type, entry)
            } else {
                item(data_type, entry)
            });
            next_offset = position + 1;
        }
        let next = matching.next().is_some().then_some(Round {
            offset: next_offset,
            ..round
        });
        Page { items, next }
    }

    /// The bytes and name of the live file `item_id`.
    pub(super) fn file(&self, item_id: &str) -> Option<(String, &'static [u8])> {
        self.entries(DataType::Files)
            .iter()
            .find(|entry| !entry.removed && id(DataType::Files, entry.number) == item_id)
            .map(|entry| (file_name(entry.number), FILES[entry.number % 3].2))
    }

    fn entries(&self, data_type: DataType) -> &[Entry] {
        self.items.get(&data_type).map_or(&[], Vec::as_slice)
    }
}

/// A version as a delta token.
pub(super) fn token(version: u64) -> String {
    if version == 0 {
        "latest".to_string()
    } else {
        version.to_string()
    }
}

/// The version of a delta token.
pub(super) fn version(token: &str) -> Option<u64> {
    if token == "latest" {
        Some(0)
    } else {
        token.parse().ok()
    }
}

impl Round {
    /// The round as a `$skiptoken`.
    pub(super) fn skiptoken(&self) -> String {
        let since = self.since.map_or_else(|| "full".to_string(), token);
        format!("{since}.{}.{}", token(self.until), self.offset)
    }

    /// The round a `$skiptoken` names.
    pub(super) fn from_skiptoken(skiptoken: &str) -> Option<Round> {
        let mut parts = skiptoken.split('.');
        let since = match parts.next()? {
            "full" => None,
            since => Some(version(since)?),
        };
        let until = version(parts.next()?)?;
        let offset = parts.next()?.parse().ok()?;
        Some(Round {
            since,
            until,
            offset,
        })
    }
}

/// Where added items of `data_type` go: the inbox, the default contacts folder, the
/// first To Do list.
fn default_scope(data_type: DataType) -> String {
    match data_type {
        DataType::Emails => INBOX.to_string(),
        DataType::Todos => todo_list_id(0),
        _ => String::new(),
    }
}

/// The id of To Do list `index`.
fn todo_list_id(index: usize) -> String {
    format!("AAMkTaskList{index}")
}

/// The Graph id of item `number` of `data_type`.
fn id(data_type: DataType, number: usize) -> String {
    match data_type {
        DataType::Emails => format!("AAMkMessage{number:05}="),
        DataType::Calendars => format!("AAMkEvent{number:05}="),
        DataType::Contacts => format!("AAMkContact{number:05}="),
        DataType::Todos => format!("AAMkTask{number:05}="),
        DataType::Files => format!("01FILE{number:05}"),
    }
}

fn file_name(number: usize) -> String {
    let (stem, extension, _) = FILES[number % 3];
    format!("{stem} {number}.{extension}")
}

/// A removed item in a delta page: drive items with the `deleted` facet and their name,
/// the others with `@removed`.
fn tombstone(data_type: DataType, entry: &Entry) -> Value {
    let id = id(data_type, entry.number);
    match data_type {
        DataType::Files => json!({"id": id, "name": file_name(entry.number), "deleted": {}}),
        _ => json!({"id": id, "@removed": {"reason": "deleted"}}),
    }
}

/// A live item as Graph writes it in a delta page.
fn item(data_type: DataType, entry: &Entry) -> Value {
    let n = entry.number;
    let id = id(data_type, n);
    let edited = match entry.edits {
        0 => String::new(),
        edits => format!(" (edit {edits})"),
    };
    let modified = format!("2024-03-01T10:{:02}:00Z", entry.edits.min(59));
    match data_type {
        DataType::Emails => json!({
            "@odata.type": "#microsoft.graph.message",
            "id": id,
            "subject": format!("Quarterly update {n}{edited}"),
            "lastModifiedDateTime": modified,
            "sentDateTime": "2024-03-01T09:59:00Z",
            "conversationId": format!("AAQkConversation{}", n / 3),
            "isRead": n.is_multiple_of(2),
            "from": {"emailAddress": {"name": "Dana Swope", "address": "danas@contoso.com"}},
            "toRecipients": [{"emailAddress": {"name": "Adele Vance", "address": "adelev@contoso.com"}}],
            "body": {"contentType": "text", "content": format!("The figures of update {n} are in.")},
        }),
        DataType::Calendars => json!({
            "@odata.type": "#microsoft.graph.event",
            "id": id,
            "type": if n % 4 == 3 { "occurrence" } else { "singleInstance" },
            "subject": format!("Project sync {n}{edited}"),
            "lastModifiedDateTime": modified,
            "body": {"contentType": "html", "content": format!("<p>Agenda of sync <b>{n}</b></p>")},
            "start": {"dateTime": format!("2024-03-{:02}T09:00:00.0000000", 1 + n % 28), "timeZone": "UTC"},
            "end": {"dateTime": format!("2024-03-{:02}T09:30:00.0000000", 1 + n % 28), "timeZone": "UTC"},
            "isAllDay": false,
            "isCancelled": n % 5 == 4,
            "showAs": if n.is_multiple_of(2) { "busy" } else { "free" },
            "location": {"displayName": format!("Room {n}")},
            "organizer": {"emailAddress": {"name": "Dana Swope", "address": "danas@contoso.com"}},
            "attendees": [{
                "type": "required",
                "status": {"response": "accepted", "time": "2024-02-28T08:00:00Z"},
                "emailAddress": {"name": "Adele Vance", "address": "adelev@contoso.com"},
            }],
        }),
        DataType::Contacts => json!({
            "@odata.type": "#microsoft.graph.contact",
            "id": id,
            "lastModifiedDateTime": modified,
            "parentFolderId": entry.scope,
            "displayName": format!("Contact {n}{edited}"),
            "givenName": "Contact",
            "surname": format!("{n}"),
            "emailAddresses": [{"name": format!("Contact {n}"), "address": format!("contact{n}@contoso.com")}],
            "businessPhones": [format!("+1 425 555 {:04}", n % 10_000)],
            "mobilePhone": null,
            "homePhones": [],
            "companyName": "Contoso",
        }),
        DataType::Todos => json!({
            "@odata.type": "#microsoft.graph.todoTask",
            "id": id,
            "lastModifiedDateTime": modified,
            "title": format!("Task {n}{edited}"),
            "status": TODO_STATUSES[n % 3],
            "importance": "normal",
            "body": {"contentType": "text", "content": format!("Notes of task {n}")},
            "dueDateTime": {"dateTime": format!("2024-04-{:02}T00:00:00.0000000", 1 + n % 28), "timeZone": "UTC"},
        }),
        DataType::Files => json!({
            "id": id,
            "name": file_name(n),
            "size": FILES[n % 3].2.len(),
            "lastModifiedDateTime": modified,
            "lastModifiedBy": {"user": {"displayName": "Dana Swope"}},
            "parentReference": {"driveId": "b!fake", "path": "/drive/root:"},
            "file": {"mimeType": "application/octet-stream"},
        }),
    }
}
