//! `ctplan demo`: the cranioplasty workflow end to end on a synthetic skull, with no data.
//!
//! It builds a skull phantom with a vault defect, writes the complete skull, the defective
//! skull and the true implant as NRRD, meshes the implant (printable STL) and the scene (glTF:
//! defective skull and implant), makes an imperfect "predicted" implant (the truth shifted by one
//! voxel and its rim trimmed), and evaluates it with the AutoImplant metrics, writing the report
//! as text and JSON.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result};
use ctplan_core::{Mask, morphology};
use ctplan_cranio::phantom::{PhantomSpec, skull};
use ctplan_metrics::EvalOptions;

use crate::eval::{CaseResult, Report, render_report, summarize_cases};

#[derive(clap::Args)]
pub struct Args {
    /// Output folder.
    #[arg(short, long, default_value = "demo-out")]
    out: PathBuf,
}

/// The truth shifted by one voxel along x, with voxels of the defective skull removed and its
/// outermost layer trimmed where it touches background: a millimetre-class error.
fn perturb(truth: &Mask, defective: &Mask) -> Mask {
    let [nx, _, _] = truth.dims;
    let mut shifted = truth.map(|_| 0u8);
    for (row, line) in truth.data.chunks(nx).enumerate() {
        let out = &mut shifted.data[row * nx..(row + 1) * nx];
        out[1..].copy_from_slice(&line[..nx - 1]);
    }
    let eroded = morphology::erode_cross(&shifted);
    let mut m = shifted.clone();
    for i in 0..m.data.len() {
        // Trim one layer on every other slice: a rough edge, not a uniform offset.
        let k = i / (truth.dims[0] * truth.dims[1]);
        if k.is_multiple_of(2) {
            m.data[i] = eroded.data[i];
        }
        if defective.data[i] != 0 {
            m.data[i] = 0;
        }
    }
    m
}

pub fn run(a: Args) -> Result<ExitCode> {
    let t0 = Instant::now();
    let p = skull(&PhantomSpec::default());
    let pred = perturb(&p.implant, &p.defective);
    for sub in [
        "complete_skull",
        "defective_skull",
        "implant",
        "predicted_implant",
    ] {
        std::fs::create_dir_all(a.out.join(sub))
            .with_context(|| format!("{}: cannot create folder", a.out.join(sub).display()))?;
    }
    let file = |sub: &str| a.out.join(sub).join("demo.nrrd");
    ctplan_io::write_mask(&file("complete_skull"), &p.complete)?;
    ctplan_io::write_mask(&file("defective_skull"), &p.defective)?;
    ctplan_io::write_mask(&file("implant"), &p.implant)?;
    ctplan_io::write_mask(&file("predicted_implant"), &pred)?;

    // Meshes: the implant for printing, and a scene to look at.
    let mopts = crate::mesh::MeshOptions {
        smooth: 10,
        decimate: 1.0,
    };
    let (implant_mesh, implant_report, _) = crate::mesh::build(&p.implant, &mopts);
    crate::mesh::write_mesh(
        &a.out.join("implant.stl"),
        &implant_mesh,
        &implant_report,
        "implant",
    )?;
    let (skull_mesh, skull_report, _) = crate::mesh::build(
        &p.defective,
        &crate::mesh::MeshOptions {
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
    ctplan_io::write_bytes(&a.out.join("scene.glb"), &scene)?;

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
    ctplan_io::write_bytes(&a.out.join("report.txt"), text.as_bytes())?;
    ctplan_io::write_bytes(
        &a.out.join("report.json"),
        serde_json::to_string_pretty(&report)?.as_bytes(),
    )?;
    let ml = |m: &Mask| m.count_nonzero() as f64 * m.voxel_volume_mm3() / 1000.0;
    println!(
        "ctplan demo: synthetic skull {:?} voxels at {:?} mm",
        p.complete.dims, p.complete.geometry.spacing
    );
    println!(
        "  complete skull {:.1} mL, defect (true implant) {:.1} mL, predicted implant {:.1} mL",
        ml(&p.complete),
        ml(&p.implant),
        ml(&pred)
    );
    println!();
    print!("{text}");
    println!(
        "  implant mesh: {} faces, watertight, {:.2} mL enclosed → implant.stl; scene.glb holds skull and implant",
        implant_report.faces, implant_report.volume_ml
    );
    println!(
        "\nwrote {} (volumes as NRRD, implant.stl, scene.glb, report.txt, report.json) in {:.2} s",
        a.out.display(),
        t0.elapsed().as_secs_f64()
    );
    Ok(ExitCode::SUCCESS)
}
