//! The page served at `/`: one HTML file with its script and style inline, embedded in the
//! binary (no CDN, nothing fetched from elsewhere), which talks to the API like any other
//! client. Its content security policy allows nothing but this page's own script and style
//! (by their SHA-256, CSP Level 2 hash sources) and requests to the portal itself.

use std::sync::LazyLock;

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

/// The page's HTML.
pub const INDEX: &str = include_str!("page.html");

/// The text between `<tag>` and `</tag>` in the page (empty when absent).
fn inline(tag: &str) -> &'static str {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    INDEX
        .split_once(&open)
        .and_then(|(_, rest)| rest.split_once(&close))
        .map_or("", |(body, _)| body)
}

/// Standard base64 with padding (RFC 4648 §4).
fn base64(bytes: &[u8]) -> String {
    const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for c in bytes.chunks(3) {
        let n = (c[0] as u32) << 16
            | (*c.get(1).unwrap_or(&0) as u32) << 8
            | *c.get(2).unwrap_or(&0) as u32;
        for k in 0..4 {
            if k <= c.len() {
                out.push(ABC[(n >> (18 - 6 * k) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// The `'sha256-...'` source of an inline element's text.
fn hash_source(text: &str) -> String {
    format!("'sha256-{}'", base64(&Sha256::digest(text.as_bytes())))
}

/// The page's content security policy.
pub static POLICY: LazyLock<String> = LazyLock::new(|| {
    format!(
        "default-src 'none'; script-src {}; style-src {}; connect-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'",
        hash_source(inline("script")),
        hash_source(inline("style"))
    )
});

/// `GET /`: the page, with [`POLICY`].
pub async fn index() -> Response {
    let mut resp = axum::response::Html(INDEX).into_response();
    if let Ok(v) = HeaderValue::from_str(&POLICY) {
        resp.headers_mut()
            .insert(header::CONTENT_SECURITY_POLICY, v);
    }
    resp.headers_mut().insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc_4648_vectors() {
        let cases = [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foobar", "Zm9vYmFy"),
        ];
        for (plain, coded) in cases {
            assert_eq!(base64(plain.as_bytes()), coded);
        }
    }

    #[test]
    fn the_policy_names_the_page_s_own_script_and_style_only() {
        assert!(inline("script").contains("api(\"POST\", \"/api/login\""));
        assert!(inline("style").contains("font:"));
        assert!(!POLICY.contains("unsafe-inline"));
        assert_eq!(POLICY.matches("'sha256-").count(), 2);
        // No resource from elsewhere in the page.
        assert!(!INDEX.contains("http://") && !INDEX.contains("https://"));
    }
}
