//! Exact Euclidean distance transform (EDT) with anisotropic voxel spacing.
//!
//! Algorithm: P. F. Felzenszwalb and D. P. Huttenlocher, "Distance Transforms of Sampled
//! Functions", Theory of Computing 8 (2012) 415–428. The squared distance is separable: one pass
//! per axis, each computing, for every line, the lower envelope of the parabolas
//! `s²(p − q)² + f(q)`. The result is exact (not a chamfer approximation) and equals
//! `scipy.ndimage.distance_transform_edt(~features, sampling=spacing)²`.
//!
//! Lines are independent, so each pass runs in parallel (rayon); the passes along y and z gather
//! blocks of neighbouring lines so that memory is read in cache-line-sized runs.
//!
//! Distances are in the units of `spacing` (mm). Storage is `f32`; the per-line arithmetic is
//! `f64`, so the relative error of a distance is about 1e-7 (≈ 1e-5 mm at 100 mm).

use rayon::prelude::*;

use crate::par::SharedMut;
use crate::{Mask, Volume};

/// Lines gathered together in the y and z passes (16 × f32 = one 64-byte cache line).
const BLOCK: usize = 16;

/// Squared Euclidean distance (mm²) from every voxel to the nearest *feature* voxel, where
/// feature voxels are those with `features[i] != 0`. Voxels of a grid without any feature get
/// `f32::INFINITY`.
///
/// `features` is laid out x fastest with sizes `dims`; `spacing` is the voxel size per axis.
pub fn squared_edt(features: &[u8], dims: [usize; 3], spacing: [f64; 3]) -> Vec<f32> {
    let [nx, ny, nz] = dims;
    assert_eq!(
        features.len(),
        nx * ny * nz,
        "feature mask does not match dims"
    );
    let mut d = vec![0f32; features.len()];
    if d.is_empty() {
        return d;
    }
    pass_x(features, &mut d, nx, spacing[0]);
    if ny > 1 {
        pass_y(&mut d, nx, ny, spacing[1]);
    }
    if nz > 1 {
        pass_z(&mut d, nx, ny, nz, spacing[2]);
    }
    d
}

/// Euclidean distance (mm) from every voxel to the nearest non-zero voxel of `mask`, on the
/// mask's grid (spacing from its geometry).
pub fn distance_to(mask: &Mask) -> Volume<f32> {
    let mut d = squared_edt(&mask.data, mask.dims, mask.geometry.spacing);
    d.par_iter_mut().for_each(|v| *v = v.sqrt());
    Volume {
        dims: mask.dims,
        geometry: mask.geometry,
        data: d,
    }
}

/// First pass: per row, the distance to the nearest feature along x, by two sweeps.
fn pass_x(features: &[u8], d: &mut [f32], nx: usize, sx: f64) {
    d.par_chunks_mut(nx)
        .zip(features.par_chunks(nx))
        .for_each(|(row, feat)| {
            // Forward sweep: index distance to the last feature on the left (or none).
            let mut last: Option<usize> = None;
            for i in 0..nx {
                if feat[i] != 0 {
                    last = Some(i);
                }
                row[i] = match last {
                    Some(l) => (i - l) as f32,
                    None => f32::INFINITY,
                };
            }
            // Backward sweep: the nearest feature on the right, then square in mm².
            let mut next: Option<usize> = None;
            for i in (0..nx).rev() {
                if feat[i] != 0 {
                    next = Some(i);
                }
                if let Some(n) = next {
                    let r = (n - i) as f32;
                    if r < row[i] {
                        row[i] = r;
                    }
                }
                let v = row[i];
                row[i] = if v.is_finite() {
                    let mm = v as f64 * sx;
                    (mm * mm) as f32
                } else {
                    f32::INFINITY
                };
            }
        });
}

/// Scratch buffers for the 1-D lower-envelope transform of one line.
struct LineScratch {
    f: Vec<f64>,
    out: Vec<f64>,
    v: Vec<usize>,
    z: Vec<f64>,
}

impl LineScratch {
    fn new(n: usize) -> Self {
        LineScratch {
            f: vec![0.0; n],
            out: vec![0.0; n],
            v: vec![0; n],
            z: vec![0.0; n + 1],
        }
    }
}

/// 1-D squared distance transform of the sampled function `s.f` (Felzenszwalb & Huttenlocher,
/// algorithm DT(f)) with sample spacing `sp`; result in `s.out`. Infinite samples are skipped
/// (they are no parabola). Returns false if the line has no finite sample (output untouched).
fn envelope(s: &mut LineScratch, n: usize, sp2: f64) -> bool {
    let f = &s.f[..n];
    let Some(first) = f.iter().position(|x| x.is_finite()) else {
        return false;
    };
    let (v, z) = (&mut s.v, &mut s.z);
    let mut k = 0usize;
    v[0] = first;
    z[0] = f64::NEG_INFINITY;
    z[1] = f64::INFINITY;
    // Work in index units: parabola q is (p − q)² + f(q)/sp².
    for q in first + 1..n {
        let fq = f[q];
        if !fq.is_finite() {
            continue;
        }
        let hq = fq / sp2 + (q * q) as f64;
        loop {
            let vk = v[k];
            let hv = f[vk] / sp2 + (vk * vk) as f64;
            let sct = (hq - hv) / (2.0 * (q - vk) as f64);
            if sct <= z[k] {
                // The parabola at v[k] is hidden; k > 0 here since z[0] = −∞.
                k -= 1;
                continue;
            }
            k += 1;
            v[k] = q;
            z[k] = sct;
            z[k + 1] = f64::INFINITY;
            break;
        }
    }
    let out = &mut s.out[..n];
    let mut k = 0usize;
    for (p, o) in out.iter_mut().enumerate() {
        let pf = p as f64;
        while z[k + 1] < pf {
            k += 1;
        }
        let dq = pf - v[k] as f64;
        *o = sp2 * dq * dq + f[v[k]];
    }
    true
}

/// Second pass, along y: each z-slice is independent; columns are gathered BLOCK at a time.
fn pass_y(d: &mut [f32], nx: usize, ny: usize, sy: f64) {
    let sp2 = sy * sy;
    d.par_chunks_mut(nx * ny).for_each_init(
        || (LineScratch::new(ny), vec![0f32; BLOCK * ny]),
        |(scratch, block), slice| {
            let mut x0 = 0;
            while x0 < nx {
                let w = BLOCK.min(nx - x0);
                for y in 0..ny {
                    let row = &slice[y * nx + x0..y * nx + x0 + w];
                    for (b, &val) in row.iter().enumerate() {
                        block[b * ny + y] = val;
                    }
                }
                for b in 0..w {
                    let col = &mut block[b * ny..(b + 1) * ny];
                    for (fi, &c) in scratch.f.iter_mut().zip(col.iter()) {
                        *fi = c as f64;
                    }
                    if envelope(scratch, ny, sp2) {
                        for (c, &o) in col.iter_mut().zip(scratch.out.iter()) {
                            *c = o as f32;
                        }
                    }
                }
                for y in 0..ny {
                    let row = &mut slice[y * nx + x0..y * nx + x0 + w];
                    for (b, val) in row.iter_mut().enumerate() {
                        *val = block[b * ny + y];
                    }
                }
                x0 += w;
            }
        },
    );
}

/// Third pass, along z: tasks own disjoint (y, x-block) columns of lines.
fn pass_z(d: &mut [f32], nx: usize, ny: usize, nz: usize, sz: f64) {
    let sp2 = sz * sz;
    let plane = nx * ny;
    let shared = SharedMut::new(d);
    let blocks_per_row = nx.div_ceil(BLOCK);
    (0..ny * blocks_per_row).into_par_iter().for_each_init(
        || (LineScratch::new(nz), vec![0f32; BLOCK * nz]),
        |(scratch, block), task| {
            let y = task / blocks_per_row;
            let x0 = (task % blocks_per_row) * BLOCK;
            let w = BLOCK.min(nx - x0);
            let base = y * nx + x0;
            // SAFETY (both loops): task (y, x0) reads and writes only the rows
            // base + z·plane .. + w, which no other task touches, one row at a time.
            for z in 0..nz {
                let row = unsafe { shared.slice(base + z * plane, w) };
                for (b, &val) in row.iter().enumerate() {
                    block[b * nz + z] = val;
                }
            }
            for b in 0..w {
                let col = &mut block[b * nz..(b + 1) * nz];
                for (fi, &c) in scratch.f.iter_mut().zip(col.iter()) {
                    *fi = c as f64;
                }
                if envelope(scratch, nz, sp2) {
                    for (c, &o) in col.iter_mut().zip(scratch.out.iter()) {
                        *c = o as f32;
                    }
                }
            }
            for z in 0..nz {
                let row = unsafe { shared.slice(base + z * plane, w) };
                for (b, val) in row.iter_mut().enumerate() {
                    *val = block[b * nz + z];
                }
            }
        },
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Brute force: minimum over all feature voxels of the squared anisotropic distance.
    fn brute(features: &[u8], dims: [usize; 3], sp: [f64; 3]) -> Vec<f64> {
        let [nx, ny, nz] = dims;
        let feats: Vec<[usize; 3]> = (0..nz)
            .flat_map(|k| (0..ny).flat_map(move |j| (0..nx).map(move |i| [i, j, k])))
            .filter(|&[i, j, k]| features[i + nx * (j + ny * k)] != 0)
            .collect();
        let mut out = vec![f64::INFINITY; features.len()];
        for k in 0..nz {
            for j in 0..ny {
                for i in 0..nx {
                    let mut best = f64::INFINITY;
                    for f in &feats {
                        let dx = (i as f64 - f[0] as f64) * sp[0];
                        let dy = (j as f64 - f[1] as f64) * sp[1];
                        let dz = (k as f64 - f[2] as f64) * sp[2];
                        best = best.min(dx * dx + dy * dy + dz * dz);
                    }
                    out[i + nx * (j + ny * k)] = best;
                }
            }
        }
        out
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn matches_brute_force(
            nx in 1usize..20, ny in 1usize..20, nz in 1usize..12,
            sx in 0.2f64..2.0, sy in 0.2f64..2.0, sz in 0.2f64..3.0,
            density in 0.0f64..0.3, seed in any::<u64>()
        ) {
            let n = nx * ny * nz;
            let mut state = seed | 1;
            let features: Vec<u8> = (0..n).map(|_| {
                state ^= state << 13; state ^= state >> 7; state ^= state << 17;
                ((state % 10_000) as f64 / 10_000.0 < density) as u8
            }).collect();
            let got = squared_edt(&features, [nx, ny, nz], [sx, sy, sz]);
            let want = brute(&features, [nx, ny, nz], [sx, sy, sz]);
            for (g, w) in got.iter().zip(want.iter()) {
                if w.is_infinite() {
                    prop_assert!(g.is_infinite());
                } else {
                    prop_assert!((*g as f64 - w).abs() <= 1e-5 * w.max(1.0), "{} vs {}", g, w);
                }
            }
        }
    }

    #[test]
    fn single_point_distances() {
        let dims = [5, 6, 7];
        let mut f = vec![0u8; 5 * 6 * 7];
        f[2 + 5 * (3 + 6 * 4)] = 1;
        let d = squared_edt(&f, dims, [0.5, 1.0, 2.0]);
        // Voxel (0, 0, 0): dx = 2·0.5, dy = 3·1, dz = 4·2.
        assert!((d[0] - (1.0 + 9.0 + 64.0)).abs() < 1e-4);
    }

    #[test]
    fn wide_volume_uses_partial_blocks() {
        // nx not a multiple of BLOCK exercises the last, narrower block.
        let dims = [37, 5, 4];
        let mut f = vec![0u8; 37 * 5 * 4];
        f[36 + 37 * (4 + 5 * 3)] = 1;
        let d = squared_edt(&f, dims, [1.0; 3]);
        assert_eq!(d[0], (36 * 36 + 16 + 9) as f32);
    }
}
