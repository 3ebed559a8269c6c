//! Interactive planning on a built lung model: the viewer's resection requests (a bronchus,
//! segment or lobe name, or a picked point; the margin; FEV1) answered by
//! `ctplan_lung::plan_case` on the case's analysed model held in memory.
//!
//! The lung job stores the model's masks (`model/*.nrrd`). The first request on a case reads
//! them back and analyses them (`ctplan_lung::analyse`, the airway tree and the territories:
//! seconds); the analysed model is then kept, with the tables later plans derive from it, for
//! the few most recently planned cases ([`MODELS_KEPT`]), so that every further request is a
//! resection on a loaded model (milliseconds). Reading a model also runs one plan without
//! targets, which builds the tables later plans derive (the nodule's margin table), and
//! requests arriving together wait for one read rather than each reading it. A model is read again when its job has run
//! again since it was loaded.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use ctplan_lung::resection::{Margin, Target};
use serde::Deserialize;

use crate::auth::{Session, json_body};
use crate::store::Case;
use crate::{ApiError, Portal};

/// Analysed models kept in memory (each holds the case's masks and tables: a few hundred MB
/// for a whole chest at 1 mm).
pub const MODELS_KEPT: usize = 2;

/// The folder of a case holding the model's masks, as the lung job writes them.
pub const MODEL_DIR: &str = "model";

/// The models in memory, most recently used last.
#[derive(Default)]
pub struct Models {
    kept: Mutex<Vec<Loaded>>,
    /// Held while a model is read, so that requests arriving together read it once.
    loading: tokio::sync::Mutex<()>,
    /// The CT and label map of the case whose slices were last asked for.
    slices: Mutex<Option<Arc<SliceData>>>,
}

struct Loaded {
    case: String,
    /// When the model's masks were written (a job run again replaces them).
    stamp: Option<std::time::SystemTime>,
    model: Arc<ctplan_lung::Model>,
}

impl Models {
    fn get(
        &self,
        case: &str,
        stamp: Option<std::time::SystemTime>,
    ) -> Option<Arc<ctplan_lung::Model>> {
        let mut kept = self.kept.lock().unwrap_or_else(|p| p.into_inner());
        let i = kept
            .iter()
            .position(|l| l.case == case && l.stamp == stamp)?;
        let l = kept.remove(i);
        let model = l.model.clone();
        kept.push(l);
        Some(model)
    }

    fn put(
        &self,
        case: &str,
        stamp: Option<std::time::SystemTime>,
        model: Arc<ctplan_lung::Model>,
    ) {
        let mut kept = self.kept.lock().unwrap_or_else(|p| p.into_inner());
        kept.retain(|l| l.case != case);
        kept.push(Loaded {
            case: case.to_string(),
            stamp,
            model,
        });
        while kept.len() > MODELS_KEPT {
            kept.remove(0);
        }
    }
}

/// When the case's model was written (a job run again replaces it); `None` before it was.
fn stamp(portal: &Portal, case: &Case) -> Option<std::time::SystemTime> {
    let masks = portal.store().case_dir(case).join(MODEL_DIR);
    std::fs::metadata(masks.join("airway.nrrd"))
        .and_then(|m| m.modified())
        .ok()
}

/// The analysed model of a case, from memory or read from its `model/` folder.
pub async fn model(portal: &Portal, case: &Case) -> Result<Arc<ctplan_lung::Model>, ApiError> {
    let dir = portal.store().case_dir(case).join(MODEL_DIR);
    let stamp = stamp(portal, case);
    if stamp.is_none() {
        return Err(ApiError::new(
            axum::http::StatusCode::CONFLICT,
            "the case has no model yet: run its job first",
        ));
    }
    if let Some(m) = portal.models().get(&case.id, stamp) {
        return Ok(m);
    }
    let _loading = portal.models().loading.lock().await;
    if let Some(m) = portal.models().get(&case.id, stamp) {
        return Ok(m);
    }
    let loaded = tokio::task::spawn_blocking(move || -> Result<ctplan_lung::Model, String> {
        match ctplan_lung::segment::input::read(&dir).map_err(|e| e.to_string())? {
            ctplan_lung::segment::input::Source::Anatomy(a) => {
                let model = ctplan_lung::analyse(*a, &[]).map_err(|e| e.to_string())?;
                // One plan without targets builds the tables every later plan derives from
                // the model (the nodule's margin table among them), so that the first
                // request of the user is as quick as the next.
                ctplan_lung::plan_case(&model, &ctplan_lung::Request::default())
                    .map_err(|e| e.to_string())?;
                Ok(model)
            }
            ctplan_lung::segment::input::Source::Ct(_) => {
                Err("the model folder holds a CT, not masks".into())
            }
        }
    })
    .await
    .map_err(ApiError::internal)?
    .map_err(|e| ApiError::internal(format!("the case's model cannot be read: {e}")))?;
    let model = Arc::new(loaded);
    portal.models().put(&case.id, stamp, model.clone());
    Ok(model)
}

/// One thing to resect: a name (`"RB1"`, `"RS3"`, `"RUL"`, `"#17"`) or a point `[x, y, z]`
/// (LPS mm; the branch nearest to it).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum TargetJson {
    /// A bronchus, segment or lobe name, or `#N` for branch N.
    Name(String),
    /// A picked point, LPS mm.
    Point([f64; 3]),
}

/// `POST /api/cases/{case}/resect`'s body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResectRequest {
    /// What to resect (empty: the analysis and the single-segment table only).
    #[serde(default)]
    pub targets: Vec<TargetJson>,
    /// Pre-operative FEV1, litres (0.1–10).
    pub fev1: Option<f64>,
    /// Required margin as a multiple of the nodule's diameter (0–10; default 2).
    pub margin_k: Option<f64>,
}

impl ResectRequest {
    /// The library's request, the values checked (400 in words otherwise).
    pub fn checked(self) -> Result<ctplan_lung::Request, ApiError> {
        if self.targets.len() > 20 {
            return Err(ApiError::bad_request("at most 20 targets at once"));
        }
        let mut targets = Vec::new();
        for t in self.targets {
            targets.push(match t {
                TargetJson::Name(n) if !n.is_empty() && n.len() <= 32 => Target::Name(n),
                TargetJson::Name(_) => {
                    return Err(ApiError::bad_request(
                        "a target name has 1 to 32 characters",
                    ));
                }
                TargetJson::Point(p) if p.iter().all(|v| v.is_finite() && v.abs() <= 1e5) => {
                    Target::Point(p)
                }
                TargetJson::Point(_) => {
                    return Err(ApiError::bad_request(
                        "a target point is three finite numbers within ±100000 mm",
                    ));
                }
            });
        }
        let fev1 = match self.fev1 {
            Some(f) if !(0.1..=10.0).contains(&f) => {
                return Err(ApiError::bad_request("fev1 is in litres, 0.1 to 10"));
            }
            f => f,
        };
        let k = self.margin_k.unwrap_or(2.0);
        if !(0.0..=10.0).contains(&k) {
            return Err(ApiError::bad_request("margin_k is 0 to 10"));
        }
        Ok(ctplan_lung::Request {
            targets,
            fev1,
            margin: Margin::Ratio(k),
        })
    }
}

/// A resection request on the lung case `id` the session's user sees: its loaded model and the
/// checked request.
async fn asked(
    portal: &Portal,
    session: &Session,
    id: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(Arc<ctplan_lung::Model>, ctplan_lung::Request), ApiError> {
    let case = crate::cases::visible(portal, session, id)?;
    if case.kind != "lung" {
        return Err(ApiError::bad_request("only a lung case is resected"));
    }
    let request = json_body::<ResectRequest>(headers, body)?.checked()?;
    Ok((model(portal, &case).await?, request))
}

/// `POST /api/cases/{case}/resect`: the plan of the resection asked for (the report of
/// `ctplan lung plan --json`: resected segments, volumes, ppoFEV1, the margin verdict and the
/// extensions that would meet it, the vessels crossing the plane), with `ms`, the time the
/// plan took on the loaded model. Any member who sees the case may ask (it changes nothing;
/// not audited, unlike opening the case).
pub async fn resect(
    State(portal): State<Portal>,
    axum::Extension(session): axum::Extension<Session>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<serde_json::Value>, ApiError> {
    let (model, request) = asked(&portal, &session, &id, &headers, &body).await?;
    let (report, ms) = tokio::task::spawn_blocking(move || {
        let t = Instant::now();
        let r = ctplan_lung::plan_case(&model, &request);
        (r, t.elapsed().as_secs_f64() * 1e3)
    })
    .await
    .map_err(ApiError::internal)?;
    let report = report.map_err(|e| ApiError::bad_request(e.to_string()))?;
    let mut json = serde_json::to_value(&report).map_err(ApiError::internal)?;
    json["ms"] = serde_json::json!((ms * 10.0).round() / 10.0);
    Ok(Json(json))
}

/// `POST /api/cases/{case}/plane`: the intersegmental plane of the resection asked for (the
/// same body as [`resect`]): the boundary between resected and kept lung
/// (`ctplan_lung::case::scene::plane`) as a one-part glTF, meshopt-compressed; an empty scene
/// when nothing is resected. Separate from the plan itself, which answers at once, because
/// meshing the resected region takes longer than planning it.
pub async fn plane(
    State(portal): State<Portal>,
    axum::Extension(session): axum::Extension<Session>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<axum::response::Response, ApiError> {
    use axum::http::{HeaderValue, header};
    use axum::response::IntoResponse;
    let (model, request) = asked(&portal, &session, &id, &headers, &body).await?;
    let glb = tokio::task::spawn_blocking(move || -> Result<Vec<u8>, String> {
        let report = ctplan_lung::plan_case(&model, &request).map_err(|e| e.to_string())?;
        let mesh = match &report.resected {
            Some(set) => ctplan_lung::case::scene::plane(&model, set),
            None => ctplan_mesh::TriMesh::default(),
        };
        let parts: Vec<ctplan_mesh::formats::Part> = (!mesh.triangles.is_empty())
            .then_some(ctplan_mesh::formats::Part {
                name: "intersegmental plane",
                mesh: &mesh,
                color: [0.1, 0.9, 0.2, 0.7],
            })
            .into_iter()
            .collect();
        Ok(ctplan_mesh::formats::glb_meshopt(&parts))
    })
    .await
    .map_err(ApiError::internal)?
    .map_err(ApiError::bad_request)?;
    let mut resp = glb.into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("model/gltf-binary"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(resp)
}

/// A case's CT and label map, for slices (one case at a time: the CT is the largest thing the
/// portal holds).
pub struct SliceData {
    case: String,
    stamp: Option<std::time::SystemTime>,
    ct: ctplan_core::Volume<i16>,
    labels: ctplan_core::Volume<u8>,
    colors: Box<[Option<[f64; 3]>; 256]>,
    grid: String,
}

/// `axis` and `index` of a query string (`axis=2&index=70`); `None` when either is missing or
/// not a number.
fn slice_query(q: Option<&str>) -> Option<(usize, usize)> {
    let (mut axis, mut index) = (None, None);
    for pair in q?.split('&') {
        match pair.split_once('=') {
            Some(("axis", v)) => axis = v.parse().ok(),
            Some(("index", v)) => index = v.parse().ok(),
            _ => {}
        }
    }
    Some((axis?, index?))
}

/// `GET /api/cases/{case}/slice?axis=A&index=I`: one plane of the case's CT in the lung
/// window with the model's labels over it (`ctplan_lung::case::pictures::ct_slice`), as PNG,
/// one pixel per voxel; the header `X-Ctplan-Grid` gives the grid as JSON (`dims`, `spacing`,
/// `origin`, `direction`: index → LPS mm), from which the viewer links the slice to the 3-D
/// cursor.
pub async fn slice(
    State(portal): State<Portal>,
    axum::Extension(session): axum::Extension<Session>,
    Path(id): Path<String>,
    axum::extract::RawQuery(query): axum::extract::RawQuery,
) -> Result<axum::response::Response, ApiError> {
    use axum::http::{HeaderValue, header};
    use axum::response::IntoResponse;
    let case = crate::cases::visible(&portal, &session, &id)?;
    let (axis, index) = slice_query(query.as_deref()).ok_or_else(|| {
        ApiError::bad_request("give axis (0, 1 or 2) and index, e.g. ?axis=2&index=70")
    })?;
    let model = model(&portal, &case).await?;
    let stamp = stamp(&portal, &case);
    let cached = {
        let s = portal
            .models()
            .slices
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        s.as_ref()
            .filter(|d| d.case == case.id && d.stamp == stamp)
            .cloned()
    };
    let data = match cached {
        Some(d) => d,
        None => {
            let ct_path = portal.store().case_dir(&case).join("ct.nrrd");
            let case_id = case.id.clone();
            let d = tokio::task::spawn_blocking(move || -> Result<SliceData, String> {
                let image = ctplan_io::read(&ct_path).map_err(|e| e.to_string())?;
                let ct = ctplan_lung::segment::hounsfield(&image.volume);
                let (labels, segments) = ctplan_lung::case::labels::label_map(&model);
                let mut colors = Box::new([None; 256]);
                for s in &segments {
                    if let Some(c) = colors.get_mut(s.label_value as usize) {
                        *c = Some(s.color);
                    }
                }
                let g = ct.geometry;
                let grid = serde_json::json!({
                    "dims": ct.dims, "spacing": g.spacing, "origin": g.origin, "direction": g.direction,
                })
                .to_string();
                Ok(SliceData {
                    case: case_id,
                    stamp,
                    ct,
                    labels,
                    colors,
                    grid,
                })
            })
            .await
            .map_err(ApiError::internal)?
            .map_err(|e| ApiError::internal(format!("the case's CT cannot be read: {e}")))?;
            let d = Arc::new(d);
            *portal
                .models()
                .slices
                .lock()
                .unwrap_or_else(|p| p.into_inner()) = Some(d.clone());
            d
        }
    };
    let d = data.clone();
    let png = tokio::task::spawn_blocking(move || {
        ctplan_lung::case::pictures::ct_slice(&d.ct, &d.labels, &d.colors, axis, index)
            .map(|img| ctplan_io::png::encode_rgb(img.width, img.height, &img.rgb))
    })
    .await
    .map_err(ApiError::internal)?
    .ok_or_else(|| ApiError::bad_request("axis is 0, 1 or 2 and index inside the grid"))?;
    let mut resp = png.into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("image/png"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Ok(v) = HeaderValue::from_str(&data.grid) {
        h.insert("x-ctplan-grid", v);
    }
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(json: &str) -> Result<ctplan_lung::Request, ApiError> {
        serde_json::from_str::<ResectRequest>(json)
            .unwrap()
            .checked()
    }

    #[test]
    fn names_and_points_are_targets_and_values_are_bounded() {
        let r = req(r#"{"targets": ["RB1", [-60.5, 70, 1]], "fev1": 2.5}"#).unwrap();
        assert!(matches!(&r.targets[0], Target::Name(n) if n == "RB1"));
        assert!(matches!(r.targets[1], Target::Point([-60.5, 70.0, 1.0])));
        assert_eq!(r.fev1, Some(2.5));
        assert!(req(r#"{"targets": [[1e9, 0, 0]]}"#).is_err());
        assert!(req(r#"{"fev1": 50}"#).is_err());
        assert!(req(r#"{"margin_k": -1}"#).is_err());
        assert!(req(r#"{"targets": [""]}"#).is_err());
        assert!(serde_json::from_str::<ResectRequest>(r#"{"evil": 1}"#).is_err());
        assert_eq!(slice_query(Some("index=70&axis=2")), Some((2, 70)));
        assert_eq!(slice_query(Some("axis=2")), None);
        assert_eq!(slice_query(Some("axis=x&index=1")), None);
        assert_eq!(slice_query(None), None);
    }
}
