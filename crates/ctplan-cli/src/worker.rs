//! `ctplan worker`: runs the portal's jobs in a process of its own, beside `ctplan serve` (on
//! the same machine: the same SQLite file; elsewhere: the same PostgreSQL database, and the
//! data folder mounted at the same path). Several workers share the queue; one killed mid-job
//! loses its lease and the job runs again elsewhere.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;

use anyhow::{Context, Result};

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
    let store = ctplan_portal::Store::connect(&a.data, a.db.as_deref())
        .with_context(|| format!("{}: cannot open the portal's data", a.data.display()))?;
    let portal = ctplan_portal::Portal::with_store(store, config);
    let name = ctplan_portal::jobs::worker_name("worker");
    println!(
        "ctplan worker {name} on {} (data in {})",
        db_name(&a.db),
        a.data.display()
    );
    // Killed, not stopped: a job cut short is run again once its lease runs out.
    let stop = AtomicBool::new(false);
    ctplan_portal::jobs::work(&portal, &name, &stop, |r| match r {
        Ok(job) => println!("job {job} ended"),
        Err(e) => eprintln!("worker {name}: {e} (trying again)"),
    });
    Ok(ExitCode::SUCCESS)
}

/// The database in words, without a password.
fn db_name(db: &Option<String>) -> String {
    match db {
        None => "portal.db".to_string(),
        Some(url) => ctplan_portal::db::redact(url),
    }
}
