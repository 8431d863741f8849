//! Store tests on [`RedbContactStore`]: idempotent application, versions, deletes,
//! settling, ranking, forget and retention.

use chrono::{DateTime, Duration, TimeZone, Utc};

use super::*;
use crate::{Clock, ContactsConfig, Observation, Role};

fn day(n: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap() + Duration::days(n)
}

fn store(now: DateTime<Utc>) -> (tempfile::TempDir, RedbContactStore) {
    let dir = tempfile::tempdir().unwrap();
    let scoring = Scoring::with_clock(&ContactsConfig::default(), Clock::fixed(now));
    let store = RedbContactStore::open(dir.path(), scoring).unwrap();
    (dir, store)
}

fn seen(address: &str, name: Option<&str>, roles: &[Role]) -> Observation {
    Observation {
        address: address.into(),
        name: name.map(str::to_string),
        roles: roles.to_vec(),
        mailing_list: false,
    }
}

fn item(item_ref: &str, version: i64, seen_at: i64, observations: Vec<Observation>) -> ItemChange {
    ItemChange {
        user_id: "alice".into(),
        item_ref: item_ref.into(),
        version: day(version),
        seen_at: day(seen_at),
        observations,
        deleted: false,
    }
}

fn deleted(item_ref: &str, version: i64) -> ItemChange {
    ItemChange {
        deleted: true,
        ..item(item_ref, version, version, Vec::new())
    }
}

fn sample() -> Vec<ItemChange> {
    vec![
        item(
            "email:1",
            1,
            1,
            vec![
                seen("bob@x.org", Some("Bob"), &[Role::EmailFrom]),
                seen("carol@x.org", None, &[Role::EmailTo]),
            ],
        ),
        item(
            "email:2",
            2,
            2,
            vec![seen(
                "bob@x.org",
                Some("Robert"),
                &[Role::EmailTo, Role::EmailCc],
            )],
        ),
        item(
            "calendar:m1",
            3,
            5,
            vec![seen(
                "carol@x.org",
                Some("Carol"),
                &[Role::CalendarOrganizer],
            )],
        ),
    ]
}

async fn settle_all(store: &RedbContactStore) {
    let dirty = store.dirty(1000).await.unwrap();
    store
        .settle(
            dirty
                .into_iter()
                .map(|dirty| Settled {
                    user_id: dirty.user_id,
                    address: dirty.address,
                    generation: dirty.generation,
                    publication: Publication::Nothing,
                })
                .collect(),
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn replaying_changes_leaves_the_store_unchanged() {
    let (_dir, store) = store(day(10));
    let report = store.apply(sample()).await.unwrap();
    assert_eq!(
        report,
        ApplyReport {
            applied: 3,
            superseded: 0,
            contacts_changed: 2
        }
    );
    let bob = store.contact("alice", "BOB@x.org").await.unwrap().unwrap();
    assert_eq!(
        (
            bob.counts.email_from,
            bob.counts.email_to,
            bob.counts.email_cc
        ),
        (1, 1, 1)
    );
    assert_eq!(
        (bob.items, bob.first_seen, bob.last_seen),
        (2, day(1), day(2))
    );
    let before = store.export("alice").await.unwrap();
    assert_eq!(before.dirty, ["bob@x.org", "carol@x.org"]);

    for _ in 0..2 {
        let again = store.apply(sample()).await.unwrap();
        assert_eq!(again.contacts_changed, 0);
        assert_eq!(store.export("alice").await.unwrap(), before);
    }
    // One at a time, in another order: still nothing changes.
    for change in sample().into_iter().rev() {
        store.apply(vec![change]).await.unwrap();
    }
    assert_eq!(store.export("alice").await.unwrap(), before);
}

#[tokio::test]
async fn a_newer_version_replaces_the_contribution_and_an_older_one_is_skipped() {
    let (_dir, store) = store(day(10));
    store.apply(sample()).await.unwrap();
    settle_all(&store).await;
    // The meeting moved and changed hands: Carol attends, Dan organizes.
    let v2 = item(
        "calendar:m1",
        4,
        7,
        vec![
            seen("carol@x.org", None, &[Role::CalendarAttendee]),
            seen("dan@x.org", Some("Dan"), &[Role::CalendarOrganizer]),
        ],
    );
    let report = store.apply(vec![v2.clone()]).await.unwrap();
    assert_eq!((report.applied, report.contacts_changed), (1, 2));
    let carol = store
        .contact("alice", "carol@x.org")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(carol.counts.calendar_organizer, 0);
    assert_eq!(carol.counts.calendar_attendee, 1);
    assert_eq!((carol.items, carol.last_seen), (2, day(7)));
    assert_eq!(carol.display_name(), "carol@x.org", "v2 gave no name");
    let after_v2 = store.export("alice").await.unwrap();

    let stale = item(
        "calendar:m1",
        3,
        5,
        vec![seen(
            "carol@x.org",
            Some("Carol"),
            &[Role::CalendarOrganizer],
        )],
    );
    let report = store.apply(vec![stale]).await.unwrap();
    assert_eq!((report.applied, report.superseded), (0, 1));
    store.apply(vec![v2]).await.unwrap();
    assert_eq!(store.export("alice").await.unwrap(), after_v2);
}

#[tokio::test]
async fn a_delete_removes_the_contributions_and_keeps_older_versions_out() {
    let (_dir, store) = store(day(10));
    store.apply(sample()).await.unwrap();
    settle_all(&store).await;
    store.apply(vec![deleted("email:1", 6)]).await.unwrap();
    let bob = store.contact("alice", "bob@x.org").await.unwrap().unwrap();
    assert_eq!((bob.items, bob.counts.email_from), (1, 0));
    assert_eq!(bob.display_name(), "Robert");
    let carol = store
        .contact("alice", "carol@x.org")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(carol.counts.email_to, 0);
    store.apply(vec![deleted("calendar:m1", 6)]).await.unwrap();
    assert_eq!(store.contact("alice", "carol@x.org").await.unwrap(), None);
    // Carol was never published: nothing is left of her once settled.
    let dirty = store.dirty(10).await.unwrap();
    let carol = dirty.iter().find(|d| d.address == "carol@x.org").unwrap();
    assert_eq!((&carol.contact, &carol.published), (&None, &None));
    settle_all(&store).await;
    let export = store.export("alice").await.unwrap();
    assert_eq!(export.contacts.len(), 1);
    assert!(export.dirty.is_empty());
    // The original email arrives late: the tombstone keeps it out.
    let report = store.apply(sample()[..1].to_vec()).await.unwrap();
    assert_eq!(report.superseded, 1);
    assert_eq!(store.export("alice").await.unwrap(), export);
}

#[tokio::test]
async fn settling_keeps_marks_of_later_changes_and_records_publications() {
    let (_dir, store) = store(day(10));
    store.apply(sample()).await.unwrap();
    let first = store.dirty(10).await.unwrap();
    // A change after the read: Bob's mark gets a newer generation.
    store
        .apply(vec![item(
            "email:3",
            3,
            3,
            vec![seen("bob@x.org", None, &[Role::EmailFrom])],
        )])
        .await
        .unwrap();
    let state = PublishedState {
        score: 1.0,
        display_name: "Bob".into(),
        at: day(10),
    };
    store
        .settle(
            first
                .into_iter()
                .map(|dirty| Settled {
                    user_id: dirty.user_id,
                    address: dirty.address,
                    generation: dirty.generation,
                    publication: Publication::Published(state.clone()),
                })
                .collect(),
        )
        .await
        .unwrap();
    let left = store.dirty(10).await.unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].address, "bob@x.org");
    assert_eq!(left[0].published.as_ref(), Some(&state));
    assert_eq!(left[0].contact.as_ref().unwrap().items, 3);
}

#[tokio::test]
async fn top_ranks_by_score_then_address() {
    let (_dir, store) = store(day(10));
    store.apply(sample()).await.unwrap();
    let top = store.top("alice", 10).await.unwrap();
    let order: Vec<&str> = top.iter().map(|r| r.contact.address.as_str()).collect();
    // Carol: organizer (1.0) + to (1.0), last seen day 5; Bob: from + to + cc (2.5),
    // last seen day 2.
    assert_eq!(order, ["bob@x.org", "carol@x.org"]);
    assert!(top[0].score > top[1].score);
    assert_eq!(store.top("alice", 1).await.unwrap().len(), 1);
    assert!(store.top("nobody", 10).await.unwrap().is_empty());
}

#[tokio::test]
async fn forget_removes_one_contact_or_all_of_a_users_data() {
    let (_dir, store) = store(day(10));
    store.apply(sample()).await.unwrap();
    let mut other = sample();
    for change in &mut other {
        change.user_id = "bob".into();
    }
    store.apply(other).await.unwrap();
    let bobs_before = store.export("bob").await.unwrap();

    let one = store.forget("alice", Some("Carol@X.org")).await.unwrap();
    assert_eq!(
        one,
        [ForgottenContact {
            user_id: "alice".into(),
            address: "carol@x.org".into(),
            contact_id: "discovered:carol@x.org".into(),
        }]
    );
    let export = store.export("alice").await.unwrap();
    assert!(
        export
            .contributions
            .iter()
            .all(|(a, _, _)| a != "carol@x.org")
    );
    assert_eq!(export.dirty, ["bob@x.org"]);
    assert!(
        store
            .forget("alice", Some("carol@x.org"))
            .await
            .unwrap()
            .is_empty()
    );

    let all = store.forget("alice", None).await.unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].contact_id, "discovered:bob@x.org");
    assert_eq!(store.export("alice").await.unwrap(), UserExport::default());
    assert_eq!(
        store.export("bob").await.unwrap(),
        bobs_before,
        "other users untouched"
    );
}

#[tokio::test]
async fn retention_drops_contacts_not_seen_since_the_cutoff() {
    let (_dir, store) = store(day(10));
    store.apply(sample()).await.unwrap();
    store.apply(vec![deleted("todo:old", 1)]).await.unwrap();
    let mut other = sample();
    for change in &mut other {
        change.user_id = "zed".into();
    }
    store.apply(other).await.unwrap();

    // Bob was last seen on day 2, Carol on day 5.
    let dropped = store
        .drop_not_seen_since(Some("alice"), day(3))
        .await
        .unwrap();
    assert_eq!(dropped.len(), 1);
    assert_eq!(dropped[0].address, "bob@x.org");
    let export = store.export("alice").await.unwrap();
    assert!(export.items.iter().all(|item| item.item_ref != "todo:old"));
    assert_eq!(store.contacts("zed").await.unwrap().len(), 2);

    let mut everyone = store.drop_not_seen_since(None, day(6)).await.unwrap();
    everyone.sort();
    let dropped: Vec<(&str, &str)> = everyone
        .iter()
        .map(|f| (f.user_id.as_str(), f.address.as_str()))
        .collect();
    assert_eq!(
        dropped,
        [
            ("alice", "carol@x.org"),
            ("zed", "bob@x.org"),
            ("zed", "carol@x.org")
        ]
    );
}
