//! Damaged and hostile DICOM input, run through the real binary: every verb that reads DICOM
//! answers with one line naming the file and the problem, a non-zero exit, no panic, quickly.
//! The inputs are made from the fuzz seeds in `fuzz/corpus/dicom_series` (16 × 16 CT slices).

mod harness;

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

fn seed(name: &str) -> Vec<u8> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus/dicom_series")
        .join(name);
    std::fs::read(p).unwrap()
}

/// Runs ctplan, failing after 5 s (a hang fails the test instead of blocking it).
fn ctplan(args: &[&str]) -> (Output, Duration) {
    harness::ctplan_within(
        args,
        &[("CTPLAN_DEID_KEY", "e2e key")],
        Duration::from_secs(5),
    )
}

/// `verb` on `file` fails with exactly one line on stderr that contains `want`.
fn fails_with(verb: &[&str], file: &Path, want: &str) {
    let out_dir = tempfile::tempdir().unwrap();
    let mut args: Vec<String> = verb.iter().map(|s| s.to_string()).collect();
    args.push(file.to_str().unwrap().to_string());
    if verb[0] == "dicom" && verb[1] != "scan" {
        let ext = if verb[1] == "convert" {
            "x.nrrd"
        } else {
            "x.dcm"
        };
        args.push("-o".into());
        args.push(out_dir.path().join(ext).to_str().unwrap().to_string());
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (out, _) = ctplan(&args);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
    assert_eq!(err.lines().count(), 1, "{args:?}: one line: {err}");
    assert!(err.contains(want), "{args:?}: want {want:?} in {err}");
    assert!(!err.contains("panicked") && !err.contains(" { "), "{err}");
    assert!(
        std::fs::read_dir(out_dir.path()).unwrap().next().is_none(),
        "{args:?} left output behind"
    );
}

const VERBS: [&[&str]; 4] = [
    &["info"],
    &["dicom", "scan"],
    &["dicom", "convert"],
    &["dicom", "anonymize"],
];

/// The offset of the first pixel data fragment (after the empty offset table) of an RLE seed.
fn first_fragment(f: &[u8]) -> usize {
    let px = f
        .windows(4)
        .position(|w| w == [0xE0, 0x7F, 0x10, 0x00])
        .unwrap();
    let bot = px + 12;
    let bot_len = u32::from_le_bytes(f[bot + 4..bot + 8].try_into().unwrap()) as usize;
    bot + 8 + bot_len + 8
}

#[test]
fn damaged_rle_is_an_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let good = seed("seed-rle.dcm");
    let at = first_fragment(&good);
    let frag_len = u32::from_le_bytes(good[at - 4..at].try_into().unwrap());
    type Damage = Box<dyn Fn(&mut Vec<u8>)>;
    let cases: [(&str, Damage, &str); 3] = [
        (
            "count.dcm",
            Box::new(move |f| f[at..at + 4].copy_from_slice(&0x4000_0000u32.to_le_bytes())),
            "corrupt RLE pixel data in frame 0: the RLE header declares 1073741824 segments; 1 sample(s) of 16 bits need 2",
        ),
        (
            "empty-segment.dcm",
            Box::new(move |f| f[at + 8..at + 12].copy_from_slice(&frag_len.to_le_bytes())),
            "corrupt RLE pixel data in frame 0: RLE segment 1 spans bytes",
        ),
        (
            "offset.dcm",
            Box::new(move |f| f[at + 4..at + 8].copy_from_slice(&0xFFFF_FFF0u32.to_le_bytes())),
            "corrupt RLE pixel data in frame 0: the first RLE segment starts at byte 4294967280, not 64",
        ),
    ];
    for (name, damage, want) in cases {
        let mut f = good.clone();
        damage(&mut f);
        let p = dir.path().join(name);
        std::fs::write(&p, f).unwrap();
        fails_with(&["info"], &p, want);
        fails_with(&["dicom", "convert"], &p, want);
    }
}

#[test]
fn a_forged_element_length_fails_fast() {
    let dir = tempfile::tempdir().unwrap();
    let mut f = seed("seed-implicit-le.dcm");
    // PatientName, implicit VR: tag, then a 4-byte length claiming ~4 GB.
    let at = 132
        + f[132..]
            .windows(4)
            .position(|w| w == [0x10, 0, 0x10, 0])
            .unwrap();
    f[at + 4..at + 8].copy_from_slice(&0xFFFF_FFF0u32.to_le_bytes());
    let p = dir.path().join("huge.dcm");
    std::fs::write(&p, f).unwrap();
    for verb in VERBS {
        fails_with(
            verb,
            &p,
            "claims 4294967280 bytes, but only 792 remain (the file is truncated or damaged)",
        );
    }
}

#[test]
fn fifos_are_refused_by_file_type() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("pipe.dcm");
    harness::mkfifo(&fifo);
    for verb in VERBS {
        fails_with(
            verb,
            &fifo,
            "not a regular file (a FIFO); refusing to read it",
        );
    }
    // In a folder it is skipped with its reason; the series beside it is found.
    std::fs::write(dir.path().join("a.dcm"), seed("seed-explicit-le.dcm")).unwrap();
    let (out, _) = ctplan(&["dicom", "scan", dir.path().to_str().unwrap()]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("pipe.dcm: not a regular file (a FIFO); refusing to read it"),
        "{text}"
    );
}

#[test]
fn empty_files_and_corrupt_zips_say_what_they_are() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty.dcm");
    std::fs::write(&empty, b"").unwrap();
    for verb in VERBS {
        fails_with(verb, &empty, "empty.dcm: not a DICOM file (empty, 0 bytes)");
    }
    let zip = dir.path().join("study.zip");
    std::fs::write(&zip, b"PK\x03\x04 this archive is cut short").unwrap();
    for verb in VERBS {
        fails_with(verb, &zip, "study.zip: corrupt zip archive: ");
    }
}
