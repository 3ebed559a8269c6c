//! `ctplan-bench`: in-process timings of core operations, as JSON, for the peer comparison in
//! `bench/compare_peers.py` (which times scipy, SimpleITK and pynrrd on the same files in the
//! same run and prints the ratios).
//!
//! Usage:
//!
//! ```text
//!   ctplan-bench read FILE [REPEAT]   typed read of a volume (NRRD/NIfTI/MHA), best of REPEAT
//!   ctplan-bench edt FILE [REPEAT]    exact EDT of the background to the mask, with spacing
//!   ctplan-bench eval PRED TRUTH DEFECTIVE [REPEAT]  the AutoImplant metrics (files read once)
//!   ctplan-bench mesh MASK OUT.stl [SMOOTH] [REPEAT]  extract + Taubin smoothing + check +
//!     binary STL written, the mask already read
//!   ctplan-bench lung ANATOMY [REPEAT]  analyse a lung anatomy once, then re-simulate the
//!     resection of every segment (volumes, ppoFEV1, margin and its extension options)
//!   ctplan-bench lung-phantom VOXEL_MM NOISE_HU [--save DIR] FOLDER…  per anatomy folder
//!     (Med-MPD layout): render the chest phantom (`ctplan_lung::phantom`), build the model
//!     from it (`ctplan_lung::segment::model`) and score it against the phantom's truth
//!     (`ctplan_lung::evaluate`); one JSON line per folder. `--save DIR` writes each CT and
//!     its truth there (NRRD) to look at.
//!   ctplan-bench portal-upload [UPLOADS] [SLICES] [SIZE] [CONCURRENT] [WAIT_SECONDS]
//!     UPLOADS (50) clients at once each upload a zipped DICOM series (20 slices of
//!     128×128) to a portal on loopback; throughput, p50/p95 latency, 503 retries, and the
//!     in-process decode of the same zips as the peer (see `portal.rs`)
//!   ctplan-bench rss CMD [ARGS…]      run CMD; print its wall time and peak RSS (from wait4).
//!     Measuring from this small process matters: a child forked from a large process (a
//!     Python holding volumes) inherits that process's resident size in its high-water mark.
//! ```

use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result, bail};

mod portal;

fn best_of<T>(repeat: usize, mut f: impl FnMut() -> Result<T>) -> Result<(f64, T)> {
    let mut best = f64::INFINITY;
    let mut last = None;
    for _ in 0..repeat.max(1) {
        let t = Instant::now();
        let v = f()?;
        best = best.min(t.elapsed().as_secs_f64());
        last = Some(v);
    }
    Ok((best, last.unwrap()))
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let repeat = |i: usize| {
        args.get(i)
            .map(|s| s.parse::<usize>())
            .transpose()
            .map(|r| r.unwrap_or(3))
    };
    let threads = rayon_threads();
    match args.first().map(String::as_str) {
        Some("read") => {
            let f = Path::new(args.get(1).context("read FILE")?);
            let (s, img) = best_of(repeat(2)?, || Ok(ctplan_io::read(f)?))?;
            println!(
                "{}",
                serde_json::json!({"op": "read", "file": f, "seconds": s, "dims": img.volume.dims(), "threads": threads})
            );
        }
        Some("edt") => {
            let f = Path::new(args.get(1).context("edt FILE")?);
            let m = ctplan_io::read_mask(f)?;
            let (s, d) = best_of(repeat(2)?, || Ok(ctplan_core::edt::distance_to(&m)))?;
            let checksum: f64 = d.data.iter().map(|&x| x as f64).sum();
            println!(
                "{}",
                serde_json::json!({"op": "edt", "file": f, "seconds": s, "dims": m.dims, "sum_distance_mm": checksum, "threads": threads})
            );
        }
        Some("eval") => {
            let p: Vec<&Path> = (1..4)
                .map(|i| args.get(i).map(Path::new))
                .collect::<Option<_>>()
                .context("eval PRED TRUTH DEFECTIVE")?;
            let (pred, truth, def) = (
                ctplan_io::read_mask(p[0])?,
                ctplan_io::read_mask(p[1])?,
                ctplan_io::read_mask(p[2])?,
            );
            let opts = ctplan_metrics::EvalOptions::default();
            let (s, m) = best_of(repeat(4)?, || {
                Ok(ctplan_metrics::evaluate(&pred, &truth, &def, &opts)?)
            })?;
            println!(
                "{}",
                serde_json::json!({"op": "eval", "seconds": s, "metrics": m, "threads": threads})
            );
        }
        Some("mesh") => {
            let f = Path::new(args.get(1).context("mesh MASK OUT.stl")?);
            let out = Path::new(args.get(2).context("mesh MASK OUT.stl")?);
            let iters: usize = args.get(3).map(|s| s.parse()).transpose()?.unwrap_or(20);
            let m = ctplan_io::read_mask(f)?;
            let (s, (faces, stages)) = best_of(repeat(4)?, || {
                let mut stages = Vec::new();
                let t = Instant::now();
                let mut mesh = ctplan_mesh::extract::mask_surface(&m);
                stages.push(("extract", t.elapsed().as_secs_f64()));
                let t = Instant::now();
                ctplan_mesh::smooth::taubin(&mut mesh, iters);
                stages.push(("smooth", t.elapsed().as_secs_f64()));
                let t = Instant::now();
                let report = ctplan_mesh::check::check(&mesh);
                stages.push(("check", t.elapsed().as_secs_f64()));
                if !report.printable() {
                    bail!("mesh not printable: {report:?}");
                }
                let t = Instant::now();
                ctplan_io::write_bytes(out, &ctplan_mesh::formats::stl(&mesh))?;
                stages.push(("stl", t.elapsed().as_secs_f64()));
                Ok((mesh.triangles.len(), stages))
            })?;
            let stages: serde_json::Map<String, serde_json::Value> = stages
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.into()))
                .collect();
            println!(
                "{}",
                serde_json::json!({"op": "mesh", "file": f, "seconds": s, "faces": faces, "smooth": iters, "stages": stages, "threads": threads})
            );
        }
        Some("lung-phantom") => lung_phantom(&args[1..])?,
        Some("portal-upload") => portal::portal_upload(&args[1..])?,
        Some("rss") => {
            let cmd = args.get(1).context("rss CMD [ARGS…]")?;
            let t = Instant::now();
            let child = std::process::Command::new(cmd)
                .args(&args[2..])
                // The command's own output goes to stderr, keeping stdout one JSON line.
                .stdout(std::process::Stdio::from(
                    std::os::fd::AsFd::as_fd(&std::io::stderr()).try_clone_to_owned()?,
                ))
                .spawn()
                .with_context(|| format!("cannot run {cmd}"))?;
            let (status, max_rss_kib) = wait_rusage(child.id())?;
            let s = t.elapsed().as_secs_f64();
            println!(
                "{}",
                serde_json::json!({"op": "rss", "command": &args[1..], "seconds": s, "peak_rss_mib": max_rss_kib as f64 / 1024.0, "exit": status})
            );
        }
        Some("lung") => {
            use ctplan_lung::analyse;
            use ctplan_lung::resection::{Margin, Target, resect};
            let f = Path::new(args.get(1).context("lung ANATOMY [REPEAT]")?);
            let t = Instant::now();
            let anatomy = ctplan_lung::model::anatomy::load(f)?;
            let read_s = t.elapsed().as_secs_f64();
            let t = Instant::now();
            let model = analyse(anatomy, &[])?;
            let analyse_s = t.elapsed().as_secs_f64();
            // The first resection also builds the margin table for the nodule (an EDT around
            // it); later ones reuse it. Then every segment with a bronchus resected alone, each
            // the best of REPEAT runs.
            let t = Instant::now();
            let first = resect(
                &model,
                &[Target::Name("RS1".into())],
                Some(2.5),
                Margin::Ratio(2.0),
            );
            let first_s = t.elapsed().as_secs_f64();
            first?;
            let mut times = Vec::new();
            for s in ctplan_lung::airway::names::SEGMENTS.iter() {
                let target = [Target::Name(s.segment.to_string())];
                if resect(&model, &target, Some(2.5), Margin::Ratio(2.0)).is_err() {
                    continue;
                }
                let (secs, _) = best_of(repeat(2)?, || {
                    Ok(resect(&model, &target, Some(2.5), Margin::Ratio(2.0))?)
                })?;
                times.push(secs);
            }
            times.sort_by(f64::total_cmp);
            let median = times.get(times.len() / 2).copied().unwrap_or(f64::NAN);
            let max = times.last().copied().unwrap_or(f64::NAN);
            println!(
                "{}",
                serde_json::json!({"op": "lung", "anatomy": f, "read_seconds": read_s, "analyse_seconds": analyse_s, "first_resect_seconds": first_s, "resections": times.len(), "resect_median_seconds": median, "resect_max_seconds": max, "threads": threads})
            );
        }
        _ => bail!(
            "usage: ctplan-bench read|edt FILE [REPEAT] | eval PRED TRUTH DEFECTIVE [REPEAT] | lung ANATOMY [REPEAT] | lung-phantom VOXEL_MM NOISE_HU [--save DIR] FOLDER… | portal-upload [UPLOADS] [SLICES] [SIZE] [CONCURRENT] [WAIT_SECONDS] | rss CMD [ARGS…]"
        ),
    }
    Ok(())
}

/// The centre (LPS mm) of a mask's voxels; `None` when it is empty.
fn centre(m: &ctplan_core::Mask) -> Option<[f64; 3]> {
    let (mut c, mut n) = ([0.0; 3], 0.0);
    for (v, &x) in m.data.iter().enumerate() {
        if x != 0 {
            let p = m.world_of(v);
            (0..3).for_each(|a| c[a] += p[a]);
            n += 1.0;
        }
    }
    (n > 0.0).then(|| c.map(|x| x / n))
}

/// `lung-phantom VOXEL_MM NOISE_HU [--save DIR] FOLDER…`: render, model, score; one JSON line
/// per folder.
fn lung_phantom(args: &[String]) -> Result<()> {
    use ctplan_lung::phantom::{Options, render};
    const USAGE: &str = "lung-phantom VOXEL_MM NOISE_HU [--save DIR] FOLDER…";
    let voxel: f64 = args.first().context(USAGE)?.parse()?;
    let noise: f64 = args.get(1).context(USAGE)?.parse()?;
    let mut rest = &args[2..];
    let mut save = None;
    if rest.first().map(String::as_str) == Some("--save") {
        save = Some(Path::new(rest.get(1).context(USAGE)?).to_path_buf());
        rest = &rest[2..];
    }
    if rest.is_empty() {
        bail!("{USAGE}");
    }
    for folder in rest {
        let f = Path::new(folder);
        let t = Instant::now();
        let anatomy = ctplan_lung::model::anatomy::load(f)?;
        let read_s = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let opts = Options {
            voxel_mm: [voxel; 3],
            noise_sd_hu: noise,
            seed: 1,
        };
        let phantom = render(&anatomy, &opts)?;
        let render_s = t.elapsed().as_secs_f64();
        let t = Instant::now();
        // The nodule is grown from its point: the centre of the truth's nodule mask.
        let seeds: Vec<[f64; 3]> = phantom
            .truth
            .nodules
            .as_ref()
            .map(centre)
            .into_iter()
            .flatten()
            .collect();
        let ctplan_lung::segment::Built {
            chest: model,
            summary,
            ..
        } = ctplan_lung::segment::model(&phantom.ct, &seeds, &mut |_| {})?;
        let model_s = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let scores = ctplan_lung::evaluate::chest(&phantom.truth, &anatomy, &model.anatomy())?;
        // Lobe borders against the manual fissures (mean mm).
        let lobe_border_mm = match (&model.lobes, &phantom.truth.fissures) {
            (Some(l), Some(f)) => ctplan_lung::evaluate::border_distance(l, f)?,
            _ => None,
        };
        // ATM'22's tree length against the truth on the CT's own grid (the majority of each
        // block), beside the score's own against the masks' finer centreline.
        let td_ct_grid =
            ctplan_lung::evaluate::tree_length_detected(&phantom.truth.airway, &model.airway.mask)?;
        let score_s = t.elapsed().as_secs_f64();
        if let Some(dir) = &save {
            let name = f.file_name().map(|n| n.to_string_lossy().to_string());
            let name = name.unwrap_or_else(|| "case".into());
            let w = ctplan_io::WriteOptions::default();
            let ct = ctplan_core::AnyVolume::I16(phantom.ct.clone());
            ctplan_io::write(&dir.join(format!("{name}_ct.nrrd")), &ct, &w)?;
            ctplan_io::write_mask(
                &dir.join(format!("{name}_airway_truth.nrrd")),
                &phantom.truth.airway,
            )?;
            ctplan_io::write_mask(
                &dir.join(format!("{name}_airway_model.nrrd")),
                &model.airway.mask,
            )?;
            ctplan_io::write_mask(
                &dir.join(format!("{name}_fissures_model.nrrd")),
                &model.fissures,
            )?;
            ctplan_io::write_mask(
                &dir.join(format!("{name}_vessels_model.nrrd")),
                &model.vessels.mask,
            )?;
            if let Some(v) = &phantom.truth.vessels {
                ctplan_io::write_mask(&dir.join(format!("{name}_vessels_truth.nrrd")), v)?;
            }
            if let Some(f) = &phantom.truth.fissures {
                ctplan_io::write_mask(&dir.join(format!("{name}_fissures_truth.nrrd")), f)?;
            }
            if let Some(l) = &model.lobes {
                let l = ctplan_core::AnyVolume::U8(l.clone());
                ctplan_io::write(&dir.join(format!("{name}_lobes_model.nrrd")), &l, &w)?;
            }
        }
        let g = phantom.ct.geometry;
        println!(
            "{}",
            serde_json::json!({
                "op": "lung-phantom", "anatomy": f, "voxel_mm": g.spacing, "noise_hu": noise,
                "dims": phantom.ct.dims, "scores": scores,
                "airway_tree_length_ct_grid": td_ct_grid, "lobe_border_mm": lobe_border_mm,
                "lesions": summary.lesions, "candidates": summary.candidates.len(),
                "airway": {"branches": summary.airway.branches,
                    "max_generation": summary.airway.max_generation,
                    "segmental_bronchi": summary.airway.segmental_bronchi.len(),
                    "threshold_hu": summary.airway.threshold_hu},
                "warnings": summary.warnings,
                "seconds": {"read": read_s, "render": render_s, "model": model_s, "score": score_s,
                    "stages": summary.seconds},
                "threads": rayon_threads(),
            })
        );
    }
    Ok(())
}

/// Wait for a child and return (exit status, peak RSS in KiB) via `wait4(2)`.
fn wait_rusage(pid: u32) -> Result<(i32, i64)> {
    let mut status = 0;
    // SAFETY: plain FFI call with valid out-pointers; rusage is zero-initialised POD.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    let r = unsafe { libc::wait4(pid as libc::pid_t, &mut status, 0, &mut ru) };
    if r < 0 {
        bail!("wait4 failed: {}", std::io::Error::last_os_error());
    }
    Ok((libc::WEXITSTATUS(status), ru.ru_maxrss))
}

fn rayon_threads() -> usize {
    rayon::current_num_threads()
}
