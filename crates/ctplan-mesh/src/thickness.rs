//! Wall thickness of a mesh made from a mask, per vertex, and the mesh cut into bands of
//! thickness to show it in colours with any glTF viewer.
//!
//! The thickness at a vertex is the length of the ray from the vertex along the inward normal
//! to where it leaves the mask: the shape diameter function of Shapira, Shamir and Cohen-Or
//! (2008) with one ray, along the normal, instead of a cone of rays. On a shell such as a
//! cranial implant it is the distance from one table to the other; at the shell's rim, where
//! the normal runs along the shell, it is longer, and it is cut at a limit there. The ray is
//! marched through the mask's voxels (nearest voxel) rather than intersected with the mesh, so
//! the answer is that of the voxels the mesh was made from, within a step of a quarter voxel.

use ctplan_core::Mask;
use rayon::prelude::*;

use crate::TriMesh;

/// Thickness (mm) at every vertex of `mesh` (made from `mask`, outward normals), at most
/// `max_mm`: the distance along the inward normal to where the ray leaves the mask. A ray
/// first crosses up to one voxel outside the mask (the smoothed surface lies between voxel
/// centres) before it counts; a vertex whose ray never meets the mask gets 0.
pub fn per_vertex(mesh: &TriMesh, mask: &Mask, max_mm: f64) -> Vec<f64> {
    let g = &mask.geometry;
    let step = 0.25 * g.spacing.iter().copied().fold(f64::INFINITY, f64::min);
    let entry = 4.0 * step;
    let inside = |p: [f64; 3]| -> bool {
        let Some(c) = g.world_to_index(p) else {
            return false;
        };
        let i = c.map(|x| x.round());
        if (0..3).any(|a| i[a] < 0.0 || i[a] >= mask.dims[a] as f64) {
            return false;
        }
        mask.get(i[0] as usize, i[1] as usize, i[2] as usize) != 0
    };
    let normals = mesh.vertex_normals();
    mesh.vertices
        .par_iter()
        .zip(normals.par_iter())
        .map(|(&p, &n)| {
            let at = |t: f64| [p[0] - t * n[0], p[1] - t * n[1], p[2] - t * n[2]];
            let mut t = 0.0;
            // Into the mask first (at most one voxel: the smoothed surface lies beside it).
            while !inside(at(t)) {
                t += step;
                if t > entry {
                    return 0.0;
                }
            }
            while t < max_mm && inside(at(t)) {
                t += step;
            }
            t.min(max_mm)
        })
        .collect()
}

/// The triangles of `mesh` in bands of thickness: band `b` holds the triangles whose mean
/// vertex thickness lies in `[edges[b], edges[b + 1])` (the first band takes everything
/// below, the last everything above), each band a mesh of its own vertices. The bands are
/// for showing, not printing: they are open where one band meets the next.
pub fn bands(mesh: &TriMesh, thickness: &[f64], edges: &[f64]) -> Vec<TriMesh> {
    let n = edges.len().saturating_sub(1).max(1);
    let mut out = vec![TriMesh::default(); n];
    let mut remap = vec![vec![u32::MAX; mesh.vertices.len()]; n];
    for t in &mesh.triangles {
        let mean = t
            .iter()
            .map(|&v| thickness.get(v as usize).copied().unwrap_or(0.0))
            .sum::<f64>()
            / 3.0;
        let b = (1..n).take_while(|&b| mean >= edges[b]).count();
        let (m, map) = (&mut out[b], &mut remap[b]);
        let tri = t.map(|v| {
            let v = v as usize;
            if map[v] == u32::MAX {
                map[v] = m.vertices.len() as u32;
                m.vertices.push(mesh.vertices[v]);
            }
            map[v]
        });
        m.triangles.push(tri);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::extract::mask_surface;
    use ctplan_core::Geometry;

    /// A slab 6 voxels thick (z) of 0.5 mm voxels: 3 mm thick, wide in x and y.
    fn slab() -> Mask {
        let mut m = Mask::zeros([40, 40, 14], Geometry::new([0.5; 3], [0.0; 3]));
        for k in 4..10 {
            for j in 2..38 {
                for i in 2..38 {
                    let at = m.index(i, j, k);
                    m.data[at] = 1;
                }
            }
        }
        m
    }

    #[test]
    fn a_slab_is_as_thick_as_its_voxels_on_its_faces() {
        let m = slab();
        let mesh = mask_surface(&m);
        let t = per_vertex(&mesh, &m, 30.0);
        assert_eq!(t.len(), mesh.vertices.len());
        // Vertices on the broad faces, away from the rim: 3 mm, within a step and the half
        // voxel between the surface and the voxel centres on either side.
        let mut checked = 0;
        for (v, &x) in mesh.vertices.iter().zip(&t) {
            let centre = (5.0..14.0).contains(&v[0]) && (5.0..14.0).contains(&v[1]);
            if centre {
                assert!((2.5..=3.6).contains(&x), "{v:?}: {x}");
                checked += 1;
            }
        }
        assert!(checked > 100, "{checked}");
        // Bands: every triangle in exactly one band.
        let b = bands(&mesh, &t, &[0.0, 2.0, 4.0, 30.0]);
        assert_eq!(b.len(), 3);
        let total: usize = b.iter().map(|m| m.triangles.len()).sum();
        assert_eq!(total, mesh.triangles.len());
        // The broad faces (most triangles) are in the 2–4 mm band.
        assert!(b[1].triangles.len() > mesh.triangles.len() / 2);
    }

    #[test]
    fn the_limit_caps_the_rays_and_an_empty_mesh_gives_nothing() {
        let m = slab();
        let mesh = mask_surface(&m);
        let t = per_vertex(&mesh, &m, 1.0);
        assert!(t.iter().all(|&x| x <= 1.0));
        assert!(t.contains(&1.0));
        assert!(per_vertex(&TriMesh::default(), &m, 5.0).is_empty());
        assert_eq!(bands(&TriMesh::default(), &[], &[0.0, 1.0]).len(), 1);
    }
}
