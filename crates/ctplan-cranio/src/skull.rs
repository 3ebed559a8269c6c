//! The skull from CT: bone by an HU threshold, then cleaning.
//!
//! Cleaning keeps the largest 26-connected component that looks like a skull (the CT table, a
//! head holder or noise are separate components), with a guard on its size, extent and position
//! (centred in the field of view), and can
//! fill small enclosed cavities (the diploë between the inner and outer tables) without filling
//! the cranial cavity. [`of_volume`] is the one entry for tools given "a skull mask or a head
//! CT": a binary volume is the mask, anything else is segmented.

use ctplan_core::crop::bounding_box;
use ctplan_core::label::{Connectivity, label};
use ctplan_core::{AnyVolume, Mask, Scalar, Volume};

/// Why a volume was refused.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum SkullError {
    /// No voxel reaches the bone threshold (HU).
    #[error("no bone above the threshold ({0} HU)")]
    NoBone(f64),
    /// No bone component looks like a skull (the largest ones, in words).
    #[error("no skull-like component: the largest bone components are {0}")]
    NotASkull(String),
}

/// Guard on the kept component: a skull's bone volume and its extent along L–R and A–P.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SkullGuard {
    /// Least bone volume, mL.
    pub min_volume_ml: f64,
    /// Most bone volume, mL.
    pub max_volume_ml: f64,
    /// Minimum extent (mm) along both the L–R and the A–P world axes.
    pub min_extent_mm: f64,
    /// Maximum extent (mm) along both the L–R and the A–P world axes.
    pub max_extent_mm: f64,
    /// The component's centre must lie in the inner part of the field of view, left–right and
    /// anterior–posterior: at least this fraction of the array size from its border (a CT table
    /// or head holder sits at the edge; the head is centred in a head scan).
    pub min_border_fraction: f64,
}

impl SkullGuard {
    /// Bone volume (mL) and world extents (mm, L–R and A–P used) within the guard's ranges.
    pub fn accepts_size(&self, ml: f64, extent: [f64; 3]) -> bool {
        let ok_ext = |e: f64| (self.min_extent_mm..=self.max_extent_mm).contains(&e);
        (self.min_volume_ml..=self.max_volume_ml).contains(&ml)
            && ok_ext(extent[0])
            && ok_ext(extent[1])
    }
}

impl Default for SkullGuard {
    fn default() -> Self {
        // Adult skull bone: 300–900 mL; cropped scans keep less. Heads are 120–220 mm wide.
        SkullGuard {
            min_volume_ml: 40.0,
            max_volume_ml: 2500.0,
            min_extent_mm: 90.0,
            max_extent_mm: 320.0,
            min_border_fraction: 0.15,
        }
    }
}

/// Bone mask: voxels with value ≥ `threshold` (HU; the SkullFix data used 150).
pub fn threshold<T: ctplan_core::Scalar>(ct: &Volume<T>, threshold: f64) -> Mask {
    ct.map(|v| (v.to_f64() >= threshold) as u8)
}

/// World bounds of a mask's voxel centres: LPS (minimum, maximum) corners in mm, from the
/// eight corners of its index bounding box.
pub fn world_bounds(m: &Mask) -> Option<([f64; 3], [f64; 3])> {
    let b = bounding_box(m)?;
    let mut lo = [f64::INFINITY; 3];
    let mut hi = [f64::NEG_INFINITY; 3];
    for c in 0..8 {
        let idx = [0, 1, 2].map(|a| {
            if c >> a & 1 == 1 {
                (b.end[a] - 1) as f64
            } else {
                b.start[a] as f64
            }
        });
        let p = m.geometry.index_to_world(idx);
        for a in 0..3 {
            lo[a] = lo[a].min(p[a]);
            hi[a] = hi[a].max(p[a]);
        }
    }
    Some((lo, hi))
}

/// World-axis extents (mm) of a mask's voxels.
pub fn world_extent(m: &Mask) -> Option<[f64; 3]> {
    let (lo, hi) = world_bounds(m)?;
    Some([hi[0] - lo[0], hi[1] - lo[1], hi[2] - lo[2]])
}

/// Mean voxel index of a mask's foreground.
fn centre_index(m: &Mask) -> Option<[f64; 3]> {
    let [nx, ny, _] = m.dims;
    let (mut s, mut n) = ([0.0; 3], 0usize);
    for (i, _) in m.data.iter().enumerate().filter(|(_, v)| **v != 0) {
        s[0] += (i % nx) as f64;
        s[1] += ((i / nx) % ny) as f64;
        s[2] += (i / (nx * ny)) as f64;
        n += 1;
    }
    (n > 0).then(|| s.map(|x| x / n as f64))
}

/// Keep the largest skull-like 26-connected component (the first of the five largest that
/// passes the guard).
pub fn clean(mask: &Mask, guard: &SkullGuard) -> Result<Mask, SkullError> {
    let comps = label(mask, Connectivity::TwentySix);
    let mut order: Vec<usize> = (1..comps.sizes.len()).collect();
    order.sort_by(|&a, &b| comps.sizes[b].cmp(&comps.sizes[a]));
    let voxel_ml = mask.voxel_volume_mm3() / 1000.0;
    let mut seen = Vec::new();
    for &l in order.iter().take(5) {
        let m = comps.mask_of(l as u32);
        let ml = comps.sizes[l] as f64 * voxel_ml;
        let ext = world_extent(&m).unwrap_or([0.0; 3]);
        seen.push(format!(
            "{ml:.0} mL ({:.0}×{:.0}×{:.0} mm)",
            ext[0], ext[1], ext[2]
        ));
        let centred = centre_index(&m).is_some_and(|c| {
            (0..2).all(|a| {
                let f = c[a] / (mask.dims[a].max(2) - 1) as f64;
                f >= guard.min_border_fraction && f <= 1.0 - guard.min_border_fraction
            })
        });
        if guard.accepts_size(ml, ext) && centred {
            return Ok(m);
        }
    }
    if seen.is_empty() {
        return Err(SkullError::NoBone(f64::NAN));
    }
    Err(SkullError::NotASkull(seen.join(", ")))
}

/// Fill enclosed background cavities smaller than `max_ml` (6-connected background components
/// that do not touch the array border). The cranial cavity, far larger, stays empty.
pub fn fill_small_cavities(mask: &Mask, max_ml: f64) -> Mask {
    let background = mask.map(|v| (v == 0) as u8);
    let comps = label(&background, Connectivity::Six);
    let [nx, ny, nz] = mask.dims;
    let mut touches = vec![false; comps.sizes.len()];
    for k in 0..nz {
        for j in 0..ny {
            for i in 0..nx {
                if i == 0 || j == 0 || k == 0 || i + 1 == nx || j + 1 == ny || k + 1 == nz {
                    touches[comps.labels.get(i, j, k) as usize] = true;
                }
            }
        }
    }
    let max_vox = max_ml * 1000.0 / mask.voxel_volume_mm3();
    let fill: Vec<bool> = (0..comps.sizes.len())
        .map(|l| l > 0 && !touches[l] && (comps.sizes[l] as f64) <= max_vox)
        .collect();
    let mut out = mask.clone();
    for (o, &l) in out.data.iter_mut().zip(&comps.labels.data) {
        if fill[l as usize] {
            *o = 1;
        }
    }
    out
}

/// Segment the skull from a CT: threshold, clean, optionally fill cavities up to `fill_ml`.
pub fn segment<T: ctplan_core::Scalar>(
    ct: &Volume<T>,
    hu: f64,
    fill_ml: Option<f64>,
    guard: &SkullGuard,
) -> Result<Mask, SkullError> {
    let bone = threshold(ct, hu);
    if bone.count_nonzero() == 0 {
        return Err(SkullError::NoBone(hu));
    }
    let skull = clean(&bone, guard)?;
    Ok(match fill_ml {
        Some(ml) => fill_small_cavities(&skull, ml),
        None => skull,
    })
}

/// The bone threshold (HU) [`of_volume`] segments a CT at: the one the SkullFix masks were
/// made with (Kodym et al. 2021).
pub const SKULL_HU: f64 = 150.0;

/// What [`of_volume`] took its skull from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SkullSource {
    /// The volume was a mask already: at most two values, one of them 0 (SkullFix's int32
    /// {0, 1}, SkullBreak's uint8 {0, 1}, a 0/255 export).
    Mask,
    /// The volume was a CT: the skull was segmented from it ([`segment`] at [`SKULL_HU`] with
    /// the default [`SkullGuard`]).
    Ct,
}

/// Whether a volume is a binary mask: at most two distinct values, one of them 0.
fn is_binary<T: Scalar>(v: &Volume<T>) -> bool {
    let mut other: Option<f64> = None;
    for x in &v.data {
        let x = x.to_f64();
        if x == 0.0 {
            continue;
        }
        match other {
            None => other = Some(x),
            Some(o) if o == x => {}
            Some(_) => return false,
        }
    }
    true
}

/// The defective skull an input volume gives, as the implant design takes it: a binary mask
/// as it is (its non-zero voxels), anything else as a head CT whose skull is segmented at
/// [`SKULL_HU`] and cleaned ([`segment`]). One call for every tool that takes "a skull or a
/// head CT" (`ctplan implant`, the portal's implant job).
pub fn of_volume(volume: &AnyVolume) -> Result<(Mask, SkullSource), SkullError> {
    ctplan_core::with_volume!(volume, v => {
        if is_binary(v) {
            Ok((v.to_mask(), SkullSource::Mask))
        } else {
            segment(v, SKULL_HU, None, &SkullGuard::default()).map(|m| (m, SkullSource::Ct))
        }
    })
}

/// A mask (an implant, a completed skull) as a volume of `input`'s scalar type, voxel values 0
/// and 1: the design's outputs are written in the type of the skull they were designed for.
pub fn like_input(input: &AnyVolume, mask: &Mask) -> AnyVolume {
    macro_rules! conv {
        ($t:ty) => {
            AnyVolume::from(mask.map(|x| <$t as Scalar>::from_f64(x as f64)))
        };
    }
    match input {
        AnyVolume::U8(_) => AnyVolume::U8(mask.clone()),
        AnyVolume::I8(_) => conv!(i8),
        AnyVolume::U16(_) => conv!(u16),
        AnyVolume::I16(_) => conv!(i16),
        AnyVolume::U32(_) => conv!(u32),
        AnyVolume::I32(_) => conv!(i32),
        AnyVolume::U64(_) => conv!(u64),
        AnyVolume::I64(_) => conv!(i64),
        AnyVolume::F32(_) => conv!(f32),
        AnyVolume::F64(_) => conv!(f64),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::phantom::{PhantomSpec, skull};

    #[test]
    fn table_and_noise_are_dropped() {
        let spec = PhantomSpec {
            dims: [96, 112, 80],
            spacing: [1.8, 1.8, 2.0],
            ..Default::default()
        };
        let p = skull(&spec);
        let mut m = p.complete.clone();
        // A table: a long slab under the head, and a speck of noise.
        for k in 0..80 {
            for i in 10..86 {
                let idx = m.index(i, 108, k);
                m.data[idx] = 1;
            }
        }
        m.data[5] = 1;
        let c = clean(&m, &SkullGuard::default()).unwrap();
        assert_eq!(c, p.complete);
        // The same skull pushed against the edge of a wider field of view is not taken.
        let mut wide = Mask::zeros([400, 112, 80], p.complete.geometry);
        for k in 0..80 {
            for j in 0..112 {
                for i in 0..96 {
                    let idx = wide.index(i, j, k);
                    wide.data[idx] = p.complete.get(i, j, k);
                }
            }
        }
        assert!(matches!(
            clean(&wide, &SkullGuard::default()),
            Err(SkullError::NotASkull(_))
        ));
        let tiny = Mask::from_vec([3, 3, 3], Default::default(), vec![1; 27]).unwrap();
        assert!(matches!(
            clean(&tiny, &SkullGuard::default()),
            Err(SkullError::NotASkull(_))
        ));
    }

    #[test]
    fn small_cavities_fill_but_the_cranial_cavity_does_not() {
        let spec = PhantomSpec {
            dims: [96, 112, 80],
            spacing: [1.8, 1.8, 2.0],
            ..Default::default()
        };
        let mut m = skull(&spec).complete;
        // Close the skull at the bottom so the cranial cavity is enclosed too.
        let bottom = (0..m.data.len()).find(|&i| m.data[i] != 0).unwrap() / (96 * 112);
        for j in 0..112 {
            for i in 0..96 {
                let idx = m.index(i, j, bottom);
                m.data[idx] = 1;
            }
        }
        // A one-voxel hole inside the bone.
        let idx = (0..m.data.len())
            .find(|&i| {
                m.data[i] != 0
                    && m.data[i + 1] != 0
                    && m.data[i - 1] != 0
                    && m.data[i + 96] != 0
                    && m.data[i - 96] != 0
                    && m.data[i + 96 * 112] != 0
                    && m.data[i - 96 * 112] != 0
            })
            .unwrap();
        m.data[idx] = 0;
        let f = fill_small_cavities(&m, 5.0);
        assert_eq!(f.data[idx], 1);
        assert_eq!(
            f.count_nonzero(),
            m.count_nonzero() + 1,
            "cranial cavity left empty"
        );
    }

    #[test]
    fn a_mask_is_taken_as_it_is_and_a_ct_is_segmented() {
        let spec = PhantomSpec {
            dims: [96, 112, 80],
            spacing: [1.8, 1.8, 2.0],
            ..Default::default()
        };
        let p = skull(&spec);
        // A 0/255 mask is a mask.
        let m255 = AnyVolume::U8(p.defective.map(|x| x * 255));
        assert_eq!(
            of_volume(&m255).unwrap(),
            (p.defective.clone(), SkullSource::Mask)
        );
        // The same skull as a CT: air −1000 HU, bone 700 HU, a speck of noise below the
        // threshold; the skull comes back.
        let mut ct = p.defective.map(|x| if x != 0 { 700i16 } else { -1000 });
        ct.data[7] = 100;
        let (s, source) = of_volume(&AnyVolume::I16(ct)).unwrap();
        assert_eq!(source, SkullSource::Ct);
        assert_eq!(s, p.defective);
        // A CT without bone is refused in words.
        let air = p.defective.map(|x| x as i16 * 50 - 1000);
        assert_eq!(
            of_volume(&AnyVolume::I16(air)).unwrap_err(),
            SkullError::NoBone(SKULL_HU)
        );
    }
}
