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
