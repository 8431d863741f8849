//! One query over every office type: filters, recency, sorting, fragments folded into
//! their documents, navigation between them, and user isolation on every read path.

mod support;

use chrono::Duration;
use support::*;
use switchyard_contracts::{AnyOfficeEvent, Contact, DocumentKind, Fragment};
use switchyard_search::{
    DateField, DateRange, MAX_FRAGMENTS_PER_HIT, SearchBackend, SearchDocument, SearchQuery,
    SortOrder,
};

#[test]
fn one_query_finds_an_email_a_calendar_item_a_word_fragment_and_a_todo() {
    let (_dir, index) = open();
    index_events(
        &index,
        &[
            email("alice", "m1", "Budget for the zeppelin", "numbers attached"),
            calendar("alice", "c1", "Zeppelin review", "room 4"),
            word_document("alice", "d1", "Airships"),
            word_fragment("alice", "d1", 0, "Intro", "history of airships"),
            word_fragment("alice", "d1", 1, "Costs", "a zeppelin costs a lot"),
            todo("alice", "t1", "Book zeppelin tour", "for the team"),
            email("alice", "m2", "Unrelated", "nothing to see"),
        ],
    );
    let results = SearchBackend::search(&index, &query("alice", "zeppelin")).unwrap();
    let mut found = ids(&results.hits);
    found.sort();
    assert_eq!(
        found,
        ["calendar/c1", "email/m1", "todo/t1", "word/d1"],
        "{results:?}"
    );
    assert_eq!(results.matched, 4);
    let word = results.hits.iter().find(|hit| hit.id == "d1").unwrap();
    assert_eq!(word.title, "Airships");
    assert_eq!(word.fragments.len(), 1);
    assert_eq!(word.fragments[0].id, "d1#1");
    assert_eq!(word.fragments[0].doc_type, "word_fragment");
    assert_eq!(word.fragments[0].position, 1);
    assert_eq!(word.fragments[0].title, "Costs");
    assert_eq!(word.fragments[0].snippet, "a <b>zeppelin</b> costs a lot");
    let todo = results.hits.iter().find(|hit| hit.id == "t1").unwrap();
    assert_eq!(todo.participants, ["dave@example.com"]);
    let json = serde_json::to_value(&results.hits[0]).unwrap();
    for key in [
        "id",
        "doc_type",
        "title",
        "score",
        "updated_at",
        "snippet",
        "fragments",
    ] {
        assert!(json.get(key).is_some(), "{key} missing from {json}");
    }
}

#[test]
fn type_filters_name_results_and_include_documents_found_through_fragments() {
    let (_dir, index) = open();
    index_events(
        &index,
        &[
            email("alice", "m1", "kestrel", ""),
            todo("alice", "t1", "kestrel", ""),
            calendar("alice", "c1", "kestrel", ""),
            word_document("alice", "d1", "Birds"),
            word_fragment("alice", "d1", 0, "Falcons", "the kestrel hovers"),
        ],
    );
    let typed = |types: &[&str]| {
        let mut found = found(
            &index,
            &SearchQuery {
                doc_types: types.iter().map(|t| t.to_string()).collect(),
                ..query("alice", "kestrel")
            },
        );
        found.sort();
        found
    };
    assert_eq!(typed(&["email", "todo"]), ["email/m1", "todo/t1"]);
    assert_eq!(typed(&["word"]), ["word/d1"]);
    assert_eq!(typed(&["word_fragment"]), ["word/d1"]);
    assert!(typed(&["sheet"]).is_empty());
    let single = SearchQuery {
        doc_type: Some("calendar".into()),
        ..query("alice", "kestrel")
    };
    assert_eq!(found(&index, &single), ["calendar/c1"]);
}

#[test]
fn date_range_filters_on_created_at_or_updated_at() {
    let (_dir, index) = open();
    let mut old = email("alice", "old", "heron", "");
    let mut new = email("alice", "new", "heron", "");
    if let AnyOfficeEvent::Email(event) = &mut old {
        event.last_updated = days_ago(100);
        event.item.date = Some(days_ago(100));
    }
    if let AnyOfficeEvent::Email(event) = &mut new {
        event.last_updated = days_ago(2);
        // Sent long ago, changed (e.g. moved) recently.
        event.item.date = Some(days_ago(200));
    }
    index_events(&index, &[old, new]);
    let ranged = |field, from, to| {
        let mut found = found(
            &index,
            &SearchQuery {
                date_range: Some(DateRange { field, from, to }),
                ..query("alice", "heron")
            },
        );
        found.sort();
        found
    };
    let month_ago = Some(days_ago(30));
    assert_eq!(ranged(DateField::UpdatedAt, month_ago, None), ["email/new"]);
    assert_eq!(ranged(DateField::UpdatedAt, None, month_ago), ["email/old"]);
    assert_eq!(
        ranged(DateField::CreatedAt, Some(days_ago(150)), None),
        ["email/old"]
    );
    assert_eq!(
        ranged(
            DateField::CreatedAt,
            Some(days_ago(250)),
            Some(days_ago(150))
        ),
        ["email/new"]
    );
    assert!(ranged(DateField::CreatedAt, Some(days_ago(1)), None).is_empty());
}

#[test]
fn participant_filter_matches_whole_addresses_of_any_role() {
    let (_dir, index) = open();
    index_events(
        &index,
        &[
            email("alice", "m1", "osprey", ""),
            calendar("alice", "c1", "osprey", ""),
            todo("alice", "t1", "osprey", ""),
            word_document("alice", "d1", "osprey"),
        ],
    );
    let with = |participant: &str| {
        found(
            &index,
            &SearchQuery {
                participant: Some(participant.into()),
                ..query("alice", "osprey")
            },
        )
    };
    assert_eq!(with("BOB@example.com"), ["email/m1"], "sender, any case");
    assert_eq!(with("alice@example.com"), ["email/m1"], "recipient");
    assert_eq!(with("carol@example.com"), ["calendar/c1"], "organizer");
    assert_eq!(with("dave@example.com"), ["todo/t1"], "assignee");
    assert_eq!(with("erin@example.com"), ["word/d1"], "author");
    assert!(
        with("bob").is_empty(),
        "a part of an address is not a participant"
    );
    // Empty text lists everything of the participant.
    let listed = SearchQuery {
        participant: Some("carol@example.com".into()),
        ..query("alice", "")
    };
    assert_eq!(found(&index, &listed), ["calendar/c1"]);
}

#[test]
fn recency_boost_ranks_the_newer_of_two_equally_relevant_documents_first() {
    let (_dir, index) = open();
    let aged = |id: &str, days: i64| {
        let mut event = email("alice", id, "pelican report", "pelican");
        if let AnyOfficeEvent::Email(event) = &mut event {
            event.last_updated = days_ago(days);
        }
        event
    };
    // Indexed oldest last, so that index order would favour it without the boost.
    index_events(&index, &[aged("recent", 1), aged("stale", 400)]);
    let hits = index.search(&query("alice", "pelican")).unwrap();
    assert_eq!(ids(&hits), ["email/recent", "email/stale"]);
    assert!(hits[0].score > hits[1].score * 1.4, "{hits:?}");
    let (_dir, index) = open();
    index_events(&index, &[aged("stale", 400), aged("recent", 1)]);
    assert_eq!(
        found(&index, &query("alice", "pelican")),
        ["email/recent", "email/stale"]
    );
}

#[test]
fn discovered_contacts_rank_by_their_relevance() {
    let (_dir, index) = open();
    let contact = |id: &str, name: &str, relevance: Option<f64>| {
        AnyOfficeEvent::Contact(event(
            "alice",
            Contact {
                id: id.into(),
                display_name: name.into(),
                emails: vec![format!("{id}@example.com")],
                relevance,
                ..Contact::default()
            },
            1,
        ))
    };
    // Indexed strongest last, so that index order alone would not put it first.
    index_events(
        &index,
        &[
            contact("stranger", "Ada Lovelace", None),
            contact("acquaintance", "Ada Byron", Some(0.2)),
            contact("colleague", "Ada King", Some(6.0)),
        ],
    );
    assert_eq!(
        found(&index, &query("alice", "ada")),
        [
            "contact/colleague",
            "contact/acquaintance",
            "contact/stranger"
        ]
    );
}

#[test]
fn results_sort_by_relevance_last_updated_or_sync_timestamp() {
    let (_dir, index) = open();
    let stamped = |id: &str, body: &str, updated: i64, synced: i64| {
        let mut event = email("alice", id, "gannet", body);
        if let AnyOfficeEvent::Email(event) = &mut event {
            event.last_updated = days_ago(updated);
            event.sync_timestamp = days_ago(synced);
        }
        event
    };
    index_events(
        &index,
        &[
            stamped("relevant", "gannet gannet gannet gannet", 50, 40),
            stamped("updated", "plain", 1, 30),
            stamped("synced", "plain", 20, 0),
        ],
    );
    let sorted = |sort, text: &str| {
        found(
            &index,
            &SearchQuery {
                sort,
                ..query("alice", text)
            },
        )
    };
    assert_eq!(sorted(SortOrder::Relevance, "gannet")[0], "email/relevant");
    assert_eq!(
        sorted(SortOrder::LastUpdated, "gannet"),
        ["email/updated", "email/synced", "email/relevant"]
    );
    assert_eq!(
        sorted(SortOrder::SyncTimestamp, "gannet"),
        ["email/synced", "email/updated", "email/relevant"]
    );
    assert_eq!(
        sorted(SortOrder::Relevance, ""),
        ["email/updated", "email/synced", "email/relevant"],
        "empty text: most recently updated first"
    );
    assert_eq!(
        sorted(SortOrder::SyncTimestamp, ""),
        ["email/synced", "email/updated", "email/relevant"]
    );
}

#[test]
fn three_fragment_hits_fold_into_one_result_with_its_best_fragments_first() {
    let (_dir, index) = open();
    index_events(
        &index,
        &[
            word_document("alice", "d1", "Field guide"),
            word_fragment("alice", "d1", 0, "A", "puffin"),
            word_fragment(
                "alice",
                "d1",
                1,
                "B",
                "puffin puffin puffin and more puffin",
            ),
            word_fragment("alice", "d1", 2, "C", "no match here"),
            word_fragment("alice", "d1", 3, "D", "puffin puffin with some other words"),
            word_fragment(
                "alice",
                "d1",
                4,
                "E",
                "puffin among many many other words here",
            ),
            email("alice", "m1", "lunch", "a puffin sandwich"),
        ],
    );
    let results = SearchBackend::search(&index, &query("alice", "puffin")).unwrap();
    assert_eq!(results.matched, 5, "four fragments and the email");
    assert_eq!(results.hits.len(), 2, "{results:?}");
    let document = results.hits.iter().find(|hit| hit.id == "d1").unwrap();
    assert_eq!(document.doc_type, "word");
    assert_eq!(document.title, "Field guide");
    let positions: Vec<u32> = document.fragments.iter().map(|f| f.position).collect();
    assert_eq!(positions.len(), 3, "at most three fragments: {positions:?}");
    assert_eq!(positions[0], 1, "the densest match first: {positions:?}");
    let scores: Vec<f32> = document.fragments.iter().map(|f| f.score).collect();
    assert!(
        scores.windows(2).all(|pair| pair[0] >= pair[1]),
        "{scores:?}"
    );
    assert_eq!(document.score, scores[0]);
    assert!(
        document
            .fragments
            .iter()
            .all(|f| f.snippet.contains("<b>puffin</b>"))
    );
}

#[test]
fn a_document_and_its_fragments_matching_merge_into_one_result() {
    let (_dir, index) = open();
    index_events(
        &index,
        &[
            word_document("alice", "d1", "Albatross handbook"),
            word_fragment("alice", "d1", 0, "Wings", "the albatross glides"),
            word_fragment("alice", "d1", 1, "Eggs", "one egg per albatross"),
        ],
    );
    let hits = index.search(&query("alice", "albatross")).unwrap();
    assert_eq!(ids(&hits), ["word/d1"]);
    assert_eq!(hits[0].title, "Albatross handbook");
    assert_eq!(hits[0].fragments.len(), 2);
}

#[test]
fn fragments_whose_document_is_not_indexed_yet_show_the_document_from_their_link() {
    let (_dir, index) = open();
    index_events(
        &index,
        &[
            word_fragment("alice", "d9", 0, "One", "cormorant"),
            word_fragment("alice", "d9", 1, "Two", "cormorant dive"),
        ],
    );
    let hits = index.search(&query("alice", "cormorant")).unwrap();
    assert_eq!(ids(&hits), ["word/d9"]);
    assert_eq!(hits[0].title, "Title of d9");
    assert_eq!(hits[0].fragments.len(), 2);
    assert!(hits[0].snippet.contains("<b>cormorant</b>"), "{hits:?}");
    let parent = index.parent_of("alice", "d9#1").unwrap().unwrap();
    assert_eq!(
        (parent.doc_type.as_str(), parent.id.as_str()),
        ("word", "d9")
    );
}

#[test]
fn navigation_goes_from_a_fragment_to_its_document_and_back_in_position_order() {
    let (_dir, index) = open();
    // Indexed out of order, across two commits.
    index_events(
        &index,
        &[
            word_fragment("alice", "d1", 2, "Third", "c"),
            word_document("alice", "d1", "Plan"),
            word_fragment("alice", "d1", 0, "First", "a"),
        ],
    );
    index_events(
        &index,
        &[
            word_fragment("alice", "d1", 1, "Second", "b"),
            word_fragment("alice", "d2", 0, "Other", "x"),
        ],
    );
    let backend: &dyn SearchBackend = &index;
    let parent = backend.parent_of("alice", "d1#2").unwrap().unwrap();
    assert_eq!(
        (
            parent.doc_type.as_str(),
            parent.id.as_str(),
            parent.title.as_str()
        ),
        ("word", "d1", "Plan")
    );
    assert!(parent.fragments.is_empty());
    let fragments = backend.fragments_of("alice", "d1").unwrap();
    let listed: Vec<(u32, &str, &str)> = fragments
        .iter()
        .map(|f| (f.position, f.id.as_str(), f.title.as_str()))
        .collect();
    assert_eq!(
        listed,
        [
            (0, "d1#0", "First"),
            (1, "d1#1", "Second"),
            (2, "d1#2", "Third")
        ]
    );
    assert_eq!(fragments[0].snippet, "a");
    assert!(
        backend.parent_of("alice", "d1").unwrap().is_none(),
        "not a fragment"
    );
    assert!(backend.parent_of("alice", "missing").unwrap().is_none());
    assert!(backend.fragments_of("alice", "missing").unwrap().is_empty());
}

#[test]
fn sheet_and_presentation_fragments_fold_under_their_own_document_types() {
    let (_dir, index) = open();
    let fragment = |kind, parent: &str| {
        AnyOfficeEvent::Fragment(event(
            "alice",
            Fragment {
                id: format!("{parent}#0"),
                kind,
                parent_id: parent.into(),
                parent_title: parent.into(),
                position: 0,
                title: None,
                text: "flamingo".into(),
            },
            1,
        ))
    };
    index_events(
        &index,
        &[
            fragment(DocumentKind::Sheet, "s1"),
            fragment(DocumentKind::Presentation, "p1"),
        ],
    );
    let mut found = found(&index, &query("alice", "flamingo"));
    found.sort();
    assert_eq!(found, ["presentation/p1", "sheet/s1"]);
}

#[test]
fn no_read_path_returns_another_users_documents() {
    let (_dir, index) = open();
    let mine_and_theirs = |user: &str| {
        vec![
            email(user, &format!("{user}-m"), "secret plans", "secret"),
            word_document(user, &format!("{user}-d"), "secret doc"),
            word_fragment(user, &format!("{user}-d"), 0, "secret", "secret text"),
            todo(user, &format!("{user}-t"), "secret todo", ""),
        ]
    };
    index_events(&index, &mine_and_theirs("alice"));
    index_events(&index, &mine_and_theirs("mallory"));
    // Same ids under both users, too.
    index_events(
        &index,
        &[
            email("mallory", "shared-id", "secret", ""),
            email("alice", "shared-id", "x", ""),
        ],
    );
    let backend: &dyn SearchBackend = &index;
    let texts = [
        "secret",
        "",
        "user_id:mallory",
        "mallory",
        "*",
        "secret OR plans",
    ];
    for text in texts {
        for doc_types in [vec![], vec!["email".to_string()], vec!["word".into()]] {
            for participant in [None, Some("bob@example.com".to_string())] {
                for sort in [
                    SortOrder::Relevance,
                    SortOrder::LastUpdated,
                    SortOrder::SyncTimestamp,
                ] {
                    let query = SearchQuery {
                        doc_types: doc_types.clone(),
                        participant: participant.clone(),
                        sort,
                        date_range: Some(DateRange {
                            field: DateField::UpdatedAt,
                            from: Some(days_ago(10)),
                            to: None,
                        }),
                        ..query("alice", text)
                    };
                    let results = backend.search(&query).unwrap();
                    for hit in &results.hits {
                        assert!(!hit.id.starts_with("mallory"), "{text:?}: {hit:?}");
                        assert!(
                            hit.fragments.iter().all(|f| !f.id.starts_with("mallory")),
                            "{text:?}: {hit:?}"
                        );
                        if hit.id == "shared-id" {
                            assert_eq!(hit.title, "x", "alice's own copy");
                        }
                    }
                }
            }
        }
    }
    assert!(backend.parent_of("alice", "mallory-d#0").unwrap().is_none());
    assert!(
        backend
            .fragments_of("alice", "mallory-d")
            .unwrap()
            .is_empty()
    );
    assert_eq!(backend.count("alice", None).unwrap(), 5);
    assert_eq!(backend.count("alice", Some("word_fragment")).unwrap(), 1);
    // Deleting with alice's scope never touches mallory's document of the same ids.
    backend.delete("alice", "word", "mallory-d").unwrap();
    backend.delete("alice", "email", "shared-id").unwrap();
    backend.commit().unwrap();
    assert_eq!(backend.count("mallory", None).unwrap(), 5);
    assert_eq!(
        backend.fragments_of("mallory", "mallory-d").unwrap().len(),
        1
    );
    assert_eq!(backend.count("alice", None).unwrap(), 4);
}

#[test]
fn deleting_a_document_deletes_its_fragments_and_a_fragment_only_itself() {
    let (_dir, index) = open();
    index_events(
        &index,
        &[
            word_document("alice", "d1", "Swift"),
            word_fragment("alice", "d1", 0, "A", "swift"),
            word_fragment("alice", "d1", 1, "B", "swift"),
            word_document("alice", "d2", "Swallow"),
            word_fragment("alice", "d2", 0, "A", "swallow"),
            word_fragment("alice", "d2", 1, "B", "swallow"),
        ],
    );
    index.delete("alice", "word", "d1").unwrap();
    index.delete("alice", "word_fragment", "d2#0").unwrap();
    index.commit().unwrap();
    assert!(found(&index, &query("alice", "swift")).is_empty());
    assert!(index.fragments_of("alice", "d1").unwrap().is_empty());
    let left: Vec<String> = index
        .fragments_of("alice", "d2")
        .unwrap()
        .into_iter()
        .map(|f| f.id)
        .collect();
    assert_eq!(left, ["d2#1"]);
    assert_eq!(found(&index, &query("alice", "swallow")), ["word/d2"]);
}

#[test]
fn limits_count_results_not_fragments() {
    let (_dir, index) = open();
    let mut events = Vec::new();
    for doc in 0..4 {
        let id = format!("d{doc}");
        events.push(word_document("alice", &id, "manual"));
        // The first document's fragments say it twice: they rank above all the others.
        let text = if doc == 0 {
            "tern tern colony"
        } else {
            "tern colony"
        };
        for position in 0..30 {
            events.push(word_fragment("alice", &id, position, "s", text));
        }
    }
    index_events(&index, &events);
    let hits = index
        .search(&SearchQuery {
            limit: 3,
            ..query("alice", "tern")
        })
        .unwrap();
    assert_eq!(hits.len(), 3, "{:?}", ids(&hits));
    // The other 90 fragments score alike, so which of them a result shows depends on
    // index order: each shows at least one and at most three; the best result, whose
    // fragments ranked first, its full three.
    assert!(
        hits.iter()
            .all(|hit| (1..=MAX_FRAGMENTS_PER_HIT).contains(&hit.fragments.len())),
        "{hits:?}"
    );
    assert_eq!(hits[0].id, "d0", "{:?}", ids(&hits));
    assert_eq!(hits[0].fragments.len(), MAX_FRAGMENTS_PER_HIT);
    let all = index.search(&query("alice", "tern")).unwrap();
    assert_eq!(all.len(), 4);
}

#[test]
fn document_fields_and_upserts_of_every_kind_are_searchable_by_name() {
    let (_dir, index) = open();
    let doc = SearchDocument::from_event(&todo("alice", "t1", "Water plants", "ficus"));
    index.upsert(vec![doc.clone(), doc]).unwrap();
    index.commit().unwrap();
    for text in ["assignee:dave", "ficus", "status:needs-action", "WATER"] {
        assert_eq!(found(&index, &query("alice", text)), ["todo/t1"], "{text}");
    }
    assert_eq!(index.count("alice", Some("todo")).unwrap(), 1);
    let window = SearchQuery {
        date_range: Some(DateRange {
            field: DateField::CreatedAt,
            from: Some(days_ago(2)),
            to: Some(days_ago(0) + Duration::minutes(1)),
        }),
        ..query("alice", "")
    };
    assert_eq!(found(&index, &window), ["todo/t1"]);
}

#[test]
fn words_of_the_document_title_complete_a_fragment_match() {
    let (_dir, index) = open();
    let titled = |mut event: AnyOfficeEvent| {
        if let AnyOfficeEvent::Fragment(event) = &mut event {
            event.item.parent_title = "Lighthouse budget".into();
        }
        event
    };
    index_events(
        &index,
        &[
            word_document("alice", "d1", "Lighthouse budget"),
            titled(word_fragment(
                "alice",
                "d1",
                0,
                "Lamps",
                "replace the lamps",
            )),
            titled(word_fragment(
                "alice",
                "d1",
                1,
                "Paint",
                "repaint the tower",
            )),
        ],
    );
    let hits = index.search(&query("alice", "lighthouse lamps")).unwrap();
    assert_eq!(ids(&hits), ["word/d1"]);
    let fragments: Vec<&str> = hits[0].fragments.iter().map(|f| f.id.as_str()).collect();
    assert_eq!(fragments, ["d1#0"]);
    assert_eq!(hits[0].fragments[0].snippet, "replace the <b>lamps</b>");
}
