//! Ranking of submissions and Welch's two-sided t-test, as in the AutoImplant challenge:
//! each submission is ranked by its mean DSC and mean bDSC (higher is better) and mean HD95
//! (lower is better), tied means sharing the average rank; the final rank is the mean of the three.

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

#[cfg(test)]
mod tests {
    use super::*;

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
