//! Target resolution: names, branch numbers and points to the set of resected branches.

use crate::airway::names::{LOBES, segment_index};
use crate::airway::{BranchId, SegmentId};
use crate::error::LungError;
use crate::model::Model;

/// What to resect.
#[derive(Debug, Clone)]
pub enum Target {
    /// A bronchus, segment or lobe name (RB3, RS3, LB1+2, RUL, …) or a branch number `#17`.
    Name(String),
    /// The branch nearest to this LPS point (mm).
    Point([f64; 3]),
}

/// The branches removed by a resection (every branch below a target, the target included).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BranchSet {
    resected: Vec<bool>,
}

impl BranchSet {
    /// No branch of a tree of `branches` branches.
    pub fn empty(branches: usize) -> BranchSet {
        BranchSet {
            resected: vec![false; branches],
        }
    }

    /// Add branch `b`.
    pub fn insert(&mut self, b: BranchId) {
        self.resected[b.0] = true;
    }

    /// Whether branch `b` is resected.
    pub fn contains(&self, b: BranchId) -> bool {
        self.resected[b.0]
    }

    /// Whether the territory map value `label` is resected lung (`0`, lung fed by no branch,
    /// never is).
    pub fn contains_label(&self, label: u32) -> bool {
        BranchId::from_label(label).is_some_and(|b| self.contains(b))
    }

    /// The resected branches, in tree order.
    pub fn iter(&self) -> impl Iterator<Item = BranchId> + '_ {
        (0..self.resected.len())
            .filter(|&b| self.resected[b])
            .map(BranchId)
    }
}

/// The resected branches (every branch below a target, the target included) and the names the
/// targets resolved to. A segment name takes every branch feeding the segment, a lobe name
/// every branch feeding one of its segments, a point the branch nearest to it.
pub fn resolve(model: &Model, targets: &[Target]) -> Result<(BranchSet, Vec<String>), LungError> {
    let tree = &model.tree;
    let n = &model.naming;
    let branches = || (0..tree.branches.len()).map(BranchId);
    let mut set = BranchSet::empty(tree.branches.len());
    let mut names = Vec::new();
    for t in targets {
        let roots: Vec<BranchId> = match t {
            Target::Point(p) => {
                let (b, _, d) = tree
                    .nearest(*p)
                    .ok_or_else(|| LungError::Target("empty tree".into()))?;
                let b = BranchId(b);
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
                let found: Vec<BranchId> = if let Some(id) = s.strip_prefix('#') {
                    let b: usize = id
                        .parse()
                        .map_err(|_| LungError::Target(format!("bad branch number {s:?}")))?;
                    if b >= tree.branches.len() {
                        return Err(LungError::Target(format!(
                            "no branch {s} (the tree has {})",
                            tree.branches.len()
                        )));
                    }
                    vec![BranchId(b)]
                } else if let Some(si) = segment_index(s) {
                    let v: Vec<BranchId> =
                        branches().filter(|&b| n.segment(b) == Some(si)).collect();
                    if v.is_empty() {
                        return Err(LungError::Target(format!(
                            "{s}: this segment's bronchus was not found in the airway tree"
                        )));
                    }
                    v
                } else if let Some(li) = LOBES.iter().position(|l| l.0.eq_ignore_ascii_case(s)) {
                    let v: Vec<BranchId> = branches()
                        .filter(|&b| {
                            n.segment(b)
                                .is_some_and(|x: SegmentId| x.def().lobe == LOBES[li].0)
                        })
                        .collect();
                    if v.is_empty() {
                        return Err(LungError::Target(format!(
                            "{s}: no segment of this lobe was found"
                        )));
                    }
                    v
                } else if let Some(b) = n.find(s) {
                    vec![b]
                } else {
                    return Err(LungError::Target(format!(
                        "unknown target {s:?}: give a Boyden name (RB1–RB10, LB1+2, LB3–LB6, LB7+8, LB9, LB10, or S…), a lobe (RUL, RML, RLL, LUL, LLL), a branch number #N, or a point x,y,z in mm"
                    )));
                };
                names.push(s.to_string());
                found
            }
        };
        for r in roots {
            for b in tree.subtree(r.0) {
                set.insert(BranchId(b));
            }
        }
    }
    Ok((set, names))
}

/// A branch's display name: its name, or `#id (in RS3)`.
pub fn branch_label(model: &Model, b: BranchId) -> String {
    match model.naming.name(b) {
        Some(n) => n.name.clone(),
        None => match model.naming.segment(b) {
            Some(s) => format!("#{} (in {})", b.0, s.def().bronchus),
            None => format!("#{}", b.0),
        },
    }
}
