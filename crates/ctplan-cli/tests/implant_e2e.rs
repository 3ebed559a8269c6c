//! End-to-end tests of `ctplan implant` on real data: every SkullFix test and out-of-distribution
//! input and the SkullBreak input get a plausible implant; held-out training cases keep their
//! measured accuracy; the shipped shape prior is what the documented command builds.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use ctplan_core::Mask;
use ctplan_core::edt::distance_to;

fn ctplan(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ctplan"))
        .args(args)
        .output()
        .unwrap()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn ok(o: &Output) {
    assert!(
        o.status.success(),
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
}

/// The cases the shipped prior holds out (crates/ctplan-cranio/assets/skull_prior.md).
const HELD_OUT: &str = "000,005,010,015,020,025,030,035,040,045,050,055,060,065";

/// A plausible implant for `defective`: same grid, non-empty, 2–150 mL, disjoint from the
/// skull, touching its rim, and every voxel within 45 mm of the skull (an implant sits in the
/// hole, not floating in the head or beside it).
fn assert_plausible(name: &str, defective: &Path, implant: &Path) -> f64 {
    let d = ctplan_io::read_mask(defective).unwrap();
    let i = ctplan_io::read_mask(implant).unwrap();
    assert_eq!(i.dims, d.dims, "{name}: grid");
    assert!(i.geometry.approx_eq(&d.geometry, 1e-9), "{name}: geometry");
    let ml = i.count_nonzero() as f64 * i.voxel_volume_mm3() / 1000.0;
    assert!((2.0..150.0).contains(&ml), "{name}: implant {ml:.1} mL");
    assert!(
        i.data.iter().zip(&d.data).all(|(a, b)| a & b == 0),
        "{name}: overlaps the skull"
    );
    let dist = distance_to(&d);
    let (mut touching, mut far) = (0usize, 0.0f32);
    let step = d.geometry.spacing.iter().copied().fold(0.0, f64::max) as f32 * 1.01;
    for (k, &v) in i.data.iter().enumerate() {
        if v != 0 {
            let x = dist.data[k];
            far = far.max(x);
            touching += (x <= step) as usize;
        }
    }
    assert!(
        touching > 100,
        "{name}: touches the skull at {touching} voxels"
    );
    assert!(far <= 45.0, "{name}: a voxel {far:.1} mm from the skull");
    ml
}

fn inputs(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| ctplan_io::is_volume_file(p))
        .collect();
    v.sort();
    v
}

#[test]
fn every_test_and_out_of_distribution_input_gets_a_plausible_implant() {
    let Some(data) = ctplan_testdata::data_dir() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    for (set, count) in [
        ("test_set_for_participants", 20),
        ("additional_test_set_for_participants", 10),
    ] {
        let input = data.join("skullfix").join(set);
        let out = tmp.path().join(set);
        ok(&ctplan(&["implant", s(&input), "-o", s(&out)]));
        let files = inputs(&input);
        assert_eq!(files.len(), count, "{set}");
        for f in files {
            let name = f.file_name().unwrap().to_string_lossy().into_owned();
            assert_plausible(&format!("{set}/{name}"), &f, &out.join(&name));
        }
    }
}

#[test]
fn skullbreak_input_gets_a_plausible_watertight_implant() {
    let Some(input) = ctplan_testdata::data_file("skullbreak/defective_parietotemporal_001.nii.gz")
    else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let (out, mesh) = (tmp.path().join("implant.nii.gz"), tmp.path().join("i.stl"));
    let completed = tmp.path().join("completed.nii.gz");
    let o = ctplan(&[
        "implant",
        s(&input),
        "-o",
        s(&out),
        "--mesh",
        s(&mesh),
        "--completed",
        s(&completed),
        "--json",
    ]);
    ok(&o);
    let (d, i, c) = (
        ctplan_io::read_mask(&input).unwrap(),
        ctplan_io::read_mask(&out).unwrap(),
        ctplan_io::read_mask(&completed).unwrap(),
    );
    assert!(
        (d.data.iter().zip(&i.data).zip(&c.data)).all(|((d, i), c)| *c == (d | i)),
        "completed skull = defective ∪ implant"
    );
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let ml = assert_plausible("skullbreak", &input, &out);
    assert!(v["mesh"]["printable"].as_bool().unwrap());
    let mesh_ml = v["mesh"]["volume_ml"].as_f64().unwrap();
    assert!(
        (mesh_ml - ml).abs() <= 0.02 * ml,
        "mesh {mesh_ml:.2} mL vs voxels {ml:.2} mL"
    );
    for stage in ["read", "design", "write", "mesh", "total"] {
        assert!(v["seconds"][stage].as_f64().unwrap() >= 0.0, "{stage}");
    }
    let t = v["mean_thickness_mm"].as_f64().unwrap();
    assert!((3.0..15.0).contains(&t), "thickness {t}");
}

/// `ctplan implant` on the folder `defective` into `pred`, then `ctplan eval` against `truth`:
/// each case's (name, DSC, bDSC), in the order eval reports them, and what the design printed
/// on standard error (its warnings).
fn design_and_score(
    defective: &Path,
    truth: &Path,
    pred: &Path,
) -> (Vec<(String, f64, f64)>, String) {
    let design = ctplan(&["implant", s(defective), "-o", s(pred)]);
    ok(&design);
    let warnings = String::from_utf8_lossy(&design.stderr).into_owned();
    let o = ctplan(&[
        "eval",
        "--json",
        "--pred",
        s(pred),
        "--truth",
        s(truth),
        "--defective",
        s(defective),
    ]);
    ok(&o);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let scores = v["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["case"].as_str().unwrap().to_string(),
                r["dsc"].as_f64().unwrap(),
                r["bdsc"].as_f64().unwrap(),
            )
        })
        .collect();
    (scores, warnings)
}

#[test]
fn held_out_cases_keep_their_accuracy() {
    let Some(data) = ctplan_testdata::data_dir() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let train = data.join("skullfix/training_set");
    // Three of the held-out cases; the floors sit 0.01 below the DSC/bDSC measured with the
    // shipped prior and network (005: 0.9253/0.9476, 035: 0.9587/0.9645, 060: 0.9519/0.9626;
    // `bench/implant_accuracy.py`, the per-case table of BENCHMARKS.md).
    let cases = [
        ("005", 0.915, 0.937),
        ("035", 0.948, 0.954),
        ("060", 0.941, 0.952),
    ];
    for role in ["defective_skull", "implant"] {
        std::fs::create_dir_all(tmp.path().join(role)).unwrap();
        for (c, _, _) in cases {
            std::os::unix::fs::symlink(
                train.join(role).join(format!("{c}.nrrd")),
                tmp.path().join(role).join(format!("{c}.nrrd")),
            )
            .unwrap();
        }
    }
    let (scores, warnings) = design_and_score(
        &tmp.path().join("defective_skull"),
        &tmp.path().join("implant"),
        &tmp.path().join("pred"),
    );
    assert_eq!(scores.len(), cases.len());
    // Vault defects like the ones the design was measured on raise no concern.
    assert!(!warnings.contains("warning"), "{warnings}");
    for ((c, dsc, bdsc), (name, d, b)) in cases.iter().zip(&scores) {
        assert_eq!(name, c);
        assert!(d >= dsc && b >= bdsc, "{c}: DSC {d:.4} bDSC {b:.4}");
    }
}

/// Inject a defect of `style` (seed 0) into training case `case`'s complete skull, under
/// `tmp`: the folder with `defective_skull/` and `implant/`.
fn inject(data: &Path, case: &str, style: &str, tmp: &Path) -> PathBuf {
    let complete = tmp.join("complete");
    std::fs::create_dir_all(&complete).unwrap();
    std::os::unix::fs::symlink(
        data.join(format!("skullfix/training_set/complete_skull/{case}.nrrd")),
        complete.join(format!("{case}.nrrd")),
    )
    .unwrap();
    let inj = tmp.join("inj");
    ok(&ctplan(&[
        "skull",
        "inject",
        s(&complete),
        "-o",
        s(&inj),
        "--style",
        style,
        "--seed",
        "0",
    ]));
    inj
}

/// [`inject`], then design its implant with the real binary and score it: its DSC, and the
/// design's standard error.
fn inject_and_design(data: &Path, case: &str, style: &str) -> (f64, String) {
    let tmp = tempfile::tempdir().unwrap();
    let inj = inject(data, case, style, tmp.path());
    let (scores, warnings) = design_and_score(
        &inj.join("defective_skull"),
        &inj.join("implant"),
        &tmp.path().join("pred"),
    );
    assert_eq!(scores.len(), 1);
    assert_eq!(scores[0].0, format!("{case}_{style}_s0_0"));
    (scores[0].1, warnings)
}

#[test]
fn a_low_temporal_defect_is_rebuilt_up_to_its_upper_rim() {
    // A parietotemporal defect injected into held-out case 015 reaches below the vault; rays
    // through the part of it nearest the vertex meet no bone, but the template radii spread
    // too much on the side of the head to call them missing unless each template is first
    // offset onto this skull. Measured DSC 0.932 with the 3-D network (the design warns of
    // the open border below, so it reshapes the implant), 0.917 without it, 0.913 without
    // either network (0.901 before the skull's own mirror image was offset onto the ring where
    // it holds bone only, 0.710 when that part was left out, 0.851 before the fit of a region
    // open on one side was loosened; `bench/implant_accuracy.py`, injected parietotemporal
    // rows); the floor sits 0.01 below the first.
    let Some(data) = ctplan_testdata::data_dir() else {
        return;
    };
    let (d, warnings) = inject_and_design(&data, "015", "parietotemporal");
    assert!(d >= 0.922, "DSC {d:.4}");
    // The defect reaches the map's edge: 13 % of its border holds no bone (measured; 13–14 %
    // as the fitted trend moves a ring bin or two into the rebuilt region, against the 10 % at
    // which the design warns), and the design says that its lower edge is extrapolated.
    let open = warnings
        .lines()
        .find(|l| l.contains("015_parietotemporal_s0_0") && l.contains("% of its border"))
        .and_then(|l| {
            l.split(" % of its border")
                .next()?
                .rsplit(' ')
                .next()?
                .parse::<u32>()
                .ok()
        });
    assert!(open.is_some_and(|p| (11..=17).contains(&p)), "{warnings}");
}

#[test]
fn a_defect_running_below_the_maps_edge_is_rebuilt_there_too() {
    // A parietotemporal defect injected into held-out case 035 runs on below the vault's disk
    // (polar 105°, where the map and the shape model end): 11 % of its implant lies there.
    // The skull's own mirror image rebuilds that part, in one piece with the rest. Measured
    // DSC 0.882 with the 3-D network, 0.877 without it (0.852, HD95 10.2 mm, with the implant
    // stopped at the map's edge; `bench/implant_accuracy.py`, injected parietotemporal rows);
    // the floor sits 0.01 below the first.
    let Some(data) = ctplan_testdata::data_dir() else {
        return;
    };
    let (d, _) = inject_and_design(&data, "035", "parietotemporal");
    assert!(d >= 0.872, "DSC {d:.4}");
}

/// One injected case (`{case}_{style}_s0_0` in `inj`) designed by `ctplan implant --json`
/// with `extra` and scored by `ctplan eval`: the design's report, its DSC and its standard
/// error.
fn design_one(inj: &Path, name: &str, extra: &[&str]) -> (serde_json::Value, f64, String) {
    let input = inj.join(format!("defective_skull/{name}.nrrd"));
    let out = inj.join("one.nrrd");
    // Each call replaces the previous call's design: `--force`, as for any existing file.
    let mut args = vec!["implant", s(&input), "-o", s(&out), "--json", "--force"];
    args.extend_from_slice(extra);
    let o = ctplan(&args);
    ok(&o);
    let m = ctplan(&[
        "eval",
        "--json",
        "--pred",
        s(&out),
        "--truth",
        s(&inj.join(format!("implant/{name}.nrrd"))),
        "--defective",
        s(&input),
    ]);
    ok(&m);
    let v: serde_json::Value = serde_json::from_slice(&m.stdout).unwrap();
    (
        serde_json::from_slice(&o.stdout).unwrap(),
        v["cases"][0]["dsc"].as_f64().unwrap(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn the_3d_network_reshapes_a_fronto_orbital_implant() {
    // A fronto-orbital defect injected into held-out case 005 runs down to the brow, which no
    // combination of the prior's skulls follows: the design warns (its shape model misses the
    // bone around it by 2.3 mm RMS), and the 3-D network, trained without this skull, reshapes
    // the implant. Measured DSC 0.901 with it, 0.830 without (`--no-voxel-net`;
    // `bench/implant_accuracy.py`, injected fronto-orbital rows); the floors sit 0.01 from them.
    let Some(data) = ctplan_testdata::data_dir() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let inj = inject(&data, "005", "frontoorbital", tmp.path());
    let (with, with_warnings) = design_and_score(
        &inj.join("defective_skull"),
        &inj.join("implant"),
        &tmp.path().join("with"),
    );
    assert!(
        with_warnings.contains("warning: 005_frontoorbital_s0_0"),
        "{with_warnings}"
    );
    assert!(with[0].1 >= 0.891, "DSC {:.4}", with[0].1);
    let (one, _, _) = design_one(&inj, "005_frontoorbital_s0_0", &[]);
    assert_eq!(one["voxel_net"], true, "{one}");
    let (without, without_dsc, _) = design_one(&inj, "005_frontoorbital_s0_0", &["--no-voxel-net"]);
    assert_eq!(without["voxel_net"], false, "{without}");
    assert!(without["seconds"]["voxel_net"].as_f64().unwrap() < 0.01);
    assert!(
        without_dsc <= 0.840,
        "without the 3-D network {without_dsc:.4}"
    );
}

#[test]
fn the_3d_network_reshapes_a_forehead_implant_without_a_concern() {
    // A fronto-orbital defect injected into held-out case 040 lies on the forehead (its
    // implant about 15° above anterior, seen from the skull's centre), but the shape model
    // follows the bone around it to 0.52 mm RMS with its border closed, so the design raises
    // no concern; on the forehead the 3-D network reshapes it anyway. Measured DSC 0.909 with
    // it, 0.879 without (`--no-voxel-net`; `bench/implant_accuracy.py`, injected
    // fronto-orbital rows); the floor and the ceiling sit 0.01 from them.
    let Some(data) = ctplan_testdata::data_dir() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let inj = inject(&data, "040", "frontoorbital", tmp.path());
    let mut shipped = None;
    for (extra, voxel_net) in [(&[][..], true), (&["--no-voxel-net"][..], false)] {
        let (report, dsc, warnings) = design_one(&inj, "040_frontoorbital_s0_0", extra);
        assert!(!warnings.contains("warning:"), "{warnings}");
        assert_eq!(report["voxel_net"], voxel_net, "{report}");
        if voxel_net {
            assert!(dsc >= 0.899, "DSC {dsc:.4}");
            shipped = Some(std::fs::read(inj.join("one.nrrd")).unwrap());
        } else {
            assert!(dsc <= 0.889, "without the 3-D network {dsc:.4}");
        }
    }
    // The shipped weights named by file (`--voxel-net`, for weights trained anew) give the
    // same implant, byte for byte.
    let weights = ctplan_testdata::workspace_root()
        .join("crates/ctplan-cranio/assets/implant_net.safetensors");
    let (report, _, _) = design_one(
        &inj,
        "040_frontoorbital_s0_0",
        &["--voxel-net", s(&weights)],
    );
    assert_eq!(report["voxel_net"], true, "{report}");
    assert!(std::fs::read(inj.join("one.nrrd")).unwrap() == shipped.unwrap());
}

#[test]
fn other_3d_network_weights_that_cannot_be_used_are_refused_by_name() {
    // Checked before any input is read: a missing file, and a file that is no network of this
    // kind (the map network's weights), each named in the error; nothing is written.
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out.nrrd");
    let map_net =
        ctplan_testdata::workspace_root().join("crates/ctplan-cranio/assets/skull_net.safetensors");
    let missing = tmp.path().join("missing.safetensors");
    let implant = |extra: &[&str]| {
        let mut args = vec!["implant", "in.nrrd", "-o", s(&out), "--voxel-net"];
        args.extend_from_slice(extra);
        ctplan(&args)
    };
    for weights in [&missing, &map_net] {
        let o = implant(&[s(weights)]);
        assert!(!o.status.success());
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(s(weights)), "{err}");
        assert!(!err.contains("panicked"), "{err}");
        assert!(!out.exists());
    }
    // And it cannot be asked for together with no 3-D network.
    assert!(!implant(&["w", "--no-voxel-net"]).status.success());
}

#[test]
fn shipped_prior_is_what_the_documented_command_builds() {
    let Some(data) = ctplan_testdata::data_dir() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("prior.ctprior");
    let complete = data.join("skullfix/training_set/complete_skull");
    let o = ctplan(&[
        "skull",
        "prior",
        s(&complete),
        "--hold-out",
        HELD_OUT,
        "-o",
        s(&out),
    ]);
    ok(&o);
    assert!(String::from_utf8_lossy(&o.stdout).contains("052: left out, identical"));
    let shipped =
        ctplan_testdata::workspace_root().join("crates/ctplan-cranio/assets/skull_prior.ctprior");
    assert!(
        std::fs::read(&out).unwrap() == std::fs::read(&shipped).unwrap(),
        "rebuilding the prior must give the shipped bytes"
    );
}

#[test]
fn an_intact_skull_and_a_non_skull_are_refused() {
    let Some(complete) =
        ctplan_testdata::data_file("skullfix/training_set/complete_skull/021.nrrd")
    else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let o = ctplan(&["implant", s(&complete), "-o", s(&tmp.path().join("a.nrrd"))]);
    assert!(!o.status.success());
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(e.contains("021.nrrd") && e.contains("no defect"), "{e}");
    assert!(!tmp.path().join("a.nrrd").exists());
    // Intact skulls whose map shows gaps by the orbits or the skull base that pass for a
    // defect: the implant they would take (0.01–0.93 mL) is too small to be one.
    for case in ["004", "018", "054", "066"] {
        let f = ctplan_testdata::data_file(&format!(
            "skullfix/training_set/complete_skull/{case}.nrrd"
        ))
        .unwrap();
        let out = tmp.path().join(format!("{case}.nrrd"));
        let o = ctplan(&["implant", s(&f), "-o", s(&out)]);
        assert!(!o.status.success(), "{case}");
        let e = String::from_utf8_lossy(&o.stderr);
        assert!(
            e.contains("no defect") && e.contains("mL of implant"),
            "{e}"
        );
        assert!(!out.exists());
    }
    // A solid block is not a skull.
    let c = ctplan_io::read_mask(&complete).unwrap();
    let mut block: Mask = c.map(|_| 0u8);
    let [nx, ny, nz] = block.dims;
    for k in nz / 4..3 * nz / 4 {
        for j in ny / 4..3 * ny / 4 {
            for i in nx / 4..3 * nx / 4 {
                block.data[i + nx * (j + ny * k)] = 1;
            }
        }
    }
    let p = tmp.path().join("block.nrrd");
    ctplan_io::write_mask(&p, &block).unwrap();
    let o = ctplan(&["implant", s(&p), "-o", s(&tmp.path().join("b.nrrd"))]);
    assert!(!o.status.success());
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(e.contains("block.nrrd") && !e.contains("panicked"), "{e}");
    assert!(!tmp.path().join("b.nrrd").exists());
}

#[test]
fn the_shipped_network_corrects_the_fill_unless_told_not_to() {
    // Held-out case 035: by default each defect's fill is corrected by the shipped network and
    // `--json` says so; `--no-net` keeps the shape prior's fill, a different implant. Its
    // design raises no concern, so the 3-D network leaves it alone.
    let Some(input) = ctplan_testdata::data_file("skullfix/training_set/defective_skull/035.nrrd")
    else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let run = |name: &str, extra: &[&str]| -> (serde_json::Value, Vec<u8>) {
        let out = tmp.path().join(name);
        let mut args = vec!["implant", s(&input), "-o", s(&out), "--json"];
        args.extend_from_slice(extra);
        let o = ctplan(&args);
        ok(&o);
        let v = serde_json::from_slice(&o.stdout).unwrap();
        (v, std::fs::read(&out).unwrap())
    };
    let learned = |v: &serde_json::Value| -> Vec<bool> {
        (v["defects"].as_array().unwrap().iter())
            .map(|d| d["learned"].as_bool().unwrap())
            .collect()
    };
    let (with, a) = run("with.nrrd", &[]);
    let (without, b) = run("without.nrrd", &["--no-net"]);
    assert!(
        !learned(&with).is_empty() && learned(&with).iter().all(|&l| l),
        "{with}"
    );
    assert!(learned(&without).iter().all(|&l| !l), "{without}");
    assert_eq!(with["voxel_net"], false, "{with}");
    assert_ne!(a, b);
    let refused = ctplan(&[
        "implant",
        s(&input),
        "-o",
        "x.nrrd",
        "--net",
        "n",
        "--no-net",
    ]);
    assert!(!refused.status.success());
}
