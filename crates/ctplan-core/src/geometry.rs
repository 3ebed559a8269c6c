//! Voxel grid geometry: where each voxel lies in patient space.
//!
//! We follow ITK/DICOM: world coordinates are LPS millimetres (x to the patient's Left, y to
//! Posterior, z to Superior). A continuous index `i = (i, j, k)` maps to the world point
//! `p = origin + D · diag(spacing) · i`, where the columns of the direction matrix `D` are the unit
//! vectors of the three array axes. NRRD's `space directions` are the columns of `D · diag(spacing)`,
//! so spacing is the norm of each direction vector; when those vectors are not orthogonal
//! (gantry tilt) the grid is sheared and `D` is kept exactly as it is — never snapped to the axes,
//! since a flipped or dropped axis puts the surgery on the wrong side.

use crate::vec3::mat_vec;

/// Grid geometry of a 3-D volume.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Geometry {
    /// Distance between voxel centres along each array axis, in mm.
    pub spacing: [f64; 3],
    /// World position (LPS mm) of the centre of voxel (0, 0, 0).
    pub origin: [f64; 3],
    /// `direction[r][c]`: component `r` (L, P, S) of the unit vector of array axis `c`.
    pub direction: [[f64; 3]; 3],
}

impl Default for Geometry {
    fn default() -> Self {
        Geometry {
            spacing: [1.0; 3],
            origin: [0.0; 3],
            direction: IDENTITY,
        }
    }
}

/// The identity direction matrix.
pub const IDENTITY: [[f64; 3]; 3] = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]];

impl Geometry {
    /// An axis-aligned geometry with the given spacing and origin.
    pub fn new(spacing: [f64; 3], origin: [f64; 3]) -> Self {
        Geometry {
            spacing,
            origin,
            direction: IDENTITY,
        }
    }

    /// Build from scaled axis vectors (NRRD `space directions`: one vector per array axis, in
    /// world coordinates) and an origin. Spacing is the norm of each vector.
    ///
    /// Returns `None` if a vector has zero or non-finite length.
    pub fn from_axis_vectors(axes: [[f64; 3]; 3], origin: [f64; 3]) -> Option<Self> {
        let mut spacing = [0.0; 3];
        let mut direction = [[0.0; 3]; 3];
        for (c, v) in axes.iter().enumerate() {
            let n = crate::vec3::norm(*v);
            if !(n.is_finite() && n > 0.0) {
                return None;
            }
            spacing[c] = n;
            for r in 0..3 {
                direction[r][c] = v[r] / n;
            }
        }
        if origin.iter().any(|o| !o.is_finite()) {
            return None;
        }
        Some(Geometry {
            spacing,
            origin,
            direction,
        })
    }

    /// Scaled axis vectors, one per array axis (the inverse of [`Geometry::from_axis_vectors`]).
    pub fn axis_vectors(&self) -> [[f64; 3]; 3] {
        let mut out = [[0.0; 3]; 3];
        for (c, v) in out.iter_mut().enumerate() {
            for r in 0..3 {
                v[r] = self.direction[r][c] * self.spacing[c];
            }
        }
        out
    }

    /// The 3×3 matrix `D · diag(spacing)` mapping index steps to world steps.
    pub fn index_to_world_matrix(&self) -> [[f64; 3]; 3] {
        let mut m = [[0.0; 3]; 3];
        for (r, row) in m.iter_mut().enumerate() {
            for (c, v) in row.iter_mut().enumerate() {
                *v = self.direction[r][c] * self.spacing[c];
            }
        }
        m
    }

    /// World position (LPS mm) of a continuous index.
    pub fn index_to_world(&self, idx: [f64; 3]) -> [f64; 3] {
        let m = self.index_to_world_matrix();
        let mut p = self.origin;
        for (r, pr) in p.iter_mut().enumerate() {
            *pr += m[r][0] * idx[0] + m[r][1] * idx[1] + m[r][2] * idx[2];
        }
        p
    }

    /// Continuous index of a world position (LPS mm). `None` if the grid is degenerate.
    pub fn world_to_index(&self, p: [f64; 3]) -> Option<[f64; 3]> {
        let inv = invert3(&self.index_to_world_matrix())?;
        let d = [
            p[0] - self.origin[0],
            p[1] - self.origin[1],
            p[2] - self.origin[2],
        ];
        Some(mat_vec(&inv, d))
    }

    /// True if the direction matrix is the identity (within `tol`).
    pub fn is_axis_aligned(&self, tol: f64) -> bool {
        (0..3).all(|r| (0..3).all(|c| (self.direction[r][c] - IDENTITY[r][c]).abs() <= tol))
    }

    /// True if both geometries describe the same grid, within `tol` mm on origin and axis vectors.
    pub fn approx_eq(&self, other: &Geometry, tol: f64) -> bool {
        let a = self.axis_vectors();
        let b = other.axis_vectors();
        (0..3).all(|i| (self.origin[i] - other.origin[i]).abs() <= tol)
            && (0..3).all(|c| (0..3).all(|r| (a[c][r] - b[c][r]).abs() <= tol))
    }

    /// Geometry of a sub-grid whose voxel (0,0,0) is voxel `start` of this one.
    pub fn shifted(&self, start: [usize; 3]) -> Geometry {
        Geometry {
            origin: self.index_to_world([start[0] as f64, start[1] as f64, start[2] as f64]),
            ..*self
        }
    }
}

/// Inverse of a 3×3 matrix, `None` when (nearly) singular.
pub fn invert3(m: &[[f64; 3]; 3]) -> Option<[[f64; 3]; 3]> {
    let det = m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1])
        - m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0])
        + m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0]);
    let scale = m.iter().flatten().fold(0.0f64, |a, v| a.max(v.abs()));
    if !det.is_finite() || det.abs() <= 1e-12 * scale.powi(3) {
        return None;
    }
    let inv_det = 1.0 / det;
    Some([
        [
            (m[1][1] * m[2][2] - m[1][2] * m[2][1]) * inv_det,
            (m[0][2] * m[2][1] - m[0][1] * m[2][2]) * inv_det,
            (m[0][1] * m[1][2] - m[0][2] * m[1][1]) * inv_det,
        ],
        [
            (m[1][2] * m[2][0] - m[1][0] * m[2][2]) * inv_det,
            (m[0][0] * m[2][2] - m[0][2] * m[2][0]) * inv_det,
            (m[0][2] * m[1][0] - m[0][0] * m[1][2]) * inv_det,
        ],
        [
            (m[1][0] * m[2][1] - m[1][1] * m[2][0]) * inv_det,
            (m[0][1] * m[2][0] - m[0][0] * m[2][1]) * inv_det,
            (m[0][0] * m[1][1] - m[0][1] * m[1][0]) * inv_det,
        ],
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[allow(clippy::excessive_precision)]
    fn oblique() -> Geometry {
        // SkullFix training case 000: a gantry tilt in the y–z plane.
        Geometry::from_axis_vectors(
            [
                [0.451172, 0.0, 0.0],
                [0.0, 0.445617352660377, -0.07057866952526852],
                [0.0, 0.099022671809384913, 0.62520618710809539],
            ],
            [-120.2, -127.8461171845037, -10.215863564566289],
        )
        .unwrap()
    }

    #[test]
    fn spacing_is_norm_of_axis_vectors() {
        let g = oblique();
        assert!((g.spacing[1] - 0.451172).abs() < 1e-5, "{:?}", g.spacing);
        assert!((g.spacing[2] - 0.633).abs() < 1e-3, "{:?}", g.spacing);
        let back = g.axis_vectors();
        assert!((back[2][1] - 0.099_022_671_809_384_91).abs() < 1e-15);
    }

    #[test]
    fn world_index_round_trip_oblique() {
        let g = oblique();
        let idx = [10.5, 200.0, 37.25];
        let p = g.index_to_world(idx);
        let back = g.world_to_index(p).unwrap();
        for i in 0..3 {
            assert!((back[i] - idx[i]).abs() < 1e-9);
        }
    }

    #[test]
    fn shifted_origin_is_world_of_start() {
        let g = oblique();
        let s = g.shifted([3, 4, 5]);
        assert_eq!(s.origin, g.index_to_world([3.0, 4.0, 5.0]));
        assert_eq!(s.direction, g.direction);
    }

    #[test]
    fn degenerate_axis_is_refused() {
        assert!(
            Geometry::from_axis_vectors([[0.0; 3], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]], [0.0; 3])
                .is_none()
        );
        let mut g = Geometry::default();
        g.direction[0] = [1.0, 1.0, 0.0];
        g.direction[1] = [1.0, 1.0, 0.0];
        assert!(g.world_to_index([1.0, 1.0, 1.0]).is_none());
    }
}
