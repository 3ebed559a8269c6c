//! `ctplan`: automatic surgical planning from CT. Each verb is a module of this crate; the work
//! itself lives in the library crates (core, io, metrics, cranio).

mod bounds;
mod convert;
mod demo;
mod dicom;
mod eval;
mod implant;
mod info;
mod lung;
mod mesh;
mod outputs;
mod panic;
mod rank;
mod serve;
mod skull;
mod worker;

use std::process::ExitCode;

/// The system allocator with the per-thread bound that readers of untrusted lengths run under
/// (`ctplan_core::alloc`).
#[global_allocator]
static ALLOC: ctplan_core::alloc::Capped = ctplan_core::alloc::Capped;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "ctplan",
    version,
    about = "Automatic surgical planning from CT: cranial implants and lung segmentectomy",
    after_help = "Outputs: a command never deletes or overwrites what it did not write unless \
        given --force. Every output is checked before the work starts: the folder a file goes \
        into exists and is writable (missing parents of an output folder are made), its \
        extension is known, it is not a FIFO, device or folder, it is not an input and neither \
        holds nor lies inside one. All outputs of a run are published together at the end, or \
        none. Output folders carry a .ctplan-output marker; such a folder, or an empty one, is \
        replaced by a later run without --force. De-identified copies (dicom anonymize) are \
        never replaced."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Worker threads, 1–1024 (default: all cores).
    #[arg(long, global = true, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=1024))]
    threads: Option<usize>,
    /// Replace existing outputs that ctplan did not write: an existing output file, or a
    /// folder that is not empty and has no `.ctplan-output` marker. Without it such outputs
    /// are refused before any work starts. Outputs that are, hold or lie inside an input are
    /// refused even so.
    #[arg(long, global = true)]
    force: bool,
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
    /// The team portal: accounts, teams, uploads de-identified in memory, the lung model and
    /// plan run by a job queue (`--create-admin NAME` first, password on standard input).
    Serve(serve::Args),
    /// A worker of the portal's job queue, in a process of its own (on this machine or another
    /// sharing the database and the data folder); runs jobs until killed.
    Worker(worker::Args),
}

fn main() -> ExitCode {
    // Behave like other command-line tools when the reader of our output goes away
    // (`ctplan … | head`): end quietly instead of failing on the broken pipe.
    // SAFETY: setting a signal disposition at start-up, before any thread exists.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let cli = Cli::parse();
    panic::guarded(move || run(cli))
}

fn run(cli: Cli) -> ExitCode {
    if let Some(n) = cli.threads {
        let _ = rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build_global();
    }
    let force = cli.force;
    let result = match cli.command {
        Command::Demo(a) => demo::run(a, force),
        Command::Eval(a) => eval::run(a, force),
        Command::Rank(a) => rank::run(a),
        Command::Implant(a) => implant::run(a, force),
        Command::Skull(a) => skull::run(a, force),
        Command::Mesh(a) => mesh::run(a, force),
        Command::Lung(a) => lung::run(a, force),
        Command::Info(a) => info::run(a),
        Command::Convert(a) => convert::run(a, force),
        Command::Dicom(a) => dicom::run(a, force),
        Command::Serve(a) => serve::run(a),
        Command::Worker(a) => worker::run(a),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
