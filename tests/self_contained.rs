//! A clean clone runs its own tests: nothing under tests/, bench/, src/ or
//! scripts/ reads the `shared` folder beside the repository, and every
//! fixture set the tests read is in `tests/fixtures/` with its source and
//! licence note. CI runs on exactly such a clone.

mod common;

use std::path::{Path, PathBuf};

/// The folders whose files build, test or measure parley.
const CHECKED: &[&str] = &["tests", "bench", "src", "scripts"];

/// What a path to the folder beside the repository looks like in them
/// (spelt in two pieces so that this file does not name it).
const OUTSIDE: &[u8] = concat!("..", "/shared").as_bytes();

/// Every file under `dir`, recursively.
fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        if path.is_dir() {
            walk(&path, out);
        } else {
            out.push(path);
        }
    }
}

#[test]
fn nothing_reads_beside_the_repository() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    for dir in CHECKED {
        walk(&root.join(dir), &mut files);
    }
    assert!(
        files.len() > 100,
        "only {} files under {CHECKED:?}",
        files.len()
    );
    let mut found = Vec::new();
    for path in &files {
        let bytes = std::fs::read(path).unwrap();
        for (n, line) in bytes.split(|b| *b == b'\n').enumerate() {
            if line.windows(OUTSIDE.len()).any(|w| w == OUTSIDE) {
                found.push(format!(
                    "{}:{}: {}",
                    path.strip_prefix(root).unwrap().display(),
                    n + 1,
                    String::from_utf8_lossy(line).trim()
                ));
            }
        }
    }
    assert!(
        found.is_empty(),
        "a clean clone has nothing beside it; read tests/fixtures/ (through \
         tests/common/fixtures.rs) instead:\n{}",
        found.join("\n")
    );
}

#[test]
fn every_fixture_set_has_its_source_and_licence() {
    for set in ["reply", "mail", "spam", "contact"] {
        let dir = common::fixtures::folder(set);
        let note = dir.join("README.md");
        let text = std::fs::read_to_string(&note).unwrap_or_else(|e| {
            panic!(
                "{}: {e} (each set says where it comes from)",
                note.display()
            )
        });
        assert!(
            text.contains("Source") && text.contains("Licence"),
            "{} names no source or no licence",
            note.display()
        );
        assert!(
            common::fixtures::files(&dir).len() >= 7,
            "{} is nearly empty",
            dir.display()
        );
    }
}
