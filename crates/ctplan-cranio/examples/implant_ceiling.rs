//! The design with the answer known ([`ctplan_cranio::design::design_against`]): for every
//! defective skull in a folder and the complete skull of the same name in another, writes the
//! implant that the map (`map`) or the shape model (`model`) would give if the rebuilt region
//! were known exactly, on the defective skull's grid, for `ctplan eval` to score.
//!
//! ```sh
//! cargo run --release -p ctplan-cranio --example implant_ceiling -- \
//!     DEFECTIVE_DIR COMPLETE_DIR OUT_DIR map|model [PRIOR.ctprior]
//! ```
//!
//! Without a prior file the shipped prior is used. `bench/implant_ceiling.py` runs it on the
//! held-out cases and the injected styles.

use std::path::Path;

use anyhow::{Context, Result, bail};
use ctplan_cranio::design::{DesignOptions, Reference, design_against};
use ctplan_cranio::shape::ShapePrior;

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [def, com, out, what, rest @ ..] = args.as_slice() else {
        bail!("usage: implant_ceiling DEFECTIVE_DIR COMPLETE_DIR OUT_DIR map|model [PRIOR]");
    };
    let what = match what.as_str() {
        "map" => Reference::Map,
        "model" => Reference::ShapeModel,
        w => bail!("unknown reference `{w}` (map or model)"),
    };
    let loaded;
    let prior = match rest.first() {
        Some(p) => {
            let bytes = std::fs::read(p).with_context(|| p.clone())?;
            loaded = ShapePrior::from_bytes(&bytes).with_context(|| p.clone())?;
            &loaded
        }
        None => ShapePrior::shipped(),
    };
    std::fs::create_dir_all(out).with_context(|| out.clone())?;
    let mut names: Vec<_> = std::fs::read_dir(def)
        .with_context(|| def.clone())?
        .filter_map(|e| e.ok().map(|e| e.file_name()))
        .collect();
    names.sort();
    for name in names {
        let d = ctplan_io::read_mask(&Path::new(def).join(&name))?;
        let c = ctplan_io::read_mask(&Path::new(com).join(&name))?;
        let design = design_against(&d, &c, Some(prior), &DesignOptions::default(), what)
            .with_context(|| format!("{}", name.to_string_lossy()))?;
        ctplan_io::write_mask(&Path::new(out).join(&name), &design.implant)?;
    }
    Ok(())
}
