//! The surgical margin: the shortest distance from the nodule to lung parenchyma that stays
//! (mm). The required margin is `k ×` the nodule's maximal diameter ([`Margin::Ratio`], k = 2
//! by default) or absolute ([`Margin::Mm`]); the margin ratio is margin / maximal diameter.
//! When the margin falls short, the segments of kept lung inside the required margin are tried
//! as extensions, alone, in pairs and all together.

use std::sync::Arc;

use serde::Serialize;

use ctplan_core::crop::BoundingBox;
use ctplan_core::edt::squared_edt;
use ctplan_core::grid;

use super::function::resected_ml;
use super::targets::BranchSet;
use crate::airway::names::SEGMENTS;
use crate::airway::{BranchId, SegmentId};
use crate::model::{Model, Nodule};
use crate::round::{r2, ser2};

/// Required margin.
#[derive(Debug, Clone, Copy)]
pub enum Margin {
    /// k × the nodule's maximal diameter.
    Ratio(f64),
    /// Absolute, mm.
    Mm(f64),
}

impl Margin {
    /// The required margin (mm) around a nodule of maximal diameter `diameter_mm`.
    pub fn required_mm(self, diameter_mm: f64) -> f64 {
        match self {
            Margin::Ratio(k) => k * diameter_mm,
            Margin::Mm(mm) => mm,
        }
    }
}

/// An extension of the resection tried to restore the margin.
#[derive(Debug, Clone, Serialize)]
pub struct MarginOption {
    /// Segments added.
    pub add: Vec<String>,
    /// The margin with them, mm.
    #[serde(serialize_with = "ser2")]
    pub margin_mm: f64,
    /// Margin over the nodule's maximal diameter.
    #[serde(serialize_with = "ser2")]
    pub margin_ratio: f64,
    /// Whether it reaches the required margin.
    pub ok: bool,
    /// The resected volume with them, mL.
    #[serde(serialize_with = "ser2")]
    pub volume_ml: f64,
}

/// The margin requirement around the largest nodule, reduced to what any resection needs: per
/// territory label (0 = lung fed by no named branch, else [`BranchId::label`]), the distance
/// from the nodule to the label's nearest voxel (the crop radius if none is nearer) and how
/// many of its voxels lie inside the required margin. The margin of a resection is then the
/// smallest distance over kept labels, without another pass over the voxels.
#[derive(Debug, Clone)]
pub struct Halo {
    /// The nodule's maximal diameter, mm.
    pub nodule_diameter_mm: f64,
    /// The required margin, mm.
    pub required: f64,
    radius: f64,
    nearest: Vec<f64>,
    inside: Vec<usize>,
}

impl Halo {
    fn compute(model: &Model, margin: Margin) -> Option<Halo> {
        let (t, side) = (model.territory.as_ref()?, model.side.as_ref()?);
        let nodule = model
            .nodules
            .iter()
            .max_by(|a, b| a.volume_ml.total_cmp(&b.volume_ml))?;
        let required = margin.required_mm(nodule.diameter_mm);
        let radius = required + 10.0;
        let field = nodule_field(model, nodule, radius);
        let labels = model.tree.branches.len() + 1;
        let mut nearest = vec![radius; labels];
        let mut inside = vec![0usize; labels];
        field.for_each(t.dims, |v, d| {
            if side.data[v] != 0 {
                let l = t.data[v] as usize;
                let d = d as f64;
                nearest[l] = nearest[l].min(d);
                if d < required {
                    inside[l] += 1;
                }
            }
        });
        Some(Halo {
            nodule_diameter_mm: nodule.diameter_mm,
            required,
            radius,
            nearest,
            inside,
        })
    }

    /// The halo for `margin`, computed once per model and margin; `None` without lungs or
    /// nodules.
    pub fn of(model: &Model, margin: Margin) -> Option<Arc<Halo>> {
        let key = match margin {
            Margin::Ratio(k) => (0u8, k.to_bits()),
            Margin::Mm(mm) => (1u8, mm.to_bits()),
        };
        model
            .derived
            .get_or_make(key, || Halo::compute(model, margin))
    }

    /// Margin (mm) to kept lung when the branches in `resected` are removed.
    pub fn margin(&self, resected: &BranchSet) -> f64 {
        self.nearest
            .iter()
            .enumerate()
            .filter(|&(l, _)| !resected.contains_label(l as u32))
            .map(|(_, &d)| d)
            .fold(self.radius, f64::min)
    }
}

/// Extensions of `set` by segments of kept lung inside the required margin (most overlap
/// first): each alone, each pair, and all of them (more than two), at most 24.
pub fn options(model: &Model, h: &Halo, set: &BranchSet) -> Vec<MarginOption> {
    let mut overlap = vec![0usize; SEGMENTS.len()];
    for (l, &n) in h.inside.iter().enumerate().skip(1) {
        let b = BranchId::from_label(l as u32).expect("labels from 1");
        if n > 0
            && !set.contains(b)
            && let Some(s) = model.naming.segment(b)
        {
            overlap[s.0] += n;
        }
    }
    let mut cands: Vec<SegmentId> = SegmentId::all().filter(|&s| overlap[s.0] > 0).collect();
    cands.sort_by_key(|&s| std::cmp::Reverse(overlap[s.0]));
    let with = |add: &[SegmentId]| -> BranchSet {
        let mut s2 = set.clone();
        for b in (0..model.tree.branches.len()).map(BranchId) {
            if model.naming.segment(b).is_some_and(|x| add.contains(&x)) {
                s2.insert(b);
            }
        }
        s2
    };
    let mut options: Vec<Vec<SegmentId>> = cands.iter().map(|&c| vec![c]).collect();
    for i in 0..cands.len() {
        for j in i + 1..cands.len() {
            options.push(vec![cands[i], cands[j]]);
        }
    }
    if cands.len() > 2 {
        options.push(cands.clone());
    }
    options
        .iter()
        .take(24)
        .map(|opt| {
            let s2 = with(opt);
            let m2 = h.margin(&s2);
            MarginOption {
                add: opt.iter().map(|s| s.def().segment.to_string()).collect(),
                margin_mm: m2,
                margin_ratio: m2 / h.nodule_diameter_mm,
                ok: m2 >= h.required,
                volume_ml: resected_ml(model, &s2),
            }
        })
        .collect()
}

/// The sufficient option with the smallest resected volume, compared at the reported precision
/// (0.01 mL) so that a tie goes to the first listed (the one with more overlap); empty if none
/// suffices.
pub fn smallest_sufficient(options: &[MarginOption]) -> Vec<String> {
    options
        .iter()
        .filter(|o| o.ok)
        .min_by(|a, b| r2(a.volume_ml).total_cmp(&r2(b.volume_ml)))
        .map(|o| o.add.clone())
        .unwrap_or_default()
}

/// Distances around a nodule on a crop: from every crop voxel to the nodule (mm).
pub(crate) struct NoduleField {
    bbox: BoundingBox,
    to_nodule: Vec<f32>,
}

/// The distance to `nod` on a crop reaching `radius_mm` beyond it.
pub(crate) fn nodule_field(model: &Model, nod: &Nodule, radius_mm: f64) -> NoduleField {
    let m = &model.anatomy.airway;
    let dims = m.dims;
    let mut lo = [usize::MAX; 3];
    let mut hi = [0usize; 3];
    for &v in &nod.voxels {
        let c = grid::coords(dims, v);
        for d in 0..3 {
            lo[d] = lo[d].min(c[d]);
            hi[d] = hi[d].max(c[d] + 1);
        }
    }
    let margin = ctplan_core::crop::margin_voxels(radius_mm, m.geometry.spacing);
    let bbox = BoundingBox { start: lo, end: hi }.expand(margin, dims);
    let bd = bbox.dims();
    let mut feat = vec![0u8; bd[0] * bd[1] * bd[2]];
    for &v in &nod.voxels {
        let c = grid::coords(dims, v);
        let l = grid::index(bd, [0, 1, 2].map(|d| c[d] - bbox.start[d]));
        feat[l] = 1;
    }
    let d2 = squared_edt(&feat, bd, m.geometry.spacing);
    NoduleField {
        bbox,
        to_nodule: d2.into_iter().map(f32::sqrt).collect(),
    }
}

impl NoduleField {
    /// Call `f(full-grid voxel, distance)` for every voxel of the crop.
    pub(crate) fn for_each(&self, full: [usize; 3], mut f: impl FnMut(usize, f32)) {
        let bd = self.bbox.dims();
        for k in 0..bd[2] {
            for j in 0..bd[1] {
                for i in 0..bd[0] {
                    let l = grid::index(bd, [i, j, k]);
                    let v = grid::index(full, [0, 1, 2].map(|d| [i, j, k][d] + self.bbox.start[d]));
                    f(v, self.to_nodule[l]);
                }
            }
        }
    }
}
