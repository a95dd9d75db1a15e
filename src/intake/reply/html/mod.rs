//! HTML bodies: a small, linear tokenizer and tree builder, the quote
//! containers mail clients mark, and the conversion to text.
//!
//! Cuts come in two kinds. *To the end*: everything from the element on, in
//! document order, is history — our [`HTML_MARKER_ID`](super::HTML_MARKER_ID),
//! Outlook's `divRplyFwdMsg` / `appendonsend` / `OLK_SRC_BODY_SECTION`, the
//! Outlook desktop "From: … Sent: …" block (a `border-top` div), a rule
//! (`<hr>`) followed by a "From:"/"Date:" line, Hotmail's and Zimbra's
//! rules. *The element only*: Gmail's `gmail_quote` (unless it
//! holds a forward), Yahoo's `yahoo_quoted`, Proton's `protonmail_quote`,
//! Thunderbird's `moz-cite-prefix`, Zoho's `zmail_extra`, GMX's
//! `name="quote"`, and the last top-level `<blockquote>` (Apple Mail,
//! Thunderbird, any client) when nothing follows it, or when it is the only
//! one and no container above marked the history — other blockquotes
//! alternate with answers (or are the author's own) and stay, rendered with
//! "> ".
//!
//! A cut leaves a placeholder line in the text so the text stage knows
//! history was there (an "On … wrote:" right above it goes too), and its own
//! text is kept for [`Reply::elided`](super::Reply).

mod dom;
mod writer;

use dom::{Doc, Elem, Ev, parse};
use writer::Writer;

use super::patterns::{forward_marker, header_key};
use super::phrases::Key;

/// Ids whose element starts the quoted history (clients prefix ids of
/// quoted HTML, so a suffix match counts too).
const TO_END_IDS: &[&str] = &[
    super::HTML_MARKER_ID,
    "divRplyFwdMsg",
    "appendonsend",
    "OLK_SRC_BODY_SECTION",
    "mail-editor-reference-message-container",
    "zwchr",
    "stopSpelling",
];

const TO_END_CLASSES: &[&str] = &["OutlookMessageHeader"];

/// Classes whose element is quoted history.
const QUOTE_CLASSES: &[&str] = &[
    "gmail_quote",
    "gmail_quote_container",
    "yahoo_quoted",
    "protonmail_quote",
    "moz-cite-prefix",
    "zmail_extra",
];

/// Classes and ids of signature blocks (only cut by the full extraction).
const SIGNATURE_CLASSES: &[&str] = &["gmail_signature", "moz-signature"];
const SIGNATURE_IDS: &[&str] = &["Signature", "ms-outlook-mobile-signature"];

/// Text of an HTML body with history cut out.
#[derive(Default)]
pub(super) struct Rendered {
    /// The text, with a placeholder line (PLACEHOLDER + number) per cut.
    pub text: String,
    /// Each cut's own text, by number.
    pub cuts: Vec<String>,
    /// The numbers of the cuts that are signature blocks.
    pub signatures: Vec<usize>,
}

/// What to cut.
#[derive(Clone, Copy)]
pub(super) struct Cuts {
    pub quotes: bool,
    pub signatures: bool,
}

/// The whole body as text (blockquotes prefixed with "> ").
pub(super) fn to_text(html: &str) -> String {
    render(
        html,
        Cuts {
            quotes: false,
            signatures: false,
        },
    )
    .text
}

pub(super) fn render(html: &str, cuts: Cuts) -> Rendered {
    let doc = parse(html);
    let (to_end, regions) = if cuts.quotes || cuts.signatures {
        decide(&doc, cuts)
    } else {
        (None, Vec::new())
    };
    let mut main = Writer::default();
    let mut texts = Vec::new();
    let mut signatures = Vec::new();
    let mut region: Option<(Writer, usize)> = None;
    let mut next_region = regions.iter().peekable();
    let mut tail: Option<Writer> = None;
    for (k, ev) in doc.events.iter().enumerate() {
        if tail.is_none() && to_end == Some(k) {
            if let Some((w, _)) = region.take() {
                texts.push(w.out);
            }
            main.placeholder(texts.len());
            tail = Some(Writer::default());
        }
        if let Some(w) = tail.as_mut() {
            w.event(ev, &doc.elems);
            continue;
        }
        while next_region.peek().is_some_and(|r| r.0 < k) {
            next_region.next();
        }
        if region.is_none()
            && let Some(&&(open, close, signature)) = next_region.peek()
            && open == k
        {
            next_region.next();
            if signature {
                signatures.push(texts.len());
            }
            main.placeholder(texts.len());
            region = Some((Writer::default(), close));
        }
        match region.as_mut() {
            Some((w, close)) => {
                w.event(ev, &doc.elems);
                if k == *close
                    && let Some((w, _)) = region.take()
                {
                    texts.push(w.out);
                }
            }
            None => main.event(ev, &doc.elems),
        }
    }
    if let Some((w, _)) = region {
        texts.push(w.out);
    }
    if let Some(w) = tail {
        texts.push(w.out);
    }
    Rendered {
        text: main.out,
        cuts: texts,
        signatures,
    }
}

/// Whether a class list has one of `names`, also with the prefix clients
/// add to classes of quoted HTML ("x_gmail_quote", "ydp3f2a1yahoo_quoted").
pub(super) fn has_token(list: &str, names: &[&str]) -> bool {
    list.split_ascii_whitespace().any(|t| {
        names.iter().any(|n| {
            t.len() >= n.len()
                && t.is_char_boundary(t.len() - n.len())
                && t[t.len() - n.len()..].eq_ignore_ascii_case(n)
        })
    })
}

/// Whether an id is one of `names`, also with the prefix clients add to ids
/// of quoted HTML (Outlook's "x_", Yahoo's "yiv0123…").
fn id_is(id: &str, names: &[&str]) -> bool {
    !id.is_empty() && has_token(id, names)
}

/// Picks the cut to the end (an event index) and the element cuts (event
/// ranges in document order, and whether each is a signature block).
fn decide(doc: &Doc, cuts: Cuts) -> (Option<usize>, Vec<(usize, usize, bool)>) {
    let n = doc.elems.len();
    // Visible text events before each event index.
    let mut visible = Vec::with_capacity(doc.events.len() + 1);
    visible.push(0usize);
    for ev in &doc.events {
        let v = matches!(ev, Ev::Text(t) if !t.trim().is_empty());
        visible.push(visible.last().copied().unwrap_or(0) + usize::from(v));
    }
    let mut to_end: Option<usize> = None;
    let mut regions = Vec::new();
    // inside[e]: e is within an element already cut; in_quote[e]: within a
    // blockquote.
    let mut inside = vec![false; n];
    let mut in_quote = vec![false; n];
    let mut cut = vec![false; n];
    for (i, e) in doc.elems.iter().enumerate() {
        if let Some(p) = e.parent {
            inside[i] = inside[p] || cut[p];
            in_quote[i] = in_quote[p] || doc.elems[p].name == "blockquote";
        }
        if inside[i] || to_end.is_some_and(|t| e.open >= t) {
            continue;
        }
        if cuts.quotes
            && (id_is(&e.id, TO_END_IDS)
                || has_token(&e.class, TO_END_CLASSES)
                || (outlook_header(e)
                    && visible[e.open] > 0
                    && starts_with_key(first_text(doc, e)))
                || (e.name == "hr"
                    && visible[e.open] > 0
                    && matches!(
                        header_key(text_in(doc, e.close, doc.events.len())),
                        Some(Key::From | Key::Date)
                    )))
        {
            to_end = Some(e.open);
            continue;
        }
        let quote = cuts.quotes
            && ((has_token(&e.class, QUOTE_CLASSES)
                && !(e.name == "blockquote" && has_token(&e.class, &["gmail_quote"]))
                && !first_text(doc, e)
                    .lines()
                    .next()
                    .is_some_and(forward_marker))
                || e.name_attr.eq_ignore_ascii_case("quote")
                || e.id.contains("yahoo_quoted"));
        let signature = cuts.signatures
            && (has_token(&e.class, SIGNATURE_CLASSES) || id_is(&e.id, SIGNATURE_IDS));
        if quote || signature {
            cut[i] = true;
            regions.push((e.open, e.close, !quote));
        }
    }
    if cuts.quotes {
        let end = to_end.unwrap_or(doc.events.len());
        let top: Vec<&Elem> = doc
            .elems
            .iter()
            .enumerate()
            .filter(|&(i, e)| {
                e.name == "blockquote"
                    && !inside[i]
                    && !cut[i]
                    && !in_quote[i]
                    && e.open < end
                    && !has_token(&e.class, &["gmail_quote"])
            })
            .map(|(_, e)| e)
            .collect();
        // A lone blockquote is history unless a client's own container
        // already marked the history; then only a trailing one is.
        let marked = to_end.is_some() || !regions.is_empty();
        if let Some(last) = top.last()
            && ((top.len() == 1 && !marked) || visible[end] == visible[(last.close + 1).min(end)])
        {
            regions.push((last.open, last.close, false));
            regions.sort_unstable();
        }
    }
    (to_end, regions)
}

/// Outlook desktop's header block: a div with a solid top border.
fn outlook_header(e: &Elem) -> bool {
    if e.name != "div" || e.style.is_empty() {
        return false;
    }
    let style: String = e
        .style
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_ascii_lowercase();
    style.contains("border-top") && style.contains("solid") && style.contains("padding")
}

/// "From:", "Von:", "De :", "差出人:" at the start.
fn starts_with_key(text: &str) -> bool {
    let t = text.trim_start();
    let head: String = t.chars().take(25).collect();
    head.find([':', '：'])
        .is_some_and(|i| i > 0 && head[..i].split_whitespace().count() <= 2)
}

/// The first visible text inside `e` (up to a few events).
fn first_text<'d>(doc: &'d Doc, e: &Elem) -> &'d str {
    text_in(doc, e.open, e.close)
}

/// The first visible text in events `from..to` (up to a few events).
fn text_in(doc: &Doc, from: usize, to: usize) -> &str {
    doc.events[from.min(doc.events.len())..to.min(doc.events.len())]
        .iter()
        .take(64)
        .find_map(|ev| match ev {
            Ev::Text(t) if !t.trim().is_empty() => Some(t.trim_start()),
            _ => None,
        })
        .unwrap_or("")
}
