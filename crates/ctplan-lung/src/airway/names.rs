//! Anatomical names of the airway branches (Boyden's nomenclature) by rules on direction and
//! position.
//!
//! Top-down, as in rule-based airway labelling (e.g. Mori et al., "Automated anatomical labeling
//! of the bronchial branch and its application to the virtual bronchoscopy system", IEEE TMI
//! 19(2):103–114, 2000): the root branch is the trachea; of the carina's children the one whose
//! subtree lies to the patient's right (−x in LPS) is the right main bronchus. Below a main
//! bronchus, the lobes; below a lobar bronchus, the segments. At each level the same step runs:
//! a *frontier* of sub-trees, starting with the children of the parent, is expanded (a frontier
//! element replaced by its children) while it has fewer elements than the level has names, or
//! while an expansion raises the match clearly; each name has a template direction (from the
//! branching point to the centroid of the sub-tree's centreline, in the patient's frame), and the
//! names go to distinct frontier elements maximising the summed cosine (exhaustive search, at
//! most 5 names). Frontier elements left over join the name they point to best as accessory
//! branches of the same segment. A name's confidence combines how well its branch matches its
//! template and how much better than any other template.
//!
//! Right: RUL (RB1 apical, RB2 posterior, RB3 anterior), RML (RB4 lateral, RB5 medial), RLL (RB6
//! superior, RB7 medial basal, RB8 anterior basal, RB9 lateral basal, RB10 posterior basal).
//! Left: LUL (LB1+2 apicoposterior, LB3 anterior, LB4 superior lingular, LB5 inferior lingular),
//! LLL (LB6 superior, LB7+8 anteromedial basal, LB9 lateral basal, LB10 posterior basal).

use serde::Serialize;

use ctplan_core::vec3;

use super::segments::{BranchId, LobeId, SegmentId};
pub use super::segments::{LOBES, SEGMENTS, SegmentDef, Side, segment_index};
use super::tree::Tree;
use crate::error::LungError;

/// A branch's name and how sure the rules are (0–1).
#[derive(Debug, Clone, Serialize)]
pub struct Name {
    /// Boyden name (Trachea, RMB, RUL, RB1, …).
    pub name: String,
    /// How sure the rules are, 0–1 (1 for a user's correction).
    pub confidence: f64,
}

/// The names of a tree's branches.
#[derive(Debug, Clone, Default)]
pub struct Naming {
    /// Per branch (indexed by [`BranchId`]).
    pub names: Vec<Option<Name>>,
    /// Per branch (indexed by [`BranchId`]): the segment whose territory the branch feeds;
    /// `None` above the segmental level.
    pub segment_of: Vec<Option<SegmentId>>,
    /// Per segment (indexed by [`SegmentId`]): the segmental bronchus (primary branch), if found.
    pub primary: Vec<Option<BranchId>>,
    /// Per lobe (indexed by [`LobeId`]): the lobar bronchus, if found.
    pub lobar: Vec<Option<BranchId>>,
    /// What the rules could not name, in words.
    pub warnings: Vec<String>,
}

impl Naming {
    /// The branch named `name` (case-insensitive).
    pub fn find(&self, name: &str) -> Option<BranchId> {
        self.names
            .iter()
            .position(|n| {
                n.as_ref()
                    .is_some_and(|n| n.name.eq_ignore_ascii_case(name))
            })
            .map(BranchId)
    }

    /// The name of branch `b`, if it has one.
    pub fn name(&self, b: BranchId) -> Option<&Name> {
        self.names[b.0].as_ref()
    }

    /// The segment branch `b` feeds (`None` above the segmental level).
    pub fn segment(&self, b: BranchId) -> Option<SegmentId> {
        self.segment_of[b.0]
    }

    /// The segment fed by the branch a territory map value stands for (`None` for `0` and for
    /// branches above the segmental level).
    pub fn segment_of_label(&self, label: u32) -> Option<SegmentId> {
        BranchId::from_label(label).and_then(|b| self.segment(b))
    }

    /// The segmental bronchus of segment `s`, if found.
    pub fn primary(&self, s: SegmentId) -> Option<BranchId> {
        self.primary[s.0]
    }

    /// The lobar bronchus of lobe `l`, if found.
    pub fn lobar(&self, l: LobeId) -> Option<BranchId> {
        self.lobar[l.0]
    }

    /// Segments with at least one branch.
    pub fn present_segments(&self) -> Vec<SegmentId> {
        SegmentId::all()
            .filter(|&s| self.segment_of.contains(&Some(s)))
            .collect()
    }
}

/// Per-branch sub-tree centroid and size (centreline length).
struct SubInfo {
    centroid: Vec<[f64; 3]>,
    size: Vec<f64>,
}

fn sub_info(tree: &Tree) -> SubInfo {
    let n = tree.branches.len();
    let mut sum = vec![[0.0; 3]; n];
    let mut cnt = vec![0.0; n];
    let mut size = vec![0.0; n];
    // Branches are numbered depth-first from the root, so children have larger indices.
    for b in (0..n).rev() {
        let br = &tree.branches[b];
        for p in &br.points {
            for d in 0..3 {
                sum[b][d] += p[d];
            }
        }
        cnt[b] += br.points.len() as f64;
        size[b] += br.length_mm;
        if let Some(p) = br.parent {
            for d in 0..3 {
                sum[p][d] += sum[b][d];
            }
            cnt[p] += cnt[b];
            size[p] += size[b];
        }
    }
    let centroid = (0..n)
        .map(|b| [sum[b][0] / cnt[b], sum[b][1] / cnt[b], sum[b][2] / cnt[b]])
        .collect();
    SubInfo { centroid, size }
}

/// The direction of `v`, `[0; 3]` for a zero vector (a sub-tree centred on its branching point
/// matches no template).
fn unit(v: [f64; 3]) -> [f64; 3] {
    vec3::unit(v).unwrap_or([0.0; 3])
}

/// Outcome of one level: per template, the chosen element (if any) with its cosine, and the
/// accessory elements; plus the cosine table.
struct LevelMatch {
    primary: Vec<Option<(usize, f64)>>,
    extra: Vec<Vec<usize>>,
    confidence: Vec<f64>,
}

/// Score, chosen element per template, cosine table (template × element), eligibility.
type Evaluation = (f64, Vec<Option<usize>>, Vec<Vec<f64>>, Vec<bool>);

/// Best injective assignment of templates to elements; returns (score, choice per template).
fn best_assignment(cos: &[Vec<f64>], eligible: &[bool]) -> (f64, Vec<Option<usize>>) {
    let k = cos.len();
    let m = eligible.len();
    let mut best = (f64::NEG_INFINITY, vec![None; k]);
    let mut cur = vec![None; k];
    let mut used = vec![false; m];
    fn rec(
        t: usize,
        score: f64,
        cos: &[Vec<f64>],
        eligible: &[bool],
        used: &mut [bool],
        cur: &mut Vec<Option<usize>>,
        best: &mut (f64, Vec<Option<usize>>),
    ) {
        if t == cos.len() {
            if score > best.0 {
                *best = (score, cur.clone());
            }
            return;
        }
        let mut any = false;
        for e in 0..used.len() {
            if used[e] || !eligible[e] {
                continue;
            }
            any = true;
            used[e] = true;
            cur[t] = Some(e);
            rec(t + 1, score + cos[t][e], cos, eligible, used, cur, best);
            used[e] = false;
        }
        cur[t] = None;
        if !any
            || used
                .iter()
                .zip(eligible)
                .filter(|(u, e)| !**u && **e)
                .count()
                < cos.len() - t
        {
            // Fewer free elements than names left: this name may go without (penalty −1.5).
            rec(t + 1, score - 1.5, cos, eligible, used, cur, best);
        }
    }
    rec(0, 0.0, cos, eligible, &mut used, &mut cur, &mut best);
    best
}

fn match_level(
    tree: &Tree,
    info: &SubInfo,
    start: Vec<usize>,
    origin: [f64; 3],
    templates: &[[f64; 3]],
) -> LevelMatch {
    let k = templates.len();
    let tdir: Vec<[f64; 3]> = templates.iter().map(|&t| unit(t)).collect();
    let evaluate = |frontier: &[usize]| -> Evaluation {
        let dirs: Vec<[f64; 3]> = frontier
            .iter()
            .map(|&e| {
                let c = info.centroid[e];
                unit([c[0] - origin[0], c[1] - origin[1], c[2] - origin[2]])
            })
            .collect();
        let cos: Vec<Vec<f64>> = tdir
            .iter()
            .map(|t| dirs.iter().map(|&d| vec3::dot(*t, d)).collect())
            .collect();
        let total: f64 = frontier.iter().map(|&e| info.size[e]).sum();
        let mut eligible: Vec<bool> = frontier
            .iter()
            .map(|&e| info.size[e] >= 0.03 * total)
            .collect();
        if eligible.iter().filter(|&&x| x).count() < k {
            eligible = vec![true; frontier.len()];
        }
        let (score, choice) = best_assignment(&cos, &eligible);
        (score, choice, cos, eligible)
    };
    let mut frontier = start;
    loop {
        let (cur, ..) = evaluate(&frontier);
        let mut best: Option<(f64, Vec<usize>)> = None;
        for (i, &e) in frontier.iter().enumerate() {
            let ch = &tree.branches[e].children;
            if ch.is_empty() {
                continue;
            }
            let mut f2: Vec<usize> = frontier.clone();
            f2.remove(i);
            f2.extend(ch.iter().copied());
            let (s, ..) = evaluate(&f2);
            if best.as_ref().is_none_or(|b| s > b.0) {
                best = Some((s, f2));
            }
        }
        match best {
            Some((s, f2)) if frontier.len() < k || (s > cur + 0.25 && f2.len() <= k + 3) => {
                frontier = f2
            }
            _ => break,
        }
    }
    let (_, choice, cos, _) = evaluate(&frontier);
    let mut primary = vec![None; k];
    let mut extra = vec![Vec::new(); k];
    let mut confidence = vec![0.0; k];
    for t in 0..k {
        if let Some(e) = choice[t] {
            primary[t] = Some((frontier[e], cos[t][e]));
            let alt = (0..k)
                .filter(|&u| u != t)
                .map(|u| cos[u][e])
                .fold(-1.0, f64::max);
            let c = cos[t][e];
            confidence[t] = (0.5 * (1.0 + c) * (0.5 + (c - alt)).clamp(0.0, 1.0)).clamp(0.0, 1.0);
        }
    }
    for (i, &e) in frontier.iter().enumerate() {
        if choice.contains(&Some(i)) {
            continue;
        }
        let t = (0..k)
            .max_by(|&a, &b| cos[a][i].total_cmp(&cos[b][i]))
            .expect("k > 0");
        extra[t].push(e);
    }
    LevelMatch {
        primary,
        extra,
        confidence,
    }
}

/// Name the branches of an airway tree rooted at the trachea.
pub fn name_tree(tree: &Tree) -> Naming {
    let n = tree.branches.len();
    let mut out = Naming {
        names: vec![None; n],
        segment_of: vec![None; n],
        primary: vec![None; SEGMENTS.len()],
        lobar: vec![None; LOBES.len()],
        warnings: Vec::new(),
    };
    let info = sub_info(tree);
    let set = |out: &mut Naming, b: usize, name: &str, c: f64| {
        out.names[b] = Some(Name {
            name: name.to_string(),
            confidence: c,
        });
    };
    // The trachea runs from the root to the first branching into two large sub-trees (each at
    // least a fifth of the tree below): small side branches and knots at the top of the scan
    // are passed over.
    let mut trachea = tree.root;
    let mut kids: Vec<usize>;
    loop {
        set(&mut out, trachea, "Trachea", 1.0);
        kids = tree.branches[trachea].children.clone();
        kids.sort_by(|&a, &b| info.size[b].total_cmp(&info.size[a]));
        let big = kids
            .iter()
            .filter(|&&c| info.size[c] >= 0.2 * info.size[trachea])
            .count();
        if big >= 2 || kids.is_empty() {
            break;
        }
        trachea = kids[0];
    }
    if kids.len() < 2 {
        out.warnings
            .push("the trachea does not divide: no main bronchi, nothing below it is named".into());
        return out;
    }
    let carina = tree.branches[trachea].end();
    let (mut right, mut left) = (kids[0], kids[1]);
    if info.centroid[right][0] > info.centroid[left][0] {
        std::mem::swap(&mut right, &mut left);
    }
    let side_conf = |b: usize| ((info.centroid[b][0] - carina[0]).abs() / 30.0).clamp(0.0, 1.0);
    set(&mut out, right, "RMB", side_conf(right));
    set(&mut out, left, "LMB", side_conf(left));
    for (main, side) in [(right, Side::Right), (left, Side::Left)] {
        let lobes: Vec<usize> = (0..LOBES.len()).filter(|&l| LOBES[l].1 == side).collect();
        let templates: Vec<[f64; 3]> = lobes.iter().map(|&l| LOBES[l].2).collect();
        let origin = tree.branches[main].end();
        let start = tree.branches[main].children.clone();
        if start.is_empty() {
            out.warnings.push(format!(
                "the {} main bronchus does not divide: no lobar bronchi",
                if side == Side::Right { "right" } else { "left" }
            ));
            continue;
        }
        let lm = match_level(tree, &info, start, origin, &templates);
        for (t, &l) in lobes.iter().enumerate() {
            let lobe = LOBES[l].0;
            let Some((lb, _)) = lm.primary[t] else {
                out.warnings.push(format!("no {lobe} bronchus found"));
                continue;
            };
            out.lobar[l] = Some(BranchId(lb));
            set(&mut out, lb, lobe, lm.confidence[t]);
            // Segments of the lobe: from the lobar bronchus (and its accessory elements).
            let segs: Vec<usize> = (0..SEGMENTS.len())
                .filter(|&s| SEGMENTS[s].lobe == lobe)
                .collect();
            let stemplates: Vec<[f64; 3]> = segs.iter().map(|&s| SEGMENTS[s].dir).collect();
            let mut elems: Vec<usize> = vec![lb];
            elems.extend(lm.extra[t].iter().copied());
            let (sstart, sorigin) = if elems.len() == 1 && !tree.branches[lb].children.is_empty() {
                (tree.branches[lb].children.clone(), tree.branches[lb].end())
            } else {
                (elems.clone(), tree.branches[lb].start())
            };
            let sm = match_level(tree, &info, sstart, sorigin, &stemplates);
            let mut found = 0;
            for (u, &s) in segs.iter().enumerate() {
                let mut members: Vec<usize> = sm.extra[u].clone();
                if let Some((b, _)) = sm.primary[u] {
                    found += 1;
                    out.primary[s] = Some(BranchId(b));
                    set(&mut out, b, SEGMENTS[s].bronchus, sm.confidence[u]);
                    members.push(b);
                }
                for m in members {
                    for x in tree.subtree(m) {
                        out.segment_of[x] = Some(SegmentId(s));
                    }
                }
            }
            if found < segs.len() {
                out.warnings.push(format!(
                    "{lobe}: {found} of {} segmental bronchi found",
                    segs.len()
                ));
            }
        }
        // Bronchus intermedius: the common parent of RML and RLL below the right main bronchus.
        if side == Side::Right
            && let (Some(ml), Some(ll)) = (out.lobar[1], out.lobar[2])
            && let (Some(p), Some(q)) = (tree.branches[ml.0].parent, tree.branches[ll.0].parent)
            && p == q
            && p != main
            && out.names[p].is_none()
        {
            set(&mut out, p, "BI", lm.confidence[1].min(lm.confidence[2]));
        }
    }
    out
}

/// Rename branch `b` to `name` (a user's correction). A segmental name moves the segment: the
/// sub-tree of `b` becomes that segment's territory and `b` its bronchus; any branch that had
/// the name loses it but keeps its segment. Confidence of a user's name is 1.
pub fn rename(tree: &Tree, naming: &mut Naming, b: BranchId, name: &str) -> Result<(), LungError> {
    if b.0 >= tree.branches.len() {
        return Err(LungError::Rename(format!(
            "no branch {} (the tree has {} branches)",
            b.0,
            tree.branches.len()
        )));
    }
    let canonical = segment_index(name)
        .map(|s| s.def().bronchus.to_string())
        .or_else(|| {
            ["Trachea", "RMB", "LMB", "BI"]
                .into_iter()
                .chain(LOBES.iter().map(|l| l.0))
                .find(|n| n.eq_ignore_ascii_case(name))
                .map(str::to_string)
        })
        .ok_or_else(|| LungError::Rename(format!("unknown bronchus name {name:?} (Boyden: RB1–RB10, LB1+2, LB3–LB6, LB7+8, LB9, LB10, RUL, RML, RLL, LUL, LLL, BI, RMB, LMB, Trachea)")))?;
    if let Some(old) = naming.find(&canonical) {
        naming.names[old.0] = None;
    }
    naming.names[b.0] = Some(Name {
        name: canonical.clone(),
        confidence: 1.0,
    });
    if let Some(s) = segment_index(&canonical) {
        naming.primary[s.0] = Some(b);
        for x in tree.subtree(b.0) {
            naming.segment_of[x] = Some(s);
        }
    } else if let Some(l) = LOBES.iter().position(|l| l.0 == canonical) {
        naming.lobar[l] = Some(b);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boyden_has_ten_right_and_eight_left_segments_counting_nineteen() {
        assert_eq!(
            SEGMENTS.iter().filter(|s| s.side == Side::Right).count(),
            10
        );
        assert_eq!(SEGMENTS.iter().filter(|s| s.side == Side::Left).count(), 8);
        assert_eq!(SEGMENTS.iter().map(|s| s.count).sum::<u32>(), 19);
        assert_eq!(segment_index("ls1+2"), Some(SegmentId(10)));
        assert_eq!(segment_index("RB10"), Some(SegmentId(9)));
        // Templates point laterally on their own side (medial basal RB7 excepted).
        for s in &SEGMENTS {
            let lateral = if s.side == Side::Right {
                -s.dir[0]
            } else {
                s.dir[0]
            };
            assert!(lateral >= -0.3, "{}", s.bronchus);
        }
    }

    #[test]
    fn assignment_is_injective_and_maximal() {
        let cos = vec![vec![0.9, 0.8], vec![0.85, 0.1]];
        let (s, c) = best_assignment(&cos, &[true, true]);
        assert_eq!(c, vec![Some(1), Some(0)]);
        assert!((s - 1.65).abs() < 1e-12);
        // Fewer elements than names: one name goes without.
        let (_, c) = best_assignment(&[vec![0.9], vec![0.2]], &[true]);
        assert_eq!(c, vec![Some(0), None]);
    }
}
