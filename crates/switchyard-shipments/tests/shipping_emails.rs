//! `shipments_in_email` on realistic carrier and shop notifications: which numbers, which
//! status, and nothing from the order numbers, phone numbers and dates around them.

use switchyard_contracts::Email;
use switchyard_shipments::{ShipmentStatus, shipments_in_email};

fn email(subject: &str, body: &str) -> Email {
    Email {
        id: "<1@shop.example>".into(),
        subject: subject.into(),
        body_text: body.into(),
        ..Email::default()
    }
}

/// Asserts the (carrier, number, status) triples found in an email.
fn check(subject: &str, body: &str, expected: &[(&str, &str, Option<ShipmentStatus>)]) {
    let found: Vec<(String, String, Option<ShipmentStatus>)> =
        shipments_in_email(&email(subject, body))
            .into_iter()
            .map(|(d, status)| (d.carrier, d.tracking_number, status))
            .collect();
    let expected: Vec<(String, String, Option<ShipmentStatus>)> = expected
        .iter()
        .map(|(c, n, s)| (c.to_string(), n.to_string(), *s))
        .collect();
    assert_eq!(found, expected, "subject {subject:?}");
}

#[test]
fn shop_shipping_confirmation() {
    check(
        "Your order #112-4567890-1234567 has shipped",
        "Hello Alex,\n\n\
         Good news: your order placed on 2024-05-12 is on its way.\n\
         Carrier: UPS\n\
         Tracking number: 1Z 879 E93 0346 834440\n\
         Estimated delivery: Friday, May 17\n\n\
         Order total: $1,234.56\n\
         Questions? Call 1-800-555-0199 (Mon-Fri 9:00-17:00).\n",
        &[("ups", "1Z879E930346834440", Some(ShipmentStatus::InTransit))],
    );
}

#[test]
fn carrier_delivered_notice_with_two_numbers() {
    check(
        "Delivered: 2 packages",
        "FedEx shipment 986578788855 was delivered at 10:42 AM on 05/17/2024.\n\
         USPS package 9400 1112 0108 0805 4830 16 was delivered to the mailbox.\n\
         Signed for by: A. SMITH",
        &[
            ("fedex", "986578788855", Some(ShipmentStatus::Delivered)),
            (
                "usps",
                "9400111201080805483016",
                Some(ShipmentStatus::Delivered),
            ),
        ],
    );
}

#[test]
fn out_for_delivery_and_exception() {
    check(
        "Your DHL parcel is out for delivery",
        "Waybill 3318810025. Delivery window 13:00-15:00.",
        &[("dhl", "3318810025", Some(ShipmentStatus::OutForDelivery))],
    );
    check(
        "Update on your shipment",
        "We attempted delivery of parcel RB123456785GB today but nobody was home.",
        &[("s10", "RB123456785GB", Some(ShipmentStatus::Exception))],
    );
    check(
        "Shipping label created",
        "A label for OnTrac C11031500001879 was created; the carrier has not received it yet.",
        &[(
            "ontrac",
            "C11031500001879",
            Some(ShipmentStatus::LabelCreated),
        )],
    );
}

#[test]
fn status_unknown_but_number_found() {
    check(
        "Re: your question",
        "The UPS number is 1Z879E930346834440, see you next week.",
        &[("ups", "1Z879E930346834440", None)],
    );
}

#[test]
fn no_number_no_shipment() {
    check(
        "Your order has shipped",
        "It is on its way and will arrive Friday.",
        &[],
    );
    check(
        "Meeting notes 2024-05-12",
        "Call +1 415 555 0132 at 10:30. Budget 1,200,000. Ticket 4711. PR #12345.",
        &[],
    );
}

#[test]
fn subject_and_body_do_not_merge_into_one_number() {
    // "…9400 1112" ends the subject and "0108 0805 4830 16" starts the body.
    check("Tracking 9400 1112", "0108 0805 4830 16 is your code", &[]);
}
