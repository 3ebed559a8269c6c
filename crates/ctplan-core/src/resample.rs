//! Resampling onto another grid, in world coordinates: each output voxel centre is mapped to a
//! continuous index of the input through both geometries (so oblique grids resample correctly),
//! then interpolated.

use rayon::prelude::*;

use crate::geometry::invert3;
use crate::vec3::mat_vec;
use crate::{CoreError, Geometry, Scalar, Volume};

/// Interpolation method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interpolation {
    /// Nearest voxel (for label maps and masks).
    Nearest,
    /// Trilinear (for intensities).
    Linear,
}

/// Resample `v` onto the grid `(dims, geometry)`; points outside the input get `fill`.
pub fn resample<T: Scalar>(
    v: &Volume<T>,
    dims: [usize; 3],
    geometry: Geometry,
    interp: Interpolation,
    fill: T,
) -> Result<Volume<T>, CoreError> {
    let m_in = v.geometry.index_to_world_matrix();
    let inv = invert3(&m_in)
        .ok_or_else(|| CoreError::InvalidParameter("input grid is degenerate".into()))?;
    let m_out = geometry.index_to_world_matrix();
    // index_in = inv · (origin_out − origin_in + m_out · index_out) = a · index_out + b
    let mut a = [[0.0; 3]; 3];
    for r in 0..3 {
        for c in 0..3 {
            a[r][c] = (0..3).map(|t| inv[r][t] * m_out[t][c]).sum();
        }
    }
    let b = mat_vec(
        &inv,
        [
            geometry.origin[0] - v.geometry.origin[0],
            geometry.origin[1] - v.geometry.origin[1],
            geometry.origin[2] - v.geometry.origin[2],
        ],
    );
    let [nx, ny, _] = dims;
    let [ix, iy, iz] = v.dims;
    let mut data = vec![fill; dims[0] * dims[1] * dims[2]];
    data.par_chunks_mut(nx.max(1))
        .enumerate()
        .for_each(|(row, line)| {
            let (j, k) = ((row % ny) as f64, (row / ny) as f64);
            for (i, out) in line.iter_mut().enumerate() {
                let i = i as f64;
                let p = [
                    a[0][0] * i + a[0][1] * j + a[0][2] * k + b[0],
                    a[1][0] * i + a[1][1] * j + a[1][2] * k + b[1],
                    a[2][0] * i + a[2][1] * j + a[2][2] * k + b[2],
                ];
                match interp {
                    Interpolation::Nearest => {
                        let q = p.map(|x| x.round());
                        if q[0] >= 0.0
                            && q[1] >= 0.0
                            && q[2] >= 0.0
                            && q[0] < ix as f64
                            && q[1] < iy as f64
                            && q[2] < iz as f64
                        {
                            *out = v.get(q[0] as usize, q[1] as usize, q[2] as usize);
                        }
                    }
                    Interpolation::Linear => {
                        if let Some(val) = trilinear(v, p) {
                            *out = T::from_f64(val);
                        }
                    }
                }
            }
        });
    Ok(Volume {
        dims,
        geometry,
        data,
    })
}

/// Trilinear interpolation at a continuous index; `None` outside the grid (a half-voxel
/// tolerance is not given: the grid spans index 0 to n−1).
fn trilinear<T: Scalar>(v: &Volume<T>, p: [f64; 3]) -> Option<f64> {
    let mut i0 = [0usize; 3];
    let mut f = [0.0; 3];
    for a in 0..3 {
        let n = v.dims[a];
        if !(p[a] >= -1e-9 && p[a] <= (n - 1) as f64 + 1e-9) {
            return None;
        }
        let x = p[a].clamp(0.0, (n - 1) as f64);
        let base = (x.floor() as usize).min(n.saturating_sub(2));
        i0[a] = base;
        f[a] = if n == 1 { 0.0 } else { x - base as f64 };
    }
    let mut acc = 0.0;
    for dz in 0..2 {
        for dy in 0..2 {
            for dx in 0..2 {
                let w = (if dx == 1 { f[0] } else { 1.0 - f[0] })
                    * (if dy == 1 { f[1] } else { 1.0 - f[1] })
                    * (if dz == 1 { f[2] } else { 1.0 - f[2] });
                if w == 0.0 {
                    continue;
                }
                let x = (i0[0] + dx).min(v.dims[0] - 1);
                let y = (i0[1] + dy).min(v.dims[1] - 1);
                let z = (i0[2] + dz).min(v.dims[2] - 1);
                acc += w * v.get(x, y, z).to_f64();
            }
        }
    }
    Some(acc)
}

/// Resample to a new voxel spacing over the same extent, keeping origin and direction.
pub fn resample_to_spacing<T: Scalar>(
    v: &Volume<T>,
    spacing: [f64; 3],
    interp: Interpolation,
    fill: T,
) -> Result<Volume<T>, CoreError> {
    if spacing.iter().any(|s| !(s.is_finite() && *s > 0.0)) {
        return Err(CoreError::InvalidParameter(format!(
            "spacing must be positive: {spacing:?}"
        )));
    }
    let mut dims = [0usize; 3];
    for a in 0..3 {
        let extent = (v.dims[a].saturating_sub(1)) as f64 * v.geometry.spacing[a];
        dims[a] = (extent / spacing[a] + 1e-6).floor() as usize + 1;
    }
    let geometry = Geometry {
        spacing,
        ..v.geometry
    };
    resample(v, dims, geometry, interp, fill)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_resample_is_exact() {
        let g = Geometry::from_axis_vectors(
            [[0.5, 0.0, 0.0], [0.0, 0.5, 0.1], [0.0, -0.1, 1.0]],
            [1.0, 2.0, 3.0],
        )
        .unwrap();
        let mut v: Volume<i16> = Volume::zeros([4, 5, 6], g);
        for (i, x) in v.data.iter_mut().enumerate() {
            *x = (i * 7 % 31) as i16;
        }
        for interp in [Interpolation::Nearest, Interpolation::Linear] {
            let r = resample(&v, v.dims, g, interp, -1).unwrap();
            assert_eq!(r.data, v.data);
        }
    }

    #[test]
    fn linear_is_exact_on_a_ramp() {
        let g = Geometry::new([2.0, 1.0, 1.0], [0.0; 3]);
        let mut v: Volume<f32> = Volume::zeros([5, 2, 2], g);
        for k in 0..2 {
            for j in 0..2 {
                for i in 0..5 {
                    let idx = v.index(i, j, k);
                    v.data[idx] = (2 * i) as f32; // value = world x
                }
            }
        }
        let r = resample_to_spacing(&v, [0.5, 1.0, 1.0], Interpolation::Linear, -1.0).unwrap();
        assert_eq!(r.dims, [17, 2, 2]);
        for i in 0..17 {
            assert!((r.get(i, 1, 1) - 0.5 * i as f32).abs() < 1e-5);
        }
        // A grid shifted half outside gets the fill value there.
        let shifted = Geometry::new([2.0, 1.0, 1.0], [-4.0, 0.0, 0.0]);
        let r = resample(&v, [5, 2, 2], shifted, Interpolation::Nearest, -1.0).unwrap();
        assert_eq!(r.get(0, 0, 0), -1.0);
        assert_eq!(r.get(2, 0, 0), 0.0);
    }
}
