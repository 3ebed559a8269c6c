//! Summary statistics of a metric over cases. Conventions follow numpy's defaults: population
//! standard deviation and variance (`ddof = 0`), percentiles by linear interpolation.

use serde::Serialize;

use crate::autoimplant::percentile;

/// Summary of one metric over the cases where it is defined.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    /// Cases with a value.
    pub n: usize,
    /// Arithmetic mean.
    pub mean: f64,
    /// Population standard deviation (`ddof = 0`).
    pub std: f64,
    /// Median (the 50th percentile, linear interpolation).
    pub median: f64,
    /// Population variance (`ddof = 0`).
    pub variance: f64,
    /// Mean absolute deviation from the mean.
    pub mad: f64,
    /// Interquartile range, 75th minus 25th percentile.
    pub iqr: f64,
    /// Smallest value.
    pub min: f64,
    /// Largest value.
    pub max: f64,
}

/// Summarise values (`None` when there are none).
pub fn summarize(values: &[f64]) -> Option<Summary> {
    if values.is_empty() {
        return None;
    }
    let n = values.len();
    let mean = values.iter().sum::<f64>() / n as f64;
    let variance = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n as f64;
    let mad = values.iter().map(|v| (v - mean).abs()).sum::<f64>() / n as f64;
    let mut s = values.to_vec();
    let median = percentile(&mut s, 50.0);
    let iqr = percentile(&mut s, 75.0) - percentile(&mut s, 25.0);
    Some(Summary {
        n,
        mean,
        std: variance.sqrt(),
        median,
        variance,
        mad,
        iqr,
        min: values.iter().copied().fold(f64::INFINITY, f64::min),
        max: values.iter().copied().fold(f64::NEG_INFINITY, f64::max),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_numpy() {
        // Reference values from numpy 2.x: np.mean, np.std, np.median, np.var, np.mean(|x-mean|),
        // np.percentile(x,75)-np.percentile(x,25) of [0.9, 0.85, 0.7, 0.95, 0.92]
        let s = summarize(&[0.9, 0.85, 0.7, 0.95, 0.92]).unwrap();
        assert!((s.mean - 0.864).abs() < 1e-12);
        assert!((s.variance - 0.007784).abs() < 1e-12);
        assert!((s.std - 0.007784f64.sqrt()).abs() < 1e-12);
        assert!((s.median - 0.9).abs() < 1e-12);
        assert!((s.mad - 0.0712).abs() < 1e-12);
        assert!((s.iqr - 0.07).abs() < 1e-12);
        assert!(summarize(&[]).is_none());
    }
}
