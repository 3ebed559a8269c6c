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
//! - [`formats`]: binary STL, binary PLY, OBJ and binary glTF encoders.

pub mod check;
pub mod decimate;
pub mod extract;
pub mod formats;
pub mod smooth;

/// An indexed triangle mesh. Triangles are counter-clockwise seen from outside (outward
/// normals by the right-hand rule). Coordinates are LPS millimetres.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TriMesh {
    pub vertices: Vec<[f64; 3]>,
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

    /// Mean of the vertex positions (a numerically safe origin for `f32` work).
    pub fn centroid(&self) -> [f64; 3] {
        let n = self.vertices.len().max(1) as f64;
        let mut c = [0.0; 3];
        for v in &self.vertices {
            for a in 0..3 {
                c[a] += v[a] / n;
            }
        }
        c
    }

    /// Total surface area (mm²).
    pub fn area(&self) -> f64 {
        self.triangles
            .iter()
            .map(|t| triangle_area(t.map(|i| self.vertices[i as usize])))
            .sum()
    }

    /// Unit normal of a triangle (zero for a degenerate one).
    pub fn normal(&self, t: usize) -> [f64; 3] {
        let [a, b, c] = self.triangles[t].map(|i| self.vertices[i as usize]);
        let n = cross(sub(b, a), sub(c, a));
        let l = (n[0] * n[0] + n[1] * n[1] + n[2] * n[2]).sqrt();
        if l > 0.0 { n.map(|x| x / l) } else { [0.0; 3] }
    }
}

pub(crate) fn sub(a: [f64; 3], b: [f64; 3]) -> [f64; 3] {
    [a[0] - b[0], a[1] - b[1], a[2] - b[2]]
}

pub(crate) fn cross(a: [f64; 3], b: [f64; 3]) -> [f64; 3] {
    [
        a[1] * b[2] - a[2] * b[1],
        a[2] * b[0] - a[0] * b[2],
        a[0] * b[1] - a[1] * b[0],
    ]
}

pub(crate) fn triangle_area(p: [[f64; 3]; 3]) -> f64 {
    let n = cross(sub(p[1], p[0]), sub(p[2], p[0]));
    0.5 * (n[0] * n[0] + n[1] * n[1] + n[2] * n[2]).sqrt()
}
