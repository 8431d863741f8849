//! A Graph `message` as an [`Email`]: the Graph id is the item id (removals name only
//! it), `conversationId` the thread, `from` (else `sender`) and the recipients as
//! mailboxes, `sentDateTime` (else `receivedDateTime`) the date, the body as text (HTML
//! bodies turned into text), `isRead`, `isDraft` and a flagged `flag` as the flags, and
//! `lastModifiedDateTime` as when it last changed.
//! An item with `@removed` is a deletion. Graph's documented samples write `isRead` once
//! as the string `"true"`, so booleans are read from strings too.

use chrono::{DateTime, Utc};
use serde_json::Value;
use switchyard_contracts::{Email, EmailFlags, Mailbox};

/// What one delta item says about a message.
#[derive(Debug, Clone, PartialEq)]
pub enum MailChange {
    /// The message, new or changed.
    Upsert {
        /// The message.
        email: Box<Email>,
        /// When it last changed (`lastModifiedDateTime`), if Graph said.
        last_modified: Option<DateTime<Utc>>,
    },
    /// The message with this id is gone.
    Removed(String),
}

/// The change a Graph delta item describes, or why it cannot be read.
pub fn mail_change(item: &Value) -> Result<MailChange, String> {
    let id = item
        .get("id")
        .and_then(Value::as_str)
        .filter(|id| !id.is_empty())
        .ok_or("message without `id`")?
        .to_string();
    if item.get("@removed").is_some() {
        return Ok(MailChange::Removed(id));
    }
    let text = |name: &str| item.get(name).and_then(Value::as_str).map(str::to_string);
    let date = |name: &str| {
        text(name)
            .and_then(|value| DateTime::parse_from_rfc3339(&value).ok())
            .map(|date| date.with_timezone(&Utc))
    };
    let recipients = |name: &str| -> Vec<Mailbox> {
        item.get(name)
            .and_then(Value::as_array)
            .map(|list| list.iter().filter_map(mailbox).collect())
            .unwrap_or_default()
    };
    let body_text = match item.get("body") {
        Some(body) => {
            let content = body["content"].as_str().unwrap_or_default();
            if body["contentType"]
                .as_str()
                .is_some_and(|kind| kind.eq_ignore_ascii_case("html"))
            {
                mail_parser::decoders::html::html_to_text(content)
            } else {
                content.to_string()
            }
        }
        None => text("bodyPreview").unwrap_or_default(),
    };
    let last_modified = date("lastModifiedDateTime");
    let email = Box::new(Email {
        id,
        thread_id: text("conversationId"),
        from: item
            .get("from")
            .and_then(mailbox)
            .or_else(|| item.get("sender").and_then(mailbox)),
        to: recipients("toRecipients"),
        cc: recipients("ccRecipients"),
        bcc: recipients("bccRecipients"),
        subject: text("subject").unwrap_or_default(),
        date: date("sentDateTime").or_else(|| date("receivedDateTime")),
        body_text: body_text.trim().to_string(),
        attachment_names: Vec::new(),
        folder: None,
        flags: EmailFlags {
            read: flag(item.get("isRead")),
            draft: flag(item.get("isDraft")),
            flagged: item["flag"]["flagStatus"].as_str() == Some("flagged"),
            ..EmailFlags::default()
        },
    });
    Ok(MailChange::Upsert {
        email,
        last_modified,
    })
}

/// A Graph `recipient` (`{"emailAddress": {"name", "address"}}`).
fn mailbox(recipient: &Value) -> Option<Mailbox> {
    let address = &recipient["emailAddress"];
    let name = address["name"]
        .as_str()
        .map(str::trim)
        .filter(|name| !name.is_empty())
        .map(str::to_string);
    let address = address["address"]
        .as_str()
        .unwrap_or_default()
        .trim()
        .to_string();
    (name.is_some() || !address.is_empty()).then_some(Mailbox { name, address })
}

/// A boolean, written as one or as the string `"true"`.
fn flag(value: Option<&Value>) -> bool {
    match value {
        Some(Value::Bool(value)) => *value,
        Some(Value::String(value)) => value.eq_ignore_ascii_case("true"),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(name: &str) -> Value {
        let path = switchyard_office::shared_testdata()
            .join("providers/msgraph")
            .join(name);
        serde_json::from_slice(&std::fs::read(&path).expect("shared sample is there"))
            .expect("shared sample is JSON")
    }

    #[test]
    fn a_documented_message_becomes_an_email() {
        let MailChange::Upsert {
            email,
            last_modified,
        } = mail_change(&sample("message-get.json")).unwrap()
        else {
            panic!("expected an upsert");
        };
        assert_eq!(
            last_modified.map(|date| date.to_rfc3339()).as_deref(),
            Some("2018-09-09T03:15:08+00:00")
        );
        assert_eq!(email.id, "AAMkADhMGAAA=");
        assert_eq!(email.thread_id.as_deref(), Some("AAQkADOUpag6yWs="));
        assert_eq!(email.subject, "9/9/2018: concert");
        assert_eq!(
            email.from.as_ref().map(Mailbox::display).as_deref(),
            Some("Adele Vance <adelev@contoso.OnMicrosoft.com>")
        );
        assert_eq!(email.to.len(), 1);
        assert_eq!(email.to[0].address, "AlexW@contoso.OnMicrosoft.com");
        assert_eq!(
            email.date.map(|date| date.to_rfc3339()).as_deref(),
            Some("2018-09-09T03:15:06+00:00")
        );
        assert_eq!(email.body_text, "The group represents Nevada.");
        assert!(email.flags.read && !email.flags.draft && !email.flags.flagged);
    }

    #[test]
    fn delta_pages_give_upserts_and_removals() {
        let page = sample("messages-delta-round2-removed-and-updated.json");
        let changes: Vec<MailChange> = page["value"]
            .as_array()
            .unwrap()
            .iter()
            .map(|item| mail_change(item).unwrap())
            .collect();
        assert_eq!(
            changes[0],
            MailChange::Removed(
                "AAMkADk0MGFkODE3LWE4MmYtNDRhOS0Dh_6qB-pB2Sa2pUum19a6YAAKnLuxoAAA=".into()
            )
        );
        let MailChange::Upsert { email: updated, .. } = &changes[1] else {
            panic!("expected an upsert");
        };
        // The sample's `"isRead": "true"` is a string.
        assert!(updated.flags.read);
        assert_eq!(updated.from.as_ref().unwrap().address, "danas@contoso.com");
        assert_eq!(
            mail_change(&serde_json::json!({"subject": "x"})).unwrap_err(),
            "message without `id`"
        );
    }
}
