//! The generated application package, written to a temporary directory and checked as a
//! deployment would need it: every document type has a schema named as its file with
//! every field of the Rust definition, `services.xml` lists them all, XML parses.

use std::path::Path;

use switchyard_contracts::DataKind;
use switchyard_search::fields_of_doc_type;
use switchyard_vespa::{VespaErrorKind, validate_application_package, write_application_package};

#[test]
fn the_package_has_a_schema_per_document_type_with_every_field() {
    let dir = tempfile::tempdir().unwrap();
    let report = write_application_package(dir.path()).unwrap();
    assert_eq!(report.schemas.len(), DataKind::ALL.len());
    assert!(
        report
            .files
            .iter()
            .any(|file| file == Path::new("services.xml"))
    );
    for kind in DataKind::ALL {
        let name = format!("{}_document", kind.doc_type());
        assert!(report.schemas.contains(&name), "{name}");
        let text =
            std::fs::read_to_string(dir.path().join("schemas").join(format!("{name}.sd"))).unwrap();
        assert!(text.contains(&format!("schema {name} {{")), "{name}");
        for field in fields_of_doc_type(kind.doc_type()) {
            assert!(
                text.contains(&format!("field {} type ", field.name)),
                "{name} lacks {}",
                field.name
            );
        }
        assert!(text.contains("fieldset default {"), "{name}");
        assert!(text.contains("rank-profile switchyard {"), "{name}");
    }
    for name in [
        "email_document",
        "word_document",
        "word_fragment_document",
        "todo_document",
    ] {
        assert!(
            dir.path()
                .join("schemas")
                .join(format!("{name}.sd"))
                .exists(),
            "{name}"
        );
    }
    let services = std::fs::read_to_string(dir.path().join("services.xml")).unwrap();
    assert!(services.contains("<document-api/>") && services.contains("<search/>"));
    assert!(services.contains("<document type=\"todo_document\" mode=\"index\"/>"));
    // Writing again over the same directory gives the same package.
    assert_eq!(write_application_package(dir.path()).unwrap(), report);
}

#[test]
fn validation_names_every_problem_of_a_broken_package() {
    let dir = tempfile::tempdir().unwrap();
    write_application_package(dir.path()).unwrap();
    let schemas = dir.path().join("schemas");
    std::fs::remove_file(schemas.join("todo_document.sd")).unwrap();
    let email = schemas.join("email_document.sd");
    let text = std::fs::read_to_string(&email)
        .unwrap()
        .replace("field thread_id ", "field thread ");
    std::fs::write(&email, text).unwrap();
    let services = dir.path().join("services.xml");
    let text = std::fs::read_to_string(&services)
        .unwrap()
        .replace("</services>", "");
    std::fs::write(&services, text).unwrap();

    let err = validate_application_package(dir.path()).unwrap_err();
    assert_eq!(err.kind(), VespaErrorKind::InvalidPackage);
    let message = err.to_string();
    assert!(
        message.starts_with("invalid vespa application package in "),
        "{message}"
    );
    assert!(
        message.contains("schemas/todo_document.sd is missing"),
        "{message}"
    );
    assert!(
        message.contains("schemas/email_document.sd: lacks field thread_id of SEARCH_FIELDS"),
        "{message}"
    );
    assert!(message.contains("services.xml: "), "{message}");

    let missing = validate_application_package(&dir.path().join("nowhere")).unwrap_err();
    assert_eq!(missing.kind(), VespaErrorKind::Io);
    assert!(
        missing.to_string().starts_with("failed to read "),
        "{missing}"
    );
}
