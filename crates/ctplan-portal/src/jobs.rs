//! The job queue and its worker. Jobs live in the database: `queued` → `running` (a worker
//! holds a lease until `lease_until`, renewed by a heartbeat at every stage) → `done` or
//! `failed` (with the reason in words). A worker claims the oldest job that is queued or whose
//! lease has expired with one atomic `UPDATE`, so a worker that died mid-job (killed, machine
//! lost) loses nothing: once its lease runs out, the next worker runs the job again, up to
//! [`MAX_ATTEMPTS`] times. A worker whose lease was taken over can no longer write the job's
//! state (every update names the worker).
//!
//! The lung job is the library's workflow, nothing more: the stored CT →
//! `ctplan_lung::segment::model` (the chest model, `model.json`) → `ctplan_lung::plan_case`
//! with the default request (the analysis and every segment's resection, `report.json`). The
//! implant job of a cranial case is [`crate::implant`]'s; [`crate::events`] streams a job's
//! progress.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;

use crate::auth::Session;
use crate::db::{Dialect, Row};
use crate::params;
use crate::store::{Job, Role, Store, new_id, now, random_hex};
use crate::{ApiError, Portal, PortalError};

/// A job whose worker was lost this many times is failed rather than run again.
pub const MAX_ATTEMPTS: i64 = 3;

/// A job a worker has claimed.
#[derive(Debug, Clone, PartialEq)]
pub struct Claim {
    /// The job.
    pub job: String,
    /// Its case.
    pub case_id: String,
    /// What to run.
    pub kind: String,
}

const JOB_COLUMNS: &str = "id, case_id, kind, state, attempts, progress, stage, error, lease_until";

fn job_row(r: &Row) -> Result<Job, PortalError> {
    Ok(Job {
        id: r.get(0)?,
        case_id: r.get(1)?,
        kind: r.get(2)?,
        state: r.get(3)?,
        attempts: r.get(4)?,
        progress: r.get(5)?,
        stage: r.get(6)?,
        error: r.get(7)?,
        lease_until: r.get(8)?,
    })
}

impl Store {
    /// Queue a job of `kind` for a case (the case's status becomes `queued`), unless one of its
    /// jobs is queued or running already (`None`): checked in the same statement as the insert,
    /// under a lock on the case's row, so that two requests at once cannot both queue one.
    pub fn enqueue(&self, case: &str, kind: &str) -> Result<Option<Job>, PortalError> {
        let id = new_id()?;
        self.conn().transaction(|tx| {
            // The case's row locked first: on PostgreSQL two transactions would otherwise
            // each insert, neither seeing the other's uncommitted job (SQLite's write lock
            // serialises them anyway). The second waits here, then its insert sees the first's.
            tx.execute(
                "UPDATE cases SET status = status WHERE id = ?1",
                params![case],
            )?;
            let n = tx.execute(
                "INSERT INTO jobs (id, case_id, kind, state, created, seq)
                 SELECT ?1, ?2, ?3, 'queued', CAST(?4 AS BIGINT),
                     (SELECT COALESCE(MAX(seq), 0) + 1 FROM jobs)
                 WHERE NOT EXISTS (SELECT 1 FROM jobs
                     WHERE case_id = ?2 AND state IN ('queued', 'running'))",
                params![id, case, kind, now()],
            )?;
            if n == 0 {
                return Ok(None);
            }
            tx.execute(
                "UPDATE cases SET status = 'queued' WHERE id = ?1",
                params![case],
            )?;
            tx.query_opt(
                &format!("SELECT {JOB_COLUMNS} FROM jobs WHERE id = ?1"),
                params![id],
                job_row,
            )
        })
    }

    /// The job `id`.
    pub fn job(&self, id: &str) -> Result<Option<Job>, PortalError> {
        self.conn().query_opt(
            &format!("SELECT {JOB_COLUMNS} FROM jobs WHERE id = ?1"),
            params![id],
            job_row,
        )
    }

    /// The newest job of a case.
    pub fn latest_job(&self, case: &str) -> Result<Option<Job>, PortalError> {
        self
            .conn()
            .query_opt(
                &format!(
                    "SELECT {JOB_COLUMNS} FROM jobs WHERE case_id = ?1 ORDER BY created DESC, seq DESC LIMIT 1"
                ),
                params![case],
                job_row,
            )
    }

    /// Claim the oldest job that is queued or whose lease ran out before `at`, for `worker`,
    /// with a lease of `lease` seconds. Jobs whose workers were lost [`MAX_ATTEMPTS`] times are
    /// failed first. On PostgreSQL the job is chosen `FOR UPDATE SKIP LOCKED`: workers claiming
    /// at once take different jobs instead of waiting on one another's row; on SQLite the
    /// transaction holds the write lock, so claims are one at a time anyway.
    pub fn claim(&self, worker: &str, at: i64, lease: i64) -> Result<Option<Claim>, PortalError> {
        let lock = match self.dialect() {
            Dialect::Sqlite => "",
            Dialect::Postgres => " FOR UPDATE SKIP LOCKED",
        };
        self.conn().transaction(|tx| {
            // Jobs first, then their cases, in every transaction (no lock-order deadlock).
            let lost = tx.query_map(
                "UPDATE jobs SET state = 'failed', worker = NULL,
                 error = 'the worker running it was lost ' || attempts || ' times'
                 WHERE state = 'running' AND lease_until < ?1 AND attempts >= ?2
                 RETURNING case_id",
                params![at, MAX_ATTEMPTS],
                |r| r.get::<String>(0),
            )?;
            for case in lost {
                tx.execute(
                    "UPDATE cases SET status = 'failed' WHERE id = ?1",
                    params![case],
                )?;
            }
            let claim = tx.query_opt(
                &format!(
                    "UPDATE jobs SET state = 'running', worker = ?1,
                     lease_until = CAST(?2 AS BIGINT) + CAST(?3 AS BIGINT),
                     heartbeat = ?2, attempts = attempts + 1, error = NULL
                     WHERE id = (SELECT id FROM jobs WHERE state = 'queued'
                         OR (state = 'running' AND lease_until < ?2)
                         ORDER BY created, seq LIMIT 1{lock})
                     RETURNING id, case_id, kind"
                ),
                params![worker, at, lease],
                |r| {
                    Ok(Claim {
                        job: r.get(0)?,
                        case_id: r.get(1)?,
                        kind: r.get(2)?,
                    })
                },
            )?;
            if let Some(c) = &claim {
                tx.execute(
                    "UPDATE cases SET status = 'running' WHERE id = ?1",
                    params![c.case_id],
                )?;
            }
            Ok(claim)
        })
    }

    /// Renew `worker`'s lease on `job` and record its progress; false when the lease is no
    /// longer the worker's.
    pub fn heartbeat(
        &self,
        job: &str,
        worker: &str,
        lease: i64,
        progress: f64,
        stage: &str,
    ) -> Result<bool, PortalError> {
        let at = now();
        Ok(self.conn().execute(
            "UPDATE jobs SET heartbeat = CAST(?3 AS BIGINT),
             lease_until = CAST(?3 AS BIGINT) + CAST(?4 AS BIGINT), progress = ?5, stage = ?6
             WHERE id = ?1 AND worker = ?2 AND state = 'running'",
            params![job, worker, at, lease, progress, stage],
        )? == 1)
    }

    /// End `worker`'s job: done (`error` `None`) or failed with the reason; the case's status
    /// follows, and the run's `job` audit row, all in one transaction (a worker killed at any
    /// point leaves all or none of them). False when the job is no longer the worker's (nothing
    /// written).
    pub fn finish(
        &self,
        job: &str,
        worker: &str,
        error: Option<&str>,
    ) -> Result<bool, PortalError> {
        let state = if error.is_some() { "failed" } else { "done" };
        self.conn().transaction(|tx| {
            let ended = tx.query_opt(
                "UPDATE jobs SET state = ?3, error = ?4, lease_until = NULL,
                 progress = CASE WHEN ?3 = 'done' THEN 1 ELSE progress END
                 WHERE id = ?1 AND worker = ?2 AND state = 'running'
                 RETURNING case_id, kind",
                params![job, worker, state, error],
                |r| Ok((r.get::<String>(0)?, r.get::<String>(1)?)),
            )?;
            let Some((case, kind)) = ended else {
                return Ok(false);
            };
            tx.execute(
                "UPDATE cases SET status = ?2 WHERE id = ?1",
                params![case, state],
            )?;
            crate::store::audit_row(tx, None, "job", Some(&case), &kind)?;
            Ok(true)
        })
    }
}

/// Claim one job for `worker` and run it to its end. `Ok(None)` when nothing is waiting.
pub fn run_next(portal: &Portal, worker: &str) -> Result<Option<String>, PortalError> {
    let store = portal.store();
    let lease = portal.config().lease_seconds;
    let Some(claim) = store.claim(worker, now(), lease)? else {
        return Ok(None);
    };
    let outcome =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run(portal, worker, &claim)))
            .unwrap_or_else(|_| Err("internal error: the job's computation panicked".to_string()));
    store.finish(&claim.job, worker, outcome.err().as_deref())?;
    Ok(Some(claim.job))
}

/// Run a claimed job; the reason in words when it fails.
fn run(portal: &Portal, worker: &str, claim: &Claim) -> Result<(), String> {
    let store = portal.store();
    let case = store
        .case_by_id(&claim.case_id)
        .map_err(|e| e.to_string())?
        .ok_or("the case is gone")?;
    match claim.kind.as_str() {
        "lung" => lung(portal, worker, claim, &store.case_dir(&case)),
        crate::implant::KIND => crate::implant::run(portal, worker, claim, &store.case_dir(&case)),
        other => Err(format!("unknown job kind {other:?}")),
    }
}

/// The lung workflow: CT → chest model → plan; `model.json` and `report.json` into the case.
fn lung(portal: &Portal, worker: &str, claim: &Claim, dir: &std::path::Path) -> Result<(), String> {
    use ctplan_lung::segment::{Stage, hounsfield, model};
    let store = portal.store();
    let lease = portal.config().lease_seconds;
    let steps = Stage::ALL.len() as f64 + 2.0;
    let beat = |done: f64, stage: &str| {
        let _ = store.heartbeat(&claim.job, worker, lease, done / steps, stage);
    };
    beat(0.0, "reading the CT");
    let image = ctplan_io::read(&dir.join("ct.nrrd")).map_err(|e| e.to_string())?;
    let ct = hounsfield(&image.volume);
    drop(image);
    let nodules = nodule_points(dir)?;
    let mut done = 1.0;
    let built = model(&ct, &nodules, &mut |stage| {
        beat(done, stage.name());
        done += 1.0;
    })
    .map_err(|e| format!("lung model: {e}"))?;
    drop(ct);
    beat(done, "plan");
    let report = ctplan_lung::plan_case(&built.analysed, &ctplan_lung::Request::default())
        .map_err(|e| format!("lung plan: {e}"))?;
    beat(done + 0.5, "meshes for the viewer");
    let scene = ctplan_lung::case::viewer_scene(&built.analysed, report.halo_mm);
    let model_json = serde_json::to_string_pretty(&built.summary).map_err(|e| e.to_string())?;
    let report_json = report.to_json().map_err(|e| e.to_string())?;
    let masks = built.chest.masks();
    // A worker whose lease ran out (a stage longer than the lease) while another took the job
    // over writes nothing: the results are the other worker's to write.
    if !store
        .heartbeat(
            &claim.job,
            worker,
            lease,
            done / steps,
            "writing the results",
        )
        .map_err(|e| e.to_string())?
    {
        return Err("the job was taken over by another worker; its results are not written".into());
    }
    // The masks the viewer's resections are planned on (`plan::model` reads them back), each
    // written whole (temporary file, then renamed); the results after them, so that a case
    // showing `report.json` has its model.
    let model_dir = dir.join(crate::plan::MODEL_DIR);
    std::fs::create_dir_all(&model_dir).map_err(|e| format!("{}: {e}", model_dir.display()))?;
    let opts = ctplan_io::WriteOptions {
        compress: true,
        ..Default::default()
    };
    for (name, mask) in masks {
        let file = model_dir.join(format!("{name}.nrrd"));
        ctplan_io::write(&file, &ctplan_core::AnyVolume::U8(mask), &opts)
            .map_err(|e| e.to_string())?;
    }
    ctplan_io::write_bytes(&dir.join("scene.glb"), &scene).map_err(|e| e.to_string())?;
    for (name, text) in [("model.json", model_json), ("report.json", report_json)] {
        ctplan_io::write_bytes(&dir.join(name), text.as_bytes()).map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// A worker's name: `prefix`, the host's name when known, the process and a random part (one
/// name per worker, ever; the name in `jobs.worker` tells where a job ran).
pub fn worker_name(prefix: &str) -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_default();
    let random = random_hex(4).unwrap_or_default();
    format!("{prefix}-{host}-{}-{random}", std::process::id())
}

/// Run jobs of `portal`'s queue as `name`, one after the other, until `stop` is set (checked
/// between jobs): the loop of every worker, embedded or `ctplan worker`. When the queue is
/// empty, or the database cannot be reached, it waits 250 ms and tries again; `ended` hears of
/// every job run (its identifier) and every error (the worker goes on).
pub fn work(
    portal: &Portal,
    name: &str,
    stop: &AtomicBool,
    mut ended: impl FnMut(Result<&str, &PortalError>),
) {
    while !stop.load(Ordering::Relaxed) {
        match run_next(portal, name) {
            Ok(Some(job)) => ended(Ok(&job)),
            Ok(None) => std::thread::sleep(Duration::from_millis(250)),
            Err(e) => {
                ended(Err(&e));
                std::thread::sleep(Duration::from_millis(250));
            }
        }
    }
}

/// The embedded worker: a thread that runs jobs one after the other, polling the queue every
/// second when it is empty. Stopped (after its current job) when dropped.
pub struct Worker {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Worker {
    /// Start a worker on `portal`'s queue.
    pub fn spawn(portal: Portal) -> Worker {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            work(&portal, &worker_name("embedded"), &flag, |_| {});
        });
        Worker {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The job a case of `case_kind` runs: `lung` for a lung case, [`crate::implant::KIND`] for a
/// cranial one.
pub fn job_kind(case_kind: &str) -> Option<&'static str> {
    match case_kind {
        "lung" => Some("lung"),
        "cranio" => Some(crate::implant::KIND),
        _ => None,
    }
}

/// The file of a lung case holding the lesion points its model is built with (LPS mm), as
/// the surgeon confirmed them: a candidate of `model.json`, or a point of their own.
pub const NODULES_FILE: &str = "nodules.json";

/// At most this many lesion points per case.
pub const MAX_NODULES: usize = 10;

/// The lesion points of a case (none when it has no [`NODULES_FILE`]).
fn nodule_points(dir: &std::path::Path) -> Result<Vec<[f64; 3]>, String> {
    match std::fs::read(dir.join(NODULES_FILE)) {
        Ok(b) => serde_json::from_slice(&b).map_err(|e| format!("{NODULES_FILE}: {e}")),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(format!("{NODULES_FILE}: {e}")),
    }
}

/// `POST /api/cases/{case}/jobs`'s optional body.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobRequest {
    /// Lesion points (LPS mm) to grow lesions from, replacing the case's; absent: keep them.
    pub nodules: Option<Vec<[f64; 3]>>,
}

/// `POST /api/cases/{case}/jobs`: run the case's workflow (again) (a surgeon of its team),
/// with the lesion points of the body (`{"nodules": [[x, y, z], ...]}`, LPS mm) when it has
/// one; 409 while one is queued or running.
pub async fn post(
    State(portal): State<Portal>,
    axum::Extension(session): axum::Extension<Session>,
    Path(id): Path<String>,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> Result<Json<Job>, ApiError> {
    let case = crate::cases::visible(&portal, &session, &id)?;
    let request: Option<JobRequest> = if body.is_empty() {
        None
    } else {
        Some(crate::auth::json_body(&headers, &body)?)
    };
    session.require(&[Role::Surgeon])?;
    if !portal.store().is_member(&case.team_id, &session.user.id)? {
        return Err(ApiError::forbidden(
            "only the case's own team may run its jobs",
        ));
    }
    let Some(kind) = job_kind(&case.kind) else {
        return Err(ApiError::bad_request("this kind of case has no job"));
    };
    let busy = |j: &Job| j.state == "queued" || j.state == "running";
    if portal
        .store()
        .latest_job(&case.id)?
        .as_ref()
        .is_some_and(busy)
    {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "a job of this case is queued or running",
        ));
    }
    if let Some(points) = request.and_then(|r| r.nodules) {
        if case.kind != "lung" {
            return Err(ApiError::bad_request("nodules are points of a lung case"));
        }
        if points.len() > MAX_NODULES
            || points
                .iter()
                .flatten()
                .any(|v| !v.is_finite() || v.abs() > 1e5)
        {
            return Err(ApiError::bad_request(format!(
                "nodules: at most {MAX_NODULES} points of three finite numbers within ±100000 mm"
            )));
        }
        let file = portal.store().case_dir(&case).join(NODULES_FILE);
        let json = serde_json::to_vec(&points).map_err(ApiError::internal)?;
        ctplan_io::write_bytes(&file, &json).map_err(ApiError::internal)?;
    }
    let Some(job) = portal.store().enqueue(&case.id, kind)? else {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "a job of this case is queued or running",
        ));
    };
    portal
        .store()
        .audit(Some(&session.user.id), "job", Some(&case.id), "queued")?;
    Ok(Json(job))
}

/// `GET /api/jobs/{job}`: state, progress, stage and error of a job of a case the user sees.
pub async fn get(
    State(portal): State<Portal>,
    axum::Extension(session): axum::Extension<Session>,
    Path(id): Path<String>,
) -> Result<Json<Job>, ApiError> {
    let job = portal.store().job(&id)?.ok_or_else(ApiError::not_found)?;
    crate::cases::visible(&portal, &session, &job.case_id)?;
    Ok(Json(job))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lease_is_exclusive_until_it_expires_and_attempts_are_bounded() {
        for db in crate::store::testing::fresh() {
            lease_exclusive_and_attempts_bounded(&db.open());
        }
    }

    #[test]
    fn two_connections_queueing_one_case_at_once_queue_one_job() {
        for db in crate::store::testing::fresh() {
            let (a, b) = (db.open(), db.open());
            let team = a.create_team("t").unwrap();
            let u = a.create_user("u", "h", Role::Surgeon).unwrap();
            for i in 0..20 {
                let case = a.create_case(&team, "lung", "c", &u.id, "f").unwrap();
                let start = std::sync::Barrier::new(2);
                let queued = std::thread::scope(|s| {
                    let ta = s.spawn(|| {
                        start.wait();
                        a.enqueue(&case.id, "lung").unwrap()
                    });
                    let tb = s.spawn(|| {
                        start.wait();
                        b.enqueue(&case.id, "lung").unwrap()
                    });
                    [ta.join().unwrap(), tb.join().unwrap()]
                });
                let n = queued.iter().filter(|j| j.is_some()).count();
                assert_eq!(n, 1, "{} case {i}: {queued:?}", db.name());
            }
        }
    }

    fn lease_exclusive_and_attempts_bounded(s: &Store) {
        let team = s.create_team("t").unwrap();
        let u = s.create_user("u", "h", Role::Surgeon).unwrap();
        let case = s.create_case(&team, "lung", "c", &u.id, "f").unwrap();
        let job = s.enqueue(&case.id, "lung").unwrap().unwrap();
        // One job of a case at a time.
        assert_eq!(s.enqueue(&case.id, "lung").unwrap(), None);
        let t = 1_000_000;
        let a = s.claim("a", t, 60).unwrap().unwrap();
        assert_eq!(a.job, job.id);
        // Held: nobody else gets it.
        assert_eq!(s.claim("b", t + 30, 60).unwrap(), None);
        // Expired: the next worker gets it, and the first can no longer write it.
        let b = s.claim("b", t + 61, 60).unwrap().unwrap();
        assert_eq!(b.job, job.id);
        assert!(!s.finish(&job.id, "a", None).unwrap());
        assert_eq!(s.job(&job.id).unwrap().unwrap().attempts, 2);
        // A third loss, then a fourth claim fails the job instead of running it again.
        s.claim("c", t + 200, 60).unwrap().unwrap();
        assert_eq!(s.claim("d", t + 400, 60).unwrap(), None);
        let j = s.job(&job.id).unwrap().unwrap();
        assert_eq!(j.state, "failed");
        assert!(j.error.unwrap().contains("lost 3 times"));
        assert_eq!(s.case_by_id(&case.id).unwrap().unwrap().status, "failed");
    }
}
