//! `ctplan dicom …` run as the real binary on the real series in ../shared/data.

use std::process::{Command, Output};

fn ctplan(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ctplan"))
        .args(args)
        .env("CTPLAN_DEID_KEY", "e2e key")
        .output()
        .unwrap()
}

#[test]
fn scan_convert_anonymize_on_real_series() {
    let Some(data) = ctplan_testdata::data_dir() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let root = data.join("lung/lung-pet-ct-dx");
    let out = ctplan(&["dicom", "scan", root.to_str().unwrap(), "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let series = v["series"].as_array().unwrap();
    assert_eq!(series.len(), 2);
    let thorax = series.iter().find(|s| s["slices"] == 30).unwrap();
    assert_eq!(thorax["kernel"], "B40f");
    assert_eq!(thorax["size"], serde_json::json!([512, 512, 30]));
    assert_eq!(thorax["spacing_mm"][2], 8.0);
    assert!(
        !v["skipped"].as_array().unwrap().is_empty(),
        "the XML annotations are listed"
    );

    // Two series: convert without a choice fails, naming both; with #NUMBER it works.
    let nrrd = tmp.path().join("thorax.nrrd");
    let out = ctplan(&[
        "dicom",
        "convert",
        root.to_str().unwrap(),
        "-o",
        nrrd.to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("#SERIES"));
    assert!(!nrrd.exists());
    let number = thorax["series_number"].as_i64().unwrap();
    let spec = format!("{}#{number}", root.display());
    let out = ctplan(&["dicom", "convert", &spec, "-o", nrrd.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let vol = ctplan_io::read(&nrrd).unwrap().volume;
    assert_eq!(vol.dims(), [512, 512, 30]);
    // Any command takes the DICOM series directly: `info` on PATH#SERIES.
    let out = ctplan(&["info", &spec]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("512 × 512 × 30"));

    // Anonymize, then the output converts to the same voxels.
    let anon = tmp.path().join("anon");
    let series_dir = data.join("lung/lung-pet-ct-dx/A0002-thorax-8mm-B40f");
    let out = ctplan(&[
        "dicom",
        "anonymize",
        series_dir.to_str().unwrap(),
        "-o",
        anon.to_str().unwrap(),
        "--json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["written"], 30);
    let again = tmp.path().join("anon.nrrd");
    let out = ctplan(&[
        "dicom",
        "convert",
        anon.to_str().unwrap(),
        "-o",
        again.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(ctplan_io::read(&again).unwrap().volume, vol);
    // An existing output is refused, nothing changed.
    let out = ctplan(&[
        "dicom",
        "anonymize",
        series_dir.to_str().unwrap(),
        "-o",
        anon.to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("already exists"));

    // Not DICOM at all: one clear line, non-zero exit.
    let empty = tmp.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    std::fs::write(empty.join("notes.txt"), "hello").unwrap();
    let out = ctplan(&[
        "dicom",
        "convert",
        empty.to_str().unwrap(),
        "-o",
        tmp.path().join("x.nrrd").to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no readable DICOM series") && err.contains("notes.txt"),
        "{err}"
    );
    assert!(!err.contains("panicked"));
}
