//! API tokens: how a machine (a PACS pushing studies by DICOMweb STOW-RS) is let in without a
//! session. A token belongs to one team; an administrator, or a surgeon of the team, creates
//! it (`POST /api/tokens`), sees it once, and may revoke it (`DELETE /api/tokens/{token}`).
//! Like a session, only its SHA-256 is stored, so a copy of the database lets nobody in.
//!
//! A request carries it as `Authorization: Bearer ctp_…` (RFC 6750). It opens the token routes
//! ([`Access::Token`](crate::routes::Access)) and nothing else: no session route, no page, no
//! case of any team. It needs no CSRF token: a browser never adds an `Authorization` header to
//! a cross-site request by itself, the way it adds a cookie.

use crate::db::Row;
use crate::params;
use axum::Json;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::auth::{Session, json_body};
use crate::store::{Role, new_id, now, random_hex};
use crate::{ApiError, Portal, PortalError};

/// The prefix of every token (so that a secret scanner, or a person, knows one when seen).
pub const PREFIX: &str = "ctp_";

/// What the database keeps of a token.
pub fn token_hash(token: &str) -> String {
    let mut h = Sha256::new();
    h.update(b"ctplan-api-token\0");
    h.update(token.as_bytes());
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// A token as listed (never its secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Token {
    /// Identifier (for revoking).
    pub id: String,
    /// The team whose cases it creates.
    pub team_id: String,
    /// Its name (what it is for: `orthanc-or-3`).
    pub name: String,
    /// Created, Unix seconds.
    pub created: i64,
    /// The user who created it (cases pushed with it are created in that user's name).
    pub created_by: String,
    /// Revoked, Unix seconds; `None` while valid.
    pub revoked: Option<i64>,
}

fn token_row(r: &Row) -> Result<Token, PortalError> {
    Ok(Token {
        id: r.get(0)?,
        team_id: r.get(1)?,
        name: r.get(2)?,
        created: r.get(3)?,
        created_by: r.get(4)?,
        revoked: r.get(5)?,
    })
}

const TOKEN_COLUMNS: &str = "t.id, t.team_id, t.name, t.created, t.created_by, t.revoked";

/// Create a token of `team` named `name` for `by`: the token as listed and its secret (shown
/// once, never stored).
pub fn create(
    portal: &Portal,
    team: &str,
    name: &str,
    by: &str,
) -> Result<(Token, String), PortalError> {
    let secret = format!("{PREFIX}{}", random_hex(32)?);
    let t = Token {
        id: new_id()?,
        team_id: team.to_string(),
        name: name.to_string(),
        created: now(),
        created_by: by.to_string(),
        revoked: None,
    };
    portal.store().conn().execute(
        "INSERT INTO api_tokens (id, token_hash, team_id, name, created, created_by)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            t.id,
            token_hash(&secret),
            t.team_id,
            t.name,
            t.created,
            t.created_by
        ],
    )?;
    Ok((t, secret))
}

/// The valid token whose secret is `secret`: not revoked, and its creator still a member of
/// its team (or an administrator).
pub fn by_secret(portal: &Portal, secret: &str) -> Result<Option<Token>, PortalError> {
    portal.store().conn().query_opt(
        &format!(
            "SELECT {TOKEN_COLUMNS} FROM api_tokens t JOIN users u ON u.id = t.created_by
             WHERE t.token_hash = ?1 AND t.revoked IS NULL
             AND (u.role = 'admin' OR EXISTS (SELECT 1 FROM memberships m
                  WHERE m.team_id = t.team_id AND m.user_id = t.created_by))"
        ),
        params![token_hash(secret)],
        token_row,
    )
}

/// The tokens a user may see and revoke: an administrator all, anyone else those of its teams.
pub fn visible(portal: &Portal, session: &Session) -> Result<Vec<Token>, PortalError> {
    portal.store().conn().query_map(
        &format!(
            "SELECT {TOKEN_COLUMNS} FROM api_tokens t WHERE ?2 = 'admin' OR EXISTS (SELECT 1
             FROM memberships m WHERE m.team_id = t.team_id AND m.user_id = ?1)
             ORDER BY t.created, t.id"
        ),
        params![session.user.id, session.user.role.as_str()],
        token_row,
    )
}

/// The token a request was let in with, once [`authenticate`] has checked it.
#[derive(Debug, Clone)]
pub struct TokenAuth {
    /// The token.
    pub token: Token,
}

/// The middleware of the token routes: `Authorization: Bearer` with a valid token, else 401
/// (with `WWW-Authenticate: Bearer`). A session cookie is no substitute.
pub async fn authenticate(State(portal): State<Portal>, mut req: Request, next: Next) -> Response {
    let refuse = || {
        let mut r = ApiError::new(
            StatusCode::UNAUTHORIZED,
            "send a valid API token as Authorization: Bearer ctp_…",
        )
        .into_response();
        r.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"ctplan\""),
        );
        r
    };
    let secret = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, rest) = v.split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
        })
        .filter(|t| t.len() == PREFIX.len() + 64 && t.starts_with(PREFIX))
        .map(str::to_string);
    let Some(secret) = secret else {
        return refuse();
    };
    let token = match by_secret(&portal, &secret) {
        Ok(Some(t)) => t,
        Ok(None) => return refuse(),
        Err(e) => return ApiError::from(e).into_response(),
    };
    req.extensions_mut().insert(TokenAuth { token });
    next.run(req).await
}

#[derive(Deserialize)]
struct NewToken {
    team: String,
    name: String,
}

/// `POST /api/tokens` `{team, name}` (an administrator, or a surgeon of the team): `{token,
/// secret}`, the secret shown this once. Audited as `token` (its name, never the secret).
pub async fn post(
    State(portal): State<Portal>,
    axum::Extension(session): axum::Extension<Session>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Json<serde_json::Value>, ApiError> {
    session.require(&[Role::Admin, Role::Surgeon])?;
    let t: NewToken = json_body(&headers, &body)?;
    let name = t.name.trim();
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err(ApiError::bad_request(
            "a token name is 1 to 100 characters, without control characters",
        ));
    }
    let store = portal.store();
    let allowed = match session.user.role {
        Role::Admin => store.team_exists(&t.team)?,
        _ => store.is_member(&t.team, &session.user.id)?,
    };
    if !allowed {
        return Err(ApiError::forbidden(
            "tokens are made for a team you belong to",
        ));
    }
    let (token, secret) = create(&portal, &t.team, name, &session.user.id)?;
    store.audit(
        Some(&session.user.id),
        "token",
        None,
        &format!("created {} for team {}", token.id, token.team_id),
    )?;
    Ok(Json(
        serde_json::json!({ "token": token, "secret": secret }),
    ))
}

/// `GET /api/tokens`: the tokens the user may see (an administrator all, else its teams'),
/// revoked ones included, never a secret.
pub async fn list(
    State(portal): State<Portal>,
    axum::Extension(session): axum::Extension<Session>,
) -> Result<Json<Vec<Token>>, ApiError> {
    Ok(Json(visible(&portal, &session)?))
}

/// `DELETE /api/tokens/{token}` (an administrator, or a surgeon of the token's team): revoke
/// it; the next request with it is 401. 404 for a token the user may not see.
pub async fn revoke(
    State(portal): State<Portal>,
    axum::Extension(session): axum::Extension<Session>,
    Path(id): Path<String>,
) -> Result<Json<Token>, ApiError> {
    let token = visible(&portal, &session)?
        .into_iter()
        .find(|t| t.id == id)
        .ok_or_else(ApiError::not_found)?;
    session.require(&[Role::Admin, Role::Surgeon])?;
    portal.store().conn().execute(
        "UPDATE api_tokens SET revoked = ?2 WHERE id = ?1 AND revoked IS NULL",
        params![token.id, now()],
    )?;
    portal.store().audit(
        Some(&session.user.id),
        "token",
        None,
        &format!("revoked {}", token.id),
    )?;
    let token = visible(&portal, &session)?
        .into_iter()
        .find(|t| t.id == id)
        .ok_or_else(ApiError::not_found)?;
    Ok(Json(token))
}
