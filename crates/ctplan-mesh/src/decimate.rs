//! Decimation by quadric-error edge collapses (meshoptimizer's `meshopt_simplify`,
//! A. Kapoulkine; after Garland & Heckbert 1997). The simplifier preserves topology and keeps
//! the mesh watertight; [`crate::check`] verifies every result.

use crate::TriMesh;

/// Reduce to about `ratio` (0–1] of the triangles, with at most `max_error` relative geometric
/// error (fraction of the mesh extent). Unused vertices are dropped.
pub fn decimate(mesh: &TriMesh, ratio: f64, max_error: f32) -> TriMesh {
    if ratio >= 1.0 || mesh.triangles.is_empty() {
        return mesh.clone();
    }
    // Positions relative to the centroid in f32 keep precision for meshopt.
    let n = mesh.vertices.len() as f64;
    let mut c = [0.0; 3];
    for v in &mesh.vertices {
        for a in 0..3 {
            c[a] += v[a] / n;
        }
    }
    let pos: Vec<[f32; 3]> = mesh
        .vertices
        .iter()
        .map(|v| {
            [
                (v[0] - c[0]) as f32,
                (v[1] - c[1]) as f32,
                (v[2] - c[2]) as f32,
            ]
        })
        .collect();
    let indices: Vec<u32> = mesh.triangles.iter().flatten().copied().collect();
    let target = ((indices.len() as f64 * ratio.max(0.0)) as usize / 3 * 3).max(3);
    let adapter =
        meshopt::VertexDataAdapter::new(bytemuck::cast_slice(&pos), 12, 0).expect("f32 positions");
    let simplified = meshopt::simplify(
        &indices,
        &adapter,
        target,
        max_error,
        meshopt::SimplifyOptions::None,
        None,
    );
    // Compact the vertices.
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
