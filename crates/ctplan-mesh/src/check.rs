//! Mesh checks for printing: every edge shared by exactly two triangles in opposite directions
//! (closed and consistently oriented), every vertex a single fan (no pinch points), no
//! degenerate faces, and outward orientation (positive enclosed volume per component).

use serde::Serialize;

use ctplan_core::vec3::{cross, dot, norm, sub};

use crate::{TriMesh, triangle_area};

/// What a mesh check found.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MeshReport {
    /// Number of vertices.
    pub vertices: usize,
    /// Number of triangles.
    pub faces: usize,
    /// Connected components (by shared edges).
    pub components: usize,
    /// Every edge has exactly two faces, traversed in opposite directions.
    pub watertight: bool,
    /// Watertight and every vertex's faces form one fan.
    pub manifold: bool,
    /// Normals point out of the solid: a component inside an even number of others (an outer
    /// shell) encloses a positive volume, one inside an odd number (a cavity's wall) a negative one.
    pub outward: bool,
    /// Triangles of zero area (repeated or collinear corners), which printers and solvers choke on.
    pub degenerate_faces: usize,
    /// V − E + F (2 per sphere-like component; 2 − 2g with g handles).
    pub euler_characteristic: i64,
    /// Surface area, mm².
    pub area_mm2: f64,
    /// Enclosed volume by the divergence theorem, mm³ (meaningful when watertight and outward).
    pub volume_mm3: f64,
    /// The same volume in millilitres (cm³), the unit clinicians quote.
    pub volume_ml: f64,
}

impl MeshReport {
    /// True if the mesh can be printed: closed, manifold, outward, without degenerate faces.
    pub fn printable(&self) -> bool {
        self.watertight
            && self.manifold
            && self.outward
            && self.degenerate_faces == 0
            && self.faces > 0
    }
}

fn find(p: &mut [u32], mut x: u32) -> u32 {
    while p[x as usize] != x {
        p[x as usize] = p[p[x as usize] as usize];
        x = p[x as usize];
    }
    x
}

/// The number of distinct edges, and the edges that do not have exactly two faces traversing
/// them in opposite directions (open, non-manifold or inconsistently oriented).
pub(crate) fn edge_faults(triangles: &[[u32; 3]]) -> (usize, Vec<[u32; 2]>) {
    use rayon::prelude::*;
    // Directed edges packed as (min << 33 | max << 1 | forward), sorted so that the two sides of
    // an edge are adjacent.
    let mut edges: Vec<u64> = triangles
        .par_iter()
        .flat_map_iter(|t| {
            (0..3).map(move |e| {
                let (a, b) = (t[e] as u64, t[(e + 1) % 3] as u64);
                (a.min(b) << 33) | (a.max(b) << 1) | (a < b) as u64
            })
        })
        .collect();
    edges.par_sort_unstable();
    let mut n_edges = 0;
    let mut faults = Vec::new();
    let mut i = 0;
    while i < edges.len() {
        let mut j = i;
        while j < edges.len() && edges[j] >> 1 == edges[i] >> 1 {
            j += 1;
        }
        n_edges += 1;
        if j - i != 2 || (edges[i] & 1) == (edges[i + 1] & 1) {
            faults.push([
                (edges[i] >> 33) as u32,
                ((edges[i] >> 1) & 0xffff_ffff) as u32,
            ]);
        }
        i = j;
    }
    (n_edges, faults)
}

/// One connected component: its triangles and signed volume.
struct Component {
    triangles: Vec<usize>,
    volume: f64,
}

impl Default for Component {
    fn default() -> Self {
        Component {
            triangles: Vec::new(),
            volume: 0.0,
        }
    }
}

/// Generic ray direction for containment tests (no axis, face or edge direction of a grid).
const RAY: [f64; 3] = [0.577_215_664_9, 0.618_033_988_7, 0.533_333_333_3];

/// Triangles bucketed by their projection on the plane normal to [`RAY`], so that a ray from a
/// point meets only the triangles of one cell.
struct RayIndex {
    u: [f64; 3],
    v: [f64; 3],
    lo: [f64; 2],
    cell: f64,
    n: usize,
    start: Vec<usize>,
    items: Vec<u32>,
}

impl RayIndex {
    fn new(mesh: &TriMesh) -> RayIndex {
        let d = RAY;
        let l = norm(d);
        let d = d.map(|x| x / l);
        let u = {
            let c = cross(d, [0.0, 0.0, 1.0]);
            let l = norm(c);
            c.map(|x| x / l)
        };
        let v = cross(d, u);
        let proj = |p: [f64; 3]| [dot(p, u), dot(p, v)];
        let (mut lo, mut hi) = ([f64::INFINITY; 2], [f64::NEG_INFINITY; 2]);
        for p in &mesh.vertices {
            let q = proj(*p);
            for a in 0..2 {
                lo[a] = lo[a].min(q[a]);
                hi[a] = hi[a].max(q[a]);
            }
        }
        let n = ((mesh.triangles.len() as f64).sqrt() as usize).clamp(1, 2048);
        let cell = ((hi[0] - lo[0]).max(hi[1] - lo[1]) / n as f64).max(1e-9);
        let span = |t: &[u32; 3]| {
            let q = t.map(|i| proj(mesh.vertices[i as usize]));
            let c =
                |a: usize, f: fn(f64, f64) -> f64, init: f64| q.iter().map(|p| p[a]).fold(init, f);
            let cl = |x: f64, a: usize| (((x - lo[a]) / cell).floor().max(0.0) as usize).min(n - 1);
            (
                cl(c(0, f64::min, f64::INFINITY), 0),
                cl(c(0, f64::max, f64::NEG_INFINITY), 0),
                cl(c(1, f64::min, f64::INFINITY), 1),
                cl(c(1, f64::max, f64::NEG_INFINITY), 1),
            )
        };
        let mut count = vec![0usize; n * n + 1];
        for t in &mesh.triangles {
            let (x0, x1, y0, y1) = span(t);
            for y in y0..=y1 {
                for x in x0..=x1 {
                    count[y * n + x + 1] += 1;
                }
            }
        }
        for i in 0..n * n {
            count[i + 1] += count[i];
        }
        let mut fill = count.clone();
        let mut items = vec![0u32; count[n * n]];
        for (ti, t) in mesh.triangles.iter().enumerate() {
            let (x0, x1, y0, y1) = span(t);
            for y in y0..=y1 {
                for x in x0..=x1 {
                    items[fill[y * n + x]] = ti as u32;
                    fill[y * n + x] += 1;
                }
            }
        }
        RayIndex {
            u,
            v,
            lo,
            cell,
            n,
            start: count,
            items,
        }
    }

    /// Triangles whose projection may contain the projection of `p`.
    fn candidates(&self, p: [f64; 3]) -> &[u32] {
        let q = [
            p[0] * self.u[0] + p[1] * self.u[1] + p[2] * self.u[2],
            p[0] * self.v[0] + p[1] * self.v[1] + p[2] * self.v[2],
        ];
        let cx = (q[0] - self.lo[0]) / self.cell;
        let cy = (q[1] - self.lo[1]) / self.cell;
        if cx < 0.0 || cy < 0.0 || cx >= self.n as f64 || cy >= self.n as f64 {
            return &[];
        }
        let c = cy as usize * self.n + cx as usize;
        &self.items[self.start[c]..self.start[c + 1]]
    }
}

/// Does the ray `p + t·RAY` (t > 0) cross triangle `t`? (Möller–Trumbore.)
fn crosses(mesh: &TriMesh, t: [u32; 3], p: [f64; 3]) -> bool {
    let d = RAY;
    let [a, b, cc] = t.map(|i| mesh.vertices[i as usize]);
    let (e1, e2) = (sub(b, a), sub(cc, a));
    let h = cross(d, e2);
    let det = dot(e1, h);
    if det.abs() < 1e-14 {
        return false;
    }
    let s = sub(p, a);
    let u = dot(s, h) / det;
    if !(0.0..=1.0).contains(&u) {
        return false;
    }
    let q = cross(s, e1);
    let v = dot(d, q) / det;
    if v < 0.0 || u + v > 1.0 {
        return false;
    }
    dot(e2, q) / det > 1e-12
}

fn tet_volume(p: [[f64; 3]; 3]) -> f64 {
    let [a, b, c] = p;
    (a[0] * (b[1] * c[2] - b[2] * c[1]) - a[1] * (b[0] * c[2] - b[2] * c[0])
        + a[2] * (b[0] * c[1] - b[1] * c[0]))
        / 6.0
}

/// Check a mesh.
pub fn check(mesh: &TriMesh) -> MeshReport {
    use rayon::prelude::*;
    let nv = mesh.vertices.len();
    let tri_points = |t: &[u32; 3]| t.map(|i| mesh.vertices[i as usize]);
    let degenerate = mesh
        .triangles
        .par_iter()
        .filter(|t| {
            t[0] == t[1] || t[1] == t[2] || t[0] == t[2] || triangle_area(tri_points(t)) <= 1e-12
        })
        .count();
    let (n_edges, faults) = edge_faults(&mesh.triangles);
    let watertight = faults.is_empty();
    let n_edges = n_edges as i64;
    // Vertex fans: for triangle (v, b, c) the link edge b → c; around a manifold vertex these
    // form a single cycle. Links are kept in one array, grouped by vertex (CSR).
    let fans = || -> bool {
        if !watertight {
            return false;
        }
        let (start, mut link) = mesh.corner_csr(|t, e| (t[(e + 1) % 3], t[(e + 2) % 3]));
        let mut slices: Vec<&mut [(u32, u32)]> = Vec::with_capacity(nv);
        let mut rest = link.as_mut_slice();
        for v in 0..nv {
            let (head, tail) = rest.split_at_mut(start[v + 1] - start[v]);
            slices.push(head);
            rest = tail;
        }
        slices.into_par_iter().filter(|l| !l.is_empty()).all(|l| {
            l.sort_unstable();
            let first = l[0].0;
            let mut cur = first;
            let mut steps = 0;
            while let Ok(pos) = l.binary_search_by(|(a, _)| a.cmp(&cur)) {
                cur = l[pos].1;
                steps += 1;
                if cur == first || steps > l.len() {
                    break;
                }
            }
            steps == l.len()
        })
    };
    let components = || {
        // Components (union–find over triangle edges) and their signed volumes.
        let mut parent: Vec<u32> = (0..nv as u32).collect();
        for t in &mesh.triangles {
            for e in 0..3 {
                let (a, b) = (find(&mut parent, t[e]), find(&mut parent, t[(e + 1) % 3]));
                if a != b {
                    parent[a.max(b) as usize] = a.min(b);
                }
            }
        }
        let mut comp_of_root = vec![u32::MAX; nv];
        let mut comps: Vec<Component> = Vec::new();
        let mut comp_of = vec![0u32; mesh.triangles.len()];
        for (ti, t) in mesh.triangles.iter().enumerate() {
            let r = find(&mut parent, t[0]) as usize;
            if comp_of_root[r] == u32::MAX {
                comp_of_root[r] = comps.len() as u32;
                comps.push(Component::default());
            }
            let c = comp_of_root[r] as usize;
            comp_of[ti] = c as u32;
            comps[c].volume += tet_volume(tri_points(t));
            comps[c].triangles.push(ti);
        }
        // Nesting depth of each component: how many other components contain one of its points
        // (odd number of ray crossings). Only needed when there are several components.
        let outward = if comps.len() <= 1 {
            comps.iter().all(|c| c.volume > 0.0)
        } else {
            let index = RayIndex::new(mesh);
            (0..comps.len()).into_par_iter().all(|c| {
                // Probe: the centroid of one of the component's triangles.
                let pts = tri_points(&mesh.triangles[comps[c].triangles[0]]);
                let probe = [0, 1, 2].map(|a| (pts[0][a] + pts[1][a] + pts[2][a]) / 3.0);
                let mut parity = std::collections::HashMap::new();
                for &ti in index.candidates(probe) {
                    let o = comp_of[ti as usize] as usize;
                    if o != c && crosses(mesh, mesh.triangles[ti as usize], probe) {
                        *parity.entry(o).or_insert(false) ^= true;
                    }
                }
                let depth = parity.values().filter(|&&p| p).count();
                (comps[c].volume > 0.0) == depth.is_multiple_of(2)
            })
        };
        (comps, outward)
    };
    let (manifold, (comps, outward)) = rayon::join(fans, components);
    let mut is_used = vec![false; nv];
    for t in &mesh.triangles {
        for &v in t {
            is_used[v as usize] = true;
        }
    }
    let volume: f64 = comps.iter().map(|c| c.volume).sum();
    MeshReport {
        vertices: nv,
        faces: mesh.triangles.len(),
        components: comps.len(),
        watertight,
        manifold,
        outward,
        degenerate_faces: degenerate,
        euler_characteristic: is_used.iter().filter(|&&u| u).count() as i64 - n_edges
            + mesh.triangles.len() as i64,
        area_mm2: mesh.area(),
        volume_mm3: volume,
        volume_ml: volume / 1000.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tetra() -> TriMesh {
        crate::tetra(1.0)
    }

    #[test]
    fn closed_tetrahedron_passes_and_defects_are_found() {
        let r = check(&tetra());
        assert!(r.printable(), "{r:?}");
        assert_eq!(r.euler_characteristic, 2);
        assert!((r.volume_mm3 - 1.0 / 6.0).abs() < 1e-12);
        let mut open = tetra();
        open.triangles.pop();
        assert!(!check(&open).watertight);
        let mut inverted = tetra();
        for t in &mut inverted.triangles {
            t.swap(1, 2);
        }
        let r = check(&inverted);
        assert!(r.watertight && !r.outward);
        // A shell with a cavity: the inner wall faces inwards, and that is outward for the solid.
        let mut shell = tetra();
        let inner: Vec<[f64; 3]> = tetra()
            .vertices
            .iter()
            .map(|v| v.map(|x| 0.1 + 0.2 * x))
            .collect();
        shell.vertices.extend(inner);
        shell.triangles.extend(
            tetra()
                .triangles
                .iter()
                .map(|t| [t[0] + 4, t[2] + 4, t[1] + 4]),
        );
        let r = check(&shell);
        assert!(r.printable() && r.components == 2, "{r:?}");
        shell.triangles.truncate(4);
        shell.triangles.extend(
            tetra()
                .triangles
                .iter()
                .map(|t| [t[0] + 4, t[1] + 4, t[2] + 4]),
        );
        assert!(
            !check(&shell).outward,
            "a cavity wall facing the wrong way is caught"
        );
        // Two tetrahedra sharing one vertex: watertight edges, but a pinch point.
        let mut two = tetra();
        two.vertices
            .extend([[-1.0, 0.0, 0.0], [0.0, -1.0, 0.0], [0.0, 0.0, -1.0]]);
        two.triangles
            .extend([[0, 4, 5], [0, 6, 4], [0, 5, 6], [4, 6, 5]]);
        let r = check(&two);
        assert!(r.watertight && !r.manifold, "{r:?}");
    }
}
