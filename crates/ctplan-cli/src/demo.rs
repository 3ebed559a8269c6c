//! `ctplan demo`: both workflows end to end on synthetic data the project makes, with no data.
//!
//! Cranioplasty: it builds a skull phantom with a vault defect, writes the complete skull, the
//! defective skull and the true implant as NRRD, designs the implant from the defective skull
//! alone with the shipped shape prior and network (as `ctplan implant` does), meshes it
//! (printable STL) and the scene (glTF: defective skull and designed implant), and evaluates
//! the design against the true implant with the AutoImplant metrics, writing the report as
//! text and JSON.
//!
//! Segmentectomy (`lung/`): it renders a CT of the procedural chest (`phantom::synthetic`), builds
//! the patient's model from that CT with the nodule grown from its point (as `lung model
//! --nodule` does), and plans the resection of the branch nearest the nodule with its margin
//! verdict (as `lung plan CT --resect POINT --nodule POINT` does), writing both folders.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result};
use ctplan_core::Mask;
use ctplan_cranio::Designer;
use ctplan_cranio::phantom::{PhantomSpec, skull};
use ctplan_mesh::pipeline::{self, MeshOptions};
use ctplan_metrics::EvalOptions;

use crate::eval::{CaseResult, Report, render_report, summarize_cases};
use crate::outputs::Outputs;

#[derive(clap::Args)]
pub struct Args {
    /// Output folder, written whole or not at all. An existing folder is replaced when it is
    /// empty or a ctplan output folder, otherwise only with --force.
    #[arg(short, long, default_value = "demo-out")]
    out: PathBuf,
}

pub fn run(a: Args, force: bool) -> Result<ExitCode> {
    Outputs::new(force, &[]).dir(&a.out)?;
    let t0 = Instant::now();
    let p = skull(&PhantomSpec::default());
    let t = Instant::now();
    // The shipped workflow; the phantom's 0.9 × 0.9 × 1 mm grid is not one the 3-D network
    // learned on, so its last stage leaves this design as it is.
    let design = Designer::shipped()
        .design(&p.defective)
        .context("designing the demo implant")?;
    let voxel_net = design.reshaped;
    let design_secs = t.elapsed().as_secs_f64();
    let concerns = design.concerns();
    let pred = design.implant;
    // Everything is written into a staging folder that replaces the output folder at the end.
    let (text, implant_report, lung) =
        ctplan_io::publish_dir(&a.out, "demo", force, |out: &Path| -> Result<_> {
            for sub in [
                "complete_skull",
                "defective_skull",
                "implant",
                "predicted_implant",
            ] {
                std::fs::create_dir_all(out.join(sub)).with_context(|| {
                    format!("{}: cannot create folder", out.join(sub).display())
                })?;
            }
            let file = |sub: &str| out.join(sub).join("demo.nrrd");
            ctplan_io::write_mask(&file("complete_skull"), &p.complete)?;
            ctplan_io::write_mask(&file("defective_skull"), &p.defective)?;
            ctplan_io::write_mask(&file("implant"), &p.implant)?;
            ctplan_io::write_mask(&file("predicted_implant"), &pred)?;

            // Meshes: the implant for printing, and a scene to look at.
            let mopts = MeshOptions {
                smooth: 10,
                decimate: 1.0,
            };
            let (implant_mesh, implant_report, _) = pipeline::build(&pred, &mopts);
            let stl = out.join("implant.stl");
            ctplan_io::write_bytes(
                &stl,
                &pipeline::encode(&stl, &implant_mesh, &implant_report, "implant")?,
            )?;
            let (skull_mesh, skull_report, _) = pipeline::build(
                &p.defective,
                &MeshOptions {
                    smooth: 10,
                    decimate: 0.3,
                },
            );
            if !(skull_report.printable() && implant_report.printable()) {
                anyhow::bail!("demo meshes failed their checks");
            }
            let scene = ctplan_mesh::formats::glb(&[
                ctplan_mesh::formats::Part {
                    name: "defective skull",
                    mesh: &skull_mesh,
                    color: [0.89, 0.85, 0.79, 1.0],
                },
                ctplan_mesh::formats::Part {
                    name: "implant",
                    mesh: &implant_mesh,
                    color: [0.2, 0.55, 0.9, 1.0],
                },
            ]);
            ctplan_io::write_bytes(&out.join("scene.glb"), &scene)?;

            let opts = EvalOptions::default();
            let metrics = ctplan_metrics::evaluate(&pred, &p.implant, &p.defective, &opts)?;
            let cases = vec![CaseResult {
                case: "demo".into(),
                metrics,
            }];
            let report = Report {
                summary: summarize_cases(&cases, &opts),
                cases,
            };
            let text = render_report(&report);
            ctplan_io::write_bytes(&out.join("report.txt"), text.as_bytes())?;
            ctplan_io::write_bytes(
                &out.join("report.json"),
                serde_json::to_string_pretty(&report)?.as_bytes(),
            )?;
            let lung = lung_demo(&out.join("lung"))?;
            Ok((text, implant_report, lung))
        })?;
    let ml = Mask::nonzero_ml;
    println!(
        "ctplan demo: synthetic skull {:?} voxels at {:?} mm",
        p.complete.dims, p.complete.geometry.spacing
    );
    println!(
        "  complete skull {:.1} mL, defect (true implant) {:.1} mL, designed implant {:.1} mL in {:.2} s",
        ml(&p.complete),
        ml(&p.implant),
        ml(&pred),
        design_secs
    );
    for c in &concerns {
        println!("  design note: {c}");
    }
    if voxel_net {
        println!("  design note: the 3-D network reshaped the implant");
    }
    println!();
    print!("{text}");
    println!(
        "  designed implant mesh: {} faces, watertight, {:.2} mL enclosed → implant.stl; scene.glb holds skull and implant",
        implant_report.faces, implant_report.volume_ml
    );
    println!("\nlung segmentectomy on a synthetic chest CT (lung/):");
    print!("{lung}");
    println!(
        "\nwrote {} (volumes as NRRD, implant.stl, scene.glb, report.txt, report.json; lung/ct.nrrd, lung/model, lung/plan) in {:.2} s",
        a.out.display(),
        t0.elapsed().as_secs_f64()
    );
    Ok(ExitCode::SUCCESS)
}

/// The segmentectomy workflow on a synthetic chest CT, written into `dir` (`ct.nrrd`,
/// `model/`, `plan/`); returns the plan's summary in words.
fn lung_demo(dir: &Path) -> Result<String> {
    use ctplan_lung::resection::{Margin, Target};
    let (ct, nodule) = ctplan_lung::phantom::demo_ct().context("rendering the demo chest CT")?;
    let ctplan_lung::segment::Built {
        chest,
        analysed,
        summary,
    } = ctplan_lung::segment::model(&ct, &[nodule], &mut |_| {})
        .context("modelling the demo chest CT")?;
    let pictures = crate::lung::model_pictures(&chest, &analysed);
    let request = ctplan_lung::Request {
        targets: vec![Target::Point(nodule)],
        fev1: Some(2.5),
        margin: Margin::Ratio(2.0),
    };
    let mut report =
        ctplan_lung::plan_case(&analysed, &request).context("planning the demo resection")?;
    for sub in ["model", "plan"] {
        std::fs::create_dir_all(dir.join(sub))
            .with_context(|| format!("{}: cannot create folder", dir.join(sub).display()))?;
    }
    ctplan_io::write(
        &dir.join("ct.nrrd"),
        &ctplan_core::AnyVolume::I16(ct),
        &ctplan_io::WriteOptions {
            compress: true,
            ..Default::default()
        },
    )?;
    crate::lung::write_model(&dir.join("model"), chest, &summary, &pictures, "nii.gz")?;
    crate::lung::write_case(
        &dir.join("plan"),
        &analysed,
        &mut report,
        "demo chest",
        |_| {},
    )?;
    Ok(ctplan_lung::case::markdown::summary(&report))
}
