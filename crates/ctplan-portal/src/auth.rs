//! Who is asking: passwords (argon2id), sessions (a cookie holding a random token; the
//! database keeps only its SHA-256, so a copy of the database opens no session), the CSRF
//! token of a session, login rate limiting, and roles.
//!
//! Every `/api` route but login runs [`authenticate`] first: no valid session → 401; a
//! POST, PUT or DELETE without the session's CSRF token in `X-CSRF-Token` → 403.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use axum::Json;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::store::{Role, User, now, random_hex};
use crate::{ApiError, Portal, PortalError};

/// The session cookie's name.
pub const COOKIE: &str = "ctplan_session";
/// The header carrying the CSRF token.
pub const CSRF_HEADER: &str = "x-csrf-token";
/// The shortest password accepted.
pub const MIN_PASSWORD: usize = 10;
/// The longest user name, in bytes (names are ASCII).
pub const MAX_NAME: usize = 64;

/// The argon2id hash of `password` (PHC string with a random salt).
pub fn hash_password(password: &str) -> Result<String, PortalError> {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt)
        .map_err(|e| PortalError::Io(format!("no random numbers from the system: {e}")))?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| PortalError::Io(e.to_string()))?;
    Ok(Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map_err(|e| PortalError::Invalid(format!("cannot hash the password: {e}")))?
        .to_string())
}

/// Whether `password` matches `hash` (false for a malformed hash).
pub fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|h| {
        Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok()
    })
}

fn sha256_hex(parts: &[&[u8]]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// What the database keeps of a session token.
pub fn token_hash(token: &str) -> String {
    sha256_hex(&[b"ctplan-session\0", token.as_bytes()])
}

/// The CSRF token of a session: derived from its token (one-way), so nothing more is stored
/// and it changes with every session.
pub fn csrf_token(token: &str) -> String {
    sha256_hex(&[b"ctplan-csrf\0", token.as_bytes()])
}

/// Equal strings, compared in time independent of where they differ.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// The session a request carries, once [`authenticate`] has checked it.
#[derive(Debug, Clone)]
pub struct Session {
    /// Who.
    pub user: User,
    /// The stored hash of its token.
    pub token_hash: String,
    /// Its CSRF token.
    pub csrf: String,
}

impl Session {
    /// Refuse (403) unless the user has one of `roles`.
    pub fn require(&self, roles: &[Role]) -> Result<(), ApiError> {
        if roles.contains(&self.user.role) {
            Ok(())
        } else {
            Err(ApiError::forbidden(format!(
                "a {} may not do this",
                self.user.role.as_str()
            )))
        }
    }
}

/// The session token in the request's cookies.
fn cookie_token(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v.to_string())
        .filter(|v| v.len() == 64 && v.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// The middleware of every `/api` route but login: the session (else 401), then for a
/// state-changing method the CSRF token (else 403). The [`Session`] goes into the request's
/// extensions for the handler.
pub async fn authenticate(State(portal): State<Portal>, mut req: Request, next: Next) -> Response {
    let Some(token) = cookie_token(req.headers()) else {
        return ApiError::unauthorized().into_response();
    };
    let hash = token_hash(&token);
    let user = match portal.store().session_user(&hash, now()) {
        Ok(Some(user)) => user,
        Ok(None) => return ApiError::unauthorized().into_response(),
        Err(e) => return ApiError::from(e).into_response(),
    };
    let csrf = csrf_token(&token);
    let changes = !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    if changes {
        let sent = req
            .headers()
            .get(CSRF_HEADER)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if !same(sent, &csrf) {
            return ApiError::forbidden(
                "missing or wrong CSRF token (send the one GET /api/session returns in X-CSRF-Token)",
            )
            .into_response();
        }
    }
    req.extensions_mut().insert(Session {
        user,
        token_hash: hash,
        csrf,
    });
    next.run(req).await
}

/// Failed logins in the last minute, per key (a user name, a client address).
pub struct Limiter {
    max: usize,
    failures: Mutex<HashMap<String, VecDeque<Instant>>>,
}

const WINDOW: Duration = Duration::from_secs(60);

impl Limiter {
    /// A limiter allowing `max` failures a minute per key.
    pub fn new(max: usize) -> Limiter {
        Limiter {
            max,
            failures: Mutex::new(HashMap::new()),
        }
    }

    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<String, VecDeque<Instant>>> {
        self.failures.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Count one login attempt against every key, unless one of them has used up its
    /// failures (then false, nothing counted). Checking and counting under one lock, before
    /// the password is verified, is what makes the limit hold for attempts sent in parallel:
    /// counted only after argon2's work, a burst would all pass the check first.
    pub fn attempt(&self, keys: &[String]) -> bool {
        let mut map = self.map();
        let t = Instant::now();
        // Forget keys idle for a minute, so that the map does not grow without end.
        map.retain(|_, q| q.back().is_some_and(|&f| t.duration_since(f) <= WINDOW));
        let blocked = keys.iter().any(|k| {
            map.get_mut(k).is_some_and(|q| {
                while q.front().is_some_and(|&f| t.duration_since(f) > WINDOW) {
                    q.pop_front();
                }
                q.len() >= self.max
            })
        });
        if !blocked {
            for k in keys {
                map.entry(k.clone()).or_default().push_back(t);
            }
        }
        !blocked
    }

    /// Take back one attempt counted by [`Limiter::attempt`] for every key: the login
    /// succeeded, so it was no failure.
    pub fn succeeded(&self, keys: &[String]) {
        let mut map = self.map();
        for k in keys {
            if let Some(q) = map.get_mut(k) {
                q.pop_back();
            }
        }
    }
}

/// The body of `POST /api/login`.
#[derive(Deserialize)]
pub struct Login {
    /// User name.
    pub name: String,
    /// Password.
    pub password: String,
}

/// Parse a JSON body, requiring the JSON content type (a cross-site form cannot send it).
pub fn json_body<T: serde::de::DeserializeOwned>(
    headers: &HeaderMap,
    body: &[u8],
) -> Result<T, ApiError> {
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !json {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "send JSON (Content-Type: application/json)",
        ));
    }
    serde_json::from_slice(body).map_err(|e| ApiError::bad_request(format!("invalid JSON: {e}")))
}

/// The `Set-Cookie` value of a session (or of its removal, with `token` `None`).
fn set_cookie(portal: &Portal, token: Option<&str>) -> HeaderValue {
    let secure = if portal.config().tls { "; Secure" } else { "" };
    let value = match token {
        Some(t) => format!(
            "{COOKIE}={t}; HttpOnly; SameSite=Strict; Path=/; Max-Age={}{secure}",
            portal.config().session_seconds
        ),
        None => format!("{COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0{secure}"),
    };
    HeaderValue::from_str(&value).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// `POST /api/login` `{name, password}`: a session cookie, and the user with the CSRF token.
/// 401 for a wrong name or password (the same answer for both, after the same work), 429 after
/// too many failures for the name or from the address within a minute.
pub async fn login(
    State(portal): State<Portal>,
    ext: axum::http::Extensions,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let login: Login = json_body(&headers, &body)?;
    let wrong = || ApiError::new(StatusCode::UNAUTHORIZED, "wrong user name or password");
    // No account has a longer name; such a name is not kept as a limiter key either (the
    // body may be 2 MB, and the keys live in memory for a minute).
    if login.name.len() > MAX_NAME {
        return Err(wrong());
    }
    let mut keys = vec![format!("user:{}", login.name)];
    if let Some(ConnectInfo(addr)) = ext.get::<ConnectInfo<SocketAddr>>() {
        keys.push(format!("addr:{}", addr.ip()));
    }
    if !portal.limiter().attempt(&keys) {
        return Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too many failed logins; wait a minute",
        ));
    }
    let found = portal.store().user_by_name(&login.name)?;
    let password = login.password;
    // At most as many argon2 verifications at once as the machine has threads: each holds
    // 19 MiB, and a flood of logins would otherwise fill the blocking pool (512 threads).
    // The permit goes with the work, which runs on even if the client goes away.
    let permit = portal
        .hashing()
        .clone()
        .acquire_owned()
        .await
        .map_err(ApiError::internal)?;
    let user = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        match found {
            Some((user, hash)) => verify_password(&password, &hash).then_some(user),
            None => {
                // The same work for an unknown name, so that timing does not tell names apart.
                let _ = verify_password(&password, DUMMY_HASH);
                None
            }
        }
    })
    .await
    .map_err(ApiError::internal)?;
    let Some(user) = user else {
        return Err(wrong());
    };
    portal.limiter().succeeded(&keys);
    let token = random_hex(32)?;
    portal.store().create_session(
        &token_hash(&token),
        &user.id,
        now() + portal.config().session_seconds,
    )?;
    let body = Json(serde_json::json!({
        "user": user,
        "csrf": csrf_token(&token),
    }));
    let mut resp = body.into_response();
    resp.headers_mut()
        .insert(header::SET_COOKIE, set_cookie(&portal, Some(&token)));
    Ok(resp)
}

/// An argon2id hash of no password anyone has, for the unknown-name path of login.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$1h8Ymvq9kzCXXD9BX8kmrSjmWpKhLT7r43RD8SxJ5ms";

/// `POST /api/logout`: ends the session and clears the cookie.
pub async fn logout(
    State(portal): State<Portal>,
    axum::Extension(session): axum::Extension<Session>,
) -> Result<Response, ApiError> {
    portal.store().delete_session(&session.token_hash)?;
    let mut resp = Json(serde_json::json!({ "ok": true })).into_response();
    resp.headers_mut()
        .insert(header::SET_COOKIE, set_cookie(&portal, None));
    Ok(resp)
}

/// `GET /api/session`: the user, its teams and the CSRF token for state-changing requests.
pub async fn session(
    State(portal): State<Portal>,
    axum::Extension(session): axum::Extension<Session>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let teams: Vec<_> = portal
        .store()
        .teams_of(&session.user.id)?
        .into_iter()
        .map(|(id, name)| serde_json::json!({ "id": id, "name": name }))
        .collect();
    Ok(Json(serde_json::json!({
        "user": session.user,
        "teams": teams,
        "csrf": session.csrf,
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_hash_with_argon2id_and_verify() {
        let h = hash_password("correct horse battery").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("correct horse battery", &h));
        assert!(!verify_password("correct horse batterY", &h));
        assert!(!verify_password("x", "not a hash"));
        // The dummy hash parses (else unknown names would return faster).
        assert!(PasswordHash::new(DUMMY_HASH).is_ok());
    }

    #[test]
    fn limiter_blocks_after_max_failures_per_key() {
        let l = Limiter::new(2);
        let k = vec!["user:a".to_string()];
        // Attempts count before they are known to fail: a third, even in parallel, is refused.
        assert!(l.attempt(&k));
        assert!(l.attempt(&k));
        assert!(!l.attempt(&k));
        assert!(l.attempt(&["user:b".to_string()]));
        // A refused attempt counts nothing against the other keys it names.
        assert!(!l.attempt(&[k[0].clone(), "addr:x".to_string()]));
        assert!(l.attempt(&["addr:x".to_string()]));
        // Successful logins are taken back: they never use up the allowance.
        let ok = Limiter::new(2);
        for _ in 0..10 {
            assert!(ok.attempt(&k));
            ok.succeeded(&k);
        }
    }

    #[test]
    fn cookie_token_is_read_only_in_its_own_form() {
        let mut h = HeaderMap::new();
        let t = "ab".repeat(32);
        h.insert(
            header::COOKIE,
            HeaderValue::from_str(&format!("x=1; {COOKIE}={t}")).unwrap(),
        );
        assert_eq!(cookie_token(&h), Some(t));
        h.insert(
            header::COOKIE,
            HeaderValue::from_str(&format!("{COOKIE}=../../etc")).unwrap(),
        );
        assert_eq!(cookie_token(&h), None);
    }
}
