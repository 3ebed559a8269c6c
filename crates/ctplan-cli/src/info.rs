//! `ctplan info`: what a volume file's header says.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;

#[derive(clap::Args)]
pub struct Args {
    /// Volume files.
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

pub fn run(a: Args) -> Result<ExitCode> {
    let mut all = Vec::new();
    for f in &a.files {
        crate::panic::input(f);
        let h = ctplan_io::read_header(f)?;
        let g = h.geometry;
        if a.json {
            all.push(serde_json::json!({
                "file": f, "sizes": h.dims, "type": h.scalar_type.name(), "spacing": g.spacing,
                "origin": g.origin, "direction": g.direction, "space": "LPS",
                "key_values": h.key_values,
            }));
        } else {
            println!("{}", f.display());
            println!("  sizes      {} × {} × {}", h.dims[0], h.dims[1], h.dims[2]);
            println!("  type       {}", h.scalar_type);
            println!(
                "  spacing    {:.6} {:.6} {:.6} mm",
                g.spacing[0], g.spacing[1], g.spacing[2]
            );
            println!(
                "  origin     {:.4} {:.4} {:.4} mm (LPS)",
                g.origin[0], g.origin[1], g.origin[2]
            );
            for c in 0..3 {
                println!(
                    "  axis {c}     ({:+.6}, {:+.6}, {:+.6})",
                    g.direction[0][c], g.direction[1][c], g.direction[2][c]
                );
            }
            if !g.is_axis_aligned(1e-6) {
                println!("  oblique    yes (direction matrix is not the identity)");
            }
        }
    }
    if a.json {
        println!("{}", serde_json::to_string_pretty(&all)?);
    }
    Ok(ExitCode::SUCCESS)
}
