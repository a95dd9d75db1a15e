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
//! The first non-empty line is never a signature (so "Thanks, will do!" on
//! its own stays), and a dash line between other dash lines is a list item.

use super::Line;
use super::patterns::{
    dash_name, is_blank, mobile_signoff, sig_delimiter, sign_off, signature_line,
};

/// How many non-empty lines at the bottom a signature may start in.
const TAIL: usize = 11;

pub(super) fn strip<'a>(mut lines: Vec<Line<'a>>, removed: &mut Vec<Line<'a>>) -> Vec<Line<'a>> {
    let filled: Vec<usize> = (0..lines.len())
        .filter(|&i| !is_blank(&lines[i].text))
        .collect();
    let Some((&first, rest)) = filled.split_first() else {
        return lines;
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
    let mut start = None;
    for (pos, &i) in tail.iter().enumerate() {
        let under = &tail[pos + 1..];
        let line = text(i);
        let found = if sig_delimiter(line) == Some(false) {
            under.len() <= 10
                && under.iter().all(|&k| {
                    let t = text(k).trim();
                    t.chars().count() <= 100 && !t.ends_with('?')
                })
        } else if dash_name(line) {
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
        } else if sign_off(line) {
            under.len() <= 4 && under.iter().all(|&k| signature_line(text(k)))
        } else {
            false
        };
        if found {
            start = Some(i);
            break;
        }
    }
    let start = match (rfc, start) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    if let Some(s) = start {
        end = end.min(s);
    }
    if end < lines.len() {
        removed.extend(lines.drain(end..));
    }
    lines
}
