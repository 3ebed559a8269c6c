//! Linear voxel indices of a `[nx, ny, nz]` grid (x fastest, as [`Volume`](crate::Volume)
//! stores its data) and the 26-neighbourhood.
//!
//! ```
//! use ctplan_core::grid::{coords, index, neighbours26};
//! let dims = [4, 3, 2];
//! assert_eq!(index(dims, [1, 2, 1]), 1 + 4 * (2 + 3 * 1));
//! assert_eq!(coords(dims, 21), [1, 2, 1]);
//! // A corner voxel has 7 neighbours inside the grid, an inner one 26.
//! assert_eq!(neighbours26(dims, 0).count(), 7);
//! ```

/// The offsets `(di, dj, dk)` of the 26 neighbours of a voxel, z slowest, then y, then x.
pub const OFFSETS26: [[i64; 3]; 26] = {
    let mut o = [[0i64; 3]; 26];
    let mut n = 0;
    let mut t = 0;
    while t < 27 {
        if t != 13 {
            o[n] = [
                (t % 3) as i64 - 1,
                ((t / 3) % 3) as i64 - 1,
                (t / 9) as i64 - 1,
            ];
            n += 1;
        }
        t += 1;
    }
    o
};

/// The linear index of voxel `[i, j, k]`.
#[inline]
pub fn index(dims: [usize; 3], c: [usize; 3]) -> usize {
    c[0] + dims[0] * (c[1] + dims[1] * c[2])
}

/// The voxel `[i, j, k]` of linear index `v`.
#[inline]
pub fn coords(dims: [usize; 3], v: usize) -> [usize; 3] {
    [
        v % dims[0],
        (v / dims[0]) % dims[1],
        v / (dims[0] * dims[1]),
    ]
}

/// The voxel `c` moved by `d`, or `None` outside the grid.
#[inline]
pub fn offset(dims: [usize; 3], c: [usize; 3], d: [i64; 3]) -> Option<[usize; 3]> {
    let mut out = [0usize; 3];
    for a in 0..3 {
        let x = c[a] as i64 + d[a];
        if x < 0 || x >= dims[a] as i64 {
            return None;
        }
        out[a] = x as usize;
    }
    Some(out)
}

/// The linear indices of the in-grid 26-neighbours of voxel `v`, in [`OFFSETS26`] order.
pub fn neighbours26(dims: [usize; 3], v: usize) -> impl Iterator<Item = usize> {
    let c = coords(dims, v);
    OFFSETS26
        .iter()
        .filter_map(move |&d| offset(dims, c, d).map(|n| index(dims, n)))
}

/// The linear indices of the in-grid face neighbours (6-connectivity) of voxel `v`: −x, +x,
/// −y, +y, −z, +z.
pub fn neighbours6(dims: [usize; 3], v: usize) -> impl Iterator<Item = usize> {
    let [nx, ny, nz] = dims;
    let (i, j, k) = (v % nx, (v / nx) % ny, v / (nx * ny));
    [
        (i > 0).then(|| v - 1),
        (i + 1 < nx).then(|| v + 1),
        (j > 0).then(|| v - nx),
        (j + 1 < ny).then(|| v + nx),
        (k > 0).then(|| v - nx * ny),
        (k + 1 < nz).then(|| v + nx * ny),
    ]
    .into_iter()
    .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn face_neighbours_stay_in_the_grid() {
        let dims = [3, 4, 5];
        let corner: Vec<usize> = neighbours6(dims, 0).collect();
        assert_eq!(corner, [1, 3, 12]);
        let centre = index(dims, [1, 1, 1]);
        assert_eq!(neighbours6(dims, centre).count(), 6);
        for n in neighbours6(dims, centre) {
            let d = coords(dims, n);
            let diff: usize = (0..3).map(|a| d[a].abs_diff([1, 1, 1][a])).sum();
            assert_eq!(diff, 1);
        }
    }

    #[test]
    fn index_and_coords_are_inverse() {
        let dims = [5, 3, 4];
        for v in 0..60 {
            assert_eq!(index(dims, coords(dims, v)), v);
        }
    }

    #[test]
    fn offsets_are_the_26_distinct_neighbours_in_z_y_x_order() {
        let mut seen = std::collections::HashSet::new();
        for d in OFFSETS26 {
            assert!(d != [0, 0, 0] && d.iter().all(|x| x.abs() <= 1));
            assert!(seen.insert(d));
        }
        assert_eq!(OFFSETS26[0], [-1, -1, -1]);
        assert_eq!(OFFSETS26[1], [0, -1, -1]);
        assert_eq!(OFFSETS26[25], [1, 1, 1]);
    }

    #[test]
    fn inner_voxel_has_26_neighbours() {
        let dims = [3, 3, 3];
        let n: Vec<usize> = neighbours26(dims, 13).collect();
        assert_eq!(n.len(), 26);
        assert!(!n.contains(&13));
    }
}
