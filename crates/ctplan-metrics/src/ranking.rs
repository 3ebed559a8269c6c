//! Ranking of submissions and Welch's two-sided t-test, as in the AutoImplant challenge:
//! each submission is ranked by its mean DSC and mean bDSC (higher is better) and mean HD95
//! (lower is better), tied means sharing the average rank; the final rank is the mean of the three.
//!
//! A failed case (empty prediction) counts DSC = bDSC = 0 and HD95 = +∞ (so its submission
//! ranks last on HD95); Welch's two-sided t-test between each pair of submissions uses the
//! cases where both have a value. [`rank_submissions`] does all of it on evaluated cases.

use serde_json::json;

use crate::batch::EvalError;
use crate::report::CaseResult;
use crate::table::{num, render};

/// Ranks (1 = best) of `values`, ties getting their average rank (`scipy.stats.rankdata`'s
/// "average" method). `higher_is_better` sorts descending.
pub fn ranks(values: &[f64], higher_is_better: bool) -> Vec<f64> {
    let mut idx: Vec<usize> = (0..values.len()).collect();
    let key = |i: usize| {
        if higher_is_better {
            -values[i]
        } else {
            values[i]
        }
    };
    idx.sort_by(|&a, &b| key(a).total_cmp(&key(b)));
    let mut out = vec![0.0; values.len()];
    let mut i = 0;
    while i < idx.len() {
        let mut j = i;
        while j + 1 < idx.len() && key(idx[j + 1]) == key(idx[i]) {
            j += 1;
        }
        let r = (i + j) as f64 / 2.0 + 1.0;
        for &k in &idx[i..=j] {
            out[k] = r;
        }
        i = j + 1;
    }
    out
}

/// Welch's unequal-variance t-test: `(t, degrees of freedom, two-sided p)`, as
/// `scipy.stats.ttest_ind(a, b, equal_var=False)`. `None` with fewer than two values in a group;
/// p is NaN when both variances are zero (as scipy).
pub fn welch_t_test(a: &[f64], b: &[f64]) -> Option<(f64, f64, f64)> {
    if a.len() < 2 || b.len() < 2 {
        return None;
    }
    let mv = |x: &[f64]| {
        let n = x.len() as f64;
        let m = x.iter().sum::<f64>() / n;
        let v = x.iter().map(|y| (y - m).powi(2)).sum::<f64>() / (n - 1.0);
        (m, v / n, n)
    };
    let (ma, va, na) = mv(a);
    let (mb, vb, nb) = mv(b);
    let se2 = va + vb;
    let t = (ma - mb) / se2.sqrt();
    let df = se2 * se2 / (va * va / (na - 1.0) + vb * vb / (nb - 1.0));
    if !t.is_finite() || !df.is_finite() {
        return Some((t, df, f64::NAN));
    }
    // Two-sided p = I_{df/(df+t²)}(df/2, 1/2).
    let p = incomplete_beta(df / 2.0, 0.5, df / (df + t * t));
    Some((t, df, p.clamp(0.0, 1.0)))
}

/// ln Γ(x) for x > 0 (Lanczos approximation, g = 7, n = 9; relative error < 1e-13).
fn ln_gamma(x: f64) -> f64 {
    const C: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        // Reflection.
        return (std::f64::consts::PI / (std::f64::consts::PI * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let mut a = C[0];
    let t = x + 7.5;
    for (i, c) in C.iter().enumerate().skip(1) {
        a += c / (x + i as f64);
    }
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + a.ln()
}

/// Regularised incomplete beta I_x(a, b), by its continued fraction (modified Lentz;
/// Numerical Recipes §6.4).
fn incomplete_beta(a: f64, b: f64, x: f64) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    if x >= 1.0 {
        return 1.0;
    }
    let ln_front = ln_gamma(a + b) - ln_gamma(a) - ln_gamma(b) + a * x.ln() + b * (1.0 - x).ln();
    if x > (a + 1.0) / (a + b + 2.0) {
        return 1.0 - incomplete_beta(b, a, 1.0 - x);
    }
    let tiny = 1e-300;
    let mut c = 1.0;
    let mut d = 1.0 - (a + b) * x / (a + 1.0);
    if d.abs() < tiny {
        d = tiny;
    }
    d = 1.0 / d;
    let mut h = d;
    for m in 1..500 {
        let m = m as f64;
        let num = m * (b - m) * x / ((a + 2.0 * m - 1.0) * (a + 2.0 * m));
        d = 1.0 + num * d;
        d = if d.abs() < tiny { tiny } else { d };
        c = 1.0 + num / c;
        c = if c.abs() < tiny { tiny } else { c };
        d = 1.0 / d;
        h *= d * c;
        let num = -(a + m) * (a + b + m) * x / ((a + 2.0 * m) * (a + 2.0 * m + 1.0));
        d = 1.0 + num * d;
        d = if d.abs() < tiny { tiny } else { d };
        c = 1.0 + num / c;
        c = if c.abs() < tiny { tiny } else { c };
        d = 1.0 / d;
        let del = d * c;
        h *= del;
        if (del - 1.0).abs() < 1e-15 {
            break;
        }
    }
    ln_front.exp() * h / a
}

/// The ranked metrics: name, and whether higher is better.
const METRICS: [(&str, bool); 3] = [("dsc", true), ("bdsc", true), ("hd95", false)];

/// A case's value of a ranked metric (HD95 +∞ for a failed case).
fn value(c: &CaseResult, metric: &str) -> f64 {
    match metric {
        "dsc" => c.metrics.dsc,
        "bdsc" => c.metrics.bdsc,
        _ => c.metrics.hd95.unwrap_or(f64::INFINITY),
    }
}

/// Welch's t-test of one metric between two submissions.
#[derive(Debug, Clone, PartialEq)]
pub struct PairTest {
    /// Index of the first submission.
    pub a: usize,
    /// Index of the second submission.
    pub b: usize,
    /// The metric (`dsc`, `bdsc` or `hd95`).
    pub metric: &'static str,
    /// The two-sided p-value, `None` with fewer than two cases where both have a value.
    pub p: Option<f64>,
}

/// Submissions ranked as the challenge ranks them. Per-submission vectors are in input order.
#[derive(Debug, Clone, PartialEq)]
pub struct Ranking {
    /// The submissions' names.
    pub names: Vec<String>,
    /// Number of cases every submission was evaluated on.
    pub cases: usize,
    /// Mean DSC, bDSC and HD95 of each submission.
    pub means: Vec<[f64; 3]>,
    /// Rank of each submission by each metric: `metric_ranks[metric][submission]`.
    pub metric_ranks: Vec<Vec<f64>>,
    /// The mean of the three ranks.
    pub final_rank: Vec<f64>,
    /// Submissions best first.
    pub order: Vec<usize>,
    /// Failed cases (no HD95) of each submission.
    pub failed: Vec<usize>,
    /// Welch's t-test for each pair of submissions and metric, pairs in input order.
    pub tests: Vec<PairTest>,
}

/// Rank submissions evaluated on the same cases (`per_sub[s]` are submission `s`'s cases, in
/// the same order for all).
pub fn rank_submissions(
    names: Vec<String>,
    per_sub: &[Vec<CaseResult>],
) -> Result<Ranking, EvalError> {
    let case_names: Vec<&str> = per_sub[0].iter().map(|c| c.case.as_str()).collect();
    for (s, r) in per_sub.iter().enumerate() {
        if r.iter()
            .map(|c| c.case.as_str())
            .ne(case_names.iter().copied())
        {
            return Err(EvalError::DifferentCases {
                submission: names[s].clone(),
                first: names[0].clone(),
            });
        }
    }
    let means: Vec<[f64; 3]> = per_sub
        .iter()
        .map(|r| METRICS.map(|(m, _)| r.iter().map(|c| value(c, m)).sum::<f64>() / r.len() as f64))
        .collect();
    let metric_ranks: Vec<Vec<f64>> = METRICS
        .iter()
        .enumerate()
        .map(|(k, (_, higher))| ranks(&means.iter().map(|m| m[k]).collect::<Vec<_>>(), *higher))
        .collect();
    let final_rank: Vec<f64> = (0..per_sub.len())
        .map(|s| metric_ranks.iter().map(|r| r[s]).sum::<f64>() / 3.0)
        .collect();
    let mut order: Vec<usize> = (0..per_sub.len()).collect();
    order.sort_by(|&x, &y| final_rank[x].total_cmp(&final_rank[y]));
    let mut tests = Vec::new();
    for i in 0..per_sub.len() {
        for j in i + 1..per_sub.len() {
            for (m, _) in METRICS {
                let (x, y): (Vec<f64>, Vec<f64>) = per_sub[i]
                    .iter()
                    .zip(&per_sub[j])
                    .map(|(a, b)| (value(a, m), value(b, m)))
                    .filter(|(a, b)| a.is_finite() && b.is_finite())
                    .unzip();
                let p = welch_t_test(&x, &y).map(|r| r.2);
                tests.push(PairTest {
                    a: i,
                    b: j,
                    metric: m,
                    p,
                });
            }
        }
    }
    let failed = per_sub
        .iter()
        .map(|r| r.iter().filter(|c| c.metrics.hd95.is_none()).count())
        .collect();
    Ok(Ranking {
        names,
        cases: case_names.len(),
        means,
        metric_ranks,
        final_rank,
        order,
        failed,
        tests,
    })
}

impl Ranking {
    /// The ranking as one JSON object: the submissions best first, then every pair's tests
    /// (a p-value that is not finite is `null`).
    pub fn to_json(&self) -> serde_json::Value {
        let (names, means, ranks) = (&self.names, &self.means, &self.metric_ranks);
        let subs: Vec<_> = self
            .order
            .iter()
            .map(|&s| {
                json!({"submission": names[s], "final_rank": self.final_rank[s], "mean_dsc": means[s][0],
                       "mean_bdsc": means[s][1], "mean_hd95": means[s][2],
                       "rank_dsc": ranks[0][s], "rank_bdsc": ranks[1][s], "rank_hd95": ranks[2][s],
                       "failed_cases": self.failed[s]})
            })
            .collect();
        let t: Vec<_> = self
            .tests
            .iter()
            .map(|t| json!({"a": names[t.a], "b": names[t.b], "metric": t.metric, "p_value": t.p.filter(|v| v.is_finite())}))
            .collect();
        json!({"cases": self.cases, "ranking": subs, "welch_t_tests": t})
    }

    /// The ranking and the pairwise p-values as text tables.
    pub fn render(&self) -> String {
        let (names, means, ranks) = (&self.names, &self.means, &self.metric_ranks);
        let rows: Vec<Vec<String>> = self
            .order
            .iter()
            .map(|&s| {
                vec![
                    names[s].clone(),
                    format!("{:.2}", self.final_rank[s]),
                    format!("{:.4} ({})", means[s][0], ranks[0][s]),
                    format!("{:.4} ({})", means[s][1], ranks[1][s]),
                    format!("{} ({})", num(Some(means[s][2]), 3), ranks[2][s]),
                ]
            })
            .collect();
        let mut out = render(
            &[
                "submission",
                "final rank",
                "DSC (rank)",
                "bDSC (rank)",
                "HD95 mm (rank)",
            ],
            &rows,
        );
        out += &format!(
            "\nWelch two-sided t-test p-values over {} cases:\n",
            self.cases
        );
        let rows: Vec<Vec<String>> = self
            .tests
            .chunks(3)
            .map(|c| {
                let mut r = vec![format!("{} vs {}", names[c[0].a], names[c[0].b])];
                r.extend(c.iter().map(|t| num(t.p, 4)));
                r
            })
            .collect();
        out += &render(&["pair", "DSC p", "bDSC p", "HD95 p"], &rows);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A submission's two cases, `000` and `001`.
    fn sub(dsc: [f64; 2], hd95: [Option<f64>; 2]) -> Vec<CaseResult> {
        use crate::{CaseMetrics, CaseStatus};
        (0..2)
            .map(|i| CaseResult {
                case: format!("00{i}"),
                metrics: CaseMetrics {
                    dsc: dsc[i],
                    bdsc: dsc[i],
                    hd: hd95[i],
                    hd95: hd95[i],
                    assd: hd95[i],
                    status: CaseStatus::Ok,
                    pred_voxels: 1,
                    truth_voxels: 1,
                },
            })
            .collect()
    }

    #[test]
    fn submissions_rank_by_the_mean_of_three_ranks() {
        let good = sub([0.9, 0.8], [Some(1.0), Some(2.0)]);
        let bad = sub([0.5, 0.4], [Some(3.0), None]);
        let r = rank_submissions(vec!["bad".into(), "good".into()], &[bad, good]).unwrap();
        assert_eq!(r.order, [1, 0]);
        assert_eq!(r.final_rank, [2.0, 1.0]);
        assert_eq!(r.failed, [1, 0]);
        assert!(r.means[0][2].is_infinite(), "a failed case makes HD95 +inf");
        assert_eq!(r.tests.len(), 3);
        assert_eq!(r.tests[2].p, None, "one finite HD95 pair is too few");
        let j = r.to_json();
        assert_eq!(j["ranking"][0]["submission"], "good");
        assert_eq!(j["welch_t_tests"][0]["metric"], "dsc");
        assert!(
            r.render()
                .contains("\nWelch two-sided t-test p-values over 2 cases:\n")
        );
    }

    #[test]
    fn submissions_on_different_cases_are_refused() {
        let a = sub([0.9, 0.8], [Some(1.0), Some(2.0)]);
        let mut b = a.clone();
        b[1].case = "other".into();
        let e = rank_submissions(vec!["a".into(), "b".into()], &[a, b]).unwrap_err();
        assert_eq!(e.to_string(), "b: evaluated cases differ from a");
    }

    #[test]
    fn ranks_average_ties() {
        // scipy.stats.rankdata([-0.9, -0.8, -0.9, -0.7]) = [1.5, 3, 1.5, 4]
        assert_eq!(ranks(&[0.9, 0.8, 0.9, 0.7], true), vec![1.5, 3.0, 1.5, 4.0]);
        assert_eq!(ranks(&[2.0, 1.0, 3.0], false), vec![2.0, 1.0, 3.0]);
    }

    #[test]
    fn welch_matches_scipy() {
        // Reference values: scipy 1.17.1 `scipy.stats.ttest_ind(a, b, equal_var=False)`.
        let a = [0.91, 0.88, 0.93, 0.85, 0.90, 0.87];
        let b = [0.84, 0.86, 0.80, 0.89, 0.83];
        let (t, df, p) = welch_t_test(&a, &b).unwrap();
        assert!((t - 2.404_458_518_050_864).abs() < 1e-9, "t = {t}");
        assert!((df - 8.026_604_350_170_777).abs() < 1e-9, "df = {df}");
        assert!((p - 0.042_779_044_555_940_52).abs() < 1e-9, "p = {p}");
        let c = [1.0, 2.0, 3.0, 4.0, 100.0];
        let d = [2.0, 2.5, 3.5, 1.0];
        let (_, _, p) = welch_t_test(&c, &d).unwrap();
        assert!((p - 0.368_650_166_006_700_2).abs() < 1e-9, "p = {p}");
        assert!(welch_t_test(&[1.0], &d).is_none());
    }

    #[test]
    fn ln_gamma_known_values() {
        assert!((ln_gamma(0.5) - std::f64::consts::PI.sqrt().ln()).abs() < 1e-13);
        assert!((ln_gamma(10.0) - 362_880f64.ln()).abs() < 1e-11);
    }
}
