//! 3-D thinning of a binary mask to a one-voxel-wide curve skeleton.
//!
//! The medial-axis thinning of Lee, Kashyap & Chu, "Building skeleton models via 3-D medial
//! surface/axis thinning algorithms", CVGIP: Graphical Models and Image Processing 56(6):462–478
//! (1994), in the formulation of Arganda-Carreras' Skeletonize3D that scikit-image's
//! `skeletonize` (3-D) also follows: for each of the six border directions in turn
//! (−y, +y, +x, −x, +z, −z of the array), collect the border voxels that are not curve end
//! points, whose removal keeps the Euler characteristic (Table 2, column δG26, of Lee et al.) and
//! that are simple (the 26-connected object in the 3×3×3 neighbourhood stays one piece); then
//! delete them one by one in memory order, re-checking simplicity before each deletion. Repeat
//! until a full round of six directions deletes nothing. The result keeps the topology of the
//! input (components, tunnels, cavities) and is voxel-for-voxel what scikit-image returns
//! (pinned by a cross-check test).

use ctplan_core::Mask;
use ctplan_core::crop::{bounding_box, crop};

/// Euler characteristic change per octant configuration, δG26 of Lee et al. (1994), Table 2,
/// for the odd indices (the octant's own corner, the centre, is always set).
const EULER_ODD: [i8; 128] = [
    1, -1, -1, 1, -3, -1, -1, 1, -1, 1, 1, -1, 3, 1, 1, -1, -3, -1, 3, 1, 1, -1, 3, 1, -1, 1, 1,
    -1, 3, 1, 1, -1, -3, 3, -1, 1, 1, 3, -1, 1, -1, 1, 1, -1, 3, 1, 1, -1, 1, 3, 3, 1, 5, 3, 3, 1,
    -1, 1, 1, -1, 3, 1, 1, -1, -7, -1, -1, 1, -3, -1, -1, 1, -1, 1, 1, -1, 3, 1, 1, -1, -3, -1, 3,
    1, 1, -1, 3, 1, -1, 1, 1, -1, 3, 1, 1, -1, -3, 3, -1, 1, 1, 3, -1, 1, -1, 1, 1, -1, 3, 1, 1,
    -1, 1, 3, 3, 1, 5, 3, 3, 1, -1, 1, 1, -1, 3, 1, 1, -1,
];

/// The seven non-centre neighbours of each octant, in the bit order 128, 64, …, 2 of the
/// octant's index into the Euler table. Neighbour numbering: `9·(dz+1) + 3·(dx+1) + (dy+1)`.
const OCTANTS: [[usize; 7]; 8] = [
    [2, 1, 11, 10, 5, 4, 14],
    [0, 9, 3, 12, 1, 10, 4],
    [8, 7, 17, 16, 5, 4, 14],
    [6, 15, 7, 16, 3, 12, 4],
    [20, 23, 19, 22, 11, 14, 10],
    [18, 21, 9, 12, 19, 22, 10],
    [26, 23, 17, 14, 25, 22, 16],
    [24, 25, 15, 16, 21, 22, 12],
];

/// Offsets (dx, dy, dz) of the 27 neighbourhood positions in the numbering above.
fn position(n: usize) -> [i64; 3] {
    let dz = (n / 9) as i64 - 1;
    let dx = ((n / 3) % 3) as i64 - 1;
    let dy = (n % 3) as i64 - 1;
    [dx, dy, dz]
}

/// For each neighbourhood position, the bit set of the other non-centre positions 26-adjacent
/// to it.
fn adjacency() -> [u32; 27] {
    let mut adj = [0u32; 27];
    for a in 0..27 {
        if a == 13 {
            continue;
        }
        let pa = position(a);
        for b in 0..27 {
            if b == 13 || b == a {
                continue;
            }
            let pb = position(b);
            if (0..3).all(|d| (pa[d] - pb[d]).abs() <= 1) {
                adj[a] |= 1 << b;
            }
        }
    }
    adj
}

struct Tables {
    adj: [u32; 27],
    euler: [i8; 256],
}

impl Tables {
    fn new() -> Self {
        let mut euler = [0i8; 256];
        for (i, &v) in EULER_ODD.iter().enumerate() {
            euler[2 * i + 1] = v;
        }
        Tables {
            adj: adjacency(),
            euler,
        }
    }

    /// Lee et al. condition 1: deleting the centre leaves the Euler characteristic unchanged.
    fn euler_invariant(&self, nb: u32) -> bool {
        let mut sum = 0i32;
        for oct in &OCTANTS {
            let mut n = 1usize;
            for (bit, &p) in oct.iter().enumerate() {
                if nb & (1 << p) != 0 {
                    n |= 128 >> bit;
                }
            }
            sum += self.euler[n] as i32;
        }
        sum == 0
    }

    /// Lee et al. conditions 2–3: the object voxels of the neighbourhood, centre excluded, form
    /// at most one 26-connected piece (the octree labelling of the paper counts exactly these).
    fn simple(&self, nb: u32) -> bool {
        let mut rest = nb & !(1 << 13);
        let mut pieces = 0;
        while rest != 0 {
            pieces += 1;
            if pieces > 1 {
                return false;
            }
            let mut comp = rest & rest.wrapping_neg();
            loop {
                let mut grow = comp;
                let mut bits = comp;
                while bits != 0 {
                    let b = bits.trailing_zeros() as usize;
                    bits &= bits - 1;
                    grow |= self.adj[b] & nb;
                }
                grow &= !(1 << 13);
                if grow == comp {
                    break;
                }
                comp = grow;
            }
            rest &= !comp;
        }
        true
    }
}

/// The curve skeleton of `mask` (non-zero = object), on the same grid.
pub fn thin(mask: &Mask) -> Mask {
    let mut out = Mask::zeros(mask.dims, mask.geometry);
    let Some(bbox) = bounding_box(mask) else {
        return out;
    };
    let local = crop(mask, &bbox);
    let [bx, by, bz] = local.dims;
    // Pad by one voxel so that every neighbourhood read stays inside.
    let (nx, ny, nz) = (bx + 2, by + 2, bz + 2);
    let mut img = vec![0u8; nx * ny * nz];
    for k in 0..bz {
        for j in 0..by {
            for i in 0..bx {
                if local.get(i, j, k) != 0 {
                    img[(i + 1) + nx * ((j + 1) + ny * (k + 1))] = 1;
                }
            }
        }
    }
    thin_padded(&mut img, [nx, ny, nz]);
    for k in 0..bz {
        for j in 0..by {
            for i in 0..bx {
                if img[(i + 1) + nx * ((j + 1) + ny * (k + 1))] != 0 {
                    let idx = out.index(bbox.start[0] + i, bbox.start[1] + j, bbox.start[2] + k);
                    out.data[idx] = 1;
                }
            }
        }
    }
    out
}

/// Thinning in place on a 0/1 array with a zero border of at least one voxel.
fn thin_padded(img: &mut [u8], dims: [usize; 3]) {
    let t = Tables::new();
    let [nx, ny, _] = dims;
    let sx = 1isize;
    let sy = nx as isize;
    let sz = (nx * ny) as isize;
    let offsets: Vec<isize> = (0..27)
        .map(|n| {
            let [dx, dy, dz] = position(n);
            dx as isize * sx + dy as isize * sy + dz as isize * sz
        })
        .collect();
    let neighbourhood = |img: &[u8], v: usize| -> u32 {
        let mut nb = 0u32;
        for (n, &o) in offsets.iter().enumerate() {
            if img[(v as isize + o) as usize] != 0 {
                nb |= 1 << n;
            }
        }
        nb
    };
    // Border directions in Skeletonize3D's order: −y, +y, +x, −x, +z, −z.
    let borders = [-sy, sy, sx, -sx, sz, -sz];
    let mut active: Vec<usize> = (0..img.len()).filter(|&v| img[v] != 0).collect();
    let mut candidates = Vec::new();
    let mut unchanged = 0;
    while unchanged < borders.len() {
        unchanged = 0;
        for &b in &borders {
            candidates.clear();
            for &v in &active {
                if img[(v as isize + b) as usize] != 0 {
                    continue;
                }
                let nb = neighbourhood(img, v);
                if nb.count_ones() == 2 || !t.euler_invariant(nb) || !t.simple(nb) {
                    continue;
                }
                candidates.push(v);
            }
            let mut changed = false;
            for &v in &candidates {
                if t.simple(neighbourhood(img, v)) {
                    img[v] = 0;
                    changed = true;
                }
            }
            if changed {
                active.retain(|&v| img[v] != 0);
            } else {
                unchanged += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ctplan_core::Geometry;
    use ctplan_core::label::{Connectivity, label};

    fn mask_from(dims: [usize; 3], f: impl Fn(usize, usize, usize) -> bool) -> Mask {
        let mut m = Mask::zeros(dims, Geometry::new([1.0; 3], [0.0; 3]));
        for k in 0..dims[2] {
            for j in 0..dims[1] {
                for i in 0..dims[0] {
                    if f(i, j, k) {
                        let idx = m.index(i, j, k);
                        m.data[idx] = 1;
                    }
                }
            }
        }
        m
    }

    #[test]
    fn a_thick_bar_thins_to_a_line_along_its_axis() {
        let m = mask_from([30, 9, 9], |i, j, k| {
            (2..28).contains(&i) && (2..7).contains(&j) && (2..7).contains(&k)
        });
        let s = thin(&m);
        let n = s.count_nonzero();
        assert!((20..=26).contains(&n), "{n} skeleton voxels");
        // One voxel per x column and one piece.
        for i in 0..30 {
            let col = (0..9)
                .flat_map(|j| (0..9).map(move |k| (j, k)))
                .filter(|&(j, k)| s.get(i, j, k) != 0)
                .count();
            assert!(col <= 1, "column {i} has {col} voxels");
        }
        assert_eq!(label(&s, Connectivity::TwentySix).count(), 1);
    }

    #[test]
    fn a_ring_keeps_its_tunnel_and_a_ball_becomes_a_point() {
        let ring = mask_from([24, 24, 7], |i, j, k| {
            let r = ((i as f64 - 11.5).powi(2) + (j as f64 - 11.5).powi(2)).sqrt();
            (6.0..10.0).contains(&r) && (1..6).contains(&k)
        });
        let s = thin(&ring);
        assert_eq!(label(&s, Connectivity::TwentySix).count(), 1);
        // A closed curve keeps its tunnel: no skeleton voxel is an end point.
        assert!(s.count_nonzero() > 20);
        for k in 1..6 {
            for j in 1..23 {
                for i in 1..23 {
                    if s.get(i, j, k) == 0 {
                        continue;
                    }
                    let mut n = 0;
                    for dk in 0..3 {
                        for dj in 0..3 {
                            for di in 0..3 {
                                n += s.get(i + di - 1, j + dj - 1, k + dk - 1) as usize;
                            }
                        }
                    }
                    assert!(n >= 3, "end point at {i},{j},{k}");
                }
            }
        }
        let ball = mask_from([15, 15, 15], |i, j, k| {
            (i as f64 - 7.0).powi(2) + (j as f64 - 7.0).powi(2) + (k as f64 - 7.0).powi(2) <= 25.0
        });
        // scikit-image 0.26 leaves the same two voxels: (x, y, z) = (6, 7, 7) and (7, 7, 7).
        let s = thin(&ball);
        assert_eq!(s.count_nonzero(), 2);
        assert!(s.get(6, 7, 7) != 0 && s.get(7, 7, 7) != 0);
    }

    #[test]
    fn simple_point_test_counts_pieces() {
        let t = Tables::new();
        // Two opposite face neighbours: two pieces, not simple.
        assert!(!t.simple((1 << 4) | (1 << 22) | (1 << 13)));
        // Two adjacent neighbours: one piece.
        assert!(t.simple((1 << 4) | (1 << 1) | (1 << 13)));
        assert!(t.simple(1 << 13));
    }
}
