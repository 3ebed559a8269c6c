//! Output safety and argument bounds, end to end: no command deletes or overwrites what it did
//! not write unless given `--force`, outputs are checked before the work, and numeric options
//! out of range are refused when the command line is parsed.

mod harness;

use std::path::{Path, PathBuf};
#[cfg(debug_assertions)]
use std::process::Command;

use harness::{assert_clean_failure as refused, ctplan, s, stderr};

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// A copy of a real Med-MPD patient's anatomy in `dir` (the test may lose it, never the data).
fn anatomy_copy(dir: &Path) -> Option<PathBuf> {
    let src = ctplan_testdata::data_file("lung/med-mpd/Patient2")?;
    let dst = dir.join("anatomy");
    std::fs::create_dir(&dst).unwrap();
    for e in std::fs::read_dir(src).unwrap() {
        let p = e.unwrap().path();
        std::fs::copy(&p, dst.join(p.file_name().unwrap())).unwrap();
    }
    Some(dst)
}

/// A folder `name` in `dir` holding someone's `notes.txt`.
fn foreign_folder(dir: &Path, name: &str) -> PathBuf {
    let f = dir.join(name);
    std::fs::create_dir(&f).unwrap();
    std::fs::write(f.join("notes.txt"), b"mine").unwrap();
    f
}

fn small_volume(path: &Path) {
    let g = ctplan_core::Geometry::new([1.0; 3], [0.0; 3]);
    let mut m = ctplan_core::Mask::zeros([8, 8, 8], g);
    m.data[200] = 1;
    ctplan_io::write_mask(path, &m).unwrap();
}

#[test]
fn lung_plan_never_deletes_its_input_or_foreign_folders() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(anatomy) = anatomy_copy(tmp.path()) else {
        return;
    };
    let before = names(&anatomy);
    let plan = |out: &Path, extra: &[&str]| {
        let mut args = vec!["lung", "plan", s(&anatomy), "-o", s(out), "--resect", "RS6"];
        args.extend_from_slice(extra);
        ctplan(&args)
    };
    // -o ANATOMY, -o its parent, -o a folder inside it: refused, the masks stay.
    refused(&plan(&anatomy, &[]), "the output must be a different path");
    refused(&plan(tmp.path(), &["--force"]), "holds the input");
    refused(&plan(&anatomy.join("case"), &[]), "is inside the input");
    assert_eq!(names(&anatomy), before);
    // A folder of someone else's files: refused without --force, naming it.
    let other = foreign_folder(tmp.path(), "other");
    let o = plan(&other, &[]);
    refused(&o, "was not written by ctplan (no .ctplan-output file)");
    refused(&o, "use --force to replace it");
    assert_eq!(names(&other), ["notes.txt"]);
    // With --force it is replaced; the case folder is ctplan's from then on.
    let o = plan(&other, &["--force"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!other.join("notes.txt").exists());
    assert!(other.join(".ctplan-output").is_file());
    let o = plan(&other, &[]);
    assert!(
        o.status.success(),
        "a ctplan case folder is replaced: {}",
        stderr(&o)
    );
    assert_eq!(names(tmp.path()), ["anatomy", "other"], "no staging left");
}

#[test]
fn existing_files_fifos_and_folders_are_not_written_over() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let input = d.join("in.nrrd");
    small_volume(&input);
    let out = d.join("out.nii");
    std::fs::write(&out, b"mine").unwrap();
    refused(
        &ctplan(&["convert", s(&input), s(&out)]),
        "use --force to replace it",
    );
    assert_eq!(std::fs::read(&out).unwrap(), b"mine");
    let o = ctplan(&["convert", s(&input), s(&out), "--force"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(ctplan_io::read_mask(&out).is_ok(), "replaced");
    // The voxel file of a detached header counts as an output too.
    std::fs::write(d.join("det.raw.gz"), b"mine").unwrap();
    refused(
        &ctplan(&["convert", s(&input), s(&d.join("det.nhdr"))]),
        "det.raw.gz: exists and would be replaced by the voxel data of",
    );
    assert!(!d.join("det.nhdr").exists());
    // The input itself, a folder, a FIFO.
    refused(
        &ctplan(&["convert", s(&input), s(&input), "--force"]),
        "the output must be a different path",
    );
    let folder = d.join("folder.nrrd");
    std::fs::create_dir(&folder).unwrap();
    refused(
        &ctplan(&["convert", s(&input), s(&folder), "--force"]),
        "folder.nrrd: is a folder; the output here is a file",
    );
    let fifo = d.join("fifo.nrrd");
    harness::mkfifo(&fifo);
    refused(
        &ctplan(&["mesh", s(&input), "-o", s(&fifo), "--force"]),
        "unknown mesh format",
    );
    refused(
        &ctplan(&["convert", s(&input), s(&fifo), "--force"]),
        "fifo.nrrd: is not a regular file (a FIFO, socket or device); refusing to write to it",
    );
    let mut left = names(d);
    left.retain(|n| n.starts_with('.'));
    assert!(left.is_empty(), "no staging left: {left:?}");
}

#[test]
fn batch_and_demo_folders_replace_only_their_own() {
    let dir = tempfile::tempdir().unwrap();
    let other = foreign_folder(dir.path(), "other");
    let d = dir.path();
    refused(
        &ctplan(&["demo", "-o", s(&other)]),
        "use --force to replace it",
    );
    let inputs = d.join("in");
    std::fs::create_dir(&inputs).unwrap();
    small_volume(&inputs.join("a.nrrd"));
    for args in [
        vec![
            "skull",
            "inject",
            s(&inputs),
            "-o",
            s(&other),
            "--style",
            "cube",
        ],
        vec!["implant", s(&inputs), "-o", s(&other)],
    ] {
        refused(&ctplan(&args), "was not written by ctplan");
    }
    refused(
        &ctplan(&["implant", s(&inputs), "-o", s(&inputs.join("out"))]),
        "is inside the input",
    );
    assert_eq!(names(&other), ["notes.txt"]);
    assert_eq!(names(&inputs), ["a.nrrd"]);
}

#[test]
fn numeric_options_out_of_range_are_refused_at_parse_time() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let input = d.join("in.nrrd");
    small_volume(&input);
    let out = d.join("out");
    let cases: &[(&[&str], &str)] = &[
        (
            &["--threads", "100000", "info", s(&input)],
            "invalid value '100000' for '--threads <THREADS>': 100000 is not in 1..=1024",
        ),
        (
            &["mesh", s(&input), "-o", "x.stl", "--smooth", "4000000000"],
            "invalid value '4000000000' for '--smooth <SMOOTH>': 4000000000 is not in 0..=1000",
        ),
        (
            &[
                "skull",
                "inject",
                s(&input),
                "-o",
                s(&out),
                "--style",
                "cube",
                "--count",
                "100000",
            ],
            "invalid value '100000' for '--count <COUNT>': 100000 is not in 1..=100",
        ),
        (
            &["lung", "plan", s(&input), "-o", s(&out), "--fev1", "nan"],
            "invalid value 'nan' for '--fev1 <FEV1>': nan is not a number in 0.1..=10",
        ),
        (
            &["lung", "plan", s(&input), "-o", s(&out), "--fev1=-1"],
            "invalid value '-1' for '--fev1 <FEV1>': -1 is not a number in 0.1..=10",
        ),
        (
            &[
                "lung",
                "plan",
                s(&input),
                "-o",
                s(&out),
                "--margin-k",
                "NaN",
            ],
            "invalid value 'NaN' for '--margin-k <MARGIN_K>': NaN is not a number in 0..=10",
        ),
        (
            &[
                "lung",
                "plan",
                s(&input),
                "-o",
                s(&out),
                "--resect",
                "nan,1,2",
            ],
            "error: --resect \"nan,1,2\": a point needs three finite coordinates within ±100000 mm",
        ),
        (
            &[
                "skull",
                "segment",
                s(&input),
                "-o",
                s(&out),
                "--threshold",
                "inf",
            ],
            "invalid value 'inf' for '--threshold <THRESHOLD>'",
        ),
        (
            &["mesh", s(&input), "-o", "x.stl", "--decimate", "0"],
            "invalid value '0' for '--decimate <DECIMATE>': 0 is not a number in (0, 1]",
        ),
    ];
    for (args, needle) in cases {
        let t = std::time::Instant::now();
        refused(&ctplan(args), needle);
        assert!(t.elapsed().as_secs_f64() < 2.0, "{args:?} took long");
    }
    assert_eq!(names(d), ["in.nrrd"]);
}

/// A panic (raised on demand by debug builds only, here in a worker thread of `skull inject`)
/// is one line naming the input and asking for a report, with exit code 70, not Rust's message
/// and 101; and the output folder is not left behind.
#[cfg(debug_assertions)]
#[test]
fn a_panic_is_one_line_naming_the_input_and_exit_code_70() {
    let dir = tempfile::tempdir().unwrap();
    let inputs = dir.path().join("in");
    std::fs::create_dir(&inputs).unwrap();
    let skull = inputs.join("a.nrrd");
    small_volume(&skull);
    let out = dir.path().join("out");
    let o = Command::new(env!("CARGO_BIN_EXE_ctplan"))
        .args(["skull", "inject", "--style", "cube"])
        .arg(&inputs)
        .arg("-o")
        .arg(&out)
        .env("CTPLAN_DEBUG_PANIC", "1")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(70), "{}", stderr(&o));
    let e = stderr(&o);
    assert_eq!(
        e,
        format!(
            "error: {}: internal error (CTPLAN_DEBUG_PANIC is set, at crates/ctplan-cli/src/panic.rs:{}); \
             this is a defect in ctplan, please report it with the command line and, if you can, the file\n",
            skull.display(),
            e.split("panic.rs:")
                .nth(1)
                .and_then(|r| r.split(')').next())
                .unwrap_or("?")
        )
    );
    assert_eq!(names(dir.path()), ["in"], "no output left");
}
