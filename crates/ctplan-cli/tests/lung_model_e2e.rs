//! `ctplan lung model` end to end on the real whole-chest CT (`lung/chest-ct-2mm`, 141 DICOM
//! slices at 2 mm), then `ctplan lung plan` on the folder it wrote and straight on the CT.
//!
//! The bounds are anatomical, not a recorded output: adult lungs hold 1.5–4.5 L each at this
//! breath, the right larger than the left; an airway lumen grown to the segmental bronchi holds
//! 20–250 mL (a leak into the parenchyma adds litres); the trachea lies in the midline. The
//! depth bound (≥ 12 of the 18 segmental bronchi named) is below what the model reaches today
//! (BENCHMARKS.md), so that a regression of the growing fails. The lobes are checked by where
//! anatomy puts them (upper above lower, the middle lobe in front) and by adding up to the lungs.
//! The pulmonary vessels wide enough for a 2 mm scan hold tens to a few hundred mL (a bound of
//! 80–500 mL: a leak into the chest wall or mediastinum adds far more, a vesselness that fails
//! finds far less); arteries and veins are told apart where bronchi are grown beside them, so
//! both are non-empty here.

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
        .args(["--nodule", "-85,81,-8.5"])
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
    // Five lobes, each a real share of its lung (the smallest, the RML, is about a tenth of the
    // right lung), together the lungs they divide.
    let lobes: Vec<f64> = r["lobes_ml"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l[1].as_f64().unwrap())
        .collect();
    assert_eq!(lobes.len(), 5, "{}", r["lobes_ml"]);
    assert!(lobes.iter().all(|&v| v > 150.0), "{lobes:?}");
    let (r_sum, l_sum) = (lobes[0] + lobes[1] + lobes[2], lobes[3] + lobes[4]);
    assert!((r_sum - right).abs() < 0.05 * right, "{lobes:?} vs {right}");
    assert!((l_sum - left).abs() < 0.05 * left, "{lobes:?} vs {left}");
    // The tumour (located on the axial slices, crates/ctplan-lung/tests/lesions_real.rs) grown
    // from the point given, in the right upper lobe, and listed among the candidates.
    let lesion = &r["lesions"][0];
    assert_eq!(lesion["lobe"], "RUL", "{lesion}");
    assert!(r["candidates"].as_array().unwrap().len() <= 10);
    let vessels = &r["vessels"];
    let ml = |k: &str| vessels[k].as_f64().unwrap();
    assert!((80.0..500.0).contains(&ml("volume_ml")), "{vessels}");
    assert!(ml("artery_ml") > 0.0 && ml("vein_ml") > 0.0, "{vessels}");
    assert!(vessels["separable"].as_bool().unwrap(), "{vessels}");
    for f in [
        "body.nii.gz",
        "lungs.nii.gz",
        "airway.nii.gz",
        "lobes.nii.gz",
        "nodule.nii.gz",
        "vessels.nii.gz",
        "arteries.nii.gz",
        "veins.nii.gz",
        "fissures.nii.gz",
        "model.json",
        "model.png",
    ] {
        assert!(model.join(f).is_file(), "{f}");
    }
    // The lungs file holds 1 (right) and 2 (left) on the CT's grid.
    let lungs = ctplan_io::read_mask(&model.join("lungs.nii.gz")).unwrap();
    assert_eq!(lungs.dims, [512, 512, 141]);
    // The lobes lie where anatomy puts them: each upper lobe's centre above its lower lobe's,
    // the middle lobe in front of the right lower lobe (LPS: z up, y posterior).
    let lobes = ctplan_io::read(&model.join("lobes.nii.gz")).unwrap().volume;
    let lobes = lobes.to_f32();
    let mut sum = [[0.0f64; 4]; 6];
    for (v, &l) in lobes.data.iter().enumerate() {
        let p = lobes.world_of(v);
        let s = &mut sum[l as usize];
        s[0] += p[0];
        s[1] += p[1];
        s[2] += p[2];
        s[3] += 1.0;
    }
    let c = |l: usize| [sum[l][0], sum[l][1], sum[l][2]].map(|x| x / sum[l][3]);
    assert!(c(1)[2] > c(3)[2], "RUL {:?} RLL {:?}", c(1), c(3));
    assert!(c(4)[2] > c(5)[2], "LUL {:?} LLL {:?}", c(4), c(5));
    assert!(c(2)[1] < c(3)[1], "RML {:?} RLL {:?}", c(2), c(3));
    assert!(
        c(1)[0] < 0.0 && c(4)[0] > 0.0,
        "sides {:?} {:?}",
        c(1),
        c(4)
    );

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

    // `lung plan` straight from the CT: the model is built, written into model/, and planned.
    let plan = out.path().join("plan-ct");
    let o = ctplan()
        .args(["lung", "plan"])
        .arg(&ct)
        .arg("-o")
        .arg(&plan)
        .args(["--resect", "RB1", "--fev1", "2.5", "--json"])
        .args(["--nodule", "-85,81,-8.5"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let p: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let resected = p["resection"]["volume_ml"].as_f64().unwrap();
    assert!(
        resected > 50.0 && resected < 0.5 * (right + left),
        "RB1 resects {resected} mL"
    );
    for f in [
        "report.json",
        "segments.seg.nrrd",
        "model/lungs.nii.gz",
        "model/model.json",
    ] {
        assert!(plan.join(f).is_file(), "{f}");
    }
}
