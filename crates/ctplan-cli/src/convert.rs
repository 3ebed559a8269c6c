//! `ctplan convert`: change file format, keeping scalar type and geometry.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;

use crate::outputs::{Kind, Outputs};

#[derive(clap::Args)]
pub struct Args {
    /// Input volume.
    input: PathBuf,
    /// Output volume; its extension picks the format (.nrrd, .nhdr, .nii, .nii.gz, .mha, .mhd).
    /// An existing file is replaced only with --force.
    output: PathBuf,
    /// Store the voxel data uncompressed (NRRD, MetaImage).
    #[arg(long)]
    raw: bool,
}

pub fn run(a: Args, force: bool) -> Result<ExitCode> {
    let mut outputs = Outputs::new(force, &[&a.input]);
    let out = outputs.file(&a.output, Kind::Volume)?;
    crate::panic::input(&a.input);
    let img = ctplan_io::read(&a.input)?;
    let opts = ctplan_io::WriteOptions {
        compress: !a.raw,
        key_values: img.key_values,
        ..Default::default()
    };
    ctplan_io::write(&out, &img.volume, &opts)?;
    outputs.commit()?;
    Ok(ExitCode::SUCCESS)
}
