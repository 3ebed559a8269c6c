//! Accounts and teams, created by administrators: `POST /api/users`, `POST /api/teams`,
//! `POST /api/teams/{team}/members`.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use serde::Deserialize;

use crate::auth::{MAX_NAME, MIN_PASSWORD, Session, hash_password, json_body};
use crate::store::{Role, User};
use crate::{ApiError, Portal, PortalError};

/// Create a user: a name of 1–64 letters, digits, `.`, `-` or `_`, and a password of at least
/// [`MIN_PASSWORD`] characters (hashed with argon2id).
pub fn create_user(
    portal: &Portal,
    name: &str,
    password: &str,
    role: Role,
) -> Result<User, PortalError> {
    let valid = !name.is_empty()
        && name.len() <= MAX_NAME
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'));
    if !valid {
        return Err(PortalError::Invalid(format!(
            "{name:?}: a user name is 1 to 64 letters, digits, '.', '-' or '_'"
        )));
    }
    if password.chars().count() < MIN_PASSWORD {
        return Err(PortalError::Invalid(format!(
            "the password is shorter than {MIN_PASSWORD} characters"
        )));
    }
    if portal.store().user_by_name(name)?.is_some() {
        return Err(PortalError::Invalid(format!(
            "a user named {name:?} exists already"
        )));
    }
    portal
        .store()
        .create_user(name, &hash_password(password)?, role)
}

fn invalid(e: PortalError) -> ApiError {
    match e {
        PortalError::Invalid(m) => ApiError::bad_request(m),
        other => other.into(),
    }
}

#[derive(Deserialize)]
struct NewUser {
    name: String,
    password: String,
    role: String,
}

/// `POST /api/users` `{name, password, role}` (admin): the new user.
pub async fn post_user(
    State(portal): State<Portal>,
    axum::Extension(session): axum::Extension<Session>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Json<User>, ApiError> {
    session.require(&[Role::Admin])?;
    let u: NewUser = json_body(&headers, &body)?;
    let role = Role::parse(&u.role)
        .ok_or_else(|| ApiError::bad_request("role is admin, surgeon or viewer"))?;
    let user =
        tokio::task::spawn_blocking(move || create_user(&portal, &u.name, &u.password, role))
            .await
            .map_err(ApiError::internal)?
            .map_err(invalid)?;
    Ok(Json(user))
}

#[derive(Deserialize)]
struct NewTeam {
    name: String,
}

/// `POST /api/teams` `{name}` (admin): the new team's id.
pub async fn post_team(
    State(portal): State<Portal>,
    axum::Extension(session): axum::Extension<Session>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Json<serde_json::Value>, ApiError> {
    session.require(&[Role::Admin])?;
    let t: NewTeam = json_body(&headers, &body)?;
    if t.name.trim().is_empty() || t.name.len() > 200 {
        return Err(ApiError::bad_request("a team name is 1 to 200 characters"));
    }
    let id = portal.store().create_team(t.name.trim()).map_err(invalid)?;
    Ok(Json(serde_json::json!({ "id": id, "name": t.name.trim() })))
}

#[derive(Deserialize)]
struct NewMember {
    user: String,
}

/// `POST /api/teams/{team}/members` `{user}` (admin, a user name): adds the user to the team.
pub async fn post_member(
    State(portal): State<Portal>,
    axum::Extension(session): axum::Extension<Session>,
    Path(team): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Json<serde_json::Value>, ApiError> {
    session.require(&[Role::Admin])?;
    let m: NewMember = json_body(&headers, &body)?;
    if !portal.store().team_exists(&team)? {
        return Err(ApiError::not_found());
    }
    let (user, _) = portal
        .store()
        .user_by_name(&m.user)?
        .ok_or_else(|| ApiError::bad_request(format!("no user named {:?}", m.user)))?;
    portal.store().add_member(&team, &user.id)?;
    Ok(Json(serde_json::json!({ "team": team, "user": user.name })))
}
