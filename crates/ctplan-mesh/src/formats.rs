//! File encodings of meshes. Each encoder returns the file's bytes; writing them (atomically) is
//! the caller's business.
//!
//! Coordinates: STL, PLY and OBJ carry LPS millimetres — 3D Slicer's convention for models since
//! 4.11 — and say so the way Slicer reads it: `SPACE=LPS` in the STL header and in a PLY/OBJ
//! comment. glTF prescribes its own frame (right-handed, +Y up, metres), so glTF files get
//! x = Left, y = Superior, z = Anterior, in metres: a proper rotation of LPS (winding kept).

use serde_json::json;

use crate::TriMesh;

/// Binary STL with per-face normals; the 80-byte header says `SPACE=LPS`. Encoded in parallel.
pub fn stl(mesh: &TriMesh) -> Vec<u8> {
    use rayon::prelude::*;
    let mut out = vec![0u8; 84 + 50 * mesh.triangles.len()];
    let header = b"ctplan mesh SPACE=LPS units=mm";
    out[..80].fill(b' ');
    out[..header.len()].copy_from_slice(header);
    out[80..84].copy_from_slice(&(mesh.triangles.len() as u32).to_le_bytes());
    out[84..]
        .par_chunks_mut(50)
        .enumerate()
        .for_each(|(i, rec)| {
            let t = mesh.triangles[i];
            let mut vals = [0f32; 12];
            for (k, v) in mesh.normal(i).into_iter().enumerate() {
                vals[k] = v as f32;
            }
            for (c, &vi) in t.iter().enumerate() {
                for (k, x) in mesh.vertices[vi as usize].into_iter().enumerate() {
                    vals[3 + 3 * c + k] = x as f32;
                }
            }
            for (k, v) in vals.iter().enumerate() {
                rec[4 * k..4 * k + 4].copy_from_slice(&v.to_le_bytes());
            }
            // Attribute byte count stays 0.
        });
    out
}

/// Binary little-endian PLY with shared vertices.
pub fn ply(mesh: &TriMesh) -> Vec<u8> {
    let header = format!(
        "ply\nformat binary_little_endian 1.0\ncomment SPACE=LPS\ncomment units mm, written by ctplan\nelement vertex {}\nproperty float x\nproperty float y\nproperty float z\nelement face {}\nproperty list uchar int vertex_indices\nend_header\n",
        mesh.vertices.len(),
        mesh.triangles.len()
    );
    let mut out = header.into_bytes();
    for v in &mesh.vertices {
        for c in v {
            out.extend_from_slice(&(*c as f32).to_le_bytes());
        }
    }
    for t in &mesh.triangles {
        out.push(3);
        for &i in t {
            out.extend_from_slice(&(i as i32).to_le_bytes());
        }
    }
    out
}

/// Wavefront OBJ with shared vertices.
pub fn obj(mesh: &TriMesh) -> Vec<u8> {
    use std::fmt::Write;
    let mut s = String::from("# SPACE=LPS\n# units mm, written by ctplan\n");
    for v in &mesh.vertices {
        let _ = writeln!(s, "v {:.5} {:.5} {:.5}", v[0], v[1], v[2]);
    }
    for t in &mesh.triangles {
        let _ = writeln!(s, "f {} {} {}", t[0] + 1, t[1] + 1, t[2] + 1);
    }
    s.into_bytes()
}

/// One named, coloured part of a glTF scene.
pub struct Part<'a> {
    /// The node's name in the scene (shown by viewers).
    pub name: &'a str,
    /// The geometry of the part.
    pub mesh: &'a TriMesh,
    /// Linear RGBA in 0–1.
    pub color: [f32; 4],
}

/// LPS millimetres → glTF frame (x = L, y = S, z = A) in metres.
fn gltf_point(p: [f64; 3]) -> [f32; 3] {
    [
        (p[0] * 1e-3) as f32,
        (p[2] * 1e-3) as f32,
        (-p[1] * 1e-3) as f32,
    ]
}

/// Binary glTF 2.0 (`.glb`): one node, mesh and material per part.
pub fn glb(parts: &[Part]) -> Vec<u8> {
    let mut bin: Vec<u8> = Vec::new();
    let (mut accessors, mut views, mut meshes, mut nodes, mut materials) =
        (vec![], vec![], vec![], vec![], vec![]);
    for (pi, part) in parts.iter().enumerate() {
        let m = part.mesh;
        let pos: Vec<[f32; 3]> = m.vertices.iter().map(|&p| gltf_point(p)).collect();
        let nrm: Vec<[f32; 3]> = m
            .vertex_normals()
            .into_iter()
            .map(|n| [n[0] as f32, n[2] as f32, -n[1] as f32])
            .collect();
        let (mut lo, mut hi) = ([f32::INFINITY; 3], [f32::NEG_INFINITY; 3]);
        for p in &pos {
            for a in 0..3 {
                lo[a] = lo[a].min(p[a]);
                hi[a] = hi[a].max(p[a]);
            }
        }
        if pos.is_empty() {
            (lo, hi) = ([0.0; 3], [0.0; 3]);
        }
        let mut add_view = |bytes: &[u8], target: u32| -> usize {
            while !bin.len().is_multiple_of(4) {
                bin.push(0);
            }
            let off = bin.len();
            bin.extend_from_slice(bytes);
            views.push(json!({"buffer": 0, "byteOffset": off, "byteLength": bytes.len(), "target": target}));
            views.len() - 1
        };
        let vp = add_view(bytemuck::cast_slice(&pos), 34962);
        let vn = add_view(bytemuck::cast_slice(&nrm), 34962);
        let idx: Vec<u32> = m.triangles.iter().flatten().copied().collect();
        let vi = add_view(bytemuck::cast_slice(&idx), 34963);
        let a0 = accessors.len();
        accessors.push(json!({"bufferView": vp, "componentType": 5126, "count": pos.len(), "type": "VEC3", "min": lo, "max": hi}));
        accessors.push(
            json!({"bufferView": vn, "componentType": 5126, "count": nrm.len(), "type": "VEC3"}),
        );
        accessors.push(
            json!({"bufferView": vi, "componentType": 5125, "count": idx.len(), "type": "SCALAR"}),
        );
        materials.push(json!({"name": part.name, "pbrMetallicRoughness": {"baseColorFactor": part.color, "metallicFactor": 0.0, "roughnessFactor": 0.6},
                              "alphaMode": if part.color[3] < 1.0 { "BLEND" } else { "OPAQUE" }}));
        meshes.push(json!({"name": part.name, "primitives": [{"attributes": {"POSITION": a0, "NORMAL": a0 + 1}, "indices": a0 + 2, "material": pi}]}));
        nodes.push(json!({"name": part.name, "mesh": pi}));
    }
    while !bin.len().is_multiple_of(4) {
        bin.push(0);
    }
    let doc = json!({
        "asset": {"version": "2.0", "generator": "ctplan", "extras": {"frame": "x = Left, y = Superior, z = Anterior (patient), metres"}},
        "scene": 0,
        "scenes": [{"nodes": (0..parts.len()).collect::<Vec<_>>()}],
        "nodes": nodes, "meshes": meshes, "materials": materials,
        "accessors": accessors, "bufferViews": views,
        "buffers": [{"byteLength": bin.len()}],
    });
    let mut js = serde_json::to_vec(&doc).expect("JSON");
    while !js.len().is_multiple_of(4) {
        js.push(b' ');
    }
    let total = 12 + 8 + js.len() + 8 + bin.len();
    let mut out = Vec::with_capacity(total);
    out.extend_from_slice(b"glTF");
    out.extend_from_slice(&2u32.to_le_bytes());
    out.extend_from_slice(&(total as u32).to_le_bytes());
    out.extend_from_slice(&(js.len() as u32).to_le_bytes());
    out.extend_from_slice(b"JSON");
    out.extend_from_slice(&js);
    out.extend_from_slice(&(bin.len() as u32).to_le_bytes());
    out.extend_from_slice(b"BIN\0");
    out.extend_from_slice(&bin);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tetra() -> TriMesh {
        crate::tetra(10.0)
    }

    #[test]
    fn stl_layout() {
        let b = stl(&tetra());
        assert_eq!(b.len(), 84 + 4 * 50);
        assert!(b.starts_with(b"ctplan mesh SPACE=LPS"));
        assert_eq!(u32::from_le_bytes(b[80..84].try_into().unwrap()), 4);
        // First triangle's normal points to −z (outward for face 0, 2, 1).
        let nz = f32::from_le_bytes(b[92..96].try_into().unwrap());
        assert_eq!(nz, -1.0);
    }

    #[test]
    fn ply_and_obj_layout() {
        let p = ply(&tetra());
        let text = String::from_utf8_lossy(&p);
        assert!(
            text.contains("element vertex 4")
                && text.contains("element face 4")
                && text.contains("SPACE=LPS")
        );
        let end = text.find("end_header\n").unwrap() + 11;
        assert_eq!(p.len() - end, 4 * 12 + 4 * 13);
        let o = String::from_utf8(obj(&tetra())).unwrap();
        assert!(o.contains("f 2 3 4"));
    }

    #[test]
    fn glb_is_well_formed() {
        let t = tetra();
        let b = glb(&[Part {
            name: "implant",
            mesh: &t,
            color: [0.9, 0.8, 0.6, 1.0],
        }]);
        assert_eq!(&b[..4], b"glTF");
        assert_eq!(
            u32::from_le_bytes(b[8..12].try_into().unwrap()) as usize,
            b.len()
        );
        let jl = u32::from_le_bytes(b[12..16].try_into().unwrap()) as usize;
        let doc: serde_json::Value = serde_json::from_slice(&b[20..20 + jl]).unwrap();
        assert_eq!(doc["meshes"][0]["name"], "implant");
        assert_eq!(doc["accessors"][0]["count"], 4);
        // x = L, y = S, z = A (= −P), metres: vertex (0, 0, 10 mm S) → y = 0.01.
        assert_eq!(doc["accessors"][0]["max"][1].as_f64().unwrap() as f32, 0.01);
        let bl = u32::from_le_bytes(b[20 + jl..24 + jl].try_into().unwrap()) as usize;
        assert_eq!(
            doc["buffers"][0]["byteLength"].as_u64().unwrap() as usize,
            bl
        );
    }
}
