//! The portal in a real browser: `ctplan serve` on a free loopback port, and Debian's headless
//! Chromium driven by `tests/browser/portal.mjs` (playwright-core, installed by `.ci/run` with
//! `npm ci`): log in, upload the real chest CT (`lung/chest-ct-2mm`, zipped), watch the job
//! finish, open the viewer, tap a bronchus and see the resected volume, add a second target
//! and see it grow, confirm the candidate lesion and see the margin verdict and the route;
//! upload a defective skull (SkullBreak), get the implant, review it and download its STL,
//! which is checked here to be watertight; then the lung case at a 390×844 phone viewport. The screenshots are written to
//! `CTPLAN_SHOTS` when set (docs/portal.md's pictures come from there). Fails, not skips,
//! without Node, Chromium or the data when `CTPLAN_REQUIRE_DATA=1`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

mod harness;
use harness::{create_admin, serve};

/// The tools the test needs, or why they are missing.
fn tools() -> Result<(PathBuf, PathBuf), String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser");
    if !dir.join("node_modules/playwright-core").is_dir() {
        return Err(format!(
            "{}: playwright-core is not installed (npm ci --prefix {})",
            dir.display(),
            dir.display()
        ));
    }
    let chromium = std::env::var_os("CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    if !chromium.is_file() {
        return Err(format!(
            "{}: no Chromium (apt install chromium)",
            chromium.display()
        ));
    }
    let node = Command::new("node").arg("--version").output();
    if !node.is_ok_and(|o| o.status.success()) {
        return Err("no node on PATH".into());
    }
    Ok((dir.join("portal.mjs"), chromium))
}

fn zipped(dir: &Path, out: &Path) {
    let mut names: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    names.sort();
    let mut zip = zip::ZipWriter::new(std::fs::File::create(out).unwrap());
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for p in &names {
        zip.start_file(
            format!("chest/{}", p.file_name().unwrap().to_string_lossy()),
            opts,
        )
        .unwrap();
        zip.write_all(&std::fs::read(p).unwrap()).unwrap();
    }
    zip.finish().unwrap();
}

#[test]
fn a_surgeon_uploads_a_chest_ct_and_resects_by_tapping_a_bronchus_on_desktop_and_phone() {
    let (script, chromium) = match tools() {
        Ok(t) => t,
        Err(why) if ctplan_testdata::required() => panic!("CTPLAN_REQUIRE_DATA=1 but {why}"),
        Err(why) => {
            eprintln!("skipping: {why}");
            return;
        }
    };
    let Some(ct) = ctplan_testdata::data_file("lung/chest-ct-2mm") else {
        return;
    };
    let Some(skull) = ctplan_testdata::data_file("skullbreak/defective_parietotemporal_001.nii.gz")
    else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let zip = tmp.path().join("chest.zip");
    zipped(&ct, &zip);
    let data = tmp.path().join("portal");
    let admin = create_admin(&data, "root", "a long admin password\n");
    assert!(
        admin.status.success(),
        "{}",
        String::from_utf8_lossy(&admin.stderr)
    );
    let (mut server, addr) = serve(&data, &[]);
    let shots = std::env::var_os("CTPLAN_SHOTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| tmp.path().join("shots"));
    std::fs::create_dir_all(&shots).unwrap();
    let out = Command::new("node")
        .arg(&script)
        .arg(format!("http://{addr}"))
        .args(["root", "a long admin password"])
        .arg(&zip)
        .arg(&skull)
        .arg(&shots)
        .env("CHROMIUM", &chromium)
        .output()
        .unwrap();
    let _ = server.kill();
    let _ = server.wait();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    assert!(
        out.status.success(),
        "the browser test failed:\n{stdout}\n{stderr}"
    );
    let measured = stdout
        .lines()
        .find_map(|l| l.strip_prefix("measured: "))
        .expect("the script prints its measurements");
    let m: serde_json::Value = serde_json::from_str(measured).unwrap();
    // What the browser saw, checked here too: a bronchus tapped on each screen gave a volume.
    for key in ["first_resected", "second_resected", "phone_resected"] {
        assert!(
            m[key].as_str().is_some_and(|s| s.ends_with("mL")),
            "{key}: {m}"
        );
    }
    assert!(m.get("page_errors").is_none(), "errors on the page: {m}");
    assert_eq!(m["plane_drawn"], true, "{m}");
    for shot in [
        "login",
        "cases",
        "lung-viewer",
        "lung-resection",
        "cranial",
        "phone-viewer",
        "phone-resection",
    ] {
        assert!(shots.join(format!("{shot}.png")).is_file(), "{shot}.png");
    }
    let (triangles, open_edges) = stl_edges(&std::fs::read(shots.join("implant.stl")).unwrap());
    assert!(triangles > 1000, "{triangles} triangles");
    assert_eq!(open_edges, 0, "the downloaded implant is not watertight");
}

/// A binary STL's triangle count and how many of its edges (vertices welded where their
/// coordinates are equal) are not shared by exactly two triangles in opposite directions.
fn stl_edges(b: &[u8]) -> (usize, usize) {
    use std::collections::HashMap;
    let n = u32::from_le_bytes(b[80..84].try_into().unwrap()) as usize;
    assert_eq!(b.len(), 84 + 50 * n, "a binary STL");
    let mut ids: HashMap<[u32; 3], usize> = HashMap::new();
    let mut edges: HashMap<(usize, usize), i32> = HashMap::new();
    for t in 0..n {
        let at = 84 + 50 * t + 12;
        let v: Vec<usize> = (0..3)
            .map(|k| {
                let p: [u32; 3] = std::array::from_fn(|c| {
                    let o = at + 12 * k + 4 * c;
                    u32::from_le_bytes(b[o..o + 4].try_into().unwrap())
                });
                let next = ids.len();
                *ids.entry(p).or_insert(next)
            })
            .collect();
        for k in 0..3 {
            let (a, c) = (v[k], v[(k + 1) % 3]);
            // +1 one way, -1 the other: a closed, consistently oriented surface sums to 0.
            *edges.entry((a.min(c), a.max(c))).or_default() += if a < c { 1 } else { -1 };
        }
    }
    (n, edges.values().filter(|&&s| s != 0).count())
}
