//! Bounding boxes, cropping and pasting back. A crop keeps its place in the world: its origin
//! is moved to the world position of its first voxel, so world coordinates are unchanged.

use crate::{Scalar, Volume};

/// A half-open box of voxel indices `start[a] .. end[a]` on each axis.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BoundingBox {
    /// First voxel index of the box on each axis (inclusive).
    pub start: [usize; 3],
    /// One past the last voxel index of the box on each axis (exclusive).
    pub end: [usize; 3],
}

impl BoundingBox {
    /// Sizes of the box.
    pub fn dims(&self) -> [usize; 3] {
        [
            self.end[0] - self.start[0],
            self.end[1] - self.start[1],
            self.end[2] - self.start[2],
        ]
    }

    /// The box grown by `margin[a]` voxels on each side, clipped to a grid of sizes `dims`.
    pub fn expand(&self, margin: [usize; 3], dims: [usize; 3]) -> BoundingBox {
        let mut b = *self;
        for a in 0..3 {
            b.start[a] = self.start[a].saturating_sub(margin[a]);
            b.end[a] = (self.end[a] + margin[a]).min(dims[a]);
        }
        b
    }

    /// The smallest box containing both.
    pub fn union(&self, other: &BoundingBox) -> BoundingBox {
        let mut b = *self;
        for a in 0..3 {
            b.start[a] = self.start[a].min(other.start[a]);
            b.end[a] = self.end[a].max(other.end[a]);
        }
        b
    }

    /// The whole grid.
    pub fn full(dims: [usize; 3]) -> BoundingBox {
        BoundingBox {
            start: [0; 3],
            end: dims,
        }
    }
}

/// Voxel margin per axis that covers at least `mm` millimetres with the given spacing.
pub fn margin_voxels(mm: f64, spacing: [f64; 3]) -> [usize; 3] {
    spacing.map(|s| (mm / s).ceil().max(0.0) as usize)
}

/// The bounding box of the non-zero voxels, `None` if there are none.
pub fn bounding_box<T: Scalar>(v: &Volume<T>) -> Option<BoundingBox> {
    let [nx, ny, _] = v.dims;
    let mut start = [usize::MAX; 3];
    let mut end = [0usize; 3];
    let mut any = false;
    for (row, line) in v.data.chunks(nx.max(1)).enumerate() {
        let Some(first) = line.iter().position(|x| x.is_nonzero()) else {
            continue;
        };
        let last = line.iter().rposition(|x| x.is_nonzero()).unwrap_or(first);
        let (j, k) = (row % ny, row / ny);
        any = true;
        start[0] = start[0].min(first);
        end[0] = end[0].max(last + 1);
        start[1] = start[1].min(j);
        end[1] = end[1].max(j + 1);
        start[2] = start[2].min(k);
        end[2] = end[2].max(k + 1);
    }
    any.then_some(BoundingBox { start, end })
}

/// Copy the voxels of `bbox` into a new volume whose geometry keeps them in place.
pub fn crop<T: Scalar>(v: &Volume<T>, bbox: &BoundingBox) -> Volume<T> {
    let dims = bbox.dims();
    let mut data = Vec::with_capacity(dims[0] * dims[1] * dims[2]);
    for k in bbox.start[2]..bbox.end[2] {
        for j in bbox.start[1]..bbox.end[1] {
            let base = v.index(0, j, k);
            data.extend_from_slice(&v.data[base + bbox.start[0]..base + bbox.end[0]]);
        }
    }
    Volume {
        dims,
        geometry: v.geometry.shifted(bbox.start),
        data,
    }
}

/// Write `src` (a crop of `bbox`'s size) into `dst` at `bbox`.
pub fn paste<T: Scalar>(dst: &mut Volume<T>, src: &Volume<T>, bbox: &BoundingBox) {
    let d = bbox.dims();
    assert_eq!(src.dims, d, "pasted volume does not match the box");
    for k in 0..d[2] {
        for j in 0..d[1] {
            let to = dst.index(bbox.start[0], bbox.start[1] + j, bbox.start[2] + k);
            let from = src.index(0, j, k);
            dst.data[to..to + d[0]].copy_from_slice(&src.data[from..from + d[0]]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Geometry;

    #[test]
    fn crop_keeps_world_positions_and_paste_restores() {
        let g = Geometry::new([0.5, 1.0, 2.0], [10.0, 20.0, 30.0]);
        let mut v: Volume<i16> = Volume::zeros([6, 5, 4], g);
        for (i, x) in v.data.iter_mut().enumerate() {
            *x = i as i16;
        }
        let b = BoundingBox {
            start: [1, 2, 1],
            end: [4, 5, 3],
        };
        let c = crop(&v, &b);
        assert_eq!(c.dims, [3, 3, 2]);
        assert_eq!(c.get(0, 0, 0), v.get(1, 2, 1));
        assert_eq!(
            c.geometry.index_to_world([0.0; 3]),
            v.geometry.index_to_world([1.0, 2.0, 1.0])
        );
        let mut w: Volume<i16> = Volume::zeros(v.dims, g);
        paste(&mut w, &c, &b);
        assert_eq!(w.get(3, 4, 2), v.get(3, 4, 2));
        assert_eq!(w.get(0, 0, 0), 0);
    }

    #[test]
    fn bounding_box_and_expand() {
        let mut v: Volume<u8> = Volume::zeros([10, 10, 10], Geometry::default());
        assert!(bounding_box(&v).is_none());
        let i = v.index(3, 4, 5);
        v.data[i] = 1;
        let i = v.index(6, 2, 5);
        v.data[i] = 1;
        let b = bounding_box(&v).unwrap();
        assert_eq!(b.start, [3, 2, 5]);
        assert_eq!(b.end, [7, 5, 6]);
        let e = b.expand([4, 4, 5], v.dims);
        assert_eq!(e.start, [0, 0, 0]);
        assert_eq!(e.end, [10, 9, 10]);
        assert_eq!(margin_voxels(10.0, [0.45, 0.45, 0.625]), [23, 23, 16]);
    }
}
