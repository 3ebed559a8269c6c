//! `ctplan rank`: rank submissions as the AutoImplant challenge does. Each submission folder is
//! evaluated on the same cases and ranked by `ctplan_metrics::ranking` (its module doc gives the
//! rules); this file parses, shows progress and prints.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use ctplan_metrics::batch::pair;
use ctplan_metrics::ranking::rank_submissions;

use crate::eval::{BandArgs, CaseResult, evaluate_all};

#[derive(clap::Args)]
pub struct Args {
    /// Submission folders (predicted implants), two or more.
    #[arg(required = true, num_args = 2..)]
    submissions: Vec<PathBuf>,
    /// True implants folder.
    #[arg(long)]
    truth: PathBuf,
    /// Defective skulls folder.
    #[arg(long)]
    defective: PathBuf,
    /// Print one JSON object instead of tables.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    band: BandArgs,
}

pub fn run(a: Args) -> Result<ExitCode> {
    let opts = a.band.options()?;
    let names: Vec<String> = a
        .submissions
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    let mut per_sub: Vec<Vec<CaseResult>> = Vec::new();
    for (s, name) in a.submissions.iter().zip(&names) {
        crate::panic::input(s);
        let (cases, warnings) = pair(s, &a.truth, &a.defective)?;
        for w in warnings {
            eprintln!("warning: {w}");
        }
        per_sub.push(evaluate_all(&cases, &opts, name)?);
    }
    let ranking = rank_submissions(names, &per_sub)?;
    if a.json {
        println!("{}", ranking.to_json());
    } else {
        print!("{}", ranking.render());
    }
    Ok(ExitCode::SUCCESS)
}
