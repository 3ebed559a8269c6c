//! The curve skeleton of real airway trees, voxel for voxel against scikit-image 0.26
//! `skimage.morphology.skeletonize` (the reference: tests/reference/skeleton_reference.py).

use std::path::Path;
use std::process::Command;

use ctplan_lung::airway::thin::thin;
use sha2::{Digest, Sha256};

fn check(rel: &str) {
    let (Some(data), Some(py)) = (ctplan_testdata::data_dir(), ctplan_testdata::python()) else {
        return;
    };
    let path = data.join(rel);
    let mask = ctplan_io::read_mask(&path).unwrap();
    let s = thin(&mask);
    let script = ctplan_testdata::workspace_root().join("tests/reference/skeleton_reference.py");
    let out = Command::new(&py).arg(&script).arg(&path).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let ours: String = Sha256::digest(&s.data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(
        s.count_nonzero() as u64,
        r["count"].as_u64().unwrap(),
        "{rel}: skeleton size"
    );
    assert_eq!(
        ours,
        r["sha256"].as_str().unwrap(),
        "{rel}: skeleton voxels differ"
    );
    assert!(Path::new(&path).exists());
}

#[test]
fn med_mpd_airway_skeleton_matches_scikit_image() {
    check("lung/med-mpd/Patient1/bronchialTree.nii.gz");
}

#[test]
fn atm22_airway_skeleton_matches_scikit_image() {
    check("lung/atm22-airway-predictions/preds_timi/ATM_305_0000.nii.gz");
}
