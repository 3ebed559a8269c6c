//! How close a chest model is to its truth: the metrics of the lung model's evaluation on the
//! phantom ([`crate::phantom`]) or on any CT with reference masks.
//!
//! Definitions (masks on one grid; a voxel is inside when non-zero):
//! - [`dsc`]: Dice similarity coefficient, 2|A∩B| / (|A| + |B|) (Dice 1945), 1 when both are
//!   empty. For the lungs, the nodule.
//! - [`tree_length_detected`]: ATM'22's *tree length detected* (TD): the fraction of the
//!   reference airway's centreline (its 3-D thinning, [`crate::airway::thin`]) that lies inside
//!   the prediction (Zhang et al. 2023, "Multi-site, Multi-domain Airway Tree Modeling",
//!   Medical Image Analysis 90:102957).
//! - [`branches_detected`]: ATM'22's *branches detected* (BD): the fraction of the reference's
//!   branches of which more than 80 % of the centreline lies inside the prediction (same
//!   paper), the branches as the planning's tree parses the reference centreline.
//! - [`leaked_volume`]: the predicted airway outside the reference dilated by one voxel (a
//!   ball of the largest spacing), as a fraction of the reference volume; the volume form of
//!   EXACT'09's leakage (Lo et al. 2012, "Extraction of airways from CT (EXACT'09)", IEEE TMI
//!   31(11):2093–2107), which counted leaks by inspection. The one-voxel margin keeps a lumen
//!   drawn a voxel wider than the reference from counting as leak.
//! - [`centreline_recall`]: for vessels, the fraction of the reference vessels' centreline
//!   (thinning as above) inside the predicted vessels: recall measured along the vessels, so
//!   that thin vessels count by length as much as thick ones by volume (as TD does for airways).
//! - [`border_distance`]: lobe borders against manual fissures: the mean distance (mm) from each
//!   voxel of the predicted borders between lobes (a lobe voxel with a 6-neighbour in another
//!   lobe) to the nearest fissure voxel (the average of the one-sided surface distance, as in
//!   lobe segmentation studies, e.g. van Rikxoort et al. 2010, "Automatic segmentation of
//!   pulmonary lobes robust against incomplete fissures", IEEE TMI 29(6):1286–1296).
//!
//! [`chest`] measures what a predicted anatomy has against the truth's: each further stage of
//! the model (vessels, nodules) is scored as soon as [`crate::segment::ChestModel::anatomy`]
//! carries its mask.

use ctplan_core::edt::distance_to;
use ctplan_core::grid::neighbours6;
use ctplan_core::morphology::dilate;
use ctplan_core::{Mask, Volume};
use serde::Serialize;

use crate::airway::thin::thin;
use crate::error::LungError;
use crate::model::anatomy::Anatomy;

fn same_grid<T: ctplan_core::Scalar, U: ctplan_core::Scalar>(
    a: &Volume<T>,
    b: &Volume<U>,
) -> Result<(), LungError> {
    a.check_same_grid(b, 1e-3)
        .map_err(|e| LungError::Anatomy(format!("evaluation: masks on different grids: {e}")))
}

/// Dice similarity coefficient of `a` and `b` (1 when both are empty).
pub fn dsc(a: &Mask, b: &Mask) -> Result<f64, LungError> {
    same_grid(a, b)?;
    let (mut both, mut na, mut nb) = (0usize, 0usize, 0usize);
    for (&x, &y) in a.data.iter().zip(&b.data) {
        let (x, y) = (x != 0, y != 0);
        both += (x && y) as usize;
        na += x as usize;
        nb += y as usize;
    }
    Ok(if na + nb == 0 {
        1.0
    } else {
        2.0 * both as f64 / (na + nb) as f64
    })
}

/// Whether voxel `v` of `reference`'s grid is inside `prediction`: the same voxel on the same
/// grid; on another grid, the prediction's voxel nearest to its centre (outside the
/// prediction's grid: not inside).
fn found(reference: &Mask, v: usize, prediction: &Mask, same: bool) -> bool {
    if same {
        return prediction.data[v] != 0;
    }
    prediction
        .nearest_voxel(reference.world_of(v))
        .is_some_and(|[i, j, k]| prediction.get(i, j, k) != 0)
}

/// Fraction of `voxels` (of `reference`'s grid) inside `prediction` (`None` when there are
/// none).
fn inside_fraction(
    reference: &Mask,
    voxels: impl Iterator<Item = usize>,
    prediction: &Mask,
) -> Option<f64> {
    let same = reference.check_same_grid(prediction, 1e-3).is_ok();
    let (mut n, mut hit) = (0usize, 0usize);
    for v in voxels {
        n += 1;
        hit += found(reference, v, prediction, same) as usize;
    }
    (n > 0).then(|| hit as f64 / n as f64)
}

/// The voxels of `m`.
fn voxels(m: &Mask) -> impl Iterator<Item = usize> + '_ {
    m.data
        .iter()
        .enumerate()
        .filter(|(_, x)| **x != 0)
        .map(|(v, _)| v)
}

/// ATM'22 tree length detected: the fraction of `reference`'s centreline inside `prediction`
/// (`None` when the reference has no centreline). The reference may be on a finer grid than
/// the prediction (the phantom's masks at their own resolution): its centreline is then
/// looked up voxel by voxel on the prediction's grid, so that branches too thin to survive
/// on the coarse grid still count as missed.
pub fn tree_length_detected(reference: &Mask, prediction: &Mask) -> Result<Option<f64>, LungError> {
    let skeleton = thin(reference);
    Ok(inside_fraction(&skeleton, voxels(&skeleton), prediction))
}

/// A branch counts as detected when more than this fraction of its centreline is inside the
/// prediction (ATM'22).
pub const BRANCH_DETECTED: f64 = 0.8;

/// ATM'22 branches detected: the fraction of `reference`'s branches (the planning's branch
/// tree of its centreline, [`crate::airway::tree::build`], rooted at the top) of which more
/// than [`BRANCH_DETECTED`] of the centreline is inside `prediction`; grids as for
/// [`tree_length_detected`]. `None` when the reference has no tree.
pub fn branches_detected(reference: &Mask, prediction: &Mask) -> Result<Option<f64>, LungError> {
    Ok(branches_of(reference, &thin(reference), prediction))
}

fn branches_of(reference: &Mask, skeleton: &Mask, prediction: &Mask) -> Option<f64> {
    use crate::airway::tree::{Root, TreeOptions, build};
    let tree = build(reference, skeleton, Root::Superior, TreeOptions::default())?;
    let n = tree.branches.len();
    let hit = tree
        .branches
        .iter()
        .filter(|b| {
            inside_fraction(reference, b.voxels.iter().copied(), prediction)
                .is_some_and(|f| f > BRANCH_DETECTED)
        })
        .count();
    (n > 0).then(|| hit as f64 / n as f64)
}

/// Vessel centreline recall: the fraction of `reference`'s centreline inside `prediction`
/// (`None` when the reference has no centreline); grids as for [`tree_length_detected`].
pub fn centreline_recall(reference: &Mask, prediction: &Mask) -> Result<Option<f64>, LungError> {
    tree_length_detected(reference, prediction)
}

/// Predicted voxels outside `reference` dilated by one voxel, as a fraction of the reference's
/// voxels (`None` for an empty reference).
pub fn leaked_volume(reference: &Mask, prediction: &Mask) -> Result<Option<f64>, LungError> {
    same_grid(reference, prediction)?;
    let n = reference.count_nonzero();
    if n == 0 {
        return Ok(None);
    }
    let r = reference
        .geometry
        .spacing
        .iter()
        .cloned()
        .fold(0.0, f64::max);
    let near = dilate(&reference.map(|v| (v != 0) as u8), r);
    let out = prediction
        .data
        .iter()
        .zip(&near.data)
        .filter(|&(&p, &d)| p != 0 && d == 0)
        .count();
    Ok(Some(out as f64 / n as f64))
}

/// Mean distance (mm) from the borders between the lobes of `lobes` (labels, 0 outside) to the
/// nearest voxel of `fissures`; `None` when there is no border or no fissure.
pub fn border_distance(lobes: &Volume<u8>, fissures: &Mask) -> Result<Option<f64>, LungError> {
    same_grid(lobes, fissures)?;
    if fissures.count_nonzero() == 0 {
        return Ok(None);
    }
    let d = distance_to(fissures);
    let (mut sum, mut n) = (0.0, 0usize);
    for (v, &l) in lobes.data.iter().enumerate() {
        if l != 0 && neighbours6(lobes.dims, v).any(|q| lobes.data[q] != 0 && lobes.data[q] != l) {
            sum += d.data[v] as f64;
            n += 1;
        }
    }
    Ok((n > 0).then(|| sum / n as f64))
}

/// The scores of a predicted chest anatomy against the truth; a score is `None` where the
/// prediction or the truth lacks the mask.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Scores {
    /// Both lungs (DSC).
    pub lungs_dsc: Option<f64>,
    /// The airway lumen (DSC).
    pub airway_dsc: f64,
    /// ATM'22 tree length detected.
    pub airway_tree_length: Option<f64>,
    /// ATM'22 branches detected.
    pub airway_branches: Option<f64>,
    /// Airway leaked volume (fraction of the reference).
    pub airway_leak: Option<f64>,
    /// Vessel centreline recall (all the predicted vessels: arteries, veins and the rest).
    pub vessel_recall: Option<f64>,
    /// Nodule DSC.
    pub nodule_dsc: Option<f64>,
}

/// Every vessel of `a`: its vessels not told apart, arteries and veins together (`None` when it
/// has none of them). A model hands the planning its arteries and veins apart from the rest.
fn all_vessels(a: &Anatomy) -> Option<Mask> {
    let masks: Vec<&Mask> = [&a.vessels, &a.arteries, &a.veins]
        .into_iter()
        .flatten()
        .collect();
    let mut out = (*masks.first()?).clone();
    for m in &masks[1..] {
        for (o, &x) in out.data.iter_mut().zip(&m.data) {
            *o |= x;
        }
    }
    Some(out)
}

/// Score `predicted` against `truth` (same grid), every metric whose masks both have; the
/// centreline metrics take their reference centrelines from `centrelines` (the truth at its
/// own, possibly finer, grid; or `truth` itself).
pub fn chest(
    truth: &Anatomy,
    centrelines: &Anatomy,
    predicted: &Anatomy,
) -> Result<Scores, LungError> {
    fn both<'a>(a: &'a Option<Mask>, b: &'a Option<Mask>) -> Option<(&'a Mask, &'a Mask)> {
        a.as_ref().zip(b.as_ref())
    }
    let skeleton = thin(&centrelines.airway);
    Ok(Scores {
        lungs_dsc: both(&truth.lungs, &predicted.lungs)
            .map(|(t, p)| dsc(t, p))
            .transpose()?,
        airway_dsc: dsc(&truth.airway, &predicted.airway)?,
        airway_tree_length: inside_fraction(&skeleton, voxels(&skeleton), &predicted.airway),
        airway_branches: branches_of(&centrelines.airway, &skeleton, &predicted.airway),
        airway_leak: leaked_volume(&truth.airway, &predicted.airway)?,
        vessel_recall: match (&centrelines.vessels, all_vessels(predicted)) {
            (Some(t), Some(p)) => centreline_recall(t, &p)?,
            _ => None,
        },
        nodule_dsc: both(&truth.nodules, &predicted.nodules)
            .map(|(t, p)| dsc(t, p))
            .transpose()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ctplan_core::Geometry;

    fn mask(dims: [usize; 3], f: impl Fn(usize, usize, usize) -> bool) -> Mask {
        let mut m = Mask::zeros(dims, Geometry::new([1.0; 3], [0.0; 3]));
        for k in 0..dims[2] {
            for j in 0..dims[1] {
                for i in 0..dims[0] {
                    let v = m.index(i, j, k);
                    m.data[v] = f(i, j, k) as u8;
                }
            }
        }
        m
    }

    #[test]
    fn dsc_of_overlapping_boxes() {
        // 10 and 10 voxels sharing 5: 2·5 / 20.
        let a = mask([20, 3, 3], |i, j, k| i < 10 && j == 1 && k == 1);
        let b = mask([20, 3, 3], |i, j, k| {
            (5..15).contains(&i) && j == 1 && k == 1
        });
        assert_eq!(dsc(&a, &b).unwrap(), 0.5);
        let e = mask([20, 3, 3], |_, _, _| false);
        assert_eq!(dsc(&e, &e).unwrap(), 1.0);
        assert_eq!(dsc(&a, &e).unwrap(), 0.0);
        assert!(dsc(&a, &mask([3, 3, 3], |_, _, _| false)).is_err());
    }

    #[test]
    fn tree_length_of_a_half_found_tube() {
        // A tube 3×3 wide along x from 2 to 41: its centreline runs along x; a prediction
        // holding x < 22 holds about half of it.
        let tube = mask([44, 5, 5], |i, j, k| {
            (2..42).contains(&i) && (1..4).contains(&j) && (1..4).contains(&k)
        });
        let skel = thin(&tube);
        let n = skel.count_nonzero();
        let half = mask([44, 5, 5], |i, _, _| i < 22);
        let inside = (0..skel.data.len())
            .filter(|&v| skel.data[v] != 0 && half.data[v] != 0)
            .count();
        let td = tree_length_detected(&tube, &half).unwrap().unwrap();
        assert_eq!(td, inside as f64 / n as f64);
        assert!((td - 0.5).abs() < 0.1, "{td} ({inside}/{n})");
        assert_eq!(tree_length_detected(&tube, &tube).unwrap(), Some(1.0));
        let none = mask([44, 5, 5], |_, _, _| false);
        assert_eq!(tree_length_detected(&none, &tube).unwrap(), None);
        assert_eq!(centreline_recall(&tube, &none).unwrap(), Some(0.0));
        // The same prediction on a grid twice as coarse (2 mm voxels whose centres are at
        // fine 0.5, 2.5, …): each fine centreline voxel looked up at its nearest coarse voxel.
        let mut coarse = Mask::zeros([22, 3, 3], Geometry::new([2.0; 3], [0.5; 3]));
        for v in 0..coarse.data.len() {
            coarse.data[v] = (v % 22 < 11) as u8;
        }
        let td2 = tree_length_detected(&tube, &coarse).unwrap().unwrap();
        let by_hand = (0..skel.data.len())
            .filter(|&v| skel.data[v] != 0 && ((v % 44) as f64 - 0.5) / 2.0 < 10.5)
            .count();
        assert_eq!(td2, by_hand as f64 / n as f64);
    }

    #[test]
    fn branches_detected_of_a_bifurcation_half_found() {
        // A trachea dividing into two bronchi (tubes of radius 2.5 mm, 1 mm voxels); the
        // prediction holds the trachea and the bronchus at −x, and of the one at +x only its
        // first voxels: 2 of the 3 branches.
        use ctplan_core::vec3::{add, dist, dot, scale, sub};
        let (top, carina) = ([20.0, 6.0, 47.0], [20.0, 6.0, 25.0]);
        let tubes = [
            (top, carina),
            (carina, [6.0, 6.0, 4.0]),
            (carina, [34.0, 6.0, 4.0]),
        ];
        let reference = mask([40, 12, 50], |i, j, k| {
            let p = [i as f64, j as f64, k as f64];
            tubes.iter().any(|&(a, b)| {
                let t = (dot(sub(p, a), sub(b, a)) / dot(sub(b, a), sub(b, a))).clamp(0.0, 1.0);
                dist(p, add(a, scale(sub(b, a), t))) <= 2.5
            })
        });
        let skeleton = thin(&reference);
        let tree = crate::airway::tree::build(
            &reference,
            &skeleton,
            crate::airway::tree::Root::Superior,
            Default::default(),
        )
        .unwrap();
        assert_eq!(tree.branches.len(), 3);
        let prediction = mask([40, 12, 50], |i, _, k| i <= 21 || k >= 22);
        assert_eq!(
            branches_detected(&reference, &prediction).unwrap(),
            Some(2.0 / 3.0)
        );
        assert_eq!(
            branches_detected(&reference, &reference).unwrap(),
            Some(1.0)
        );
    }

    /// A model hands its vessels to the planning as arteries, veins and the rest apart: the
    /// recall counts all three.
    #[test]
    fn vessel_recall_counts_arteries_and_veins() {
        let dims = [44, 5, 5];
        let tube = mask(dims, |i, j, k| {
            (2..42).contains(&i) && (1..4).contains(&j) && (1..4).contains(&k)
        });
        let anatomy = |vessels, arteries, veins| Anatomy {
            airway: tube.clone(),
            lungs: None,
            vessels,
            arteries,
            veins,
            nodules: None,
            fissures: None,
            sources: Vec::new(),
            warnings: Vec::new(),
        };
        let truth = anatomy(Some(tube.clone()), None, None);
        let first = mask(dims, |i, _, _| i < 22);
        let second = mask(dims, |i, _, _| i >= 22);
        // Half as arteries, half as veins, nothing left "not told apart": all found.
        let split = anatomy(Some(mask(dims, |_, _, _| false)), Some(first), Some(second));
        let s = chest(&truth, &truth, &split).unwrap();
        assert_eq!(s.vessel_recall, Some(1.0));
        let none = anatomy(None, None, None);
        assert_eq!(chest(&truth, &truth, &none).unwrap().vessel_recall, None);
    }

    #[test]
    fn leak_counts_only_beyond_one_voxel() {
        // Reference: 10 voxels along x at y = z = 5. A prediction one voxel wider (y = 4..6)
        // leaks nothing; 6 voxels at y = 8 (3 away) leak 6/10.
        let r = mask([12, 12, 12], |i, j, k| {
            (1..11).contains(&i) && j == 5 && k == 5
        });
        let wide = mask([12, 12, 12], |i, j, k| {
            (1..11).contains(&i) && (4..7).contains(&j) && k == 5
        });
        assert_eq!(leaked_volume(&r, &wide).unwrap(), Some(0.0));
        let far = mask([12, 12, 12], |i, j, k| {
            ((1..11).contains(&i) && j == 5 && k == 5) || ((2..8).contains(&i) && j == 8 && k == 5)
        });
        assert_eq!(leaked_volume(&r, &far).unwrap(), Some(0.6));
    }

    #[test]
    fn border_distance_to_a_shifted_fissure() {
        // Lobes 1 (x < 10) and 2 (x ≥ 10) on 20×4×4: the border is the voxels at x = 9 and
        // x = 10 (32 voxels). Fissure plane at x = 12: distances 3 and 2, mean 2.5 mm.
        let mut lobes = Volume::<u8>::zeros([20, 4, 4], Geometry::new([1.0; 3], [0.0; 3]));
        for v in 0..lobes.data.len() {
            lobes.data[v] = if v % 20 < 10 { 1 } else { 2 };
        }
        let fissure = mask([20, 4, 4], |i, _, _| i == 12);
        assert_eq!(border_distance(&lobes, &fissure).unwrap(), Some(2.5));
        let on = mask([20, 4, 4], |i, _, _| i == 9 || i == 10);
        assert_eq!(border_distance(&lobes, &on).unwrap(), Some(0.0));
        let none = mask([20, 4, 4], |_, _, _| false);
        assert_eq!(border_distance(&lobes, &none).unwrap(), None);
    }
}
