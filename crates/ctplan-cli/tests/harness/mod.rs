//! Running the real `ctplan` binary from the end-to-end tests, and what a clean failure is.
// Each test file uses a part of these.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

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

/// Run `ctplan` with `args` (and `envs`), killing it and failing the test once it has run
/// `limit`: a hang fails the test instead of blocking it. Returns the output and the time taken.
pub fn ctplan_within(args: &[&str], envs: &[(&str, &str)], limit: Duration) -> (Output, Duration) {
    let t = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_ctplan"))
        .args(args)
        .envs(envs.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    while child.try_wait().unwrap().is_none() {
        if t.elapsed() > limit {
            child.kill().unwrap();
            panic!("ctplan {args:?} still running after {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    (child.wait_with_output().unwrap(), t.elapsed())
}

/// Make a FIFO at `path` (readers must refuse it by its type, never open it).
pub fn mkfifo(path: &Path) {
    let c = std::ffi::CString::new(s(path)).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(
        unsafe { libc::mkfifo(c.as_ptr(), 0o600) },
        0,
        "mkfifo {path:?}"
    );
}
