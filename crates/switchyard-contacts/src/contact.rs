//! The domain values: the [`Role`] an address plays in an item, one item's
//! [`Contribution`] to a contact, and the [`EmailContact`] folded from its contributions.
//!
//! A contact's counters are never incremented in place: they are the fold of its
//! contributions, one per source item, so replaying an item replaces its contribution
//! instead of adding to it (see the store's module docs).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Distinct display names kept per contact (the most frequent, then the latest).
pub const MAX_NAMES: usize = 8;

/// The item id prefix of the contact documents discovery publishes.
pub const CONTACT_ID_PREFIX: &str = "discovered:";

/// The part an address plays in one item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Sender of an email.
    EmailFrom,
    /// `To` (or `Bcc`) recipient of an email.
    EmailTo,
    /// `Cc` recipient of an email.
    EmailCc,
    /// Organizer of a calendar event.
    CalendarOrganizer,
    /// Attendee of a calendar event.
    CalendarAttendee,
    /// Author of a document.
    DocumentAuthor,
    /// Address written in a document's text.
    DocumentMention,
    /// Assignee of a todo.
    TodoAssignee,
}

impl Role {
    /// Every role, in a stable order.
    pub const ALL: [Role; 8] = [
        Role::EmailFrom,
        Role::EmailTo,
        Role::EmailCc,
        Role::CalendarOrganizer,
        Role::CalendarAttendee,
        Role::DocumentAuthor,
        Role::DocumentMention,
        Role::TodoAssignee,
    ];

    /// The snake-case name, as in the config and the counters.
    pub fn name(self) -> &'static str {
        match self {
            Role::EmailFrom => "email_from",
            Role::EmailTo => "email_to",
            Role::EmailCc => "email_cc",
            Role::CalendarOrganizer => "calendar_organizer",
            Role::CalendarAttendee => "calendar_attendee",
            Role::DocumentAuthor => "document_author",
            Role::DocumentMention => "document_mention",
            Role::TodoAssignee => "todo_assignee",
        }
    }
}

/// How many distinct items saw the contact in each role.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SourceCounts {
    /// Emails the contact sent.
    pub email_from: u32,
    /// Emails with the contact in `To` or `Bcc`.
    pub email_to: u32,
    /// Emails with the contact in `Cc`.
    pub email_cc: u32,
    /// Meetings the contact organized.
    pub calendar_organizer: u32,
    /// Meetings the contact was invited to.
    pub calendar_attendee: u32,
    /// Documents the contact wrote.
    pub document_author: u32,
    /// Documents whose text holds the contact's address.
    pub document_mention: u32,
    /// Todos assigned to the contact.
    pub todo_assignee: u32,
}

impl SourceCounts {
    /// The counter of `role`.
    pub fn get(&self, role: Role) -> u32 {
        match role {
            Role::EmailFrom => self.email_from,
            Role::EmailTo => self.email_to,
            Role::EmailCc => self.email_cc,
            Role::CalendarOrganizer => self.calendar_organizer,
            Role::CalendarAttendee => self.calendar_attendee,
            Role::DocumentAuthor => self.document_author,
            Role::DocumentMention => self.document_mention,
            Role::TodoAssignee => self.todo_assignee,
        }
    }

    fn get_mut(&mut self, role: Role) -> &mut u32 {
        match role {
            Role::EmailFrom => &mut self.email_from,
            Role::EmailTo => &mut self.email_to,
            Role::EmailCc => &mut self.email_cc,
            Role::CalendarOrganizer => &mut self.calendar_organizer,
            Role::CalendarAttendee => &mut self.calendar_attendee,
            Role::DocumentAuthor => &mut self.document_author,
            Role::DocumentMention => &mut self.document_mention,
            Role::TodoAssignee => &mut self.todo_assignee,
        }
    }
}

/// One display name seen for a contact.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NameSeen {
    /// The name.
    pub name: String,
    /// In how many items.
    pub count: u32,
    /// The latest of those items.
    pub last_seen: DateTime<Utc>,
}

/// What one source item says about one address: its roles there, the name it gave, and
/// the item's date.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Contribution {
    /// Roles, sorted and distinct.
    pub roles: Vec<Role>,
    /// The display name the item gave, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The item's date: email date, meeting start, document modification, else the
    /// event's `last_updated`.
    pub seen_at: DateTime<Utc>,
}

/// An email address discovered in a user's data, with what is known about it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EmailContact {
    /// Whose contact it is.
    pub user_id: String,
    /// The normalized (lower-case) address.
    pub address: String,
    /// Distinct display names, most frequent first, then latest, at most [`MAX_NAMES`].
    pub names: Vec<NameSeen>,
    /// Items seen per role.
    pub counts: SourceCounts,
    /// Distinct source items that mention the address.
    pub items: u32,
    /// The earliest item date.
    pub first_seen: DateTime<Utc>,
    /// The latest item date.
    pub last_seen: DateTime<Utc>,
    /// Whether the address looks like a mailing list (score down-weighted).
    pub mailing_list: bool,
}

impl EmailContact {
    /// The contact with a single contribution.
    pub(crate) fn first(
        user_id: &str,
        address: &str,
        mailing_list: bool,
        contribution: &Contribution,
    ) -> Self {
        let mut contact = EmailContact {
            user_id: user_id.to_string(),
            address: address.to_string(),
            names: Vec::new(),
            counts: SourceCounts::default(),
            items: 0,
            first_seen: contribution.seen_at,
            last_seen: contribution.seen_at,
            mailing_list,
        };
        contact.add(contribution);
        contact
    }

    /// The fold of `contributions`, or `None` when there are none.
    pub(crate) fn fold<'a>(
        user_id: &str,
        address: &str,
        mailing_list: bool,
        contributions: impl IntoIterator<Item = &'a Contribution>,
    ) -> Option<Self> {
        let mut contributions = contributions.into_iter();
        let mut contact = Self::first(user_id, address, mailing_list, contributions.next()?);
        for contribution in contributions {
            contact.add(contribution);
        }
        Some(contact)
    }

    /// Adds one more item's contribution.
    pub(crate) fn add(&mut self, contribution: &Contribution) {
        self.items += 1;
        for role in &contribution.roles {
            *self.counts.get_mut(*role) += 1;
        }
        self.first_seen = self.first_seen.min(contribution.seen_at);
        self.last_seen = self.last_seen.max(contribution.seen_at);
        if let Some(name) = &contribution.name {
            match self.names.iter_mut().find(|seen| &seen.name == name) {
                Some(seen) => {
                    seen.count += 1;
                    seen.last_seen = seen.last_seen.max(contribution.seen_at);
                }
                None => self.names.push(NameSeen {
                    name: name.clone(),
                    count: 1,
                    last_seen: contribution.seen_at,
                }),
            }
            self.names.sort_by(|a, b| {
                b.count
                    .cmp(&a.count)
                    .then(b.last_seen.cmp(&a.last_seen))
                    .then(a.name.cmp(&b.name))
            });
            self.names.truncate(MAX_NAMES);
        }
    }

    /// The most frequent name (the latest among equals), else the address.
    pub fn display_name(&self) -> &str {
        self.names
            .first()
            .map_or(self.address.as_str(), |seen| seen.name.as_str())
    }

    /// The id of the contact document published for it: `discovered:{address}`.
    pub fn contact_id(&self) -> String {
        contact_id(&self.address)
    }
}

/// The id of the contact document of `address` (normalized): `discovered:{address}`.
pub fn contact_id(address: &str) -> String {
    format!("{CONTACT_ID_PREFIX}{address}")
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn at(day: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2024, 1, day, 0, 0, 0).unwrap()
    }

    fn contribution(roles: &[Role], name: Option<&str>, day: u32) -> Contribution {
        Contribution {
            roles: roles.to_vec(),
            name: name.map(str::to_string),
            seen_at: at(day),
        }
    }

    #[test]
    fn a_contact_is_the_fold_of_its_contributions() {
        let contributions = [
            contribution(&[Role::EmailFrom], Some("Bob"), 3),
            contribution(&[Role::EmailTo, Role::EmailCc], Some("Robert"), 1),
            contribution(&[Role::EmailFrom], Some("Robert"), 2),
            contribution(&[Role::CalendarAttendee], None, 9),
        ];
        let contact = EmailContact::fold("alice", "bob@x.org", false, &contributions).unwrap();
        assert_eq!(contact.items, 4);
        assert_eq!(contact.counts.email_from, 2);
        assert_eq!(contact.counts.email_to, 1);
        assert_eq!(contact.counts.email_cc, 1);
        assert_eq!(contact.counts.calendar_attendee, 1);
        assert_eq!((contact.first_seen, contact.last_seen), (at(1), at(9)));
        assert_eq!(contact.display_name(), "Robert");
        assert_eq!(contact.names[1].name, "Bob");
        assert_eq!(contact.contact_id(), "discovered:bob@x.org");
        assert!(EmailContact::fold("alice", "bob@x.org", false, &[]).is_none());
    }

    #[test]
    fn names_are_bounded_and_ties_go_to_the_latest() {
        let contributions: Vec<Contribution> = (1..=20)
            .map(|day| contribution(&[Role::EmailFrom], Some(&format!("Name {day:02}")), day))
            .collect();
        let contact = EmailContact::fold("alice", "bob@x.org", false, &contributions).unwrap();
        assert_eq!(contact.names.len(), MAX_NAMES);
        assert_eq!(contact.display_name(), "Name 20");
        let nameless = EmailContact::fold(
            "alice",
            "bob@x.org",
            false,
            &[contribution(&[Role::EmailTo], None, 1)],
        )
        .unwrap();
        assert_eq!(nameless.display_name(), "bob@x.org");
    }
}
