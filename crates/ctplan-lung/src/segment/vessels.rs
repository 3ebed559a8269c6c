//! The pulmonary vessels inside the lungs and at the hila, and arteries told from veins where
//! the scan allows it.
//!
//! **Vessels.** Multiscale vesselness (Frangi, Niessen, Vincken & Viergever 1998, "Multiscale
//! vessel enhancement filtering", MICCAI, LNCS 1496:130–137) for bright tubes, from the
//! scale-normalised Hessian of [`ctplan_core::hessian`] at the scales [`SCALES_MM`] (vessel
//! radii of about 1–5 mm), the largest response over the scales kept. It is evaluated only
//! where it can matter: voxels brighter than [`CANDIDATE_HU`] inside the lungs grown by
//! [`HILUM_MM`] (the hila). The vessels are the voxels brighter than [`VESSEL_HU`] whose
//! vesselness exceeds [`LOW`], in 26-connected pieces that hold a voxel above [`HIGH`]
//! (hysteresis: a weak tube is kept where it continues a clear one) and reach into the lungs.
//! The vesselness is damped on a structure's flank ([`KAPPA`]), which keeps the ring of false
//! tubes around a blob out; the lumen's flank, where a wide vessel's vesselness fades, is added
//! back (voxels of the lungs brighter than [`RIM_HU`] within [`GROW_MM`] of the core: held
//! inside the lungs so that a vessel touching the pleura, the mediastinum or a tumour does not
//! take a shell of them).
//!
//! **Arteries and veins.** The pulmonary arteries run beside the bronchi (the
//! bronchovascular bundle), the veins between the segments, away from them (e.g. Charbonnier
//! et al. 2016, "Automatic pulmonary artery-vein separation and classification in computed
//! tomography using tree partitioning and peripheral vessel matching", IEEE TMI 35:882–892,
//! which scores vessel subtrees by their matching bronchi). The vessels' centreline
//! ([`crate::airway::thin::thin`]) is cut at its junctions into branches; each branch is
//! compared with the airway tree's branches ([`crate::airway::tree::build`] on the airway
//! mask): it is an artery where most of its centreline has a bronchus alongside (centrelines
//! within the two radii plus [`GAP_MM`], directions within [`PARALLEL_DEG`]), a vein where it is
//! wide enough ([`VEIN_MIN_RADIUS_MM`]) that its bronchus would have been grown, yet no bronchus
//! runs within [`FAR_MM`] of it while the airway tree does reach its region
//! ([`REACH_MM`]). Labels then spread along the vessel tree to unlabelled neighbouring
//! branches, the confidence falling by [`DECAY`] per junction, until it falls under
//! [`MIN_CONFIDENCE`]. Where the evidence is weak a branch stays unlabelled: the model says
//! how much, never guesses. The side of connection at the hilum (pulmonary trunk versus left
//! atrium) is not used: it needs the heart's chambers, which a scan without contrast does not
//! show apart.

use std::collections::{BinaryHeap, HashMap, VecDeque};

use ctplan_core::crop::{bounding_box, crop, margin_voxels, paste};
use ctplan_core::edt::squared_edt;
use ctplan_core::grid::{self, OFFSETS26};
use ctplan_core::hessian::{ScaleSpace, Sym3, eigen, eigenvalues};
use ctplan_core::label::{Connectivity, label};
use ctplan_core::morphology::dilate;
use ctplan_core::vec3::{dist, dot, sub, unit};
use ctplan_core::{Mask, Volume};
use rayon::prelude::*;
use serde::Serialize;

use crate::airway::thin::thin;
use crate::airway::tree::{Root, TreeOptions, build};

/// The scales (mm, the Gaussian's σ): vessels of radius about 1.4 σ answer best, so these
/// cover radii of about 1–5 mm, from subsegmental vessels to the lobar ones.
pub const SCALES_MM: [f64; 4] = [0.75, 1.25, 2.0, 3.2];
/// Voxels darker than this (HU) are parenchyma: their vesselness is not evaluated.
pub const CANDIDATE_HU: i16 = -800;
/// A vessel voxel is brighter than this (HU): blood is about 40 HU, a thin vessel's partial
/// volume with air lowers it (a 1 mm vessel in a 1.25 mm voxel reads about −600 to −700 HU).
pub const VESSEL_HU: i16 = -700;
/// The lumen added back around the vesselness core is brighter than this (HU).
pub const RIM_HU: i16 = -500;
/// ...and within this distance (mm) of the core: a wide vessel's flank, where its vesselness
/// fades.
pub const GROW_MM: f64 = 3.0;
/// The lungs grown by this (mm) bound the search: the hilar vessels, not the mediastinum.
pub const HILUM_MM: f64 = 5.0;
/// The airway lumen grown by this (mm, or a voxel if wider) is its wall, left out of the
/// vessels: a bronchial wall is a bright tube too.
pub const WALL_MM: f64 = 2.0;
/// Frangi's α: the plate-versus-line term's sensitivity (his suggested 0.5).
pub const ALPHA: f64 = 0.5;
/// Frangi's β: the blob-versus-line term's sensitivity (his suggested 0.5).
pub const BETA: f64 = 0.5;
/// Frangi's c (HU, on the σ²-normalised Hessian): the structure term's scale, so that noise
/// (a few tens of HU after smoothing) answers weakly and a vessel against air (≈ 900 HU of
/// contrast, normalised response about a quarter of it) fully.
pub const C_HU: f64 = 60.0;
/// The flank term's sensitivity: vesselness is damped by exp(−G²/2κ²), G = σ·|∇I| / |λ3| (both
/// scale-normalised). On a tube's axis G = 0; on the flank of a blob, where the radial second
/// derivative vanishes and the two tangential ones are negative (a ring of false tubes around
/// every nodule), G ≥ 1.
pub const KAPPA: f64 = 0.4;
/// Vesselness above this joins a vessel (hysteresis low).
pub const LOW: f64 = 0.03;
/// A vessel piece holds at least one voxel above this (hysteresis high).
pub const HIGH: f64 = 0.25;
/// A vessel piece has at least this volume (mL): smaller ones are noise.
pub const MIN_PIECE_ML: f64 = 0.02;
/// An artery's centreline lies within its radius, its bronchus's radius and this (mm, the
/// bronchial wall and the gap between) of the bronchus's centreline.
pub const GAP_MM: f64 = 4.0;
/// An accompanying bronchus runs within this angle (degrees) of the vessel.
pub const PARALLEL_DEG: f64 = 30.0;
/// A branch is an artery when at least this fraction of its centreline has a bronchus alongside.
pub const ARTERY_FRACTION: f64 = 0.5;
/// A vein is at least this wide (radius, mm): a bronchus beside a vessel this wide would have
/// been grown by the airway stage, so its absence is evidence.
pub const VEIN_MIN_RADIUS_MM: f64 = 2.0;
/// No bronchus centreline within this (mm, beyond the vessel's radius) of a vein's centreline.
pub const FAR_MM: f64 = 8.0;
/// ...while the airway tree does have a centreline point within this (mm) of it.
pub const REACH_MM: f64 = 30.0;
/// The confidence of a vein by the absence of its bronchus (weaker evidence than a bronchus
/// seen alongside an artery).
pub const VEIN_CONFIDENCE: f64 = 0.6;
/// A label's confidence is multiplied by this at each junction it spreads across.
pub const DECAY: f64 = 0.8;
/// Labels with a lower confidence are not given: the branch stays unlabelled.
pub const MIN_CONFIDENCE: f64 = 0.45;

/// What a vessel branch is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// A pulmonary artery.
    Artery,
    /// A pulmonary vein.
    Vein,
    /// Not told apart: the evidence was too weak.
    Unlabelled,
}

/// One branch of the vessels' centreline, between junctions.
#[derive(Debug, Clone)]
pub struct Branch {
    /// Centreline voxels (linear indices on the CT's grid).
    pub voxels: Vec<usize>,
    /// Median distance from the centreline to the vessel's boundary (mm).
    pub radius_mm: f64,
    /// Its label.
    pub kind: Kind,
    /// The label's confidence, 0–1 (0 when unlabelled).
    pub confidence: f64,
    /// Whether the label came from the branch's own evidence (not spread from a neighbour).
    pub direct: bool,
    /// The fraction of its centreline with a bronchus alongside.
    pub bronchus_fraction: f64,
}

/// The vessels of one CT, on its grid.
#[derive(Debug, Clone)]
pub struct Vessels {
    /// Every vessel voxel.
    pub mask: Mask,
    /// The vessel voxels labelled artery.
    pub arteries: Mask,
    /// The vessel voxels labelled vein.
    pub veins: Mask,
    /// The centreline's branches and their labels.
    pub branches: Vec<Branch>,
    /// Whether arteries and veins could be told apart at all (an airway tree to compare with).
    pub separable: bool,
    /// Why they could or could not, in words.
    pub note: String,
}

/// Frangi et al.'s vesselness for bright tubes from the eigenvalues `l` (sorted by magnitude)
/// of the normalised Hessian: 0 unless λ2, λ3 < 0.
pub fn vesselness(l: [f64; 3]) -> f64 {
    let [l1, l2, l3] = l;
    if l2 >= 0.0 || l3 >= 0.0 {
        return 0.0;
    }
    let ra = l2.abs() / l3.abs();
    let rb = l1.abs() / (l2 * l3).abs().sqrt();
    let s2 = l1 * l1 + l2 * l2 + l3 * l3;
    (1.0 - (-ra * ra / (2.0 * ALPHA * ALPHA)).exp())
        * (-rb * rb / (2.0 * BETA * BETA)).exp()
        * (1.0 - (-s2 / (2.0 * C_HU * C_HU)).exp())
}

/// The largest vesselness over [`SCALES_MM`] at each voxel of `ct` where `candidate` is set
/// (0 elsewhere).
pub fn multiscale_vesselness(ct: &Volume<i16>, candidate: &Mask) -> Volume<f32> {
    let mut best = Volume::<f32>::zeros(ct.dims, ct.geometry);
    let Some(roi) = bounding_box(candidate) else {
        return best;
    };
    let at: Vec<usize> = candidate
        .data
        .iter()
        .enumerate()
        .filter(|(_, c)| **c != 0)
        .map(|(v, _)| v)
        .collect();
    for s in SCALES_MM {
        let Ok(space) = ScaleSpace::new(ct, &roi, s) else {
            continue;
        };
        let v: Vec<f32> = at
            .par_iter()
            .map(|&v| {
                let p = grid::coords(ct.dims, v);
                let (h, g) = space.derivatives(p);
                let l = eigenvalues(&h.scaled(s * s));
                let flank = s * (g[0] * g[0] + g[1] * g[1] + g[2] * g[2]).sqrt() / l[2].abs();
                (vesselness(l) * (-flank * flank / (2.0 * KAPPA * KAPPA)).exp()) as f32
            })
            .collect();
        for (&p, x) in at.iter().zip(v) {
            if x > best.data[p] {
                best.data[p] = x;
            }
        }
    }
    best
}

/// The vessel mask of `ct` (HU) within `domain` (the lungs and hila), touching `lungs`.
fn vessel_mask(ct: &Volume<i16>, domain: &Mask, lungs: &Mask) -> Mask {
    let mut candidate = Mask::zeros(ct.dims, ct.geometry);
    for ((c, &d), &h) in candidate.data.iter_mut().zip(&domain.data).zip(&ct.data) {
        *c = (d != 0 && h > CANDIDATE_HU) as u8;
    }
    let v = multiscale_vesselness(ct, &candidate);
    let mut weak = Mask::zeros(ct.dims, ct.geometry);
    for ((w, &x), &h) in weak.data.iter_mut().zip(&v.data).zip(&ct.data) {
        *w = (x as f64 > LOW && h > VESSEL_HU) as u8;
    }
    let pieces = label(&weak, Connectivity::TwentySix);
    let n = pieces.sizes.len();
    let mut strong = vec![false; n];
    let mut in_lung = vec![false; n];
    for (p, &l) in pieces.labels.data.iter().enumerate() {
        if l != 0 {
            strong[l as usize] |= v.data[p] as f64 > HIGH;
            in_lung[l as usize] |= lungs.data[p] != 0;
        }
    }
    let min = (MIN_PIECE_ML * 1000.0 / ct.voxel_volume_mm3()).ceil() as usize;
    let keep: Vec<bool> = (0..n)
        .map(|l| l != 0 && strong[l] && in_lung[l] && pieces.sizes[l] >= min)
        .collect();
    let core = pieces.labels.map(|l| keep[l as usize] as u8);
    // The lumen out to its wall: a wide vessel's flank answers weakly (its gradient is steep),
    // so the bright lung voxels within GROW_MM of the core, connected to it, are added back.
    let near = dilate(&core, GROW_MM);
    let mut grown = near;
    for ((g, &l), &h) in grown.data.iter_mut().zip(&lungs.data).zip(&ct.data) {
        *g &= (l != 0 && h > RIM_HU) as u8;
    }
    for (g, &c) in grown.data.iter_mut().zip(&core.data) {
        *g |= c;
    }
    let parts = label(&grown, Connectivity::TwentySix);
    let mut touches = vec![false; parts.sizes.len()];
    for (&l, &c) in parts.labels.data.iter().zip(&core.data) {
        touches[l as usize] |= c != 0;
    }
    touches[0] = false;
    parts.labels.map(|l| touches[l as usize] as u8)
}

/// A centreline point of the airway tree: where, its unit direction and the bronchus's radius.
struct AirwayPoint {
    at: [f64; 3],
    dir: [f64; 3],
    radius: f64,
}

/// The airway tree's centreline points (the trachea left out: no pulmonary artery runs
/// beside it), bucketed in cubes of `cell` mm for the nearest-point searches.
struct AirwayIndex {
    points: Vec<AirwayPoint>,
    cells: HashMap<[i64; 3], Vec<usize>>,
    cell: f64,
}

impl AirwayIndex {
    fn new(airway: &Mask, cell: f64) -> Option<AirwayIndex> {
        let tree = build(
            airway,
            &thin(airway),
            Root::Superior,
            TreeOptions::default(),
        )?;
        let mut points = Vec::new();
        for b in tree.branches.iter().filter(|b| b.generation > 0) {
            let p = &b.points;
            for i in 0..p.len() {
                let (a, c) = (p[i.saturating_sub(1)], p[(i + 1).min(p.len() - 1)]);
                if let Some(dir) = unit(sub(c, a)) {
                    points.push(AirwayPoint {
                        at: p[i],
                        dir,
                        radius: b.diameter_mm / 2.0,
                    });
                }
            }
        }
        if points.is_empty() {
            return None;
        }
        let mut cells: HashMap<[i64; 3], Vec<usize>> = HashMap::new();
        for (n, q) in points.iter().enumerate() {
            cells
                .entry(q.at.map(|x| (x / cell).floor() as i64))
                .or_default()
                .push(n);
        }
        Some(AirwayIndex {
            points,
            cells,
            cell,
        })
    }

    /// The airway points within `r` mm of `p`.
    fn near(&self, p: [f64; 3], r: f64) -> impl Iterator<Item = &AirwayPoint> {
        let lo = p.map(|x| ((x - r) / self.cell).floor() as i64);
        let hi = p.map(|x| ((x + r) / self.cell).floor() as i64);
        let mut out = Vec::new();
        for i in lo[0]..=hi[0] {
            for j in lo[1]..=hi[1] {
                for k in lo[2]..=hi[2] {
                    if let Some(c) = self.cells.get(&[i, j, k]) {
                        out.extend(
                            c.iter()
                                .map(|&n| &self.points[n])
                                .filter(|q| dist(q.at, p) <= r),
                        );
                    }
                }
            }
        }
        out.into_iter()
    }
}

/// The centreline of `mask` cut into branches at its junctions: per branch its voxels, and per
/// branch the branches that share a junction with it.
fn branches_of(skeleton: &Mask) -> (Vec<Vec<usize>>, Vec<Vec<usize>>) {
    let dims = skeleton.dims;
    let on = |v: usize| skeleton.data[v] != 0;
    let degree = |v: usize| grid::neighbours26(dims, v).filter(|&q| on(q)).count();
    let mut chains = Mask::zeros(dims, skeleton.geometry);
    let mut junctions = Mask::zeros(dims, skeleton.geometry);
    for v in 0..skeleton.data.len() {
        if on(v) {
            if degree(v) >= 3 {
                junctions.data[v] = 1;
            } else {
                chains.data[v] = 1;
            }
        }
    }
    let c = label(&chains, Connectivity::TwentySix);
    let mut voxels = vec![Vec::new(); c.count()];
    for (v, &l) in c.labels.data.iter().enumerate() {
        if l != 0 {
            voxels[l as usize - 1].push(v);
        }
    }
    // Branches meeting at one junction (a 26-connected cluster of junction voxels).
    let j = label(&junctions, Connectivity::TwentySix);
    let mut at_junction: Vec<Vec<usize>> = vec![Vec::new(); j.count()];
    for (v, &jl) in j.labels.data.iter().enumerate() {
        if jl == 0 {
            continue;
        }
        for q in grid::neighbours26(dims, v) {
            let bl = c.labels.data[q];
            if bl != 0 {
                at_junction[jl as usize - 1].push(bl as usize - 1);
            }
        }
    }
    let mut adjacent = vec![Vec::new(); voxels.len()];
    for mut bs in at_junction {
        bs.sort_unstable();
        bs.dedup();
        for &a in &bs {
            adjacent[a].extend(bs.iter().filter(|&&b| b != a));
        }
    }
    for a in adjacent.iter_mut() {
        a.sort_unstable();
        a.dedup();
    }
    (voxels, adjacent)
}

/// The principal direction of a set of points (unit), `None` for fewer than three.
fn principal_direction(p: &[[f64; 3]]) -> Option<[f64; 3]> {
    if p.len() < 3 {
        return None;
    }
    let n = p.len() as f64;
    let m = [0, 1, 2].map(|a| p.iter().map(|q| q[a]).sum::<f64>() / n);
    let cov = |a: usize, b: usize| p.iter().map(|q| (q[a] - m[a]) * (q[b] - m[b])).sum::<f64>();
    let e = eigen(&Sym3 {
        xx: cov(0, 0),
        yy: cov(1, 1),
        zz: cov(2, 2),
        xy: cov(0, 1),
        xz: cov(0, 2),
        yz: cov(1, 2),
    });
    Some(e.vectors[2])
}

/// Label the branches: arteries beside bronchi, veins wide and away from them, then spread.
fn label_branches(
    vessels: &Mask,
    voxels: Vec<Vec<usize>>,
    adjacent: &[Vec<usize>],
    airway: Option<&AirwayIndex>,
) -> Vec<Branch> {
    let inside: Vec<u8> = vessels.data.iter().map(|&v| (v == 0) as u8).collect();
    let d2 = squared_edt(&inside, vessels.dims, vessels.geometry.spacing);
    let cos = PARALLEL_DEG.to_radians().cos();
    let mut out: Vec<Branch> = voxels
        .into_par_iter()
        .map(|vs| {
            let mut r: Vec<f64> = vs.iter().map(|&v| (d2[v] as f64).sqrt()).collect();
            r.sort_by(f64::total_cmp);
            let radius = r[r.len() / 2];
            let pts: Vec<[f64; 3]> = vs.iter().map(|&v| vessels.world_of(v)).collect();
            let mut branch = Branch {
                voxels: vs,
                radius_mm: radius,
                kind: Kind::Unlabelled,
                confidence: 0.0,
                direct: false,
                bronchus_fraction: 0.0,
            };
            let (Some(index), Some(overall)) = (airway, principal_direction(&pts)) else {
                return branch;
            };
            let mut beside = 0usize;
            let mut nearest = f64::INFINITY;
            let mut reached = false;
            for &p in &pts {
                // The local direction: the centreline within 4 mm (a branch may curve).
                let local: Vec<[f64; 3]> = pts
                    .iter()
                    .filter(|q| dist(**q, p) <= 4.0)
                    .copied()
                    .collect();
                let dir = principal_direction(&local).unwrap_or(overall);
                reached |= index.near(p, REACH_MM).next().is_some();
                for q in index.near(p, radius + FAR_MM + 10.0) {
                    let d = dist(p, q.at);
                    nearest = nearest.min(d - q.radius);
                    if d <= radius + q.radius + GAP_MM && dot(dir, q.dir).abs() >= cos {
                        beside += 1;
                        break;
                    }
                }
            }
            branch.bronchus_fraction = beside as f64 / pts.len() as f64;
            if branch.bronchus_fraction >= ARTERY_FRACTION {
                branch.kind = Kind::Artery;
                branch.confidence = branch.bronchus_fraction.min(0.95);
                branch.direct = true;
            } else if beside == 0
                && radius >= VEIN_MIN_RADIUS_MM
                && reached
                && nearest > radius + FAR_MM
            {
                branch.kind = Kind::Vein;
                branch.confidence = VEIN_CONFIDENCE;
                branch.direct = true;
            }
            branch
        })
        .collect();
    // Spread, best confidence first (a Dijkstra on −log confidence).
    #[derive(PartialEq)]
    struct Item(f64, usize, Kind);
    impl Eq for Item {}
    impl PartialOrd for Item {
        fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
            Some(self.cmp(o))
        }
    }
    impl Ord for Item {
        fn cmp(&self, o: &Self) -> std::cmp::Ordering {
            self.0.total_cmp(&o.0).then(o.1.cmp(&self.1))
        }
    }
    let mut heap: BinaryHeap<Item> = out
        .iter()
        .enumerate()
        .filter(|(_, b)| b.direct)
        .map(|(n, b)| Item(b.confidence, n, b.kind))
        .collect();
    while let Some(Item(c, n, kind)) = heap.pop() {
        if out[n].kind != kind || out[n].confidence > c {
            continue;
        }
        let next = c * DECAY;
        if next < MIN_CONFIDENCE {
            continue;
        }
        for &m in &adjacent[n] {
            if !out[m].direct && out[m].confidence < next {
                out[m].kind = kind;
                out[m].confidence = next;
                heap.push(Item(next, m, kind));
            }
        }
    }
    out
}

/// Each vessel voxel takes the branch of the centreline voxel it is reached from first
/// (breadth-first through the vessel, 26-connected): `None` where no branch reaches.
fn voxel_branches(vessels: &Mask, branches: &[Branch]) -> Vec<Option<u32>> {
    let mut of = vec![None; vessels.data.len()];
    let mut queue = VecDeque::new();
    for (n, b) in branches.iter().enumerate() {
        for &v in &b.voxels {
            of[v] = Some(n as u32);
            queue.push_back(v);
        }
    }
    let dims = vessels.dims;
    while let Some(v) = queue.pop_front() {
        let c = grid::coords(dims, v);
        for d in OFFSETS26 {
            if let Some(q) = grid::offset(dims, c, d).map(|q| grid::index(dims, q))
                && vessels.data[q] != 0
                && of[q].is_none()
            {
                of[q] = of[v];
                queue.push_back(q);
            }
        }
    }
    of
}

/// The vessels of `ct` (HU) in and around `lungs` (non-zero: lung), arteries and veins told
/// apart by the `airway` lumen's tree where it allows.
pub fn vessels(ct: &Volume<i16>, lungs: &Volume<u8>, airway: &Mask) -> Vessels {
    let empty = || Mask::zeros(ct.dims, ct.geometry);
    let Some(lung_box) = bounding_box(lungs) else {
        return Vessels {
            mask: empty(),
            arteries: empty(),
            veins: empty(),
            branches: Vec::new(),
            separable: false,
            note: "no lungs: no vessels searched".into(),
        };
    };
    // Work in the lungs' box grown by the hilar margin (and the airway's, for its tree).
    let mut bbox = lung_box.expand(margin_voxels(HILUM_MM + 1.0, ct.geometry.spacing), ct.dims);
    if let Some(a) = bounding_box(airway) {
        bbox = bbox.union(&a);
    }
    let ct_c = crop(ct, &bbox);
    let lungs_c = crop(lungs, &bbox).map(|v| (v != 0) as u8);
    let airway_c = crop(airway, &bbox);
    let mut domain = dilate(&lungs_c, HILUM_MM);
    let wall = dilate(
        &airway_c,
        WALL_MM.max(ct.geometry.spacing.iter().cloned().fold(0.0, f64::max)),
    );
    for (d, &w) in domain.data.iter_mut().zip(&wall.data) {
        *d &= 1 - w;
    }
    let mask_c = vessel_mask(&ct_c, &domain, &lungs_c);
    let index = if airway_c.count_nonzero() > 0 {
        AirwayIndex::new(&airway_c, 8.0)
    } else {
        None
    };
    let (voxels, adjacent) = branches_of(&thin(&mask_c));
    let mut branches = label_branches(&mask_c, voxels, &adjacent, index.as_ref());
    let of = voxel_branches(&mask_c, &branches);
    let mut arteries_c = Mask::zeros(mask_c.dims, mask_c.geometry);
    let mut veins_c = Mask::zeros(mask_c.dims, mask_c.geometry);
    for (v, b) in of.iter().enumerate() {
        match b.map(|b| branches[b as usize].kind) {
            Some(Kind::Artery) => arteries_c.data[v] = 1,
            Some(Kind::Vein) => veins_c.data[v] = 1,
            _ => {}
        }
    }
    let to_full = |m: &Mask| {
        let mut out = empty();
        paste(&mut out, m, &bbox);
        out
    };
    // Branch voxels on the CT's grid.
    let cd = bbox.dims();
    for b in branches.iter_mut() {
        for v in b.voxels.iter_mut() {
            let [i, j, k] = grid::coords(cd, *v);
            *v = ct.index(i + bbox.start[0], j + bbox.start[1], k + bbox.start[2]);
        }
    }
    let (separable, note) = match &index {
        None => (
            false,
            "arteries and veins not separated: no airway tree (beyond the trachea) to tell the \
             bronchus-accompanied arteries by"
                .to_string(),
        ),
        Some(_) => (
            true,
            "arteries by a bronchus alongside, veins by its absence where the airway tree \
             reaches; the hilar connection (trunk or atrium) is not used"
                .to_string(),
        ),
    };
    Vessels {
        mask: to_full(&mask_c),
        arteries: to_full(&arteries_c),
        veins: to_full(&veins_c),
        branches,
        separable,
        note,
    }
}

/// What `model.json` says of the vessels.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    /// All vessels (mL).
    pub volume_ml: f64,
    /// Labelled artery (mL).
    pub artery_ml: f64,
    /// Labelled vein (mL).
    pub vein_ml: f64,
    /// Vessel not labelled either way (mL).
    pub unlabelled_ml: f64,
    /// The unlabelled share of the vessel volume (0–1; 1 when nothing could be told apart).
    pub unlabelled_fraction: f64,
    /// Branches of the vessels' centreline.
    pub branches: usize,
    /// Branches labelled artery, by their own evidence and in all.
    pub artery_branches: (usize, usize),
    /// Branches labelled vein, by their own evidence and in all.
    pub vein_branches: (usize, usize),
    /// Whether arteries and veins could be told apart at all.
    pub separable: bool,
    /// How they were told apart, or why not.
    pub note: String,
}

impl Summary {
    /// The summary of `v`.
    pub fn of(v: &Vessels) -> Summary {
        let volume_ml = v.mask.nonzero_ml();
        let artery_ml = v.arteries.nonzero_ml();
        let vein_ml = v.veins.nonzero_ml();
        let unlabelled_ml = (volume_ml - artery_ml - vein_ml).max(0.0);
        let count = |k: Kind, direct: bool| {
            v.branches
                .iter()
                .filter(|b| b.kind == k && (b.direct || !direct))
                .count()
        };
        Summary {
            volume_ml,
            artery_ml,
            vein_ml,
            unlabelled_ml,
            unlabelled_fraction: if volume_ml > 0.0 {
                unlabelled_ml / volume_ml
            } else {
                1.0
            },
            branches: v.branches.len(),
            artery_branches: (count(Kind::Artery, true), count(Kind::Artery, false)),
            vein_branches: (count(Kind::Vein, true), count(Kind::Vein, false)),
            separable: v.separable,
            note: v.note.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ctplan_core::Geometry;

    /// Distance from `p` to the segment `a`–`b`.
    fn seg(p: [f64; 3], a: [f64; 3], b: [f64; 3]) -> f64 {
        let ab = sub(b, a);
        let t = (dot(sub(p, a), ab) / dot(ab, ab)).clamp(0.0, 1.0);
        dist(p, [a[0] + t * ab[0], a[1] + t * ab[1], a[2] + t * ab[2]])
    }

    /// A lung block (−850 HU) at 1 × 1 × 1.5 mm with bright (40 HU) shapes where `shape` says.
    fn lung_phantom(shape: impl Fn([f64; 3]) -> bool) -> (Volume<i16>, Volume<u8>) {
        let dims = [80, 80, 50];
        let g = Geometry::new([1.0, 1.0, 1.5], [0.0; 3]);
        let mut ct = Volume::<i16>::zeros(dims, g);
        let mut lungs = Volume::<u8>::zeros(dims, g);
        for v in 0..ct.data.len() {
            let p = ct.world_of(v);
            ct.data[v] = if shape(p) { 40 } else { -850 };
            lungs.data[v] = 1;
        }
        (ct, lungs)
    }

    #[test]
    fn a_tube_is_a_vessel_a_plate_and_a_ball_are_not() {
        let tube = |p: [f64; 3]| seg(p, [10.0, 40.0, 10.0], [70.0, 40.0, 65.0]) <= 2.5;
        let plate = |p: [f64; 3]| (p[0] - 40.0).abs() <= 1.0;
        let ball = |p: [f64; 3]| dist(p, [40.0, 40.0, 37.0]) <= 7.0;
        let none = Mask::zeros([80, 80, 50], Geometry::new([1.0, 1.0, 1.5], [0.0; 3]));
        let found = |shape: &dyn Fn([f64; 3]) -> bool| {
            let (ct, lungs) = lung_phantom(shape);
            let v = vessels(&ct, &lungs, &none);
            let truth = ct.data.iter().filter(|&&h| h > 0).count();
            let hit = (0..ct.data.len())
                .filter(|&p| ct.data[p] > 0 && v.mask.data[p] != 0)
                .count();
            (hit as f64 / truth as f64, v)
        };
        let (recall, v) = found(&tube);
        assert!(recall > 0.9, "tube recall {recall}");
        // Nothing outside the tube but its rim.
        let (ct, _) = lung_phantom(tube);
        let outside = (0..ct.data.len())
            .filter(|&p| v.mask.data[p] != 0 && ct.data[p] < 0)
            .count();
        assert_eq!(outside, 0);
        assert!(!v.separable, "{}", v.note);
        assert!(v.arteries.count_nonzero() == 0 && v.veins.count_nonzero() == 0);
        let (recall, _) = found(&plate);
        assert!(recall < 0.05, "plate recall {recall}");
        let (recall, _) = found(&ball);
        assert!(recall < 0.05, "ball recall {recall}");
    }

    #[test]
    fn the_vessel_beside_a_bronchus_is_an_artery_the_one_away_a_vein() {
        // A bronchus (air in a 1.5 mm wall) from the top, branching; an artery running beside
        // each daughter, and a vein below the fork, about 20 mm from both.
        let top = [40.0, 40.0, 74.0];
        let fork = [40.0, 40.0, 55.0];
        let (l, r) = ([8.0, 40.0, 30.0], [72.0, 40.0, 30.0]);
        let lumen = |p: [f64; 3]| {
            seg(p, top, fork) <= 4.0 || seg(p, fork, l) <= 3.0 || seg(p, fork, r) <= 3.0
        };
        let off = [0.0, 7.5, 0.0];
        let add = |a: [f64; 3], b: [f64; 3]| [a[0] + b[0], a[1] + b[1], a[2] + b[2]];
        let artery = |p: [f64; 3]| {
            seg(p, add(fork, off), add(l, off)) <= 2.5 || seg(p, add(fork, off), add(r, off)) <= 2.5
        };
        let vein = |p: [f64; 3]| seg(p, [40.0, 40.0, 5.0], [40.0, 40.0, 28.0]) <= 2.5;
        let (mut ct, lungs) = lung_phantom(|p| artery(p) || vein(p));
        let mut airway = Mask::zeros(ct.dims, ct.geometry);
        for v in 0..ct.data.len() {
            let p = ct.world_of(v);
            if lumen(p) {
                ct.data[v] = -1000;
                airway.data[v] = 1;
            } else if seg(p, top, fork) <= 5.5 || seg(p, fork, l) <= 4.5 || seg(p, fork, r) <= 4.5 {
                ct.data[v] = 40;
            }
        }
        let v = vessels(&ct, &lungs, &airway);
        assert!(v.separable, "{}", v.note);
        let (mut a_ok, mut a_all, mut v_ok, mut v_all) = (0, 0, 0, 0);
        for p in 0..ct.data.len() {
            let w = ct.world_of(p);
            if artery(w) && v.mask.data[p] != 0 {
                a_all += 1;
                a_ok += v.arteries.data[p] as usize;
                assert_eq!(v.veins.data[p], 0, "artery voxel labelled vein at {w:?}");
            }
            if vein(w) && v.mask.data[p] != 0 {
                v_all += 1;
                v_ok += v.veins.data[p] as usize;
                assert_eq!(v.arteries.data[p], 0, "vein voxel labelled artery at {w:?}");
            }
        }
        assert!(a_all > 0 && v_all > 0);
        assert!(a_ok as f64 > 0.8 * a_all as f64, "arteries {a_ok}/{a_all}");
        assert!(v_ok as f64 > 0.8 * v_all as f64, "veins {v_ok}/{v_all}");
    }

    #[test]
    fn vesselness_is_zero_for_dark_tubes_and_plates() {
        assert_eq!(vesselness([0.0, 50.0, 50.0]), 0.0);
        assert!(vesselness([0.0, -0.1, -100.0]) < 0.05);
        assert!(vesselness([0.0, -100.0, -100.0]) > 0.7);
        assert!(vesselness([-100.0, -100.0, -100.0]) < 0.2);
    }
}
