//! The JSON Lines importer (`.jsonl`): one todo or task per line, validated field by
//! field. Read line by line: only one line is held in memory.
//!
//! # Format
//!
//! A `.jsonl` file is UTF-8 text (a leading BOM is allowed) with one JSON object per
//! line; blank lines are skipped. Each object is a todo or a task, told apart by `type`:
//!
//! ```text
//! {"type":"todo","id":"todo-1","title":"Renew passport","status":"in-process","due":"2024-05-01","assignee":"Bob Smith <bob@example.com>"}
//! {"type":"task","id":"task-7","title":"Ship v2","description":"Release notes too","status":"notStarted","due":"2024-06-01T17:00:00+02:00"}
//! ```
//!
//! | field | type | required | meaning |
//! |---|---|---|---|
//! | `type` | `"todo"` or `"task"` | yes | the kind of item |
//! | `id` | string, not blank | yes | the provider's id; importing the same id again replaces the item |
//! | `title` | string, not blank | yes | the title |
//! | `status` | string | no | todo: `needs-action` (default), `in-process`, `completed` or `cancelled`; task: any non-blank text (default `notStarted`) |
//! | `due` | string | no | an RFC 3339 date-time (`2024-05-01T17:00:00Z`, `…+02:00`) or a date (`2024-05-01`, taken as midnight UTC) |
//! | `last_updated` | string | no | RFC 3339 date-time of the last change; else the file's modification time |
//! | `notes` | string | no, todo only | the todo's notes |
//! | `assignee` | string or object | no, todo only | `"bob@example.com"`, `"Bob Smith <bob@example.com>"` or `{"name": "Bob Smith", "address": "bob@example.com"}` (`name` optional); the address must be a valid email address |
//! | `description` | string | no, task only | the task's longer text |
//!
//! A `null` value is the same as an absent field. Any other field is an error, so that a
//! misspelt field never disappears silently.
//!
//! # Rejections
//!
//! A line that breaks a rule is rejected as a whole and the rest of the file goes on.
//! The rejection's location is `line N` (from 1, blank lines counted) and its reason names
//! the field:
//!
//! - ``missing required field `id` ``
//! - ``invalid field `assignee`: `bob@` is not a valid email address``
//! - ``invalid field `due`: `tomorrow` is neither an RFC 3339 date-time nor a YYYY-MM-DD date``
//! - ``invalid field `status`: `done` is not one of needs-action, in-process, completed, cancelled``
//! - ``invalid field `title`: expected a string, found a number``, ``invalid field `id`: blank``
//! - ``unknown field `titel` for a todo``
//!
//! or, for the line as a whole, `invalid JSON: …`, `not a JSON object`, `invalid UTF-8`
//! and `line longer than 1048576 bytes`.
//!
//! Events carry `provider: jsonl`, `operation: create`.

use std::io::{BufRead, Read};

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::{Map, Value};
use switchyard_contracts::{AnyOfficeEvent, Mailbox, Task, Todo};

use crate::item::{EventStamp, ImportItem};

/// The longest line read, in bytes; longer lines are rejected and skipped.
pub(crate) const MAX_LINE_BYTES: usize = 1024 * 1024;

/// The statuses a todo may have (the contract's vocabulary).
const TODO_STATUSES: [&str; 4] = ["needs-action", "in-process", "completed", "cancelled"];

/// Streams the items of a JSON Lines file, one line at a time.
pub(crate) struct JsonlReader<R> {
    reader: R,
    line_number: usize,
    bytes_read: u64,
    finished: bool,
}

impl<R: BufRead> JsonlReader<R> {
    pub(crate) fn new(reader: R) -> Self {
        JsonlReader {
            reader,
            line_number: 0,
            bytes_read: 0,
            finished: false,
        }
    }

    pub(crate) fn bytes_read(&self) -> u64 {
        self.bytes_read
    }

    /// The next item or rejection; `None` at the end of the file.
    pub(crate) fn next_item(&mut self, stamp: &EventStamp) -> Option<ImportItem> {
        let mut line = Vec::new();
        while !self.finished {
            line.clear();
            self.line_number += 1;
            let location = format!("line {}", self.line_number);
            let limit = MAX_LINE_BYTES as u64 + 1;
            let read = match (&mut self.reader).take(limit).read_until(b'\n', &mut line) {
                Ok(0) => {
                    self.finished = true;
                    return None;
                }
                Ok(read) => read,
                Err(err) => {
                    self.finished = true;
                    return Some(Err(stamp.reject(location, format!("failed to read: {err}"))));
                }
            };
            self.bytes_read += read as u64;
            if line.len() > MAX_LINE_BYTES && line.last() != Some(&b'\n') {
                self.skip_rest_of_line();
                let reason = format!("line longer than {MAX_LINE_BYTES} bytes");
                return Some(Err(stamp.reject(location, reason)));
            }
            let Ok(text) = std::str::from_utf8(&line) else {
                return Some(Err(stamp.reject(location, "invalid UTF-8")));
            };
            let text = if self.line_number == 1 {
                text.trim_start_matches('\u{feff}')
            } else {
                text
            };
            if text.trim().is_empty() {
                continue;
            }
            return Some(parse_line(text, stamp).map_err(|reason| stamp.reject(location, reason)));
        }
        None
    }

    fn skip_rest_of_line(&mut self) {
        loop {
            let (consumed, done) = match self.reader.fill_buf() {
                Ok([]) => {
                    self.finished = true;
                    return;
                }
                Ok(buffer) => match buffer.iter().position(|byte| *byte == b'\n') {
                    Some(end) => (end + 1, true),
                    None => (buffer.len(), false),
                },
                Err(_) => {
                    self.finished = true;
                    return;
                }
            };
            self.reader.consume(consumed);
            self.bytes_read += consumed as u64;
            if done {
                return;
            }
        }
    }
}

/// One line as an event, or the reason it is rejected.
fn parse_line(text: &str, stamp: &EventStamp) -> Result<AnyOfficeEvent, String> {
    let value: Value = serde_json::from_str(text).map_err(|err| format!("invalid JSON: {err}"))?;
    let Value::Object(object) = value else {
        return Err("not a JSON object".to_string());
    };
    let fields = Fields(object);
    let kind = fields.required_string("type")?;
    let allowed: &[&str] = match kind.as_str() {
        "todo" => &["notes", "assignee"],
        "task" => &["description"],
        other => {
            return Err(format!(
                "invalid field `type`: `{other}` is neither `todo` nor `task`"
            ));
        }
    };
    let common = ["type", "id", "title", "status", "due", "last_updated"];
    if let Some(unknown) = fields
        .0
        .keys()
        .find(|key| !common.contains(&key.as_str()) && !allowed.contains(&key.as_str()))
    {
        return Err(format!("unknown field `{unknown}` for a {kind}"));
    }
    let id = fields.required_string("id")?;
    let title = fields.required_string("title")?;
    let due = fields
        .optional_string("due")?
        .map(|due| parse_due(&due))
        .transpose()
        .map_err(|reason| format!("invalid field `due`: {reason}"))?;
    let last_updated = fields
        .optional_string("last_updated")?
        .map(|time| {
            DateTime::parse_from_rfc3339(time.trim())
                .map(|time| time.with_timezone(&Utc))
                .map_err(|err| format!("invalid field `last_updated`: `{time}` is not an RFC 3339 date-time ({err})"))
        })
        .transpose()?;
    let status = fields.optional_string("status")?;
    if kind == "todo" {
        let status = match status {
            None => "needs-action".to_string(),
            Some(status) if TODO_STATUSES.contains(&status.as_str()) => status,
            Some(status) => {
                return Err(format!(
                    "invalid field `status`: `{status}` is not one of {}",
                    TODO_STATUSES.join(", ")
                ));
            }
        };
        let todo = Todo {
            id,
            title,
            notes: fields.optional_string("notes")?.unwrap_or_default(),
            status,
            due,
            assignee: fields.assignee()?,
        };
        Ok(AnyOfficeEvent::Todo(stamp.event(todo, last_updated)))
    } else {
        let status = match status {
            None => "notStarted".to_string(),
            Some(status) if status.trim().is_empty() => {
                return Err("invalid field `status`: blank".to_string());
            }
            Some(status) => status,
        };
        let task = Task {
            id,
            title,
            description: fields.optional_string("description")?.unwrap_or_default(),
            status,
            due,
        };
        Ok(AnyOfficeEvent::Task(stamp.event(task, last_updated)))
    }
}

/// The fields of one line's object, with error messages that name them.
struct Fields(Map<String, Value>);

impl Fields {
    /// A present, non-null field's string value; other types are errors.
    fn optional_string(&self, name: &str) -> Result<Option<String>, String> {
        match self.0.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(value)) => Ok(Some(value.clone())),
            Some(other) => Err(format!(
                "invalid field `{name}`: expected a string, found {}",
                json_type(other)
            )),
        }
    }

    fn required_string(&self, name: &str) -> Result<String, String> {
        match self.optional_string(name)? {
            None => Err(format!("missing required field `{name}`")),
            Some(value) if value.trim().is_empty() => Err(format!("invalid field `{name}`: blank")),
            Some(value) => Ok(value),
        }
    }

    fn assignee(&self) -> Result<Option<Mailbox>, String> {
        let invalid = |reason: String| format!("invalid field `assignee`: {reason}");
        let mailbox = match self.0.get("assignee") {
            None | Some(Value::Null) => return Ok(None),
            Some(Value::String(text)) => parse_mailbox(text).map_err(invalid)?,
            Some(Value::Object(object)) => {
                let text_field = |key: &str| match object.get(key) {
                    None | Some(Value::Null) => Ok(None),
                    Some(Value::String(value)) => Ok(Some(value.trim().to_string())),
                    Some(other) => Err(invalid(format!(
                        "`{key}` must be a string, found {}",
                        json_type(other)
                    ))),
                };
                if let Some(unknown) = object
                    .keys()
                    .find(|key| *key != "name" && *key != "address")
                {
                    return Err(invalid(format!("unknown key `{unknown}`")));
                }
                let address = text_field("address")?
                    .ok_or_else(|| invalid("missing `address`".to_string()))?;
                if !is_valid_email(&address) {
                    return Err(invalid(format!("`{address}` is not a valid email address")));
                }
                Mailbox {
                    name: text_field("name")?.filter(|name| !name.is_empty()),
                    address,
                }
            }
            Some(other) => {
                return Err(invalid(format!(
                    "expected a string or an object, found {}",
                    json_type(other)
                )));
            }
        };
        Ok(Some(mailbox))
    }
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// `addr@example.com` or `Name <addr@example.com>` (the name may be quoted).
fn parse_mailbox(text: &str) -> Result<Mailbox, String> {
    let text = text.trim();
    let (name, address) = match text
        .strip_suffix('>')
        .and_then(|rest| rest.rsplit_once('<'))
    {
        Some((name, address)) => {
            let name = name.trim().trim_matches('"').trim();
            ((!name.is_empty()).then(|| name.to_string()), address.trim())
        }
        None => (None, text),
    };
    if !is_valid_email(address) {
        return Err(format!("`{text}` is not a valid email address"));
    }
    Ok(Mailbox {
        name,
        address: address.to_string(),
    })
}

/// A practical check of `local@domain`: one `@`, a local part of printable characters
/// without spaces or `<>()[],;:"\`, and a domain of at least two dot-separated labels of
/// letters, digits and inner hyphens (an IDN in Unicode passes too).
pub(crate) fn is_valid_email(address: &str) -> bool {
    let Some((local, domain)) = address.split_once('@') else {
        return false;
    };
    let local_ok = !local.is_empty()
        && local.len() <= 64
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..")
        && local
            .chars()
            .all(|c| !c.is_whitespace() && !c.is_control() && !"<>()[],;:\"\\@".contains(c));
    let labels: Vec<&str> = domain.split('.').collect();
    let domain_ok = domain.len() <= 253
        && labels.len() >= 2
        && labels.iter().all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_alphanumeric() || c == '-')
        });
    local_ok && domain_ok
}

/// An RFC 3339 date-time, or a date taken as midnight UTC.
fn parse_due(text: &str) -> Result<DateTime<Utc>, String> {
    let text = text.trim();
    if let Ok(time) = DateTime::parse_from_rfc3339(text) {
        return Ok(time.with_timezone(&Utc));
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .and_then(|date| date.and_hms_opt(0, 0, 0))
        .map(|time| time.and_utc())
        .ok_or_else(|| format!("`{text}` is neither an RFC 3339 date-time nor a YYYY-MM-DD date"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::item::test_stamp;

    fn read(text: &str) -> Vec<ImportItem> {
        let stamp = test_stamp("jsonl");
        let mut reader = JsonlReader::new(text.as_bytes());
        std::iter::from_fn(|| reader.next_item(&stamp)).collect()
    }

    /// Reads one line and checks the rejection reason.
    fn check_rejected(line: &str, expected: &str) {
        let items = read(line);
        assert_eq!(items.len(), 1, "{line}");
        match &items[0] {
            Err(rejection) => {
                assert_eq!(rejection.location, "line 1", "{line}");
                assert_eq!(rejection.reason, expected, "{line}");
            }
            Ok(event) => panic!("{line}: expected a rejection, got {event:?}"),
        }
    }

    #[test]
    fn rejections_name_the_field() {
        check_rejected(r#"{"id":"1","title":"x"}"#, "missing required field `type`");
        check_rejected(
            r#"{"type":"todo","title":"x"}"#,
            "missing required field `id`",
        );
        check_rejected(
            r#"{"type":"todo","id":"1"}"#,
            "missing required field `title`",
        );
        check_rejected(
            r#"{"type":"todo","id":" ","title":"x"}"#,
            "invalid field `id`: blank",
        );
        check_rejected(
            r#"{"type":"todo","id":1,"title":"x"}"#,
            "invalid field `id`: expected a string, found a number",
        );
        check_rejected(
            r#"{"type":"note","id":"1","title":"x"}"#,
            "invalid field `type`: `note` is neither `todo` nor `task`",
        );
        check_rejected(
            r#"{"type":"todo","id":"1","title":"x","assignee":"bob@"}"#,
            "invalid field `assignee`: `bob@` is not a valid email address",
        );
        check_rejected(
            r#"{"type":"todo","id":"1","title":"x","assignee":{"name":"Bob"}}"#,
            "invalid field `assignee`: missing `address`",
        );
        check_rejected(
            r#"{"type":"todo","id":"1","title":"x","status":"done"}"#,
            "invalid field `status`: `done` is not one of needs-action, in-process, completed, cancelled",
        );
        check_rejected(
            r#"{"type":"task","id":"1","title":"x","due":"tomorrow"}"#,
            "invalid field `due`: `tomorrow` is neither an RFC 3339 date-time nor a YYYY-MM-DD date",
        );
        check_rejected(
            r#"{"type":"task","id":"1","title":"x","assignee":"a@b.c"}"#,
            "unknown field `assignee` for a task",
        );
        check_rejected("[1]", "not a JSON object");
        assert!(
            read("{\"type\":")
                .remove(0)
                .unwrap_err()
                .reason
                .starts_with("invalid JSON: ")
        );
    }

    #[test]
    fn email_addresses() {
        for good in [
            "a@example.com",
            "first.last+tag@sub.example.co.uk",
            "x@bücher.de",
        ] {
            assert!(is_valid_email(good), "{good}");
        }
        for bad in [
            "",
            "a",
            "a@",
            "@b.com",
            "a@b",
            "a b@c.com",
            "a@b..com",
            "a@-b.com",
            "a@@b.com",
            ".a@b.com",
        ] {
            assert!(!is_valid_email(bad), "{bad}");
        }
        assert_eq!(
            parse_mailbox("\"Bob Smith\" <bob@example.com>").unwrap(),
            Mailbox {
                name: Some("Bob Smith".into()),
                address: "bob@example.com".into()
            }
        );
    }

    #[test]
    fn long_and_blank_lines() {
        let long = format!("{{\"x\":\"{}\"}}\n", "a".repeat(MAX_LINE_BYTES));
        let text = format!(
            "\u{feff}\n{long}\n{}\n",
            r#"{"type":"task","id":"t","title":"after"}"#
        );
        let items = read(&text);
        assert_eq!(items.len(), 2, "{items:?}");
        let rejection = items[0].as_ref().unwrap_err();
        assert_eq!(rejection.location, "line 2");
        assert_eq!(
            rejection.reason,
            format!("line longer than {MAX_LINE_BYTES} bytes")
        );
        assert_eq!(items[1].as_ref().unwrap().item_id(), "t");
    }
}
