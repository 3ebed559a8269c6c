//! The [`Volume`] type: a dense 3-D array with its [`Geometry`].

use crate::{CoreError, Geometry, Scalar, ScalarType};

/// A dense 3-D voxel array, x (the first axis) fastest, as NRRD, NIfTI and MetaImage store it.
///
/// Voxel `(i, j, k)` is `data[i + nx * (j + ny * k)]` and lies at
/// `geometry.index_to_world([i, j, k])`.
#[derive(Debug, Clone, PartialEq)]
pub struct Volume<T> {
    /// Voxel counts `[nx, ny, nz]` along the three index axes.
    pub dims: [usize; 3],
    /// Where the grid lies in patient space.
    pub geometry: Geometry,
    /// The voxels, `nx * ny * nz` of them, x fastest.
    pub data: Vec<T>,
}

/// A binary mask: 0 is background, any other value (1 by convention) foreground.
pub type Mask = Volume<u8>;

impl<T: Scalar> Volume<T> {
    /// A volume filled with `T::default()` (zero).
    pub fn zeros(dims: [usize; 3], geometry: Geometry) -> Self {
        Volume {
            dims,
            geometry,
            data: vec![T::default(); dims[0] * dims[1] * dims[2]],
        }
    }

    /// Wrap existing data; fails if its length does not match `dims`.
    pub fn from_vec(dims: [usize; 3], geometry: Geometry, data: Vec<T>) -> Result<Self, CoreError> {
        let n = dims[0]
            .checked_mul(dims[1])
            .and_then(|v| v.checked_mul(dims[2]));
        if n != Some(data.len()) {
            return Err(CoreError::InvalidParameter(format!(
                "{} values for a {}×{}×{} grid",
                data.len(),
                dims[0],
                dims[1],
                dims[2]
            )));
        }
        Ok(Volume {
            dims,
            geometry,
            data,
        })
    }

    /// Number of voxels.
    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// True if the volume has no voxel.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// Linear index of voxel `(i, j, k)`.
    #[inline]
    pub fn index(&self, i: usize, j: usize, k: usize) -> usize {
        crate::grid::index(self.dims, [i, j, k])
    }

    /// World position (LPS mm) of the voxel centre at linear index `i` (x fastest).
    #[inline]
    pub fn world_of(&self, i: usize) -> [f64; 3] {
        let c = crate::grid::coords(self.dims, i);
        self.geometry
            .index_to_world([c[0] as f64, c[1] as f64, c[2] as f64])
    }

    /// The voxel `(i, j, k)` whose centre is nearest to the world point `p` (LPS mm); `None`
    /// when that lies off the grid (or `p` is not finite).
    pub fn nearest_voxel(&self, p: [f64; 3]) -> Option<[usize; 3]> {
        let f = self.geometry.world_to_index(p)?;
        let mut c = [0usize; 3];
        for a in 0..3 {
            let r = f[a].round();
            if !r.is_finite() || r < 0.0 || r >= self.dims[a] as f64 {
                return None;
            }
            c[a] = r as usize;
        }
        Some(c)
    }

    /// Voxel value at `(i, j, k)`.
    #[inline]
    pub fn get(&self, i: usize, j: usize, k: usize) -> T {
        self.data[self.index(i, j, k)]
    }

    /// Volume of one voxel in mm³ (the parallelepiped spanned by the axis vectors).
    pub fn voxel_volume_mm3(&self) -> f64 {
        let m = self.geometry.index_to_world_matrix();
        (m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1])
            - m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0])
            + m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0]))
            .abs()
    }

    /// A volume of another type on the same grid, mapping each voxel.
    pub fn map<U: Scalar>(&self, f: impl Fn(T) -> U + Sync) -> Volume<U> {
        Volume {
            dims: self.dims,
            geometry: self.geometry,
            data: self.data.iter().map(|&v| f(v)).collect(),
        }
    }

    /// The binary mask of non-zero voxels (1 where `v != 0`).
    pub fn to_mask(&self) -> Mask {
        self.map(|v| v.is_nonzero() as u8)
    }

    /// Number of non-zero voxels.
    pub fn count_nonzero(&self) -> usize {
        self.data.iter().filter(|v| v.is_nonzero()).count()
    }

    /// Volume of the non-zero voxels in mL.
    pub fn nonzero_ml(&self) -> f64 {
        self.count_nonzero() as f64 * self.voxel_volume_mm3() / 1000.0
    }

    /// Check that `other` lies on the same grid (sizes and geometry within `tol` mm).
    pub fn check_same_grid<U: Scalar>(&self, other: &Volume<U>, tol: f64) -> Result<(), CoreError> {
        let dims = |d: [usize; 3]| format!("{}×{}×{}", d[0], d[1], d[2]);
        let mm = |v: [f64; 3]| format!("({:.4}, {:.4}, {:.4})", v[0], v[1], v[2]);
        if self.dims != other.dims {
            return Err(CoreError::GridMismatch(format!(
                "sizes {} vs {}",
                dims(self.dims),
                dims(other.dims)
            )));
        }
        if !self.geometry.approx_eq(&other.geometry, tol) {
            let (a, b) = (&self.geometry, &other.geometry);
            let what = if (0..3).any(|i| (a.origin[i] - b.origin[i]).abs() > tol) {
                format!("origin {} vs {} mm", mm(a.origin), mm(b.origin))
            } else {
                let (va, vb) = (a.axis_vectors(), b.axis_vectors());
                let c = (0..3)
                    .find(|&c| (0..3).any(|r| (va[c][r] - vb[c][r]).abs() > tol))
                    .unwrap_or(0);
                format!(
                    "voxel axis {} (direction × spacing) {} vs {} mm",
                    c + 1,
                    mm(va[c]),
                    mm(vb[c])
                )
            };
            return Err(CoreError::GridMismatch(what));
        }
        Ok(())
    }
}

/// The voxels of the 3×3×3 block around `p` (`p` itself included) that lie inside a grid of
/// `dims`, in x-fastest order: the 26-neighbourhood plus the centre.
pub fn block3(p: [usize; 3], dims: [usize; 3]) -> impl Iterator<Item = [usize; 3]> {
    let range = move |a: usize| p[a].saturating_sub(1)..(p[a] + 2).min(dims[a]);
    range(2).flat_map(move |k| range(1).flat_map(move |j| range(0).map(move |i| [i, j, k])))
}

/// A volume of any scalar type, as read from a file.
#[derive(Debug, Clone, PartialEq)]
pub enum AnyVolume {
    /// An 8-bit unsigned volume (masks).
    U8(Volume<u8>),
    /// An 8-bit signed volume.
    I8(Volume<i8>),
    /// A 16-bit unsigned volume.
    U16(Volume<u16>),
    /// A 16-bit signed volume (CT in HU).
    I16(Volume<i16>),
    /// A 32-bit unsigned volume (label maps).
    U32(Volume<u32>),
    /// A 32-bit signed volume.
    I32(Volume<i32>),
    /// A 64-bit unsigned volume.
    U64(Volume<u64>),
    /// A 64-bit signed volume.
    I64(Volume<i64>),
    /// A 32-bit float volume.
    F32(Volume<f32>),
    /// A 64-bit float volume.
    F64(Volume<f64>),
}

/// Run `$body` with `$v` bound to the inner `Volume<T>` of an [`AnyVolume`].
#[macro_export]
macro_rules! with_volume {
    ($any:expr, $v:ident => $body:expr) => {
        match $any {
            $crate::AnyVolume::U8($v) => $body,
            $crate::AnyVolume::I8($v) => $body,
            $crate::AnyVolume::U16($v) => $body,
            $crate::AnyVolume::I16($v) => $body,
            $crate::AnyVolume::U32($v) => $body,
            $crate::AnyVolume::I32($v) => $body,
            $crate::AnyVolume::U64($v) => $body,
            $crate::AnyVolume::I64($v) => $body,
            $crate::AnyVolume::F32($v) => $body,
            $crate::AnyVolume::F64($v) => $body,
        }
    };
}

impl AnyVolume {
    /// The stored scalar type.
    pub fn scalar_type(&self) -> ScalarType {
        match self {
            AnyVolume::U8(_) => ScalarType::U8,
            AnyVolume::I8(_) => ScalarType::I8,
            AnyVolume::U16(_) => ScalarType::U16,
            AnyVolume::I16(_) => ScalarType::I16,
            AnyVolume::U32(_) => ScalarType::U32,
            AnyVolume::I32(_) => ScalarType::I32,
            AnyVolume::U64(_) => ScalarType::U64,
            AnyVolume::I64(_) => ScalarType::I64,
            AnyVolume::F32(_) => ScalarType::F32,
            AnyVolume::F64(_) => ScalarType::F64,
        }
    }

    /// Grid sizes.
    pub fn dims(&self) -> [usize; 3] {
        with_volume!(self, v => v.dims)
    }

    /// Grid geometry.
    pub fn geometry(&self) -> Geometry {
        with_volume!(self, v => v.geometry)
    }

    /// Replace the geometry.
    pub fn set_geometry(&mut self, g: Geometry) {
        with_volume!(self, v => v.geometry = g)
    }

    /// The binary mask of non-zero voxels.
    pub fn to_mask(&self) -> Mask {
        with_volume!(self, v => v.to_mask())
    }

    /// Convert every voxel to `f32` (e.g. CT intensities for filtering).
    pub fn to_f32(&self) -> Volume<f32> {
        with_volume!(self, v => v.map(|x| x.to_f64() as f32))
    }

    /// The raw bytes of the voxel data in native byte order.
    pub fn as_bytes(&self) -> &[u8] {
        with_volume!(self, v => bytemuck::cast_slice(&v.data))
    }
}

macro_rules! any_from {
    ($t:ty, $v:ident) => {
        impl From<Volume<$t>> for AnyVolume {
            fn from(v: Volume<$t>) -> Self {
                AnyVolume::$v(v)
            }
        }
    };
}
any_from!(u8, U8);
any_from!(i8, I8);
any_from!(u16, U16);
any_from!(i16, I16);
any_from!(u32, U32);
any_from!(i32, I32);
any_from!(u64, U64);
any_from!(i64, I64);
any_from!(f32, F32);
any_from!(f64, F64);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block3_stays_inside_the_grid() {
        assert_eq!(block3([1, 1, 1], [3, 3, 3]).count(), 27);
        assert_eq!(block3([0, 0, 0], [3, 3, 3]).count(), 8);
        assert_eq!(block3([2, 0, 1], [3, 1, 3]).count(), 6);
        let b: Vec<[usize; 3]> = block3([0, 0, 0], [2, 2, 1]).collect();
        assert_eq!(b, [[0, 0, 0], [1, 0, 0], [0, 1, 0], [1, 1, 0]]);
    }

    #[test]
    fn index_is_x_fastest() {
        let mut v: Volume<u8> = Volume::zeros([3, 4, 5], Geometry::default());
        let idx = v.index(2, 1, 3);
        assert_eq!(idx, 2 + 3 * (1 + 4 * 3));
        v.data[idx] = 7;
        assert_eq!(v.get(2, 1, 3), 7);
    }

    #[test]
    fn the_nearest_voxel_of_a_point_rounds_and_stays_on_the_grid() {
        let v = Volume::<u8>::zeros([4, 5, 6], Geometry::new([2.0, 1.0, 0.5], [10.0, 0.0, 0.0]));
        assert_eq!(v.nearest_voxel([12.9, 3.4, 1.2]), Some([1, 3, 2]));
        assert_eq!(
            v.nearest_voxel(v.world_of(v.index(3, 4, 5))),
            Some([3, 4, 5])
        );
        assert_eq!(v.nearest_voxel([8.9, 0.0, 0.0]), None);
        assert_eq!(v.nearest_voxel([10.0, 4.6, 0.0]), None);
        assert_eq!(v.nearest_voxel([f64::NAN, 0.0, 0.0]), None);
    }

    #[test]
    fn world_of_a_linear_index_is_that_voxel_through_the_geometry() {
        let g = Geometry::new([0.5, 2.0, 3.0], [10.0, -4.0, 1.0]);
        let v: Volume<u8> = Volume::zeros([3, 4, 5], g);
        let idx = v.index(2, 1, 3);
        assert_eq!(v.world_of(idx), [11.0, -2.0, 10.0]);
        assert_eq!(v.world_of(idx), g.index_to_world([2.0, 1.0, 3.0]));
    }

    #[test]
    fn from_vec_checks_length() {
        assert!(Volume::from_vec([2, 2, 2], Geometry::default(), vec![0u8; 7]).is_err());
        assert!(Volume::from_vec([2, 2, 2], Geometry::default(), vec![0u8; 8]).is_ok());
    }

    #[test]
    fn voxel_volume_of_sheared_grid() {
        let g = Geometry::from_axis_vectors(
            [[0.5, 0.0, 0.0], [0.0, 0.5, 0.0], [0.0, 0.3, 1.0]],
            [0.0; 3],
        )
        .unwrap();
        let v: Volume<u8> = Volume::zeros([1, 1, 1], g);
        assert!((v.voxel_volume_mm3() - 0.25).abs() < 1e-12);
    }
}
