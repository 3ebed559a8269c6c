//! What the patient keeps: resected and remaining volume and the predicted post-operative FEV1.
//!
//! - Segment counting: `FEV1 · (1 − counted/19)` with the 19 functional segments (right 10,
//!   left upper lobe 5 with LS1+2 counting 2, left lower lobe 4; Brunelli et al., ERS/ESTS
//!   guidelines, Eur Respir J 34:17–41, 2009); a segment resected only in part counts by its
//!   resected volume fraction.
//! - Volumetry: `FEV1 · (1 − resected mL / lung mL)`, the lung being the segments together.

use super::targets::BranchSet;
use super::targets::branch_label;
use crate::airway::names::SEGMENTS;
use crate::airway::{BranchId, SegmentId};
use crate::model::Model;

/// The functional segments of both lungs (LS1+2 counts 2).
pub const FUNCTIONAL_SEGMENTS: f64 = 19.0;

/// Predicted post-operative FEV1 by segment counting: `counted` resected segments (in units of
/// the 19-segment count) out of 19.
pub fn ppo_fev1_count(fev1: f64, counted: f64) -> f64 {
    fev1 * (1.0 - counted / FUNCTIONAL_SEGMENTS)
}

/// Predicted post-operative FEV1 by volumetry: the share of the lung volume that stays.
pub fn ppo_fev1_volume(fev1: f64, resected_ml: f64, lung_ml: f64) -> f64 {
    fev1 * (1.0 - resected_ml / lung_ml.max(1e-9))
}

/// Segment volumes (mL, indexed by [`SegmentId`]) from the territory counts.
pub fn segment_volumes(model: &Model) -> Vec<f64> {
    let mut v = vec![0.0; SEGMENTS.len()];
    for (b, &c) in model.branch_voxels.iter().enumerate() {
        if let Some(s) = model.naming.segment(BranchId(b)) {
            v[s.0] += c as f64 * model.voxel_ml;
        }
    }
    v
}

/// Parenchyma (mL) fed by the branches of `set`.
pub fn resected_ml(model: &Model, set: &BranchSet) -> f64 {
    model
        .branch_voxels
        .iter()
        .enumerate()
        .filter(|(b, _)| set.contains(BranchId(*b)))
        .map(|(_, &c)| c as f64 * model.voxel_ml)
        .sum()
}

/// Resected segments in units of the 19-segment count, a segment resected in part by its
/// resected volume fraction (`resected[s] / volumes[s]`, at most 1), and their names (a partial
/// one with its percentage).
pub fn segments_counted(resected: &[f64], volumes: &[f64]) -> (f64, Vec<String>) {
    let mut counted = 0.0;
    let mut segs = Vec::new();
    for s in SegmentId::all() {
        let (r, v) = (resected[s.0], volumes[s.0]);
        if r > 0.0 && v > 0.0 {
            let f = (r / v).min(1.0);
            counted += f * s.def().count as f64;
            segs.push(if f > 0.999 {
                s.def().segment.to_string()
            } else {
                format!("{} ({:.0}%)", s.def().segment, 100.0 * f)
            });
        }
    }
    (counted, segs)
}

/// Volumes and predicted function of one resection.
#[derive(Debug, Clone)]
pub struct Function {
    /// Resected parenchyma, mL.
    pub resected_ml: f64,
    /// Parenchyma that stays, mL.
    pub remaining_ml: f64,
    /// Resected segments in units of the 19-segment count.
    pub counted: f64,
    /// The resected segments' names (a partial one with its percentage).
    pub segments: Vec<String>,
    /// Predicted post-operative FEV1 by segment counting (with a pre-operative FEV1).
    pub ppo_fev1_count: Option<f64>,
    /// Predicted post-operative FEV1 by volumetry (with a pre-operative FEV1).
    pub ppo_fev1_volume: Option<f64>,
    /// Segmental bronchi of the (partly) resected segments, for staining.
    pub stain_bronchi: Vec<String>,
}

/// Volumes and predicted function when the branches of `set` are resected.
pub fn of(model: &Model, set: &BranchSet, fev1: Option<f64>) -> Function {
    let vols = segment_volumes(model);
    let total: f64 = vols.iter().sum();
    let volume = resected_ml(model, set);
    let mut per_seg = vec![0.0; SEGMENTS.len()];
    for (b, &c) in model.branch_voxels.iter().enumerate() {
        let b = BranchId(b);
        if set.contains(b)
            && let Some(s) = model.naming.segment(b)
        {
            per_seg[s.0] += c as f64 * model.voxel_ml;
        }
    }
    let (counted, segments) = segments_counted(&per_seg, &vols);
    let stain_bronchi = SegmentId::all()
        .filter(|&s| per_seg[s.0] > 0.0)
        .filter_map(|s| model.naming.primary(s).map(|b| branch_label(model, b)))
        .collect();
    Function {
        resected_ml: volume,
        remaining_ml: total - volume,
        counted,
        segments,
        ppo_fev1_count: fev1.map(|f| ppo_fev1_count(f, counted)),
        ppo_fev1_volume: fev1.map(|f| ppo_fev1_volume(f, volume, total)),
        stain_bronchi,
    }
}
