//! The signature stage: what the author's client or the author put under
//! the message.
//!
//! 1. A mobile or webmail sign-off ("Sent from my iPhone", "Get Outlook for
//!    iOS", "Von meinem iPhone gesendet", …) ends the message: it and
//!    everything under it go.
//! 2. Above that, the earliest of these starts the signature:
//!    - the standard delimiter "-- " anywhere below the first line;
//!    - within the last [`TAIL`] non-empty lines: a "--"/"---"/"____" line
//!      with at most ten short lines under it, a "-Name" line, or a closing
//!      ("Thanks,", "Best regards", "Mit freundlichen Grüßen") with at most
//!      four signature-like lines (a name, a title, a phone number) under it.
//!
//! A signature under a delimiter line goes with the client's sign-off; a
//! closing or a "-Name" line is something the author wrote, so it stays in
//! the text and is only marked as the start of the signature (which a
//! reader may fold away). A delimiter under a kept closing still cuts.
//!
//! The first non-empty line is never a signature (so "Thanks, will do!" on
//! its own stays), and a dash line between other dash lines is a list item.

use super::Line;
use super::patterns::{
    dash_name, is_blank, mobile_signoff, sig_delimiter, sign_off, signature_line,
};

/// How many non-empty lines at the bottom a signature may start in.
const TAIL: usize = 11;

/// What the stage found.
pub(super) struct Found<'a> {
    /// The lines left: the text with a kept closing at its end.
    pub kept: Vec<Line<'a>>,
    /// Where the signature starts ([`Line::idx`]), kept or cut.
    pub start: Option<usize>,
    /// The lines cut (a delimited signature, the client's sign-off and
    /// what is under it); also in the removed lines.
    pub cut: Vec<Line<'a>>,
}

pub(super) fn strip<'a>(mut lines: Vec<Line<'a>>, removed: &mut Vec<Line<'a>>) -> Found<'a> {
    let filled: Vec<usize> = (0..lines.len())
        .filter(|&i| !is_blank(&lines[i].text))
        .collect();
    let Some((&first, rest)) = filled.split_first() else {
        return Found {
            kept: lines,
            start: None,
            cut: Vec::new(),
        };
    };
    let text = |i: usize| -> &str { &lines[i].text };
    let mut end = lines.len();
    if let Some(&m) = rest.iter().find(|&&i| mobile_signoff(text(i))) {
        end = m;
    }
    let above: Vec<usize> = rest.iter().copied().filter(|&i| i < end).collect();
    let rfc = above
        .iter()
        .copied()
        .find(|&i| sig_delimiter(text(i)) == Some(true));
    let tail = &above[above.len().saturating_sub(TAIL)..];
    // The earliest start in the tail, and whether it is a closing the
    // author wrote (kept) rather than a delimiter (cut).
    let mut soft = None;
    let mut delimited = None;
    for (pos, &i) in tail.iter().enumerate() {
        let under = &tail[pos + 1..];
        let line = text(i);
        if sig_delimiter(line) == Some(false) {
            let short = under.len() <= 10
                && under.iter().all(|&k| {
                    let t = text(k).trim();
                    t.chars().count() <= 100 && !t.ends_with('?')
                });
            if short {
                delimited = Some(i);
                break;
            }
        } else if soft.is_none() {
            let closing = if dash_name(line) {
                let at = above.len() - tail.len() + pos;
                let prev = if at > 0 { above[at - 1] } else { first };
                let prev_text = text(prev).trim_end();
                let listed = prev_text.trim_start().starts_with('-')
                    || under
                        .first()
                        .is_some_and(|&k| text(k).trim_start().starts_with('-'));
                !listed
                    && !prev_text.ends_with(':')
                    && under.len() <= 4
                    && under.iter().all(|&k| signature_line(text(k)))
            } else {
                sign_off(line) && under.len() <= 4 && under.iter().all(|&k| signature_line(text(k)))
            };
            if closing {
                soft = Some(i);
            }
        }
    }
    let cut_at = [rfc, delimited, Some(end)].into_iter().flatten().min();
    let start = [rfc, delimited, soft, (end < lines.len()).then_some(end)]
        .into_iter()
        .flatten()
        .min();
    let start = start.map(|s| lines[s].idx);
    let mut cut = Vec::new();
    if let Some(c) = cut_at.filter(|&c| c < lines.len()) {
        cut = lines.drain(c..).collect();
        removed.extend(cut.iter().cloned());
    }
    Found {
        kept: lines,
        start,
        cut,
    }
}
