//! What the fuzz targets share: the standard registry (built once per process), the
//! small import limits every importer target runs under, and [`import`], which feeds
//! one input to an importer through the same entry point as `switchyard import`
//! (`read_file_with_limits` on a file) and checks the contracts of what comes out.
//!
//! Each target states one property beyond "does not panic":
//! - the envelope targets: an envelope `Registry::prepare` accepts decodes again from the
//!   bytes it would publish, as a consumer sees them;
//! - the importer targets: every event an importer yields becomes an envelope once it
//!   has a batch id (`switchyard import` aborts otherwise), and every rejection and
//!   warning names a place and a reason.

use std::path::PathBuf;
use std::sync::LazyLock;

use switchyard_contracts::{Envelope, Registry, SyncType, decode_office_event};
use switchyard_office::{
    ImportLimits, ImportOptions, SourceFile, SourceKind, read_file_with_limits,
};

const MIB: u64 = 1024 * 1024;

/// The standard registry; building it compiles every payload schema, so once per process.
pub static REGISTRY: LazyLock<Registry> = LazyLock::new(Registry::standard);

/// Limits far below the defaults, so that one iteration stays in milliseconds while every
/// limit is still reachable by a small input.
pub static LIMITS: LazyLock<ImportLimits> = LazyLock::new(|| ImportLimits {
    max_email_bytes: MIB,
    max_mime_depth: 16,
    max_ics_bytes: MIB,
    max_vcf_bytes: MIB,
    max_document_bytes: 8 * MIB,
    max_document_parts: 1_000,
    max_compression_ratio: 100,
    compression_ratio_floor_bytes: 256 * 1024,
    max_sheet_rows: 10_000,
    max_sheet_cells: 200_000,
});

/// Checks one envelope the way a publisher and then a consumer would: registry
/// validation, and for an accepted envelope, decoding the published bytes again.
pub fn check_envelope(envelope: &Envelope) {
    let Ok(outbound) = REGISTRY.prepare(envelope) else {
        return;
    };
    let published = Envelope::from_json_slice(&outbound.payload)
        .unwrap_or_else(|err| panic!("a prepared envelope does not decode again: {err}"));
    let current = REGISTRY
        .upcast(published)
        .unwrap_or_else(|err| panic!("a prepared envelope does not upcast: {err}"));
    for envelope in &current {
        // Office events decode; other sets' payloads were checked by their schema.
        if let Ok(event) = decode_office_event(envelope) {
            assert!(!event.user_id().is_empty());
        }
        let _ = REGISTRY.idempotency_key("fuzz", envelope);
    }
}

/// Writes `data` to a file of `kind`'s extension and reads it as `switchyard import` does.
pub fn import(kind: SourceKind, data: &[u8]) {
    let path = input_path(kind);
    std::fs::write(&path, data).expect("the fuzz input file is writable");
    let file = SourceFile {
        path,
        kind,
        size_bytes: data.len() as u64,
        mail_folder: None,
    };
    let options = ImportOptions {
        user_id: "fuzz".into(),
        sync_type: SyncType::Backfill,
    };
    let mut reader = read_file_with_limits(&file, &options, &LIMITS);
    while let Some(item) = reader.next() {
        for warning in reader.take_warnings() {
            assert!(!warning.location.is_empty(), "{warning}");
            assert!(!warning.reason.is_empty(), "{warning}");
        }
        match item {
            Ok(mut event) => {
                event.set_batch_id("fuzz-batch");
                let envelope = event
                    .to_envelope("/fuzz", "fuzz")
                    .unwrap_or_else(|err| panic!("an imported event breaks its contract: {err}"));
                let _ = REGISTRY.prepare(&envelope);
            }
            Err(rejection) => {
                assert!(!rejection.location.is_empty(), "{rejection}");
                assert!(!rejection.reason.is_empty(), "{rejection}");
            }
        }
    }
}

/// This process's input file for `kind`: in `$TMPDIR` (`fuzz/run.sh` points it at a
/// folder it removes), one per process so that parallel jobs never share one.
fn input_path(kind: SourceKind) -> PathBuf {
    static DIR: LazyLock<PathBuf> = LazyLock::new(|| {
        let dir = std::env::temp_dir().join(format!("switchyard-fuzz-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("the fuzz input folder can be created");
        dir
    });
    DIR.join(format!("input.{}", kind.provider()))
}
