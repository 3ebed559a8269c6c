//! The bronchoscopic route to a nodule: down the airway tree to the centreline point nearest the
//! nodule, where the catheter leaves the airway.

use serde::Serialize;

use ctplan_core::vec3::dist;

use super::targets::branch_label;
use crate::airway::BranchId;
use crate::model::{Model, Nodule};
use crate::round::{ser_point2, ser2};

/// The bronchoscopic route to a nodule.
#[derive(Debug, Clone, Serialize)]
pub struct Route {
    /// Bronchi from the trachea down, by name (or branch number).
    pub bronchi: Vec<String>,
    /// Length along the centreline, mm.
    #[serde(serialize_with = "ser2")]
    pub length_mm: f64,
    /// Where the catheter leaves the airway (LPS mm).
    #[serde(serialize_with = "ser_point2")]
    pub exit_mm: [f64; 3],
    /// Distance from the exit point to the lesion, mm.
    #[serde(serialize_with = "ser2")]
    pub exit_to_lesion_mm: f64,
    /// The last branch of the route.
    pub target_branch: BranchId,
}

/// Route through the airway tree to the centreline point nearest the nodule.
pub fn route(model: &Model, nod: &Nodule) -> Route {
    let step = (nod.voxels.len() / 2000).max(1);
    let pts: Vec<[f64; 3]> = nod
        .voxels
        .iter()
        .step_by(step)
        .map(|&v| model.world(v))
        .collect();
    let mut best = (0usize, 0usize, f64::INFINITY);
    for (b, br) in model.tree.branches.iter().enumerate() {
        for (i, q) in br.points.iter().enumerate() {
            // Cheap reject by centroid distance.
            if dist(*q, nod.centroid) - nod.diameter_mm > best.2 {
                continue;
            }
            let d = pts
                .iter()
                .map(|p| dist(*p, *q))
                .fold(f64::INFINITY, f64::min);
            if d < best.2 {
                best = (b, i, d);
            }
        }
    }
    let (b, i, d) = best;
    let path = model.tree.path_to(b);
    let mut length = 0.0;
    for &x in &path[..path.len() - 1] {
        length += model.tree.branches[x].length_mm;
    }
    let last = &model.tree.branches[b].points;
    length += last[..=i].windows(2).map(|w| dist(w[0], w[1])).sum::<f64>();
    Route {
        bronchi: path
            .iter()
            .map(|&x| branch_label(model, BranchId(x)))
            .collect(),
        length_mm: length,
        exit_mm: last[i],
        exit_to_lesion_mm: d,
        target_branch: BranchId(b),
    }
}
