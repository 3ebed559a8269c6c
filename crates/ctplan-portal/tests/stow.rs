//! DICOMweb STOW-RS (`POST /dicomweb/studies`) and the API tokens that authorise it: a series
//! with planted identifiers pushed leaves none of them on disk nor in the answer; the store
//! response is PS3.18 DICOM JSON with de-identified UIDs; malformed, oversized and
//! unauthorised requests are refused with nothing stored; a token opens its own team's
//! uploads and nothing else, and is dead once revoked.

mod common;

use axum::http::{StatusCode, header};
use common::phi::{PLANTED, UID_ROOT, contains, multipart, slice, slice_in};
use common::{App, Client};
use ctplan_portal::{Config, Limits, Role};

const RELATED: &str = "multipart/related; type=\"application/dicom\"; boundary=XyZ-42";

fn dicom_part(bytes: Vec<u8>) -> (Vec<String>, Vec<u8>) {
    (vec!["Content-Type: application/dicom".to_string()], bytes)
}

struct Setup {
    app: App,
    surgeon: Client,
    team: String,
    token: String,
    token_id: String,
}

async fn setup(config: Config) -> Setup {
    let app = App::with(config);
    app.user("s", Role::Surgeon, Some("t"));
    let surgeon = app.login("s").await;
    let team = app.team_id("t");
    let (token_id, token) = app.token(&surgeon, &team).await;
    Setup {
        app,
        surgeon,
        team,
        token,
        token_id,
    }
}

/// The items of a sequence of a DICOM JSON response (none when absent).
fn items(j: &serde_json::Value, tag: &str) -> Vec<serde_json::Value> {
    j[tag]["Value"].as_array().cloned().unwrap_or_default()
}

#[tokio::test]
async fn a_pushed_series_with_planted_identifiers_leaves_none_on_disk() {
    let s = setup(Config::default()).await;
    let mut parts: Vec<_> = (0..4).map(|z| dicom_part(slice(z))).collect();
    for p in PLANTED {
        assert!(contains(&parts[0].1, p), "{p}");
    }
    // A part that is no DICOM object fails alone.
    parts.push((
        vec!["Content-Type: application/dicom".into()],
        b"not dicom".to_vec(),
    ));
    let r = s
        .app
        .stow(Some(&s.token), RELATED, multipart("XyZ-42", &parts))
        .await;
    assert_eq!(
        r.status,
        StatusCode::ACCEPTED,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    assert_eq!(r.headers[header::CONTENT_TYPE], "application/dicom+json");
    let j = r.json();
    let ok = items(&j, "00081199");
    let failed = items(&j, "00081198");
    assert_eq!((ok.len(), failed.len()), (4, 1), "{j}");
    // The failed part: reason 0xC000, no UIDs (none could be read).
    assert_eq!(failed[0]["00081197"]["Value"][0], 0xC000);
    assert!(failed[0].get("00081155").is_none());
    // The stored instances: CT Image Storage, new UIDs, the case's path.
    let url = j["00081190"]["Value"][0].as_str().unwrap().to_string();
    let case = url.strip_prefix("/api/cases/").unwrap().to_string();
    for item in &ok {
        assert_eq!(item["00081150"]["Value"][0], "1.2.840.10008.5.1.4.1.1.2");
        let uid = item["00081155"]["Value"][0].as_str().unwrap();
        assert!(!uid.starts_with(UID_ROOT), "{uid}");
        assert_eq!(item["00081190"]["Value"][0], url.as_str());
    }
    // Neither the answer nor anything under the data folder holds a planted string or an
    // original UID.
    for p in PLANTED.iter().chain(&[UID_ROOT]) {
        assert!(!contains(&r.body, p), "{p} in the answer");
    }
    let files = common::files_below(&s.app.data());
    assert!(files.iter().any(|f| f.ends_with("ct.nrrd")));
    for f in &files {
        let bytes = std::fs::read(f).unwrap();
        for p in PLANTED.iter().chain(&[UID_ROOT, s.token.as_str()]) {
            assert!(!contains(&bytes, p), "{p} in {}", f.display());
        }
    }
    // The case is the team's, its lung job queued, its volume the series'.
    let got = s
        .app
        .call(
            "GET",
            &format!("/api/cases/{case}"),
            Some(&s.surgeon),
            false,
            None,
        )
        .await;
    assert_eq!(got.status, StatusCode::OK);
    assert_eq!(got.json()["case"]["team_id"], s.team.as_str());
    assert_eq!(got.json()["job"]["state"], "queued");
    let ct = s
        .app
        .call(
            "GET",
            &format!("/api/cases/{case}/files/ct.nrrd"),
            Some(&s.surgeon),
            false,
            None,
        )
        .await;
    let img = ctplan_io::read_bytes("ct.nrrd", ct.body).unwrap();
    assert_eq!(img.volume.dims(), [8, 6, 4]);
    let audit = s
        .app
        .call(
            "GET",
            &format!("/api/cases/{case}/audit"),
            Some(&s.surgeon),
            false,
            None,
        )
        .await;
    let detail = audit.json()[0]["detail"].as_str().unwrap().to_string();
    assert!(detail.contains("STOW-RS"), "{detail}");
    assert!(detail.contains(&s.token_id), "{detail}");
}

#[tokio::test]
async fn each_study_of_a_request_becomes_its_own_case() {
    let s = setup(Config::default()).await;
    let root2 = "1.2.826.0.1.3680043.98";
    let parts: Vec<_> = (0..3)
        .map(|z| dicom_part(slice(z)))
        .chain((0..3).map(|z| dicom_part(slice_in(root2, z))))
        .collect();
    let r = s
        .app
        .stow(Some(&s.token), RELATED, multipart("XyZ-42", &parts))
        .await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    let j = r.json();
    assert_eq!(items(&j, "00081199").len(), 6);
    // Two cases: no single retrieve URL for the request, one per instance.
    assert!(j.get("00081190").is_none());
    let urls: std::collections::BTreeSet<String> = items(&j, "00081199")
        .iter()
        .map(|i| i["00081190"]["Value"][0].as_str().unwrap().to_string())
        .collect();
    assert_eq!(urls.len(), 2);
    assert_eq!(common::case_count(&s.app), 2);
}

#[tokio::test]
async fn malformed_oversized_and_wrongly_typed_requests_are_refused_leaving_nothing() {
    let limits = Limits {
        zip_entries: 3,
        entry_bytes: 4 << 10,
        ..Limits::default()
    };
    let s = setup(Config {
        limits,
        ..Default::default()
    })
    .await;
    let one = multipart("XyZ-42", &[dicom_part(slice(0))]);
    let cases: Vec<(&str, Vec<u8>, StatusCode, &str)> = vec![
        // No closing delimiter: an interrupted push stores nothing.
        (
            RELATED,
            one[..one.len() - 12].to_vec(),
            StatusCode::BAD_REQUEST,
            "no closing boundary",
        ),
        (
            RELATED,
            b"--XyZ-42\r\nContent-Type application/dicom\r\n\r\nx\r\n--XyZ-42--".to_vec(),
            StatusCode::BAD_REQUEST,
            "header line",
        ),
        (
            RELATED,
            b"nothing like a multipart body".to_vec(),
            StatusCode::BAD_REQUEST,
            "no opening boundary",
        ),
        (
            "multipart/related; type=\"application/dicom\"",
            one.clone(),
            StatusCode::BAD_REQUEST,
            "boundary",
        ),
        (
            "application/dicom",
            slice(0),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "multipart/related",
        ),
        (
            "multipart/related; type=\"application/dicom+xml\"; boundary=XyZ-42",
            one.clone(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "multipart/related",
        ),
        (
            RELATED,
            multipart("XyZ-42", &vec![dicom_part(slice(0)); 4]),
            StatusCode::PAYLOAD_TOO_LARGE,
            "more than the 3",
        ),
        (
            RELATED,
            multipart("XyZ-42", &[dicom_part(vec![7u8; 5 << 10])]),
            StatusCode::PAYLOAD_TOO_LARGE,
            "instance 1: 5120 bytes",
        ),
        (
            RELATED,
            multipart("XyZ-42", &[]),
            StatusCode::BAD_REQUEST,
            "no instances",
        ),
    ];
    for (ct, body, status, says) in cases {
        let r = s.app.stow(Some(&s.token), ct, body).await;
        assert_eq!(
            r.status,
            status,
            "{ct} {says}: {}",
            String::from_utf8_lossy(&r.body)
        );
        let msg = r.json()["error"].as_str().unwrap().to_string();
        assert!(msg.contains(says), "{says}: {msg}");
        assert_eq!(
            common::stored_files(&s.app.data()),
            Vec::<std::path::PathBuf>::new()
        );
        assert_eq!(common::case_count(&s.app), 0);
    }
    // Well-formed, but nothing in it is DICOM: 409 with every part failed, nothing stored.
    let r = s
        .app
        .stow(
            Some(&s.token),
            RELATED,
            multipart("XyZ-42", &[dicom_part(b"text".to_vec())]),
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert_eq!(items(&r.json(), "00081198").len(), 1);
    assert_eq!(common::case_count(&s.app), 0);
}

#[tokio::test]
async fn tokens_open_their_own_team_s_uploads_and_nothing_else() {
    let s = setup(Config::default()).await;
    s.app.user("b", Role::Surgeon, Some("other"));
    s.app.user("v", Role::Viewer, Some("t"));
    let b = s.app.login("b").await;
    let v = s.app.login("v").await;
    let other = s.app.team_id("other");
    let body = || {
        multipart(
            "XyZ-42",
            &(0..3).map(|z| dicom_part(slice(z))).collect::<Vec<_>>(),
        )
    };
    // No token, a wrong one, a malformed one, a session cookie instead: 401 with a challenge.
    let wrong = format!("ctp_{}", "0".repeat(64));
    for token in [None, Some(wrong.as_str()), Some("ctp_short")] {
        let r = s.app.stow(token, RELATED, body()).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{token:?}");
        assert!(
            r.headers[header::WWW_AUTHENTICATE]
                .to_str()
                .unwrap()
                .starts_with("Bearer")
        );
    }
    let req = axum::http::Request::builder()
        .method("POST")
        .uri("/dicomweb/studies")
        .header(header::CONTENT_TYPE, RELATED)
        .header(header::COOKIE, &s.surgeon.cookie)
        .header("x-csrf-token", &s.surgeon.csrf)
        .body(axum::body::Body::from(body()))
        .unwrap();
    assert_eq!(s.app.send(req).await.status, StatusCode::UNAUTHORIZED);
    // A token opens no session route.
    for (method, uri) in [
        ("GET", "/api/cases"),
        ("GET", "/api/session"),
        ("GET", "/api/tokens"),
    ] {
        let req = axum::http::Request::builder()
            .method(method)
            .uri(uri)
            .header(header::AUTHORIZATION, format!("Bearer {}", s.token))
            .body(axum::body::Body::empty())
            .unwrap();
        assert_eq!(
            s.app.send(req).await.status,
            StatusCode::UNAUTHORIZED,
            "{uri}"
        );
    }
    assert_eq!(common::case_count(&s.app), 0);
    // Only admins and surgeons make tokens, and surgeons only for their own teams.
    let new = |team: &str| Some(serde_json::json!({"team": team, "name": "x"}));
    let r = s
        .app
        .call("POST", "/api/tokens", Some(&v), true, new(&s.team))
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = s
        .app
        .call("POST", "/api/tokens", Some(&b), true, new(&s.team))
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    // The other team's token stores into the other team: team t does not see that case.
    let (_, other_token) = s.app.token(&b, &other).await;
    let r = s.app.stow(Some(&other_token), RELATED, body()).await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    let url = r.json()["00081190"]["Value"][0]
        .as_str()
        .unwrap()
        .to_string();
    let r = s.app.call("GET", &url, Some(&s.surgeon), false, None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = s.app.call("GET", &url, Some(&b), false, None).await;
    assert_eq!(r.json()["case"]["team_id"], other.as_str());
    let list = s
        .app
        .call("GET", "/api/cases", Some(&s.surgeon), false, None)
        .await;
    assert_eq!(list.json(), serde_json::json!([]));
    // Tokens are listed to their team without secrets; another team cannot revoke them.
    let list = s
        .app
        .call("GET", "/api/tokens", Some(&s.surgeon), false, None)
        .await;
    assert_eq!(list.json().as_array().unwrap().len(), 1);
    assert!(!contains(&list.body, &s.token));
    let revoke = format!("/api/tokens/{}", s.token_id);
    let r = s.app.call("DELETE", &revoke, Some(&b), true, None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = s.app.call("DELETE", &revoke, Some(&v), true, None).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    // Revoked by its team: the next push is 401, nothing stored.
    let r = s
        .app
        .call("DELETE", &revoke, Some(&s.surgeon), true, None)
        .await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    assert!(r.json()["revoked"].is_i64());
    let before = common::case_count(&s.app);
    let r = s.app.stow(Some(&s.token), RELATED, body()).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(common::case_count(&s.app), before);
    // Only the token's hash is stored.
    let db = std::fs::read(s.app.data().join("portal.db")).unwrap();
    let wal = std::fs::read(s.app.data().join("portal.db-wal")).unwrap_or_default();
    for bytes in [db, wal] {
        assert!(!contains(&bytes, &s.token));
        assert!(!contains(&bytes, &other_token));
    }
}

#[tokio::test]
async fn the_route_table_keeps_tokens_and_sessions_apart() {
    use ctplan_portal::routes::{Access, ROUTES};
    let s = setup(Config::default()).await;
    let (revoked_id, revoked) = s.app.token(&s.surgeon, &s.team).await;
    let r = s
        .app
        .call(
            "DELETE",
            &format!("/api/tokens/{revoked_id}"),
            Some(&s.surgeon),
            true,
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let uri = |path: &str| {
        path.replace("{case}", &"f".repeat(32))
            .replace("{job}", &"e".repeat(32))
            .replace("{team}", &s.team)
            .replace("{file}", "ct.nrrd")
            .replace("{token}", &s.token_id)
    };
    let send = |method: &str, path: &str, bearer: Option<&str>, session: bool| {
        let mut b = axum::http::Request::builder()
            .method(method)
            .uri(uri(path))
            .header(header::CONTENT_TYPE, RELATED);
        if let Some(t) = bearer {
            b = b.header(header::AUTHORIZATION, format!("Bearer {t}"));
        }
        if session {
            b = b
                .header(header::COOKIE, &s.surgeon.cookie)
                .header("x-csrf-token", &s.surgeon.csrf);
        }
        b.body(axum::body::Body::empty()).unwrap()
    };
    let wrong = format!("ctp_{}", "1".repeat(64));
    let (mut token_routes, mut others) = (0, 0);
    for r in ROUTES.iter().filter(|r| r.access != Access::Open) {
        let token_route = r.access == Access::Token;
        // A token route: a wrong or revoked token, or a session instead, is 401.
        // Any other route: the valid token is no session, 401.
        let attempts: Vec<(Option<&str>, bool)> = if token_route {
            vec![(Some(&wrong), false), (Some(&revoked), false), (None, true)]
        } else {
            vec![(Some(&s.token), false)]
        };
        for (bearer, session) in attempts {
            let reply = s.app.send(send(r.method, r.path, bearer, session)).await;
            assert_eq!(
                reply.status,
                StatusCode::UNAUTHORIZED,
                "{} {} bearer {:?} session {session}",
                r.method,
                r.path,
                bearer.map(|b| &b[..8])
            );
        }
        if token_route {
            token_routes += 1;
        } else {
            others += 1;
        }
    }
    assert!(token_routes >= 1 && others >= 17, "{token_routes} {others}");
    // The valid token gets through its route (an empty body is then 400, not 401).
    let reply = s
        .app
        .send(send("POST", "/dicomweb/studies", Some(&s.token), false))
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
}
