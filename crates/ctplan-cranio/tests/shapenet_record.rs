//! The shipped network gives the validation scores its training record names.
//!
//! `training/shapenet.py export` measured, for the SkullFix defect of each validation case, the
//! mean distance (mm) between the complete skull and the design's fill across the rebuilt
//! region, without and with the network's correction, and wrote both into the weights' metadata
//! (`validation_skullfix_l1_mm`; also `assets/skull_net.json`). Here the same numbers are
//! recomputed from the SkullFix training set with the Rust planner and the Rust forward pass:
//! the samples are planned with the shipped prior without the case (as the training samples
//! were), so a change of the design, of the prior or of the network breaks the record.

use ctplan_cranio::design::DesignOptions;
use ctplan_cranio::learned::map_net::{IN_CHANNELS, NET_N};
use ctplan_cranio::learned::{ShapeNet, learning_sample};
use ctplan_cranio::shape::ShapePrior;

/// Mean L1 over rebuilt-region bins with a trend and a known answer: (fill alone, corrected),
/// as `region_l1` in training/shapenet.py.
fn region_l1(net: &ShapeNet, sample: &[f32]) -> (f64, f64) {
    let nn = NET_N * NET_N;
    let raw = &sample[..IN_CHANNELS * nn];
    let target = &sample[IN_CHANNELS * nn..];
    let pred = net.predict(raw);
    let (mut fill, mut corrected, mut count) = (0.0, 0.0, 0.0);
    for k in 0..nn {
        let used = target[2 * nn + k] > 0.5 && raw[nn + k] > 0.5 && raw[6 * nn + k] > 0.5;
        if !used {
            continue;
        }
        for c in 0..2 {
            let t = target[c * nn + k] as f64;
            fill += t.abs();
            corrected += (pred[c][k] as f64 - t).abs();
        }
        count += 2.0;
    }
    (fill / count, corrected / count)
}

#[test]
fn shipped_network_gives_its_recorded_validation_scores() {
    let Some(dir) = ctplan_testdata::data_dir() else {
        return;
    };
    let set = dir.join("skullfix/training_set");
    let net = ShapeNet::shipped();
    let record: serde_json::Value =
        serde_json::from_str(&net.metadata["validation_skullfix_l1_mm"]).unwrap();
    let record = record.as_object().unwrap();
    assert!(!record.is_empty(), "the record names no validation case");
    let o = DesignOptions::default();
    let mut gain = 0.0;
    for (case, want) in record {
        let prior = ShapePrior::shipped().without(&[case.as_str()]);
        let read =
            |sub: &str| ctplan_io::read_mask(&set.join(sub).join(format!("{case}.nrrd"))).unwrap();
        let sample = learning_sample(
            &read("defective_skull"),
            &read("complete_skull"),
            &prior,
            &o,
        )
        .unwrap_or_else(|e| panic!("{case}: {e}"));
        let (fill, corrected) = region_l1(net, &sample);
        let (wf, wc) = (want[0].as_f64().unwrap(), want[1].as_f64().unwrap());
        eprintln!(
            "{case}: fill {fill:.4} mm (record {wf}), corrected {corrected:.4} mm (record {wc})"
        );
        // The record rounds to 1e-4 mm; PyTorch sums in f32.
        assert!((fill - wf).abs() < 1e-3, "{case}: fill {fill} vs {wf}");
        assert!(
            (corrected - wc).abs() < 1e-3,
            "{case}: corrected {corrected} vs {wc}"
        );
        gain += fill - corrected;
    }
    assert!(
        gain > 0.0,
        "the network does not improve the fill on its validation cases"
    );
}
