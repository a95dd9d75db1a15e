//! Reply text: what the author wrote, without the history they quoted, a
//! delimited signature or their mail client's sign-off — and that removed
//! part, so a moderator can expand it; and the signature as a field of its
//! own, so a reader can fold it.
//!
//! Plain text goes through two stages (see [`quote`] and [`signature`]):
//! quoted history first (our "reply above this line" marker, "On … wrote:"
//! in many languages and wrapped over lines, "-----Original Message-----",
//! "From:/Sent:/To:/Subject:" blocks, trailing ">" blocks), then the
//! signature ("-- ", "Sent from my iPhone", "Thanks,\nName": the closing
//! stays in the text, see [`signature`]), then the quote stage once more for
//! a ">" block the signature sat under. HTML first loses
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
    /// What the author wrote: with their closing ("Thanks,\nMaria"), without
    /// quoted history, a signature under a delimiter ("-- ") or their mail
    /// client's sign-off ("Sent from my iPhone").
    pub text: String,
    /// The signature as one block, in the order written: the closing that
    /// ends `text` (if any), then the delimited signature and the client's
    /// sign-off (if any, which `text` does not hold). Empty without one.
    pub signature: String,
    /// The removed part (quoted history, delimited signature, client
    /// sign-off), kept so a moderator can expand it.
    pub elided: String,
}

impl Reply {
    /// `text` without the closing it ends with: the reply as a signature
    /// parser (talon) sees it.
    pub fn without_signature(&self) -> &str {
        before_sign_off(&self.text, &self.signature)
    }
}

/// How many lines a closing kept in a text can have (a closing and four
/// lines under it, blank lines between).
const SIGN_OFF_LINES: usize = 32;

/// How many of `text`'s last lines are the first lines of `signature`: the
/// closing the text ends with, which a reader may fold away (0 when the
/// signature was all cut). Works on a masked text too, as long as masking
/// kept its lines.
pub fn sign_off_lines(text: &str, signature: &str) -> usize {
    if signature.is_empty() {
        return 0;
    }
    let t: Vec<&str> = text.lines().map(str::trim_end).collect();
    let s: Vec<&str> = signature.lines().map(str::trim_end).collect();
    let most = t.len().min(s.len()).min(SIGN_OFF_LINES);
    (1..=most)
        .rev()
        .find(|&k| t[t.len() - k..] == s[..k])
        .unwrap_or(0)
}

/// The closing at the end of `shown` (a stored text as some reader sees it,
/// contact details masked), by the lines the stored `text` ends its
/// `signature` with: what a page may fold away. Empty without one.
pub fn sign_off_in<'s>(shown: &'s str, text: &str, signature: &str) -> &'s str {
    let k = sign_off_lines(text, signature);
    if k == 0 || shown.lines().count() < k {
        return "";
    }
    let cut = before_lines(shown, k).len();
    shown[cut..].trim_start_matches(['\r', '\n']).trim_end()
}

/// `text` without its last [`sign_off_lines`] lines, trailing blank lines
/// off.
pub fn before_sign_off<'t>(text: &'t str, signature: &str) -> &'t str {
    match sign_off_lines(text, signature) {
        0 => text,
        k => before_lines(text, k).trim_end(),
    }
}

/// `text` without its last `k` lines (`k` at most its line count).
fn before_lines(text: &str, k: usize) -> &str {
    let starts: Vec<usize> = std::iter::once(0)
        .chain(text.match_indices('\n').map(|(i, _)| i + 1))
        .filter(|&i| i < text.len())
        .collect();
    &text[..starts[starts.len().saturating_sub(k)]]
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
    run(&text, stages, &html::Rendered::default()).unwrap_or_else(|| Reply {
        text: finish_text(&text),
        ..Reply::default()
    })
}

fn run_html(html: &str, stages: Stages) -> Reply {
    let cuts = html::Cuts {
        quotes: stages.quotes,
        signatures: stages.signature,
    };
    let rendered = html::render(html, cuts);
    run(&rendered.text, stages, &rendered).unwrap_or_else(|| Reply {
        text: html_to_text(html),
        ..Reply::default()
    })
}

/// The stages on `text` (with placeholders for the HTML cuts of
/// `rendered`); `None` when nothing would be left: then nothing is cut.
fn run(text: &str, stages: Stages, rendered: &html::Rendered) -> Option<Reply> {
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
    let mut signed = None;
    if stages.quotes {
        kept = quote::strip(kept, &mut removed);
    }
    if stages.signature {
        let found = signature::strip(kept, &mut removed);
        kept = found.kept;
        if stages.quotes {
            kept = quote::strip(kept, &mut removed);
        }
        signed = Some((found.start, found.cut));
    }
    let mut out = String::new();
    for line in kept.iter().filter(|l| !patterns::is_placeholder(&l.text)) {
        out.push_str(&line.text);
        out.push('\n');
    }
    let reply = finish_text(&out);
    if reply.is_empty() {
        return None;
    }
    let signature = match signed {
        Some((start, cut)) => signature_of(start, &cut, &kept, &removed, rendered),
        None => String::new(),
    };
    Some(Reply {
        text: reply,
        signature,
        elided: elided(removed, &kept, &rendered.cuts),
    })
}

/// The signature: the kept lines from where it starts, the lines the
/// signature stage cut, and the HTML signature blocks cut (by either
/// stage: a block at the very end is also trailing history), in document
/// order.
fn signature_of(
    start: Option<usize>,
    cut: &[Line<'_>],
    kept: &[Line<'_>],
    removed: &[Line<'_>],
    rendered: &html::Rendered,
) -> String {
    let signature_block = |l: &Line<'_>| {
        patterns::placeholder_number(&l.text).is_some_and(|n| rendered.signatures.contains(&n))
    };
    let mut lines: Vec<&Line<'_>> = cut.iter().collect();
    lines.extend(
        removed
            .iter()
            .filter(|l| signature_block(l) && !cut.iter().any(|c| c.idx == l.idx)),
    );
    lines.extend(
        kept.iter()
            .filter(|l| match patterns::is_placeholder(&l.text) {
                true => signature_block(l),
                false => start.is_some_and(|s| l.idx >= s),
            }),
    );
    lines.sort_by_key(|l| l.idx);
    let mut out = String::new();
    for line in lines {
        match patterns::placeholder_number(&line.text) {
            Some(n) => {
                if let Some(cut) = rendered.cuts.get(n) {
                    out.push_str(cut.trim());
                }
            }
            None => out.push_str(&line.text),
        }
        out.push('\n');
    }
    finish_text(&out)
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
