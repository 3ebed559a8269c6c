//! Gaussian scale space and the Hessian of a volume, in physical units, for the shape filters
//! that tell tubes (vessels) and plates (fissures) from blobs and background.
//!
//! At scale σ (mm) the volume is smoothed by a Gaussian of standard deviation σ, separably
//! along the three grid axes with σ converted to voxels per axis (anisotropic spacing handled),
//! and the second derivatives are taken by central differences of the smoothed block, divided
//! by the spacing: the Hessian is in intensity per mm². Multiplied by σ² it is the
//! scale-normalised Hessian of Lindeberg (1998, "Feature detection with automatic scale
//! selection", IJCV 30:79–116, γ = 2 for second derivatives, as Frangi, Niessen, Vincken &
//! Viergever 1998, "Multiscale vessel enhancement filtering", MICCAI, LNCS 1496:130–137, use
//! it), so that responses at different scales compare and a structure answers most strongly
//! at the scale that matches its size.
//!
//! Only a region of interest is smoothed (the ROI grown by 3σ on each side, clipped to the
//! grid, the grid's own edges replicated): a lung stage pays for the lungs' box, not for the
//! whole scan. [`ScaleSpace::hessian`] evaluates one voxel (cheap where only candidates
//! matter); [`ScaleSpace::map_roi`] evaluates every ROI voxel in parallel.
//!
//! The eigen-decomposition of the symmetric 3×3 Hessian ([`eigenvalues`], [`eigen`]) orders
//! the eigenvalues by magnitude, |λ1| ≤ |λ2| ≤ |λ3|, as the shape measures read them:
//! a bright tube has λ1 ≈ 0 (along it) and λ2 ≈ λ3 ≪ 0; a bright plate λ1 ≈ λ2 ≈ 0 and
//! λ3 ≪ 0; a bright blob λ1 ≈ λ2 ≈ λ3 ≪ 0 (Frangi et al. 1998, table 1).
//!
//! The derivatives are along the grid's index axes (in mm): for an oblique grid the
//! eigenvalues are those of the world Hessian (the axes are orthonormal), and an eigenvector
//! `v` points along `Σ v[a] · axis_a` in the world, `axis_a` the grid's unit axis vectors.

use rayon::prelude::*;

use crate::crop::BoundingBox;
use crate::{CoreError, Scalar, Volume};

/// A symmetric 3×3 matrix by its six distinct entries (the Hessian's second derivatives).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Sym3 {
    /// ∂²/∂x².
    pub xx: f64,
    /// ∂²/∂y².
    pub yy: f64,
    /// ∂²/∂z².
    pub zz: f64,
    /// ∂²/∂x∂y.
    pub xy: f64,
    /// ∂²/∂x∂z.
    pub xz: f64,
    /// ∂²/∂y∂z.
    pub yz: f64,
}

impl Sym3 {
    /// The matrix times `s`.
    pub fn scaled(self, s: f64) -> Sym3 {
        Sym3 {
            xx: self.xx * s,
            yy: self.yy * s,
            zz: self.zz * s,
            xy: self.xy * s,
            xz: self.xz * s,
            yz: self.yz * s,
        }
    }

    /// The full matrix, row-major.
    pub fn to_matrix(self) -> [[f64; 3]; 3] {
        [
            [self.xx, self.xy, self.xz],
            [self.xy, self.yy, self.yz],
            [self.xz, self.yz, self.zz],
        ]
    }
}

/// Eigenvalues of a symmetric 3×3, sorted by magnitude (|λ1| ≤ |λ2| ≤ |λ3|), with their unit
/// eigenvectors (`vectors[n]` belongs to `values[n]`; mutually orthogonal).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Eigen {
    /// λ1, λ2, λ3 by increasing magnitude.
    pub values: [f64; 3],
    /// The unit eigenvector of each eigenvalue.
    pub vectors: [[f64; 3]; 3],
}

/// Order three eigenvalues (and a payload each) by increasing magnitude.
fn by_magnitude<T: Copy>(mut e: [(f64, T); 3]) -> [(f64, T); 3] {
    e.sort_by(|a, b| a.0.abs().total_cmp(&b.0.abs()));
    e
}

/// The eigenvalues of `m`, sorted by magnitude; closed form (the trigonometric solution of the
/// characteristic cubic, Smith 1961, "Eigenvalues of a symmetric 3 × 3 matrix", CACM 4:168),
/// cheap enough to run at every voxel of a lung.
pub fn eigenvalues(m: &Sym3) -> [f64; 3] {
    let p1 = m.xy * m.xy + m.xz * m.xz + m.yz * m.yz;
    let q = (m.xx + m.yy + m.zz) / 3.0;
    let raw = if p1 <= f64::EPSILON * (m.xx * m.xx + m.yy * m.yy + m.zz * m.zz) {
        // Diagonal (to rounding).
        [m.xx, m.yy, m.zz]
    } else {
        let p2 = (m.xx - q).powi(2) + (m.yy - q).powi(2) + (m.zz - q).powi(2) + 2.0 * p1;
        let p = (p2 / 6.0).sqrt();
        let b = Sym3 {
            xx: m.xx - q,
            yy: m.yy - q,
            zz: m.zz - q,
            ..*m
        }
        .scaled(1.0 / p);
        let det = b.xx * (b.yy * b.zz - b.yz * b.yz) - b.xy * (b.xy * b.zz - b.yz * b.xz)
            + b.xz * (b.xy * b.yz - b.yy * b.xz);
        let phi = (det / 2.0).clamp(-1.0, 1.0).acos() / 3.0;
        let l1 = q + 2.0 * p * phi.cos();
        let l3 = q + 2.0 * p * (phi + 2.0 * std::f64::consts::PI / 3.0).cos();
        [l1, 3.0 * q - l1 - l3, l3]
    };
    by_magnitude(raw.map(|v| (v, ()))).map(|(v, ())| v)
}

/// The eigenvalues (sorted by magnitude) and unit eigenvectors of `m`, by cyclic Jacobi
/// rotations (Golub & Van Loan, *Matrix Computations*, 4th ed., §8.5): slower than
/// [`eigenvalues`] but exact to rounding and with orthonormal vectors even for repeated
/// eigenvalues, for where a structure's direction is needed (a vessel's axis, a plate's normal).
pub fn eigen(m: &Sym3) -> Eigen {
    let mut a = m.to_matrix();
    let mut v = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]];
    for _sweep in 0..50 {
        let off = a[0][1].powi(2) + a[0][2].powi(2) + a[1][2].powi(2);
        let diag = a[0][0].powi(2) + a[1][1].powi(2) + a[2][2].powi(2);
        if off <= 1e-30 * diag || off == 0.0 {
            break;
        }
        for (p, q) in [(0, 1), (0, 2), (1, 2)] {
            if a[p][q] == 0.0 {
                continue;
            }
            let theta = (a[q][q] - a[p][p]) / (2.0 * a[p][q]);
            let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
            let t = if theta == 0.0 { 1.0 } else { t };
            let c = 1.0 / (t * t + 1.0).sqrt();
            let s = t * c;
            // a ← Jᵀ a J with the rotation J in the (p, q) plane.
            for r in 0..3 {
                let (arp, arq) = (a[r][p], a[r][q]);
                a[r][p] = c * arp - s * arq;
                a[r][q] = s * arp + c * arq;
            }
            for r in 0..3 {
                let (apr, aqr) = (a[p][r], a[q][r]);
                a[p][r] = c * apr - s * aqr;
                a[q][r] = s * apr + c * aqr;
            }
            for row in v.iter_mut() {
                let (vp, vq) = (row[p], row[q]);
                row[p] = c * vp - s * vq;
                row[q] = s * vp + c * vq;
            }
        }
    }
    let col = |n: usize| [v[0][n], v[1][n], v[2][n]];
    let e = by_magnitude([(a[0][0], col(0)), (a[1][1], col(1)), (a[2][2], col(2))]);
    Eigen {
        values: e.map(|x| x.0),
        vectors: e.map(|x| x.1),
    }
}

/// A sampled Gaussian of standard deviation `sigma` voxels, out to 3σ, summing to one
/// (a single tap when σ is too small to smooth anything).
fn gaussian_kernel(sigma: f64) -> Vec<f32> {
    let r = (3.0 * sigma).ceil() as usize;
    if sigma < 1e-3 || r == 0 {
        return vec![1.0];
    }
    let w: Vec<f64> = (0..=2 * r)
        .map(|t| {
            let x = t as f64 - r as f64;
            (-x * x / (2.0 * sigma * sigma)).exp()
        })
        .collect();
    let s: f64 = w.iter().sum();
    w.into_iter().map(|x| (x / s) as f32).collect()
}

/// The neighbours the Hessian's central differences read: ±x, ±y, ±z, then the mixed pairs.
const STENCIL: [[i64; 3]; 18] = [
    [1, 0, 0],
    [-1, 0, 0],
    [0, 1, 0],
    [0, -1, 0],
    [0, 0, 1],
    [0, 0, -1],
    [1, 1, 0],
    [1, -1, 0],
    [-1, 1, 0],
    [-1, -1, 0],
    [1, 0, 1],
    [1, 0, -1],
    [-1, 0, 1],
    [-1, 0, -1],
    [0, 1, 1],
    [0, 1, -1],
    [0, -1, 1],
    [0, -1, -1],
];

/// One volume smoothed at one scale over a region of interest, ready for its Hessian.
#[derive(Debug, Clone)]
pub struct ScaleSpace {
    /// The scale: the Gaussian's standard deviation (mm).
    pub sigma_mm: f64,
    /// The region (on the source grid) the Hessian is wanted in.
    pub roi: BoundingBox,
    /// The smoothed block (the ROI and its margin, on the source grid).
    block: BoundingBox,
    /// Grid spacing (mm).
    spacing: [f64; 3],
    /// The smoothed voxels of `block`, x fastest.
    data: Vec<f32>,
}

impl ScaleSpace {
    /// Smooth `vol` at `sigma_mm` over `roi` (and a 3σ margin around it, clipped to the grid).
    /// Fails on a non-positive or non-finite scale, or an ROI that is empty or leaves the grid.
    pub fn new<T: Scalar>(
        vol: &Volume<T>,
        roi: &BoundingBox,
        sigma_mm: f64,
    ) -> Result<ScaleSpace, CoreError> {
        if !(sigma_mm.is_finite() && sigma_mm > 0.0) {
            return Err(CoreError::InvalidParameter(format!(
                "scale {sigma_mm} mm: must be positive"
            )));
        }
        for a in 0..3 {
            if roi.start[a] >= roi.end[a] || roi.end[a] > vol.dims[a] {
                return Err(CoreError::InvalidParameter(format!(
                    "region {:?}..{:?} is empty or leaves the {:?} grid",
                    roi.start, roi.end, vol.dims
                )));
            }
        }
        let spacing = vol.geometry.spacing;
        let sigma_vox = spacing.map(|s| sigma_mm / s);
        let kernels = sigma_vox.map(gaussian_kernel);
        // The margin covers the kernel and the central difference's one voxel.
        let margin = [0, 1, 2].map(|a| kernels[a].len() / 2 + 1);
        let block = roi.expand(margin, vol.dims);
        let d = block.dims();
        let mut data = Vec::with_capacity(d[0] * d[1] * d[2]);
        for k in block.start[2]..block.end[2] {
            for j in block.start[1]..block.end[1] {
                let base = vol.index(0, j, k);
                data.extend(
                    vol.data[base + block.start[0]..base + block.end[0]]
                        .iter()
                        .map(|v| v.to_f64() as f32),
                );
            }
        }
        let mut tmp = vec![0f32; data.len()];
        smooth_x(&data, &mut tmp, d, &kernels[0]);
        smooth_y(&tmp, &mut data, d, &kernels[1]);
        smooth_z(&data, &mut tmp, d, &kernels[2]);
        Ok(ScaleSpace {
            sigma_mm,
            roi: *roi,
            block,
            spacing,
            data: tmp,
        })
    }

    /// The smoothed value at grid voxel `p` (clamped into the smoothed block).
    pub fn smoothed(&self, p: [usize; 3]) -> f32 {
        self.at(p.map(|x| x as i64), [0; 3])
    }

    /// The smoothed value at `p + d`, clamped into the block (its edges replicated).
    fn at(&self, p: [i64; 3], d: [i64; 3]) -> f32 {
        let bd = self.block.dims();
        let c = [0, 1, 2].map(|a| {
            (p[a] + d[a] - self.block.start[a] as i64).clamp(0, bd[a] as i64 - 1) as usize
        });
        self.data[c[0] + bd[0] * (c[1] + bd[1] * c[2])]
    }

    /// The Hessian at grid voxel `p` (intensity per mm²), by central differences of the
    /// smoothed block; a voxel outside the block reads the block's nearest edge.
    pub fn hessian(&self, p: [usize; 3]) -> Sym3 {
        self.derivatives(p).0
    }

    /// The Hessian and the gradient at `p` together (one read of the neighbourhood).
    pub fn derivatives(&self, p: [usize; 3]) -> (Sym3, [f64; 3]) {
        let [sx, sy, sz] = self.spacing;
        let (c, f) = self.stencil(p);
        let h = Sym3 {
            xx: (f[0] - 2.0 * c + f[1]) / (sx * sx),
            yy: (f[2] - 2.0 * c + f[3]) / (sy * sy),
            zz: (f[4] - 2.0 * c + f[5]) / (sz * sz),
            xy: (f[6] - f[7] - f[8] + f[9]) / (4.0 * sx * sy),
            xz: (f[10] - f[11] - f[12] + f[13]) / (4.0 * sx * sz),
            yz: (f[14] - f[15] - f[16] + f[17]) / (4.0 * sy * sz),
        };
        let g = [
            (f[0] - f[1]) / (2.0 * sx),
            (f[2] - f[3]) / (2.0 * sy),
            (f[4] - f[5]) / (2.0 * sz),
        ];
        (h, g)
    }

    /// The smoothed value at `p` and at the 18 neighbours the central differences read, in the
    /// order of [`STENCIL`]; straight from the block where `p` is inside it by a voxel, through
    /// [`Self::at`]'s clamping elsewhere.
    fn stencil(&self, p: [usize; 3]) -> (f64, [f64; 18]) {
        let bd = self.block.dims();
        let q: [i64; 3] = [0, 1, 2].map(|a| p[a] as i64 - self.block.start[a] as i64);
        let inside = (0..3).all(|a| q[a] >= 1 && q[a] + 1 < bd[a] as i64);
        if inside {
            let st = [1i64, bd[0] as i64, (bd[0] * bd[1]) as i64];
            let base = q[0] + q[1] * st[1] + q[2] * st[2];
            let read = |d: [i64; 3]| {
                self.data[(base + d[0] * st[0] + d[1] * st[1] + d[2] * st[2]) as usize] as f64
            };
            (read([0; 3]), STENCIL.map(read))
        } else {
            let p = p.map(|x| x as i64);
            (
                self.at(p, [0; 3]) as f64,
                STENCIL.map(|d| self.at(p, d) as f64),
            )
        }
    }

    /// The gradient at grid voxel `p` (intensity per mm), by central differences of the
    /// smoothed block. Shape measures use it to tell a structure's centre (where it vanishes)
    /// from its flank: the flank of a blob has tube-like eigenvalues but a steep gradient.
    pub fn gradient(&self, p: [usize; 3]) -> [f64; 3] {
        self.derivatives(p).1
    }

    /// The scale-normalised Hessian σ²·H at `p` (Lindeberg 1998, γ = 2): comparable across
    /// scales.
    pub fn normalised_hessian(&self, p: [usize; 3]) -> Sym3 {
        self.hessian(p).scaled(self.sigma_mm * self.sigma_mm)
    }

    /// `f(p, σ²·H(p))` at every voxel `p` of the ROI, in parallel, in the ROI's order
    /// (x fastest): the whole-region pass a plate or tube measure makes.
    pub fn map_roi<U: Send>(&self, f: impl Fn([usize; 3], Sym3) -> U + Sync) -> Vec<U> {
        let d = self.roi.dims();
        (0..d[0] * d[1] * d[2])
            .into_par_iter()
            .map(|n| {
                let p = [
                    self.roi.start[0] + n % d[0],
                    self.roi.start[1] + (n / d[0]) % d[1],
                    self.roi.start[2] + n / (d[0] * d[1]),
                ];
                f(p, self.normalised_hessian(p))
            })
            .collect()
    }
}

/// Convolve each x row of `src` (sizes `d`) with `k` into `dst`, edges replicated.
fn smooth_x(src: &[f32], dst: &mut [f32], d: [usize; 3], k: &[f32]) {
    let r = k.len() / 2;
    let nx = d[0];
    dst.par_chunks_mut(nx)
        .zip(src.par_chunks(nx))
        .for_each(|(out, row)| {
            for (i, o) in out.iter_mut().enumerate() {
                *o = if i >= r && i + r < nx {
                    // Inside: no clamping.
                    row[i - r..=i + r].iter().zip(k).map(|(x, w)| w * x).sum()
                } else {
                    k.iter()
                        .enumerate()
                        .map(|(t, &w)| w * row[(i + t).saturating_sub(r).min(nx - 1)])
                        .sum()
                };
            }
        });
}

/// `out += w · row`, the inner loop of the y and z passes (contiguous, vectorisable).
fn axpy(out: &mut [f32], w: f32, row: &[f32]) {
    for (o, &x) in out.iter_mut().zip(row) {
        *o += w * x;
    }
}

/// Convolve along y: each output row is a weighted sum of input rows of its slice.
fn smooth_y(src: &[f32], dst: &mut [f32], d: [usize; 3], k: &[f32]) {
    let r = (k.len() / 2) as i64;
    let (nx, ny) = (d[0], d[1] as i64);
    dst.par_chunks_mut(nx).enumerate().for_each(|(row, out)| {
        let (j, kz) = ((row as i64) % ny, row / d[1]);
        out.fill(0.0);
        for (t, &w) in k.iter().enumerate() {
            let y = (j + t as i64 - r).clamp(0, ny - 1) as usize;
            let from = nx * (y + d[1] * kz);
            axpy(out, w, &src[from..from + nx]);
        }
    });
}

/// Convolve along z: each output slice is a weighted sum of input slices.
fn smooth_z(src: &[f32], dst: &mut [f32], d: [usize; 3], k: &[f32]) {
    let r = (k.len() / 2) as i64;
    let (plane, nz) = (d[0] * d[1], d[2] as i64);
    // Rows rather than whole slices as the unit of work, so that two cores share a thin block.
    dst.par_chunks_mut(d[0]).enumerate().for_each(|(row, out)| {
        let (within, kz) = (row % d[1], (row / d[1]) as i64);
        out.fill(0.0);
        for (t, &w) in k.iter().enumerate() {
            let z = (kz + t as i64 - r).clamp(0, nz - 1) as usize;
            let from = z * plane + within * d[0];
            axpy(out, w, &src[from..from + d[0]]);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Geometry;

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol
    }

    #[test]
    fn eigenvalues_of_known_matrices() {
        // diag(3, −1, 2) sorted by magnitude.
        let d = Sym3 {
            xx: 3.0,
            yy: -1.0,
            zz: 2.0,
            ..Default::default()
        };
        assert_eq!(eigenvalues(&d), [-1.0, 2.0, 3.0]);
        // [[2,1,0],[1,2,0],[0,0,-5]]: 1, 3, −5.
        let m = Sym3 {
            xx: 2.0,
            yy: 2.0,
            zz: -5.0,
            xy: 1.0,
            ..Default::default()
        };
        let l = eigenvalues(&m);
        for (got, want) in l.iter().zip([1.0, 3.0, -5.0]) {
            assert!(close(*got, want, 1e-12), "{l:?}");
        }
        let e = eigen(&m);
        for (got, want) in e.values.iter().zip([1.0, 3.0, -5.0]) {
            assert!(close(*got, want, 1e-12), "{:?}", e.values);
        }
        // The eigenvectors: (1, −1, 0)/√2, (1, 1, 0)/√2, (0, 0, 1), up to sign.
        let h = std::f64::consts::FRAC_1_SQRT_2;
        let dot = |a: [f64; 3], b: [f64; 3]| (a[0] * b[0] + a[1] * b[1] + a[2] * b[2]).abs();
        assert!(close(dot(e.vectors[0], [h, -h, 0.0]), 1.0, 1e-12));
        assert!(close(dot(e.vectors[1], [h, h, 0.0]), 1.0, 1e-12));
        assert!(close(dot(e.vectors[2], [0.0, 0.0, 1.0]), 1.0, 1e-12));
    }

    #[test]
    fn eigen_reconstructs_random_matrices() {
        // A small deterministic generator: A = V Λ Vᵀ must hold and agree with the closed form.
        let mut s = 12345u64;
        let mut r = || {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((s >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0
        };
        for _ in 0..200 {
            let m = Sym3 {
                xx: r(),
                yy: r(),
                zz: r(),
                xy: r(),
                xz: r(),
                yz: r(),
            };
            let e = eigen(&m);
            let a = m.to_matrix();
            for n in 0..3 {
                let v = e.vectors[n];
                for row in 0..3 {
                    let av: f64 = (0..3).map(|c| a[row][c] * v[c]).sum();
                    assert!(close(av, e.values[n] * v[row], 1e-9), "{m:?}");
                }
            }
            let l = eigenvalues(&m);
            for n in 0..3 {
                assert!(close(l[n], e.values[n], 1e-9), "{l:?} vs {:?}", e.values);
            }
            assert!(l[0].abs() <= l[1].abs() && l[1].abs() <= l[2].abs());
        }
    }

    /// A volume of anisotropic voxels (0.8 × 0.8 × 1.6 mm) with `f(x, y, z)` (mm from the
    /// centre) sampled at each voxel.
    fn phantom(f: impl Fn(f64, f64, f64) -> f64) -> (Volume<f32>, [usize; 3]) {
        let dims = [61, 61, 31];
        let g = Geometry::new([0.8, 0.8, 1.6], [0.0; 3]);
        let mut v = Volume::<f32>::zeros(dims, g);
        for (n, x) in v.data.iter_mut().enumerate() {
            let (i, j, k) = (n % 61, (n / 61) % 61, n / (61 * 61));
            *x = f(
                (i as f64 - 30.0) * 0.8,
                (j as f64 - 30.0) * 0.8,
                (k as f64 - 15.0) * 1.6,
            ) as f32;
        }
        (v, [30, 30, 15])
    }

    fn full(v: &Volume<f32>) -> BoundingBox {
        BoundingBox::full(v.dims)
    }

    #[test]
    fn tube_plate_and_blob_give_their_eigenvalue_signs() {
        // A bright tube along z (radius 2 mm, Gaussian profile), a bright plate (the y–z
        // plane), a bright blob: Frangi et al. 1998, table 1.
        let r2 = 2.0f64 * 2.0;
        let (tube, c) = phantom(|x, y, _| 100.0 * (-(x * x + y * y) / (2.0 * r2)).exp());
        let (plate, _) = phantom(|x, _, _| 100.0 * (-(x * x) / (2.0 * r2)).exp());
        let (blob, _) = phantom(|x, y, z| 100.0 * (-(x * x + y * y + z * z) / (2.0 * r2)).exp());
        let h = |v: &Volume<f32>| {
            let s = ScaleSpace::new(v, &full(v), 2.0).unwrap();
            eigen(&s.normalised_hessian(c))
        };
        let t = h(&tube);
        assert!(t.values[0].abs() < 0.05 * t.values[2].abs(), "{t:?}");
        assert!(t.values[1] < 0.0 && t.values[2] < 0.0, "{t:?}");
        assert!(close(t.values[1] / t.values[2], 1.0, 0.05), "{t:?}");
        // λ1's eigenvector is the tube's axis (z).
        assert!(t.vectors[0][2].abs() > 0.99, "{t:?}");
        let p = h(&plate);
        assert!(p.values[1].abs() < 0.05 * p.values[2].abs(), "{p:?}");
        assert!(p.values[2] < 0.0, "{p:?}");
        // λ3's eigenvector is the plate's normal (x).
        assert!(p.vectors[2][0].abs() > 0.99, "{p:?}");
        let b = h(&blob);
        assert!(b.values.iter().all(|&l| l < 0.0), "{b:?}");
        assert!(close(b.values[0] / b.values[2], 1.0, 0.1), "{b:?}");
    }

    #[test]
    fn the_normalised_response_peaks_at_the_matching_scale() {
        // For a Gaussian tube of width s the normalised |λ3| at its axis,
        // σ²·A·s²/(s² + σ²)², is largest at σ = s (here 2 mm); anisotropic voxels must not
        // move the peak.
        let (tube, c) = phantom(|x, _, z| 100.0 * (-(x * x + z * z) / 8.0).exp());
        let response: Vec<(f64, f64)> = [0.8, 1.2, 1.6, 2.0, 2.5, 3.2, 4.0]
            .iter()
            .map(|&s| {
                let ss = ScaleSpace::new(&tube, &full(&tube), s).unwrap();
                (s, eigenvalues(&ss.normalised_hessian(c))[2].abs())
            })
            .collect();
        let best = response
            .iter()
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .unwrap()
            .0;
        assert!((1.6..=2.5).contains(&best), "{response:?}");
        // At σ = s the response is A/4 = 25 (to the discretisation).
        let at2 = response.iter().find(|r| r.0 == 2.0).unwrap().1;
        assert!(close(at2, 25.0, 2.5), "{response:?}");
    }

    #[test]
    fn a_roi_gives_the_same_hessian_as_the_whole_volume() {
        let (tube, c) = phantom(|x, y, _| 100.0 * (-(x * x + y * y) / 8.0).exp());
        let whole = ScaleSpace::new(&tube, &full(&tube), 1.5).unwrap();
        let roi = BoundingBox {
            start: [25, 25, 12],
            end: [36, 36, 19],
        };
        let part = ScaleSpace::new(&tube, &roi, 1.5).unwrap();
        let a = whole.hessian(c);
        let b = part.hessian(c);
        assert!(
            close(a.xx, b.xx, 1e-3) && close(a.yy, b.yy, 1e-3),
            "{a:?} {b:?}"
        );
        // On the tube's axis the gradient vanishes; beside it, it points inward (−x at +x).
        assert!(part.gradient(c).iter().all(|g| g.abs() < 1e-3));
        assert!(part.gradient([c[0] + 2, c[1], c[2]])[0] < -1.0);
        let all = part.map_roi(|_, h| h.xx);
        assert_eq!(all.len(), 11 * 11 * 7);
        let at = (c[0] - 25) + 11 * ((c[1] - 25) + 11 * (c[2] - 12));
        assert!(close(all[at], b.xx * 1.5 * 1.5, 1e-9));
    }

    #[test]
    fn bad_scales_and_regions_are_refused() {
        let (v, _) = phantom(|_, _, _| 0.0);
        assert!(ScaleSpace::new(&v, &full(&v), 0.0).is_err());
        assert!(ScaleSpace::new(&v, &full(&v), f64::NAN).is_err());
        let outside = BoundingBox {
            start: [0, 0, 0],
            end: [62, 10, 10],
        };
        assert!(ScaleSpace::new(&v, &outside, 1.0).is_err());
        let empty = BoundingBox {
            start: [5, 5, 5],
            end: [5, 10, 10],
        };
        assert!(ScaleSpace::new(&v, &empty, 1.0).is_err());
    }
}
