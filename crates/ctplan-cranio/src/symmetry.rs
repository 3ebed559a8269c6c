//! The skull's mid-sagittal plane: the plane of its left–right mirror symmetry.
//!
//! A skull is nearly mirror-symmetric about its mid-sagittal plane, so the intact side of a
//! one-sided defect (a parietotemporal one) shows what the missing side looked like. The plane
//! is found as the reflection that best maps the bone onto itself: it minimises the mean
//! distance (truncated at [`TRUNCATE_MM`], so that bone whose mirror image falls into a defect
//! or onto an asymmetric face counts no more than that) from each reflected bone point to the
//! nearest bone, the point-to-set distance of symmetry-plane registration (the "mirror and
//! register" approach: Liu, Collins and Tsai, IEEE TMI 20(3), 2001, on the mid-sagittal plane
//! of the head; Tuzikov, Colliot and Bloch, Pattern Recognition Letters 24, 2003, on its
//! symmetry measure). Distances come from the exact EDT of the bone on a coarse grid
//! (2 mm voxels), sampled trilinearly, and the three parameters (the normal's yaw and roll
//! away from the patient's left–right axis, and the plane's offset) are optimised by
//! Nelder–Mead (Nelder and Mead, The Computer Journal 7(4), 1965), starting from the
//! left–right axis through the bone's median left–right position: world coordinates are LPS,
//! so the patient's left–right axis is world x whatever the scan's orientation.

use ctplan_core::Mask;
use ctplan_core::edt::squared_edt;
use ctplan_core::geometry::Geometry;
use rayon::prelude::*;

/// Voxel size of the coarse grid the distances are computed on, mm.
const COARSE_MM: f64 = 2.0;
/// Distances are truncated at this value, mm.
pub const TRUNCATE_MM: f64 = 8.0;
/// Bone points whose reflections are scored (every k-th bone voxel).
const POINTS: usize = 20_000;

/// A plane `n · p = offset` (LPS mm, `n` a unit vector).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Plane {
    /// The unit normal `n`.
    pub normal: [f64; 3],
    /// The offset along the normal, mm.
    pub offset: f64,
    /// Mean truncated distance from a reflected bone point to the bone, mm (lower: more
    /// symmetric).
    pub mean_distance_mm: f64,
}

impl Plane {
    /// The mirror image of a point.
    pub fn reflect(&self, p: [f64; 3]) -> [f64; 3] {
        let s = self.normal.iter().zip(&p).map(|(n, x)| n * x).sum::<f64>() - self.offset;
        [0, 1, 2].map(|a| p[a] - 2.0 * s * self.normal[a])
    }
}

/// The normal of yaw `a` (about superior) and roll `b` (towards superior) from world x.
fn normal(a: f64, b: f64) -> [f64; 3] {
    [a.cos() * b.cos(), a.sin() * b.cos(), b.sin()]
}

/// The mid-sagittal plane of a skull mask; `None` for an empty mask.
pub fn mid_sagittal_plane(mask: &Mask) -> Option<Plane> {
    let bone: Vec<usize> = (mask.data.par_iter().enumerate())
        .filter(|(_, v)| **v != 0)
        .map(|(i, _)| i)
        .collect();
    mid_sagittal_plane_of(mask, &bone)
}

/// [`mid_sagittal_plane`] of the mask whose set voxels are `bone` (their indices, in order).
pub fn mid_sagittal_plane_of(mask: &Mask, bone: &[usize]) -> Option<Plane> {
    let g = mask.geometry;
    let [nx, ny, _] = mask.dims;
    // The coarse grid: blocks of k voxels per axis, a block is bone if any voxel is.
    let k = g.spacing.map(|s| ((COARSE_MM / s).round() as usize).max(1));
    let cd = [0, 1, 2].map(|a| mask.dims[a].div_ceil(k[a]));
    let mut coarse = vec![0u8; cd[0] * cd[1] * cd[2]];
    for &i in bone {
        let (x, y, z) = (i % nx, (i / nx) % ny, i / (nx * ny));
        coarse[x / k[0] + cd[0] * (y / k[1] + cd[1] * (z / k[2]))] = 1;
    }
    if bone.is_empty() {
        return None;
    }
    let cs = [0, 1, 2].map(|a| g.spacing[a] * k[a] as f64);
    let d2 = squared_edt(&coarse, cd, cs);
    let dist: Vec<f32> = d2
        .iter()
        .map(|&v| v.sqrt().min(TRUNCATE_MM as f32))
        .collect();
    // Centre of coarse voxel (0, 0, 0) in fine index units, and the coarse grid's geometry.
    let axes = g.index_to_world_matrix();
    let cg = Geometry::from_axis_vectors(
        [0, 1, 2].map(|c| [0, 1, 2].map(|r| axes[r][c] * k[c] as f64)),
        g.index_to_world(k.map(|kk| (kk as f64 - 1.0) / 2.0)),
    )?;
    let sample = |p: [f64; 3]| -> f64 {
        let Some(q) = cg.world_to_index(p) else {
            return TRUNCATE_MM;
        };
        if (0..3).any(|a| q[a] < 0.0 || q[a] > (cd[a] - 1) as f64) {
            return TRUNCATE_MM;
        }
        let i0 = q.map(|v| v.floor() as usize);
        let f = [0, 1, 2].map(|a| q[a] - i0[a] as f64);
        let mut acc = 0.0;
        for c in 0..8 {
            let o = [c & 1, (c >> 1) & 1, (c >> 2) & 1];
            let ix = [0, 1, 2].map(|a| (i0[a] + o[a]).min(cd[a] - 1));
            let w: f64 = (0..3)
                .map(|a| if o[a] == 1 { f[a] } else { 1.0 - f[a] })
                .product();
            acc += w * dist[ix[0] + cd[0] * (ix[1] + cd[1] * ix[2])] as f64;
        }
        acc
    };
    let step = bone.len().div_ceil(POINTS).max(1);
    let pts: Vec<[f64; 3]> = bone
        .iter()
        .step_by(step)
        .map(|&i| mask.world_of(i))
        .collect();
    let mut xs: Vec<f64> = pts.iter().map(|p| p[0]).collect();
    xs.sort_by(f64::total_cmp);
    let x0 = xs[xs.len() / 2];
    let cost = |q: &[f64; 3]| -> f64 {
        let plane = Plane {
            normal: normal(q[0], q[1]),
            offset: q[2],
            mean_distance_mm: 0.0,
        };
        pts.par_iter()
            .map(|&p| sample(plane.reflect(p)))
            .sum::<f64>()
            / pts.len() as f64
    };
    let (q, c) = nelder_mead(cost, [0.0, 0.0, x0], [0.05, 0.05, 4.0], 300);
    Some(Plane {
        normal: normal(q[0], q[1]),
        offset: q[2],
        mean_distance_mm: c,
    })
}

/// Minimise `f` over three parameters from `x0` with initial steps `step` by the Nelder–Mead
/// simplex method (reflection 1, expansion 2, contraction ½, shrink ½), at most `iters`
/// iterations; returns the best point and its value.
fn nelder_mead(
    f: impl Fn(&[f64; 3]) -> f64,
    x0: [f64; 3],
    step: [f64; 3],
    iters: usize,
) -> ([f64; 3], f64) {
    let mut s: Vec<([f64; 3], f64)> = (0..4)
        .map(|i| {
            let mut x = x0;
            if i > 0 {
                x[i - 1] += step[i - 1];
            }
            (x, f(&x))
        })
        .collect();
    let along = |a: &[f64; 3], b: &[f64; 3], t: f64| [0, 1, 2].map(|k| a[k] + t * (b[k] - a[k]));
    for _ in 0..iters {
        s.sort_by(|a, b| a.1.total_cmp(&b.1));
        if s[3].1 - s[0].1 < 1e-7 {
            break;
        }
        let c = [0, 1, 2].map(|k| (s[0].0[k] + s[1].0[k] + s[2].0[k]) / 3.0);
        let worst = s[3].0;
        let r = along(&c, &worst, -1.0);
        let fr = f(&r);
        if fr < s[0].1 {
            let e = along(&c, &worst, -2.0);
            let fe = f(&e);
            s[3] = if fe < fr { (e, fe) } else { (r, fr) };
        } else if fr < s[2].1 {
            s[3] = (r, fr);
        } else {
            let k = along(&c, &worst, 0.5);
            let fk = f(&k);
            if fk < s[3].1 {
                s[3] = (k, fk);
            } else {
                let best = s[0].0;
                for v in s.iter_mut().skip(1) {
                    v.0 = along(&best, &v.0, 0.5);
                    v.1 = f(&v.0);
                }
            }
        }
    }
    s.sort_by(|a, b| a.1.total_cmp(&b.1));
    (s[0].0, s[0].1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::phantom::{PhantomSpec, skull};

    #[test]
    fn nelder_mead_finds_the_minimum_of_a_quadratic() {
        let f =
            |q: &[f64; 3]| (q[0] - 0.3).powi(2) + 2.0 * (q[1] + 0.1).powi(2) + (q[2] - 5.0).powi(2);
        let (q, v) = nelder_mead(f, [0.0; 3], [0.1, 0.1, 1.0], 500);
        assert!(v < 1e-6, "{v}");
        for (a, b) in q.iter().zip([0.3, -0.1, 5.0]) {
            assert!((a - b).abs() < 2e-3, "{q:?}");
        }
    }

    #[test]
    fn a_reflection_is_its_own_inverse_and_keeps_the_plane() {
        let p = Plane {
            normal: normal(0.2, -0.1),
            offset: 3.0,
            mean_distance_mm: 0.0,
        };
        let x = [10.0, -4.0, 7.0];
        let back = p.reflect(p.reflect(x));
        assert!((0..3).all(|a| (back[a] - x[a]).abs() < 1e-9));
        let on = p.normal.map(|c| 3.0 * c);
        let r = p.reflect(on);
        assert!((0..3).all(|a| (r[a] - on[a]).abs() < 1e-9));
    }

    /// The phantom (an ellipsoidal vault, mirror-symmetric about its centre's sagittal plane)
    /// on a grid turned 6° about the superior axis and moved 4 mm to the left: the plane found
    /// from its defective skull (a defect on one side) is the phantom's, turned and moved.
    #[test]
    fn finds_the_mid_sagittal_plane_of_a_turned_and_moved_skull() {
        let spec = PhantomSpec::default();
        let mut m = skull(&spec).defective;
        let a = 6f64.to_radians();
        let rot = [
            [a.cos(), -a.sin(), 0.0],
            [a.sin(), a.cos(), 0.0],
            [0.0, 0.0, 1.0],
        ];
        let centre_idx = [
            (spec.dims[0] as f64 - 1.0) / 2.0,
            (spec.dims[1] as f64 - 1.0) / 2.0,
            (spec.dims[2] as f64 - 1.0) * 0.4,
        ];
        let moved = [4.0, 0.0, 0.0];
        let step = [0, 1, 2].map(|c| centre_idx[c] * spec.spacing[c]);
        let origin = [0, 1, 2].map(|r| moved[r] - (0..3).map(|c| rot[r][c] * step[c]).sum::<f64>());
        m.geometry = Geometry {
            spacing: spec.spacing,
            origin,
            direction: rot,
        };
        let p = mid_sagittal_plane(&m).unwrap();
        let want = [a.cos(), a.sin(), 0.0];
        let cos = (0..3).map(|i| p.normal[i] * want[i]).sum::<f64>();
        assert!(cos.acos().to_degrees() < 0.5, "{p:?}");
        let offset_want = (0..3).map(|i| p.normal[i] * moved[i]).sum::<f64>();
        assert!((p.offset - offset_want).abs() < 0.5, "{p:?}");
        assert!(p.mean_distance_mm < 1.0, "{p:?}");
    }
}
