//! Mesh files written by `ctplan mesh` read back in VTK's readers (vtkSTLReader, vtkPLYReader,
//! vtkOBJReader, vtkGLTFReader — what 3D Slicer uses) via tests/reference/mesh_reader.py:
//! same triangle count, no open or non-manifold edge found by vtkFeatureEdges, the same enclosed
//! volume, and coordinates in LPS mm (glTF: x = L, y = S, z = A in metres).

use std::process::Command;

#[test]
fn vtk_reads_our_meshes_as_closed_surfaces() {
    let (Some(py), Some(src)) = (
        ctplan_testdata::python(),
        ctplan_testdata::data_file("skullfix/training_set/implant/000.nrrd"),
    ) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut files = Vec::new();
    let mut report = serde_json::Value::Null;
    for ext in ["stl", "ply", "obj", "glb"] {
        let f = dir.path().join(format!("implant.{ext}"));
        let o = Command::new(env!("CARGO_BIN_EXE_ctplan"))
            .args(["mesh", "--json", "--decimate", "0.5"])
            .arg(&src)
            .arg("-o")
            .arg(&f)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        report = serde_json::from_slice(&o.stdout).unwrap();
        files.push(f);
    }
    let o = Command::new(&py)
        .arg(ctplan_testdata::workspace_root().join("tests/reference/mesh_reader.py"))
        .args(&files)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let seen: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let faces = report["faces"].as_u64().unwrap();
    let volume = report["volume_mm3"].as_f64().unwrap();
    let img = ctplan_io::read_mask(&src).unwrap();
    let bbox = ctplan_core::crop::bounding_box(&img).unwrap();
    let corner = img.geometry.index_to_world(bbox.start.map(|x| x as f64));
    for f in &files {
        let v = &seen[f.to_str().unwrap()];
        let ext = f.extension().unwrap().to_str().unwrap();
        assert_eq!(v["cells"].as_u64().unwrap(), faces, "{ext}");
        assert_eq!(
            v["open_or_nonmanifold_edges"].as_u64().unwrap(),
            0,
            "{ext}: {v}"
        );
        // glTF is in metres.
        let scale = if ext == "glb" { 1e9 } else { 1.0 };
        let vol = v["volume"].as_f64().unwrap() * scale;
        assert!(
            (vol - volume).abs() / volume < 1e-3,
            "{ext}: VTK volume {vol} vs ours {volume}"
        );
        let b: Vec<f64> = v["bounds"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap())
            .collect();
        if ext != "glb" {
            // LPS mm: the mesh starts within a couple of voxels of the mask's first voxel.
            assert!(
                (b[0] - corner[0]).abs() < 2.0,
                "{ext}: x bounds {b:?} vs {corner:?}"
            );
        }
    }
    // glTF frame: x = L, y = S, z = A = −P, metres — against the STL's LPS millimetres.
    let bounds = |ext: &str| -> Vec<f64> {
        let f = files
            .iter()
            .find(|f| f.extension().unwrap() == ext)
            .unwrap();
        seen[f.to_str().unwrap()]["bounds"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap())
            .collect()
    };
    let (g, l) = (bounds("glb"), bounds("stl"));
    let pairs = [
        (g[0] * 1e3, l[0]),
        (g[1] * 1e3, l[1]),
        (g[2] * 1e3, l[4]),
        (g[3] * 1e3, l[5]),
        (g[4] * 1e3, -l[3]),
        (g[5] * 1e3, -l[2]),
    ];
    for (x, y) in pairs {
        assert!((x - y).abs() < 1e-3, "glTF {g:?} vs STL {l:?}");
    }
}
