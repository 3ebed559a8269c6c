//! An in-process portal on a temporary data folder, driven through its router
//! (`tower::ServiceExt::oneshot`): no socket, no network.

#![allow(dead_code)]

pub mod phi;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode, header};
use ctplan_portal::{Config, Portal, Role};
use tower::ServiceExt;

pub const PASSWORD: &str = "a password long enough";

pub struct App {
    pub dir: tempfile::TempDir,
    pub portal: Portal,
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: axum::http::HeaderMap,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|_| panic!("not JSON: {}", String::from_utf8_lossy(&self.body)))
    }
}

/// A logged-in client: its cookie and CSRF token.
#[derive(Clone)]
pub struct Client {
    pub cookie: String,
    pub csrf: String,
}

impl App {
    pub fn new() -> App {
        App::with(Config::default())
    }

    /// The portal on SQLite in the data folder, or on a new PostgreSQL database when
    /// `CTPLAN_TEST_PORTAL_DB=postgres` (`.ci/run` runs these tests a second time so).
    pub fn with(config: Config) -> App {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let portal = if std::env::var("CTPLAN_TEST_PORTAL_DB").is_ok_and(|v| v == "postgres") {
            let server = ctplan_testdata::postgres_url()
                .expect("CTPLAN_TEST_PORTAL_DB=postgres needs CTPLAN_TEST_POSTGRES");
            let name = format!(
                "ctplan_app_{}",
                ctplan_portal::store::random_hex(8).unwrap()
            );
            let url = ctplan_portal::db::create_postgres_database(&server, &name).unwrap();
            let store = ctplan_portal::Store::open_postgres(&data, &url).unwrap();
            Portal::with_store(store, config)
        } else {
            Portal::open(&data, config).unwrap()
        };
        App { dir, portal }
    }

    pub fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// A user in a team (created when new).
    pub fn user(&self, name: &str, role: Role, team: Option<&str>) -> String {
        let user = ctplan_portal::admin::create_user(&self.portal, name, PASSWORD, role).unwrap();
        if let Some(team) = team {
            let store = self.portal.store();
            let id = match store.create_team(team) {
                Ok(id) => id,
                Err(_) => self.team_id(team),
            };
            store.add_member(&id, &user.id).unwrap();
        }
        user.id
    }

    pub fn team_id(&self, name: &str) -> String {
        self.portal
            .store()
            .conn()
            .query_row(
                "SELECT id FROM teams WHERE name = ?1",
                ctplan_portal::params![name],
                |r| r.get(0),
            )
            .unwrap()
    }

    pub async fn send(&self, req: Request<Body>) -> Reply {
        let resp = self.portal.router().oneshot(req).await.unwrap();
        let status = resp.status();
        let headers = resp.headers().clone();
        // An event stream ends when its job does: only its first event is read here (the
        // route tables' walks reach a job that no worker runs).
        let stream = headers
            .get(header::CONTENT_TYPE)
            .is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream"));
        let body = if stream {
            use futures_util::StreamExt;
            let mut data = resp.into_body().into_data_stream();
            data.next()
                .await
                .map_or(Vec::new(), |c| c.unwrap().to_vec())
        } else {
            axum::body::to_bytes(resp.into_body(), usize::MAX)
                .await
                .unwrap()
                .to_vec()
        };
        Reply {
            status,
            headers,
            body,
        }
    }

    /// A request as `client` (none: anonymous), with its CSRF token when `csrf`.
    pub async fn call(
        &self,
        method: &str,
        uri: &str,
        client: Option<&Client>,
        csrf: bool,
        json: Option<serde_json::Value>,
    ) -> Reply {
        let mut b = Request::builder().method(method).uri(uri);
        if let Some(c) = client {
            b = b.header(header::COOKIE, &c.cookie);
            if csrf {
                b = b.header("x-csrf-token", &c.csrf);
            }
        }
        let body = match json {
            Some(j) => {
                b = b.header(header::CONTENT_TYPE, "application/json");
                Body::from(j.to_string())
            }
            None => Body::empty(),
        };
        self.send(b.body(body).unwrap()).await
    }

    pub async fn login_from(&self, name: &str, password: &str, addr: [u8; 4]) -> Reply {
        let mut req = Request::builder()
            .method("POST")
            .uri("/api/login")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(
                serde_json::json!({"name": name, "password": password}).to_string(),
            ))
            .unwrap();
        req.extensions_mut()
            .insert(ConnectInfo(SocketAddr::from((addr, 40000))));
        self.send(req).await
    }

    pub async fn login(&self, name: &str) -> Client {
        let r = self.login_from(name, PASSWORD, [127, 0, 0, 1]).await;
        assert_eq!(
            r.status,
            StatusCode::OK,
            "{}",
            String::from_utf8_lossy(&r.body)
        );
        let set = r.headers[header::SET_COOKIE].to_str().unwrap();
        let cookie = set.split(';').next().unwrap().to_string();
        Client {
            cookie,
            csrf: r.json()["csrf"].as_str().unwrap().to_string(),
        }
    }

    /// Upload `bytes` as `filename` into `team` as `client`.
    pub async fn upload(
        &self,
        client: &Client,
        team: &str,
        filename: &str,
        bytes: Vec<u8>,
    ) -> Reply {
        let req = Request::builder()
            .method("POST")
            .uri(format!(
                "/api/cases?team={team}&name=case%201&filename={filename}"
            ))
            .header(header::COOKIE, &client.cookie)
            .header("x-csrf-token", &client.csrf)
            .body(Body::from(bytes))
            .unwrap();
        self.send(req).await
    }

    /// Upload a folder as `multipart/form-data` (`body` made by `phi::multipart` at `boundary`).
    pub async fn upload_form(
        &self,
        client: &Client,
        team: &str,
        boundary: &str,
        body: Vec<u8>,
    ) -> Reply {
        let req = Request::builder()
            .method("POST")
            .uri(format!("/api/cases?team={team}&name=case%201"))
            .header(header::COOKIE, &client.cookie)
            .header("x-csrf-token", &client.csrf)
            .header(
                header::CONTENT_TYPE,
                format!("multipart/form-data; boundary={boundary}"),
            )
            .body(Body::from(body))
            .unwrap();
        self.send(req).await
    }

    /// A DICOMweb STOW-RS request with `token` (none: no `Authorization`) and `content_type`.
    pub async fn stow(&self, token: Option<&str>, content_type: &str, body: Vec<u8>) -> Reply {
        let mut b = Request::builder()
            .method("POST")
            .uri("/dicomweb/studies")
            .header(header::CONTENT_TYPE, content_type);
        if let Some(t) = token {
            b = b.header(header::AUTHORIZATION, format!("Bearer {t}"));
        }
        self.send(b.body(Body::from(body)).unwrap()).await
    }

    /// A new API token of `team` made by `client` through the API: (id, secret).
    pub async fn token(&self, client: &Client, team: &str) -> (String, String) {
        let r = self
            .call(
                "POST",
                "/api/tokens",
                Some(client),
                true,
                Some(serde_json::json!({"team": team, "name": "orthanc"})),
            )
            .await;
        assert_eq!(
            r.status,
            StatusCode::OK,
            "{}",
            String::from_utf8_lossy(&r.body)
        );
        let j = r.json();
        (
            j["token"]["id"].as_str().unwrap().to_string(),
            j["secret"].as_str().unwrap().to_string(),
        )
    }
}

/// A small CT volume as NRRD bytes.
pub fn nrrd_bytes(dims: [usize; 3]) -> Vec<u8> {
    use ctplan_core::{AnyVolume, Geometry, Volume};
    let n = dims[0] * dims[1] * dims[2];
    let data: Vec<i16> = (0..n).map(|i| (i % 200) as i16 - 1000).collect();
    let v = Volume::from_vec(dims, Geometry::new([1.0, 1.0, 2.0], [0.0; 3]), data).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("v.nrrd");
    ctplan_io::write(&p, &AnyVolume::I16(v), &ctplan_io::WriteOptions::default()).unwrap();
    std::fs::read(p).unwrap()
}

/// Every file below `dir`.
pub fn files_below(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// The files below the data folder besides the database's own.
pub fn stored_files(data: &Path) -> Vec<PathBuf> {
    files_below(data)
        .into_iter()
        .filter(|p| {
            !p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("portal.db")
        })
        .collect()
}

/// How many cases the database holds.
pub fn case_count(app: &App) -> i64 {
    app.portal
        .store()
        .conn()
        .query_row(
            "SELECT COUNT(*) FROM cases",
            ctplan_portal::params![],
            |r| r.get(0),
        )
        .unwrap()
}
