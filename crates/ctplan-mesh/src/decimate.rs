//! Decimation by quadric-error edge collapses (meshoptimizer's `meshopt_simplify`,
//! A. Kapoulkine; after Garland & Heckbert 1997).
//!
//! The simplifier can fold the surface where it is thin or sharply curved: a collapse leaves two
//! coincident triangles, an edge with four faces, or a zero-area sliver. Such a result is not printable. Since the
//! simplifier returns indices into the original vertex buffer, the vertices around every fold
//! are known; they and their two-ring are locked and the simplification is run again, until the
//! result is a closed manifold (or, after a few rounds, the undecimated mesh is returned).
//! Components of fewer than 5000 triangles are left undecimated.
//! [`crate::check`] verifies every result; callers refuse meshes that fail.

use crate::TriMesh;

/// Vertices on edges that do not have exactly two oppositely oriented faces.
fn fold_vertices(indices: &[u32]) -> Vec<u32> {
    let (_, faults) = crate::check::edge_faults(bytemuck::cast_slice(indices));
    let mut bad: Vec<u32> = faults.into_iter().flatten().collect();
    bad.sort_unstable();
    bad.dedup();
    bad
}

/// Reduce to about `ratio` (0–1] of the triangles, moving the surface by at most `max_error_mm`
/// (absolute, in mm). Unused vertices are dropped.
pub fn decimate(mesh: &TriMesh, ratio: f64, max_error_mm: f64) -> TriMesh {
    if ratio >= 1.0 || mesh.triangles.is_empty() {
        return mesh.clone();
    }
    // Positions relative to the centroid in f32 keep precision for meshopt.
    let (_, pos) = mesh.local_f32();
    let indices: Vec<u32> = mesh.triangles.iter().flatten().copied().collect();
    let target = ((indices.len() as f64 * ratio.max(0.0)) as usize / 3 * 3).max(3);
    let adapter =
        meshopt::VertexDataAdapter::new(bytemuck::cast_slice(&pos), 12, 0).expect("f32 positions");
    // Vertex adjacency of the input, for growing locks by rings.
    let neighbours = |v: u32, adj: &[Vec<u32>]| adj[v as usize].clone();
    let mut adj: Vec<Vec<u32>> = Vec::new();
    let mut lock = small_component_vertices(mesh, 5000);
    for _round in 0..6 {
        let simplified = meshopt::simplify_with_locks(
            &indices,
            &adapter,
            &lock,
            target,
            max_error_mm as f32,
            meshopt::SimplifyOptions::ErrorAbsolute,
            None,
        );
        let mut bad = fold_vertices(&simplified);
        // Zero-area slivers (collinear corners, e.g. on flat faces) count as folds too.
        for t in simplified.chunks_exact(3) {
            if crate::triangle_area([t[0], t[1], t[2]].map(|i| mesh.vertices[i as usize])) <= 1e-12
            {
                bad.extend_from_slice(t);
            }
        }
        if bad.is_empty() {
            return compact(mesh, &simplified);
        }
        if adj.is_empty() {
            adj = vec![Vec::new(); mesh.vertices.len()];
            for t in &mesh.triangles {
                for e in 0..3 {
                    adj[t[e] as usize].push(t[(e + 1) % 3]);
                }
            }
        }
        let mut ring = bad;
        for _ in 0..2 {
            let next: Vec<u32> = ring.iter().flat_map(|&v| neighbours(v, &adj)).collect();
            ring.extend(next);
        }
        for v in ring {
            lock[v as usize] = true;
        }
    }
    mesh.clone()
}

/// Vertices of connected components with fewer than `min_faces` triangles. Small closed
/// components (cavity walls, bone fragments) gain little from decimation and can be turned
/// inside out by it, so they are kept as they are.
fn small_component_vertices(mesh: &TriMesh, min_faces: usize) -> Vec<bool> {
    let nv = mesh.vertices.len();
    let mut parent: Vec<u32> = (0..nv as u32).collect();
    fn find(p: &mut [u32], mut x: u32) -> u32 {
        while p[x as usize] != x {
            p[x as usize] = p[p[x as usize] as usize];
            x = p[x as usize];
        }
        x
    }
    for t in &mesh.triangles {
        for e in 0..3 {
            let (a, b) = (find(&mut parent, t[e]), find(&mut parent, t[(e + 1) % 3]));
            if a != b {
                parent[a.max(b) as usize] = a.min(b);
            }
        }
    }
    let mut faces = vec![0usize; nv];
    for t in &mesh.triangles {
        faces[find(&mut parent, t[0]) as usize] += 1;
    }
    (0..nv as u32)
        .map(|v| faces[find(&mut parent, v) as usize] < min_faces)
        .collect()
}

/// The simplified index buffer as a mesh with only its used vertices.
fn compact(mesh: &TriMesh, simplified: &[u32]) -> TriMesh {
    let mut remap = vec![u32::MAX; mesh.vertices.len()];
    let mut vertices = Vec::new();
    let mut triangles = Vec::with_capacity(simplified.len() / 3);
    for t in simplified.chunks_exact(3) {
        let mut tri = [0u32; 3];
        for (k, &i) in t.iter().enumerate() {
            if remap[i as usize] == u32::MAX {
                remap[i as usize] = vertices.len() as u32;
                vertices.push(mesh.vertices[i as usize]);
            }
            tri[k] = remap[i as usize];
        }
        triangles.push(tri);
    }
    TriMesh {
        vertices,
        triangles,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::check;
    use crate::extract::mask_surface;
    use ctplan_core::{Geometry, Mask};

    #[test]
    fn folds_are_found() {
        // Two identical triangles: every edge has two faces in the same direction.
        assert_eq!(fold_vertices(&[0, 1, 2, 0, 1, 2]), vec![0, 1, 2]);
        // A closed tetrahedron has none.
        assert!(fold_vertices(&[0, 2, 1, 0, 1, 3, 0, 3, 2, 1, 2, 3]).is_empty());
    }

    #[test]
    fn a_thin_plate_decimates_to_a_printable_mesh() {
        let mut m = Mask::zeros([40, 40, 6], Geometry::new([0.5, 0.5, 0.5], [0.0; 3]));
        for k in 2..4 {
            for j in 3..37 {
                for i in 3..37 {
                    let idx = m.index(i, j, k);
                    m.data[idx] = 1;
                }
            }
        }
        // Unsmoothed, flat faces give collinear slivers: whatever comes back must be printable.
        let raw = mask_surface(&m);
        assert!(check(&decimate(&raw, 0.2, 0.1)).printable());
        // Smoothed (the default pipeline), it decimates well.
        let mut mesh = raw.clone();
        crate::smooth::taubin(&mut mesh, 10);
        let d = decimate(&mesh, 0.2, 0.1);
        let r = check(&d);
        assert!(r.printable(), "{r:?}");
        assert!(
            d.triangles.len() < mesh.triangles.len() / 2,
            "{} of {}",
            d.triangles.len(),
            mesh.triangles.len()
        );
    }
}
