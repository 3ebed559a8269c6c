//! The last resort for a defect: a panic becomes one line on standard error that names the
//! input being processed and asks for a report, and exit code 70 (EX_SOFTWARE), instead of
//! Rust's multi-line message and code 101. Verbs record the input they open with [`input`].

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

/// Exit code of a command that hit a defect (sysexits' EX_SOFTWARE).
pub const EX_SOFTWARE: u8 = 70;

thread_local! {
    static THREAD_INPUT: RefCell<Option<PathBuf>> = const { RefCell::new(None) };
}
/// The input most recently opened on any thread, for panics on threads that opened none
/// (a library's own worker threads).
static LAST_INPUT: Mutex<Option<PathBuf>> = Mutex::new(None);
static REPORTED: AtomicBool = AtomicBool::new(false);

/// Record that this thread now processes `path`.
pub fn input(path: &Path) {
    THREAD_INPUT.with(|c| *c.borrow_mut() = Some(path.to_path_buf()));
    if let Ok(mut g) = LAST_INPUT.lock() {
        *g = Some(path.to_path_buf());
    }
    // Debug builds only (absent from release builds): a panic on demand, for the end-to-end
    // test of this handler.
    #[cfg(debug_assertions)]
    if std::env::var_os("CTPLAN_DEBUG_PANIC").is_some() {
        panic!("CTPLAN_DEBUG_PANIC is set");
    }
}

fn current_input() -> Option<PathBuf> {
    THREAD_INPUT
        .with(|c| c.borrow().clone())
        .or_else(|| LAST_INPUT.lock().ok().and_then(|g| g.clone()))
}

/// The one line printed for a panic with message `what` at `location`.
pub fn message(what: &str, location: &str, input: Option<&Path>) -> String {
    let what = what.lines().next().unwrap_or("");
    let file = match input {
        Some(p) => format!("{}: ", p.display()),
        None => String::new(),
    };
    format!(
        "error: {file}internal error ({what}, at {location}); this is a defect in ctplan, \
         please report it with the command line and, if you can, the file"
    )
}

/// Run `body` with panics turned into [`message`] and exit code [`EX_SOFTWARE`]. A panic in a
/// rayon worker reaches here too (rayon resumes it on the calling thread); only the first
/// panic is printed.
pub fn guarded(body: impl FnOnce() -> ExitCode + std::panic::UnwindSafe) -> ExitCode {
    std::panic::set_hook(Box::new(|info| {
        if REPORTED.swap(true, Ordering::SeqCst) {
            return;
        }
        let what = if let Some(s) = info.payload().downcast_ref::<&str>() {
            (*s).to_string()
        } else if let Some(s) = info.payload().downcast_ref::<String>() {
            s.clone()
        } else {
            "panic".to_string()
        };
        let at = info
            .location()
            .map(|l| format!("{}:{}", l.file(), l.line()))
            .unwrap_or_else(|| "unknown place".into());
        eprintln!("{}", message(&what, &at, current_input().as_deref()));
    }));
    std::panic::catch_unwind(body).unwrap_or(ExitCode::from(EX_SOFTWARE))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_message_is_one_line_naming_the_file() {
        let m = message(
            "index out of bounds: the len is 3\nbut the index is 7",
            "src/rle.rs:12",
            Some(Path::new("scan/1.dcm")),
        );
        assert_eq!(
            m,
            "error: scan/1.dcm: internal error (index out of bounds: the len is 3, at \
             src/rle.rs:12); this is a defect in ctplan, please report it with the command \
             line and, if you can, the file"
        );
        assert!(message("x", "y", None).starts_with("error: internal error (x, at y); "));
    }

    #[test]
    fn a_panic_in_a_worker_thread_gives_exit_code_70_and_names_the_input() {
        use rayon::prelude::*;
        let code = guarded(|| {
            input(Path::new("case.nrrd"));
            let v: Vec<u32> = (0..64u32)
                .into_par_iter()
                .map(|i| if i == 40 { panic!("boom") } else { i })
                .collect();
            ExitCode::from(v.len() as u8)
        });
        assert_eq!(code, ExitCode::from(EX_SOFTWARE));
        assert_eq!(current_input().as_deref(), Some(Path::new("case.nrrd")));
        let _ = std::panic::take_hook();
    }
}
