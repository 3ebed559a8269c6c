//! The real whole-chest CT (`lung/chest-ct-2mm`, 141 DICOM slices at 2 mm) through the portal
//! as a team would send it: zipped, uploaded, de-identified and decoded in memory. The stored
//! volume must be the one `ctplan_io::read` makes of the folder on disk, and the study's and
//! series' original UIDs must be nowhere under the data folder. (The lung job on this CT is the
//! library's `segment::model`, tested on it by `ctplan-cli/tests/lung_model_e2e.rs`; here the
//! job runs on the synthetic chest, `tests/jobs.rs`, to keep the test short.)

mod common;

use std::io::Write;

use axum::http::StatusCode;
use common::App;
use ctplan_portal::Role;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_real_chest_ct_zipped_is_stored_as_read_from_disk_without_its_uids() {
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
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    for p in &names {
        let name = format!("chest/{}", p.file_name().unwrap().to_string_lossy());
        zip.start_file(name, opts).unwrap();
        zip.write_all(&std::fs::read(p).unwrap()).unwrap();
    }
    let body = zip.finish().unwrap().into_inner();

    let app = App::new();
    app.user("s", Role::Surgeon, Some("thoracic"));
    let s = app.login("s").await;
    let r = app
        .upload(&s, &app.team_id("thoracic"), "chest.zip", body)
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

    let stored = app
        .call(
            "GET",
            &format!("/api/cases/{case}/files/ct.nrrd"),
            Some(&s),
            false,
            None,
        )
        .await;
    let stored = ctplan_io::read_bytes("ct.nrrd", stored.body)
        .unwrap()
        .volume;
    assert_eq!(stored, ctplan_io::read(&dir).unwrap().volume);
    for f in common::files_below(&app.data()) {
        let bytes = std::fs::read(&f).unwrap();
        for uid in &uids {
            assert!(
                !bytes.windows(uid.len()).any(|w| w == uid.as_bytes()),
                "{uid} in {}",
                f.display()
            );
        }
    }
}
