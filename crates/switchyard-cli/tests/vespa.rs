//! Search on Vespa through the real binary, against the fake Vespa of
//! `switchyard-vespa` (its documented document/v1 and query formats): a server with
//! `--search URL` indexes what it consumes into Vespa, and another process with its own
//! data directory finds it there, which is what makes one index serve several indexers.

mod support;

use std::time::{Duration, Instant};

use support::{Server, fixtures, search};
use switchyard_vespa::fake::FakeVespa;

#[test]
fn a_server_indexes_into_vespa_and_any_process_searches_it() {
    let vespa = FakeVespa::start();
    let data = tempfile::tempdir().unwrap();
    let server = Server::start_with(data.path(), &["--search", &vespa.url]);
    let good = fixtures().join("good");
    server.run_client(
        data.path(),
        &["import", good.to_str().unwrap(), "--user", "vera"],
    );

    let url = "/v1/search?q=Christmas&user=vera";
    let deadline = Instant::now() + Duration::from_secs(30);
    let body = loop {
        let (_, body) = server.get(url);
        if body["hits"].as_array().is_some_and(|hits| !hits.is_empty()) || Instant::now() > deadline
        {
            break body;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(body["hits"].as_array().unwrap().len(), 1, "{body}");
    assert_eq!(body["hits"][0]["doc_type"], "calendar");
    assert!(
        !vespa.stored_ids("email_document").is_empty(),
        "nothing was fed to Vespa"
    );
    assert!(
        vespa
            .yqls()
            .iter()
            .all(|yql| yql.contains("user_id contains \"vera\"")),
        "a query without the user filter reached Vespa"
    );

    // Another process, another (empty) data directory: the same documents.
    let elsewhere = tempfile::tempdir().unwrap();
    let hits = search(
        elsewhere.path(),
        "vera",
        "Christmas",
        &["--search", &vespa.url],
    );
    assert_eq!(hits.len(), 1, "{hits:?}");
    assert!(
        search(
            elsewhere.path(),
            "mallory",
            "Christmas",
            &["--search", &vespa.url]
        )
        .is_empty()
    );
}
