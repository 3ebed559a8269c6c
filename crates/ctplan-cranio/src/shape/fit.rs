//! The shape model fitted to the intact bone around a defect: the trend across it.

use rayon::prelude::*;

use crate::shape::ShapePrior;
use crate::vault::map::Map;
use crate::vault::shell::median;
use ctplan_core::linalg::solve;

/// The skull's own mirror image is a shape of the model for a defect when it holds bone on at
/// least this fraction of the defect's rebuilt bins in the vault's disk.
const MIRROR_COVER: f64 = 0.7;

/// The shape model's trend across a defect ([`prior_trend`]).
pub(crate) struct Trend {
    /// Inner and outer radius over the ring and the region (NaN elsewhere).
    pub fields: [Vec<f64>; 2],
    /// The names of the heaviest shapes, [`OWN_MIRROR`] first where the skull's own mirror
    /// image is one of them.
    pub names: Vec<String>,
    /// Whether the skull's own mirror image is one of the shapes.
    pub own_mirror: bool,
}

/// The prior's trend over `fit` ∪ `unknown` for the inner and outer fields, by a statistical
/// shape model fitted to the intact bone on the `fit` ring (Cootes et al., "Active shape models",
/// CVIU 1995; for skulls e.g. Fuessinger et al., "Planning of skull reconstruction based on a
/// statistical shape model combined with geometric morphometrics", IJCARS 2018).
///
/// The shapes are every template, as it is and mirrored (left and right swapped), that covers
/// these bins, each offset onto this skull by its mean difference on the ring; both fields of a
/// shape make one vector. The trend is their mean plus a combination of their deviations from
/// it, `x = μ + Σ αᵢ (xᵢ − μ)`, with α the ridge-regularised least-squares fit on the ring,
/// `α = (A Aᵀ + λ I)⁻¹ A (y − μ)` (A the deviations restricted to the ring, λ = `ridge` times
/// the mean squared norm of a deviation there): the kernel form of fitting the principal modes
/// of the shapes with a Gaussian prior on their weights. `own`: the skull's own mirror image
/// (its radius fields on the map, [`mirrored_fields`]) and its weight w, one more shape where it
/// covers the region ([`own_shape`]), counted as w shapes: weighted in the mean by w, its
/// deviation scaled by √w (the ridge penalty on its coefficient divided by w), the same fit as w
/// copies of it. The trend also names the shapes with the largest weights in the
/// combination, [`OWN_MIRROR`] first where the mirror image is one of the shapes.
pub(crate) fn prior_trend(
    p: &ShapePrior,
    map: &Map,
    fit: &[usize],
    unknown: &[usize],
    fields: [&[f64]; 2],
    ridge: f64,
    own: Option<(&[Vec<f64>; 2], f64)>,
) -> Option<Trend> {
    let n = map.n;
    if fit.len() < 12 {
        return None;
    }
    let all: Vec<usize> = fit.iter().chain(unknown).copied().collect();
    let uv: Vec<(f64, f64)> = all.iter().map(|&b| map.uv(b)).collect();
    let len = all.len();
    let nf = fit.len();
    // Shape 2t is template t as it is, 2t + 1 its mirror image (u → −u); a shape is the inner
    // field over `all` followed by the outer one, offset onto this skull on the ring (`all`
    // starts with the ring's bins).
    let n_t = 2 * p.len();
    let offset_onto_ring = |x: &mut [f64]| {
        for f in 0..2 {
            let part = &mut x[f * len..(f + 1) * len];
            let offset = fit
                .iter()
                .zip(part.iter())
                .map(|(&b, xi)| fields[f][b] - xi)
                .sum::<f64>()
                / nf as f64;
            part.iter_mut().for_each(|xi| *xi += offset);
        }
    };
    let shape = |c: usize| -> Option<Vec<f64>> {
        let (t, sign) = (c / 2, if c.is_multiple_of(2) { 1.0 } else { -1.0 });
        let mut x = vec![0.0; 2 * len];
        for f in 0..2 {
            let part = &mut x[f * len..(f + 1) * len];
            for (xi, &(u, v)) in part.iter_mut().zip(&uv) {
                *xi = p.sample(t, f, sign * u, v)?;
            }
        }
        offset_onto_ring(&mut x);
        Some(x)
    };
    let (mut ids, mut shapes): (Vec<usize>, Vec<Vec<f64>>) = (0..n_t)
        .into_par_iter()
        .filter_map(|c| shape(c).map(|x| (c, x)))
        .unzip();
    if shapes.is_empty() {
        return None;
    }
    let mut weights = vec![1.0; shapes.len()];
    if let Some((own, weight)) = own
        && let Some(x) = own_shape(own, &shapes, &all, fit, fields, map)
    {
        ids.push(n_t);
        shapes.push(x);
        weights.push(weight);
    }
    // The weighted shape model: shape i counts as wᵢ copies of itself (in the mean, and in the
    // ridge penalty, which is divided by wᵢ): its deviation from the mean enters scaled by √wᵢ.
    let m = shapes.len();
    let total: f64 = weights.iter().sum();
    let mut mean = vec![0.0; 2 * len];
    for (x, w) in shapes.iter().zip(&weights) {
        for (a, xi) in mean.iter_mut().zip(x) {
            *a += w * xi / total;
        }
    }
    let dev: Vec<Vec<f64>> = (shapes.iter().zip(&weights))
        .map(|(x, w)| {
            (x.iter().zip(&mean))
                .map(|(xi, mi)| w.sqrt() * (xi - mi))
                .collect()
        })
        .collect();
    // Rows of the ring: the first `nf` entries of each field.
    let ring = || (0..nf).chain(len..len + nf);
    let y: Vec<f64> = (0..nf)
        .map(|r| fields[0][fit[r]] - mean[r])
        .chain((0..nf).map(|r| fields[1][fit[r]] - mean[len + r]))
        .collect();
    let mut gram: Vec<f64> = (0..m * m)
        .into_par_iter()
        .map(|ij| {
            let (i, j) = (ij / m, ij % m);
            ring().map(|r| dev[i][r] * dev[j][r]).sum()
        })
        .collect();
    let rhs: Vec<f64> = (0..m)
        .map(|i| ring().zip(&y).map(|(r, yr)| dev[i][r] * yr).sum())
        .collect();
    let lambda = ridge * (0..m).map(|i| gram[i * m + i]).sum::<f64>() / total;
    for i in 0..m {
        gram[i * m + i] += lambda.max(1e-9);
    }
    let alpha = solve(gram, rhs, m, 1e-12)?;
    let mut out = [vec![f64::NAN; n * n], vec![f64::NAN; n * n]];
    for f in 0..2 {
        for (k, &b) in all.iter().enumerate() {
            let r = f * len + k;
            out[f][b] = mean[r] + (0..m).map(|i| alpha[i] * dev[i][r]).sum::<f64>();
        }
    }
    // Weight of shape i in the combination: αᵢ√wᵢ + wᵢ (1 − Σⱼ αⱼ√wⱼ) / Σⱼ wⱼ.
    let a: f64 = alpha.iter().zip(&weights).map(|(a, w)| a * w.sqrt()).sum();
    let mut by_weight: Vec<(f64, usize)> = (alpha.iter().zip(&weights))
        .map(|(al, w)| al * w.sqrt() + w * (1.0 - a) / total)
        .zip(ids.iter().copied())
        .collect();
    by_weight.sort_by(|a, b| b.0.total_cmp(&a.0));
    let own_used = ids.last().is_some_and(|&c| c >= n_t);
    let names = (own_used.then(|| OWN_MIRROR.to_string()).into_iter())
        .chain(
            (by_weight.iter().filter(|&&(_, c)| c < n_t).take(5)).map(|&(_, c)| {
                let mirror = if c % 2 == 1 { " (mirrored)" } else { "" };
                format!("{}{mirror}", p.case(c / 2))
            }),
        )
        .collect();
    Some(Trend {
        fields: out,
        names,
        own_mirror: own_used,
    })
}

/// How the design names the skull's own mirror image among the templates (`Design::templates`).
pub const OWN_MIRROR: &str = "own mirror image";

/// The skull's own mirror image (`own`: its radius fields on the map) as a shape over `all`
/// (the ring's bins `fit` first, then the region's; inner field then outer), offset onto this
/// skull's `fields`, or `None` where it does not cover the defect: it must hold bone on at
/// least [`MIRROR_COVER`] of the region's bins in the vault's disk (a defect across the
/// midline, or on both sides, has its mirror image in a defect too). Region bins where it holds
/// no bone (beyond the disk, or a few gaps) take the mean of `templates` (already offset onto
/// the ring) shifted by the median difference between the two. The offset onto the ring is
/// the mean difference over the ring bins where it holds bone, and on the ring bins where it
/// holds none it takes the skull's own radii: the mirror image says nothing there, so it must
/// not pull the fit (with the templates' mean in those bins instead, the gaps, a fifth of the
/// ring by a low temporal defect, set its offset: 2.7 mm too deep on an injected
/// parietotemporal defect, whose fill then lay 1.3 mm too deep).
pub(crate) fn own_shape(
    own: &[Vec<f64>; 2],
    templates: &[Vec<f64>],
    all: &[usize],
    fit: &[usize],
    fields: [&[f64]; 2],
    map: &Map,
) -> Option<Vec<f64>> {
    let ring = fit.len();
    let len = all.len();
    let inside: Vec<usize> = (all[ring..].iter().copied())
        .filter(|&b| map.disk_margin(b) > 0.0)
        .collect();
    let have = inside.iter().filter(|&&b| own[1][b].is_finite()).count();
    if (have as f64) < MIRROR_COVER * inside.len() as f64 {
        return None;
    }
    let mt = templates.len() as f64;
    let mut x = vec![0.0; 2 * len];
    for f in 0..2 {
        let tmean: Vec<f64> = (0..len)
            .map(|k| templates.iter().map(|s| s[f * len + k]).sum::<f64>() / mt)
            .collect();
        let d = median(
            (all.iter().enumerate())
                .filter(|(_, b)| own[f][**b].is_finite())
                .map(|(k, &b)| own[f][b] - tmean[k])
                .collect(),
        )?;
        for (k, &b) in all.iter().enumerate() {
            let v = own[f][b];
            x[f * len + k] = if v.is_finite() { v } else { tmean[k] + d };
        }
        let held: Vec<usize> = (0..ring).filter(|&r| own[f][fit[r]].is_finite()).collect();
        let offset = (held.iter())
            .map(|&r| fields[f][fit[r]] - x[f * len + r])
            .sum::<f64>()
            / held.len().max(1) as f64;
        x[f * len..(f + 1) * len]
            .iter_mut()
            .for_each(|v| *v += offset);
        for r in (0..ring).filter(|&r| !own[f][fit[r]].is_finite()) {
            x[f * len + r] = fields[f][fit[r]];
        }
    }
    Some(x)
}
