//! `ctplan lung plan`: segmentectomy planning on a patient's segmented anatomy.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use ctplan_lung::airway::BranchId;
use ctplan_lung::case::markdown::{markdown, summary};
use ctplan_lung::resection::{Margin, Target};
use ctplan_lung::{Request, analyse, plan_case};

use crate::outputs::Outputs;

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Subcommand)]
enum Command {
    /// Airway tree with Boyden names, segments, and (with --resect) the resection plan:
    /// volumes, predicted FEV1, margin check, intersegmental plane, vessels, bronchoscopic route.
    Plan(PlanArgs),
    /// The patient's model from a chest CT: body, lungs (1 right, 2 left) and the airway tree
    /// from an automatically found trachea, as a case folder that `lung plan` reads as it is.
    Model(ModelArgs),
}

/// Mask file format of `lung model`.
#[derive(Clone, Copy, clap::ValueEnum)]
enum MaskFormat {
    /// NIfTI, gzip-compressed (`.nii.gz`).
    Nifti,
    /// NRRD, gzip-compressed (`.nrrd`).
    Nrrd,
}

#[derive(clap::Args)]
struct ModelArgs {
    /// The chest CT: a DICOM folder, zip or PATH#SERIES, or a NIfTI, NRRD or MetaImage volume
    /// in Hounsfield units.
    ct: PathBuf,
    /// Case folder to write (body, lungs, airway, vessels, arteries, veins masks on the CT's
    /// grid and model.json).
    /// Written whole or not at all; the same replacement rules as `lung plan`.
    #[arg(short, long)]
    output: PathBuf,
    /// Mask file format.
    #[arg(long, value_enum, default_value = "nifti")]
    format: MaskFormat,
    /// Print model.json to standard output.
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args)]
struct PlanArgs {
    /// Anatomy: a folder of masks (ctplan, TotalSegmentator or Med-MPD names), a .seg.nrrd, or
    /// one airway mask.
    anatomy: PathBuf,
    /// Case folder to write (segments.seg.nrrd, scene.glb, report.json, report.md, airway.png,
    /// segments.png, resection.png). Written whole or not at all. An existing folder is
    /// replaced when it is empty or a ctplan output folder, otherwise only with --force; it may
    /// not be, hold or lie inside the anatomy.
    #[arg(short, long)]
    output: PathBuf,
    /// What to resect: a bronchus/segment/lobe name (RB3, LS1+2, RUL), a branch #N, or a point
    /// x,y,z in LPS mm (the nearest branch; finite, within ±100000 mm). Repeat or separate by
    /// spaces for several.
    #[arg(long, num_args = 1..)]
    resect: Vec<String>,
    /// Pre-operative FEV1 in litres (0.1–10), for the predicted post-operative FEV1.
    #[arg(long, value_parser = crate::bounds::fev1)]
    fev1: Option<f64>,
    /// Required margin as a multiple of the nodule's maximal diameter (0–10).
    #[arg(long, default_value_t = 2.0, value_parser = crate::bounds::margin_k)]
    margin_k: f64,
    /// Required margin in mm (0–200; instead of --margin-k).
    #[arg(long, value_parser = crate::bounds::margin_mm)]
    margin_mm: Option<f64>,
    /// Correct a name: BRANCH=NAME (e.g. 57=LB3), branch numbers as in the report.
    #[arg(long)]
    rename: Vec<String>,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args, force: bool) -> Result<ExitCode> {
    match args.command {
        Command::Plan(a) => plan(a, force).map(|()| ExitCode::SUCCESS),
        Command::Model(a) => model(a, force).map(|()| ExitCode::SUCCESS),
    }
}

fn parse_target(s: &str) -> Result<Target> {
    Ok(match crate::bounds::point(s).map_err(anyhow::Error::msg)? {
        Some(p) => Target::Point(p),
        None => Target::Name(s.to_string()),
    })
}

fn plan(a: PlanArgs, force: bool) -> Result<()> {
    if !a.anatomy.exists() {
        bail!("{}: no such file or folder", a.anatomy.display());
    }
    Outputs::new(force, &[&a.anatomy]).dir(&a.output)?;
    let mut renames = Vec::new();
    for r in &a.rename {
        let (b, n) = r
            .split_once('=')
            .with_context(|| format!("--rename {r:?}: expected BRANCH=NAME, e.g. 57=LB3"))?;
        let b: usize = b
            .trim()
            .trim_start_matches('#')
            .parse()
            .with_context(|| format!("--rename {r:?}: {b:?} is not a branch number"))?;
        renames.push((BranchId(b), n.trim().to_string()));
    }
    let request = Request {
        targets: a
            .resect
            .iter()
            .map(|s| parse_target(s))
            .collect::<Result<_>>()?,
        fev1: a.fev1,
        margin: match a.margin_mm {
            Some(mm) => Margin::Mm(mm),
            None => Margin::Ratio(a.margin_k),
        },
    };
    let mut seconds = Vec::new();
    let t0 = Instant::now();
    crate::panic::input(&a.anatomy);
    let anatomy = ctplan_lung::model::anatomy::load(&a.anatomy)?;
    seconds.push(("read".to_string(), t0.elapsed().as_secs_f64()));
    let t1 = Instant::now();
    let model = analyse(anatomy, &renames).with_context(|| a.anatomy.display().to_string())?;
    seconds.push(("analyse".to_string(), t1.elapsed().as_secs_f64()));
    let mut report = plan_case(&model, &request)?;
    seconds.append(&mut report.seconds);
    let t4 = Instant::now();
    let name = case_name(&a.anatomy);
    // The case folder: written into a hidden folder beside the target, renamed into place once
    // complete.
    let written = ctplan_io::publish_dir(&a.output, "lung plan", force, |dir| -> Result<()> {
        let case = ctplan_lung::case::render(&model, &report);
        ctplan_io::seg::write_seg_nrrd(
            &dir.join("segments.seg.nrrd"),
            &case.labels,
            &case.segments,
        )?;
        for (file, bytes) in &case.files {
            ctplan_io::write_bytes(&dir.join(file), bytes)?;
        }
        seconds.push(("outputs".to_string(), t4.elapsed().as_secs_f64()));
        seconds.push(("total".to_string(), t0.elapsed().as_secs_f64()));
        report.seconds = std::mem::take(&mut seconds);
        ctplan_io::write_bytes(&dir.join("report.json"), report.to_json()?.as_bytes())?;
        ctplan_io::write_bytes(&dir.join("report.md"), markdown(&report, &name).as_bytes())?;
        Ok(())
    });
    if let Err(e) = written {
        return Err(e.context(format!("{}: case folder not written", a.output.display())));
    }
    if a.json {
        println!("{}", report.to_json()?);
    } else {
        print!("{}", summary(&report));
        println!("case written to {}", a.output.display());
    }
    Ok(())
}

fn case_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_else(|| p.display().to_string())
}

fn model(a: ModelArgs, force: bool) -> Result<()> {
    use ctplan_lung::segment::{ChestModel, Stage, hounsfield};
    Outputs::new(force, &[&a.ct]).dir(&a.output)?;
    crate::panic::input(&a.ct);
    let t0 = Instant::now();
    let ct = hounsfield(&ctplan_io::read(&a.ct)?.volume);
    let read = t0.elapsed().as_secs_f64();
    let bar = indicatif::ProgressBar::new(Stage::ALL.len() as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:20} {pos}/{len} {msg}")
            .expect("a valid template"),
    );
    let built = ctplan_lung::segment::model(&ct, &mut |s| {
        bar.set_message(s.name());
        bar.inc(1);
    });
    bar.finish_and_clear();
    let (built, mut report) = built.with_context(|| a.ct.display().to_string())?;
    report.seconds.insert(0, ("read".into(), read));
    let ext = match a.format {
        MaskFormat::Nifti => "nii.gz",
        MaskFormat::Nrrd => "nrrd",
    };
    let opts = ctplan_io::WriteOptions {
        compress: true,
        ..Default::default()
    };
    let ChestModel {
        body,
        lungs,
        airway,
        vessels,
        ..
    } = built;
    let masks = [
        ("body", body),
        ("lungs", lungs),
        ("airway", airway.mask),
        ("vessels", vessels.mask),
        ("arteries", vessels.arteries),
        ("veins", vessels.veins),
    ];
    let written = ctplan_io::publish_dir(&a.output, "lung model", force, |dir| -> Result<String> {
        for (name, v) in masks {
            let file = dir.join(format!("{name}.{ext}"));
            ctplan_io::write(&file, &ctplan_core::AnyVolume::U8(v), &opts)?;
        }
        report
            .seconds
            .push(("total".into(), t0.elapsed().as_secs_f64()));
        let json = serde_json::to_string_pretty(&report)?;
        ctplan_io::write_bytes(&dir.join("model.json"), json.as_bytes())?;
        Ok(json)
    });
    let json = match written {
        Ok(json) => json,
        Err(e) => return Err(e.context(format!("{}: case folder not written", a.output.display()))),
    };
    if a.json {
        println!("{json}");
    } else {
        let w = &report.airway;
        println!(
            "lungs: right {:.0} mL, left {:.0} mL; airway {:.1} mL at {} HU, {} branches, generation {}",
            report.right_lung_ml,
            report.left_lung_ml,
            w.volume_ml,
            w.threshold_hu,
            w.branches,
            w.max_generation
        );
        println!("segmental bronchi named: {}", w.segmental_bronchi.join(" "));
        let v = &report.vessels;
        println!(
            "vessels: {:.0} mL (arteries {:.0} mL, veins {:.0} mL, {:.0} % unlabelled)",
            v.volume_ml,
            v.artery_ml,
            v.vein_ml,
            100.0 * v.unlabelled_fraction
        );
        for warning in &report.warnings {
            println!("warning: {warning}");
        }
        println!("model written to {}", a.output.display());
    }
    Ok(())
}
