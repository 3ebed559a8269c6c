//! `ctplan lung plan`: segmentectomy planning on a patient's segmented anatomy.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use ctplan_lung::airway::BranchId;
use ctplan_lung::case::markdown::{markdown, summary};
use ctplan_lung::resection::{Margin, Target};
use ctplan_lung::segment::input::Source;
use ctplan_lung::segment::{Built, ChestModel, Stage, hounsfield};
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
    /// The patient's model from a chest CT: body, lungs (1 right, 2 left), the airway tree
    /// from an automatically found trachea, vessels (arteries and veins told apart where the
    /// scan allows), fissures, lobes, lesions grown from --nodule points and a list of
    /// candidate lesions, and a picture, as a case folder that `lung plan` reads as it is.
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
    /// Case folder to write (body, lungs, airway, vessels, arteries, veins, fissures, lobes and,
    /// with --nodule, nodule masks on the CT's grid; model.json and model.png).
    /// Written whole or not at all; the same replacement rules as `lung plan`.
    #[arg(short, long)]
    output: PathBuf,
    /// Mask file format.
    #[arg(long, value_enum, default_value = "nifti")]
    format: MaskFormat,
    /// Print model.json to standard output.
    #[arg(long)]
    json: bool,
    /// A lesion to grow from this point x,y,z (LPS mm, e.g. a candidate's centre from
    /// model.json); repeat for several. The lesions are written as nodule (label n for the
    /// n-th point) and become the plan's nodules.
    #[arg(long, value_parser = nodule_point, allow_hyphen_values = true)]
    nodule: Vec<[f64; 3]>,
}

/// A `--nodule` point: three finite coordinates (LPS mm).
fn nodule_point(s: &str) -> Result<[f64; 3], String> {
    match crate::bounds::point(s) {
        Ok(Some(p)) => Ok(p),
        Ok(None) => Err(format!("{s:?}: expected x,y,z in LPS mm, e.g. -85,81,-8")),
        Err(e) => Err(e.replacen("--resect", "--nodule", 1)),
    }
}

#[derive(clap::Args)]
struct PlanArgs {
    /// Anatomy: a folder of masks (ctplan, TotalSegmentator or Med-MPD names), a .seg.nrrd, or
    /// one airway mask; or a chest CT (a DICOM folder, zip or PATH#SERIES, or a volume in HU),
    /// whose model `lung model` builds first.
    anatomy: PathBuf,
    /// Case folder to write (segments.seg.nrrd, scene.glb, report.json, report.md, airway.png,
    /// segments.png, resection.png; from a CT also model/ as `lung model` writes it). Written
    /// whole or not at all. An existing folder is
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
    /// With a CT: a lesion to grow from this point x,y,z (LPS mm), as `lung model --nodule`;
    /// it becomes the plan's nodule (margin, halo). Repeat for several.
    #[arg(long, value_parser = nodule_point, allow_hyphen_values = true)]
    nodule: Vec<[f64; 3]>,
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
    if !ctplan_dicom::split_selector(&a.anatomy).0.exists() {
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
    let source = ctplan_lung::segment::input::read(&a.anatomy)?;
    seconds.push(("read".to_string(), t0.elapsed().as_secs_f64()));
    let t1 = Instant::now();
    // A CT: the model is built first (its masks and model.json go into the case's `model`
    // folder), then planned on.
    let (model, built) = match source {
        Source::Anatomy(_) if !a.nodule.is_empty() => bail!(
            "{}: --nodule grows a lesion from a CT, and this is an anatomy of masks (give its nodule mask instead)",
            a.anatomy.display()
        ),
        Source::Anatomy(anatomy) => (
            analyse(*anatomy, &renames).with_context(|| a.anatomy.display().to_string())?,
            None,
        ),
        Source::Ct(ct) => {
            let Built {
                chest,
                analysed,
                summary,
            } = build(&ct, &a.nodule).with_context(|| a.anatomy.display().to_string())?;
            drop(ct);
            let pictures = model_pictures(&chest, &analysed);
            let analysed = if renames.is_empty() {
                analysed
            } else {
                drop(analysed);
                analyse(chest.anatomy(), &renames)
                    .with_context(|| a.anatomy.display().to_string())?
            };
            (analysed, Some((chest, summary, pictures)))
        }
    };
    seconds.push(("analyse".to_string(), t1.elapsed().as_secs_f64()));
    let mut report = plan_case(&model, &request)?;
    seconds.append(&mut report.seconds);
    let t4 = Instant::now();
    let name = case_name(&a.anatomy);
    // The case folder: written into a hidden folder beside the target, renamed into place once
    // complete.
    let written = ctplan_io::publish_dir(&a.output, "lung plan", force, |dir| -> Result<()> {
        write_case(dir, &model, &mut report, &name, |seconds_out| {
            seconds.push(("outputs".to_string(), t4.elapsed().as_secs_f64()));
            seconds.push(("total".to_string(), t0.elapsed().as_secs_f64()));
            *seconds_out = std::mem::take(&mut seconds);
        })?;
        if let Some((chest, summary, pictures)) = built {
            let sub = dir.join("model");
            std::fs::create_dir(&sub)
                .with_context(|| format!("{}: cannot create the folder", sub.display()))?;
            write_model(&sub, chest, &summary, &pictures, "nii.gz")?;
        }
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

/// Write a planned case into `dir`: `segments.seg.nrrd`, the scene and pictures, then
/// `report.json` and `report.md` (named `name`), after `times` has set the report's seconds
/// (so that they count the writing of the rest).
pub(crate) fn write_case(
    dir: &Path,
    model: &ctplan_lung::Model,
    report: &mut ctplan_lung::Report,
    name: &str,
    times: impl FnOnce(&mut Vec<(String, f64)>),
) -> Result<()> {
    let case = ctplan_lung::case::render(model, report);
    ctplan_io::seg::write_seg_nrrd(&dir.join("segments.seg.nrrd"), &case.labels, &case.segments)?;
    for (file, bytes) in &case.files {
        ctplan_io::write_bytes(&dir.join(file), bytes)?;
    }
    times(&mut report.seconds);
    ctplan_io::write_bytes(&dir.join("report.json"), report.to_json()?.as_bytes())?;
    ctplan_io::write_bytes(&dir.join("report.md"), markdown(report, name).as_bytes())?;
    Ok(())
}

fn case_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_else(|| p.display().to_string())
}

/// A lesion in one line: centre, diameter, volume, density, lobe.
fn lesion_line(l: &ctplan_lung::segment::LesionSummary) -> String {
    let [x, y, z] = l.centre_mm;
    format!(
        "{x:.1},{y:.1},{z:.1} mm, {:.1} mm across, {:.2} mL, {:.0} HU, {}{}",
        l.diameter_mm,
        l.volume_ml,
        l.mean_hu,
        l.lobe.as_deref().unwrap_or(l.side),
        l.score
            .map(|s| format!(", score {s:.1}"))
            .unwrap_or_default()
    )
}

/// Build the model of `ct` (HU), with lesions grown from `nodules` (LPS mm), with a progress
/// bar on the stages.
fn build(
    ct: &ctplan_core::Volume<i16>,
    nodules: &[[f64; 3]],
) -> Result<Built, ctplan_lung::LungError> {
    let bar = indicatif::ProgressBar::new(Stage::ALL.len() as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:20} {pos}/{len} {msg}")
            .expect("a valid template"),
    );
    let built = ctplan_lung::segment::model(ct, nodules, &mut |s| {
        bar.set_message(s.name());
        bar.inc(1);
    });
    bar.finish_and_clear();
    built
}

/// The pictures of a built model (`model.png`), drawn before the analysis is let go.
pub(crate) fn model_pictures(
    chest: &ChestModel,
    analysed: &ctplan_lung::Model,
) -> Vec<(&'static str, Vec<u8>)> {
    match &chest.lobes {
        Some(lobes) => ctplan_lung::case::model_files(analysed, lobes),
        None => Vec::new(),
    }
}

/// Write a built model into `dir`: its masks (`ext`: `nii.gz` or `nrrd`), pictures and
/// `model.json`; returns the JSON.
pub(crate) fn write_model(
    dir: &Path,
    chest: ChestModel,
    summary: &ctplan_lung::segment::Summary,
    pictures: &[(&'static str, Vec<u8>)],
    ext: &str,
) -> Result<String> {
    let opts = ctplan_io::WriteOptions {
        compress: true,
        ..Default::default()
    };
    for (name, v) in chest.masks() {
        let file = dir.join(format!("{name}.{ext}"));
        ctplan_io::write(&file, &ctplan_core::AnyVolume::U8(v), &opts)?;
    }
    for (file, bytes) in pictures {
        ctplan_io::write_bytes(&dir.join(file), bytes)?;
    }
    let json = serde_json::to_string_pretty(summary)?;
    ctplan_io::write_bytes(&dir.join("model.json"), json.as_bytes())?;
    Ok(json)
}

fn model(a: ModelArgs, force: bool) -> Result<()> {
    Outputs::new(force, &[&a.ct]).dir(&a.output)?;
    crate::panic::input(&a.ct);
    let t0 = Instant::now();
    let ct = hounsfield(&ctplan_io::read(&a.ct)?.volume);
    let read = t0.elapsed().as_secs_f64();
    let built = build(&ct, &a.nodule);
    drop(ct);
    let Built {
        chest,
        analysed,
        summary: mut report,
    } = built.with_context(|| a.ct.display().to_string())?;
    report.seconds.insert(0, ("read".into(), read));
    let t1 = Instant::now();
    let pictures = model_pictures(&chest, &analysed);
    drop(analysed);
    report
        .seconds
        .push(("picture".into(), t1.elapsed().as_secs_f64()));
    let ext = match a.format {
        MaskFormat::Nifti => "nii.gz",
        MaskFormat::Nrrd => "nrrd",
    };
    let written = ctplan_io::publish_dir(&a.output, "lung model", force, |dir| -> Result<String> {
        report
            .seconds
            .push(("total".into(), t0.elapsed().as_secs_f64()));
        write_model(dir, chest, &report, &pictures, ext)
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
        for (n, l) in report.lesions.iter().enumerate() {
            println!("lesion {}: {}", n + 1, lesion_line(l));
        }
        for (n, c) in report.candidates.iter().enumerate() {
            println!("candidate {}: {}", n + 1, lesion_line(c));
        }
        for warning in &report.warnings {
            println!("warning: {warning}");
        }
        println!("model written to {}", a.output.display());
    }
    Ok(())
}
