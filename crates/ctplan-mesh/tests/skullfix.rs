//! Meshes of real SkullFix masks: printable (closed, manifold, outward), enclosed volume within
//! 2 % of the voxel volume, every vertex within one voxel of the mask's surface — smoothed with
//! the default 10 Taubin iterations, and again after decimation to a quarter of the faces.

use ctplan_core::Mask;
use ctplan_mesh::check::check;
use ctplan_mesh::{TriMesh, decimate::decimate, extract::mask_surface, smooth::taubin};

/// Every vertex lies within one voxel of the boundary: the voxel nearest to it has both
/// foreground and background (or outside) in its 3×3×3 neighbourhood.
fn near_surface(mesh: &TriMesh, m: &Mask) -> usize {
    let [nx, ny, nz] = m.dims.map(|d| d as i64);
    let val = |i: i64, j: i64, k: i64| {
        i >= 0
            && j >= 0
            && k >= 0
            && i < nx
            && j < ny
            && k < nz
            && m.get(i as usize, j as usize, k as usize) != 0
    };
    mesh.vertices
        .iter()
        .filter(|&&p| {
            let q = m
                .geometry
                .world_to_index(p)
                .unwrap()
                .map(|x| x.round() as i64);
            let (mut fg, mut bg) = (false, false);
            for dk in -1..=1 {
                for dj in -1..=1 {
                    for di in -1..=1 {
                        if val(q[0] + di, q[1] + dj, q[2] + dk) {
                            fg = true
                        } else {
                            bg = true
                        }
                    }
                }
            }
            !(fg && bg)
        })
        .count()
}

fn check_case(rel: &str) {
    let Some(f) = ctplan_testdata::data_file(rel) else {
        return;
    };
    let m = ctplan_io::read_mask(&f).unwrap();
    let voxel_mm3 = m.count_nonzero() as f64 * m.voxel_volume_mm3();
    let mut mesh = mask_surface(&m);
    taubin(&mut mesh, 10);
    for (what, mesh) in [
        ("smoothed", mesh.clone()),
        (
            "decimated to 25 %",
            decimate(
                &mesh,
                0.25,
                0.25 * m
                    .geometry
                    .spacing
                    .iter()
                    .copied()
                    .fold(f64::INFINITY, f64::min),
            ),
        ),
    ] {
        let r = check(&mesh);
        assert!(r.printable(), "{rel} {what}: {r:?}");
        let err = (r.volume_mm3 - voxel_mm3).abs() / voxel_mm3;
        assert!(
            err < 0.02,
            "{rel} {what}: volume {} vs voxels {voxel_mm3} mm³",
            r.volume_mm3
        );
        let far = near_surface(&mesh, &m);
        assert_eq!(
            far, 0,
            "{rel} {what}: {far} vertices more than a voxel from the surface"
        );
        eprintln!(
            "{rel} {what}: {} faces, {} components, volume error {:.4} %",
            r.faces,
            r.components,
            100.0 * err
        );
    }
}

#[test]
fn implant_meshes_are_printable_and_faithful() {
    check_case("skullfix/training_set/implant/000.nrrd");
    check_case("skullfix/training_set/implant/021.nrrd");
}

#[test]
fn complete_skull_mesh_is_printable_and_faithful() {
    check_case("skullfix/training_set/complete_skull/000.nrrd");
}
