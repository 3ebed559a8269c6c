//! `ctplan mesh`: a printable surface mesh of a mask.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Result, bail};
use ctplan_mesh::check::MeshReport;
use ctplan_mesh::pipeline::{MeshOptions, build, encode};
use serde::Serialize;

use crate::outputs::{Kind, Outputs};

#[derive(clap::Args)]
pub struct Args {
    /// Mask volume (non-zero voxels are the object).
    mask: PathBuf,
    /// Output mesh; the extension picks the format: .stl (binary), .ply (binary), .obj, .glb.
    /// An existing file is replaced only with --force.
    #[arg(short, long)]
    output: PathBuf,
    /// Taubin smoothing iterations (λ = 0.5, μ = −0.53), 0–1000; 0 keeps the voxel staircase.
    #[arg(long, default_value_t = 10, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(0..=1000))]
    smooth: usize,
    /// Keep about this fraction of the triangles (0–1]; 1 disables decimation.
    #[arg(long, default_value_t = 1.0, value_parser = crate::bounds::fraction)]
    decimate: f64,
    /// Only voxels with this label value (default: every non-zero voxel).
    #[arg(long)]
    label: Option<i64>,
    /// Print the mesh report as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
struct Output<'a> {
    input: &'a Path,
    output: &'a Path,
    voxel_volume_ml: f64,
    #[serde(flatten)]
    report: &'a MeshReport,
    seconds: serde_json::Value,
}

pub fn run(a: Args, force: bool) -> Result<ExitCode> {
    let mut outputs = Outputs::new(force, &[&a.mask]);
    let out = outputs.file(&a.output, Kind::Mesh)?;
    crate::panic::input(&a.mask);
    let mask = match a.label {
        None => ctplan_io::read_mask(&a.mask)?,
        Some(l) => {
            let img = ctplan_io::read(&a.mask)?;
            ctplan_core::with_volume!(&img.volume, v => v.map(|x| (ctplan_core::Scalar::to_f64(x) == l as f64) as u8))
        }
    };
    if mask.count_nonzero() == 0 {
        bail!("{}: the mask is empty, nothing to mesh", a.mask.display());
    }
    let (mesh, report, times) = build(
        &mask,
        &MeshOptions {
            smooth: a.smooth,
            decimate: a.decimate,
        },
    );
    let name = a
        .mask
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let t = Instant::now();
    ctplan_io::write_bytes(&out, &encode(&a.output, &mesh, &report, &name)?)?;
    outputs.commit()?;
    let mut secs: serde_json::Map<String, serde_json::Value> = times
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.into()))
        .collect();
    secs.insert("write".into(), t.elapsed().as_secs_f64().into());
    let voxel_ml = mask.nonzero_ml();
    if a.json {
        let out = Output {
            input: &a.mask,
            output: &a.output,
            voxel_volume_ml: voxel_ml,
            report: &report,
            seconds: secs.into(),
        };
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        println!(
            "{}: {} vertices, {} faces, {} component(s), watertight, enclosed {:.2} mL (voxels {:.2} mL), area {:.0} mm², Euler characteristic {}",
            a.output.display(),
            report.vertices,
            report.faces,
            report.components,
            report.volume_ml,
            voxel_ml,
            report.area_mm2,
            report.euler_characteristic
        );
    }
    Ok(ExitCode::SUCCESS)
}
