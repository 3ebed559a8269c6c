//! PNG encoding of 8-bit RGB images (W3C/ISO 15948 "Portable Network Graphics (PNG)
//! Specification", 2nd ed., 2003): signature, `IHDR` (bit depth 8, colour type 2, no
//! interlace), one zlib `IDAT` with the *Sub* filter on every row (renders are mostly flat
//! colour, where Sub compresses well), `IEND`. Chunk CRCs are CRC-32 (ISO 3309, polynomial
//! 0xEDB88320 reflected), as the specification's annex D computes them.

use std::io::Write;

use flate2::Compression;
use flate2::write::ZlibEncoder;

/// CRC-32 of `bytes` as PNG chunks use it.
pub fn crc32(bytes: &[u8]) -> u32 {
    static TABLE: std::sync::OnceLock<[u32; 256]> = std::sync::OnceLock::new();
    let table = TABLE.get_or_init(|| {
        let mut t = [0u32; 256];
        for (n, e) in t.iter_mut().enumerate() {
            let mut c = n as u32;
            for _ in 0..8 {
                c = if c & 1 != 0 {
                    0xEDB8_8320 ^ (c >> 1)
                } else {
                    c >> 1
                };
            }
            *e = c;
        }
        t
    });
    let mut c = 0xFFFF_FFFFu32;
    for &b in bytes {
        c = table[((c ^ b as u32) & 0xFF) as usize] ^ (c >> 8);
    }
    c ^ 0xFFFF_FFFF
}

fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    let start = out.len();
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    let crc = crc32(&out[start..]);
    out.extend_from_slice(&crc.to_be_bytes());
}

/// Paeth's predictor (section 9.4 of the specification).
fn paeth(a: u8, b: u8, c: u8) -> u8 {
    let p = a as i16 + b as i16 - c as i16;
    let (pa, pb, pc) = (
        (p - a as i16).abs(),
        (p - b as i16).abs(),
        (p - c as i16).abs(),
    );
    if pa <= pb && pa <= pc {
        a
    } else if pb <= pc {
        b
    } else {
        c
    }
}

/// Filter one row (`up`: the previous row, zeros for the first) with filter type `f`
/// (0 None, 1 Sub, 2 Up, 3 Average, 4 Paeth), 3 bytes a pixel.
fn apply_filter(f: u8, row: &[u8], up: &[u8], out: &mut [u8]) {
    for i in 0..row.len() {
        let a = if i >= 3 { row[i - 3] } else { 0 };
        let b = up[i];
        let c = if i >= 3 { up[i - 3] } else { 0 };
        let pred = match f {
            0 => 0,
            1 => a,
            2 => b,
            3 => ((a as u16 + b as u16) / 2) as u8,
            _ => paeth(a, b, c),
        };
        out[i] = row[i].wrapping_sub(pred);
    }
}

/// The PNG file of a `width` × `height` RGB image (`rgb`: rows top to bottom, 3 bytes a pixel).
///
/// # Panics
/// If `rgb` does not hold exactly `width × height × 3` bytes, or a side is 0 or above 2³¹ − 1.
pub fn encode_rgb(width: usize, height: usize, rgb: &[u8]) -> Vec<u8> {
    assert_eq!(rgb.len(), width * height * 3, "image size mismatch");
    assert!(width > 0 && height > 0 && width < 1 << 31 && height < 1 << 31);
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::with_capacity(13);
    ihdr.extend_from_slice(&(width as u32).to_be_bytes());
    ihdr.extend_from_slice(&(height as u32).to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    chunk(&mut out, b"IHDR", &ihdr);
    let stride = width * 3;
    let mut filtered = Vec::with_capacity(height * (stride + 1));
    let zero = vec![0u8; stride];
    let mut line = vec![0u8; stride];
    for (r, row) in rgb.chunks_exact(stride).enumerate() {
        let up = if r > 0 {
            &rgb[(r - 1) * stride..r * stride]
        } else {
            &zero[..]
        };
        // The filter with the smallest sum of absolute differences (as signed bytes): the
        // heuristic the specification recommends (section 12.8).
        let mut best = (u64::MAX, 0u8);
        for f in 0..5u8 {
            apply_filter(f, row, up, &mut line);
            let cost: u64 = line.iter().map(|&b| (b as i8).unsigned_abs() as u64).sum();
            if cost < best.0 {
                best = (cost, f);
            }
        }
        apply_filter(best.1, row, up, &mut line);
        filtered.push(best.1);
        filtered.extend_from_slice(&line);
    }
    let mut z = ZlibEncoder::new(Vec::new(), Compression::default());
    z.write_all(&filtered).expect("writing to memory");
    let idat = z.finish().expect("writing to memory");
    chunk(&mut out, b"IDAT", &idat);
    chunk(&mut out, b"IEND", &[]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::read::ZlibDecoder;
    use std::io::Read;

    #[test]
    fn crc_matches_published_values() {
        // The CRC-32 check value ("123456789" → CBF43926, the catalogue value of CRC-32/ISO-HDLC)
        // and the CRC every PNG's empty IEND chunk carries (AE426082).
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32(b"IEND"), 0xAE42_6082);
    }

    #[test]
    fn encoded_image_decodes_to_the_same_pixels() {
        let (w, h) = (7, 5);
        let rgb: Vec<u8> = (0..w * h * 3).map(|i| (i * 37 % 251) as u8).collect();
        let png = encode_rgb(w, h, &rgb);
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
        // Walk the chunks, checking every CRC, and collect IDAT.
        let mut pos = 8;
        let mut idat = Vec::new();
        let mut kinds = Vec::new();
        while pos < png.len() {
            let len = u32::from_be_bytes(png[pos..pos + 4].try_into().unwrap()) as usize;
            let kind = &png[pos + 4..pos + 8];
            let crc = u32::from_be_bytes(png[pos + 8 + len..pos + 12 + len].try_into().unwrap());
            assert_eq!(crc, crc32(&png[pos + 4..pos + 8 + len]));
            if kind == b"IHDR" {
                assert_eq!(&png[pos + 8..pos + 16], &[0, 0, 0, 7, 0, 0, 0, 5]);
            }
            if kind == b"IDAT" {
                idat.extend_from_slice(&png[pos + 8..pos + 8 + len]);
            }
            kinds.push(String::from_utf8_lossy(kind).to_string());
            pos += 12 + len;
        }
        assert_eq!(kinds, ["IHDR", "IDAT", "IEND"]);
        let mut raw = Vec::new();
        ZlibDecoder::new(&idat[..]).read_to_end(&mut raw).unwrap();
        let mut back: Vec<u8> = Vec::new();
        let stride = w * 3;
        for (r, row) in raw.chunks_exact(stride + 1).enumerate() {
            let mut line: Vec<u8> = Vec::new();
            for (i, &x) in row[1..].iter().enumerate() {
                let a = if i >= 3 { line[i - 3] } else { 0 };
                let b = if r > 0 { back[(r - 1) * stride + i] } else { 0 };
                let c = if r > 0 && i >= 3 {
                    back[(r - 1) * stride + i - 3]
                } else {
                    0
                };
                let pred = match row[0] {
                    0 => 0,
                    1 => a,
                    2 => b,
                    3 => ((a as u16 + b as u16) / 2) as u8,
                    4 => paeth(a, b, c),
                    f => panic!("filter type {f}"),
                };
                line.push(x.wrapping_add(pred));
            }
            back.extend(line);
        }
        assert_eq!(back, rgb);
    }
}
