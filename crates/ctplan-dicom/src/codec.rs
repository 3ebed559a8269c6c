//! Compressed pixel data (RLE, JPEG, JPEG 2000) is checked before a decoder sees it, and the
//! decoder is contained while it runs.
//!
//! The decoders are third-party code that trusts its input: a damaged RLE header makes the RLE
//! decoder index out of range or allocate what a forged segment count says, and a JPEG or
//! JPEG 2000 frame header may claim an image far larger than the DICOM header does. So the
//! parts of each frame that decide what a decoder allocates and indexes are validated here
//! against the DICOM header and the bytes present (the RLE segment table and the decoded
//! length of every segment; the JPEG SOF and the JPEG 2000 SIZ dimensions; the frame size
//! against the compressed size), and a panic that still happens inside a decoder becomes an
//! error naming the file, never a crash.

use std::cell::Cell;
use std::panic::AssertUnwindSafe;
use std::sync::Once;

use dicom_core::value::Value;
use dicom_dictionary_std::tags;
use dicom_object::DefaultDicomObject;
use dicom_pixeldata::PixelDecoder;

use crate::header::Instance;

/// A decoded frame may be this many bytes whatever its compressed size.
const FREE_FRAME_BYTES: u64 = 16 << 20;
/// Beyond that, at most this many times its compressed size: RLE cannot expand more than
/// 64-fold, and JPEG and JPEG 2000 frames of that size stay below it. The decoders hold a
/// frame several times over (their own buffers, the copy, the stored values), so this keeps
/// a small file from costing hundreds of megabytes.
const MAX_RATIO: u64 = 64;

/// The compression family of a transfer syntax, for checks and messages.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Codec {
    Rle,
    Jpeg,
    Jpeg2000,
    Other,
}

impl Codec {
    fn of(ts: &str) -> Codec {
        match ts {
            "1.2.840.10008.1.2.5" => Codec::Rle,
            "1.2.840.10008.1.2.4.50"
            | "1.2.840.10008.1.2.4.51"
            | "1.2.840.10008.1.2.4.57"
            | "1.2.840.10008.1.2.4.70" => Codec::Jpeg,
            "1.2.840.10008.1.2.4.90" | "1.2.840.10008.1.2.4.91" => Codec::Jpeg2000,
            _ => Codec::Other,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Codec::Rle => "RLE",
            Codec::Jpeg => "JPEG",
            Codec::Jpeg2000 => "JPEG 2000",
            Codec::Other => "compressed",
        }
    }
}

/// Decode frame `frame` of an encapsulated (compressed) pixel data element, after checking it.
/// `Err` is the problem in words (the caller names the file).
pub(crate) fn decode_frame(
    obj: &DefaultDicomObject,
    frame: u32,
    inst: &Instance,
) -> Result<Vec<u8>, String> {
    let codec = Codec::of(&inst.transfer_syntax);
    let corrupt = |why: String| {
        format!(
            "corrupt {} pixel data in frame {frame}: {why}",
            codec.name()
        )
    };
    let fragments = obj
        .element_opt(tags::PIXEL_DATA)
        .ok()
        .flatten()
        .and_then(|e| match e.value() {
            Value::PixelSequence(s) => Some(s.fragments()),
            _ => None,
        })
        .ok_or("no encapsulated PixelData (the file is truncated or holds no image)")?;
    let total: u64 = fragments.iter().map(|f| f.len() as u64).sum();
    let frames = inst.frames.len().max(1);
    // The fragment that starts this frame, when the layout makes it plain.
    let first = if frames == 1 {
        fragments.iter().find(|f| !f.is_empty())
    } else if fragments.len() == frames {
        fragments.get(frame as usize)
    } else {
        None
    };
    let bytes_per_sample = (inst.bits_allocated as u64).div_ceil(8).max(1);
    let frame_bytes = inst.rows as u64
        * inst.cols as u64
        * inst.samples_per_pixel.max(1) as u64
        * bytes_per_sample;
    let compressed = first.map_or(total / frames as u64, |f| f.len() as u64);
    if frame_bytes > FREE_FRAME_BYTES && frame_bytes / MAX_RATIO > compressed {
        return Err(corrupt(format!(
            "a {}×{} frame ({frame_bytes} bytes) from {compressed} compressed bytes is not plausible",
            inst.cols, inst.rows
        )));
    }
    match (codec, first) {
        (Codec::Rle, Some(f)) => check_rle(f, inst).map_err(corrupt)?,
        (Codec::Rle, None) => return Err(corrupt("no fragment for this frame".into())),
        (Codec::Jpeg, Some(f)) => check_jpeg(f, inst).map_err(corrupt)?,
        (Codec::Jpeg2000, Some(f)) => check_j2k(f, inst).map_err(corrupt)?,
        _ => {}
    }
    let decoded = contain(|| obj.decode_pixel_data_frame(frame))
        .map_err(|_| corrupt("the decoder failed on it".into()))?
        .map_err(|e| format!("cannot decode pixel data of frame {frame}: {e}"))?;
    Ok(decoded.data().to_vec())
}

/// The RLE header (PS3.5 Annex G): a segment count that matches samples × bytes per sample
/// (at most 15), offsets that start after the 64-byte header, increase and stay inside the
/// fragment, and segments that each decode to at least one byte per pixel.
fn check_rle(f: &[u8], inst: &Instance) -> Result<(), String> {
    if f.len() < 64 {
        return Err(format!(
            "the fragment holds {} bytes, less than the 64-byte RLE header",
            f.len()
        ));
    }
    let word = |i: usize| u32::from_le_bytes([f[4 * i], f[4 * i + 1], f[4 * i + 2], f[4 * i + 3]]);
    let n = word(0) as usize;
    let want = inst.samples_per_pixel as usize * (inst.bits_allocated as usize).div_ceil(8);
    if n == 0 || n > 15 || n != want {
        return Err(format!(
            "the RLE header declares {n} segments; {} sample(s) of {} bits need {want}",
            inst.samples_per_pixel, inst.bits_allocated
        ));
    }
    let mut bounds: Vec<usize> = (1..=n).map(|i| word(i) as usize).collect();
    bounds.push(f.len());
    if bounds[0] != 64 {
        return Err(format!(
            "the first RLE segment starts at byte {}, not 64",
            bounds[0]
        ));
    }
    let pixels = inst.rows as u64 * inst.cols as u64;
    for s in 0..n {
        let (a, b) = (bounds[s], bounds[s + 1]);
        if b <= a || b > f.len() {
            return Err(format!(
                "RLE segment {s} spans bytes {a}..{b} of a {}-byte fragment",
                f.len()
            ));
        }
        let got = packbits_len(&f[a..b], pixels).map_err(|e| format!("RLE segment {s}: {e}"))?;
        if got < pixels {
            return Err(format!(
                "RLE segment {s} decodes to {got} bytes; the {}×{} image needs {pixels}",
                inst.cols, inst.rows
            ));
        }
    }
    Ok(())
}

/// Bytes a PackBits segment decodes to, counted without decoding (stops once `enough`).
/// `Err` when a literal run claims more bytes than the segment holds: the segment is damaged
/// even where a lenient decoder would stop early and return plausible pixels.
fn packbits_len(seg: &[u8], enough: u64) -> Result<u64, String> {
    let (mut i, mut out) = (0usize, 0u64);
    while i < seg.len() && out < enough {
        let h = seg[i] as i8;
        i += 1;
        match h {
            0..=127 => {
                let n = h as usize + 1;
                if n > seg.len() - i {
                    return Err(format!(
                        "a literal run of {n} bytes at byte {} runs past the segment's end ({} bytes)",
                        i - 1,
                        seg.len()
                    ));
                }
                out += n as u64;
                i += n;
            }
            -127..=-1 => {
                if i < seg.len() {
                    out += (1 - h as i64) as u64;
                }
                i += 1;
            }
            _ => {}
        }
    }
    if out > enough {
        return Err(format!(
            "it decodes past the image's {enough} bytes (a run runs over the end)"
        ));
    }
    Ok(out)
}

/// The JPEG frame header (SOFn): its size and components must be the DICOM header's.
fn check_jpeg(f: &[u8], inst: &Instance) -> Result<(), String> {
    if f.len() < 4 || f[0..2] != [0xFF, 0xD8] {
        return Err("no JPEG start-of-image marker".into());
    }
    let mut i = 2;
    while i + 4 <= f.len() {
        if f[i] != 0xFF {
            return Err(format!("no JPEG marker at byte {i}"));
        }
        let m = f[i + 1];
        if m == 0xFF {
            i += 1;
            continue;
        }
        let len = u16::from_be_bytes([f[i + 2], f[i + 3]]) as usize;
        let sof = matches!(m, 0xC0..=0xCF) && !matches!(m, 0xC4 | 0xC8 | 0xCC);
        if sof {
            let s = f
                .get(i + 4..i + 10)
                .ok_or("the JPEG frame header is truncated")?;
            let (y, x, nf) = (
                u16::from_be_bytes([s[1], s[2]]) as u32,
                u16::from_be_bytes([s[3], s[4]]) as u32,
                s[5] as u16,
            );
            if (x, y) != (inst.cols, inst.rows) || nf != inst.samples_per_pixel {
                return Err(format!(
                    "the JPEG image is {x}×{y} with {nf} component(s); the DICOM header says {}×{} with {}",
                    inst.cols, inst.rows, inst.samples_per_pixel
                ));
            }
            return Ok(());
        }
        if m == 0xDA || len < 2 {
            break;
        }
        i += 2 + len;
    }
    Err("no JPEG frame header before the scan data".into())
}

/// The JPEG 2000 image and tile size (SIZ): the image must be the DICOM header's, and the
/// tiles a plausible number.
fn check_j2k(f: &[u8], inst: &Instance) -> Result<(), String> {
    let at = f
        .windows(4)
        .take(4096)
        .position(|w| w == [0xFF, 0x4F, 0xFF, 0x51])
        .ok_or("no JPEG 2000 code stream header (SOC, SIZ)")?;
    let s = f
        .get(at + 4..at + 4 + 38)
        .ok_or("the JPEG 2000 size header is truncated")?;
    let u32_at = |o: usize| u32::from_be_bytes([s[o], s[o + 1], s[o + 2], s[o + 3]]) as u64;
    let (xsiz, ysiz, xo, yo) = (u32_at(4), u32_at(8), u32_at(12), u32_at(16));
    let (xt, yt, xto, yto) = (u32_at(20), u32_at(24), u32_at(28), u32_at(32));
    let csiz = u16::from_be_bytes([s[36], s[37]]);
    let (w, h) = (xsiz.saturating_sub(xo), ysiz.saturating_sub(yo));
    if (w, h) != (inst.cols as u64, inst.rows as u64) || csiz != inst.samples_per_pixel {
        return Err(format!(
            "the JPEG 2000 image is {w}×{h} with {csiz} component(s); the DICOM header says {}×{} with {}",
            inst.cols, inst.rows, inst.samples_per_pixel
        ));
    }
    if xt == 0 || yt == 0 || xto > xo || yto > yo {
        return Err("the JPEG 2000 tile grid is invalid".into());
    }
    let tiles = (xsiz - xto).div_ceil(xt) * (ysiz - yto).div_ceil(yt);
    if tiles > 65535 {
        return Err(format!("the JPEG 2000 image declares {tiles} tiles"));
    }
    Ok(())
}

thread_local! {
    /// True while this thread runs a contained decoder: its panic is reported as an error, so
    /// the panic hook stays quiet.
    static CONTAINED: Cell<bool> = const { Cell::new(false) };
}

/// Runs `f`, turning a panic into `Err` (with the panic hook silenced on this thread while it
/// runs; every other thread's panics are reported as before).
fn contain<T>(f: impl FnOnce() -> T) -> Result<T, ()> {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !CONTAINED.with(Cell::get) {
                previous(info)
            }
        }));
    });
    let was = CONTAINED.with(|c| c.replace(true));
    let r = std::panic::catch_unwind(AssertUnwindSafe(f));
    CONTAINED.with(|c| c.set(was));
    r.map_err(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::files::Origin;

    fn inst(rows: u32, cols: u32, bits: u16) -> Instance {
        Instance {
            origin: Origin::File("x.dcm".into()),
            sop_class_uid: String::new(),
            sop_instance_uid: String::new(),
            study_uid: String::new(),
            series_uid: String::new(),
            modality: String::new(),
            series_description: String::new(),
            series_number: None,
            instance_number: None,
            image_type: String::new(),
            kernel: String::new(),
            transfer_syntax: "1.2.840.10008.1.2.5".into(),
            rows,
            cols,
            samples_per_pixel: 1,
            bits_allocated: bits,
            bits_stored: bits,
            pixel_representation: 0,
            burned_in_annotation: None,
            spacing_between_slices: None,
            frames: Vec::new(),
        }
    }

    /// An RLE fragment of one 8-bit segment: a 64-byte header, then a run of `pixels` zeros.
    fn rle(n_segments: u32, pixels: u8) -> Vec<u8> {
        let mut f = vec![0u8; 64];
        f[0..4].copy_from_slice(&n_segments.to_le_bytes());
        f[4..8].copy_from_slice(&64u32.to_le_bytes());
        f.extend_from_slice(&[(1i16 - pixels as i16) as i8 as u8, 0]);
        f
    }

    #[test]
    fn a_valid_rle_header_passes() {
        check_rle(&rle(1, 16), &inst(4, 4, 8)).unwrap();
    }

    #[test]
    fn a_forged_rle_segment_count_is_refused() {
        let e = check_rle(&rle(0x4000_0000, 16), &inst(4, 4, 8)).unwrap_err();
        assert_eq!(
            e,
            "the RLE header declares 1073741824 segments; 1 sample(s) of 8 bits need 1"
        );
    }

    #[test]
    fn a_short_rle_segment_is_refused() {
        let e = check_rle(&rle(1, 10), &inst(4, 4, 8)).unwrap_err();
        assert_eq!(
            e,
            "RLE segment 0 decodes to 10 bytes; the 4×4 image needs 16"
        );
        let mut f = rle(1, 16);
        f[4] = 65;
        assert!(check_rle(&f, &inst(4, 4, 8)).is_err());
        assert!(check_rle(&f[..40], &inst(4, 4, 8)).is_err());
    }

    #[test]
    fn a_literal_run_past_the_segment_end_is_refused() {
        // A literal run of 16 bytes, its header flipped to claim 128: a lenient decoder stops
        // at the segment's end and returns the same 16 bytes, so only this check sees it.
        let mut f = vec![0u8; 64];
        f[0..4].copy_from_slice(&1u32.to_le_bytes());
        f[4..8].copy_from_slice(&64u32.to_le_bytes());
        f.push(15);
        f.extend([7u8; 16]);
        check_rle(&f, &inst(4, 4, 8)).unwrap();
        f[64] = 0x7f;
        let e = check_rle(&f, &inst(4, 4, 8)).unwrap_err();
        assert_eq!(
            e,
            "RLE segment 0: a literal run of 128 bytes at byte 0 runs past the segment's end (17 bytes)"
        );
    }

    #[test]
    fn a_jpeg_frame_larger_than_the_header_is_refused() {
        // SOI, SOF0 of 8 bits, 60000 × 50000, one component.
        let f = [
            0xFF, 0xD8, 0xFF, 0xC0, 0, 11, 8, 0xC3, 0x50, 0xEA, 0x60, 1, 1, 0x11, 0,
        ];
        let e = check_jpeg(&f, &inst(4, 4, 8)).unwrap_err();
        assert_eq!(
            e,
            "the JPEG image is 60000×50000 with 1 component(s); the DICOM header says 4×4 with 1"
        );
    }

    #[test]
    fn a_panic_is_contained_and_quiet() {
        assert!(contain(|| panic!("inside a decoder")).is_err());
        assert_eq!(contain(|| 3), Ok(3));
    }
}
