//! # ctplan-testdata
//!
//! Test support only. Real data lives outside the repository, in `../shared/data` beside the
//! project's root (or wherever `CTPLAN_DATA` points). A test that needs it calls [`data_dir`]:
//! when the data is missing the test is skipped with a message, unless `CTPLAN_REQUIRE_DATA=1`
//! (as CI sets it), in which case it fails. Skipping rather than failing lets the unit tests
//! run on a machine without the data, and the variable keeps CI from passing by skipping.
//!
//! ```
//! // A test that needs the data returns early (having said why) when it is absent.
//! let Some(dir) = ctplan_testdata::data_dir() else { return };
//! assert!(dir.join("README.md").is_file());
//! ```

#![deny(missing_docs)]

use std::path::PathBuf;

/// The workspace root.
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// True when tests must fail instead of skipping for missing data or tools.
pub fn required() -> bool {
    std::env::var("CTPLAN_REQUIRE_DATA").is_ok_and(|v| v == "1")
}

/// The shared data folder, or `None` (after printing why) when it is absent and not required.
///
/// # Panics
/// When the folder is absent and `CTPLAN_REQUIRE_DATA=1`.
pub fn data_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("CTPLAN_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("../shared/data"));
    if dir.join("README.md").is_file() {
        return Some(dir);
    }
    if required() {
        panic!(
            "CTPLAN_REQUIRE_DATA=1 but the shared data folder {} is missing",
            dir.display()
        );
    }
    eprintln!("skipping: shared data folder {} not found", dir.display());
    None
}

/// A file below the data folder; panics with its path if the folder exists but the file does not.
pub fn data_file(rel: &str) -> Option<PathBuf> {
    let p = data_dir()?.join(rel);
    assert!(p.exists(), "missing data file {}", p.display());
    Some(p)
}

/// The Python interpreter of the project's reference venv (`.venv`, made by `.ci/run`) or
/// `CTPLAN_PYTHON`; `None` (after printing why) when absent and not required.
///
/// # Panics
/// When absent and `CTPLAN_REQUIRE_DATA=1`.
pub fn python() -> Option<PathBuf> {
    let p = std::env::var_os("CTPLAN_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join(".venv/bin/python"));
    if p.exists() {
        return Some(p);
    }
    if required() {
        panic!(
            "CTPLAN_REQUIRE_DATA=1 but the reference Python {} is missing (run .ci/run)",
            p.display()
        );
    }
    eprintln!("skipping: reference Python {} not found", p.display());
    None
}

/// The URL of the PostgreSQL server the tests may use (`CTPLAN_TEST_POSTGRES`, set by
/// `.ci/run`, a role allowed to create databases), or `None` (after printing why) when unset
/// and not required.
///
/// # Panics
/// When unset and `CTPLAN_REQUIRE_DATA=1`.
pub fn postgres_url() -> Option<String> {
    if let Ok(url) = std::env::var("CTPLAN_TEST_POSTGRES")
        && !url.is_empty()
    {
        return Some(url);
    }
    if required() {
        panic!(
            "CTPLAN_REQUIRE_DATA=1 but CTPLAN_TEST_POSTGRES names no PostgreSQL server (run .ci/run)"
        );
    }
    eprintln!("skipping the PostgreSQL part: CTPLAN_TEST_POSTGRES is not set");
    None
}
