//! `ctplan worker`: runs the portal's jobs in a process of its own, beside `ctplan serve` (on
//! the same machine: the same SQLite file; elsewhere: the same PostgreSQL database, and the
//! data folder mounted at the same path). Several workers share the queue; one killed mid-job
//! loses its lease and the job runs again elsewhere. Ctrl-C or SIGTERM stops it after the job
//! it is running (a second one stops it at once, and the job runs again after its lease).

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context, Result, bail};

#[derive(clap::Args)]
pub struct Args {
    /// The portal's data folder (the cases' files; with SQLite, portal.db too): the one
    /// `ctplan serve --data` names, shared storage when the worker runs on another machine.
    #[arg(long, default_value = "ctplan-data")]
    data: PathBuf,
    /// The PostgreSQL database `ctplan serve --db` names (postgres://...); without it, the
    /// SQLite file in --data.
    #[arg(long, value_name = "URL")]
    db: Option<String>,
    /// How long the worker holds a job between heartbeats before another worker may take it
    /// over, seconds (a stage of the lung model must fit in it).
    #[arg(long, default_value_t = 600, value_parser = clap::value_parser!(i64).range(1..))]
    lease_seconds: i64,
}

pub fn run(a: Args) -> Result<ExitCode> {
    let config = ctplan_portal::Config {
        lease_seconds: a.lease_seconds,
        embedded_worker: false,
        ..Default::default()
    };
    // A worker joins a portal; it never makes one (a mistyped --data would otherwise give a
    // new, empty portal whose queue the worker waits on for ever).
    if !a.data.is_dir() {
        bail!(
            "{}: no such data folder (the one `ctplan serve --data` uses, mounted at the same path)",
            a.data.display()
        );
    }
    let db_file = a.data.join(ctplan_portal::store::DB_FILE);
    if a.db.is_none() && !db_file.is_file() {
        bail!(
            "{}: no portal database here (start `ctplan serve --data` on this folder first, or give --db)",
            a.data.display()
        );
    }
    let store = ctplan_portal::Store::connect(&a.data, a.db.as_deref())
        .with_context(|| format!("{}: cannot open the portal's data", a.data.display()))?;
    let portal = ctplan_portal::Portal::with_store(store, config);
    let name = ctplan_portal::jobs::worker_name("worker");
    println!(
        "ctplan worker {name} on {} (data in {})",
        db_name(&a.db),
        a.data.display()
    );
    // SAFETY: setting signal dispositions; the handler only stores to an atomic and resets
    // the dispositions, both async-signal-safe.
    unsafe {
        libc::signal(
            libc::SIGINT,
            on_stop as extern "C" fn(libc::c_int) as libc::sighandler_t,
        );
        libc::signal(
            libc::SIGTERM,
            on_stop as extern "C" fn(libc::c_int) as libc::sighandler_t,
        );
    }
    ctplan_portal::jobs::work(&portal, &name, &STOP, |r| match r {
        Ok(job) => println!("job {job} ended"),
        Err(e) => eprintln!("worker {name}: {e} (trying again)"),
    });
    println!("worker {name} stopped");
    Ok(ExitCode::SUCCESS)
}

/// Set by Ctrl-C or SIGTERM: the worker ends after its current job.
static STOP: AtomicBool = AtomicBool::new(false);

/// The first stop signal asks the worker to end after its job; the next one ends the process
/// at once (the default disposition again).
extern "C" fn on_stop(_: libc::c_int) {
    STOP.store(true, Ordering::Relaxed);
    // SAFETY: `signal` is async-signal-safe.
    unsafe {
        libc::signal(libc::SIGINT, libc::SIG_DFL);
        libc::signal(libc::SIGTERM, libc::SIG_DFL);
    }
}

/// The database in words, without a password.
fn db_name(db: &Option<String>) -> String {
    match db {
        None => "portal.db".to_string(),
        Some(url) => ctplan_portal::db::redact(url),
    }
}
