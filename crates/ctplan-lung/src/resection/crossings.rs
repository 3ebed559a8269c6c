//! Vessels crossing the intersegmental plane: vessel centreline voxels (thinned like the
//! airway) in kept lung with a 26-neighbour in resected lung, one report per 3 mm cluster, with
//! the local vessel diameter and which side of the crossing lies farther from the hilum.

use serde::Serialize;

use ctplan_core::vec3::dist;
use ctplan_core::{Mask, grid};

use super::targets::BranchSet;
use crate::model::{Model, VesselKind};
use crate::round::{r2, ser_point2, ser2};

/// A vessel crossing the planned intersegmental plane.
#[derive(Debug, Clone, Serialize)]
pub struct Crossing {
    /// "artery", "vein" or "vessel" (arteries and veins not told apart).
    pub kind: String,
    /// Midpoint of the crossing, LPS mm.
    #[serde(serialize_with = "ser_point2")]
    pub position_mm: [f64; 3],
    /// Local vessel diameter, mm (0 if unknown).
    #[serde(serialize_with = "ser2")]
    pub diameter_mm: f64,
    /// The side of the crossing farther from the hilum lies in kept lung: a vessel that drains
    /// (veins) or feeds (arteries) lung that stays.
    pub peripheral_in_kept: bool,
    /// What to do with it, in words.
    pub note: String,
}

/// Voxels of the resected region (on the territory map's grid); `None` without lungs.
pub fn resected_mask(model: &Model, set: &BranchSet) -> Option<Mask> {
    let t = model.territory.as_ref()?;
    let mut m = Mask::zeros(t.dims, t.geometry);
    for (o, &l) in m.data.iter_mut().zip(&t.data) {
        *o = u8::from(set.contains_label(l));
    }
    Some(m)
}

/// Vessels whose centreline crosses between resected and kept lung.
pub fn crossings(model: &Model, set: &BranchSet) -> Vec<Crossing> {
    let (Some(t), Some(_)) = (&model.territory, &model.side) else {
        return vec![];
    };
    let dims = t.dims;
    // 0 outside the territories, 1 resected, 2 kept.
    let state = |v: usize| -> u8 {
        let l = t.data[v];
        if l == 0 {
            0
        } else if set.contains_label(l) {
            1
        } else {
            2
        }
    };
    let on: std::collections::HashMap<usize, VesselKind> =
        model.vessel_centreline.iter().copied().collect();
    // Hilum of each side: where the main bronchus ends.
    let hilum = |p: [f64; 3]| -> [f64; 3] {
        let end = |name: &str| {
            model
                .naming
                .find(name)
                .map(|b| model.tree.branches[b.0].end())
        };
        match (end("RMB"), end("LMB")) {
            (Some(r), Some(l)) => {
                if dist(p, r) < dist(p, l) {
                    r
                } else {
                    l
                }
            }
            (Some(x), None) | (None, Some(x)) => x,
            _ => model.tree.branches[0].end(),
        }
    };
    let mut points: Vec<([f64; 3], VesselKind, bool)> = Vec::new();
    // In centreline order (not the map's), so that the report is the same on every run.
    for &(v, kind) in &model.vessel_centreline {
        if state(v) != 2 {
            continue;
        }
        for w in grid::neighbours26(dims, v) {
            if on.contains_key(&w) && state(w) == 1 {
                let pk = model.world(v);
                let pr = model.world(w);
                let mid = [
                    (pk[0] + pr[0]) / 2.0,
                    (pk[1] + pr[1]) / 2.0,
                    (pk[2] + pr[2]) / 2.0,
                ];
                let h = hilum(mid);
                points.push((mid, kind, dist(pk, h) > dist(pr, h)));
            }
        }
    }
    // One crossing per 3 mm cluster (measured from the reported position).
    let mut out: Vec<Crossing> = Vec::new();
    for (p, kind, periph_kept) in points {
        if out.iter().any(|c| dist(c.position_mm.map(r2), p) < 3.0) {
            continue;
        }
        let vessel_mask = match kind {
            "artery" => model.anatomy.arteries.as_ref(),
            "vein" => model.anatomy.veins.as_ref(),
            _ => model.anatomy.vessels.as_ref(),
        };
        let diameter = vessel_mask.map_or(0.0, |vm| local_diameter(vm, p));
        let note = match (kind, periph_kept) {
            ("artery", true) => "artery to kept lung crosses the plane: preserve it".to_string(),
            ("artery", false) => "artery to the resected segment(s): divide it".to_string(),
            (_, true) => {
                format!("{kind} draining kept lung crosses the plane: preserve it (intersegmental)")
            }
            (_, false) => format!("{kind} from the resected segment(s) crosses the plane"),
        };
        out.push(Crossing {
            kind: kind.to_string(),
            position_mm: p,
            diameter_mm: diameter,
            peripheral_in_kept: periph_kept,
            note,
        });
    }
    out
}

/// Twice the distance from a point to the nearest voxel outside the vessel (search ≤ 8 mm).
fn local_diameter(m: &Mask, p: [f64; 3]) -> f64 {
    let Some(idx) = m.geometry.world_to_index(p) else {
        return 0.0;
    };
    let c = idx.map(|x| x.round() as i64);
    let sp = m.geometry.spacing;
    let r = [0, 1, 2].map(|d| (8.0 / sp[d]).ceil() as i64);
    let mut best = f64::INFINITY;
    for dk in -r[2]..=r[2] {
        for dj in -r[1]..=r[1] {
            for di in -r[0]..=r[0] {
                let q = [c[0] + di, c[1] + dj, c[2] + dk];
                if q.iter().zip(m.dims).any(|(&x, n)| x < 0 || x >= n as i64) {
                    continue;
                }
                if m.get(q[0] as usize, q[1] as usize, q[2] as usize) == 0 {
                    let d = ((di as f64 * sp[0]).powi(2)
                        + (dj as f64 * sp[1]).powi(2)
                        + (dk as f64 * sp[2]).powi(2))
                    .sqrt();
                    best = best.min(d);
                }
            }
        }
    }
    if best.is_finite() { 2.0 * best } else { 0.0 }
}
