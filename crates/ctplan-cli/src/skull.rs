//! `ctplan skull segment|clean|inject|prior`: the skull data pipeline.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use ctplan_core::{AnyVolume, Mask, with_volume};
use ctplan_cranio::defects::{Style, inject};
use ctplan_cranio::prior::{ShapePrior, Template as ShapeTemplate};
use ctplan_cranio::rng::Rng;
use ctplan_cranio::skull::{SkullGuard, clean, fill_small_cavities, segment};
use rayon::prelude::*;

use crate::cases::{create_output_dir, remove_created, volumes_in};

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
                        let out_name = format!("{name}_{}_s{seed}_{k}", style.name());
                        let mut rng = Rng::derive(seed, &format!("{name}/{}/{k}", style.name()));
                        let inj = inject(&skull, style, &mut rng)
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

/// Read every skull once (in parallel, one at a time per thread): its hash and its template.
fn build_prior(folder: &Path, output: &Path, hold_out: &[String]) -> Result<()> {
    let inputs = volumes_in(folder)?;
    for h in hold_out {
        if !inputs.contains_key(h) {
            bail!("{}: no case '{h}' to hold out", folder.display());
        }
    }
    let read: Vec<(String, u64, ShapeTemplate)> = inputs
        .par_iter()
        .map(|(name, path)| {
            let m = ctplan_io::read_mask(path)?;
            let mut h = std::hash::DefaultHasher::new();
            std::hash::Hash::hash(&(m.dims, &m.data), &mut h);
            let t = ShapePrior::template(&m).with_context(|| format!("{}", path.display()))?;
            Ok((name.clone(), std::hash::Hasher::finish(&h), t))
        })
        .collect::<Result<_>>()?;
    let held: Vec<u64> = read
        .iter()
        .filter(|(n, _, _)| hold_out.contains(n))
        .map(|(_, h, _)| *h)
        .collect();
    let mut kept = Vec::new();
    for (name, h, t) in read {
        if hold_out.contains(&name) {
            continue;
        }
        if held.contains(&h) {
            println!("{name}: left out, identical to a held-out case");
            continue;
        }
        kept.push((name, t));
    }
    if kept.is_empty() {
        bail!(
            "{}: no skull left to build the prior from",
            folder.display()
        );
    }
    let prior = ShapePrior::new(kept);
    ctplan_io::write_bytes(output, &prior.to_bytes())?;
    println!(
        "prior of {} skulls ({} held out) → {}",
        prior.len(),
        hold_out.len(),
        output.display()
    );
    Ok(())
}
