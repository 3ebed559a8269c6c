//! Training samples for the learned correction of the shape model's trend
//! ([`ctplan_cranio::learned::correction`]): for every case of a shape prior, the SkullFix defect of the
//! case and `PER_STYLE` defects of every style injected into its complete skull
//! ([`ctplan_cranio::defects::inject`], seeded by case, style and index), each planned with
//! the prior *without that case* (so the trend errs as it does on an unseen skull), written as
//! raw little-endian f32 arrays `[IN_CHANNELS + 3][NET_N][NET_N]` (see
//! [`ctplan_cranio::learned::learning_sample`]).
//!
//! ```sh
//! cargo run --release -p ctplan-cranio --example shapenet_samples -- \
//!     TRAINING_SET PRIOR.ctprior OUT_DIR PER_STYLE SEED
//! ```
//!
//! PER_STYLE is a count for every style, optionally followed by other counts for named styles:
//! `3,frontoorbital=6` makes six fronto-orbital defects per case and three of every other
//! style. Sample `k` of a style is the same whichever count asked for it.
//!
//! `training/shapenet.py` runs it; TRAINING_SET holds `defective_skull/` and `complete_skull/`.

use std::path::Path;

use anyhow::{Context, Result, bail};
use ctplan_cranio::defects::{Style, inject};
use ctplan_cranio::design::DesignOptions;
use ctplan_cranio::learned::learning_sample;
use ctplan_cranio::rng::Rng;
use ctplan_cranio::shape::ShapePrior;
use rayon::prelude::*;

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [set, prior, out, per_style, seed] = args.as_slice() else {
        bail!("usage: shapenet_samples TRAINING_SET PRIOR.ctprior OUT_DIR PER_STYLE SEED");
    };
    let per_style = counts(per_style).with_context(|| format!("PER_STYLE '{per_style}'"))?;
    let seed: u64 = seed.parse().context("SEED")?;
    let bytes = std::fs::read(prior).with_context(|| prior.clone())?;
    let prior = ShapePrior::from_bytes(&bytes).with_context(|| prior.clone())?;
    std::fs::create_dir_all(out).with_context(|| out.clone())?;
    let o = DesignOptions::default();
    let write = |name: &str, v: &[f32]| -> Result<()> {
        let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
        let path = Path::new(out).join(format!("{name}.f32"));
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, bytes)?;
        std::fs::rename(&tmp, &path)?;
        Ok(())
    };
    // A sample already written is kept: the command resumes, and a larger PER_STYLE adds to
    // the samples of a smaller one.
    let done = |name: &str| Path::new(out).join(format!("{name}.f32")).exists();
    prior.cases().par_iter().try_for_each(|case| -> Result<()> {
        let loo = prior.without(&[case.as_str()]);
        let file = format!("{case}.nrrd");
        let complete = ctplan_io::read_mask(&Path::new(set).join("complete_skull").join(&file))?;
        let defective = ctplan_io::read_mask(&Path::new(set).join("defective_skull").join(&file))?;
        if !done(&format!("{case}_skullfix")) {
            match learning_sample(&defective, &complete, &loo, &o) {
                Ok(v) => write(&format!("{case}_skullfix"), &v)?,
                Err(e) => eprintln!("{case} skullfix: {e}"),
            }
        }
        for style in Style::ALL {
            for k in 0..per_style(style) {
                let name = format!("{case}_{}_{k}", style.name());
                if done(&name) {
                    continue;
                }
                let mut rng = Rng::derive(seed, &name);
                let inj = match inject(&complete, style, &mut rng) {
                    Ok(i) => i,
                    Err(e) => {
                        eprintln!("{name}: {e}");
                        continue;
                    }
                };
                match learning_sample(&inj.defective, &complete, &loo, &o) {
                    Ok(v) => write(&name, &v)?,
                    Err(e) => eprintln!("{name}: {e}"),
                }
            }
        }
        eprintln!("{case} done");
        Ok(())
    })
}

/// The samples per style: `N` for every style, then `style=M` overrides (`3,frontoorbital=6`).
fn counts(arg: &str) -> Result<impl Fn(Style) -> usize + Sync> {
    let mut parts = arg.split(',');
    let all: usize = parts.next().unwrap_or_default().parse()?;
    let mut named = Vec::new();
    for p in parts {
        let Some((style, n)) = p.split_once('=') else {
            bail!("'{p}' is not STYLE=COUNT");
        };
        named.push((
            style.parse::<Style>().map_err(anyhow::Error::msg)?,
            n.parse::<usize>()?,
        ));
    }
    Ok(move |s: Style| named.iter().find(|(t, _)| *t == s).map_or(all, |(_, n)| *n))
}
