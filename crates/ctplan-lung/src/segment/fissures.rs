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
use ctplan_core::grid;
use ctplan_core::hessian::{ScaleSpace, Sym3, eigen, eigenvalues};
use ctplan_core::label::{Connectivity, label};
use ctplan_core::morphology::dilate;
use ctplan_core::{Mask, Volume};
use rayon::prelude::*;

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
/// How far (mm) a fissure is carried on along its plane beyond an edge ([`extend`]).
pub const EXTEND_MM: f64 = 30.0;
/// The radius (mm) of the neighbourhood whose shape tells a sheet's edge and its plane.
pub const EDGE_RADIUS_MM: f64 = 6.0;
/// Grids finer than this (mm, per axis) are carried on in blocks of voxels ([`extend`]).
pub const WORK_MM: f64 = 1.4;
/// The least sheet voxels in that neighbourhood for a plane to be read from it.
const MIN_EDGE_VOXELS: usize = 12;

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
    // Carried on along their own plane where they stop short, then thickened, so that the
    // small gaps between the pieces of one fissure are closed and the lobes' territories do
    // not leak through them or around their edges.
    let carried = extend(&sheets, lungs);
    for (s, &c) in sheets.data.iter_mut().zip(&carried.data) {
        *s |= c;
    }
    let mut out = dilate(&sheets, THICKEN_MM);
    for (o, &i) in out.data.iter_mut().zip(&inside.data) {
        *o &= i;
    }
    out
}

/// The sheets of `sheets` carried on along their own plane, beyond each edge, for up to
/// [`EXTEND_MM`] inside the same lung (`lungs`: side labels), until the lung ends or another
/// sheet is met; only the added voxels are returned.
///
/// A fissure that the plate measure finds often stops short of the pleura or the mediastinum
/// (the measure fades where the lung's edge dominates the Hessian), and many fissures are
/// anatomically incomplete; a territory that may walk around a fissure's edge then labels both
/// of its sides with one lobe. Carrying the sheet on by its tangent plane is the local form of
/// the surface completion of lobe segmentation (Pu et al. 2009, "Pulmonary lobe segmentation
/// in CT examinations using implicit surface fitting", IEEE TMI 28:1986–1996; Ross et al.
/// 2013, "Pulmonary lobe segmentation based on ridge surface sampling and shape model fitting",
/// Medical Physics 40:121903). At each sheet voxel, the sheet voxels within
/// [`EDGE_RADIUS_MM`] give a plane (their principal axes: the normal is the direction of least
/// spread); where their centroid lies off the voxel along that plane by more than a quarter
/// of the radius, the voxel is on an edge, and the sheet goes on straight away from the centroid.
/// On grids finer than [`WORK_MM`] this runs on blocks of voxels (a block is sheet where any of
/// its voxels is), which keeps the neighbourhoods small and changes nothing the
/// [`THICKEN_MM`] thickening would not cover.
pub fn extend(sheets: &Mask, lungs: &Volume<u8>) -> Mask {
    let d = sheets.dims;
    let sp = sheets.geometry.spacing;
    let b = [0, 1, 2].map(|a| ((WORK_MM / sp[a]).floor() as usize).max(1));
    if b == [1, 1, 1] {
        return extend_on(sheets, lungs);
    }
    let cd = [0, 1, 2].map(|a| d[a].div_ceil(b[a]));
    let mut g = sheets.geometry;
    g.spacing = [0, 1, 2].map(|a| sp[a] * b[a] as f64);
    let mut cs = Mask::zeros(cd, g);
    let mut cl: Volume<u8> = Volume::zeros(cd, g);
    let block = |v: usize| {
        let c = grid::coords(d, v);
        grid::index(cd, [0, 1, 2].map(|a| c[a] / b[a]))
    };
    for v in 0..sheets.data.len() {
        let c = block(v);
        cs.data[c] |= sheets.data[v];
        if cl.data[c] == 0 {
            cl.data[c] = lungs.data[v];
        }
    }
    let added = extend_on(&cs, &cl);
    let mut out = Mask::zeros(d, sheets.geometry);
    for v in 0..out.data.len() {
        let c = block(v);
        out.data[v] = u8::from(
            added.data[c] != 0
                && sheets.data[v] == 0
                && lungs.data[v] != 0
                && lungs.data[v] == cl.data[c],
        );
    }
    out
}

/// [`extend`] on the grid as it is.
fn extend_on(sheets: &Mask, lungs: &Volume<u8>) -> Mask {
    let dims = sheets.dims;
    let sp = sheets.geometry.spacing;
    let reach = [0, 1, 2].map(|a| (EDGE_RADIUS_MM / sp[a]).floor() as i64);
    let r2 = EDGE_RADIUS_MM * EDGE_RADIUS_MM;
    let on: Vec<usize> = (0..sheets.data.len())
        .filter(|&v| sheets.data[v] != 0)
        .collect();
    let rays: Vec<([f64; 3], [f64; 3], u8)> = on
        .par_iter()
        .filter_map(|&v| {
            let c = grid::coords(dims, v);
            let (mut n, mut s, mut ss) = (0usize, [0.0f64; 3], [[0.0f64; 3]; 3]);
            for dk in -reach[2]..=reach[2] {
                for dj in -reach[1]..=reach[1] {
                    for di in -reach[0]..=reach[0] {
                        let Some(q) = grid::offset(dims, c, [di, dj, dk]) else {
                            continue;
                        };
                        if sheets.data[grid::index(dims, q)] == 0 {
                            continue;
                        }
                        let d = [di as f64 * sp[0], dj as f64 * sp[1], dk as f64 * sp[2]];
                        if d[0] * d[0] + d[1] * d[1] + d[2] * d[2] > r2 {
                            continue;
                        }
                        n += 1;
                        for a in 0..3 {
                            s[a] += d[a];
                            for b in 0..3 {
                                ss[a][b] += d[a] * d[b];
                            }
                        }
                    }
                }
            }
            if n < MIN_EDGE_VOXELS {
                return None;
            }
            let m = s.map(|x| x / n as f64);
            let cov = |a: usize, b: usize| ss[a][b] / n as f64 - m[a] * m[b];
            let e = eigen(&Sym3 {
                xx: cov(0, 0),
                yy: cov(1, 1),
                zz: cov(2, 2),
                xy: cov(0, 1),
                xz: cov(0, 2),
                yz: cov(1, 2),
            });
            // A plane: one direction of little spread, two of much.
            if e.values[1] < 4.0 * e.values[0].abs() {
                return None;
            }
            let normal = e.vectors[0];
            let along = m[0] * normal[0] + m[1] * normal[1] + m[2] * normal[2];
            let t = [0, 1, 2].map(|a| m[a] - along * normal[a]);
            let len = (t[0] * t[0] + t[1] * t[1] + t[2] * t[2]).sqrt();
            if len < EDGE_RADIUS_MM / 4.0 {
                return None;
            }
            let at = [0, 1, 2].map(|a| c[a] as f64 * sp[a]);
            Some((at, t.map(|x| -x / len), lungs.data[v]))
        })
        .collect();
    let mut out = Mask::zeros(dims, sheets.geometry);
    let step = 0.5 * sp[0].min(sp[1]).min(sp[2]);
    let steps = (EXTEND_MM / step).ceil() as usize;
    for (at, dir, side) in rays {
        if side == 0 {
            continue;
        }
        for n in 1..=steps {
            let t = n as f64 * step;
            let mut q = [0usize; 3];
            let mut inside = true;
            for a in 0..3 {
                let x = ((at[a] + t * dir[a]) / sp[a]).round();
                inside &= x >= 0.0 && x < dims[a] as f64;
                q[a] = x.max(0.0) as usize;
            }
            if !inside {
                break;
            }
            let v = grid::index(dims, q);
            if lungs.data[v] != side || (sheets.data[v] != 0 && t > 2.0 * EDGE_RADIUS_MM) {
                break;
            }
            out.data[v] = 1;
        }
    }
    for (o, &s) in out.data.iter_mut().zip(&sheets.data) {
        *o &= u8::from(s == 0);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use ctplan_core::Geometry;

    /// A lung block (−850 HU) crossed by an oblique fissure one voxel thick (−600 HU) and by a
    /// vessel (+40 HU, radius 2 mm) along x, off the fissure's plane: the fissure is found over
    /// most of its plane, the vessel is not.
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
                    let (y, z) = (j as f64 - 20.0, k as f64 - 40.0);
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
        assert_eq!(f.data[ct.index(30, 20, 40)], 0);
        assert_eq!(f.data[ct.index(30, 20, 43)], 0);
    }

    /// An oblique sheet (z = y) that stops at y = 20 inside a 60³ lung is carried on along its
    /// plane to the lung's edge (within [`EXTEND_MM`]) and nowhere off it; in the other lung
    /// nothing is added, and a sheet that reaches the edge everywhere gets nothing.
    #[test]
    fn a_sheet_that_stops_short_is_carried_on_along_its_plane() {
        let dims = [60, 60, 60];
        let g = Geometry::new([1.0; 3], [0.0; 3]);
        let mut sheets = Mask::zeros(dims, g);
        for j in 0..20 {
            for i in 0..60 {
                let v = sheets.index(i, j, j);
                sheets.data[v] = 1;
            }
        }
        // The lung: side 1 for x < 60, a second lung (side 2) beyond z = 50 is never entered.
        let lungs = Volume::<u8>::from_vec(
            dims,
            g,
            (0..60 * 60 * 60)
                .map(|v| if v / 3600 >= 50 { 2 } else { 1 })
                .collect(),
        )
        .unwrap();
        let added = extend(&sheets, &lungs);
        let on_plane = |i: usize, j: usize, k: usize| (k as i64 - j as i64).abs() <= 1 && i < 60;
        let (mut on, mut off) = (0, 0);
        for k in 0..60 {
            for j in 0..60 {
                for i in 0..60 {
                    if added.data[added.index(i, j, k)] != 0 {
                        if on_plane(i, j, k) {
                            on += 1
                        } else {
                            off += 1
                        }
                        assert!(k < 50, "entered the other lung at ({i}, {j}, {k})");
                    }
                }
            }
        }
        assert_eq!(off, 0, "{off} voxels off the plane");
        // The continuation from y = 20 for 30 mm along the plane (to y ≈ 41), across most of x,
        // and no further.
        let row = |j: usize| {
            (0..60)
                .filter(|&i| added.data[added.index(i, j, j)] != 0)
                .count()
        };
        assert!(
            row(25) >= 50 && row(38) >= 50,
            "rows {} {}",
            row(25),
            row(38)
        );
        assert_eq!(row(45), 0);
        assert!(on >= 50 * 18, "{on} voxels added on the plane");
        // A sheet across the whole lung has no edge inside it.
        let mut whole = Mask::zeros(dims, g);
        for k in 0..60 {
            for i in 0..60 {
                let v = whole.index(i, 30, k);
                whole.data[v] = 1;
            }
        }
        let ones = lungs.map(|_| 1u8);
        assert_eq!(extend(&whole, &ones).count_nonzero(), 0);
    }
}
