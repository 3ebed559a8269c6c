//! The patient's chest model from the CT itself: body, lungs (right and left) and the airway
//! tree, on the CT's grid, ready for [`crate::model::analyse`] and the plan.
//!
//! The stages, in order, each a module: [`body`] (the patient, the table left out) →
//! [`airway`] (the trachea found automatically, the lumen grown with leak control) → [`lungs`]
//! (dark regions inside the body, airway out, split into right and left) → [`vessels`]
//! (multiscale vesselness in the lungs and hila, arteries told from veins by the bronchi
//! beside them where the scan allows). [`segment`] runs
//! them and times each; [`ChestModel::anatomy`] hands the result to the planning as if it had
//! been read from mask files. [`model`] is the one call of `ctplan lung model`: the stages,
//! then the airway tree analysed as the plan will see it, and the [`Summary`].
//!
//! Design decisions: classical image processing, deterministic and CPU-only, so that a model
//! is reproducible and needs no weights; every threshold is a named constant of its stage
//! with the reason for its value. What a stage could not do well (a leak stopped, lungs that
//! touch) is said in [`ChestModel::warnings`], never silently returned.

pub mod airway;
pub mod body;
pub mod lungs;
pub mod vessels;

use std::time::Instant;

use ctplan_core::{AnyVolume, Mask, Volume};
use serde::Serialize;

use crate::error::LungError;
use crate::model::anatomy::Anatomy;

/// A stage of [`segment`], as reported to a progress callback before it runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Stage {
    /// The body mask.
    Body,
    /// The airway tree.
    Airway,
    /// The lungs, right and left.
    Lungs,
    /// The pulmonary vessels, arteries and veins.
    Vessels,
    /// The airway tree analysed as the plan sees it: centreline, branches, names.
    Tree,
}

impl Stage {
    /// Every stage, in order.
    pub const ALL: [Stage; 5] = [
        Stage::Body,
        Stage::Airway,
        Stage::Lungs,
        Stage::Vessels,
        Stage::Tree,
    ];

    /// The stage in words.
    pub fn name(self) -> &'static str {
        match self {
            Stage::Body => "body",
            Stage::Airway => "airway",
            Stage::Lungs => "lungs",
            Stage::Vessels => "vessels",
            Stage::Tree => "airway tree",
        }
    }
}

/// The model of one CT, on its grid.
#[derive(Debug, Clone)]
pub struct ChestModel {
    /// The body (lungs and airways inside it filled in).
    pub body: Mask,
    /// The lungs: 1 right, 2 left, 0 elsewhere (trachea and bronchi outside the lungs out).
    pub lungs: Volume<u8>,
    /// The airway lumen and how it was grown.
    pub airway: airway::Airway,
    /// The pulmonary vessels: all of them, arteries and veins (masks), the centreline's
    /// branches with their labels, and whether they could be told apart.
    pub vessels: vessels::Vessels,
    /// What the stages noticed, in words.
    pub warnings: Vec<String>,
    /// Seconds per stage, in order.
    pub seconds: Vec<(Stage, f64)>,
}

impl ChestModel {
    /// The model as the planning's anatomy (airway, lungs joined, arteries, veins and the
    /// vessels not told apart as `vessels`; no nodules or fissures yet).
    pub fn anatomy(&self) -> Anatomy {
        let v = &self.vessels;
        let some = |m: Mask| (m.count_nonzero() > 0).then_some(m);
        let mut rest = v.mask.clone();
        for ((r, &a), &b) in rest
            .data
            .iter_mut()
            .zip(&v.arteries.data)
            .zip(&v.veins.data)
        {
            *r &= (a | b == 0) as u8;
        }
        Anatomy {
            airway: self.airway.mask.clone(),
            lungs: Some(self.lungs.map(|v| (v != 0) as u8)),
            vessels: some(rest),
            arteries: some(v.arteries.clone()),
            veins: some(v.veins.clone()),
            nodules: None,
            fissures: None,
            sources: vec![("CT".into(), "lung model".into())],
            warnings: self.warnings.clone(),
        }
    }
}

/// A CT of any stored type as Hounsfield units in `i16` (values clamped to its range).
pub fn hounsfield(ct: &AnyVolume) -> Volume<i16> {
    match ct {
        AnyVolume::I16(v) => v.clone(),
        other => other
            .to_f32()
            .map(|x| x.round().clamp(-32768.0, 32767.0) as i16),
    }
}

/// Run `f` as `stage`: announced to `progress`, timed into `seconds`.
fn staged<T>(
    stage: Stage,
    progress: &mut dyn FnMut(Stage),
    seconds: &mut Vec<(Stage, f64)>,
    f: impl FnOnce() -> T,
) -> T {
    progress(stage);
    let t = Instant::now();
    let out = f();
    seconds.push((stage, t.elapsed().as_secs_f64()));
    out
}

/// Build the chest model of `ct` (HU), calling `progress` before each stage.
pub fn segment(ct: &Volume<i16>, progress: &mut dyn FnMut(Stage)) -> Result<ChestModel, LungError> {
    let mut seconds = Vec::new();
    let body = staged(Stage::Body, progress, &mut seconds, || body::body(ct));
    if body.count_nonzero() == 0 {
        return Err(LungError::Segment(format!(
            "no body found: no voxel is denser than {} HU (is this a CT in Hounsfield units?)",
            body::TISSUE_HU
        )));
    }
    let airway = staged(Stage::Airway, progress, &mut seconds, || {
        airway::airway(ct, &body)
    })
    .ok_or_else(|| {
        LungError::Segment(
            "no trachea found: no round air-filled tube near the midline at the top of the scan"
                .into(),
        )
    })?;
    let mut warnings = Vec::new();
    if let Some(t) = airway.leak_at_hu {
        warnings.push(format!(
            "airway: growing leaked into the lung at {t} HU; the tree grown at {} HU is kept",
            airway.threshold_hu
        ));
    }
    let (lungs, w) = staged(Stage::Lungs, progress, &mut seconds, || {
        lungs::lungs(ct, &body, &airway.mask)
    })?;
    warnings.extend(w.into_iter().map(|w| format!("lungs: {w}")));
    let vessels = staged(Stage::Vessels, progress, &mut seconds, || {
        vessels::vessels(ct, &lungs, &airway.mask)
    });
    Ok(ChestModel {
        body,
        lungs,
        airway,
        vessels,
        warnings,
        seconds,
    })
}

/// The model of `ct` (HU) and its summary: [`segment`], then the airway tree analysed by the
/// planning ([`crate::analyse`] of [`ChestModel::anatomy`], timed as [`Stage::Tree`]).
pub fn model(
    ct: &Volume<i16>,
    progress: &mut dyn FnMut(Stage),
) -> Result<(ChestModel, Summary), LungError> {
    let mut built = segment(ct, progress)?;
    let anatomy = built.anatomy();
    let analysed = staged(Stage::Tree, progress, &mut built.seconds, || {
        crate::analyse(anatomy, &[])
    })?;
    let summary = summary(&built, &analysed);
    Ok((built, summary))
}

/// What `model.json` says of a chest model: volumes, how deep the airway tree reaches per
/// lobe, what was noticed, and the time per stage.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    /// Right lung volume (mL).
    pub right_lung_ml: f64,
    /// Left lung volume (mL).
    pub left_lung_ml: f64,
    /// Body volume (mL).
    pub body_ml: f64,
    /// The airway.
    pub airway: AirwaySummary,
    /// The vessels.
    pub vessels: vessels::Summary,
    /// What the stages and the analysis noticed.
    pub warnings: Vec<String>,
    /// Seconds per stage.
    pub seconds: Vec<(String, f64)>,
}

/// The airway part of a [`Summary`].
#[derive(Debug, Clone, Serialize)]
pub struct AirwaySummary {
    /// Lumen volume (mL).
    pub volume_ml: f64,
    /// The growing threshold kept (HU).
    pub threshold_hu: i16,
    /// Where growing leaked into the lung (HU), stopped and stepped back from.
    pub leak_at_hu: Option<i16>,
    /// Lumen volume per threshold tried (HU, mL).
    pub steps: Vec<(i16, f64)>,
    /// The trachea's seed (LPS mm).
    pub seed_mm: [f64; 3],
    /// Branches of the tree.
    pub branches: usize,
    /// The deepest generation (trachea 0, main bronchi 1).
    pub max_generation: u32,
    /// Per lobe (RUL, RML, RLL, LUL, LLL): generations below the lobe's own bronchus that
    /// the tree reaches (`None`: the lobar bronchus was not found).
    pub generations_per_lobe: Vec<(String, Option<u32>)>,
    /// The segmental bronchi named (Boyden, e.g. RB1, LB1+2).
    pub segmental_bronchi: Vec<String>,
}

/// The summary of `model`, with the airway tree's depth from its analysis `analysed` (the
/// planning's [`crate::analyse`] of [`ChestModel::anatomy`]).
pub fn summary(model: &ChestModel, analysed: &crate::Model) -> Summary {
    use crate::airway::segments::{LOBES, SEGMENTS};
    use crate::airway::{BranchId, LobeId, SegmentId};
    let ml = model.lungs.voxel_volume_mm3() / 1000.0;
    let count = |l: u8| model.lungs.data.iter().filter(|&&v| v == l).count() as f64 * ml;
    let tree = &analysed.tree;
    let generations_per_lobe = LobeId::all()
        .map(|l| {
            let depth = analysed.naming.lobar(l).map(|b| {
                let g0 = tree.branches[b.0].generation;
                tree.subtree(b.0)
                    .iter()
                    .map(|&s| tree.branches[s].generation - g0)
                    .max()
                    .unwrap_or(0)
            });
            (LOBES[l.0].0.to_string(), depth)
        })
        .collect();
    let segmental_bronchi = (0..SEGMENTS.len())
        .filter_map(|s| analysed.naming.primary(SegmentId(s)))
        .filter_map(|b: BranchId| analysed.naming.name(b).map(|n| n.name.clone()))
        .collect();
    let mut warnings = model.warnings.clone();
    warnings.extend(
        analysed
            .warnings
            .iter()
            .filter(|w| !model.warnings.contains(w))
            .cloned(),
    );
    Summary {
        right_lung_ml: count(1),
        left_lung_ml: count(2),
        body_ml: model.body.nonzero_ml(),
        airway: AirwaySummary {
            volume_ml: model.airway.mask.nonzero_ml(),
            threshold_hu: model.airway.threshold_hu,
            leak_at_hu: model.airway.leak_at_hu,
            steps: model.airway.steps.clone(),
            seed_mm: model.airway.seed_mm,
            branches: tree.branches.len(),
            max_generation: tree
                .branches
                .iter()
                .map(|b| b.generation)
                .max()
                .unwrap_or(0),
            generations_per_lobe,
            segmental_bronchi,
        },
        vessels: vessels::Summary::of(&model.vessels),
        warnings,
        seconds: model
            .seconds
            .iter()
            .map(|(s, t)| (s.name().to_string(), *t))
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ctplan_core::Geometry;

    /// A chest phantom, 2 mm voxels, LPS with the identity direction: a body (40 HU) on a
    /// table, two lungs (−850 HU) at x = ∓45 mm, a trachea (−1000 HU, radius 7 mm) from the
    /// top down to a carina, and main bronchi (radius 4 mm) into each lung.
    fn phantom() -> Volume<i16> {
        let dims = [110, 90, 70];
        let g = Geometry::new([2.0; 3], [-110.0, -90.0, -70.0]);
        let mut ct = Volume::<i16>::zeros(dims, g);
        let seg = |p: [f64; 3], a: [f64; 3], b: [f64; 3]| {
            let ab = [b[0] - a[0], b[1] - a[1], b[2] - a[2]];
            let ap = [p[0] - a[0], p[1] - a[1], p[2] - a[2]];
            let t = ((ap[0] * ab[0] + ap[1] * ab[1] + ap[2] * ab[2])
                / (ab[0] * ab[0] + ab[1] * ab[1] + ab[2] * ab[2]))
                .clamp(0.0, 1.0);
            let d = [ap[0] - t * ab[0], ap[1] - t * ab[1], ap[2] - t * ab[2]];
            (d[0] * d[0] + d[1] * d[1] + d[2] * d[2]).sqrt()
        };
        let carina = [0.0, 0.0, 20.0];
        for v in 0..ct.data.len() {
            let [x, y, z] = ct.world_of(v);
            let in_lung = |cx: f64| {
                ((x - cx) / 32.0).powi(2) + (y / 40.0).powi(2) + ((z + 5.0) / 50.0).powi(2) <= 1.0
            };
            ct.data[v] = if (x / 100.0).powi(2) + (y / 70.0).powi(2) > 1.0 {
                // Air around the body; the table below it, across a 6 mm gap.
                if y > 76.0 { 300 } else { -1000 }
            } else if seg([x, y, z], [0.0, 0.0, 80.0], carina) <= 7.0
                || seg([x, y, z], carina, [-45.0, 0.0, 0.0]) <= 4.0
                || seg([x, y, z], carina, [45.0, 0.0, 0.0]) <= 4.0
            {
                -1000
            } else if in_lung(-45.0) || in_lung(45.0) {
                -850
            } else {
                40
            };
        }
        ct
    }

    #[test]
    fn the_phantom_is_modelled() {
        let ct = phantom();
        let mut stages = Vec::new();
        let (m, s) = model(&ct, &mut |s| stages.push(s)).unwrap();
        assert_eq!(stages, Stage::ALL);
        // The table is not the body; the lungs are inside it.
        let table = ct.index(55, 89, 35);
        assert_eq!(m.body.data[table], 0);
        assert_eq!(m.body.data[ct.index(55, 45, 35)], 1);
        // Right lung (label 1) at x = −45 mm, left (2) at +45 mm.
        let at = |x: f64, y: f64, z: f64| {
            ct.index(
                ((x + 110.0) / 2.0) as usize,
                ((y + 90.0) / 2.0) as usize,
                ((z + 70.0) / 2.0) as usize,
            )
        };
        assert_eq!(m.lungs.data[at(-45.0, 20.0, -5.0)], 1);
        assert_eq!(m.lungs.data[at(45.0, 20.0, -5.0)], 2);
        // The trachea is airway and not lung; the growing stopped at the parenchyma.
        let trachea = at(0.0, 0.0, 50.0);
        assert_eq!(m.airway.mask.data[trachea], 1);
        assert_eq!(m.lungs.data[trachea], 0);
        assert_eq!(m.airway.leak_at_hu, Some(-840));
        assert_eq!(m.airway.threshold_hu, -850);
        let lung_in_airway = (0..ct.data.len())
            .filter(|&v| m.airway.mask.data[v] != 0 && ct.data[v] == -850)
            .count();
        // (A wall-less bronchus entering the lung can enclose a lone parenchyma voxel in one
        // plane, which the lumen's hole filling takes: at most a couple of voxels.)
        assert!(
            lung_in_airway <= 2,
            "{lung_in_airway} lung voxels in the airway"
        );
        assert!((m.airway.seed_mm[0]).abs() < 2.0, "{:?}", m.airway.seed_mm);
        // Each lung's volume within 10 % of its ellipsoid (4/3 π 32·40·50 mm³ = 268 mL).
        let ml = ct.voxel_volume_mm3() / 1000.0;
        for l in [1u8, 2] {
            let v = m.lungs.data.iter().filter(|&&x| x == l).count() as f64 * ml;
            assert!((v - 268.1).abs() < 26.8, "lung {l}: {v} mL");
        }
        // The planning reads it: the trachea divides into RMB and LMB.
        assert!(s.airway.branches >= 3, "{s:?}");
    }

    #[test]
    fn a_ct_without_a_body_or_a_trachea_is_refused_in_words() {
        let air = Volume::<i16>::from_vec(
            [20, 20, 20],
            Geometry::new([2.0; 3], [0.0; 3]),
            vec![-1000; 8000],
        )
        .unwrap();
        let e = segment(&air, &mut |_| {}).unwrap_err().to_string();
        assert!(e.starts_with("no body found"), "{e}");
        let solid = air.map(|_| 40i16);
        let e = segment(&solid, &mut |_| {}).unwrap_err().to_string();
        assert!(e.starts_with("no trachea found"), "{e}");
    }
}
