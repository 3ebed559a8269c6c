//! `ctplan mesh`: a printable surface mesh of a mask.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Result, bail};
use ctplan_core::Mask;
use ctplan_mesh::check::{MeshReport, check};
use ctplan_mesh::{TriMesh, decimate, extract, formats, smooth};
use serde::Serialize;

#[derive(clap::Args)]
pub struct Args {
    /// Mask volume (non-zero voxels are the object).
    mask: PathBuf,
    /// Output mesh; the extension picks the format: .stl (binary), .ply (binary), .obj, .glb.
    #[arg(short, long)]
    output: PathBuf,
    /// Taubin smoothing iterations (λ = 0.5, μ = −0.53); 0 keeps the voxel staircase.
    #[arg(long, default_value_t = 10)]
    smooth: usize,
    /// Keep about this fraction of the triangles (0–1]; 1 disables decimation.
    #[arg(long, default_value_t = 1.0)]
    decimate: f64,
    /// Only voxels with this label value (default: every non-zero voxel).
    #[arg(long)]
    label: Option<i64>,
    /// Print the mesh report as JSON.
    #[arg(long)]
    json: bool,
}

/// Mesh format by file extension.
#[derive(Clone, Copy)]
pub enum MeshFormat {
    Stl,
    Ply,
    Obj,
    Glb,
}

pub fn mesh_format(path: &Path) -> Result<MeshFormat> {
    let ext = path
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    Ok(match ext.as_str() {
        "stl" => MeshFormat::Stl,
        "ply" => MeshFormat::Ply,
        "obj" => MeshFormat::Obj,
        "glb" => MeshFormat::Glb,
        _ => bail!(
            "{}: unknown mesh format (expected .stl, .ply, .obj or .glb)",
            path.display()
        ),
    })
}

/// Options of the mesh pipeline.
pub struct MeshOptions {
    pub smooth: usize,
    pub decimate: f64,
}

/// Extract, smooth, decimate and check; times in seconds per stage.
pub fn build(mask: &Mask, o: &MeshOptions) -> (TriMesh, MeshReport, Vec<(&'static str, f64)>) {
    let mut times = Vec::new();
    let t = Instant::now();
    let mut mesh = extract::mask_surface(mask);
    times.push(("extract", t.elapsed().as_secs_f64()));
    let t = Instant::now();
    smooth::taubin(&mut mesh, o.smooth);
    times.push(("smooth", t.elapsed().as_secs_f64()));
    if o.decimate < 1.0 {
        let t = Instant::now();
        // Collapses may move the surface by a quarter of the finest voxel size at most.
        let min_spacing = mask
            .geometry
            .spacing
            .iter()
            .copied()
            .fold(f64::INFINITY, f64::min);
        mesh = decimate::decimate(&mesh, o.decimate, 0.25 * min_spacing);
        times.push(("decimate", t.elapsed().as_secs_f64()));
    }
    let t = Instant::now();
    let report = check(&mesh);
    times.push(("check", t.elapsed().as_secs_f64()));
    (mesh, report, times)
}

/// Encode and write a checked mesh atomically; refuses meshes that are not printable.
pub fn write_mesh(path: &Path, mesh: &TriMesh, report: &MeshReport, name: &str) -> Result<()> {
    if !report.printable() {
        bail!(
            "{}: mesh failed its checks, not written: {report:?}",
            path.display()
        );
    }
    let bytes = match mesh_format(path)? {
        MeshFormat::Stl => formats::stl(mesh),
        MeshFormat::Ply => formats::ply(mesh),
        MeshFormat::Obj => formats::obj(mesh),
        MeshFormat::Glb => formats::glb(&[formats::Part {
            name,
            mesh,
            color: [0.89, 0.85, 0.79, 1.0],
        }]),
    };
    ctplan_io::write_bytes(path, &bytes)?;
    Ok(())
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

pub fn run(a: Args) -> Result<ExitCode> {
    mesh_format(&a.output)?;
    if !(a.decimate > 0.0 && a.decimate <= 1.0) {
        bail!("--decimate must be in (0, 1], got {}", a.decimate);
    }
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
    write_mesh(&a.output, &mesh, &report, &name)?;
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
