//! Switchyard's shipments: tracking numbers and delivery status read from email text, and
//! the consumer that tracks them per user.
//!
//! Tracking number formats come from the courier definitions of
//! [tracking_number_data](https://github.com/jkeen/tracking_number_data) v2.0.0, embedded as
//! JSON (`couriers/`) and interpreted at load time: their Ruby regexes are converted to Rust
//! syntax, their checksums (`mod10`, `mod7`, `s10`, `luhn`, `mod_37_36`,
//! `sum_product_with_weightings_and_modulo`) and lookups (`exists`) are applied as the data
//! states them. [`Detector::standard`] compiles them once; [`detect`] searches free text,
//! spaced numbers included, and [`infer_status`] reads the delivery stage from phrases.
//!
//! Detection is pure: no broker, HTTP, store or file I/O. On top of it, [`ShipmentTracker`]
//! is the consumer of the `shipments-emails` subscription: it keeps a [`Shipment`] per
//! (user, carrier, tracking number) in a [`ShipmentStore`] and publishes a
//! `ShipmentEvent` on each status change (see `tracker.rs`).
//!
//! ```
//! use switchyard_contracts::Email;
//! use switchyard_shipments::{Detector, ShipmentStatus, detect, shipments_in_email};
//!
//! let found = detect("Your package 1Z879E930346834440 has shipped.");
//! assert_eq!(found.len(), 1);
//! assert_eq!(found[0].carrier, "ups");
//! assert_eq!(found[0].tracking_number, "1Z879E930346834440");
//! assert!(found[0].tracking_url.as_deref().unwrap().ends_with("1Z879E930346834440"));
//!
//! // Numbers with spaces are found, normalised without them.
//! let spaced = Detector::standard().detect("USPS tracking: 9400 1112 0108 0805 4830 16");
//! assert_eq!(spaced[0].tracking_number, "9400111201080805483016");
//!
//! let email = Email {
//!     id: "<42@shop.example>".into(),
//!     subject: "Out for delivery: your order".into(),
//!     body_text: "FedEx tracking number 986578788855. Call 555-0100 with questions.".into(),
//!     ..Email::default()
//! };
//! let shipments = shipments_in_email(&email);
//! assert_eq!(shipments.len(), 1);
//! let (detection, status) = &shipments[0];
//! assert_eq!((detection.carrier.as_str(), *status), ("fedex", Some(ShipmentStatus::OutForDelivery)));
//! let update = detection.to_shipment_update(ShipmentStatus::OutForDelivery, vec![email.id.clone()]);
//! assert_eq!(update.id, "fedex:986578788855");
//! assert_eq!(update.status, "out_for_delivery");
//! ```
#![warn(missing_docs)]

mod checksum;
mod definitions;
mod detector;
mod error;
mod format;
mod pattern;
mod status;
mod tracker;

pub use detector::{Detection, Detector};
pub use error::{ShipmentsError, ShipmentsErrorKind};
pub use format::FormatInfo;
pub use status::{ShipmentStatus, infer_status};
pub use tracker::{
    Observation, Shipment, ShipmentStore, ShipmentTracker, StateShipmentStore, TRACKER_SOURCE,
    subscriptions,
};

use switchyard_contracts::{Email, ShipmentUpdate};

/// Finds the tracking numbers in free text with [`Detector::standard`].
pub fn detect(text: &str) -> Vec<Detection> {
    Detector::standard().detect(text)
}

/// The tracking numbers of an email (subject and plain-text body), each with the status
/// the email reports, using [`Detector::standard`].
pub fn shipments_in_email(email: &Email) -> Vec<(Detection, Option<ShipmentStatus>)> {
    Detector::standard().shipments_in_email(email)
}

impl Detector {
    /// The tracking numbers of an email (subject and plain-text body), each with the status
    /// the email reports ([`infer_status`]); empty when it has no tracking number.
    pub fn shipments_in_email(&self, email: &Email) -> Vec<(Detection, Option<ShipmentStatus>)> {
        // One text, so that a bare number in the body sees the subject as context; the
        // line break keeps subject and body from running into one number.
        let text = format!("{}\n{}", email.subject, email.body_text);
        let detections = self.detect(&text);
        if detections.is_empty() {
            return Vec::new();
        }
        let status = infer_status(&email.subject, &email.body_text);
        detections
            .into_iter()
            .map(|detection| (detection, status))
            .collect()
    }
}

impl Detection {
    /// The contract payload for this shipment: id `{carrier}:{tracking_number}`.
    pub fn to_shipment_update(
        &self,
        status: ShipmentStatus,
        source_email_ids: Vec<String>,
    ) -> ShipmentUpdate {
        ShipmentUpdate {
            id: format!("{}:{}", self.carrier, self.tracking_number),
            carrier: self.carrier.clone(),
            tracking_number: self.tracking_number.clone(),
            status: status.as_str().to_owned(),
            source_email_ids,
        }
    }
}
