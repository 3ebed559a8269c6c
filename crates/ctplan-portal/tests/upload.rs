//! Uploads: DICOM de-identified before anything is stored (the planted identifiers are
//! nowhere under the data folder afterwards, database included), volume files decoded from
//! memory, and every refusal (traversal, zip bomb, too large, too many files, wrong type,
//! damaged file) a clear 4xx in JSON with nothing left on disk.

mod common;

use std::io::Write;

use axum::http::StatusCode;
use common::App;
use common::phi::{PLANTED, contains, slice, zip_of};
use ctplan_portal::{Config, Limits, Role};

struct Setup {
    app: App,
    surgeon: common::Client,
    team: String,
}

async fn setup(config: Config) -> Setup {
    let app = App::with(config);
    app.user("s", Role::Surgeon, Some("t"));
    let surgeon = app.login("s").await;
    let team = app.team_id("t");
    Setup { app, surgeon, team }
}

#[tokio::test]
async fn dicom_with_planted_identifiers_leaves_none_on_disk() {
    let s = setup(Config::default()).await;
    let slices: Vec<(String, Vec<u8>)> = (0..4)
        .map(|z| (format!("DOE_JOHN/IM{z:04}"), slice(z)))
        .collect();
    // The planted strings are really in what is sent.
    for p in PLANTED {
        assert!(contains(&slices[0].1, p), "{p}");
    }
    let mut entries: Vec<(&str, Vec<u8>)> = slices
        .iter()
        .map(|(n, b)| (n.as_str(), b.clone()))
        .collect();
    entries.push(("README.txt", b"not dicom".to_vec()));
    let r = s
        .app
        .upload(&s.surgeon, &s.team, "study.zip", zip_of(&entries))
        .await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    assert_eq!(r.json()["volume"], "8×6×4 voxels of 0.75×0.50×2.00 mm");
    // Nor does the answer carry the names the files came with (the reader's notes included).
    assert!(
        !contains(&r.body, "DOE_JOHN"),
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    // The stored volume holds the pixels in HU.
    let case = r.json()["case"]["id"].as_str().unwrap().to_string();
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
    let ctplan_core::AnyVolume::I16(v) = img.volume else {
        panic!("not i16")
    };
    assert_eq!(v.dims, [8, 6, 4]);
    assert_eq!(v.data[0], -1024);
    assert_eq!(v.data[8 * 6 + 1], 100 + 10 - 1024);
    assert!(img.key_values.is_empty());
    // Nothing planted anywhere under the data folder: case files, database, its log.
    let files = common::files_below(&s.app.data());
    assert!(files.iter().any(|f| f.ends_with("ct.nrrd")));
    assert!(files.iter().any(|f| f.ends_with("portal.db")));
    for f in &files {
        let bytes = std::fs::read(f).unwrap();
        for p in PLANTED
            .iter()
            .chain(&["DOE_JOHN", "1.2.826.0.1.3680043.99"])
        {
            assert!(!contains(&bytes, p), "{p} in {}", f.display());
        }
    }
}

/// A refused upload: its status, a JSON error containing `says` and not the file's name, and
/// nothing stored. The message, for more checks.
async fn refused(
    s: &Setup,
    filename: &str,
    bytes: Vec<u8>,
    status: StatusCode,
    says: &str,
) -> String {
    let r = s.app.upload(&s.surgeon, &s.team, filename, bytes).await;
    assert_eq!(
        r.status,
        status,
        "{filename}: {}",
        String::from_utf8_lossy(&r.body)
    );
    let msg = r.json()["error"].as_str().unwrap().to_string();
    assert!(msg.contains(says), "{filename}: {msg}");
    assert!(!msg.contains(filename), "{filename}: {msg}");
    assert_eq!(
        common::stored_files(&s.app.data()),
        Vec::<std::path::PathBuf>::new()
    );
    assert_eq!(common::case_count(&s.app), 0);
    msg
}

#[tokio::test]
async fn traversal_bombs_sizes_and_wrong_types_are_refused_leaving_nothing() {
    let s = setup(Config::default()).await;
    let dcm = slice(0);
    for name in ["../../etc/cron.d/x", "/abs/IM1", "a/../../IM1", "C:\\IM1"] {
        let zip = zip_of(&[("ok/IM0", dcm.clone()), (name, dcm.clone())]);
        let msg = refused(
            &s,
            "study.zip",
            zip,
            StatusCode::BAD_REQUEST,
            "zip entry 2: a path leading outside the archive",
        )
        .await;
        assert!(!msg.contains(name), "{msg}");
    }
    // A symbolic link is refused too, though nothing is extracted.
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default();
    w.start_file("IM0", opts).unwrap();
    w.write_all(&dcm).unwrap();
    w.add_symlink("IM1", "/etc/passwd", opts).unwrap();
    let link = w.finish().unwrap().into_inner();
    refused(
        &s,
        "study.zip",
        link,
        StatusCode::BAD_REQUEST,
        "zip entry 2: a symbolic link",
    )
    .await;
    // A damaged DICOM object inside a folder named like the patient: refused in words that
    // name the entry by its number, not by the folder's name.
    let mut cut = dcm.clone();
    cut.truncate(300);
    let msg = refused(
        &s,
        "study.zip",
        zip_of(&[("DOE_JOHN/IM0", cut)]),
        StatusCode::UNPROCESSABLE_ENTITY,
        "00000001.dcm",
    )
    .await;
    assert!(!msg.contains("DOE_JOHN"), "{msg}");
    // 16 MiB of zeros deflate to about 16 KiB: a thousand to one.
    let bomb = zip_of(&[("IM0", vec![0u8; 16 << 20])]);
    assert!(bomb.len() < 100_000);
    refused(
        &s,
        "study.zip",
        bomb,
        StatusCode::PAYLOAD_TOO_LARGE,
        "zip bomb",
    )
    .await;
    refused(
        &s,
        "notes.txt",
        b"hello".to_vec(),
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "upload a zip",
    )
    .await;
    refused(
        &s,
        "ct.nhdr",
        b"NRRD0004\n".to_vec(),
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "upload a zip",
    )
    .await;
    // The reader's words name the upload by its format, not by the name it was sent with.
    refused(
        &s,
        "DOE_JOHN.nrrd",
        b"NRRD0004\ntype: short\n".to_vec(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "upload.nrrd: ",
    )
    .await;
    let mut truncated = common::nrrd_bytes([8, 8, 8]);
    truncated.truncate(truncated.len() - 10);
    refused(
        &s,
        "DOE_JOHN.nrrd",
        truncated,
        StatusCode::UNPROCESSABLE_ENTITY,
        "upload.nrrd: ",
    )
    .await;
    refused(
        &s,
        "x.zip",
        b"PK\x03\x04garbage".to_vec(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "zip",
    )
    .await;
    let no_dicom = zip_of(&[("a.txt", b"text".to_vec())]);
    refused(
        &s,
        "x.zip",
        no_dicom,
        StatusCode::UNPROCESSABLE_ENTITY,
        "no DICOM",
    )
    .await;
    refused(&s, "ct.nrrd", Vec::new(), StatusCode::BAD_REQUEST, "empty").await;
}

#[tokio::test]
async fn hard_limits_on_body_entries_and_entry_size() {
    let limits = Limits {
        body_bytes: 64 << 10,
        zip_entries: 3,
        entry_bytes: 4 << 10,
        unzipped_bytes: 1 << 20,
        ratio: 200,
        concurrent: 1,
        idle_seconds: 60,
    };
    // Uploads that find no place are answered at once, not queued.
    let s = setup(Config {
        limits,
        upload_wait_seconds: 0,
        ..Default::default()
    })
    .await;
    refused(
        &s,
        "ct.nrrd",
        vec![7u8; 65 << 10],
        StatusCode::PAYLOAD_TOO_LARGE,
        "larger than",
    )
    .await;
    // A declared length over the limit is refused on the header alone.
    let req = axum::http::Request::builder()
        .method("POST")
        .uri(format!(
            "/api/cases?team={}&name=x&filename=ct.nrrd",
            s.team
        ))
        .header(axum::http::header::COOKIE, &s.surgeon.cookie)
        .header("x-csrf-token", &s.surgeon.csrf)
        .header(axum::http::header::CONTENT_LENGTH, "1000000000000")
        .body(axum::body::Body::from(common::nrrd_bytes([2, 2, 2])))
        .unwrap();
    let r = s.app.send(req).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(common::case_count(&s.app), 0);
    let many: Vec<(String, Vec<u8>)> = (0..4).map(|i| (format!("IM{i}"), slice(i))).collect();
    let many: Vec<(&str, Vec<u8>)> = many.iter().map(|(n, b)| (n.as_str(), b.clone())).collect();
    refused(
        &s,
        "s.zip",
        zip_of(&many),
        StatusCode::PAYLOAD_TOO_LARGE,
        "4 entries",
    )
    .await;
    // Counted from the bytes before the archive is parsed: a directory of many entry headers
    // is refused as too many, not read first.
    let headers = [b"PK\x03\x04".to_vec(), b"PK\x01\x02".repeat(10)].concat();
    refused(
        &s,
        "s.zip",
        headers,
        StatusCode::PAYLOAD_TOO_LARGE,
        "10 entries or more",
    )
    .await;
    let big: Vec<u8> = (0..5000u32)
        .flat_map(|i| (i.wrapping_mul(2654435761)).to_le_bytes())
        .collect();
    refused(
        &s,
        "s.zip",
        zip_of(&[("IM0", big)]),
        StatusCode::PAYLOAD_TOO_LARGE,
        "per file",
    )
    .await;
    // While the one upload place is taken, another upload is told to come back (503).
    let ok = zip_of(&many[..3]);
    let slot = ctplan_portal::upload::Slot::take(&s.app.portal).unwrap();
    assert!(ctplan_portal::upload::Slot::take(&s.app.portal).is_none());
    refused(
        &s,
        "s.zip",
        ok.clone(),
        StatusCode::SERVICE_UNAVAILABLE,
        "try again",
    )
    .await;
    drop(slot);
    // Within the limits the same kind of upload goes through, and gives its place back.
    for _ in 0..2 {
        let r = s.app.upload(&s.surgeon, &s.team, "s.zip", ok.clone()).await;
        assert_eq!(
            r.status,
            StatusCode::OK,
            "{}",
            String::from_utf8_lossy(&r.body)
        );
    }
}

#[tokio::test]
async fn volume_files_are_read_from_memory() {
    let s = setup(Config::default()).await;
    let nrrd = common::nrrd_bytes([5, 4, 3]);
    let want = ctplan_io::read_bytes("a.nrrd", nrrd.clone())
        .unwrap()
        .volume;
    // The same volume as NIfTI (gzip and not) and MetaImage, each uploaded as bytes.
    let dir = tempfile::tempdir().unwrap();
    for name in ["v.nii.gz", "v.nii", "v.mha", "v.nrrd"] {
        let p = dir.path().join(name);
        ctplan_io::write(&p, &want, &ctplan_io::WriteOptions::default()).unwrap();
        let r = s
            .app
            .upload(&s.surgeon, &s.team, name, std::fs::read(&p).unwrap())
            .await;
        assert_eq!(
            r.status,
            StatusCode::OK,
            "{name}: {}",
            String::from_utf8_lossy(&r.body)
        );
        let case = r.json()["case"]["id"].as_str().unwrap().to_string();
        assert_eq!(r.json()["job"]["state"], "queued");
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
        let got = ctplan_io::read_bytes("ct.nrrd", ct.body).unwrap().volume;
        assert_eq!(got.dims(), want.dims(), "{name}");
        assert_eq!(got.to_f32().data, want.to_f32().data, "{name}");
        assert_eq!(got.geometry().spacing, want.geometry().spacing, "{name}");
    }
}

/// A dropped folder as the browser sends it: one `multipart/form-data` part per file, each
/// with its (relative) file name.
fn folder_form(boundary: &str, files: &[(String, Vec<u8>)]) -> Vec<u8> {
    let parts: Vec<(Vec<String>, Vec<u8>)> = files
        .iter()
        .map(|(name, bytes)| {
            (
                vec![
                    format!("Content-Disposition: form-data; name=\"files\"; filename=\"{name}\""),
                    "Content-Type: application/octet-stream".to_string(),
                ],
                bytes.clone(),
            )
        })
        .collect();
    common::phi::multipart(boundary, &parts)
}

#[tokio::test]
async fn a_dropped_folder_with_planted_identifiers_leaves_none_on_disk() {
    let s = setup(Config::default()).await;
    let mut files: Vec<(String, Vec<u8>)> = (0..4)
        .map(|z| (format!("DOE_JOHN/IM{z:04}"), slice(z)))
        .collect();
    files.push(("DOE_JOHN/README.txt".into(), b"not dicom".to_vec()));
    let boundary = "----WebKitFormBoundaryq1w2e3r4";
    let body = folder_form(boundary, &files);
    assert!(contains(&body, "DOE_JOHN"));
    let r = s.app.upload_form(&s.surgeon, &s.team, boundary, body).await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    assert_eq!(r.json()["volume"], "8×6×4 voxels of 0.75×0.50×2.00 mm");
    assert_eq!(r.json()["job"]["state"], "queued");
    assert!(!contains(&r.body, "DOE_JOHN"));
    let files = common::files_below(&s.app.data());
    assert!(files.iter().any(|f| f.ends_with("ct.nrrd")));
    for f in &files {
        let bytes = std::fs::read(f).unwrap();
        for p in PLANTED
            .iter()
            .chain(&["DOE_JOHN", "IM0001", common::phi::UID_ROOT])
        {
            assert!(!contains(&bytes, p), "{p} in {}", f.display());
        }
    }
}

#[tokio::test]
async fn a_dropped_folder_is_held_to_the_zip_limits_and_refused_whole() {
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
    let b = "bNd";
    let named = |n: usize| -> Vec<(String, Vec<u8>)> {
        (0..n)
            .map(|z| (format!("DOE_JOHN/IM{z}"), slice(z)))
            .collect()
    };
    let full = folder_form(b, &named(3));
    let mut cut = full.clone();
    cut.truncate(full.len() / 2);
    let mut damaged = named(1);
    damaged[0].1.truncate(300);
    let cases: Vec<(Vec<u8>, StatusCode, &str)> = vec![
        (
            folder_form(b, &named(4)),
            StatusCode::PAYLOAD_TOO_LARGE,
            "more than the 3",
        ),
        (
            folder_form(b, &[("DOE_JOHN/big".into(), vec![1u8; 5 << 10])]),
            StatusCode::PAYLOAD_TOO_LARGE,
            "part 1: 5120 bytes",
        ),
        // Cut off mid-way (the connection dropped): nothing half-stored.
        (cut, StatusCode::BAD_REQUEST, "no closing boundary"),
        (
            b"garbage".to_vec(),
            StatusCode::BAD_REQUEST,
            "malformed multipart",
        ),
        (
            folder_form(b, &damaged),
            StatusCode::UNPROCESSABLE_ENTITY,
            "00000001.dcm",
        ),
        (
            folder_form(b, &[("DOE_JOHN/a.txt".into(), b"text".to_vec())]),
            StatusCode::UNPROCESSABLE_ENTITY,
            "no DICOM",
        ),
    ];
    for (body, status, says) in cases {
        let r = s.app.upload_form(&s.surgeon, &s.team, b, body).await;
        assert_eq!(
            r.status,
            status,
            "{says}: {}",
            String::from_utf8_lossy(&r.body)
        );
        let msg = r.json()["error"].as_str().unwrap().to_string();
        assert!(msg.contains(says), "{says}: {msg}");
        assert!(!msg.contains("DOE_JOHN"), "{msg}");
        assert_eq!(
            common::stored_files(&s.app.data()),
            Vec::<std::path::PathBuf>::new()
        );
        assert_eq!(common::case_count(&s.app), 0);
    }
    // Within the limits it goes through.
    let r = s.app.upload_form(&s.surgeon, &s.team, b, full).await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_beyond_the_places_wait_their_turn_then_go_through_or_time_out() {
    let limits = Limits {
        concurrent: 1,
        ..Limits::default()
    };
    let s = setup(Config {
        limits,
        ..Default::default()
    })
    .await;
    let ok = zip_of(&[("IM0", slice(0)), ("IM1", slice(1)), ("IM2", slice(2))]);
    let request = |bytes: Vec<u8>| {
        axum::http::Request::builder()
            .method("POST")
            .uri(format!("/api/cases?team={}&name=x&filename=s.zip", s.team))
            .header(axum::http::header::COOKIE, &s.surgeon.cookie)
            .header("x-csrf-token", &s.surgeon.csrf)
            .body(axum::body::Body::from(bytes))
            .unwrap()
    };
    let slot = ctplan_portal::upload::Slot::take(&s.app.portal).unwrap();
    let router = s.app.portal.router();
    let req = request(ok.clone());
    let waiting = tokio::spawn(async move {
        use tower::ServiceExt;
        router.oneshot(req).await.unwrap().status()
    });
    // It waits while the place is taken (a refusal would have come at once)...
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(!waiting.is_finished());
    assert_eq!(common::case_count(&s.app), 0);
    // ...and goes through once it is given back.
    drop(slot);
    assert_eq!(waiting.await.unwrap(), StatusCode::OK);
    assert_eq!(common::case_count(&s.app), 1);
    // With a wait of one second, a place held longer means 503 and nothing stored.
    let s = setup(Config {
        limits,
        upload_wait_seconds: 1,
        ..Default::default()
    })
    .await;
    let _slot = ctplan_portal::upload::Slot::take(&s.app.portal).unwrap();
    let r = s.app.upload(&s.surgeon, &s.team, "s.zip", ok).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(r.json()["error"].as_str().unwrap().contains("try again"));
    assert_eq!(common::case_count(&s.app), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_that_stops_arriving_is_refused_and_its_place_freed() {
    use futures_util::StreamExt;
    let limits = Limits {
        concurrent: 1,
        idle_seconds: 1,
        ..Limits::default()
    };
    let s = setup(Config {
        limits,
        ..Default::default()
    })
    .await;
    let ok = zip_of(&[("IM0", slice(0)), ("IM1", slice(1)), ("IM2", slice(2))]);
    // The first part of the zip, then nothing more: a link that died, or a client holding the
    // one place on purpose.
    let head = axum::body::Bytes::from(ok[..ok.len() / 2].to_vec());
    let stalled = futures_util::stream::iter([Ok::<_, std::io::Error>(head)])
        .chain(futures_util::stream::pending());
    let req = axum::http::Request::builder()
        .method("POST")
        .uri(format!("/api/cases?team={}&name=x&filename=s.zip", s.team))
        .header(axum::http::header::COOKIE, &s.surgeon.cookie)
        .header("x-csrf-token", &s.surgeon.csrf)
        .header(axum::http::header::CONTENT_LENGTH, ok.len())
        .body(axum::body::Body::from_stream(stalled))
        .unwrap();
    use tower::ServiceExt;
    let resp = tokio::time::timeout(
        std::time::Duration::from_secs(30),
        s.app.portal.router().oneshot(req),
    )
    .await
    .expect("answered, not held for ever")
    .unwrap();
    assert_eq!(resp.status(), StatusCode::REQUEST_TIMEOUT);
    assert_eq!(common::case_count(&s.app), 0);
    // The place is free again: the next upload goes through at once.
    let r = s.app.upload(&s.surgeon, &s.team, "s.zip", ok).await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
}
