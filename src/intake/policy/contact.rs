//! Contact details: what lets two people reach each other without the
//! marketplace.
//!
//! Four scanners, each in its own file, each pure and linear in the text:
//!
//! - [`email`]: addresses (`email`) and obfuscated ones
//!   (`email_obfuscated`: "maria dot lopez at gmail dot com",
//!   "peter(at)hotmail(dot)com", "m a r i a @ g m a i l . c o m",
//!   "my gmail is tony1977");
//! - [`phone`]: numbers in national and international formats (`phone`)
//!   and spelled out or mixed ("five five five one two …", "4I5-555-26seven1":
//!   `phone_spelled`), skipping prices, dates, dimensions and the numbers of
//!   lots, orders, serials and the like;
//! - [`web`]: URLs (`url`), bare domains with a real top-level domain
//!   (`domain`: `shop.co.uk` yes, `photo.jpg` no) and link shorteners
//!   (`shortener`);
//! - [`handle`]: social and messenger handles (`handle`: "my snapchat is
//!   dan_the_collector", "@vintage_vera") and invitations to a messenger
//!   without one (`messenger`: "hit me up on telegram").
//!
//! Their hits may overlap ("john@shop.com" is an address and contains a
//! domain): a hit that lies inside another one is dropped, so the evidence
//! is the most specific rule covering the longest span.

mod email;
mod handle;
mod phone;
mod web;

use super::Hit;

/// Appends the contact details found in `text` to `hits`.
pub fn detect(text: &str, hits: &mut Vec<Hit>) {
    let words = Words::scan(text);
    let mut found = Vec::new();
    email::detect(text, &words, &mut found);
    web::detect(text, &mut found);
    phone::detect(text, &words, &mut found);
    handle::detect(text, &words, &mut found);
    drop_contained(&mut found);
    hits.append(&mut found);
}

/// What one pass over the words of a text found: the scanners whose
/// regexes need one of these skip their pass without them (a regex pass
/// costs about as much as this whole scan).
#[derive(Debug, Default)]
struct Words {
    /// An `@` anywhere.
    at_sign: bool,
    /// The word "at" between blanks.
    at_word: bool,
    /// "at" in brackets or dashes: "(at)", "-at-", "_at_".
    at_marked: bool,
    /// The word "dot".
    dot_word: bool,
    /// A mail provider's name: gmail, yahoo, …
    provider: bool,
    /// A social network's or messenger's name.
    platform: bool,
    /// Digit words ("five", "oh") and words mixing digits with digit words
    /// or look-alike letters ("26seven1", "4I5").
    spelled_digits: usize,
    /// Words of a single digit.
    single_digits: usize,
}

impl Words {
    fn scan(text: &str) -> Words {
        let b = text.as_bytes();
        let mut w = Words {
            at_sign: b.contains(&b'@'),
            ..Words::default()
        };
        let mut i = 0;
        while i < b.len() {
            if !b[i].is_ascii_alphanumeric() {
                i += 1;
                continue;
            }
            let start = i;
            while i < b.len() && b[i].is_ascii_alphanumeric() {
                i += 1;
            }
            w.word(&b[start..i], start.checked_sub(1).map(|p| b[p]));
        }
        w
    }

    fn word(&mut self, word: &[u8], before: Option<u8>) {
        if word.len() > 12 {
            return;
        }
        let mut buf = [0u8; 12];
        let lower = &mut buf[..word.len()];
        lower.copy_from_slice(word);
        lower.make_ascii_lowercase();
        let lower = &*lower;
        let digits = word.iter().filter(|c| c.is_ascii_digit()).count();
        if digits == word.len() {
            self.single_digits += usize::from(digits == 1);
            return;
        }
        if digits > 0 {
            let lookalike = word.iter().any(|c| matches!(c, b'I' | b'l' | b'O'));
            let spelled = DIGIT_WORDS
                .iter()
                .any(|d| lower.windows(d.len()).any(|win| win == d.as_bytes()));
            self.spelled_digits += usize::from(lookalike || spelled);
            return;
        }
        match lower {
            b"at" if matches!(before, None | Some(b' ' | b'\t' | b'\n' | b'\r')) => {
                self.at_word = true
            }
            b"at" => self.at_marked = true,
            b"dot" => self.dot_word = true,
            _ if DIGIT_WORDS.iter().any(|d| d.as_bytes() == lower) => self.spelled_digits += 1,
            _ if PROVIDER_NAMES.iter().any(|d| d.as_bytes() == lower) => self.provider = true,
            _ if PLATFORM_NAMES.iter().any(|d| d.as_bytes() == lower) => self.platform = true,
            _ => {}
        }
    }
}

const DIGIT_WORDS: &[&str] = &[
    "zero", "oh", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
];
const PROVIDER_NAMES: &[&str] = &[
    "gmail",
    "googlemail",
    "yahoo",
    "hotmail",
    "outlook",
    "icloud",
    "aol",
    "protonmail",
    "proton",
    "gmx",
    "yandex",
    "fastmail",
    "zoho",
    "comcast",
    "verizon",
    "msn",
];
const PLATFORM_NAMES: &[&str] = &[
    "instagram",
    "insta",
    "ig",
    "telegram",
    "whatsapp",
    "whats",
    "snapchat",
    "snap",
    "discord",
    "signal",
    "wechat",
    "weixin",
    "kik",
    "facebook",
    "fb",
    "messenger",
    "tiktok",
    "tik",
    "twitter",
    "tweet",
    "tweets",
    "tweeter",
    "tweeting",
    "skype",
    "line",
    "viber",
    "threads",
    "linkedin",
];

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
