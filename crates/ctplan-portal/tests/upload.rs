//! Uploads: DICOM de-identified before anything is stored (the planted identifiers are
//! nowhere under the data folder afterwards, database included), volume files decoded from
//! memory, and every refusal (traversal, zip bomb, too large, too many files, wrong type,
//! damaged file) a clear 4xx in JSON with nothing left on disk.

mod common;

use std::io::Write;

use axum::http::StatusCode;
use common::App;
use ctplan_portal::{Config, Limits, Role};
use dicom_core::value::{DataSetSequence, PrimitiveValue};
use dicom_core::{DataElement, Tag, VR};
use dicom_dictionary_std::tags;
use dicom_object::{FileMetaTableBuilder, InMemDicomObject};

const PATIENT: &str = "Doe^Johnathan^Planted";
const PATIENT_ID: &str = "MRN-PLANTED-4711";
const PRIVATE: &str = "PRIVATE-VENDOR-PHI-9876";
const NESTED: &str = "Nested^Person^Planted";
const INSTITUTION: &str = "Saint Planted Hospital";
const PLANTED: &[&str] = &[PATIENT, PATIENT_ID, PRIVATE, NESTED, INSTITUTION];

/// One slice of a CT series (8 × 6 pixels at z mm) carrying the planted identifiers: in the
/// patient module, a private tag and a person name inside a kept sequence.
fn slice(z: usize) -> Vec<u8> {
    let ct = "1.2.840.10008.5.1.4.1.1.2";
    let sop = format!("1.2.826.0.1.3680043.99.{}", z + 1);
    let el = |tag, vr, v: PrimitiveValue| DataElement::new(tag, vr, v);
    let pixels: Vec<u16> = (0..48).map(|i| (i * 10 + z * 100) as u16).collect();
    let nested =
        InMemDicomObject::from_element_iter([el(tags::PERSON_NAME, VR::PN, NESTED.into())]);
    let obj = InMemDicomObject::from_element_iter([
        el(tags::SOP_CLASS_UID, VR::UI, ct.into()),
        el(tags::SOP_INSTANCE_UID, VR::UI, sop.as_str().into()),
        el(
            tags::STUDY_INSTANCE_UID,
            VR::UI,
            "1.2.826.0.1.3680043.99".into(),
        ),
        el(
            tags::SERIES_INSTANCE_UID,
            VR::UI,
            "1.2.826.0.1.3680043.99.0".into(),
        ),
        el(tags::MODALITY, VR::CS, "CT".into()),
        el(tags::PATIENT_NAME, VR::PN, PATIENT.into()),
        el(tags::PATIENT_ID, VR::LO, PATIENT_ID.into()),
        el(tags::INSTITUTION_NAME, VR::LO, INSTITUTION.into()),
        el(Tag(0x0011, 0x0010), VR::LO, "ACME 1.0".into()),
        el(Tag(0x0011, 0x1001), VR::LO, PRIVATE.into()),
        DataElement::new(
            tags::REFERENCED_SERIES_SEQUENCE,
            VR::SQ,
            DataSetSequence::from(vec![nested]),
        ),
        el(tags::INSTANCE_NUMBER, VR::IS, format!("{}", z + 1).into()),
        el(
            tags::IMAGE_POSITION_PATIENT,
            VR::DS,
            format!("-4\\-3\\{}", 2 * z).into(),
        ),
        el(
            tags::IMAGE_ORIENTATION_PATIENT,
            VR::DS,
            "1\\0\\0\\0\\1\\0".into(),
        ),
        el(tags::PIXEL_SPACING, VR::DS, "0.5\\0.75".into()),
        el(tags::SLICE_THICKNESS, VR::DS, "2".into()),
        el(tags::SAMPLES_PER_PIXEL, VR::US, PrimitiveValue::from(1u16)),
        el(
            tags::PHOTOMETRIC_INTERPRETATION,
            VR::CS,
            "MONOCHROME2".into(),
        ),
        el(tags::ROWS, VR::US, PrimitiveValue::from(6u16)),
        el(tags::COLUMNS, VR::US, PrimitiveValue::from(8u16)),
        el(tags::BITS_ALLOCATED, VR::US, PrimitiveValue::from(16u16)),
        el(tags::BITS_STORED, VR::US, PrimitiveValue::from(16u16)),
        el(tags::HIGH_BIT, VR::US, PrimitiveValue::from(15u16)),
        el(
            tags::PIXEL_REPRESENTATION,
            VR::US,
            PrimitiveValue::from(0u16),
        ),
        el(tags::RESCALE_INTERCEPT, VR::DS, "-1024".into()),
        el(tags::RESCALE_SLOPE, VR::DS, "1".into()),
        el(tags::PIXEL_DATA, VR::OW, PrimitiveValue::U16(pixels.into())),
    ]);
    let meta = FileMetaTableBuilder::new()
        .transfer_syntax("1.2.840.10008.1.2.1")
        .media_storage_sop_class_uid(ct)
        .media_storage_sop_instance_uid(sop.as_str());
    let mut out = Vec::new();
    obj.with_meta(meta).unwrap().write_all(&mut out).unwrap();
    out
}

/// A zip of `entries` (name, bytes), deflated.
fn zip_of(entries: &[(&str, Vec<u8>)]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for (name, bytes) in entries {
        w.start_file(*name, opts).unwrap();
        w.write_all(bytes).unwrap();
    }
    w.finish().unwrap().into_inner()
}

fn contains(hay: &[u8], needle: &str) -> bool {
    hay.windows(needle.len()).any(|w| w == needle.as_bytes())
}

struct Setup {
    app: App,
    surgeon: common::Client,
    team: String,
}

async fn setup(config: Config) -> Setup {
    let app = App::with(config);
    app.user("s", Role::Surgeon, Some("t"));
    let surgeon = app.login("s").await;
    let team = app.team_id("t");
    Setup { app, surgeon, team }
}

#[tokio::test]
async fn dicom_with_planted_identifiers_leaves_none_on_disk() {
    let s = setup(Config::default()).await;
    let slices: Vec<(String, Vec<u8>)> = (0..4)
        .map(|z| (format!("DOE_JOHN/IM{z:04}"), slice(z)))
        .collect();
    // The planted strings are really in what is sent.
    for p in PLANTED {
        assert!(contains(&slices[0].1, p), "{p}");
    }
    let mut entries: Vec<(&str, Vec<u8>)> = slices
        .iter()
        .map(|(n, b)| (n.as_str(), b.clone()))
        .collect();
    entries.push(("README.txt", b"not dicom".to_vec()));
    let r = s
        .app
        .upload(&s.surgeon, &s.team, "study.zip", zip_of(&entries))
        .await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    assert_eq!(r.json()["volume"], "8×6×4 voxels of 0.75×0.50×2.00 mm");
    // Nor does the answer carry the names the files came with (the reader's notes included).
    assert!(
        !contains(&r.body, "DOE_JOHN"),
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    // The stored volume holds the pixels in HU.
    let case = r.json()["case"]["id"].as_str().unwrap().to_string();
    let ct = s
        .app
        .call(
            "GET",
            &format!("/api/cases/{case}/files/ct.nrrd"),
            Some(&s.surgeon),
            false,
            None,
        )
        .await;
    let img = ctplan_io::read_bytes("ct.nrrd", ct.body).unwrap();
    let ctplan_core::AnyVolume::I16(v) = img.volume else {
        panic!("not i16")
    };
    assert_eq!(v.dims, [8, 6, 4]);
    assert_eq!(v.data[0], -1024);
    assert_eq!(v.data[8 * 6 + 1], 100 + 10 - 1024);
    assert!(img.key_values.is_empty());
    // Nothing planted anywhere under the data folder: case files, database, its log.
    let files = common::files_below(&s.app.data());
    assert!(files.iter().any(|f| f.ends_with("ct.nrrd")));
    assert!(files.iter().any(|f| f.ends_with("portal.db")));
    for f in &files {
        let bytes = std::fs::read(f).unwrap();
        for p in PLANTED
            .iter()
            .chain(&["DOE_JOHN", "1.2.826.0.1.3680043.99"])
        {
            assert!(!contains(&bytes, p), "{p} in {}", f.display());
        }
    }
}

/// A refused upload: its status, a JSON error containing `says` and not the file's name, and
/// nothing stored. The message, for more checks.
async fn refused(
    s: &Setup,
    filename: &str,
    bytes: Vec<u8>,
    status: StatusCode,
    says: &str,
) -> String {
    let r = s.app.upload(&s.surgeon, &s.team, filename, bytes).await;
    assert_eq!(
        r.status,
        status,
        "{filename}: {}",
        String::from_utf8_lossy(&r.body)
    );
    let msg = r.json()["error"].as_str().unwrap().to_string();
    assert!(msg.contains(says), "{filename}: {msg}");
    assert!(!msg.contains(filename), "{filename}: {msg}");
    assert_eq!(
        common::stored_files(&s.app.data()),
        Vec::<std::path::PathBuf>::new()
    );
    assert_eq!(common::case_count(&s.app), 0);
    msg
}

#[tokio::test]
async fn traversal_bombs_sizes_and_wrong_types_are_refused_leaving_nothing() {
    let s = setup(Config::default()).await;
    let dcm = slice(0);
    for name in ["../../etc/cron.d/x", "/abs/IM1", "a/../../IM1", "C:\\IM1"] {
        let zip = zip_of(&[("ok/IM0", dcm.clone()), (name, dcm.clone())]);
        let msg = refused(
            &s,
            "study.zip",
            zip,
            StatusCode::BAD_REQUEST,
            "zip entry 2: a path leading outside the archive",
        )
        .await;
        assert!(!msg.contains(name), "{msg}");
    }
    // A symbolic link is refused too, though nothing is extracted.
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default();
    w.start_file("IM0", opts).unwrap();
    w.write_all(&dcm).unwrap();
    w.add_symlink("IM1", "/etc/passwd", opts).unwrap();
    let link = w.finish().unwrap().into_inner();
    refused(
        &s,
        "study.zip",
        link,
        StatusCode::BAD_REQUEST,
        "zip entry 2: a symbolic link",
    )
    .await;
    // A damaged DICOM object inside a folder named like the patient: refused in words that
    // name the entry by its number, not by the folder's name.
    let mut cut = dcm.clone();
    cut.truncate(300);
    let msg = refused(
        &s,
        "study.zip",
        zip_of(&[("DOE_JOHN/IM0", cut)]),
        StatusCode::UNPROCESSABLE_ENTITY,
        "00000001.dcm",
    )
    .await;
    assert!(!msg.contains("DOE_JOHN"), "{msg}");
    // 16 MiB of zeros deflate to about 16 KiB: a thousand to one.
    let bomb = zip_of(&[("IM0", vec![0u8; 16 << 20])]);
    assert!(bomb.len() < 100_000);
    refused(
        &s,
        "study.zip",
        bomb,
        StatusCode::PAYLOAD_TOO_LARGE,
        "zip bomb",
    )
    .await;
    refused(
        &s,
        "notes.txt",
        b"hello".to_vec(),
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "upload a zip",
    )
    .await;
    refused(
        &s,
        "ct.nhdr",
        b"NRRD0004\n".to_vec(),
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "upload a zip",
    )
    .await;
    // The reader's words name the upload by its format, not by the name it was sent with.
    refused(
        &s,
        "DOE_JOHN.nrrd",
        b"NRRD0004\ntype: short\n".to_vec(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "upload.nrrd: ",
    )
    .await;
    let mut truncated = common::nrrd_bytes([8, 8, 8]);
    truncated.truncate(truncated.len() - 10);
    refused(
        &s,
        "DOE_JOHN.nrrd",
        truncated,
        StatusCode::UNPROCESSABLE_ENTITY,
        "upload.nrrd: ",
    )
    .await;
    refused(
        &s,
        "x.zip",
        b"PK\x03\x04garbage".to_vec(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "zip",
    )
    .await;
    let no_dicom = zip_of(&[("a.txt", b"text".to_vec())]);
    refused(
        &s,
        "x.zip",
        no_dicom,
        StatusCode::UNPROCESSABLE_ENTITY,
        "no DICOM",
    )
    .await;
    refused(&s, "ct.nrrd", Vec::new(), StatusCode::BAD_REQUEST, "empty").await;
}

#[tokio::test]
async fn hard_limits_on_body_entries_and_entry_size() {
    let limits = Limits {
        body_bytes: 64 << 10,
        zip_entries: 3,
        entry_bytes: 4 << 10,
        unzipped_bytes: 1 << 20,
        ratio: 200,
        concurrent: 1,
    };
    let s = setup(Config {
        limits,
        ..Default::default()
    })
    .await;
    refused(
        &s,
        "ct.nrrd",
        vec![7u8; 65 << 10],
        StatusCode::PAYLOAD_TOO_LARGE,
        "larger than",
    )
    .await;
    // A declared length over the limit is refused on the header alone.
    let req = axum::http::Request::builder()
        .method("POST")
        .uri(format!(
            "/api/cases?team={}&name=x&filename=ct.nrrd",
            s.team
        ))
        .header(axum::http::header::COOKIE, &s.surgeon.cookie)
        .header("x-csrf-token", &s.surgeon.csrf)
        .header(axum::http::header::CONTENT_LENGTH, "1000000000000")
        .body(axum::body::Body::from(common::nrrd_bytes([2, 2, 2])))
        .unwrap();
    let r = s.app.send(req).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(common::case_count(&s.app), 0);
    let many: Vec<(String, Vec<u8>)> = (0..4).map(|i| (format!("IM{i}"), slice(i))).collect();
    let many: Vec<(&str, Vec<u8>)> = many.iter().map(|(n, b)| (n.as_str(), b.clone())).collect();
    refused(
        &s,
        "s.zip",
        zip_of(&many),
        StatusCode::PAYLOAD_TOO_LARGE,
        "4 entries",
    )
    .await;
    // Counted from the bytes before the archive is parsed: a directory of many entry headers
    // is refused as too many, not read first.
    let headers = [b"PK\x03\x04".to_vec(), b"PK\x01\x02".repeat(10)].concat();
    refused(
        &s,
        "s.zip",
        headers,
        StatusCode::PAYLOAD_TOO_LARGE,
        "10 entries or more",
    )
    .await;
    let big: Vec<u8> = (0..5000u32)
        .flat_map(|i| (i.wrapping_mul(2654435761)).to_le_bytes())
        .collect();
    refused(
        &s,
        "s.zip",
        zip_of(&[("IM0", big)]),
        StatusCode::PAYLOAD_TOO_LARGE,
        "per file",
    )
    .await;
    // While the one upload place is taken, another upload waits its turn (503).
    let ok = zip_of(&many[..3]);
    let slot = ctplan_portal::upload::Slot::take(&s.app.portal).unwrap();
    assert!(ctplan_portal::upload::Slot::take(&s.app.portal).is_none());
    refused(
        &s,
        "s.zip",
        ok.clone(),
        StatusCode::SERVICE_UNAVAILABLE,
        "try again",
    )
    .await;
    drop(slot);
    // Within the limits the same kind of upload goes through, and gives its place back.
    for _ in 0..2 {
        let r = s.app.upload(&s.surgeon, &s.team, "s.zip", ok.clone()).await;
        assert_eq!(
            r.status,
            StatusCode::OK,
            "{}",
            String::from_utf8_lossy(&r.body)
        );
    }
}

#[tokio::test]
async fn volume_files_are_read_from_memory() {
    let s = setup(Config::default()).await;
    let nrrd = common::nrrd_bytes([5, 4, 3]);
    let want = ctplan_io::read_bytes("a.nrrd", nrrd.clone())
        .unwrap()
        .volume;
    // The same volume as NIfTI (gzip and not) and MetaImage, each uploaded as bytes.
    let dir = tempfile::tempdir().unwrap();
    for name in ["v.nii.gz", "v.nii", "v.mha", "v.nrrd"] {
        let p = dir.path().join(name);
        ctplan_io::write(&p, &want, &ctplan_io::WriteOptions::default()).unwrap();
        let r = s
            .app
            .upload(&s.surgeon, &s.team, name, std::fs::read(&p).unwrap())
            .await;
        assert_eq!(
            r.status,
            StatusCode::OK,
            "{name}: {}",
            String::from_utf8_lossy(&r.body)
        );
        let case = r.json()["case"]["id"].as_str().unwrap().to_string();
        assert_eq!(r.json()["job"]["state"], "queued");
        let ct = s
            .app
            .call(
                "GET",
                &format!("/api/cases/{case}/files/ct.nrrd"),
                Some(&s.surgeon),
                false,
                None,
            )
            .await;
        let got = ctplan_io::read_bytes("ct.nrrd", ct.body).unwrap().volume;
        assert_eq!(got.dims(), want.dims(), "{name}");
        assert_eq!(got.to_f32().data, want.to_f32().data, "{name}");
        assert_eq!(got.geometry().spacing, want.geometry().spacing, "{name}");
    }
}
