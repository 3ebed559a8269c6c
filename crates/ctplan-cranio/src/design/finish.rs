//! Stage 5, finish (docs/cranio.md, method steps 8–10): the pieces kept, closed against the cut
//! edge, a sliver refused; the 3-D reshape where the map is unsure runs after it
//! ([`crate::design::Refiner`]).

use ctplan_core::Mask;
use ctplan_core::label::Connectivity;
use rayon::prelude::*;

use crate::design::options::DesignOptions;
use crate::error::DesignError;

/// Radius of the ball with which the implant is closed against the defective skull
/// ([`close_to_rim`]), mm: about two voxels in-plane on SkullFix's grid.
pub const RIM_CLOSING_MM: f64 = 1.0;

/// The implant with the narrow gaps between it and the defective skull filled: the voxels that
/// the closing of the completed skull (defective skull ∪ implant) by a ball of `radius_mm`
/// adds, within `radius_mm` of the implant. The fill of a defect comes from fields and
/// probabilities that meet the cut edge only to within a voxel or two, so slits and notches
/// are left where the implant should sit flush against the bone. Closing the completed skull,
/// then removing the defective skull, is the last step of the AutoImplant 2021 winner's
/// pipeline (the challenge's overview: Li et al., Medical Image Analysis 88, 2023); here only
/// voxels near the implant may join, so the skull's own sutures and foramina stay as they are.
/// Computed on the implant's bounding box grown by three radii (the closing looks two radii
/// around a voxel), with the distance transform ([`ctplan_core::morphology`]).
pub fn close_to_rim(implant: &Mask, defective: &Mask, radius_mm: f64) -> Mask {
    use ctplan_core::crop::{bounding_box, crop, margin_voxels, paste};
    let Some(bbox) = bounding_box(implant) else {
        return implant.clone();
    };
    let sp = implant.geometry.spacing;
    let step = sp.iter().cloned().fold(0.0, f64::max);
    let bbox = bbox.expand(margin_voxels(3.0 * radius_mm + step, sp), implant.dims);
    let p = crop(implant, &bbox);
    let s = crop(defective, &bbox);
    let both: Vec<u8> = (p.data.iter().zip(&s.data))
        .map(|(&a, &b)| (a != 0 || b != 0) as u8)
        .collect();
    // One distance transform gives the dilation of the completed skull (within the radius of
    // it); the erosion and the nearness to the implant are checked on the ball's offsets at
    // the few voxels that can join: outside the completed skull, within the dilation, with an
    // implant voxel in the ball. A ball that leaves the box is treated as reaching background,
    // as erosion treats the grid's outside; within the radius of the implant it only leaves
    // the box where the box meets the grid's edge.
    let [nx, ny, nz] = p.dims;
    let d2 = ctplan_core::edt::squared_edt(&both, p.dims, sp);
    let r2 = radius_mm * radius_mm * (1.0 + 1e-9);
    let in_dilation = |i: usize| d2[i] as f64 <= r2;
    let reach = sp.map(|s| (radius_mm / s).floor() as isize);
    let mut ball = Vec::new();
    for k in -reach[2]..=reach[2] {
        for j in -reach[1]..=reach[1] {
            for i in -reach[0]..=reach[0] {
                let d = [i, j, k].map(|v| v as f64);
                if (d[0] * sp[0]).powi(2) + (d[1] * sp[1]).powi(2) + (d[2] * sp[2]).powi(2) <= r2 {
                    ball.push((k * ny as isize + j) * nx as isize + i);
                }
            }
        }
    }
    let add: Vec<usize> = (0..nx * ny * nz)
        .into_par_iter()
        .filter(|&at| {
            let (x, y, z) = (at % nx, (at / nx) % ny, at / (nx * ny));
            let inside = [x, y, z]
                .iter()
                .zip([nx, ny, nz])
                .zip(reach)
                .all(|((&c, n), r)| c as isize >= r && (c as isize) < n as isize - r);
            both[at] == 0
                && in_dilation(at)
                && inside
                && ball
                    .iter()
                    .any(|&o| p.data[(at as isize + o) as usize] != 0)
                && ball
                    .iter()
                    .all(|&o| in_dilation((at as isize + o) as usize))
        })
        .collect();
    let mut out = p;
    for at in add {
        out.data[at] = 1;
    }
    let mut full = implant.clone();
    paste(&mut full, &out, &bbox);
    full
}

/// Components holding at least 10 % of the largest one's voxels (labelled within the mask's
/// bounding box: an implant fills a small part of the grid).
pub(crate) fn keep_large_components(m: &Mask) -> Mask {
    let Some((bbox, c)) = ctplan_core::label::label_in_bounding_box(m, Connectivity::TwentySix)
    else {
        return m.clone();
    };
    let big = c.largest().expect("a non-empty mask has a component");
    let min = c.sizes[big as usize] / 10;
    let keep: Vec<bool> = c
        .sizes
        .iter()
        .enumerate()
        .map(|(l, &s)| l > 0 && s >= min)
        .collect();
    let kept = Mask {
        dims: c.labels.dims,
        geometry: c.labels.geometry,
        data: c
            .labels
            .data
            .iter()
            .map(|&l| keep[l as usize] as u8)
            .collect(),
    };
    let mut out = Mask::zeros(m.dims, m.geometry);
    ctplan_core::crop::paste(&mut out, &kept, &bbox);
    out
}

/// The finish (stage 5): keep the pieces that fill the defect (the largest component per
/// defect region is the implant; small slivers along the rim go), close what is kept against
/// the cut edge (step 8), and refuse an implant under the smallest one (step 9; only with
/// `refuse_small`, not for a reference design).
pub(crate) fn finish(
    implant: &Mask,
    defective: &Mask,
    o: &DesignOptions,
    refuse_small: bool,
) -> Result<Mask, DesignError> {
    let mut implant = keep_large_components(implant);
    if let Some(r) = o.rim_closing_mm {
        implant = close_to_rim(&implant, defective, r);
    }
    let ml = implant.nonzero_ml();
    if ml < o.min_implant_ml && refuse_small {
        return Err(DesignError::OnlySmallGaps(ml, o.min_implant_ml));
    }
    Ok(implant)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ctplan_core::Geometry;

    #[test]
    fn closes_narrow_gaps_at_the_rim_only() {
        // A plate of bone 3 mm thick (0.5 mm voxels) with a 10 × 10 mm hole, and an implant
        // that leaves a 0.5 mm slit along three sides of the hole and a 3 mm gap along the
        // fourth; a 0.5 mm notch in the bone lies 3 mm from the implant.
        let g = Geometry::new([0.5, 0.5, 0.5], [3.0, -2.0, 7.0]);
        let dims = [40, 40, 12];
        let (mut bone, mut implant) = (Mask::zeros(dims, g), Mask::zeros(dims, g));
        for z in 3..9 {
            for y in 0..40 {
                for x in 0..40 {
                    let at = bone.index(x, y, z);
                    let hole = (10..30).contains(&x) && (10..30).contains(&y);
                    bone.data[at] = (!hole && x != 35) as u8;
                    implant.data[at] = ((11..24).contains(&x) && (11..29).contains(&y)) as u8;
                }
            }
        }
        let out = close_to_rim(&implant, &bone, 1.0);
        assert_eq!((out.dims, out.geometry), (implant.dims, implant.geometry));
        let at = |x, y, z| out.data[out.index(x, y, z)];
        // Inside the plate the slits fill; the ball dips into them at the plate's two faces,
        // which stay as they were. The wide gap and the notch away from the implant stay open.
        for z in 4..8 {
            assert_eq!(
                (at(10, 20, z), at(17, 10, z), at(17, 29, z)),
                (1, 1, 1),
                "z {z}"
            );
        }
        for z in 0..12 {
            assert_eq!(
                (at(26, 20, z), at(27, 20, z), at(35, 20, z)),
                (0, 0, 0),
                "z {z}"
            );
        }
        // Nothing above or below the plate, nothing in the bone, and the implant stays.
        for (i, &v) in out.data.iter().enumerate() {
            let z = i / (40 * 40);
            assert!(v == 0 || (3..9).contains(&z), "voxel {i} off the plate");
            assert!(v == 0 || bone.data[i] == 0, "voxel {i} in the bone");
            assert!(
                implant.data[i] == 0 || v == 1,
                "voxel {i} of the implant lost"
            );
        }
        // A ball too small to bridge the slit changes nothing; nor is there anything to close
        // without an implant.
        assert_eq!(close_to_rim(&implant, &bone, 0.2).data, implant.data);
        let empty = Mask::zeros(dims, g);
        assert_eq!(close_to_rim(&empty, &bone, 1.0).data, empty.data);
    }

    #[test]
    fn keeps_components_of_a_tenth_of_the_largest_in_place() {
        let g = Geometry::new([0.5, 0.5, 1.0], [3.0, -2.0, 7.0]);
        let mut m = Mask::zeros([20, 16, 12], g);
        let mut fill = |x: std::ops::Range<usize>, y: std::ops::Range<usize>, z: usize| {
            for j in y {
                for i in x.clone() {
                    let at = m.index(i, j, z);
                    m.data[at] = 1;
                }
            }
        };
        fill(2..12, 3..13, 4); // 100 voxels
        fill(15..19, 1..4, 9); // 12: kept (at least 10)
        fill(0..3, 14..16, 11); // 6: dropped
        fill(14..15, 14..15, 0); // 1: dropped
        let kept = keep_large_components(&m);
        assert_eq!(kept.dims, m.dims);
        assert_eq!(kept.geometry, m.geometry);
        assert_eq!(kept.count_nonzero(), 112);
        for (i, (&a, &b)) in m.data.iter().zip(&kept.data).enumerate() {
            let (x, y, z) = (i % 20, (i / 20) % 16, i / 320);
            let want = a != 0 && (z == 4 || z == 9);
            assert_eq!(b != 0, want, "voxel ({x}, {y}, {z})");
        }
        let empty = Mask::zeros([4, 4, 4], g);
        assert_eq!(keep_large_components(&empty).data, empty.data);
    }
}
