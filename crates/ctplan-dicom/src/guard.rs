//! A light walk of a DICOM file's element stream before the full parser reads it: every
//! declared value length is checked against the bytes actually present, so that a damaged or
//! forged length (a 39 KB file whose element claims 4 GB) is refused at once with a clear
//! message, instead of the parser allocating what the length says before it finds the file
//! too short. Values are skipped, never stored: the walk holds a few bytes at a time.
//!
//! It follows the structure the parser follows: the file meta group (explicit VR little
//! endian), then the data set in its transfer syntax (implicit or explicit VR, little or big
//! endian, deflated), sequences and items of defined or undefined length, and encapsulated
//! pixel data (its fragments are raw bytes, skipped by their lengths).

use std::io::{BufRead, BufReader, Read};

use dicom_core::Tag;
use dicom_core::dictionary::{DataDictionary, DataDictionaryEntry, VirtualVr};
use dicom_dictionary_std::StandardDataDictionary;

/// The transfer syntax UID of a deflated data set.
const DEFLATED: &str = "1.2.840.10008.1.2.1.99";
/// Undefined length (the value ends at a delimiter).
const UNDEFINED: u32 = 0xFFFF_FFFF;
/// How far past the end of the file a PixelData length may reach in a header scan (see
/// `walk_data_set`): what the parser may allocate there stays within this bound.
const SCAN_SLACK: u64 = 256 << 20;
/// A deflated data set may inflate to at most this many times the file's size (real data
/// sets deflate a few-fold; a decompression bomb a thousand-fold).
const MAX_INFLATION: u64 = 64;
/// Nesting beyond this is refused (the parser recurses per level).
const MAX_DEPTH: usize = 64;

/// The end of the bytes is left to the parser to report; any other read error (a corrupt
/// deflate stream, an OS error) is the file's problem, said before the parser allocates.
fn stop(e: std::io::Error) -> Stop {
    if e.kind() == std::io::ErrorKind::UnexpectedEof {
        Stop::Eof
    } else {
        Stop::Bad(format!("cannot read: {e}"))
    }
}

/// A reader that counts the bytes it has consumed.
struct Src<R> {
    r: R,
    pos: u64,
    /// The most bytes the stream may hold: a deflated data set is bounded by its file size
    /// times [`MAX_INFLATION`], so a small file cannot make the parser allocate gigabytes.
    limit: u64,
}

/// How the walk ended early: the bytes ran out inside a header (the parser reports the
/// truncation in its own words), or the file is refused with a message.
enum Stop {
    Eof,
    Bad(String),
}

type Step<T> = Result<T, Stop>;

impl<R: BufRead> Src<R> {
    fn at_end(&mut self) -> Step<bool> {
        Ok(self.r.fill_buf().map_err(stop)?.is_empty())
    }

    fn bytes<const N: usize>(&mut self) -> Step<[u8; N]> {
        let mut b = [0u8; N];
        self.r.read_exact(&mut b).map_err(stop)?;
        self.pos += N as u64;
        Ok(b)
    }

    fn u16(&mut self, big: bool) -> Step<u16> {
        let b = self.bytes::<2>()?;
        Ok(if big {
            u16::from_be_bytes(b)
        } else {
            u16::from_le_bytes(b)
        })
    }

    /// Two 16-bit words in the byte order of the stream.
    fn u32(&mut self, big: bool) -> Step<u32> {
        let (a, b) = (self.u16(big)? as u32, self.u16(big)? as u32);
        Ok(if big { (a << 16) | b } else { (b << 16) | a })
    }

    /// An explicit VR and the value length after it (2 bytes, or 2 reserved and 4).
    fn vr_and_length(&mut self, big: bool) -> Step<([u8; 2], u32)> {
        let vr = self.bytes::<2>()?;
        let len = if long_vr(vr) {
            self.bytes::<2>()?;
            self.u32(big)?
        } else {
            self.u16(big)? as u32
        };
        Ok((vr, len))
    }

    /// Skip `len` bytes of the value of `tag`, which must all be present.
    fn skip(&mut self, tag: Tag, len: u32) -> Step<()> {
        let start = self.pos;
        if start + len as u64 > self.limit {
            return Err(Stop::Bad(format!(
                "element ({:04X},{:04X}) at byte {start} claims {len} bytes: the deflated data set would inflate to over {MAX_INFLATION} times the file's size",
                tag.0, tag.1
            )));
        }
        let got = std::io::copy(&mut (&mut self.r).take(len as u64), &mut std::io::sink())
            .map_err(|e| Stop::Bad(format!("cannot read: {e}")))?;
        self.pos += got;
        if got < len as u64 {
            return Err(Stop::Bad(format!(
                "element ({:04X},{:04X}) at byte {start} claims {len} bytes, but only {got} remain (the file is truncated or damaged)",
                tag.0, tag.1
            )));
        }
        Ok(())
    }
}

/// What the walk is inside of, and where it ends (`None`: at a delimiter).
#[derive(Clone, Copy, PartialEq)]
enum Open {
    /// A sequence: its items are data sets.
    Seq(Option<u64>),
    /// An item of a sequence: a nested data set.
    Item(Option<u64>),
    /// Encapsulated pixel data: its items are raw fragments.
    Fragments,
}

/// VRs with a 2-byte reserved field and a 4-byte length in explicit VR: every VR but the
/// short ones of PS3.5 7.1.2 (an unknown VR is read as UN, a long one, as the parser does).
fn long_vr(vr: [u8; 2]) -> bool {
    !matches!(
        &vr,
        b"AE"
            | b"AS"
            | b"AT"
            | b"CS"
            | b"DA"
            | b"DS"
            | b"DT"
            | b"FL"
            | b"FD"
            | b"IS"
            | b"LO"
            | b"LT"
            | b"PN"
            | b"SH"
            | b"SL"
            | b"SS"
            | b"ST"
            | b"TM"
            | b"UI"
            | b"UL"
            | b"US"
    )
}

/// The VR the dictionary gives `tag` (for implicit VR, where the file does not say it), when
/// it is exact.
fn dictionary_vr(tag: Tag) -> Option<[u8; 2]> {
    match StandardDataDictionary.by_tag(tag)?.vr() {
        VirtualVr::Exact(vr) => vr.to_string().as_bytes().try_into().ok(),
        _ => None,
    }
}

/// Slack over the file's size for the parser's own bookkeeping in [`check`]'s bound.
const PARSER_SLACK: u64 = 1 << 20;

/// Check a PS3.10 file (preamble included) of `size` bytes read from `r`. With
/// `headers_only`, stop at the top-level PixelData, where a header scan stops too. `Err` is
/// the problem in words; `Ok` is the largest single allocation the parser needs for this file:
/// no value is longer than the (inflated) data set, plus [`SCAN_SLACK`] for a header scan's
/// PixelData. The caller runs the parser under that bound (`ctplan_core::alloc::with_limit`),
/// so a length this walk reads differently from the parser still cannot cost more.
pub(crate) fn check(r: impl Read, size: u64, headers_only: bool) -> Result<u64, String> {
    let mut src = Src {
        r: BufReader::new(r),
        pos: 0,
        limit: u64::MAX,
    };
    let mut deflated = false;
    match walk_file(&mut src, size, headers_only, &mut deflated) {
        Ok(()) | Err(Stop::Eof) => {
            let data = if deflated {
                size.saturating_mul(MAX_INFLATION)
            } else {
                size
            };
            let scan = if headers_only { SCAN_SLACK } else { 0 };
            Ok(data.saturating_add(scan).saturating_add(PARSER_SLACK))
        }
        Err(Stop::Bad(m)) => Err(m),
    }
}

fn walk_file<R: BufRead>(
    src: &mut Src<R>,
    size: u64,
    headers_only: bool,
    deflated: &mut bool,
) -> Step<()> {
    let head = src.bytes::<132>()?;
    if &head[128..] != b"DICM" {
        return Err(Stop::Bad(crate::files::NOT_DICOM.to_string()));
    }
    // The file meta group: explicit VR little endian, first its group length, which (as for
    // the parser) says where the data set starts. Without one the parser refuses the file.
    let mut ts = String::new();
    let first = Tag(src.u16(false)?, src.u16(false)?);
    // Any VR will do for the parser, as long as the length is 4 (found by fuzzing: an `SL`
    // group length stopped the walk while the parser read on into a 670 MB length).
    if first != Tag(0x0002, 0x0000) || src.vr_and_length(false)?.1 != 4 {
        return Ok(());
    }
    let group_length = src.u32(false)? as u64;
    let start = src.pos;
    while src.pos - start < group_length {
        let tag = Tag(src.u16(false)?, src.u16(false)?);
        let (_, len) = src.vr_and_length(false)?;
        if len == UNDEFINED {
            return Err(Stop::Bad(format!(
                "file meta element ({:04X},{:04X}) has an undefined length",
                tag.0, tag.1
            )));
        }
        if tag == Tag(0x0002, 0x0010) && len <= 64 {
            let mut v = vec![0u8; len as usize];
            src.r.read_exact(&mut v).map_err(stop)?;
            src.pos += len as u64;
            ts = String::from_utf8_lossy(&v)
                .trim_end_matches(['\0', ' '])
                .to_string();
        } else {
            src.skip(tag, len)?;
        }
    }
    let implicit = ts == "1.2.840.10008.1.2";
    let big = ts == "1.2.840.10008.1.2.2";
    if ts == DEFLATED {
        *deflated = true;
        let inflated = flate2::bufread::DeflateDecoder::new(&mut src.r);
        let mut inner = Src {
            r: BufReader::new(inflated),
            pos: 0,
            limit: size.saturating_mul(MAX_INFLATION),
        };
        return walk_data_set(&mut inner, implicit, big, headers_only, size);
    }
    walk_data_set(src, implicit, big, headers_only, size)
}

fn walk_data_set<R: BufRead>(
    src: &mut Src<R>,
    implicit: bool,
    big: bool,
    headers_only: bool,
    size: u64,
) -> Step<()> {
    let mut stack: Vec<Open> = Vec::new();
    loop {
        // Close the containers of defined length that end here.
        while let Some(Open::Seq(Some(end)) | Open::Item(Some(end))) = stack.last() {
            if src.pos < *end {
                break;
            }
            stack.pop();
        }
        if src.at_end()? {
            return Ok(());
        }
        if stack.len() > MAX_DEPTH {
            return Err(Stop::Bad(format!(
                "sequences nested over {MAX_DEPTH} deep (damaged)"
            )));
        }
        let tag = Tag(src.u16(big)?, src.u16(big)?);
        if tag.0 == 0xFFFE {
            // Item and delimiters: always a 4-byte length, no VR.
            let len = src.u32(big)?;
            match (tag.1, stack.last().copied()) {
                (0xE000, Some(Open::Fragments)) => {
                    if len == UNDEFINED {
                        return Err(Stop::Bad(
                            "a pixel data fragment has an undefined length (damaged)".into(),
                        ));
                    }
                    src.skip(tag, len)?;
                }
                (0xE000, Some(Open::Seq(_))) => {
                    stack.push(Open::Item((len != UNDEFINED).then(|| src.pos + len as u64)))
                }
                (0xE00D, Some(Open::Item(None))) => {
                    stack.pop();
                }
                // A sequence delimiter closes the open items of its sequence too, as for the
                // parser.
                (0xE0DD, Some(_)) => {
                    while let Some(o) = stack.pop() {
                        if matches!(o, Open::Seq(_) | Open::Fragments) {
                            break;
                        }
                    }
                }
                // Any other tag of group FFFE, a stray delimiter, and an item where a data
                // element belongs (not directly in a sequence), is read as a value of this
                // length (found by fuzzing: (FFFE,0042) claiming 3.7 GB took 3.6 GB and 7 s;
                // an item after an empty sequence claiming 4 GB, 4.2 GB; a stray sequence
                // delimiter claiming 822 MB, 810 MB).
                _ if len != UNDEFINED => src.skip(tag, len)?,
                _ => {}
            }
            continue;
        }
        if let Some(Open::Seq(_)) = stack.last() {
            // Directly in a sequence only items belong; the parser reads anything else as an
            // item header (a 4-byte length after the tag) and then its value (found by
            // fuzzing: a 2.4 GB length after a stray delimiter).
            let len = src.u32(big)?;
            if len != UNDEFINED {
                src.skip(tag, len)?;
            }
            continue;
        }
        if headers_only && stack.is_empty() && tag == Tag(0x7FE0, 0x0010) {
            // A header scan stops here, but the parser can still allocate this element's value
            // (found by fuzzing: a 1.2 GB PixelData length in a 2.5 KB file took 1.1 GB). A
            // length more than `SCAN_SLACK` past the end of the file is refused here, without
            // reading the pixels (read through where the data set is deflated); a file cut
            // within its pixels stays in its series, so that decoding it names it as truncated
            // instead of its slice going missing.
            let start = src.pos;
            let len = if implicit {
                src.u32(big)?
            } else {
                src.vr_and_length(big)?.1
            };
            if len != UNDEFINED {
                if src.limit != u64::MAX {
                    src.skip(tag, len)?;
                } else if src.pos + len as u64 > size + SCAN_SLACK {
                    return Err(Stop::Bad(format!(
                        "element (7FE0,0010) at byte {start} claims {len} bytes, but only {} remain (the file is truncated or damaged)",
                        size.saturating_sub(src.pos)
                    )));
                }
            }
            return Ok(());
        }
        let (vr, len) = if implicit {
            (None, src.u32(big)?)
        } else {
            let (vr, len) = src.vr_and_length(big)?;
            (Some(vr), len)
        };
        let vr = vr.or_else(|| dictionary_vr(tag));
        let sequence = vr == Some(*b"SQ");
        if len == UNDEFINED {
            // As for the parser: only PixelData of undefined length holds fragments; any
            // other element of undefined length is a sequence, whatever its VR (found by
            // fuzzing: an OB (7FE0,0024) of undefined length read as fragments here let a
            // 3.7 GB length through, 3.6 GB and 6 s from an 856-byte file).
            stack.push(if tag == Tag(0x7FE0, 0x0010) {
                Open::Fragments
            } else {
                Open::Seq(None)
            });
        } else if sequence {
            stack.push(Open::Seq(Some(src.pos + len as u64)));
        } else {
            // The parser reads whole binary numbers only: a length that is not a multiple of
            // the number's size leaves the rest to be read as the next element, as here.
            let size = match vr.as_ref().map(|v| &v[..]) {
                Some(b"US" | b"SS") => 2,
                Some(b"UL" | b"SL" | b"FL" | b"AT") => 4,
                Some(b"FD" | b"SV" | b"UV") => 8,
                _ => 1,
            };
            src.skip(tag, len - len % size)?;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A preamble, the meta group naming `ts`, then `body`.
    pub(crate) fn file(ts: &str, body: &[u8]) -> Vec<u8> {
        let mut v = vec![0u8; 128];
        v.extend_from_slice(b"DICM");
        let mut uid = ts.as_bytes().to_vec();
        if uid.len() % 2 == 1 {
            uid.push(0);
        }
        v.extend_from_slice(&[2, 0, 0, 0, b'U', b'L', 4, 0]);
        v.extend_from_slice(&(8 + uid.len() as u32).to_le_bytes());
        v.extend_from_slice(&[2, 0, 0x10, 0, b'U', b'I']);
        v.extend_from_slice(&(uid.len() as u16).to_le_bytes());
        v.extend_from_slice(&uid);
        v.extend_from_slice(body);
        v
    }

    /// The refusal of a header scan of `body` in transfer syntax `ts`, which must start
    /// with `start` and contain `has`.
    fn refused(ts: &str, body: &[u8], start: &str, has: &str) {
        let e = check(&file(ts, body)[..], 1 << 20, true).unwrap_err();
        assert!(e.starts_with(start) && e.contains(has), "{e}");
    }

    fn implicit(tag: (u16, u16), len: u32, value: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        v.extend_from_slice(&tag.0.to_le_bytes());
        v.extend_from_slice(&tag.1.to_le_bytes());
        v.extend_from_slice(&len.to_le_bytes());
        v.extend_from_slice(value);
        v
    }

    #[test]
    fn a_length_past_the_end_is_refused_and_named() {
        let body = implicit((0x0010, 0x0010), 0xFFFF_FFF0, b"Doe^John");
        let e = check(&file("1.2.840.10008.1.2", &body)[..], 1 << 20, true).unwrap_err();
        assert!(
            e.starts_with("element (0010,0010) at byte")
                && e.ends_with(
                    "claims 4294967280 bytes, but only 8 remain (the file is truncated or damaged)"
                ),
            "{e}"
        );
        let ok = implicit((0x0010, 0x0010), 8, b"Doe^John");
        check(&file("1.2.840.10008.1.2", &ok)[..], 1 << 20, false).unwrap();
    }

    /// Inside an implicit-VR sequence of defined length (known as one from the dictionary),
    /// the nested elements are checked too.
    #[test]
    fn nested_elements_are_checked() {
        let inner = implicit((0x0008, 0x0100), 0x7FFF_0000, b"AB");
        let mut item = implicit((0xFFFE, 0xE000), inner.len() as u32, &[]);
        item.extend(&inner);
        let seq = implicit((0x0008, 0x1032), item.len() as u32, &item);
        let e = check(&file("1.2.840.10008.1.2", &seq)[..], 1 << 20, false).unwrap_err();
        assert!(e.starts_with("element (0008,0100)"), "{e}");
    }

    /// An unknown VR is read as UN by the parser, with a 4-byte length: so is it here (found
    /// by fuzzing: `Ui` in the meta group made the parser allocate 760 MB).
    #[test]
    fn an_unknown_vr_has_a_long_length() {
        let mut f = file("1.2.840.10008.1.2.1", &[]);
        f.extend_from_slice(&[2, 0, 0x12, 0, b'U', b'i', 0, 0]);
        f.extend_from_slice(&0x3000_0000u32.to_le_bytes());
        f.extend_from_slice(b"1.2.3");
        let e = check(&f[..], 1 << 20, true).unwrap_err();
        assert!(
            e.starts_with("element (0002,0012)") && e.contains("only 5 remain"),
            "{e}"
        );
    }

    /// Only PixelData of undefined length holds fragments: an OB of undefined length under
    /// another tag is a sequence for the parser, whose items are data sets to check (found by
    /// fuzzing: an 856-byte file made the parser allocate 3.6 GB).
    #[test]
    fn an_undefined_length_ob_other_than_pixel_data_is_a_sequence() {
        let mut body = vec![0xE0, 0x7F, 0x24, 0x00, b'O', b'B', 0, 0];
        body.extend_from_slice(&UNDEFINED.to_le_bytes());
        // An item of undefined length holding an element that claims 3.7 GB.
        body.extend_from_slice(&[0xFE, 0xFF, 0x00, 0xE0]);
        body.extend_from_slice(&UNDEFINED.to_le_bytes());
        body.extend_from_slice(&[0x10, 0x00, 0x10, 0x00, b'U', b'N', 0, 0]);
        body.extend_from_slice(&0xE000_FFFEu32.to_le_bytes());
        body.extend_from_slice(b"Doe^John");
        refused(
            "1.2.840.10008.1.2.1",
            &body,
            "element (0010,0010)",
            "claims 3758161918 bytes",
        );
    }

    /// A header scan stops at PixelData, but checks its length against the file first.
    #[test]
    fn a_header_scan_checks_the_pixel_data_length() {
        let mut body = vec![0xE0, 0x7F, 0x10, 0x00, b'O', b'W', 0, 0];
        body.extend_from_slice(&0x4646_4646u32.to_le_bytes());
        body.extend_from_slice(&[0u8; 32]);
        let f = file("1.2.840.10008.1.2.1", &body);
        let e = check(&f[..], f.len() as u64, true).unwrap_err();
        assert!(
            e.starts_with("element (7FE0,0010)") && e.contains("claims 1179010630 bytes"),
            "{e}"
        );
        let mut ok = vec![0xE0, 0x7F, 0x10, 0x00, b'O', b'W', 0, 0];
        ok.extend_from_slice(&32u32.to_le_bytes());
        ok.extend_from_slice(&[0u8; 32]);
        let f = file("1.2.840.10008.1.2.1", &ok);
        check(&f[..], f.len() as u64, true).unwrap();
    }

    /// A group FFFE tag that is no item or delimiter has a value the parser reads.
    #[test]
    fn other_group_fffe_values_are_checked() {
        let body = implicit((0xFFFE, 0x0042), 0xE00C_0000, b"xx");
        refused(
            "1.2.840.10008.1.2.1",
            &body,
            "element (FFFE,0042)",
            "only 2 remain",
        );
    }

    /// An item after an empty sequence is a value to the parser, not a nested data set.
    #[test]
    fn an_item_outside_a_sequence_is_a_value() {
        let mut body = Vec::new();
        body.extend_from_slice(&[0x08, 0, 0x99, 0x11, b'S', b'Q', 0, 0, 0, 0, 0, 0]);
        body.extend(implicit((0xFFFE, 0xE000), 0xFFFF_FFEF, b"abcd"));
        refused(
            "1.2.840.10008.1.2.1",
            &body,
            "element (FFFE,E000)",
            "only 4 remain",
        );
    }

    /// A deflated data set that inflates a thousand-fold is refused before the parser
    /// allocates what it inflates to.
    #[test]
    fn a_decompression_bomb_is_refused() {
        use std::io::Write;
        let mut body = vec![0x09, 0, 0x10, 0, b'O', b'B', 0, 0];
        body.extend_from_slice(&(4u32 << 20).to_le_bytes());
        body.resize(body.len() + (4 << 20), 0);
        let mut z = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
        z.write_all(&body).unwrap();
        let f = file(DEFLATED, &z.finish().unwrap());
        let e = check(&f[..], f.len() as u64, false).unwrap_err();
        assert!(
            e.ends_with("would inflate to over 64 times the file's size"),
            "{e}"
        );
        check(&f[..], 1 << 20, false).unwrap();
    }

    /// A binary number's odd length: the parser reads whole numbers and goes on from there
    /// (found by fuzzing: an UL of 11 bytes put the parser 3 bytes off the walk, where it
    /// read a 4 GB length).
    #[test]
    fn binary_numbers_are_read_whole() {
        let mut body = implicit((0x0002, 0x0000), 11, &[0; 8]);
        body.extend_from_slice(&[0, 0, 0, 0, 4, 0xFF, 0xFF, 0xFF, 1, 2]);
        refused(
            "1.2.840.10008.1.2",
            &body,
            "element (0000,0000)",
            "claims 4294967044",
        );
    }

    /// The group length's VR does not matter to the parser, nor here.
    #[test]
    fn any_group_length_vr_is_followed() {
        let mut f = file("1.2.840.10008.1.2.1", &[0x20, 0x28, 0, 2, b'U', b'N', 0, 0]);
        f[136..138].copy_from_slice(b"SL");
        f.extend_from_slice(&0x2800_0000u32.to_le_bytes());
        let e = check(&f[..], 1 << 20, true).unwrap_err();
        assert!(e.starts_with("element (2820,0200)"), "{e}");
    }

    /// A stray delimiter's length is a value to the parser.
    #[test]
    fn a_stray_delimiter_is_a_value() {
        let body = implicit((0xFFFE, 0xE0DD), 0x3100_0000, b"xyz");
        refused(
            "1.2.840.10008.1.2",
            &body,
            "element (FFFE,E0DD)",
            "only 3 remain",
        );
    }

    /// Directly in a sequence, a tag that is no item is read as an item header with a value.
    #[test]
    fn a_non_item_in_a_sequence_is_a_value() {
        let mut body = vec![0x08, 0, 0x15, 0x11, b'S', b'Q', 0, 0];
        body.extend_from_slice(&UNDEFINED.to_le_bytes());
        body.extend(implicit((0x0000, 0x0000), 0x9205_0008, b"CS"));
        refused(
            "1.2.840.10008.1.2.1",
            &body,
            "element (0000,0000)",
            "only 2 remain",
        );
    }

    /// A header scan stops at the top-level pixel data; a full read checks its fragments.
    #[test]
    fn fragments_are_skipped_by_their_lengths() {
        let mut px = Vec::new();
        px.extend_from_slice(&[0xE0, 0x7F, 0x10, 0x00, b'O', b'B', 0, 0]);
        px.extend_from_slice(&UNDEFINED.to_le_bytes());
        px.extend(implicit((0xFFFE, 0xE000), 0, &[]));
        px.extend(implicit((0xFFFE, 0xE000), 1000, &[1, 2, 3, 4]));
        let f = file("1.2.840.10008.1.2.5", &px);
        check(&f[..], 1 << 20, true).unwrap();
        let e = check(&f[..], 1 << 20, false).unwrap_err();
        assert!(
            e.starts_with("element (FFFE,E000)") && e.contains("only 4 remain"),
            "{e}"
        );
    }

    /// The bound the parser runs under is the file's size (times the inflation allowed for a
    /// deflated data set), plus a header scan's slack for PixelData.
    #[test]
    fn the_parser_bound_follows_the_file() {
        let plain = file("1.2.840.10008.1.2.1", &[]);
        let n = plain.len() as u64;
        assert_eq!(check(&plain[..], n, false), Ok(n + PARSER_SLACK));
        assert_eq!(
            check(&plain[..], n, true),
            Ok(n + SCAN_SLACK + PARSER_SLACK)
        );
        let deflated = file(DEFLATED, &[0x03, 0x00]);
        let n = deflated.len() as u64;
        assert_eq!(
            check(&deflated[..], n, false),
            Ok(n * MAX_INFLATION + PARSER_SLACK)
        );
    }

    /// The bound is a backstop for any length the walk reads differently from the parser:
    /// under it, the parser's own reading of a 100 MB value in a small file fails to allocate
    /// instead of allocating (the walk is bypassed here on purpose).
    #[test]
    fn the_parser_cannot_allocate_past_the_bound() {
        let mut body = vec![0x10, 0x00, 0x10, 0x00, b'O', b'B', 0, 0];
        body.extend_from_slice(&100_000_000u32.to_le_bytes());
        body.extend_from_slice(b"Doe^John");
        let f = file("1.2.840.10008.1.2.1", &body);
        let parse = || dicom_object::OpenFileOptions::new().from_reader(&f[128..]);
        let bounded = ctplan_core::alloc::with_limit(1 << 20, parse).unwrap_err();
        let msg = crate::files::parse_message(&bounded);
        assert!(msg.contains("Could not reserve memory"), "{msg}");
        // Unbounded, the same bytes get as far as reading the value.
        let unbounded = crate::files::parse_message(&parse().unwrap_err());
        assert!(!unbounded.contains("reserve memory"), "{unbounded}");
    }
}
