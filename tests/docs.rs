//! The docs list what the repository has: every benchmark of Cargo.toml
//! in the README's Benchmarks section and in bench/README.md, every
//! integration test file in docs/testing.md. A bench or a test added
//! without its line fails here.

use std::path::Path;

fn read(path: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The `name`s of Cargo.toml's `[[bench]]` tables.
fn benches() -> Vec<String> {
    let manifest: toml::Table = read("Cargo.toml").parse().expect("Cargo.toml");
    manifest["bench"]
        .as_array()
        .expect("[[bench]] tables")
        .iter()
        .map(|b| b["name"].as_str().expect("a bench name").to_string())
        .collect()
}

#[test]
fn every_bench_is_listed_and_described() {
    let benches = benches();
    assert!(benches.len() >= 7, "{benches:?}");
    let readme = read("README.md");
    let section = readme
        .split("\n## Benchmarks")
        .nth(1)
        .expect("README.md has a Benchmarks section");
    let section = section.split("\n## ").next().unwrap_or(section);
    let described = read("bench/README.md");
    let mut missing = Vec::new();
    for name in &benches {
        if !section.contains(&format!("cargo bench --bench {name}`")) {
            missing.push(format!(
                "README.md, Benchmarks: `cargo bench --bench {name}`"
            ));
        }
        if !described.contains(&format!("\n## bench/{name}")) {
            missing.push(format!("bench/README.md: a section `## bench/{name}`"));
        }
    }
    assert!(
        missing.is_empty(),
        "not documented:\n{}",
        missing.join("\n")
    );
}

#[test]
fn every_test_file_is_in_the_testing_doc() {
    let testing = read("docs/testing.md");
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests");
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .expect("tests/")
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".rs"))
        .collect();
    files.sort();
    assert!(files.len() > 20, "{files:?}");
    let missing: Vec<_> = files
        .iter()
        .filter(|name| !testing.contains(&format!("| `{name}`")))
        .collect();
    assert!(
        missing.is_empty(),
        "docs/testing.md has no row for: {missing:?}"
    );
}
