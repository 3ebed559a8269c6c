//! The browser application's files, embedded in the binary so that the portal works offline
//! (an operating room has no internet): the page's script and style, and three.js (vendored
//! from the npm registry at a pinned version by `tools/vendor-three.sh`, its MIT licence kept
//! beside it). Served at `/assets/...` to anyone (they hold no data), immutable for an hour.

use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

macro_rules! asset {
    ($path:literal, $mime:literal) => {
        (
            $path,
            $mime,
            include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/assets/", $path)) as &[u8],
        )
    };
}

/// Every file under `/assets/`: its path there, its media type and its bytes.
pub const FILES: &[(&str, &str, &[u8])] = &[
    asset!("app.js", "text/javascript"),
    asset!("viewer.js", "text/javascript"),
    asset!("app.css", "text/css"),
    asset!("vendor/three/three.module.js", "text/javascript"),
    asset!("vendor/three/three.core.js", "text/javascript"),
    asset!("vendor/three/controls/OrbitControls.js", "text/javascript"),
    asset!("vendor/three/loaders/GLTFLoader.js", "text/javascript"),
    asset!(
        "vendor/three/utils/BufferGeometryUtils.js",
        "text/javascript"
    ),
    asset!("vendor/three/utils/SkeletonUtils.js", "text/javascript"),
    asset!(
        "vendor/three/libs/meshopt_decoder.module.js",
        "text/javascript"
    ),
    asset!("vendor/three/LICENSE", "text/plain"),
    asset!("vendor/three/VERSION.txt", "text/plain"),
];

/// `GET /assets/{*path}`: one of [`FILES`], else 404.
pub async fn get(Path(path): Path<String>) -> Response {
    let Some((_, mime, bytes)) = FILES.iter().find(|(p, _, _)| *p == path) else {
        return (StatusCode::NOT_FOUND, "no such asset").into_response();
    };
    let mut resp = bytes.into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(mime));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_vendored_modules_import_only_vendored_files() {
        for (path, mime, bytes) in FILES {
            if *mime != "text/javascript" {
                continue;
            }
            let text = std::str::from_utf8(bytes).unwrap();
            for line in text.lines() {
                let line = line.trim();
                // An import or re-export: its specifier is a relative or /assets/ path that is
                // itself in the table (the bare 'three' was rewritten when vendoring).
                if !(line.starts_with("import ")
                    || line.starts_with("} from ")
                    || line.starts_with("export {"))
                    || !line.contains(" from '")
                {
                    continue;
                }
                let spec = line
                    .split(" from '")
                    .nth(1)
                    .unwrap()
                    .split('\'')
                    .next()
                    .unwrap();
                let resolved = if let Some(abs) = spec.strip_prefix("/assets/") {
                    abs.to_string()
                } else {
                    let mut parts: Vec<&str> = path.split('/').collect();
                    parts.pop();
                    for s in spec.split('/') {
                        match s {
                            "." => {}
                            ".." => {
                                parts.pop();
                            }
                            s => parts.push(s),
                        }
                    }
                    parts.join("/")
                };
                assert!(
                    FILES.iter().any(|(p, _, _)| *p == resolved),
                    "{path} imports {spec}, which is not served"
                );
            }
        }
    }
}
