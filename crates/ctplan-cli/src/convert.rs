//! `ctplan convert`: change file format, keeping scalar type and geometry.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;

#[derive(clap::Args)]
pub struct Args {
    /// Input volume.
    input: PathBuf,
    /// Output volume; its extension picks the format (.nrrd, .nhdr, .nii, .nii.gz, .mha, .mhd).
    output: PathBuf,
    /// Store the voxel data uncompressed (NRRD, MetaImage).
    #[arg(long)]
    raw: bool,
}

pub fn run(a: Args) -> Result<ExitCode> {
    let img = ctplan_io::read(&a.input)?;
    let opts = ctplan_io::WriteOptions {
        compress: !a.raw,
        key_values: img.key_values,
        ..Default::default()
    };
    ctplan_io::write(&a.output, &img.volume, &opts)?;
    Ok(ExitCode::SUCCESS)
}
