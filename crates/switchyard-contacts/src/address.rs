//! Email addresses: normalization (trimmed, lower-case, checked), the rules that ignore or
//! down-weight an address ([`AddressRules`]), and finding addresses in free text.
//!
//! # Rules
//! - **Ignored** (never a contact): the user's own addresses (configured
//!   `self_addresses`, plus the user id when it is itself an address — the mailbox owner
//!   heuristic), the configured `ignored_addresses`, and automated senders: a local part
//!   that, without `-`, `_` and `.`, contains `noreply`, `donotreply` or `dontreply`, or
//!   that starts with `mailer-daemon`, `postmaster` or `bounce`, or that is
//!   `notification`, `notifications` or `notify`.
//! - **Mailing lists** (kept, score multiplied by `mailing_list_factor`): a domain that is
//!   `googlegroups.com` or `groups.io` or starts with `lists.` or `list.`; a local part
//!   that is `list` or `lists`, starts with `list-`, or ends with `-list`, `-users`,
//!   `-devel`, `-dev`, `-announce`, `-discuss`, `-request` or `-owner`. The contracts'
//!   `Email` carries no headers, so `List-Id` / `List-Unsubscribe` cannot be used.

use std::collections::{BTreeMap, BTreeSet};

use crate::ContactsConfig;

/// The normalized form of an address (trimmed, `<>` and `mailto:` removed, lower-case),
/// or `None` when it is not a plausible address.
pub fn normalize_address(raw: &str) -> Option<String> {
    let mut text = raw.trim();
    text = text.strip_prefix('<').unwrap_or(text);
    text = text.strip_suffix('>').unwrap_or(text);
    let text = text.trim();
    let text = match text.get(..7) {
        Some(prefix) if prefix.eq_ignore_ascii_case("mailto:") => &text[7..],
        _ => text,
    };
    let address = text.to_lowercase();
    is_plausible(&address).then_some(address)
}

fn is_plausible(address: &str) -> bool {
    let Some((local, domain)) = address.split_once('@') else {
        return false;
    };
    const LOCAL_SPECIALS: &str = ".!#$%&'*+/=?^_`{|}~-";
    let local_ok = !local.is_empty()
        && local.len() <= 64
        && !local.starts_with('.')
        && !local.ends_with('.')
        && local
            .chars()
            .all(|c| c.is_alphanumeric() || LOCAL_SPECIALS.contains(c));
    let labels: Vec<&str> = domain.split('.').collect();
    let domain_ok = labels.len() >= 2
        && domain.len() <= 253
        && labels.iter().all(|label| {
            !label.is_empty()
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_alphanumeric() || c == '-')
        })
        && labels
            .last()
            .is_some_and(|tld| tld.chars().count() >= 2 && tld.chars().all(char::is_alphabetic));
    local_ok && domain_ok
}

/// What the rules make of an address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressClass {
    /// A person (or anything not recognized otherwise): a full contact.
    Person,
    /// A mailing list: kept, with a down-weighted score.
    MailingList,
    /// The user, a configured address or an automated sender: never a contact.
    Ignored,
}

/// The ignore and down-weight rules of the module docs, for every user.
#[derive(Debug, Clone, Default)]
pub struct AddressRules {
    self_addresses: BTreeMap<String, BTreeSet<String>>,
    ignored: BTreeSet<String>,
}

impl AddressRules {
    /// The rules of `config` (its addresses are normalized; invalid ones are skipped,
    /// which `ContactsConfig::validate` reports).
    pub fn new(config: &ContactsConfig) -> Self {
        AddressRules {
            self_addresses: config
                .self_addresses
                .iter()
                .map(|(user, addresses)| {
                    let set = addresses
                        .iter()
                        .filter_map(|address| normalize_address(address))
                        .collect();
                    (user.clone(), set)
                })
                .collect(),
            ignored: config
                .ignored_addresses
                .iter()
                .filter_map(|address| normalize_address(address))
                .collect(),
        }
    }

    /// Whether `address` (normalized) is one of `user`'s own addresses.
    pub fn is_self(&self, user: &str, address: &str) -> bool {
        normalize_address(user).as_deref() == Some(address)
            || self
                .self_addresses
                .get(user)
                .is_some_and(|own| own.contains(address))
    }

    /// The class of `address` (normalized) in `user`'s data.
    pub fn classify(&self, user: &str, address: &str) -> AddressClass {
        if self.is_self(user, address) || self.ignored.contains(address) || is_automated(address) {
            AddressClass::Ignored
        } else if is_mailing_list(address) {
            AddressClass::MailingList
        } else {
            AddressClass::Person
        }
    }
}

fn split(address: &str) -> (&str, &str) {
    address.split_once('@').unwrap_or((address, ""))
}

/// No-reply and other automated senders.
pub(crate) fn is_automated(address: &str) -> bool {
    let (local, _) = split(address);
    let compact: String = local
        .chars()
        .filter(|c| !matches!(c, '-' | '_' | '.'))
        .collect();
    ["noreply", "donotreply", "dontreply"]
        .iter()
        .any(|word| compact.contains(word))
        || ["mailer-daemon", "postmaster", "bounce"]
            .iter()
            .any(|prefix| local.starts_with(prefix))
        || matches!(local, "notification" | "notifications" | "notify")
}

/// Mailing-list addresses, by pattern.
pub(crate) fn is_mailing_list(address: &str) -> bool {
    let (local, domain) = split(address);
    matches!(domain, "googlegroups.com" | "groups.io")
        || domain.starts_with("lists.")
        || domain.starts_with("list.")
        || matches!(local, "list" | "lists")
        || local.starts_with("list-")
        || [
            "-list",
            "-users",
            "-devel",
            "-dev",
            "-announce",
            "-discuss",
            "-request",
            "-owner",
        ]
        .iter()
        .any(|suffix| local.ends_with(suffix))
}

/// The distinct addresses in `text`, normalized, in order of first appearance, at most
/// `limit`.
pub fn find_addresses(text: &str, limit: usize, found: &mut Vec<String>) {
    let is_separator =
        |c: char| c.is_whitespace() || "<>()[]{},;:\"|\\".contains(c) || c.is_control();
    for token in text.split(is_separator) {
        if found.len() >= limit {
            return;
        }
        if !token.contains('@') {
            continue;
        }
        let token = token.trim_matches(|c: char| matches!(c, '.' | '\'' | '`' | '*' | '!' | '?'));
        if let Some(address) = normalize_address(token)
            && !found.contains(&address)
        {
            found.push(address);
        }
    }
}

/// The address and name in a free-text author field: `Bob <bob@x.org>`, `bob@x.org`, or
/// `None` when it holds no address (a bare name).
pub fn parse_author(author: &str) -> Option<(String, Option<String>)> {
    let author = author.trim();
    if let Some((name, rest)) = author.split_once('<')
        && let Some(address) = rest.strip_suffix('>').and_then(normalize_address)
    {
        let name = clean_name(name, &address);
        return Some((address, name));
    }
    normalize_address(author).map(|address| (address, None))
}

/// A display name as shown, or `None` when it is empty, only quotes, or the address.
pub(crate) fn clean_name(name: &str, address: &str) -> Option<String> {
    let name = name
        .trim()
        .trim_matches(|c: char| c == '"' || c == '\'')
        .trim();
    let name: String = name.split_whitespace().collect::<Vec<_>>().join(" ");
    (!name.is_empty() && !name.eq_ignore_ascii_case(address) && name.chars().count() <= 200)
        .then_some(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_normalize(raw: &str, expected: Option<&str>) {
        assert_eq!(normalize_address(raw).as_deref(), expected, "{raw}");
    }

    #[test]
    fn addresses_are_normalized_or_refused() {
        check_normalize(" Alice@Example.COM ", Some("alice@example.com"));
        check_normalize("<bob@x.org>", Some("bob@x.org"));
        check_normalize("mailto:Carol@x.org", Some("carol@x.org"));
        check_normalize(
            "first.last+tag@sub.example.co.uk",
            Some("first.last+tag@sub.example.co.uk"),
        );
        check_normalize("", None);
        check_normalize("undisclosed-recipients:", None);
        check_normalize("bob@", None);
        check_normalize("@x.org", None);
        check_normalize("bob@localhost", None);
        check_normalize("bob@x.1", None);
        check_normalize("a b@x.org", None);
        check_normalize(".bob@x.org", None);
    }

    fn check_class(user: &str, address: &str, expected: AddressClass) {
        let config = ContactsConfig {
            self_addresses: [("alice".to_string(), vec!["Alice@Home.example".to_string()])].into(),
            ignored_addresses: vec!["spam@ads.example".into()],
            ..ContactsConfig::default()
        };
        let rules = AddressRules::new(&config);
        assert_eq!(
            rules.classify(user, address),
            expected,
            "{user} / {address}"
        );
    }

    #[test]
    fn classification_follows_the_documented_rules() {
        use AddressClass::*;
        check_class("alice", "bob@x.org", Person);
        check_class("alice", "alice@home.example", Ignored);
        check_class("bob", "alice@home.example", Person);
        check_class("carol@x.org", "carol@x.org", Ignored);
        check_class("alice", "spam@ads.example", Ignored);
        for automated in [
            "no-reply@x.org",
            "noreply@x.org",
            "do_not_reply@x.org",
            "donotreply@x.org",
            "mailer-daemon@x.org",
            "postmaster@x.org",
            "bounces+123@x.org",
            "notifications@github.com",
            "shop-noreply@x.org",
        ] {
            check_class("alice", automated, Ignored);
        }
        for list in [
            "qemu-devel@nongnu.org",
            "libvir-list@redhat.com",
            "rust-users@x.org",
            "team@googlegroups.com",
            "dev@lists.example.org",
            "list-admins@x.org",
            "announce-request@x.org",
        ] {
            check_class("alice", list, MailingList);
        }
        check_class("alice", "devon@x.org", Person);
        check_class("alice", "notifications.team.lead@x.org", Person);
    }

    #[test]
    fn addresses_are_found_in_text() {
        let mut found = Vec::new();
        find_addresses(
            "Ask Bob (bob@x.org) or <Carol@X.org>; mailto:dan@y.com. Again: bob@x.org, \
             not me@, nor @you.",
            10,
            &mut found,
        );
        assert_eq!(found, ["bob@x.org", "carol@x.org", "dan@y.com"]);
        let mut bounded = Vec::new();
        find_addresses("a@x.org b@x.org c@x.org", 2, &mut bounded);
        assert_eq!(bounded, ["a@x.org", "b@x.org"]);
    }

    #[test]
    fn authors_hold_an_address_or_not() {
        assert_eq!(
            parse_author("\"Bob Smith\" <Bob@x.org>"),
            Some(("bob@x.org".into(), Some("Bob Smith".into())))
        );
        assert_eq!(parse_author("bob@x.org"), Some(("bob@x.org".into(), None)));
        assert_eq!(parse_author("Bob Smith"), None);
    }
}
