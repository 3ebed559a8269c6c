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

/// The real seed files that `fuzz/seeds` names (globs with `*` in the file name only).
fn real_seeds() -> Vec<PathBuf> {
    let Some(data) = ctplan_testdata::data_dir() else {
        return Vec::new();
    };
    let seeds = std::fs::read_to_string(root().join("seeds")).unwrap();
    let mut out = Vec::new();
    for line in seeds.lines().filter(|l| !l.starts_with('#')) {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() != 3 || f[1] != "file" {
            continue;
        }
        let pattern = data.join(f[2]);
        let dir = pattern.parent().unwrap();
        let name = pattern.file_name().unwrap().to_str().unwrap();
        let (pre, post) = name.split_once('*').unwrap_or((name, ""));
        let exact = !name.contains('*');
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            let n = p.file_name().unwrap().to_str().unwrap_or("");
            let hit = if exact {
                n == name
            } else {
                n.starts_with(pre) && n.ends_with(post) && n.len() >= pre.len() + post.len()
            };
            if hit {
                out.push(p);
            }
        }
    }
    out
}

/// The committed corpus is the project's own: fuzzing runs seeded with real files keep what
/// they find out of it (`fuzz/run`), and this test holds that line. A 64-byte window with
/// more than 32 distinct byte values is as good as a fingerprint; none of a real seed's
/// may appear in a committed input.
#[test]
fn the_committed_corpus_holds_no_bytes_of_the_real_seeds() {
    use std::collections::HashSet;
    const W: usize = 64;
    let rich = |w: &[u8]| {
        let mut seen = [false; 256];
        w.iter()
            .filter(|&&b| !std::mem::replace(&mut seen[b as usize], true))
            .count()
            > 32
    };
    let seeds = real_seeds();
    if ctplan_testdata::data_dir().is_none() {
        return;
    }
    assert!(!seeds.is_empty(), "fuzz/seeds names real files");
    let bytes: Vec<Vec<u8>> = seeds
        .iter()
        .map(|p| {
            let mut b = std::fs::read(p).unwrap();
            b.truncate(1 << 16);
            b
        })
        .collect();
    let windows: HashSet<&[u8]> = bytes
        .iter()
        .flat_map(|b| b.windows(W))
        .filter(|w| rich(w))
        .collect();
    let mut carrying = Vec::new();
    for t in ctplan_fuzz::TARGETS {
        for kind in ["corpus", "regressions"] {
            let Ok(entries) = std::fs::read_dir(root().join(kind).join(t.name)) else {
                continue;
            };
            for e in entries {
                let p = e.unwrap().path();
                let b = std::fs::read(&p).unwrap();
                if b.windows(W).any(|w| windows.contains(w)) {
                    carrying.push(p.display().to_string());
                }
            }
        }
    }
    assert!(
        carrying.is_empty(),
        "committed fuzz inputs carry bytes of real files:\n{}",
        carrying.join("\n")
    );
}
