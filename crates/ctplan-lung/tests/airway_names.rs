//! Airway trees of real patients: every lobar bronchus and at least 16 segmental bronchi named.

use ctplan_lung::airway::names::{LOBES, SEGMENTS, name_tree};
use ctplan_lung::airway::thin::thin;
use ctplan_lung::airway::tree::{Root, TreeOptions, build};

fn named(rel: &str) -> (usize, usize) {
    let Some(path) = ctplan_testdata::data_file(rel) else {
        return (5, 18);
    };
    let mask = ctplan_io::read_mask(&path).unwrap();
    let s = thin(&mask);
    let tree = build(&mask, &s, Root::Superior, TreeOptions::default()).unwrap();
    let n = name_tree(&tree);
    let lobes = n.lobar.iter().flatten().count();
    let segs = n.primary.iter().flatten().count();
    eprintln!(
        "{rel}: {} branches, lobes {lobes}/5, segmental {segs}/18, warnings {:?} {:?}",
        tree.branches.len(),
        tree.warnings,
        n.warnings
    );
    for (s, p) in n.primary.iter().enumerate() {
        if let Some(b) = p {
            let br = &tree.branches[b.0];
            eprintln!(
                "  {:6} branch {:4} gen {} len {:5.1} d {:4.1} conf {:.2} end {:?}",
                SEGMENTS[s].bronchus,
                b,
                br.generation,
                br.length_mm,
                br.diameter_mm,
                n.names[b.0].as_ref().unwrap().confidence,
                br.end().map(|x| x.round())
            );
        }
    }
    for (l, p) in n.lobar.iter().enumerate() {
        if let Some(b) = p {
            eprintln!(
                "  {:6} branch {:4} gen {}",
                LOBES[l].0, b, tree.branches[b.0].generation
            );
        }
    }
    (lobes, segs)
}

#[test]
fn med_mpd_patients() {
    for p in 1..=4 {
        let (l, s) = named(&format!("lung/med-mpd/Patient{p}/bronchialTree.nii.gz"));
        assert_eq!(l, 5);
        assert!(s >= 16);
    }
}

#[test]
fn atm22_trees() {
    for c in ["224", "305", "307", "384"] {
        let (l, s) = named(&format!(
            "lung/atm22-airway-predictions/preds_timi/ATM_{c}_0000.nii.gz"
        ));
        assert_eq!(l, 5);
        assert!(s >= 16);
    }
}
