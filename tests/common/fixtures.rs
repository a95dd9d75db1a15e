//! The fixture sets the repository carries (tests/fixtures, see its
//! README) and how tests compare text. This is the one place that knows
//! where they live.

use std::path::{Path, PathBuf};

/// `tests/fixtures/<name>` (`reply`, `mail`, `spam`, `contact`, or a path
/// below one); fails the test when it is missing, so a test never passes
/// on nothing.
pub fn folder(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    assert!(
        dir.is_dir(),
        "fixtures missing: {} (the repository carries them; is the checkout complete?)",
        dir.display()
    );
    dir
}

/// Every file under `dir`, recursively, sorted; the folders' index
/// (`labels.tsv`) and notes (`README*`) left out.
pub fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        for entry in entries {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().to_lowercase();
            if path.is_dir() {
                stack.push(path);
            } else if name != "labels.tsv" && !name.starts_with("readme") {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// Reply text as the fixtures' README compares it: CRLF → LF, trailing
/// spaces of each line stripped, the whole trimmed.
pub fn normalise(s: &str) -> String {
    s.replace("\r\n", "\n")
        .split('\n')
        .map(|l| l.trim_end_matches([' ', '\t', '\r']))
        .collect::<Vec<_>>()
        .join("\n")
        .trim()
        .to_string()
}

/// Text with all white space removed: how HTML kinds are compared.
pub fn squash(s: &str) -> String {
    s.chars().filter(|c| !c.is_whitespace()).collect()
}
