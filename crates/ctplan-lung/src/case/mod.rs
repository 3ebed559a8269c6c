//! The case folder's contents, as volumes and bytes (the caller writes them, atomically): a
//! multi-label segmentation (3D Slicer `.seg.nrrd`, [`label_map`]), a glTF scene of named,
//! coloured meshes ([`scene`](mod@scene)), the pictures ([`pictures`]), and the readable Markdown summary
//! ([`markdown`]).

use ctplan_core::Volume;
use ctplan_io::seg::Segment;
use ctplan_mesh::formats::{Part, glb, glb_meshopt};

pub mod labels;
pub mod markdown;
pub mod pictures;
pub mod scene;

use crate::model::Model;
use crate::report::Report;
use labels::label_map;
use scene::scene;

/// The case folder's files: the label map (written as `segments.seg.nrrd` by
/// `ctplan_io::seg::write_seg_nrrd`) and the other files as bytes.
pub struct CaseFiles {
    /// Segments 1–18, then airway, vessels, arteries, veins, nodule ([`label_map`]).
    pub labels: Volume<u8>,
    /// The label map's segments (names, colours, values).
    pub segments: Vec<Segment>,
    /// File name and bytes: `scene.glb`, `airway.png`, and with lungs `segments.png` (and
    /// `resection.png` for a planned resection).
    pub files: Vec<(&'static str, Vec<u8>)>,
}

/// The picture of a model built from the CT (`model.png`, [`pictures::model_picture`]), for
/// the folder of `lung model`: `model` is the analysed model, `lobes` its lobe label map.
pub fn model_files(model: &Model, lobes: &Volume<u8>) -> Vec<(&'static str, Vec<u8>)> {
    let img = pictures::model_picture(model, lobes);
    vec![(
        "model.png",
        ctplan_io::png::encode_rgb(img.width, img.height, &img.rgb),
    )]
}

/// The scene a browser viewer opens: [`scene()`] of the model before any resection (segments,
/// airway, vessels, nodule and its margin halo of `halo_mm`), compressed for the network and a
/// phone's memory ([`glb_meshopt`]); each structure is already decimated to its triangle
/// budget by the scene. The intersegmental plane depends on the resection picked, so it is
/// not part of it.
pub fn viewer_scene(model: &Model, halo_mm: Option<f64>) -> Vec<u8> {
    glb_meshopt(&gltf_parts(&scene(model, None, halo_mm)))
}

/// The scene's non-empty parts as glTF parts.
fn gltf_parts(parts: &[scene::ScenePart]) -> Vec<Part<'_>> {
    parts
        .iter()
        .filter(|p| !p.1.triangles.is_empty())
        .map(|(name, mesh, color)| Part {
            name,
            mesh,
            color: *color,
        })
        .collect()
}

/// The case folder's files for a planned case (all but `report.json` and `report.md`, which
/// carry the timings of this step too: [`Report::to_json`], [`markdown::markdown`]).
pub fn render(model: &Model, report: &Report) -> CaseFiles {
    let (labels, segments) = label_map(model);
    let resected = report.resected.as_ref();
    let parts = scene(model, resected, report.halo_mm);
    let mut files = vec![("scene.glb", glb(&gltf_parts(&parts)))];
    let png = |img: ctplan_mesh::render::Image| {
        ctplan_io::png::encode_rgb(img.width, img.height, &img.rgb)
    };
    if let Some((_, airway, _)) = parts.iter().find(|p| p.0 == "airway") {
        files.push(("airway.png", png(pictures::airway_picture(model, airway))));
    }
    if model.territory.is_some() {
        files.push((
            "segments.png",
            png(pictures::segments_picture(
                model,
                &parts,
                &report.segments,
                None,
            )),
        ));
        if let (Some(set), Some(r)) = (resected, &report.resection) {
            let what = r.targets.join(" + ");
            files.push((
                "resection.png",
                png(pictures::segments_picture(
                    model,
                    &parts,
                    &report.segments,
                    Some((set, &what)),
                )),
            ));
        }
    }
    CaseFiles {
        labels,
        segments,
        files,
    }
}
