//! The implant job of a cranial case: the library's workflow, one call per stage, as
//! `ctplan implant --mesh` runs it:
//!
//! 1. the uploaded volume (`ct.nrrd`: a defective skull mask, or a head CT) →
//!    `ctplan_cranio::skull::of_volume` (a mask as it is, a CT's skull segmented);
//! 2. `ctplan_cranio::Designer::shipped().design` → the implant mask;
//! 3. the printable mesh (`ctplan_mesh::pipeline::build` with `MeshOptions::PRINT`, checked
//!    watertight, manifold and outward by `ctplan_mesh::check`; a mesh that is not printable
//!    fails the job, with the check's answer as the reason) → `implant.stl`, `implant.ply`;
//! 4. the implant's thickness at every vertex (`ctplan_mesh::thickness::per_vertex`) and the
//!    mesh cut into [`BANDS`] of thickness, each a coloured part of `thickness.glb`;
//! 5. the skull's mesh for viewing only: the skull resampled (nearest voxel) to at least
//!    [`SCENE_SPACING_MM`] and its mesh decimated to [`SCENE_DECIMATE`] of its triangles; and
//!    the scene `scene.glb`: parts `skull` and `implant` (the implant's printable mesh);
//! 6. `design.json`: the design's report, the implant mesh's check, the thickness's summary and
//!    legend, where the skull came from.
//!
//! Every file is written into the case folder after the lease is checked (a worker whose job
//! was taken over writes nothing), each one atomically.

use std::path::Path;
use std::time::Instant;

use ctplan_core::resample::{Interpolation, resample_to_spacing};
use ctplan_cranio::Designer;
use ctplan_cranio::skull::{SkullSource, like_input, of_volume};
use ctplan_mesh::check::MeshReport;
use ctplan_mesh::formats::{Part, glb_meshopt};
use ctplan_mesh::pipeline::{MeshOptions, build, encode};
use ctplan_mesh::thickness;
use serde::Serialize;

use crate::Portal;
use crate::jobs::Claim;

/// The job kind of a cranial case.
pub const KIND: &str = "implant";

/// Rays longer than this (mm) are cut: at the implant's rim the normal runs along the shell.
pub const MAX_THICKNESS_MM: f64 = 30.0;

/// The bands of `thickness.glb`: (lower edge mm, linear RGBA colour), thin to thick along
/// the viridis colour map (van der Walt and Smith 2015; sRGB samples made linear, as glTF
/// wants); each band runs to the next one's lower edge, the last to [`MAX_THICKNESS_MM`].
pub const BANDS: &[(f64, [f32; 4])] = &[
    (0.0, [0.058, 0.0, 0.089, 1.0]),
    (2.0, [0.053, 0.058, 0.242, 1.0]),
    (4.0, [0.023, 0.188, 0.27, 1.0]),
    (6.0, [0.016, 0.392, 0.231, 1.0]),
    (8.0, [0.195, 0.638, 0.082, 1.0]),
    (10.0, [0.982, 0.799, 0.019, 1.0]),
];

/// The finest voxel spacing (mm) the skull of `scene.glb` is meshed at: a 0.4 mm skull has
/// millions of triangles, more than a browser shows smoothly, and simplifying them all takes
/// longer than the design; the skull is there to place the implant, not to print.
pub const SCENE_SPACING_MM: f64 = 1.0;

/// The most triangles of the implant in `scene.glb` (the viewer's copy; the printable files
/// keep every triangle).
pub const VIEW_TRIANGLES: usize = 60_000;

/// The fraction of the (resampled) skull's triangles kept in `scene.glb`.
pub const SCENE_DECIMATE: f64 = 0.5;

const BONE: [f32; 4] = [0.89, 0.85, 0.79, 1.0];
const IMPLANT: [f32; 4] = [0.2, 0.55, 0.9, 1.0];

/// One band of `thickness.glb`, as `design.json` lists it (the viewer's legend).
#[derive(Debug, Serialize)]
pub struct Band {
    /// The part's name in `thickness.glb`.
    pub name: String,
    /// Lower edge, mm.
    pub from_mm: f64,
    /// Upper edge, mm.
    pub to_mm: f64,
    /// Linear RGBA, as in the glTF material.
    pub color: [f32; 4],
    /// Triangles in the band.
    pub faces: usize,
}

/// The thickness summary of `design.json`, over the implant mesh's vertices.
#[derive(Debug, Serialize)]
pub struct Thickness {
    /// How it is measured, in words.
    pub method: &'static str,
    /// Rays are cut at this length, mm.
    pub max_mm: f64,
    /// Vertices measured (those whose ray met the implant).
    pub vertices: usize,
    /// The 5th percentile, mm.
    pub p5_mm: f64,
    /// The median, mm.
    pub median_mm: f64,
    /// The 95th percentile, mm.
    pub p95_mm: f64,
    /// The mean, mm.
    pub mean_mm: f64,
    /// The bands of `thickness.glb`.
    pub bands: Vec<Band>,
}

/// `design.json`.
#[derive(Serialize)]
struct Report<'a> {
    skull: SkullOut,
    design: ctplan_cranio::design::DesignReport,
    /// The implant mesh's checks (`implant.stl`, `implant.ply`): watertight, manifold, ...
    mesh: &'a MeshReport,
    printable: bool,
    thickness: Thickness,
    scene: SceneOut,
    seconds: Seconds,
}

#[derive(Serialize)]
struct SkullOut {
    source: SkullSource,
    ml: f64,
    dims: [usize; 3],
    spacing_mm: [f64; 3],
}

#[derive(Serialize)]
struct SceneOut {
    skull_faces: usize,
    implant_faces: usize,
}

#[derive(Serialize)]
struct Seconds {
    skull: f64,
    design: f64,
    mesh: f64,
    thickness: f64,
    scene: f64,
}

/// The thickness summary of per-vertex values (zeros are rays that missed).
fn summary(t: &[f64], bands: Vec<Band>) -> Thickness {
    let mut v: Vec<f64> = t.iter().copied().filter(|&x| x > 0.0).collect();
    v.sort_by(f64::total_cmp);
    let q = |p: f64| {
        if v.is_empty() {
            0.0
        } else {
            v[((v.len() - 1) as f64 * p).round() as usize]
        }
    };
    Thickness {
        method: "per vertex, along the inward normal to where the ray leaves the implant's voxels (one-ray shape diameter function)",
        max_mm: MAX_THICKNESS_MM,
        vertices: v.len(),
        p5_mm: q(0.05),
        median_mm: q(0.5),
        p95_mm: q(0.95),
        mean_mm: v.iter().sum::<f64>() / v.len().max(1) as f64,
        bands,
    }
}

/// Run the implant job of a claimed cranial case in its folder `dir`; the reason in words when
/// it fails.
pub(crate) fn run(portal: &Portal, worker: &str, claim: &Claim, dir: &Path) -> Result<(), String> {
    let store = portal.store();
    let lease = portal.config().lease_seconds;
    const STEPS: f64 = 7.0;
    let beat = |done: f64, stage: &str| {
        store
            .heartbeat(&claim.job, worker, lease, done / STEPS, stage)
            .unwrap_or(false)
    };
    beat(0.0, "reading the skull");
    let image = ctplan_io::read(&dir.join("ct.nrrd")).map_err(|e| e.to_string())?;
    beat(1.0, "finding the skull");
    let t = Instant::now();
    let (skull, source) = of_volume(&image.volume).map_err(|e| format!("skull: {e}"))?;
    let t_skull = t.elapsed().as_secs_f64();
    beat(2.0, "implant design");
    let t = Instant::now();
    let design = Designer::shipped()
        .design(&skull)
        .map_err(|e| format!("implant design: {e}"))?;
    let t_design = t.elapsed().as_secs_f64();
    beat(3.0, "implant mesh");
    let t = Instant::now();
    let (mesh, report, _) = build(&design.implant, &MeshOptions::PRINT);
    if report.faces == 0 {
        return Err("implant design: the implant is empty".into());
    }
    let printable = |name: &str| {
        encode(Path::new(name), &mesh, &report, "implant").map_err(|e| format!("implant mesh: {e}"))
    };
    let (stl, ply) = (printable("implant.stl")?, printable("implant.ply")?);
    let t_mesh = t.elapsed().as_secs_f64();
    beat(4.0, "implant thickness");
    let t = Instant::now();
    let per_vertex = thickness::per_vertex(&mesh, &design.implant, MAX_THICKNESS_MM);
    let edges: Vec<f64> = BANDS
        .iter()
        .map(|b| b.0)
        .chain([MAX_THICKNESS_MM])
        .collect();
    let banded = thickness::bands(&mesh, &per_vertex, &edges);
    let names: Vec<String> = (0..BANDS.len())
        .map(|b| format!("implant {}–{} mm", edges[b], edges[b + 1]))
        .collect();
    let parts: Vec<Part> = (banded.iter().zip(BANDS).zip(&names))
        .map(|((m, b), name)| Part {
            name,
            mesh: m,
            color: b.1,
        })
        .collect();
    let thickness_glb = glb_meshopt(&parts);
    let bands = (banded.iter().zip(BANDS).zip(names).enumerate())
        .map(|(b, ((m, band), name))| Band {
            name,
            from_mm: edges[b],
            to_mm: edges[b + 1],
            color: band.1,
            faces: m.triangles.len(),
        })
        .collect();
    let t_thickness = t.elapsed().as_secs_f64();
    beat(5.0, "skull mesh");
    let t = Instant::now();
    let scene_options = MeshOptions {
        decimate: SCENE_DECIMATE,
        ..MeshOptions::PRINT
    };
    let spacing = skull.geometry.spacing.map(|s| s.max(SCENE_SPACING_MM));
    let coarse = resample_to_spacing(&skull, spacing, Interpolation::Nearest, 0)
        .map_err(|e| format!("skull mesh: {e}"))?;
    let (skull_mesh, _, _) = build(&coarse, &scene_options);
    drop(coarse);
    // The implant as seen (not printed): decimated to a phone's budget within a tenth of a
    // millimetre.
    let n = mesh.triangles.len();
    let view = if n > VIEW_TRIANGLES {
        ctplan_mesh::decimate::decimate(&mesh, VIEW_TRIANGLES as f64 / n as f64, 0.1)
    } else {
        mesh.clone()
    };
    let scene = glb_meshopt(&[
        Part {
            name: "skull",
            mesh: &skull_mesh,
            color: BONE,
        },
        Part {
            name: "implant",
            mesh: &view,
            color: IMPLANT,
        },
    ]);
    let t_scene = t.elapsed().as_secs_f64();
    let g = &skull.geometry;
    let out = Report {
        skull: SkullOut {
            source,
            ml: skull.nonzero_ml(),
            dims: skull.dims,
            spacing_mm: g.spacing,
        },
        design: design.report(),
        mesh: &report,
        printable: report.printable(),
        thickness: summary(&per_vertex, bands),
        scene: SceneOut {
            skull_faces: skull_mesh.triangles.len(),
            implant_faces: view.triangles.len(),
        },
        seconds: Seconds {
            skull: t_skull,
            design: t_design,
            mesh: t_mesh,
            thickness: t_thickness,
            scene: t_scene,
        },
    };
    let json = serde_json::to_vec_pretty(&out).map_err(|e| e.to_string())?;
    let implant = like_input(&image.volume, &design.implant);
    drop(image);
    // A worker whose lease ran out while another took the job over writes nothing.
    if !beat(6.0, "writing the results") {
        return Err("the job was taken over by another worker; its results are not written".into());
    }
    let opts = ctplan_io::WriteOptions {
        compress: true,
        level: 6,
        key_values: Vec::new(),
    };
    ctplan_io::write(&dir.join("implant.nrrd"), &implant, &opts).map_err(|e| e.to_string())?;
    for (name, bytes) in [
        ("implant.stl", &stl),
        ("implant.ply", &ply),
        ("scene.glb", &scene),
        ("thickness.glb", &thickness_glb),
        ("design.json", &json),
    ] {
        ctplan_io::write_bytes(&dir.join(name), bytes).map_err(|e| e.to_string())?;
    }
    Ok(())
}
