//! `ctplan implant`: design the implant for a defective skull (or every skull in a folder).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use ctplan_core::{Mask, with_volume};
use ctplan_cranio::design::DesignReport;
use ctplan_cranio::learned::{ImplantNet, ShapeNet};
use ctplan_cranio::skull::like_input;
use ctplan_cranio::{DesignOptions, Designer, ShapePrior};
use ctplan_mesh::pipeline::{self, MeshOptions};
use rayon::prelude::*;
use serde::Serialize;

use ctplan_io::cases::{create_output_dir, remove_created, volumes_in};

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

/// Extra outputs of a single-file run.
#[derive(Default, Clone, Copy)]
struct Extras<'a> {
    mesh: Option<&'a Path>,
    completed: Option<&'a Path>,
}

/// What `--json` prints: the files, the design's report, the mesh's, and the times.
#[derive(Serialize)]
struct Output<'a> {
    input: &'a Path,
    output: &'a Path,
    #[serde(flatten)]
    design: &'a DesignReport,
    mesh: Option<MeshOut<'a>>,
    seconds: Seconds,
}

#[derive(Serialize)]
struct MeshOut<'a> {
    path: &'a Path,
    faces: usize,
    printable: bool,
    volume_ml: f64,
}

#[derive(Serialize)]
struct Seconds {
    read: f64,
    design: f64,
    voxel_net: f64,
    write: f64,
    mesh: f64,
    total: f64,
}

/// The implant's volume and the whole run's seconds, for the line printed per case.
struct Done {
    implant_ml: f64,
    seconds: f64,
    concerns: Vec<String>,
    notes: Vec<String>,
    json: serde_json::Value,
}

fn one(input: &Path, output: &Path, extras: Extras, designer: &Designer) -> Result<Done> {
    let t0 = Instant::now();
    let img = ctplan_io::read(input)?;
    let defective = with_volume!(&img.volume, v => v.to_mask());
    let t_read = t0.elapsed().as_secs_f64();
    let d = designer
        .design(&defective)
        .with_context(|| format!("{}", input.display()))?;
    let t = Instant::now();
    let write = ctplan_io::WriteOptions::default();
    ctplan_io::write(output, &like_input(&img.volume, &d.implant), &write)?;
    if let Some(c) = extras.completed {
        let skull = Mask {
            data: (defective.data.iter().zip(&d.implant.data))
                .map(|(a, b)| (a | b).min(1))
                .collect(),
            ..defective.clone()
        };
        ctplan_io::write(c, &like_input(&img.volume, &skull), &write)?;
    }
    let t_write = t.elapsed().as_secs_f64();
    let mut mesh_secs = 0.0;
    let mut mesh = None;
    if let Some(m) = extras.mesh {
        let t = Instant::now();
        let o = MeshOptions {
            smooth: 10,
            decimate: 1.0,
        };
        let (tm, report, _) = pipeline::build(&d.implant, &o);
        ctplan_io::write_bytes(m, &pipeline::encode(m, &tm, &report, "implant")?)?;
        mesh_secs = t.elapsed().as_secs_f64();
        mesh = Some(MeshOut {
            path: m,
            faces: report.faces,
            printable: report.printable(),
            volume_ml: report.volume_ml,
        });
    }
    let total = t0.elapsed().as_secs_f64();
    let report = d.report();
    let out = Output {
        input,
        output,
        design: &report,
        mesh,
        seconds: Seconds {
            read: t_read,
            design: d.seconds.map,
            voxel_net: d.seconds.reshape,
            write: t_write,
            mesh: mesh_secs,
            total,
        },
    };
    let json = serde_json::to_value(&out)?;
    Ok(Done {
        implant_ml: report.implant_ml,
        seconds: total,
        concerns: report.concerns,
        notes: report.notes,
        json,
    })
}

/// A file's bytes (a prior or network weights) parsed by `parse`; every error names the file.
fn load<T, E>(p: &Path, parse: impl FnOnce(&[u8]) -> Result<T, E>) -> Result<T>
where
    E: std::error::Error + Send + Sync + 'static,
{
    // Refused by type (a FIFO would block) and by size (1 GiB: the shipped weights are 18 MB)
    // before reading.
    let bytes = ctplan_io::read_file(p, 1 << 30)?;
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
    let mut designer = Designer::new(prior, DesignOptions::default());
    let (loaded_net, loaded_voxel_net);
    if prior.is_some() && !a.no_net {
        let net = if let Some(p) = &a.net {
            loaded_net = load(p, ShapeNet::from_safetensors)?;
            &loaded_net
        } else {
            ShapeNet::shipped()
        };
        designer = designer.with_net(net);
        if !a.no_voxel_net {
            let voxel_net = if let Some(p) = &a.voxel_net {
                loaded_voxel_net = load(p, ImplantNet::from_safetensors)?;
                &loaded_voxel_net
            } else {
                ImplantNet::shipped()
            };
            designer = designer.with_voxel_net(voxel_net);
        }
    }
    if a.input.is_dir() && !ctplan_io::is_dicom(&a.input) {
        if a.mesh.is_some() || a.completed.is_some() {
            bail!("--mesh and --completed take a single input file");
        }
        let inputs = volumes_in(&a.input)?;
        let created = create_output_dir(&a.output)?;
        let results: Vec<(String, Result<Done>)> = inputs
            .par_iter()
            .map(|(name, p)| {
                let out = a.output.join(p.file_name().unwrap());
                (name.clone(), one(p, &out, Extras::default(), &designer))
            })
            .collect();
        let mut failed = 0;
        for (name, r) in &results {
            match r {
                Ok(v) => {
                    println!(
                        "{name}: implant {:.1} mL in {:.2} s",
                        v.implant_ml, v.seconds
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
    // A mesh file name the format cannot be told from is refused before any work, so that no
    // implant is written for a run that then fails.
    if let Some(m) = &a.mesh {
        pipeline::MeshFormat::of(m)?;
    }
    let extras = Extras {
        mesh: a.mesh.as_deref(),
        completed: a.completed.as_deref(),
    };
    let v = one(&a.input, &a.output, extras, &designer)?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&v.json)?);
    } else {
        println!(
            "implant {:.1} mL → {} in {:.2} s",
            v.implant_ml,
            a.output.display(),
            v.seconds
        );
        print_concerns(&a.input.display().to_string(), &v);
    }
    Ok(ExitCode::SUCCESS)
}

/// The design's concerns (see `DefectReport::concerns`) as warnings on standard error: the
/// implant is written, but whoever prints it should look at it first. Then its notes
/// (`Design::notes`): the defects where the network's correction was refused.
fn print_concerns(name: &str, v: &Done) {
    for c in &v.concerns {
        eprintln!("warning: {name}: {c}");
    }
    for c in &v.notes {
        eprintln!("note: {name}: {c}");
    }
}
