//! The interlobar fissures: thin bright sheets inside the lungs, found by the Hessian's plate
//! measure.
//!
//! A fissure is two pleural layers, under a millimetre thick, a little denser than the
//! parenchyma on either side. At a scale σ of about its thickness the smoothed image has, across
//! the sheet, one strongly negative second derivative (λ3 ≪ 0) and along it two near zero
//! (|λ1|, |λ2| ≪ |λ3|), which tells a sheet from a vessel (two strong directions) and from
//! noise (no strong one): the plate measure of the Hessian eigenvalues (Frangi, Niessen, Vincken
//! & Viergever 1998, table 1; as a fissure filter: Wiemker, Bülow & Blaffert 2005, "Unsupervised
//! extraction of the pulmonary interlobar fissures from high resolution thoracic CT data",
//! CARS, and Lassen et al. 2013, "Automatic segmentation of the pulmonary lobes from chest CT
//! scans based on fissures, vessels, and bronchi", IEEE TMI 32:210–222).
//!
//! A voxel is a fissure candidate where, inside the lungs and away from the vessels and the
//! airway, the scale-normalised σ²|λ3| exceeds [`PLATE_HU`] with λ3 < 0 and |λ2| below
//! [`PLATE_RATIO`] of it. Candidates are grouped (26-connected) and a group is kept only when
//! it is a sheet of at least [`MIN_AREA_MM2`]: short plate-like specks (the flank of a vessel,
//! a scar) are many but small. The groups kept, thickened by [`THICKEN_MM`] to close the gaps
//! between the pieces of one fissure, are the wall the lobes' territories do not cross
//! ([`crate::territory::assign`]); where no fissure is found, the lobar bronchi's territories
//! meet instead ([`super::lobes`]).

use ctplan_core::crop::bounding_box;
use ctplan_core::hessian::{ScaleSpace, eigenvalues};
use ctplan_core::label::{Connectivity, label};
use ctplan_core::morphology::dilate;
use ctplan_core::{Mask, Volume};

/// The scale (mm): about a fissure's thickness with the scanner's blur.
pub const SIGMA_MM: f64 = 1.0;
/// The least σ²|λ3| (HU) of a fissure: a 0.5 mm sheet 250 HU above the parenchyma answers
/// about 50 HU at σ = 1 mm (its profile's peak over σ², times σ²), less where partial volume
/// and a thicker slice spread it.
pub const PLATE_HU: f64 = 15.0;
/// |λ2| / |λ3| below this: one strong direction only (a sheet, not a tube).
pub const PLATE_RATIO: f64 = 0.4;
/// Candidates are no denser than this (HU, smoothed): denser is a vessel or a wall.
pub const MAX_HU: f32 = -400.0;
/// The vessels' voxels denser than this (HU) are kept clear of.
pub const VESSEL_CORE_HU: i16 = -500;
/// Voxels this close (mm) to a vessel or the airway are no fissure candidates.
pub const CLEAR_MM: f64 = 1.5;
/// A kept group covers at least this sheet area (mm²).
pub const MIN_AREA_MM2: f64 = 400.0;
/// The fissures found are thickened by this (mm) before they serve as walls.
pub const THICKEN_MM: f64 = 2.5;

/// The fissures of `ct` (HU) inside `lungs` (labels, 0 outside), away from `vessels` (when
/// known) and `airway`.
pub fn fissures(
    ct: &Volume<i16>,
    lungs: &Volume<u8>,
    vessels: Option<&Mask>,
    airway: &Mask,
) -> Mask {
    let none = || Mask::zeros(ct.dims, ct.geometry);
    let inside = lungs.map(|v| (v != 0) as u8);
    let Some(roi) = bounding_box(&inside) else {
        return none();
    };
    let Ok(space) = ScaleSpace::new(ct, &roi, SIGMA_MM) else {
        return none();
    };
    // Vessels and airway with a clearance: their flanks look like sheets.
    let mut dense = airway.clone();
    if let Some(v) = vessels {
        // Only the vessels' dense part: a vessel mask that reaches into the partial volume of
        // thin vessels would otherwise keep the fissures out of most of the lung.
        for ((d, &x), &h) in dense.data.iter_mut().zip(&v.data).zip(&ct.data) {
            *d |= x & u8::from(h > VESSEL_CORE_HU);
        }
    }
    let near = dilate(&dense, CLEAR_MM);
    let d = roi.dims();
    let plate = space.map_roi(|p, h| {
        let v = ct.index(p[0], p[1], p[2]);
        if inside.data[v] == 0 || near.data[v] != 0 || space.smoothed(p) > MAX_HU {
            return false;
        }
        let [_, l2, l3] = eigenvalues(&h);
        l3 < -PLATE_HU && l2.abs() < PLATE_RATIO * l3.abs()
    });
    let mut candidates = Mask::zeros(ct.dims, ct.geometry);
    for (n, &is) in plate.iter().enumerate() {
        if is {
            let (i, j, k) = (n % d[0], (n / d[0]) % d[1], n / (d[0] * d[1]));
            let v = ct.index(roi.start[0] + i, roi.start[1] + j, roi.start[2] + k);
            candidates.data[v] = 1;
        }
    }
    // A sheet one voxel thick covers about one voxel face per voxel.
    let sp = ct.geometry.spacing;
    let face = (sp[0] * sp[1] * sp[2]).powf(2.0 / 3.0);
    let min_voxels = (MIN_AREA_MM2 / face).ceil() as usize;
    let groups = label(&candidates, Connectivity::TwentySix);
    let mut sheets = none();
    for (o, &l) in sheets.data.iter_mut().zip(&groups.labels.data) {
        if l != 0 && groups.sizes[l as usize] >= min_voxels {
            *o = 1;
        }
    }
    // Thickened, so that the small gaps between the pieces of one fissure are closed and the
    // lobes' territories do not leak through them.
    let mut out = dilate(&sheets, THICKEN_MM);
    for (o, &i) in out.data.iter_mut().zip(&inside.data) {
        *o &= i;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use ctplan_core::Geometry;

    /// A lung block (−850 HU) crossed by an oblique fissure one voxel thick (−600 HU) and by a
    /// vessel (+40 HU, radius 2 mm) along x: the fissure is found over most of its plane, the
    /// vessel is not.
    #[test]
    fn a_sheet_is_a_fissure_and_a_tube_is_not() {
        let dims = [60, 60, 60];
        let g = Geometry::new([1.0; 3], [0.0; 3]);
        let mut ct = Volume::<i16>::from_vec(dims, g, vec![-850; 60 * 60 * 60]).unwrap();
        let mut plane = Vec::new();
        for k in 0..60 {
            for j in 0..60 {
                for i in 0..60 {
                    let v = ct.index(i, j, k);
                    let (y, z) = (j as f64 - 30.0, k as f64 - 30.0);
                    if (y * y + z * z).sqrt() <= 2.0 && (15..45).contains(&i) {
                        ct.data[v] = 40;
                    } else if (k as i64 - j as i64).abs() == 0 && i < 12 {
                        ct.data[v] = -600;
                        plane.push(v);
                    }
                }
            }
        }
        let lungs = ct.map(|_| 1u8);
        let airway = Mask::zeros(dims, g);
        let f = fissures(&ct, &lungs, None, &airway);
        let found = plane.iter().filter(|&&v| f.data[v] != 0).count();
        assert!(
            found * 10 >= plane.len() * 8,
            "{found} of {} plane voxels",
            plane.len()
        );
        // The vessel's centre and its flank stay out.
        assert_eq!(f.data[ct.index(30, 30, 30)], 0);
        assert_eq!(f.data[ct.index(30, 30, 33)], 0);
    }
}
