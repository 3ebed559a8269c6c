//! Running the real `ctplan` binary from the end-to-end tests, and what a clean failure is.
// Each test file uses a part of these.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Output};

/// Run `ctplan` with `args`.
pub fn ctplan(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ctplan"))
        .args(args)
        .output()
        .unwrap()
}

/// The standard error of a run, as text.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A clean failure: non-zero exit, not a panic (no message, not code 101), and `needle` in the
/// message.
pub fn assert_clean_failure(o: &Output, needle: &str) {
    let e = stderr(o);
    assert!(!o.status.success(), "should fail: {e}");
    assert_ne!(o.status.code(), Some(101), "no panic: {e}");
    assert!(!e.contains("panicked"), "no panic: {e}");
    assert!(e.contains(needle), "'{e}' should mention '{needle}'");
}

/// A path as the `&str` an argument list takes.
pub fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}
