//! Attribution lines ("On <date>, <name> wrote:") as the sender's client
//! wrapped them: a window of at most five lines ending at the current one,
//! preferring the nearest opening with an "On"-word or a date, else the
//! shortest window that reads as an attribution.

use super::{Kind, Splitter, View};
use crate::intake::reply::patterns::{MAX_HEADER, attribution, midline_start, strong_start};

impl View<'_, '_> {
    /// An attribution whose last line is `j`: "On <date>, <name> wrote:",
    /// possibly wrapped over up to five lines by the sender's client.
    pub(super) fn attribution_ending_at(&self, j: usize) -> Option<Splitter> {
        let last = self.text(j);
        if last.len() > MAX_HEADER || self.kinds[j] == Kind::Empty || !could_end_attribution(last) {
            return None;
        }
        let end_quoted = self.kinds[j] == Kind::Quote;
        if end_quoted && last.trim().chars().count() > 20 {
            return None;
        }
        let next_quoted = self.next_quoted(j);
        // Nearest opening with an "On"-word or a date, up to four lines up.
        let mut blanks = 0;
        for s in (j.saturating_sub(4)..=j).rev() {
            match self.kinds[s] {
                Kind::Empty => {
                    blanks += 1;
                    if blanks > 1 {
                        break;
                    }
                    continue;
                }
                Kind::Cut => break,
                Kind::Quote if s != j => {
                    if self.text(s).trim().chars().count() > 20 {
                        break;
                    }
                    continue;
                }
                _ => {}
            }
            let line = self.text(s);
            if s < j && (line.len() > 250 || line.trim_end().ends_with(['.', '!', '?'])) {
                break;
            }
            if self.kinds[s] == Kind::Text
                && strong_start(line)
                && let Some(window) = self.window(s, j)
                && attribution(&window, true, next_quoted, s == j)
            {
                return Some(Splitter {
                    start: s,
                    offset: 0,
                    end: j,
                });
            }
        }
        // Otherwise the shortest window (up to three lines) that reads as one.
        for s in (j.saturating_sub(2)..=j).rev() {
            if self.kinds[s] == Kind::Empty || self.kinds[s] == Kind::Cut {
                break;
            }
            if self.kinds[s] == Kind::Quote {
                if s == j {
                    continue;
                }
                break;
            }
            let Some(window) = self.window(s, j) else {
                continue;
            };
            if attribution(&window, false, next_quoted, s == j) {
                let line = self.text(s);
                let offset = midline_start(line)
                    .filter(|&p| attribution(&line[p..], true, next_quoted, true))
                    .unwrap_or(0);
                return Some(Splitter {
                    start: s,
                    offset,
                    end: j,
                });
            }
        }
        None
    }

    /// Lines `s..=j` joined with single spaces; `None` when too long or
    /// when no line has what an attribution needs.
    fn window(&self, s: usize, j: usize) -> Option<String> {
        if self.plausible_before[j + 1] == self.plausible_before[s] {
            return None;
        }
        let mut out = String::new();
        for k in s..=j {
            let t = self.text(k).trim();
            if t.is_empty() {
                continue;
            }
            if !out.is_empty() {
                out.push(' ');
            }
            out.push_str(t);
            if out.len() > MAX_HEADER {
                return None;
            }
        }
        Some(out)
    }
}

/// Cheap test on the last line of a possible attribution: it ends with a
/// colon, a word (the verb), a closing ")" / ">" or dashes.
fn could_end_attribution(line: &str) -> bool {
    let t = line.trim_end_matches(|c: char| c.is_whitespace() || c == '-');
    t.ends_with([':', '：', '>', ')']) || t.ends_with(char::is_alphabetic)
}
