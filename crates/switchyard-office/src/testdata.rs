//! Where the shared public test material lives (`shared/testdata`: sample mailboxes,
//! calendars, contacts, office documents), for tests of this and other crates.

use std::path::PathBuf;

/// The environment variable naming the shared test material's folder.
pub const TESTDATA_ENV: &str = "SWITCHYARD_TESTDATA";

/// The shared test material: `SWITCHYARD_TESTDATA`, else `shared/testdata` beside the
/// repository, else `/work/shared/testdata` (where the development machines keep it).
///
/// # Panics
///
/// When none of them is a folder, naming the places it looked.
pub fn shared_testdata() -> PathBuf {
    let candidates: Vec<PathBuf> = std::env::var_os(TESTDATA_ENV)
        .map(PathBuf::from)
        .into_iter()
        .chain([
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/testdata"),
            PathBuf::from("/work/shared/testdata"),
        ])
        .collect();
    candidates
        .iter()
        .find(|dir| dir.is_dir())
        .cloned()
        .unwrap_or_else(|| {
            panic!("the shared test material is not in any of {candidates:?}: set {TESTDATA_ENV}")
        })
}
