//! Reply text: what the author wrote, without the history they quoted or
//! the signature under it — and that removed part, so a moderator can
//! expand it.
//!
//! Plain text goes through two stages (see [`quote`] and [`signature`]):
//! quoted history first (our "reply above this line" marker, "On … wrote:"
//! in many languages and wrapped over lines, "-----Original Message-----",
//! "From:/Sent:/To:/Subject:" blocks, trailing ">" blocks), then the
//! signature ("-- ", "Sent from my iPhone", "Thanks,\nName"), then the quote
//! stage once more for a ">" block the signature sat under. HTML first loses
//! the quote containers mail clients mark (see [`html`]) and is then
//! converted to text and run through the same stages.
//!
//! When every line would go, nothing goes: a message that is all quote (or
//! all signature) keeps its text, so a reply is never silently empty.
//!
//! Every stage is linear in the input: no backtracking patterns, windows of
//! at most five lines, look-ahead answered from precomputed arrays.

mod html;
mod patterns;
mod phrases;
mod quote;
mod signature;
#[cfg(test)]
mod tests;

use std::borrow::Cow;
use std::sync::LazyLock;

use crate::intake::parse::Parsed;
use patterns::{PLACEHOLDER, is_blank};

/// Our text notifications carry a line containing this (any letter case):
/// everything from that line on is quoted history.
pub const REPLY_MARKER: &str = "reply above this line";

/// Our HTML notifications carry an element with this id: everything from it
/// on is quoted history.
pub const HTML_MARKER_ID: &str = "parley-reply-above";

/// A reply split into what the author wrote and what was removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reply {
    /// What the author wrote.
    pub text: String,
    /// The removed part (quoted history, signature), kept so a moderator
    /// can expand it.
    pub elided: String,
}

/// One line of the body, with its position for putting the removed lines
/// back in order.
#[derive(Clone, Debug)]
struct Line<'a> {
    idx: usize,
    text: Cow<'a, str>,
}

#[derive(Clone, Copy)]
struct Stages {
    quotes: bool,
    signature: bool,
}

const ALL: Stages = Stages {
    quotes: true,
    signature: true,
};
const QUOTES: Stages = Stages {
    quotes: true,
    signature: false,
};
const SIGNATURE: Stages = Stages {
    quotes: false,
    signature: true,
};

/// The reply in a plain-text body.
pub fn extract(text: &str) -> Reply {
    run_text(text, ALL)
}

/// The reply in an HTML body: quote containers cut, then converted to text
/// and run through the text stages.
pub fn extract_html(html: &str) -> Reply {
    run_html(html, ALL)
}

/// The reply of a parsed message: from the text part when there is one,
/// else from the HTML part, else from whatever text the parser derived.
pub fn for_message(parsed: &Parsed) -> Reply {
    if parsed.has_text_part && !parsed.text.trim().is_empty() {
        return extract(&parsed.text);
    }
    match parsed.html.as_deref() {
        Some(html) => extract_html(html),
        None => extract(&parsed.text),
    }
}

/// Only the quoted-history stage (signatures stay): what talon's
/// `extract_from_plain` does.
pub fn strip_quotes(text: &str) -> Reply {
    run_text(text, QUOTES)
}

/// Only the quoted-history stage on an HTML body, as text.
pub fn strip_quotes_html(html: &str) -> Reply {
    run_html(html, QUOTES)
}

/// Only the signature stage: the body without its signature, and the
/// signature as `elided`.
pub fn strip_signature(text: &str) -> Reply {
    run_text(text, SIGNATURE)
}

/// An HTML body as text, nothing cut: block elements break lines,
/// blockquotes are prefixed with "> ".
pub fn html_to_text(html: &str) -> String {
    finish_text(&html::to_text(html))
}

static SANITIZER: LazyLock<ammonia::Builder<'static>> = LazyLock::new(|| {
    let mut builder = ammonia::Builder::default();
    builder.add_url_schemes(["cid"]);
    builder
});

/// HTML that is safe to show: ammonia's defaults (no scripts, styles, event
/// handlers or unknown URL schemes; links get `rel="noopener noreferrer"`),
/// plus `cid:` sources for inline images of the same message.
pub fn sanitize_html(html: &str) -> String {
    SANITIZER.clean(html).to_string()
}

fn run_text(text: &str, stages: Stages) -> Reply {
    // A placeholder character in a plain body is just a character.
    let text: Cow<'_, str> = if text.contains(PLACEHOLDER) {
        Cow::Owned(text.replace(PLACEHOLDER, "\u{FFFD}"))
    } else {
        Cow::Borrowed(text)
    };
    run(&text, stages, &[]).unwrap_or_else(|| Reply {
        text: finish_text(&text),
        elided: String::new(),
    })
}

fn run_html(html: &str, stages: Stages) -> Reply {
    let cuts = html::Cuts {
        quotes: stages.quotes,
        signatures: stages.signature,
    };
    let rendered = html::render(html, cuts);
    run(&rendered.text, stages, &rendered.cuts).unwrap_or_else(|| Reply {
        text: html_to_text(html),
        elided: String::new(),
    })
}

/// The stages on `text` (with placeholders for the HTML `cuts`); `None`
/// when nothing would be left: then nothing is cut.
fn run(text: &str, stages: Stages, cuts: &[String]) -> Option<Reply> {
    let lines: Vec<Line<'_>> = text
        .split('\n')
        .enumerate()
        .map(|(idx, l)| Line {
            idx,
            text: Cow::Borrowed(l.strip_suffix('\r').unwrap_or(l)),
        })
        .collect();
    let mut removed = Vec::new();
    let mut kept = lines;
    if stages.quotes {
        kept = quote::strip(kept, &mut removed);
    }
    if stages.signature {
        kept = signature::strip(kept, &mut removed);
        if stages.quotes {
            kept = quote::strip(kept, &mut removed);
        }
    }
    let mut out = String::new();
    for line in kept.iter().filter(|l| !patterns::is_placeholder(&l.text)) {
        out.push_str(&line.text);
        out.push('\n');
    }
    let reply = finish_text(&out);
    (!reply.is_empty()).then(|| Reply {
        text: reply,
        elided: elided(removed, &kept, cuts),
    })
}

/// The removed lines in document order, with each HTML cut's text where its
/// placeholder stood.
fn elided<'a>(mut removed: Vec<Line<'a>>, kept: &[Line<'a>], cuts: &[String]) -> String {
    removed.extend(
        kept.iter()
            .filter(|l| patterns::is_placeholder(&l.text))
            .cloned(),
    );
    removed.sort_by_key(|l| l.idx);
    let mut out = String::new();
    for line in &removed {
        let t = line.text.trim();
        match t.strip_prefix(PLACEHOLDER) {
            Some(n) => {
                if let Some(cut) = n.parse::<usize>().ok().and_then(|n| cuts.get(n)) {
                    out.push_str(cut.trim());
                    out.push('\n');
                }
            }
            None => {
                out.push_str(line.text.trim_end());
                out.push('\n');
            }
        }
    }
    finish_text(&out)
}

/// Trailing white space off each line, blank lines off both ends.
/// Lines without what trails them unseen (white space, and characters that
/// show nothing: [`patterns::invisible`]), and without blank lines around.
fn finish_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.split('\n') {
        out.push_str(line.trim_end_matches(|c: char| c.is_whitespace() || patterns::invisible(c)));
        out.push('\n');
    }
    let lines: Vec<&str> = out.split('\n').collect();
    let first = lines.iter().position(|l| !is_blank(l));
    let last = lines.iter().rposition(|l| !is_blank(l));
    match (first, last) {
        (Some(a), Some(b)) => lines[a..=b].join("\n"),
        _ => String::new(),
    }
}
