//! The portal's job queue with real processes: `ctplan worker`s and `ctplan serve` started as a
//! user starts them, killed with SIGKILL (`kill -9`) in the middle of a job, started again.
//! Each test runs on SQLite (the file in the data folder, shared by the processes) and on
//! PostgreSQL when `CTPLAN_TEST_POSTGRES` names a server (`.ci/run` starts one; with
//! `CTPLAN_REQUIRE_DATA=1` a missing server fails the test), each time in a database of its own.
//!
//! The job is the lung workflow on the demo's procedural chest CT at 2 mm (as
//! `ctplan-portal/tests/jobs.rs` uses): a few seconds of work, so that a kill lands while it
//! runs. The test checks that the kill did land mid-job (the job still `running` after it),
//! so it cannot pass by being too late. Deadlines are generous guards against hanging, not
//! timing checks.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ctplan_portal::Store;
use ctplan_portal::store::{Job, Role};

/// The demo's chest CT (`ctplan demo`): the procedural anatomy rendered at 2 mm, as NRRD bytes.
fn chest_nrrd() -> Vec<u8> {
    use ctplan_lung::phantom::{Options, render, synthetic};
    let opts = Options {
        voxel_mm: [2.0; 3],
        noise_sd_hu: 20.0,
        seed: 1,
    };
    let ct = render(&synthetic::chest(1.0), &opts).unwrap().ct;
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("chest.nrrd");
    ctplan_io::write(
        &p,
        &ctplan_core::AnyVolume::I16(ct),
        &ctplan_io::WriteOptions::default(),
    )
    .unwrap();
    std::fs::read(p).unwrap()
}

/// A portal to test on: a data folder and, for PostgreSQL, a new database's URL.
struct Portal {
    _dir: tempfile::TempDir,
    data: PathBuf,
    db: Option<String>,
}

impl Portal {
    fn open(&self) -> Store {
        Store::connect(&self.data, self.db.as_deref()).unwrap()
    }

    fn name(&self) -> &'static str {
        if self.db.is_some() {
            "postgres"
        } else {
            "sqlite"
        }
    }

    /// `ctplan VERB --data DATA [--db URL] ARGS`, stdout piped, after its first line (the
    /// process says it runs).
    fn start(&self, verb: &str, args: &[&str]) -> Child {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_ctplan"));
        cmd.arg(verb).arg("--data").arg(&self.data).args(args);
        if let Some(db) = &self.db {
            cmd.args(["--db", db]);
        }
        let mut child = cmd.stdout(Stdio::piped()).spawn().unwrap();
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        out.read_line(&mut line).unwrap();
        assert!(line.contains("ctplan"), "{verb}: {line:?}");
        // Keep reading (and dropping) what it prints, so that it never blocks on a full pipe.
        std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
        child
    }
}

/// SQLite, then PostgreSQL when a server is given.
fn portals() -> Vec<Portal> {
    let mut out = Vec::new();
    let mut make = |db: Option<String>| {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        out.push(Portal {
            _dir: dir,
            data,
            db,
        });
    };
    make(None);
    if let Some(server) = ctplan_testdata::postgres_url() {
        let name = format!(
            "ctplan_e2e_{}",
            ctplan_portal::store::random_hex(8).unwrap()
        );
        make(Some(
            ctplan_portal::db::create_postgres_database(&server, &name).unwrap(),
        ));
    }
    out
}

/// `n` lung cases of one team, each with its job queued: their case identifiers and folders.
fn queue(store: &Store, n: usize) -> Vec<(String, PathBuf)> {
    let ct = chest_nrrd();
    let team = store.create_team("thoracic").unwrap();
    let user = store.create_user("s", "h", Role::Surgeon).unwrap();
    store.add_member(&team, &user.id).unwrap();
    (0..n)
        .map(|i| {
            let folder = ctplan_portal::store::new_id().unwrap();
            let case = store
                .create_case(&team, "lung", &format!("c{i}"), &user.id, &folder)
                .unwrap();
            let dir = store.case_dir(&case);
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join("ct.nrrd"), &ct).unwrap();
            store.enqueue(&case.id, "lung").unwrap().unwrap();
            (case.id, dir)
        })
        .collect()
}

fn job(store: &Store, case: &str) -> Job {
    store.latest_job(case).unwrap().unwrap()
}

/// Poll until `f` gives something; fail saying `what` after 10 minutes.
fn wait<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(t) = f() {
            return t;
        }
        assert!(
            start.elapsed() < Duration::from_secs(600),
            "waited 10 minutes for {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn files(dir: &Path) -> Vec<String> {
    let mut f: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    f.sort();
    f
}

/// The case's job ended `done` after `attempts` claims, its results whole, one `job` audit row
/// (the run that ended; a killed run writes none).
fn check_done(p: &Portal, store: &Store, case: &str, dir: &Path, attempts: i64) {
    let j = job(store, case);
    assert_eq!(j.state, "done", "{}: {j:?}", p.name());
    assert_eq!(j.attempts, attempts, "{}: {j:?}", p.name());
    assert_eq!(j.progress, 1.0, "{}", p.name());
    assert_eq!(
        files(dir),
        ["ct.nrrd", "model", "model.json", "report.json", "scene.glb"],
        "{}",
        p.name()
    );
    let model: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("model.json")).unwrap()).unwrap();
    assert!(model["right_lung_ml"].as_f64().unwrap() > 100.0, "{model}");
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("report.json")).unwrap()).unwrap();
    assert!(report.is_object());
    let runs = store
        .audit_of(case)
        .unwrap()
        .into_iter()
        .filter(|a| a.action == "job" && a.detail == "lung")
        .count();
    assert_eq!(runs, 1, "{}", p.name());
    let status: String = store
        .conn()
        .query_row(
            "SELECT status FROM cases WHERE id = ?1",
            ctplan_portal::params![case],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(status, "done", "{}", p.name());
}

/// Kill `victim` (SIGKILL) once `case`'s job runs in it, and check that it was mid-job: the job
/// still `running`, no result written.
fn kill_mid_job(p: &Portal, store: &Store, mut victim: Child, case: &str, dir: &Path) {
    wait("the job to start", || {
        let j = job(store, case);
        (j.state == "running" && j.progress > 0.0).then_some(())
    });
    victim.kill().unwrap();
    victim.wait().unwrap();
    let j = job(store, case);
    assert_eq!(j.state, "running", "{}: killed too late: {j:?}", p.name());
    assert_eq!(j.attempts, 1, "{}", p.name());
    assert_eq!(files(dir), ["ct.nrrd"], "{}", p.name());
}

#[test]
fn a_worker_killed_mid_job_loses_nothing() {
    for p in portals() {
        let store = p.open();
        let (case, dir) = queue(&store, 1).remove(0);
        let first = p.start("worker", &["--lease-seconds", "2"]);
        kill_mid_job(&p, &store, first, &case, &dir);
        // A worker started again takes the job over once the dead one's lease ran out.
        let start = Instant::now();
        let mut second = p.start("worker", &["--lease-seconds", "2"]);
        wait("the job to end", || {
            let j = job(&store, &case);
            (j.state == "done" || j.state == "failed").then_some(())
        });
        eprintln!(
            "{}: the restarted worker ended the job in {:.1} s",
            p.name(),
            start.elapsed().as_secs_f64()
        );
        second.kill().unwrap();
        second.wait().unwrap();
        check_done(&p, &store, &case, &dir, 2);
    }
}

#[test]
fn the_server_killed_mid_job_loses_nothing() {
    for p in portals() {
        let store = p.open();
        let (case, dir) = queue(&store, 1).remove(0);
        let args = ["--listen", "127.0.0.1:0", "--lease-seconds", "2"];
        let first = p.start("serve", &args);
        kill_mid_job(&p, &store, first, &case, &dir);
        let start = Instant::now();
        let mut again = p.start("serve", &args);
        wait("the job to end", || {
            let j = job(&store, &case);
            (j.state == "done" || j.state == "failed").then_some(())
        });
        eprintln!(
            "{}: the restarted server ended the job in {:.1} s",
            p.name(),
            start.elapsed().as_secs_f64()
        );
        again.kill().unwrap();
        again.wait().unwrap();
        check_done(&p, &store, &case, &dir, 2);
    }
}

#[test]
fn two_workers_share_one_queue_and_run_each_job_once() {
    for p in portals() {
        let store = p.open();
        // Both workers wait on an empty queue first, so that both take part.
        let mut workers = [p.start("worker", &[]), p.start("worker", &[])];
        let cases = queue(&store, 4);
        let start = Instant::now();
        for (case, _) in &cases {
            wait("the jobs to end", || {
                let j = job(&store, case);
                (j.state == "done" || j.state == "failed").then_some(())
            });
        }
        // Reported, not checked (BENCHMARKS.md).
        eprintln!(
            "{}: 4 jobs run by 2 workers in {:.1} s",
            p.name(),
            start.elapsed().as_secs_f64()
        );
        for w in &mut workers {
            w.kill().unwrap();
            w.wait().unwrap();
        }
        for (case, dir) in &cases {
            check_done(&p, &store, case, dir, 1);
        }
        let ran_by: Vec<String> = store
            .conn()
            .query_map(
                "SELECT DISTINCT worker FROM jobs",
                ctplan_portal::params![],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(ran_by.len(), 2, "{}: {ran_by:?}", p.name());
    }
}

#[test]
fn three_workers_racing_for_many_short_jobs_claim_each_once() {
    for p in portals() {
        let store = p.open();
        let team = store.create_team("t").unwrap();
        let user = store.create_user("s", "h", Role::Surgeon).unwrap();
        // The workers wait on an empty queue, then jobs of a kind no worker knows (they end
        // at once, `failed`, in words) are queued: the workers spend their time claiming, so
        // that their claims race.
        let mut workers: Vec<Child> = (0..3).map(|_| p.start("worker", &[])).collect();
        let start = Instant::now();
        let cases: Vec<String> = (0..300)
            .map(|i| {
                let case = store
                    .create_case(&team, "lung", &format!("c{i}"), &user.id, "none")
                    .unwrap();
                store.enqueue(&case.id, "nothing").unwrap().unwrap();
                case.id
            })
            .collect();
        for case in &cases {
            wait("the jobs to end", || {
                (job(&store, case).state == "failed").then_some(())
            });
        }
        let took = start.elapsed().as_secs_f64();
        for w in &mut workers {
            w.kill().unwrap();
            w.wait().unwrap();
        }
        for case in &cases {
            let j = job(&store, case);
            assert_eq!(j.attempts, 1, "{}: {j:?}", p.name());
            assert!(
                j.error.as_deref().unwrap().contains("unknown job kind"),
                "{j:?}"
            );
            let runs = store
                .audit_of(case)
                .unwrap()
                .into_iter()
                .filter(|a| a.action == "job")
                .count();
            assert_eq!(runs, 1, "{}", p.name());
        }
        let per_worker: Vec<i64> = store
            .conn()
            .query_map(
                "SELECT COUNT(*) FROM jobs GROUP BY worker ORDER BY 1",
                ctplan_portal::params![],
                |r| r.get(0),
            )
            .unwrap();
        // Reported, not checked (BENCHMARKS.md).
        eprintln!(
            "{}: 300 short jobs queued and run by 3 workers in {took:.2} s, per worker {per_worker:?}",
            p.name()
        );
    }
}

#[test]
fn a_worker_sent_sigterm_ends_its_job_then_stops() {
    let p = portals().remove(0);
    let store = p.open();
    let (case, dir) = queue(&store, 1).remove(0);
    let mut worker = p.start("worker", &[]);
    wait("the job to start", || {
        let j = job(&store, &case);
        (j.state == "running" && j.progress > 0.0).then_some(())
    });
    // SAFETY: a signal to the child this test started.
    assert_eq!(
        unsafe { libc::kill(worker.id() as libc::pid_t, libc::SIGTERM) },
        0
    );
    let status = worker.wait().unwrap();
    assert!(status.success(), "{status}");
    check_done(&p, &store, &case, &dir, 1);
}
