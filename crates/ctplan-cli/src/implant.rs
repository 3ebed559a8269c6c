//! `ctplan implant`: design the implant for a defective skull (or every skull in a folder).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use ctplan_core::{AnyVolume, Mask, Scalar, with_volume};
use ctplan_cranio::implant::{DesignOptions, design, design_learned};
use ctplan_cranio::implant3d::{self, ImplantNet};
use ctplan_cranio::prior::ShapePrior;
use ctplan_cranio::shapenet::ShapeNet;
use rayon::prelude::*;

use crate::cases::{create_output_dir, remove_created, volumes_in};

#[derive(clap::Args)]
pub struct Args {
    /// Defective skull mask, or a folder of them.
    input: PathBuf,
    /// Output implant mask (or folder, for a folder input). Same grid, geometry and type as the input.
    #[arg(short, long)]
    output: PathBuf,
    /// Also write a printable mesh of the implant (single input; .stl, .ply, .obj or .glb).
    #[arg(long)]
    mesh: Option<PathBuf>,
    /// Also write the completed skull (defective skull ∪ implant; single input), same grid and type.
    #[arg(long)]
    completed: Option<PathBuf>,
    /// Print a JSON report.
    #[arg(long)]
    json: bool,
    /// Shape prior to use instead of the shipped one (built by `ctplan skull prior`).
    #[arg(long, conflicts_with = "no_prior")]
    prior: Option<PathBuf>,
    /// Geometric completion only, without the shape prior (nor the network).
    #[arg(long)]
    no_prior: bool,
    /// Correct the shape prior's fill with these network weights instead of the shipped ones
    /// (made by `training/shapenet.py`; docs/cranio.md, "Learned correction").
    #[arg(long, conflicts_with_all = ["no_prior", "no_net"])]
    net: Option<PathBuf>,
    /// The shape prior's fill alone, without the shipped networks (neither the map's
    /// correction nor the 3-D network).
    #[arg(long)]
    no_net: bool,
    /// Without the 3-D network that reshapes the implant of a defect the map is unsure of, or
    /// that lies on the forehead (docs/cranio.md, "3-D network").
    #[arg(long, conflicts_with = "no_net")]
    no_voxel_net: bool,
    /// Reshape with these 3-D network weights instead of the shipped ones (made by
    /// `training/implant3d.py`; docs/cranio.md, "3-D network").
    #[arg(long, conflicts_with_all = ["no_prior", "no_net", "no_voxel_net"])]
    voxel_net: Option<PathBuf>,
}

/// What completes the vault: the shape prior, the network that corrects its fill, and the 3-D
/// network that reshapes the implant where the design reports a concern and on the forehead.
#[derive(Clone, Copy)]
struct Method<'a> {
    prior: Option<&'a ShapePrior>,
    net: Option<&'a ShapeNet>,
    voxel_net: Option<&'a ImplantNet>,
}

/// The implant as a volume of the input's scalar type.
fn like_input(input: &AnyVolume, implant: &Mask) -> AnyVolume {
    macro_rules! conv {
        ($v:expr, $t:ty) => {
            AnyVolume::from(implant.map(|x| <$t as Scalar>::from_f64(x as f64)))
        };
    }
    match input {
        AnyVolume::U8(_) => AnyVolume::U8(implant.clone()),
        AnyVolume::I8(_) => conv!(implant, i8),
        AnyVolume::U16(_) => conv!(implant, u16),
        AnyVolume::I16(_) => conv!(implant, i16),
        AnyVolume::U32(_) => conv!(implant, u32),
        AnyVolume::I32(_) => conv!(implant, i32),
        AnyVolume::U64(_) => conv!(implant, u64),
        AnyVolume::I64(_) => conv!(implant, i64),
        AnyVolume::F32(_) => conv!(implant, f32),
        AnyVolume::F64(_) => conv!(implant, f64),
    }
}

/// Extra outputs of a single-file run.
#[derive(Default, Clone, Copy)]
struct Extras<'a> {
    mesh: Option<&'a Path>,
    completed: Option<&'a Path>,
}

fn one(input: &Path, output: &Path, extras: Extras, method: Method) -> Result<serde_json::Value> {
    let t0 = Instant::now();
    let img = ctplan_io::read(input)?;
    let defective = with_volume!(&img.volume, v => v.to_mask());
    let t_read = t0.elapsed().as_secs_f64();
    let t = Instant::now();
    let o = DesignOptions::default();
    let mut d = match method {
        Method {
            prior: Some(p),
            net: Some(n),
            ..
        } => design_learned(&defective, p, n, &o),
        Method { prior, .. } => design(&defective, prior, &o),
    }
    .with_context(|| format!("{}", input.display()))?;
    let t_design = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let mut notes = d.notes();
    let voxel_net = match method.voxel_net {
        Some(n) => {
            let (used, more) = implant3d::reshape(n, &mut d, &defective);
            notes.extend(more);
            used
        }
        None => false,
    };
    let t_voxel = t.elapsed().as_secs_f64();
    let t = Instant::now();
    ctplan_io::write(
        output,
        &like_input(&img.volume, &d.implant),
        &ctplan_io::WriteOptions::default(),
    )?;
    if let Some(c) = extras.completed {
        let skull = Mask {
            data: (defective.data.iter().zip(&d.implant.data))
                .map(|(a, b)| (a | b).min(1))
                .collect(),
            ..defective.clone()
        };
        ctplan_io::write(
            c,
            &like_input(&img.volume, &skull),
            &ctplan_io::WriteOptions::default(),
        )?;
    }
    let t_write = t.elapsed().as_secs_f64();
    let mut mesh_secs = 0.0;
    let mut mesh_report = serde_json::Value::Null;
    if let Some(m) = extras.mesh {
        let t = Instant::now();
        let (tm, report, _) = crate::mesh::build(
            &d.implant,
            &crate::mesh::MeshOptions {
                smooth: 10,
                decimate: 1.0,
            },
        );
        crate::mesh::write_mesh(m, &tm, &report, "implant")?;
        mesh_secs = t.elapsed().as_secs_f64();
        mesh_report = serde_json::json!({"path": m, "faces": report.faces,
            "printable": report.printable(), "volume_ml": report.volume_ml});
    }
    let ml = d.implant.nonzero_ml();
    Ok(serde_json::json!({
        "input": input,
        "output": output,
        "implant_ml": ml,
        "bounding_box_mm": world_box(&d.implant),
        "mean_thickness_mm": d.mean_thickness_mm,
        "defect_bins": d.defect_bins,
        "templates": d.templates,
        "defects": d.defects.iter().map(|r| serde_json::json!({
            "region_bins": r.region_bins, "fit_rms_mm": r.fit_rms_mm,
            "open_border": r.open_border, "own_mirror": r.own_mirror, "learned": r.learned,
            "limited_bins": r.limited_bins})).collect::<Vec<_>>(),
        "concerns": d.concerns(),
        "network": d.network,
        "voxel_net": voxel_net,
        "notes": notes,
        "mesh": mesh_report,
        "seconds": {"read": t_read, "design": t_design, "voxel_net": t_voxel, "write": t_write, "mesh": mesh_secs,
            "total": t0.elapsed().as_secs_f64()},
    }))
}

/// The implant's extent in patient space: LPS minimum and maximum corners (mm) of its voxels'
/// centres, and the box sizes.
fn world_box(m: &Mask) -> serde_json::Value {
    let Some((lo, hi)) = ctplan_cranio::skull::world_bounds(m) else {
        return serde_json::Value::Null;
    };
    let size = [0, 1, 2].map(|a| hi[a] - lo[a]);
    serde_json::json!({"min": lo, "max": hi, "size": size})
}

/// A file's bytes parsed by `parse`; every error names the file.
fn load<T, E>(p: &Path, parse: impl FnOnce(&[u8]) -> Result<T, E>) -> Result<T>
where
    E: std::error::Error + Send + Sync + 'static,
{
    let bytes = std::fs::read(p).with_context(|| format!("{}: cannot read", p.display()))?;
    parse(&bytes).with_context(|| format!("{}", p.display()))
}

pub fn run(a: Args) -> Result<ExitCode> {
    let loaded;
    let prior = if a.no_prior {
        None
    } else if let Some(p) = &a.prior {
        loaded = load(p, ShapePrior::from_bytes)?;
        Some(&loaded)
    } else {
        Some(ShapePrior::shipped())
    };
    let loaded_net;
    let net = if prior.is_none() || a.no_net {
        None
    } else if let Some(p) = &a.net {
        loaded_net = load(p, ShapeNet::from_safetensors)?;
        Some(&loaded_net)
    } else {
        Some(ShapeNet::shipped())
    };
    let loaded_voxel_net;
    let voxel_net = if net.is_none() || a.no_voxel_net {
        None
    } else if let Some(p) = &a.voxel_net {
        loaded_voxel_net = load(p, ImplantNet::from_safetensors)?;
        Some(&loaded_voxel_net)
    } else {
        Some(ImplantNet::shipped())
    };
    let method = Method {
        prior,
        net,
        voxel_net,
    };
    if a.input.is_dir() && !ctplan_io::is_dicom(&a.input) {
        if a.mesh.is_some() || a.completed.is_some() {
            bail!("--mesh and --completed take a single input file");
        }
        let inputs = volumes_in(&a.input)?;
        let created = create_output_dir(&a.output)?;
        let results: Vec<(String, Result<serde_json::Value>)> = inputs
            .par_iter()
            .map(|(name, p)| {
                let out = a.output.join(p.file_name().unwrap());
                (name.clone(), one(p, &out, Extras::default(), method))
            })
            .collect();
        let mut failed = 0;
        for (name, r) in &results {
            match r {
                Ok(v) => {
                    println!(
                        "{name}: implant {:.1} mL in {:.2} s",
                        v["implant_ml"].as_f64().unwrap_or(0.0),
                        v["seconds"]["total"].as_f64().unwrap_or(0.0)
                    );
                    print_concerns(name, v);
                }
                Err(e) => {
                    failed += 1;
                    eprintln!("error: {name}: {e:#}");
                }
            }
        }
        if failed == results.len() {
            remove_created(&created);
        }
        return Ok(if failed > 0 {
            ExitCode::FAILURE
        } else {
            ExitCode::SUCCESS
        });
    }
    let extras = Extras {
        mesh: a.mesh.as_deref(),
        completed: a.completed.as_deref(),
    };
    let v = one(&a.input, &a.output, extras, method)?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        println!(
            "implant {:.1} mL → {} in {:.2} s",
            v["implant_ml"].as_f64().unwrap_or(0.0),
            a.output.display(),
            v["seconds"]["total"].as_f64().unwrap_or(0.0)
        );
        print_concerns(&a.input.display().to_string(), &v);
    }
    Ok(ExitCode::SUCCESS)
}

/// The design's concerns (see `DefectReport::concerns`) as warnings on standard error: the
/// implant is written, but whoever prints it should look at it first. Then its notes
/// (`Design::notes`): the defects where the network's correction was refused.
fn print_concerns(name: &str, v: &serde_json::Value) {
    for c in v["concerns"].as_array().into_iter().flatten() {
        eprintln!("warning: {name}: {}", c.as_str().unwrap_or_default());
    }
    for c in v["notes"].as_array().into_iter().flatten() {
        eprintln!("note: {name}: {}", c.as_str().unwrap_or_default());
    }
}
