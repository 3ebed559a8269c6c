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

/// `ctplan serve --data DATA --create-admin NAME`, `stdin` on its standard input.
pub fn create_admin(data: &Path, name: &str, stdin: &str) -> Output {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_ctplan"))
        .args(["serve", "--data"])
        .arg(data)
        .args(["--create-admin", name])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

/// `ctplan serve --data DATA` on a free loopback port with `args` more: the process and the
/// address it printed (`127.0.0.1:PORT`).
pub fn serve(data: &Path, args: &[&str]) -> (std::process::Child, String) {
    use std::io::{BufRead, BufReader};
    let mut server = Command::new(env!("CARGO_BIN_EXE_ctplan"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data"])
        .arg(data)
        .args(args)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(server.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .split("http://")
        .nth(1)
        .and_then(|r| r.split('/').next())
        .unwrap_or_else(|| panic!("no address in {line:?}"))
        .to_string();
    (server, addr)
}
