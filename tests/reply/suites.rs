//! The reply-parser suites of tests/fixtures/reply and how a parser's
//! answers are scored on them: shared by `tests/reply_fixtures.rs` (parley,
//! with floors) and `bench/reply.rs` (parley beside PyPI's
//! `email-reply-parser`). The includer provides `fixtures` (the file
//! tests/common/fixtures.rs) at its crate root.
//!
//! Each upstream suite tests one stage, so each is scored on that stage:
//! github, willdurand and zapier test the whole extraction (`extract`);
//! mailgun talon's `extract_from_plain`/`extract_from_html` remove quoted
//! history only and keep signatures (`strip_quotes`, `strip_quotes_html`);
//! talon's bruteforce signature suite removes the signature only
//! (`strip_signature`; the text compared is `Reply::without_signature`,
//! the text without the closing parley keeps in it, and its `signature`
//! check is compared with `Reply::signature`).
//!
//! Comparison as the README says: CRLF→LF, trailing spaces of each line
//! stripped, the whole trimmed; HTML kinds with all white space removed
//! (expected HTML converted with `reply::html_to_text`). Cases that only
//! have a checks file are scored on the checks that speak about the visible
//! text (must contain / must not contain / fragment regexes: fragment 0 is
//! the reply, fragment 1 the elided part). Two unambiguous cases with the
//! same input but different expectations cannot both pass: they are counted
//! as ambiguous and listed.

use std::collections::HashMap;
use std::fs;
use std::path::Path;

use super::fixtures::{folder, normalise, squash};
use parley::intake::{parse, reply};
use serde_json::Value;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Stage {
    Full,
    Quotes,
    Signature,
}

/// Each suite, the stage it is scored on, and its floor: the test fails
/// when parley's exact score on the suite's unambiguous cases is below it
/// (bench/README.md has the scores).
pub const SUITES: &[(&str, Stage, f64)] = &[
    ("github_email_reply_parser", Stage::Full, FLOOR_GITHUB),
    ("willdurand_EmailReplyParser", Stage::Full, FLOOR_WILLDURAND),
    ("zapier_email_reply_parser", Stage::Full, FLOOR_ZAPIER),
    ("mailgun_talon", Stage::Quotes, FLOOR_TALON),
    ("mailgun_talon_html", Stage::Quotes, FLOOR_TALON_HTML),
    (
        "mailgun_talon_signature",
        Stage::Signature,
        FLOOR_TALON_SIGNATURE,
    ),
];

// What each suite scores (2026-12-06, bench/README.md): no case may be
// lost. talon html's one miss is `reply_separated_by_hr` (bench/README.md).
const FLOOR_GITHUB: f64 = 1.0;
const FLOOR_WILLDURAND: f64 = 1.0;
const FLOOR_ZAPIER: f64 = 1.0;
const FLOOR_TALON: f64 = 1.0;
const FLOOR_TALON_HTML: f64 = 26.0 / 27.0;
const FLOOR_TALON_SIGNATURE: f64 = 1.0;

pub struct Case {
    pub id: String,
    pub kind: String,
    pub input: Vec<u8>,
    pub expected: Option<String>,
    pub checks: Option<Value>,
    pub ambiguous: bool,
}

pub fn read_cases(dir: &Path) -> Vec<Case> {
    let tsv = fs::read_to_string(dir.join("cases.tsv")).expect("cases.tsv");
    let mut rows = tsv.lines();
    let header: Vec<&str> = rows.next().expect("header").split('\t').collect();
    let col = |name: &str| {
        header
            .iter()
            .position(|h| *h == name)
            .unwrap_or_else(|| panic!("no column {name}"))
    };
    let (id, kind, input, expected, checks, ambiguous) = (
        col("case_id"),
        col("kind"),
        col("input_file"),
        col("expected_file"),
        col("checks_file"),
        col("ambiguous"),
    );
    rows.filter(|r| !r.trim().is_empty())
        .map(|row| {
            let f: Vec<&str> = row.split('\t').collect();
            let get = |i: usize| f.get(i).copied().unwrap_or("").trim();
            let amb = get(ambiguous).to_ascii_lowercase();
            Case {
                id: get(id).to_string(),
                kind: get(kind).to_string(),
                input: fs::read(dir.join(get(input))).expect("input file"),
                expected: (!get(expected).is_empty()).then(|| {
                    String::from_utf8_lossy(
                        &fs::read(dir.join(get(expected))).expect("expected file"),
                    )
                    .into_owned()
                }),
                checks: (!get(checks).is_empty()).then(|| {
                    serde_json::from_slice(&fs::read(dir.join(get(checks))).expect("checks file"))
                        .expect("json")
                }),
                ambiguous: !(amb.is_empty() || amb == "no" || amb == "false" || amb == "0"),
            }
        })
        .collect()
}

pub fn run(stage: Stage, case: &Case) -> reply::Reply {
    let html = case.kind.starts_with("html");
    if case.kind.starts_with("eml") {
        let parsed = parse::parse(&case.input).expect("eml parses");
        return match stage {
            Stage::Full => reply::for_message(&parsed),
            _ if parsed.has_text_part || parsed.html.is_none() => reply::strip_quotes(&parsed.text),
            _ => reply::strip_quotes_html(parsed.html.as_deref().unwrap_or("")),
        };
    }
    let input = String::from_utf8_lossy(&case.input);
    match (stage, html) {
        (Stage::Full, false) => reply::extract(&input),
        (Stage::Full, true) => reply::extract_html(&input),
        (Stage::Quotes, false) => reply::strip_quotes(&input),
        (Stage::Quotes, true) => reply::strip_quotes_html(&input),
        (Stage::Signature, _) => reply::strip_signature(&input),
    }
}

/// `None`: nothing to score the case on.
pub fn score(stage: Stage, case: &Case, got: &reply::Reply) -> Option<Result<(), String>> {
    let mut verdicts = Vec::new();
    let text = match stage {
        Stage::Signature => got.without_signature(),
        _ => &got.text,
    };
    if let Some(expected) = &case.expected {
        let ok = match case.kind.as_str() {
            "html_visible" => squash(text) == squash(&reply::html_to_text(expected)),
            "html_to_plain_visible" => squash(text) == squash(expected),
            _ => normalise(text) == normalise(expected),
        };
        verdicts.push(ok.then_some(()).ok_or_else(|| {
            format!(
                "text\n--- got:\n{}\n--- expected:\n{}",
                text,
                normalise(expected)
            )
        }));
    }
    if let Some(Value::Object(checks)) = &case.checks {
        for (name, value) in checks {
            let strings = || {
                value
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
            };
            let verdict = match name.as_str() {
                "visible_must_contain" | "fragment0_must_contain" => {
                    strings().all(|s| text.contains(s))
                }
                "visible_must_not_contain" | "fragment0_must_not_contain" => {
                    !strings().any(|s| text.contains(s))
                }
                "implied_visible_text" => {
                    normalise(text) == normalise(value.as_str().unwrap_or(""))
                }
                "signature" if stage == Stage::Signature => {
                    normalise(&got.signature) == normalise(value.as_str().unwrap_or(""))
                }
                "fragment_regex" => value.as_object().into_iter().flatten().all(|(k, re)| {
                    let re = re.as_str().unwrap_or("");
                    match k.as_str() {
                        "0" => Mini::new(re).is_match(text),
                        "1" => Mini::new(re).is_match(got.elided.trim_start()),
                        _ => true,
                    }
                }),
                _ => continue,
            };
            verdicts.push(verdict.then_some(()).ok_or_else(|| {
                format!(
                    "check {name} = {value}\n--- got text:\n{}\n--- got signature:\n{}\n--- got elided:\n{}",
                    got.text, got.signature, got.elided
                )
            }));
        }
    }
    if verdicts.is_empty() {
        return None;
    }
    Some(
        verdicts
            .into_iter()
            .collect::<Result<Vec<()>, String>>()
            .map(|_| ()),
    )
}

#[derive(Default)]
pub struct Tally {
    pub pass: usize,
    pub total: usize,
    pub failed: Vec<String>,
}

impl Tally {
    pub fn add(&mut self, id: &str, result: &Result<(), String>) {
        self.total += 1;
        match result {
            Ok(()) => self.pass += 1,
            Err(_) => self.failed.push(id.to_string()),
        }
    }

    pub fn rate(&self) -> f64 {
        if self.total == 0 {
            1.0
        } else {
            self.pass as f64 / self.total as f64
        }
    }
}

/// Unambiguous cases sharing one input with different expectations.
pub fn conflicting(cases: &[Case]) -> Vec<String> {
    let mut by_input: HashMap<&[u8], Vec<&Case>> = HashMap::new();
    for case in cases.iter().filter(|c| !c.ambiguous) {
        by_input.entry(&case.input).or_default().push(case);
    }
    let mut out = Vec::new();
    for group in by_input.values().filter(|g| g.len() > 1) {
        let first = group[0];
        let differs = group.iter().any(|c| {
            c.expected.as_deref().map(normalise) != first.expected.as_deref().map(normalise)
                || c.checks != first.checks
        });
        if differs {
            out.extend(group.iter().map(|c| c.id.clone()));
        }
    }
    out.sort();
    out
}

/// One suite's score.
#[derive(Default)]
pub struct SuiteScore {
    /// The unambiguous cases.
    pub clear: Tally,
    /// The ambiguous ones, and those with contradicting twins.
    pub ambiguous: Tally,
    /// Cases with nothing to score on.
    pub unscored: Vec<String>,
    /// Unambiguous cases with a same-input twin that expects otherwise.
    pub conflicts: Vec<String>,
    /// Why each failed case failed (`suite/case: why`).
    pub why: Vec<String>,
}

/// Scores `suite` (a folder of tests/fixtures/reply) on `stage` with the
/// answers of `answer`; a case it answers `None` is left out (the parser
/// cannot read its kind).
pub fn score_suite(
    suite: &str,
    stage: Stage,
    mut answer: impl FnMut(&Case) -> Option<reply::Reply>,
) -> SuiteScore {
    let cases = read_cases(&folder("reply").join(suite));
    let mut out = SuiteScore {
        conflicts: conflicting(&cases),
        ..SuiteScore::default()
    };
    for case in &cases {
        let Some(got) = answer(case) else { continue };
        let Some(result) = score(stage, case, &got) else {
            out.unscored.push(case.id.clone());
            continue;
        };
        let ambiguous = case.ambiguous || out.conflicts.contains(&case.id);
        if let Err(why) = &result {
            let label = if ambiguous { " (ambiguous)" } else { "" };
            out.why.push(format!("{suite}/{}{label}: {why}", case.id));
        }
        match ambiguous {
            true => out.ambiguous.add(&case.id, &result),
            false => out.clear.add(&case.id, &result),
        }
    }
    out
}

/// The few regular-expression features the fixtures' fragment checks use:
/// `|`, `^`, `.`, `\n` and other escapes, `[…]`/`[^…]` with `+`/`*`.
struct Mini {
    alternatives: Vec<(bool, Vec<(Atom, Rep)>)>,
}

#[derive(Clone)]
enum Atom {
    Char(char),
    Any,
    Class(bool, Vec<char>),
}

#[derive(Clone, Copy, PartialEq)]
enum Rep {
    One,
    Plus,
    Star,
}

impl Atom {
    fn matches(&self, c: char) -> bool {
        match self {
            Atom::Char(a) => *a == c,
            Atom::Any => c != '\n',
            Atom::Class(neg, set) => set.contains(&c) != *neg,
        }
    }
}

impl Mini {
    fn new(re: &str) -> Self {
        let alternatives = re
            .split('|')
            .map(|alt| {
                let (anchored, alt) = match alt.strip_prefix('^') {
                    Some(rest) => (true, rest),
                    None => (false, alt),
                };
                let mut atoms: Vec<(Atom, Rep)> = Vec::new();
                let mut chars = alt.chars().peekable();
                while let Some(c) = chars.next() {
                    let atom = match c {
                        '\\' => match chars.next() {
                            Some('n') => Atom::Char('\n'),
                            Some(e) => Atom::Char(e),
                            None => Atom::Char('\\'),
                        },
                        '.' => Atom::Any,
                        '[' => {
                            let neg = chars.peek() == Some(&'^');
                            if neg {
                                chars.next();
                            }
                            let mut set = Vec::new();
                            while let Some(c) = chars.next() {
                                match c {
                                    ']' => break,
                                    '\\' => set.extend(chars.next()),
                                    c => set.push(c),
                                }
                            }
                            Atom::Class(neg, set)
                        }
                        '+' | '*' => {
                            if let Some(last) = atoms.last_mut() {
                                last.1 = if c == '+' { Rep::Plus } else { Rep::Star };
                            }
                            continue;
                        }
                        c => Atom::Char(c),
                    };
                    atoms.push((atom, Rep::One));
                }
                (anchored, atoms)
            })
            .collect();
        Mini { alternatives }
    }

    fn is_match(&self, text: &str) -> bool {
        let chars: Vec<char> = text.chars().collect();
        self.alternatives.iter().any(|(anchored, atoms)| {
            if *anchored {
                Self::at(atoms, &chars)
            } else {
                (0..=chars.len()).any(|i| Self::at(atoms, &chars[i..]))
            }
        })
    }

    fn at(atoms: &[(Atom, Rep)], text: &[char]) -> bool {
        let Some(((atom, rep), rest)) = atoms.split_first() else {
            return true;
        };
        match rep {
            Rep::One => {
                text.first().is_some_and(|&c| atom.matches(c)) && Self::at(rest, &text[1..])
            }
            Rep::Plus | Rep::Star => {
                let run = text.iter().take_while(|&&c| atom.matches(c)).count();
                let min = usize::from(*rep == Rep::Plus);
                (min..=run).rev().any(|k| Self::at(rest, &text[k..]))
            }
        }
    }
}
