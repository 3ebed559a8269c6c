//! `ctplan dicom scan|convert|anonymize`: what is in a folder of DICOM files, one series as a
//! volume file, and de-identified copies.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use ctplan_dicom::deid::{DeidOptions, anonymize};
use ctplan_dicom::{LoadOptions, Series, read_series, scan};
use serde_json::json;

use crate::outputs::{Kind, Outputs};

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Subcommand)]
enum Command {
    /// List the studies and series below a folder (nested folders, any file names, zip archives).
    Scan {
        /// Folder, zip archive or DICOM file.
        input: PathBuf,
        /// Print one JSON object instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Convert one series to a volume file (.nrrd, .nii.gz, .mha, …), in Hounsfield units.
    Convert {
        /// Folder, zip archive or file; PATH#SERIES picks a series (UID, UID prefix or number).
        input: PathBuf,
        /// Output volume; its extension picks the format. An existing file is replaced only
        /// with --force.
        #[arg(short, long)]
        output: PathBuf,
        /// Resample a gantry-tilted series onto an orthogonal grid instead of keeping the
        /// oblique direction matrix.
        #[arg(long)]
        deskew: bool,
    },
    /// De-identify DICOM files (PS3.15 Basic Application Level Confidentiality Profile).
    Anonymize {
        /// A DICOM file, or a folder / zip archive of them.
        input: PathBuf,
        /// A new file (for one input file) or a new folder; an existing one is never replaced,
        /// even with --force (de-identified sets are not overwritten).
        #[arg(short, long)]
        output: PathBuf,
        /// Key of the UID remapping (same key, same new UIDs). Default: CTPLAN_DEID_KEY, else
        /// a random key kept in ~/.config/ctplan/deid.key (created on first use).
        #[arg(long)]
        key: Option<String>,
        /// Write images flagged BurnedInAnnotation = YES (with a warning) instead of refusing.
        #[arg(long)]
        allow_burned_in: bool,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
}

pub fn run(a: Args, force: bool) -> Result<ExitCode> {
    match a.command {
        Command::Scan { input, json } => run_scan(&input, json),
        Command::Convert {
            input,
            output,
            deskew,
        } => run_convert(&input, &output, deskew, force),
        Command::Anonymize {
            input,
            output,
            key,
            allow_burned_in,
            json,
        } => run_anonymize(&input, &output, key, allow_burned_in, json),
    }
}

fn series_json(s: &Series) -> serde_json::Value {
    let layout = s.layout.as_ref();
    json!({
        "study_uid": s.study_uid,
        "series_uid": s.series_uid,
        "series_number": s.series_number,
        "modality": s.modality,
        "description": s.description,
        "files": s.instances.len(),
        "slices": s.frames(),
        "size": layout.map(|l| l.dims).ok(),
        "spacing_mm": s.spacing(),
        "slice_thickness_mm": s.slice_thickness,
        "kernel": s.kernel,
        "transfer_syntax": s.transfer_syntax_name(),
        "tilt_deg": layout.map(|l| l.tilt_deg).ok(),
        "problems": match layout {
            Ok(l) => l.problems(),
            Err(e) => vec![format!("not a volume: {e}")],
        },
    })
}

fn run_scan(input: &Path, as_json: bool) -> Result<ExitCode> {
    crate::panic::input(input);
    let s = scan(input)?;
    if s.series.is_empty() && !input.is_dir() {
        // One file or archive named: its problem is the whole answer.
        s.select(None)?;
    }
    if as_json {
        let out = json!({
            "root": s.root,
            "series": s.series.iter().map(series_json).collect::<Vec<_>>(),
            "skipped": s.skipped.iter().map(|k| json!({"file": k.origin.to_string(), "reason": k.reason})).collect::<Vec<_>>(),
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(ExitCode::SUCCESS);
    }
    let mut study = "";
    for x in &s.series {
        if x.study_uid != study {
            study = &x.study_uid;
            println!("study {study}");
        }
        let size = match &x.layout {
            Ok(l) => format!("{}×{}×{}", l.dims[0], l.dims[1], l.dims[2]),
            Err(_) => format!("{}×{}, {} frames", x.cols, x.rows, x.frames()),
        };
        let spacing = x
            .spacing()
            .map(|s| format!("{:.3}×{:.3}×{:.3} mm", s[0], s[1], s[2]))
            .unwrap_or_else(|| "-".into());
        println!(
            "  series {} #{} {} {:?}: {} slices, {size}, {spacing}, thickness {}, kernel {:?}, {}",
            x.series_uid,
            x.series_number.map(|n| n.to_string()).unwrap_or_default(),
            x.modality,
            x.description,
            x.frames(),
            x.slice_thickness
                .map(|t| format!("{t} mm"))
                .unwrap_or_else(|| "-".into()),
            x.kernel,
            x.transfer_syntax_name(),
        );
        match &x.layout {
            Ok(l) => {
                if l.tilt_deg > 0.01 {
                    println!("    gantry tilt {:.2}°", l.tilt_deg);
                }
                for p in l.problems() {
                    println!("    {p}");
                }
            }
            Err(e) => println!("    not a volume: {e}"),
        }
    }
    if !s.skipped.is_empty() {
        println!("skipped {} file(s):", s.skipped.len());
        for k in s.skipped.iter().take(10) {
            println!("  {}: {}", k.origin, k.reason);
        }
        if s.skipped.len() > 10 {
            println!("  … and {} more (--json lists all)", s.skipped.len() - 10);
        }
    }
    if s.series.is_empty() {
        // Why nothing was found: no DICOM files, or the one file named and its problem.
        s.select(None)?;
    }
    Ok(ExitCode::SUCCESS)
}

fn run_convert(input: &Path, output: &Path, deskew: bool, force: bool) -> Result<ExitCode> {
    let mut outputs = Outputs::new(force, &[input]);
    let out = outputs.file(output, Kind::Volume)?;
    crate::panic::input(input);
    let loaded = read_series(input, LoadOptions { deskew })?;
    for n in &loaded.notes {
        eprintln!("{}: {n}", input.display());
    }
    ctplan_io::write(&out, &loaded.volume, &ctplan_io::WriteOptions::default())?;
    outputs.commit()?;
    let d = loaded.volume.dims();
    eprintln!(
        "{}: series {} → {}×{}×{} {} → {}",
        input.display(),
        loaded.series_uid,
        d[0],
        d[1],
        d[2],
        loaded.volume.scalar_type(),
        output.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// The key: `--key`, else CTPLAN_DEID_KEY, else a random key made once per user.
fn deid_key(key: Option<String>) -> Result<Vec<u8>> {
    if let Some(k) = key.or_else(|| std::env::var("CTPLAN_DEID_KEY").ok()) {
        if k.is_empty() {
            bail!("the de-identification key is empty");
        }
        return Ok(k.into_bytes());
    }
    let dir = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))
        .context("no --key, no CTPLAN_DEID_KEY and no HOME to keep a key in")?
        .join("ctplan");
    let file = dir.join("deid.key");
    if let Ok(k) = std::fs::read(&file)
        && !k.is_empty()
    {
        return Ok(k);
    }
    std::fs::create_dir_all(&dir).with_context(|| format!("{}: cannot create", dir.display()))?;
    let mut k = vec![0u8; 32];
    use std::io::Read;
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut k))
        .context("cannot read /dev/urandom for a new key")?;
    ctplan_io::write_bytes(&file, &k)?;
    eprintln!("new de-identification key kept in {}", file.display());
    Ok(k)
}

fn run_anonymize(
    input: &Path,
    output: &Path,
    key: Option<String>,
    allow_burned_in: bool,
    as_json: bool,
) -> Result<ExitCode> {
    Outputs::new(false, &[input]).new_path(output)?;
    crate::panic::input(input);
    // The input is checked before a new key is made, so a bad input leaves no key behind.
    ctplan_dicom::deid::dicom_files(input)?;
    let opts = DeidOptions {
        key: deid_key(key)?,
        allow_burned_in,
    };
    let r = anonymize(input, output, &opts)?;
    for w in &r.warnings {
        eprintln!("warning: {w}");
    }
    if as_json {
        let out = json!({
            "written": r.written.len(),
            "removed": r.counts.removed,
            "emptied": r.counts.emptied,
            "dummy_values": r.counts.dummied,
            "uids_replaced": r.counts.uids_replaced,
            "private_removed": r.counts.private_removed,
            "warnings": r.warnings,
            "skipped": r.skipped.iter().map(|k| json!({"file": k.origin.to_string(), "reason": k.reason})).collect::<Vec<_>>(),
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        for k in &r.skipped {
            eprintln!("skipped {}: {}", k.origin, k.reason);
        }
        eprintln!(
            "{} file(s) de-identified into {}: {} attributes removed, {} emptied, {} dummy values, {} UIDs replaced, {} private attributes removed",
            r.written.len(),
            output.display(),
            r.counts.removed,
            r.counts.emptied,
            r.counts.dummied,
            r.counts.uids_replaced,
            r.counts.private_removed
        );
    }
    Ok(ExitCode::SUCCESS)
}
