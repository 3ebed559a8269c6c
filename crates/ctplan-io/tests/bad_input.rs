//! Bad input: every case is a one-line error that names the file, never a panic.

use std::io::Write;
use std::path::Path;

use ctplan_core::{AnyVolume, Geometry, Volume};

fn sample(dir: &Path) -> std::path::PathBuf {
    let mut v: Volume<i32> = Volume::zeros([32, 32, 16], Geometry::default());
    for (i, x) in v.data.iter_mut().enumerate() {
        *x = ((i * 2654435761) >> 7) as i32 & 1;
    }
    let p = dir.join("ok.nrrd");
    ctplan_io::write(&p, &AnyVolume::I32(v), &Default::default()).unwrap();
    p
}

fn expect_err(path: &Path, needle: &str) {
    let e = ctplan_io::read(path).expect_err("should fail");
    let msg = e.to_string();
    assert!(
        msg.starts_with(&path.display().to_string()),
        "error must name the file: {msg}"
    );
    assert!(msg.contains(needle), "'{msg}' should mention '{needle}'");
    assert!(!msg.contains('\n'), "one line: {msg}");
    // The mask reader refuses the same way.
    assert!(ctplan_io::read_mask(path).is_err());
}

fn header_and_data(p: &Path) -> (String, Vec<u8>) {
    let bytes = std::fs::read(p).unwrap();
    let end = bytes.windows(2).position(|w| w == b"\n\n").unwrap() + 2;
    (
        String::from_utf8(bytes[..end].to_vec()).unwrap(),
        bytes[end..].to_vec(),
    )
}

#[test]
fn truncated_gzip() {
    let dir = tempfile::tempdir().unwrap();
    let p = sample(dir.path());
    let bytes = std::fs::read(&p).unwrap();
    let cut = dir.path().join("cut.nrrd");
    std::fs::write(&cut, &bytes[..bytes.len() * 2 / 3]).unwrap();
    expect_err(&cut, "truncated");
}

#[test]
fn wrong_sizes() {
    let dir = tempfile::tempdir().unwrap();
    let p = sample(dir.path());
    let (h, data) = header_and_data(&p);
    // Claiming more voxels than the stream holds.
    let bad = dir.path().join("sizes.nrrd");
    let mut f = std::fs::File::create(&bad).unwrap();
    f.write_all(h.replace("sizes: 32 32 16", "sizes: 32 32 17").as_bytes())
        .unwrap();
    f.write_all(&data).unwrap();
    drop(f);
    expect_err(&bad, "truncated");
    let bad2 = dir.path().join("sizes2.nrrd");
    std::fs::write(&bad2, h.replace("sizes: 32 32 16", "sizes: 32 x 16")).unwrap();
    expect_err(&bad2, "sizes");
}

#[test]
fn unknown_type() {
    let dir = tempfile::tempdir().unwrap();
    let p = sample(dir.path());
    let (h, data) = header_and_data(&p);
    let bad = dir.path().join("type.nrrd");
    let mut bytes = h.replace("type: int", "type: quaternion").into_bytes();
    bytes.extend_from_slice(&data);
    std::fs::write(&bad, bytes).unwrap();
    expect_err(&bad, "unsupported NRRD type 'quaternion'");
}

#[test]
fn huge_header_claim_is_refused_before_allocating() {
    let dir = tempfile::tempdir().unwrap();
    for (name, enc) in [("huge.nrrd", "gzip"), ("huge-raw.nrrd", "raw")] {
        let bad = dir.path().join(name);
        std::fs::write(
            &bad,
            format!("NRRD0004\ntype: int\ndimension: 3\nsizes: 1000000 1000000 1000000\nendian: little\nencoding: {enc}\n\nxxxx"),
        )
        .unwrap();
        expect_err(&bad, "refusing to allocate");
    }
    // Large but under the absolute limit: refused by the file's own capacity.
    let bad = dir.path().join("big.nrrd");
    std::fs::write(&bad, "NRRD0004\ntype: int\ndimension: 3\nsizes: 1000 1000 1000\nendian: little\nencoding: gzip\n\nxxxx").unwrap();
    expect_err(&bad, "more than 4 compressed bytes can hold");
    let bad = dir.path().join("big.mha");
    std::fs::write(&bad, "NDims = 3\nDimSize = 100000 100000 100000\nElementType = MET_SHORT\nElementDataFile = LOCAL\nxx").unwrap();
    expect_err(&bad, "refusing to allocate");
}

#[test]
fn missing_file_and_wrong_format() {
    let dir = tempfile::tempdir().unwrap();
    expect_err(&dir.path().join("nope.nrrd"), "no such file");
    let txt = dir.path().join("notes.nrrd");
    std::fs::write(&txt, "hello world\n").unwrap();
    expect_err(&txt, "not a NRRD file");
    let nii = dir.path().join("short.nii.gz");
    std::fs::write(&nii, [0x1f, 0x8b, 0x08]).unwrap();
    expect_err(&nii, "not a NIfTI-1 file");
    let unknown = dir.path().join("image.png");
    std::fs::write(&unknown, "x").unwrap();
    expect_err(&unknown, "unknown volume format");
    let empty = dir.path().join("empty.mha");
    std::fs::write(&empty, "").unwrap();
    expect_err(&empty, "ElementDataFile");
}

#[test]
fn failed_write_leaves_no_partial_file() {
    let dir = tempfile::tempdir().unwrap();
    let v = AnyVolume::U8(Volume::zeros([4, 4, 4], Geometry::default()));
    let target = dir.path().join("missing-folder/out.nrrd");
    let e = ctplan_io::write(&target, &v, &Default::default()).unwrap_err();
    assert!(e.to_string().contains("out.nrrd"));
    assert!(!target.exists());
}
