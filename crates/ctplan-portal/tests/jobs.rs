//! The lung job end to end: the procedural chest CT of the demo uploaded as NRRD bytes, a
//! worker that claimed it and died (its lease in the past), the embedded worker taking it over
//! and finishing it; the results readable by the team only.

mod common;

use std::time::Duration;

use axum::http::StatusCode;
use common::App;
use ctplan_portal::Role;

/// The demo's chest CT (`ctplan demo`): the procedural anatomy rendered at 2 mm, as NRRD bytes.
fn chest_nrrd() -> Vec<u8> {
    use ctplan_lung::phantom::{Options, render, synthetic};
    let opts = Options {
        voxel_mm: [2.0; 3],
        noise_sd_hu: 20.0,
        seed: 1,
    };
    let ct = render(&synthetic::chest(1.0), &opts).unwrap().ct;
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("chest.nrrd");
    ctplan_io::write(
        &p,
        &ctplan_core::AnyVolume::I16(ct),
        &ctplan_io::WriteOptions::default(),
    )
    .unwrap();
    std::fs::read(p).unwrap()
}

/// Poll `GET /api/jobs/{job}` as `client` until the job is done or failed. A worker that no
/// longer runs would leave it queued for ever: after 10 minutes (a guard against hanging, not a
/// timing check) the test fails saying so.
async fn ended(app: &App, client: &common::Client, job: &str) -> serde_json::Value {
    let start = std::time::Instant::now();
    loop {
        let j = app
            .call(
                "GET",
                &format!("/api/jobs/{job}"),
                Some(client),
                false,
                None,
            )
            .await
            .json();
        if j["state"] == "done" || j["state"] == "failed" {
            return j;
        }
        assert!(
            start.elapsed() < Duration::from_secs(600),
            "job {job} never ended (is the worker still running?): {j}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A CT volume of `dims` at 2 mm, -1000 HU (air) with `block` (a corner and a size, voxels)
/// of 40 HU (soft tissue), or all soft tissue when `block` is `None`, as NRRD bytes.
fn block_nrrd(dims: [usize; 3], block: Option<([usize; 3], [usize; 3])>) -> Vec<u8> {
    use ctplan_core::{AnyVolume, Geometry, Volume};
    let mut data = vec![if block.is_some() { -1000i16 } else { 40 }; dims[0] * dims[1] * dims[2]];
    if let Some((at, size)) = block {
        for z in at[2]..at[2] + size[2] {
            for y in at[1]..at[1] + size[1] {
                for x in at[0]..at[0] + size[0] {
                    data[x + dims[0] * (y + dims[1] * z)] = 40;
                }
            }
        }
    }
    let v = Volume::from_vec(dims, Geometry::new([2.0; 3], [0.0; 3]), data).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("block.nrrd");
    ctplan_io::write(&p, &AnyVolume::I16(v), &ctplan_io::WriteOptions::default()).unwrap();
    std::fs::read(p).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ct_without_lungs_fails_its_job_in_words_and_the_worker_goes_on() {
    let app = App::new();
    app.user("s", Role::Surgeon, Some("thoracic"));
    let s = app.login("s").await;
    let team = app.team_id("thoracic");
    // A block of soft tissue in air (a body with no lungs and no airway), then a volume of
    // soft tissue alone (no air at all): both are uploaded before the worker starts.
    let uploads = [
        block_nrrd([48, 48, 32], Some(([8, 8, 4], [32, 32, 24]))),
        block_nrrd([24, 24, 16], None),
    ];
    let mut jobs = Vec::new();
    for bytes in uploads {
        let r = app.upload(&s, &team, "block.nrrd", bytes).await;
        assert_eq!(
            r.status,
            StatusCode::OK,
            "{}",
            String::from_utf8_lossy(&r.body)
        );
        jobs.push(r.json()["job"]["id"].as_str().unwrap().to_string());
    }
    let worker = ctplan_portal::jobs::Worker::spawn(app.portal.clone());
    let mut reasons = Vec::new();
    for job in &jobs {
        let j = ended(&app, &s, job).await;
        assert_eq!(j["state"], "failed", "{j}");
        assert_eq!(j["attempts"], 1, "{j}");
        let reason = j["error"].as_str().unwrap().to_string();
        // The library's refusal in words, not a crash of the computation.
        assert!(reason.starts_with("lung model: "), "{reason}");
        assert!(!reason.contains("panicked"), "{reason}");
        reasons.push(reason);
    }
    drop(worker);
    assert!(reasons[0].contains("no "), "{}", reasons[0]);
    assert!(
        reasons[1].contains("not a CT in Hounsfield units"),
        "{}",
        reasons[1]
    );
    // The case says failed too, and a new run can be queued.
    let list = app
        .call("GET", "/api/cases", Some(&s), false, None)
        .await
        .json();
    for c in list.as_array().unwrap() {
        assert_eq!(c["case"]["status"], "failed", "{c}");
    }
    let run = format!(
        "/api/cases/{}/jobs",
        list[0]["case"]["id"].as_str().unwrap()
    );
    for want in [StatusCode::OK, StatusCode::CONFLICT] {
        let r = app.call("POST", &run, Some(&s), true, None).await;
        assert_eq!(r.status, want, "{}", String::from_utf8_lossy(&r.body));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_lost_by_a_dead_worker_is_run_again_and_its_results_reach_the_team_only() {
    let app = App::new();
    app.user("s", Role::Surgeon, Some("thoracic"));
    app.user("v", Role::Viewer, Some("thoracic"));
    app.user("o", Role::Surgeon, Some("other"));
    let s = app.login("s").await;
    let v = app.login("v").await;
    let o = app.login("o").await;
    let r = app
        .upload(&s, &app.team_id("thoracic"), "chest.nrrd", chest_nrrd())
        .await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    let case = r.json()["case"]["id"].as_str().unwrap().to_string();
    let job = r.json()["job"]["id"].as_str().unwrap().to_string();

    // A worker claimed the job long ago and died: its lease ran out.
    let now = ctplan_portal::store::now();
    let dead = app
        .portal
        .store()
        .claim("dead", now - 3600, 60)
        .unwrap()
        .unwrap();
    assert_eq!(dead.job, job);
    let polled = app
        .call("GET", &format!("/api/jobs/{job}"), Some(&s), false, None)
        .await;
    assert_eq!(polled.json()["state"], "running");

    let worker = ctplan_portal::jobs::Worker::spawn(app.portal.clone());
    let done = ended(&app, &v, &job).await;
    drop(worker);
    assert_eq!(done["state"], "done", "{done}");
    assert_eq!(done["attempts"], 2);
    assert_eq!(done["progress"], 1.0);
    assert!(done["error"].is_null());

    let c = app
        .call("GET", &format!("/api/cases/{case}"), Some(&v), false, None)
        .await
        .json();
    assert_eq!(c["case"]["status"], "done");
    assert_eq!(
        c["files"],
        serde_json::json!(["ct.nrrd", "model.json", "report.json", "scene.glb"])
    );
    // model.json: both lungs and a named airway tree; report.json: the segments' table.
    let m = app
        .call(
            "GET",
            &format!("/api/cases/{case}/files/model.json"),
            Some(&v),
            false,
            None,
        )
        .await;
    assert_eq!(m.status, StatusCode::OK);
    let m = m.json();
    assert!(
        m["right_lung_ml"].as_f64().unwrap() > 100.0,
        "{}",
        m["right_lung_ml"]
    );
    assert!(
        m["left_lung_ml"].as_f64().unwrap() > 100.0,
        "{}",
        m["left_lung_ml"]
    );
    assert!(m["airway"]["branches"].as_u64().unwrap() > 10);
    let rep = app
        .call(
            "GET",
            &format!("/api/cases/{case}/files/report.json"),
            Some(&s),
            false,
            None,
        )
        .await;
    assert_eq!(rep.status, StatusCode::OK);
    assert!(rep.json().is_object());
    // The viewer's resection: planned on the model read back from the case's masks; the
    // volumes are those of the job's own report for the same segment alone.
    let resect_uri = format!("/api/cases/{case}/resect");
    let plan = |targets: serde_json::Value| {
        app.call(
            "POST",
            &resect_uri,
            Some(&v),
            true,
            Some(serde_json::json!({ "targets": targets })),
        )
    };
    let first = rep.json()["segment_resections"][0].clone();
    let seg = first["segment"].as_str().unwrap().to_string();
    let r = plan(serde_json::json!([seg])).await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    let r = r.json();
    assert_eq!(r["resection"]["segments"], serde_json::json!([seg]));
    assert_eq!(r["resection"]["volume_ml"], first["volume_ml"]);
    assert!(r["ms"].as_f64().is_some());
    let r = plan(serde_json::json!(["no such bronchus"])).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(!r.json()["error"].as_str().unwrap().is_empty());
    // Another team sees neither the job nor the files.
    for uri in [
        format!("/api/jobs/{job}"),
        format!("/api/cases/{case}/files/model.json"),
        format!("/api/cases/{case}/files/report.json"),
    ] {
        let r = app.call("GET", &uri, Some(&o), false, None).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{uri}");
    }
    // The dead worker, back, cannot overwrite the job.
    assert!(
        !app.portal
            .store()
            .finish(&job, "dead", Some("late"))
            .unwrap()
    );
}
