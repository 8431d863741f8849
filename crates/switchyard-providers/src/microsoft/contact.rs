//! A Graph `contact` as a [`Contact`]: `displayName` (else the given name and surname)
//! the name, `givenName` and `surname`, the addresses of `emailAddresses`, the phones
//! (`mobilePhone`, `businessPhones`, `homePhones`, in that order) and `companyName` as
//! the organization.

use serde_json::Value;
use switchyard_contracts::Contact;

use super::change::text;

/// The contact `id` of a Graph `contact`.
pub(super) fn contact(id: String, item: &Value) -> Contact {
    let given_name = text(item, "givenName");
    let family_name = text(item, "surname");
    let display_name = text(item, "displayName").unwrap_or_else(|| {
        [given_name.as_deref(), family_name.as_deref()]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" ")
    });
    let strings = |name: &str| -> Vec<String> {
        item[name]
            .as_array()
            .map(|values| {
                values
                    .iter()
                    .filter_map(Value::as_str)
                    .map(str::trim)
                    .filter(|value| !value.is_empty())
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default()
    };
    let phones = text(item, "mobilePhone")
        .into_iter()
        .chain(strings("businessPhones"))
        .chain(strings("homePhones"))
        .collect();
    Contact {
        id,
        display_name,
        given_name,
        family_name,
        emails: item["emailAddresses"]
            .as_array()
            .map(|addresses| {
                addresses
                    .iter()
                    .filter_map(|address| text(address, "address"))
                    .collect()
            })
            .unwrap_or_default(),
        phones,
        organization: text(item, "companyName"),
        relevance: None,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::DataType;
    use crate::microsoft::change::tests::sample;
    use crate::microsoft::{Change, Item, change};

    fn check(item: Value, expected: Contact) {
        let Change::Upsert {
            item: Item::Contact(contact),
            ..
        } = change(DataType::Contacts, &item).unwrap()
        else {
            panic!("expected a contact");
        };
        assert_eq!(contact, expected);
    }

    #[test]
    fn a_documented_contact_becomes_a_contact() {
        let item = sample("contact-get.json");
        check(
            item.clone(),
            Contact {
                id: item["id"].as_str().unwrap().to_string(),
                display_name: "Alex Wilber".into(),
                given_name: Some("Alex".into()),
                family_name: Some("Wilber".into()),
                emails: vec!["Alex@FineArtSchool.net".into()],
                ..Contact::default()
            },
        );
    }

    #[test]
    fn phones_company_and_a_name_from_its_parts() {
        check(
            json!({
                "id": "c1", "givenName": "Dana", "surname": "Swope",
                "emailAddresses": [{"address": "danas@contoso.com"}, {"name": "no address"}],
                "businessPhones": ["+1 425 555 0100", " "], "mobilePhone": "+1 425 555 0101",
                "homePhones": ["+1 425 555 0102"], "companyName": "Contoso",
            }),
            Contact {
                id: "c1".into(),
                display_name: "Dana Swope".into(),
                given_name: Some("Dana".into()),
                family_name: Some("Swope".into()),
                emails: vec!["danas@contoso.com".into()],
                phones: vec![
                    "+1 425 555 0101".into(),
                    "+1 425 555 0100".into(),
                    "+1 425 555 0102".into(),
                ],
                organization: Some("Contoso".into()),
                relevance: None,
            },
        );
    }
}
