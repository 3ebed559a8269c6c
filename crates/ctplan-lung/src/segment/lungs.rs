//! The lungs, right and left, from the air inside the body.
//!
//! Lung parenchyma is darker than [`LUNG_HU`]; inside the body, the large dark pieces are the
//! lungs (with the airways, which are taken out, and bowel gas, which is smaller and is left
//! out). Each axial slice's holes are filled so that vessels, bronchial walls and a tumour
//! enclosed by the lung belong to it, as in the lung masks surgeons are shown (Hu, Hoffman &
//! Reinhardt 2001, "Automatic lung segmentation for accurate quantitation of volumetric X-ray
//! CT images", whose thresholding, airway removal and erosion-based left/right separation this
//! follows). Where the two lungs touch (the anterior and posterior junction lines), they are
//! one piece: it is eroded with growing balls until it falls into two large pieces, and every
//! voxel goes to the piece it is nearer to.

use ctplan_core::edt::distance_to;
use ctplan_core::label::{Connectivity, label};
use ctplan_core::morphology::{dilate, erode, fill_holes_slices};
use ctplan_core::{Mask, Volume};

use crate::error::LungError;

/// Lung parenchyma is darker than this (HU).
pub const LUNG_HU: i16 = -400;
/// A lung is at least this large (mL); a smaller dark piece is bowel gas or noise.
pub const MIN_LUNG_ML: f64 = 100.0;
/// Erosion radii (mm) tried, in order, to part lungs that touch.
pub const SPLIT_RADII_MM: [f64; 6] = [2.0, 4.0, 6.0, 8.0, 11.0, 15.0];

/// The pieces of `mask` (6-connected) of at least `min` voxels, largest first, as masks.
fn pieces(mask: &Mask, min: usize) -> Vec<Mask> {
    let c = label(mask, Connectivity::Six);
    let mut order: Vec<u32> = (1..c.sizes.len() as u32)
        .filter(|&l| c.sizes[l as usize] >= min)
        .collect();
    order.sort_by_key(|&l| std::cmp::Reverse(c.sizes[l as usize]));
    order.into_iter().map(|l| c.mask_of(l)).collect()
}

fn centroid_x(m: &Mask) -> f64 {
    let (mut s, mut n) = (0.0f64, 0.0f64);
    for (v, &x) in m.data.iter().enumerate() {
        if x != 0 {
            s += m.world_of(v)[0];
            n += 1.0;
        }
    }
    s / n.max(1.0)
}

/// The lung labels of `ct` (HU): 1 right, 2 left, 0 elsewhere (airway taken out), and what was
/// noticed. `body` bounds the search; `airway` is removed (dilated by one voxel: its wall).
pub fn lungs(
    ct: &Volume<i16>,
    body: &Mask,
    airway: &Mask,
) -> Result<(Volume<u8>, Vec<String>), LungError> {
    let mut warnings = Vec::new();
    let ml = ct.voxel_volume_mm3() / 1000.0;
    let min_voxels = (MIN_LUNG_ML / ml) as usize;
    let wall = dilate(
        airway,
        ct.geometry.spacing.iter().cloned().fold(0.0, f64::max),
    );
    let mut dark = ct.map(|v| (v < LUNG_HU) as u8);
    for ((d, b), w) in dark.data.iter_mut().zip(&body.data).zip(&wall.data) {
        *d &= *b & (1 - *w);
    }
    let found = pieces(&dark, min_voxels);
    if found.is_empty() {
        return Err(LungError::Segment(format!(
            "no lung found: no air-filled region inside the body of at least {MIN_LUNG_ML} mL"
        )));
    }
    // The largest piece is a lung (or both); a second one counts only if it is lung-sized.
    let largest = found[0].count_nonzero();
    let mut both = found[0].clone();
    let mut kept = 1;
    for p in found.iter().skip(1) {
        if p.count_nonzero() * 4 >= largest {
            for (b, &x) in both.data.iter_mut().zip(&p.data) {
                *b |= x;
            }
            kept += 1;
        }
    }
    if kept > 2 {
        warnings.push(format!("{kept} lung-sized air regions; all kept as lung"));
    }
    let mut filled = fill_holes_slices(&both, 2);
    // The airway's own lumen filled back in by a slice's hole filling is not lung.
    for (f, &a) in filled.data.iter_mut().zip(&airway.data) {
        *f &= 1 - a;
    }
    let sides = split(&filled, &mut warnings)?;
    Ok((sides, warnings))
}

/// Right (1) and left (2) lung of `lungs` (LPS: the patient's right has the smaller x).
fn split(lungs: &Mask, warnings: &mut Vec<String>) -> Result<Volume<u8>, LungError> {
    let total = lungs.count_nonzero();
    let two = |m: &Mask| -> Option<(Mask, Mask)> {
        let p = pieces(m, 1);
        let big = m.count_nonzero() / 10;
        (p.len() >= 2 && p[1].count_nonzero() >= big).then(|| (p[0].clone(), p[1].clone()))
    };
    let (a, b) = match two(lungs) {
        Some(ab) => ab,
        None => {
            let mut parted = None;
            for r in SPLIT_RADII_MM {
                if let Some(ab) = two(&erode(lungs, r)) {
                    warnings.push(format!(
                        "the lungs touch; parted by an erosion of {r} mm and nearest-piece assignment"
                    ));
                    parted = Some(ab);
                    break;
                }
            }
            parted.ok_or_else(|| {
                LungError::Segment(format!(
                    "the lungs ({:.0} mL) do not part into right and left (one lung only, or joined over {} mm)",
                    total as f64 * lungs.voxel_volume_mm3() / 1000.0,
                    SPLIT_RADII_MM[SPLIT_RADII_MM.len() - 1]
                ))
            })?
        }
    };
    let (right, left) = if centroid_x(&a) < centroid_x(&b) {
        (a, b)
    } else {
        (b, a)
    };
    let (dr, dl) = (distance_to(&right), distance_to(&left));
    let mut out = Volume::<u8>::zeros(lungs.dims, lungs.geometry);
    for v in 0..out.data.len() {
        if lungs.data[v] != 0 {
            out.data[v] = if dr.data[v] <= dl.data[v] { 1 } else { 2 };
        }
    }
    Ok(out)
}
