//! # ctplan-mesh
//!
//! Triangle meshes of masks, in world coordinates (LPS millimetres, with the volume's full
//! direction matrix), ready to print or to show:
//! - [`extract`]: the boundary of a binary mask by marching cubes with a table generated from
//!   one consistent face rule, which always gives a closed, consistently oriented 2-manifold
//!   (unlike the classic table, whose ambiguous faces can leave holes);
//! - [`smooth`]: Taubin's λ|μ smoothing, which removes the voxel staircase without shrinking;
//! - [`decimate`]: edge-collapse simplification (meshoptimizer);
//! - [`check`]: watertightness, manifoldness, orientation, area, volume, Euler characteristic;
//! - [`formats`]: binary STL, binary PLY, OBJ and binary glTF encoders;
//! - [`pipeline`]: the stages above run for a mask (smooth, decimate, check), and a file's
//!   bytes in the format its extension names, refused when the mesh is not printable;
//! - [`thickness`]: wall thickness per vertex (one ray along the inward normal through the
//!   mask), and the mesh cut into bands of thickness to show in colours;
//! - [`render`]: software pictures of meshes from the anatomical views, with labels.
//!
//! The vector arithmetic is `ctplan_core::vec3`, the same everywhere, so that a mesh (and so
//! an STL file) is bit-for-bit reproducible.
//!
//! ```
//! use ctplan_core::{Geometry, Mask};
//! // One 1 mm voxel becomes a closed, outward, watertight surface.
//! let mut m = Mask::zeros([3, 3, 3], Geometry::new([1.0; 3], [0.0; 3]));
//! m.data[13] = 1;
//! let mesh = ctplan_mesh::extract::mask_surface(&m);
//! let report = ctplan_mesh::check::check(&mesh);
//! assert!(report.watertight && report.manifold && report.outward);
//! assert!(report.volume_mm3 > 0.0);
//! assert_eq!(ctplan_mesh::formats::stl(&mesh).len(), 84 + 50 * report.faces);
//! ```

#![deny(missing_docs)]

pub mod check;
pub mod decimate;
pub mod extract;
pub mod formats;
pub mod pipeline;
pub mod render;
pub mod smooth;
pub mod thickness;

use ctplan_core::vec3::{cross, norm, sub};

/// An indexed triangle mesh. Triangles are counter-clockwise seen from outside (outward
/// normals by the right-hand rule). Coordinates are LPS millimetres.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TriMesh {
    /// Vertex positions, LPS mm.
    pub vertices: Vec<[f64; 3]>,
    /// Triangles as indices into `vertices`, counter-clockwise seen from outside.
    pub triangles: Vec<[u32; 3]>,
}

impl TriMesh {
    /// Signed volume enclosed (mm³), positive for outward-oriented closed meshes
    /// (divergence theorem: Σ v0 · (v1 × v2) / 6).
    pub fn signed_volume(&self) -> f64 {
        self.triangles
            .iter()
            .map(|t| {
                let [a, b, c] = t.map(|i| self.vertices[i as usize]);
                (a[0] * (b[1] * c[2] - b[2] * c[1]) - a[1] * (b[0] * c[2] - b[2] * c[0])
                    + a[2] * (b[0] * c[1] - b[1] * c[0]))
                    / 6.0
            })
            .sum()
    }

    /// Vertex positions relative to their centroid, in `f32`, and the centroid: a numerically
    /// safe form for `f32` work (1e-5 mm resolution at skull scale).
    pub fn local_f32(&self) -> ([f64; 3], Vec<[f32; 3]>) {
        let n = self.vertices.len().max(1) as f64;
        let mut c = [0.0; 3];
        for v in &self.vertices {
            for a in 0..3 {
                c[a] += v[a] / n;
            }
        }
        let local = self
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
        (c, local)
    }

    /// One value per triangle corner, grouped by the corner's vertex (compressed rows):
    /// `values[start[v]..start[v + 1]]` holds `f(triangle, e)` for every corner `e` at vertex `v`.
    pub(crate) fn corner_csr<T: Copy + Default>(
        &self,
        f: impl Fn(&[u32; 3], usize) -> T,
    ) -> (Vec<usize>, Vec<T>) {
        let nv = self.vertices.len();
        let mut start = vec![0usize; nv + 1];
        for t in &self.triangles {
            for &v in t {
                start[v as usize + 1] += 1;
            }
        }
        for v in 0..nv {
            start[v + 1] += start[v];
        }
        let mut fill = start.clone();
        let mut values = vec![T::default(); start[nv]];
        for t in &self.triangles {
            for e in 0..3 {
                let v = t[e] as usize;
                values[fill[v]] = f(t, e);
                fill[v] += 1;
            }
        }
        (start, values)
    }

    /// Total surface area (mm²).
    pub fn area(&self) -> f64 {
        self.triangles
            .iter()
            .map(|t| triangle_area(t.map(|i| self.vertices[i as usize])))
            .sum()
    }

    /// Area-weighted vertex normals, unit length (zero at a vertex of degenerate triangles only).
    pub fn vertex_normals(&self) -> Vec<[f64; 3]> {
        let mut n = vec![[0.0; 3]; self.vertices.len()];
        for t in &self.triangles {
            let [a, b, c] = t.map(|i| self.vertices[i as usize]);
            let f = cross(sub(b, a), sub(c, a));
            for &i in t {
                for k in 0..3 {
                    n[i as usize][k] += f[k];
                }
            }
        }
        for v in &mut n {
            let l = norm(*v);
            if l > 0.0 {
                *v = v.map(|x| x / l);
            }
        }
        n
    }

    /// Unit normal of a triangle (zero for a degenerate one).
    pub fn normal(&self, t: usize) -> [f64; 3] {
        let [a, b, c] = self.triangles[t].map(|i| self.vertices[i as usize]);
        let n = cross(sub(b, a), sub(c, a));
        let l = norm(n);
        if l > 0.0 { n.map(|x| x / l) } else { [0.0; 3] }
    }
}

pub(crate) fn triangle_area(p: [[f64; 3]; 3]) -> f64 {
    let n = cross(sub(p[1], p[0]), sub(p[2], p[0]));
    0.5 * norm(n)
}

/// A closed, outward tetrahedron with edges of length `edge` along the axes (test fixture).
#[cfg(test)]
pub(crate) fn tetra(edge: f64) -> TriMesh {
    TriMesh {
        vertices: vec![
            [0.0, 0.0, 0.0],
            [edge, 0.0, 0.0],
            [0.0, edge, 0.0],
            [0.0, 0.0, edge],
        ],
        triangles: vec![[0, 2, 1], [0, 1, 3], [0, 3, 2], [1, 2, 3]],
    }
}
