//! `ctplan skull segment|clean|inject|prior`: the skull data pipeline.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use ctplan_core::{AnyVolume, Mask, with_volume};
use ctplan_cranio::defects::{Style, inject_seeded};
use ctplan_cranio::shape;
use ctplan_cranio::skull::{SkullGuard, clean, fill_small_cavities, segment};
use rayon::prelude::*;

use ctplan_io::cases::volumes_in;

use crate::outputs::{Kind, Outputs, publish_batch};

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Subcommand)]
enum Command {
    /// Skull from a CT: bone ≥ threshold (HU), largest skull-like component, optional cavity filling.
    Segment {
        /// CT volume (NRRD, NIfTI, MetaImage).
        ct: PathBuf,
        /// Output mask (an existing file is replaced only with --force).
        #[arg(short, long)]
        output: PathBuf,
        /// Bone threshold in HU (-32768–65535).
        #[arg(long, default_value_t = 150.0, value_parser = crate::bounds::hu)]
        threshold: f64,
        /// Fill enclosed cavities up to this volume (mL, 0–10000), e.g. the diploë; 0 disables.
        #[arg(long, default_value_t = 0.0, value_parser = crate::bounds::fill_ml)]
        fill_ml: f64,
    },
    /// The same cleaning on an existing bone mask.
    Clean {
        mask: PathBuf,
        /// Output mask (an existing file is replaced only with --force).
        #[arg(short, long)]
        output: PathBuf,
        /// Fill enclosed cavities up to this volume (mL, 0–10000); 0 disables.
        #[arg(long, default_value_t = 0.0, value_parser = crate::bounds::fill_ml)]
        fill_ml: f64,
    },
    /// Cut artificial defects into complete skulls: writes OUTDIR/defective_skull and OUTDIR/implant.
    Inject {
        /// A complete skull mask, or a folder of them.
        complete: PathBuf,
        /// Output folder, written whole or not at all. An existing folder is replaced when it
        /// is empty or a ctplan output folder, otherwise only with --force.
        #[arg(short, long)]
        output: PathBuf,
        /// Defect style: cube, sphere, craniotomy, random, bilateral, frontoorbital, parietotemporal.
        #[arg(long)]
        style: String,
        /// Random seed; the same seed, input and style give the same defect.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Defects per skull, 1–100.
        #[arg(long, default_value_t = 1, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=100))]
        count: usize,
    },
    /// Build the shape prior of `ctplan implant` from complete skulls.
    Prior {
        /// Folder of complete skull masks.
        complete: PathBuf,
        /// Output prior file (.ctprior; an existing file is replaced only with --force).
        #[arg(short, long)]
        output: PathBuf,
        /// Cases held out for evaluation (comma-separated names): left out, together with any
        /// other case whose mask is identical to one of them.
        #[arg(long, value_delimiter = ',')]
        hold_out: Vec<String>,
    },
}

fn ml(m: &Mask) -> f64 {
    m.nonzero_ml()
}

fn write_mask_like(path: &Path, m: &Mask) -> Result<()> {
    ctplan_io::write(
        path,
        &AnyVolume::U8(m.clone()),
        &ctplan_io::WriteOptions::default(),
    )?;
    Ok(())
}

pub fn run(a: Args, force: bool) -> Result<ExitCode> {
    match a.command {
        Command::Segment {
            ct,
            output,
            threshold,
            fill_ml,
        } => {
            let mut outputs = Outputs::new(force, &[&ct]);
            let out = outputs.file(&output, Kind::Volume)?;
            crate::panic::input(&ct);
            let img = ctplan_io::read(&ct)?;
            let fill = (fill_ml > 0.0).then_some(fill_ml);
            let skull =
                with_volume!(&img.volume, v => segment(v, threshold, fill, &SkullGuard::default()))
                    .with_context(|| format!("{}", ct.display()))?;
            write_mask_like(&out, &skull)?;
            outputs.commit()?;
            println!("skull: {:.1} mL → {}", ml(&skull), output.display());
        }
        Command::Clean {
            mask,
            output,
            fill_ml,
        } => {
            let mut outputs = Outputs::new(force, &[&mask]);
            let out = outputs.file(&output, Kind::Volume)?;
            crate::panic::input(&mask);
            let m = ctplan_io::read_mask(&mask)?;
            let mut c =
                clean(&m, &SkullGuard::default()).with_context(|| format!("{}", mask.display()))?;
            if fill_ml > 0.0 {
                c = fill_small_cavities(&c, fill_ml);
            }
            write_mask_like(&out, &c)?;
            outputs.commit()?;
            println!(
                "skull: {:.1} mL kept of {:.1} mL → {}",
                ml(&c),
                ml(&m),
                output.display()
            );
        }
        Command::Inject {
            complete,
            output,
            style,
            seed,
            count,
        } => {
            let style: Style = style.parse().map_err(anyhow::Error::msg)?;
            Outputs::new(force, &[&complete]).dir(&output)?;
            let inputs = volumes_in(&complete)?;
            // The whole folder is published at the end, holding every case that succeeded;
            // when every case fails, nothing is.
            let run = |dir: &Path| -> Vec<Result<Vec<String>>> {
                for sub in ["defective_skull", "implant"] {
                    let d = dir.join(sub);
                    if let Err(e) = std::fs::create_dir(&d) {
                        return vec![Err(
                            ctplan_io::IoError::os(&d, "create the folder", e).into()
                        )];
                    }
                }
                inputs
                    .par_iter()
                    .map(|(name, path)| inject_one(dir, name, path, style, seed, count))
                    .collect()
            };
            let results = publish_batch(&output, "skull inject", force, run, |r| r.is_err())?;
            let failed = results.iter().filter(|r| r.is_err()).count();
            for r in &results {
                match r {
                    Ok(lines) => lines.iter().for_each(|l| println!("{l}")),
                    Err(e) => eprintln!("error: {e:#}"),
                }
            }
            if failed > 0 {
                return Ok(ExitCode::FAILURE);
            }
        }
        Command::Prior {
            complete,
            output,
            hold_out,
        } => {
            let mut outputs = Outputs::new(force, &[&complete]);
            let out = outputs.file(&output, Kind::Any)?;
            build_prior(&complete, &out, &output, &hold_out)?;
            outputs.commit()?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Cut `count` defects into the skull `path` (case `name`), writing both masks under `dir`.
fn inject_one(
    dir: &Path,
    name: &str,
    path: &Path,
    style: Style,
    seed: u64,
    count: usize,
) -> Result<Vec<String>> {
    crate::panic::input(path);
    let skull = ctplan_io::read_mask(path)?;
    let mut lines = Vec::new();
    for k in 0..count {
        let (out_name, inj) = inject_seeded(&skull, name, style, seed, k)
            .with_context(|| format!("{}", path.display()))?;
        let file = format!("{out_name}.nrrd");
        write_mask_like(&dir.join("defective_skull").join(&file), &inj.defective)?;
        write_mask_like(&dir.join("implant").join(&file), &inj.implant)?;
        lines.push(format!(
            "{out_name}: implant {:.1} mL at ({:.1}, {:.1}, {:.1}) mm LPS",
            ml(&inj.implant),
            inj.centre[0],
            inj.centre[1],
            inj.centre[2]
        ));
    }
    Ok(lines)
}

/// The prior of the complete skulls in `folder`, less the held-out cases and their copies.
fn build_prior(folder: &Path, out: &Path, output: &Path, hold_out: &[String]) -> Result<()> {
    crate::panic::input(folder);
    let inputs: Vec<(String, PathBuf)> = volumes_in(folder)?.into_iter().collect();
    let read = |p: &PathBuf| -> Result<Mask, Box<dyn std::error::Error + Send + Sync>> {
        Ok(ctplan_io::read_mask(p)?)
    };
    let built =
        shape::build(&inputs, read, hold_out).with_context(|| format!("{}", folder.display()))?;
    for name in &built.copies_left_out {
        println!("{name}: left out, identical to a held-out case");
    }
    let prior = built.prior;
    ctplan_io::write_bytes(out, &prior.to_bytes())?;
    println!(
        "prior of {} skulls ({} held out) → {}",
        prior.len(),
        hold_out.len(),
        output.display()
    );
    Ok(())
}
