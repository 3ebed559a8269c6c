//! A procedurally generated chest anatomy, no external data: two lungs, a trachea and its tree
//! to the segmental bronchi, vessels beside the bronchi, a nodule in the right upper lobe. With
//! [`super::render`] it makes the demo's chest CT, whose truth is known.
//!
//! Shapes (LPS mm, the carina near the origin's top): each lung an ellipsoid with the heart's
//! ellipsoid cut from its medial base. The tree follows the planning's own templates, so that
//! what the naming ([`crate::airway::names`]) expects is what is drawn: the main bronchi, the
//! right upper lobe bronchus and the bronchus intermedius dividing into middle and lower lobe
//! bronchi, the left upper and lower lobe bronchi along the lobar template directions of
//! [`LOBES`], and from each lobar bronchus its segmental bronchi along the directions of
//! [`SEGMENTS`]. Each branch is a straight tube (a capsule) from its parent's end; an artery of
//! [`ARTERY_RATIO`] of its radius runs beside every lobar and segmental bronchus, as pulmonary
//! arteries accompany the bronchi.

use ctplan_core::vec3::{add, cross, dist, dot, scale, sub, unit};
use ctplan_core::{Geometry, Mask};

use crate::airway::segments::{LOBES, SEGMENTS};
use crate::model::anatomy::Anatomy;

/// The grid's extent (LPS mm): x, y, z from–to.
pub const EXTENT_MM: [[f64; 2]; 3] = [[-135.0, 135.0], [-95.0, 100.0], [-120.0, 130.0]];
/// The carina (LPS mm).
pub const CARINA: [f64; 3] = [0.0, 0.0, 45.0];
/// Lungs: centre and semi-axes (mm), right then left.
pub const LUNGS: [([f64; 3], [f64; 3]); 2] = [
    ([-62.0, 5.0, -5.0], [55.0, 75.0, 110.0]),
    ([62.0, 5.0, -5.0], [52.0, 75.0, 105.0]),
];
/// The heart, cut from the lungs: centre and semi-axes (mm).
pub const HEART: ([f64; 3], [f64; 3]) = ([15.0, -35.0, -60.0], [55.0, 50.0, 45.0]);
/// The nodule in the right upper lobe: centre and radius (mm).
pub const NODULE: ([f64; 3], f64) = ([-60.0, 20.0, 60.0], 7.0);
/// An artery's radius as a fraction of its bronchus's.
pub const ARTERY_RATIO: f64 = 0.8;

/// One straight tube: from, to (mm), radius (mm).
#[derive(Debug, Clone, Copy)]
pub struct Tube {
    /// Start (LPS mm).
    pub from: [f64; 3],
    /// End (LPS mm).
    pub to: [f64; 3],
    /// Radius (mm).
    pub radius: f64,
}

fn along(from: [f64; 3], dir: [f64; 3], len: f64) -> [f64; 3] {
    add(from, scale(unit(dir).unwrap_or([0.0, 0.0, -1.0]), len))
}

/// The airway tree as tubes: trachea, main, intermedius, lobar, segmental; the bool says
/// whether the tube has an artery beside it (lobar and segmental).
pub fn airway_tubes() -> Vec<(Tube, bool)> {
    let t = |from, to, radius| Tube { from, to, radius };
    let mut out = vec![
        (t([0.0, -5.0, EXTENT_MM[2][1] + 5.0], CARINA, 9.0), false),
        // Main bronchi: the right one shorter and steeper than the left (Boyden).
    ];
    let rmb = along(CARINA, [-0.8, 0.1, -0.6], 22.0);
    let lmb = along(CARINA, [0.8, 0.1, -0.5], 40.0);
    let bi = along(rmb, [-0.2, 0.15, -1.0], 22.0);
    out.push((t(CARINA, rmb, 6.5), false));
    out.push((t(CARINA, lmb, 6.0), false));
    out.push((t(rmb, bi, 5.5), false));
    // Lobar bronchi: RUL from the main bronchus, RML and RLL from the intermedius, LUL and
    // LLL from the left main bronchus; lengths (mm) by lobe.
    let lobar_from = [rmb, bi, bi, lmb, lmb];
    let lobar_len = [14.0, 14.0, 16.0, 14.0, 16.0];
    for (l, lobe) in LOBES.iter().enumerate() {
        let end = along(lobar_from[l], lobe.2, lobar_len[l]);
        out.push((t(lobar_from[l], end, 4.5), true));
        for s in SEGMENTS.iter().filter(|s| s.lobe == lobe.0) {
            out.push((t(end, along(end, s.dir, 25.0), 2.8), true));
        }
    }
    out
}

/// Distance (mm) from `p` to the segment `a`–`b`.
fn to_segment(p: [f64; 3], a: [f64; 3], b: [f64; 3]) -> f64 {
    let ab = sub(b, a);
    let t = (dot(sub(p, a), ab) / dot(ab, ab).max(1e-12)).clamp(0.0, 1.0);
    dist(p, add(a, scale(ab, t)))
}

fn in_ellipsoid(p: [f64; 3], (c, r): ([f64; 3], [f64; 3])) -> bool {
    (0..3).map(|d| ((p[d] - c[d]) / r[d]).powi(2)).sum::<f64>() <= 1.0
}

/// The arteries beside the bronchi: each tube moved sideways (away from the trachea's axis,
/// in the axial plane where it can) by its radius, the artery's and a 1.5 mm gap.
pub fn artery_tubes() -> Vec<Tube> {
    airway_tubes()
        .into_iter()
        .filter(|(_, a)| *a)
        .map(|(b, _)| {
            let d = unit(sub(b.to, b.from)).unwrap_or([0.0, 0.0, 1.0]);
            let side = unit(cross(d, [0.0, 0.0, 1.0]))
                .or_else(|| unit(cross(d, [1.0, 0.0, 0.0])))
                .unwrap_or([1.0, 0.0, 0.0]);
            let r = ARTERY_RATIO * b.radius;
            let off = scale(side, b.radius + r + 1.5);
            Tube {
                from: add(b.from, off),
                to: add(b.to, off),
                radius: r,
            }
        })
        .collect()
}

/// Draw `tubes` into `m` (each voxel within a tube's radius of its axis).
fn draw(m: &mut Mask, tubes: &[Tube]) {
    let g = m.geometry;
    for tb in tubes {
        let lo = [0, 1, 2].map(|d| tb.from[d].min(tb.to[d]) - tb.radius);
        let hi = [0, 1, 2].map(|d| tb.from[d].max(tb.to[d]) + tb.radius);
        let ilo =
            [0, 1, 2].map(|d| ((lo[d] - g.origin[d]) / g.spacing[d]).floor().max(0.0) as usize);
        let ihi = [0, 1, 2].map(|d| {
            (((hi[d] - g.origin[d]) / g.spacing[d]).ceil().max(0.0) as usize).min(m.dims[d] - 1)
        });
        for k in ilo[2]..=ihi[2] {
            for j in ilo[1]..=ihi[1] {
                for i in ilo[0]..=ihi[0] {
                    let v = m.index(i, j, k);
                    if to_segment(m.world_of(v), tb.from, tb.to) <= tb.radius {
                        m.data[v] = 1;
                    }
                }
            }
        }
    }
}

/// The procedural chest anatomy on a grid of `spacing_mm` (isotropic, identity direction,
/// LPS; clamped to 0.25–10 mm, 1 mm when not a number); no fissures.
pub fn chest(spacing_mm: f64) -> Anatomy {
    let s = if spacing_mm.is_nan() {
        1.0
    } else {
        spacing_mm.clamp(0.25, 10.0)
    };
    let dims = EXTENT_MM.map(|[a, b]| ((b - a) / s).floor() as usize + 1);
    let g = Geometry::new([s; 3], EXTENT_MM.map(|e| e[0]));
    let mut lungs = Mask::zeros(dims, g);
    for v in 0..lungs.data.len() {
        let p = lungs.world_of(v);
        lungs.data[v] = ((in_ellipsoid(p, LUNGS[0]) || in_ellipsoid(p, LUNGS[1]))
            && !in_ellipsoid(p, HEART)) as u8;
    }
    let mut airway = Mask::zeros(dims, g);
    let tubes: Vec<Tube> = airway_tubes().into_iter().map(|t| t.0).collect();
    draw(&mut airway, &tubes);
    // Arteries inside the lungs only, never over the airway.
    let mut vessels = Mask::zeros(dims, g);
    draw(&mut vessels, &artery_tubes());
    for ((v, &l), &a) in vessels.data.iter_mut().zip(&lungs.data).zip(&airway.data) {
        *v &= l & (1 - a);
    }
    let mut nodules = Mask::zeros(dims, g);
    for v in 0..nodules.data.len() {
        nodules.data[v] = (dist(nodules.world_of(v), NODULE.0) <= NODULE.1) as u8;
    }
    Anatomy {
        airway,
        lungs: Some(lungs),
        vessels: Some(vessels),
        arteries: None,
        veins: None,
        nodules: Some(nodules),
        fissures: None,
        sources: vec![("synthetic".into(), "procedural chest".into())],
        warnings: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_anatomy_is_where_it_should_be() {
        let a = chest(2.0);
        let lungs = a.lungs.as_ref().unwrap();
        let at = |m: &Mask, p: [f64; 3]| {
            let i = m
                .geometry
                .world_to_index(p)
                .unwrap()
                .map(|x| x.round() as usize);
            m.get(i[0], i[1], i[2])
        };
        // Every bronchus below the main bronchi ends inside a lung; the nodule lies in the
        // right lung, clear of the bronchi.
        for (t, _) in airway_tubes().iter().skip(4) {
            assert!(
                in_ellipsoid(t.to, LUNGS[0]) || in_ellipsoid(t.to, LUNGS[1]),
                "{t:?}"
            );
            assert!(!in_ellipsoid(t.to, HEART), "{t:?}");
        }
        assert_eq!(at(lungs, NODULE.0), 1);
        assert_eq!(at(&a.airway, NODULE.0), 0);
        for (t, _) in airway_tubes() {
            assert!(to_segment(NODULE.0, t.from, t.to) > NODULE.1 + t.radius + 2.0);
        }
        // The trachea at the top, the vessels beside the airway, not in it.
        assert_eq!(at(&a.airway, [0.0, -5.0, 100.0]), 1);
        let v = a.vessels.as_ref().unwrap();
        assert!(v.count_nonzero() > 1000);
        assert!(
            v.data
                .iter()
                .zip(&a.airway.data)
                .all(|(&x, &y)| x == 0 || y == 0)
        );
        // 5 lobar and 18 segmental tubes.
        assert_eq!(airway_tubes().len(), 4 + 5 + 18);
    }
}

#[cfg(test)]
mod model_tests {
    use super::*;
    use crate::phantom::{Options, render};

    /// The demo's chain: the procedural anatomy (1 mm) rendered at 2 mm with 20 HU of noise,
    /// then the model from the CT, scored against the truth.
    #[test]
    fn the_rendered_chest_is_modelled_and_named() {
        let opts = Options {
            voxel_mm: [2.0; 3],
            noise_sd_hu: 20.0,
            seed: 5,
        };
        let a = chest(1.0);
        let p = render(&a, &opts).unwrap();
        let crate::segment::Built {
            chest: m,
            summary: s,
            ..
        } = crate::segment::model(&p.ct, &[], &mut |_| {}).unwrap();
        let scores = crate::evaluate::chest(&p.truth, &a, &m.anatomy()).unwrap();
        assert!(scores.lungs_dsc.unwrap() >= 0.95, "{scores:?}");
        assert!(scores.airway_tree_length.unwrap() >= 0.85, "{scores:?}");
        assert!(scores.airway_leak.unwrap() <= 0.05, "{scores:?}");
        // The trachea found and divided; every lobar bronchus named, and most segmental ones.
        assert!(
            s.airway
                .generations_per_lobe
                .iter()
                .all(|(_, g)| g.is_some()),
            "{:?}",
            s.airway
        );
        assert!(s.airway.segmental_bronchi.len() >= 16, "{:?}", s.airway);
    }
}
