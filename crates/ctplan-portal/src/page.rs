//! The page served at `/`: a small HTML shell embedded in the binary whose script and style
//! are the portal's own files under `/assets/` ([`crate::assets`]; no CDN, nothing fetched
//! from elsewhere), and which talks to the API like any other client. Its content security
//! policy allows scripts, styles and requests from the portal itself only, no inline script,
//! and WebAssembly compilation (`'wasm-unsafe-eval'`, CSP Level 3), which the meshopt decoder
//! of the viewer needs; nothing may frame the page.

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

/// The page's HTML.
pub const INDEX: &str = include_str!("../assets/index.html");

/// The page's content security policy.
pub const POLICY: &str = "default-src 'none'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; img-src 'self' blob: data:; connect-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'";

/// `GET /`: the page, with [`POLICY`].
pub async fn index() -> Response {
    let mut resp = axum::response::Html(INDEX).into_response();
    if let Ok(v) = HeaderValue::from_str(POLICY) {
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
    fn the_page_has_no_inline_script_or_style_and_nothing_from_elsewhere() {
        assert!(!POLICY.contains("unsafe-inline") && !POLICY.contains("'unsafe-eval'"));
        assert!(!INDEX.contains("<style") && !INDEX.contains("style="));
        // Every script is a file of the portal's own.
        for tag in INDEX.split("<script").skip(1) {
            assert!(
                tag.trim_start()
                    .starts_with("type=\"module\" src=\"/assets/"),
                "{tag}"
            );
        }
        for text in std::iter::once(INDEX).chain(
            crate::assets::FILES
                .iter()
                .filter(|(p, _, _)| !p.starts_with("vendor/"))
                .map(|(_, _, b)| std::str::from_utf8(b).unwrap()),
        ) {
            assert!(!text.contains("http://") && !text.contains("https://"));
        }
    }
}
