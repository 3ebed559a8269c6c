//! The lungs, right and left, from the air inside the body.
//!
//! Lung parenchyma is darker than [`LUNG_HU`]; inside the body, the large dark pieces are the
//! lungs (with the airways, which are taken out, and bowel gas, which is smaller and is left
//! out). Each axial slice's holes are filled so that vessels, bronchial walls and a tumour
//! enclosed by the lung belong to it, as in the lung masks surgeons are shown (Hu, Hoffman &
//! Reinhardt 2001, "Automatic lung segmentation for accurate quantitation of volumetric X-ray
//! CT images", whose thresholding, airway removal and erosion-based left/right separation this
//! follows). Where the two lungs touch (the anterior and posterior junction lines), they are
//! one piece, parted by the planning's own split ([`crate::territory::split_lungs`]: eroded
//! until it falls into two large pieces, which are grown back through the mask).

use ctplan_core::label::{Connectivity, label};
use ctplan_core::morphology::{dilate, fill_holes_slices};
use ctplan_core::{Mask, Volume};

use crate::error::LungError;

/// Lung parenchyma is darker than this (HU).
pub const LUNG_HU: i16 = -400;
/// A lung is at least this large (mL); a smaller dark piece is bowel gas or noise.
pub const MIN_LUNG_ML: f64 = 100.0;

/// The pieces of `mask` (6-connected) of at least `min` voxels, largest first, as masks.
fn pieces(mask: &Mask, min: usize) -> Vec<Mask> {
    let c = label(mask, Connectivity::Six);
    let mut order: Vec<u32> = (1..c.sizes.len() as u32)
        .filter(|&l| c.sizes[l as usize] >= min)
        .collect();
    order.sort_by_key(|&l| std::cmp::Reverse(c.sizes[l as usize]));
    order.into_iter().map(|l| c.mask_of(l)).collect()
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
    // The planning's own split (`territory::split_lungs`): the same right and left here as
    // in every plan made from these masks.
    let (sides, how) = crate::territory::split_lungs(&filled)?;
    if how != "two separate lungs in the mask" {
        warnings.push(how);
    }
    Ok((sides, warnings))
}
