//! The five lobes: every lung voxel labelled with the lobe whose bronchus feeds it.
//!
//! A lobe is the parenchyma its lobar bronchus ventilates, and the fissures are the borders
//! between such territories. The planning's territory map ([`crate::Model::territory`]) already
//! gives each lung voxel its feeding branch by the nearest path through the lung that crosses
//! no fissure ([`crate::territory::assign`] with the fissures as walls), so the lobes are that
//! map read at the lobar level: where the model has fissures they are the lobe borders, and
//! where a fissure is incomplete or absent the border is where the lobar bronchi's
//! territories meet (the completion by bronchial territories of Kuhnigk et al. 2005, "New tools
//! for computer assistance in thoracic CT. Part 1. Functional analysis of lungs, lung lobes,
//! and bronchopulmonary segments", RadioGraphics 25:525–536).
//!
//! Labels: 1 RUL, 2 RML, 3 RLL, 4 LUL, 5 LLL ([`crate::airway::segments::LOBES`] order + 1);
//! 0 outside the lungs and for lung fed by no branch of a named lobe.

use ctplan_core::Volume;

use crate::airway::{BranchId, LobeId};
use crate::model::Model;

/// The lobe of each branch of `model`'s tree: the lobe of the segment it feeds, else that of
/// the nearest lobar bronchus on its path from the trachea; `None` above the lobar level.
pub fn branch_lobes(model: &Model) -> Vec<Option<LobeId>> {
    let tree = &model.tree;
    let lobar: Vec<(usize, LobeId)> = LobeId::all()
        .filter_map(|l| model.naming.lobar(l).map(|b| (b.0, l)))
        .collect();
    (0..tree.branches.len())
        .map(|b| {
            if let Some(s) = model.naming.segment(BranchId(b)) {
                return Some(s.lobe());
            }
            tree.path_to(b)
                .iter()
                .rev()
                .find_map(|x| lobar.iter().find(|(lb, _)| lb == x).map(|&(_, l)| l))
        })
        .collect()
}

/// The lobe label map of `model` on its grid (all zero without a territory map).
pub fn lobes(model: &Model) -> Volume<u8> {
    let grid = &model.anatomy.airway;
    let mut out: Volume<u8> = Volume::zeros(grid.dims, grid.geometry);
    let Some(t) = &model.territory else {
        return out;
    };
    let of_branch = branch_lobes(model);
    for (o, &l) in out.data.iter_mut().zip(&t.data) {
        if let Some(Some(lobe)) = BranchId::from_label(l).and_then(|b| of_branch.get(b.0)) {
            *o = lobe.0 as u8 + 1;
        }
    }
    out
}
