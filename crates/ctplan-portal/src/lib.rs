//! # ctplan-portal
//!
//! The team portal behind `ctplan serve`: a surgical team uploads a CT, the lung model and plan
//! are built by a job queue, and every member of the team reads the results. This crate is the
//! server side of it; it computes nothing itself and calls the library entry points, one call
//! per workflow (`ctplan_lung::segment::model`, then `ctplan_lung::plan_case`), never copies of
//! the command line's logic.
//!
//! The modules are the stages a request goes through, in order:
//!
//! 1. [`routes`]: the route table (one entry per method and path, with whether it is open to
//!    anonymous users and whether it names a case or a job). The router is built from the
//!    table, and the security tests iterate over the same table, so a new route cannot be
//!    added without being tested for anonymous access, CSRF and other teams' cases.
//! 2. [`auth`]: the session cookie (a random token; only its SHA-256 is stored), the CSRF
//!    token every state-changing request must carry, argon2id password hashes, login rate
//!    limiting, roles.
//! 3. [`cases`]: what a user may see (a case belongs to a team; its members, and those it is
//!    shared with, see it; everybody else gets 404, the same answer as for a case that does
//!    not exist), the audit log, downloads. [`admin`] creates users and teams.
//! 4. [`upload`]: the body within hard limits → zip entries checked (names, count, sizes,
//!    compression ratio) → DICOM de-identified in memory (PS3.15 Basic Profile, `ctplan_dicom`)
//!    → decoded to a volume → only that volume stored, as NRRD without any key/value, written
//!    whole or not at all. Nothing the user sent is written to disk before it is decoded.
//!    A dropped folder comes as `multipart/form-data` ([`multipart`]) and its parts take the
//!    zip entries' path; [`stow`] takes DICOMweb STOW-RS pushes the same way, authorised by
//!    a team's API token ([`tokens`]) instead of a session.
//! 5. [`jobs`]: a queue in the database (leases, heartbeats, attempts) and the worker that runs
//!    the lung model and plan, or the cranial implant's design ([`implant`]); [`events`]
//!    streams a job's progress to the browser (Server-Sent Events); [`reviews`] holds the
//!    clinicians' scores of a designed implant.
//! 6. [`plan`]: the viewer's resection requests, answered on the case's analysed model kept
//!    in memory; [`assets`] and [`page`]: the browser application (three.js vendored from the
//!    npm registry, embedded).
//! 7. [`store`]: the database (SQLite, one file, WAL; or PostgreSQL; versioned migrations),
//!    over [`db`], the two backends behind one interface (`?N` placeholders, four value
//!    kinds), so that every statement is written once.
//!
//! Decisions, and why:
//!
//! - **One process, one file.** SQLite embedded (bundled, so nothing else is installed) and an
//!   embedded worker thread make `ctplan serve` a working portal with one command. The queue
//!   is claimed with one atomic `UPDATE ... WHERE state = 'queued' OR the lease expired`, so
//!   that a second worker needs no other coordination; a worker that dies loses its lease and
//!   the job runs again.
//! - **PostgreSQL and separate workers when one machine is not enough.** `ctplan serve --db
//!   postgres://...` runs the same schema and SQL on PostgreSQL; `ctplan worker` runs jobs in
//!   processes of their own, on the same machine (SQLite works too) or on others that share
//!   the database and mount the data folder at the same path (the files stay files: the
//!   database holds rows, not volumes). Workers claim with `FOR UPDATE SKIP LOCKED`, so that
//!   they take different jobs without waiting on one another. The synchronous `postgres`
//!   client is kept on a thread of its own (it may not run inside the server's async
//!   runtime) rather than making the store async, so that the store's methods stay plain
//!   calls on both backends.
//! - **404, not 403,** for another team's case: a refusal must not confirm that a case exists.
//!   401 for anonymous requests on every route but login. 403 only for what does not depend
//!   on a case (a role that may not upload, a missing CSRF token).
//! - **CSRF by synchronizer token** (derived from the session token by SHA-256, so nothing
//!   more is stored) in an `X-CSRF-Token` header on every POST, PUT and DELETE, on top of
//!   `SameSite=Strict` cookies; login itself takes JSON only, which a cross-site form cannot
//!   send.
//! - **No PHI on disk, ever.** DICOM is de-identified from the bytes in memory before it is
//!   decoded, and what is stored is the decoded volume alone (no header, no key/value pairs).
//!   A zip is read from memory too; no temporary file is written for an upload.
//! - **Raw upload bodies** (`POST /api/cases?filename=...`) for one file; a folder as
//!   `multipart/form-data` and STOW-RS as `multipart/related`, both parsed from memory by one
//!   small bounded parser ([`multipart`]) after the whole body is read within its limit.
//! - **Uploads queue** for one of `Limits::concurrent` places (bodies unread while waiting)
//!   rather than being refused at once: 50 concurrent clients retrying on 503 got 8–19
//!   uploads/s, queued ~90 (BENCHMARKS.md).
//! - Argon2id (RFC 9106) with the `argon2` crate's default parameters, 19 MiB, 2 passes, 1 lane
//!   (the minimum the OWASP Password Storage Cheat Sheet recommends for argon2id; RFC 9106's
//!   own recommendations ask for 64 MiB or more, a lot per login for a small server), hashing
//!   off the async threads.
//!
//! ```
//! let dir = tempfile::tempdir().unwrap();
//! let portal = ctplan_portal::Portal::open(dir.path(), ctplan_portal::Config::default()).unwrap();
//! portal.create_admin("root", "a long enough password").unwrap();
//! // The same name again is refused in words.
//! let e = portal.create_admin("root", "a long enough password").unwrap_err();
//! assert!(e.to_string().contains("exists already"));
//! let _router = portal.router();
//! ```

#![deny(missing_docs)]

pub mod admin;
pub mod assets;
pub mod auth;
pub mod cases;
pub mod db;
pub mod demo;
mod error;
pub mod events;
pub mod implant;
pub mod jobs;
pub mod multipart;
pub mod page;
pub mod plan;
pub mod reviews;
pub mod routes;
pub mod store;
pub mod stow;
pub mod tokens;
pub mod upload;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

pub use error::{ApiError, PortalError};
pub use store::{Role, Store};

/// Hard limits of an upload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Bytes of one request body (the file as sent).
    pub body_bytes: u64,
    /// Entries of a zip archive.
    pub zip_entries: usize,
    /// Uncompressed bytes of one zip entry.
    pub entry_bytes: u64,
    /// Uncompressed bytes of all entries of a zip together.
    pub unzipped_bytes: u64,
    /// Uncompressed bytes per compressed byte of an entry (real DICOM compresses a few times;
    /// a zip bomb thousands of times).
    pub ratio: u64,
    /// Uploads held in memory at once (each up to `body_bytes` and what it decodes to); more
    /// wait their turn, unread, for up to [`Config::upload_wait_seconds`], then 503.
    pub concurrent: usize,
    /// Seconds an upload's body may stop arriving before it is refused (408) and its place
    /// freed.
    pub idle_seconds: u64,
}

impl Default for Limits {
    /// 2 GiB sent, 5000 entries of at most 64 MiB, 4 GiB unzipped, 200:1, 2 at once, 60 s
    /// without data at most.
    fn default() -> Self {
        Limits {
            body_bytes: 2 << 30,
            zip_entries: 5000,
            entry_bytes: 64 << 20,
            unzipped_bytes: 4 << 30,
            ratio: 200,
            concurrent: 2,
            idle_seconds: 60,
        }
    }
}

/// How the portal runs.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// The server is reached over TLS (behind a reverse proxy): cookies get `Secure`.
    pub tls: bool,
    /// Upload limits.
    pub limits: Limits,
    /// How long a session lasts, seconds.
    pub session_seconds: i64,
    /// Failed logins per minute, per user name and per client address, before 429.
    pub login_failures_per_minute: usize,
    /// How long a worker holds a job without a heartbeat, seconds.
    pub lease_seconds: i64,
    /// How long an upload waits for one of the `limits.concurrent` places before 503, seconds
    /// (0: 503 at once).
    pub upload_wait_seconds: u64,
    /// [`serve`] runs a worker thread of its own (off when separate `ctplan worker`s run the
    /// jobs).
    pub embedded_worker: bool,
}

impl Default for Config {
    /// No TLS, default limits, 12-hour sessions, 5 failed logins a minute, 10-minute leases,
    /// uploads waiting up to 2 minutes for a place, an embedded worker.
    fn default() -> Self {
        Config {
            tls: false,
            limits: Limits::default(),
            session_seconds: 12 * 3600,
            login_failures_per_minute: 5,
            lease_seconds: 600,
            upload_wait_seconds: 120,
            embedded_worker: true,
        }
    }
}

/// The portal: its data folder, database and settings; cheap to clone (shared).
#[derive(Clone)]
pub struct Portal {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    config: Config,
    limiter: auth::Limiter,
    uploads: upload::Places,
    hashing: Arc<tokio::sync::Semaphore>,
    models: plan::Models,
}

impl Portal {
    /// Open the portal on the data folder `dir` (created when missing; the database migrated).
    pub fn open(dir: &Path, config: Config) -> Result<Portal, PortalError> {
        Ok(Portal::with_store(Store::open(dir)?, config))
    }

    /// The portal on an open database (SQLite or PostgreSQL, [`Store::connect`]).
    pub fn with_store(store: Store, config: Config) -> Portal {
        let limiter = auth::Limiter::new(config.login_failures_per_minute);
        let uploads = upload::Places::new(config.limits.concurrent);
        let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
        Portal {
            inner: Arc::new(Inner {
                store,
                config,
                limiter,
                uploads,
                hashing: Arc::new(tokio::sync::Semaphore::new(threads)),
                models: Default::default(),
            }),
        }
    }

    /// The database.
    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    /// The settings.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    pub(crate) fn limiter(&self) -> &auth::Limiter {
        &self.inner.limiter
    }

    pub(crate) fn hashing(&self) -> &Arc<tokio::sync::Semaphore> {
        &self.inner.hashing
    }

    pub(crate) fn models(&self) -> &plan::Models {
        &self.inner.models
    }

    pub(crate) fn uploads(&self) -> &upload::Places {
        &self.inner.uploads
    }

    /// Create an administrator account (`ctplan serve --create-admin`).
    pub fn create_admin(&self, name: &str, password: &str) -> Result<store::User, PortalError> {
        admin::create_user(self, name, password, Role::Admin)
    }

    /// The HTTP application: every route of [`routes::ROUTES`] and the page.
    pub fn router(&self) -> axum::Router {
        routes::router(self.clone())
    }
}

/// Serve the portal on `addr` with its embedded worker (unless [`Config::embedded_worker`] is
/// off) until the process is stopped (or the
/// listener fails): builds the async runtime, binds, calls `ready` with the bound address
/// (port 0 picks a free one), and serves.
pub fn serve(
    portal: Portal,
    addr: SocketAddr,
    ready: impl FnOnce(SocketAddr),
) -> Result<(), PortalError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| PortalError::Io(format!("cannot start the server runtime: {e}")))?;
    let _worker = portal
        .config()
        .embedded_worker
        .then(|| jobs::Worker::spawn(portal.clone()));
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|e| PortalError::Io(format!("{addr}: cannot listen: {e}")))?;
        let bound = listener
            .local_addr()
            .map_err(|e| PortalError::Io(format!("{addr}: {e}")))?;
        ready(bound);
        axum::serve(
            listener,
            portal
                .router()
                .into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .map_err(|e| PortalError::Io(format!("{bound}: {e}")))
    })
}
