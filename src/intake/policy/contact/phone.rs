//! Phone numbers, in digits or spelled out.
//!
//! - `phone`: national and international formats: `+1 415 555 2671`,
//!   `(312) 555-0199`, `917.555.0143`, `020 7946 0958`, `07700 900123`,
//!   `+49 30 123456`, `+44 (20) 7123 4567`, `13812345678`, with an optional
//!   extension (`x12`, `ext. 12`). Value: the digits (without the
//!   extension).
//! - `phone_spelled`: digits written as words, mixed with digits, or
//!   letters standing in for digits: "five five five one two three four five
//!   six seven", "555 one two three 4567", "three one two - five five five",
//!   "oh" for zero, "4I5-555-26seven1", "5 5 5 1 2 3 4 5 6 7". Value: the
//!   digits.
//!
//! Marketplace messages are full of other numbers, so a candidate is
//! dropped when it is a price (`$1,250.00`, `1 200 EUR`), a dimension or a
//! quantity (followed by a unit), a date (`2026-11-21`, `21.11.2026`), a
//! decimal (`345.60`), an IP or version number, a run of years, or the
//! number of a lot, item, order, invoice, serial, model, tracking or the
//! like (named just before it, or after `#`). Fewer than 10 digits without
//! a `+`, a trunk `0` or an area code in brackets count only after a word
//! such as "call", "phone" or "number".

use std::sync::LazyLock;

use regex::Regex;

use super::{Words, char_before, hit};
use crate::intake::policy::Hit;

/// Runs of digits, digit words and look-alike letters.
static SPELLED: LazyLock<Regex> = LazyLock::new(|| {
    let tok = r"(?:[0-9]|(?i:zero|oh|one|two|three|four|five|six|seven|eight|nine)|[IlO])";
    Regex::new(&format!(
        r"(?-u:\b){tok}+(?:[ ,.\-/]{{1,3}}{tok}+)*(?-u:\b)"
    ))
    .expect("spelled phone regex")
});

static DIGIT_WORDS: &[(&str, u8)] = &[
    ("zero", b'0'),
    ("oh", b'0'),
    ("one", b'1'),
    ("two", b'2'),
    ("three", b'3'),
    ("four", b'4'),
    ("five", b'5'),
    ("six", b'6'),
    ("seven", b'7'),
    ("eight", b'8'),
    ("nine", b'9'),
];

/// Digit groups with single separators (` `, `.`, `-`), brackets and an
/// optional leading `+`, then an optional extension (`x12`, `ext. 12`):
/// `(start, end of the number, end with the extension)`, all ASCII so on
/// char boundaries. A hand-written scan: the same as a regex, but it skips
/// from digit to digit instead of running an automaton over every byte.
fn numeric_candidates(b: &[u8]) -> impl Iterator<Item = (usize, usize, usize)> + '_ {
    let at = move |i: usize| b.get(i).copied().unwrap_or(0);
    let digit = move |i: usize| at(i).is_ascii_digit();
    let sep = move |i: usize| matches!(at(i), b' ' | b'.' | b'-');
    let mut i = 0;
    std::iter::from_fn(move || {
        while let Some(off) = b[i..]
            .iter()
            .position(|&c| c.is_ascii_digit() || c == b'+' || c == b'(')
        {
            let start = i + off;
            let mut p = start;
            if at(p) == b'+' {
                p += 1;
                if at(p) == b' ' {
                    p += 1;
                }
            }
            if at(p) == b'(' {
                p += 1;
            }
            if !digit(p) {
                i = start + 1;
                continue;
            }
            p += 1;
            loop {
                p += if digit(p) {
                    1
                } else if sep(p) && digit(p + 1)
                    || at(p) == b')' && digit(p + 1)
                    || at(p) == b'(' && digit(p + 1)
                {
                    2
                } else if sep(p) && at(p + 1) == b'(' && digit(p + 2)
                    || at(p) == b')' && sep(p + 1) && digit(p + 2)
                {
                    3
                } else if at(p) == b' '
                    && matches!(at(p + 1), b'-' | b'.')
                    && at(p + 2) == b' '
                    && digit(p + 3)
                {
                    4
                } else {
                    break;
                };
            }
            let main_end = p;
            let end = extension(b, main_end).unwrap_or(main_end);
            i = end;
            return Some((start, main_end, end));
        }
        None
    })
}

/// The end of an extension (` x12`, ` ext. 12`, `extension 12`) at `p`.
fn extension(b: &[u8], mut p: usize) -> Option<usize> {
    if b.get(p) == Some(&b' ') {
        p += 1;
    }
    let rest = &b[p.min(b.len())..];
    let word = [&b"extension"[..], b"ext.", b"ext", b"x"]
        .into_iter()
        .find(|w| rest.len() >= w.len() && rest[..w.len()].eq_ignore_ascii_case(w))?;
    p += word.len();
    if b.get(p) == Some(&b' ') {
        p += 1;
    }
    let digits = b[p.min(b.len())..]
        .iter()
        .take_while(|c| c.is_ascii_digit())
        .count();
    let end = p + digits;
    let word_char = b
        .get(end)
        .is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'_');
    ((1..=5).contains(&digits) && !word_char).then_some(end)
}

/// Words naming a number that is not a phone number when just before it.
const NOT_PHONE_BEFORE: &[&str] = &[
    "lot",
    "lots",
    "item",
    "items",
    "order",
    "orders",
    "invoice",
    "inv",
    "serial",
    "sn",
    "s/n",
    "model",
    "tracking",
    "track",
    "ref",
    "reference",
    "sku",
    "part",
    "isbn",
    "upc",
    "ean",
    "receipt",
    "transaction",
    "txn",
    "case",
    "ticket",
    "id",
    "no",
    "nr",
    "po",
    "account",
    "acct",
    "iban",
    "zip",
    "postcode",
    "code",
    "vin",
    "listing",
    "auction",
    "bid",
    "claim",
    "parcel",
    "shipment",
    "confirmation",
    "booking",
    "reservation",
    "customer",
    "version",
    "v",
];

/// Units and currencies that make a number a quantity or a price.
const NOT_PHONE_AFTER: &[&str] = &[
    "cm", "mm", "m", "km", "kg", "g", "lb", "lbs", "oz", "inch", "inches", "ft", "feet", "eur",
    "euro", "euros", "usd", "dollars", "dollar", "gbp", "pounds", "chf", "sek", "nok", "dkk",
    "pln", "jpy", "yen", "won", "rub", "pcs", "units", "pieces", "items", "times", "miles", "mi",
    "x", "bids", "views", "ml", "l", "w", "kw", "mah", "gb", "tb", "mb", "rpm",
];

/// Words that announce a phone number.
const PHONE_CONTEXT: &[&str] = &[
    "call", "phone", "tel", "cell", "mobile", "text", "sms", "whatsapp", "number", "reach", "ring",
    "viber", "signal", "telegram", "contact", "fax", "wa",
];

pub(super) fn detect(text: &str, words: &Words, hits: &mut Vec<Hit>) {
    // Most candidates are short numbers (prices, sizes, lot numbers):
    // count their digits before looking closer.
    if text.bytes().filter(u8::is_ascii_digit).count() >= 7 {
        for (start, main_end, end) in numeric_candidates(text.as_bytes()) {
            let digits = text.as_bytes()[start..main_end]
                .iter()
                .filter(|b| b.is_ascii_digit())
                .count();
            if digits < 7 {
                continue;
            }
            if let Some(value) = numeric(text, start, main_end, end) {
                hits.push(hit("phone", start, end, value));
            }
        }
    }
    // A spelled number has two words or look-alikes close together, or
    // seven single digits in a row.
    let around = words.spelled.or(&words.single_digits);
    around.search(text, (160, 160), &SPELLED, |_, c| {
        let m = c.get(0).expect("group 0");
        if let Some(value) = spelled(m.as_str()) {
            hits.push(hit("phone_spelled", m.start(), m.end(), value));
        }
        m.end()
    });
}

/// The digits of a numeric candidate `text[start..main_end]` (extension up
/// to `end`), or `None` when it is some other number.
fn numeric(text: &str, start: usize, main_end: usize, end: usize) -> Option<String> {
    let main = &text[start..main_end];
    let plus = main.starts_with('+');
    let groups: Vec<&str> = main
        .split(|c: char| !c.is_ascii_digit())
        .filter(|g| !g.is_empty())
        .collect();
    let digits: String = groups.concat();
    let n = digits.len();
    if !(7..=15).contains(&n) || (plus && n < 8) {
        return None;
    }
    // Glued to a word, a price or a longer number.
    match char_before(text, start) {
        Some(c) if c.is_alphanumeric() || "_$€£¥#@".contains(c) => return None,
        Some(c @ ('.' | ',' | '/' | '-')) => {
            let before = char_before(text, start - c.len_utf8());
            if before.is_some_and(|b| b.is_alphanumeric()) || c == ',' || c == '.' {
                return None;
            }
        }
        _ => {}
    }
    let after = &text[end..];
    let mut next = after.chars();
    match next.next() {
        Some(c) if c.is_alphanumeric() || c == '%' || c == '_' => return None,
        Some('.' | ',' | '/' | ':') if next.next().is_some_and(|c| c.is_ascii_digit()) => {
            return None;
        }
        _ => {}
    }
    if named_before(text, start) || unit_after(after) {
        return None;
    }
    let seps: Vec<char> = main
        .trim_start_matches('+')
        .chars()
        .filter(|c| !c.is_ascii_digit())
        .collect();
    let lens: Vec<usize> = groups.iter().map(|g| g.len()).collect();
    let dotted = seps.contains(&'.');
    // Dates: 2026-11-21, 21.11.2026, 1.1.2026.
    let date = matches!(lens.as_slice(), [4, 2, 2] | [1 | 2, 1 | 2, 4]) && !plus;
    // Decimals, IPv4 and version numbers.
    let decimal = dotted && lens.len() == 2 && lens[1] <= 2;
    let ip_or_version =
        dotted && (lens.len() == 4 && lens.iter().all(|&l| l <= 3) || lens.contains(&1) && !plus);
    // 1985 1990 2001: years.
    let years = lens.len() >= 2
        && groups
            .iter()
            .all(|g| g.len() == 4 && (g.starts_with("19") || g.starts_with("20")));
    if date || decimal || ip_or_version || years {
        return None;
    }
    // Fewer than 10 digits, no country code, no trunk "0" or area code in
    // brackets ("100 200 300", "4521873"): only after "call", "phone", …
    let national = main.starts_with(['0', '(']);
    if !plus && n < 10 && !national && !context_before(text, start) {
        return None;
    }
    // "sizes 10 12 14 16": without a country code, one group of 3+ digits.
    if groups.len() > 1 && !plus && !lens.iter().any(|&l| l >= 3) {
        return None;
    }
    if groups.len() > 7 {
        return None;
    }
    Some(digits)
}

/// The last words before `start`, lowercased, nearest first.
fn words_before(text: &str, start: usize, bytes: usize) -> Vec<String> {
    let mut from = start.saturating_sub(bytes);
    while !text.is_char_boundary(from) {
        from += 1;
    }
    text[from..start]
        .rsplit(|c: char| !(c.is_alphanumeric() || c == '/'))
        .filter(|w| !w.is_empty())
        .take(3)
        .map(str::to_lowercase)
        .collect()
}

/// "lot 1234567", "order #123-4567890", "serial SN 8842-1177-33", "$ 1 200".
fn named_before(text: &str, start: usize) -> bool {
    let before = text[..start].trim_end_matches([' ', '\t', ':']);
    let no =
        before.len() >= 3 && before.as_bytes()[before.len() - 3..].eq_ignore_ascii_case(b"no.");
    if before.ends_with(['#', '$', '€', '£', '¥']) || no {
        return true;
    }
    words_before(text, start, 32)
        .iter()
        .take(2)
        .any(|w| NOT_PHONE_BEFORE.contains(&w.as_str()))
}

/// "… 1 200 000 EUR", "… 1200 x 800 mm".
fn unit_after(after: &str) -> bool {
    let word: String = after
        .trim_start_matches([' ', '\t'])
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '%')
        .take(12)
        .collect::<String>()
        .to_lowercase();
    NOT_PHONE_AFTER.contains(&word.as_str()) || after.trim_start().starts_with(['€', '$', '£', '%'])
}

/// A word announcing a phone number within the three words before.
fn context_before(text: &str, start: usize) -> bool {
    words_before(text, start, 40)
        .iter()
        .any(|w| PHONE_CONTEXT.contains(&w.as_str()))
}

/// The digits of a spelled-out run, when it is long enough and really
/// spelled (at least one word or look-alike letter, or single digits
/// spaced out one by one).
fn spelled(run: &str) -> Option<String> {
    let mut digits = String::new();
    let mut words = 0;
    let mut groups = 0;
    let mut long_groups = 0;
    for token in run
        .split([' ', ',', '.', '-', '/'])
        .filter(|t| !t.is_empty())
    {
        groups += 1;
        let mut rest = token;
        let mut group_digits = 0;
        while let Some(c) = rest.chars().next() {
            if c.is_ascii_digit() {
                digits.push(c);
                rest = &rest[1..];
            } else if let Some(&(w, d)) = DIGIT_WORDS.iter().find(|(w, _)| {
                rest.len() >= w.len()
                    && rest.as_bytes()[..w.len()].eq_ignore_ascii_case(w.as_bytes())
            }) {
                digits.push(d as char);
                rest = &rest[w.len()..];
                words += 1;
            } else if let Some(d) = match c {
                'I' | 'l' => Some('1'),
                'O' => Some('0'),
                _ => None,
            } {
                digits.push(d);
                rest = &rest[1..];
                words += 1;
            } else {
                return None;
            }
            group_digits += 1;
        }
        if group_digits > 1 {
            long_groups += 1;
        }
    }
    let spaced_singles = long_groups == 0 && groups >= 7;
    let n = digits.len();
    ((7..=15).contains(&n) && (words >= 2 || spaced_singles)).then_some(digits)
}
