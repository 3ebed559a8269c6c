//! `ctplan lung plan` end to end on a real Med-MPD patient, and on bad anatomy.

use std::process::Command;

fn ctplan() -> Command {
    Command::new(env!("CARGO_BIN_EXE_ctplan"))
}

#[test]
fn med_mpd_patient_plan_tiles_the_lungs_and_checks_the_margin() {
    let Some(dir) = ctplan_testdata::data_file("lung/med-mpd/Patient2") else {
        return;
    };
    let out = tempfile::tempdir().unwrap();
    let case = out.path().join("case");
    let o = ctplan()
        .args(["lung", "plan"])
        .arg(&dir)
        .arg("-o")
        .arg(&case)
        .args(["--resect", "RS6", "--fev1", "2.0", "--json"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let named = r["bronchi"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|b| b["segment"].is_string() && b["name"].is_string())
        .count();
    assert!(named >= 16, "{named} segmental bronchi named");
    // Segments tile the lungs: fractions add up to one, every segment has volume.
    let segs = r["segments"].as_array().unwrap();
    let total: f64 = segs.iter().map(|s| s["fraction"].as_f64().unwrap()).sum();
    assert!((total - 1.0).abs() < 2e-3, "{total}");
    // No parenchyma voxel left without a segment (the analysis warns of any gap).
    let warnings = r["warnings"].as_array().unwrap();
    assert!(
        !warnings
            .iter()
            .any(|w| w.as_str().unwrap().contains("have no segment")),
        "{warnings:?}"
    );
    let res = &r["resection"];
    let vol = res["volume_ml"].as_f64().unwrap();
    let rem = res["remaining_ml"].as_f64().unwrap();
    assert!((vol + rem - r["lung_volume_ml"].as_f64().unwrap()).abs() < 1.0);
    // One of 19 segments: 2.0 × 18/19.
    assert!((res["ppo_fev1_count"].as_f64().unwrap() - 1.89).abs() < 0.01);
    assert!(res["margin_mm"].is_number() && res["margin_ok"].is_boolean());
    for f in ["segments.seg.nrrd", "scene.glb", "report.json", "report.md"] {
        assert!(case.join(f).is_file(), "{f}");
    }
    // Pictures: PNG files of the documented sizes (IHDR width and height).
    for (f, w, h) in [
        ("airway.png", 1400u32, 1150u32),
        ("segments.png", 1600, 900),
        ("resection.png", 1600, 900),
    ] {
        let b = std::fs::read(case.join(f)).unwrap();
        assert_eq!(&b[..8], b"\x89PNG\r\n\x1a\n", "{f}");
        let wh = [&b[16..20], &b[20..24]].map(|x| u32::from_be_bytes(x.try_into().unwrap()));
        assert_eq!(wh, [w, h], "{f}");
    }
    // Nothing but the case folder is left beside it (the staging folder was renamed).
    let beside: Vec<_> = std::fs::read_dir(out.path()).unwrap().collect();
    assert_eq!(beside.len(), 1);
    // Every segment with a bronchus resected alone; the RS6 line agrees with the plan.
    let each = r["segment_resections"].as_array().unwrap();
    assert_eq!(each.len(), named.min(18));
    let rs6 = each.iter().find(|o| o["segment"] == "RS6").unwrap();
    assert_eq!(rs6["volume_ml"], res["volume_ml"]);
    assert_eq!(rs6["margin_mm"], res["margin_mm"]);
    // Labels in the .seg.nrrd equal the reported segment volumes.
    let (labels, segments) =
        ctplan_io::seg::read_seg_nrrd(&case.join("segments.seg.nrrd")).unwrap();
    assert!(segments.iter().any(|s| s.name.starts_with("RS6")));
    assert_eq!(labels.dims(), [510, 411, 503]);
}

#[test]
fn bad_anatomy_gives_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let anatomy = dir.path().join("anatomy");
    std::fs::create_dir(&anatomy).unwrap();
    let g = ctplan_core::Geometry::new([1.0; 3], [0.0; 3]);
    let empty = ctplan_core::Mask::zeros([8, 8, 8], g);
    ctplan_io::write_mask(&anatomy.join("airway.nii.gz"), &empty).unwrap();
    // The case folder beside the anatomy: one inside it is refused as an output.
    let o = ctplan()
        .args(["lung", "plan"])
        .arg(&anatomy)
        .arg("-o")
        .arg(dir.path().join("case"))
        .output()
        .unwrap();
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("airway mask is empty"), "{err}");
    assert!(
        !dir.path().join("case").exists(),
        "no case folder on failure"
    );
    let o = ctplan()
        .args(["lung", "plan", "/nonexistent/anatomy", "-o"])
        .arg(dir.path().join("case2"))
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("/nonexistent/anatomy"));
}
