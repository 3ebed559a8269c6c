//! Stage 3, fill (docs/cranio.md, method step 4): each defect's region filled on copies of the
//! shell's fields: the trend blended into the rim, the rim's residual carried across.

use ctplan_core::linalg::solve;

use crate::design::options::DesignOptions;
use crate::design::plan::DefectPlan;
use crate::design::report::DefectReport;
use crate::shape::ShapePrior;
use crate::shape::fit::prior_trend;
use crate::vault::regions::{defect_neighbour, grown};
use crate::vault::shell::Shell;

/// What a reference design ([`crate::design::design_against`]) takes from the complete skull.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reference {
    /// The complete skull's own inner and outer radius over the rebuilt region: the best the
    /// two-radii map can hold.
    Map,
    /// The shape model fitted to the complete skull over the ring and the rebuilt region, then
    /// blended into the rim as usual: the best the prior's shapes can hold.
    ShapeModel,
}

/// The defective skull's fields with every planned defect filled: the rebuilt bins of each
/// region follow its trend, blended into the rim ([`fill`]), or with a reference the complete
/// skull as [`Reference`] says.
pub(crate) struct Filled {
    pub r_in: Vec<f64>,
    pub r_out: Vec<f64>,
    /// Bins rebuilt (all defects).
    pub region: Vec<bool>,
    pub templates: Vec<String>,
    pub reports: Vec<DefectReport>,
}

/// The fill stage of the design: each planned defect's region filled on copies of the shell's
/// fields.
pub(crate) fn fill_plans(
    s: &Shell,
    known_bins: &[bool],
    plans: &[DefectPlan],
    prior: Option<&ShapePrior>,
    reference: Option<&(Shell, Reference)>,
    o: &DesignOptions,
) -> Filled {
    let map = &s.map;
    let n = map.n;
    let mut r_in = s.r_in.clone();
    let mut r_out = s.r_out.clone();
    let mut region = vec![false; n * n];
    let mut templates = Vec::new();
    let mut reports = Vec::new();
    let thin = o.thin_plate.map(|t| {
        (
            (t.band_deg.to_radians() / map.bin).round().max(1.0) as usize,
            t.smoothing,
        )
    });
    for pl in plans {
        reports.push(pl.report.clone());
        let (unknown, matching) = (&pl.unknown, &pl.matching);
        if let Some(t) = &pl.trends {
            templates.extend(t.names.iter().cloned());
        }
        // The shape model refitted to the answer, with a `Reference::ShapeModel`.
        let mut refit = None;
        match reference {
            None => {}
            Some((c, Reference::Map)) => {
                for &b in unknown.iter().filter(|&&b| c.known(b)) {
                    r_in[b] = c.r_in[b];
                    r_out[b] = c.r_out[b];
                }
            }
            Some((c, Reference::ShapeModel)) => {
                let (mut ci, mut co) = (r_in.clone(), r_out.clone());
                for &b in unknown.iter().filter(|&&b| c.known(b)) {
                    ci[b] = c.r_in[b];
                    co[b] = c.r_out[b];
                }
                let fit: Vec<usize> = (matching.iter().copied())
                    .chain(unknown.iter().copied().filter(|&b| c.known(b)))
                    .collect();
                refit = prior
                    .and_then(|p| prior_trend(p, map, &fit, unknown, [&ci, &co], pl.ridge, None))
                    .map(|t| t.fields);
            }
        }
        if !matches!(reference, Some((_, Reference::Map))) {
            let trend = refit.as_ref().or(pl.trends.as_ref().map(|t| &t.fields));
            let [t_in, t_out] = trend.map_or([None, None], |[a, b]| [Some(&a[..]), Some(&b[..])]);
            for (field, trend) in [(&mut r_in, t_in), (&mut r_out, t_out)] {
                fill(
                    field,
                    trend,
                    &pl.blending,
                    unknown,
                    &pl.region,
                    known_bins,
                    n,
                    thin,
                );
            }
        }
        for &b in unknown {
            region[b] = true;
        }
    }
    Filled {
        r_in,
        r_out,
        region,
        templates,
        reports,
    }
}

/// Fill `field` over the `unknown` bins: the trend (from the prior, or zero) plus a quadratic
/// fitted on the `fit` ring to what the trend leaves, plus the residual the intact bone leaves
/// around the region carried across it. With `thin = Some((band, smoothing))` that is a
/// smoothing thin-plate spline through the residual on the `band` bins of intact bone next to
/// the region ([`thin_plate`]): it continues the residual's slope and curvature into the
/// defect. Otherwise (or if the spline's system is singular) the harmonic interpolation (the
/// Laplace equation with the rim as boundary condition, Gauss–Seidel) of the residual on the
/// rim, which meets the rim continuously but is flat inside.
#[allow(clippy::too_many_arguments)]
pub(crate) fn fill(
    field: &mut [f64],
    trend: Option<&[f64]>,
    fit: &[usize],
    unknown: &[usize],
    region: &[bool],
    known: &[bool],
    n: usize,
    thin: Option<(usize, f64)>,
) {
    let t = |b: usize| trend.map_or(0.0, |t| t[b]);
    let detrended: Vec<f64> = (0..n * n)
        .map(|b| if known[b] { field[b] - t(b) } else { 0.0 })
        .collect();
    let q = quadratic_fit(fit, n, &detrended);
    let base = |b: usize| t(b) + q.map_or(0.0, |c| quadratic_at(&c, b, n));
    let spline = thin.and_then(|(width, smoothing)| {
        let band = grown(region, n, width);
        let all: Vec<usize> = (0..n * n)
            .filter(|&b| band[b] && !region[b] && known[b])
            .collect();
        // At most `MAX_SPLINE_POINTS`: every k-th band bin in the map's row order (the dense
        // solve is cubic in their number).
        let step = all.len().div_ceil(MAX_SPLINE_POINTS).max(1);
        let pts: Vec<usize> = all.into_iter().step_by(step).collect();
        let vals: Vec<f64> = pts.iter().map(|&b| field[b] - base(b)).collect();
        thin_plate(&pts, &vals, n, smoothing)
    });
    let res = match spline {
        Some(f) => unknown.iter().map(|&b| f(b)).collect(),
        None => harmonic_residual(field, &base, unknown, region, known, n),
    };
    for (&b, r) in unknown.iter().zip(res) {
        field[b] = base(b) + r;
    }
}

/// Most band bins a thin-plate spline of [`fill`] passes near.
pub(crate) const MAX_SPLINE_POINTS: usize = 700;

/// The harmonic interpolation over the `unknown` bins of what the rim's bins leave of `base`,
/// in the order of `unknown`.
pub(crate) fn harmonic_residual(
    field: &[f64],
    base: &dyn Fn(usize) -> f64,
    unknown: &[usize],
    region: &[bool],
    known: &[bool],
    n: usize,
) -> Vec<f64> {
    let is_rim = |b: usize| known[b] && !region[b] && defect_neighbour(region, n, b);
    let mut res: Vec<f64> = (0..n * n)
        .map(|b| if is_rim(b) { field[b] - base(b) } else { 0.0 })
        .collect();
    let rim: Vec<f64> = (0..n * n).filter(|&b| is_rim(b)).map(|b| res[b]).collect();
    let mean = rim.iter().sum::<f64>() / rim.len().max(1) as f64;
    for &b in unknown {
        res[b] = mean;
    }
    for _ in 0..4000 {
        let mut change = 0.0f64;
        for &b in unknown {
            let (iu, iv) = (b % n, b / n);
            let mut s = 0.0;
            let mut k = 0.0;
            for nb in [b.wrapping_sub(1), b + 1, b.wrapping_sub(n), b + n] {
                if nb < n * n
                    && (region[nb] || known[nb])
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
    unknown.iter().map(|&b| res[b]).collect()
}

/// The smoothing thin-plate spline through `vals` at bins `pts` (coordinates in bins of the
/// map): `f(x) = a₀ + a₁u + a₂v + Σ wᵢ φ(|x − xᵢ|)`, φ(r) = r² log r, the function of least
/// bending energy that follows the values to within the `smoothing` (Duchon, "Splines
/// minimizing rotation-invariant semi-norms in Sobolev spaces", 1977; Wahba, "Spline models for
/// observational data", 1990: `(K + λI) w + P a = y`, `Pᵀ w = 0`). `None` with fewer than four
/// points or a singular system.
pub(crate) fn thin_plate(
    pts: &[usize],
    vals: &[f64],
    n: usize,
    smoothing: f64,
) -> Option<impl Fn(usize) -> f64 + use<>> {
    let k = pts.len();
    if k < 4 {
        return None;
    }
    let uv = move |b: usize| ((b % n) as f64, (b / n) as f64);
    // φ as a function of the squared distance: r² log r = ½ r² log r².
    let phi = |d2: f64| if d2 > 0.0 { 0.5 * d2 * d2.ln() } else { 0.0 };
    let centres: Vec<(f64, f64)> = pts.iter().map(|&b| uv(b)).collect();
    let m = k + 3;
    let mut a = vec![0.0; m * m];
    let mut y = vec![0.0; m];
    for (i, &(ui, vi)) in centres.iter().enumerate() {
        for (j, &(uj, vj)) in centres.iter().enumerate() {
            a[i * m + j] = phi((ui - uj).powi(2) + (vi - vj).powi(2));
        }
        a[i * m + i] += smoothing;
        for (c, p) in [1.0, ui, vi].into_iter().enumerate() {
            a[i * m + k + c] = p;
            a[(k + c) * m + i] = p;
        }
        y[i] = vals[i];
    }
    let w = solve(a, y, m, 1e-12)?;
    Some(move |b: usize| {
        let (u, v) = uv(b);
        let affine = w[k] + w[k + 1] * u + w[k + 2] * v;
        affine
            + (centres.iter().zip(&w))
                .map(|(&(cu, cv), wi)| wi * phi((u - cu).powi(2) + (v - cv).powi(2)))
                .sum::<f64>()
    })
}

/// Least-squares quadratic r = c0 + c1·u + c2·v + c3·u² + c4·u·v + c5·v² over bins `at`
/// (u, v in bins); `None` if the normal equations are singular.
pub(crate) fn quadratic_fit(at: &[usize], n: usize, field: &[f64]) -> Option<[f64; 6]> {
    let k = 6;
    let mut m = vec![0.0f64; k * k];
    let mut y = vec![0.0f64; k];
    for &b in at {
        let x = basis(b, n);
        for i in 0..k {
            y[i] += x[i] * field[b];
            for j in 0..k {
                m[i * k + j] += x[i] * x[j];
            }
        }
    }
    solve(m, y, k, 1e-9)?.try_into().ok()
}

/// Quadratic basis at bin `b`, coordinates scaled to about ±1 over the map.
pub(crate) fn basis(b: usize, n: usize) -> [f64; 6] {
    let (u, v) = (
        (b % n) as f64 / n as f64 - 0.5,
        (b / n) as f64 / n as f64 - 0.5,
    );
    [1.0, u, v, u * u, u * v, v * v]
}

pub(crate) fn quadratic_at(c: &[f64; 6], b: usize, n: usize) -> f64 {
    basis(b, n).iter().zip(c).map(|(x, k)| x * k).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A disk of unknown bins in a 64 × 64 map, with every other bin known.
    fn disk_map(radius: f64) -> (usize, Vec<bool>, Vec<usize>) {
        let n = 64;
        let region: Vec<bool> = (0..n * n)
            .map(|b| {
                let (u, v) = ((b % n) as f64 - 32.0, (b / n) as f64 - 32.0);
                u * u + v * v < radius * radius
            })
            .collect();
        let unknown = (0..n * n).filter(|&b| region[b]).collect();
        (n, region, unknown)
    }

    #[test]
    fn the_thin_plate_fill_continues_the_curvature_the_harmonic_fill_flattens() {
        // A bowl r = 0.01 ((u − 32)² + (v − 32)²) over a disk of radius 12 bins (biharmonic,
        // not harmonic): across the disk the spline through a band three bins wide follows it,
        // while the harmonic fill holds the rim's level, 1.44, at the centre.
        let (n, region, unknown) = disk_map(12.0);
        let known: Vec<bool> = region.iter().map(|&r| !r).collect();
        let bowl = |b: usize| {
            let (u, v) = ((b % n) as f64 - 32.0, (b / n) as f64 - 32.0);
            0.01 * (u * u + v * v)
        };
        let centre = 32 + 32 * n;
        let filled = |thin| {
            let mut f: Vec<f64> = (0..n * n)
                .map(|b| if region[b] { 0.0 } else { bowl(b) })
                .collect();
            fill(&mut f, None, &[], &unknown, &region, &known, n, thin);
            f
        };
        let spline = filled(Some((3, 0.0)));
        let worst = unknown
            .iter()
            .map(|&b| (spline[b] - bowl(b)).abs())
            .fold(0.0, f64::max);
        assert!(worst < 0.05, "spline off the bowl by {worst}");
        let harmonic = filled(None);
        assert!(
            (harmonic[centre] - 1.44).abs() < 0.1,
            "{}",
            harmonic[centre]
        );
    }

    #[test]
    fn the_thin_plate_spline_keeps_a_plane_and_smooths_noise_towards_it() {
        // A plane is reproduced at any smoothing (it has no bending energy); noise on the band
        // is followed exactly without smoothing and averaged out with it.
        let (n, region, _) = disk_map(10.0);
        let band = grown(&region, n, 3);
        let pts: Vec<usize> = (0..n * n).filter(|&b| band[b] && !region[b]).collect();
        let plane = |b: usize| 2.0 + 0.1 * (b % n) as f64 - 0.05 * (b / n) as f64;
        let noise = |i: usize| if i.is_multiple_of(2) { 0.3 } else { -0.3 };
        let centre = 32 + 32 * n;
        for smoothing in [0.0, 2000.0] {
            let vals: Vec<f64> = pts.iter().map(|&b| plane(b)).collect();
            let f = thin_plate(&pts, &vals, n, smoothing).unwrap();
            assert!((f(centre) - plane(centre)).abs() < 1e-6);
        }
        let noisy: Vec<f64> = (pts.iter().enumerate())
            .map(|(i, &b)| plane(b) + noise(i))
            .collect();
        let misfit = |smoothing| {
            let f = thin_plate(&pts, &noisy, n, smoothing).unwrap();
            let sq = pts.iter().map(|&b| (f(b) - plane(b)).powi(2)).sum::<f64>();
            (sq / pts.len() as f64).sqrt()
        };
        assert!((misfit(0.0) - 0.3).abs() < 1e-3, "{}", misfit(0.0));
        assert!(misfit(2000.0) < 0.1, "{}", misfit(2000.0));
    }
}
