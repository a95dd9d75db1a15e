//! bench/reply: reply extraction time against input size — it must grow
//! linearly.
//!
//! `cargo bench --bench reply` times `extract` (plain text) and
//! `extract_html` on a realistic 64 KB reply (an answer, a signature, and a
//! long thread of quoted history in the shapes of several clients) at 1×,
//! 10× and 100× its size, and on pathological inputs at the same sizes:
//! thousands of ">" lines, one very long line, thousands of lines that look
//! almost like "On … wrote:" / "From:" headers, deeply nested and unclosed
//! HTML. Each figure is the fastest of several runs; the ratio column is
//! time(size) / time(previous size), ~10 for linear work.
//!
//! Under `cargo test` (no `--bench` argument) it runs a quick smoke pass
//! that fails when 10× the input takes more than 30× the time.
//!
//! First it scores the reply-parser suites of tests/fixtures/reply, per
//! suite, for parley (as `tests/reply_fixtures.rs` does) and beside it for
//! PyPI's `email-reply-parser` 0.5.12 (bench/peers: the wheel run in place
//! by `python3`), which has one function for the whole extraction and no
//! HTML or MIME reader: it gets the text part of `eml` cases and no HTML
//! case. `PARLEY_BENCH_REPLY=scores` stops after the scores.

use std::hint::black_box;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use parley::intake::{parse, reply};

#[allow(dead_code)]
#[path = "../tests/common/fixtures.rs"]
mod fixtures;
#[allow(dead_code)]
#[path = "../tests/reply/suites.rs"]
mod suites;

const BASE: usize = 64 * 1024;

fn main() {
    let bench = std::env::args().any(|a| a == "--bench");
    if bench {
        full();
    } else {
        smoke();
    }
}

type Input = fn(usize) -> String;

const CASES: &[(&str, Input, bool)] = &[
    ("realistic text", realistic_text, false),
    ("realistic html", realistic_html, true),
    ("'>' lines", quote_lines, false),
    ("one long line", long_line, false),
    ("one long line of words", long_words, false),
    ("'wrote:' lookalikes", wrote_lookalikes, false),
    ("header lookalikes", header_lookalikes, false),
    ("signature lookalikes", signature_lookalikes, false),
    ("html nested divs", nested_divs, true),
    ("html nested blockquotes", nested_blockquotes, true),
    ("html unclosed tags", unclosed_tags, true),
    ("html text in one line", long_line, true),
];

fn full() {
    scores();
    if std::env::var("PARLEY_BENCH_REPLY").as_deref() == Ok("scores") {
        return;
    }
    println!(
        "{:<40} {:>9} {:>12} {:>7}",
        "input", "size", "time", "ratio"
    );
    for &(name, make, html) in CASES {
        let mut previous: Option<Duration> = None;
        for factor in [1, 10, 100] {
            let input = make(BASE * factor);
            let reps = if factor == 100 { 3 } else { 10 };
            let t = fastest(&input, html, reps);
            let ratio = previous.map_or(String::new(), |p| {
                format!("{:.1}", t.as_secs_f64() / p.as_secs_f64())
            });
            println!(
                "{:<40} {:>6} KB {:>9.3} ms {:>7}",
                format!("{name} ({})", if html { "extract_html" } else { "extract" }),
                input.len() / 1024,
                t.as_secs_f64() * 1e3,
                ratio
            );
            previous = Some(t);
        }
    }
}

/// parley and the peer on every suite: exact on the unambiguous cases,
/// then the ambiguous ones.
fn scores() {
    println!(
        "{:<30} {:<10} {:>16} {:>10} {:>22} {:>10}",
        "suite", "stage", "parley", "ambiguous", "email-reply-parser", "ambiguous"
    );
    for &(suite, stage, _) in suites::SUITES {
        let ours = suites::score_suite(suite, stage, |case| Some(suites::run(stage, case)));
        let texts = peer_inputs(suite);
        let answers = peer(&texts);
        let theirs = answers.as_ref().map(|answers| {
            suites::score_suite(suite, stage, |case| {
                answers.get(&case.id).map(|text| reply::Reply {
                    text: text.clone(),
                    ..reply::Reply::default()
                })
            })
        });
        let cell = |t: &suites::Tally| match t.total {
            0 => "not run".to_string(),
            _ => format!("{}/{} ({:.1}%)", t.pass, t.total, t.rate() * 100.0),
        };
        let (peer_clear, peer_amb) = match &theirs {
            Some(s) => (
                cell(&s.clear),
                format!("{}/{}", s.ambiguous.pass, s.ambiguous.total),
            ),
            None => ("not run".into(), String::new()),
        };
        println!(
            "{:<30} {:<10} {:>16} {:>10} {:>22} {:>10}",
            suite,
            format!("{stage:?}"),
            cell(&ours.clear),
            format!("{}/{}", ours.ambiguous.pass, ours.ambiguous.total),
            peer_clear,
            peer_amb
        );
    }
}

/// What the peer reads of each case of `suite`: plain bodies as they are,
/// the text part of a message; nothing of HTML.
fn peer_inputs(suite: &str) -> Vec<(String, String)> {
    let dir = fixtures::folder("reply").join(suite);
    suites::read_cases(&dir)
        .into_iter()
        .filter_map(|case| {
            let text = if case.kind.starts_with("eml") {
                let parsed = parse::parse(&case.input)?;
                (parsed.has_text_part || parsed.html.is_none()).then_some(parsed.text)?
            } else if case.kind.starts_with("html") {
                return None;
            } else {
                String::from_utf8_lossy(&case.input).into_owned()
            };
            Some((case.id, text))
        })
        .collect()
}

/// The peer's answers by case id; `None` (said why) when it cannot run.
fn peer(texts: &[(String, String)]) -> Option<std::collections::HashMap<String, String>> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("bench/peers/reply_peer.py");
    let input: Vec<serde_json::Value> = texts
        .iter()
        .map(|(id, text)| serde_json::json!({ "id": id, "text": text }))
        .collect();
    let child = Command::new("python3")
        .arg(&script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(child) => child,
        Err(e) => {
            eprintln!("the peer does not run (python3: {e}); parley alone");
            return None;
        }
    };
    let body = serde_json::to_vec(&input).ok()?;
    child.stdin.take()?.write_all(&body).ok()?;
    let out = child.wait_with_output().ok()?;
    if !out.status.success() {
        eprintln!("the peer failed: {}", out.status);
        return None;
    }
    serde_json::from_slice(&out.stdout).ok()
}

fn smoke() {
    let mut failures = Vec::new();
    for &(name, make, html) in CASES {
        let small = make(BASE);
        let large = make(BASE * 10);
        // Warm up, then the fastest of several runs: robust on a loaded box.
        let t1 = fastest(&small, html, 8);
        let t10 = fastest(&large, html, 3);
        let ratio = t10.as_secs_f64() / t1.as_secs_f64().max(1e-6);
        println!(
            "{name:<26} 64 KB {:>8.2} ms, 640 KB {:>8.2} ms, ratio {ratio:.1}",
            t1.as_secs_f64() * 1e3,
            t10.as_secs_f64() * 1e3
        );
        if ratio > 30.0 && t10 > Duration::from_millis(20) {
            failures.push(format!("{name}: 10× input took {ratio:.1}× the time"));
        }
    }
    assert!(failures.is_empty(), "not linear: {failures:?}");
}

fn fastest(input: &str, html: bool, reps: usize) -> Duration {
    let run = || {
        if html {
            black_box(reply::extract_html(black_box(input)));
        } else {
            black_box(reply::extract(black_box(input)));
        }
    };
    run();
    (0..reps)
        .map(|_| {
            let start = Instant::now();
            run();
            start.elapsed()
        })
        .min()
        .unwrap_or_default()
}

/// Repeats `unit` until the text is `size` bytes long (cut at a line).
fn fill(size: usize, mut unit: impl FnMut(usize) -> String) -> String {
    let mut out = String::with_capacity(size + 256);
    let mut i = 0;
    while out.len() < size {
        out.push_str(&unit(i));
        i += 1;
    }
    out
}

const PARAGRAPH: &str = "The lot is a walnut writing desk from around 1890, with the original \
brass handles and a replaced leather top. Shipping to Lyon is possible by freight; \
pick-up in Ghent is free on weekdays between nine and five.\n";

/// An answer, a signature, then a long thread of quoted history: Gmail
/// attributions with ">" levels, Outlook header blocks, an original
/// message, wrapped lines.
fn realistic_text(size: usize) -> String {
    let mut out = String::from(
        "Hi Maria,\n\nYes, the desk is still available and I can hold it until Friday.\n\
         The dimensions are 120 x 60 x 76 cm.\n\nBest regards,\nPeter Janssens\n\
         Janssens Antiques | +32 9 123 45 67\n\nSent from my iPhone\n\n\
         On Mon, 9 Mar 2026 at 14:02, Maria Lopez <maria@example.com> wrote:\n\n",
    );
    out.push_str(&fill(size.saturating_sub(out.len()), |i| match i % 4 {
        0 => format!("> {}>\n", PARAGRAPH.replace('\n', "\n> ")),
        1 => format!(
            ">> On Sun, 8 Mar 2026 at 09:{:02}, Peter Janssens <peter@example.com> wrote:\n>> {}\n",
            i % 60,
            PARAGRAPH.trim_end()
        ),
        2 => format!(
            "> From: Parley Support <support@parley.example>\n> Sent: Saturday, 7 March 2026 18:{:02}\n\
             > To: Maria Lopez\n> Subject: Lot {i}: question\n>\n> {}",
            i % 60,
            PARAGRAPH
        ),
        _ => format!("> -----Original Message-----\n> {PARAGRAPH}>\n"),
    }));
    out
}

/// The same thread as Gmail, Outlook and Apple Mail would send it as HTML.
fn realistic_html(size: usize) -> String {
    let mut out = String::from(
        "<html><head><style>p { margin: 0 }</style></head><body><div dir=\"ltr\">\
         <div>Hi Maria,</div><div><br></div><div>Yes, the desk is still available.</div>\
         <div><br></div><div>Best regards,<br>Peter</div></div><br>\
         <div class=\"gmail_quote\"><div dir=\"ltr\" class=\"gmail_attr\">On Mon, 9 Mar 2026 at 14:02, \
         Maria Lopez &lt;<a href=\"mailto:maria@example.com\">maria@example.com</a>&gt; wrote:<br></div>\
         <blockquote class=\"gmail_quote\" style=\"margin:0px 0px 0px 0.8ex;border-left:1px solid rgb(204,204,204)\">",
    );
    out.push_str(&fill(size.saturating_sub(out.len() + 64), |i| match i % 3 {
        0 => format!("<div><p class=\"MsoNormal\">{}</p><p class=\"MsoNormal\">&nbsp;</p></div>\n", PARAGRAPH),
        1 => format!(
            "<blockquote type=\"cite\"><div>On 8 Mar 2026, at 09:{:02}, Peter &lt;peter@example.com&gt; wrote:</div>\
             <div>{PARAGRAPH}</div></blockquote>\n",
            i % 60
        ),
        _ => format!(
            "<div style=\"border:none;border-top:solid #E1E1E1 1.0pt;padding:3.0pt 0cm 0cm 0cm\">\
             <p class=\"MsoNormal\"><b>From:</b> Parley &lt;support@parley.example&gt;<br><b>Sent:</b> \
             Saturday, 7 March 2026 18:{:02}<br><b>Subject:</b> Lot {i}</p></div><div>{PARAGRAPH}</div>\n",
            i % 60
        ),
    }));
    out.push_str("</blockquote></div></body></html>");
    out
}

fn quote_lines(size: usize) -> String {
    let mut out = String::from("Thanks!\n\n");
    out.push_str(&fill(size, |i| {
        format!("{} quoted line number {i}\n", ">".repeat(1 + i % 5))
    }));
    out
}

fn long_line(size: usize) -> String {
    "a".repeat(size)
}

fn long_words(size: usize) -> String {
    fill(size, |i| format!("On wrote: {i} From: Sent: -- > <div> "))
}

fn wrote_lookalikes(size: usize) -> String {
    fill(size, |i| match i % 4 {
        0 => format!("On Monday {i} we met and she wrote\n"),
        1 => "<someone@example.com>\n".to_string(),
        2 => format!(
            "On {i}/3/2026 at 10:{:02} nobody wrote anything here, really, no colon\n",
            i % 60
        ),
        _ => format!("Someone wrote: line {i}\n"),
    })
}

fn header_lookalikes(size: usize) -> String {
    fill(size, |i| match i % 3 {
        0 => format!("From: the seller {i}\n"),
        1 => "de: la part du vendeur\n".to_string(),
        _ => format!("Date: not a header, paragraph {i}\n\n"),
    })
}

fn signature_lookalikes(size: usize) -> String {
    fill(size, |i| match i % 4 {
        0 => "--\n".to_string(),
        1 => format!("Thanks,\nName {i}\n"),
        2 => "- item\n".to_string(),
        _ => "Sent from my lot\n".to_string(),
    })
}

fn nested_divs(size: usize) -> String {
    fill(size, |i| format!("<div class=\"x{i}\">text {i} "))
}

fn nested_blockquotes(size: usize) -> String {
    fill(size, |i| {
        format!("<blockquote type=\"cite\"><div>On {i} wrote:</div>line {i}<br>")
    })
}

fn unclosed_tags(size: usize) -> String {
    fill(size, |i| {
        format!("<p><b>bold {i}</i><span id='a{i}' <td>x</b>&amp &#x41; < ")
    })
}
