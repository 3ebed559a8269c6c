//! `ctplan`: automatic surgical planning from CT. Each verb is a module of this crate; the work
//! itself lives in the library crates (core, io, metrics, cranio).

mod convert;
mod demo;
mod dicom;
mod eval;
mod implant;
mod info;
mod lung;
mod mesh;
mod rank;
mod skull;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "ctplan", version, about = "Automatic surgical planning from CT: cranial implants and lung segmentectomy", long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Worker threads (default: all cores).
    #[arg(long, global = true)]
    threads: Option<usize>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the built-in demo on a synthetic skull (no data needed).
    Demo(demo::Args),
    /// Evaluate predicted implants against the truth (AutoImplant metrics).
    Eval(eval::Args),
    /// Rank several submissions (mean DSC, bDSC, HD95) with Welch t-tests between them.
    Rank(rank::Args),
    /// Design the implant for a defective skull (vault completion by a shape model of complete skulls).
    Implant(implant::Args),
    /// The skull data pipeline: segment a skull from CT, clean a mask, inject defects.
    Skull(skull::Args),
    /// A watertight surface mesh of a mask (STL, PLY, OBJ or glTF), checked before it is written.
    Mesh(mesh::Args),
    /// Print the header of volume files: sizes, type, spacing, origin, direction.
    Info(info::Args),
    /// Convert a volume between formats (NRRD, NIfTI, MetaImage), keeping type and geometry.
    Convert(convert::Args),
    /// DICOM: list the series of a folder, convert one to a volume, de-identify files.
    Dicom(dicom::Args),
    /// Lung segmentectomy planning on segmented chest anatomy.
    Lung(lung::Args),
}

fn main() -> ExitCode {
    // Behave like other command-line tools when the reader of our output goes away
    // (`ctplan … | head`): end quietly instead of failing on the broken pipe.
    // SAFETY: setting a signal disposition at start-up, before any thread exists.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let cli = Cli::parse();
    if let Some(n) = cli.threads {
        let _ = rayon::ThreadPoolBuilder::new()
            .num_threads(n.max(1))
            .build_global();
    }
    let result = match cli.command {
        Command::Demo(a) => demo::run(a),
        Command::Eval(a) => eval::run(a),
        Command::Rank(a) => rank::run(a),
        Command::Implant(a) => implant::run(a),
        Command::Skull(a) => skull::run(a),
        Command::Mesh(a) => mesh::run(a),
        Command::Lung(a) => lung::run(a),
        Command::Info(a) => info::run(a),
        Command::Convert(a) => convert::run(a),
        Command::Dicom(a) => dicom::run(a),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
