//! `ctplan eval`: the AutoImplant evaluation of a folder of predicted implants. Pairing,
//! measuring and the report are `ctplan_metrics`'; this file parses, shows progress and prints.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Result, bail};
use ctplan_metrics::batch::{self, Case, pair};
use ctplan_metrics::report::csv_text;
use ctplan_metrics::{BandUnits, EvalOptions};
use indicatif::{ProgressBar, ProgressStyle};

use crate::outputs::{Kind, Outputs};

pub use ctplan_metrics::report::{CaseResult, Report, render_report, summarize_cases};

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
    /// Also write the per-case table as CSV to this file (an existing file is replaced only
    /// with --force).
    #[arg(long)]
    csv: Option<PathBuf>,
    #[command(flatten)]
    band: BandArgs,
}

/// The bDSC border band options shared by `eval` and `rank`.
#[derive(clap::Args)]
pub struct BandArgs {
    /// Width of the bDSC border band, 0–1000.
    #[arg(long, default_value_t = 10.0, value_parser = crate::bounds::band)]
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

/// Evaluate cases in parallel with a progress bar; every failure is reported.
pub fn evaluate_all(cases: &[Case], opts: &EvalOptions, label: &str) -> Result<Vec<CaseResult>> {
    let bar = ProgressBar::new(cases.len() as u64);
    bar.set_style(
        ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} cases, {elapsed}")
            .unwrap()
            .progress_chars("=> "),
    );
    bar.set_message(label.to_string());
    let results = batch::evaluate_all(cases, opts, &|| bar.inc(1));
    bar.finish_and_clear();
    Ok(results?)
}

pub fn run(a: Args, force: bool) -> Result<ExitCode> {
    let opts = a.band.options()?;
    let mut outputs = Outputs::new(force, &[&a.pred, &a.truth, &a.defective]);
    let csv = a
        .csv
        .as_ref()
        .map(|p| outputs.file(p, Kind::Any))
        .transpose()?;
    crate::panic::input(&a.pred);
    let (cases, warnings) = pair(&a.pred, &a.truth, &a.defective)?;
    for w in &warnings {
        eprintln!("warning: {w}");
    }
    let report = Report::new(evaluate_all(&cases, &opts, "evaluating")?, &opts);
    if let Some(p) = &csv {
        ctplan_io::write_bytes(p, csv_text(&report.cases).as_bytes())?;
        outputs.commit()?;
    }
    if a.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        print!("{}", render_report(&report));
    }
    Ok(ExitCode::SUCCESS)
}
