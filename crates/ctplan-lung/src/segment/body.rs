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
use ctplan_core::{Mask, Volume};

/// Tissue is denser than this (HU); air and lung are below.
pub const TISSUE_HU: i16 = -500;
/// Bridges between the patient and the table thinner than this (mm) are cut.
pub const BRIDGE_MM: f64 = 3.0;

/// The body mask of `ct` (HU), lungs and airways included; empty when the CT shows no tissue.
pub fn body(ct: &Volume<i16>) -> Mask {
    let dense = ct.map(|v| (v > TISSUE_HU) as u8);
    // The opening cuts thin bridges; the largest piece left is the patient, whose own thin
    // parts (skin folds, the opening's losses) come back by intersecting a slightly dilated
    // copy with the dense voxels.
    let core = largest_component(&open(&dense, BRIDGE_MM), Connectivity::Six);
    let near = dilate(&core, 2.0 * BRIDGE_MM);
    let mut patient = dense;
    for (p, n) in patient.data.iter_mut().zip(&near.data) {
        *p &= *n;
    }
    let patient = largest_component(&patient, Connectivity::Six);
    fill_holes_slices(&patient, 2)
}
