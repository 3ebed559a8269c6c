//! Territories inside the lungs: which bronchus feeds each lung voxel, and which lung is which.
//!
//! A voxel belongs to the bronchus whose centreline is nearest *through the lung* (geodesic
//! distance), so a territory does not jump across a fissure when fissures are given (fissure
//! voxels are walls for the first pass and join the nearest territory afterwards). Distances are
//! shortest paths on the 26-neighbour voxel graph with edge lengths in mm (0.1 mm units), by
//! Dial's bucket-queue variant of Dijkstra's algorithm (Dial, "Algorithm 360: shortest-path forest
//! with topological ordering", CACM 12(11):632–633, 1969), with every seed at distance 0:
//! a multi-source shortest-path forest whose trees are the territories. Seeds of one lung never
//! enter the other. Every voxel of the domain that a seed can reach gets exactly one label, so
//! the territories tile the lungs with neither gap nor overlap.

use ctplan_core::crop::bounding_box;
use ctplan_core::edt::squared_edt;
use ctplan_core::grid::{self, OFFSETS26};
use ctplan_core::label::{Connectivity, label};
use ctplan_core::{Mask, Volume};

use crate::error::LungError;

/// Lung side label of the right lung (0 is outside the lungs).
pub const RIGHT: u8 = 1;
/// Lung side label of the left lung.
pub const LEFT: u8 = 2;

/// A padded working grid over a bounding box of the full grid.
struct Work {
    /// Full-grid index of local voxel (0, 0, 0) (−1 where the padding lies outside the grid).
    start: [i64; 3],
    dims: [usize; 3],
    full: [usize; 3],
    offsets: Vec<(isize, u32)>,
}

impl Work {
    fn new(
        bbox_start: [usize; 3],
        bbox_end: [usize; 3],
        full: [usize; 3],
        spacing: [f64; 3],
    ) -> Self {
        // One voxel of padding on each side (which may lie outside the full grid: never in the domain).
        let start = [
            bbox_start[0] as i64 - 1,
            bbox_start[1] as i64 - 1,
            bbox_start[2] as i64 - 1,
        ];
        let dims = [
            bbox_end[0] - bbox_start[0] + 2,
            bbox_end[1] - bbox_start[1] + 2,
            bbox_end[2] - bbox_start[2] + 2,
        ];
        let offsets = OFFSETS26
            .iter()
            .map(|&[dx, dy, dz]| {
                let o = dx + dims[0] as i64 * (dy + dims[1] as i64 * dz);
                let mm = ((dx as f64 * spacing[0]).powi(2)
                    + (dy as f64 * spacing[1]).powi(2)
                    + (dz as f64 * spacing[2]).powi(2))
                .sqrt();
                (o as isize, (mm * 10.0).round().max(1.0) as u32)
            })
            .collect();
        Work {
            start,
            dims,
            full,
            offsets,
        }
    }

    fn len(&self) -> usize {
        self.dims[0] * self.dims[1] * self.dims[2]
    }

    /// Local index of a full-grid linear index (inside the box).
    fn local(&self, v: usize) -> Option<usize> {
        let c = grid::coords(self.full, v).map(|x| x as i64);
        let mut l = [0usize; 3];
        for d in 0..3 {
            let x = c[d] - self.start[d];
            if x < 1 || x >= self.dims[d] as i64 - 1 {
                return None;
            }
            l[d] = x as usize;
        }
        Some(l[0] + self.dims[0] * (l[1] + self.dims[1] * l[2]))
    }

    /// The interior rows of the working grid: (full-grid start, local start, length) of each.
    fn rows(&self) -> impl Iterator<Item = (usize, usize, usize)> + '_ {
        let [dx, dy, dz] = self.dims;
        let [nx, ny, _] = self.full;
        (1..dz - 1).flat_map(move |k| {
            (1..dy - 1).map(move |j| {
                let gk = (k as i64 + self.start[2]) as usize;
                let gj = (j as i64 + self.start[1]) as usize;
                let gi0 = (1 + self.start[0]) as usize;
                (gi0 + nx * (gj + ny * gk), 1 + dx * (j + dy * k), dx - 2)
            })
        })
    }

    /// Copy of a full-grid volume into the working grid (0 in the padding).
    fn gather<T: Copy + Default>(&self, data: &[T]) -> Vec<T> {
        let mut out = vec![T::default(); self.len()];
        for (g, l, n) in self.rows() {
            out[l..l + n].copy_from_slice(&data[g..g + n]);
        }
        out
    }

    /// Copy the interior of a working-grid volume back into a full-grid volume (the inverse of
    /// [`Work::gather`]).
    fn scatter<T: Copy>(&self, local: &[T], full: &mut [T]) {
        for (g, l, n) in self.rows() {
            full[g..g + n].copy_from_slice(&local[l..l + n]);
        }
    }
}

/// Multi-source geodesic labelling on the working grid. `domain[l]` says whether a voxel may be
/// entered. Labels already set (non-zero) in `labels` are the seeds.
fn propagate(work: &Work, domain: &[u8], labels: &mut [u32]) {
    let max_w = work.offsets.iter().map(|o| o.1).max().unwrap_or(1) as usize;
    let nb = max_w + 1;
    let mut buckets: Vec<Vec<u32>> = vec![Vec::new(); nb];
    let mut dist = vec![u32::MAX; labels.len()];
    let mut pending = 0usize;
    for (l, &lab) in labels.iter().enumerate() {
        if lab != 0 {
            dist[l] = 0;
        }
    }
    // Only labelled voxels next to an open unlabelled one start the search: the others can never
    // improve a neighbour (every seed is at distance 0), so leaving them out changes nothing.
    for (l, &lab) in labels.iter().enumerate() {
        if lab != 0
            && work.offsets.iter().any(|&(o, _)| {
                let m = (l as isize + o) as usize;
                domain[m] != 0 && labels[m] == 0
            })
        {
            buckets[0].push(l as u32);
            pending += 1;
        }
    }
    let mut d = 0usize;
    while pending > 0 {
        let b = d % nb;
        let list = std::mem::take(&mut buckets[b]);
        for &lu in &list {
            pending -= 1;
            let l = lu as usize;
            if dist[l] as usize != d {
                continue;
            }
            let lab = labels[l];
            for &(o, w) in &work.offsets {
                let m = (l as isize + o) as usize;
                if domain[m] == 0 {
                    continue;
                }
                let nd = d as u32 + w;
                if nd < dist[m] {
                    dist[m] = nd;
                    labels[m] = lab;
                    buckets[nd as usize % nb].push(m as u32);
                    pending += 1;
                }
            }
        }
        let mut reuse = list;
        reuse.clear();
        if buckets[b].is_empty() {
            buckets[b] = reuse;
        }
        d += 1;
    }
}

/// Breadth-first growth of the labels through `domain` on the 26-neighbour graph (each unlabelled
/// voxel takes the label that reaches it in the fewest steps). Used where only the border between
/// two large regions matters and exact mm distances would be wasted work.
fn grow(work: &Work, domain: &[u8], labels: &mut [u32]) {
    let mut queue: std::collections::VecDeque<u32> = labels
        .iter()
        .enumerate()
        .filter(|&(l, &lab)| {
            lab != 0
                && work.offsets.iter().any(|&(o, _)| {
                    let m = (l as isize + o) as usize;
                    domain[m] != 0 && labels[m] == 0
                })
        })
        .map(|(l, _)| l as u32)
        .collect();
    while let Some(lu) = queue.pop_front() {
        let l = lu as usize;
        let lab = labels[l];
        for &(o, _) in &work.offsets {
            let m = (l as isize + o) as usize;
            if domain[m] != 0 && labels[m] == 0 {
                labels[m] = lab;
                queue.push_back(m as u32);
            }
        }
    }
}

/// Split a lung mask into right and left: two large 6-connected pieces if the mask has them,
/// otherwise the two pieces that appear when the lungs are eroded (1.5, 3, 6, … 20 mm),
/// grown back through the mask. The piece lying further to the patient's right (−x in LPS) is
/// the right lung. Returns side labels and a note on how the split was made.
pub fn split_lungs(lung: &Mask) -> Result<(Volume<u8>, String), LungError> {
    let mut out = Volume::zeros(lung.dims, lung.geometry);
    let Some(bbox) = bounding_box(lung) else {
        return Err(LungError::LungSplit("the lung mask is empty".into()));
    };
    let work = Work::new(bbox.start, bbox.end, lung.dims, lung.geometry.spacing);
    let domain = work.gather(&lung.data);
    let total = domain.iter().filter(|&&v| v != 0).count();
    let wmask = Mask {
        dims: work.dims,
        geometry: lung.geometry,
        data: domain.clone(),
    };
    let two = |m: &Mask| -> Option<(Vec<u32>, u32, u32)> {
        let c = label(m, Connectivity::Six);
        let mut order: Vec<usize> = (1..c.sizes.len()).collect();
        order.sort_by(|&a, &b| c.sizes[b].cmp(&c.sizes[a]));
        let n: usize = order.iter().map(|&l| c.sizes[l]).sum();
        if order.len() >= 2 && c.sizes[order[1]] * 100 >= 15 * n {
            Some((c.labels.data, order[0] as u32, order[1] as u32))
        } else {
            None
        }
    };
    let mut how = "two separate lungs in the mask".to_string();
    let mut found = two(&wmask);
    if found.is_none() {
        let bg: Vec<u8> = domain.iter().map(|&v| u8::from(v == 0)).collect();
        let d2 = squared_edt(&bg, work.dims, lung.geometry.spacing);
        // The erosion depth is searched on every second voxel along each axis (8× fewer voxels
        // to label); only a depth that separates the lungs there is confirmed on the full grid.
        let half = [0, 1, 2].map(|d| work.dims[d].div_ceil(2));
        let sampled = |r: f64| -> Mask {
            let mut data = vec![0u8; half[0] * half[1] * half[2]];
            for k in 0..half[2] {
                for j in 0..half[1] {
                    for i in 0..half[0] {
                        let x = d2[2 * i + work.dims[0] * (2 * j + work.dims[1] * 2 * k)];
                        data[i + half[0] * (j + half[1] * k)] = u8::from(x as f64 > r * r);
                    }
                }
            }
            let sp = lung.geometry.spacing;
            Mask {
                dims: half,
                geometry: ctplan_core::Geometry::new(
                    [sp[0] * 2.0, sp[1] * 2.0, sp[2] * 2.0],
                    [0.0; 3],
                ),
                data,
            }
        };
        for r in [1.5, 3.0, 6.0, 9.0, 12.0, 15.0, 20.0] {
            if two(&sampled(r)).is_none() {
                continue;
            }
            let core = Mask {
                dims: work.dims,
                geometry: lung.geometry,
                data: d2.iter().map(|&x| u8::from(x as f64 > r * r)).collect(),
            };
            if let Some(f) = two(&core) {
                how = format!(
                    "one connected lung mask, split where the lungs separate after a {r:.1} mm erosion"
                );
                found = Some(f);
                break;
            }
        }
    }
    let Some((labels, a, b)) = found else {
        return Err(LungError::LungSplit(format!(
            "the lung mask ({total} voxels) could not be split into right and left lungs"
        )));
    };
    // Mean x (LPS) of a piece: the world map is affine, so it is the world point of the mean index.
    let centroid_x = |lab: u32| -> f64 {
        let (mut sum, mut n) = ([0.0f64; 3], 0.0f64);
        let [dx, dy, _] = work.dims;
        for (l, &x) in labels.iter().enumerate() {
            if x == lab {
                sum[0] += (l % dx) as f64;
                sum[1] += ((l / dx) % dy) as f64;
                sum[2] += (l / (dx * dy)) as f64;
                n += 1.0;
            }
        }
        let n = n.max(1.0);
        let mean = [0, 1, 2].map(|d| sum[d] / n + work.start[d] as f64);
        lung.geometry.index_to_world(mean)[0]
    };
    let (right, _left) = if centroid_x(a) < centroid_x(b) {
        (a, b)
    } else {
        (b, a)
    };
    let mut side: Vec<u32> = labels
        .iter()
        .map(|&x| {
            if x == a || x == b {
                if x == right {
                    RIGHT as u32
                } else {
                    LEFT as u32
                }
            } else {
                0
            }
        })
        .collect();
    grow(&work, &domain, &mut side);
    let local: Vec<u8> = side
        .iter()
        .zip(&domain)
        .map(|(&s, &d)| if d != 0 { s as u8 } else { 0 })
        .collect();
    work.scatter(&local, &mut out.data);
    Ok((out, how))
}

/// Label every voxel of `parenchyma` (side labels from [`split_lungs`], 0 outside) with the seed
/// label nearest through the lung. `seeds`: (full-grid voxel, label ≥ 1, side). `passable`:
/// voxels outside the parenchyma that paths may cross (the airway lumen, where the seeds lie).
/// `walls`: voxels no path crosses in the first pass (fissures). Returns the labels (0 where no
/// seed of that side exists).
pub fn assign(
    parenchyma: &Volume<u8>,
    passable: &Mask,
    walls: Option<&Mask>,
    seeds: &[(usize, u32, u8)],
) -> Volume<u32> {
    let mut out: Volume<u32> = Volume::zeros(parenchyma.dims, parenchyma.geometry);
    // The two lungs are independent problems (a seed never enters the other lung): solve them on
    // their own boxes, side by side.
    let (right, left) = rayon::join(
        || assign_side(parenchyma, passable, walls, seeds, RIGHT),
        || assign_side(parenchyma, passable, walls, seeds, LEFT),
    );
    // The boxes overlap (both hold the airway), so only labelled voxels are copied back.
    for (work, labels) in [right, left].into_iter().flatten() {
        for (g, l, n) in work.rows() {
            for (o, &lab) in out.data[g..g + n].iter_mut().zip(&labels[l..l + n]) {
                if lab != 0 {
                    *o = lab;
                }
            }
        }
    }
    out
}

/// Labels of one side on its working grid (0 off that side's parenchyma).
fn assign_side(
    parenchyma: &Volume<u8>,
    passable: &Mask,
    walls: Option<&Mask>,
    seeds: &[(usize, u32, u8)],
    which: u8,
) -> Option<(Work, Vec<u32>)> {
    let mine: Vec<(usize, u32)> = seeds
        .iter()
        .filter(|s| s.2 == which)
        .map(|s| (s.0, s.1))
        .collect();
    if mine.is_empty() {
        return None;
    }
    let this_side = Mask {
        dims: parenchyma.dims,
        geometry: parenchyma.geometry,
        data: parenchyma
            .data
            .iter()
            .map(|&s| u8::from(s == which))
            .collect(),
    };
    let b1 = bounding_box(&this_side)?;
    drop(this_side);
    let bbox = match bounding_box(passable) {
        Some(b2) => b1.union(&b2),
        None => b1,
    };
    let work = Work::new(
        bbox.start,
        bbox.end,
        parenchyma.dims,
        parenchyma.geometry.spacing,
    );
    let side = work.gather(&parenchyma.data);
    let pass = work.gather(&passable.data);
    let wall = walls.map(|w| work.gather(&w.data));
    let mut labels = vec![0u32; work.len()];
    for &(v, lab) in &mine {
        if let Some(l) = work.local(v) {
            labels[l] = lab;
        }
    }
    let open = |l: usize| side[l] == which || pass[l] != 0;
    let domain: Vec<u8> = (0..work.len())
        .map(|l| {
            let blocked = wall.as_ref().is_some_and(|w| w[l] != 0);
            u8::from(open(l) && !blocked)
        })
        .collect();
    propagate(&work, &domain, &mut labels);
    if wall.is_some() {
        // Fissure voxels and pockets behind them: nearest territory without walls.
        let domain2: Vec<u8> = (0..work.len()).map(|l| u8::from(open(l))).collect();
        propagate(&work, &domain2, &mut labels);
    }
    for (lab, &sd) in labels.iter_mut().zip(&side) {
        if sd != which {
            *lab = 0;
        }
    }
    Some((work, labels))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ctplan_core::Geometry;

    fn slab(dims: [usize; 3], f: impl Fn(usize, usize, usize) -> u8) -> Volume<u8> {
        let mut m = Volume::zeros(dims, Geometry::new([1.0; 3], [0.0; 3]));
        for k in 0..dims[2] {
            for j in 0..dims[1] {
                for i in 0..dims[0] {
                    let idx = m.index(i, j, k);
                    m.data[idx] = f(i, j, k);
                }
            }
        }
        m
    }

    #[test]
    fn two_seeds_share_a_box_at_the_midplane_and_a_wall_bends_the_border() {
        let dims = [20, 6, 6];
        let par = slab(dims, |_, _, _| RIGHT);
        let none = slab(dims, |_, _, _| 0);
        let s = |i: usize| i + 20 * (3 + 6 * 3);
        let seeds = [(s(2), 1, RIGHT), (s(17), 2, RIGHT)];
        let t = assign(&par, &none, None, &seeds);
        assert!(t.data.iter().all(|&x| x != 0), "no gap");
        assert_eq!(t.get(8, 0, 0), 1);
        assert_eq!(t.get(11, 5, 5), 2);
        // A wall at x = 5 with no opening: everything beyond it is nearer to seed 2 through the box.
        let wall = slab(dims, |i, _, _| u8::from(i == 5));
        let t = assign(&par, &none, Some(&wall), &seeds);
        assert_eq!(t.get(6, 3, 3), 2);
        assert_eq!(t.get(4, 3, 3), 1);
        assert!(t.data.iter().all(|&x| x != 0), "wall voxels labelled too");
    }

    #[test]
    fn touching_lungs_are_split_and_sides_follow_lps() {
        // Two boxes joined by a thin bridge; x grows to the patient's left.
        let dims = [40, 20, 20];
        let lung = slab(dims, |i, j, k| {
            let inside = (2..18).contains(&j) && (2..18).contains(&k);
            let left_box = (22..38).contains(&i);
            let right_box = (2..18).contains(&i);
            let bridge = (18..22).contains(&i) && j == 10 && k == 10;
            u8::from(inside && (left_box || right_box || bridge))
        });
        let (side, how) = split_lungs(&lung).unwrap();
        assert!(how.contains("erosion"), "{how}");
        assert_eq!(side.get(5, 10, 10), RIGHT);
        assert_eq!(side.get(30, 10, 10), LEFT);
        let n = lung.count_nonzero();
        assert_eq!(side.data.iter().filter(|&&s| s != 0).count(), n);
    }
}
