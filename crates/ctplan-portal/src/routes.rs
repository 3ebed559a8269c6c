//! The route table: every method and path of the portal, what it needs, and its handler. The
//! router is built from this table, and the security tests walk the same table, so that no
//! route can be added without being checked for anonymous access (401), a missing CSRF token
//! (403) and another team's case (404).

use axum::Router;
use axum::routing::{MethodRouter, get, post, put};

use crate::{Portal, admin, assets, auth, cases, events, jobs, page, plan, reviews, upload};

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
}

/// One route.
pub struct Route {
    /// `GET`, `POST`, `PUT` or `DELETE`.
    pub method: &'static str,
    /// The path, with `{case}`, `{job}`, `{team}`, `{file}` as parameters.
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
];

/// The application: the routes of [`ROUTES`], those past `Open` behind
/// [`auth::authenticate`].
pub fn router(portal: Portal) -> Router {
    let mut open = Router::new();
    let mut guarded = Router::new();
    for r in ROUTES {
        if r.access == Access::Open {
            open = open.route(r.path, (r.handler)());
        } else {
            guarded = guarded.route(r.path, (r.handler)());
        }
    }
    guarded
        .route_layer(axum::middleware::from_fn_with_state(
            portal.clone(),
            auth::authenticate,
        ))
        .merge(open)
        .with_state(portal)
}
