//! The airway lumen from the trachea down, by region growing whose threshold rises until the
//! region explodes into the lung, then steps back (explosion-controlled region growing: Mori,
//! Hasegawa, Suenaga & Toriwaki 1996, "Automated anatomical labeling of the bronchial branch
//! and its application to the virtual bronchoscopy system"; van Rikxoort, Baggerman, Prokop &
//! van Ginneken 2009 for the leak criterion by volume).
//!
//! The trachea is found without a user's click: scanning axial slices from the top, the first
//! round, air-filled (below [`SEED_HU`]) region of tracheal size near the body's midline that
//! continues as a tube through the next slices. The lumen is then grown (6-connected, inside
//! the body) from that seed with thresholds from [`START_HU`] upward in [`STEP_HU`] steps. A
//! step whose region more than doubles and gains over [`LEAK_ML`] mL has leaked into the
//! parenchyma: the previous step's region is the airway, and the leak is reported, never
//! returned. Past it, each branch is extended by small pieces per step, until a step's pieces
//! together exceed [`STEP_ML`].

use std::collections::VecDeque;

use ctplan_core::grid::neighbours6;
use ctplan_core::morphology::fill_holes_slices;
use ctplan_core::{Mask, Volume};

/// The lumen seed is darker than this (HU).
pub const SEED_HU: i16 = -900;
/// The first growing threshold (HU).
pub const START_HU: i16 = -950;
/// Threshold step (HU).
pub const STEP_HU: i16 = 10;
/// The highest threshold tried (HU): above it lies lung tissue whatever the scan.
pub const MAX_HU: i16 = -600;
/// A step that more than doubles the region and adds more than this (mL) is a leak.
pub const LEAK_ML: f64 = 50.0;
/// Past the global leak, a piece a threshold step adds to one branch is kept if it is no
/// larger than this (mL): a bronchus continued, not parenchyma.
pub const BRANCH_ML: f64 = 0.5;
/// Past the global leak, a threshold step whose small pieces add up to more than this (mL) is
/// annexing the parenchyma piece by piece (thick slices break the lung into small dark pockets
/// by partial volume), and the extension stops before it; the bronchi continued add well under
/// a millilitre per step.
pub const STEP_ML: f64 = 2.0;
/// The trachea's cross-section (mm²): from a child's to a wide adult trachea.
pub const TRACHEA_AREA_MM2: (f64, f64) = (40.0, 700.0);
/// How far from the body's midline (mm) the trachea may lie.
pub const MIDLINE_MM: f64 = 45.0;

/// The grown airway and how it was grown.
#[derive(Debug, Clone)]
pub struct Airway {
    /// The lumen, trachea at the top.
    pub mask: Mask,
    /// The threshold (HU) of the region kept.
    pub threshold_hu: i16,
    /// Lumen volume per threshold tried (HU, mL), the last one the leak if there was one.
    pub steps: Vec<(i16, f64)>,
    /// The threshold (HU) at which the region leaked into the lung, if it did.
    pub leak_at_hu: Option<i16>,
    /// The trachea's seed: its centre (LPS mm) and cross-section (mm²).
    pub seed_mm: [f64; 3],
    /// The seed's cross-section (mm²).
    pub seed_area_mm2: f64,
}

/// A 2-D region of one axial slice: its voxels, centroid (i, j) and area (mm²).
struct Region {
    voxels: Vec<usize>,
    centroid: [f64; 2],
    area: f64,
}

/// The 4-connected regions of `inside` in slice `k`.
fn regions(
    dims: [usize; 3],
    k: usize,
    inside: impl Fn(usize) -> bool,
    pixel_mm2: f64,
) -> Vec<Region> {
    let [nx, ny, _] = dims;
    let base = k * nx * ny;
    let mut seen = vec![false; nx * ny];
    let mut out = Vec::new();
    for start in 0..nx * ny {
        if seen[start] || !inside(base + start) {
            continue;
        }
        seen[start] = true;
        let mut stack = vec![start];
        let mut voxels = Vec::new();
        let (mut si, mut sj) = (0.0, 0.0);
        while let Some(p) = stack.pop() {
            voxels.push(base + p);
            let (i, j) = (p % nx, p / nx);
            si += i as f64;
            sj += j as f64;
            let mut go = |q: usize| {
                if !seen[q] && inside(base + q) {
                    seen[q] = true;
                    stack.push(q);
                }
            };
            if i > 0 {
                go(p - 1);
            }
            if i + 1 < nx {
                go(p + 1);
            }
            if j > 0 {
                go(p - nx);
            }
            if j + 1 < ny {
                go(p + nx);
            }
        }
        let n = voxels.len() as f64;
        out.push(Region {
            centroid: [si / n, sj / n],
            area: n * pixel_mm2,
            voxels,
        });
    }
    out
}

/// The trachea's seed voxels: the topmost tracheal candidate that continues through the next
/// three slices below it. `None` when no slice shows one.
fn find_trachea(ct: &Volume<i16>, body: &Mask) -> Option<(Vec<usize>, f64)> {
    let [nx, ny, nz] = ct.dims;
    let sp = ct.geometry.spacing;
    let pixel = sp[0] * sp[1];
    // Slices from the head down, by their world position.
    let mut order: Vec<usize> = (0..nz).collect();
    let z_of = |k: usize| ct.world_of(ct.index(0, 0, k))[2];
    order.sort_by(|&a, &b| z_of(b).total_cmp(&z_of(a)));
    let candidates = |k: usize| -> Vec<Region> {
        let base = k * nx * ny;
        let body_px: Vec<usize> = (0..nx * ny).filter(|&p| body.data[base + p] != 0).collect();
        if body_px.is_empty() {
            return Vec::new();
        }
        let mid = body_px.iter().map(|&p| (p % nx) as f64).sum::<f64>() / body_px.len() as f64;
        regions(
            ct.dims,
            k,
            |v| body.data[v] != 0 && ct.data[v] < SEED_HU,
            pixel,
        )
        .into_iter()
        .filter(|r| {
            let (lo, hi) = TRACHEA_AREA_MM2;
            let (mut i0, mut i1, mut j0, mut j1) = (usize::MAX, 0, usize::MAX, 0);
            for &v in &r.voxels {
                let (i, j) = (v % nx, (v / nx) % ny);
                i0 = i0.min(i);
                i1 = i1.max(i);
                j0 = j0.min(j);
                j1 = j1.max(j);
            }
            let (w, h) = ((i1 - i0 + 1) as f64 * sp[0], (j1 - j0 + 1) as f64 * sp[1]);
            // Round: fills its bounding box like a disc (π/4), neither long nor thin.
            let round = r.area / (w * h) > 0.5 && w.max(h) < 2.5 * w.min(h);
            r.area >= lo
                && r.area <= hi
                && round
                && (r.centroid[0] - mid).abs() * sp[0] <= MIDLINE_MM
        })
        .collect()
    };
    let per_slice: Vec<Vec<Region>> = order.iter().map(|&k| candidates(k)).collect();
    let near = |a: &Region, b: &Region| {
        let d = [
            (a.centroid[0] - b.centroid[0]) * sp[0],
            (a.centroid[1] - b.centroid[1]) * sp[1],
        ];
        (d[0] * d[0] + d[1] * d[1]).sqrt() < 10.0
    };
    for s in 0..order.len().saturating_sub(3) {
        for r in &per_slice[s] {
            let mut cur = r;
            let tube = (1..=3).all(|t| match per_slice[s + t].iter().find(|c| near(c, cur)) {
                Some(c) => {
                    cur = c;
                    true
                }
                None => false,
            });
            if tube {
                return Some((r.voxels.clone(), r.area));
            }
        }
    }
    None
}

/// Grow from `seed` through voxels of `body` darker than `threshold`, 6-connected; stop once
/// more than `cap` voxels are reached (the region has leaked past any airway).
fn grow(ct: &Volume<i16>, body: &Mask, seed: &[usize], threshold: i16, cap: usize) -> Vec<usize> {
    let mut inside = vec![false; ct.data.len()];
    let mut queue: VecDeque<usize> = VecDeque::new();
    let mut out = Vec::new();
    for &s in seed {
        if !inside[s] && ct.data[s] < threshold {
            inside[s] = true;
            queue.push_back(s);
        }
    }
    while let Some(v) = queue.pop_front() {
        out.push(v);
        if out.len() > cap {
            break;
        }
        for q in neighbours6(ct.dims, v) {
            if !inside[q] && body.data[q] != 0 && ct.data[q] < threshold {
                inside[q] = true;
                queue.push_back(q);
            }
        }
    }
    out
}

/// The pieces of voxels darker than `threshold` (inside `body`, 6-connected to `mask`) that
/// are at most `blob` voxels each, to be added to the mask; larger pieces are leaks and are
/// left out.
fn extend(ct: &Volume<i16>, body: &Mask, mask: &Mask, threshold: i16, blob: usize) -> Vec<usize> {
    let neighbours = |v: usize| neighbours6(ct.dims, v);
    let candidate = |q: usize| body.data[q] != 0 && ct.data[q] < threshold;
    // Voxels already put in a piece this step.
    let mut seen = vec![false; ct.data.len()];
    let starts: Vec<usize> = (0..mask.data.len())
        .filter(|&v| mask.data[v] != 0)
        .collect();
    let mut accepted = Vec::new();
    for s in starts {
        for q in neighbours(s) {
            if seen[q] || mask.data[q] != 0 || !candidate(q) {
                continue;
            }
            seen[q] = true;
            let mut piece = vec![q];
            let mut at = 0;
            while at < piece.len() && piece.len() <= blob {
                let v = piece[at];
                at += 1;
                for r in neighbours(v) {
                    if !seen[r] && mask.data[r] == 0 && candidate(r) {
                        seen[r] = true;
                        piece.push(r);
                    }
                }
            }
            if piece.len() <= blob {
                accepted.extend(piece);
            }
        }
    }
    accepted
}

/// The airway of `ct` (HU) inside `body`; `None` when no trachea is found.
pub fn airway(ct: &Volume<i16>, body: &Mask) -> Option<Airway> {
    let (seed, seed_area) = find_trachea(ct, body)?;
    let ml = ct.voxel_volume_mm3() / 1000.0;
    // A region this large is no airway (adult lumen: about 50–250 mL to the sub-segmental
    // bronchi); growing stops there.
    let cap = (1000.0 / ml) as usize;
    let mut steps = Vec::new();
    let mut kept: Option<(i16, Vec<usize>)> = None;
    let mut leak_at_hu = None;
    let mut t = START_HU;
    while t <= MAX_HU {
        let region = grow(ct, body, &seed, t, cap);
        let vol = region.len() as f64 * ml;
        steps.push((t, vol));
        if let Some((_, prev)) = &kept {
            let before = prev.len() as f64 * ml;
            if region.len() > cap || (vol > 2.0 * before && vol - before > LEAK_ML) {
                leak_at_hu = Some(t);
                break;
            }
        }
        kept = Some((t, region));
        t += STEP_HU;
    }
    let (threshold_hu, voxels) = kept?;
    let mut mask = Mask::zeros(ct.dims, ct.geometry);
    for v in voxels {
        mask.data[v] = 1;
    }
    // Past the global leak, each branch goes on by itself: the voxels a higher threshold adds
    // are kept piece by piece, each piece only if it is small (a bronchus continued), never
    // one that runs into the parenchyma, and only while a step's pieces stay small together.
    if leak_at_hu.is_some() {
        let blob = (BRANCH_ML / ml).max(1.0) as usize;
        let mut t = threshold_hu + STEP_HU;
        while t <= MAX_HU {
            let added = extend(ct, body, &mask, t, blob);
            if added.len() as f64 * ml > STEP_ML {
                break;
            }
            for v in added {
                mask.data[v] = 1;
            }
            t += STEP_HU;
        }
    }
    // Noise leaves pinholes in the lumen that thinning would turn into loops: filled, slice by
    // slice along each axis (a hole enclosed in a plane lies inside the tube).
    for axis in 0..3 {
        mask = fill_holes_slices(&mask, axis);
    }
    let c = seed.iter().fold([0.0; 3], |acc, &v| {
        let p = ct.world_of(v);
        [acc[0] + p[0], acc[1] + p[1], acc[2] + p[2]]
    });
    let n = seed.len() as f64;
    Some(Airway {
        mask,
        threshold_hu,
        steps,
        leak_at_hu,
        seed_mm: [c[0] / n, c[1] / n, c[2] / n],
        seed_area_mm2: seed_area,
    })
}
