//! The patient's chest model from the CT itself: body, lungs (right and left) and the airway
//! tree, on the CT's grid, ready for [`crate::model::analyse`] and the plan.
//!
//! The stages, in order, each a module: [`body`] (the patient, the table left out) →
//! [`airway`] (the trachea found automatically, the lumen grown with leak control) → [`lungs`]
//! (dark regions inside the body, airway out, split into right and left) → [`vessels`]
//! (multiscale vesselness in the lungs and hila, arteries told from veins by the bronchi
//! beside them where the scan allows) → [`fissures`] (thin bright sheets: the lobes' walls) →
//! [`lesion`] (the lesions grown from the user's points, and the automatic candidates).
//! [`segment`] runs
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
pub mod fissures;
pub mod input;
pub mod lesion;
pub mod lobes;
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
    /// The interlobar fissures.
    Fissures,
    /// The lesions grown from the points given, and the candidate list.
    Lesions,
    /// The airway tree analysed as the plan sees it: centreline, branches, names.
    Tree,
    /// The lobes, from the lobar bronchi's territories.
    Lobes,
}

impl Stage {
    /// Every stage, in order.
    pub const ALL: [Stage; 8] = [
        Stage::Body,
        Stage::Airway,
        Stage::Lungs,
        Stage::Vessels,
        Stage::Fissures,
        Stage::Lesions,
        Stage::Tree,
        Stage::Lobes,
    ];

    /// The stage in words.
    pub fn name(self) -> &'static str {
        match self {
            Stage::Body => "body",
            Stage::Airway => "airway",
            Stage::Lungs => "lungs",
            Stage::Vessels => "vessels",
            Stage::Fissures => "fissures",
            Stage::Lesions => "lesions",
            Stage::Tree => "airway tree",
            Stage::Lobes => "lobes",
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
    /// The interlobar fissures found ([`fissures`]): the walls the lobes do not cross.
    pub fissures: Mask,
    /// The lobes (1 RUL, 2 RML, 3 RLL, 4 LUL, 5 LLL; [`lobes`]); `None` until the airway tree
    /// is analysed ([`model`]).
    pub lobes: Option<Volume<u8>>,
    /// The lesions grown from the points given, in their order.
    pub lesions: Vec<lesion::Lesion>,
    /// Lesions found automatically, best first, for the user to confirm.
    pub candidates: Vec<lesion::Candidate>,
    /// What the stages noticed, in words.
    pub warnings: Vec<String>,
    /// Seconds per stage, in order.
    pub seconds: Vec<(Stage, f64)>,
}

impl ChestModel {
    /// The lesions as one label map on the CT's grid: lesion `n` (from 0) is label `n + 1`
    /// (a later lesion wins where two overlap); `None` without lesions.
    pub fn nodules(&self) -> Option<Volume<u8>> {
        let first = self.lesions.first()?;
        let mut out = Volume::<u8>::zeros(first.mask.dims, first.mask.geometry);
        for (n, l) in self.lesions.iter().enumerate() {
            let label = (n + 1).min(255) as u8;
            for (o, &m) in out.data.iter_mut().zip(&l.mask.data) {
                if m != 0 {
                    *o = label;
                }
            }
        }
        Some(out)
    }

    /// The model's masks by the file names a folder of them takes (`body`, `lungs`, `airway`,
    /// `vessels`, `arteries`, `veins`, `fissures`, then `lobes` and `nodule` when there are
    /// any): what `lung model` writes and [`input::read`] reads back as an anatomy.
    pub fn masks(self) -> Vec<(&'static str, Volume<u8>)> {
        let nodules = self.nodules();
        let ChestModel {
            body,
            lungs,
            airway,
            vessels,
            fissures,
            lobes,
            ..
        } = self;
        let mut masks = vec![
            ("body", body),
            ("lungs", lungs),
            ("airway", airway.mask),
            ("vessels", vessels.mask),
            ("arteries", vessels.arteries),
            ("veins", vessels.veins),
            ("fissures", fissures),
        ];
        masks.extend(lobes.map(|l| ("lobes", l)));
        masks.extend(nodules.map(|n| ("nodule", n)));
        masks
    }

    /// The model as the planning's anatomy: airway, lungs joined, arteries, veins and the
    /// vessels not told apart as `vessels`, the lesions as nodules, the fissures.
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
            nodules: self.nodules().map(|n| n.map(|v| (v != 0) as u8)),
            fissures: Some(self.fissures.clone()),
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

/// The thickest slices (mm) a model is built from: at 10 mm a segmental bronchus crosses a
/// slice or two and the tree cannot be followed; 8 mm series (older thorax protocols) still
/// show the lobar bronchi.
pub const MAX_SLICE_MM: f64 = 8.5;

/// Refuse, in words, what is no chest CT the stages can work on: a volume without air (a mask
/// or label map, or a CT not in Hounsfield units) and slices thicker than [`MAX_SLICE_MM`].
fn check(ct: &Volume<i16>) -> Result<(), LungError> {
    if !ct.data.iter().any(|&v| v < input::CT_BELOW_HU) {
        return Err(LungError::Segment(format!(
            "not a CT in Hounsfield units: no voxel is below {} HU (air is -1000 HU); is this a mask or label map?",
            input::CT_BELOW_HU
        )));
    }
    let thickest = ct.geometry.spacing.iter().cloned().fold(0.0, f64::max);
    if thickest > MAX_SLICE_MM {
        return Err(LungError::Segment(format!(
            "voxels {:.2}×{:.2}×{:.2} mm: slices thicker than {MAX_SLICE_MM} mm show too little of the airway tree and lungs to model them",
            ct.geometry.spacing[0], ct.geometry.spacing[1], ct.geometry.spacing[2]
        )));
    }
    Ok(())
}

/// How many candidates [`segment`] lists.
pub const CANDIDATES: usize = 10;

/// Build the chest model of `ct` (HU), with a lesion grown from each of `nodules` (LPS mm),
/// calling `progress` before each stage. A point no lesion grows from is refused.
pub fn segment(
    ct: &Volume<i16>,
    nodules: &[[f64; 3]],
    progress: &mut dyn FnMut(Stage),
) -> Result<ChestModel, LungError> {
    check(ct)?;
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
    let fissures = staged(Stage::Fissures, progress, &mut seconds, || {
        fissures::fissures(ct, &lungs, Some(&vessels.mask), &airway.mask)
    });
    let (lesions, candidates) = staged(Stage::Lesions, progress, &mut seconds, || {
        let grown = nodules
            .iter()
            .map(|&p| lesion::grow(ct, &lungs, p))
            .collect::<Result<Vec<_>, _>>();
        grown.map(|g| (g, lesion::candidates(ct, &lungs, CANDIDATES)))
    })?;
    Ok(ChestModel {
        body,
        lungs,
        airway,
        vessels,
        fissures,
        lobes: None,
        lesions,
        candidates,
        warnings,
        seconds,
    })
}

/// What [`model`] returns: the masks, the planning's analysis of them, and `model.json`.
pub struct Built {
    /// The masks on the CT's grid.
    pub chest: ChestModel,
    /// The planning's model of them ([`crate::analyse`] of [`ChestModel::anatomy`]): what a
    /// plan straight from the CT starts from.
    pub analysed: crate::Model,
    /// What `model.json` says.
    pub summary: Summary,
}

/// The model of `ct` (HU) with a lesion grown from each of `nodules` (LPS mm), and its
/// summary: [`segment`], then the airway tree analysed by the planning ([`crate::analyse`] of
/// [`ChestModel::anatomy`], timed as [`Stage::Tree`]), then the lobes from it
/// ([`Stage::Lobes`]).
pub fn model(
    ct: &Volume<i16>,
    nodules: &[[f64; 3]],
    progress: &mut dyn FnMut(Stage),
) -> Result<Built, LungError> {
    let mut chest = segment(ct, nodules, progress)?;
    let anatomy = chest.anatomy();
    let analysed = staged(Stage::Tree, progress, &mut chest.seconds, || {
        crate::analyse(anatomy, &[])
    })?;
    chest.lobes = Some(staged(Stage::Lobes, progress, &mut chest.seconds, || {
        lobes::lobes(&analysed)
    }));
    let summary = summary(&chest, &analysed);
    Ok(Built {
        chest,
        analysed,
        summary,
    })
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
    /// Volume per lobe (name, mL), RUL to LLL; empty before the lobes are built.
    pub lobes_ml: Vec<(String, f64)>,
    /// The airway.
    pub airway: AirwaySummary,
    /// The vessels.
    pub vessels: vessels::Summary,
    /// The lesions grown from the points given.
    pub lesions: Vec<LesionSummary>,
    /// The lesions found automatically, best first, for the user to confirm.
    pub candidates: Vec<LesionSummary>,
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

/// A lesion (grown or a candidate) in a [`Summary`].
#[derive(Debug, Clone, Serialize)]
pub struct LesionSummary {
    /// Centre (LPS mm).
    pub centre_mm: [f64; 3],
    /// Longest diameter (mm).
    pub diameter_mm: f64,
    /// Volume (mL).
    pub volume_ml: f64,
    /// Mean density (HU).
    pub mean_hu: f64,
    /// "right" or "left".
    pub side: &'static str,
    /// The lobe (RUL, RML, RLL, LUL, LLL) whose segment territory is nearest to the centre;
    /// `None` when no territory lies within [`LOBE_SEARCH_MM`].
    pub lobe: Option<String>,
    /// A candidate's score (roundness × radius, mm); `None` for a lesion grown from a point.
    pub score: Option<f64>,
}

/// How far from a lesion's centre (mm) its lobe's territory is looked for.
pub const LOBE_SEARCH_MM: f64 = 20.0;

/// The lobe whose segment territory (in `analysed`) is nearest to `p` (LPS mm), within
/// [`LOBE_SEARCH_MM`].
fn lobe_near(analysed: &crate::Model, p: [f64; 3]) -> Option<String> {
    let t = analysed.territory.as_ref()?;
    let f = t.geometry.world_to_index(p)?;
    let sp = t.geometry.spacing;
    let mut best: Option<(f64, u32)> = None;
    let r = |a: usize| (LOBE_SEARCH_MM / sp[a]).ceil() as i64;
    let c = f.map(|x| x.round() as i64);
    for dk in -r(2)..=r(2) {
        for dj in -r(1)..=r(1) {
            for di in -r(0)..=r(0) {
                let q = [c[0] + di, c[1] + dj, c[2] + dk];
                if (0..3).any(|a| q[a] < 0 || q[a] >= t.dims[a] as i64) {
                    continue;
                }
                let l = t.data[t.index(q[0] as usize, q[1] as usize, q[2] as usize)];
                let d2 = (di as f64 * sp[0]).powi(2)
                    + (dj as f64 * sp[1]).powi(2)
                    + (dk as f64 * sp[2]).powi(2);
                if l != 0
                    && d2 <= LOBE_SEARCH_MM * LOBE_SEARCH_MM
                    && analysed.naming.segment_of_label(l).is_some()
                    && best.is_none_or(|(b, _)| d2 < b)
                {
                    best = Some((d2, l));
                }
            }
        }
    }
    let s = analysed.naming.segment_of_label(best?.1)?;
    Some(s.lobe().name().to_string())
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
    let side = |s: u8| if s == 1 { "right" } else { "left" };
    let line = |centre_mm: [f64; 3], d: f64, v: f64, hu: f64, s: u8, score| LesionSummary {
        centre_mm,
        diameter_mm: d,
        volume_ml: v,
        mean_hu: hu,
        side: side(s),
        lobe: lobe_near(analysed, centre_mm),
        score,
    };
    let lesions = model
        .lesions
        .iter()
        .map(|l| {
            line(
                l.centre_mm,
                l.diameter_mm,
                l.volume_ml,
                l.mean_hu,
                l.side,
                None,
            )
        })
        .collect();
    let candidates = model
        .candidates
        .iter()
        .map(|c| {
            let s = Some(c.score);
            line(
                c.centre_mm,
                c.diameter_mm,
                c.volume_ml,
                c.mean_hu,
                c.side,
                s,
            )
        })
        .collect();
    Summary {
        right_lung_ml: count(1),
        left_lung_ml: count(2),
        body_ml: model.body.nonzero_ml(),
        lobes_ml: match &model.lobes {
            Some(l) => LobeId::all()
                .map(|lobe| {
                    let n = l.data.iter().filter(|&&v| v == lobe.0 as u8 + 1).count();
                    (lobe.name().to_string(), n as f64 * ml)
                })
                .collect(),
            None => Vec::new(),
        },
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
        lesions,
        candidates,
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
        phantom_at(45.0)
    }

    /// The phantom with the lungs' centres at x = ∓`lung_x` mm (32 mm half-width each: at
    /// 30 mm they overlap in a band at the midline, as lungs that touch at the anterior
    /// junction line).
    fn phantom_at(lung_x: f64) -> Volume<i16> {
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
                || seg([x, y, z], carina, [-lung_x, 0.0, 0.0]) <= 4.0
                || seg([x, y, z], carina, [lung_x, 0.0, 0.0]) <= 4.0
            {
                -1000
            } else if in_lung(-lung_x) || in_lung(lung_x) {
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
        let Built {
            chest: m,
            summary: s,
            ..
        } = model(&ct, &[], &mut |s| stages.push(s)).unwrap();
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

    /// Lungs that touch in front of the trachea come out as one piece of dark voxels; the
    /// model still parts them into a right and a left lung of about equal size.
    #[test]
    fn lungs_that_touch_are_parted() {
        let ct = phantom_at(30.0);
        let m = segment(&ct, &[], &mut |_| {}).unwrap();
        let count = |l: u8| m.lungs.data.iter().filter(|&&x| x == l).count() as f64;
        let (r, l) = (count(1), count(2));
        assert!(r > 0.0 && l > 0.0, "right {r}, left {l}");
        assert!((r - l).abs() < 0.15 * (r + l), "right {r}, left {l}");
        assert!(
            m.warnings.iter().any(|w| w.contains("erosion")),
            "the lungs did not touch: {:?}",
            m.warnings
        );
        // Right is at −x (LPS), left at +x.
        let at = |x: f64| ct.index(((x + 110.0) / 2.0) as usize, 55, 32);
        assert_eq!(m.lungs.data[at(-40.0)], 1);
        assert_eq!(m.lungs.data[at(40.0)], 2);
    }

    #[test]
    fn what_is_no_chest_ct_the_stages_can_use_is_refused_in_words() {
        let air = Volume::<i16>::from_vec(
            [20, 20, 20],
            Geometry::new([2.0; 3], [0.0; 3]),
            vec![-1000; 8000],
        )
        .unwrap();
        let e = segment(&air, &[], &mut |_| {}).unwrap_err().to_string();
        assert!(e.starts_with("no body found"), "{e}");
        let mut solid = air.map(|_| 40i16);
        solid.data[0] = -1000;
        let e = segment(&solid, &[], &mut |_| {}).unwrap_err().to_string();
        assert!(e.starts_with("no trachea found"), "{e}");
        let mask = air.map(|_| 1i16);
        let e = segment(&mask, &[], &mut |_| {}).unwrap_err().to_string();
        assert!(e.starts_with("not a CT in Hounsfield units"), "{e}");
        let mut thick = phantom();
        thick.geometry.spacing[2] = 10.0;
        let e = segment(&thick, &[], &mut |_| {}).unwrap_err().to_string();
        assert!(e.contains("slices thicker than 8.5 mm"), "{e}");
    }
}
