//! The `.vcf` importer: every vCard (2.1, 3.0 or 4.0) of a file becomes a [`Contact`].
//!
//! Cards are numbered `card 1`, `card 2`, … in file order. A card with nothing to show
//! (no FN, N, EMAIL, TEL or ORG) is rejected; the rest of the file still imports. A card
//! without UID gets the id `sha256:` and the hex SHA-256 of the card as calcard writes
//! it. A blank file is skipped with the warning `no cards`; text without any vCard is
//! rejected.

use std::borrow::Cow;

use calcard::vcard::{VCard, VCardProperty, VCardValue};
use calcard::{Entry, Parser};
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use switchyard_contracts::{AnyOfficeEvent, Contact};

use crate::item::{EventStamp, ImportItem};

/// Reads every vCard of a file. Invalid UTF-8 is replaced, not rejected.
pub(crate) fn read_contacts(bytes: &[u8], stamp: &EventStamp) -> Vec<ImportItem> {
    let text = String::from_utf8_lossy(bytes);
    let text = ungroup_card_delimiters(&text);
    let mut parser = Parser::new(&text);
    let mut items = Vec::new();
    let mut cards = 0;
    // Each entry consumes input; the bound guards against a parser that would not.
    for _ in 0..=text.len() {
        match parser.entry() {
            Entry::VCard(card) => {
                cards += 1;
                let item = convert_card(&card)
                    .map(|(contact, last_updated)| {
                        AnyOfficeEvent::Contact(stamp.event(contact, last_updated))
                    })
                    .map_err(|reason| stamp.reject(format!("card {cards}"), reason));
                items.push(item);
            }
            Entry::Eof => break,
            Entry::TooManyComponents => {
                items.push(Err(stamp.reject("file", "too many components")));
                break;
            }
            // Stray lines and calendars in a contacts file carry no contact.
            _ => {}
        }
    }
    if cards == 0 && items.is_empty() {
        if text.trim().is_empty() {
            stamp.skip("file", "no cards");
        } else {
            items.push(Err(stamp.reject("file", "no vCard data found")));
        }
    }
    items
}

/// Drops the group prefix of `BEGIN:VCARD` and `END:VCARD` lines (`home.begin:vcard`),
/// which some producers write and calcard does not accept.
fn ungroup_card_delimiters(text: &str) -> Cow<'_, str> {
    let is_grouped_delimiter = |line: &str| {
        line.split_once('.').is_some_and(|(group, rest)| {
            let rest = rest.trim_end().to_ascii_uppercase();
            !group.is_empty()
                && group.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                && (rest == "BEGIN:VCARD" || rest == "END:VCARD")
        })
    };
    if !text.lines().any(is_grouped_delimiter) {
        return Cow::Borrowed(text);
    }
    let mut ungrouped = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        match line.split_once('.') {
            Some((_, rest)) if is_grouped_delimiter(line) => ungrouped.push_str(rest),
            _ => ungrouped.push_str(line),
        }
    }
    Cow::Owned(ungrouped)
}

/// One card as a contact and its revision time, or why it cannot be.
fn convert_card(card: &VCard) -> Result<(Contact, Option<DateTime<Utc>>), String> {
    let name_parts: Vec<String> = card
        .property(&VCardProperty::N)
        .map(|entry| entry.values.iter().map(value_text).collect())
        .unwrap_or_default();
    let name_part = |index: usize| {
        name_parts
            .get(index)
            .map(|part| part.trim().to_string())
            .filter(|part| !part.is_empty())
    };
    let emails = texts(card, &VCardProperty::Email);
    let phones: Vec<String> = texts(card, &VCardProperty::Tel)
        .into_iter()
        .map(|phone| strip_tel_scheme(&phone).to_string())
        .collect();
    let organization = card
        .property(&VCardProperty::Org)
        .and_then(|entry| entry.values.first())
        .map(value_text)
        .map(|org| org.trim().to_string())
        .filter(|org| !org.is_empty());
    // N is family; given; additional; prefix; suffix.
    let full_name = [3, 1, 2, 0, 4]
        .into_iter()
        .filter_map(name_part)
        .collect::<Vec<_>>()
        .join(" ");
    let display_name = texts(card, &VCardProperty::Fn)
        .into_iter()
        .next()
        .or_else(|| Some(full_name).filter(|name| !name.is_empty()))
        .or_else(|| organization.clone())
        .or_else(|| emails.first().cloned())
        .or_else(|| phones.first().cloned())
        .ok_or("empty card: no FN, N, EMAIL, TEL or ORG")?;
    let id = match card.uid().map(str::trim).filter(|uid| !uid.is_empty()) {
        Some(uid) => uid.to_string(),
        None => format!("sha256:{}", hex::encode(Sha256::digest(card.to_string()))),
    };
    let last_updated = card
        .property(&VCardProperty::Rev)
        .and_then(|entry| entry.values.first())
        .and_then(VCardValue::as_partial_date_time)
        .and_then(|value| value.to_date_time())
        .and_then(|value| match value.offset {
            Some(offset) => value.date_time.checked_sub_offset(offset),
            None => Some(value.date_time),
        })
        .map(|value| value.and_utc());
    let contact = Contact {
        id,
        display_name,
        given_name: name_part(1),
        family_name: name_part(0),
        emails,
        phones,
        organization,
        relevance: None,
    };
    Ok((contact, last_updated))
}

/// The first value of every `property` entry, trimmed, empty ones dropped.
fn texts(card: &VCard, property: &VCardProperty) -> Vec<String> {
    card.properties(property)
        .filter_map(|entry| entry.values.first())
        .map(|value| value_text(value).trim().to_string())
        .filter(|text| !text.is_empty())
        .collect()
}

/// A value as text; a list (`N:Doe;John,Jim`) joined with spaces.
fn value_text(value: &VCardValue) -> String {
    match value {
        VCardValue::Component(parts) => parts.join(" "),
        other => other.as_text().unwrap_or_default().to_string(),
    }
}

fn strip_tel_scheme(phone: &str) -> &str {
    match phone.split_once(':') {
        Some((scheme, number)) if scheme.eq_ignore_ascii_case("tel") => number,
        _ => phone,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::item::test_stamp;

    fn contacts(vcf: &str) -> Vec<Result<Contact, String>> {
        read_contacts(vcf.as_bytes(), &test_stamp("vcf"))
            .into_iter()
            .map(|item| match item {
                Ok(AnyOfficeEvent::Contact(event)) => Ok(event.item),
                Ok(other) => panic!("unexpected {other:?}"),
                Err(rejection) => Err(format!("{}: {}", rejection.location, rejection.reason)),
            })
            .collect()
    }

    /// Reads one card made of `properties` and checks the contact against `expected`.
    fn check(properties: &str, expected: Contact) {
        let vcf = format!("BEGIN:VCARD\r\n{properties}END:VCARD\r\n");
        assert_eq!(contacts(&vcf), vec![Ok(expected)], "{properties}");
    }

    #[test]
    fn converts_vcards() {
        check(
            "VERSION:3.0\r\nUID:u1\r\nFN:Forrest Gump\r\nN:Gump;Forrest;;Mr.;\r\n\
             ORG:Bubba Gump Shrimp Co.;Boats\r\nTEL;TYPE=WORK,VOICE:(111) 555-1212\r\n\
             EMAIL;TYPE=PREF,INTERNET:forrest@example.com\r\nEMAIL:gump@example.com\r\n",
            Contact {
                id: "u1".into(),
                display_name: "Forrest Gump".into(),
                given_name: Some("Forrest".into()),
                family_name: Some("Gump".into()),
                emails: vec!["forrest@example.com".into(), "gump@example.com".into()],
                phones: vec!["(111) 555-1212".into()],
                organization: Some("Bubba Gump Shrimp Co.".into()),
                relevance: None,
            },
        );
        // vCard 4.0: URI phone numbers, no FN so the name is built from N.
        check(
            "VERSION:4.0\r\nUID:urn:uuid:4fbe8971\r\nN:Stevenson;John;Philip,Paul;Dr.;Jr.,M.D.\r\n\
             TEL;VALUE=uri;TYPE=\"voice,home\":tel:+1-555-555-5555;ext=5555\r\n",
            Contact {
                id: "urn:uuid:4fbe8971".into(),
                display_name: "Dr. John Philip Paul Stevenson Jr. M.D.".into(),
                given_name: Some("John".into()),
                family_name: Some("Stevenson".into()),
                phones: vec!["+1-555-555-5555;ext=5555".into()],
                ..Contact::default()
            },
        );
        // vCard 2.1 quoted-printable; only an organization.
        check(
            "VERSION:2.1\r\nUID:u3\r\nORG;ENCODING=QUOTED-PRINTABLE;CHARSET=UTF-8:Universit=C3=A4t\r\n",
            Contact {
                id: "u3".into(),
                display_name: "Universität".into(),
                organization: Some("Universität".into()),
                ..Contact::default()
            },
        );
    }

    #[test]
    fn ids_fall_back_to_a_hash_of_the_card() {
        let card = "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:No Uid\r\nEND:VCARD\r\n";
        let first = contacts(card).remove(0).unwrap();
        assert!(first.id.starts_with("sha256:"), "{}", first.id);
        assert_eq!(contacts(card).remove(0).unwrap().id, first.id);
        let other = card.replace("No Uid", "Other");
        assert_ne!(contacts(&other).remove(0).unwrap().id, first.id);
    }

    #[test]
    fn rev_is_last_updated() {
        let card = "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:A\r\nREV:20080424T195243Z\r\nEND:VCARD\r\n";
        let items = read_contacts(card.as_bytes(), &test_stamp("vcf"));
        let Ok(AnyOfficeEvent::Contact(event)) = &items[0] else {
            panic!("{items:?}")
        };
        assert_eq!(event.last_updated.to_rfc3339(), "2008-04-24T19:52:43+00:00");
        let card = "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:A\r\nEND:VCARD\r\n";
        let items = read_contacts(card.as_bytes(), &test_stamp("vcf"));
        let Ok(AnyOfficeEvent::Contact(event)) = &items[0] else {
            panic!("{items:?}")
        };
        assert_eq!(event.last_updated, test_stamp("vcf").file_modified);
    }

    #[test]
    fn empty_cards_are_rejected_and_the_rest_imports() {
        let vcf = "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:One\r\nEND:VCARD\r\n\
                   BEGIN:VCARD\r\nVERSION:3.0\r\nNOTE:nothing else\r\nEND:VCARD\r\n\
                   BEGIN:VCARD\r\nVERSION:3.0\r\nEMAIL:three@example.com\r\nEND:VCARD\r\n";
        let outcomes: Vec<Result<String, String>> = contacts(vcf)
            .into_iter()
            .map(|contact| contact.map(|contact| contact.display_name))
            .collect();
        assert_eq!(
            outcomes,
            vec![
                Ok("One".to_string()),
                Err("card 2: empty card: no FN, N, EMAIL, TEL or ORG".to_string()),
                Ok("three@example.com".to_string()),
            ]
        );
        assert_eq!(
            contacts("not a card\n"),
            vec![Err("file: no vCard data found".to_string())]
        );
    }

    #[test]
    fn blank_files_are_skipped_with_a_warning() {
        // Issue 14: an empty .vcf was reported as a rejection.
        for blank in ["", "\r\n \n"] {
            let stamp = test_stamp("vcf");
            assert!(read_contacts(blank.as_bytes(), &stamp).is_empty());
            let warnings = stamp.take_warnings();
            assert_eq!(warnings.len(), 1, "{warnings:?}");
            assert_eq!(warnings[0].kind, crate::WarningKind::Skipped);
            assert_eq!(warnings[0].reason, "no cards");
            assert_eq!(warnings[0].to_string(), "skipped test.vcf: no cards");
        }
    }

    #[test]
    fn group_prefixed_delimiters_are_accepted() {
        let vcf = "home.begin:vcard\nversion:3.0\nfn:Meister Berger\nn:Berger;Meister\n\
                   item1.email;internet:mb@goerlitz.de\nhome.end:vcard\n";
        let contact = contacts(vcf).remove(0).unwrap();
        assert_eq!(contact.display_name, "Meister Berger");
        assert_eq!(contact.emails, ["mb@goerlitz.de"]);
    }
}
