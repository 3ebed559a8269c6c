//! The virtual resection on an analysed [`Model`]: which branches go ([`targets`]), what the
//! patient keeps ([`function`]: volumes and predicted post-operative FEV1), whether the margin
//! to the nodule holds and which segments would restore it ([`margin`]), the vessels that cross
//! the intersegmental plane ([`crossings`]) and the bronchoscopic route to a nodule ([`route`]).
//!
//! A resection only sums per-branch voxel counts and reads a margin table built once per nodule
//! and required margin, so re-simulating one (or every segment alone, [`each_segment`]) is fast.

use serde::Serialize;

use crate::airway::SegmentId;
use crate::error::LungError;
use crate::model::Model;
use crate::round::{ser_opt2, ser2};

pub mod crossings;
pub mod function;
pub mod margin;
pub mod route;
pub mod targets;

use crossings::Crossing;
pub use margin::Margin;
use margin::{Halo, MarginOption};
pub use targets::{BranchSet, Target};

/// The planned resection in the report.
#[derive(Debug, Clone, Serialize)]
pub struct ResectionReport {
    /// The targets as resolved (names, or the branch nearest to a point).
    pub targets: Vec<String>,
    /// Segments resected, a partial one with its resected share (`RS2 (40%)`).
    pub segments: Vec<String>,
    /// Resected parenchyma, mL.
    #[serde(serialize_with = "ser2")]
    pub volume_ml: f64,
    /// Parenchyma that stays, mL.
    #[serde(serialize_with = "ser2")]
    pub remaining_ml: f64,
    /// Pre-operative FEV1, L (as given).
    pub fev1_l: Option<f64>,
    /// Predicted post-operative FEV1 by segment counting, L.
    #[serde(serialize_with = "ser_opt2")]
    pub ppo_fev1_count: Option<f64>,
    /// Predicted post-operative FEV1 by volumetry, L.
    #[serde(serialize_with = "ser_opt2")]
    pub ppo_fev1_volume: Option<f64>,
    /// Resected segments in units of the 19-segment count.
    #[serde(serialize_with = "ser2")]
    pub segments_counted: f64,
    /// The margin required around the largest nodule, mm.
    #[serde(serialize_with = "ser_opt2")]
    pub margin_required_mm: Option<f64>,
    /// The margin the resection leaves (nodule to kept parenchyma), mm.
    #[serde(serialize_with = "ser_opt2")]
    pub margin_mm: Option<f64>,
    /// Margin over the nodule's maximal diameter.
    #[serde(serialize_with = "ser_opt2")]
    pub margin_ratio: Option<f64>,
    /// Whether the margin reaches the required one.
    pub margin_ok: Option<bool>,
    /// The smallest sufficient extension among [`ResectionReport::margin_options`].
    pub extend_with: Vec<String>,
    /// Segments whose addition was tried when the margin falls short.
    pub margin_options: Vec<MarginOption>,
    /// Segmental bronchi to catheterize for staining the resected segments.
    pub stain_bronchi: Vec<String>,
    /// Vessels crossing the intersegmental plane.
    pub crossings: Vec<Crossing>,
}

/// Re-simulate a resection on the analysed model (fast: counts and a crop around each nodule).
/// Returns the report (without crossings: [`crossings::crossings`]) and the resected branches.
pub fn resect(
    model: &Model,
    targets: &[Target],
    fev1: Option<f64>,
    margin: Margin,
) -> Result<(ResectionReport, BranchSet), LungError> {
    let halo = Halo::of(model, margin);
    resect_with(model, targets, fev1, halo.as_deref(), true)
}

/// [`resect`] with the halo computed once by the caller; `explore` also searches the segments
/// whose addition restores an insufficient margin.
fn resect_with(
    model: &Model,
    targets: &[Target],
    fev1: Option<f64>,
    halo: Option<&Halo>,
    explore: bool,
) -> Result<(ResectionReport, BranchSet), LungError> {
    if model.territory.is_none() {
        return Err(LungError::NoLungs);
    }
    let (set, names) = targets::resolve(model, targets)?;
    let f = function::of(model, &set, fev1);
    let mut report = ResectionReport {
        targets: names,
        segments: f.segments,
        volume_ml: f.resected_ml,
        remaining_ml: f.remaining_ml,
        fev1_l: fev1,
        ppo_fev1_count: f.ppo_fev1_count,
        ppo_fev1_volume: f.ppo_fev1_volume,
        segments_counted: f.counted,
        margin_required_mm: None,
        margin_mm: None,
        margin_ratio: None,
        margin_ok: None,
        extend_with: vec![],
        margin_options: vec![],
        stain_bronchi: f.stain_bronchi,
        crossings: vec![],
    };
    // Margin for the largest nodule.
    if let Some(h) = halo {
        let required = h.required;
        let m = h.margin(&set);
        report.margin_required_mm = Some(required);
        report.margin_mm = Some(m);
        report.margin_ratio = Some(m / h.nodule_diameter_mm);
        report.margin_ok = Some(m >= required);
        if m < required && explore {
            report.margin_options = margin::options(model, h, &set);
            report.extend_with = margin::smallest_sufficient(&report.margin_options);
        }
    }
    Ok((report, set))
}

/// One line of the table of single-segment resections.
#[derive(Debug, Clone, Serialize)]
pub struct SegmentOption {
    /// The segment resected alone.
    pub segment: String,
    /// Resected parenchyma, mL.
    #[serde(serialize_with = "ser2")]
    pub volume_ml: f64,
    /// Parenchyma that stays, mL.
    #[serde(serialize_with = "ser2")]
    pub remaining_ml: f64,
    /// Predicted post-operative FEV1 by segment counting, L.
    #[serde(serialize_with = "ser_opt2")]
    pub ppo_fev1_count: Option<f64>,
    /// Predicted post-operative FEV1 by volumetry, L.
    #[serde(serialize_with = "ser_opt2")]
    pub ppo_fev1_volume: Option<f64>,
    /// Margin to the largest nodule, mm.
    #[serde(serialize_with = "ser_opt2")]
    pub margin_mm: Option<f64>,
    /// Margin over the nodule's maximal diameter.
    #[serde(serialize_with = "ser_opt2")]
    pub margin_ratio: Option<f64>,
    /// Whether the margin reaches the required one.
    pub margin_ok: Option<bool>,
}

/// Every segment whose bronchus was found, resected alone: volumes, predicted FEV1 and the
/// margin to the (largest) nodule — the table a surgeon scans to see which segmentectomy
/// clears the lesion (the extensions that would restore a margin are searched only for the
/// planned resection). Empty without lungs.
pub fn each_segment(model: &Model, fev1: Option<f64>, margin: Margin) -> Vec<SegmentOption> {
    use rayon::prelude::*;
    if model.territory.is_none() {
        return vec![];
    }
    let halo = Halo::of(model, margin);
    let halo = halo.as_deref();
    SegmentId::all()
        .collect::<Vec<_>>()
        .into_par_iter()
        .filter(|&s| model.naming.primary(s).is_some())
        .filter_map(|s| {
            let name = s.def().segment.to_string();
            let target = [Target::Name(name.clone())];
            let (r, _) = resect_with(model, &target, fev1, halo, false).ok()?;
            Some(SegmentOption {
                segment: name,
                volume_ml: r.volume_ml,
                remaining_ml: r.remaining_ml,
                ppo_fev1_count: r.ppo_fev1_count,
                ppo_fev1_volume: r.ppo_fev1_volume,
                margin_mm: r.margin_mm,
                margin_ratio: r.margin_ratio,
                margin_ok: r.margin_ok,
            })
        })
        .collect()
}

#[cfg(test)]
pub(crate) mod tests;
