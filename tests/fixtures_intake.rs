//! Every message in tests/fixtures/mail and tests/fixtures/spam
//! goes through `parse` and `classify`, and through the whole intake
//! (`deliver`, commit included), without a panic; the counts per kind
//! are printed (`cargo test --test fixtures_intake -- --nocapture`), and the
//! known delivery reports among the mail fixtures must come out as bounces.
//!
//! Both folders must exist: a missing folder fails the test rather than
//! passing it on nothing.

use std::collections::BTreeMap;

use parley::intake::classify::{Auto, Classification, classify};
use parley::intake::parse::parse;

mod common;

use common::fixtures::{files, folder as fixtures};

const REPLY_DOMAIN: &str = "reply.parley.test";

/// Classifies every file of a fixture folder; returns (file relative to the
/// folder, classification or `None` when not a message at all).
fn run(folder: &str, min_files: usize) -> Vec<(String, Option<Classification>)> {
    let dir = fixtures(folder);
    assert!(dir.is_dir(), "fixture folder {} is missing", dir.display());
    let files = files(&dir);
    assert!(
        files.len() >= min_files,
        "{}: {} files, expected at least {min_files}",
        dir.display(),
        files.len()
    );
    let started = std::time::Instant::now();
    let results: Vec<_> = files
        .iter()
        .map(|path| {
            let raw = std::fs::read(path).unwrap();
            let verdict = parse(&raw).map(|parsed| classify(&parsed, None, REPLY_DOMAIN));
            let name = path
                .strip_prefix(&dir)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            (name, verdict)
        })
        .collect();
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    let mut reasons: BTreeMap<(&str, &str), usize> = BTreeMap::new();
    for (_, verdict) in &results {
        let kind = verdict.as_ref().map_or("unparseable", |c| c.auto.as_str());
        *counts.entry(kind).or_default() += 1;
        if let Some(c) = verdict.as_ref().filter(|c| c.is_auto()) {
            *reasons
                .entry((c.auto.as_str(), c.reason.as_str()))
                .or_default() += 1;
        }
    }
    let count = |k: &str| counts.get(k).copied().unwrap_or(0);
    println!(
        "{folder}: {} files in {:.1?}: auto_reply {}, bounce {}, list {}, loop {}, none {}, unparseable {}",
        results.len(),
        started.elapsed(),
        count("auto_reply"),
        count("bounce"),
        count("list"),
        count("loop"),
        count("none"),
        count("unparseable"),
    );
    for ((auto, reason), n) in &reasons {
        println!("  {auto:<10} {reason:<45} {n}");
    }
    results
}

fn verdict_of<'a>(
    results: &'a [(String, Option<Classification>)],
    file: &str,
) -> &'a Classification {
    results
        .iter()
        .find(|(name, _)| name == file)
        .unwrap_or_else(|| panic!("fixture {file} is missing"))
        .1
        .as_ref()
        .unwrap_or_else(|| panic!("fixture {file} does not parse"))
}

#[test]
fn mail_fixtures() {
    let results = run("mail", 50);
    // Delivery status reports (checked by reading them): Postfix, sendmail
    // and a site's own MTA, all multipart/report; report-type=delivery-status.
    for file in [
        "ruby_mail_gem/emails/multipart_report_emails/multi_address_bounce1.eml",
        "ruby_mail_gem/emails/multipart_report_emails/multi_address_bounce2.eml",
        "ruby_mail_gem/emails/multipart_report_emails/multipart_report_multiple_status.eml",
        "ruby_mail_gem/emails/multipart_report_emails/report_422.eml",
        "ruby_mail_gem/emails/multipart_report_emails/report_530.eml",
        "ruby_mail_gem/emails/mime_emails/raw_email_with_mimepart_without_content_type.eml",
    ] {
        let c = verdict_of(&results, file);
        assert_eq!(
            (c.auto, c.reason.as_str()),
            (Auto::Bounce, "multipart/report delivery-status"),
            "{file}"
        );
    }
    // Mail people wrote stays a person's.
    for file in [
        "ruby_mail_gem/emails/plain_emails/basic_email.eml",
        "ruby_mail_gem/emails/plain_emails/raw_email_reply.eml",
        "ruby_mail_gem/emails/rfc2822/example01.eml",
        "ruby_mail_gem/emails/multi_charset/japanese.eml",
    ] {
        assert_eq!(verdict_of(&results, file).auto, Auto::None, "{file}");
    }
    // The mailing-list message and the Precedence: junk spam.
    assert_eq!(
        verdict_of(
            &results,
            "ruby_mail_gem/emails/error_emails/empty_in_reply_to.eml"
        )
        .auto,
        Auto::List
    );
    let junk = verdict_of(
        &results,
        "ruby_mail_gem/emails/error_emails/bad_date_header.eml",
    );
    assert_eq!(
        (junk.auto, junk.reason.as_str()),
        (Auto::AutoReply, "precedence: junk")
    );
    // Nothing here is ours.
    assert!(
        results
            .iter()
            .all(|(_, c)| c.as_ref().is_none_or(|c| c.auto != Auto::Loop))
    );
}

#[test]
fn spam_fixtures() {
    let results = run("spam", 1000);
    assert!(
        results
            .iter()
            .all(|(_, c)| c.as_ref().is_none_or(|c| c.auto != Auto::Loop))
    );
    // Most of the SpamAssassin corpus parses as mail.
    let parsed = results.iter().filter(|(_, c)| c.is_some()).count();
    assert!(
        parsed * 10 >= results.len() * 9,
        "{parsed} of {}",
        results.len()
    );
}

/// The whole intake, commit included: every fixture message is delivered to
/// the desk on a SQLite store. Nothing may panic or fail; the outcomes are
/// counted and printed, and automatic mail must never have opened a ticket.
#[tokio::test]
async fn every_fixture_through_deliver() {
    use common::{Backend, DESK, TestEnv, envelope};
    use parley::intake::Outcome;

    let env = TestEnv::new(&Backend::Sqlite, |_| {}).await;
    let mut outcomes: BTreeMap<String, usize> = BTreeMap::new();
    let mut total = 0;
    for (folder, min_files) in [("mail", 100), ("spam", 3000)] {
        let dir = fixtures(folder);
        assert!(dir.is_dir(), "fixture folder {} is missing", dir.display());
        let files = files(&dir);
        assert!(
            files.len() >= min_files,
            "{folder}: only {} files",
            files.len()
        );
        for path in files {
            let raw = std::fs::read(&path).unwrap();
            let auto = parse(&raw).map(|p| classify(&p, None, common::REPLY_DOMAIN).auto);
            let outcome = env
                .intake
                .deliver(raw, &envelope(&[DESK]))
                .await
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let kind = match &outcome {
                Outcome::Stored { new_ticket, .. } => {
                    assert!(
                        !new_ticket || matches!(auto, Some(Auto::None)),
                        "{}: automatic mail ({auto:?}) opened a ticket",
                        path.display()
                    );
                    "stored".to_string()
                }
                Outcome::Quarantined { reason, .. } => format!("quarantined: {reason}"),
                Outcome::Duplicate { .. } => "duplicate".to_string(),
                other => format!("{other:?}"),
            };
            *outcomes.entry(kind).or_default() += 1;
            total += 1;
        }
    }
    println!("{total} fixture messages through deliver: {outcomes:#?}");
    assert!(
        outcomes.get("stored").copied().unwrap_or(0) > 1000,
        "{outcomes:#?}"
    );
}
