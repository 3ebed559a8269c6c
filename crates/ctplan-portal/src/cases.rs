//! Cases and who sees them. A case belongs to a team; its members see it, and so do the teams
//! and users it is shared with. Anybody else is told 404, exactly as for a case that does not
//! exist. Opening, changing, sharing and downloading a case each append an audit row.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use crate::auth::{Session, json_body};
use crate::store::{Case, Role};
use crate::{ApiError, Portal};

/// The files of a case a user may download, by name: the stored CT (decoded, de-identified;
/// of a cranial case, the CT or skull mask uploaded), the results of the lung job, and those of
/// the implant job ([`crate::implant`]).
pub const FILES: &[(&str, &str)] = &[
    ("ct.nrrd", "application/octet-stream"),
    ("model.json", "application/json"),
    ("report.json", "application/json"),
    ("implant.stl", "model/stl"),
    ("implant.ply", "application/octet-stream"),
    ("implant.nrrd", "application/octet-stream"),
    ("scene.glb", "model/gltf-binary"),
    ("thickness.glb", "model/gltf-binary"),
    ("design.json", "application/json"),
];

/// The case `id` if the session's user may see it, else 404.
pub fn visible(portal: &Portal, session: &Session, id: &str) -> Result<Case, ApiError> {
    portal
        .store()
        .visible_case(id, &session.user.id)?
        .ok_or_else(ApiError::not_found)
}

/// Refuse (403) unless the user may change the case: a surgeon of its own team; a
/// case shared with someone is theirs to read, not to change or share on.
fn may_change(portal: &Portal, session: &Session, case: &Case) -> Result<(), ApiError> {
    session.require(&[Role::Surgeon])?;
    if !portal.store().is_member(&case.team_id, &session.user.id)? {
        return Err(ApiError::forbidden(
            "only the case's own team may change or share it",
        ));
    }
    Ok(())
}

/// A case with its latest job (state, progress, error) and the result files that exist.
fn described(portal: &Portal, case: Case) -> Result<serde_json::Value, ApiError> {
    let job = portal.store().latest_job(&case.id)?;
    let dir = portal.store().case_dir(&case);
    let files: Vec<&str> = FILES
        .iter()
        .map(|(f, _)| *f)
        .filter(|f| dir.join(f).is_file())
        .collect();
    Ok(serde_json::json!({
        "case": case,
        "job": job,
        "files": files,
    }))
}

/// `GET /api/cases`: the cases the user sees, newest first, each as `{case, job, files}` (what
/// a list polls; not audited, unlike opening one case).
pub async fn list(
    State(portal): State<Portal>,
    axum::Extension(session): axum::Extension<Session>,
) -> Result<Json<Vec<serde_json::Value>>, ApiError> {
    let cases = portal.store().visible_cases(&session.user.id)?;
    Ok(Json(
        cases
            .into_iter()
            .map(|c| described(&portal, c))
            .collect::<Result<_, _>>()?,
    ))
}

/// `GET /api/cases/{case}`: `{case, job, files}`. Audited as `open`.
pub async fn get(
    State(portal): State<Portal>,
    axum::Extension(session): axum::Extension<Session>,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let case = visible(&portal, &session, &id)?;
    portal
        .store()
        .audit(Some(&session.user.id), "open", Some(&case.id), "")?;
    Ok(Json(described(&portal, case)?))
}

#[derive(Deserialize)]
struct Change {
    name: String,
}

/// `PUT /api/cases/{case}` `{name}`: rename (a surgeon of the case's team). Audited as `change`
/// (`renamed`, without the old or new name).
pub async fn put(
    State(portal): State<Portal>,
    axum::Extension(session): axum::Extension<Session>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Json<Case>, ApiError> {
    let case = visible(&portal, &session, &id)?;
    may_change(&portal, &session, &case)?;
    let c: Change = json_body(&headers, &body)?;
    let name = checked_name(&c.name)?;
    portal.store().rename_case(&case.id, name)?;
    // Not the name itself: a rename is how a name that identifies the patient is taken back,
    // and the audit log keeps its rows for good.
    portal
        .store()
        .audit(Some(&session.user.id), "change", Some(&case.id), "renamed")?;
    Ok(Json(visible(&portal, &session, &id)?))
}

/// A case name: 1–200 characters after trimming, no control characters.
pub fn checked_name(name: &str) -> Result<&str, ApiError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 200 || name.chars().any(char::is_control) {
        return Err(ApiError::bad_request(
            "a case name is 1 to 200 characters, without control characters",
        ));
    }
    Ok(name)
}

#[derive(Deserialize)]
struct Share {
    team: Option<String>,
    user: Option<String>,
}

/// `POST /api/cases/{case}/shares` `{team: ID}` or `{user: NAME}`: share the case (a surgeon of
/// its team). Audited as `share`.
pub async fn share(
    State(portal): State<Portal>,
    axum::Extension(session): axum::Extension<Session>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Json<serde_json::Value>, ApiError> {
    let case = visible(&portal, &session, &id)?;
    may_change(&portal, &session, &case)?;
    let s: Share = json_body(&headers, &body)?;
    let store = portal.store();
    let detail = match (s.team, s.user) {
        (Some(team), None) => {
            if !store.team_exists(&team)? {
                return Err(ApiError::bad_request("no such team"));
            }
            store.share(&case.id, Some(&team), None)?;
            format!("with team {team}")
        }
        (None, Some(name)) => {
            let (user, _) = store
                .user_by_name(&name)?
                .ok_or_else(|| ApiError::bad_request(format!("no user named {name:?}")))?;
            store.share(&case.id, None, Some(&user.id))?;
            format!("with user {name}")
        }
        _ => return Err(ApiError::bad_request("give either team or user")),
    };
    store.audit(Some(&session.user.id), "share", Some(&case.id), &detail)?;
    Ok(Json(serde_json::json!({ "shared": detail })))
}

/// `GET /api/cases/{case}/files/{file}`: one of [`FILES`]. Audited as `download`.
pub async fn download(
    State(portal): State<Portal>,
    axum::Extension(session): axum::Extension<Session>,
    Path((id, file)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let case = visible(&portal, &session, &id)?;
    let Some((name, mime)) = FILES.iter().find(|(f, _)| *f == file) else {
        return Err(ApiError::not_found());
    };
    let path = portal.store().case_dir(&case).join(name);
    let read = tokio::task::spawn_blocking(move || std::fs::read(path))
        .await
        .map_err(ApiError::internal)?;
    let bytes = match read {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(ApiError::not_found()),
        Err(e) => return Err(ApiError::internal(e)),
    };
    portal
        .store()
        .audit(Some(&session.user.id), "download", Some(&case.id), name)?;
    let mut resp = bytes.into_response();
    let headers = resp.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(mime));
    // Taken as what it says it is, and kept by no cache of a shared workstation.
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(resp)
}

/// `GET /api/cases/{case}/audit`: who did what to the case, oldest first.
pub async fn audit(
    State(portal): State<Portal>,
    axum::Extension(session): axum::Extension<Session>,
    Path(id): Path<String>,
) -> Result<Json<Vec<crate::store::AuditRow>>, ApiError> {
    let case = visible(&portal, &session, &id)?;
    Ok(Json(portal.store().audit_of(&case.id)?))
}
