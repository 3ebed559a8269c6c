//! End-to-end tests of the `ctplan` binary: the demo, `eval`/`rank` on real SkullFix files,
//! and bad input (one clear line naming the file, non-zero exit, no panic).

mod harness;

use std::path::{Path, PathBuf};

use harness::{assert_clean_failure, ctplan, s, stderr};

#[test]
fn demo_writes_volumes_and_report() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("demo");
    let o = ctplan(&["demo", "-o", s(&out)]);
    assert!(o.status.success(), "{}", stderr(&o));
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    let dsc = report["cases"][0]["dsc"].as_f64().unwrap();
    assert!(std::fs::metadata(out.join("implant.stl")).unwrap().len() > 10_000);
    assert!(
        std::fs::read(out.join("scene.glb"))
            .unwrap()
            .starts_with(b"glTF")
    );
    assert!(
        (0.7..0.97).contains(&dsc),
        "demo prediction is imperfect but close: {dsc}"
    );
    // The written volumes evaluate to the same numbers through the CLI.
    let o = ctplan(&[
        "eval",
        "--json",
        "--pred",
        s(&out.join("predicted_implant")),
        "--truth",
        s(&out.join("implant")),
        "--defective",
        s(&out.join("defective_skull")),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["cases"][0]["dsc"].as_f64().unwrap(), dsc);

    // The lung workflow on the synthetic chest CT: the model names the segmental bronchi the
    // procedural tree has (all 18), grows the nodule (7 mm radius, so 14 mm across give or
    // take a 2 mm voxel), and the plan resects near it with a margin verdict.
    let lung = out.join("lung");
    let model: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(lung.join("model/model.json")).unwrap())
            .unwrap();
    let named = model["airway"]["segmental_bronchi"]
        .as_array()
        .unwrap()
        .len();
    assert!(named >= 16, "{}", model["airway"]);
    let d = model["lesions"][0]["diameter_mm"].as_f64().unwrap();
    assert!((10.0..=18.0).contains(&d), "nodule {d} mm");
    let plan: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(lung.join("plan/report.json")).unwrap())
            .unwrap();
    assert!(
        plan["resection"]["margin_ok"].is_boolean(),
        "{}",
        plan["resection"]
    );
    for f in [
        "ct.nrrd",
        "model/model.png",
        "plan/resection.png",
        "plan/scene.glb",
    ] {
        assert!(lung.join(f).is_file(), "{f}");
    }
}

/// A folder of symlinks/copies of a few SkullFix files.
fn skullfix_folder(dir: &Path, sub: &str, cases: &[&str], role: &str) -> Option<PathBuf> {
    let data = ctplan_testdata::data_dir()?;
    let out = dir.join(sub);
    std::fs::create_dir_all(&out).unwrap();
    for c in cases {
        std::os::unix::fs::symlink(
            data.join(format!("skullfix/training_set/{role}/{c}.nrrd")),
            out.join(format!("{c}.nrrd")),
        )
        .unwrap();
    }
    Some(out)
}

#[test]
fn eval_pairs_by_name_and_reports_missing_cases() {
    let dir = tempfile::tempdir().unwrap();
    let Some(truth) = skullfix_folder(dir.path(), "truth", &["003", "010"], "implant") else {
        return;
    };
    let defective =
        skullfix_folder(dir.path(), "defective", &["003", "010"], "defective_skull").unwrap();
    // A perfect submission: the truth itself.
    let csv = dir.path().join("out.csv");
    let o = ctplan(&[
        "eval",
        "--json",
        "--pred",
        s(&truth),
        "--truth",
        s(&truth),
        "--defective",
        s(&defective),
        "--csv",
        s(&csv),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["cases"].as_array().unwrap().len(), 2);
    assert_eq!(v["cases"][0]["case"], "003");
    assert_eq!(v["summary"]["dsc"]["mean"].as_f64().unwrap(), 1.0);
    assert_eq!(v["summary"]["hd95"]["mean"].as_f64().unwrap(), 0.0);
    assert!(
        std::fs::read_to_string(&csv)
            .unwrap()
            .starts_with("case,dsc,bdsc")
    );
    // Swapped predictions (003's implant named 010 and back) are paired by name, not order.
    let swapped = dir.path().join("swapped");
    std::fs::create_dir_all(&swapped).unwrap();
    std::fs::copy(truth.join("003.nrrd"), swapped.join("010.nrrd")).unwrap();
    std::fs::copy(truth.join("010.nrrd"), swapped.join("003.nrrd")).unwrap();
    let o = ctplan(&[
        "eval",
        "--pred",
        s(&swapped),
        "--truth",
        s(&truth),
        "--defective",
        s(&defective),
    ]);
    assert_clean_failure(&o, "different grids");
    // A missing case is named.
    std::fs::remove_file(swapped.join("010.nrrd")).unwrap();
    let o = ctplan(&[
        "eval",
        "--pred",
        s(&swapped),
        "--truth",
        s(&truth),
        "--defective",
        s(&defective),
    ]);
    assert_clean_failure(&o, "prediction for case '010' missing");
}

#[test]
fn empty_prediction_is_a_reported_failure() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("demo");
    assert!(ctplan(&["demo", "-o", s(&out)]).status.success());
    let empty = dir.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let img = ctplan_io::read(&out.join("implant/demo.nrrd")).unwrap();
    let zero = img.volume.to_mask().map(|_| 0u8);
    ctplan_io::write_mask(&empty.join("demo.nrrd"), &zero).unwrap();
    let o = ctplan(&[
        "eval",
        "--json",
        "--pred",
        s(&empty),
        "--truth",
        s(&out.join("implant")),
        "--defective",
        s(&out.join("defective_skull")),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["cases"][0]["status"], "empty_prediction");
    assert_eq!(v["cases"][0]["dsc"].as_f64().unwrap(), 0.0);
    assert!(v["cases"][0]["hd95"].is_null());
    assert_eq!(v["summary"]["n_failed"], 1);
    // Rank: the empty submission comes last.
    let o = ctplan(&[
        "rank",
        "--json",
        s(&empty),
        s(&out.join("predicted_implant")),
        "--truth",
        s(&out.join("implant")),
        "--defective",
        s(&out.join("defective_skull")),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(
        v["ranking"][0]["submission"]
            .as_str()
            .unwrap()
            .ends_with("predicted_implant")
    );
    assert_eq!(v["ranking"][1]["final_rank"].as_f64().unwrap(), 2.0);
}

#[test]
fn same_sizes_but_shifted_origin_is_a_grid_mismatch() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("demo");
    assert!(ctplan(&["demo", "-o", s(&out)]).status.success());
    let shifted = dir.path().join("shifted");
    std::fs::create_dir_all(&shifted).unwrap();
    let mut img = ctplan_io::read(&out.join("predicted_implant/demo.nrrd")).unwrap();
    let mut g = img.volume.geometry();
    g.origin[2] += 0.5;
    img.volume.set_geometry(g);
    ctplan_io::write(&shifted.join("demo.nrrd"), &img.volume, &Default::default()).unwrap();
    let o = ctplan(&[
        "eval",
        "--pred",
        s(&shifted),
        "--truth",
        s(&out.join("implant")),
        "--defective",
        s(&out.join("defective_skull")),
    ]);
    assert_clean_failure(&o, "different grids");
    assert!(
        stderr(&o).contains("shifted/demo.nrrd"),
        "names the file: {}",
        stderr(&o)
    );
}

#[test]
fn bad_inputs_give_one_line_errors() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let missing = d.join("nope.nrrd");
    let o = ctplan(&["info", s(&missing)]);
    assert_clean_failure(&o, "nope.nrrd: cannot open: no such file");
    // The OS error behind it is kept as the error's source, but said once, in words.
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!err.contains("os error"), "the OS error said twice: {err}");
    // The same in a batch verb's per-case errors: a detached header whose data file is gone.
    let cases = d.join("cases");
    std::fs::create_dir(&cases).unwrap();
    std::fs::write(
        cases.join("a.nhdr"),
        "NRRD0004\ntype: uchar\ndimension: 3\nsizes: 2 2 2\nencoding: raw\ndata file: a.raw\n\n",
    )
    .unwrap();
    let c = s(&cases);
    let o = ctplan(&["eval", "--pred", c, "--truth", c, "--defective", c]);
    assert_clean_failure(&o, "a.raw: cannot open data file: no such file");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!err.contains("os error"), "the OS error said twice: {err}");
    let junk = d.join("junk.nrrd");
    std::fs::write(&junk, b"\x00\x01binary").unwrap();
    let o = ctplan(&[
        "eval",
        "--pred",
        s(&junk),
        "--truth",
        s(&junk),
        "--defective",
        s(&junk),
    ]);
    assert_clean_failure(&o, "junk.nrrd: not a NRRD file");
    let huge = d.join("huge.nrrd");
    std::fs::write(&huge, "NRRD0004\ntype: int\ndimension: 3\nsizes: 1000000 1000000 1000000\nendian: little\nencoding: gzip\n\n").unwrap();
    let o = ctplan(&["convert", s(&huge), s(&d.join("out.nii.gz"))]);
    assert_clean_failure(&o, "refusing to allocate");
    assert!(!d.join("out.nii.gz").exists(), "no partial output");
    let o = ctplan(&[
        "eval",
        "--pred",
        s(d),
        "--truth",
        s(d),
        "--defective",
        s(&d.join("missing-dir")),
    ]);
    assert_clean_failure(&o, "missing-dir");
}

#[test]
fn a_batch_whose_every_case_fails_leaves_no_output_folder() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let inputs = d.join("in");
    std::fs::create_dir(&inputs).unwrap();
    std::fs::write(inputs.join("bad.nrrd"), b"not a volume").unwrap();
    let out = d.join("out").join("nested");
    let o = ctplan(&[
        "skull",
        "inject",
        s(&inputs),
        "-o",
        s(&out),
        "--style",
        "cube",
    ]);
    assert_clean_failure(&o, "bad.nrrd: not a NRRD file");
    assert!(!d.join("out").exists(), "inject left {}", out.display());
    let o = ctplan(&["implant", s(&inputs), "-o", s(&out)]);
    assert_clean_failure(&o, "bad.nrrd: not a NRRD file");
    assert!(!d.join("out").exists(), "implant left {}", out.display());
    // A folder that was there before stays.
    let existing = d.join("existing");
    std::fs::create_dir(&existing).unwrap();
    let o = ctplan(&["implant", s(&inputs), "-o", s(&existing)]);
    assert_clean_failure(&o, "bad.nrrd");
    assert!(existing.is_dir());
}

#[test]
fn an_implant_mesh_of_unknown_format_is_refused_before_anything_is_written() {
    let Some(src) = ctplan_testdata::data_file("skullfix/training_set/defective_skull/000.nrrd")
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("implant.nrrd");
    let mesh = dir.path().join("implant.xyz");
    let o = ctplan(&["implant", s(&src), "-o", s(&out), "--mesh", s(&mesh)]);
    assert_clean_failure(&o, "implant.xyz: unknown mesh format");
    assert!(!out.exists(), "an implant written for a run that failed");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    // A mesh into a missing folder: refused before the design too, nothing written.
    let mesh = dir.path().join("missing_dir/implant.stl");
    let t = std::time::Instant::now();
    let o = ctplan(&["implant", s(&src), "-o", s(&out), "--mesh", s(&mesh)]);
    assert_clean_failure(
        &o,
        "missing_dir: cannot write into the folder: no such file",
    );
    assert!(t.elapsed().as_secs_f64() < 2.0, "refused before the design");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    // An existing output file is kept unless --force.
    std::fs::write(&out, b"mine").unwrap();
    let o = ctplan(&["implant", s(&src), "-o", s(&out)]);
    assert_clean_failure(
        &o,
        "implant.nrrd: exists; ctplan does not overwrite files (use --force to replace it)",
    );
    assert_eq!(std::fs::read(&out).unwrap(), b"mine");
}

#[test]
fn convert_and_info_keep_oblique_geometry() {
    let Some(src) = ctplan_testdata::data_file("skullfix/training_set/defective_skull/000.nrrd")
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let nii = dir.path().join("x.nii.gz");
    let o = ctplan(&["convert", s(&src), s(&nii)]);
    assert!(o.status.success(), "{}", stderr(&o));
    let a = ctplan_io::read_header(&src).unwrap();
    let b = ctplan_io::read_header(&nii).unwrap();
    assert!(
        a.geometry.approx_eq(&b.geometry, 1e-4),
        "{:?} vs {:?}",
        a.geometry,
        b.geometry
    );
    let o = ctplan(&["info", s(&src)]);
    assert!(String::from_utf8_lossy(&o.stdout).contains("oblique"));
}

#[test]
fn mesh_writes_every_format_and_reports() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("demo");
    assert!(ctplan(&["demo", "-o", s(&out)]).status.success());
    let implant = out.join("implant/demo.nrrd");
    for ext in ["stl", "ply", "obj", "glb"] {
        let f = dir.path().join(format!("implant.{ext}"));
        let o = ctplan(&[
            "mesh",
            s(&implant),
            "-o",
            s(&f),
            "--json",
            "--decimate",
            "0.5",
        ]);
        assert!(o.status.success(), "{ext}: {}", stderr(&o));
        let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(r["watertight"], true);
        assert_eq!(r["manifold"], true);
        let (v, vox) = (
            r["volume_ml"].as_f64().unwrap(),
            r["voxel_volume_ml"].as_f64().unwrap(),
        );
        assert!((v - vox).abs() / vox < 0.02, "{ext}: {v} vs {vox}");
        assert!(std::fs::metadata(&f).unwrap().len() > 1000);
    }
    // Bad input: unknown extension, empty mask.
    let o = ctplan(&["mesh", s(&implant), "-o", s(&dir.path().join("x.vtk"))]);
    assert_clean_failure(&o, "unknown mesh format");
    let empty = dir.path().join("empty.nrrd");
    ctplan_io::write_mask(
        &empty,
        &ctplan_io::read_mask(&implant).unwrap().map(|_| 0u8),
    )
    .unwrap();
    let o = ctplan(&["mesh", s(&empty), "-o", s(&dir.path().join("e.stl"))]);
    assert_clean_failure(&o, "the mask is empty");
    assert!(!dir.path().join("e.stl").exists());
}

#[test]
fn skull_inject_writes_identical_pairs_reproducibly() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("demo");
    assert!(ctplan(&["demo", "-o", s(&out)]).status.success());
    let complete = out.join("complete_skull/demo.nrrd");
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    for o in [&a, &b] {
        let r = ctplan(&[
            "skull",
            "inject",
            s(&complete),
            "-o",
            s(o),
            "--style",
            "random",
            "--seed",
            "4",
            "--count",
            "2",
        ]);
        assert!(r.status.success(), "{}", stderr(&r));
    }
    for k in 0..2 {
        let name = format!("demo_random_s4_{k}.nrrd");
        let d = ctplan_io::read_mask(&a.join("defective_skull").join(&name)).unwrap();
        let i = ctplan_io::read_mask(&a.join("implant").join(&name)).unwrap();
        let c = ctplan_io::read_mask(&complete).unwrap();
        assert!(
            c.data
                .iter()
                .zip(&d.data)
                .zip(&i.data)
                .all(|((&c, &d), &i)| c == (d | i) && d & i == 0)
        );
        assert_eq!(
            i,
            ctplan_io::read_mask(&b.join("implant").join(&name)).unwrap(),
            "same seed, same defect"
        );
    }
    let r = ctplan(&[
        "skull",
        "inject",
        s(&complete),
        "-o",
        s(&a),
        "--style",
        "hexagon",
    ]);
    assert_clean_failure(&r, "unknown defect style 'hexagon'");
}
