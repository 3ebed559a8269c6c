//! Geometric implant design: complete the cranial vault across the defect, then subtract.
//!
//! The vault seen from its centre is a shell: along each direction the bone lies between an
//! inner radius (inner table) and an outer radius (outer table). Directions are mapped by the
//! azimuthal equidistant projection around the superior pole, `(u, v) = θ · (cos φ, sin φ)`
//! (θ the angle from superior), a disk without the pole singularity of a (θ, φ) grid. On this
//! map the defect is an enclosed region of bins without bone. The inner and outer radius fields
//! are filled across it by a quadratic trend fitted to the intact bone around it plus the
//! harmonic interpolation of the trend's residual (the Laplace equation with the rim as boundary
//! condition, solved by Gauss–Seidel relaxation): the fill meets the rim continuously and, unlike
//! harmonic interpolation alone, can bulge above the rim as the vault does — the classical
//! surface-interpolation approach to cranial implant design. The implant is every
//! voxel in and around the defect whose radius lies between the filled fields and that the
//! defective skull does not contain.

use ctplan_core::label::Connectivity;
use ctplan_core::{Geometry, Mask};
use rayon::prelude::*;

/// Options of the design.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DesignOptions {
    /// Smallest bin size of the map, degrees; coarser voxels get coarser bins (each bin spans
    /// at least 1.2 voxels at the median bone radius, so intact bone leaves no empty bin).
    pub bin_deg: f64,
    /// Margin around the defect that is rebuilt from intact bone, degrees.
    pub rim_deg: f64,
    /// The vault: directions up to this angle from superior, degrees.
    pub max_polar_deg: f64,
}

impl Default for DesignOptions {
    fn default() -> Self {
        DesignOptions {
            bin_deg: 0.5,
            rim_deg: 3.0,
            max_polar_deg: 105.0,
        }
    }
}

/// Why no implant was designed.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum DesignError {
    #[error("the mask is empty")]
    Empty,
    #[error("no defect found in the cranial vault (no enclosed region without bone)")]
    NoDefect,
}

/// A designed implant.
#[derive(Debug, Clone)]
pub struct Design {
    pub implant: Mask,
    /// Centre of the map (LPS mm).
    pub centre: [f64; 3],
    /// Defect bins on the map.
    pub defect_bins: usize,
}

struct Map {
    n: usize,
    half: f64,
    bin: f64,
    max_polar: f64,
}

impl Map {
    /// Bin of a direction vector (None outside the vault disk).
    fn bin_of(&self, d: [f64; 3]) -> Option<(usize, f64, f64)> {
        let r = (d[0] * d[0] + d[1] * d[1] + d[2] * d[2]).sqrt();
        if r == 0.0 {
            return None;
        }
        let theta = (d[2] / r).clamp(-1.0, 1.0).acos();
        if theta > self.max_polar {
            return None;
        }
        let rho = (d[0] * d[0] + d[1] * d[1]).sqrt();
        let (c, s) = if rho > 0.0 {
            (d[0] / rho, d[1] / rho)
        } else {
            (1.0, 0.0)
        };
        let u = theta * c / self.bin + self.half;
        let v = theta * s / self.bin + self.half;
        let (iu, iv) = (u.floor() as usize, v.floor() as usize);
        (iu < self.n && iv < self.n).then_some((iu + self.n * iv, u, v))
    }

    /// Is bin (iu, iv) inside the disk, and how far from its edge (in bins)?
    fn disk_margin(&self, iu: usize, iv: usize) -> f64 {
        let (u, v) = (iu as f64 + 0.5 - self.half, iv as f64 + 0.5 - self.half);
        self.max_polar / self.bin - (u * u + v * v).sqrt()
    }
}

/// Design an implant for a defective skull.
pub fn design(defective: &Mask, o: &DesignOptions) -> Result<Design, DesignError> {
    let g: Geometry = defective.geometry;
    let [nx, ny, _] = defective.dims;
    let idx: Vec<usize> = defective
        .data
        .iter()
        .enumerate()
        .filter(|(_, v)| **v != 0)
        .map(|(i, _)| i)
        .collect();
    if idx.is_empty() {
        return Err(DesignError::Empty);
    }
    let world = |i: usize| {
        g.index_to_world([
            (i % nx) as f64,
            ((i / nx) % ny) as f64,
            (i / (nx * ny)) as f64,
        ])
    };
    // Centre: horizontal centroid of the upper half of the bone, at its median height.
    let mut zs: Vec<f64> = idx.iter().map(|&i| world(i)[2]).collect();
    let mid = zs.len() / 2;
    let (_, &mut zmed, _) = zs.select_nth_unstable_by(mid, |a, b| a.total_cmp(b));
    let upper: Vec<[f64; 3]> = idx
        .iter()
        .map(|&i| world(i))
        .filter(|p| p[2] >= zmed)
        .collect();
    let n_up = upper.len() as f64;
    let centre = [
        upper.iter().map(|p| p[0]).sum::<f64>() / n_up,
        upper.iter().map(|p| p[1]).sum::<f64>() / n_up,
        zmed,
    ];

    let mut radii: Vec<f64> = upper
        .iter()
        .map(|p| {
            ((p[0] - centre[0]).powi(2) + (p[1] - centre[1]).powi(2) + (p[2] - centre[2]).powi(2))
                .sqrt()
        })
        .collect();
    let rmid = radii.len() / 2;
    let (_, &mut r_med, _) = radii.select_nth_unstable_by(rmid, |a, b| a.total_cmp(b));
    let max_spacing = g.spacing.iter().copied().fold(0.0f64, f64::max);
    let bin = o
        .bin_deg
        .to_radians()
        .max(1.2 * max_spacing / r_med.max(1.0));
    let max_polar = o.max_polar_deg.to_radians();
    let n = (2.0 * max_polar / bin).ceil() as usize + 2;
    let map = Map {
        n,
        half: n as f64 / 2.0,
        bin,
        max_polar,
    };
    // Inner and outer radius per bin.
    let mut r_in = vec![f64::INFINITY; n * n];
    let mut r_out = vec![f64::NEG_INFINITY; n * n];
    for &i in &idx {
        let p = world(i);
        let d = [p[0] - centre[0], p[1] - centre[1], p[2] - centre[2]];
        if let Some((b, _, _)) = map.bin_of(d) {
            let r = (d[0] * d[0] + d[1] * d[1] + d[2] * d[2]).sqrt();
            r_in[b] = r_in[b].min(r);
            r_out[b] = r_out[b].max(r);
        }
    }
    // Empty bins inside the disk; the defect is made of the empty regions that do not reach the
    // disk's edge (an open edge is where the scan or the skull ends, not a defect).
    let empty: Vec<bool> = (0..n * n)
        .map(|b| r_out[b] == f64::NEG_INFINITY && map.disk_margin(b % n, b / n) > 0.0)
        .collect();
    let mut label = vec![0u32; n * n];
    let mut defect = vec![false; n * n];
    let mut next = 0u32;
    for start in 0..n * n {
        if !empty[start] || label[start] != 0 {
            continue;
        }
        next += 1;
        let mut stack = vec![start];
        let mut members = Vec::new();
        let mut open = false;
        label[start] = next;
        while let Some(b) = stack.pop() {
            members.push(b);
            let (iu, iv) = (b % n, b / n);
            if map.disk_margin(iu, iv) < 3.0 {
                open = true;
            }
            for (du, dv) in [(-1i64, 0i64), (1, 0), (0, -1), (0, 1)] {
                let (u, v) = (iu as i64 + du, iv as i64 + dv);
                if u < 0 || v < 0 || u >= n as i64 || v >= n as i64 {
                    open = true;
                    continue;
                }
                let nb = u as usize + n * v as usize;
                if empty[nb] && label[nb] == 0 {
                    label[nb] = next;
                    stack.push(nb);
                }
            }
        }
        // Tiny gaps (a few bins) are sampling holes, not defects.
        if !open && members.len() > 20 {
            for b in members {
                defect[b] = true;
            }
        }
    }
    let defect_bins = defect.iter().filter(|&&d| d).count();
    if defect_bins == 0 {
        return Err(DesignError::NoDefect);
    }
    // Region to rebuild: the defect grown by a few bins. Bins at the rim hold bone cut at an
    // angle, whose radii understate the thickness, so they are rebuilt too, from intact bone.
    let grow = (o.rim_deg.to_radians() / bin).round().max(1.0) as usize;
    let mut region = defect.clone();
    for _ in 0..grow {
        let prev = region.clone();
        for b in 0..n * n {
            if !prev[b]
                && [b.wrapping_sub(1), b + 1, b.wrapping_sub(n), b + n]
                    .iter()
                    .any(|&nb| nb < n * n && prev[nb])
            {
                region[b] = true;
            }
        }
    }
    // Fill both radius fields over the region: a quadratic trend fitted to the intact bone
    // around it (harmonic interpolation alone obeys the maximum principle and cannot rise above
    // the rim, but the vault bulges inside a defect), plus the harmonic interpolation of the
    // trend's residual on the rim (Gauss–Seidel).
    let known_bins: Vec<bool> = r_out.iter().map(|&r| r > f64::NEG_INFINITY).collect();
    let known = |b: usize| known_bins[b];
    // Fitting ring: intact bins within a few degrees outside the region.
    let mut ring = region.clone();
    for _ in 0..grow.max(4) {
        let prev = ring.clone();
        for b in 0..n * n {
            if !prev[b] && defect_neighbour(&prev, n, b) {
                ring[b] = true;
            }
        }
    }
    let fit: Vec<usize> = (0..n * n)
        .filter(|&b| ring[b] && !region[b] && known(b))
        .collect();
    let fill = |field: &mut Vec<f64>| {
        let trend = quadratic_fit(&fit, n, field);
        let q = |b: usize| trend.map_or(0.0, |c| quadratic_at(&c, b, n));
        let mut res: Vec<f64> = (0..n * n)
            .map(|b| if known(b) { field[b] - q(b) } else { 0.0 })
            .collect();
        let rim: Vec<f64> = (0..n * n)
            .filter(|&b| known(b) && !region[b] && defect_neighbour(&region, n, b))
            .map(|b| res[b])
            .collect();
        let mean = rim.iter().sum::<f64>() / rim.len().max(1) as f64;
        let unknown: Vec<usize> = (0..n * n).filter(|&b| region[b]).collect();
        for &b in &unknown {
            res[b] = mean;
        }
        for _ in 0..4000 {
            let mut change = 0.0f64;
            for &b in &unknown {
                let (iu, iv) = (b % n, b / n);
                let mut s = 0.0;
                let mut k = 0.0;
                for nb in [b.wrapping_sub(1), b + 1, b.wrapping_sub(n), b + n] {
                    if nb < n * n
                        && (region[nb] || known(nb))
                        && (nb % n).abs_diff(iu) + (nb / n).abs_diff(iv) == 1
                    {
                        s += res[nb];
                        k += 1.0;
                    }
                }
                if k > 0.0 {
                    let v = s / k;
                    change = change.max((v - res[b]).abs());
                    res[b] = v;
                }
            }
            if change < 1e-4 {
                break;
            }
        }
        for &b in &unknown {
            field[b] = q(b) + res[b];
        }
    };
    fill(&mut r_in);
    fill(&mut r_out);
    // Voxels: scan the bounding box of the region's shell in index space.
    let mut lo = [f64::INFINITY; 3];
    let mut hi = [f64::NEG_INFINITY; 3];
    for b in (0..n * n).filter(|&b| region[b] && (defect[b] || known_bins[b])) {
        let (u, v) = (
            (b % n) as f64 + 0.5 - map.half,
            (b / n) as f64 + 0.5 - map.half,
        );
        let theta = (u * u + v * v).sqrt() * bin;
        let phi = v.atan2(u);
        let dir = [
            theta.sin() * phi.cos(),
            theta.sin() * phi.sin(),
            theta.cos(),
        ];
        for r in [r_in[b] - 3.0, r_out[b] + 3.0] {
            let p = [
                centre[0] + r * dir[0],
                centre[1] + r * dir[1],
                centre[2] + r * dir[2],
            ];
            if let Some(q) = g.world_to_index(p) {
                for a in 0..3 {
                    lo[a] = lo[a].min(q[a]);
                    hi[a] = hi[a].max(q[a]);
                }
            }
        }
    }
    let dims = defective.dims;
    let start: Vec<usize> = (0..3).map(|a| lo[a].floor().max(0.0) as usize).collect();
    let end: Vec<usize> = (0..3)
        .map(|a| ((hi[a].ceil() + 1.0).max(0.0) as usize).min(dims[a]))
        .collect();
    let mut implant = defective.map(|_| 0u8);
    let rows: Vec<(usize, usize)> = (start[2]..end[2])
        .flat_map(|k| (start[1]..end[1]).map(move |j| (j, k)))
        .collect();
    let hits: Vec<Vec<usize>> = rows
        .par_iter()
        .map(|&(j, k)| {
            let mut out = Vec::new();
            for i in start[0]..end[0] {
                let id = i + nx * (j + ny * k);
                if defective.data[id] != 0 {
                    continue;
                }
                let p = g.index_to_world([i as f64, j as f64, k as f64]);
                let d = [p[0] - centre[0], p[1] - centre[1], p[2] - centre[2]];
                let Some((b, _, _)) = map.bin_of(d) else {
                    continue;
                };
                if !region[b] || !(defect[b] || known_bins[b]) {
                    continue;
                }
                let r = (d[0] * d[0] + d[1] * d[1] + d[2] * d[2]).sqrt();
                if r >= r_in[b] && r <= r_out[b] {
                    out.push(id);
                }
            }
            out
        })
        .collect();
    for id in hits.into_iter().flatten() {
        implant.data[id] = 1;
    }
    // Keep the pieces that fill the defect: the largest component per defect region is the
    // implant; small slivers along the rim go.
    let implant = keep_large_components(&implant);
    Ok(Design {
        implant,
        centre,
        defect_bins,
    })
}

/// Least-squares quadratic r = c0 + c1·u + c2·v + c3·u² + c4·u·v + c5·v² over bins `at`
/// (u, v in bins); `None` if the normal equations are singular.
fn quadratic_fit(at: &[usize], n: usize, field: &[f64]) -> Option<[f64; 6]> {
    let mut ata = [[0.0f64; 6]; 6];
    let mut atb = [0.0f64; 6];
    for &b in at {
        let x = basis(b, n);
        for i in 0..6 {
            atb[i] += x[i] * field[b];
            for j in 0..6 {
                ata[i][j] += x[i] * x[j];
            }
        }
    }
    // Gaussian elimination with partial pivoting.
    let mut m = ata;
    let mut y = atb;
    for c in 0..6 {
        let p = (c..6).max_by(|&a, &b| m[a][c].abs().total_cmp(&m[b][c].abs()))?;
        if m[p][c].abs() < 1e-9 {
            return None;
        }
        m.swap(c, p);
        y.swap(c, p);
        for r in c + 1..6 {
            let f = m[r][c] / m[c][c];
            for k in c..6 {
                m[r][k] -= f * m[c][k];
            }
            y[r] -= f * y[c];
        }
    }
    let mut x = [0.0; 6];
    for c in (0..6).rev() {
        x[c] = (y[c] - (c + 1..6).map(|k| m[c][k] * x[k]).sum::<f64>()) / m[c][c];
    }
    Some(x)
}

/// Quadratic basis at bin `b`, coordinates scaled to about ±1 over the map.
fn basis(b: usize, n: usize) -> [f64; 6] {
    let (u, v) = (
        (b % n) as f64 / n as f64 - 0.5,
        (b / n) as f64 / n as f64 - 0.5,
    );
    [1.0, u, v, u * u, u * v, v * v]
}

fn quadratic_at(c: &[f64; 6], b: usize, n: usize) -> f64 {
    basis(b, n).iter().zip(c).map(|(x, k)| x * k).sum()
}

fn defect_neighbour(defect: &[bool], n: usize, b: usize) -> bool {
    [b.wrapping_sub(1), b + 1, b.wrapping_sub(n), b + n]
        .iter()
        .any(|&nb| nb < n * n && defect[nb])
}

/// Components holding at least 10 % of the largest one's voxels.
fn keep_large_components(m: &Mask) -> Mask {
    let c = ctplan_core::label::label(m, Connectivity::TwentySix);
    let Some(big) = c.largest() else {
        return m.clone();
    };
    let min = c.sizes[big as usize] / 10;
    let keep: Vec<bool> = c
        .sizes
        .iter()
        .enumerate()
        .map(|(l, &s)| l > 0 && s >= min)
        .collect();
    Mask {
        data: c
            .labels
            .data
            .iter()
            .map(|&l| keep[l as usize] as u8)
            .collect(),
        ..m.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::phantom::{PhantomSpec, skull};

    #[test]
    fn fills_the_phantom_defect_and_refuses_an_intact_skull() {
        let p = skull(&PhantomSpec::default());
        let d = design(&p.defective, &DesignOptions::default()).unwrap();
        let (a, b) = (d.implant.count_nonzero(), p.implant.count_nonzero());
        let both = d
            .implant
            .data
            .iter()
            .zip(&p.implant.data)
            .filter(|(x, y)| **x != 0 && **y != 0)
            .count();
        let dsc = 2.0 * both as f64 / (a + b) as f64;
        // Measured 0.881 with the default options; a floor against regressions.
        assert!(dsc > 0.8, "DSC {dsc}");
        assert!(
            d.implant
                .data
                .iter()
                .zip(&p.defective.data)
                .all(|(i, s)| i & s == 0),
            "disjoint from the skull"
        );
        assert_eq!(
            design(&p.complete, &DesignOptions::default()).unwrap_err(),
            DesignError::NoDefect
        );
    }
}
