//! The mesh pipeline of a mask, as `ctplan mesh`, `ctplan implant --mesh` and the demo run it:
//! extract, smooth, decimate and check ([`build`]), then the file's bytes in the format its
//! extension names, refused for a mesh that is not printable ([`encode`]). Writing the bytes
//! (atomically) is the caller's.

use std::path::{Path, PathBuf};
use std::time::Instant;

use ctplan_core::Mask;

use crate::check::{MeshReport, check};
use crate::formats::{self, Part};
use crate::{TriMesh, decimate, extract, smooth};

/// Options of the pipeline.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MeshOptions {
    /// Taubin smoothing iterations (λ = 0.5, μ = −0.53); 0 keeps the voxel staircase.
    pub smooth: usize,
    /// Keep about this fraction of the triangles, (0, 1]; 1 does not decimate.
    pub decimate: f64,
}

impl MeshOptions {
    /// A printable mesh of an implant, as `ctplan implant --mesh` and the portal's implant job
    /// make it: 10 Taubin iterations (the voxel staircase smoothed, the volume kept within a
    /// few percent of the voxels'), every triangle kept (decimation would move the surface a
    /// printer reproduces).
    pub const PRINT: MeshOptions = MeshOptions {
        smooth: 10,
        decimate: 1.0,
    };
}

/// A mesh file's format, by the file's extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MeshFormat {
    /// Binary STL.
    Stl,
    /// Binary PLY.
    Ply,
    /// Wavefront OBJ.
    Obj,
    /// Binary glTF.
    Glb,
}

/// Why a mesh file's bytes were not made.
#[derive(Debug, Clone, PartialEq)]
pub enum PipelineError {
    /// The file's extension names no mesh format.
    UnknownFormat(PathBuf),
    /// The mesh failed its checks (it is not printable).
    NotPrintable(PathBuf, Box<MeshReport>),
}

impl std::fmt::Display for PipelineError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PipelineError::UnknownFormat(p) => write!(
                f,
                "{}: unknown mesh format (expected .stl, .ply, .obj or .glb)",
                p.display()
            ),
            PipelineError::NotPrintable(p, r) => write!(
                f,
                "{}: mesh failed its checks, not written: {r:?}",
                p.display()
            ),
        }
    }
}

impl std::error::Error for PipelineError {}

impl MeshFormat {
    /// The format `path`'s extension names (case-insensitive).
    pub fn of(path: &Path) -> Result<MeshFormat, PipelineError> {
        let ext = path
            .extension()
            .map(|e| e.to_string_lossy().to_ascii_lowercase())
            .unwrap_or_default();
        Ok(match ext.as_str() {
            "stl" => MeshFormat::Stl,
            "ply" => MeshFormat::Ply,
            "obj" => MeshFormat::Obj,
            "glb" => MeshFormat::Glb,
            _ => return Err(PipelineError::UnknownFormat(path.to_path_buf())),
        })
    }
}

/// Extract, smooth, decimate and check; with the seconds each stage took.
pub fn build(mask: &Mask, o: &MeshOptions) -> (TriMesh, MeshReport, Vec<(&'static str, f64)>) {
    let mut times = Vec::new();
    let t = Instant::now();
    let mut mesh = extract::mask_surface(mask);
    times.push(("extract", t.elapsed().as_secs_f64()));
    let t = Instant::now();
    smooth::taubin(&mut mesh, o.smooth);
    times.push(("smooth", t.elapsed().as_secs_f64()));
    if o.decimate < 1.0 {
        let t = Instant::now();
        // Collapses may move the surface by a quarter of the finest voxel size at most.
        let min_spacing = mask
            .geometry
            .spacing
            .iter()
            .copied()
            .fold(f64::INFINITY, f64::min);
        mesh = decimate::decimate(&mesh, o.decimate, 0.25 * min_spacing);
        times.push(("decimate", t.elapsed().as_secs_f64()));
    }
    let t = Instant::now();
    let report = check(&mesh);
    times.push(("check", t.elapsed().as_secs_f64()));
    (mesh, report, times)
}

/// The bytes of the file `path` holding a checked mesh (its format by the extension; `name`
/// names the glTF part); refused for a mesh that is not printable.
pub fn encode(
    path: &Path,
    mesh: &TriMesh,
    report: &MeshReport,
    name: &str,
) -> Result<Vec<u8>, PipelineError> {
    if !report.printable() {
        return Err(PipelineError::NotPrintable(
            path.to_path_buf(),
            Box::new(report.clone()),
        ));
    }
    Ok(match MeshFormat::of(path)? {
        MeshFormat::Stl => formats::stl(mesh),
        MeshFormat::Ply => formats::ply(mesh),
        MeshFormat::Obj => formats::obj(mesh),
        MeshFormat::Glb => formats::glb(&[Part {
            name,
            mesh,
            color: [0.89, 0.85, 0.79, 1.0],
        }]),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ctplan_core::Geometry;

    #[test]
    fn a_cube_meshes_printable_and_encodes_by_extension() {
        let mut m = Mask::zeros([6, 6, 6], Geometry::new([1.0; 3], [0.0; 3]));
        for k in 1..5 {
            for j in 1..5 {
                for i in 1..5 {
                    let at = m.index(i, j, k);
                    m.data[at] = 1;
                }
            }
        }
        let o = MeshOptions {
            smooth: 0,
            decimate: 1.0,
        };
        let (mesh, report, _) = build(&m, &o);
        assert!(report.printable());
        let stl = encode(Path::new("a.STL"), &mesh, &report, "cube").unwrap();
        assert_eq!(stl, formats::stl(&mesh));
        assert!(matches!(
            encode(Path::new("a.txt"), &mesh, &report, "cube"),
            Err(PipelineError::UnknownFormat(_))
        ));
        let broken = MeshReport {
            watertight: false,
            ..report
        };
        assert!(matches!(
            encode(Path::new("a.stl"), &mesh, &broken, "cube"),
            Err(PipelineError::NotPrintable(..))
        ));
    }
}
