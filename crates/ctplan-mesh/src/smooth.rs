//! Taubin λ|μ smoothing (G. Taubin, "A signal processing approach to fair surface design",
//! SIGGRAPH 1995): alternate a shrinking Laplacian step (λ > 0) and an inflating one
//! (μ < −λ), a low-pass filter that removes the voxel staircase without the shrinkage of plain
//! Laplacian smoothing. Umbrella operator with equal weights; connectivity is unchanged.

use rayon::prelude::*;

use crate::TriMesh;

/// λ and μ: pass-band k_PB = 1/λ + 1/μ ≈ 0.11.
pub const LAMBDA: f64 = 0.5;
pub const MU: f64 = -0.53;

/// Neighbour lists in compressed form.
fn neighbours(mesh: &TriMesh) -> (Vec<usize>, Vec<u32>) {
    let nv = mesh.vertices.len();
    let mut pairs: Vec<(u32, u32)> = Vec::with_capacity(mesh.triangles.len() * 6);
    for t in &mesh.triangles {
        for e in 0..3 {
            let (a, b) = (t[e], t[(e + 1) % 3]);
            pairs.push((a, b));
            pairs.push((b, a));
        }
    }
    pairs.par_sort_unstable();
    pairs.dedup();
    let mut start = vec![0usize; nv + 1];
    for &(a, _) in &pairs {
        start[a as usize + 1] += 1;
    }
    for i in 0..nv {
        start[i + 1] += start[i];
    }
    (start, pairs.into_iter().map(|(_, b)| b).collect())
}

/// Smooth in place with `iterations` λ|μ pairs.
pub fn taubin(mesh: &mut TriMesh, iterations: usize) {
    if iterations == 0 || mesh.triangles.is_empty() {
        return;
    }
    let (start, adj) = neighbours(mesh);
    let mut next = mesh.vertices.clone();
    for _ in 0..iterations {
        for factor in [LAMBDA, MU] {
            let cur = &mesh.vertices;
            next.par_iter_mut().enumerate().for_each(|(v, out)| {
                let nb = &adj[start[v]..start[v + 1]];
                if nb.is_empty() {
                    *out = cur[v];
                    return;
                }
                let mut avg = [0.0; 3];
                for &n in nb {
                    for a in 0..3 {
                        avg[a] += cur[n as usize][a];
                    }
                }
                for a in 0..3 {
                    out[a] = cur[v][a] + factor * (avg[a] / nb.len() as f64 - cur[v][a]);
                }
            });
            std::mem::swap(&mut mesh.vertices, &mut next);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::extract::mask_surface;
    use ctplan_core::{Geometry, Mask};

    #[test]
    fn smoothing_a_voxel_ball_keeps_its_volume_and_rounds_it() {
        let n = 40;
        let mut m = Mask::zeros([n, n, n], Geometry::default());
        let c = (n as f64 - 1.0) / 2.0;
        for k in 0..n {
            for j in 0..n {
                for i in 0..n {
                    let d2 =
                        (i as f64 - c).powi(2) + (j as f64 - c).powi(2) + (k as f64 - c).powi(2);
                    let idx = m.index(i, j, k);
                    m.data[idx] = (d2 <= 15.0 * 15.0) as u8;
                }
            }
        }
        let mut mesh = mask_surface(&m);
        let v0 = mesh.signed_volume();
        let spread = |mesh: &TriMesh| {
            let r: Vec<f64> = mesh
                .vertices
                .iter()
                .map(|p| ((p[0] - c).powi(2) + (p[1] - c).powi(2) + (p[2] - c).powi(2)).sqrt())
                .collect();
            let mean = r.iter().sum::<f64>() / r.len() as f64;
            (r.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / r.len() as f64).sqrt()
        };
        let s0 = spread(&mesh);
        taubin(&mut mesh, 20);
        assert!(
            (mesh.signed_volume() - v0).abs() / v0 < 0.01,
            "{} vs {v0}",
            mesh.signed_volume()
        );
        assert!(
            spread(&mesh) < 0.75 * s0,
            "rounder: {} vs {s0}",
            spread(&mesh)
        );
    }
}
