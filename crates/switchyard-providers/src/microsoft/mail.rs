//! A Graph `message` as an [`Email`]: the Graph id is the item id (removals name only
//! it), `conversationId` the thread, `from` (else `sender`) and the recipients as
//! mailboxes, `sentDateTime` (else `receivedDateTime`) the date, the body as text (HTML
//! bodies turned into text), `isRead`, `isDraft` and a flagged `flag` as the flags, and
//! `lastModifiedDateTime` as when it last changed.
//! Graph's documented samples write `isRead` once as the string `"true"`, so booleans are
//! read from strings too.

use serde_json::Value;
use switchyard_contracts::{Email, EmailFlags, Mailbox};

use super::change::{body_text, date, flag, mailbox, text};

/// The message `id` of a Graph `message`.
pub(super) fn email(id: String, item: &Value) -> Email {
    let recipients = |name: &str| -> Vec<Mailbox> {
        item.get(name)
            .and_then(Value::as_array)
            .map(|list| list.iter().filter_map(mailbox).collect())
            .unwrap_or_default()
    };
    let body_text = match item.get("body") {
        Some(body) => body_text(body),
        None => text(item, "bodyPreview").unwrap_or_default(),
    };
    Email {
        id,
        thread_id: text(item, "conversationId"),
        from: item
            .get("from")
            .and_then(mailbox)
            .or_else(|| item.get("sender").and_then(mailbox)),
        to: recipients("toRecipients"),
        cc: recipients("ccRecipients"),
        bcc: recipients("bccRecipients"),
        subject: item
            .get("subject")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
        date: date(item, "sentDateTime").or_else(|| date(item, "receivedDateTime")),
        body_text,
        attachment_names: Vec::new(),
        folder: None,
        flags: EmailFlags {
            read: flag(item.get("isRead")),
            draft: flag(item.get("isDraft")),
            flagged: item["flag"]["flagStatus"].as_str() == Some("flagged"),
            ..EmailFlags::default()
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::DataType;
    use crate::microsoft::change::tests::sample;
    use crate::microsoft::{Change, Item, change};

    #[test]
    fn a_documented_message_becomes_an_email() {
        let Change::Upsert {
            item: Item::Email(email),
            last_modified,
        } = change(DataType::Emails, &sample("message-get.json")).unwrap()
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
        let changes: Vec<Change> = page["value"]
            .as_array()
            .unwrap()
            .iter()
            .map(|item| change(DataType::Emails, item).unwrap())
            .collect();
        assert_eq!(
            changes[0],
            Change::Removed {
                kind: switchyard_contracts::DataKind::Email,
                id: "AAMkADk0MGFkODE3LWE4MmYtNDRhOS0Dh_6qB-pB2Sa2pUum19a6YAAKnLuxoAAA=".into()
            }
        );
        let Change::Upsert {
            item: Item::Email(updated),
            ..
        } = &changes[1]
        else {
            panic!("expected an upsert");
        };
        // The sample's `"isRead": "true"` is a string.
        assert!(updated.flags.read);
        assert_eq!(updated.from.as_ref().unwrap().address, "danas@contoso.com");
        assert_eq!(
            change(DataType::Emails, &serde_json::json!({"subject": "x"})).unwrap_err(),
            "message without `id`"
        );
    }
}
