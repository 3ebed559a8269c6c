//! `ctplan serve`: the team portal (`ctplan_portal`): parse, open the data folder, serve (or
//! create an administrator and exit).

use std::io::BufRead;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};

#[derive(clap::Args)]
pub struct Args {
    /// Data folder: the database (portal.db) and the cases' files. Made when missing.
    #[arg(long, default_value = "ctplan-data")]
    data: PathBuf,
    /// A PostgreSQL database instead of portal.db: postgres://USER:PASSWORD@HOST:PORT/DB (it
    /// must exist; the schema is made). The cases' files stay in --data.
    #[arg(long, value_name = "URL")]
    db: Option<String>,
    /// Run no worker in the server: separate `ctplan worker` processes run the jobs.
    #[arg(long)]
    no_worker: bool,
    /// How long the embedded worker holds a job between heartbeats before another worker may
    /// take it over, seconds (a stage of the lung model must fit in it).
    #[arg(long, default_value_t = 600, value_parser = clap::value_parser!(i64).range(1..))]
    lease_seconds: i64,
    /// Address and port to listen on (port 0: any free port, printed).
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// The portal is reached over TLS through a reverse proxy: session cookies get `Secure`.
    #[arg(long)]
    behind_tls: bool,
    /// Create the administrator NAME and exit. The password is read from standard input (one
    /// line, at least 10 characters), never from the command line.
    #[arg(long, value_name = "NAME")]
    create_admin: Option<String>,
    /// Do not seed a new data folder with the demo (a surgeon `demo` with a printed password,
    /// and a lung case on a synthetic chest CT).
    #[arg(long)]
    no_demo: bool,
}

pub fn run(a: Args) -> Result<ExitCode> {
    let config = ctplan_portal::Config {
        tls: a.behind_tls,
        lease_seconds: a.lease_seconds,
        embedded_worker: !a.no_worker,
        ..Default::default()
    };
    let store = ctplan_portal::Store::connect(&a.data, a.db.as_deref())
        .with_context(|| format!("{}: cannot open the portal's data", a.data.display()))?;
    let portal = ctplan_portal::Portal::with_store(store, config);
    if let Some(name) = a.create_admin {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .context("reading the password from standard input")?;
        let password = line.trim_end_matches(['\n', '\r']);
        if password.is_empty() {
            bail!("no password on standard input (give it as one line)");
        }
        portal.create_admin(&name, password)?;
        println!("administrator {name} created in {}", a.data.display());
        return Ok(ExitCode::SUCCESS);
    }
    let demo = if a.no_demo {
        None
    } else {
        ctplan_portal::demo::seed(&portal).context("seeding the demo")?
    };
    let data = a.data.display().to_string();
    ctplan_portal::serve(portal, a.listen, |addr| {
        println!("ctplan portal on http://{addr}/ (data in {data}); Ctrl-C stops it");
        if let Some((name, password)) = demo {
            println!(
                "a new portal: log in as {name} with password {password} (shown once) to see the demo case"
            );
        }
    })?;
    Ok(ExitCode::SUCCESS)
}
