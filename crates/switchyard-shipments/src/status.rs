//! Shipment status inference: which stage of delivery an email reports, from phrases of
//! its subject and body.
//!
//! Rules are case-insensitive phrase lists per status. Precedence:
//! - the **subject** is read first, and decides when it names a status: senders summarise
//!   the event there ("Delivered: …", "Out for delivery"), while bodies also carry history,
//!   footers and help text ("if your package was not delivered…");
//! - within one text, **exception > delivered > out for delivery > in transit > label
//!   created**: a later stage supersedes the earlier ones an email recounts ("shipped on
//!   May 2 … delivered today"), and an exception (failed attempt, delay, return) needs
//!   attention whatever else the email says;
//! - "delivered" and "shipped" do not count in the future or the negative ("will be
//!   delivered", "to be shipped", "not delivered"): a guard looks at the words right
//!   before them. Negatives are exceptions through their own phrases.

use std::fmt;
use std::str::FromStr;
use std::sync::OnceLock;

use regex::Regex;
use serde::{Deserialize, Serialize};

/// The delivery stage an email reports; the strings are those of `ShipmentUpdate::status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ShipmentStatus {
    /// A label exists; the carrier does not have the parcel yet.
    LabelCreated,
    /// Shipped and moving through the network.
    InTransit,
    /// On the vehicle for delivery today.
    OutForDelivery,
    /// Delivered.
    Delivered,
    /// A problem: failed attempt, delay, damage, return to sender, address or customs issue.
    Exception,
}

impl ShipmentStatus {
    /// All statuses, from the highest precedence to the lowest.
    pub const BY_PRECEDENCE: [ShipmentStatus; 5] = [
        ShipmentStatus::Exception,
        ShipmentStatus::Delivered,
        ShipmentStatus::OutForDelivery,
        ShipmentStatus::InTransit,
        ShipmentStatus::LabelCreated,
    ];

    /// The contract string (`label_created`, `in_transit`, `out_for_delivery`, `delivered`,
    /// `exception`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::LabelCreated => "label_created",
            Self::InTransit => "in_transit",
            Self::OutForDelivery => "out_for_delivery",
            Self::Delivered => "delivered",
            Self::Exception => "exception",
        }
    }
}

impl fmt::Display for ShipmentStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ShipmentStatus {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::BY_PRECEDENCE
            .into_iter()
            .find(|status| status.as_str() == text)
            .ok_or_else(|| format!("unknown shipment status `{text}`"))
    }
}

/// The phrases of each status, in precedence order; `true` marks rules whose matches are
/// ignored after a future or negative word (see the module docs).
const RULES: [(ShipmentStatus, bool, &str); 5] = [
    (
        ShipmentStatus::Exception,
        false,
        r"(?:delivery|shipment|shipping|package|parcel) exception|exception:|delivery attempt|attempted delivery|attempted to deliver|missed delivery|we missed you|sorry we missed|unable to deliver|could ?n[o']t (?:be )?deliver|can ?n[o']t (?:be )?deliver|(?:was|were|has|have|had|is|are) not (?:been )?delivered|wasn't delivered|undeliverable|not deliverable|return(?:ed|ing)? to (?:the )?sender|being returned|(?:shipment|package|parcel|delivery|order) (?:is |has been |was |may be )?delayed|delivery delay|(?:package|parcel|shipment) (?:is |was |has been )?(?:lost|damaged)|damaged in transit|address (?:issue|problem|correction|incomplete|invalid)|(?:incorrect|invalid|incomplete|insufficient) address|held (?:at|in|by) customs|customs (?:hold|delay|clearance required)",
    ),
    (
        ShipmentStatus::Delivered,
        true,
        r"delivered|left at (?:your|the) (?:door|front door|porch|mailbox)|handed to (?:the )?resident",
    ),
    (
        ShipmentStatus::OutForDelivery,
        false,
        r"out for delivery|arriving today|arrives today|(?:delivered|delivery) (?:later )?today|on (?:its|the|a) way to you today|on (?:the|a) delivery (?:vehicle|truck|van)",
    ),
    (
        ShipmentStatus::InTransit,
        true,
        r"shipped|in transit|on (?:its|the) way|dispatched|en route|has left|departed|picked up|arrived at (?:the |a )?(?:\w+ )?(?:facility|hub|depot|sort)|shipment (?:is )?moving|arriving (?:on|by|tomorrow)|will be delivered (?:on|by|tomorrow)|expected delivery|estimated delivery|(?:order|package|parcel|item|items) (?:has|have) been sent",
    ),
    (
        ShipmentStatus::LabelCreated,
        false,
        r"label (?:has been |was )?(?:created|printed)|shipping label|shipment information received|shipping information received|pre-shipment|awaiting item|ready to ship|preparing (?:your |for )?shipment|label created",
    ),
];

/// Words that make a following "delivered"/"shipped" future or negative.
const GUARD: &str = r"(?i)\b(?:will|to|be|not|never|once|until|before|when|if|yet|soon|n't|should|would|could|can|may|might|must)\s+(?:(?:be|get|have been|being)\s+)?$";

struct StatusRules {
    rules: Vec<(ShipmentStatus, bool, Regex)>,
    guard: Regex,
}

fn rules() -> &'static StatusRules {
    static RULES_CELL: OnceLock<StatusRules> = OnceLock::new();
    RULES_CELL.get_or_init(|| StatusRules {
        rules: RULES
            .iter()
            .map(|(status, guarded, phrases)| {
                let regex = Regex::new(&format!(r"(?i)\b(?:{phrases})"))
                    .expect("the status phrases are valid regexes (tested)");
                (*status, *guarded, regex)
            })
            .collect(),
        guard: Regex::new(GUARD).expect("the guard is a valid regex (tested)"),
    })
}

/// The status one text names, by precedence; `None` when no phrase matches.
fn status_of_text(text: &str) -> Option<ShipmentStatus> {
    let rules = rules();
    rules.rules.iter().find_map(|(status, guarded, regex)| {
        regex
            .find_iter(text)
            .any(|found| {
                if !guarded {
                    return true;
                }
                let mut window_start = found.start().saturating_sub(40);
                while !text.is_char_boundary(window_start) {
                    window_start += 1;
                }
                !rules.guard.is_match(&text[window_start..found.start()])
            })
            .then_some(*status)
    })
}

/// The status an email reports: the subject's if it names one, else the body's.
pub fn infer_status(subject: &str, body: &str) -> Option<ShipmentStatus> {
    status_of_text(subject).or_else(|| status_of_text(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(subject: &str, body: &str, expected: Option<ShipmentStatus>) {
        assert_eq!(
            infer_status(subject, body),
            expected,
            "subject {subject:?}, body {body:?}"
        );
    }

    use ShipmentStatus::*;

    #[test]
    fn single_phrases() {
        check(
            "Your UPS shipping label was created",
            "",
            Some(LabelCreated),
        );
        check("", "Shipment information received", Some(LabelCreated));
        check("Your order has shipped!", "", Some(InTransit));
        check(
            "",
            "Your package is in transit to the destination.",
            Some(InTransit),
        );
        check("", "Your parcel is on its way.", Some(InTransit));
        check("Out for Delivery: your package", "", Some(OutForDelivery));
        check("", "Arriving today by 8 PM", Some(OutForDelivery));
        check("Delivered: Your Amazon.com order", "", Some(Delivered));
        check(
            "",
            "Your package was left at the front door.",
            Some(Delivered),
        );
        check("FedEx Delivery Exception", "", Some(Exception));
        check(
            "",
            "We attempted delivery but nobody was home.",
            Some(Exception),
        );
        check(
            "",
            "The parcel is being returned to sender.",
            Some(Exception),
        );
        check(
            "",
            "Your shipment has been delayed due to weather.",
            Some(Exception),
        );
    }

    #[test]
    fn nothing_matches() {
        check("", "", None);
        check(
            "Lunch on Friday?",
            "Let's meet at noon. Bring the slides.",
            None,
        );
        check(
            "[PATCH v2] block: fix a race",
            "Signed-off-by: A <a@example.com>",
            None,
        );
        check("Sale", "Free shipping on orders over $50", None);
    }

    #[test]
    fn future_and_negative_do_not_count() {
        check(
            "",
            "Your package will be delivered tomorrow.",
            Some(InTransit),
        );
        check("", "Your order will be shipped soon.", None);
        check("", "Items to be shipped: 2", None);
        check(
            "",
            "Your package will be delivered today",
            Some(OutForDelivery),
        );
        check("", "The package could not be delivered.", Some(Exception));
        check("", "Your package was not delivered", Some(Exception));
        check("", "Once delivered, please rate us.", None);
    }

    #[test]
    fn precedence_within_a_text() {
        check(
            "",
            "Shipped on May 2. Your package was delivered today.",
            Some(Delivered),
        );
        check(
            "",
            "Shipped via UPS. Now out for delivery!",
            Some(OutForDelivery),
        );
        check(
            "",
            "In transit. Delivery exception: address incomplete.",
            Some(Exception),
        );
        check(
            "",
            "Label created. Your package has shipped.",
            Some(InTransit),
        );
    }

    #[test]
    fn subject_decides_before_body() {
        check(
            "Delivered: your order",
            "Not there? If your package was not delivered, contact us.",
            Some(Delivered),
        );
        check(
            "Shipment update",
            "Your package is out for delivery.",
            Some(OutForDelivery),
        );
    }

    #[test]
    fn status_strings_round_trip() {
        for status in ShipmentStatus::BY_PRECEDENCE {
            assert_eq!(status.as_str().parse::<ShipmentStatus>(), Ok(status));
            assert_eq!(
                serde_json::to_string(&status).unwrap(),
                format!("\"{status}\"")
            );
        }
        assert!("shipped".parse::<ShipmentStatus>().is_err());
    }
}
