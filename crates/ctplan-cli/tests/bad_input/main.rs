//! The bad-input catalogue, `docs/bad-input.md`, run against the real binary.
//!
//! Every case builds its bad input in a fresh folder, runs `ctplan` there (relative paths, so
//! the messages are the ones a user sees) and checks, against the catalogue's row of the same
//! id: the command, the exit code and the exact message. Besides, for every case: stderr is
//! one line and no panic; the folder is byte for byte as it was before (nothing created,
//! nothing deleted, nothing changed: inputs intact, no partial output); the command failed
//! within 5 s of wall time and 512 MB of peak memory (the child's own `ru_maxrss`).
//!
//! The catalogue is the one place the messages live. `CTPLAN_BLESS=1 cargo test -p ctplan-cli
//! --test bad_input` rewrites its table from what the binary prints, for review in the diff.

mod cases;
#[path = "../harness/mod.rs"]
mod harness;
mod make;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use cases::{Case, cases};

/// Seconds a failing command may run.
const TIME_LIMIT: Duration = Duration::from_secs(5);
/// Peak resident memory a failing command may use.
const MEMORY_LIMIT_KB: i64 = 512 * 1024;

/// Every file and folder below `dir` with its content hash (folders: empty), to show that a
/// command changed nothing.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Option<u64>> {
    use std::hash::{Hash, Hasher};
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            let ft = std::fs::symlink_metadata(&p).unwrap().file_type();
            let rel = p.strip_prefix(dir).unwrap().to_path_buf();
            if ft.is_dir() {
                stack.push(p);
                out.insert(rel, None);
            } else if ft.is_file() {
                let mut h = std::collections::hash_map::DefaultHasher::new();
                std::fs::read(&p).unwrap().hash(&mut h);
                out.insert(rel, Some(h.finish()));
            } else {
                out.insert(rel, Some(0));
            }
        }
    }
    out
}

/// What one run gave.
struct Outcome {
    code: Option<i32>,
    stderr: String,
    elapsed: Duration,
    max_rss_kb: i64,
}

/// Runs `ctplan ARGS` in `dir`, killing it after twice the time limit, and reads its peak
/// memory from the kernel's accounting of that child (`wait4`).
// The child is reaped by `wait4` (for its rusage), which clippy cannot see.
#[allow(clippy::zombie_processes)]
fn run(dir: &Path, home: &Path, args: &[&str]) -> Outcome {
    use std::os::unix::process::ExitStatusExt;
    let start = Instant::now();
    let child = Command::new(env!("CARGO_BIN_EXE_ctplan"))
        .args(args)
        .current_dir(dir)
        .env("HOME", home)
        .env_remove("CTPLAN_DEID_KEY")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id() as libc::pid_t;
    let mut stderr_pipe = child.stderr.unwrap();
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut stderr_pipe, &mut s).unwrap();
        s
    });
    let mut status = 0;
    // SAFETY: rusage is plain old data; wait4 fills it.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: waiting on our own child, with valid out-pointers.
        let r = unsafe { libc::wait4(pid, &mut status, libc::WNOHANG, &mut usage) };
        if r == pid {
            break;
        }
        assert!(r == 0, "wait4 failed");
        if start.elapsed() > 2 * TIME_LIMIT {
            // SAFETY: killing our own child.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    let elapsed = start.elapsed();
    let status = std::process::ExitStatus::from_raw(status);
    Outcome {
        code: status.code(),
        stderr: reader.join().unwrap(),
        elapsed,
        max_rss_kb: usage.ru_maxrss,
    }
}

fn catalogue_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/bad-input.md")
}

/// What the argument parser prints after a usage error.
const CLAP_HINT: &str = "For more information, try '--help'.";

const START: &str = "<!-- catalogue: start -->";
const END: &str = "<!-- catalogue: end -->";

/// A catalogue row: `| id | bad input | command | exit | message |`.
struct Row {
    command: String,
    exit: String,
    message: String,
}

fn escape(s: &str) -> String {
    s.replace('|', "\\|")
}

fn parse_rows(doc: &str) -> BTreeMap<String, Row> {
    let body = doc
        .split(START)
        .nth(1)
        .and_then(|s| s.split(END).next())
        .expect("docs/bad-input.md lacks the catalogue markers");
    let mut rows = BTreeMap::new();
    for line in body.lines().filter(|l| l.starts_with("| ")) {
        // Split on unescaped bars.
        let cells: Vec<String> = line
            .replace("\\|", "\u{1}")
            .split('|')
            .map(|c| c.trim().replace('\u{1}', "|"))
            .collect();
        if cells.len() < 7 || cells[1] == "#" || cells[1].starts_with("--") {
            continue;
        }
        let strip = |c: &str| c.trim_matches('`').to_string();
        rows.insert(
            strip(&cells[2]),
            Row {
                command: strip(&cells[4]),
                exit: cells[5].clone(),
                message: strip(&cells[6]).replace(" ⏎ ", "\n"),
            },
        );
    }
    rows
}

fn render_rows(cases: &[Case], got: &[(String, String)]) -> String {
    let mut s = String::from(
        "| # | id | bad input | command | exit | message |\n|---|---|---|---|---|---|\n",
    );
    for (i, (c, (exit, msg))) in cases.iter().zip(got).enumerate() {
        s += &format!(
            "| {} | `{}` | {} | `ctplan {}` | {} | `{}` |\n",
            i + 1,
            c.id,
            escape(c.input),
            escape(&c.args.join(" ")),
            exit,
            escape(&msg.replace('\n', " ⏎ "))
        );
    }
    s
}

#[test]
fn every_catalogued_bad_input_fails_cleanly() {
    let cases = cases();
    let ids: std::collections::BTreeSet<_> = cases.iter().map(|c| c.id).collect();
    assert_eq!(ids.len(), cases.len(), "case ids are unique");
    assert!(cases.len() >= 60, "the catalogue holds at least 60 cases");
    let doc = std::fs::read_to_string(catalogue_path()).unwrap_or_default();
    let bless = std::env::var("CTPLAN_BLESS").is_ok_and(|v| v == "1");
    let rows = if bless {
        BTreeMap::new()
    } else {
        parse_rows(&doc)
    };
    let root = tempfile::tempdir().unwrap();
    let home = root.path().join("home");
    std::fs::create_dir(&home).unwrap();
    let mut failures = Vec::new();
    let mut got = Vec::new();
    let (mut worst_time, mut worst_rss) = (Duration::ZERO, 0);
    for c in &cases {
        let dir = root.path().join(c.id);
        std::fs::create_dir(&dir).unwrap();
        (c.setup)(&dir);
        let before = snapshot(&dir);
        let o = run(&dir, &home, c.args);
        // A usage error (exit 2) ends with the argument parser's pointer to `--help`.
        let msg = o.stderr.trim_end();
        let msg = match (o.code, msg.strip_suffix(CLAP_HINT)) {
            (Some(2), Some(m)) => m.trim_end().to_string(),
            _ => msg.to_string(),
        };
        let exit = o.code.map_or("signal".to_string(), |c| c.to_string());
        let mut fail = |why: String| failures.push(format!("{}: {why}", c.id));
        if o.code.is_none_or(|c| c == 0) {
            fail(format!("exit {exit}, expected a failure"));
        }
        if msg.contains("panicked") || o.code == Some(101) {
            fail(format!("panicked: {msg}"));
        }
        // One line, or one line followed by indented detail (a list of the series found).
        if msg.lines().count() == 0 || msg.lines().skip(1).any(|l| !l.starts_with("  ")) {
            fail(format!("stderr is not one line: {msg:?}"));
        }
        if snapshot(&dir) != before {
            fail("the folder changed: output left behind or input touched".into());
        }
        if o.elapsed > TIME_LIMIT {
            fail(format!("took {:.1} s", o.elapsed.as_secs_f64()));
        }
        if o.max_rss_kb > MEMORY_LIMIT_KB {
            fail(format!("peak memory {} MB", o.max_rss_kb / 1024));
        }
        worst_time = worst_time.max(o.elapsed);
        worst_rss = worst_rss.max(o.max_rss_kb);
        let command = format!("ctplan {}", c.args.join(" "));
        if !bless {
            match rows.get(c.id) {
                None => fail("not in docs/bad-input.md".into()),
                Some(r) => {
                    if r.command != command {
                        fail(format!("catalogue says `{}`", r.command));
                    }
                    if r.exit != exit {
                        fail(format!("exit {exit}, catalogue says {}", r.exit));
                    }
                    if r.message != msg {
                        fail(format!("message {msg:?}, catalogue says {:?}", r.message));
                    }
                }
            }
        }
        got.push((exit, msg));
    }
    eprintln!(
        "{} cases; slowest {:.2} s, largest peak memory {} MB",
        cases.len(),
        worst_time.as_secs_f64(),
        worst_rss / 1024
    );
    if bless {
        let (head, rest) = doc.split_once(START).expect("catalogue markers");
        let tail = rest.split_once(END).expect("catalogue markers").1;
        let table = render_rows(&cases, &got);
        std::fs::write(
            catalogue_path(),
            format!("{head}{START}\n{table}{END}{tail}"),
        )
        .unwrap();
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases fail:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

/// The builders make valid files when nothing is broken, so each catalogued input fails for
/// the reason its row gives, not because its builder is wrong.
#[test]
fn the_builders_make_valid_files() {
    use make::*;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    nrrd(d, "ok.nrrd", NRRD_OK, 64);
    nifti(d, "ok.nii", |_| {});
    write(d, "ok.dcm", &dicom_slice());
    write(
        d,
        "rle.dcm",
        &dicom_with(RLE, |_| {}, encapsulated_pixels(&[rle_frame()])),
    );
    write(d, "zip/study.zip", &zip_one("IM0001", &dicom_slice()));
    let mut mha = b"ObjectType = Image\nNDims = 3\nDimSize = 4 4 4\nElementType = MET_UCHAR\nElementDataFile = LOCAL\n".to_vec();
    mha.extend([0u8; 64]);
    write(d, "ok.mha", &mha);
    let home = d.join("home");
    std::fs::create_dir(&home).unwrap();
    for f in [
        "ok.nrrd",
        "ok.nii",
        "ok.dcm",
        "rle.dcm",
        "zip/study.zip",
        "ok.mha",
    ] {
        let o = run(d, &home, &["info", f]);
        assert_eq!(o.code, Some(0), "{f}: {}", o.stderr);
    }
    // The RLE frame decodes to the same voxels as the uncompressed slice.
    let a = ctplan_io::read(&d.join("ok.dcm")).unwrap().volume;
    let b = ctplan_io::read(&d.join("rle.dcm")).unwrap().volume;
    assert_eq!(a, b);
    // The chest CT is modelled, and a lesion grows from a point in its right upper lobe.
    write_chest(d, "chest.nrrd");
    let point = ctplan_lung::phantom::synthetic::NODULE
        .0
        .map(|x| x.to_string());
    let o = run(
        d,
        &home,
        &[
            "lung",
            "model",
            "chest.nrrd",
            "-o",
            "model",
            "--nodule",
            &point.join(","),
        ],
    );
    assert_eq!(o.code, Some(0), "chest.nrrd: {}", o.stderr);
}
