//! Matchers that recognise the phrases of [`super::phrases`] on one line (or
//! a few joined lines). Everything here is hand-written prefix/suffix/word
//! matching: each call is linear in the line it looks at, and lines longer
//! than [`MAX_HEADER`] are never headers, so they are rejected after one
//! length check.

use super::phrases::{
    DEVICES, FORWARDED, FORWARDED_INTRO, KEYS, Key, MOBILE, MOBILE_CJK, ON_WORDS, ORIGINAL_MESSAGE,
    SIGN_OFFS, VERBS_FINAL, VERBS_MEDIAL,
};

/// Longest line (or joined window of lines) that can be a quote header.
pub(super) const MAX_HEADER: usize = 400;

/// A line that stands for quoted history cut out of an HTML body.
pub(super) const PLACEHOLDER: char = '\u{E000}';

/// Lines made only of white space (including no-break and zero-width
/// spaces).
pub(super) fn is_blank(line: &str) -> bool {
    line.chars().all(|c| c.is_whitespace() || invisible(c))
}

/// A character that shows nothing: zero-width spaces and joiners,
/// direction marks and isolates, the byte-order mark, soft hyphens, and
/// Unicode tag characters (which some clients and trackers append to mail
/// as invisible markers).
pub(super) fn invisible(c: char) -> bool {
    matches!(c,
        '\u{00ad}' | '\u{034f}' | '\u{061c}' | '\u{180e}'
        | '\u{200b}'..='\u{200f}'
        | '\u{202a}'..='\u{202e}'
        | '\u{2060}'..='\u{2064}'
        | '\u{2066}'..='\u{2069}'
        | '\u{feff}'
        | '\u{e0000}'..='\u{e007f}')
}

pub(super) fn is_placeholder(line: &str) -> bool {
    line.trim().starts_with(PLACEHOLDER)
}

/// The number of the HTML cut a placeholder line stands for.
pub(super) fn placeholder_number(line: &str) -> Option<usize> {
    line.trim().strip_prefix(PLACEHOLDER)?.parse().ok()
}

/// A line quoted with ">" (or standing for cut HTML history).
pub(super) fn is_quoted(line: &str) -> bool {
    let t = line.trim_start();
    t.starts_with('>') || t.starts_with(PLACEHOLDER)
}

/// At most `max` bytes of `s`, cut at a character boundary.
pub(super) fn head(s: &str, max: usize) -> &str {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

fn lower(s: &str) -> String {
    s.to_lowercase()
}

/// The line opens like an attribution: an "On"-word or a date.
pub(super) fn strong_start(line: &str) -> bool {
    let t =
        line.trim_start_matches(|c: char| c.is_whitespace() || c == '-' || c == '*' || c == '_');
    let digits = t.bytes().take_while(u8::is_ascii_digit).count();
    (1..=4).contains(&digits) && t[digits..].starts_with(['/', '.', '-', ' ', ',', '年'])
        || ON_WORDS.iter().any(|w| t.starts_with(w))
}

/// Where an English attribution starts inside a line that has the author's
/// own text before it ("reply On Wed, … wrote:"), as a byte offset.
pub(super) fn midline_start(line: &str) -> Option<usize> {
    let bytes = line.as_bytes();
    line.match_indices("On ")
        .map(|(at, _)| at)
        .find(|&at| at > 0 && matches!(bytes[at - 1], b' ' | b'-' | b'\t'))
}

/// Digits that read as a time ("10:55", "21.21", "10h30") anywhere.
fn has_time(s: &str) -> bool {
    let b = s.as_bytes();
    (1..b.len().saturating_sub(2)).any(|i| {
        b[i - 1].is_ascii_digit()
            && matches!(b[i], b':' | b'.' | b'h')
            && b[i + 1].is_ascii_digit()
            && b[i + 2].is_ascii_digit()
    })
}

/// A four-digit year 19xx/20xx standing alone.
fn has_year(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i].is_ascii_digit() {
            let start = i;
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
            if i - start == 4 && (b[start..].starts_with(b"19") || b[start..].starts_with(b"20")) {
                return true;
            }
        } else {
            i += 1;
        }
    }
    false
}

/// What every attribution has somewhere: an address, a time or a year, or
/// dashes around it ("---- Name wrote ----").
pub(super) fn plausible(s: &str) -> bool {
    let t = s.trim();
    s.contains('@') || has_time(s) || has_year(s) || t.starts_with("--") || t.ends_with("--")
}

/// A numeric date at the start ("2011/4/7", "02.04.2012", "2014-03-20").
fn starts_with_date(s: &str) -> bool {
    let b = s.as_bytes();
    let digits = b.iter().take_while(|c| c.is_ascii_digit()).count();
    digits > 0
        && (matches!(b.get(digits), Some(b'/' | b'.' | b'-'))
            && b.get(digits + 1).is_some_and(u8::is_ascii_digit)
            || s[digits..].starts_with('年'))
}

fn ends_with_verb(body: &str) -> Option<bool> {
    for &(verb, weak) in VERBS_FINAL {
        if let Some(before) = body.strip_suffix(verb) {
            // Words of scripts without spaces (CJK, Hangul) need no boundary.
            let spaced = verb.chars().next().is_some_and(|c| (c as u32) < 0x2E80);
            let boundary = before.is_empty()
                || !spaced
                || before.ends_with(|c: char| {
                    c.is_whitespace() || c == '>' || c == ')' || c == ',' || c == '"'
                });
            if boundary {
                return Some(weak);
            }
        }
    }
    None
}

/// Whether `window` (one line, or up to five joined with spaces) is an
/// attribution line introducing quoted history.
///
/// `strong`: the window opens with an "On"-word or a date; `next_quoted`:
/// the next non-empty line after the window is quoted; `single`: the window
/// is one line.
pub(super) fn attribution(window: &str, strong: bool, next_quoted: bool, single: bool) -> bool {
    let t = window.trim();
    if t.is_empty() || t.len() > MAX_HEADER {
        return false;
    }
    let core = t.trim_matches(|c: char| c == '-' || c == '*' || c.is_whitespace());
    let decorated = t.starts_with("--") || t.ends_with("--");
    let body = core.trim_end_matches(|c: char| c.is_whitespace() || c == ':' || c == '：');
    let colon = body.len() < core.len();
    let l = lower(body);
    let has_at = l.contains('@');
    if !(decorated || plausible(&l)) {
        return false;
    }
    if let Some(weak) = ends_with_verb(&l)
        && (!weak || strong)
        && (colon || decorated || next_quoted)
    {
        return true;
    }
    if colon && (strong || has_at || next_quoted) && VERBS_MEDIAL.iter().any(|v| l.contains(v)) {
        return true;
    }
    if colon && has_at && (starts_with_date(core) || next_quoted || has_time(&l) && has_year(&l)) {
        return true;
    }
    // "2011/4/7 Name <address>" right above the quote, no colon.
    single && !colon && has_at && next_quoted && starts_with_date(core)
}

/// The words between the decorations of a line like "-----Original
/// Message-----": at least two decoration characters first (dashes of any
/// width, `=`, `_`, `~`, `*`, `#`, `<`, `>`, `•`), the same kind trimmed
/// from both ends, spaces inside the words made single.
fn dashed_inner(line: &str) -> Option<String> {
    let t = line.trim();
    let decoration = |c: char| {
        matches!(
            c,
            '-' | '=' | '_' | '~' | '*' | '#' | '<' | '>' | '•' | '—' | '–' | '─' | '－'
        )
    };
    let mut lead = t.chars();
    if t.len() > 120
        || !(lead.next().is_some_and(decoration) && lead.next().is_some_and(decoration))
    {
        return None;
    }
    let inner = t.trim_matches(|c: char| decoration(c) || c.is_whitespace());
    (!inner.is_empty()).then(|| lower(&inner.split_whitespace().collect::<Vec<_>>().join(" ")))
}

/// "-----Original Message-----" and its translations.
pub(super) fn original_message(line: &str) -> bool {
    dashed_inner(line).is_some_and(|inner| ORIGINAL_MESSAGE.iter().any(|p| inner == *p))
}

/// "---------- Forwarded message ---------", "Begin forwarded message:".
pub(super) fn forward_marker(line: &str) -> bool {
    if let Some(inner) = dashed_inner(line) {
        return FORWARDED.iter().any(|p| inner.contains(p));
    }
    let t = line.trim();
    t.len() < 80 && {
        let l = lower(t);
        FORWARDED_INTRO.iter().any(|p| l.starts_with(p))
    }
}

/// A line of only "-", "_", "=", "*" or "~" (at least three).
pub(super) fn separator(line: &str) -> bool {
    let t = line.trim();
    t.len() >= 3
        && t.chars()
            .all(|c| matches!(c, '-' | '_' | '=' | '*' | '~' | '—' | '–'))
}

fn key_of(word: &str) -> Option<Key> {
    let w = word
        .trim_matches(|c: char| c == '*' || c == '_' || c.is_whitespace())
        .trim_start_matches('>');
    if w.is_empty() || w.len() > 24 {
        return None;
    }
    let l = lower(w.trim());
    KEYS.iter().find(|(k, _)| *k == l).map(|&(_, key)| key)
}

/// The header key a "Key: value" line starts with ("From:", "*Von:*",
/// "De :", "发件人：").
pub(super) fn header_key(line: &str) -> Option<Key> {
    let t = line.trim_start();
    let head = head(t, 40);
    let colon = head.find([':', '：'])?;
    key_of(&t[..colon])
}

/// Distinct header keys on one line: the first at its start, the others
/// after a space ("From: bob@example.com Date: Thu, 24 Mar 2016 …"), as a
/// bit set; 0 when the line does not start with a key.
pub(super) fn header_keys_in_line(line: &str) -> u8 {
    let Some(first) = header_key(line) else {
        return 0;
    };
    let mut set = bit(first);
    if line.len() > MAX_HEADER {
        return set;
    }
    for (i, _) in line.match_indices([':', '：']).skip(1) {
        let mut words = line[..i].split_whitespace().rev();
        let Some(last) = words.next() else { continue };
        let second = words.next();
        if let Some(key) = key_of(last).filter(|_| second.is_some()) {
            set |= bit(key);
        } else if let (Some(second), Some(_)) = (second, words.next())
            && let Some(key) = key_of(&format!("{second} {last}"))
        {
            set |= bit(key);
        }
    }
    set
}

pub(super) fn bit(key: Key) -> u8 {
    1 << key as u8
}

/// "iphone", "iphone'a", "android-telefon": a device word, not "pixels".
fn names_device(word: &str) -> bool {
    DEVICES.iter().any(|d| {
        word.strip_prefix(d)
            .is_some_and(|rest| !rest.starts_with(char::is_alphabetic))
    })
}

/// "Sent from my iPhone", "Von meinem iPhone gesendet", "Get Outlook for
/// iOS" and the like: a whole short line.
pub(super) fn mobile_signoff(line: &str) -> bool {
    let t = line.trim();
    if t.is_empty() || t.len() > 90 {
        return false;
    }
    // Drop a link the client appends ("Get Outlook for iOS<https://…>").
    let t = match t.find('<') {
        Some(i) if i > 0 && t.ends_with('>') => t[..i].trim_end(),
        _ => t,
    };
    let l = lower(t);
    if l.chars().count() < 30
        && MOBILE_CJK
            .iter()
            .any(|m| l.starts_with(m) || l.ends_with(m))
    {
        return true;
    }
    let l = l.trim_end_matches(['!', '.', ' ']);
    MOBILE.iter().any(|&(prefix, max_words, device, suffix)| {
        let Some(rest) = l.strip_prefix(prefix) else {
            return false;
        };
        let words = rest.split_whitespace().count();
        words >= 1
            && words <= max_words
            && !rest.contains(['?', ',', ':', '"', '!', '.', ';'])
            && rest.ends_with(suffix)
            && (!device || rest.split_whitespace().any(names_device))
    })
}

/// "Thanks,", "Best regards", "Mit freundlichen Grüßen" alone on a line.
pub(super) fn sign_off(line: &str) -> bool {
    let t = line.trim().trim_end_matches(|c: char| {
        matches!(c, ',' | '!' | '.' | '，' | '。' | '、') || c.is_whitespace()
    });
    if t.is_empty() || t.len() > 40 {
        return false;
    }
    let l = lower(t);
    SIGN_OFFS.iter().any(|s| *s == l)
}

/// "-roman", "- Roman", "-Lev.": a dash and a short name.
pub(super) fn dash_name(line: &str) -> bool {
    let t = line.trim();
    let Some(rest) = t.strip_prefix('-') else {
        return false;
    };
    let rest = rest.trim_start_matches('-').trim();
    !rest.is_empty()
        && rest.len() <= 40
        && rest.split_whitespace().count() <= 3
        && rest.chars().next().is_some_and(char::is_alphabetic)
        && rest
            .chars()
            .all(|c| c.is_alphabetic() || c == ' ' || c == '.')
}

/// "--", "-- ", "---", "__": a signature delimiter line. `Some(true)` for
/// the standard "-- " (RFC 3676), `Some(false)` for the others.
pub(super) fn sig_delimiter(line: &str) -> Option<bool> {
    if line == "-- " || line == "-- \r" {
        return Some(true);
    }
    let t = line.trim();
    (t.len() >= 2
        && t.len() <= 80
        && (t.bytes().all(|c| c == b'-') || t.bytes().all(|c| c == b'_')))
    .then_some(false)
}

/// A line that can belong to a signature block: short, no question.
pub(super) fn signature_line(line: &str) -> bool {
    let t = line.trim();
    if t.chars().count() > 70 || t.ends_with('?') {
        return false;
    }
    let words = t.split_whitespace().count();
    let digits = t.bytes().filter(u8::is_ascii_digit).count();
    words <= 5
        || t.contains('@')
        || t.contains("http")
        || t.contains("www.")
        || digits >= 5
        || t.contains('|')
}
