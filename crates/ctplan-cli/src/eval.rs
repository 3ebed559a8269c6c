//! `ctplan eval`: the AutoImplant evaluation of a folder of predicted implants.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, anyhow, bail};
use ctplan_metrics::stats::{Summary, summarize};
use ctplan_metrics::{BandUnits, CaseMetrics, CaseStatus, EvalOptions};
use indicatif::{ProgressBar, ProgressStyle};
use rayon::prelude::*;
use serde::Serialize;

use crate::cases::{Case, pair};
use crate::table::{num, render};

#[derive(clap::Args)]
pub struct Args {
    /// Predicted implants: a folder (or one file).
    #[arg(long)]
    pred: PathBuf,
    /// True implants: a folder (or one file). Files are paired by name.
    #[arg(long)]
    truth: PathBuf,
    /// Defective skulls (for the bDSC border band): a folder (or one file).
    #[arg(long)]
    defective: PathBuf,
    /// Print one JSON object instead of tables.
    #[arg(long)]
    json: bool,
    /// Also write the per-case table as CSV to this file.
    #[arg(long)]
    csv: Option<PathBuf>,
    #[command(flatten)]
    band: BandArgs,
}

/// The bDSC border band options shared by `eval` and `rank`.
#[derive(clap::Args)]
pub struct BandArgs {
    /// Width of the bDSC border band.
    #[arg(long, default_value_t = 10.0)]
    band: f64,
    /// Units of --band: mm (with the file's voxel spacing, the official reading) or voxel.
    #[arg(long, value_enum, default_value_t = Units::Mm)]
    band_units: Units,
}

impl BandArgs {
    /// The evaluation options these flags give.
    pub fn options(&self) -> Result<EvalOptions> {
        if !(self.band.is_finite() && self.band >= 0.0) {
            bail!("--band must be a non-negative number, got {}", self.band);
        }
        Ok(EvalOptions {
            band: self.band,
            band_units: match self.band_units {
                Units::Mm => BandUnits::Mm,
                Units::Voxel => BandUnits::Voxel,
            },
        })
    }
}

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum Units {
    Mm,
    Voxel,
}

/// One evaluated case.
#[derive(Debug, Clone, Serialize)]
pub struct CaseResult {
    pub case: String,
    #[serde(flatten)]
    pub metrics: CaseMetrics,
}

/// Summaries of every metric. DSC and bDSC include failed cases (as 0); distances are over
/// the cases where they are defined.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub cases: Vec<CaseResult>,
    pub summary: SummaryBlock,
}

#[derive(Debug, Clone, Serialize)]
pub struct SummaryBlock {
    pub n_cases: usize,
    pub n_failed: usize,
    pub dsc: Option<Summary>,
    pub bdsc: Option<Summary>,
    pub hd: Option<Summary>,
    pub hd95: Option<Summary>,
    pub assd: Option<Summary>,
    pub band: f64,
    pub band_units: BandUnits,
}

/// Evaluate one case from its files.
fn evaluate_case(c: &Case, opts: &EvalOptions) -> Result<CaseResult> {
    let ((pred, truth), defective) = rayon::join(
        || {
            rayon::join(
                || ctplan_io::read_mask(&c.pred),
                || ctplan_io::read_mask(&c.truth),
            )
        },
        || ctplan_io::read_mask(&c.defective),
    );
    let (pred, truth, defective) = (pred?, truth?, defective?);
    let check = |a: &ctplan_core::Mask, pa: &Path, b: &ctplan_core::Mask, pb: &Path| {
        a.check_same_grid(b, 1e-4).map_err(|e| {
            anyhow!(
                "case '{}': {} and {} are on different grids ({e})",
                c.name,
                pa.display(),
                pb.display()
            )
        })
    };
    check(&pred, &c.pred, &truth, &c.truth)?;
    check(&truth, &c.truth, &defective, &c.defective)?;
    let metrics = ctplan_metrics::evaluate(&pred, &truth, &defective, opts)
        .with_context(|| format!("case '{}'", c.name))?;
    Ok(CaseResult {
        case: c.name.clone(),
        metrics,
    })
}

/// Evaluate cases in parallel with a progress bar; all errors are collected and reported.
pub fn evaluate_all(cases: &[Case], opts: &EvalOptions, label: &str) -> Result<Vec<CaseResult>> {
    let bar = ProgressBar::new(cases.len() as u64);
    bar.set_style(
        ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} cases, {elapsed}")
            .unwrap()
            .progress_chars("=> "),
    );
    bar.set_message(label.to_string());
    let results: Vec<Result<CaseResult>> = cases
        .par_iter()
        .map(|c| {
            let r = evaluate_case(c, opts);
            bar.inc(1);
            r
        })
        .collect();
    bar.finish_and_clear();
    let mut ok = Vec::new();
    let mut errors = Vec::new();
    for r in results {
        match r {
            Ok(v) => ok.push(v),
            Err(e) => errors.push(format!("{e:#}")),
        }
    }
    if !errors.is_empty() {
        bail!("{}", errors.join("\nerror: "));
    }
    Ok(ok)
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

fn csv_text(cases: &[CaseResult]) -> String {
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

pub fn run(a: Args) -> Result<ExitCode> {
    let opts = a.band.options()?;
    let (cases, warnings) = pair(&a.pred, &a.truth, &a.defective)?;
    for w in &warnings {
        eprintln!("warning: {w}");
    }
    let results = evaluate_all(&cases, &opts, "evaluating")?;
    let report = Report {
        summary: summarize_cases(&results, &opts),
        cases: results,
    };
    if let Some(p) = &a.csv {
        ctplan_io::write_bytes(p, csv_text(&report.cases).as_bytes())?;
    }
    if a.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        print!("{}", render_report(&report));
    }
    Ok(ExitCode::SUCCESS)
}
