//! The body: everything denser than air that is one piece with the patient, with the lungs and
//! airways inside it filled in.
//!
//! Thresholding at −500 HU separates tissue from air; the largest 6-connected piece is the
//! patient (the table, its pad and clothing are separate pieces, or joined to the patient only
//! through bridges thinner than [`BRIDGE_MM`], which an opening removes); filling each axial
//! slice's holes puts the lungs, the airways and the bowel gas inside. The body bounds every
//! later stage: air outside it is never lung or airway.

use ctplan_core::label::{Connectivity, largest_component};
use ctplan_core::morphology::{dilate, fill_holes_slices, open};
use ctplan_core::resample::{Interpolation, resample};
use ctplan_core::{Mask, Volume};

/// Tissue is denser than this (HU); air and lung are below.
pub const TISSUE_HU: i16 = -500;
/// Bridges between the patient and the table thinner than this (mm) are cut.
pub const BRIDGE_MM: f64 = 3.0;

/// The patient's core is found on a grid of voxels about this size (mm) or finer: the opening
/// and dilation only need to tell a bridge of [`BRIDGE_MM`] from the patient.
pub const CORE_GRID_MM: f64 = 2.0;

/// The body mask of `ct` (HU), lungs and airways included; empty when the CT shows no tissue.
pub fn body(ct: &Volume<i16>) -> Mask {
    let dense = ct.map(|v| (v > TISSUE_HU) as u8);
    // The opening cuts thin bridges; the largest piece left is the patient, whose own thin
    // parts (skin folds, the opening's losses) come back by intersecting a slightly dilated
    // copy with the dense voxels. The core and its dilation are computed on a grid of about
    // CORE_GRID_MM (every second voxel of a 1 mm grid, the same grid at 2 mm): the three
    // distance transforms are the stage's cost, and a 6 mm neighbourhood needs no finer grid.
    let step = ct
        .geometry
        .spacing
        .map(|s| ((CORE_GRID_MM / s).floor() as usize).max(1));
    let near = coarse_near(&dense, step).unwrap_or_else(|| {
        let core = largest_component(&open(&dense, BRIDGE_MM), Connectivity::Six);
        dilate(&core, 2.0 * BRIDGE_MM)
    });
    let mut patient = dense;
    for (p, n) in patient.data.iter_mut().zip(&near.data) {
        *p &= *n;
    }
    let patient = largest_component(&patient, Connectivity::Six);
    fill_holes_slices(&patient, 2)
}

/// The patient's core (opened, largest piece) dilated by twice [`BRIDGE_MM`], found on the
/// grid of every `step`-th voxel of `dense` and brought back to its grid; `None` when `step`
/// is all ones (nothing to gain) or the grid cannot be resampled.
fn coarse_near(dense: &Mask, step: [usize; 3]) -> Option<Mask> {
    if step == [1, 1, 1] {
        return None;
    }
    let mut g = dense.geometry;
    g.spacing = [0, 1, 2].map(|d| g.spacing[d] * step[d] as f64);
    // One coarse voxel past the last fine one, so that every fine voxel has a coarse one
    // within half a coarse voxel.
    let dims = [0, 1, 2].map(|d| (dense.dims[d] - 1).div_ceil(step[d]) + 1);
    let coarse = resample(dense, dims, g, Interpolation::Nearest, 0).ok()?;
    let core = largest_component(&open(&coarse, BRIDGE_MM), Connectivity::Six);
    let near = dilate(&core, 2.0 * BRIDGE_MM);
    resample(&near, dense.dims, dense.geometry, Interpolation::Nearest, 0).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ctplan_core::Geometry;

    /// At 1 mm the core is found on the 2 mm grid: the table, joined to the patient by a 1 mm
    /// bridge, is still cut off, and the body matches the full-grid computation but for the
    /// voxels within a coarse voxel of the border.
    #[test]
    fn the_coarse_core_cuts_the_table_like_the_full_grid() {
        let dims = [120, 100, 20];
        let g = Geometry::new([1.0; 3], [-60.0, -50.0, 0.0]);
        let mut ct = Volume::<i16>::zeros(dims, g);
        for (v, x) in ct.data.iter_mut().enumerate() {
            let [a, b, _] = ct_point(dims, v);
            *x = if (a / 45.0).powi(2) + (b / 35.0).powi(2) <= 1.0
                || (b > 34.0 && b <= 43.0 && a.abs() < 0.5)
            {
                40
            } else if b > 42.0 {
                300
            } else {
                -1000
            };
        }
        let fast = body(&ct);
        let dense = ct.map(|v| (v > TISSUE_HU) as u8);
        let core = largest_component(&open(&dense, BRIDGE_MM), Connectivity::Six);
        let near = dilate(&core, 2.0 * BRIDGE_MM);
        let mut full = dense;
        for (p, n) in full.data.iter_mut().zip(&near.data) {
            *p &= *n;
        }
        let full = fill_holes_slices(&largest_component(&full, Connectivity::Six), 2);
        let table = ct.index(60, 97, 10);
        assert_eq!(fast.data[table], 0);
        assert_eq!(full.data[table], 0);
        let differ = fast
            .data
            .iter()
            .zip(&full.data)
            .filter(|(a, b)| a != b)
            .count();
        assert!(
            differ * 100 < full.count_nonzero(),
            "{differ} of {} voxels differ",
            full.count_nonzero()
        );
    }

    fn ct_point(dims: [usize; 3], v: usize) -> [f64; 3] {
        let [i, j, k] = ctplan_core::grid::coords(dims, v);
        [i as f64 - 60.0, j as f64 - 50.0, k as f64]
    }
}
