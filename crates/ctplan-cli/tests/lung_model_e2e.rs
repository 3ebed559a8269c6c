//! `ctplan lung model` end to end on the real whole-chest CT (`lung/chest-ct-2mm`, 141 DICOM
//! slices at 2 mm), then `ctplan lung plan` on the folder it wrote.
//!
//! The bounds are anatomical, not a recorded output: adult lungs hold 1.5–4.5 L each at this
//! breath, the right larger than the left; an airway lumen grown to the segmental bronchi holds
//! 20–250 mL (a leak into the parenchyma adds litres); the trachea lies in the midline. The
//! depth bound (≥ 12 of the 18 segmental bronchi named) is below what the model reaches today
//! (BENCHMARKS.md), so that a regression of the growing fails. The pulmonary vessels wide enough
//! for a 2 mm scan hold tens to a few hundred mL (a bound of 80–500 mL: a leak into the chest
//! wall or mediastinum adds far more, a vesselness that fails finds far less); arteries and
//! veins are told apart where bronchi are grown beside them, so both are non-empty here.

use std::process::Command;

fn ctplan() -> Command {
    Command::new(env!("CARGO_BIN_EXE_ctplan"))
}

#[test]
fn chest_ct_model_then_plan() {
    let Some(ct) = ctplan_testdata::data_file("lung/chest-ct-2mm") else {
        return;
    };
    let out = tempfile::tempdir().unwrap();
    let model = out.path().join("model");
    let o = ctplan()
        .args(["lung", "model"])
        .arg(&ct)
        .arg("-o")
        .arg(&model)
        .arg("--json")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let (right, left) = (
        r["right_lung_ml"].as_f64().unwrap(),
        r["left_lung_ml"].as_f64().unwrap(),
    );
    assert!((1500.0..4500.0).contains(&right), "right lung {right} mL");
    assert!((1500.0..4500.0).contains(&left), "left lung {left} mL");
    assert!(right > left, "right {right} mL, left {left} mL");
    let airway = &r["airway"];
    let lumen = airway["volume_ml"].as_f64().unwrap();
    assert!((20.0..250.0).contains(&lumen), "airway {lumen} mL");
    assert!(
        airway["seed_mm"][0].as_f64().unwrap().abs() < 30.0,
        "{airway}"
    );
    let named = airway["segmental_bronchi"].as_array().unwrap().len();
    assert!(named >= 12, "{named} segmental bronchi named: {airway}");
    let vessels = &r["vessels"];
    let ml = |k: &str| vessels[k].as_f64().unwrap();
    assert!((80.0..500.0).contains(&ml("volume_ml")), "{vessels}");
    assert!(ml("artery_ml") > 0.0 && ml("vein_ml") > 0.0, "{vessels}");
    assert!(vessels["separable"].as_bool().unwrap(), "{vessels}");
    for f in [
        "body.nii.gz",
        "lungs.nii.gz",
        "airway.nii.gz",
        "vessels.nii.gz",
        "arteries.nii.gz",
        "veins.nii.gz",
        "model.json",
    ] {
        assert!(model.join(f).is_file(), "{f}");
    }
    // The lungs file holds 1 (right) and 2 (left) on the CT's grid.
    let lungs = ctplan_io::read_mask(&model.join("lungs.nii.gz")).unwrap();
    assert_eq!(lungs.dims, [512, 512, 141]);

    // `lung plan` reads the model folder as it is.
    let plan = out.path().join("plan");
    let o = ctplan()
        .args(["lung", "plan"])
        .arg(&model)
        .arg("-o")
        .arg(&plan)
        .arg("--json")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let p: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let names: Vec<&str> = p["bronchi"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|b| b["name"].as_str())
        .collect();
    for want in ["Trachea", "RMB", "LMB"] {
        assert!(names.contains(&want), "{want} in {names:?}");
    }
}
