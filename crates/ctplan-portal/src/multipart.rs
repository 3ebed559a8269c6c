//! MIME multipart bodies held in memory (RFC 2046 §5.1; `multipart/form-data`, RFC 7578, is
//! what a browser sends for a dropped folder; `multipart/related`, RFC 2387, is what a DICOMweb
//! STOW-RS client sends, DICOM PS3.18 §10.5): the media type's parameters, then the body split
//! into parts at its boundary, each part its headers and a slice of the body (nothing copied).
//!
//! The parser is bounded: at most a given number of parts (the caller's limit, answered 413),
//! part headers of at most [`MAX_HEADER_BYTES`], and it fails in words (400) on a body that is
//! not what its media type says: no boundary, no opening delimiter, no closing one (a body cut
//! off), a part without the blank line ending its headers.

use std::collections::HashMap;

/// The longest header block of one part (a `Content-Disposition` with a long file name fits
/// many times over).
pub const MAX_HEADER_BYTES: usize = 16 << 10;

/// Why a multipart body was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MultipartError {
    /// Not a well-formed multipart body (or media type); in words.
    Malformed(String),
    /// More parts than allowed (the limit).
    TooManyParts(usize),
}

impl std::fmt::Display for MultipartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MultipartError::Malformed(m) => write!(f, "malformed multipart body: {m}"),
            MultipartError::TooManyParts(n) => {
                write!(f, "the multipart body has more than the {n} parts allowed")
            }
        }
    }
}

/// A media type: `type/subtype` in lower case and its parameters (names in lower case, values
/// unquoted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaType {
    /// `type/subtype`, lower case.
    pub essence: String,
    /// Parameters by lower-case name.
    pub params: HashMap<String, String>,
}

/// Parse a `Content-Type` value (RFC 9110 §8.3.1): `type/subtype *( ; name=value )`, values
/// plain tokens or quoted strings (with `\` escapes). `None` when there is no `type/subtype`.
pub fn media_type(value: &str) -> Option<MediaType> {
    let (essence, mut rest) = value.split_once(';').unwrap_or((value, ""));
    let essence = essence.trim().to_ascii_lowercase();
    if !essence.contains('/') {
        return None;
    }
    let mut params = HashMap::new();
    loop {
        rest = rest.trim_start_matches([' ', '\t', ';']);
        if rest.is_empty() {
            break;
        }
        let Some((name, after)) = rest.split_once('=') else {
            break;
        };
        let name = name.trim().to_ascii_lowercase();
        let after = after.trim_start();
        let (val, next) = if let Some(q) = after.strip_prefix('"') {
            let mut val = String::new();
            let mut chars = q.char_indices();
            let mut end = q.len();
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => {
                        if let Some((_, e)) = chars.next() {
                            val.push(e);
                        }
                    }
                    '"' => {
                        end = i + 1;
                        break;
                    }
                    c => val.push(c),
                }
            }
            (val, &q[end.min(q.len())..])
        } else {
            let (v, n) = after.split_once(';').unwrap_or((after, ""));
            (v.trim().to_string(), n)
        };
        params.insert(name, val);
        rest = next;
    }
    Some(MediaType { essence, params })
}

/// One part of a multipart body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part<'a> {
    /// Its headers, names in lower case, in order.
    pub headers: Vec<(String, String)>,
    /// Its content.
    pub body: &'a [u8],
}

impl Part<'_> {
    /// The first header named `name` (lower case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The part's media type, `type/subtype` in lower case (`None` without `Content-Type`).
    pub fn content_type(&self) -> Option<String> {
        self.header("content-type")
            .and_then(media_type)
            .map(|m| m.essence)
    }
}

/// The first occurrence of `needle` in `hay` at or after `from`.
fn find(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    let first = *needle.first()?;
    let mut i = from;
    while i + needle.len() <= hay.len() {
        let j = hay[i..=hay.len() - needle.len()]
            .iter()
            .position(|&b| b == first)?;
        i += j;
        if &hay[i..i + needle.len()] == needle {
            return Some(i);
        }
        i += 1;
    }
    None
}

/// Whether the delimiter ending at `at` is a whole delimiter line: followed by `--` (the
/// close), or transport padding and a line break.
fn delimiter_line(body: &[u8], at: usize) -> bool {
    let rest = &body[at..];
    if rest.starts_with(b"--") {
        return true;
    }
    let pad = rest
        .iter()
        .take_while(|&&b| b == b' ' || b == b'\t')
        .count();
    rest[pad..].starts_with(b"\r\n")
}

/// The next delimiter line at or after `from` (a delimiter followed by anything else is
/// content, so that a sender's unlucky bytes do not split a part).
fn next_delimiter(body: &[u8], delim: &[u8], from: usize) -> Option<usize> {
    let mut at = from;
    loop {
        let i = find(body, delim, at)?;
        if delimiter_line(body, i + delim.len()) {
            return Some(i);
        }
        at = i + 1;
    }
}

/// The boundary of a multipart media type: 1–70 characters (RFC 2046 §5.1.1).
pub fn boundary(mt: &MediaType) -> Result<&str, MultipartError> {
    let b = mt.params.get("boundary").map(String::as_str).unwrap_or("");
    if b.is_empty() || b.len() > 70 {
        return Err(MultipartError::Malformed(
            "the Content-Type has no boundary parameter of 1 to 70 characters".into(),
        ));
    }
    Ok(b)
}

/// Split `body` into its parts at `boundary`; at most `max_parts` (more: `TooManyParts`). The
/// preamble before the first delimiter and the epilogue after the closing one are ignored, as
/// RFC 2046 says; a body without the closing delimiter (`--boundary--`) was cut off and is
/// refused, so that an interrupted upload is never taken for a shorter complete one.
pub fn parts<'a>(
    body: &'a [u8],
    boundary: &str,
    max_parts: usize,
) -> Result<Vec<Part<'a>>, MultipartError> {
    let bad = |m: &str| MultipartError::Malformed(m.to_string());
    let delim = format!("\r\n--{boundary}");
    let delim = delim.as_bytes();
    // The first delimiter may open the body, without the line break before it.
    let mut pos = if body.starts_with(&delim[2..]) {
        delim.len() - 2
    } else {
        next_delimiter(body, delim, 0).ok_or_else(|| bad("no opening boundary delimiter"))?
            + delim.len()
    };
    let mut out = Vec::new();
    loop {
        // After a delimiter: `--` closes the body; else transport padding and a line break.
        if body[pos..].starts_with(b"--") {
            return Ok(out);
        }
        while matches!(body.get(pos), Some(b' ' | b'\t')) {
            pos += 1;
        }
        if !body[pos..].starts_with(b"\r\n") {
            return Err(bad(
                "a boundary delimiter is not followed by a line break (or the body is cut off)",
            ));
        }
        pos += 2;
        if out.len() == max_parts {
            return Err(MultipartError::TooManyParts(max_parts));
        }
        let end = next_delimiter(body, delim, pos).ok_or_else(|| {
            bad("no closing boundary delimiter: the body is cut off or the boundary is wrong")
        })?;
        let part = &body[pos..end];
        let (head, content) = if part.starts_with(b"\r\n") {
            (&part[..0], &part[2..])
        } else {
            let h = find(part, b"\r\n\r\n", 0)
                .ok_or_else(|| bad("a part's headers do not end with a blank line"))?;
            (&part[..h], &part[h + 4..])
        };
        if head.len() > MAX_HEADER_BYTES {
            return Err(bad("a part's headers are longer than 16 KiB"));
        }
        let head = std::str::from_utf8(head).map_err(|_| bad("a part's headers are not text"))?;
        let mut headers = Vec::new();
        for line in head.split("\r\n").filter(|l| !l.is_empty()) {
            let (n, v) = line
                .split_once(':')
                .ok_or_else(|| bad("a part's header line has no ':'"))?;
            headers.push((n.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
        out.push(Part {
            headers,
            body: content,
        });
        pos = end + delim.len();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_types_with_quoted_parameters() {
        let m = media_type(r#"Multipart/Related; type="application/dicom"; boundary="a b\"c""#)
            .unwrap();
        assert_eq!(m.essence, "multipart/related");
        assert_eq!(m.params["type"], "application/dicom");
        assert_eq!(m.params["boundary"], "a b\"c");
        let m = media_type("multipart/form-data; boundary=----x").unwrap();
        assert_eq!(boundary(&m).unwrap(), "----x");
        assert!(media_type("nonsense").is_none());
        let none = media_type("multipart/related").unwrap();
        assert!(boundary(&none).is_err());
    }

    #[test]
    fn parts_split_at_the_boundary_and_cut_bodies_are_refused() {
        let body = b"preamble\r\n--XY\r\nContent-Type: application/dicom\r\n\r\nab\r\n--XYc\r\n--XY  \r\n\r\n\r\n--XY--\r\nepilogue";
        let p = parts(body, "XY", 10).unwrap();
        assert_eq!(p.len(), 2);
        assert_eq!(p[0].content_type().as_deref(), Some("application/dicom"));
        // The boundary inside content without a line break before it is content.
        assert_eq!(p[0].body, b"ab\r\n--XYc");
        assert_eq!(p[1].body, b"");
        // Opening the body directly works too.
        let p = parts(b"--XY\r\nA: b\r\n\r\nz\r\n--XY--", "XY", 10).unwrap();
        assert_eq!((p[0].header("a"), p[0].body), (Some("b"), &b"z"[..]));
        assert_eq!(
            parts(b"--XY\r\n\r\nz\r\n--XY\r\n\r\nz\r\n--XY--", "XY", 1),
            Err(MultipartError::TooManyParts(1))
        );
        for cut in [
            &b"--XY\r\n\r\nz"[..],
            b"--XY\r\n\r\nz\r\n--XY",
            b"no boundary here",
            b"--XY\r\nA: b\r\nz\r\n--XY--",
            b"--XY\r\nno colon\r\n\r\nz\r\n--XY--",
        ] {
            assert!(
                matches!(parts(cut, "XY", 10), Err(MultipartError::Malformed(_))),
                "{}",
                String::from_utf8_lossy(cut)
            );
        }
    }
}
