//! `ctplan rank`: rank submissions as the AutoImplant challenge does.
//!
//! Each submission folder is evaluated on the same cases; it is ranked by mean DSC and mean
//! bDSC (descending) and mean HD95 (ascending), tied means sharing the average rank, and the
//! final rank is the mean of the three ranks. A failed case (empty prediction) counts DSC = bDSC
//! = 0 and HD95 = +∞ (so its submission ranks last on HD95); Welch's two-sided t-test between
//! each pair of submissions uses the cases where both have a value.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Result, bail};
use ctplan_metrics::ranking::{ranks, welch_t_test};
use serde_json::json;

use crate::cases::pair;
use crate::eval::{BandArgs, CaseResult, evaluate_all};
use crate::table::{num, render};

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

const METRICS: [(&str, bool); 3] = [("dsc", true), ("bdsc", true), ("hd95", false)];

fn value(c: &CaseResult, metric: &str) -> f64 {
    match metric {
        "dsc" => c.metrics.dsc,
        "bdsc" => c.metrics.bdsc,
        _ => c.metrics.hd95.unwrap_or(f64::INFINITY),
    }
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
        let (cases, warnings) = pair(s, &a.truth, &a.defective)?;
        for w in warnings {
            eprintln!("warning: {w}");
        }
        per_sub.push(evaluate_all(&cases, &opts, name)?);
    }
    let case_names: Vec<&str> = per_sub[0].iter().map(|c| c.case.as_str()).collect();
    for (s, r) in per_sub.iter().enumerate() {
        if r.iter()
            .map(|c| c.case.as_str())
            .ne(case_names.iter().copied())
        {
            bail!("{}: evaluated cases differ from {}", names[s], names[0]);
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
                tests.push((i, j, m, p));
            }
        }
    }
    if a.json {
        let subs: Vec<_> = order
            .iter()
            .map(|&s| {
                json!({"submission": names[s], "final_rank": final_rank[s], "mean_dsc": means[s][0],
                       "mean_bdsc": means[s][1], "mean_hd95": means[s][2],
                       "rank_dsc": metric_ranks[0][s], "rank_bdsc": metric_ranks[1][s], "rank_hd95": metric_ranks[2][s],
                       "failed_cases": per_sub[s].iter().filter(|c| c.metrics.hd95.is_none()).count()})
            })
            .collect();
        let t: Vec<_> = tests
            .iter()
            .map(|(i, j, m, p)| json!({"a": names[*i], "b": names[*j], "metric": m, "p_value": p.filter(|v| v.is_finite())}))
            .collect();
        println!(
            "{}",
            json!({"cases": case_names.len(), "ranking": subs, "welch_t_tests": t})
        );
    } else {
        let rows: Vec<Vec<String>> = order
            .iter()
            .map(|&s| {
                vec![
                    names[s].clone(),
                    format!("{:.2}", final_rank[s]),
                    format!("{:.4} ({})", means[s][0], metric_ranks[0][s]),
                    format!("{:.4} ({})", means[s][1], metric_ranks[1][s]),
                    format!("{} ({})", num(Some(means[s][2]), 3), metric_ranks[2][s]),
                ]
            })
            .collect();
        print!(
            "{}",
            render(
                &[
                    "submission",
                    "final rank",
                    "DSC (rank)",
                    "bDSC (rank)",
                    "HD95 mm (rank)"
                ],
                &rows
            )
        );
        println!(
            "\nWelch two-sided t-test p-values over {} cases:",
            case_names.len()
        );
        let rows: Vec<Vec<String>> = tests
            .chunks(3)
            .map(|c| {
                let (i, j) = (c[0].0, c[0].1);
                let mut r = vec![format!("{} vs {}", names[i], names[j])];
                r.extend(c.iter().map(|t| num(t.3, 4)));
                r
            })
            .collect();
        print!("{}", render(&["pair", "DSC p", "bDSC p", "HD95 p"], &rows));
    }
    Ok(ExitCode::SUCCESS)
}
