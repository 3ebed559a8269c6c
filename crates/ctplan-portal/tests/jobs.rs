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
    let done = loop {
        let j = app
            .call("GET", &format!("/api/jobs/{job}"), Some(&v), false, None)
            .await
            .json();
        if j["state"] == "done" || j["state"] == "failed" {
            break j;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
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
        serde_json::json!(["ct.nrrd", "model.json", "report.json"])
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
