//! Bad volume files against the real binary: every verb that reads one (`info`, `convert`,
//! `mesh`, `lung plan`) ends within seconds with one line naming the file and the problem, a
//! non-zero exit and nothing written. A FIFO used to make `ctplan info` wait for ever.

mod harness;

use std::path::Path;
use std::time::Duration;

use harness::{mkfifo, s};

/// Runs ctplan with `args`, failing after 10 s; returns (exit code, stderr).
fn ctplan(args: &[&str]) -> (Option<i32>, String) {
    let (out, _) = harness::ctplan_within(args, &[], Duration::from_secs(10));
    (out.status.code(), harness::stderr(&out))
}

/// Every verb fails on `input` with exit 1, one line ending in `message`, nothing written.
fn refused_by_every_verb(input: &Path, message: &str) {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let (nrrd, stl) = (out.with_extension("nrrd"), out.with_extension("stl"));
    for args in [
        vec!["info", s(input)],
        vec!["convert", s(input), s(&nrrd)],
        vec!["mesh", s(input), "-o", s(&stl)],
        vec!["lung", "plan", s(input), "-o", s(&out)],
    ] {
        let (code, err) = ctplan(&args);
        assert_eq!(code, Some(1), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{args:?}: one line: {err}");
        assert!(
            err.trim_end().ends_with(message),
            "{args:?}: '{err}' should end with '{message}'"
        );
        assert!(err.contains(s(input)), "{args:?}: names the file: {err}");
        assert!(
            !nrrd.exists() && !stl.exists() && !out.exists(),
            "{args:?} wrote output"
        );
    }
}

#[cfg(unix)]
#[test]
fn a_fifo_is_refused_by_type_not_waited_on() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["ct.nrrd", "ct"] {
        let fifo = dir.path().join(name);
        mkfifo(&fifo);
        refused_by_every_verb(&fifo, "not a regular file (a FIFO); refusing to read it");
    }
}

#[test]
fn bad_geometry_and_empty_folders_get_their_own_message() {
    let dir = tempfile::tempdir().unwrap();
    let head = "NRRD0004\ntype: uchar\ndimension: 3\nsizes: 2 1 1\nencoding: raw\n";
    let cases = [
        (
            "singular.nrrd",
            "space: lps\nspace directions: (1,0,0) (2,0,0) (0,0,1)\n",
            "NRRD 'space directions' is singular: the axes (1, 0, 0), (2, 0, 0), (0, 0, 1) are parallel or nearly so (a flat grid)",
        ),
        (
            "origin.nrrd",
            "space: lps\nspace directions: (1,0,0) (0,1,0) (0,0,1)\nspace origin: (inf,0,0)\n",
            "NRRD 'space origin' is not finite: (inf, 0, 0)",
        ),
        (
            "spacing.nrrd",
            "spacings: nan 1 1\n",
            "NRRD 'spacings' value 'nan' of axis 1 is not a voxel size (finite and non-zero)",
        ),
    ];
    for (name, fields, message) in cases {
        let p = dir.path().join(name);
        std::fs::write(&p, format!("{head}{fields}\n\x01\x00")).unwrap();
        refused_by_every_verb(&p, message);
    }
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let (code, err) = ctplan(&["info", s(&empty)]);
    assert_eq!(code, Some(1));
    assert!(
        err.trim_end()
            .ends_with("the folder is empty (no volume or DICOM files)"),
        "{err}"
    );
}
