//! Binary morphology.
//!
//! Balls are defined in millimetres: the ball of radius `r` at a voxel is every voxel whose
//! centre lies within `r` mm (with the grid's spacing). Dilation and erosion by such a ball are
//! computed exactly with the distance transform ([`crate::edt`]) instead of sliding a structuring
//! element, so their cost does not grow with the radius.
//!
//! Outside the grid counts as background (as in `scipy.ndimage` with `border_value=0`): erosion
//! removes voxels within `r` of the array border.

use rayon::prelude::*;

use crate::Mask;
use crate::edt::squared_edt;

/// Voxels within `radius_mm` of the mask (dilation by a ball).
pub fn dilate(mask: &Mask, radius_mm: f64) -> Mask {
    let d2 = squared_edt(&mask.data, mask.dims, mask.geometry.spacing);
    let r2 = radius_mm * radius_mm;
    mask.map_indexed(&d2, |d| (d as f64 <= r2 * (1.0 + 1e-9)) as u8)
}

/// Voxels whose ball of `radius_mm` lies inside the mask (erosion by a ball).
pub fn erode(mask: &Mask, radius_mm: f64) -> Mask {
    let background: Vec<u8> = mask.data.par_iter().map(|&v| (v == 0) as u8).collect();
    let d2 = squared_edt(&background, mask.dims, mask.geometry.spacing);
    let r2 = radius_mm * radius_mm * (1.0 + 1e-9);
    let [nx, ny, nz] = mask.dims;
    let sp = mask.geometry.spacing;
    let mut out = mask.map_indexed(&d2, |d| (d as f64 > r2) as u8);
    // The nearest outside point is one step past the border along one axis.
    out.data
        .par_chunks_mut(nx)
        .enumerate()
        .for_each(|(row, line)| {
            let (j, k) = (row % ny, row / ny);
            let dy = ((j + 1).min(ny - j) as f64) * sp[1];
            let dz = ((k + 1).min(nz - k) as f64) * sp[2];
            for (i, v) in line.iter_mut().enumerate() {
                let dx = ((i + 1).min(nx - i) as f64) * sp[0];
                let d = dx.min(dy).min(dz);
                if d * d <= r2 {
                    *v = 0;
                }
            }
        });
    out
}

/// Closing (dilation then erosion) with a ball of `radius_mm`: fills gaps narrower than the ball.
pub fn close(mask: &Mask, radius_mm: f64) -> Mask {
    erode(&dilate(mask, radius_mm), radius_mm)
}

/// Opening (erosion then dilation) with a ball of `radius_mm`: removes parts thinner than the ball.
pub fn open(mask: &Mask, radius_mm: f64) -> Mask {
    dilate(&erode(mask, radius_mm), radius_mm)
}

/// Fill the holes of each slice across `axis` (0, 1 or 2): background pixels that the
/// slice's border cannot reach through 4-connected background become foreground, as
/// `scipy.ndimage.binary_fill_holes` does in 2-D, slice by slice. Axial (`axis` 2) filling
/// closes a body contour or a lung around its vessels even where the hole opens upward or
/// downward, which 3-D filling would not.
pub fn fill_holes_slices(mask: &Mask, axis: usize) -> Mask {
    let dims = mask.dims;
    let (a, b) = match axis {
        0 => (1, 2),
        1 => (0, 2),
        _ => (0, 1),
    };
    let (na, nb) = (dims[a], dims[b]);
    let stride = [1, dims[0], dims[0] * dims[1]];
    let slices: Vec<Vec<usize>> = (0..dims[axis.min(2)])
        .into_par_iter()
        .map(|s| {
            let at = |i: usize, j: usize| s * stride[axis.min(2)] + i * stride[a] + j * stride[b];
            // Background reached from the border, by a stack flood fill.
            let mut outside = vec![false; na * nb];
            let mut stack = Vec::new();
            for i in 0..na {
                for j in [0, nb - 1] {
                    stack.push((i, j));
                }
            }
            for j in 0..nb {
                for i in [0, na - 1] {
                    stack.push((i, j));
                }
            }
            while let Some((i, j)) = stack.pop() {
                let k = i * nb + j;
                if outside[k] || mask.data[at(i, j)] != 0 {
                    continue;
                }
                outside[k] = true;
                if i > 0 {
                    stack.push((i - 1, j));
                }
                if i + 1 < na {
                    stack.push((i + 1, j));
                }
                if j > 0 {
                    stack.push((i, j - 1));
                }
                if j + 1 < nb {
                    stack.push((i, j + 1));
                }
            }
            (0..na * nb)
                .filter(|&k| !outside[k] && mask.data[at(k / nb, k % nb)] == 0)
                .map(|k| at(k / nb, k % nb))
                .collect()
        })
        .collect();
    let mut out = mask.clone();
    for v in slices.into_iter().flatten() {
        out.data[v] = 1;
    }
    out
}

/// Erosion by the 6-neighbour cross (the face-connected 3×3×3 structuring element), with
/// voxels on the array border eroded — `scipy.ndimage.binary_erosion(x)` with its defaults.
pub fn erode_cross(mask: &Mask) -> Mask {
    let [nx, ny, nz] = mask.dims;
    let src = &mask.data;
    let mut out = mask.map(|_| 0u8);
    out.data
        .par_chunks_mut(nx)
        .enumerate()
        .for_each(|(row, line)| {
            let (j, k) = (row % ny, row / ny);
            if j == 0 || k == 0 || j + 1 >= ny || k + 1 >= nz || nx < 3 {
                return;
            }
            let base = row * nx;
            let (up, down) = (base - nx, base + nx);
            let (front, back) = (base - nx * ny, base + nx * ny);
            for i in 1..nx - 1 {
                let c = base + i;
                line[i] = (src[c] != 0
                    && src[c - 1] != 0
                    && src[c + 1] != 0
                    && src[up + i] != 0
                    && src[down + i] != 0
                    && src[front + i] != 0
                    && src[back + i] != 0) as u8;
            }
        });
    out
}

/// Surface voxels: the mask minus its 6-neighbour erosion (`X xor erode(X)`), so that every
/// foreground voxel with a background face neighbour, or on the array border, is surface.
pub fn surface(mask: &Mask) -> Mask {
    let mut e = erode_cross(mask);
    e.data
        .par_iter_mut()
        .zip(mask.data.par_iter())
        .for_each(|(e, &m)| *e = ((m != 0) && *e == 0) as u8);
    e
}

impl Mask {
    /// Map a per-voxel value computed elsewhere (same length) to a new mask on this grid.
    fn map_indexed(&self, values: &[f32], f: impl Fn(f32) -> u8 + Sync) -> Mask {
        Mask {
            dims: self.dims,
            geometry: self.geometry,
            data: values.par_iter().map(|&v| f(v)).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Geometry;

    fn point(dims: [usize; 3], p: [usize; 3], sp: [f64; 3]) -> Mask {
        let mut m = Mask::zeros(dims, Geometry::new(sp, [0.0; 3]));
        let i = m.index(p[0], p[1], p[2]);
        m.data[i] = 1;
        m
    }

    /// A ring in each axial slice is filled; a ring open to the border is not; along another
    /// axis the slices are the other planes.
    #[test]
    fn holes_are_filled_per_slice() {
        let mut m = Mask::zeros([7, 7, 2], Geometry::new([1.0; 3], [0.0; 3]));
        for i in 1..6 {
            for j in 1..6 {
                if i == 1 || i == 5 || j == 1 || j == 5 {
                    let v = m.index(i, j, 0);
                    m.data[v] = 1;
                    let v = m.index(i, j, 1);
                    m.data[v] = 1;
                }
            }
        }
        // Slice 1's ring opens to the border at (3, 1).
        let v = m.index(3, 1, 1);
        m.data[v] = 0;
        let f = fill_holes_slices(&m, 2);
        assert_eq!(f.get(3, 3, 0), 1);
        assert_eq!(f.get(0, 0, 0), 0);
        assert_eq!(f.get(3, 3, 1), 0);
        assert_eq!(f.count_nonzero(), m.count_nonzero() + 9);
        // Across x, each plane holds two rows of the rings: no hole.
        assert_eq!(fill_holes_slices(&m, 0).data, m.data);
    }

    #[test]
    fn dilation_is_a_ball_in_mm() {
        let m = point([21, 21, 21], [10, 10, 10], [0.5, 0.5, 1.0]);
        let d = dilate(&m, 2.0);
        // Along x (0.5 mm voxels): 4 voxels each side; along z (1 mm): 2 each side.
        assert_eq!(d.get(14, 10, 10), 1);
        assert_eq!(d.get(15, 10, 10), 0);
        assert_eq!(d.get(10, 10, 12), 1);
        assert_eq!(d.get(10, 10, 13), 0);
    }

    #[test]
    fn erosion_undoes_dilation_of_a_point_and_respects_border() {
        let m = point([21, 21, 21], [10, 10, 10], [1.0; 3]);
        let e = erode(&dilate(&m, 3.0), 3.0);
        assert_eq!(e.count_nonzero(), 1);
        let full = Mask::from_vec([5, 5, 5], Geometry::default(), vec![1; 125]).unwrap();
        let e = erode(&full, 1.0);
        assert_eq!(e.count_nonzero(), 27, "outside counts as background");
    }

    #[test]
    fn surface_of_a_box_is_its_shell() {
        let mut m = Mask::zeros([7, 7, 7], Geometry::default());
        for k in 1..6 {
            for j in 1..6 {
                for i in 1..6 {
                    let idx = m.index(i, j, k);
                    m.data[idx] = 1;
                }
            }
        }
        assert_eq!(surface(&m).count_nonzero(), 125 - 27);
        let full = Mask::from_vec([3, 3, 3], Geometry::default(), vec![1; 27]).unwrap();
        assert_eq!(
            surface(&full).count_nonzero(),
            26,
            "array border counts as surface"
        );
    }
}
