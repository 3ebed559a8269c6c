//! The chest model's vessels on TotalSegmentator's `example_ct` (a 3 mm abdominal CT whose top
//! shows the lung bases), against TotalSegmentator's own `lung_vessels` output for it
//! (`example_seg_lung_vessels/`: `lung_arteries`, `lung_veins`, `lung_airways`), compared voxel
//! by voxel in world coordinates.
//!
//! The reference as stored covers only the scan's 30 lowest slices (z 94–181 mm, the abdomen)
//! and holds no voxel at all, while the lung bases lie at z 259–427 mm: the artery/vein
//! agreement on voxels both call vessel cannot be measured on it (no such voxel), nor an airway
//! Dice. The test says so, and fails if either fact changes (a corrected reference must then be
//! measured: agreement ≥ 80 % is asserted whenever there is a voxel to compare). The scan holds
//! no bronchial tree (its "trachea" is a 4 mL dark structure with no main bronchi), so the
//! model must report arteries and veins as not separated rather than guess.

use ctplan_core::Mask;
use ctplan_lung::segment::{hounsfield, model};

/// The reference label at the world position of our voxel `v`, 0 outside its field.
fn at(reference: &Mask, ours: &Mask, v: usize) -> u8 {
    let p = ours.world_of(v);
    let Some(i) = reference.geometry.world_to_index(p) else {
        return 0;
    };
    let c = i.map(|x| x.round());
    if (0..3).any(|a| c[a] < 0.0 || c[a] >= reference.dims[a] as f64) {
        return 0;
    }
    reference.data[reference.index(c[0] as usize, c[1] as usize, c[2] as usize)]
}

#[test]
fn example_ct_vessels_against_totalsegmentator() {
    let Some(dir) = ctplan_testdata::data_file("lung/totalsegmentator") else {
        return;
    };
    let ct = hounsfield(
        &ctplan_io::read(&dir.join("example_ct.nii.gz"))
            .unwrap()
            .volume,
    );
    let ctplan_lung::segment::Built {
        chest: m,
        summary: s,
        ..
    } = model(&ct, &[], &mut |_| {}).unwrap();
    let refs = |n: &str| {
        ctplan_io::read_mask(&dir.join(format!("example_seg_lung_vessels/{n}.nii.gz"))).unwrap()
    };
    let (arteries, veins, airways) = (
        refs("lung_arteries"),
        refs("lung_veins"),
        refs("lung_airways"),
    );
    let v = &m.vessels;
    let (mut both, mut agree) = (0usize, 0usize);
    for p in (0..v.mask.data.len()).filter(|&p| v.mask.data[p] != 0) {
        let (ra, rv) = (at(&arteries, &v.mask, p), at(&veins, &v.mask, p));
        if ra | rv != 0 {
            both += 1;
            agree += ((ra != 0 && v.arteries.data[p] != 0) || (rv != 0 && v.veins.data[p] != 0))
                as usize;
        }
    }
    if both > 0 {
        let a = agree as f64 / both as f64;
        assert!(a >= 0.8, "artery/vein agreement {a:.3} on {both} voxels");
    }
    // What the stored reference holds (see the module's comment).
    let reference_voxels =
        arteries.count_nonzero() + veins.count_nonzero() + airways.count_nonzero();
    assert_eq!(reference_voxels, 0, "the reference is no longer empty");
    assert_eq!(both, 0);
    // Our airway inside the reference's field (where a Dice could be taken): empty too.
    let airway_in_field = (0..m.airway.mask.data.len())
        .filter(|&p| m.airway.mask.data[p] != 0)
        .filter(|&p| {
            let c = airways
                .geometry
                .world_to_index(m.airway.mask.world_of(p))
                .unwrap();
            (0..3).all(|a| c[a].round() >= 0.0 && c[a].round() < airways.dims[a] as f64)
        })
        .count();
    assert_eq!(airway_in_field, 0);
    // The lung bases hold vessels, a small share of them; with no bronchial tree, arteries
    // and veins are said to be inseparable, not guessed.
    let lung_ml = s.right_lung_ml + s.left_lung_ml;
    assert!(
        s.vessels.volume_ml > 1.0 && s.vessels.volume_ml < 0.2 * lung_ml,
        "{:?}, lungs {lung_ml} mL",
        s.vessels
    );
    assert!(!s.vessels.separable, "{:?}", s.vessels);
    assert_eq!(s.vessels.unlabelled_fraction, 1.0);
    assert_eq!(v.arteries.count_nonzero() + v.veins.count_nonzero(), 0);
}
