//! Scores reply extraction on the reply-parser test suites in
//! tests/fixtures/reply (see its README and tests/reply/suites.rs for how):
//! every case of every suite, the unambiguous ones and — separately — the
//! ambiguous ones (whose answer is a policy choice). Fails when a suite
//! scores below its floor (`suites::SUITES`) exact on its unambiguous
//! cases.
//!
//! `PARLEY_REPLY_VERBOSE=1` prints the got/expected texts of failures.

mod common;

use common::fixtures;

#[path = "reply/suites.rs"]
mod suites;

use suites::{SUITES, run, score_suite};

#[test]
fn reply_fixture_suites() {
    let verbose = std::env::var_os("PARLEY_REPLY_VERBOSE").is_some();
    let mut below = Vec::new();
    for &(suite, stage, floor) in SUITES {
        let score = score_suite(suite, stage, |case| Some(run(stage, case)));
        assert!(score.clear.total > 0, "{suite}: no case scored");
        if verbose {
            for why in &score.why {
                println!("=== {why}\n");
            }
        }
        println!(
            "{suite}: {}/{} unambiguous ({:.1}%, floor {:.1}%), ambiguous {}/{}{}{}",
            score.clear.pass,
            score.clear.total,
            score.clear.rate() * 100.0,
            floor * 100.0,
            score.ambiguous.pass,
            score.ambiguous.total,
            if score.unscored.is_empty() {
                String::new()
            } else {
                format!(", unscored (no expectation): {}", score.unscored.join(" "))
            },
            if score.conflicts.is_empty() {
                String::new()
            } else {
                format!(
                    ", same input with contradicting expectations (counted ambiguous): {}",
                    score.conflicts.join(" ")
                )
            },
        );
        if !score.clear.failed.is_empty() {
            println!("  unambiguous failures: {}", score.clear.failed.join(" "));
        }
        if !score.ambiguous.failed.is_empty() {
            println!(
                "  ambiguous differing: {}",
                score.ambiguous.failed.join(" ")
            );
        }
        if score.clear.rate() < floor {
            below.push(format!(
                "{suite} {:.1}% (floor {:.1}%)",
                score.clear.rate() * 100.0,
                floor * 100.0
            ));
        }
    }
    assert!(below.is_empty(), "below the floor: {}", below.join(", "));
}
