//! Phone numbers, in digits or spelled out.
//!
//! - `phone`: national and international formats: `+1 415 555 2671`,
//!   `(312) 555-0199`, `917.555.0143`, `020 7946 0958`, `07700 900123`,
//!   `+49 30 123456`, `+44 (20) 7123 4567`, `13812345678`, `06 12 34 56
//!   78`, `(+49)(0)(171)(234)(56)(78)`, `(0)7.70.09.00.46.2`, with an
//!   optional extension (`x12`, `ext. 12`). Value: the digits (without the
//!   extension).
//! - `phone_spelled`: digits written as words, mixed with digits, or
//!   letters standing in for digits: "five five five one two three four five
//!   six seven", "555 one two three 4567", "three one two - five five five",
//!   "oh" for zero, "nine double oh", "4I5-555-26seven1", "o7g11 l23 4S6",
//!   "5 5 5 1 2 3 4 5 6 7", and the number words of French, German,
//!   Spanish, Italian, Dutch, Polish and Portuguese, composed ("trente-
//!   quatre" 34, "soixante-dix-huit" 78, "sześćset jeden" 601). Value: the
//!   digits.
//!
//! Marketplace messages are full of other numbers, so a candidate is
//! dropped when it is a price (`$1,250.00`, `1 200 EUR`), a dimension or a
//! quantity (followed by a unit), a date (`2026-11-21`, `21.11.2026`), a
//! decimal (`345.60`), an IP or version number, a run of years, an ISBN-13,
//! a serial of 14 or 15 digits without a country code (an IMEI, a parcel),
//! or the number of a lot, item, order, invoice, serial, model, tracking or
//! the like (named just before it, or after `#`). Fewer than 10 digits
//! without a `+`, a trunk `0` or an area code in brackets count only after
//! a word such as "call", "phone" or "number" (or "appelle", "llámame",
//! "zadzwoń", "ruf", "chiamami", "bel", … of other languages).

use std::sync::LazyLock;

use super::{WordList, Words, char_before, hit};
use crate::intake::policy::Hit;

/// What a number word stands for.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Number {
    /// 0 to 9: one digit.
    Digit(u8),
    /// 10 to 99 ("douze", "trente", "sześćdziesiąt"): two digits, or
    /// the tens waiting for a digit ("trente-quatre").
    Tens(u16),
    /// 100 to 900 ("sześćset", "doscientos"): three digits, the tens and
    /// units may follow.
    Hundreds(u16),
    /// "double", "triple": the next digit two or three times.
    Times(u8),
}

/// Number words of English, French, German, Spanish, Italian, Dutch,
/// Polish and Portuguese, lowercase, sorted for a binary search.
static NUMBER_WORDS: LazyLock<Vec<(&'static str, Number)>> = LazyLock::new(|| {
    use Number::{Digit, Hundreds, Tens, Times};
    // Each line a number's words, separated by blanks.
    let digits = [
        "zero oh zéro null nul cero",
        "one un une eins uno una een jeden jedna um uma",
        "two deux zwei zwo dos due twee dwa dwie dois duas",
        "three trois drei tres tre drie trzy três",
        "four quatre vier cuatro quattro cztery quatro",
        "five cinq fünf fuenf cinco cinque vijf pięć piec",
        "six sechs seis sei zes sześć szesc",
        "seven sept sieben siete sette zeven siedem sete",
        "eight huit acht ocho otto osiem oito",
        "nine neuf neun nueve nove negen dziewięć dziewiec",
    ];
    let tens = [
        (10, "ten dix zehn diez dieci tien dziesięć dez"),
        (11, "eleven onze elf once undici jedenaście"),
        (12, "twelve douze zwölf zwoelf doce dodici twaalf dwanaście"),
        (
            13,
            "thirteen treize dreizehn trece tredici dertien trzynaście",
        ),
        (
            14,
            "fourteen quatorze vierzehn catorce quattordici veertien czternaście",
        ),
        (
            15,
            "fifteen quinze fünfzehn quince quindici vijftien piętnaście",
        ),
        (
            16,
            "sixteen seize sechzehn dieciséis sedici zestien szesnaście",
        ),
        (
            17,
            "seventeen siebzehn diecisiete diciassette zeventien siedemnaście",
        ),
        (
            18,
            "eighteen achtzehn dieciocho diciotto achttien osiemnaście",
        ),
        (
            19,
            "nineteen neunzehn diecinueve diciannove negentien dziewiętnaście",
        ),
        (
            20,
            "twenty vingt vingts zwanzig veinte venti twintig dwadzieścia vinte",
        ),
        (
            30,
            "thirty trente dreißig dreissig treinta trenta dertig trzydzieści trinta",
        ),
        (
            40,
            "forty quarante vierzig cuarenta quaranta veertig czterdzieści quarenta",
        ),
        (
            50,
            "fifty cinquante fünfzig cincuenta cinquanta vijftig pięćdziesiąt cinquenta",
        ),
        (
            60,
            "sixty soixante sechzig sesenta sessanta zestig sześćdziesiąt sessenta",
        ),
        (
            70,
            "seventy siebzig setenta settanta zeventig siedemdziesiąt",
        ),
        (
            80,
            "eighty achtzig ochenta ottanta tachtig osiemdziesiąt oitenta",
        ),
        (
            90,
            "ninety neunzig noventa novanta negentig dziewięćdziesiąt",
        ),
    ];
    let hundreds = [
        (100, "sto cien ciento cento honderd hundert cent"),
        (200, "dwieście doscientos duecento duzentos"),
        (300, "trzysta trescientos trecento trezentos"),
        (400, "czterysta cuatrocientos quattrocento quatrocentos"),
        (500, "pięćset quinientos cinquecento quinhentos"),
        (600, "sześćset seiscientos seicento seiscentos"),
        (700, "siedemset setecientos settecento setecentos"),
        (800, "osiemset ochocientos ottocento oitocentos"),
        (900, "dziewięćset novecientos novecento novecentos"),
    ];
    let mut all: Vec<(&'static str, Number)> = Vec::new();
    for (d, words) in (0u8..).zip(digits) {
        all.extend(words.split(' ').map(|w| (w, Digit(d))));
    }
    for (v, words) in tens {
        all.extend(words.split(' ').map(|w| (w, Tens(v))));
    }
    for (v, words) in hundreds {
        all.extend(words.split(' ').map(|w| (w, Hundreds(v))));
    }
    all.extend([("double", Times(2)), ("triple", Times(3))]);
    all.sort_unstable_by_key(|(w, _)| *w);
    all.dedup_by_key(|(w, _)| *w);
    all
});

/// All number words, lowercase.
pub(super) fn number_words() -> impl Iterator<Item = &'static str> {
    NUMBER_WORDS.iter().map(|(w, _)| *w)
}

/// The number a lowercase word stands for.
pub(super) fn number_word(lower: &str) -> Option<Number> {
    NUMBER_WORDS
        .binary_search_by_key(&lower, |(w, _)| w)
        .ok()
        .map(|i| NUMBER_WORDS[i].1)
}

/// Whether a lowercase word mixing digits and letters holds a number word
/// ("26seven1").
pub(super) fn has_number_word(lower: &str) -> bool {
    lower
        .split(|c: char| c.is_ascii_digit())
        .any(|run| run.len() >= 2 && number_word(run).is_some())
}

/// Whether a word with digits has letters standing in for digits
/// ("4I5", "o7g11", "4S6").
pub(super) fn lookalikes(word: &str) -> bool {
    word.chars().any(|c| lookalike(c).is_some())
        && word
            .chars()
            .all(|c| c.is_ascii_digit() || lookalike(c).is_some())
}

/// The digit a letter can stand for in a word with digits.
fn lookalike(c: char) -> Option<Number> {
    let d = match c {
        'o' | 'O' => 0,
        'i' | 'I' | 'l' => 1,
        'z' | 'Z' => 2,
        's' | 'S' => 5,
        'B' => 8,
        'g' => 9,
        _ => return None,
    };
    Some(Number::Digit(d))
}

/// A word cut into digits and number words, lowercase: each piece and
/// whether it was a word (or a look-alike letter, with `lookalike`).
/// `None` when something else is left.
fn pieces(word: &str, lookalike_ok: bool) -> Option<Vec<(Number, bool)>> {
    let lower = word.to_lowercase();
    if let Some(n) = number_word(&lower) {
        return Some(vec![(n, true)]);
    }
    let has_digit = word.bytes().any(|b| b.is_ascii_digit());
    let mut out = Vec::new();
    let (mut rest, mut orig) = (lower.as_str(), word);
    'next: while let Some(c) = rest.chars().next() {
        if let Some(d) = c.to_digit(10) {
            out.push((Number::Digit(d as u8), false));
            rest = &rest[1..];
            orig = &orig[1..];
            continue;
        }
        // The longest number word starting here.
        for len in (2..=rest.len().min(16)).rev() {
            if rest.is_char_boundary(len)
                && let Some(n) = number_word(&rest[..len])
                && has_digit
            {
                out.push((n, true));
                rest = &rest[len..];
                orig = orig.get(len..).unwrap_or("");
                continue 'next;
            }
        }
        let o = orig.chars().next()?;
        // Letters for digits: in a word with digits, or one capital alone.
        let alone = word.chars().count() == 1 && matches!(o, 'I' | 'l' | 'O');
        match lookalike(o).filter(|_| lookalike_ok && (has_digit || alone)) {
            Some(n) => out.push((n, true)),
            None => return None,
        }
        rest = &rest[c.len_utf8()..];
        orig = &orig[o.len_utf8()..];
    }
    Some(out)
}

/// Words that join tens and units ("treinta y cuatro", "vingt et un").
const JOINERS: WordList = WordList::new(&["y", "e", "et", "und", "i", "en"]);

/// Runs of number tokens in `text[start..end]`, as `(start, end)`:
/// tokens separated by at most four of ` ,.-/…`, or by a joiner word
/// between two of them.
fn runs(text: &str, start: usize, end: usize) -> Vec<(usize, usize)> {
    let window = &text[start..end];
    let mut out = Vec::new();
    // The run so far (to its last number) and the end of its last token.
    let mut run: Option<(usize, usize)> = None;
    let mut last = 0;
    let mut pos = 0;
    for word in window.split(|c: char| !c.is_alphanumeric()) {
        let at = pos;
        pos += word.len()
            + window[pos + word.len()..]
                .chars()
                .next()
                .map_or(0, char::len_utf8);
        if word.is_empty() {
            continue;
        }
        let numeric = pieces(word, true).is_some();
        let gap = &window[last..at];
        let close = gap.chars().count() <= 4 && gap.chars().all(|c| " ,.-/…".contains(c));
        match run {
            Some((s, _)) if numeric && close => run = Some((s, at + word.len())),
            Some(_) if close && JOINERS.holds(word) => {}
            _ => {
                out.extend(run.take());
                if numeric {
                    run = Some((at, at + word.len()));
                }
            }
        }
        last = at + word.len();
    }
    out.extend(run);
    out.into_iter()
        .map(|(s, e)| (start + s, start + e))
        .collect()
}

/// The digits a run of number tokens spells, composing number words
/// ("trente-quatre" 34, "soixante-dix-huit" 78, "sześćset jeden" 601,
/// "nine double oh" 900), when it is long enough and really spelled (two
/// words or look-alike letters, or single digits spaced out one by one).
fn spelled(run: &str) -> Option<String> {
    let mut digits = String::new();
    let (mut words, mut groups, mut long_groups) = (0, 0, 0);
    // A number being composed, and a "double" waiting for its digit.
    let mut open: Option<u16> = None;
    let mut times = 1;
    let flush = |open: &mut Option<u16>, digits: &mut String| {
        if let Some(v) = open.take() {
            digits.push_str(&v.to_string());
        }
    };
    for token in run
        .split(|c: char| !c.is_alphanumeric())
        .filter(|t| !t.is_empty())
    {
        if JOINERS.holds(token) {
            continue;
        }
        let pieces = pieces(token, true)?;
        groups += 1;
        if pieces.len() > 1 {
            long_groups += 1;
        }
        for (n, word) in pieces {
            words += usize::from(word);
            match n {
                Number::Digit(d) => match open {
                    // "trente-quatre", "sześćset jeden", "dix-sept".
                    Some(v) if word && v % 10 == 0 => {
                        open = Some(v + u16::from(d));
                        flush(&mut open, &mut digits);
                    }
                    _ => {
                        flush(&mut open, &mut digits);
                        for _ in 0..times {
                            digits.push(char::from(b'0' + d));
                        }
                        times = 1;
                    }
                },
                Number::Tens(t) => match open {
                    // "dwieście trzydzieści", "soixante-dix".
                    Some(v) if v % 100 == 0 || (v == 60 || v == 80) && t < 20 => {
                        open = Some(v + t);
                    }
                    _ => {
                        flush(&mut open, &mut digits);
                        open = Some(t);
                    }
                },
                Number::Hundreds(h) => {
                    flush(&mut open, &mut digits);
                    open = Some(h);
                }
                Number::Times(k) => {
                    flush(&mut open, &mut digits);
                    times = k;
                }
            }
        }
    }
    flush(&mut open, &mut digits);
    let spaced_singles = long_groups == 0 && groups >= 7;
    let n = digits.len();
    ((7..=15).contains(&n) && (words >= 2 || spaced_singles)).then_some(digits)
}

/// Digit groups with single separators (` `, `.`, `-`), brackets and an
/// optional leading `+`: `(start, end)`, all ASCII so on char boundaries
/// (the caller looks for an extension after the few long enough). A
/// hand-written scan: the same as a regex, but it skips from digit to
/// digit instead of running an automaton over every byte.
fn numeric_candidates(b: &[u8]) -> impl Iterator<Item = (usize, usize)> + '_ {
    let at = move |i: usize| b.get(i).copied().unwrap_or(0);
    let digit = move |i: usize| at(i).is_ascii_digit();
    let sep = move |i: usize| matches!(at(i), b' ' | b'.' | b'-');
    let mut i = 0;
    std::iter::from_fn(move || {
        while let Some(start) = next_start(b, i) {
            let mut p = start;
            if at(p) == b'+' {
                p += 1;
                if at(p) == b' ' {
                    p += 1;
                }
            }
            if at(p) == b'(' {
                p += 1;
                // "(+49)(0)(171)…": the country code in brackets.
                if at(p) == b'+' && digit(p + 1) && start == p - 1 {
                    p += 1;
                }
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
                    || at(p) == b')' && at(p + 1) == b'(' && digit(p + 2)
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
            i = p;
            return Some((start, p));
        }
        None
    })
}

/// The first byte of `b` from `i` on that may start a candidate
/// ([`STARTS`]). Eight bytes at a time: a starting byte is ASCII from
/// 0x28 to 0x39 (with `)`, `*`, `,`, `-`, `.` and `/`), and most eights of
/// a text hold none of those, so they are passed in a few instructions.
pub(super) fn next_start(b: &[u8], mut i: usize) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    while let Some(eight) = b.get(i..i + 8) {
        let x = u64::from_le_bytes(eight.try_into().expect("eight bytes"));
        // Per byte, below 0x80 so no carry crosses into the next: the
        // high bit is set from 0x28 on, and from 0x3a on.
        let low = x & (0x7f * ONES);
        let from = low + (0x80 - 0x28) * ONES;
        let past = low + (0x80 - 0x3a) * ONES;
        let range = from & !past & !x & (0x80 * ONES);
        if range != 0 {
            let first = i + (range.trailing_zeros() / 8) as usize;
            if let Some(off) = b[first..i + 8].iter().position(|&c| STARTS[usize::from(c)]) {
                return Some(first + off);
            }
        }
        i += 8;
    }
    let off = b.get(i..)?.iter().position(|&c| STARTS[usize::from(c)])?;
    Some(i + off)
}

/// The bytes a numeric candidate starts with: a digit, `+` or `(`.
const STARTS: [bool; 256] = {
    let mut starts = [false; 256];
    let mut b = b'0';
    while b <= b'9' {
        starts[b as usize] = true;
        b += 1;
    }
    starts[b'+' as usize] = true;
    starts[b'(' as usize] = true;
    starts
};

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
const NOT_PHONE_BEFORE: WordList = WordList::new(&[
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
]);

/// Units and currencies that make a number a quantity or a price.
const NOT_PHONE_AFTER: WordList = WordList::new(&[
    "cm", "mm", "m", "km", "kg", "g", "lb", "lbs", "oz", "inch", "inches", "ft", "feet", "eur",
    "euro", "euros", "usd", "dollars", "dollar", "gbp", "pounds", "chf", "sek", "nok", "dkk",
    "pln", "jpy", "yen", "won", "rub", "pcs", "units", "pieces", "items", "times", "miles", "mi",
    "x", "bids", "views", "ml", "l", "w", "kw", "mah", "gb", "tb", "mb", "rpm",
]);

/// Words that announce a phone number, in English, French, Spanish,
/// Portuguese, Italian, German, Dutch and Polish.
const PHONE_CONTEXT: WordList = WordList::new(&[
    "call",
    "phone",
    "tel",
    "cell",
    "mobile",
    "text",
    "sms",
    "whatsapp",
    "number",
    "reach",
    "ring",
    "viber",
    "signal",
    "telegram",
    "contact",
    "fax",
    "wa",
    "mob",
    "appelle",
    "appelez",
    "appeler",
    "téléphone",
    "portable",
    "numéro",
    "llámame",
    "llamame",
    "llama",
    "llámanos",
    "teléfono",
    "telefono",
    "móvil",
    "movil",
    "número",
    "numero",
    "celular",
    "ligue",
    "liga",
    "telemóvel",
    "chiamami",
    "chiama",
    "chiamare",
    "cellulare",
    "ruf",
    "anrufen",
    "handy",
    "nummer",
    "mobil",
    "telefon",
    "bel",
    "bellen",
    "mobiel",
    "zadzwoń",
    "zadzwon",
    "dzwoń",
    "dzwon",
    "numer",
    "komórka",
    "komorka",
    "tel.",
]);

pub(super) fn detect(text: &str, words: &Words, hits: &mut Vec<Hit>) {
    // Most candidates are short numbers (prices, sizes, lot numbers):
    // count their digits before looking closer.
    for (start, main_end) in numeric_candidates(text.as_bytes()) {
        let digits = text.as_bytes()[start..main_end]
            .iter()
            .filter(|b| b.is_ascii_digit())
            .count();
        if digits < 7 {
            continue;
        }
        let end = extension(text.as_bytes(), main_end).unwrap_or(main_end);
        if let Some(value) = numeric(text, start, main_end, end) {
            hits.push(hit("phone", start, end, value));
        }
    }
    // A spelled number has two words or look-alikes close together, or
    // seven single digits in a row.
    let around = words.spelled.or(&words.single_digits);
    for (start, end) in around.windows(text, 160, 160) {
        // From the start of the word the window cuts.
        let start = text[..start]
            .char_indices()
            .rev()
            .take_while(|&(_, c)| c.is_alphanumeric())
            .last()
            .map_or(start, |(i, _)| i);
        for (s, e) in runs(text, start, end) {
            if let Some(value) = spelled(&text[s..e]) {
                hits.push(hit("phone_spelled", s, e, value));
            }
        }
    }
}

/// The digits of a numeric candidate `text[start..main_end]` (extension up
/// to `end`), or `None` when it is some other number.
fn numeric(text: &str, start: usize, main_end: usize, end: usize) -> Option<String> {
    let main = &text[start..main_end];
    let plus = main.trim_start_matches('(').starts_with('+');
    let n = main.bytes().filter(u8::is_ascii_digit).count();
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
    let groups: Vec<&str> = main
        .split(|c: char| !c.is_ascii_digit())
        .filter(|g| !g.is_empty())
        .collect();
    let digits: String = groups.concat();
    let seps: Vec<char> = main
        .trim_start_matches('+')
        .chars()
        .filter(|c| !c.is_ascii_digit())
        .collect();
    let lens: Vec<usize> = groups.iter().map(|g| g.len()).collect();
    let dotted = seps.contains(&'.');
    // Dates: 2026-11-21, 21.11.2026, 1.1.2026.
    let date = matches!(lens.as_slice(), [4, 2, 2] | [1 | 2, 1 | 2, 4]) && !plus;
    // Decimals, IPv4 addresses (each part up to 255) and version numbers
    // (at most four parts, one of a single digit: 10.0.19041.1234).
    let decimal = dotted && lens.len() == 2 && lens[1] <= 2;
    let ipv4 = lens.len() == 4
        && groups
            .iter()
            .all(|g| g.len() <= 3 && g.parse::<u16>().is_ok_and(|v| v <= 255));
    let version = lens.len() <= 4 && lens.contains(&1) && !plus;
    let ip_or_version = dotted && (ipv4 || version);
    // A book's ISBN-13 (978…, 979…, with its check digit) or a 14- and
    // 15-digit serial (an IMEI, a parcel) without a country code.
    let long_serial = n >= 14 && !plus && !digits.starts_with("00");
    if isbn13(&digits) || long_serial {
        return None;
    }
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
    // "sizes 10 12 14 16": without a country code, one group of 3+ digits,
    // or the trunk "0" of pairs: the French "06 12 34 56 78", others after
    // a call word or with the "0" in brackets ("(0)6.12.34.56.78").
    let french = n == 10 && lens == [2, 2, 2, 2, 2];
    let pairs = digits.starts_with('0')
        && n >= 9
        && (french || main.starts_with('(') || context_before(text, start));
    if groups.len() > 1 && !plus && !pairs && !lens.iter().any(|&l| l >= 3) {
        return None;
    }
    if groups.len() > 7 {
        return None;
    }
    Some(digits)
}

/// The last three words within `bytes` before `start`, nearest first.
fn words_before(text: &str, start: usize, bytes: usize) -> impl Iterator<Item = &str> {
    crate::intake::policy::text_before(text, start, bytes)
        .rsplit(|c: char| !(c.is_alphanumeric() || c == '/'))
        .filter(|w| !w.is_empty())
        .take(3)
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
        .take(2)
        .any(|w| NOT_PHONE_BEFORE.holds(w))
}

/// "… 1 200 000 EUR", "… 1200 x 800 mm".
fn unit_after(after: &str) -> bool {
    let after = after.trim_start_matches([' ', '\t']);
    let len = after
        .char_indices()
        .find(|&(_, c)| !(c.is_alphanumeric() || c == '%'))
        .map_or(after.len(), |(i, _)| i);
    NOT_PHONE_AFTER.holds(&after[..len]) || after.trim_start().starts_with(['€', '$', '£', '%'])
}

/// A word announcing a phone number within the three words before.
fn context_before(text: &str, start: usize) -> bool {
    words_before(text, start, 40).any(|w| PHONE_CONTEXT.holds(w))
}

/// A valid ISBN-13: 978 or 979, then a check digit weighting the digits
/// 1, 3, 1, 3, … to a multiple of ten.
fn isbn13(digits: &str) -> bool {
    digits.len() == 13
        && (digits.starts_with("978") || digits.starts_with("979"))
        && digits
            .bytes()
            .enumerate()
            .map(|(i, b)| u32::from(b - b'0') * if i % 2 == 0 { 1 } else { 3 })
            .sum::<u32>()
            % 10
            == 0
}
