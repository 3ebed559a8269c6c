//! The real whole-chest CT (`lung/chest-ct-2mm`, 141 DICOM slices at 2 mm) sent the two
//! multipart ways: as a dropped folder (`multipart/form-data`, one part per file) and pushed
//! by DICOMweb STOW-RS (`multipart/related`, one instance per part). Each stored volume must be
//! the one `ctplan_io::read` makes of the folder on disk (as for the zip, `tests/real_chest.rs`),
//! and the study's and series' original UIDs must be nowhere under the data folder nor in the
//! STOW-RS answer.

mod common;

use axum::http::StatusCode;
use common::App;
use common::phi::{contains, multipart};
use ctplan_portal::Role;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_real_chest_ct_as_a_folder_and_by_stow_rs_is_stored_as_read_from_disk() {
    let Some(dir) = ctplan_testdata::data_file("lung/chest-ct-2mm") else {
        return;
    };
    let scan = ctplan_dicom::scan(&dir).unwrap();
    let original = &scan.series[0];
    let uids = [original.study_uid.clone(), original.series_uid.clone()];
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    names.sort();
    let files: Vec<(String, Vec<u8>)> = names
        .iter()
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().to_string(),
                std::fs::read(p).unwrap(),
            )
        })
        .collect();
    let want = ctplan_io::read(&dir).unwrap().volume;

    let app = App::new();
    app.user("s", Role::Surgeon, Some("thoracic"));
    let s = app.login("s").await;
    let team = app.team_id("thoracic");
    let stored = |case: String| {
        let (app, s) = (&app, &s);
        async move {
            let r = app
                .call(
                    "GET",
                    &format!("/api/cases/{case}/files/ct.nrrd"),
                    Some(s),
                    false,
                    None,
                )
                .await;
            ctplan_io::read_bytes("ct.nrrd", r.body).unwrap().volume
        }
    };

    // A dropped folder.
    let form: Vec<(Vec<String>, Vec<u8>)> = files
        .iter()
        .map(|(n, b)| {
            (
                vec![format!(
                    "Content-Disposition: form-data; name=\"files\"; filename=\"chest/{n}\""
                )],
                b.clone(),
            )
        })
        .collect();
    let r = app
        .upload_form(&s, &team, "folderXYZ", multipart("folderXYZ", &form))
        .await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    assert_eq!(
        r.json()["volume"],
        "512×512×141 voxels of 0.98×0.98×2.00 mm"
    );
    let case = r.json()["case"]["id"].as_str().unwrap().to_string();
    assert_eq!(stored(case).await, want);

    // Pushed by STOW-RS with a token of the team.
    let (_, token) = app.token(&s, &team).await;
    let parts: Vec<(Vec<String>, Vec<u8>)> = files
        .iter()
        .map(|(_, b)| (vec!["Content-Type: application/dicom".into()], b.clone()))
        .collect();
    let r = app
        .stow(
            Some(&token),
            "multipart/related; type=\"application/dicom\"; boundary=stowXYZ",
            multipart("stowXYZ", &parts),
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    let j = r.json();
    assert_eq!(j["00081199"]["Value"].as_array().unwrap().len(), 141);
    assert!(j.get("00081198").is_none());
    let url = j["00081190"]["Value"][0].as_str().unwrap();
    let case = url.strip_prefix("/api/cases/").unwrap().to_string();
    assert_eq!(stored(case).await, want);
    for uid in &uids {
        assert!(!contains(&r.body, uid), "{uid} in the STOW-RS answer");
    }
    for f in common::files_below(&app.data()) {
        let bytes = std::fs::read(&f).unwrap();
        for uid in &uids {
            assert!(!contains(&bytes, uid), "{uid} in {}", f.display());
        }
    }
}
