//! Contact details: what lets two people reach each other without the
//! marketplace.
//!
//! Four scanners, each in its own file, each pure and linear in the text:
//!
//! - [`email`]: addresses (`email`) and obfuscated ones
//!   (`email_obfuscated`: "maria dot lopez at gmail dot com",
//!   "peter(at)hotmail(dot)com", "lucia punto gomez arroba hotmail punto
//!   es", "m a r i a @ g m a i l . c o m", "my gmail is tony1977");
//! - [`phone`]: numbers in national and international formats (`phone`)
//!   and spelled out or mixed, in several languages ("five five five one
//!   two …", "trente-quatre", "4I5-555-26seven1": `phone_spelled`), skipping
//!   prices, dates, dimensions, ISBNs and the numbers of lots, orders,
//!   serials and the like;
//! - [`web`]: URLs (`url`), bare domains with a real top-level domain
//!   (`domain`: `shop.co.uk` yes, `photo.jpg` no) and link shorteners
//!   (`shortener`);
//! - [`handle`]: social and messenger handles (`handle`: "my snapchat is
//!   dan_the_collector", "@vintage_vera") and invitations to a messenger
//!   without one (`messenger`: "hit me up on telegram", "WhatsApp me",
//!   "scrivimi su WhatsApp").
//!
//! Their hits may overlap ("john@shop.com" is an address and contains a
//! domain): a hit that lies inside another one is dropped, so the evidence
//! is the most specific rule covering the longest span.

mod email;
mod handle;
mod phone;
mod web;

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::LazyLock;

use super::Hit;

/// Appends the contact details found in `text` to `hits`.
pub fn detect(text: &str, hits: &mut Vec<Hit>) {
    let words = Words::scan(text);
    let mut found = Vec::new();
    email::detect(text, &words, &mut found);
    web::detect(text, &mut found);
    web::spelled(text, &words.dot_word, &mut found);
    phone::detect(text, &words, &mut found);
    handle::detect(text, &words, &mut found);
    drop_contained(&mut found);
    hits.append(&mut found);
}

/// Where one pass over the words of a text saw what the scanners' regexes
/// need: a scanner with nothing to look for skips its pass, and otherwise
/// searches only the window around what was seen (a regex pass over a
/// whole text costs several times this scan).
#[derive(Debug, Default)]
struct Words {
    /// `@` signs.
    at_sign: Seen,
    /// The word "at" between blanks.
    at_word: Seen,
    /// "at" in brackets or dashes: "(at)", "-at-", "_at_"; and the words
    /// for "@" of other languages ("arroba", "chiocciola", "małpa", …).
    at_marked: Seen,
    /// The word "dot" (or "punto", "punkt", … or a dot in brackets).
    dot_word: Seen,
    /// A mail provider's name: gmail, yahoo, …
    provider: Seen,
    /// A social network's or messenger's name.
    platform: Seen,
    /// The second of two number words ("five", "oh", "cinq", "trzydzieści")
    /// or words mixing digits with digit words or look-alike letters
    /// ("26seven1", "4I5") close together.
    spelled: Seen,
    /// The 7th single digit in a row ("5 5 5 1 2 3 4").
    single_digits: Seen,
}

/// Where something was seen: byte offsets, in order.
#[derive(Debug, Default, Clone)]
struct Seen(Vec<usize>);

impl Seen {
    fn note(&mut self, at: usize) {
        self.0.push(at);
    }

    /// Both, in order.
    fn or(&self, other: &Seen) -> Seen {
        let mut all: Vec<usize> = self.0.iter().chain(&other.0).copied().collect();
        all.sort_unstable();
        Seen(all)
    }

    /// The sightings with one of `other`'s after them, at most `within`
    /// bytes on.
    fn followed_by(&self, other: &Seen, within: usize) -> Seen {
        let mut next = other.0.iter().peekable();
        let mut out = Seen::default();
        for &at in &self.0 {
            while next.next_if(|&&o| o <= at).is_some() {}
            if next.peek().is_some_and(|&&o| o - at <= within) {
                out.note(at);
            }
        }
        out
    }

    /// The windows from `before` bytes before to `after` bytes after each
    /// sighting (to the end of a word: [`super::window_end`]), merged
    /// where they overlap and widened to char boundaries.
    fn windows(&self, text: &str, before: usize, after: usize) -> Vec<(usize, usize)> {
        super::windows(text, self.0.iter().map(|&at| (at, at)), before, after)
    }

    /// Each match of `regex` that starts in a window (see [`Seen::windows`]),
    /// as a search from the window's start over the text up to its end: the
    /// text before the start stays context for the regex. `next` gets the
    /// text searched and each match's groups, and says where to search on
    /// from.
    fn search<'t>(
        &self,
        text: &'t str,
        margins: (usize, usize),
        regex: &regex::Regex,
        next: impl FnMut(&'t str, regex::Captures<'t>) -> usize,
    ) {
        self.each(text, margins, |hay, pos| regex.captures_at(hay, pos), next);
    }

    /// As [`Seen::search`], with each match's span only (no groups: a
    /// faster search).
    fn find<'t>(
        &self,
        text: &'t str,
        margins: (usize, usize),
        regex: &regex::Regex,
        next: impl FnMut(&'t str, regex::Match<'t>) -> usize,
    ) {
        self.each(text, margins, |hay, pos| regex.find_at(hay, pos), next);
    }

    fn each<'t, M>(
        &self,
        text: &'t str,
        (before, after): (usize, usize),
        mut search_at: impl FnMut(&'t str, usize) -> Option<M>,
        mut next: impl FnMut(&'t str, M) -> usize,
    ) {
        let mut pos = 0;
        for (start, end) in self.windows(text, before, after) {
            let hay = &text[..end];
            pos = pos.max(start);
            while pos < end {
                let Some(m) = search_at(hay, pos) else {
                    break;
                };
                pos = next(hay, m).max(pos + 1);
                while !text.is_char_boundary(pos) {
                    pos += 1;
                }
            }
        }
    }
}

impl Words {
    /// One pass over `text`: each word is read once, and looked up only
    /// when its length, first and last letters are those of a word looked
    /// for ([`SHAPES`]).
    fn scan(text: &str) -> Words {
        let b = text.as_bytes();
        let mut w = Words::default();
        let mut i = 0;
        // The last digit word's end, and the run of single digits.
        let (mut last_spelled, mut singles, mut last_single) = (None, 0, 0);
        let shapes = &*SHAPES;
        while i < b.len() {
            let class = BYTES[usize::from(b[i])];
            if class & ALNUM == 0 && (class & HIGH == 0 || letter_len(text, i).is_none()) {
                if class & MARK == 0 {
                    i += 1;
                    continue;
                }
                match b[i] {
                    b'@' => w.at_sign.note(i),
                    // "(.)", "[.]": a dot in brackets.
                    b'.' if i > 0
                        && matches!(b[i - 1], b'(' | b'[' | b'{')
                        && matches!(b.get(i + 1), Some(b')' | b']' | b'}')) =>
                    {
                        w.dot_word.note(i)
                    }
                    _ => {}
                }
                i += 1;
                continue;
            }
            let start = i;
            let (mut digits, mut ascii) = (0, true);
            while i < b.len() {
                let class = BYTES[usize::from(b[i])];
                if class & ALNUM != 0 {
                    digits += usize::from(class & DIGIT != 0);
                    i += 1;
                } else if class & HIGH != 0
                    && let Some(len) = letter_len(text, i)
                {
                    ascii = false;
                    i += len;
                } else {
                    break;
                }
            }
            let word = Word {
                text: &text[start..i],
                digits,
                ascii,
                before: start.checked_sub(1).map(|p| b[p]),
                next: &b[i..b.len().min(i + 3)],
            };
            match word.kind(shapes) {
                Some(Kind::Spelled) => {
                    // Two of them close together.
                    if last_spelled.is_some_and(|end| start - end <= 24) {
                        w.spelled.note(start);
                    }
                    last_spelled = Some(i);
                }
                Some(Kind::Single) => {
                    singles = if start - last_single <= 4 {
                        singles + 1
                    } else {
                        1
                    };
                    if singles == 7 {
                        w.single_digits.note(start);
                    }
                    last_single = i;
                }
                Some(Kind::Other(seen)) => seen(&mut w).note(start),
                None => {}
            }
        }
        w
    }
}

/// What [`Words::scan`] asks of a byte, in one lookup: an ASCII letter or
/// digit, a digit, not ASCII (perhaps a letter), a sign it notes.
const ALNUM: u8 = 1;
const DIGIT: u8 = 2;
const HIGH: u8 = 4;
const MARK: u8 = 8;
static BYTES: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut b = 0;
    while b < 256 {
        let byte = b as u8;
        table[b] = if byte.is_ascii_digit() {
            ALNUM | DIGIT
        } else if byte.is_ascii_alphabetic() {
            ALNUM
        } else if byte >= 0x80 {
            HIGH
        } else if byte == b'@' || byte == b'.' {
            MARK
        } else {
            0
        };
        b += 1;
    }
    table
};

/// A word of the text, as [`Words::scan`] read it.
struct Word<'t> {
    text: &'t str,
    /// How many of its bytes are ASCII digits.
    digits: usize,
    /// Whether it is all ASCII.
    ascii: bool,
    /// The byte before it and the few bytes after it.
    before: Option<u8>,
    next: &'t [u8],
}

impl Word<'_> {
    /// What the word is, for [`Words::scan`].
    fn kind(&self, shapes: &Shapes) -> Option<Kind> {
        let bytes = self.text.as_bytes();
        if bytes.len() > 24 {
            return None;
        }
        if self.digits == bytes.len() {
            return (self.digits == 1).then_some(Kind::Single);
        }
        if self.digits > 0 {
            // "26seven1", "4I5", "o7g11": digits with digit words or
            // look-alike letters.
            let spelled = phone::lookalikes(self.text)
                || if self.ascii {
                    let mut buf = [0u8; 24];
                    std::str::from_utf8(lowered(bytes, &mut buf)).is_ok_and(phone::has_number_word)
                } else {
                    phone::has_number_word(&self.text.to_lowercase())
                };
            return spelled.then_some(Kind::Spelled);
        }
        if self.ascii {
            if bytes.eq_ignore_ascii_case(b"at") {
                let blank = matches!(self.before, None | Some(b' ' | b'\t' | b'\n' | b'\r'));
                return Some(Kind::Other(if blank {
                    |w| &mut w.at_word
                } else {
                    |w| &mut w.at_marked
                }));
            }
            if bytes.eq_ignore_ascii_case(b"app") && self.next.eq_ignore_ascii_case(b" me") {
                return Some(Kind::Other(|w| &mut w.platform));
            }
            // Most words are none of those looked up: their shape says so
            // before they are copied and hashed.
            let (first, last) = (bytes[0].to_ascii_lowercase(), bytes[bytes.len() - 1]);
            let shape = Shapes::bit_of(bytes.len(), first, last.to_ascii_lowercase());
            let inflected = bytes.len() >= 9;
            if !shapes.holds(shape) && !inflected {
                return None;
            }
            let mut buf = [0u8; 24];
            Word::class(lowered(bytes, &mut buf), shapes.holds(shape))
        } else {
            // Letters of Latin-1 (é, ü, ß, …) keep their length lowercase,
            // and an ASCII first or last letter stays itself: such a word's
            // shape is known before it is lowercased (others, the Kelvin
            // sign that becomes "k" or "İ" that grows, are lowercased).
            let latin1 = bytes.iter().all(|&b| b < 0xc0 || b == 0xc3);
            let (first, last) = (bytes[0], bytes[bytes.len() - 1]);
            if latin1
                && first.is_ascii()
                && last.is_ascii()
                && bytes.len() < 9
                && !shapes.holds(Shapes::bit_of(
                    bytes.len(),
                    first.to_ascii_lowercase(),
                    last.to_ascii_lowercase(),
                ))
            {
                return None;
            }
            let lower = self.text.to_lowercase();
            let lower = lower.as_bytes();
            Word::class(lower, Shapes::bit(lower).is_some_and(|b| shapes.holds(b)))
        }
    }

    /// The class of a lowercase word without digits; `listed` when its
    /// shape is that of a word in [`LOOKUP`].
    fn class(lower: &[u8], listed: bool) -> Option<Kind> {
        let seen: fn(&mut Words) -> &mut Seen = match listed.then(|| LOOKUP.get(lower)).flatten() {
            Some(Class::Number) => return Some(Kind::Spelled),
            Some(Class::At) => |w| &mut w.at_marked,
            Some(Class::Dot) => |w| &mut w.dot_word,
            Some(Class::Provider) => |w| &mut w.provider,
            Some(Class::Platform) => |w| &mut w.platform,
            // "whatsappie", "messengerze": inflected.
            None if lower.len() >= 9 && handle::is_inflected_platform(lower) => |w| &mut w.platform,
            None => return None,
        };
        Some(Kind::Other(seen))
    }
}

/// `bytes` (ASCII, at most 24 of them) lowercased into `buf`.
fn lowered<'b>(bytes: &[u8], buf: &'b mut [u8; 24]) -> &'b [u8] {
    let lower = &mut buf[..bytes.len()];
    lower.copy_from_slice(bytes);
    lower.make_ascii_lowercase();
    lower
}

/// The lengths, first and last bytes of the words in [`LOOKUP`]: most
/// words of a text are none of them, and this says so without hashing
/// them.
struct Shapes(Vec<u64>);

impl Shapes {
    const fn bucket(byte: u8) -> usize {
        (match byte {
            b'a'..=b'z' => byte - b'a',
            other => 26 + other % 6,
        }) as usize
    }

    /// The bit of a word's shape (`None`: longer than any word looked up).
    fn bit(word: &[u8]) -> Option<usize> {
        let (&first, &last) = (word.first()?, word.last()?);
        (word.len() <= 24).then(|| Shapes::bit_of(word.len(), first, last))
    }

    /// The bit of a lowercase word of `len` (at most 24) bytes.
    fn bit_of(len: usize, first: u8, last: u8) -> usize {
        (len * 32 + Shapes::bucket(first)) * 32 + Shapes::bucket(last)
    }

    fn add(&mut self, word: &[u8]) {
        if let Some(bit) = Shapes::bit(word) {
            self.0[bit / 64] |= 1 << (bit % 64);
        }
    }

    fn holds(&self, bit: usize) -> bool {
        self.0[bit / 64] & (1 << (bit % 64)) != 0
    }
}

static SHAPES: LazyLock<Shapes> = LazyLock::new(|| {
    let mut shapes = Shapes(vec![0; 25 * 32 * 32 / 64]);
    LOOKUP.keys().for_each(|w| shapes.add(w));
    shapes
});

/// What a word in [`LOOKUP`] is.
#[derive(Debug, Clone, Copy)]
enum Class {
    Number,
    At,
    Dot,
    Provider,
    Platform,
}

/// The words [`Words::scan`] looks for, lowercase, in one table: one
/// lookup per word of the text.
static LOOKUP: LazyLock<HashMap<&'static [u8], Class, BuildHasherDefault<Fnv>>> =
    LazyLock::new(|| {
        let mut table = HashMap::default();
        table.extend(
            handle::PLATFORM_WORDS
                .iter()
                .map(|&w| (w.as_bytes(), Class::Platform)),
        );
        table.extend(
            email::PROVIDERS
                .iter()
                .map(|&(w, _)| (w.as_bytes(), Class::Provider)),
        );
        table.extend(
            email::DOT_WORDS
                .words
                .iter()
                .map(|&w| (w.as_bytes(), Class::Dot)),
        );
        table.insert(b"dot", Class::Dot);
        table.extend(email::AT_WORDS.iter().map(|&w| (w.as_bytes(), Class::At)));
        table.extend(phone::number_words().map(|w| (w.as_bytes(), Class::Number)));
        table
    });

/// FNV-1a: words are short, and the table is ours, not the sender's
/// (whose text only looks keys up).
struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Fnv {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl Hasher for Fnv {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// The length of the letter that is not ASCII at byte `i` of `text`, if
/// one starts there.
fn letter_len(text: &str, i: usize) -> Option<usize> {
    if text.as_bytes()[i] < 0x80 || !text.is_char_boundary(i) {
        return None;
    }
    let c = text[i..].chars().next()?;
    c.is_alphabetic().then(|| c.len_utf8())
}

/// A word [`Words::scan`] looks at.
enum Kind {
    /// A digit word, or digits mixed with digit words or look-alikes.
    Spelled,
    /// A single digit.
    Single,
    /// Something noted where it is.
    Other(fn(&mut Words) -> &mut Seen),
}

/// Sorts hits by position and drops each hit that lies inside an earlier
/// (or longer) one.
fn drop_contained(found: &mut Vec<Hit>) {
    found.sort_by(|a, b| a.start.cmp(&b.start).then(b.end.cmp(&a.end)));
    let mut covered_to = 0;
    found.retain(|h| {
        if h.end <= covered_to {
            return false;
        }
        covered_to = h.end;
        true
    });
}

/// A list of lowercase words, and which lengths and first bytes they
/// have: most words checked against it have neither, and are told so
/// without a comparison (a list of 50 words, compared one by one, cost
/// ≈ 390 instructions a check).
struct WordList {
    words: &'static [&'static str],
    /// A bit per (length up to 15, first byte's bucket) of the words.
    shapes: [u64; 8],
}

impl WordList {
    const fn new(words: &'static [&'static str]) -> WordList {
        let mut shapes = [0u64; 8];
        let mut i = 0;
        while i < words.len() {
            let w = words[i].as_bytes();
            if !w.is_empty() {
                let bit = WordList::bit(w.len(), w[0]);
                shapes[bit / 64] |= 1 << (bit % 64);
            }
            i += 1;
        }
        WordList { words, shapes }
    }

    /// The bit of a word of `len` bytes starting with the lowercase byte
    /// `first`.
    const fn bit(len: usize, first: u8) -> usize {
        let len = if len < 15 { len } else { 15 };
        len * 32 + Shapes::bucket(first)
    }

    /// Whether `word` is one of the words, in any case.
    fn holds(&self, word: &str) -> bool {
        let Some(&first) = word.as_bytes().first() else {
            return false;
        };
        if word.is_ascii() {
            let bit = WordList::bit(word.len(), first.to_ascii_lowercase());
            self.shapes[bit / 64] & (1 << (bit % 64)) != 0
                && self.words.iter().any(|w| w.eq_ignore_ascii_case(word))
        } else {
            self.words.contains(&word.to_lowercase().as_str())
        }
    }
}

/// The char before byte `at` of `text` (`at` on a char boundary).
fn char_before(text: &str, at: usize) -> Option<char> {
    text[..at].chars().next_back()
}

/// The char at byte `at` of `text` (`at` on a char boundary).
fn char_at(text: &str, at: usize) -> Option<char> {
    text[at..].chars().next()
}

/// A hit of the contact category.
fn hit(rule: &'static str, start: usize, end: usize, value: String) -> Hit {
    Hit {
        rule,
        category: super::Category::Contact,
        start,
        end,
        value,
    }
}

#[cfg(test)]
mod tests;
