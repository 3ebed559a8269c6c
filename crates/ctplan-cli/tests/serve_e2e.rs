//! `ctplan serve` as a user runs it: the first administrator from a password on standard
//! input, then the server on a free loopback port answering the page and refusing anonymous
//! API requests.

use std::io::{Read, Write};
use std::net::TcpStream;

mod harness;
use harness::{create_admin, serve};

/// One HTTP/1.1 request on a fresh connection; the whole response as text.
fn http(addr: &str, request: &str) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

#[test]
fn create_admin_reads_stdin_then_the_server_answers() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("portal");
    let out = create_admin(&data, "root", "a long admin password\n");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("administrator root created"));
    assert!(data.join("portal.db").is_file());
    let again = create_admin(&data, "root", "a long admin password\n");
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("exists already"));
    let short = create_admin(&data, "other", "short\n");
    assert!(!short.status.success());
    assert!(String::from_utf8_lossy(&short.stderr).contains("shorter than 10"));
    let none = create_admin(&data, "third", "");
    assert!(String::from_utf8_lossy(&none.stderr).contains("no password on standard input"));

    let (mut server, addr) = serve(&data, &[]);
    let page = http(
        &addr,
        "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    let api = http(
        &addr,
        "GET /api/cases HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    let login = http(
        &addr,
        "POST /api/login HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: 50\r\n\r\n{\"name\":\"root\",\"password\":\"a long admin password\"}",
    );
    server.kill().unwrap();
    server.wait().unwrap();
    assert!(page.starts_with("HTTP/1.1 200"), "{page}");
    assert!(page.contains("ctplan portal"));
    assert!(page.contains("default-src 'none'"));
    assert!(api.starts_with("HTTP/1.1 401"), "{api}");
    assert!(login.starts_with("HTTP/1.1 200"), "{login}");
    assert!(login.contains("HttpOnly; SameSite=Strict"), "{login}");
}

#[test]
fn a_worker_refuses_a_folder_that_is_no_portal_and_makes_none() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("typo");
    let out = harness::ctplan(&["worker", "--data", missing.to_str().unwrap()]);
    harness::assert_clean_failure(&out, "no such data folder");
    assert!(!missing.exists());
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let out = harness::ctplan(&["worker", "--data", empty.to_str().unwrap()]);
    harness::assert_clean_failure(&out, "no portal database here");
    assert_eq!(std::fs::read_dir(&empty).unwrap().count(), 0);
}
