//! The plan of one case: [`plan_case`] runs the resection a [`Request`] asks for on an analysed
//! [`Model`] and gathers every table of the report — bronchi, segments, lobes, nodules with
//! their routes, the resection with its margin, function and crossing vessels, and every
//! segment resected alone. Values keep full precision; they are rounded when written
//! ([`crate::round`]).

use std::time::Instant;

use serde::Serialize;

use crate::airway::names::{LOBES, SEGMENTS};
use crate::airway::{BranchId, SegmentId};
use crate::error::LungError;
use crate::model::Model;
use crate::resection::crossings::crossings;
use crate::resection::function::segment_volumes;
use crate::resection::margin::nodule_field;
use crate::resection::route::{Route, route};
use crate::resection::{
    BranchSet, Margin, ResectionReport, SegmentOption, Target, each_segment, resect,
};
use crate::round::{r2, ser_opt2, ser_point2, ser_seconds, ser1, ser2, ser4};

/// What to plan on an analysed model.
#[derive(Debug, Clone)]
pub struct Request {
    /// What to resect (none: the analysis and the table of single segments only).
    pub targets: Vec<Target>,
    /// Pre-operative FEV1 in litres, for the predicted post-operative FEV1.
    pub fev1: Option<f64>,
    /// Required margin around the nodule.
    pub margin: Margin,
}

impl Default for Request {
    /// No targets, no FEV1, a margin of twice the nodule's diameter.
    fn default() -> Self {
        Request {
            targets: Vec::new(),
            fev1: None,
            margin: Margin::Ratio(2.0),
        }
    }
}

/// The whole report (`report.json`).
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Every branch of the airway tree.
    pub bronchi: Vec<BronchusReport>,
    /// The 18 segments.
    pub segments: Vec<SegmentReport>,
    /// The 5 lobes.
    pub lobes: Vec<LobeReport>,
    /// The segments together, as reported (each to 0.01 mL, so that the table adds up).
    #[serde(serialize_with = "ser1")]
    pub lung_volume_ml: f64,
    /// The nodules with their routes.
    pub nodules: Vec<NoduleReport>,
    /// The planned resection, if any target was given.
    pub resection: Option<ResectionReport>,
    /// Each segment resected alone (see [`each_segment`]).
    pub segment_resections: Vec<SegmentOption>,
    /// What the analysis noticed, in words.
    pub warnings: Vec<String>,
    /// Stage timings (s); [`plan_case`] fills `resect` and `tables`, the caller the others.
    #[serde(serialize_with = "ser_seconds")]
    pub seconds: Vec<(String, f64)>,
    /// The resected branches of the planned resection (for the scene and pictures).
    #[serde(skip)]
    pub resected: Option<BranchSet>,
    /// Radius of the margin halo drawn around the nodule, mm: the reported required margin of
    /// the resection, else the required margin around the first nodule.
    #[serde(skip)]
    pub halo_mm: Option<f64>,
}

/// A branch in the report.
#[derive(Debug, Clone, Serialize)]
pub struct BronchusReport {
    /// Branch number (depth-first from the trachea).
    pub id: BranchId,
    /// Boyden name, if named.
    pub name: Option<String>,
    /// Generation counted from the trachea (0) as anatomy does.
    pub generation: u32,
    /// The parent branch.
    pub parent: Option<BranchId>,
    /// Centreline length, mm.
    #[serde(serialize_with = "ser2")]
    pub length_mm: f64,
    /// Lumen diameter, mm.
    #[serde(serialize_with = "ser2")]
    pub diameter_mm: f64,
    /// Confidence of the name, 0–1.
    #[serde(serialize_with = "ser_opt2")]
    pub confidence: Option<f64>,
    /// The segment the branch feeds.
    pub segment: Option<String>,
    /// Proximal end, LPS mm.
    #[serde(serialize_with = "ser_point2")]
    pub start_mm: [f64; 3],
    /// Distal end, LPS mm.
    #[serde(serialize_with = "ser_point2")]
    pub end_mm: [f64; 3],
}

/// A segment in the report.
#[derive(Debug, Clone, Serialize)]
pub struct SegmentReport {
    /// Segment name (RS1, LS1+2, …).
    pub name: String,
    /// Its segmental bronchus (RB1, LB1+2, …).
    pub bronchus: String,
    /// Its lobe.
    pub lobe: String,
    /// Territory volume, mL.
    #[serde(serialize_with = "ser2")]
    pub volume_ml: f64,
    /// Of both lungs.
    #[serde(serialize_with = "ser4")]
    pub fraction: f64,
    /// Textbook share of lung function by the 19-segment count.
    #[serde(serialize_with = "ser4")]
    pub textbook_fraction: f64,
}

/// A lobe in the report.
#[derive(Debug, Clone, Serialize)]
pub struct LobeReport {
    /// Lobe name (RUL, …).
    pub name: String,
    /// Its segments together, mL.
    #[serde(serialize_with = "ser2")]
    pub volume_ml: f64,
    /// Of both lungs.
    #[serde(serialize_with = "ser4")]
    pub fraction: f64,
}

/// A nodule in the report.
#[derive(Debug, Clone, Serialize)]
pub struct NoduleReport {
    /// Centroid, LPS mm.
    #[serde(serialize_with = "ser_point2")]
    pub centroid_mm: [f64; 3],
    /// The segment holding most of its voxels.
    pub segment: Option<String>,
    /// That segment's lobe.
    pub lobe: Option<String>,
    /// Maximal diameter, mm.
    #[serde(serialize_with = "ser2")]
    pub diameter_mm: f64,
    /// Volume, mL.
    #[serde(serialize_with = "ser4")]
    pub volume_ml: f64,
    /// Shortest distance to the outside of the lung mask (the pleura), mm.
    #[serde(serialize_with = "ser_opt2")]
    pub depth_mm: Option<f64>,
    /// Shortest distance to the airway lumen, mm.
    #[serde(serialize_with = "ser2")]
    pub bronchus_distance_mm: f64,
    /// The bronchoscopic route to it.
    pub route: Route,
}

/// Plan a case: the requested resection (with the vessels crossing its plane), the nodules, the
/// segment and lobe tables and every segment resected alone.
pub fn plan_case(model: &Model, request: &Request) -> Result<Report, LungError> {
    let mut seconds = Vec::new();
    let t = Instant::now();
    let (resection, resected) = if request.targets.is_empty() {
        (None, None)
    } else {
        let (mut r, set) = resect(model, &request.targets, request.fev1, request.margin)?;
        r.crossings = crossings(model, &set);
        (Some(r), Some(set))
    };
    seconds.push(("resect".to_string(), t.elapsed().as_secs_f64()));
    let t = Instant::now();
    let nodules = nodule_reports(model);
    let segments = segment_reports(model);
    let lung_volume_ml = segments.iter().map(|s| r2(s.volume_ml)).sum::<f64>();
    let halo_mm = resection
        .as_ref()
        .and_then(|r| r.margin_required_mm.map(r2))
        .or_else(|| {
            model
                .nodules
                .first()
                .map(|n| request.margin.required_mm(n.diameter_mm))
        });
    let segment_resections = each_segment(model, request.fev1, request.margin);
    seconds.push(("tables".to_string(), t.elapsed().as_secs_f64()));
    Ok(Report {
        bronchi: bronchus_reports(model),
        segments,
        lobes: lobe_reports(model),
        lung_volume_ml,
        nodules,
        resection,
        segment_resections,
        warnings: model.warnings.clone(),
        seconds,
        resected,
        halo_mm,
    })
}

impl Report {
    /// The report as pretty-printed JSON (`report.json`), values rounded.
    pub fn to_json(&self) -> Result<String, LungError> {
        Ok(serde_json::to_string_pretty(self)?)
    }
}

/// The 18 segments: volume, share of both lungs and the textbook share.
pub fn segment_reports(model: &Model) -> Vec<SegmentReport> {
    let vols = segment_volumes(model);
    let total: f64 = vols.iter().sum();
    SEGMENTS
        .iter()
        .enumerate()
        .map(|(s, d)| SegmentReport {
            name: d.segment.to_string(),
            bronchus: d.bronchus.to_string(),
            lobe: d.lobe.to_string(),
            volume_ml: vols[s],
            fraction: if total > 0.0 { vols[s] / total } else { 0.0 },
            textbook_fraction: d.count as f64 / 19.0,
        })
        .collect()
}

/// The 5 lobes: volume and share of both lungs.
pub fn lobe_reports(model: &Model) -> Vec<LobeReport> {
    let vols = segment_volumes(model);
    let total: f64 = vols.iter().sum();
    LOBES
        .iter()
        .map(|l| {
            let v: f64 = SegmentId::all()
                .filter(|s| s.def().lobe == l.0)
                .map(|s| vols[s.0])
                .sum();
            LobeReport {
                name: l.0.to_string(),
                volume_ml: v,
                fraction: if total > 0.0 { v / total } else { 0.0 },
            }
        })
        .collect()
}

/// Every branch of the airway tree.
pub fn bronchus_reports(model: &Model) -> Vec<BronchusReport> {
    let gens = anatomical_generations(model);
    model
        .tree
        .branches
        .iter()
        .enumerate()
        .map(|(b, br)| {
            let id = BranchId(b);
            BronchusReport {
                id,
                name: model.naming.name(id).map(|n| n.name.clone()),
                generation: gens[b],
                parent: br.parent.map(BranchId),
                length_mm: br.length_mm,
                diameter_mm: br.diameter_mm,
                confidence: model.naming.name(id).map(|n| n.confidence),
                segment: model
                    .naming
                    .segment(id)
                    .map(|s| s.def().segment.to_string()),
                start_mm: br.start(),
                end_mm: br.end(),
            }
        })
        .collect()
}

/// Generation counted from the trachea (0) as anatomy does: branches named trachea are all 0.
pub fn anatomical_generations(model: &Model) -> Vec<u32> {
    let t = &model.tree;
    let mut g = vec![0u32; t.branches.len()];
    for b in 0..t.branches.len() {
        // Depth-first numbering: parents come first.
        if let Some(p) = t.branches[b].parent {
            let trachea = model
                .naming
                .name(BranchId(b))
                .is_some_and(|n| n.name == "Trachea");
            g[b] = if trachea { 0 } else { g[p] + 1 };
        }
    }
    g
}

/// Nodule facts that do not depend on the resection.
pub fn nodule_reports(model: &Model) -> Vec<NoduleReport> {
    model
        .nodules
        .iter()
        .map(|nod| {
            let field = nodule_field(model, nod, 80.0);
            let dims = model.anatomy.airway.dims;
            let mut bronchus: f64 = f64::INFINITY;
            let mut depth: Option<f64> = None;
            let mut votes = vec![0usize; SEGMENTS.len()];
            field.for_each(dims, |v, d| {
                if model.anatomy.airway.data[v] != 0 {
                    bronchus = bronchus.min(d as f64);
                }
                if let Some(l) = &model.anatomy.lungs {
                    let inside = l.data[v] != 0
                        || model
                            .anatomy
                            .nodules
                            .as_ref()
                            .is_some_and(|n| n.data[v] != 0);
                    if !inside {
                        depth = Some(depth.map_or(d as f64, |x: f64| x.min(d as f64)));
                    }
                }
            });
            if let Some(t) = &model.territory {
                for &v in &nod.voxels {
                    if let Some(s) = model.naming.segment_of_label(t.data[v]) {
                        votes[s.0] += 1;
                    }
                }
            }
            let seg = SegmentId::all()
                .filter(|s| votes[s.0] > 0)
                .max_by_key(|s| votes[s.0]);
            NoduleReport {
                centroid_mm: nod.centroid,
                segment: seg.map(|s| s.def().segment.to_string()),
                lobe: seg.map(|s| s.def().lobe.to_string()),
                diameter_mm: nod.diameter_mm,
                volume_ml: nod.volume_ml,
                depth_mm: depth,
                bronchus_distance_mm: bronchus,
                route: route(model, nod),
            }
        })
        .collect()
}
