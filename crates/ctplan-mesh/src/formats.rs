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

/// Binary glTF 2.0 (`.glb`): one node, mesh and material per part, plain float and index
/// arrays that any glTF reader opens.
pub fn glb(parts: &[Part]) -> Vec<u8> {
    glb_with(parts, false)
}

/// Binary glTF 2.0 whose geometry is compressed by `EXT_meshopt_compression` (the meshoptimizer
/// vertex and index codecs, Kapoulkine 2017–; decoded in the browser by three.js's
/// `MeshoptDecoder`), for sending meshes to phones: a few times smaller than [`glb`], decoded
/// at hundreds of MB/s. The triangles are reordered for the vertex cache first (Forsyth's
/// method as meshoptimizer implements it), which both renders faster and compresses better.
/// The extension is required: readers without it refuse the file rather than show nothing.
pub fn glb_meshopt(parts: &[Part]) -> Vec<u8> {
    glb_with(parts, true)
}

fn glb_with(parts: &[Part], meshopt: bool) -> Vec<u8> {
    let mut bin: Vec<u8> = Vec::new();
    let mut fallback = 0usize;
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
        let mut idx: Vec<u32> = m.triangles.iter().flatten().copied().collect();
        if meshopt {
            idx = meshopt::optimize_vertex_cache(&idx, pos.len());
        }
        // A view: plain bytes in buffer 0; or, compressed, the codec's bytes in buffer 0 under
        // the extension and the view itself in the data-less fallback buffer 1.
        let mut add_view = |bytes: &[u8],
                            encoded: Option<Vec<u8>>,
                            stride: usize,
                            count: usize,
                            target: u32|
         -> usize {
            while !bin.len().is_multiple_of(4) {
                bin.push(0);
            }
            let off = bin.len();
            match encoded {
                None => {
                    bin.extend_from_slice(bytes);
                    views.push(json!({"buffer": 0, "byteOffset": off, "byteLength": bytes.len(), "target": target}));
                }
                Some(code) => {
                    bin.extend_from_slice(&code);
                    let mode = if target == 34963 {
                        "TRIANGLES"
                    } else {
                        "ATTRIBUTES"
                    };
                    let mut v = json!({"buffer": 1, "byteOffset": fallback, "byteLength": bytes.len(), "target": target,
                        "extensions": {"EXT_meshopt_compression": {"buffer": 0, "byteOffset": off, "byteLength": code.len(),
                            "byteStride": stride, "count": count, "mode": mode}}});
                    if target == 34962 {
                        v["byteStride"] = json!(stride);
                    }
                    views.push(v);
                    fallback += bytes.len().next_multiple_of(4);
                }
            }
            views.len() - 1
        };
        let (cp, cn, ci) = if meshopt && !idx.is_empty() {
            (
                meshopt::encode_vertex_buffer(&pos).ok(),
                meshopt::encode_vertex_buffer(&nrm).ok(),
                meshopt::encode_index_buffer(&idx, pos.len()).ok(),
            )
        } else {
            (None, None, None)
        };
        let vp = add_view(bytemuck::cast_slice(&pos), cp, 12, pos.len(), 34962);
        let vn = add_view(bytemuck::cast_slice(&nrm), cn, 12, nrm.len(), 34962);
        let vi = add_view(bytemuck::cast_slice(&idx), ci, 4, idx.len(), 34963);
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
    let mut doc = json!({
        "asset": {"version": "2.0", "generator": "ctplan", "extras": {"frame": "x = Left, y = Superior, z = Anterior (patient), metres"}},
        "scene": 0,
        "scenes": [{"nodes": (0..parts.len()).collect::<Vec<_>>()}],
        "nodes": nodes, "meshes": meshes, "materials": materials,
        "accessors": accessors, "bufferViews": views,
        "buffers": [{"byteLength": bin.len()}],
    });
    if meshopt {
        doc["extensionsUsed"] = json!(["EXT_meshopt_compression"]);
        doc["extensionsRequired"] = json!(["EXT_meshopt_compression"]);
        doc["buffers"] = json!([{"byteLength": bin.len()},
            {"byteLength": fallback, "extensions": {"EXT_meshopt_compression": {"fallback": true}}}]);
    }
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
    fn meshopt_glb_decodes_to_the_plain_one() {
        let m = crate::extract::mask_surface(&{
            let mut b = ctplan_core::Mask::zeros(
                [12, 12, 12],
                ctplan_core::Geometry::new([1.0, 1.0, 1.0], [0.0; 3]),
            );
            for k in 3..9 {
                for j in 2..10 {
                    for i in 4..8 {
                        let x = b.index(i, j, k);
                        b.data[x] = 1;
                    }
                }
            }
            b
        });
        let part = [Part {
            name: "box",
            mesh: &m,
            color: [1.0, 0.0, 0.0, 1.0],
        }];
        let (plain, packed) = (glb(&part), glb_meshopt(&part));
        assert!(
            packed.len() * 2 < plain.len(),
            "{} vs {}",
            packed.len(),
            plain.len()
        );
        let json = |b: &[u8]| -> (serde_json::Value, Vec<u8>) {
            let jl = u32::from_le_bytes(b[12..16].try_into().unwrap()) as usize;
            let doc = serde_json::from_slice(&b[20..20 + jl]).unwrap();
            (doc, b[20 + jl + 8..].to_vec())
        };
        let (pd, pbin) = json(&plain);
        let (cd, cbin) = json(&packed);
        assert_eq!(cd["extensionsRequired"][0], "EXT_meshopt_compression");
        // Positions decode to the same floats; the indices to the same triangles, reordered.
        let view = |d: &serde_json::Value, i: usize| d["bufferViews"][i].clone();
        let (pv, cv) = (view(&pd, 0), view(&cd, 0));
        let ext = &cv["extensions"]["EXT_meshopt_compression"];
        let at = |v: &serde_json::Value, k: &str| v[k].as_u64().unwrap() as usize;
        let code = &cbin[at(ext, "byteOffset")..at(ext, "byteOffset") + at(ext, "byteLength")];
        let got: Vec<[f32; 3]> = meshopt::decode_vertex_buffer(code, at(ext, "count")).unwrap();
        let want: &[[f32; 3]] = bytemuck::cast_slice(
            &pbin[at(&pv, "byteOffset")..at(&pv, "byteOffset") + at(&pv, "byteLength")],
        );
        assert_eq!(got, want);
        let (pv, cv) = (view(&pd, 2), view(&cd, 2));
        let ext = &cv["extensions"]["EXT_meshopt_compression"];
        let code = &cbin[at(ext, "byteOffset")..at(ext, "byteOffset") + at(ext, "byteLength")];
        let got: Vec<u32> = meshopt::decode_index_buffer(code, at(ext, "count")).unwrap();
        let want: &[u32] = bytemuck::cast_slice(
            &pbin[at(&pv, "byteOffset")..at(&pv, "byteOffset") + at(&pv, "byteLength")],
        );
        let tris = |v: &[u32]| {
            let mut t: Vec<[u32; 3]> = v
                .chunks(3)
                .map(|c| {
                    // The same triangle whichever vertex it starts from.
                    let r = (0..3).min_by_key(|&r| c[r]).unwrap();
                    [c[r], c[(r + 1) % 3], c[(r + 2) % 3]]
                })
                .collect();
            t.sort();
            t
        };
        assert_eq!(tris(&got), tris(want));
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
