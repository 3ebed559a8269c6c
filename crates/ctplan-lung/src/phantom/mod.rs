//! A chest CT rendered from label masks, whose truth is the masks: the phantom on which the
//! model from the CT ([`crate::segment`]) is measured ([`crate::evaluate`]), and the demo's CT.
//!
//! No thin-slice CT with full labels (lungs, airway tree, vessels, nodule, fissures) is at
//! hand, but such labels are (Med-MPD, or the procedural anatomy of [`synthetic`]); [`render`]
//! makes the CT they describe. Each fine voxel (the masks' own grid) gets the Hounsfield value
//! of what lies there, in this order of precedence: airway lumen (air, [`AIR_HU`]), nodule
//! ([`NODULE_HU`]), vessel ([`VESSEL_HU`]); inside the lungs the airway wall (a shell of
//! [`AIRWAY_WALL_MM`] around the lumen: [`SOFT_HU`] around bronchi wider than
//! [`THICK_LUMEN_MM`] in radius, [`THIN_WALL_HU`] around the smaller ones, whose real wall is
//! thinner than the shell), the fissures ([`FISSURE_HU`]) and the
//! parenchyma ([`LUNG_HU`]); outside them the chest of [`chest`] (wall muscle and fat, ribs,
//! spine, mediastinum, table, air). Output voxels are blocks of whole fine voxels (an integer
//! factor per axis, the largest not coarser than [`Options::voxel_mm`]), whose value is the mean of the block:
//! partial volume as a scanner's detector integrates it, and a slice as thick as its spacing.
//! Then the parenchyma's low-frequency texture ([`TEXTURE_HU`] over [`TEXTURE_MM`]) and white
//! Gaussian noise of [`Options::noise_sd_hu`], both from [`Options::seed`] alone. The truth is
//! the masks on the same output blocks: a voxel is inside when more than half its block is
//! (fissures, one fine voxel thick: when any of it is), so the truth's grid is the CT's exactly.
//!
//! The masks' grid is padded in-plane by [`chest::PAD_MM`] for the chest wall and the table;
//! output is on the masks' geometry (LPS, same direction), the voxel centre of each block.

pub mod chest;
pub mod random;
pub mod synthetic;

use ctplan_core::crop::{bounding_box, crop, margin_voxels, paste};
use ctplan_core::morphology::{dilate, erode};
use ctplan_core::{Geometry, Mask, Volume};
use rayon::prelude::*;

use crate::error::LungError;
use crate::model::anatomy::Anatomy;
use chest::Tissue;

/// Air (HU).
pub const AIR_HU: f64 = -1000.0;
/// Lung parenchyma at full inspiration (HU): healthy adult lung averages about −850 to −870
/// (Hoffman et al. 2006, "Characterization of the interstitial lung diseases via density-based
/// and texture-based analysis of computed tomography images of lung structure and function").
pub const LUNG_HU: f64 = -850.0;
/// Amplitude of the parenchyma's texture (HU, peak): regional density varies by some tens of
/// HU (gravity, perfusion).
pub const TEXTURE_HU: f64 = 30.0;
/// Scale of the parenchyma's texture (mm): secondary lobules and their vessels.
pub const TEXTURE_MM: f64 = 8.0;
/// A fissure: a sheet of two pleural layers, denser than parenchyma but thinner than a voxel.
pub const FISSURE_HU: f64 = -600.0;
/// Muscle, mediastinum, heart, airway walls (HU; unenhanced).
pub const SOFT_HU: f64 = 40.0;
/// Unenhanced blood in the pulmonary vessels (HU).
pub const VESSEL_HU: f64 = 40.0;
/// A solid nodule (HU).
pub const NODULE_HU: f64 = 20.0;
/// Subcutaneous fat (HU).
pub const FAT_HU: f64 = -100.0;
/// Rib: cortical shell and marrow averaged (HU).
pub const RIB_HU: f64 = 700.0;
/// Vertebral body, trabecular bone (HU).
pub const SPINE_HU: f64 = 300.0;
/// The scanner table's shell (HU).
pub const TABLE_HU: f64 = 200.0;
/// Airway wall shell (mm): about the wall of segmental bronchi (0.5–1.5 mm).
pub const AIRWAY_WALL_MM: f64 = 1.0;
/// Bronchi whose lumen radius exceeds this (mm) have a wall as thick as the shell; around
/// smaller ones (sub-segmental and beyond, wall about a fifth of the lumen's diameter, 0.2–0.4
/// mm) the shell is mostly parenchyma.
pub const THICK_LUMEN_MM: f64 = 1.5;
/// The shell around a small bronchus: a 0.4 mm wall (+40 HU) and 0.6 mm of parenchyma
/// (−850 HU) averaged, about −500 HU.
pub const THIN_WALL_HU: f64 = -500.0;

/// How to render.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Options {
    /// Requested output voxel size per axis (mm); the actual one is the masks' spacing times
    /// the largest whole factor not coarser than it (at least 1, [`factors`]), so that the
    /// truth is exact.
    pub voxel_mm: [f64; 3],
    /// Standard deviation of the white Gaussian noise (HU).
    pub noise_sd_hu: f64,
    /// Seed of the noise and the texture.
    pub seed: u64,
}

impl Default for Options {
    /// 1 mm voxels, 20 HU of noise (a standard-dose chest CT's soft-kernel noise), seed 1.
    fn default() -> Self {
        Options {
            voxel_mm: [1.0; 3],
            noise_sd_hu: 20.0,
            seed: 1,
        }
    }
}

/// A rendered phantom: the CT and its truth on the same grid.
#[derive(Debug, Clone)]
pub struct Phantom {
    /// The CT (HU).
    pub ct: Volume<i16>,
    /// The masks on the CT's grid (lungs without the airway lumen, as the model defines them;
    /// vessels joined from vessels, arteries and veins).
    pub truth: Anatomy,
    /// Fine voxels per output voxel, per axis.
    pub factor: [usize; 3],
}

/// The whole factor per axis for `voxel_mm` on a grid of `spacing`: the largest whose voxel is
/// not coarser than asked (at least 1), so that a phantom asked for at 1.25 mm is never rendered
/// at 1.4 mm. A size within a thousandth of a whole factor counts as that factor.
pub fn factors(spacing: [f64; 3], voxel_mm: [f64; 3]) -> Result<[usize; 3], LungError> {
    let mut f = [1usize; 3];
    for d in 0..3 {
        let r = voxel_mm[d] / spacing[d];
        if !(r.is_finite() && r > 0.0 && spacing[d] > 0.0) {
            return Err(LungError::Anatomy(format!(
                "phantom: voxel size {} mm on a grid of {} mm is not a positive size",
                voxel_mm[d], spacing[d]
            )));
        }
        f[d] = ((r + 1e-3).floor() as usize).clamp(1, 64);
    }
    Ok(f)
}

/// A mask or an empty one on `like`'s grid.
fn or_empty(m: Option<&Mask>, like: &Mask) -> Result<Mask, LungError> {
    match m {
        Some(m) if m.dims == like.dims => Ok(m.map(|v| (v != 0) as u8)),
        Some(m) => Err(LungError::Anatomy(format!(
            "phantom: a mask of {}×{}×{} voxels on a lung grid of {}×{}×{}",
            m.dims[0], m.dims[1], m.dims[2], like.dims[0], like.dims[1], like.dims[2]
        ))),
        None => Ok(Mask::zeros(like.dims, like.geometry)),
    }
}

/// The airway wall: 2 within [`AIRWAY_WALL_MM`] of a lumen wider than [`THICK_LUMEN_MM`] in
/// radius, 1 within it of a smaller one, 0 elsewhere (the lumen itself included), computed in
/// the lumen's bounding box.
fn wall(airway: &Mask) -> Mask {
    let mut out = Mask::zeros(airway.dims, airway.geometry);
    if let Some(b) = bounding_box(airway) {
        let b = b.expand(
            margin_voxels(AIRWAY_WALL_MM + 1.0, airway.geometry.spacing),
            airway.dims,
        );
        let lumen = crop(airway, &b);
        let mut shell = dilate(&lumen, AIRWAY_WALL_MM);
        // The wide bronchi: their lumen eroded by the radius bound, grown back past the wall.
        let wide = dilate(
            &erode(&lumen, THICK_LUMEN_MM),
            THICK_LUMEN_MM + AIRWAY_WALL_MM,
        );
        for (s, &w) in shell.data.iter_mut().zip(&wide.data) {
            *s *= 1 + w;
        }
        paste(&mut out, &shell, &b);
    }
    out
}

/// The demo's chest CT: the procedural chest ([`synthetic::chest`]) rendered at 2 mm with
/// 20 HU of noise (seed 1), and the centre of its nodule (LPS mm), the point a surgeon would
/// confirm. What `ctplan demo` plans on and the portal's demo case holds: small (seconds to
/// model), and the same on every machine.
pub fn demo_ct() -> Result<(ctplan_core::Volume<i16>, [f64; 3]), LungError> {
    let phantom = render(
        &synthetic::chest(1.0),
        &Options {
            voxel_mm: [2.0; 3],
            noise_sd_hu: 20.0,
            seed: 1,
        },
    )?;
    Ok((phantom.ct, synthetic::NODULE.0))
}

/// Render the CT of `anatomy` (lungs required) with `opts`.
pub fn render(anatomy: &Anatomy, opts: &Options) -> Result<Phantom, LungError> {
    let lungs = anatomy
        .lungs
        .as_ref()
        .ok_or_else(|| LungError::Anatomy("phantom: a lung mask is needed".into()))?;
    let lungs = lungs.map(|v| (v != 0) as u8);
    let airway = or_empty(Some(&anatomy.airway), &lungs)?;
    let mut vessels = or_empty(anatomy.vessels.as_ref(), &lungs)?;
    for m in [&anatomy.arteries, &anatomy.veins].into_iter().flatten() {
        for (a, b) in vessels
            .data
            .iter_mut()
            .zip(&or_empty(Some(m), &lungs)?.data)
        {
            *a |= *b;
        }
    }
    let nodules = or_empty(anatomy.nodules.as_ref(), &lungs)?;
    let fissures = or_empty(anatomy.fissures.as_ref(), &lungs)?;
    let wall = wall(&airway);
    if !(opts.noise_sd_hu.is_finite() && opts.noise_sd_hu >= 0.0) {
        return Err(LungError::Anatomy(format!(
            "phantom: noise SD {} HU is not a non-negative number",
            opts.noise_sd_hu
        )));
    }

    let g = lungs.geometry;
    let n = lungs.dims;
    let f = factors(g.spacing, opts.voxel_mm)?;
    let pad_mm = [chest::PAD_MM, chest::PAD_MM, 0.0];
    // Whole blocks of padding, so that the masks' voxels fall in the same blocks whatever
    // the padding.
    let pad: [usize; 3] =
        [0, 1, 2].map(|d| ((pad_mm[d] / g.spacing[d]).ceil() as usize).next_multiple_of(f[d]));
    let out_dims: [usize; 3] = [0, 1, 2].map(|d| (n[d] + 2 * pad[d]).div_ceil(f[d]));
    let fine: [usize; 3] = [0, 1, 2].map(|d| out_dims[d] * f[d]);
    // World position of a fine voxel given in padded indices.
    let world = |i: f64, j: f64, k: f64| {
        g.index_to_world([i - pad[0] as f64, j - pad[1] as f64, k - pad[2] as f64])
    };
    let native = |i: usize, j: usize, k: usize| -> Option<usize> {
        let c = [
            i as i64 - pad[0] as i64,
            j as i64 - pad[1] as i64,
            k as i64 - pad[2] as i64,
        ];
        (0..3)
            .all(|d| c[d] >= 0 && (c[d] as usize) < n[d])
            .then(|| c[0] as usize + n[0] * (c[1] as usize + n[1] * c[2] as usize))
    };

    // The axial layout from the lungs and airway projected along the slice axis.
    let mut proj = vec![false; fine[0] * fine[1]];
    for k in 0..n[2] {
        for j in 0..n[1] {
            for i in 0..n[0] {
                let v = i + n[0] * (j + n[1] * k);
                if lungs.data[v] != 0 || airway.data[v] != 0 {
                    proj[(i + pad[0]) + fine[0] * (j + pad[1])] = true;
                }
            }
        }
    }
    let layout = chest::layout(
        &proj,
        [fine[0], fine[1]],
        [g.spacing[0], g.spacing[1]],
        |i, j| {
            let w = world(i as f64, j as f64, 0.0);
            [w[0], w[1]]
        },
    );
    drop(proj);

    let out_geometry = Geometry {
        spacing: [0, 1, 2].map(|d| g.spacing[d] * f[d] as f64),
        origin: world(
            (f[0] - 1) as f64 / 2.0,
            (f[1] - 1) as f64 / 2.0,
            (f[2] - 1) as f64 / 2.0,
        ),
        direction: g.direction,
    };
    let block = (f[0] * f[1] * f[2]) as f64;
    let per_slice = out_dims[0] * out_dims[1];
    // Per output slice: CT values and the truth masks (lungs, airway, vessels, nodules,
    // fissures).
    let slices: Vec<(Vec<i16>, [Vec<u8>; 5])> = (0..out_dims[2])
        .into_par_iter()
        .map(|ko| {
            let mut ct = vec![0i16; per_slice];
            let mut truth: [Vec<u8>; 5] = std::array::from_fn(|_| vec![0u8; per_slice]);
            for jo in 0..out_dims[1] {
                for io in 0..out_dims[0] {
                    let mut sum = 0.0;
                    let mut parenchyma = 0usize;
                    let mut count = [0usize; 5];
                    for k in ko * f[2]..(ko + 1) * f[2] {
                        for j in jo * f[1]..(jo + 1) * f[1] {
                            for i in io * f[0]..(io + 1) * f[0] {
                                let at = native(i, j, k);
                                let has = |m: &Mask| at.is_some_and(|v| m.data[v] != 0);
                                let in_lung = has(&lungs);
                                let in_airway = has(&airway);
                                count[0] += (in_lung && !in_airway) as usize;
                                count[1] += in_airway as usize;
                                count[2] += has(&vessels) as usize;
                                count[3] += has(&nodules) as usize;
                                count[4] += has(&fissures) as usize;
                                sum += if in_airway {
                                    AIR_HU
                                } else if has(&nodules) {
                                    NODULE_HU
                                } else if has(&vessels) {
                                    VESSEL_HU
                                } else if in_lung && has(&wall) {
                                    match at.map_or(0, |v| wall.data[v]) {
                                        2 => SOFT_HU,
                                        _ => THIN_WALL_HU,
                                    }
                                } else if in_lung {
                                    if has(&fissures) {
                                        FISSURE_HU
                                    } else {
                                        parenchyma += 1;
                                        LUNG_HU
                                    }
                                } else {
                                    match layout.tissue[i + fine[0] * j] {
                                        Tissue::Air => AIR_HU,
                                        Tissue::Table => TABLE_HU,
                                        Tissue::Fat => FAT_HU,
                                        Tissue::Soft => SOFT_HU,
                                        Tissue::Spine => SPINE_HU,
                                        Tissue::RibBand => {
                                            let w = world(i as f64, j as f64, k as f64);
                                            if layout.is_rib(w) { RIB_HU } else { SOFT_HU }
                                        }
                                    }
                                };
                            }
                        }
                    }
                    let p = io + out_dims[0] * jo;
                    let v = p + per_slice * ko;
                    let centre = out_geometry.index_to_world([io as f64, jo as f64, ko as f64]);
                    let texture = if parenchyma > 0 {
                        TEXTURE_HU
                            * random::value_noise(opts.seed, centre, TEXTURE_MM)
                            * parenchyma as f64
                            / block
                    } else {
                        0.0
                    };
                    let noise = opts.noise_sd_hu * random::gaussian(opts.seed, v as u64);
                    ct[p] = (sum / block + texture + noise)
                        .round()
                        .clamp(-1024.0, 3071.0) as i16;
                    for (t, &c) in truth.iter_mut().zip(&count) {
                        t[p] = (2 * c > f[0] * f[1] * f[2]) as u8;
                    }
                    truth[4][p] = (count[4] > 0) as u8;
                }
            }
            (ct, truth)
        })
        .collect();

    let total = per_slice * out_dims[2];
    let mut ct = Vec::with_capacity(total);
    let mut masks: [Vec<u8>; 5] = std::array::from_fn(|_| Vec::with_capacity(total));
    for (c, t) in slices {
        ct.extend(c);
        for (m, x) in masks.iter_mut().zip(t) {
            m.extend(x);
        }
    }
    let vol = |data: Vec<u8>| Mask {
        dims: out_dims,
        geometry: out_geometry,
        data,
    };
    let [l, a, v, nd, fi] = masks;
    let nonempty = |m: Mask| (m.count_nonzero() > 0).then_some(m);
    let truth = Anatomy {
        airway: vol(a),
        lungs: Some(vol(l)),
        vessels: nonempty(vol(v)),
        arteries: None,
        veins: None,
        nodules: nonempty(vol(nd)),
        fissures: nonempty(vol(fi)),
        sources: vec![("phantom".into(), "rendered truth".into())],
        warnings: Vec::new(),
    };
    Ok(Phantom {
        ct: Volume {
            dims: out_dims,
            geometry: out_geometry,
            data: ct,
        },
        truth,
        factor: f,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Masks on a 1 mm grid of 60 × 50 × 40: a lung box (x 10–49, y 10–39, z 5–34) with an
    /// airway tube (x 28–31, y 23–26, all z), a vessel rod (x 15–16, y 15–16, z 10–29), a
    /// nodule cube (x 40–43, y 30–33, z 20–23) and a fissure plane at z = 25.
    fn masks() -> Anatomy {
        let g = Geometry::new([1.0; 3], [0.0; 3]);
        let dims = [60, 50, 40];
        let make = |f: &dyn Fn(usize, usize, usize) -> bool| {
            let mut m = Mask::zeros(dims, g);
            for k in 0..dims[2] {
                for j in 0..dims[1] {
                    for i in 0..dims[0] {
                        let v = m.index(i, j, k);
                        m.data[v] = f(i, j, k) as u8;
                    }
                }
            }
            m
        };
        let lung = |i: usize, j: usize, k: usize| {
            (10..50).contains(&i) && (10..40).contains(&j) && (5..35).contains(&k)
        };
        Anatomy {
            airway: make(&|i, j, _| (28..32).contains(&i) && (23..27).contains(&j)),
            lungs: Some(make(&lung)),
            vessels: Some(make(&|i, j, k| {
                (15..17).contains(&i) && (15..17).contains(&j) && (10..30).contains(&k)
            })),
            arteries: None,
            veins: None,
            nodules: Some(make(&|i, j, k| {
                (40..44).contains(&i) && (30..34).contains(&j) && (20..24).contains(&k)
            })),
            fissures: Some(make(&|i, j, k| lung(i, j, k) && k == 25)),
            sources: vec![],
            warnings: vec![],
        }
    }

    #[test]
    fn tissues_have_their_values_without_noise() {
        let a = masks();
        let opts = Options {
            voxel_mm: [1.0; 3],
            noise_sd_hu: 0.0,
            seed: 3,
        };
        let p = render(&a, &opts).unwrap();
        assert_eq!(p.factor, [1, 1, 1]);
        let pad = chest::PAD_MM.ceil() as usize;
        let at = |i: usize, j: usize, k: usize| p.ct.get(i + pad, j + pad, k);
        // Lumen, nodule, vessel exactly; the wall around the lumen is soft tissue.
        assert_eq!(at(29, 24, 15), -1000);
        assert_eq!(at(41, 31, 21), 20);
        assert_eq!(at(15, 15, 15), 40);
        assert_eq!(at(27, 24, 15), 40);
        // Parenchyma within its texture; a fissure denser than it.
        let lung = at(20, 30, 12) as f64;
        assert!((lung - LUNG_HU).abs() <= TEXTURE_HU + 0.5, "{lung}");
        assert_eq!(at(20, 30, 25), -600);
        // Outside: the grid's corner is air; the body's wall is tissue; the lungs' projection
        // is padded by the wall, so just outside the lung box is soft tissue or bone.
        assert_eq!(p.ct.get(0, 0, 0), -1000);
        let wall = at(5, 25, 15);
        assert!(wall == 40 || wall == 700 || wall == 300, "{wall}");
        assert!(p.ct.data.contains(&(RIB_HU as i16)));
        assert!(p.ct.data.contains(&(FAT_HU as i16)));
        assert!(p.ct.data.contains(&(TABLE_HU as i16)));
        // Truth on the same grid: lungs without the lumen.
        let t = p.truth.lungs.as_ref().unwrap();
        assert_eq!(t.dims, p.ct.dims);
        assert_eq!(t.count_nonzero(), 40 * 30 * 30 - 4 * 4 * 30);
        assert_eq!(p.truth.airway.count_nonzero(), 4 * 4 * 40);
        assert_eq!(p.truth.nodules.as_ref().unwrap().count_nonzero(), 64);
    }

    #[test]
    fn small_bronchi_get_a_thin_wall() {
        // Two tubes along z on a 1 mm grid: 6 × 6 voxels (radius 3 mm) and 2 × 2 (1 mm).
        let mut a = Mask::zeros([40, 20, 10], Geometry::new([1.0; 3], [0.0; 3]));
        for k in 0..10 {
            for j in 7..13 {
                for i in 5..11 {
                    let v = a.index(i, j, k);
                    a.data[v] = 1;
                }
                for i in 25..27 {
                    if (9..11).contains(&j) {
                        let v = a.index(i, j, k);
                        a.data[v] = 1;
                    }
                }
            }
        }
        let w = wall(&a);
        // 1 mm out of each lumen: thick wall beside the wide tube, thin beside the small one.
        assert_eq!(w.get(4, 10, 5), 2);
        assert_eq!(w.get(24, 10, 5), 1);
        assert_eq!(w.get(27, 9, 5), 1);
        assert_eq!(w.get(2, 10, 5), 0);
        assert_eq!(w.get(22, 10, 5), 0);
    }

    #[test]
    fn blocks_average_and_the_truth_is_exact() {
        let a = masks();
        let opts = Options {
            voxel_mm: [2.0, 2.0, 2.0],
            noise_sd_hu: 0.0,
            seed: 3,
        };
        let p = render(&a, &opts).unwrap();
        assert_eq!(p.factor, [2, 2, 2]);
        assert_eq!(p.ct.geometry.spacing, [2.0; 3]);
        // The first output voxel's centre is the centre of its 2×2×2 fine block; the padding
        // (49 mm) is rounded up to whole blocks (50 voxels, 25 blocks).
        assert_eq!(chest::PAD_MM, 49.0);
        let pad = 50.0;
        assert_eq!(p.ct.geometry.origin, [0.5 - pad, 0.5 - pad, 0.5]);
        // The airway tube x 28–31, y 23–26 is blocks 14–15 × 11–13 (y 22–27): blocks 14–15 ×
        // 12 are all lumen, those of y 22–23 and 26–27 half (majority: out).
        let off = (pad / 2.0) as usize;
        let t = &p.truth.airway;
        assert_eq!(t.get(14 + off, 12 + off, 5), 1);
        assert_eq!(t.get(14 + off, 11 + off, 5), 0);
        assert_eq!(t.count_nonzero(), 2 * 20);
        // The CT of a fully-lumen block is air; a half one is the mean of air and wall.
        assert_eq!(p.ct.get(14 + off, 12 + off, 5), -1000);
        assert_eq!(p.ct.get(14 + off, 11 + off, 5), -480);
        // The fissure (z = 25) marks its block (z 24–25) by the any-rule.
        assert!(
            p.truth
                .fissures
                .as_ref()
                .unwrap()
                .get(20 + off, 12 + off, 12)
                == 1
        );
    }

    #[test]
    fn noise_has_its_sd_and_the_seed_makes_it() {
        let a = masks();
        let opts = Options {
            voxel_mm: [1.0; 3],
            noise_sd_hu: 25.0,
            seed: 9,
        };
        let p = render(&a, &opts).unwrap();
        let q = render(&a, &opts).unwrap();
        assert_eq!(p.ct, q.ct);
        let clean = render(
            &a,
            &Options {
                noise_sd_hu: 0.0,
                ..opts
            },
        )
        .unwrap();
        // Differences where nothing is clamped (soft tissue, lung): the noise itself.
        let d: Vec<f64> =
            p.ct.data
                .iter()
                .zip(&clean.ct.data)
                .filter(|(_, c)| (-900..=100).contains(*c))
                .map(|(a, c)| (*a - *c) as f64)
                .collect();
        let mean = d.iter().sum::<f64>() / d.len() as f64;
        let sd = (d.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / d.len() as f64).sqrt();
        assert!(d.len() > 50_000, "{}", d.len());
        // Rounding to integers adds 1/12 HU² of variance: negligible.
        assert!((sd - 25.0).abs() < 0.5, "{sd}");
        assert!(mean.abs() < 0.5, "{mean}");
        let other = render(&a, &Options { seed: 10, ..opts }).unwrap();
        assert_ne!(p.ct, other.ct);
    }

    #[test]
    fn inputs_that_cannot_be_rendered_are_refused() {
        let mut a = masks();
        let bad = Options {
            voxel_mm: [0.0, 1.0, 1.0],
            ..Options::default()
        };
        assert!(render(&a, &bad).is_err());
        let nan = Options {
            noise_sd_hu: f64::NAN,
            ..Options::default()
        };
        assert!(render(&a, &nan).is_err());
        a.lungs = None;
        assert!(render(&a, &Options::default()).is_err());
    }
}
