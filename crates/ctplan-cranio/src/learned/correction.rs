//! The map network's correction of the fill, applied where plausible, and its training samples.

use ctplan_core::Mask;

use crate::design::fill::Filled;
use crate::design::fill::fill_plans;
use crate::design::plan::{DefectPlan, plan};
use crate::design::{
    DesignError, DesignOptions, MAX_CORRECTION_MM, MAX_LIMITED_FRACTION, check_reference_grid,
};
use crate::learned::map_net::{IN_CHANNELS, NET_BIN_DEG, NET_N, ShapeNet};
use crate::shape::ShapePrior;
use crate::shape::fit::Trend;
use crate::vault::shell::Shell;

/// Net-map bin of design-map coordinates (u, v) in radians, if inside.
fn net_bin(u: f64, v: f64) -> Option<usize> {
    let half = NET_N as f64 / 2.0;
    let b = NET_BIN_DEG.to_radians();
    let (x, y) = ((u / b + half).floor(), (v / b + half).floor());
    (x >= 0.0 && y >= 0.0 && x < NET_N as f64 && y < NET_N as f64)
        .then(|| x as usize + NET_N * y as usize)
}

/// Bilinear sample of a net-map field at design-map coordinates (u, v), radians.
fn sample(f: &[f32], u: f64, v: f64) -> f64 {
    let half = NET_N as f64 / 2.0;
    let b = NET_BIN_DEG.to_radians();
    let x = (u / b + half - 0.5).clamp(0.0, (NET_N - 1) as f64);
    let y = (v / b + half - 0.5).clamp(0.0, (NET_N - 1) as f64);
    let (x0, y0) = (x.floor() as usize, y.floor() as usize);
    let (x1, y1) = ((x0 + 1).min(NET_N - 1), (y0 + 1).min(NET_N - 1));
    let (fx, fy) = (x - x0 as f64, y - y0 as f64);
    let at = |x: usize, y: usize| f[x + NET_N * y] as f64;
    (1.0 - fy) * ((1.0 - fx) * at(x0, y0) + fx * at(x1, y0))
        + fy * ((1.0 - fx) * at(x0, y1) + fx * at(x1, y1))
}

/// Box-average per net bin of `value(b)` over the design bins `bins` where it is defined;
/// returns the sums and counts.
fn box_average(
    s: &Shell,
    bins: impl Iterator<Item = usize>,
    value: impl Fn(usize) -> Option<[f64; 2]>,
) -> ([Vec<f64>; 2], Vec<u32>) {
    let nn = NET_N * NET_N;
    let mut sum = [vec![0.0; nn], vec![0.0; nn]];
    let mut count = vec![0u32; nn];
    for b in bins {
        let (u, v) = s.map.uv(b);
        if let (Some(k), Some([a, c])) = (net_bin(u, v), value(b)) {
            sum[0][k] += a;
            sum[1][k] += c;
            count[k] += 1;
        }
    }
    for k in 0..nn {
        if count[k] > 0 {
            sum[0][k] /= count[k] as f64;
            sum[1][k] /= count[k] as f64;
        }
    }
    (sum, count)
}

/// The network's raw inputs, `[IN_CHANNELS][NET_N][NET_N]`, for a planned and filled design:
/// the intact bone outside every rebuilt region, the regions, the shape model's trend where
/// defined, and the fill over the regions.
pub(crate) fn inputs(s: &Shell, known: &[bool], plans: &[DefectPlan], f: &Filled) -> Vec<f32> {
    let n = s.map.n;
    let nn = NET_N * NET_N;
    let in_region = &f.region;
    let mut trend = [vec![f64::NAN; n * n], vec![f64::NAN; n * n]];
    for p in plans {
        if let Some(Trend {
            fields: [ti, to], ..
        }) = &p.trends
        {
            for b in p.matching.iter().chain(&p.unknown).copied() {
                trend[0][b] = to[b];
                trend[1][b] = ti[b];
            }
        }
    }
    let (obs, obs_n) = box_average(s, 0..n * n, |b| {
        (known[b] && !in_region[b]).then(|| [s.r_out[b], s.r_in[b]])
    });
    let (tr, tr_n) = box_average(s, 0..n * n, |b| {
        trend[0][b].is_finite().then(|| [trend[0][b], trend[1][b]])
    });
    let (fill, reg_n) = box_average(s, 0..n * n, |b| {
        in_region[b].then(|| [f.r_out[b], f.r_in[b]])
    });
    let mut out = vec![0f32; IN_CHANNELS * nn];
    for k in 0..nn {
        let ch = [
            (obs_n[k] > 0) as u8 as f64,
            (reg_n[k] > 0) as u8 as f64,
            obs[0][k],
            obs[1][k],
            tr[0][k],
            tr[1][k],
            (tr_n[k] > 0) as u8 as f64,
            fill[0][k],
            fill[1][k],
        ];
        for (c, v) in ch.into_iter().enumerate() {
            out[c * nn + k] = v as f32;
        }
    }
    out
}

/// Bins of the design map inside `region`, weighted by how far they lie from its border:
/// 0.5 next to the rim, 1 from two bins in (a chamfer distance), so that a correction meets
/// the intact bone without a step.
fn taper(region: &[bool], n: usize) -> Vec<f64> {
    let mut d: Vec<f64> = region
        .iter()
        .map(|&r| if r { f64::INFINITY } else { 0.0 })
        .collect();
    let step = |d: &mut Vec<f64>, b: usize, nb: Option<usize>, w: f64| {
        if let Some(nb) = nb {
            d[b] = d[b].min(d[nb] + w);
        }
    };
    for pass in 0..2 {
        let order: Vec<usize> = if pass == 0 {
            (0..n * n).collect()
        } else {
            (0..n * n).rev().collect()
        };
        for b in order {
            if d[b] == 0.0 {
                continue;
            }
            let (u, v) = (b % n, b / n);
            let s: i64 = if pass == 0 { -1 } else { 1 };
            let at = |du: i64, dv: i64| {
                let (x, y) = (u as i64 + du, v as i64 + dv);
                (x >= 0 && y >= 0 && x < n as i64 && y < n as i64)
                    .then(|| x as usize + n * y as usize)
            };
            step(&mut d, b, at(s, 0), 1.0);
            step(&mut d, b, at(0, s), 1.0);
            step(&mut d, b, at(s, s), 1.4);
            step(&mut d, b, at(-s, s), 1.4);
        }
    }
    d.iter().map(|&x| (x / 2.0).min(1.0)).collect()
}

/// Add the network's correction to each defect's fill (as [`fill_plans`] made it), where it
/// is plausible ([`limited`]: each bin's correction cut to [`MAX_CORRECTION_MM`], none where it
/// would cross the surfaces, on no more than [`MAX_LIMITED_FRACTION`] of the region). Each
/// defect's report says whether it was corrected, and at how many bins it was held back.
pub(crate) fn correct(
    net: &ShapeNet,
    s: &Shell,
    known: &[bool],
    plans: &[DefectPlan],
    f: &mut Filled,
) {
    if plans.iter().all(|p| p.trends.is_none()) {
        return;
    }
    let [d_out, d_in] = net.predict(&inputs(s, known, plans, f));
    let w = taper(&f.region, s.map.n);
    let Filled {
        r_out,
        r_in,
        reports,
        ..
    } = f;
    for (p, report) in plans.iter().zip(reports) {
        if p.trends.is_none() {
            continue;
        }
        let raw: Vec<(f64, f64)> = (p.unknown.iter())
            .map(|&b| {
                let (u, v) = s.map.uv(b);
                (w[b] * sample(&d_out, u, v), w[b] * sample(&d_in, u, v))
            })
            .collect();
        let accepted = limited(&raw, &p.unknown, r_out, r_in);
        report.learned = accepted.is_some();
        report.limited_bins = accepted.as_ref().map_or(0, |a| a.1);
        if let Some((delta, _)) = accepted {
            for (&b, &(dout, din)) in p.unknown.iter().zip(&delta) {
                r_out[b] += dout;
                r_in[b] += din;
            }
        }
    }
}

/// The corrections `raw` (outer, inner; mm) of the fill `r_out`, `r_in` at `bins`, each cut to
/// [`MAX_CORRECTION_MM`], and none at a bin where the corrected surfaces would cross although
/// the fill kept them apart (where the fill's surfaces already cross, a thin fill at an orbit,
/// that is not the network's doing); with the number of bins so held back. `None` where they
/// are more than [`MAX_LIMITED_FRACTION`] of the bins: the correction is implausible as a whole.
fn limited(
    raw: &[(f64, f64)],
    bins: &[usize],
    r_out: &[f64],
    r_in: &[f64],
) -> Option<(Vec<(f64, f64)>, usize)> {
    let limit = |d: f64| d.clamp(-MAX_CORRECTION_MM, MAX_CORRECTION_MM);
    let mut held = 0;
    let delta: Vec<(f64, f64)> = (raw.iter().zip(bins))
        .map(|(&(o, i), &b)| {
            let d = (limit(o), limit(i));
            let crosses = r_out[b] > r_in[b] && r_out[b] + d.0 <= r_in[b] + d.1;
            if crosses {
                held += 1;
                (0.0, 0.0)
            } else {
                held += usize::from(d != (o, i));
                d
            }
        })
        .collect();
    (held as f64 <= MAX_LIMITED_FRACTION * raw.len() as f64).then_some((delta, held))
}

/// A training sample for the network: its raw inputs for `defective` as the design plans and
/// fills it with `prior`, followed by three channels: how far the complete skull (seen from
/// the defective skull's centre) lies from the fill over the rebuilt regions and from the
/// intact bone on their matching rings, outer then inner (mm), and where that is known (1/0).
/// `[IN_CHANNELS + 3][NET_N][NET_N]`.
pub fn learning_sample(
    defective: &Mask,
    complete: &Mask,
    prior: &ShapePrior,
    o: &DesignOptions,
) -> Result<Vec<f32>, DesignError> {
    check_reference_grid(complete, defective)?;
    let p = plan(defective, Some(prior), o)?;
    let s = &p.shell;
    let c = s.seen_from_here(complete)?;
    let f = fill_plans(s, &p.known, &p.defects, Some(prior), None, o);
    let n = s.map.n;
    let mut delta = [vec![f64::NAN; n * n], vec![f64::NAN; n * n]];
    for pl in p.defects.iter().filter(|pl| pl.trends.is_some()) {
        for b in pl.matching.iter().chain(&pl.unknown).copied() {
            if c.known(b) {
                delta[0][b] = c.r_out[b] - f.r_out[b];
                delta[1][b] = c.r_in[b] - f.r_in[b];
            }
        }
    }
    let (d, dn) = box_average(s, 0..n * n, |b| {
        delta[0][b].is_finite().then(|| [delta[0][b], delta[1][b]])
    });
    let mut out = inputs(s, &p.known, &p.defects, &f);
    let nn = NET_N * NET_N;
    out.extend(d[0].iter().map(|&v| v as f32));
    out.extend(d[1].iter().map(|&v| v as f32));
    out.extend((0..nn).map(|k| (dn[k] > 0) as u8 as f32));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn corrects_the_fill_where_plausible_and_falls_back_elsewhere() {
        use crate::design::{Designer, design};
        use crate::learned::map_net::tests::{fixture, fixture_with_head_bias};
        use crate::phantom::{PhantomSpec, skull};
        let p = skull(&PhantomSpec::default());
        let t = ShapePrior::template(&p.complete).unwrap();
        let prior = ShapePrior::new(vec![("self".into(), t)]);
        let o = DesignOptions::default();
        let plain = design(&p.defective, Some(&prior), &o).unwrap();
        let net = fixture();
        let learned = Designer::new(Some(&prior), o).with_net(&net);
        let learned = learned.design(&p.defective).unwrap();
        assert!(plain.defects.iter().all(|d| !d.learned));
        assert!(learned.defects.iter().all(|d| d.learned));
        assert_ne!(learned.implant.data, plain.implant.data);
        // A correction of 20 mm is implausible: the fill of the shape model alone is kept.
        let wild = fixture_with_head_bias([20.0, 20.0]);
        let fallback = Designer::new(Some(&prior), o).with_net(&wild);
        let fallback = fallback.design(&p.defective).unwrap();
        assert!(fallback.defects.iter().all(|d| !d.learned));
        assert_eq!(fallback.notes().len(), fallback.defects.len());
        assert!(plain.notes().is_empty() && learned.notes().is_empty());
        assert_eq!(fallback.implant.data, plain.implant.data);
    }

    #[test]
    fn a_correction_is_cut_at_a_few_bins_and_refused_at_many() {
        let bins: Vec<usize> = (0..100).collect();
        let (r_out, r_in) = (vec![80.0; 100], vec![74.0; 100]);
        let mut raw = vec![(1.0, 0.5); 100];
        for r in &mut raw[..5] {
            *r = (30.0, -20.0);
        }
        // Five bins of a hundred past the limit: cut there, the rest as predicted.
        let (delta, cut) = limited(&raw, &bins, &r_out, &r_in).unwrap();
        assert_eq!(cut, 5);
        assert_eq!(delta[0], (MAX_CORRECTION_MM, -MAX_CORRECTION_MM));
        assert_eq!(delta[5], (1.0, 0.5));
        // Six: the network failed as a whole there.
        raw[5] = (-17.0, 0.0);
        assert!(limited(&raw, &bins, &r_out, &r_in).is_none());
        // Surfaces crossing where the fill kept them apart: that bin keeps the fill.
        let mut crossing = vec![(1.0, 1.0); 100];
        crossing[50] = (-4.0, 3.0);
        let (delta, held) = limited(&crossing, &bins, &r_out, &r_in).unwrap();
        assert_eq!((delta[50], delta[49], held), ((0.0, 0.0), (1.0, 1.0), 1));
        // Unless the fill had them crossed already there.
        let mut thin = r_in.clone();
        thin[50] = 81.0;
        assert_eq!(limited(&crossing, &bins, &r_out, &thin).unwrap().1, 0);
        // Crossing on six bins of a hundred: refused.
        for r in &mut crossing[..6] {
            *r = (-4.0, 3.0);
        }
        assert!(limited(&crossing, &bins, &r_out, &r_in).is_none());
    }

    #[test]
    fn taper_meets_the_rim_at_half_weight() {
        // A 6×6 region in a 10×10 map: zero outside, 0.5 on its edge, 1 from two bins in.
        let n = 10;
        let region: Vec<bool> = (0..n * n)
            .map(|b| (2..8).contains(&(b % n)) && (2..8).contains(&(b / n)))
            .collect();
        let w = taper(&region, n);
        assert_eq!(w[0], 0.0);
        assert_eq!(w[2 + n * 2], 0.5);
        assert_eq!(w[2 + n * 5], 0.5);
        assert_eq!(w[4 + n * 4], 1.0);
        assert_eq!(w[3 + n * 5], 1.0);
    }

    #[test]
    fn net_bins_and_samples_agree() {
        // The centre of net bin (i, j) maps to it, and sampling a field there returns its value.
        let b = NET_BIN_DEG.to_radians();
        let (i, j) = (40usize, 71usize);
        let (u, v) = (
            (i as f64 + 0.5 - NET_N as f64 / 2.0) * b,
            (j as f64 + 0.5 - NET_N as f64 / 2.0) * b,
        );
        assert_eq!(net_bin(u, v), Some(i + NET_N * j));
        let f: Vec<f32> = (0..NET_N * NET_N).map(|k| (k % NET_N) as f32).collect();
        assert!((sample(&f, u, v) - i as f64).abs() < 1e-9);
        assert!((sample(&f, u + 0.5 * b, v) - (i as f64 + 0.5)).abs() < 1e-9);
    }
}
