//! The evaluation report of a set of cases: each case's metrics, per-metric summaries, and the
//! report as text tables or CSV. Building and rendering the report here (not in a front end)
//! means that the command line, the demo and any later front end print the same numbers.

use serde::Serialize;

use crate::stats::{Summary, summarize};
use crate::table::{num, render};
use crate::{BandUnits, CaseMetrics, CaseStatus, EvalOptions};

/// One evaluated case.
#[derive(Debug, Clone, Serialize)]
pub struct CaseResult {
    /// The case name (the file name without its volume extension).
    pub case: String,
    /// Its metrics.
    #[serde(flatten)]
    pub metrics: CaseMetrics,
}

/// Every case and the summaries over them.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The cases in name order.
    pub cases: Vec<CaseResult>,
    /// Per-metric summaries over the cases.
    pub summary: SummaryBlock,
}

impl Report {
    /// The report of evaluated cases: the cases with their [`summarize_cases`].
    pub fn new(cases: Vec<CaseResult>, opts: &EvalOptions) -> Report {
        Report {
            summary: summarize_cases(&cases, opts),
            cases,
        }
    }
}

/// Summaries of every metric. DSC and bDSC include failed cases (as 0, the challenge's rule);
/// distances are over the cases where they are defined.
#[derive(Debug, Clone, Serialize)]
pub struct SummaryBlock {
    /// Cases evaluated.
    pub n_cases: usize,
    /// Cases whose status is not ok (an empty prediction or truth).
    pub n_failed: usize,
    /// DSC over every case.
    pub dsc: Option<Summary>,
    /// Border DSC over every case.
    pub bdsc: Option<Summary>,
    /// Hausdorff distance (mm) over the cases where it is defined.
    pub hd: Option<Summary>,
    /// 95th-percentile Hausdorff distance (mm) over the cases where it is defined.
    pub hd95: Option<Summary>,
    /// Average symmetric surface distance (mm) over the cases where it is defined.
    pub assd: Option<Summary>,
    /// The bDSC border band width used.
    pub band: f64,
    /// Its units.
    pub band_units: BandUnits,
}

/// Per-metric summaries of evaluated cases.
pub fn summarize_cases(cases: &[CaseResult], opts: &EvalOptions) -> SummaryBlock {
    let col = |f: &dyn Fn(&CaseMetrics) -> Option<f64>| -> Vec<f64> {
        cases.iter().filter_map(|c| f(&c.metrics)).collect()
    };
    SummaryBlock {
        n_cases: cases.len(),
        n_failed: cases
            .iter()
            .filter(|c| c.metrics.status != CaseStatus::Ok)
            .count(),
        dsc: summarize(&col(&|m| Some(m.dsc))),
        bdsc: summarize(&col(&|m| Some(m.bdsc))),
        hd: summarize(&col(&|m| m.hd)),
        hd95: summarize(&col(&|m| m.hd95)),
        assd: summarize(&col(&|m| m.assd)),
        band: opts.band,
        band_units: opts.band_units,
    }
}

fn status_text(s: CaseStatus) -> &'static str {
    match s {
        CaseStatus::Ok => "ok",
        CaseStatus::EmptyPrediction => "FAILED: empty prediction",
        CaseStatus::EmptyTruth => "FAILED: empty truth",
        CaseStatus::BothEmpty => "FAILED: both empty",
    }
}

/// The per-case table as CSV (6 decimals; distances empty where undefined; the status as it
/// is serialized, e.g. `empty_prediction`).
pub fn csv_text(cases: &[CaseResult]) -> String {
    let mut s = String::from("case,dsc,bdsc,hd_mm,hd95_mm,assd_mm,status\n");
    let f = |v: Option<f64>| v.map(|x| format!("{x:.6}")).unwrap_or_default();
    for c in cases {
        let m = &c.metrics;
        s += &format!(
            "{},{:.6},{:.6},{},{},{},{}\n",
            c.case,
            m.dsc,
            m.bdsc,
            f(m.hd),
            f(m.hd95),
            f(m.assd),
            serde_json::to_value(m.status)
                .unwrap()
                .as_str()
                .unwrap_or("")
        );
    }
    s
}

/// The per-case and summary tables as text.
pub fn render_report(r: &Report) -> String {
    let rows: Vec<Vec<String>> = r
        .cases
        .iter()
        .map(|c| {
            let m = &c.metrics;
            vec![
                c.case.clone(),
                format!("{:.4}", m.dsc),
                format!("{:.4}", m.bdsc),
                num(m.hd, 3),
                num(m.hd95, 3),
                num(m.assd, 3),
                status_text(m.status).into(),
            ]
        })
        .collect();
    let mut out = render(
        &[
            "case", "DSC", "bDSC", "HD mm", "HD95 mm", "ASSD mm", "status",
        ],
        &rows,
    );
    let s = &r.summary;
    let pick = |f: &dyn Fn(&Summary) -> f64| -> Vec<String> {
        [&s.dsc, &s.bdsc, &s.hd, &s.hd95, &s.assd]
            .iter()
            .map(|x| num(x.as_ref().map(f), 4))
            .collect()
    };
    let stat_rows: Vec<Vec<String>> = [
        ("mean", pick(&|x| x.mean)),
        ("std", pick(&|x| x.std)),
        ("median", pick(&|x| x.median)),
        ("variance", pick(&|x| x.variance)),
        ("mean abs dev", pick(&|x| x.mad)),
        ("IQR", pick(&|x| x.iqr)),
    ]
    .into_iter()
    .map(|(n, v)| std::iter::once(n.to_string()).chain(v).collect())
    .collect();
    out += "\n";
    out += &render(
        &["summary", "DSC", "bDSC", "HD mm", "HD95 mm", "ASSD mm"],
        &stat_rows,
    );
    out += &format!(
        "\n{} cases, {} failed; bDSC band {} {}; std/variance with ddof = 0\n",
        s.n_cases,
        s.n_failed,
        s.band,
        match s.band_units {
            BandUnits::Mm => "mm",
            BandUnits::Voxel => "voxels",
        }
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn case(name: &str, dsc: f64, hd95: Option<f64>) -> CaseResult {
        CaseResult {
            case: name.into(),
            metrics: CaseMetrics {
                dsc,
                bdsc: dsc,
                hd: hd95,
                hd95,
                assd: hd95,
                status: if hd95.is_some() {
                    CaseStatus::Ok
                } else {
                    CaseStatus::EmptyPrediction
                },
                pred_voxels: 1,
                truth_voxels: 1,
            },
        }
    }

    #[test]
    fn failed_cases_count_in_dsc_but_not_in_distances() {
        let r = Report::new(
            vec![case("001", 0.8, Some(2.0)), case("002", 0.0, None)],
            &EvalOptions::default(),
        );
        let s = &r.summary;
        assert_eq!((s.n_cases, s.n_failed), (2, 1));
        assert_eq!(s.dsc.as_ref().unwrap().n, 2);
        assert_eq!(s.dsc.as_ref().unwrap().mean, 0.4);
        assert_eq!(s.hd95.as_ref().unwrap().n, 1);
        let csv = csv_text(&r.cases);
        assert!(
            csv.contains("\n002,0.000000,0.000000,,,,empty_prediction\n"),
            "{csv}"
        );
        let text = render_report(&r);
        assert!(text.contains("FAILED: empty prediction"), "{text}");
        assert!(text.ends_with("2 cases, 1 failed; bDSC band 10 mm; std/variance with ddof = 0\n"));
    }
}
