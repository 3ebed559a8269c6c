//! Every committed input of every fuzz target — the corpus in `fuzz/corpus/TARGET` and the
//! inputs that once crashed a parser in `fuzz/regressions/TARGET` — runs through its harness
//! here. A panic fails the test and names the file.

use std::path::PathBuf;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz")
}

#[test]
fn every_committed_input_runs_without_panic() {
    let mut ran = 0;
    for t in ctplan_fuzz::TARGETS {
        for kind in ["corpus", "regressions"] {
            let dir = root().join(kind).join(t.name);
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            let mut files: Vec<_> = entries.filter_map(|e| e.ok()).map(|e| e.path()).collect();
            files.sort();
            for f in files {
                let data = std::fs::read(&f).unwrap();
                let r = std::panic::catch_unwind(|| (t.run)(&data));
                assert!(r.is_ok(), "{}: panicked in target {}", f.display(), t.name);
                ran += 1;
            }
        }
        assert!(
            root().join("corpus").join(t.name).is_dir(),
            "fuzz target {} has no committed corpus",
            t.name
        );
    }
    assert!(ran > 0);
}
