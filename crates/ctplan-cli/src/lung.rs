//! `ctplan lung plan`: segmentectomy planning on a patient's segmented anatomy.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use ctplan_lung::case::{Report, label_map, markdown, scene};
use ctplan_lung::pictures::{airway_picture, segments_picture};
use ctplan_lung::plan::{
    Margin, Target, analyse, bronchus_reports, crossings, each_segment, lobe_reports,
    nodule_reports, resect, segment_reports,
};
use ctplan_mesh::formats::{Part, glb};

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
}

#[derive(clap::Args)]
struct PlanArgs {
    /// Anatomy: a folder of masks (ctplan, TotalSegmentator or Med-MPD names), a .seg.nrrd, or
    /// one airway mask.
    anatomy: PathBuf,
    /// Case folder to write (segments.seg.nrrd, scene.glb, report.json, report.md, airway.png,
    /// segments.png, resection.png). Written whole or not at all; an existing folder is replaced.
    #[arg(short, long)]
    output: PathBuf,
    /// What to resect: a bronchus/segment/lobe name (RB3, LS1+2, RUL), a branch #N, or a point
    /// x,y,z in LPS mm (the nearest branch). Repeat or separate by spaces for several.
    #[arg(long, num_args = 1..)]
    resect: Vec<String>,
    /// Pre-operative FEV1 in litres, for the predicted post-operative FEV1.
    #[arg(long)]
    fev1: Option<f64>,
    /// Required margin as a multiple of the nodule's maximal diameter.
    #[arg(long, default_value_t = 2.0)]
    margin_k: f64,
    /// Required margin in mm (instead of --margin-k).
    #[arg(long)]
    margin_mm: Option<f64>,
    /// Correct a name: BRANCH=NAME (e.g. 57=LB3), branch numbers as in the report.
    #[arg(long)]
    rename: Vec<String>,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args) -> Result<ExitCode> {
    match args.command {
        Command::Plan(a) => plan(a).map(|()| ExitCode::SUCCESS),
    }
}

fn parse_target(s: &str) -> Result<Target> {
    let parts: Vec<&str> = s.split(',').collect();
    if parts.len() == 3
        && let (Ok(x), Ok(y), Ok(z)) = (
            parts[0].trim().parse::<f64>(),
            parts[1].trim().parse::<f64>(),
            parts[2].trim().parse::<f64>(),
        )
    {
        return Ok(Target::Point([x, y, z]));
    }
    Ok(Target::Name(s.to_string()))
}

fn plan(a: PlanArgs) -> Result<()> {
    if !a.anatomy.exists() {
        bail!("{}: no such file or folder", a.anatomy.display());
    }
    if a.output.exists() && !a.output.is_dir() {
        bail!("{}: exists and is not a folder", a.output.display());
    }
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
        renames.push((b, n.trim().to_string()));
    }
    let targets: Vec<Target> = a
        .resect
        .iter()
        .map(|s| parse_target(s))
        .collect::<Result<_>>()?;
    let margin = match a.margin_mm {
        Some(mm) => Margin::Mm(mm),
        None => Margin::Ratio(a.margin_k),
    };
    let mut seconds = Vec::new();
    let t0 = Instant::now();
    let anatomy = ctplan_lung::anatomy::load(&a.anatomy).map_err(anyhow::Error::msg)?;
    seconds.push(("read".to_string(), t0.elapsed().as_secs_f64()));
    let t1 = Instant::now();
    let model =
        analyse(anatomy, &renames).map_err(|e| anyhow::anyhow!("{}: {e}", a.anatomy.display()))?;
    seconds.push(("analyse".to_string(), t1.elapsed().as_secs_f64()));
    let t2 = Instant::now();
    let (resection, set) = if targets.is_empty() {
        (None, None)
    } else {
        let (mut r, set) = resect(&model, &targets, a.fev1, margin).map_err(anyhow::Error::msg)?;
        r.crossings = crossings(&model, &set);
        (Some(r), Some(set))
    };
    seconds.push(("resect".to_string(), t2.elapsed().as_secs_f64()));
    let t3 = Instant::now();
    let nodules = nodule_reports(&model);
    let segments = segment_reports(&model);
    let lung_volume_ml = segments.iter().map(|s| s.volume_ml).sum::<f64>();
    let halo = resection.as_ref().and_then(|r| r.margin_required_mm);
    let halo = halo.or_else(|| {
        model.nodules.first().map(|n| match margin {
            Margin::Mm(mm) => mm,
            Margin::Ratio(k) => k * n.diameter_mm,
        })
    });
    let segment_resections = each_segment(&model, a.fev1, margin);
    seconds.push(("tables".to_string(), t3.elapsed().as_secs_f64()));
    let t4 = Instant::now();
    let mut report = Report {
        bronchi: bronchus_reports(&model),
        segments,
        lobes: lobe_reports(&model),
        lung_volume_ml: (lung_volume_ml * 10.0).round() / 10.0,
        nodules,
        resection,
        segment_resections,
        warnings: model.warnings.clone(),
        seconds: vec![],
    };
    // Outputs: into a hidden folder beside the target, renamed into place once complete.
    let name = case_name(&a.anatomy);
    let written = ctplan_io::publish_dir(&a.output, |dir| -> Result<()> {
        let (labels, segs) = label_map(&model);
        ctplan_io::seg::write_seg_nrrd(&dir.join("segments.seg.nrrd"), &labels, &segs)?;
        drop(labels);
        let parts = scene(&model, set.as_deref(), halo);
        let gl: Vec<Part> = parts
            .iter()
            .filter(|p| !p.1.triangles.is_empty())
            .map(|(name, mesh, color)| Part {
                name,
                mesh,
                color: *color,
            })
            .collect();
        ctplan_io::write_bytes(&dir.join("scene.glb"), &glb(&gl))?;
        let png = |file: &str, img: ctplan_mesh::render::Image| -> Result<()> {
            let bytes = ctplan_io::png::encode_rgb(img.width, img.height, &img.rgb);
            ctplan_io::write_bytes(&dir.join(file), &bytes)?;
            Ok(())
        };
        if let Some((_, airway, _)) = parts.iter().find(|p| p.0 == "airway") {
            png("airway.png", airway_picture(&model, airway))?;
        }
        if model.territory.is_some() {
            png(
                "segments.png",
                segments_picture(&model, &parts, &report.segments, None),
            )?;
            if let (Some(set), Some(r)) = (&set, &report.resection) {
                let what = r.targets.join(" + ");
                png(
                    "resection.png",
                    segments_picture(&model, &parts, &report.segments, Some((set, &what))),
                )?;
            }
        }
        seconds.push(("outputs".to_string(), t4.elapsed().as_secs_f64()));
        seconds.push(("total".to_string(), t0.elapsed().as_secs_f64()));
        report.seconds = seconds
            .iter()
            .map(|(k, v)| (k.clone(), (v * 1000.0).round() / 1000.0))
            .collect();
        let json = serde_json::to_string_pretty(&report)?;
        ctplan_io::write_bytes(&dir.join("report.json"), json.as_bytes())?;
        ctplan_io::write_bytes(&dir.join("report.md"), markdown(&report, &name).as_bytes())?;
        Ok(())
    });
    if let Err(e) = written {
        return Err(e.context(format!("{}: case folder not written", a.output.display())));
    }
    if a.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_summary(&report, &a.output);
    }
    Ok(())
}

fn case_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_else(|| p.display().to_string())
}

fn print_summary(r: &Report, out: &Path) {
    let named: Vec<&str> = r
        .bronchi
        .iter()
        .filter_map(|b| b.name.as_deref())
        .filter(|n| ctplan_lung::names::segment_index(n).is_some())
        .collect();
    println!(
        "airway: {} branches, {} segmental bronchi named: {}",
        r.bronchi.len(),
        named.len(),
        named.join(" ")
    );
    if r.lung_volume_ml > 0.0 {
        println!(
            "lungs: {:.0} mL in {} segments",
            r.lung_volume_ml,
            r.segments.iter().filter(|s| s.volume_ml > 0.0).count()
        );
    }
    for n in &r.nodules {
        println!(
            "nodule: {:.1} mm in {} ({}), depth {} mm, route {:.0} mm via {}",
            n.diameter_mm,
            n.segment.as_deref().unwrap_or("?"),
            n.lobe.as_deref().unwrap_or("?"),
            n.depth_mm.map_or("?".into(), |d| format!("{d:.1}")),
            n.route.length_mm,
            n.route.bronchi.last().map_or("?", |s| s.as_str())
        );
    }
    if let Some(x) = &r.resection {
        println!(
            "resection {}: {:.0} mL, remaining {:.0} mL{}",
            x.targets.join(" "),
            x.volume_ml,
            x.remaining_ml,
            x.ppo_fev1_count.map_or(String::new(), |c| format!(
                ", ppoFEV1 {c:.2} L (count) / {:.2} L (volume)",
                x.ppo_fev1_volume.unwrap_or(0.0)
            ))
        );
        if let (Some(m), Some(ok)) = (x.margin_mm, x.margin_ok) {
            println!(
                "margin {m:.1} mm (ratio {:.2}): {}{}",
                x.margin_ratio.unwrap_or(0.0),
                if ok { "ok" } else { "insufficient" },
                if x.extend_with.is_empty() {
                    String::new()
                } else {
                    format!("; extend with {}", x.extend_with.join(" + "))
                }
            );
        }
    }
    for w in &r.warnings {
        println!("warning: {w}");
    }
    println!("case written to {}", out.display());
}
