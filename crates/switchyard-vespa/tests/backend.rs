//! `VespaBackend` against the fake Vespa of `support/`: feeding documents of several types,
//! searching with filters and sort orders, user isolation (checked on the YQL the fake
//! received), deletes that follow fragments, navigation both ways, and error statuses.

use chrono::{DateTime, Duration, TimeZone, Utc};
use serde_json::json;
use switchyard_search::{
    DateField, DateRange, ParentLink, SearchBackend, SearchDocument, SearchErrorKind, SearchQuery,
    SortOrder,
};
use switchyard_vespa::fake::FakeVespa;
use switchyard_vespa::{VespaBackend, document_key};

fn days_ago(days: i64) -> DateTime<Utc> {
    Utc::now() - Duration::days(days)
}

fn doc(
    user: &str,
    doc_type: &str,
    id: &str,
    title: &str,
    content: &str,
    days: i64,
) -> SearchDocument {
    let address = format!("bob@{user}.example");
    SearchDocument {
        id: id.into(),
        user_id: user.into(),
        doc_type: doc_type.into(),
        title: title.into(),
        content: content.into(),
        participants: vec![format!("Bob <{address}>")],
        addresses: vec![address],
        created_at: days_ago(days),
        last_updated: days_ago(days),
        sync_timestamp: days_ago(days),
        ..SearchDocument::default()
    }
}

fn fragment(user: &str, parent: &str, position: u32, title: &str, content: &str) -> SearchDocument {
    SearchDocument {
        participants: Vec::new(),
        addresses: Vec::new(),
        parent: Some(ParentLink {
            id: parent.into(),
            doc_type: "word".into(),
            title: "Annual plan".into(),
            position,
        }),
        ..doc(
            user,
            "word_fragment",
            &format!("{parent}#{position}"),
            title,
            content,
            2,
        )
    }
}

fn query(user: &str, text: &str) -> SearchQuery {
    SearchQuery {
        text: text.into(),
        user_id: user.into(),
        limit: 10,
        ..SearchQuery::default()
    }
}

/// `doc_type/id` of each hit, in order.
fn found(backend: &VespaBackend, query: &SearchQuery) -> Vec<String> {
    backend
        .search(query)
        .unwrap()
        .hits
        .iter()
        .map(|hit| format!("{}/{}", hit.doc_type, hit.id))
        .collect()
}

/// A fake with alice's email, calendar item, todo, and Word document with two fragments,
/// and bob's email.
fn seeded() -> (FakeVespa, VespaBackend) {
    let fake = FakeVespa::start();
    let backend = VespaBackend::new(&fake.url).unwrap();
    backend
        .upsert(vec![
            doc(
                "alice",
                "email",
                "<m1@x.com>",
                "Quarterly budget",
                "The budget is attached.",
                1,
            ),
            SearchDocument {
                location: Some("Lisbon".into()),
                ..doc(
                    "alice",
                    "calendar",
                    "c1",
                    "Budget review",
                    "Review the numbers",
                    40,
                )
            },
            doc("alice", "todo", "t1", "Buy milk", "semi-skimmed", 3),
            doc("alice", "word", "d", "Annual plan", "Goals for the year", 5),
            fragment("alice", "d", 1, "Costs", "The budget for travel"),
            fragment("alice", "d", 0, "Intro", "Why we plan"),
            doc(
                "bob",
                "email",
                "<b1@x.com>",
                "Budget too",
                "bob's budget",
                1,
            ),
        ])
        .unwrap();
    backend.commit().unwrap();
    (fake, backend)
}

#[test]
fn documents_of_several_types_are_fed_under_deterministic_ids_and_found() {
    let (fake, backend) = seeded();
    assert_eq!(
        fake.stored_ids("email_document"),
        [
            document_key("alice", "email", "<m1@x.com>"),
            document_key("bob", "email", "<b1@x.com>")
        ]
    );
    let stored = fake
        .stored(
            "word_fragment_document",
            &document_key("alice", "word_fragment", "d#1"),
        )
        .unwrap();
    assert_eq!(stored["parent_key"], json!("alice:word:d"));
    assert_eq!(stored["position"], json!(1));
    assert!(fake.requests().iter().any(|r| r.method == "POST"
        && r.path == "/document/v1/switchyard/email_document/docid/alice:email:%3Cm1%40x.com%3E"));

    let results = backend.search(&query("alice", "budget")).unwrap();
    let names: Vec<String> = results
        .hits
        .iter()
        .map(|hit| format!("{}/{}", hit.doc_type, hit.id))
        .collect();
    // The title counts twice: the email and the calendar item outrank the fragment.
    assert_eq!(names, ["email/<m1@x.com>", "calendar/c1", "word/d"]);
    assert_eq!(results.matched, 3);
    let email = &results.hits[0];
    assert_eq!(email.title, "Quarterly budget");
    assert_eq!(email.snippet, "The <b>budget</b> is attached.");
    assert_eq!(email.participants, ["Bob <bob@alice.example>"]);
    assert!(email.score > 0.0);
    // The Word document was found through its fragment, folded into its hit.
    let word = &results.hits[2];
    assert_eq!(word.title, "Annual plan");
    assert_eq!(word.fragments.len(), 1);
    assert_eq!(word.fragments[0].id, "d#1");
    assert_eq!(word.fragments[0].snippet, "The <b>budget</b> for travel");

    assert_eq!(backend.count("alice", None).unwrap(), 6);
    assert_eq!(backend.count("alice", Some("word_fragment")).unwrap(), 2);
    assert_eq!(backend.count("alice", Some("nope")).unwrap(), 0);
    assert_eq!(
        found(&backend, &query("alice", "location:lisbon")),
        ["calendar/c1"]
    );
}

#[test]
fn filters_narrow_by_type_date_and_participant_and_sorts_apply() {
    let (_fake, backend) = seeded();
    let by_type = SearchQuery {
        doc_type: Some("word".into()),
        ..query("alice", "budget")
    };
    assert_eq!(found(&backend, &by_type), ["word/d"]);
    let by_fragment_type = SearchQuery {
        doc_types: vec!["word_fragment".into()],
        ..query("alice", "budget")
    };
    assert_eq!(found(&backend, &by_fragment_type), ["word/d"]);
    let recent = SearchQuery {
        date_range: Some(DateRange {
            field: DateField::UpdatedAt,
            from: Some(days_ago(10)),
            to: None,
        }),
        ..query("alice", "budget")
    };
    assert_eq!(found(&backend, &recent), ["email/<m1@x.com>", "word/d"]);
    let old = SearchQuery {
        date_range: Some(DateRange {
            field: DateField::CreatedAt,
            from: None,
            to: Some(days_ago(10)),
        }),
        ..query("alice", "")
    };
    assert_eq!(found(&backend, &old), ["calendar/c1"]);
    let with_bob = SearchQuery {
        participant: Some("BOB@alice.example".into()),
        ..query("alice", "budget")
    };
    assert_eq!(
        found(&backend, &with_bob),
        ["email/<m1@x.com>", "calendar/c1"]
    );
    // Empty text lists the most recently updated first; fragments fold into documents.
    assert_eq!(
        found(&backend, &query("alice", "  ")),
        ["email/<m1@x.com>", "word/d", "todo/t1", "calendar/c1"]
    );
    let synced = SearchQuery {
        sort: SortOrder::SyncTimestamp,
        limit: 2,
        ..query("alice", "")
    };
    assert_eq!(found(&backend, &synced), ["email/<m1@x.com>", "word/d"]);
    assert!(
        backend
            .search(&SearchQuery {
                limit: 0,
                ..query("alice", "budget")
            })
            .unwrap()
            .hits
            .is_empty()
    );
    assert!(
        backend
            .search(&SearchQuery {
                doc_type: Some("nope".into()),
                ..query("alice", "")
            })
            .unwrap()
            .hits
            .is_empty()
    );
}

#[test]
fn users_never_see_each_others_documents_and_every_query_carries_the_user_filter() {
    let (fake, backend) = seeded();
    fake.clear_requests();
    for text in ["budget", "", "user_id:bob", "bob", "budget OR bob"] {
        for doc_type in [None, Some("email")] {
            let query = SearchQuery {
                doc_type: doc_type.map(str::to_string),
                ..query("alice", text)
            };
            let hits = backend.search(&query).unwrap().hits;
            assert!(
                hits.iter().all(|hit| hit.id != "<b1@x.com>"),
                "{text:?}: {hits:?}"
            );
        }
    }
    assert_eq!(backend.count("bob", None).unwrap(), 1);
    assert_eq!(backend.count("carol", None).unwrap(), 0);
    assert!(backend.parent_of("bob", "d#1").unwrap().is_none());
    assert!(backend.fragments_of("bob", "d").unwrap().is_empty());
    backend.delete("bob", "word", "d").unwrap();
    assert_eq!(
        backend.fragments_of("alice", "d").unwrap().len(),
        2,
        "bob's delete left alice's fragments"
    );

    let yqls = fake.yqls();
    assert!(yqls.len() >= 15, "{yqls:?}");
    for yql in &yqls {
        let scoped = ["alice", "bob", "carol"]
            .iter()
            .any(|user| yql.contains(&format!(" user_id contains \"{user}\"")));
        assert!(scoped, "a query without the user filter: {yql}");
        assert!(
            !yql.contains("user_id:bob"),
            "user text entered the yql: {yql}"
        );
    }
}

#[test]
fn deleting_a_document_removes_its_fragments_and_only_them() {
    let (fake, backend) = seeded();
    backend
        .upsert(vec![fragment(
            "bob",
            "d",
            0,
            "Bob's",
            "same parent id, other user",
        )])
        .unwrap();
    backend.delete("alice", "word", "d").unwrap();
    backend.commit().unwrap();
    assert!(fake.stored_ids("word_document").is_empty());
    assert_eq!(
        fake.stored_ids("word_fragment_document"),
        [document_key("bob", "word_fragment", "d#0")]
    );
    assert!(backend.fragments_of("alice", "d").unwrap().is_empty());
    assert_eq!(
        found(&backend, &query("alice", "budget")),
        ["email/<m1@x.com>", "calendar/c1"]
    );

    // Deleting a fragment removes only it; deleting what is missing succeeds.
    backend.delete("bob", "word_fragment", "d#0").unwrap();
    backend.delete("alice", "email", "missing").unwrap();
    backend.delete("alice", "fax", "1").unwrap();
    assert!(fake.stored_ids("word_fragment_document").is_empty());
    assert_eq!(backend.count("alice", None).unwrap(), 3);
}

#[test]
fn navigation_goes_from_fragments_to_documents_and_back() {
    let (_fake, backend) = seeded();
    let fragments = backend.fragments_of("alice", "d").unwrap();
    let ids: Vec<(&str, u32)> = fragments
        .iter()
        .map(|f| (f.id.as_str(), f.position))
        .collect();
    assert_eq!(ids, [("d#0", 0), ("d#1", 1)], "in position order");
    assert_eq!(fragments[1].title, "Costs");
    assert_eq!(fragments[1].doc_type, "word_fragment");
    assert_eq!(fragments[1].snippet, "The budget for travel");

    let parent = backend.parent_of("alice", "d#1").unwrap().unwrap();
    assert_eq!(
        (
            parent.doc_type.as_str(),
            parent.id.as_str(),
            parent.title.as_str()
        ),
        ("word", "d", "Annual plan")
    );
    assert_eq!(parent.snippet, "Goals for the year");
    assert!(backend.parent_of("alice", "missing").unwrap().is_none());
    assert!(backend.fragments_of("alice", "missing").unwrap().is_empty());

    // A parent not indexed is described from its fragment's link.
    backend
        .upsert(vec![SearchDocument {
            parent: Some(ParentLink {
                id: "orphan".into(),
                doc_type: "word".into(),
                title: "Lost doc".into(),
                position: 0,
            }),
            ..fragment("alice", "orphan", 0, "Only", "lonely budget text")
        }])
        .unwrap();
    let parent = backend.parent_of("alice", "orphan#0").unwrap().unwrap();
    assert_eq!(
        (
            parent.id.as_str(),
            parent.title.as_str(),
            parent.snippet.as_str()
        ),
        ("orphan", "Lost doc", "")
    );
    let hits = backend
        .search(&SearchQuery {
            doc_type: Some("word".into()),
            ..query("alice", "lonely")
        })
        .unwrap()
        .hits;
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].id, "orphan");
    assert_eq!(hits[0].snippet, "<b>lonely</b> budget text");
}

#[test]
fn error_statuses_become_clear_search_errors() {
    let fake = FakeVespa::start();
    let backend = VespaBackend::new(&fake.url).unwrap();
    let email = doc("alice", "email", "1", "x", "y", 0);

    fake.fail_next(400, json!({ "pathId": "/document/v1/switchyard/email_document/docid/alice:email:1", "message": "No field 'foo' in the structure of type 'email_document'" }));
    let err = backend.upsert(vec![email.clone()]).unwrap_err();
    assert_eq!(err.kind(), SearchErrorKind::InvalidDocument);
    assert!(!err.is_retryable());
    let message = err.to_string();
    assert!(
        message.starts_with("failed to put email 1 of user alice at http://"),
        "{message}"
    );
    assert!(
        message.contains("/document/v1/switchyard/email_document/docid/alice:email:1"),
        "{message}"
    );
    assert!(
        message.contains("400 Bad Request: No field 'foo'"),
        "{message}"
    );

    fake.fail_next(
        503,
        json!({ "message": "Rejecting execution due to overload: 1000 requests already enqueued" }),
    );
    let err = backend.delete("alice", "email", "1").unwrap_err();
    assert_eq!(err.kind(), SearchErrorKind::Write);
    assert!(err.is_retryable());
    assert!(
        err.to_string()
            .contains("503 Service Unavailable: Rejecting execution due to overload"),
        "{err}"
    );

    fake.fail_next(400, json!({ "root": { "id": "toplevel", "relevance": 1.0, "fields": { "totalCount": 0 }, "errors": [{ "code": 4, "summary": "Invalid query parameter", "message": "Could not create query from YQL" }] } }));
    let err = backend.search(&query("alice", "x")).unwrap_err();
    assert_eq!(err.kind(), SearchErrorKind::Query);
    assert!(err.to_string().contains("/search/: vespa answered 400 Bad Request: error 4: Invalid query parameter: Could not create query from YQL"), "{err}");

    // A 200 with errors (a timed-out content node) is not taken for an empty result.
    fake.fail_next(200, json!({ "root": { "id": "toplevel", "fields": { "totalCount": 0 }, "errors": [{ "code": 12, "summary": "Timed out", "message": "timeout while waiting for content nodes" }] } }));
    let err = backend.count("alice", None).unwrap_err();
    assert!(
        err.to_string()
            .contains("vespa reported error 12: Timed out"),
        "{err}"
    );

    fake.fail_next(200, json!("not a query response"));
    let err = backend.fragments_of("alice", "d").unwrap_err();
    assert!(err.to_string().contains("unreadable response"), "{err}");

    // The fake works again once failures are used up.
    backend.upsert(vec![email]).unwrap();
    assert_eq!(backend.count("alice", None).unwrap(), 1);

    // Unknown types are refused before any request; a closed port names the url.
    let err = backend
        .upsert(vec![doc("alice", "fax", "1", "x", "y", 0)])
        .unwrap_err();
    assert_eq!(err.kind(), SearchErrorKind::InvalidDocument);
    let closed = VespaBackend::new("http://127.0.0.1:9").unwrap();
    let err = closed.count("alice", None).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("failed to query at http://127.0.0.1:9/search/: "),
        "{err}"
    );
}

#[test]
fn upsert_replaces_the_document_with_the_same_id_and_control_characters_are_cleaned() {
    let fake = FakeVespa::start();
    let backend = VespaBackend::new(&fake.url).unwrap();
    let at = Utc.with_ymd_and_hms(2024, 5, 1, 12, 0, 0).unwrap();
    let draft = SearchDocument {
        created_at: at,
        last_updated: at,
        sync_timestamp: at,
        ..doc("alice", "email", "1", "draft", "page\u{c}one", 0)
    };
    backend.upsert(vec![draft.clone()]).unwrap();
    backend
        .upsert(vec![SearchDocument {
            title: "final".into(),
            ..draft
        }])
        .unwrap();
    assert_eq!(backend.count("alice", None).unwrap(), 1);
    assert!(found(&backend, &query("alice", "draft")).is_empty());
    let hit = backend
        .search(&query("alice", "final"))
        .unwrap()
        .hits
        .remove(0);
    assert_eq!(hit.updated_at, at, "dates round-trip as microseconds");
    assert_eq!(hit.snippet, "page one");
    // Many documents are fed in parallel.
    let many: Vec<SearchDocument> = (0..50)
        .map(|n| doc("alice", "todo", &n.to_string(), "chore", "", 0))
        .collect();
    backend.upsert(many).unwrap();
    assert_eq!(backend.count("alice", Some("todo")).unwrap(), 50);
}
