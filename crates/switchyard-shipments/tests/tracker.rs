//! The shipments consumer on the embedded engines: shipments per user and tracking number,
//! status from the latest email whatever the arrival order, one shipment event per status
//! change, and nothing new on redelivery.

use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};
use switchyard_bus::{Broker, EmbeddedBroker};
use switchyard_contracts::{
    AnyOfficeEvent, Email, EmailEvent, Envelope, Operation, Registry, SyncType,
};
use switchyard_runtime::{Handler, Incoming, Outcome, Publisher};
use switchyard_shipments::{ShipmentStatus, ShipmentStore, ShipmentTracker, StateShipmentStore};
use switchyard_state::EmbeddedState;

struct Rig {
    _dir: tempfile::TempDir,
    broker: Arc<dyn Broker>,
    store: StateShipmentStore,
    tracker: ShipmentTracker,
}

fn rig() -> Rig {
    let dir = tempfile::tempdir().unwrap();
    let broker: Arc<dyn Broker> = Arc::new(EmbeddedBroker::open(&dir.path().join("bus")).unwrap());
    let state = Arc::new(EmbeddedState::open(&dir.path().join("state")).unwrap());
    let store = StateShipmentStore::new(state);
    let publisher = Publisher::new(broker.clone(), Arc::new(Registry::standard()));
    let tracker = ShipmentTracker::new(Arc::new(store.clone()), publisher);
    Rig {
        _dir: dir,
        broker,
        store,
        tracker,
    }
}

fn day(n: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 3, n, 9, 0, 0).unwrap()
}

fn email(
    user: &str,
    id: &str,
    date: DateTime<Utc>,
    subject: &str,
    body: &str,
) -> Incoming<AnyOfficeEvent> {
    let mut event = EmailEvent::new(
        Operation::Create,
        SyncType::Streaming,
        "test",
        user,
        "b1",
        Email {
            id: id.into(),
            subject: subject.into(),
            body_text: body.into(),
            date: Some(date),
            ..Email::default()
        },
    );
    event.last_updated = date;
    Incoming::new(AnyOfficeEvent::Email(event), format!("event-{id}"))
}

/// The statuses announced on `shipment_events`, in order.
async fn announced(broker: &Arc<dyn Broker>) -> Vec<(String, String)> {
    broker
        .browse("shipment_events", 0, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|(_, message)| {
            let envelope = Envelope::from_json_slice(&message.payload).unwrap();
            let data = envelope.data.unwrap();
            (
                data["item"]["id"].as_str().unwrap().to_string(),
                data["item"]["status"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

async fn handle(tracker: &ShipmentTracker, batch: Vec<Incoming<AnyOfficeEvent>>) {
    let outcomes = tracker.handle(batch).await;
    assert!(outcomes.iter().all(|o| *o == Outcome::Done), "{outcomes:?}");
}

const UPS: &str = "1Z879E930346834440";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_follows_the_latest_email_and_each_change_is_announced_once() {
    let rig = rig();
    let shipped = || {
        email(
            "ann",
            "m1",
            day(2),
            "Your order has shipped",
            &format!("UPS tracking number {UPS}"),
        )
    };
    handle(&rig.tracker, vec![shipped()]).await;
    let id = format!("ups:{UPS}");
    assert_eq!(
        announced(&rig.broker).await,
        [(id.clone(), "in_transit".to_string())]
    );

    // Redelivery of the same email: nothing new.
    let before = rig.store.load("ann").await.unwrap();
    handle(&rig.tracker, vec![shipped(), shipped()]).await;
    assert_eq!(rig.store.load("ann").await.unwrap(), before);
    assert_eq!(announced(&rig.broker).await.len(), 1);

    // A newer email moves the status on; an older one arriving late does not move it back.
    handle(
        &rig.tracker,
        vec![email(
            "ann",
            "m2",
            day(4),
            "Out for delivery today",
            &format!("Your UPS package {UPS} is out for delivery."),
        )],
    )
    .await;
    handle(
        &rig.tracker,
        vec![email(
            "ann",
            "m0",
            day(1),
            "Shipping label created",
            &format!("UPS label created for {UPS}."),
        )],
    )
    .await;
    handle(
        &rig.tracker,
        vec![email(
            "ann",
            "m3",
            day(5),
            "Delivered: your package",
            &format!("Your UPS package {UPS} was delivered."),
        )],
    )
    .await;
    let statuses: Vec<String> = announced(&rig.broker)
        .await
        .into_iter()
        .map(|(_, s)| s)
        .collect();
    assert_eq!(statuses, ["in_transit", "out_for_delivery", "delivered"]);

    let shipments = rig.store.load("ann").await.unwrap();
    let shipment = &shipments[&id];
    assert_eq!(shipment.status, ShipmentStatus::Delivered);
    assert_eq!(shipment.first_seen, day(1));
    assert_eq!(shipment.last_seen, day(5));
    assert_eq!(shipment.observations.len(), 4);
    assert_eq!(shipment.carrier, "ups");

    // Another user's mail about the same number is another shipment.
    assert!(rig.store.load("bob").await.unwrap().is_empty());
    assert_eq!(rig.store.forget("ann").await.unwrap(), 1);
    assert!(rig.store.load("ann").await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn emails_without_a_tracking_number_and_other_kinds_change_nothing() {
    let rig = rig();
    handle(
        &rig.tracker,
        vec![email(
            "ann",
            "m1",
            day(2),
            "Lunch?",
            "Shall we meet at 12:30 on 2024-03-02? Call 555-0100.",
        )],
    )
    .await;
    assert!(rig.store.load("ann").await.unwrap().is_empty());
    assert!(announced(&rig.broker).await.is_empty());
}
