//! Segmentectomy planning: the patient model (tree, names, territories, nodules) and the virtual
//! resection with its margin check, predicted function, intersegmental planes, vessels crossing
//! them and the bronchoscopic route.
//!
//! Definitions used (written down in docs/lung.md):
//! - lung parenchyma = (lungs ∪ nodules) ∖ airway lumen; segments tile it;
//! - predicted post-operative FEV1, segment counting: `FEV1 · (1 − resected/19)` with the 19
//!   functional segments (right 10, left upper lobe 5 with LS1+2 counting 2, left lower lobe 4;
//!   Brunelli et al., ERS/ESTS guidelines, Eur Respir J 34:17–41, 2009); a segment resected only in
//!   part counts by its resected volume fraction. By volumetry: `FEV1 · (1 − resected mL / lung mL)`;
//! - margin = shortest distance from the nodule to lung parenchyma that stays (mm); the required
//!   margin is `k × the nodule's maximal diameter` (default k = 2; `--margin-mm` for an absolute
//!   margin); margin ratio = margin / maximal diameter;
//! - depth from the pleura = shortest distance from the nodule to the outside of the lung mask.

use serde::Serialize;

use ctplan_core::crop::BoundingBox;
use ctplan_core::edt::squared_edt;
use ctplan_core::label::{Connectivity, label};
use ctplan_core::volume::block3;
use ctplan_core::{Mask, Volume};

use crate::anatomy::Anatomy;
use crate::names::{LOBES, Naming, SEGMENTS, Side, name_tree, rename};
use crate::territory::{LEFT, RIGHT, assign, split_lungs};
use crate::thin::thin;
use crate::tree::{Root, Tree, TreeOptions, build, dist};

/// A nodule of the case.
#[derive(Debug, Clone)]
pub struct Nodule {
    /// Full-grid linear indices.
    pub voxels: Vec<usize>,
    pub centroid: [f64; 3],
    pub diameter_mm: f64,
    pub volume_ml: f64,
}

/// The analysed patient: everything a re-simulated resection needs.
pub struct Model {
    pub anatomy: Anatomy,
    pub tree: Tree,
    pub naming: Naming,
    /// Lung side per parenchyma voxel (0 outside the parenchyma); `None` without lungs.
    pub side: Option<Volume<u8>>,
    /// Feeding branch + 1 per parenchyma voxel.
    pub territory: Option<Volume<u32>>,
    /// Parenchyma voxels fed by each branch.
    pub branch_voxels: Vec<usize>,
    pub nodules: Vec<Nodule>,
    /// Vessel centreline voxels (full-grid indices) and their kind ("artery", "vein", "vessel").
    pub vessel_centreline: Vec<(usize, &'static str)>,
    pub voxel_ml: f64,
    pub warnings: Vec<String>,
    /// Margin tables already computed, by required margin (see [`Halo`]).
    pub halos: std::sync::Mutex<Vec<HaloEntry>>,
}

/// A cached margin table: (margin kind, its value's bits) and the table.
pub type HaloEntry = ((u8, u64), std::sync::Arc<Halo>);

/// What to resect.
#[derive(Debug, Clone)]
pub enum Target {
    /// A bronchus, segment or lobe name (RB3, RS3, LB1+2, RUL, …) or a branch number `#17`.
    Name(String),
    /// The branch nearest to this LPS point (mm).
    Point([f64; 3]),
}

/// Required margin.
#[derive(Debug, Clone, Copy)]
pub enum Margin {
    /// k × the nodule's maximal diameter.
    Ratio(f64),
    /// Absolute, mm.
    Mm(f64),
}

/// Analyse the anatomy: centrelines, tree, names (with the user's renames), lung sides,
/// territories, nodules.
pub fn analyse(anatomy: Anatomy, renames: &[(usize, String)]) -> Result<Model, String> {
    let mut warnings = anatomy.warnings.clone();
    let clock = std::time::Instant::now();
    let trace = |what: &str| {
        if std::env::var_os("CTPLAN_TRACE").is_some() {
            eprintln!("{what}: {:.2} s", clock.elapsed().as_secs_f64());
        }
    };
    let skeleton = thin(&anatomy.airway);
    let tree = build(
        &anatomy.airway,
        &skeleton,
        Root::Superior,
        TreeOptions::default(),
    )
    .ok_or("the airway mask has no centreline")?;
    warnings.extend(tree.warnings.iter().map(|w| format!("airway: {w}")));
    trace("airway tree");
    let mut naming = name_tree(&tree);
    for (b, n) in renames {
        rename(&tree, &mut naming, *b, n)?;
    }
    warnings.extend(naming.warnings.iter().map(|w| format!("naming: {w}")));
    for (s, p) in naming.primary.iter().enumerate() {
        if p.is_none() && naming.lobar.iter().any(|l| l.is_some()) {
            warnings.push(format!(
                "segments: no bronchus {} in the airway mask, so segment {} gets no territory; its lung is counted in the neighbouring segments",
                SEGMENTS[s].bronchus, SEGMENTS[s].segment
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
            trace("names");
            let (side, how) = split_lungs(&par)?;
            trace("lung split");
            warnings.push(format!("lungs: {how}"));
            let mut seeds = Vec::new();
            for (b, br) in tree.branches.iter().enumerate() {
                let Some(s) = naming.segment_of[b] else {
                    continue;
                };
                let sd = if SEGMENTS[s].side == Side::Right {
                    RIGHT
                } else {
                    LEFT
                };
                for &v in &br.voxels {
                    seeds.push((v, b as u32 + 1, sd));
                }
            }
            let t = assign(&side, &anatomy.airway, anatomy.fissures.as_ref(), &seeds);
            trace("territories");
            let mut counts = vec![0usize; tree.branches.len()];
            let mut gap = 0usize;
            for (&s, &l) in side.data.iter().zip(&t.data) {
                if s == 0 {
                    continue;
                }
                if l == 0 {
                    gap += 1;
                } else {
                    counts[l as usize - 1] += 1;
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
    for (m, kind) in [
        (&anatomy.arteries, "artery"),
        (&anatomy.veins, "vein"),
        (&anatomy.vessels, "vessel"),
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
    trace("vessels");
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
        halos: Default::default(),
    })
}

fn coords(dims: [usize; 3], v: usize) -> [usize; 3] {
    [
        v % dims[0],
        (v / dims[0]) % dims[1],
        v / (dims[0] * dims[1]),
    ]
}

fn world(m: &Mask, v: usize) -> [f64; 3] {
    let c = coords(m.dims, v);
    m.geometry
        .index_to_world([c[0] as f64, c[1] as f64, c[2] as f64])
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
            let pts: Vec<[f64; 3]> = voxels.iter().map(|&v| world(m, v)).collect();
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

/// A branch in the report.
#[derive(Debug, Clone, Serialize)]
pub struct BronchusReport {
    pub id: usize,
    pub name: Option<String>,
    pub generation: u32,
    pub parent: Option<usize>,
    pub length_mm: f64,
    pub diameter_mm: f64,
    pub confidence: Option<f64>,
    pub segment: Option<String>,
    pub start_mm: [f64; 3],
    pub end_mm: [f64; 3],
}

#[derive(Debug, Clone, Serialize)]
pub struct SegmentReport {
    pub name: String,
    pub bronchus: String,
    pub lobe: String,
    pub volume_ml: f64,
    /// Of both lungs.
    pub fraction: f64,
    /// Textbook share of lung function by the 19-segment count.
    pub textbook_fraction: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct LobeReport {
    pub name: String,
    pub volume_ml: f64,
    pub fraction: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct NoduleReport {
    pub centroid_mm: [f64; 3],
    pub segment: Option<String>,
    pub lobe: Option<String>,
    pub diameter_mm: f64,
    pub volume_ml: f64,
    pub depth_mm: Option<f64>,
    pub bronchus_distance_mm: f64,
    pub route: Route,
}

/// The bronchoscopic route to a nodule.
#[derive(Debug, Clone, Serialize)]
pub struct Route {
    pub bronchi: Vec<String>,
    pub length_mm: f64,
    /// Where the catheter leaves the airway (LPS mm) and the distance from there to the lesion.
    pub exit_mm: [f64; 3],
    pub exit_to_lesion_mm: f64,
    pub target_branch: usize,
}

/// A vessel crossing the planned intersegmental plane.
#[derive(Debug, Clone, Serialize)]
pub struct Crossing {
    pub kind: String,
    pub position_mm: [f64; 3],
    pub diameter_mm: f64,
    /// The side of the crossing farther from the hilum lies in kept lung: a vessel that drains
    /// (veins) or feeds (arteries) lung that stays.
    pub peripheral_in_kept: bool,
    pub note: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct MarginOption {
    pub add: Vec<String>,
    pub margin_mm: f64,
    pub margin_ratio: f64,
    pub ok: bool,
    pub volume_ml: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct ResectionReport {
    pub targets: Vec<String>,
    pub segments: Vec<String>,
    pub volume_ml: f64,
    pub remaining_ml: f64,
    pub fev1_l: Option<f64>,
    pub ppo_fev1_count: Option<f64>,
    pub ppo_fev1_volume: Option<f64>,
    pub segments_counted: f64,
    pub margin_required_mm: Option<f64>,
    pub margin_mm: Option<f64>,
    pub margin_ratio: Option<f64>,
    pub margin_ok: Option<bool>,
    pub extend_with: Vec<String>,
    pub margin_options: Vec<MarginOption>,
    /// Segmental bronchi to catheterize for staining the resected segments.
    pub stain_bronchi: Vec<String>,
    pub crossings: Vec<Crossing>,
}

/// The resected set of branches (per branch) and the names it came from.
pub fn resolve_targets(
    model: &Model,
    targets: &[Target],
) -> Result<(Vec<bool>, Vec<String>), String> {
    let tree = &model.tree;
    let n = &model.naming;
    let mut set = vec![false; tree.branches.len()];
    let mut names = Vec::new();
    for t in targets {
        let roots: Vec<usize> = match t {
            Target::Point(p) => {
                let (b, _, d) = tree.nearest(*p).ok_or("empty tree")?;
                names.push(format!(
                    "{} (nearest to ({:.1}, {:.1}, {:.1}), {d:.1} mm away)",
                    branch_label(model, b),
                    p[0],
                    p[1],
                    p[2]
                ));
                vec![b]
            }
            Target::Name(s) => {
                let s = s.trim();
                let found: Vec<usize> = if let Some(id) = s.strip_prefix('#') {
                    let b: usize = id.parse().map_err(|_| format!("bad branch number {s:?}"))?;
                    if b >= tree.branches.len() {
                        return Err(format!(
                            "no branch {s} (the tree has {})",
                            tree.branches.len()
                        ));
                    }
                    vec![b]
                } else if let Some(si) = crate::names::segment_index(s) {
                    let v: Vec<usize> = (0..tree.branches.len())
                        .filter(|&b| n.segment_of[b] == Some(si))
                        .collect();
                    if v.is_empty() {
                        return Err(format!(
                            "{s}: this segment's bronchus was not found in the airway tree"
                        ));
                    }
                    v
                } else if let Some(li) = LOBES.iter().position(|l| l.0.eq_ignore_ascii_case(s)) {
                    let v: Vec<usize> = (0..tree.branches.len())
                        .filter(|&b| {
                            n.segment_of[b].is_some_and(|x| SEGMENTS[x].lobe == LOBES[li].0)
                        })
                        .collect();
                    if v.is_empty() {
                        return Err(format!("{s}: no segment of this lobe was found"));
                    }
                    v
                } else if let Some(b) = n.find(s) {
                    vec![b]
                } else {
                    return Err(format!(
                        "unknown target {s:?}: give a Boyden name (RB1–RB10, LB1+2, LB3–LB6, LB7+8, LB9, LB10, or S…), a lobe (RUL, RML, RLL, LUL, LLL), a branch number #N, or a point x,y,z in mm"
                    ));
                };
                names.push(s.to_string());
                found
            }
        };
        for r in roots {
            for b in tree.subtree(r) {
                set[b] = true;
            }
        }
    }
    Ok((set, names))
}

/// A branch's display name: its name, or `#id (in RS3)`.
pub fn branch_label(model: &Model, b: usize) -> String {
    match &model.naming.names[b] {
        Some(n) => n.name.clone(),
        None => match model.naming.segment_of[b] {
            Some(s) => format!("#{b} (in {})", SEGMENTS[s].bronchus),
            None => format!("#{b}"),
        },
    }
}

/// Segment volumes (mL) from the territory counts.
pub fn segment_volumes(model: &Model) -> Vec<f64> {
    let mut v = vec![0.0; SEGMENTS.len()];
    for (b, &c) in model.branch_voxels.iter().enumerate() {
        if let Some(s) = model.naming.segment_of[b] {
            v[s] += c as f64 * model.voxel_ml;
        }
    }
    v
}

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
            volume_ml: round2(vols[s]),
            fraction: if total > 0.0 {
                round4(vols[s] / total)
            } else {
                0.0
            },
            textbook_fraction: round4(d.count as f64 / 19.0),
        })
        .collect()
}

pub fn lobe_reports(model: &Model) -> Vec<LobeReport> {
    let vols = segment_volumes(model);
    let total: f64 = vols.iter().sum();
    LOBES
        .iter()
        .map(|l| {
            let v: f64 = (0..SEGMENTS.len())
                .filter(|&s| SEGMENTS[s].lobe == l.0)
                .map(|s| vols[s])
                .sum();
            LobeReport {
                name: l.0.to_string(),
                volume_ml: round2(v),
                fraction: if total > 0.0 { round4(v / total) } else { 0.0 },
            }
        })
        .collect()
}

pub fn bronchus_reports(model: &Model) -> Vec<BronchusReport> {
    let gens = anatomical_generations(model);
    model
        .tree
        .branches
        .iter()
        .enumerate()
        .map(|(b, br)| BronchusReport {
            id: b,
            name: model.naming.names[b].as_ref().map(|n| n.name.clone()),
            generation: gens[b],
            parent: br.parent,
            length_mm: round2(br.length_mm),
            diameter_mm: round2(br.diameter_mm),
            confidence: model.naming.names[b].as_ref().map(|n| n.confidence),
            segment: model.naming.segment_of[b].map(|s| SEGMENTS[s].segment.to_string()),
            start_mm: br.start().map(round2),
            end_mm: br.end().map(round2),
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
            let trachea = model.naming.names[b]
                .as_ref()
                .is_some_and(|n| n.name == "Trachea");
            g[b] = if trachea { 0 } else { g[p] + 1 };
        }
    }
    g
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}
fn round4(x: f64) -> f64 {
    (x * 10000.0).round() / 10000.0
}

/// Distances around a nodule on a crop: from every crop voxel to the nodule (mm).
struct NoduleField {
    bbox: BoundingBox,
    to_nodule: Vec<f32>,
}

fn nodule_field(model: &Model, nod: &Nodule, radius_mm: f64) -> NoduleField {
    let m = &model.anatomy.airway;
    let dims = m.dims;
    let mut lo = [usize::MAX; 3];
    let mut hi = [0usize; 3];
    for &v in &nod.voxels {
        let c = coords(dims, v);
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
        let c = coords(dims, v);
        let l = (c[0] - bbox.start[0])
            + bd[0] * ((c[1] - bbox.start[1]) + bd[1] * (c[2] - bbox.start[2]));
        feat[l] = 1;
    }
    let d2 = squared_edt(&feat, bd, m.geometry.spacing);
    NoduleField {
        bbox,
        to_nodule: d2.into_iter().map(f32::sqrt).collect(),
    }
}

impl NoduleField {
    fn for_each(&self, full: [usize; 3], mut f: impl FnMut(usize, f32)) {
        let bd = self.bbox.dims();
        for k in 0..bd[2] {
            for j in 0..bd[1] {
                for i in 0..bd[0] {
                    let l = i + bd[0] * (j + bd[1] * k);
                    let v = (i + self.bbox.start[0])
                        + full[0] * ((j + self.bbox.start[1]) + full[1] * (k + self.bbox.start[2]));
                    f(v, self.to_nodule[l]);
                }
            }
        }
    }
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
                    let l = t.data[v];
                    if l != 0
                        && let Some(s) = model.naming.segment_of[l as usize - 1]
                    {
                        votes[s] += 1;
                    }
                }
            }
            let seg = (0..SEGMENTS.len())
                .filter(|&s| votes[s] > 0)
                .max_by_key(|&s| votes[s]);
            NoduleReport {
                centroid_mm: nod.centroid.map(round2),
                segment: seg.map(|s| SEGMENTS[s].segment.to_string()),
                lobe: seg.map(|s| SEGMENTS[s].lobe.to_string()),
                diameter_mm: round2(nod.diameter_mm),
                volume_ml: round4(nod.volume_ml),
                depth_mm: depth.map(round2),
                bronchus_distance_mm: round2(bronchus),
                route: route(model, nod),
            }
        })
        .collect()
}

/// Route through the airway tree to the centreline point nearest the nodule.
pub fn route(model: &Model, nod: &Nodule) -> Route {
    let m = &model.anatomy.airway;
    let step = (nod.voxels.len() / 2000).max(1);
    let pts: Vec<[f64; 3]> = nod
        .voxels
        .iter()
        .step_by(step)
        .map(|&v| world(m, v))
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
        bronchi: path.iter().map(|&x| branch_label(model, x)).collect(),
        length_mm: round2(length),
        exit_mm: last[i].map(round2),
        exit_to_lesion_mm: round2(d),
        target_branch: b,
    }
}

/// Re-simulate a resection on the analysed model (fast: counts and a crop around each nodule).
/// Returns the report and the resected branch set (per branch), for planes and crossings.
pub fn resect(
    model: &Model,
    targets: &[Target],
    fev1: Option<f64>,
    margin: Margin,
) -> Result<(ResectionReport, Vec<bool>), String> {
    let halo = Halo::of(model, margin);
    resect_with(model, targets, fev1, halo.as_deref(), true)
}

/// The margin requirement around the largest nodule, reduced to what any resection needs: per
/// territory label (0 = lung fed by no named branch, else branch + 1), the distance from the
/// nodule to the label's nearest voxel (the crop radius if none is nearer) and how many of its
/// voxels lie inside the required margin. The margin of a resection is then the smallest
/// distance over kept labels, without another pass over the voxels.
#[derive(Debug, Clone)]
pub struct Halo {
    nodule_diameter_mm: f64,
    required: f64,
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
        let required = match margin {
            Margin::Ratio(k) => k * nodule.diameter_mm,
            Margin::Mm(mm) => mm,
        };
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

    /// The halo for `margin`, computed once per model and margin.
    fn of(model: &Model, margin: Margin) -> Option<std::sync::Arc<Halo>> {
        let key = match margin {
            Margin::Ratio(k) => (0u8, k.to_bits()),
            Margin::Mm(mm) => (1u8, mm.to_bits()),
        };
        let mut cache = model.halos.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, h)) = cache.iter().find(|(k, _)| *k == key) {
            return Some(h.clone());
        }
        let h = std::sync::Arc::new(Halo::compute(model, margin)?);
        cache.push((key, h.clone()));
        Some(h)
    }

    /// Margin (mm) to kept lung when the branches in `resected` are removed.
    fn margin(&self, resected: &[bool]) -> f64 {
        self.nearest
            .iter()
            .enumerate()
            .filter(|&(l, _)| l == 0 || !resected[l - 1])
            .map(|(_, &d)| d)
            .fold(self.radius, f64::min)
    }
}

/// [`resect`] with the halo computed once by the caller; `explore` also searches the segments
/// whose addition restores an insufficient margin.
fn resect_with(
    model: &Model,
    targets: &[Target],
    fev1: Option<f64>,
    halo: Option<&Halo>,
    explore: bool,
) -> Result<(ResectionReport, Vec<bool>), String> {
    if model.territory.is_none() {
        return Err("no lung mask: a resection needs the lungs".into());
    }
    let (set, names) = resolve_targets(model, targets)?;
    let vols = segment_volumes(model);
    let total: f64 = vols.iter().sum();
    let resected_ml = |set: &[bool]| -> f64 {
        model
            .branch_voxels
            .iter()
            .enumerate()
            .filter(|(b, _)| set[*b])
            .map(|(_, &c)| c as f64 * model.voxel_ml)
            .sum()
    };
    let volume = resected_ml(&set);
    // Segment counting with partial segments by volume fraction.
    let mut per_seg = vec![0.0; SEGMENTS.len()];
    for (b, &c) in model.branch_voxels.iter().enumerate() {
        if set[b]
            && let Some(s) = model.naming.segment_of[b]
        {
            per_seg[s] += c as f64 * model.voxel_ml;
        }
    }
    let mut counted = 0.0;
    let mut segs = Vec::new();
    for s in 0..SEGMENTS.len() {
        if per_seg[s] > 0.0 && vols[s] > 0.0 {
            let f = (per_seg[s] / vols[s]).min(1.0);
            counted += f * SEGMENTS[s].count as f64;
            segs.push(if f > 0.999 {
                SEGMENTS[s].segment.to_string()
            } else {
                format!("{} ({:.0}%)", SEGMENTS[s].segment, 100.0 * f)
            });
        }
    }
    let stain: Vec<String> = (0..SEGMENTS.len())
        .filter(|&s| per_seg[s] > 0.0)
        .filter_map(|s| model.naming.primary[s].map(|b| branch_label(model, b)))
        .collect();
    let mut report = ResectionReport {
        targets: names,
        segments: segs,
        volume_ml: round2(volume),
        remaining_ml: round2(total - volume),
        fev1_l: fev1,
        ppo_fev1_count: fev1.map(|f| round2(f * (1.0 - counted / 19.0))),
        ppo_fev1_volume: fev1.map(|f| round2(f * (1.0 - volume / total.max(1e-9)))),
        segments_counted: round2(counted),
        margin_required_mm: None,
        margin_mm: None,
        margin_ratio: None,
        margin_ok: None,
        extend_with: vec![],
        margin_options: vec![],
        stain_bronchi: stain,
        crossings: vec![],
    };
    // Margin for the largest nodule.
    if let Some(h) = halo {
        let required = h.required;
        let m = h.margin(&set);
        report.margin_required_mm = Some(round2(required));
        report.margin_mm = Some(round2(m));
        report.margin_ratio = Some(round2(m / h.nodule_diameter_mm));
        report.margin_ok = Some(m >= required);
        if m < required && explore {
            // Segments of kept lung inside the halo, by overlap.
            let mut overlap = vec![0usize; SEGMENTS.len()];
            for (l, &n) in h.inside.iter().enumerate().skip(1) {
                if n > 0
                    && !set[l - 1]
                    && let Some(s) = model.naming.segment_of[l - 1]
                {
                    overlap[s] += n;
                }
            }
            let mut cands: Vec<usize> = (0..SEGMENTS.len()).filter(|&s| overlap[s] > 0).collect();
            cands.sort_by_key(|&s| std::cmp::Reverse(overlap[s]));
            let with = |add: &[usize]| -> Vec<bool> {
                let mut s2 = set.clone();
                for b in 0..s2.len() {
                    if model.naming.segment_of[b].is_some_and(|x| add.contains(&x)) {
                        s2[b] = true;
                    }
                }
                s2
            };
            let mut options: Vec<Vec<usize>> = cands.iter().map(|&c| vec![c]).collect();
            for i in 0..cands.len() {
                for j in i + 1..cands.len() {
                    options.push(vec![cands[i], cands[j]]);
                }
            }
            if cands.len() > 2 {
                options.push(cands.clone());
            }
            for opt in options.iter().take(24) {
                let s2 = with(opt);
                let m2 = h.margin(&s2);
                report.margin_options.push(MarginOption {
                    add: opt
                        .iter()
                        .map(|&s| SEGMENTS[s].segment.to_string())
                        .collect(),
                    margin_mm: round2(m2),
                    margin_ratio: round2(m2 / h.nodule_diameter_mm),
                    ok: m2 >= required,
                    volume_ml: round2(resected_ml(&s2)),
                });
            }
            if let Some(best) = report
                .margin_options
                .iter()
                .filter(|o| o.ok)
                .min_by(|a, b| a.volume_ml.total_cmp(&b.volume_ml))
            {
                report.extend_with = best.add.clone();
            }
        }
    }
    Ok((report, set))
}

/// One line of the table of single-segment resections.
#[derive(Debug, Clone, Serialize)]
pub struct SegmentOption {
    pub segment: String,
    pub volume_ml: f64,
    pub remaining_ml: f64,
    pub ppo_fev1_count: Option<f64>,
    pub ppo_fev1_volume: Option<f64>,
    pub margin_mm: Option<f64>,
    pub margin_ratio: Option<f64>,
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
    (0..SEGMENTS.len())
        .into_par_iter()
        .filter(|&s| model.naming.primary[s].is_some())
        .filter_map(|s| {
            let name = SEGMENTS[s].segment.to_string();
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

/// Voxels of the resected region (full grid).
pub fn resected_mask(model: &Model, set: &[bool]) -> Mask {
    let t = model
        .territory
        .as_ref()
        .expect("resection needs territories");
    let mut m = Mask::zeros(t.dims, t.geometry);
    for (o, &l) in m.data.iter_mut().zip(&t.data) {
        *o = u8::from(l != 0 && set[l as usize - 1]);
    }
    m
}

/// Vessels whose centreline crosses between resected and kept lung.
pub fn crossings(model: &Model, set: &[bool]) -> Vec<Crossing> {
    let (Some(t), Some(_)) = (&model.territory, &model.side) else {
        return vec![];
    };
    let dims = t.dims;
    let state = |v: usize| -> u8 {
        let l = t.data[v];
        if l == 0 {
            0
        } else if set[l as usize - 1] {
            1
        } else {
            2
        }
    };
    let on: std::collections::HashMap<usize, &'static str> =
        model.vessel_centreline.iter().copied().collect();
    let m = &model.anatomy.airway;
    // Hilum of each side: where the main bronchus ends.
    let hilum = |p: [f64; 3]| -> [f64; 3] {
        let r = model
            .naming
            .find("RMB")
            .map(|b| model.tree.branches[b].end());
        let l = model
            .naming
            .find("LMB")
            .map(|b| model.tree.branches[b].end());
        match (r, l) {
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
    let mut points: Vec<([f64; 3], &'static str, bool)> = Vec::new();
    // In centreline order (not the map's), so that the report is the same on every run.
    for &(v, kind) in &model.vessel_centreline {
        if state(v) != 2 {
            continue;
        }
        for q in block3(coords(dims, v), dims) {
            let w = q[0] + dims[0] * (q[1] + dims[1] * q[2]);
            if on.contains_key(&w) && state(w) == 1 {
                let pk = world(m, v);
                let pr = world(m, w);
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
    // One crossing per 3 mm cluster.
    let mut out: Vec<Crossing> = Vec::new();
    for (p, kind, periph_kept) in points {
        if out.iter().any(|c| dist(c.position_mm, p) < 3.0) {
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
            position_mm: p.map(round2),
            diameter_mm: round2(diameter),
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
