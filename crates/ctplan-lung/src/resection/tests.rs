//! Resections on a small synthetic anatomy built here (no data needed): a 30 × 10 × 10 mm block
//! of right lung cut along x into RS1 (x < 10), RS2 (10 ≤ x < 20) and RS3 (x ≥ 20, fed by
//! branch 3 for x < 25 and by its child, branch 4, beyond), with a 2 × 2 × 2 mm nodule at
//! x = 7–8, 2 mm from RS2.

use ctplan_core::{Geometry, Mask, Volume, grid};

use super::function::{ppo_fev1_count, ppo_fev1_volume, segments_counted};
use super::margin::{MarginOption, smallest_sufficient};
use super::*;
use crate::airway::BranchId;
use crate::airway::names::{Name, Naming, SEGMENTS, segment_index};
use crate::airway::tree::{Branch, Tree};
use crate::model::anatomy::Anatomy;
use crate::model::{Model, Nodule};
use crate::territory::RIGHT;

const DIMS: [usize; 3] = [30, 10, 10];

fn branch(parent: Option<usize>, children: Vec<usize>, from: f64, to: f64) -> Branch {
    Branch {
        parent,
        children,
        voxels: vec![],
        points: vec![[from, 5.0, 12.0], [to, 5.0, 12.0]],
        length_mm: (to - from).abs(),
        diameter_mm: 2.0,
        generation: u32::from(parent.is_some()),
    }
}

/// The territory's feeding branch at x.
fn feeder(x: usize) -> usize {
    match x {
        0..10 => 1,
        10..20 => 2,
        20..25 => 3,
        _ => 4,
    }
}

pub(crate) fn synthetic_model() -> Model {
    let g = Geometry::new([1.0; 3], [0.0; 3]);
    let n = DIMS[0] * DIMS[1] * DIMS[2];
    let tree = Tree {
        branches: vec![
            branch(None, vec![1, 2, 3], 15.0, 15.0),
            branch(Some(0), vec![], 15.0, 5.0),
            branch(Some(0), vec![], 15.0, 15.0),
            branch(Some(0), vec![4], 15.0, 22.0),
            branch(Some(3), vec![], 22.0, 28.0),
        ],
        root: 0,
        warnings: vec![],
    };
    let seg = |name: &str| segment_index(name).unwrap();
    let mut primary = vec![None; SEGMENTS.len()];
    primary[seg("RS1").0] = Some(BranchId(1));
    primary[seg("RS2").0] = Some(BranchId(2));
    primary[seg("RS3").0] = Some(BranchId(3));
    let named = |name: &str| {
        Some(Name {
            name: name.into(),
            confidence: 1.0,
        })
    };
    let naming = Naming {
        names: vec![
            named("Trachea"),
            named("RB1"),
            named("RB2"),
            named("RB3"),
            None,
        ],
        segment_of: vec![
            None,
            Some(seg("RS1")),
            Some(seg("RS2")),
            Some(seg("RS3")),
            Some(seg("RS3")),
        ],
        primary,
        lobar: vec![None; 5],
        warnings: vec![],
    };
    let mut territory: Volume<u32> = Volume::zeros(DIMS, g);
    let mut branch_voxels = vec![0; 5];
    for v in 0..n {
        let b = feeder(grid::coords(DIMS, v)[0]);
        territory.data[v] = BranchId(b).label();
        branch_voxels[b] += 1;
    }
    let mut side: Volume<u8> = Volume::zeros(DIMS, g);
    side.data.fill(RIGHT);
    let voxels: Vec<usize> = (0..n)
        .filter(|&v| {
            let c = grid::coords(DIMS, v);
            (7..9).contains(&c[0]) && (4..6).contains(&c[1]) && (4..6).contains(&c[2])
        })
        .collect();
    let nodule = Nodule {
        centroid: [7.5, 4.5, 4.5],
        diameter_mm: 3f64.sqrt() + 1.0,
        volume_ml: voxels.len() as f64 * 0.001,
        voxels,
    };
    Model {
        anatomy: Anatomy {
            airway: Mask::zeros(DIMS, g),
            lungs: None,
            vessels: None,
            arteries: None,
            veins: None,
            nodules: None,
            fissures: None,
            sources: vec![],
            warnings: vec![],
        },
        tree,
        naming,
        side: Some(side),
        territory: Some(territory),
        branch_voxels,
        nodules: vec![nodule],
        vessel_centreline: vec![],
        voxel_ml: 0.001,
        warnings: vec![],
        derived: Default::default(),
    }
}

fn plan(targets: &[&str], margin: Margin) -> ResectionReport {
    let model = synthetic_model();
    let targets: Vec<Target> = targets
        .iter()
        .map(|t| Target::Name(t.to_string()))
        .collect();
    resect(&model, &targets, Some(2.5), margin).unwrap().0
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

#[test]
fn ppo_fev1_by_counting_and_by_volume() {
    // RS1: one of 19 segments, and 1 of the 3 mL of lung.
    let r = plan(&["RS1"], Margin::Mm(5.0));
    assert_eq!(r.segments, ["RS1"]);
    assert!(close(r.segments_counted, 1.0));
    assert!(close(r.volume_ml, 1.0) && close(r.remaining_ml, 2.0));
    assert!(close(r.ppo_fev1_count.unwrap(), 2.5 * 18.0 / 19.0));
    assert!(close(r.ppo_fev1_volume.unwrap(), 2.5 * 2.0 / 3.0));
    assert_eq!(r.stain_bronchi, ["RB1"]);
    // Without FEV1 no prediction.
    let model = synthetic_model();
    let (r, _) = resect(&model, &[Target::Name("RS1".into())], None, Margin::Mm(5.0)).unwrap();
    assert_eq!(r.ppo_fev1_count, None);
    assert_eq!(r.ppo_fev1_volume, None);
}

#[test]
fn a_segment_resected_in_part_counts_by_its_volume_fraction() {
    // Branch 4 feeds half of RS3.
    let r = plan(&["#4"], Margin::Mm(5.0));
    assert_eq!(r.segments, ["RS3 (50%)"]);
    assert!(close(r.segments_counted, 0.5));
    assert!(close(r.ppo_fev1_count.unwrap(), 2.5 * (1.0 - 0.5 / 19.0)));
    assert!(close(r.ppo_fev1_volume.unwrap(), 2.5 * (1.0 - 0.5 / 3.0)));
    // The segment's bronchus is stained even for a partial resection.
    assert_eq!(r.stain_bronchi, ["RB3"]);
}

#[test]
fn counting_gives_ls1_2_two_units_and_caps_a_fraction_at_one() {
    let mut resected = vec![0.0; SEGMENTS.len()];
    let mut volumes = vec![10.0; SEGMENTS.len()];
    let ls12 = segment_index("LS1+2").unwrap().0;
    resected[ls12] = 10.0;
    let (counted, names) = segments_counted(&resected, &volumes);
    assert!(close(counted, 2.0));
    assert_eq!(names, ["LS1+2"]);
    // More resected than the segment holds (rounding of territories) counts as the whole.
    volumes[ls12] = 5.0;
    assert!(close(segments_counted(&resected, &volumes).0, 2.0));
    assert!(close(ppo_fev1_count(1.9, 2.0), 1.7));
    assert!(close(ppo_fev1_volume(2.0, 0.0, 0.0), 2.0));
}

#[test]
fn margin_falls_short_and_the_neighbour_restores_it() {
    let r = plan(&["RS1"], Margin::Mm(5.0));
    assert!(close(r.margin_required_mm.unwrap(), 5.0));
    // The nodule's last voxel (x = 8) to RS2's first (x = 10).
    assert!(close(r.margin_mm.unwrap(), 2.0));
    assert!(close(r.margin_ratio.unwrap(), 2.0 / (3f64.sqrt() + 1.0)));
    assert_eq!(r.margin_ok, Some(false));
    // Only RS2 lies within 5 mm; with it the margin reaches RS3 (x = 20, 12 mm).
    assert_eq!(r.margin_options.len(), 1);
    let o = &r.margin_options[0];
    assert_eq!(o.add, ["RS2"]);
    assert!(o.ok && close(o.margin_mm, 12.0) && close(o.volume_ml, 2.0));
    assert_eq!(r.extend_with, ["RS2"]);
}

#[test]
fn extensions_are_tried_alone_in_pairs_and_the_smallest_sufficient_wins() {
    // 13 mm reaches into RS2 and RS3: neither alone suffices, both together do.
    let r = plan(&["RS1"], Margin::Mm(13.0));
    let adds: Vec<_> = r.margin_options.iter().map(|o| o.add.clone()).collect();
    assert_eq!(adds, [vec!["RS2"], vec!["RS3"], vec!["RS2", "RS3"]]);
    assert_eq!(
        r.margin_options.iter().map(|o| o.ok).collect::<Vec<_>>(),
        [false, false, true]
    );
    assert_eq!(r.extend_with, ["RS2", "RS3"]);
    // Nothing kept within the crop: the margin is the crop radius (required + 10 mm).
    assert!(close(r.margin_options[2].margin_mm, 23.0));
}

#[test]
fn a_ratio_margin_scales_with_the_nodule_and_a_sufficient_one_explores_nothing() {
    let d = 3f64.sqrt() + 1.0;
    let r = plan(&["RS1", "RS2"], Margin::Ratio(2.0));
    assert!(close(r.margin_required_mm.unwrap(), 2.0 * d));
    assert!(close(r.margin_mm.unwrap(), 12.0));
    assert_eq!(r.margin_ok, Some(true));
    assert!(r.margin_options.is_empty() && r.extend_with.is_empty());
    assert_eq!(r.targets, ["RS1", "RS2"]);
}

#[test]
fn ties_in_volume_go_to_the_first_option_at_the_reported_precision() {
    let o = |add: &str, ok: bool, volume_ml: f64| MarginOption {
        add: vec![add.to_string()],
        margin_mm: 10.0,
        margin_ratio: 1.0,
        ok,
        volume_ml,
    };
    let options = [
        o("RS2", true, 2.001),
        o("RS3", true, 2.0),
        o("RS4", false, 1.0),
    ];
    assert_eq!(smallest_sufficient(&options), ["RS2"]);
    assert!(smallest_sufficient(&options[2..]).is_empty());
}

#[test]
fn each_segment_alone_agrees_with_the_planned_resection() {
    let model = synthetic_model();
    let rows = each_segment(&model, Some(2.5), Margin::Mm(5.0));
    let names: Vec<_> = rows.iter().map(|r| r.segment.as_str()).collect();
    assert_eq!(names, ["RS1", "RS2", "RS3"]);
    let r = plan(&["RS1"], Margin::Mm(5.0));
    assert_eq!(rows[0].margin_mm, r.margin_mm);
    assert_eq!(rows[0].volume_ml, r.volume_ml);
    assert!(close(rows[2].volume_ml, 1.0));
}

#[test]
fn targets_resolve_names_lobes_and_report_unknown_ones() {
    let model = synthetic_model();
    let (set, names) = targets::resolve(&model, &[Target::Name("RUL".into())]).unwrap();
    assert_eq!(
        set.iter().collect::<Vec<_>>(),
        (1..5).map(BranchId).collect::<Vec<_>>()
    );
    assert_eq!(names, ["RUL"]);
    let (set, _) = targets::resolve(&model, &[Target::Point([27.0, 5.0, 12.0])]).unwrap();
    assert_eq!(set.iter().collect::<Vec<_>>(), [BranchId(4)]);
    let e = targets::resolve(&model, &[Target::Name("RS7".into())]).unwrap_err();
    assert!(e.to_string().contains("not found"), "{e}");
    let e = targets::resolve(&model, &[Target::Name("#9".into())]).unwrap_err();
    assert!(e.to_string().contains("no branch #9"), "{e}");
}

#[test]
fn without_lungs_a_resection_is_refused() {
    let mut model = synthetic_model();
    model.territory = None;
    let e = resect(&model, &[Target::Name("RS1".into())], None, Margin::Mm(5.0)).unwrap_err();
    assert!(matches!(e, crate::error::LungError::NoLungs));
}
