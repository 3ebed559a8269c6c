//! The route table: every method and path of the portal, what it needs, and its handler. The
//! router is built from this table, and the security tests walk the same table, so that no
//! route can be added without being checked for anonymous access (401), a missing CSRF token
//! (403) and another team's case (404).

use axum::Router;
use axum::routing::{MethodRouter, delete, get, post, put};

use crate::{
    Portal, admin, assets, auth, cases, events, jobs, page, plan, reviews, stow, tokens, upload,
};

/// What a route needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Nothing: the page and login.
    Open,
    /// A session.
    Session,
    /// A session whose user may see the case named by `{case}`.
    Case,
    /// A session whose user may see the case of the job named by `{job}`.
    Job,
    /// An API token (`Authorization: Bearer`, [`crate::tokens`]) instead of a session: no
    /// cookie, so no CSRF token either.
    Token,
}

/// One route.
pub struct Route {
    /// `GET`, `POST`, `PUT` or `DELETE`.
    pub method: &'static str,
    /// The path, with `{case}`, `{job}`, `{team}`, `{file}`, `{token}` as parameters.
    pub path: &'static str,
    /// What it needs.
    pub access: Access,
    handler: fn() -> MethodRouter<Portal>,
}

impl Route {
    /// Whether the route changes state (and so needs the CSRF token).
    pub fn changes(&self) -> bool {
        matches!(self.method, "POST" | "PUT" | "DELETE")
    }
}

macro_rules! route {
    ($method:literal, $path:literal, $access:ident, $make:ident($handler:path)) => {
        Route {
            method: $method,
            path: $path,
            access: Access::$access,
            handler: || $make($handler),
        }
    };
}

/// Every route of the portal.
pub const ROUTES: &[Route] = &[
    route!("GET", "/", Open, get(page::index)),
    route!("GET", "/assets/{*path}", Open, get(assets::get)),
    route!("POST", "/api/login", Open, post(auth::login)),
    route!("POST", "/api/logout", Session, post(auth::logout)),
    route!("GET", "/api/session", Session, get(auth::session)),
    route!("POST", "/api/users", Session, post(admin::post_user)),
    route!("POST", "/api/teams", Session, post(admin::post_team)),
    route!(
        "POST",
        "/api/teams/{team}/members",
        Session,
        post(admin::post_member)
    ),
    route!("GET", "/api/cases", Session, get(cases::list)),
    route!("POST", "/api/cases", Session, post(upload::post)),
    route!("GET", "/api/cases/{case}", Case, get(cases::get)),
    route!("PUT", "/api/cases/{case}", Case, put(cases::put)),
    route!("POST", "/api/cases/{case}/shares", Case, post(cases::share)),
    route!("POST", "/api/cases/{case}/jobs", Case, post(jobs::post)),
    route!(
        "GET",
        "/api/cases/{case}/files/{file}",
        Case,
        get(cases::download)
    ),
    route!("GET", "/api/cases/{case}/audit", Case, get(cases::audit)),
    route!("POST", "/api/cases/{case}/resect", Case, post(plan::resect)),
    route!("POST", "/api/cases/{case}/plane", Case, post(plan::plane)),
    route!("GET", "/api/cases/{case}/slice", Case, get(plan::slice)),
    route!("GET", "/api/jobs/{job}", Job, get(jobs::get)),
    route!("GET", "/api/jobs/{job}/events", Job, get(events::get)),
    route!(
        "POST",
        "/api/cases/{case}/reviews",
        Case,
        post(reviews::post)
    ),
    route!("GET", "/api/cases/{case}/reviews", Case, get(reviews::get)),
    route!("POST", "/api/tokens", Session, post(tokens::post)),
    route!("GET", "/api/tokens", Session, get(tokens::list)),
    route!(
        "DELETE",
        "/api/tokens/{token}",
        Session,
        delete(tokens::revoke)
    ),
    route!("POST", "/dicomweb/studies", Token, post(stow::post)),
];

/// The application: the routes of [`ROUTES`], the `Token` ones behind
/// [`tokens::authenticate`], the others past `Open` behind [`auth::authenticate`].
pub fn router(portal: Portal) -> Router {
    let mut open = Router::new();
    let mut guarded = Router::new();
    let mut token = Router::new();
    for r in ROUTES {
        match r.access {
            Access::Open => open = open.route(r.path, (r.handler)()),
            Access::Token => token = token.route(r.path, (r.handler)()),
            _ => guarded = guarded.route(r.path, (r.handler)()),
        }
    }
    guarded
        .route_layer(axum::middleware::from_fn_with_state(
            portal.clone(),
            auth::authenticate,
        ))
        .merge(token.route_layer(axum::middleware::from_fn_with_state(
            portal.clone(),
            tokens::authenticate,
        )))
        .merge(open)
        .with_state(portal)
}
