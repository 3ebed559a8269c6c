//! The voxel data block shared by every format: where it is, how it is encoded, and decoding it
//! into a typed volume or straight into a mask. Size guards live here too.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;

use ctplan_core::{AnyVolume, Geometry, Mask, Scalar, ScalarType, Volume};
use flate2::bufread::{MultiGzDecoder, ZlibDecoder};

use crate::input::Input;
use crate::{IoError, KeyValues};

use ctplan_core::MAX_BYTES;

/// Deflate cannot expand data by more than about 1032:1; a header that claims more voxel bytes
/// than that from the compressed bytes on disk is wrong.
const MAX_DEFLATE_RATIO: u64 = 1032;

/// How the voxel bytes are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Raw,
    Gzip,
    Zlib,
    Ascii,
}

/// Everything needed to decode the voxel block.
#[derive(Debug, Clone)]
pub struct Layout {
    pub dims: [usize; 3],
    pub geometry: Geometry,
    pub stype: ScalarType,
    pub big_endian: bool,
    pub encoding: Encoding,
    /// NIfTI `scl_slope`/`scl_inter`, when they change the values (output becomes `f32`).
    pub scaling: Option<(f64, f64)>,
}

/// An opened file: its layout, a reader positioned at the (decoded) voxel data, and metadata.
pub struct Source {
    pub layout: Layout,
    pub reader: Box<dyn Read>,
    pub key_values: KeyValues,
}

impl Layout {
    pub fn voxels(&self) -> usize {
        self.dims[0] * self.dims[1] * self.dims[2]
    }

    /// The scalar type of the decoded volume.
    pub fn output_type(&self) -> ScalarType {
        if self.scaling.is_some() {
            ScalarType::F32
        } else {
            self.stype
        }
    }

    /// Decode the whole volume in its stored type (or `f32` when scaled).
    pub fn decode_volume(
        self,
        mut reader: Box<dyn Read>,
        path: &Path,
    ) -> Result<AnyVolume, IoError> {
        Ok(ctplan_core::with_scalar_type!(self.stype, T => {
            let data: Vec<T> = self.read_values(&mut reader, path)?;
            let v = Volume::from_vec(self.dims, self.geometry, data)
                .map_err(|e| IoError::new(path, e.to_string()))?;
            match self.scaling {
                Some((slope, inter)) => AnyVolume::F32(v.map(|x| (x.to_f64() * slope + inter) as f32)),
                None => AnyVolume::from(v),
            }
        }))
    }

    /// Decode straight into a mask (value ≠ 0 after scaling), one chunk at a time.
    pub fn decode_mask(self, mut reader: Box<dyn Read>, path: &Path) -> Result<Mask, IoError> {
        if self.encoding == Encoding::Ascii {
            let dims = self.dims;
            let v = self.decode_volume(reader, path)?;
            debug_assert_eq!(v.dims(), dims);
            return Ok(v.to_mask());
        }
        let data = ctplan_core::with_scalar_type!(self.stype, T => self.mask_chunks::<T>(&mut reader, path)?);
        Mask::from_vec(self.dims, self.geometry, data)
            .map_err(|e| IoError::new(path, e.to_string()))
    }

    fn mask_chunks<T: Scalar>(
        &self,
        reader: &mut dyn Read,
        path: &Path,
    ) -> Result<Vec<u8>, IoError> {
        const CHUNK: usize = 1 << 18;
        let n = self.voxels();
        let mut out = vec![0u8; n];
        let mut buf: Vec<T> = bytemuck::zeroed_vec(CHUNK.min(n));
        let swap = self.big_endian != cfg!(target_endian = "big");
        let mut done = 0;
        while done < n {
            let m = CHUNK.min(n - done);
            let chunk = &mut buf[..m];
            reader
                .read_exact(bytemuck::cast_slice_mut(chunk))
                .map_err(|e| data_error(path, e, n * T::TYPE.size()))?;
            if swap {
                T::swap_bytes_in_place(chunk);
            }
            let dst = &mut out[done..done + m];
            match self.scaling {
                Some((slope, inter)) => {
                    for (o, v) in dst.iter_mut().zip(chunk.iter()) {
                        *o = (v.to_f64() * slope + inter != 0.0) as u8;
                    }
                }
                None => {
                    for (o, v) in dst.iter_mut().zip(chunk.iter()) {
                        *o = v.is_nonzero() as u8;
                    }
                }
            }
            done += m;
        }
        Ok(out)
    }

    fn read_values<T: Scalar>(
        &self,
        reader: &mut dyn Read,
        path: &Path,
    ) -> Result<Vec<T>, IoError> {
        let n = self.voxels();
        if self.encoding == Encoding::Ascii {
            return read_ascii(reader, n, path);
        }
        let mut v: Vec<T> = bytemuck::zeroed_vec(n);
        reader
            .read_exact(bytemuck::cast_slice_mut(&mut v))
            .map_err(|e| data_error(path, e, n * T::TYPE.size()))?;
        if self.big_endian != cfg!(target_endian = "big") {
            T::swap_bytes_in_place(&mut v);
        }
        Ok(v)
    }
}

fn data_error(path: &Path, e: std::io::Error, expected: usize) -> IoError {
    if e.kind() == std::io::ErrorKind::UnexpectedEof {
        IoError::with_source(
            path,
            format!(
                "voxel data ends early: the file is truncated (the header needs {expected} bytes)"
            ),
            e,
        )
    } else {
        IoError::with_source(path, format!("cannot decode voxel data: {e}"), e)
    }
}

fn read_ascii<T: Scalar>(reader: &mut dyn Read, n: usize, path: &Path) -> Result<Vec<T>, IoError> {
    let mut text = String::new();
    reader
        .read_to_string(&mut text)
        .map_err(|e| IoError::with_source(path, format!("cannot read ascii voxel data: {e}"), e))?;
    let mut out = Vec::with_capacity(n);
    for tok in text
        .split(|c: char| c.is_ascii_whitespace() || c == ',')
        .filter(|t| !t.is_empty())
    {
        if out.len() == n {
            break;
        }
        let v: f64 = tok.parse().map_err(|_| {
            IoError::new(path, format!("ascii voxel data: '{tok}' is not a number"))
        })?;
        out.push(T::from_f64(v));
    }
    if out.len() < n {
        return Err(IoError::new(
            path,
            format!("ascii voxel data ends early: {} of {n} values", out.len()),
        ));
    }
    Ok(out)
}

/// The longest text header accepted (a guard against reading a binary file as text).
const MAX_HEADER_BYTES: u64 = 1 << 20;

/// Read a text header line by line. `visit` gets each line without its line ending and returns
/// true when the header ends with that line. Returns the bytes consumed and whether `visit`
/// ended the header (false: end of file). `what` names the format in errors.
pub fn read_text_header(
    input: &Input,
    what: &str,
    mut visit: impl FnMut(&str) -> Result<bool, IoError>,
) -> Result<(u64, bool), IoError> {
    let path = input.path();
    let (file, _) = input.open("open")?;
    let mut r = BufReader::new(file);
    let mut line = Vec::new();
    let mut consumed = 0u64;
    loop {
        line.clear();
        let n = Read::take(
            &mut r,
            MAX_HEADER_BYTES + 1 - consumed.min(MAX_HEADER_BYTES),
        )
        .read_until(b'\n', &mut line)
        .map_err(|e| IoError::os(path, "read", e))?;
        if n == 0 {
            return Ok((consumed, false));
        }
        consumed += n as u64;
        if consumed > MAX_HEADER_BYTES {
            return Err(IoError::new(
                path,
                format!("{what} header is longer than 1 MiB (not a {what} file?)"),
            ));
        }
        let text = String::from_utf8_lossy(&line);
        if visit(text.trim_end_matches(['\n', '\r']))? {
            return Ok((consumed, true));
        }
    }
}

/// Bytes of voxel data for `dims` of `stype`, refusing sizes over [`MAX_BYTES`] or overflow.
pub fn checked_bytes(dims: [usize; 3], stype: ScalarType, path: &Path) -> Result<u64, IoError> {
    let n = (dims[0] as u64)
        .checked_mul(dims[1] as u64)
        .and_then(|v| v.checked_mul(dims[2] as u64))
        .and_then(|v| v.checked_mul(stype.size() as u64));
    match n {
        Some(b) if b <= MAX_BYTES => Ok(b),
        _ => Err(IoError::new(
            path,
            format!(
                "header claims {}×{}×{} voxels of {stype}, more than the {} GiB limit; refusing to allocate",
                dims[0],
                dims[1],
                dims[2],
                MAX_BYTES >> 30
            ),
        )),
    }
}

/// Voxel bytes above which a compressed stream that expands more than [`PRECHECK_RATIO`]:1 is
/// first decompressed once, counting, before the volume is allocated: a small file must not
/// make a reader hold half a gigabyte before it finds the data truncated.
pub const PRECHECK_BYTES: u64 = 256 << 20;
/// The expansion (decoded bytes per compressed byte) above which that count is made; real CT
/// compresses about 2–5:1, masks up to a few hundred.
const PRECHECK_RATIO: u64 = 100;

/// When `needed` decoded bytes are over `limit` and over [`PRECHECK_RATIO`] times the
/// `compressed` bytes, decode the stream that `open` gives to the end, counting (no memory
/// held), and refuse it if it holds fewer than `needed` bytes.
pub fn check_stream_holds(
    path: &Path,
    needed: u64,
    compressed: u64,
    limit: u64,
    open: impl FnOnce() -> Result<Box<dyn Read>, IoError>,
) -> Result<(), IoError> {
    if needed <= limit || needed <= compressed.saturating_mul(PRECHECK_RATIO) {
        return Ok(());
    }
    let got = std::io::copy(&mut open()?.take(needed), &mut std::io::sink())
        .map_err(|e| data_error(path, e, needed as usize))?;
    if got < needed {
        return Err(IoError::new(
            path,
            format!(
                "voxel data ends early: the file is truncated (the header needs {needed} bytes, the compressed data holds {got})"
            ),
        ));
    }
    Ok(())
}

/// Check that `available` bytes on disk can hold `needed` bytes of voxel data.
pub fn check_capacity(
    path: &Path,
    needed: u64,
    available: u64,
    encoding: Encoding,
) -> Result<(), IoError> {
    match encoding {
        Encoding::Raw if available < needed => Err(IoError::new(
            path,
            format!(
                "file is truncated: the header needs {needed} bytes of voxel data, the file holds {available}"
            ),
        )),
        Encoding::Gzip | Encoding::Zlib
            if needed > available.saturating_mul(MAX_DEFLATE_RATIO) + 65536 =>
        {
            Err(IoError::new(
                path,
                format!(
                    "header claims {needed} bytes of voxel data, more than {available} compressed bytes can hold (wrong sizes, or truncated file)"
                ),
            ))
        }
        _ => Ok(()),
    }
}

/// Open a data file at `offset`, check its capacity, and wrap it in the decoder for `encoding`.
pub fn open_data(
    input: &Input,
    offset: u64,
    skip_lines: usize,
    layout: &Layout,
) -> Result<Box<dyn Read>, IoError> {
    let path = input.path();
    let (file, len) = input.open("open data file")?;
    if offset > len {
        return Err(IoError::new(
            path,
            format!(
                "file is truncated: data should start at byte {offset}, the file has {len} bytes"
            ),
        ));
    }
    let needed = checked_bytes(layout.dims, layout.stype, path)?;
    let mut r = BufReader::with_capacity(1 << 20, file);
    std::io::copy(&mut Read::take(&mut r, offset), &mut std::io::sink())
        .map_err(|e| IoError::os(path, "read", e))?;
    let mut skipped = 0u64;
    for _ in 0..skip_lines {
        let mut line = Vec::new();
        let n = r
            .read_until(b'\n', &mut line)
            .map_err(|e| IoError::os(path, "read", e))? as u64;
        if n == 0 {
            // End of file: a huge `line skip` must not spin on it.
            break;
        }
        skipped += n;
    }
    let available = len - offset - skipped;
    if layout.encoding == Encoding::Ascii {
        // Each ascii value takes a character and a separator but the last.
        let voxels = needed / layout.stype.size() as u64;
        if voxels > available.div_ceil(2) {
            return Err(IoError::new(
                path,
                format!(
                    "file is truncated: the header needs {voxels} ascii values, {available} bytes of text cannot hold them"
                ),
            ));
        }
    }
    check_capacity(path, needed, available, layout.encoding)?;
    if matches!(layout.encoding, Encoding::Gzip | Encoding::Zlib) {
        let start = offset + skipped;
        check_stream_holds(path, needed, available, PRECHECK_BYTES, || {
            let (mut f, _) = input.open("open data file")?;
            std::io::Seek::seek(&mut f, std::io::SeekFrom::Start(start))
                .map_err(|e| IoError::os(path, "read", e))?;
            Ok(wrap_decoder(BufReader::new(f), layout.encoding))
        })?;
    }
    Ok(wrap_decoder(r, layout.encoding))
}

/// Wrap a buffered reader in the decoder for `encoding`.
pub fn wrap_decoder<R: BufRead + 'static>(r: R, encoding: Encoding) -> Box<dyn Read> {
    match encoding {
        Encoding::Raw | Encoding::Ascii => Box::new(r),
        Encoding::Gzip => Box::new(MultiGzDecoder::new(r)),
        Encoding::Zlib => Box::new(ZlibDecoder::new(r)),
    }
}

/// Write voxel data in native byte order through the encoder for `compress`.
pub fn write_data(
    w: &mut dyn std::io::Write,
    volume: &AnyVolume,
    encoding: Encoding,
    level: u32,
) -> std::io::Result<()> {
    let bytes = volume.as_bytes();
    match encoding {
        Encoding::Raw => w.write_all(bytes),
        Encoding::Gzip => {
            let mut e = flate2::write::GzEncoder::new(w, flate2::Compression::new(level.min(9)));
            e.write_all(bytes)?;
            e.finish().map(|_| ())
        }
        Encoding::Zlib => {
            let mut e = flate2::write::ZlibEncoder::new(w, flate2::Compression::new(level.min(9)));
            e.write_all(bytes)?;
            e.finish().map(|_| ())
        }
        Encoding::Ascii => {
            ctplan_core::with_volume!(volume, v => {
                for (i, x) in v.data.iter().enumerate() {
                    write!(w, "{}", x.to_f64())?;
                    w.write_all(if (i + 1) % v.dims[0].max(1) == 0 { b"\n" } else { b" " })?;
                }
            });
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gz(bytes: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(bytes).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn a_truncated_bomb_is_counted_before_it_is_allocated() {
        let z = gz(&vec![0u8; 1 << 20]);
        let open = |z: Vec<u8>| move || Ok(wrap_decoder(std::io::Cursor::new(z), Encoding::Gzip));
        let p = Path::new("b.nrrd");
        // 1 MiB of zeros in about 1 KiB: a claim of 2 MiB is refused from the count alone.
        let e = check_stream_holds(p, 2 << 20, z.len() as u64, 1 << 10, open(z.clone()));
        assert!(
            e.unwrap_err()
                .to_string()
                .contains("the compressed data holds 1048576")
        );
        assert!(check_stream_holds(p, 1 << 20, z.len() as u64, 1 << 10, open(z.clone())).is_ok());
        // Under the limit nothing is decoded (the stream is not even opened).
        let never = || -> Result<Box<dyn Read>, IoError> { unreachable!() };
        assert!(check_stream_holds(p, 2 << 20, z.len() as u64, 4 << 20, never).is_ok());
    }
}
