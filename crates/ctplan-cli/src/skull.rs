//! `ctplan skull segment|clean|inject|prior`: the skull data pipeline.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use ctplan_core::{AnyVolume, Mask, with_volume};
use ctplan_cranio::defects::{Style, inject_seeded};
use ctplan_cranio::shape;
use ctplan_cranio::skull::{SkullGuard, clean, fill_small_cavities, segment};
use rayon::prelude::*;

use ctplan_io::cases::{create_output_dir, remove_created, volumes_in};

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
        /// Output mask.
        #[arg(short, long)]
        output: PathBuf,
        /// Bone threshold in HU.
        #[arg(long, default_value_t = 150.0)]
        threshold: f64,
        /// Fill enclosed cavities up to this volume (mL), e.g. the diploë; 0 disables.
        #[arg(long, default_value_t = 0.0)]
        fill_ml: f64,
    },
    /// The same cleaning on an existing bone mask.
    Clean {
        mask: PathBuf,
        #[arg(short, long)]
        output: PathBuf,
        /// Fill enclosed cavities up to this volume (mL); 0 disables.
        #[arg(long, default_value_t = 0.0)]
        fill_ml: f64,
    },
    /// Cut artificial defects into complete skulls: writes OUTDIR/defective_skull and OUTDIR/implant.
    Inject {
        /// A complete skull mask, or a folder of them.
        complete: PathBuf,
        /// Output folder.
        #[arg(short, long)]
        output: PathBuf,
        /// Defect style: cube, sphere, craniotomy, random, bilateral, frontoorbital, parietotemporal.
        #[arg(long)]
        style: String,
        /// Random seed; the same seed, input and style give the same defect.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Defects per skull.
        #[arg(long, default_value_t = 1)]
        count: usize,
    },
    /// Build the shape prior of `ctplan implant` from complete skulls.
    Prior {
        /// Folder of complete skull masks.
        complete: PathBuf,
        /// Output prior file (.ctprior).
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

pub fn run(a: Args) -> Result<ExitCode> {
    match a.command {
        Command::Segment {
            ct,
            output,
            threshold,
            fill_ml,
        } => {
            let img = ctplan_io::read(&ct)?;
            let fill = (fill_ml > 0.0).then_some(fill_ml);
            let skull =
                with_volume!(&img.volume, v => segment(v, threshold, fill, &SkullGuard::default()))
                    .with_context(|| format!("{}", ct.display()))?;
            write_mask_like(&output, &skull)?;
            println!("skull: {:.1} mL → {}", ml(&skull), output.display());
        }
        Command::Clean {
            mask,
            output,
            fill_ml,
        } => {
            let m = ctplan_io::read_mask(&mask)?;
            let mut c =
                clean(&m, &SkullGuard::default()).with_context(|| format!("{}", mask.display()))?;
            if fill_ml > 0.0 {
                c = fill_small_cavities(&c, fill_ml);
            }
            write_mask_like(&output, &c)?;
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
            if count == 0 {
                bail!("--count must be at least 1");
            }
            let inputs = volumes_in(&complete)?;
            let mut created = Vec::new();
            for sub in ["defective_skull", "implant"] {
                created.extend(create_output_dir(&output.join(sub))?);
            }
            let results: Vec<Result<Vec<String>>> = inputs
                .par_iter()
                .map(|(name, path)| {
                    let skull = ctplan_io::read_mask(path)?;
                    let mut lines = Vec::new();
                    for k in 0..count {
                        let (out_name, inj) = inject_seeded(&skull, name, style, seed, k)
                            .with_context(|| format!("{}", path.display()))?;
                        write_mask_like(
                            &output
                                .join("defective_skull")
                                .join(format!("{out_name}.nrrd")),
                            &inj.defective,
                        )?;
                        write_mask_like(
                            &output.join("implant").join(format!("{out_name}.nrrd")),
                            &inj.implant,
                        )?;
                        lines.push(format!(
                            "{out_name}: implant {:.1} mL at ({:.1}, {:.1}, {:.1}) mm LPS",
                            ml(&inj.implant),
                            inj.centre[0],
                            inj.centre[1],
                            inj.centre[2]
                        ));
                    }
                    Ok(lines)
                })
                .collect();
            let failed = results.iter().filter(|r| r.is_err()).count();
            for r in &results {
                match r {
                    Ok(lines) => lines.iter().for_each(|l| println!("{l}")),
                    Err(e) => eprintln!("error: {e:#}"),
                }
            }
            if failed == results.len() {
                remove_created(&created);
            }
            if failed > 0 {
                return Ok(ExitCode::FAILURE);
            }
        }
        Command::Prior {
            complete,
            output,
            hold_out,
        } => build_prior(&complete, &output, &hold_out)?,
    }
    Ok(ExitCode::SUCCESS)
}

/// The prior of the complete skulls in `folder`, less the held-out cases and their copies.
fn build_prior(folder: &Path, output: &Path, hold_out: &[String]) -> Result<()> {
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
    ctplan_io::write_bytes(output, &prior.to_bytes())?;
    println!(
        "prior of {} skulls ({} held out) → {}",
        prior.len(),
        hold_out.len(),
        output.display()
    );
    Ok(())
}
