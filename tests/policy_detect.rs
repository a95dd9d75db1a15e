//! The contact and payment detectors scored on public and in-house
//! fixtures (`tests/fixtures/contact`, see its README):
//!
//! - `inhouse_dev.tsv`: marketplace messages labelled 1 (contact details or
//!   off-platform payment) or 0 (clean). The targets are hard
//!   asserts: recall ≥ 95% of the label-1 messages, false positives ≤ 2% of
//!   the label-0 ones.
//! - `marketplace.tsv`: a larger set written for parley without reading
//!   the rules (482 messages in eight contact/payment categories and five
//!   clean ones), a development part and a held-out part; scored per
//!   category and held to floors below what each part scores.
//! - `presidio/spans.jsonl`: span recall and precision per entity we cover
//!   (EMAIL_ADDRESS, PHONE_NUMBER, URL; IP_ADDRESS is not a contact detail
//!   here and is only counted).
//! - `scrubadub/before_after.jsonl`: the hits applied as redactions must
//!   give the expected text.
//!
//! Run with `-- --nocapture` to see the scores and the misses.

use std::collections::BTreeMap;

use parley::intake::policy::{Hit, contact, payment};
use serde_json::Value;

mod common;

fn read(name: &str) -> String {
    let path = common::fixtures::folder("contact").join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn contact_hits(text: &str) -> Vec<Hit> {
    let mut hits = Vec::new();
    contact::detect(text, &mut hits);
    hits
}

#[test]
fn inhouse_dev_recall_and_false_positives() {
    let data = read("inhouse_dev.tsv");
    // category → (messages, flagged)
    let mut per_category: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    let mut false_positives = Vec::new();
    let mut misses = Vec::new();
    let (mut positives, mut found, mut negatives) = (0, 0, 0);
    for line in data.lines().skip(1).filter(|l| !l.trim().is_empty()) {
        let mut cols = line.splitn(3, '\t');
        let (label, category, text) = (
            cols.next().unwrap(),
            cols.next().unwrap(),
            cols.next().unwrap(),
        );
        let mut hits = contact_hits(text);
        payment::detect(text, &mut hits);
        let flagged = !hits.is_empty();
        let rules: Vec<&str> = hits.iter().map(|h| h.rule).collect();
        if label == "1" {
            positives += 1;
            let entry = per_category.entry(category.to_string()).or_default();
            entry.0 += 1;
            if flagged {
                found += 1;
                entry.1 += 1;
            } else {
                misses.push(text.to_string());
            }
        } else {
            negatives += 1;
            if flagged {
                false_positives.push(format!("{text}  {rules:?}"));
            }
        }
    }
    println!("inhouse_dev.tsv: recall per category");
    for (category, (n, f)) in &per_category {
        println!("  {category:<10} {f}/{n}");
    }
    let recall = found as f64 / positives as f64;
    let fp_rate = false_positives.len() as f64 / negatives as f64;
    println!(
        "  recall {found}/{positives} = {:.1}%, false positives {}/{negatives} = {:.1}%",
        recall * 100.0,
        false_positives.len(),
        fp_rate * 100.0
    );
    for m in &misses {
        println!("  missed: {m}");
    }
    for fp in &false_positives {
        println!("  false positive: {fp}");
    }
    assert!(recall >= 0.95, "recall {recall:.3} < 0.95");
    assert!(fp_rate <= 0.02, "false positives {fp_rate:.3} > 0.02");
}

/// `marketplace.tsv`, per set and category: (messages, flagged).
type Tally = BTreeMap<(String, String, String), (usize, usize)>;

#[test]
fn marketplace_set_per_category_dev_and_held_out() {
    let data = read("marketplace.tsv");
    let mut tally = Tally::new();
    for line in data.lines().skip(1).filter(|l| !l.trim().is_empty()) {
        let cols: Vec<&str> = line.splitn(4, '\t').collect();
        assert_eq!(cols.len(), 4, "{line}");
        let (label, set, category, text) = (cols[0], cols[1], cols[2], cols[3]);
        let mut hits = contact_hits(text);
        payment::detect(text, &mut hits);
        let flagged = !hits.is_empty();
        let entry = tally
            .entry((set.into(), label.into(), category.into()))
            .or_default();
        entry.0 += 1;
        entry.1 += usize::from(flagged);
        if flagged != (label == "1") {
            let rules: Vec<&str> = hits.iter().map(|h| h.rule).collect();
            let what = if flagged { "flagged" } else { "missed" };
            println!("  {set} {what} ({category}): {text} {rules:?}");
        }
    }
    // set → (positives, found, negatives, flagged)
    let mut sets: BTreeMap<&str, (usize, usize, usize, usize)> = BTreeMap::new();
    for ((set, label, category), (n, f)) in &tally {
        let what = if label == "1" { "found" } else { "flagged" };
        println!("marketplace {set} {category:<10} {what} {f}/{n}");
        let entry = sets.entry(set).or_default();
        if label == "1" {
            entry.0 += n;
            entry.1 += f;
        } else {
            entry.2 += n;
            entry.3 += f;
        }
    }
    for (set, (p, f, n, fp)) in &sets {
        println!(
            "marketplace {set}: recall {f}/{p} ({:.1}%), clean flagged {fp}/{n} ({:.1}%)",
            *f as f64 * 100.0 / *p as f64,
            *fp as f64 * 100.0 / *n as f64
        );
    }
    // Floors a little under the scores of 2026-12-06 (bench/README.md).
    for (set, recall, flagged) in [
        ("dev", FLOOR_DEV_RECALL, CEILING_DEV_FLAGGED),
        ("held", FLOOR_HELD_RECALL, CEILING_HELD_FLAGGED),
    ] {
        let (p, f, n, fp) = sets[set];
        assert!(
            f as f64 >= recall * p as f64,
            "{set}: recall {f}/{p} under {recall}"
        );
        assert!(
            fp as f64 <= flagged * n as f64,
            "{set}: {fp}/{n} clean flagged, over {flagged}"
        );
    }
}

const FLOOR_DEV_RECALL: f64 = 0.97;
const CEILING_DEV_FLAGGED: f64 = 0.01;
const FLOOR_HELD_RECALL: f64 = 0.90;
const CEILING_HELD_FLAGGED: f64 = 0.03;

/// Python character offsets to byte offsets.
fn byte_offset(text: &str, chars: usize) -> usize {
    text.char_indices()
        .nth(chars)
        .map_or(text.len(), |(i, _)| i)
}

/// The rules that stand for a Presidio entity.
fn entity_rules(entity: &str) -> Option<&'static [&'static str]> {
    match entity {
        "EMAIL_ADDRESS" => Some(&["email", "email_obfuscated"]),
        "PHONE_NUMBER" => Some(&["phone", "phone_spelled"]),
        "URL" | "DOMAIN_NAME" => Some(&["url", "domain", "shortener"]),
        _ => None,
    }
}

#[derive(Default)]
struct Score {
    gold: usize,
    gold_found: usize,
    hits: usize,
    hits_right: usize,
    negatives: usize,
    negatives_clean: usize,
}

#[test]
fn presidio_span_recall_and_precision() {
    // The same text appears with several expectations (Presidio's
    // leniency levels): merge them, a span is gold if any row has it.
    let mut cases: BTreeMap<(String, String), Vec<(usize, usize)>> = BTreeMap::new();
    for line in read("presidio/spans.jsonl")
        .lines()
        .filter(|l| !l.trim().is_empty())
    {
        let v: Value = serde_json::from_str(line).expect("jsonl");
        let entity = v["entity"].as_str().unwrap().to_string();
        let text = v["text"].as_str().unwrap().to_string();
        let spans = cases.entry((entity, text.clone())).or_default();
        for s in v["spans"].as_array().unwrap() {
            let (a, b) = (
                s[0].as_u64().unwrap() as usize,
                s[1].as_u64().unwrap() as usize,
            );
            let span = (byte_offset(&text, a), byte_offset(&text, b));
            if !spans.contains(&span) {
                spans.push(span);
            }
        }
    }
    let mut scores: BTreeMap<String, Score> = BTreeMap::new();
    let mut skipped: BTreeMap<String, usize> = BTreeMap::new();
    for ((entity, text), gold) in &cases {
        let Some(rules) = entity_rules(entity) else {
            *skipped.entry(entity.clone()).or_default() += 1;
            continue;
        };
        let hits: Vec<Hit> = contact_hits(text)
            .into_iter()
            .filter(|h| rules.contains(&h.rule))
            .collect();
        let s = scores.entry(entity.clone()).or_default();
        let overlaps = |h: &Hit, &(a, b): &(usize, usize)| h.start < b && a < h.end;
        s.gold += gold.len();
        for g in gold {
            if hits.iter().any(|h| overlaps(h, g)) {
                s.gold_found += 1;
            } else {
                println!(
                    "  presidio {entity} missed {:?} in {text:?}",
                    &text[g.0..g.1]
                );
            }
        }
        s.hits += hits.len();
        for h in &hits {
            if gold.iter().any(|g| overlaps(h, g)) {
                s.hits_right += 1;
            } else {
                println!(
                    "  presidio {entity} wrong hit {} {:?} in {text:?}",
                    h.rule,
                    &text[h.start..h.end]
                );
            }
        }
        if gold.is_empty() {
            s.negatives += 1;
            if hits.is_empty() {
                s.negatives_clean += 1;
            }
        }
    }
    println!("presidio/spans.jsonl (texts merged across leniency levels)");
    let pct = |a: usize, b: usize| {
        if b == 0 {
            100.0
        } else {
            a as f64 * 100.0 / b as f64
        }
    };
    for (entity, s) in &scores {
        println!(
            "  {entity:<14} span recall {}/{} = {:.1}%, precision {}/{} = {:.1}%, negatives clean {}/{}",
            s.gold_found,
            s.gold,
            pct(s.gold_found, s.gold),
            s.hits_right,
            s.hits,
            pct(s.hits_right, s.hits),
            s.negatives_clean,
            s.negatives
        );
    }
    for (entity, n) in &skipped {
        println!("  {entity:<14} not covered ({n} texts)");
    }
    // Floors reached on 2026-11-21 (see bench/README.md).
    let floors = [
        ("EMAIL_ADDRESS", 100.0, 100.0),
        ("PHONE_NUMBER", 95.0, 95.0),
        ("URL", 100.0, 100.0),
    ];
    for (entity, recall, precision) in floors {
        let s = &scores[entity];
        assert!(
            pct(s.gold_found, s.gold) >= recall,
            "{entity}: span recall below {recall}%"
        );
        assert!(
            pct(s.hits_right, s.hits) >= precision,
            "{entity}: precision below {precision}%"
        );
        assert_eq!(s.negatives_clean, s.negatives, "{entity}: a negative hit");
    }
}

/// The placeholder scrubadub writes for a hit.
fn placeholder(h: &Hit) -> &'static str {
    match h.rule {
        "email" | "email_obfuscated" => "{{EMAIL}}",
        "phone" | "phone_spelled" => "{{PHONE}}",
        "url" | "domain" | "shortener" => "{{URL}}",
        "handle" if h.value.starts_with("skype:") => "{{SKYPE}}",
        // scrubadub calls any bare @handle a Twitter one.
        "handle" if !h.value.contains(':') || h.value.starts_with("twitter:") => "{{TWITTER}}",
        _ => "{{HANDLE}}",
    }
}

/// `text` with each hit replaced by its placeholder; overlapping hits are
/// merged and take the first one's placeholder; `messenger` hits (no
/// handle to hide) are left.
fn redact(text: &str, hits: &[Hit]) -> String {
    let mut hits: Vec<&Hit> = hits.iter().filter(|h| h.rule != "messenger").collect();
    hits.sort_by_key(|h| (h.start, std::cmp::Reverse(h.end)));
    let mut out = String::new();
    let mut pos = 0;
    for h in hits {
        if h.start < pos {
            pos = pos.max(h.end);
            continue;
        }
        out.push_str(&text[pos..h.start]);
        out.push_str(placeholder(h));
        pos = h.end;
    }
    out.push_str(&text[pos..]);
    out
}

#[test]
fn scrubadub_before_after() {
    let (mut total, mut exact) = (0, 0);
    for line in read("scrubadub/before_after.jsonl")
        .lines()
        .filter(|l| !l.trim().is_empty())
    {
        let v: Value = serde_json::from_str(line).expect("jsonl");
        // The keep-domain cases test a scrubadub option (redact a URL's
        // path, keep its host) that parley does not have.
        if v["source"]
            .as_str()
            .unwrap()
            .contains("UrlKeepDomainTestCase")
        {
            continue;
        }
        let (before, after) = (v["before"].as_str().unwrap(), v["after"].as_str().unwrap());
        total += 1;
        let got = redact(before, &contact_hits(before));
        if got == after {
            exact += 1;
        } else {
            println!("  scrubadub: {before:?}\n    expected {after:?}\n    got      {got:?}");
        }
    }
    println!("scrubadub/before_after.jsonl: {exact}/{total} exact (UrlKeepDomain cases left out)");
    // Floor reached on 2026-11-21 (see bench/README.md).
    assert_eq!(exact, total, "{exact}/{total} exact");
}

/// The in-house abuse set (`tests/fixtures/abuse/inhouse.tsv`): every
/// abusive message of the development part held and no ordinary one;
/// the held-out part, never read while writing the rules, scored and held
/// to floors below what it scores (it is not tuned on).
#[test]
fn abuse_inhouse_dev_and_held_out() {
    use parley::intake::policy::abuse::Phrases;
    let path = common::fixtures::folder("abuse").join("inhouse.tsv");
    let data = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let phrases = Phrases::built_in(&[]);
    // set → (abusive, held, ordinary, flagged)
    let mut scores: BTreeMap<String, (usize, usize, usize, usize)> = BTreeMap::new();
    for line in data.lines().skip(1).filter(|l| !l.trim().is_empty()) {
        let cols: Vec<&str> = line.splitn(4, '\t').collect();
        let (label, set, category, text) = (cols[0], cols[1], cols[2], cols[3]);
        let mut hits = Vec::new();
        phrases.detect(text, &mut hits);
        let entry = scores.entry(set.to_string()).or_default();
        match (label, hits.is_empty()) {
            ("1", false) => {
                entry.0 += 1;
                entry.1 += 1;
            }
            ("1", true) => {
                entry.0 += 1;
                println!("  {set} missed ({category}): {text}");
            }
            (_, false) => {
                entry.2 += 1;
                entry.3 += 1;
                println!("  {set} flagged ({category}): {text}");
            }
            _ => entry.2 += 1,
        }
    }
    for (set, (abusive, held, ordinary, flagged)) in &scores {
        println!("abuse {set}: held {held}/{abusive}, ordinary flagged {flagged}/{ordinary}");
    }
    let dev = scores["dev"];
    assert_eq!(
        (dev.1, dev.3),
        (dev.0, 0),
        "dev: every abusive held, none ordinary"
    );
    let held = scores["held"];
    // Floors under the held-out part's score of 2026-12-06 (19/40 held,
    // 0/40 flagged; bench/README.md): the part is never tuned on.
    assert!(
        held.1 * 100 >= held.0 * 45,
        "held out: recall {}/{} under 45%",
        held.1,
        held.0
    );
    assert!(
        held.3 * 20 <= held.2,
        "held out: {}/{} ordinary flagged, over 5%",
        held.3,
        held.2
    );
}
