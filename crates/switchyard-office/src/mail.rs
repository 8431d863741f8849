//! Email importers: splits `.mbox` mailboxes into messages as a stream and turns each
//! message (or a whole `.eml`) into an [`Email`] with `mail-parser`.
//!
//! Mailbox format: a message starts at a line beginning `From ` that opens the file or
//! follows an empty line; the separator line itself is not part of the message and
//! `>From ` quoting (mboxrd) is undone. Text before the first separator that is not
//! blank is a message of its own, so a bare RFC 5322 message saved as `.mbox` imports
//! as one email. Only one message is held in memory at a time.
//!
//! A message lacking `From`, `Message-ID` or `Date` is still imported, with a warning
//! naming what was missing: its id is then `sha256:` and the 64 lowercase hex digits of
//! the SHA-256 of its bytes (in a mailbox: without the separator line, `>From ` quoting
//! undone), so the same message always gets the same id and importing it again adds
//! nothing; its date is the separator line's (`From alice@example.com Thu Jan  1
//! 00:00:00 2024`, asctime taken as UTC unless it carries a `+hhmm` offset), else the
//! file's modification time; its sender is the separator line's address. Only what is no
//! message at all is rejected: an empty entry, binary data, text without a header.
//!
//! Limits ([`ImportLimits`]): a message larger than `max_email_bytes` is rejected; in a
//! mailbox it is streamed past line by line (a line is never held past the limit either)
//! and the next message is read as usual. MIME parts nested deeper than `max_mime_depth`
//! are counted by a line scan before `mail-parser` runs (its parse is iterative, but the
//! messages it returns nest as deep as the input), and bytes that are not text at all
//! (binary files with a mail extension) are rejected before parsing too.

use std::io::BufRead;

use chrono::{DateTime, Utc};
use mail_parser::{Address, HeaderValue, MessageParser, MimeHeaders};
use sha2::{Digest, Sha256};
use switchyard_contracts::{AnyOfficeEvent, Email, Mailbox};

use crate::item::{EventStamp, ImportItem};
use crate::limits::{ImportLimits, human_bytes};
use crate::mbox_separator::Separator;

/// Bytes of an oversized message's lines kept to find the next separator.
const SKIPPED_LINE_BYTES: usize = 8;

/// Splits a mailbox into messages, tracking byte offsets for locations and progress.
pub(crate) struct MboxReader<R> {
    reader: R,
    limits: ImportLimits,
    /// Bytes consumed from `reader`.
    offset: u64,
    /// Offset and content of a separator line already consumed, which opens the next
    /// message.
    next_separator: Option<(u64, Separator)>,
    previous_line_blank: bool,
    messages_read: usize,
    finished: bool,
}

/// One message cut out of a mailbox.
struct RawMessage {
    /// 1-based position in the mailbox.
    index: usize,
    /// Byte offset of its separator line, or of its first line when it has none.
    offset: u64,
    /// The message, or `None` when it was larger than the limit and skipped.
    bytes: Option<Vec<u8>>,
    /// What its separator line says, when it has one.
    separator: Option<Separator>,
}

impl<R: BufRead> MboxReader<R> {
    pub(crate) fn new(reader: R, limits: &ImportLimits) -> Self {
        MboxReader {
            reader,
            limits: limits.clone(),
            offset: 0,
            next_separator: None,
            previous_line_blank: true,
            messages_read: 0,
            finished: false,
        }
    }

    pub(crate) fn bytes_read(&self) -> u64 {
        self.offset
    }

    /// The next message as an event or a rejection; `None` at the end of the mailbox.
    pub(crate) fn next_item(&mut self, stamp: &EventStamp) -> Option<ImportItem> {
        match self.next_message() {
            Ok(Some(message)) => {
                let location = format!("message {} at byte {}", message.index, message.offset);
                Some(match message.bytes {
                    Some(bytes) => convert_message(
                        &bytes,
                        &location,
                        stamp,
                        &self.limits,
                        message.separator.as_ref(),
                    ),
                    None => Err(stamp.reject(location, too_large(&self.limits))),
                })
            }
            Ok(None) => None,
            Err(err) => {
                self.finished = true;
                let location = format!("byte {}", self.offset);
                Some(Err(stamp.reject(location, format!("failed to read: {err}"))))
            }
        }
    }

    fn next_message(&mut self) -> std::io::Result<Option<RawMessage>> {
        let (mut offset, mut separator) = match self.next_separator.take() {
            Some((offset, separator)) => (offset, Some(separator)),
            None if self.finished => return Ok(None),
            None => (self.offset, None),
        };
        let max_bytes = usize::try_from(self.limits.max_email_bytes).unwrap_or(usize::MAX);
        let mut bytes = Vec::new();
        let mut oversized = false;
        let mut line = Vec::new();
        loop {
            line.clear();
            // Keeps one byte past the limit, so that a message just over it is told apart.
            let keep = if oversized {
                SKIPPED_LINE_BYTES
            } else {
                max_bytes
                    .saturating_sub(bytes.len())
                    .saturating_add(1)
                    .max(SKIPPED_LINE_BYTES)
            };
            let length = read_line_capped(&mut self.reader, &mut line, keep)?;
            if length == 0 {
                self.finished = true;
                break;
            }
            let line_offset = self.offset;
            self.offset += length as u64;
            let is_separator = self.previous_line_blank && line.starts_with(b"From ");
            self.previous_line_blank = matches!(line.as_slice(), b"\n" | b"\r\n");
            if is_separator {
                if separator.is_some() || !is_blank(&bytes) {
                    self.next_separator = Some((line_offset, Separator::parse(&line)));
                    break;
                }
                // Blank lines before the first separator belong to no message.
                bytes.clear();
                offset = line_offset;
                separator = Some(Separator::parse(&line));
                continue;
            }
            if oversized {
                continue;
            }
            let quoted_from =
                line.iter()
                    .position(|&byte| byte != b'>')
                    .is_some_and(|first_other| {
                        first_other > 0 && line[first_other..].starts_with(b"From ")
                    });
            bytes.extend_from_slice(if quoted_from { &line[1..] } else { &line });
            if bytes.len() > max_bytes || line.len() < length {
                oversized = true;
                bytes = Vec::new();
            }
        }
        if !oversized && separator.is_none() && is_blank(&bytes) {
            return Ok(None);
        }
        self.messages_read += 1;
        Ok(Some(RawMessage {
            index: self.messages_read,
            offset,
            bytes: (!oversized).then_some(bytes),
            separator,
        }))
    }
}

/// Reads one line (up to and including `\n`) from `reader`, appending at most `keep` of
/// its bytes to `line`; returns the line's full length. Long lines cost no memory.
fn read_line_capped(
    reader: &mut impl BufRead,
    line: &mut Vec<u8>,
    keep: usize,
) -> std::io::Result<usize> {
    let mut length = 0;
    loop {
        let available = match reader.fill_buf() {
            Ok(available) => available,
            Err(err) if err.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(err) => return Err(err),
        };
        if available.is_empty() {
            return Ok(length);
        }
        let (chunk, complete) = match memchr::memchr(b'\n', available) {
            Some(end) => (end + 1, true),
            None => (available.len(), false),
        };
        let room = keep.saturating_sub(line.len()).min(chunk);
        line.extend_from_slice(&available[..room]);
        reader.consume(chunk);
        length += chunk;
        if complete {
            return Ok(length);
        }
    }
}

/// The reason an email is rejected for its size.
pub(crate) fn too_large(limits: &ImportLimits) -> String {
    format!(
        "message larger than the {} limit per email (import.max_email_bytes), skipped",
        human_bytes(limits.max_email_bytes)
    )
}

fn is_blank(bytes: &[u8]) -> bool {
    bytes.iter().all(u8::is_ascii_whitespace)
}

/// Reads a whole `.eml` file as one message.
pub(crate) fn read_eml(bytes: &[u8], stamp: &EventStamp, limits: &ImportLimits) -> ImportItem {
    convert_message(bytes, "message", stamp, limits, None)
}

/// How Outlook's binary `.msg` files (OLE compound documents) begin.
const OLE_MAGIC: [u8; 8] = [0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1];

/// Parses one raw message into an email event, or rejects it at `location`. What its
/// headers lack comes from its mailbox `separator` line or is derived, with a warning.
pub(crate) fn convert_message(
    raw: &[u8],
    location: &str,
    stamp: &EventStamp,
    limits: &ImportLimits,
    separator: Option<&Separator>,
) -> ImportItem {
    if is_blank(raw) {
        return Err(stamp.reject(location, "empty message"));
    }
    if raw.starts_with(&OLE_MAGIC) {
        return Err(stamp.reject(
            location,
            "an Outlook .msg (OLE) file, not an RFC 5322 message",
        ));
    }
    if is_binary(raw) {
        return Err(stamp.reject(
            location,
            "binary data, not an RFC 5322 message (control bytes in the headers)",
        ));
    }
    if mime_depth_exceeds(raw, limits.max_mime_depth) {
        return Err(stamp.reject(
            location,
            format!(
                "MIME parts nested deeper than {} levels (import.max_mime_depth)",
                limits.max_mime_depth
            ),
        ));
    }
    let Some(message) = MessageParser::default().parse(raw) else {
        return Err(stamp.reject(location, "not a parsable email message"));
    };
    if message.headers().is_empty() {
        return Err(stamp.reject(location, "no header: not an email message"));
    }
    let mut missing = Vec::new();
    let mut derived = Vec::new();
    let separator_sender = separator.and_then(|separator| separator.sender.clone());
    let from = match message.from().and_then(|from| mailboxes(from).next()) {
        Some(from) => Some(from),
        None => {
            missing.push("From");
            derived.push(match &separator_sender {
                Some(_) => "sender from the separator line",
                None => "no sender",
            });
            separator_sender.map(|address| Mailbox {
                name: None,
                address,
            })
        }
    };
    let id = match message.message_id() {
        Some(id) => format!("<{id}>"),
        None => {
            missing.push("Message-ID");
            derived.push("id from the message's SHA-256");
            format!("sha256:{}", hex::encode(Sha256::digest(raw)))
        }
    };
    let header_date = message
        .date()
        .filter(|date| date.is_valid())
        .and_then(|date| DateTime::<Utc>::from_timestamp(date.to_timestamp(), 0));
    let date = match header_date {
        Some(date) => date,
        None => {
            missing.push("Date");
            match separator.and_then(|separator| separator.date) {
                Some(date) => {
                    derived.push("date from the separator line");
                    date
                }
                None => {
                    derived.push("date from the file's time");
                    stamp.file_modified
                }
            }
        }
    };
    if !missing.is_empty() {
        stamp.warn(
            location,
            format!("missing {}: {}", missing.join(", "), derived.join(", ")),
        );
    }
    let thread_id =
        first_message_id(message.references()).or_else(|| first_message_id(message.in_reply_to()));
    let email = Email {
        id,
        thread_id,
        from,
        to: message.all_to().flat_map(mailboxes).collect(),
        cc: message.all_cc().flat_map(mailboxes).collect(),
        bcc: message.all_bcc().flat_map(mailboxes).collect(),
        subject: message.subject().unwrap_or_default().to_string(),
        date: Some(date),
        body_text: message.body_text(0).unwrap_or_default().into_owned(),
        attachment_names: message
            .attachments()
            .filter_map(|part| part.attachment_name())
            .map(str::to_string)
            .collect(),
        ..Email::default()
    };
    Ok(AnyOfficeEvent::Email(stamp.event(email, Some(date))))
}

/// Whether the start of `raw`, where the headers are, holds control bytes text never has
/// (NUL and other C0 controls but tab, line feed, carriage return and form feed).
fn is_binary(raw: &[u8]) -> bool {
    let head = &raw[..raw.len().min(4096)];
    let controls = head
        .iter()
        .filter(|&&byte| {
            (byte < 0x20 && !matches!(byte, b'\t' | b'\n' | b'\r' | 0x0c)) || byte == 0x7f
        })
        .count();
    controls > 0 && controls * 100 >= head.len()
}

/// Whether the MIME structure of `raw` nests deeper than `max_depth`, by a scan of its
/// lines: a `Content-Type: multipart/…` or `message/…` header opens a level, a boundary
/// line of an open multipart closes the levels opened inside it (`--b--` closes `b`
/// too). Header folding is followed for the `boundary` parameter.
fn mime_depth_exceeds(raw: &[u8], max_depth: usize) -> bool {
    // The open levels: a multipart with its boundary, or an attached message.
    let mut open: Vec<Option<Vec<u8>>> = Vec::new();
    // The container header being read, folded lines joined.
    let mut header: Option<Vec<u8>> = None;
    let mut lines = raw.split(|&byte| byte == b'\n');
    loop {
        let line = lines.next();
        let folded = line.is_some_and(|line| line.starts_with(b" ") || line.starts_with(b"\t"));
        if let (Some(value), Some(line)) = (header.as_mut(), line)
            && folded
        {
            if value.len() < 4096 {
                value.extend_from_slice(line);
            }
            continue;
        }
        if let Some(value) = header.take() {
            open.push(boundary(&value));
            if open.len() > max_depth {
                return true;
            }
        }
        let Some(line) = line else {
            return false;
        };
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if let Some(rest) = line.strip_prefix(b"--") {
            let level = open.iter().rposition(|boundary| {
                boundary
                    .as_deref()
                    .is_some_and(|boundary| rest.starts_with(boundary))
            });
            if let Some(level) = level {
                let closing =
                    rest[open[level].as_deref().map_or(0, <[u8]>::len)..].starts_with(b"--");
                open.truncate(if closing { level } else { level + 1 });
            }
            continue;
        }
        if let Some(value) = container_content_type(line) {
            header = Some(value.to_vec());
        }
    }
}

/// The value of a `Content-Type` header line naming a multipart or message type.
fn container_content_type(line: &[u8]) -> Option<&[u8]> {
    const NAME: &[u8] = b"content-type";
    if line.len() < NAME.len() || !line[..NAME.len()].eq_ignore_ascii_case(NAME) {
        return None;
    }
    let rest = line[NAME.len()..]
        .trim_ascii_start()
        .strip_prefix(b":")?
        .trim_ascii_start();
    let is_container = |prefix: &[u8]| {
        rest.len() >= prefix.len() && rest[..prefix.len()].eq_ignore_ascii_case(prefix)
    };
    (is_container(b"multipart/") || is_container(b"message/")).then_some(rest)
}

/// The `boundary` parameter of a multipart content type, `None` for a message type.
fn boundary(value: &[u8]) -> Option<Vec<u8>> {
    if !value[..value.len().min(10)].eq_ignore_ascii_case(b"multipart/") {
        return None;
    }
    let lower = value.to_ascii_lowercase();
    let start = lower.windows(9).position(|window| window == b"boundary=")? + 9;
    let rest = &value[start..];
    let boundary: Vec<u8> = match rest.strip_prefix(b"\"") {
        Some(quoted) => quoted
            .iter()
            .take_while(|&&byte| byte != b'"')
            .copied()
            .collect(),
        None => rest
            .iter()
            .take_while(|&&byte| !byte.is_ascii_whitespace() && byte != b';')
            .copied()
            .collect(),
    };
    (!boundary.is_empty()).then_some(boundary)
}

/// The addresses of a header, groups flattened; entries with neither name nor address
/// are dropped.
fn mailboxes<'a>(address: &'a Address<'_>) -> impl Iterator<Item = Mailbox> + 'a {
    address.iter().filter_map(|addr| {
        let name = addr
            .name()
            .map(str::trim)
            .filter(|name| !name.is_empty())
            .map(str::to_string);
        let address = addr
            .address()
            .map(str::trim)
            .unwrap_or_default()
            .to_string();
        (name.is_some() || !address.is_empty()).then_some(Mailbox { name, address })
    })
}

/// The first message id of a `References` or `In-Reply-To` header, in angle brackets.
fn first_message_id(header: &HeaderValue<'_>) -> Option<String> {
    let first = match header {
        HeaderValue::Text(id) => Some(id.as_ref()),
        HeaderValue::TextList(ids) => ids.first().map(|id| id.as_ref()),
        _ => None,
    };
    first
        .map(str::trim)
        .filter(|id| !id.is_empty())
        .map(|id| format!("<{id}>"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::item::test_stamp;

    fn read_mbox(input: &str) -> Vec<ImportItem> {
        let stamp = test_stamp("mbox");
        let mut reader = MboxReader::new(input.as_bytes(), &ImportLimits::default());
        std::iter::from_fn(|| reader.next_item(&stamp)).collect()
    }

    fn email(item: &ImportItem) -> &Email {
        match item {
            Ok(AnyOfficeEvent::Email(event)) => &event.item,
            other => panic!("expected an email, got {other:?}"),
        }
    }

    /// Splits `input` and checks each item: `Ok(subject)` or `Err(location)`.
    fn check_split(input: &str, expected: &[Result<&str, &str>]) {
        let items = read_mbox(input);
        let actual: Vec<Result<&str, &str>> = items
            .iter()
            .map(|item| match item {
                Ok(_) => Ok(email(item).subject.as_str()),
                Err(rejection) => Err(rejection.location.as_str()),
            })
            .collect();
        assert_eq!(actual, expected, "{input:?}");
    }

    #[test]
    fn splits_mailboxes() {
        let one = "From: a@x\nSubject: one\n\nbody\n";
        let two = "From: b@x\nSubject: two\n\nbody\n";
        check_split("", &[]);
        check_split("\n\n", &[]);
        check_split(&format!("From a\n{one}"), &[Ok("one")]);
        check_split(
            &format!("From a\n{one}\nFrom b\n{two}"),
            &[Ok("one"), Ok("two")],
        );
        // A bare message without separator, as several patchew .mbox files are.
        check_split(one, &[Ok("one")]);
        check_split(&format!("{one}\nFrom b\n{two}"), &[Ok("one"), Ok("two")]);
        // Leading blank lines are no message.
        check_split(&format!("\n\nFrom a\n{one}"), &[Ok("one")]);
        // `From ` inside a paragraph does not split.
        check_split(
            "From a\nFrom: a@x\nSubject: one\n\nhello\nFrom here on\n",
            &[Ok("one")],
        );
        // A separator with nothing after it is an empty message.
        check_split(
            &format!("From a\n{one}\nFrom b\n"),
            &[Ok("one"), Err("message 2 at byte 37")],
        );
        check_split(
            "From a\r\n\r\nFrom b\r\n",
            &[Err("message 1 at byte 0"), Err("message 2 at byte 10")],
        );
    }

    #[test]
    fn unquotes_from_lines_and_keeps_offsets() {
        let input =
            "From a\nFrom: a@x\nSubject: one\n\n>From me\n>>From you\n\nFrom b\nFrom: b@x\n\nx\n";
        let items = read_mbox(input);
        assert_eq!(items.len(), 2);
        assert_eq!(email(&items[0]).body_text, "From me\n>From you\n\n");
        let second_offset = input.find("\nFrom b").unwrap() + 1;
        let mut reader = MboxReader::new(input.as_bytes(), &ImportLimits::default());
        let stamp = test_stamp("mbox");
        reader.next_item(&stamp);
        reader.next_item(&stamp);
        assert_eq!(reader.bytes_read(), input.len() as u64);
        let message = MboxReader::new(input.as_bytes(), &ImportLimits::default())
            .next_message()
            .unwrap();
        assert_eq!(message.unwrap().offset, 0);
        let mut reader = MboxReader::new(input.as_bytes(), &ImportLimits::default());
        reader.next_message().unwrap();
        assert_eq!(
            reader.next_message().unwrap().unwrap().offset,
            second_offset as u64
        );
    }

    fn convert(raw: &str) -> ImportItem {
        convert_message(
            raw.as_bytes(),
            "message",
            &test_stamp("eml"),
            &ImportLimits::default(),
            None,
        )
    }

    #[test]
    fn converts_headers_and_bodies() {
        let item = convert(concat!(
            "From: \"Alice A.\" <alice@example.com>\r\n",
            "To: bob@example.com, Team: carol@example.com, Dan <dan@example.com>;\r\n",
            "Cc: erin@example.com\r\n",
            "Bcc: frank@example.com\r\n",
            "Subject: =?utf-8?q?Caf=C3=A9?= plans\r\n",
            "Date: Tue, 1 Jul 2003 10:52:37 +0200\r\n",
            "Message-ID: <m1@example.com>\r\n",
            "In-Reply-To: <m0@example.com>\r\n",
            "References: <root@example.com> <m0@example.com>\r\n",
            "Content-Type: multipart/mixed; boundary=b\r\n",
            "\r\n",
            "--b\r\nContent-Type: text/plain\r\n\r\nHello there\r\n",
            "--b\r\nContent-Type: application/pdf\r\n",
            "Content-Disposition: attachment; filename=report.pdf\r\n\r\nJVBER\r\n",
            "--b--\r\n",
        ));
        let email = email(&item);
        assert_eq!(email.id, "<m1@example.com>");
        assert_eq!(email.thread_id.as_deref(), Some("<root@example.com>"));
        assert_eq!(
            email.from.as_ref().unwrap().display(),
            "Alice A. <alice@example.com>"
        );
        let addresses = |list: &[Mailbox]| -> Vec<String> {
            list.iter().map(|mailbox| mailbox.address.clone()).collect()
        };
        assert_eq!(
            addresses(&email.to),
            ["bob@example.com", "carol@example.com", "dan@example.com"]
        );
        assert_eq!(addresses(&email.cc), ["erin@example.com"]);
        assert_eq!(addresses(&email.bcc), ["frank@example.com"]);
        assert_eq!(email.subject, "Café plans");
        assert_eq!(
            email.date.unwrap().to_rfc3339(),
            "2003-07-01T08:52:37+00:00"
        );
        assert_eq!(email.body_text, "Hello there");
        assert_eq!(email.attachment_names, ["report.pdf"]);
        let Ok(AnyOfficeEvent::Email(event)) = &item else {
            unreachable!()
        };
        assert_eq!(event.last_updated, email.date.unwrap());
        assert_eq!(event.provider, "eml");
        assert_eq!(event.user_id, "alice");
        assert_eq!(event.batch_id, "");
    }

    #[test]
    fn falls_back_for_missing_headers() {
        let raw = "From: a@x\r\nIn-Reply-To: <parent@x>\r\nContent-Type: text/html\r\n\r\n<p>Hi <b>you</b></p>\r\n";
        let item = convert(raw);
        let email = email(&item);
        let expected_id = format!("sha256:{}", hex::encode(Sha256::digest(raw.as_bytes())));
        assert_eq!(email.id, expected_id);
        assert_eq!(email.thread_id.as_deref(), Some("<parent@x>"));
        assert_eq!(email.body_text.trim(), "Hi you");
        let Ok(AnyOfficeEvent::Email(event)) = &item else {
            unreachable!()
        };
        assert_eq!(event.last_updated, test_stamp("eml").file_modified);
    }

    #[test]
    fn messages_missing_headers_import_with_warnings() {
        // Issue 14: messages without these headers were rejected as not email messages.
        let mbox = concat!(
            "From alice@example.com Thu Jan  4 10:00:00 2024\n",
            "Message-ID: <1@x>\nDate: Tue, 2 Jan 2024 09:00:00 +0000\nSubject: no from\n\nbody\n\n",
            "From bob@example.com Fri Jan  5 11:30:00 2024\n",
            "From: Bob <bob@example.com>\nDate: Tue, 2 Jan 2024 09:00:00 +0000\nSubject: no id\n\nbody\n\n",
            "From carol@example.com Sat Jan  6 12:00:00 2024\n",
            "From: carol@example.com\nMessage-ID: <3@x>\nSubject: no date\n\nbody\n\n",
            "From dan@example.com Sun Jan  7 13:00:00 +0200 2024\n",
            "Subject: nothing\n\nbody\n\n",
            "From MAILER-DAEMON Mon Jan  8 14:00:00 2024\n",
            "Subject: no sender anywhere\n\nbody\n\n",
            "From nobody\n",
            "Subject: no separator date\n\nbody\n",
        );
        let read = || {
            let stamp = test_stamp("mbox");
            let mut reader = MboxReader::new(mbox.as_bytes(), &ImportLimits::default());
            let items: Vec<ImportItem> = std::iter::from_fn(|| reader.next_item(&stamp)).collect();
            (items, stamp.take_warnings())
        };
        let (items, warnings) = read();
        let emails: Vec<&Email> = items.iter().map(email).collect();
        let summary: Vec<(String, Option<String>, String)> = emails
            .iter()
            .map(|email| {
                let id = if email.id.starts_with("sha256:") {
                    "sha256:…".to_string()
                } else {
                    email.id.clone()
                };
                let from = email.from.as_ref().map(Mailbox::display);
                (id, from, email.date.expect("always a date").to_rfc3339())
            })
            .collect();
        let owned = |id: &str, from: Option<&str>, date: &str| {
            (id.to_string(), from.map(str::to_string), date.to_string())
        };
        assert_eq!(
            summary,
            [
                owned(
                    "<1@x>",
                    Some("alice@example.com"),
                    "2024-01-02T09:00:00+00:00"
                ),
                owned(
                    "sha256:…",
                    Some("Bob <bob@example.com>"),
                    "2024-01-02T09:00:00+00:00"
                ),
                owned(
                    "<3@x>",
                    Some("carol@example.com"),
                    "2024-01-06T12:00:00+00:00"
                ),
                owned(
                    "sha256:…",
                    Some("dan@example.com"),
                    "2024-01-07T11:00:00+00:00"
                ),
                owned("sha256:…", None, "2024-01-08T14:00:00+00:00"),
                owned("sha256:…", None, "2023-11-14T22:13:20+00:00"),
            ]
        );
        let reasons: Vec<String> = warnings
            .iter()
            .map(|warning| {
                assert_eq!(warning.kind, crate::WarningKind::Derived);
                let index = warning.location.split(' ').nth(1).unwrap_or_default();
                format!("{index}: {}", warning.reason)
            })
            .collect();
        assert_eq!(
            reasons,
            [
                "1: missing From: sender from the separator line",
                "2: missing Message-ID: id from the message's SHA-256",
                "3: missing Date: date from the separator line",
                "4: missing From, Message-ID, Date: sender from the separator line, \
                 id from the message's SHA-256, date from the separator line",
                "5: missing From, Message-ID, Date: no sender, \
                 id from the message's SHA-256, date from the separator line",
                "6: missing From, Message-ID, Date: no sender, \
                 id from the message's SHA-256, date from the file's time",
            ]
        );
        // The same bytes give the same ids: importing again adds nothing.
        let ids = |items: &[ImportItem]| -> Vec<String> {
            items.iter().map(|item| email(item).id.clone()).collect()
        };
        assert_eq!(ids(&items), ids(&read().0));
        let mut distinct = ids(&items);
        distinct.sort();
        distinct.dedup();
        assert_eq!(distinct.len(), 6);
    }

    fn check_rejected(raw: &str, reason: &str) {
        match convert(raw) {
            Err(rejection) => {
                assert_eq!(rejection.location, "message");
                assert!(
                    rejection.reason.contains(reason),
                    "{raw:?}: {}",
                    rejection.reason
                );
            }
            Ok(event) => panic!("{raw:?} should be rejected, got {event:?}"),
        }
    }

    #[test]
    fn rejects_what_is_not_an_email() {
        check_rejected("", "empty message");
        check_rejected(" \r\n\r\n", "empty message");
        check_rejected("just some text\n", "not");
        check_rejected("\0\0\0\x01binary\0\0\0\0", "binary data");
        let mut outlook_msg = OLE_MAGIC.to_vec();
        outlook_msg.extend_from_slice(&[0; 32]);
        match convert_message(
            &outlook_msg,
            "message",
            &test_stamp("eml"),
            &ImportLimits::default(),
            None,
        ) {
            Err(rejection) => assert!(rejection.reason.contains("Outlook .msg")),
            Ok(event) => panic!("{event:?}"),
        }
    }
}
