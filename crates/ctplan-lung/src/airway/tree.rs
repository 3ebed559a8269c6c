//! Branch graph of a tubular tree (airways, vessels) from its curve skeleton.
//!
//! Skeleton voxels with three or more 26-neighbours are junction voxels; touching junction voxels
//! form one junction node, voxels with one neighbour are end nodes, and the chains between nodes
//! are edges. The graph is rooted at a chosen end node (for airways the most superior end, the top
//! of the trachea) and turned into a tree by shortest paths from the root (Dijkstra on edge
//! lengths): an edge left out closes a loop, which a tree of airways cannot have, and is reported.
//! Spurious terminal branches that thinning leaves on thick tubes are pruned when they are
//! shorter than the parent's radius plus a tolerance (the usual length-to-radius criterion of
//! airway-tree extraction, e.g. Palágyi et al., "Quantitative analysis of pulmonary airway tree
//! structures", Comput. Biol. Med. 36:974–996, 2006), and a node left with one child is merged
//! away. Lengths are measured along the centreline in mm; diameters are twice the median
//! distance from the centreline to the tube's boundary (exact EDT), over the middle half of the
//! branch so that the junctions do not inflate them.

use std::collections::{BinaryHeap, HashMap};

use ctplan_core::Mask;
use ctplan_core::crop::{bounding_box, crop};
use ctplan_core::edt::squared_edt;
use ctplan_core::grid;
use ctplan_core::label::{Connectivity, label};
use ctplan_core::vec3::dist;

/// One branch: the centreline from its parent's junction to its own distal node.
#[derive(Debug, Clone)]
pub struct Branch {
    /// The branch this one leaves (`None` for the root).
    pub parent: Option<usize>,
    /// The branches leaving this one's distal node.
    pub children: Vec<usize>,
    /// Skeleton voxels (linear indices on the mask's grid), proximal to distal.
    pub voxels: Vec<usize>,
    /// Centreline points in world mm (LPS), proximal to distal, junction centres included.
    pub points: Vec<[f64; 3]>,
    /// Length along the centreline.
    pub length_mm: f64,
    /// Twice the median distance from the centreline to the boundary (middle half).
    pub diameter_mm: f64,
    /// 0 for the root branch, +1 per branching.
    pub generation: u32,
}

impl Branch {
    /// The proximal end (the parent's junction), LPS mm.
    pub fn start(&self) -> [f64; 3] {
        self.points[0]
    }
    /// The distal end (this branch's own node), LPS mm.
    pub fn end(&self) -> [f64; 3] {
        *self.points.last().expect("a branch has points")
    }
}

/// A rooted branch tree with what building it noticed.
#[derive(Debug, Clone)]
pub struct Tree {
    /// Branches in depth-first order from the root.
    pub branches: Vec<Branch>,
    /// The root branch (0 after pruning).
    pub root: usize,
    /// Loops cut and pieces left out, in words.
    pub warnings: Vec<String>,
}

/// Options for [`build`].
#[derive(Debug, Clone, Copy)]
pub struct TreeOptions {
    /// A terminal branch shorter than `parent radius + max(min_spur_mm, spur_ratio · parent
    /// radius)` is pruned.
    pub min_spur_mm: f64,
    /// See `min_spur_mm`.
    pub spur_ratio: f64,
}

impl Default for TreeOptions {
    fn default() -> Self {
        TreeOptions {
            min_spur_mm: 3.0,
            spur_ratio: 0.5,
        }
    }
}

/// Where the root is.
#[derive(Debug, Clone, Copy)]
pub enum Root {
    /// The end node with the largest world z (superior in LPS): the top of the trachea.
    Superior,
    /// The end node nearest to this world point.
    Near([f64; 3]),
}

#[derive(Debug)]
struct Edge {
    a: usize,
    b: usize,
    voxels: Vec<usize>,
    length: f64,
}

impl Tree {
    /// All branches below `b`, `b` included, in depth-first order.
    pub fn subtree(&self, b: usize) -> Vec<usize> {
        let mut out = Vec::new();
        let mut stack = vec![b];
        while let Some(x) = stack.pop() {
            out.push(x);
            stack.extend(self.branches[x].children.iter().rev());
        }
        out
    }

    /// Branches from the root down to `b`, both included.
    pub fn path_to(&self, b: usize) -> Vec<usize> {
        let mut p = vec![b];
        let mut x = b;
        while let Some(q) = self.branches[x].parent {
            p.push(q);
            x = q;
        }
        p.reverse();
        p
    }

    /// Whether `a` is `b` or one of its ancestors.
    pub fn is_ancestor(&self, a: usize, b: usize) -> bool {
        let mut x = Some(b);
        while let Some(y) = x {
            if y == a {
                return true;
            }
            x = self.branches[y].parent;
        }
        false
    }

    /// The branch and point index nearest to a world point.
    pub fn nearest(&self, p: [f64; 3]) -> Option<(usize, usize, f64)> {
        let mut best: Option<(usize, usize, f64)> = None;
        for (b, br) in self.branches.iter().enumerate() {
            for (i, q) in br.points.iter().enumerate() {
                let d = dist(p, *q);
                if best.is_none_or(|x| d < x.2) {
                    best = Some((b, i, d));
                }
            }
        }
        best
    }
}

fn polyline_length(p: &[[f64; 3]]) -> f64 {
    p.windows(2).map(|w| dist(w[0], w[1])).sum()
}

/// Build the branch tree of `tube` from its skeleton `skeleton` (both on one grid). `None` when
/// the skeleton is empty.
pub fn build(tube: &Mask, skeleton: &Mask, root: Root, opts: TreeOptions) -> Option<Tree> {
    let mut warnings = Vec::new();
    let g = &skeleton.geometry;
    let dims = skeleton.dims;
    // Largest 26-connected piece of the skeleton.
    let comps = label(skeleton, Connectivity::TwentySix);
    let keep = comps.largest()?;
    let dropped: usize = (1..comps.sizes.len())
        .filter(|&l| l as u32 != keep)
        .map(|l| comps.sizes[l])
        .sum();
    if comps.count() > 1 {
        warnings.push(format!(
            "the mask has {} disconnected pieces; {} centreline voxels outside the largest were left out",
            comps.count(),
            dropped
        ));
    }
    let vox: Vec<usize> = (0..comps.labels.data.len())
        .filter(|&v| comps.labels.data[v] == keep)
        .collect();
    let id: HashMap<usize, usize> = vox.iter().enumerate().map(|(i, &v)| (v, i)).collect();
    let world = |v: usize| {
        let c = grid::coords(dims, v);
        g.index_to_world([c[0] as f64, c[1] as f64, c[2] as f64])
    };
    let neighbours = |v: usize| -> Vec<usize> {
        grid::neighbours26(dims, v)
            .filter_map(|w| id.get(&w).copied())
            .collect()
    };
    let adj: Vec<Vec<usize>> = vox.iter().map(|&v| neighbours(v)).collect();
    // Nodes: clusters of junction voxels, and end voxels.
    let n = vox.len();
    let mut node_of = vec![usize::MAX; n];
    let mut node_members: Vec<Vec<usize>> = Vec::new();
    for s in 0..n {
        let deg = adj[s].len();
        if node_of[s] != usize::MAX || deg == 2 {
            continue;
        }
        let nid = node_members.len();
        let mut members = vec![s];
        node_of[s] = nid;
        if deg >= 3 {
            let mut stack = vec![s];
            while let Some(x) = stack.pop() {
                for &y in &adj[x] {
                    if node_of[y] == usize::MAX && adj[y].len() >= 3 {
                        node_of[y] = nid;
                        members.push(y);
                        stack.push(y);
                    }
                }
            }
        }
        node_members.push(members);
    }
    if node_members.is_empty() {
        // A closed loop without junctions or a single point: root it anywhere.
        node_of[0] = 0;
        node_members.push(vec![0]);
    }
    let node_pos: Vec<[f64; 3]> = node_members
        .iter()
        .map(|m| {
            let mut c = [0.0; 3];
            for &s in m {
                let p = world(vox[s]);
                for d in 0..3 {
                    c[d] += p[d] / m.len() as f64;
                }
            }
            c
        })
        .collect();
    // Edges: walk from every node through chain voxels to the next node.
    let mut edges: Vec<Edge> = Vec::new();
    let mut used = vec![false; n];
    for (a, members) in node_members.iter().enumerate() {
        for &s in members {
            for &first in &adj[s] {
                if node_of[first] == a {
                    continue;
                }
                if node_of[first] != usize::MAX {
                    // Two nodes touching directly (end voxel next to a junction).
                    let b = node_of[first];
                    if a < b {
                        edges.push(Edge {
                            a,
                            b,
                            voxels: vec![],
                            length: dist(node_pos[a], node_pos[b]),
                        });
                    }
                    continue;
                }
                if used[first] {
                    continue;
                }
                let mut chain = vec![first];
                used[first] = true;
                let mut prev = s;
                let mut cur = first;
                let end = loop {
                    // A chain voxel has two neighbours: where we came from and where we go.
                    let Some(y) = adj[cur].iter().copied().find(|&y| y != prev) else {
                        break None;
                    };
                    if node_of[y] != usize::MAX {
                        break Some(node_of[y]);
                    }
                    if used[y] {
                        break None;
                    }
                    used[y] = true;
                    chain.push(y);
                    prev = cur;
                    cur = y;
                };
                let Some(b) = end else {
                    continue;
                };
                if b == a && chain.len() < 3 {
                    // Touches its own junction twice: part of the junction, not a branch.
                    continue;
                }
                let mut pts = vec![node_pos[a]];
                pts.extend(chain.iter().map(|&x| world(vox[x])));
                pts.push(node_pos[b]);
                edges.push(Edge {
                    a,
                    b,
                    voxels: chain.iter().map(|&x| vox[x]).collect(),
                    length: polyline_length(&pts),
                });
            }
        }
    }
    // Root node.
    let ends: Vec<usize> = (0..node_members.len())
        .filter(|&i| node_members[i].len() == 1 && adj[node_members[i][0]].len() <= 1)
        .collect();
    let candidates = if ends.is_empty() {
        (0..node_members.len()).collect()
    } else {
        ends
    };
    let root_node = match root {
        Root::Superior => *candidates
            .iter()
            .max_by(|&&x, &&y| node_pos[x][2].total_cmp(&node_pos[y][2]))?,
        Root::Near(p) => *candidates
            .iter()
            .min_by(|&&x, &&y| dist(node_pos[x], p).total_cmp(&dist(node_pos[y], p)))?,
    };
    // Shortest-path tree over nodes.
    let nn = node_members.len();
    let mut node_edges: Vec<Vec<usize>> = vec![Vec::new(); nn];
    for (e, ed) in edges.iter().enumerate() {
        node_edges[ed.a].push(e);
        if ed.b != ed.a {
            node_edges[ed.b].push(e);
        }
    }
    let mut best = vec![f64::INFINITY; nn];
    let mut via: Vec<Option<usize>> = vec![None; nn];
    best[root_node] = 0.0;
    let mut heap = BinaryHeap::new();
    heap.push((std::cmp::Reverse(0u64), root_node));
    while let Some((std::cmp::Reverse(dq), x)) = heap.pop() {
        let d = dq as f64 / 1e6;
        if d > best[x] + 1e-9 {
            continue;
        }
        for &e in &node_edges[x] {
            let ed = &edges[e];
            let y = if ed.a == x { ed.b } else { ed.a };
            let nd = d + ed.length;
            if nd < best[y] - 1e-9 {
                best[y] = nd;
                via[y] = Some(e);
                heap.push((std::cmp::Reverse((nd * 1e6) as u64), y));
            }
        }
    }
    let tree_edges: std::collections::HashSet<usize> = via.iter().flatten().copied().collect();
    for (e, ed) in edges.iter().enumerate() {
        if !tree_edges.contains(&e) && best[ed.a].is_finite() {
            let p = ed
                .voxels
                .get(ed.voxels.len() / 2)
                .map(|&v| world(v))
                .unwrap_or(node_pos[ed.a]);
            warnings.push(format!(
                "the tree has a loop near ({:.1}, {:.1}, {:.1}) mm (LPS); it was cut there",
                p[0], p[1], p[2]
            ));
        }
    }
    // Branches: one per tree edge, oriented away from the root.
    let mut branch_of_node: Vec<Option<usize>> = vec![None; nn];
    let mut order: Vec<usize> = (0..nn).filter(|&x| via[x].is_some()).collect();
    order.sort_by(|&x, &y| best[x].total_cmp(&best[y]));
    let mut branches: Vec<Branch> = Vec::new();
    for &y in &order {
        let e = via[y].expect("filtered");
        let ed = &edges[e];
        let x = if ed.b == y { ed.a } else { ed.b };
        let mut voxels = ed.voxels.clone();
        if ed.a != x {
            voxels.reverse();
        }
        let mut points = vec![node_pos[x]];
        points.extend(voxels.iter().map(|&v| world(v)));
        points.push(node_pos[y]);
        // The distal node's voxels belong to this branch too (they are its end).
        voxels.extend(node_members[y].iter().map(|&s| vox[s]));
        let parent = branch_of_node[x];
        let b = branches.len();
        branches.push(Branch {
            parent,
            children: vec![],
            voxels,
            length_mm: polyline_length(&points),
            points,
            diameter_mm: 0.0,
            generation: 0,
        });
        if let Some(p) = parent {
            branches[p].children.push(b);
        }
        branch_of_node[y] = Some(b);
    }
    if branches.is_empty() {
        // One lonely node: a single point-like branch.
        let m = &node_members[root_node];
        branches.push(Branch {
            parent: None,
            children: vec![],
            voxels: m.iter().map(|&s| vox[s]).collect(),
            points: vec![node_pos[root_node]],
            length_mm: 0.0,
            diameter_mm: 0.0,
            generation: 0,
        });
    }
    // The root node's voxels join the first branch.
    let roots: Vec<usize> = (0..branches.len())
        .filter(|&b| branches[b].parent.is_none())
        .collect();
    let root_branch = roots[0];
    if roots.len() > 1 {
        // The root end touches a junction: make the longest root branch the root, others its children.
        for &r in &roots[1..] {
            branches[r].parent = Some(root_branch);
            branches[root_branch].children.push(r);
        }
    }
    let mut tree = Tree {
        branches,
        root: root_branch,
        warnings,
    };
    set_diameters(&mut tree, tube);
    prune(&mut tree, opts);
    set_diameters(&mut tree, tube);
    set_generations(&mut tree);
    Some(tree)
}

/// Twice the median boundary distance over the middle half of each branch.
fn set_diameters(tree: &mut Tree, tube: &Mask) {
    let Some(bbox) = bounding_box(tube) else {
        return;
    };
    let bbox = bbox.expand([1, 1, 1], tube.dims);
    let local = crop(tube, &bbox);
    let background: Vec<u8> = local.data.iter().map(|&v| u8::from(v == 0)).collect();
    let d2 = squared_edt(&background, local.dims, local.geometry.spacing);
    let [lx, ly, _] = local.dims;
    let at = |v: usize| -> Option<f64> {
        let [i, j, k] = grid::coords(tube.dims, v);
        if i < bbox.start[0]
            || j < bbox.start[1]
            || k < bbox.start[2]
            || i >= bbox.end[0]
            || j >= bbox.end[1]
            || k >= bbox.end[2]
        {
            return None;
        }
        let li = (i - bbox.start[0]) + lx * ((j - bbox.start[1]) + ly * (k - bbox.start[2]));
        Some((d2[li] as f64).sqrt())
    };
    for b in &mut tree.branches {
        let n = b.voxels.len();
        let (lo, hi) = if n >= 4 { (n / 4, n - n / 4) } else { (0, n) };
        let mut r: Vec<f64> = b.voxels[lo..hi].iter().filter_map(|&v| at(v)).collect();
        if r.is_empty() {
            continue;
        }
        r.sort_by(f64::total_cmp);
        b.diameter_mm = 2.0 * r[r.len() / 2];
    }
}

fn set_generations(tree: &mut Tree) {
    let mut stack = vec![(tree.root, 0u32)];
    while let Some((b, g)) = stack.pop() {
        tree.branches[b].generation = g;
        for &c in &tree.branches[b].children {
            stack.push((c, g + 1));
        }
    }
}

/// Remove short terminal spurs and merge nodes left with one child, until nothing changes;
/// branch indices are renumbered in depth-first order.
fn prune(tree: &mut Tree, opts: TreeOptions) {
    let mut alive = vec![true; tree.branches.len()];
    loop {
        let mut changed = false;
        for b in 0..tree.branches.len() {
            if !alive[b] || !tree.branches[b].children.is_empty() {
                continue;
            }
            let Some(p) = tree.branches[b].parent else {
                continue;
            };
            let pr = tree.branches[p].diameter_mm / 2.0;
            let limit = pr + opts.min_spur_mm.max(opts.spur_ratio * pr);
            // Only spurs beside a sibling: never cut the last child.
            if tree.branches[b].length_mm < limit && tree.branches[p].children.len() >= 2 {
                alive[b] = false;
                tree.branches[p].children.retain(|&c| c != b);
                changed = true;
            }
        }
        // Merge a branch with its only child.
        for b in 0..tree.branches.len() {
            if !alive[b] || tree.branches[b].children.len() != 1 {
                continue;
            }
            let c = tree.branches[b].children[0];
            let child = tree.branches[c].clone();
            let br = &mut tree.branches[b];
            br.voxels.extend(child.voxels);
            br.points.extend(child.points.into_iter().skip(1));
            br.length_mm = polyline_length(&br.points);
            br.children = child.children.clone();
            for &g in &child.children {
                tree.branches[g].parent = Some(b);
            }
            alive[c] = false;
            changed = true;
        }
        if !changed {
            break;
        }
    }
    // Renumber.
    let mut order = Vec::new();
    let mut stack = vec![tree.root];
    while let Some(x) = stack.pop() {
        order.push(x);
        stack.extend(tree.branches[x].children.iter().rev());
    }
    let mut new_id = vec![usize::MAX; tree.branches.len()];
    for (i, &b) in order.iter().enumerate() {
        new_id[b] = i;
    }
    let mut branches = Vec::with_capacity(order.len());
    for &b in &order {
        let mut br = tree.branches[b].clone();
        br.parent = br.parent.map(|p| new_id[p]);
        br.children = br.children.iter().map(|&c| new_id[c]).collect();
        branches.push(br);
    }
    tree.branches = branches;
    tree.root = 0;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::airway::thin::thin;
    use ctplan_core::Geometry;

    /// A Y: a vertical trunk splitting into two arms, tubes of radius 2 voxels.
    fn y_tube() -> Mask {
        let dims = [40, 12, 50];
        let mut m = Mask::zeros(dims, Geometry::new([1.0; 3], [0.0; 3]));
        let segs: [([f64; 3], [f64; 3]); 3] = [
            ([20.0, 6.0, 47.0], [20.0, 6.0, 25.0]),
            ([20.0, 6.0, 25.0], [6.0, 6.0, 4.0]),
            ([20.0, 6.0, 25.0], [34.0, 6.0, 4.0]),
        ];
        for k in 0..dims[2] {
            for j in 0..dims[1] {
                for i in 0..dims[0] {
                    let p = [i as f64, j as f64, k as f64];
                    let inside = segs.iter().any(|(a, b)| {
                        let ab = [b[0] - a[0], b[1] - a[1], b[2] - a[2]];
                        let ap = [p[0] - a[0], p[1] - a[1], p[2] - a[2]];
                        let t = ((ab[0] * ap[0] + ab[1] * ap[1] + ab[2] * ap[2])
                            / (ab[0] * ab[0] + ab[1] * ab[1] + ab[2] * ab[2]))
                            .clamp(0.0, 1.0);
                        let q = [a[0] + t * ab[0], a[1] + t * ab[1], a[2] + t * ab[2]];
                        dist(p, q) <= 2.5
                    });
                    if inside {
                        let idx = m.index(i, j, k);
                        m.data[idx] = 1;
                    }
                }
            }
        }
        m
    }

    #[test]
    fn a_y_tube_gives_a_trunk_with_two_children() {
        let m = y_tube();
        let s = thin(&m);
        let t = build(&m, &s, Root::Superior, TreeOptions::default()).unwrap();
        assert_eq!(
            t.branches.len(),
            3,
            "{:?}",
            t.branches.iter().map(|b| b.length_mm).collect::<Vec<_>>()
        );
        let root = &t.branches[t.root];
        assert_eq!(root.children.len(), 2);
        assert!(root.start()[2] > 40.0);
        assert!((root.length_mm - 22.0).abs() < 5.0, "{}", root.length_mm);
        for &c in &root.children {
            let b = &t.branches[c];
            assert_eq!(b.generation, 1);
            assert!((b.length_mm - 25.0).abs() < 5.0, "{}", b.length_mm);
            assert!((b.diameter_mm - 5.0).abs() < 1.6, "{}", b.diameter_mm);
        }
        assert!(t.warnings.is_empty(), "{:?}", t.warnings);
    }
}
