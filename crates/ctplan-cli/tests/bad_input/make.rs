//! Builders of small inputs, good and bad, written byte by byte where the point is a broken
//! header.

use std::path::Path;

use ctplan_core::{AnyVolume, Geometry, Mask, Volume};

pub fn write(dir: &Path, name: &str, bytes: &[u8]) {
    let p = dir.join(name);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, bytes).unwrap();
}

pub fn geometry() -> Geometry {
    Geometry::new([1.0, 1.0, 2.0], [-4.0, -4.0, 10.0])
}

/// A small valid mask: a 6×6×6 cube in a 12³ grid.
pub fn mask() -> Mask {
    let mut m = Mask::zeros([12, 12, 12], geometry());
    for z in 3..9 {
        for y in 3..9 {
            for x in 3..9 {
                let i = m.index(x, y, z);
                m.data[i] = 1;
            }
        }
    }
    m
}

pub fn write_mask(dir: &Path, name: &str) {
    let p = dir.join(name);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    ctplan_io::write_mask(&p, &mask()).unwrap();
}

/// A small valid CT in HU (int16).
pub fn write_ct(dir: &Path, name: &str) {
    let dims = [12, 12, 12];
    let data = (0..12 * 12 * 12)
        .map(|i| if i % 7 == 0 { 400 } else { -1000 })
        .collect();
    let v = AnyVolume::I16(Volume::from_vec(dims, geometry(), data).unwrap());
    ctplan_io::write(&dir.join(name), &v, &ctplan_io::WriteOptions::default()).unwrap();
}

pub fn fifo(dir: &Path, name: &str) {
    crate::harness::mkfifo(&dir.join(name));
}

/// A NRRD header with raw data of `data_len` zero bytes after it.
pub fn nrrd(dir: &Path, name: &str, fields: &str, data_len: usize) {
    let mut b = format!("NRRD0004\n{fields}\n\n").into_bytes();
    b.extend(std::iter::repeat_n(0u8, data_len));
    write(dir, name, &b);
}

pub const NRRD_OK: &str = "type: uint8\ndimension: 3\nsizes: 4 4 4\nencoding: raw";

/// A NIfTI-1 single-file header (348 bytes + 4 bytes extension flag) for a 4×4×4 uint8 image,
/// changed by `edit` before it is written.
pub fn nifti(dir: &Path, name: &str, edit: fn(&mut Vec<u8>)) {
    let mut h = vec![0u8; 352];
    h[0..4].copy_from_slice(&348i32.to_le_bytes());
    let dim: [i16; 8] = [3, 4, 4, 4, 1, 1, 1, 1];
    for (i, d) in dim.iter().enumerate() {
        h[40 + 2 * i..42 + 2 * i].copy_from_slice(&d.to_le_bytes());
    }
    h[70..72].copy_from_slice(&2i16.to_le_bytes()); // datatype uint8
    h[72..74].copy_from_slice(&8i16.to_le_bytes()); // bitpix
    let pixdim: [f32; 8] = [1.0, 1.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0];
    for (i, d) in pixdim.iter().enumerate() {
        h[76 + 4 * i..80 + 4 * i].copy_from_slice(&d.to_le_bytes());
    }
    h[108..112].copy_from_slice(&352f32.to_le_bytes()); // vox_offset
    h[344..348].copy_from_slice(b"n+1\0");
    h.extend(std::iter::repeat_n(0u8, 64));
    edit(&mut h);
    write(dir, name, &h);
}

pub fn set_f32(h: &mut [u8], at: usize, v: f32) {
    h[at..at + 4].copy_from_slice(&v.to_le_bytes());
}

pub fn set_i16(h: &mut [u8], at: usize, v: i16) {
    h[at..at + 2].copy_from_slice(&v.to_le_bytes());
}

/// sform with the given rows (x, y, z), sform_code 1.
pub fn sform(h: &mut [u8], rows: [[f32; 4]; 3]) {
    set_i16(h, 254, 1);
    for (r, row) in rows.iter().enumerate() {
        for (c, v) in row.iter().enumerate() {
            set_f32(h, 280 + 16 * r + 4 * c, *v);
        }
    }
}

pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

pub fn empty_lung_anatomy(dir: &Path) {
    std::fs::create_dir_all(dir.join("anatomy")).unwrap();
    let empty = Mask::zeros([8, 8, 8], geometry());
    ctplan_io::write_mask(&dir.join("anatomy/airway.nii.gz"), &empty).unwrap();
}

pub fn lung_anatomy(dir: &Path) {
    write_mask(dir, "anatomy/airway.nii.gz");
    write_mask(dir, "anatomy/lungs.nii.gz");
}

pub fn nothing(_: &Path) {}

/// A DICOM data element in explicit VR little endian; `len` overrides the stored length
/// (to forge one).
pub struct Element {
    pub tag: (u16, u16),
    pub vr: &'static [u8; 2],
    pub value: Vec<u8>,
    pub len: Option<u32>,
}

/// An element with its value padded to even length (UI with NUL, text with a space).
pub fn el(tag: (u16, u16), vr: &'static [u8; 2], value: &[u8]) -> Element {
    let mut value = value.to_vec();
    if value.len() % 2 == 1 {
        value.push(if vr == b"UI" || vr == b"OB" { 0 } else { b' ' });
    }
    Element {
        tag,
        vr,
        value,
        len: None,
    }
}

fn us(tag: (u16, u16), v: u16) -> Element {
    el(tag, b"US", &v.to_le_bytes())
}

fn encode(elements: &[Element]) -> Vec<u8> {
    let mut out = Vec::new();
    for e in elements {
        out.extend(e.tag.0.to_le_bytes());
        out.extend(e.tag.1.to_le_bytes());
        out.extend(e.vr);
        let len = e.len.unwrap_or(e.value.len() as u32);
        if matches!(e.vr, b"OB" | b"OW" | b"SQ" | b"UN" | b"UT") {
            out.extend([0, 0]);
            out.extend(len.to_le_bytes());
        } else {
            out.extend((len as u16).to_le_bytes());
        }
        out.extend(&e.value);
    }
    out
}

pub const EXPLICIT_LE: &str = "1.2.840.10008.1.2.1";
pub const RLE: &str = "1.2.840.10008.1.2.5";
pub const JPEG_BASELINE: &str = "1.2.840.10008.1.2.4.50";
pub const JPEG_2000: &str = "1.2.840.10008.1.2.4.90";

/// The elements of a 4×4 CT slice of 16-bit signed pixels (without pixel data), in tag order.
pub fn ct_slice_elements() -> Vec<Element> {
    vec![
        el((0x0008, 0x0016), b"UI", b"1.2.840.10008.5.1.4.1.1.2"),
        el((0x0008, 0x0018), b"UI", b"1.2.826.0.1.3680043.10.999.1.1"),
        el((0x0008, 0x0060), b"CS", b"CT"),
        el((0x0020, 0x000D), b"UI", b"1.2.826.0.1.3680043.10.999.2"),
        el((0x0020, 0x000E), b"UI", b"1.2.826.0.1.3680043.10.999.3"),
        el((0x0020, 0x0011), b"IS", b"1"),
        el((0x0020, 0x0013), b"IS", b"1"),
        el((0x0020, 0x0032), b"DS", b"0\\0\\0"),
        el((0x0020, 0x0037), b"DS", b"1\\0\\0\\0\\1\\0"),
        us((0x0028, 0x0002), 1),
        el((0x0028, 0x0004), b"CS", b"MONOCHROME2"),
        us((0x0028, 0x0010), 4),
        us((0x0028, 0x0011), 4),
        el((0x0028, 0x0030), b"DS", b"1\\1"),
        us((0x0028, 0x0100), 16),
        us((0x0028, 0x0101), 16),
        us((0x0028, 0x0102), 15),
        us((0x0028, 0x0103), 1),
        el((0x0028, 0x1052), b"DS", b"0"),
        el((0x0028, 0x1053), b"DS", b"1"),
    ]
}

/// Replaces (or inserts, in tag order) an element.
pub fn set(elements: &mut Vec<Element>, e: Element) {
    elements.retain(|x| x.tag != e.tag);
    let at = elements
        .iter()
        .position(|x| x.tag > e.tag)
        .unwrap_or(elements.len());
    elements.insert(at, e);
}

/// A DICOM Part 10 file: preamble, `DICM`, the file meta group with `syntax`, then `elements`
/// (always written in explicit VR little endian, as this helper only makes such syntaxes or
/// encapsulated ones, which share that encoding).
pub fn dicom_file(syntax: &str, elements: &[Element]) -> Vec<u8> {
    let meta_body = encode(&[
        el((0x0002, 0x0001), b"OB", &[0, 1]),
        el((0x0002, 0x0002), b"UI", b"1.2.840.10008.5.1.4.1.1.2"),
        el((0x0002, 0x0003), b"UI", b"1.2.826.0.1.3680043.10.999.1.1"),
        el((0x0002, 0x0010), b"UI", syntax.as_bytes()),
        el((0x0002, 0x0012), b"UI", b"1.2.826.0.1.3680043.10.999"),
    ]);
    let mut out = vec![0u8; 128];
    out.extend(b"DICM");
    out.extend(encode(&[el(
        (0x0002, 0x0000),
        b"UL",
        &(meta_body.len() as u32).to_le_bytes(),
    )]));
    out.extend(meta_body);
    out.extend(encode(elements));
    out
}

/// Native (uncompressed) pixel data of a 4×4 16-bit slice.
pub fn native_pixels() -> Element {
    let px: Vec<u8> = (0..16i16)
        .flat_map(|v| (v * 10 - 1000).to_le_bytes())
        .collect();
    el((0x7FE0, 0x0010), b"OW", &px)
}

/// Encapsulated pixel data: an empty offset table, then one fragment per frame.
pub fn encapsulated(fragments: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    let item = |out: &mut Vec<u8>, body: &[u8]| {
        out.extend(0xFFFEu16.to_le_bytes());
        out.extend(0xE000u16.to_le_bytes());
        out.extend((body.len() as u32).to_le_bytes());
        out.extend(body);
    };
    item(&mut out, &[]);
    for f in fragments {
        let mut f = f.clone();
        if f.len() % 2 == 1 {
            f.push(0);
        }
        item(&mut out, &f);
    }
    out.extend(0xFFFEu16.to_le_bytes());
    out.extend(0xE0DDu16.to_le_bytes());
    out.extend(0u32.to_le_bytes());
    out
}

/// Pixel data element with undefined length holding `fragments`.
pub fn encapsulated_pixels(fragments: &[Vec<u8>]) -> Element {
    Element {
        tag: (0x7FE0, 0x0010),
        vr: b"OB",
        value: encapsulated(fragments),
        len: Some(u32::MAX),
    }
}

/// An RLE Lossless frame (DICOM PS3.5 G) of the 4×4 16-bit slice: two segments (high bytes,
/// low bytes), each one PackBits literal run of 16 bytes.
pub fn rle_frame() -> Vec<u8> {
    let px: Vec<i16> = (0..16i16).map(|v| v * 10 - 1000).collect();
    let hi: Vec<u8> = px.iter().map(|v| (*v as u16 >> 8) as u8).collect();
    let lo: Vec<u8> = px.iter().map(|v| *v as u8).collect();
    let mut header = vec![0u8; 64];
    header[0..4].copy_from_slice(&2u32.to_le_bytes());
    header[4..8].copy_from_slice(&64u32.to_le_bytes());
    header[8..12].copy_from_slice(&(64u32 + 17).to_le_bytes());
    let mut out = header;
    out.push(15);
    out.extend(hi);
    out.push(15);
    out.extend(lo);
    out
}

/// A valid 4×4 CT slice in explicit VR little endian.
pub fn dicom_slice() -> Vec<u8> {
    let mut e = ct_slice_elements();
    e.push(native_pixels());
    dicom_file(EXPLICIT_LE, &e)
}

/// The slice with its elements changed by `edit`, and pixel data `pixels`, in `syntax`.
pub fn dicom_with(syntax: &str, edit: fn(&mut Vec<Element>), pixels: Element) -> Vec<u8> {
    let mut e = ct_slice_elements();
    edit(&mut e);
    e.push(pixels);
    dicom_file(syntax, &e)
}

/// A 39 KB DICOM whose private OB element claims 0xFFFFFFF0 bytes.
pub fn huge_element() -> Vec<u8> {
    let mut e = ct_slice_elements();
    let mut big = el((0x0009, 0x1001), b"OB", &vec![0u8; 39_000]);
    big.len = Some(0xFFFF_FFF0);
    set(&mut e, big);
    e.push(native_pixels());
    dicom_file(EXPLICIT_LE, &e)
}

/// A zip archive (stored, no compression) holding one file, written by hand (PKWARE APPNOTE
/// 4.3: a local header, the data, a central directory entry, the end record).
pub fn zip_one(name: &str, data: &[u8]) -> Vec<u8> {
    let crc = ctplan_io::png::crc32(data);
    let n = name.len() as u16;
    let size = data.len() as u32;
    let mut out = Vec::new();
    out.extend(0x0403_4b50u32.to_le_bytes());
    out.extend([20, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    out.extend(crc.to_le_bytes());
    out.extend(size.to_le_bytes());
    out.extend(size.to_le_bytes());
    out.extend(n.to_le_bytes());
    out.extend(0u16.to_le_bytes());
    out.extend(name.as_bytes());
    out.extend(data);
    let cd_start = out.len() as u32;
    out.extend(0x0201_4b50u32.to_le_bytes());
    out.extend([20, 0, 20, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    out.extend(crc.to_le_bytes());
    out.extend(size.to_le_bytes());
    out.extend(size.to_le_bytes());
    out.extend(n.to_le_bytes());
    out.extend([0u8; 12]);
    out.extend(0u32.to_le_bytes());
    out.extend(name.as_bytes());
    let cd_len = out.len() as u32 - cd_start;
    out.extend(0x0605_4b50u32.to_le_bytes());
    out.extend([0, 0, 0, 0, 1, 0, 1, 0]);
    out.extend(cd_len.to_le_bytes());
    out.extend(cd_start.to_le_bytes());
    out.extend(0u16.to_le_bytes());
    out
}

/// A small CT in HU of a body in air that is no chest: a head (a skull ring around brain) or a
/// neck (a trachea in soft tissue, no lungs), with slices `slice_mm` apart.
pub fn write_no_chest(dir: &Path, name: &str, head: bool, slice_mm: f64) {
    let dims = [64, 64, 24];
    let g = Geometry::new([3.0, 3.0, slice_mm], [-96.0, -96.0, 0.0]);
    let mut v = Volume::<i16>::zeros(dims, g);
    for (i, x) in v.data.iter_mut().enumerate() {
        let (a, b) = (
            (i % 64) as f64 * 3.0 - 96.0,
            ((i / 64) % 64) as f64 * 3.0 - 96.0,
        );
        let r = (a * a / 70.0f64.powi(2) + b * b / 85.0f64.powi(2)).sqrt();
        *x = if r > 1.0 {
            -1000
        } else if head && r > 0.9 {
            1200
        } else if !head && (a * a + b * b).sqrt() < 9.0 {
            -1000
        } else {
            40
        };
    }
    let p = dir.join(name);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    ctplan_io::write(&p, &AnyVolume::I16(v), &ctplan_io::WriteOptions::default()).unwrap();
}

/// A small chest CT in HU that the lung model goes through: the procedural chest rendered at
/// 3 mm without noise.
pub fn write_chest(dir: &Path, name: &str) {
    use ctplan_lung::phantom::{Options, render, synthetic};
    let opts = Options {
        voxel_mm: [3.0; 3],
        noise_sd_hu: 0.0,
        seed: 1,
    };
    let p = render(&synthetic::chest(3.0), &opts).unwrap();
    let path = dir.join(name);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    ctplan_io::write(
        &path,
        &AnyVolume::I16(p.ct),
        &ctplan_io::WriteOptions::default(),
    )
    .unwrap();
}
