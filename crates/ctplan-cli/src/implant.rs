//! `ctplan implant`: design the implant for a defective skull (or every skull in a folder).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use ctplan_core::Mask;
use ctplan_cranio::design::DesignReport;
use ctplan_cranio::learned::{ImplantNet, ShapeNet};
use ctplan_cranio::skull::like_input;
use ctplan_cranio::{DesignOptions, Designer, ShapePrior};
use ctplan_mesh::pipeline::{self, MeshOptions};
use rayon::prelude::*;
use serde::Serialize;

use ctplan_io::cases::volumes_in;

use crate::outputs::{Kind, Outputs, publish_batch};

#[derive(clap::Args)]
pub struct Args {
    /// Defective skull mask, or a folder of them (a volume that is not binary is taken as a
    /// head CT, whose skull is segmented at 150 HU as `ctplan skull segment` does).
    input: PathBuf,
    /// Output implant mask (or folder, for a folder input). Same grid, geometry and type as the
    /// input. An existing file, or a folder that is not empty and not a ctplan output folder, is
    /// replaced only with --force. All outputs are checked before the design and written
    /// together at the end, or none.
    #[arg(short, long)]
    output: PathBuf,
    /// Also write a printable mesh of the implant (single input; .stl, .ply, .obj or .glb).
    #[arg(long)]
    mesh: Option<PathBuf>,
    /// Also write the completed skull (defective skull ∪ implant; single input), same grid and
    /// type.
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

/// Where a run writes: the implant, and the extra outputs of a single-file run (paths to
/// write at, which `Outputs::commit` moves to the paths the user gave).
#[derive(Clone, Copy)]
struct Targets<'a> {
    implant: &'a Path,
    mesh: Option<(&'a Path, &'a Path)>,
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

/// Design the implant of `input`; `output` is the path shown in the report.
fn one(input: &Path, output: &Path, to: Targets, designer: &Designer) -> Result<Done> {
    crate::panic::input(input);
    let t0 = Instant::now();
    let img = ctplan_io::read(input)?;
    let (defective, _) = ctplan_cranio::skull::of_volume(&img.volume)
        .with_context(|| format!("{}", input.display()))?;
    let t_read = t0.elapsed().as_secs_f64();
    let d = designer
        .design(&defective)
        .with_context(|| format!("{}", input.display()))?;
    let t = Instant::now();
    let write = ctplan_io::WriteOptions::default();
    ctplan_io::write(to.implant, &like_input(&img.volume, &d.implant), &write)?;
    if let Some(c) = to.completed {
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
    if let Some((m, shown)) = to.mesh {
        let t = Instant::now();
        let (tm, report, _) = pipeline::build(&d.implant, &MeshOptions::PRINT);
        ctplan_io::write_bytes(m, &pipeline::encode(shown, &tm, &report, "implant")?)?;
        mesh_secs = t.elapsed().as_secs_f64();
        mesh = Some(MeshOut {
            path: shown,
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

pub fn run(a: Args, force: bool) -> Result<ExitCode> {
    let batch = a.input.is_dir() && !ctplan_io::is_dicom(&a.input);
    if batch && (a.mesh.is_some() || a.completed.is_some()) {
        bail!("--mesh and --completed take a single input file");
    }
    // Every output is checked before any work, so that no run fails after the design.
    let given = [
        Some(&a.input),
        a.prior.as_ref(),
        a.net.as_ref(),
        a.voxel_net.as_ref(),
    ];
    let inputs: Vec<&Path> = given.into_iter().flatten().map(|p| p.as_path()).collect();
    let mut outputs = Outputs::new(force, &inputs);
    let staged = if batch {
        outputs.dir(&a.output)?;
        None
    } else {
        Some((
            outputs.file(&a.output, Kind::Volume)?,
            a.completed
                .as_ref()
                .map(|c| outputs.file(c, Kind::Volume))
                .transpose()?,
            a.mesh
                .as_ref()
                .map(|m| outputs.file(m, Kind::Mesh))
                .transpose()?,
        ))
    };
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
    let Some((implant, completed, mesh)) = staged else {
        return batch_run(&a.input, &a.output, force, &designer);
    };
    let to = Targets {
        implant: &implant,
        mesh: mesh.as_deref().zip(a.mesh.as_deref()),
        completed: completed.as_deref(),
    };
    let v = one(&a.input, &a.output, to, &designer)?;
    outputs.commit()?;
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

/// Every skull of the folder `input` into the folder `output`, published at the end with the
/// cases that succeeded (nothing when every case fails).
fn batch_run(input: &Path, output: &Path, force: bool, designer: &Designer) -> Result<ExitCode> {
    crate::panic::input(input);
    let inputs = volumes_in(input)?;
    let run = |dir: &Path| {
        inputs
            .par_iter()
            .map(|(name, p)| {
                let file = p.file_name().unwrap_or(name.as_ref());
                let to = Targets {
                    implant: &dir.join(file),
                    mesh: None,
                    completed: None,
                };
                (name.clone(), one(p, &output.join(file), to, designer))
            })
            .collect()
    };
    let results: Vec<(String, Result<Done>)> =
        publish_batch(output, "implant", force, run, |(_, r)| r.is_err())?;
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
    Ok(if failed > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
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
