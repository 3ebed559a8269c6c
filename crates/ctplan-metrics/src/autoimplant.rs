//! The AutoImplant metrics of one case: DSC, border DSC, HD, HD95 and ASSD.
//!
//! The result equals the full-grid computation with `scipy.ndimage.distance_transform_edt`, but
//! every distance transform runs on a crop: distances between surfaces only need the box that
//! holds both implants (the nearest surface voxel of B lies inside B's bounding box), and the
//! 10 mm band only needs that box grown by 10 mm (a defective voxel within 10 mm of an implant
//! voxel lies within it). Surfaces are taken on the full grid's terms: a crop grown by one voxel
//! sees every face neighbour, and voxels on the array border stay surface.

use ctplan_core::crop::{BoundingBox, bounding_box, crop, margin_voxels};
use ctplan_core::edt::squared_edt;
use ctplan_core::morphology::surface;
use ctplan_core::{CoreError, Mask};
use serde::Serialize;

/// Units of the border band width.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BandUnits {
    /// Millimetres, with the file's voxel spacing (the official reading).
    Mm,
    /// Voxels: distances in index units, ignoring spacing.
    Voxel,
}

/// Evaluation options.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EvalOptions {
    /// Border band width for bDSC (10 in the challenge).
    pub band: f64,
    /// Units of `band`.
    pub band_units: BandUnits,
}

impl Default for EvalOptions {
    fn default() -> Self {
        EvalOptions {
            band: 10.0,
            band_units: BandUnits::Mm,
        }
    }
}

/// Whether the case could be measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CaseStatus {
    /// Both masks have voxels: every metric is defined.
    Ok,
    /// The prediction is empty (a failed case: DSC = bDSC = 0, no distances).
    EmptyPrediction,
    /// The truth is empty (no distances).
    EmptyTruth,
    /// Both are empty (DSC 0 by the challenge's convention, no distances).
    BothEmpty,
}

/// Metrics of one case. Distances are in mm; they are `None` when a mask is empty (a failure).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CaseMetrics {
    /// Dice similarity coefficient 2|A∩B| / (|A| + |B|).
    pub dsc: f64,
    /// Border DSC: the DSC inside the band around the defective skull.
    pub bdsc: f64,
    /// Hausdorff distance, mm.
    pub hd: Option<f64>,
    /// 95th-percentile Hausdorff distance, mm (both directions pooled).
    pub hd95: Option<f64>,
    /// Average symmetric surface distance, mm.
    pub assd: Option<f64>,
    /// Whether the case could be measured.
    pub status: CaseStatus,
    /// Foreground voxels of the prediction.
    pub pred_voxels: usize,
    /// Foreground voxels of the truth.
    pub truth_voxels: usize,
}

fn dice(a: usize, b: usize, both: usize) -> f64 {
    if a + b == 0 {
        0.0
    } else {
        2.0 * both as f64 / (a + b) as f64
    }
}

/// Overlap counts (|A|, |B|, |A∩B|) over a box, optionally only where `keep` is set.
fn overlap(
    pred: &Mask,
    truth: &Mask,
    bbox: &BoundingBox,
    keep: Option<&[bool]>,
) -> (usize, usize, usize) {
    let (mut a, mut b, mut ab) = (0, 0, 0);
    let mut n = 0;
    for k in bbox.start[2]..bbox.end[2] {
        for j in bbox.start[1]..bbox.end[1] {
            let base = pred.index(0, j, k);
            for i in bbox.start[0]..bbox.end[0] {
                let (p, t) = (pred.data[base + i] != 0, truth.data[base + i] != 0);
                let kept = keep.is_none_or(|m| m[n]);
                n += 1;
                if !kept {
                    continue;
                }
                a += p as usize;
                b += t as usize;
                ab += (p && t) as usize;
            }
        }
    }
    (a, b, ab)
}

/// Evaluate a predicted implant against the true one, with the defective skull for the border
/// band. All three must be on the same grid.
pub fn evaluate(
    pred: &Mask,
    truth: &Mask,
    defective: &Mask,
    opts: &EvalOptions,
) -> Result<CaseMetrics, CoreError> {
    pred.check_same_grid(truth, 1e-4)?;
    pred.check_same_grid(defective, 1e-4)?;
    let dims = pred.dims;
    let (pb, tb) = (bounding_box(pred), bounding_box(truth));
    let (status, union) = match (pb, tb) {
        (Some(p), Some(t)) => (CaseStatus::Ok, Some(p.union(&t))),
        (None, Some(t)) => (CaseStatus::EmptyPrediction, Some(t)),
        (Some(p), None) => (CaseStatus::EmptyTruth, Some(p)),
        (None, None) => (CaseStatus::BothEmpty, None),
    };
    let Some(union) = union else {
        return Ok(CaseMetrics {
            dsc: 0.0,
            bdsc: 0.0,
            hd: None,
            hd95: None,
            assd: None,
            status,
            pred_voxels: 0,
            truth_voxels: 0,
        });
    };
    let (a, b, ab) = overlap(pred, truth, &union, None);
    let dsc = dice(a, b, ab);
    let bdsc = border_dice(pred, truth, defective, &union, opts);
    let (mut hd, mut hd95, mut assd) = (None, None, None);
    if status == CaseStatus::Ok {
        let d = surface_distances(pred, truth, &union.expand([1; 3], dims));
        hd = Some(d.ab.iter().chain(&d.ba).fold(0.0f64, |m, &x| m.max(x)));
        let mut pooled: Vec<f64> = d.ab.iter().chain(&d.ba).copied().collect();
        hd95 = Some(percentile(&mut pooled, 95.0));
        let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
        assd = Some(0.5 * (mean(&d.ab) + mean(&d.ba)));
    }
    Ok(CaseMetrics {
        dsc,
        bdsc,
        hd,
        hd95,
        assd,
        status,
        pred_voxels: a,
        truth_voxels: b,
    })
}

/// Directed surface distances in mm.
pub struct SurfaceDistances {
    /// From each surface voxel of the prediction to the truth's surface.
    pub ab: Vec<f64>,
    /// From each surface voxel of the truth to the prediction's surface.
    pub ba: Vec<f64>,
}

/// Surface distances between two non-empty masks, computed inside `bbox` (which must contain
/// both masks grown by one voxel, clipped to the grid).
pub fn surface_distances(a: &Mask, b: &Mask, bbox: &BoundingBox) -> SurfaceDistances {
    let sa = surface(&crop(a, bbox));
    let sb = surface(&crop(b, bbox));
    // Voxels on the crop border that are not on the array border are never foreground (the box
    // has a one-voxel margin), so `surface` on the crop equals surface on the full grid.
    let spacing = a.geometry.spacing;
    let directed = |from: &Mask, to: &Mask| -> Vec<f64> {
        let d2 = squared_edt(&to.data, to.dims, spacing);
        from.data
            .iter()
            .zip(d2.iter())
            .filter(|(f, _)| **f != 0)
            .map(|(_, &d)| (d as f64).sqrt())
            .collect()
    };
    SurfaceDistances {
        ab: directed(&sa, &sb),
        ba: directed(&sb, &sa),
    }
}

fn border_dice(
    pred: &Mask,
    truth: &Mask,
    defective: &Mask,
    union: &BoundingBox,
    opts: &EvalOptions,
) -> f64 {
    let spacing = match opts.band_units {
        BandUnits::Mm => defective.geometry.spacing,
        BandUnits::Voxel => [1.0; 3],
    };
    let margin = margin_voxels(opts.band, spacing).map(|m| m + 1);
    let outer = union.expand(margin, defective.dims);
    let def = crop(defective, &outer);
    let d2 = squared_edt(&def.data, def.dims, spacing);
    let band2 = opts.band * opts.band;
    // Keep-flags for the voxels of `union`, in its scan order.
    let ud = union.dims();
    let mut keep = Vec::with_capacity(ud[0] * ud[1] * ud[2]);
    for k in union.start[2]..union.end[2] {
        for j in union.start[1]..union.end[1] {
            for i in union.start[0]..union.end[0] {
                let idx = def.index(i - outer.start[0], j - outer.start[1], k - outer.start[2]);
                keep.push((d2[idx] as f64) <= band2);
            }
        }
    }
    let (a, b, ab) = overlap(pred, truth, union, Some(&keep));
    dice(a, b, ab)
}

/// The `q`-th percentile with linear interpolation between closest ranks (numpy's default).
/// Reorders `v`; `NaN` for an empty slice.
pub fn percentile(v: &mut [f64], q: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    let pos = q / 100.0 * (v.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let frac = pos - lo as f64;
    let (_, &mut x_lo, rest) = v.select_nth_unstable_by(lo, |a, b| a.total_cmp(b));
    if frac == 0.0 || rest.is_empty() {
        return x_lo;
    }
    let x_hi = rest.iter().copied().fold(f64::INFINITY, f64::min);
    x_lo + (x_hi - x_lo) * frac
}

#[cfg(test)]
mod tests {
    use super::*;
    use ctplan_core::edt::squared_edt;
    use ctplan_core::morphology::surface;
    use ctplan_core::{Geometry, grid, vec3};
    use proptest::prelude::*;

    fn random_mask(dims: [usize; 3], sp: [f64; 3], seed: u64, density: f64) -> Mask {
        let mut s = seed | 1;
        let n = dims[0] * dims[1] * dims[2];
        let data = (0..n)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                ((s % 1000) as f64 / 1000.0 < density) as u8
            })
            .collect();
        Mask::from_vec(dims, Geometry::new(sp, [0.0; 3]), data).unwrap()
    }

    /// Brute-force directed distances: every surface pair.
    fn brute_directed(a: &Mask, b: &Mask) -> Vec<f64> {
        let (sa, sb) = (surface(a), surface(b));
        let pts = |m: &Mask| -> Vec<[f64; 3]> {
            m.data
                .iter()
                .enumerate()
                .filter(|(_, v)| **v != 0)
                .map(|(i, _)| {
                    let (c, sp) = (grid::coords(m.dims, i), m.geometry.spacing);
                    [0, 1, 2].map(|a| c[a] as f64 * sp[a])
                })
                .collect()
        };
        let (pa, pb) = (pts(&sa), pts(&sb));
        pa.iter()
            .map(|p| {
                pb.iter()
                    .map(|q| vec3::dist(*p, *q))
                    .fold(f64::INFINITY, f64::min)
            })
            .collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]
        #[test]
        fn hd_and_hd95_match_brute_force(
            nx in 2usize..14, ny in 2usize..14, nz in 2usize..10,
            sx in 0.3f64..1.5, sy in 0.3f64..1.5, sz in 0.3f64..2.0,
            s1 in any::<u64>(), s2 in any::<u64>(), d1 in 0.05f64..0.6, d2 in 0.05f64..0.6,
        ) {
            let sp = [sx, sy, sz];
            let a = random_mask([nx, ny, nz], sp, s1, d1);
            let b = random_mask([nx, ny, nz], sp, s2, d2);
            let defective = random_mask([nx, ny, nz], sp, s1 ^ s2, 0.2);
            prop_assume!(a.count_nonzero() > 0 && b.count_nonzero() > 0);
            let m = evaluate(&a, &b, &defective, &EvalOptions::default()).unwrap();
            let ab = brute_directed(&a, &b);
            let ba = brute_directed(&b, &a);
            let hd = ab.iter().chain(&ba).fold(0.0f64, |x, &y| x.max(y));
            let mut pooled: Vec<f64> = ab.iter().chain(&ba).copied().collect();
            pooled.sort_by(f64::total_cmp);
            let pos = 0.95 * (pooled.len() - 1) as f64;
            let lo = pos.floor() as usize;
            let hi = (lo + 1).min(pooled.len() - 1);
            let hd95 = pooled[lo] + (pooled[hi] - pooled[lo]) * (pos - lo as f64);
            prop_assert!((m.hd.unwrap() - hd).abs() < 1e-5, "{} vs {}", m.hd.unwrap(), hd);
            prop_assert!((m.hd95.unwrap() - hd95).abs() < 1e-5);
            // DSC and bDSC against direct counting on the full grid.
            let band = squared_edt(&defective.data, defective.dims, sp);
            let (mut na, mut nb, mut nab, mut ba_, mut bb, mut bab) = (0, 0, 0, 0, 0, 0);
            for i in 0..a.data.len() {
                let (p, t) = (a.data[i] != 0, b.data[i] != 0);
                na += p as usize; nb += t as usize; nab += (p && t) as usize;
                if (band[i] as f64) <= 100.0 {
                    ba_ += p as usize; bb += t as usize; bab += (p && t) as usize;
                }
            }
            prop_assert!((m.dsc - 2.0 * nab as f64 / (na + nb) as f64).abs() < 1e-12);
            let want = if ba_ + bb == 0 { 0.0 } else { 2.0 * bab as f64 / (ba_ + bb) as f64 };
            prop_assert!((m.bdsc - want).abs() < 1e-12);
        }
    }

    #[test]
    fn percentile_matches_numpy() {
        // numpy.percentile([1, 2, 3, 4, 10], 95) = 8.8
        let mut v = vec![10.0, 1.0, 3.0, 2.0, 4.0];
        assert!((percentile(&mut v, 95.0) - 8.8).abs() < 1e-12);
        assert_eq!(percentile(&mut [5.0], 95.0), 5.0);
    }

    #[test]
    fn empty_masks_are_failures_not_crashes() {
        let g = Geometry::default();
        let empty = Mask::zeros([4, 4, 4], g);
        let mut one = empty.clone();
        one.data[21] = 1;
        let m = evaluate(&empty, &one, &one, &EvalOptions::default()).unwrap();
        assert_eq!(m.status, CaseStatus::EmptyPrediction);
        assert_eq!(m.dsc, 0.0);
        assert!(m.hd.is_none());
        let m = evaluate(&empty, &empty, &one, &EvalOptions::default()).unwrap();
        assert_eq!(m.status, CaseStatus::BothEmpty);
        assert_eq!(m.dsc, 0.0);
        let other = Mask::zeros([4, 4, 5], g);
        assert!(evaluate(&empty, &other, &one, &EvalOptions::default()).is_err());
    }

    #[test]
    fn identical_masks_are_perfect() {
        let a = random_mask([10, 9, 8], [0.4, 0.4, 1.0], 7, 0.3);
        let m = evaluate(&a, &a, &a, &EvalOptions::default()).unwrap();
        assert_eq!(
            (m.dsc, m.bdsc, m.hd, m.hd95, m.assd),
            (1.0, 1.0, Some(0.0), Some(0.0), Some(0.0))
        );
    }
}
