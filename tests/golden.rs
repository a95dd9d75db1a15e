//! Golden tests for reply extraction: replies composed in the formats real
//! mail clients send (tests/corpus/NAME.eml — Gmail web and Android, Outlook
//! desktop/web/iOS, Apple Mail, Thunderbird, Yahoo, Proton, GMX, Samsung,
//! replies in German, French, Spanish, Italian, Dutch, Portuguese, Polish,
//! Swedish, Japanese and Chinese, wrapped "wrote:" lines, our own text and
//! HTML markers) and the reply text that must come out of them
//! (tests/corpus/NAME.expected.txt).
//!
//! Each message goes through `parse::parse` and `reply::for_message`; the
//! text is compared after CRLF→LF, trailing spaces stripped and the whole
//! trimmed. When a message has both a text and an HTML part, the HTML path
//! (`extract_html`) must find the same reply (compared without white space,
//! since the text part is wrapped differently). Every message quotes
//! history, so `elided` must not be empty.
//!
//! `PARLEY_GOLDEN_UPDATE=1 cargo test --test golden` rewrites the expected
//! files from the current output; review the diff before committing.

mod common;

use common::fixtures::{normalise, squash};
use std::fs;
use std::path::{Path, PathBuf};

use parley::intake::{parse, reply};

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus")
}

#[test]
fn golden_corpus() {
    let update = std::env::var("PARLEY_GOLDEN_UPDATE").is_ok_and(|v| v == "1");
    let mut emls: Vec<PathBuf> = fs::read_dir(corpus())
        .expect("tests/corpus")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "eml"))
        .collect();
    emls.sort();
    assert!(
        emls.len() >= 20,
        "expected at least 20 corpus messages, found {}",
        emls.len()
    );
    let mut failures = Vec::new();
    for eml in &emls {
        let name = eml.file_stem().and_then(|s| s.to_str()).expect("name");
        let bytes = fs::read(eml).expect("read eml");
        let parsed = parse::parse(&bytes).unwrap_or_else(|| panic!("{name}: not a message"));
        let got = reply::for_message(&parsed);
        let expected_path = eml.with_extension("expected.txt");
        if update {
            fs::write(&expected_path, format!("{}\n", got.text)).expect("write expected");
            continue;
        }
        let expected = fs::read_to_string(&expected_path)
            .unwrap_or_else(|_| panic!("{name}: no expected file"));
        if normalise(&got.text) != normalise(&expected) {
            failures.push(format!(
                "{name}:\n--- got:\n{}\n--- expected:\n{}",
                got.text,
                normalise(&expected)
            ));
        }
        if got.elided.trim().is_empty() {
            failures.push(format!("{name}: nothing elided"));
        }
        if parsed.has_text_part
            && let Some(html) = &parsed.html
        {
            let from_html = reply::extract_html(html);
            if squash(&from_html.text) != squash(&expected) {
                failures.push(format!(
                    "{name} (HTML part):\n--- got:\n{}\n--- expected:\n{}",
                    from_html.text,
                    normalise(&expected)
                ));
            }
        }
    }
    println!(
        "golden corpus: {} messages, {} failures",
        emls.len(),
        failures.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
