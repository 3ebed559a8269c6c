//! The analysed patient: from the anatomy's masks to everything a re-simulated resection needs —
//! the airway tree with its names (and the user's corrections), the lung sides, the bronchial
//! territories (segments), the nodules and the vessel centrelines.
//!
//! Definitions used (written down in docs/lung.md): lung parenchyma = (lungs ∪ nodules) ∖ airway
//! lumen; segments tile it. A nodule is a 26-connected piece of the nodule mask; its maximal
//! diameter is the largest distance between voxel centres plus one voxel.

use std::any::Any;
use std::sync::{Arc, Mutex};

use ctplan_core::Volume;
use ctplan_core::label::{Connectivity, label};
use ctplan_core::vec3::dist;

pub mod anatomy;

use crate::airway::names::{Naming, Side, name_tree, rename};
use crate::airway::thin::thin;
use crate::airway::tree::{Root, Tree, TreeOptions, build};
use crate::airway::{BranchId, SegmentId};
use crate::error::LungError;
use crate::territory::{LEFT, RIGHT, assign, split_lungs};
use anatomy::Anatomy;

/// A nodule of the case.
#[derive(Debug, Clone)]
pub struct Nodule {
    /// Full-grid linear indices.
    pub voxels: Vec<usize>,
    /// Mean of the voxel centres, LPS mm.
    pub centroid: [f64; 3],
    /// Maximal diameter (largest distance between voxel centres plus one voxel), mm.
    pub diameter_mm: f64,
    /// Voxel count times the voxel volume.
    pub volume_ml: f64,
}

/// The kind of a vessel centreline voxel, from the mask it was thinned from.
pub type VesselKind = &'static str;

/// The analysed patient: everything a re-simulated resection needs.
pub struct Model {
    /// The masks the model was built from.
    pub anatomy: Anatomy,
    /// The airway's branch tree.
    pub tree: Tree,
    /// Names of its branches (with the user's corrections) and the segment each feeds.
    pub naming: Naming,
    /// Lung side per parenchyma voxel (0 outside the parenchyma); `None` without lungs.
    pub side: Option<Volume<u8>>,
    /// Per parenchyma voxel the feeding branch's label ([`BranchId::label`]; 0 for none).
    pub territory: Option<Volume<u32>>,
    /// Parenchyma voxels fed by each branch (indexed by [`BranchId`]).
    pub branch_voxels: Vec<usize>,
    /// The nodules, in the order of their first voxel.
    pub nodules: Vec<Nodule>,
    /// Vessel centreline voxels (full-grid indices) and their kind ("artery", "vein", "vessel").
    pub vessel_centreline: Vec<(usize, VesselKind)>,
    /// Volume of one voxel, mL.
    pub voxel_ml: f64,
    /// What the analysis noticed, in words (they go into the report).
    pub warnings: Vec<String>,
    /// Tables later stages derive from the model, kept for the next plan on it.
    pub derived: Derived,
}

/// Tables derived from a model by later stages, computed on first use and kept with the model
/// (the margin table of the largest nodule per required margin, `resection::margin::Halo`).
/// The model does not know their types, so that it depends on no later stage.
#[derive(Default)]
pub struct Derived {
    tables: Mutex<Vec<(DerivedKey, AnyTable)>>,
}

/// What a derived table is computed for: a kind (chosen by the stage) and a value's bits.
pub type DerivedKey = (u8, u64);

/// A derived table of a type only its stage knows.
type AnyTable = Arc<dyn Any + Send + Sync>;

impl Derived {
    /// The table of type `T` under `key`, made by `make` (under the lock) if there is none yet;
    /// `None` if `make` gives none.
    pub fn get_or_make<T: Any + Send + Sync>(
        &self,
        key: DerivedKey,
        make: impl FnOnce() -> Option<T>,
    ) -> Option<Arc<T>> {
        let mut tables = self.tables.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(t) = tables
            .iter()
            .filter(|(k, _)| *k == key)
            .find_map(|(_, t)| t.clone().downcast::<T>().ok())
        {
            return Some(t);
        }
        let t = Arc::new(make()?);
        tables.push((key, t.clone()));
        Some(t)
    }
}

impl Model {
    /// The world position (LPS mm) of a full-grid voxel.
    pub fn world(&self, v: usize) -> [f64; 3] {
        self.anatomy.airway.world_of(v)
    }
}

/// Analyse the anatomy: centrelines, tree, names (with the user's renames: branch → name),
/// lung sides, territories, nodules.
pub fn analyse(anatomy: Anatomy, renames: &[(BranchId, String)]) -> Result<Model, LungError> {
    let mut warnings = anatomy.warnings.clone();
    let skeleton = thin(&anatomy.airway);
    let tree = build(
        &anatomy.airway,
        &skeleton,
        Root::Superior,
        TreeOptions::default(),
    )
    .ok_or(LungError::NoCentreline)?;
    warnings.extend(tree.warnings.iter().map(|w| format!("airway: {w}")));
    let mut naming = name_tree(&tree);
    for (b, n) in renames {
        rename(&tree, &mut naming, *b, n)?;
    }
    warnings.extend(naming.warnings.iter().map(|w| format!("naming: {w}")));
    for s in SegmentId::all() {
        if naming.primary(s).is_none() && naming.lobar.iter().any(|l| l.is_some()) {
            warnings.push(format!(
                "segments: no bronchus {} in the airway mask, so segment {} gets no territory; its lung is counted in the neighbouring segments",
                s.def().bronchus,
                s.def().segment
            ));
        }
    }
    let voxel_ml = anatomy.airway.voxel_volume_mm3() / 1000.0;
    let nodules = find_nodules(&anatomy, voxel_ml);
    let (side, territory, branch_voxels) = match &anatomy.lungs {
        None => {
            warnings.push(
                "no lung mask: segments, resection and margins are not computed (airway naming only)"
                    .into(),
            );
            (None, None, vec![0; tree.branches.len()])
        }
        Some(lungs) => {
            let mut par = lungs.clone();
            if let Some(n) = &anatomy.nodules {
                for (p, &x) in par.data.iter_mut().zip(&n.data) {
                    *p |= x;
                }
            }
            for (p, &a) in par.data.iter_mut().zip(&anatomy.airway.data) {
                if a != 0 {
                    *p = 0;
                }
            }
            let (side, how) = split_lungs(&par)?;
            warnings.push(format!("lungs: {how}"));
            let mut seeds = Vec::new();
            for (b, br) in tree.branches.iter().enumerate() {
                let b = BranchId(b);
                let Some(s) = naming.segment(b) else {
                    continue;
                };
                let sd = if s.def().side == Side::Right {
                    RIGHT
                } else {
                    LEFT
                };
                for &v in &br.voxels {
                    seeds.push((v, b.label(), sd));
                }
            }
            let t = assign(&side, &anatomy.airway, anatomy.fissures.as_ref(), &seeds);
            let mut counts = vec![0usize; tree.branches.len()];
            let mut gap = 0usize;
            for (&s, &l) in side.data.iter().zip(&t.data) {
                if s == 0 {
                    continue;
                }
                match BranchId::from_label(l) {
                    None => gap += 1,
                    Some(b) => counts[b.0] += 1,
                }
            }
            if gap > 0 {
                warnings.push(format!(
                    "{gap} lung voxels ({:.1} mL) have no segment: no segmental bronchus reaches their lung",
                    gap as f64 * voxel_ml
                ));
            }
            (Some(side), Some(t), counts)
        }
    };
    for n in &nodules {
        if let Some(l) = &anatomy.lungs {
            let inside = n.voxels.iter().filter(|&&v| l.data[v] != 0).count();
            if inside * 2 < n.voxels.len() {
                warnings.push(format!(
                    "nodule at ({:.1}, {:.1}, {:.1}) mm lies mostly outside the lung mask ({} of {} voxels inside)",
                    n.centroid[0],
                    n.centroid[1],
                    n.centroid[2],
                    inside,
                    n.voxels.len()
                ));
            }
        }
    }
    let mut vessel_centreline = Vec::new();
    // "Vessels" that also come as arteries or veins (TotalSegmentator's `lung_vessels` beside
    // its `lung_arteries`, a model folder's `vessels`) count once, under their own kind.
    let untold = anatomy.vessels.as_ref().map(|v| {
        let mut rest = v.clone();
        for m in [&anatomy.arteries, &anatomy.veins].into_iter().flatten() {
            if m.dims == rest.dims {
                for (r, &x) in rest.data.iter_mut().zip(&m.data) {
                    *r &= (x == 0) as u8;
                }
            }
        }
        rest
    });
    for (m, kind) in [
        (&anatomy.arteries, "artery"),
        (&anatomy.veins, "vein"),
        (&untold, "vessel"),
    ] {
        if let Some(m) = m {
            let s = thin(m);
            vessel_centreline.extend(
                s.data
                    .iter()
                    .enumerate()
                    .filter(|(_, x)| **x != 0)
                    .map(|(v, _)| (v, kind)),
            );
        }
    }
    Ok(Model {
        anatomy,
        tree,
        naming,
        side,
        territory,
        branch_voxels,
        nodules,
        vessel_centreline,
        voxel_ml,
        warnings,
        derived: Derived::default(),
    })
}

fn find_nodules(an: &Anatomy, voxel_ml: f64) -> Vec<Nodule> {
    let Some(m) = &an.nodules else {
        return Vec::new();
    };
    let comps = label(m, Connectivity::TwentySix);
    let mut groups: Vec<Vec<usize>> = vec![Vec::new(); comps.sizes.len()];
    for (v, &l) in comps.labels.data.iter().enumerate() {
        if l != 0 {
            groups[l as usize].push(v);
        }
    }
    groups
        .into_iter()
        .skip(1)
        .filter(|g| !g.is_empty())
        .map(|voxels| {
            let pts: Vec<[f64; 3]> = voxels.iter().map(|&v| m.world_of(v)).collect();
            let mut c = [0.0; 3];
            for p in &pts {
                for d in 0..3 {
                    c[d] += p[d] / pts.len() as f64;
                }
            }
            // Maximal diameter: largest distance between voxel centres plus one voxel (the
            // extent of the outer faces), over at most 4000 surface-near points.
            let step = (pts.len() / 4000).max(1);
            let sample: Vec<[f64; 3]> = pts.iter().step_by(step).copied().collect();
            let mut dmax: f64 = 0.0;
            for a in &sample {
                for b in &sample {
                    dmax = dmax.max(dist(*a, *b));
                }
            }
            let sp = m.geometry.spacing;
            let voxel = (sp[0] + sp[1] + sp[2]) / 3.0;
            Nodule {
                centroid: c,
                diameter_mm: dmax + voxel,
                volume_ml: voxels.len() as f64 * voxel_ml,
                voxels,
            }
        })
        .collect()
}

#[cfg(test)]
mod vessel_kind_tests {
    use super::*;
    use ctplan_core::vec3::{dist, dot, scale, sub};
    use ctplan_core::{Geometry, Mask, grid};

    #[test]
    fn vessels_also_given_as_arteries_count_once_as_arteries() {
        // A trachea dividing into two main bronchi, and a vessel tube given both as
        // `vessels` and as `arteries` (as TotalSegmentator's files and a model folder give it).
        let dims = [40, 24, 50];
        let g = Geometry::new([1.0; 3], [0.0; 3]);
        let tube = |tubes: &[([f64; 3], [f64; 3])], r: f64| {
            let mut m = Mask::zeros(dims, g);
            for v in 0..m.data.len() {
                let p = grid::coords(dims, v).map(|x| x as f64);
                m.data[v] = u8::from(tubes.iter().any(|&(a, b)| {
                    let t = (dot(sub(p, a), sub(b, a)) / dot(sub(b, a), sub(b, a))).clamp(0.0, 1.0);
                    dist(p, [0, 1, 2].map(|d| a[d] + scale(sub(b, a), t)[d])) <= r
                }));
            }
            m
        };
        let carina = [20.0, 6.0, 25.0];
        let airway = tube(
            &[
                ([20.0, 6.0, 47.0], carina),
                (carina, [6.0, 6.0, 4.0]),
                (carina, [34.0, 6.0, 4.0]),
            ],
            2.5,
        );
        let vessel = tube(&[([10.0, 18.0, 40.0], [10.0, 18.0, 5.0])], 2.0);
        let model = analyse(
            Anatomy {
                airway,
                lungs: None,
                vessels: Some(vessel.clone()),
                arteries: Some(vessel),
                veins: None,
                nodules: None,
                fissures: None,
                sources: vec![],
                warnings: vec![],
            },
            &[],
        )
        .unwrap();
        assert!(!model.vessel_centreline.is_empty());
        assert!(
            model.vessel_centreline.iter().all(|(_, k)| *k == "artery"),
            "{:?}",
            model.vessel_centreline
        );
    }
}
