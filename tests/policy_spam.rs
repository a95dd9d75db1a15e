//! The spam model on the SpamAssassin public corpus, and `parley policy`.
//!
//! The shipped model must be exactly what training on the training part
//! gives (so it cannot drift from the tokenizer), and on the held-aside
//! part it must meet the target: at least 95% of spam held at
//! `DEFAULT_HOLD_AT`, at most 1% of ham.

use std::collections::BTreeMap;
use std::process::Command;

use parley::intake::parse::{Parsed, parse};
use parley::intake::policy::spam::corpus::{self, Labelled};
use parley::intake::policy::spam::{DEFAULT_HOLD_AT, Model};

mod common;

fn corpus() -> Vec<(Labelled, Parsed)> {
    let labels = corpus::read_labels(&common::fixtures::folder("spam").join("labels.tsv"))
        .expect("labels.tsv");
    labels
        .into_iter()
        .filter_map(|l| {
            let raw = std::fs::read(&l.path).expect("corpus file");
            parse(&raw).map(|p| (l, p))
        })
        .collect()
}

#[test]
fn shipped_model_is_all_of_the_corpus_and_the_method_meets_the_target() {
    let corpus = corpus();
    let everything = Model::train_as_shipped(corpus.iter().map(|(l, p)| (l.is_spam, p)));
    let shipped = Model::default_model();
    assert!(
        everything == *shipped,
        "src/intake/policy/spam/model.txt is not what the whole corpus gives \
         ({:?} messages, {} tokens; shipped {:?}, {}); regenerate it: parley policy train \
         --labels tests/fixtures/spam/labels.tsv --out src/intake/policy/spam/model.txt",
        everything.messages(),
        everything.len(),
        shipped.messages(),
        shipped.len()
    );

    // The method, measured where it did not learn: trained without the
    // held-aside part, scored on it.
    let (aside, training): (Vec<_>, Vec<_>) = corpus
        .iter()
        .partition(|(l, _)| corpus::held_aside(&l.name));
    let trained = Model::train_as_shipped(training.iter().map(|(l, p)| (l.is_spam, p)));
    let shipped = &trained;

    // subset → (messages, held)
    let mut by_subset: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    let (mut spam, mut spam_held, mut ham, mut ham_held) = (0, 0, 0, 0);
    for (label, parsed) in &aside {
        let held = shipped.score(parsed).probability >= DEFAULT_HOLD_AT;
        let entry = by_subset.entry(&label.subset).or_default();
        entry.0 += 1;
        entry.1 += usize::from(held);
        if label.is_spam {
            spam += 1;
            spam_held += usize::from(held);
        } else {
            ham += 1;
            ham_held += usize::from(held);
        }
    }
    println!("held aside: {spam} spam, {ham} ham; held at {DEFAULT_HOLD_AT}:");
    for (subset, (n, held)) in &by_subset {
        println!(
            "  {subset:<12} {held:>4} of {n:>4} held ({:.1}%)",
            100.0 * *held as f64 / *n as f64
        );
    }
    let recall = spam_held as f64 / spam as f64;
    let flagged = ham_held as f64 / ham as f64;
    println!(
        "spam recall {:.2}%, ham flagged {:.2}%",
        100.0 * recall,
        100.0 * flagged
    );
    assert!(spam > 150 && ham > 350, "the held-aside part is too small");
    assert!(recall >= 0.95, "spam recall {recall:.4} < 0.95");
    assert!(flagged <= 0.01, "ham flagged {flagged:.4} > 0.01");
}

const HAM: &str = "From: Maria <maria@example.com>\r\nTo: desk@localhost\r\n\
Subject: Lot 12\r\n\r\nIs lot 12 still available? Can you ship it to Lisbon?\r\n";
const SPAM: &str = "From: Winner <prize@lotto.example.ru>\r\nTo: desk@localhost\r\n\
Subject: YOU WON THE LOTTERY\r\n\r\nCLICK HERE for your prize: http://bit.ly/abc $$$\r\n";

fn parley(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_parley"))
        .args(args)
        .env_remove("PARLEY_CONFIG")
        .output()
        .expect("run parley");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn cli_trains_and_scores() {
    let dir = tempfile::tempdir().unwrap();
    let (ham, spam) = (dir.path().join("ham"), dir.path().join("spam"));
    std::fs::create_dir_all(ham.join("sub")).unwrap();
    std::fs::create_dir_all(&spam).unwrap();
    std::fs::write(ham.join("1"), HAM).unwrap();
    std::fs::write(ham.join("sub/2"), HAM.replace("Lisbon", "Porto")).unwrap();
    std::fs::write(ham.join("empty"), "").unwrap();
    std::fs::write(spam.join("1"), SPAM).unwrap();
    let out = dir.path().join("model.txt");
    let (ham_arg, spam_arg, out_arg) = (
        ham.to_str().unwrap(),
        spam.to_str().unwrap(),
        out.to_str().unwrap(),
    );

    let (code, stdout, stderr) = parley(&[
        "policy",
        "train",
        "--ham",
        ham_arg,
        "--spam",
        spam_arg,
        "--out",
        out_arg,
        "--min-messages",
        "1",
    ]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        stdout.contains("trained on 2 ham and 1 spam messages (1 files skipped"),
        "{stdout}"
    );
    assert!(stdout.contains(out_arg), "{stdout}");
    assert_eq!(Model::load(&out).unwrap().messages(), (2, 1));

    let (code, stdout, stderr) = parley(&[
        "policy",
        "score",
        spam.join("1").to_str().unwrap(),
        "--model",
        out_arg,
    ]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.starts_with("probability "), "{stdout}");
    assert!(stdout.contains("shortener"), "{stdout}");
    // The shipped model, by default.
    let (code, stdout, _) = parley(&["policy", "score", spam.join("1").to_str().unwrap()]);
    assert_eq!(code, 0);
    assert!(stdout.contains("money_words"), "{stdout}");

    // Usage errors: 64.
    let empty = dir.path().join("no-messages");
    std::fs::create_dir_all(&empty).unwrap();
    std::fs::write(empty.join("x"), "").unwrap();
    let empty_arg = empty.to_str().unwrap();
    let missing = dir.path().join("missing");
    let missing = missing.to_str().unwrap();
    for args in [
        vec!["policy", "train"],
        vec![
            "policy", "train", "--ham", missing, "--spam", spam_arg, "--out", out_arg,
        ],
        vec![
            "policy", "train", "--ham", empty_arg, "--spam", spam_arg, "--out", out_arg,
        ],
        vec!["policy", "score", missing],
        vec!["policy", "score", ham.join("empty").to_str().unwrap()],
        vec![
            "policy",
            "score",
            ham.join("1").to_str().unwrap(),
            "--model",
            missing,
        ],
    ] {
        let (code, _, stderr) = parley(&args);
        assert_eq!(code, 64, "{args:?}: {stderr}");
    }
}

/// How `DEFAULT_HOLD_AT` and `DEFAULT_REJECT_AT` were chosen: 5-fold
/// cross-validation on the training part only (the held-aside part plays
/// no role). `cargo test --test policy_spam -- --ignored --nocapture`.
#[test]
#[ignore = "prints the cross-validation table the thresholds come from"]
fn thresholds_by_cross_validation() {
    let corpus = corpus();
    let training: Vec<&(Labelled, Parsed)> = corpus
        .iter()
        .filter(|(l, _)| !corpus::held_aside(&l.name))
        .collect();
    let mut scores = Vec::new();
    for fold in 0..5 {
        let learn = || {
            training
                .iter()
                .enumerate()
                .filter(move |(i, _)| i % 5 != fold)
                .map(|(_, m)| m)
        };
        let model = Model::train_as_shipped(learn().map(|(l, p)| (l.is_spam, p)));
        for (_, (label, parsed)) in training.iter().enumerate().filter(|(i, _)| i % 5 == fold) {
            scores.push((model.score(parsed).probability, label.is_spam));
        }
    }
    let spam = scores.iter().filter(|s| s.1).count() as f64;
    let ham = scores.len() as f64 - spam;
    for at in [0.5, 0.6, 0.7, 0.8, 0.9, 0.99, 0.999] {
        let held = |is_spam: bool| {
            scores
                .iter()
                .filter(|s| s.1 == is_spam && s.0 >= at)
                .count() as f64
        };
        println!(
            "at {at}: spam held {:.2}%, ham held {:.2}%",
            100.0 * held(true) / spam,
            100.0 * held(false) / ham
        );
    }
}

/// The learning curve on the held-aside part: models trained on 60%, 80%
/// and all of the training part (every fifth message left out per step),
/// scored on the held-aside messages at `DEFAULT_HOLD_AT`. Whether more
/// mail helps is what decides to ship a model trained on all of it.
/// `cargo test --test policy_spam -- --ignored --nocapture learning_curve`.
#[test]
#[ignore = "prints the learning curve"]
fn learning_curve() {
    let corpus = corpus();
    let (aside, training): (Vec<_>, Vec<_>) = corpus
        .iter()
        .partition(|(l, _)| corpus::held_aside(&l.name));
    for keep in [3usize, 4, 5] {
        let part = || {
            training
                .iter()
                .enumerate()
                .filter(move |(i, _)| i % 5 < keep)
                .map(|(_, m)| m)
        };
        let model = Model::train_as_shipped(part().map(|(l, p)| (l.is_spam, p)));
        let probabilities: Vec<(f64, bool)> = aside
            .iter()
            .map(|(label, parsed)| (model.score(parsed).probability, label.is_spam))
            .collect();
        let held = |spam: bool, at: f64| {
            probabilities
                .iter()
                .filter(|(p, s)| *s == spam && *p >= at)
                .count()
        };
        let total = |spam: bool| probabilities.iter().filter(|(_, s)| *s == spam).count();
        println!(
            "{keep}/5 of the training part ({} messages): spam held {}/{}, ham held {}/{}",
            part().count(),
            held(true, DEFAULT_HOLD_AT),
            total(true),
            held(false, DEFAULT_HOLD_AT),
            total(false)
        );
        for at in [0.7, 0.8, 0.85, 0.9] {
            println!("  at {at}: spam {} ham {}", held(true, at), held(false, at));
        }
    }
}
