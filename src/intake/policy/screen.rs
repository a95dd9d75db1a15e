//! One pass over a text for the detectors that are regexes: [`payment`]'s
//! rules and the [`abuse`] phrases.
//!
//! Each is one alternation that reads every byte of the text (about 2 ns a
//! byte on the machines measured, bench/policy); most texts hold neither.
//! The screen joins both alternations into one automaton, so the text is
//! read once: where it matches, a window of [`payment`]'s margin on each
//! side, and both detectors search only those windows, with their own
//! regexes, exactly as they would the whole text. (A match of one may hide
//! an overlapping match of the other from the joined search; the window
//! around it holds both.)

use regex::{Regex, RegexBuilder};

use super::{Hit, abuse, payment};

/// The joined alternation of payment's rules and a phrase list.
#[derive(Debug)]
pub struct Screen {
    /// `None` when the two are too large together for the regex crate's
    /// size limit (a very long configured list): each then reads the text
    /// alone.
    any: Option<Regex>,
}

impl Screen {
    /// The screen for payment's rules and `phrases`.
    pub fn new(phrases: &abuse::Phrases) -> Screen {
        // Payment's rules are ASCII patterns; the phrases may need Unicode
        // mode, and the payment part keeps its own mode inside the join.
        let (pattern, unicode) = match phrases.pattern() {
            Some((abuse, unicode)) => (
                format!("(?-u:{})|(?i:{abuse})", payment::pattern()),
                unicode,
            ),
            None => (payment::pattern().to_string(), false),
        };
        let any = RegexBuilder::new(&pattern).unicode(unicode).build().ok();
        Screen { any }
    }

    /// Appends the payment hits and then the abuse hits of `phrases` in
    /// `text` to `hits`: the same as [`payment::detect`] and
    /// [`abuse::Phrases::detect`] one after the other.
    pub fn detect(&self, text: &str, phrases: &abuse::Phrases, hits: &mut Vec<Hit>) {
        let Some(any) = &self.any else {
            payment::detect(text, hits);
            phrases.detect(text, hits);
            return;
        };
        let spans = any.find_iter(text).map(|m| (m.start(), m.end()));
        let windows = payment::windows(text, spans);
        if windows.is_empty() {
            return;
        }
        payment::detect_in(text, &windows, hits);
        phrases.detect_in(text, &windows, hits);
    }
}

#[cfg(test)]
mod tests;
