//! The quoted-history stage on plain text lines.
//!
//! Every line gets a kind (empty, quoted with ">", a placeholder for HTML
//! history, text). The first *splitter* — an attribution ("On … wrote:"),
//! an "-----Original Message-----" line or a "From:/Sent:/To:" header block
//! — decides the cut:
//!
//! - followed by unquoted text (Outlook style) or nothing: everything from
//!   the splitter on is history;
//! - followed by a ">" block and then nothing: the same;
//! - followed by a ">" block and then the author's text: bottom-posting,
//!   the splitter and that block go, the text stays;
//! - followed by ">" blocks alternating with text: an inline reply, which is
//!   kept whole — only what trails the last answer goes.
//!
//! Without a splitter, a trailing ">" block of two or more lines goes, with
//! an attribution right above it. A forwarded message that only has the
//! author's text above it is kept whole.
//!
//! All passes are linear: a splitter is recognised from a window of at most
//! five lines ending at the current one, and "what comes next" is answered
//! from arrays filled in one backward pass.

mod attribution;

use super::Line;
use super::patterns::{
    MAX_HEADER, bit, forward_marker, header_key, header_keys_in_line, is_blank, is_placeholder,
    is_quoted, original_message, plausible, separator,
};
use super::phrases::Key;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Empty,
    /// Quoted with ">".
    Quote,
    /// A placeholder for history cut out of HTML.
    Cut,
    Text,
}

impl Kind {
    fn quoted(self) -> bool {
        matches!(self, Kind::Quote | Kind::Cut)
    }
}

fn kind(line: &str) -> Kind {
    if is_blank(line) {
        Kind::Empty
    } else if is_placeholder(line) {
        Kind::Cut
    } else if is_quoted(line) {
        Kind::Quote
    } else {
        Kind::Text
    }
}

/// Where quoted history starts: from line `start` (at byte `offset` in it)
/// through line `end`.
struct Splitter {
    start: usize,
    offset: usize,
    end: usize,
}

enum Found {
    Splitter(Splitter),
    /// A forwarded message under the author's text: keep everything.
    Forward,
}

struct View<'l, 'a> {
    lines: &'l [Line<'a>],
    kinds: Vec<Kind>,
    /// Index of the first non-empty line at or after i (len if none).
    next_filled: Vec<usize>,
    /// Whether any quoted line is at or after i.
    quote_after: Vec<bool>,
    /// How many lines before i could belong to an attribution (have an
    /// address, a time, a year or dashes): windows without one are skipped.
    plausible_before: Vec<u32>,
}

impl<'l, 'a> View<'l, 'a> {
    fn new(lines: &'l [Line<'a>]) -> Self {
        let kinds: Vec<Kind> = lines.iter().map(|l| kind(&l.text)).collect();
        let n = kinds.len();
        let mut next_filled = vec![n; n + 1];
        let mut quote_after = vec![false; n + 1];
        for i in (0..n).rev() {
            next_filled[i] = if kinds[i] == Kind::Empty {
                next_filled[i + 1]
            } else {
                i
            };
            quote_after[i] = quote_after[i + 1] || kinds[i].quoted();
        }
        let mut plausible_before = Vec::with_capacity(n + 1);
        plausible_before.push(0);
        for (i, line) in lines.iter().enumerate() {
            let p =
                line.text.len() <= MAX_HEADER && kinds[i] != Kind::Empty && plausible(&line.text);
            plausible_before.push(plausible_before[i] + u32::from(p));
        }
        View {
            lines,
            kinds,
            next_filled,
            quote_after,
            plausible_before,
        }
    }

    fn len(&self) -> usize {
        self.kinds.len()
    }

    fn text(&self, i: usize) -> &str {
        &self.lines[i].text
    }

    fn next_quoted(&self, after: usize) -> bool {
        let j = self.next_filled[(after + 1).min(self.len())];
        j < self.len() && self.kinds[j].quoted()
    }

    fn find(&self) -> Option<Found> {
        let mut quoted_above = false;
        for j in 0..self.len() {
            match self.kinds[j] {
                Kind::Empty | Kind::Cut => {
                    quoted_above |= self.kinds[j] == Kind::Cut;
                    continue;
                }
                Kind::Text => {
                    let line = self.text(j);
                    if forward_marker(line) {
                        if !quoted_above {
                            return Some(Found::Forward);
                        }
                    } else if original_message(line) {
                        return Some(self.splitter(j, j));
                    } else if let Some(end) = self.header_block(j) {
                        return Some(self.splitter(j, end));
                    }
                }
                Kind::Quote => quoted_above = true,
            }
            if let Some(s) = self.attribution_ending_at(j) {
                return Some(Found::Splitter(s));
            }
        }
        None
    }

    /// A splitter over lines `start..=end`, extended up over the separator
    /// lines ("________", "-----") and blank lines right above it.
    fn splitter(&self, mut start: usize, end: usize) -> Found {
        while start > 0 {
            let above = self.text(start - 1);
            if self.kinds[start - 1] == Kind::Empty || separator(above) || original_message(above) {
                start -= 1;
            } else {
                break;
            }
        }
        Found::Splitter(Splitter {
            start,
            offset: 0,
            end,
        })
    }

    /// "From: …" / "Sent: …" / "To: …" / "Subject: …" lines (any of the
    /// languages in the key table), starting with From or Date/Sent, two
    /// distinct keys at least; values may wrap onto up to two lines. It must
    /// read as a mail header — an address in it, or a subject and a date —
    /// so "From: Ghent / To: Lyon" in a reply is not history.
    fn header_block(&self, j: usize) -> Option<usize> {
        if !matches!(header_key(self.text(j)), Some(Key::From | Key::Date)) {
            return None;
        }
        let mut set = header_keys_in_line(self.text(j));
        let mut address = self.text(j).contains('@');
        let (mut end, mut gap) = (j, 0);
        for k in j + 1..self.len().min(j + 12) {
            if self.kinds[k] == Kind::Empty {
                break;
            }
            address |= self.text(k).contains('@');
            match header_key(self.text(k)) {
                Some(key) => {
                    set |= bit(key);
                    end = k;
                    gap = 0;
                }
                None => {
                    gap += 1;
                    if gap > 2 {
                        break;
                    }
                }
            }
        }
        let dated = set & bit(Key::Subject) != 0 && set & bit(Key::Date) != 0;
        (set.count_ones() >= 2 && (address || dated)).then_some(end)
    }

    /// A text line inside a ">" block that the sender's client failed to
    /// prefix: a wrapped continuation or a broken link, sandwiched between
    /// quoted lines.
    fn continuation(&self, k: usize) -> bool {
        let n = self.len();
        if k == 0 || self.kinds[k] != Kind::Text || self.kinds[k - 1] != Kind::Quote {
            return false;
        }
        let prev_long = self.text(k - 1).chars().count() >= 50;
        let looks = |i: usize| {
            let t = self.text(i).trim();
            prev_long
                || t.contains("http")
                || t.starts_with(|c: char| c.is_lowercase() || !c.is_alphanumeric())
        };
        if k + 1 < n && self.kinds[k + 1] == Kind::Quote {
            return looks(k);
        }
        k + 2 < n
            && self.kinds[k + 1] == Kind::Text
            && self.kinds[k + 2] == Kind::Quote
            && looks(k)
            && looks(k + 1)
    }

    /// One past the last line of the quoted block that starts at `j`.
    fn block_end(&self, j: usize) -> usize {
        let mut last = j;
        let mut k = j;
        while k < self.len() {
            match self.kinds[k] {
                Kind::Quote | Kind::Cut => last = k,
                Kind::Empty => {}
                Kind::Text if self.continuation(k) => last = k,
                Kind::Text => break,
            }
            k += 1;
        }
        last + 1
    }

    /// Start of a trailing quoted block worth cutting (with the attribution
    /// above it), if any.
    fn trailing_block(&self) -> Option<Splitter> {
        let n = self.len();
        let last = (0..n).rev().find(|&i| self.kinds[i] != Kind::Empty)?;
        if !self.kinds[last].quoted() {
            return None;
        }
        let mut i = last;
        let (mut quotes, mut cut) = (0, false);
        loop {
            match self.kinds[i] {
                Kind::Quote => quotes += 1,
                Kind::Cut => cut = true,
                _ => {}
            }
            if i == 0 {
                break;
            }
            let above = i - 1;
            let in_block = match self.kinds[above] {
                Kind::Quote | Kind::Cut | Kind::Empty => true,
                Kind::Text => self.continuation(above),
            };
            if !in_block {
                break;
            }
            i = above;
        }
        let start = self.next_filled[i];
        // The attribution right above the block.
        let above = (0..start).rev().find(|&k| self.kinds[k] != Kind::Empty);
        if let Some(a) = above
            && let Some(s) = self.attribution_ending_at(a)
        {
            return Some(Splitter {
                start: s.start,
                offset: s.offset,
                end: last,
            });
        }
        (quotes >= 2 || cut).then_some(Splitter {
            start,
            offset: 0,
            end: last,
        })
    }
}

/// Removes quoted history from `lines`, moving it to `removed`.
pub(super) fn strip<'a>(mut lines: Vec<Line<'a>>, removed: &mut Vec<Line<'a>>) -> Vec<Line<'a>> {
    // Our own marker makes the cut exact.
    if let Some(m) = lines.iter().position(|l| contains_marker(&l.text)) {
        removed.extend(lines.drain(m..));
    }
    let view = View::new(&lines);
    let n = view.len();
    // (start line, byte offset, end line exclusive) of the history to drop.
    let cut = match view.find() {
        Some(Found::Forward) => None,
        None => view.trailing_block().map(|s| (s.start, s.offset, n)),
        Some(Found::Splitter(s)) => {
            let after = view.next_filled[(s.end + 1).min(n)];
            if after >= n || !view.kinds[after].quoted() {
                Some((s.start, s.offset, n))
            } else {
                let end = view.block_end(after);
                let rest = view.next_filled[end.min(n)];
                if rest >= n {
                    Some((s.start, s.offset, n))
                } else if view.quote_after[rest] {
                    // Inline reply: keep it, drop only what trails it.
                    view.trailing_block().map(|s| (s.start, s.offset, n))
                } else {
                    // Bottom-posting: the answer is under the quote.
                    Some((s.start, s.offset, rest))
                }
            }
        }
    };
    let Some((start, offset, end)) = cut else {
        return lines;
    };
    let mut lines = apply(lines, removed, start, offset, end);
    // What is left may itself end in a quote.
    let again = View::new(&lines);
    if let Some(s) = again.trailing_block() {
        let n = lines.len();
        lines = apply(lines, removed, s.start, s.offset, n);
    }
    lines
}

/// Moves lines `start..end` (from byte `offset` of line `start`) to
/// `removed`.
fn apply<'a>(
    mut lines: Vec<Line<'a>>,
    removed: &mut Vec<Line<'a>>,
    start: usize,
    offset: usize,
    end: usize,
) -> Vec<Line<'a>> {
    let mut tail = lines.drain(start..).collect::<Vec<_>>().into_iter();
    let mut k = start;
    if offset > 0
        && let Some(line) = tail.next()
    {
        let (keep, cut) = split_line(line, offset);
        lines.push(keep);
        removed.push(cut);
        k += 1;
    }
    for line in tail {
        if k < end {
            removed.push(line);
        } else {
            lines.push(line);
        }
        k += 1;
    }
    lines
}

fn split_line<'a>(line: Line<'a>, offset: usize) -> (Line<'a>, Line<'a>) {
    let idx = line.idx;
    let text = line.text.into_owned();
    let keep = text[..offset]
        .trim_end_matches(|c: char| c == '-' || c.is_whitespace())
        .to_string();
    let cut = text[offset..].to_string();
    (
        Line {
            idx,
            text: keep.into(),
        },
        Line {
            idx,
            text: cut.into(),
        },
    )
}

fn contains_marker(line: &str) -> bool {
    line.len() >= super::REPLY_MARKER.len()
        && line.to_ascii_lowercase().contains(super::REPLY_MARKER)
}
