//! What the spam model looks at: the tokens of a message and the rules
//! that fired.
//!
//! Everything a message contributes is a token: body words as they are,
//! other places with a prefix (`subject:win`, `from_domain:example.com`,
//! `url:bit.ly`, `html:font`, `rule:shortener`). A token is handed to a
//! [`Sink`] as a few string parts that the sink lowercases (ASCII) and
//! either hashes (scoring: no allocation per token) or keeps as text
//! (training: the model file stays readable and explains itself).
//!
//! Rules are the features the issue names — link density and shorteners,
//! HTML tricks, ALL-CAPS, money words. They are not scored by hand: each
//! fired rule is also a token (`rule:NAME`), so the model learns how much
//! it weighs, and the rule ids are the evidence a moderator sees.

use super::hash;
use super::html;
use crate::intake::parse::Parsed;

/// Receives the tokens of a message; a token is the concatenation of
/// `parts`, ASCII-lowercased.
pub(crate) trait Sink {
    fn token(&mut self, parts: &[&str]);

    /// A word token whose [`hash::token_hash`] the caller has computed.
    /// Returns false when the sink knows the word is in no model: then
    /// its pairs with its neighbours are not asked for, as a pair is never
    /// seen in more messages than each of its words.
    fn word(&mut self, _hash: u64, parts: &[&str]) -> bool {
        self.token(parts);
        true
    }
}

/// Body text and HTML beyond this many bytes are not read: the start of a
/// message says what it is, and scoring stays cheap on a 10 MB body.
const MAX_SCAN: usize = 64 * 1024;
/// Words shorter than this are noise; longer than `MAX_WORD` become a
/// `skip:` token (first character and length bucket), as in SpamBayes.
const MIN_WORD: usize = 3;
const MAX_WORD: usize = 16;

pub(crate) const LINK_DENSITY: &str = "link_density";
pub(crate) const SHORTENER: &str = "shortener";
pub(crate) const ALL_CAPS: &str = "all_caps";
pub(crate) const SUBJECT_ALL_CAPS: &str = "subject_all_caps";
pub(crate) const MONEY_WORDS: &str = "money_words";
pub(crate) const HTML_ONLY: &str = "html_only";
pub(crate) const HTML_HIDDEN_TEXT: &str = "html_hidden_text";
pub(crate) const HTML_TINY_FONT: &str = "html_tiny_font";
pub(crate) const HTML_IMAGES_ONLY: &str = "html_images_only";
pub(crate) const HTML_LINK_MISMATCH: &str = "html_link_mismatch";

/// Hosts whose only job is to hide where a link goes.
const SHORTENERS: &[&str] = &[
    "bit.ly",
    "bitly.com",
    "tinyurl.com",
    "goo.gl",
    "t.co",
    "ow.ly",
    "is.gd",
    "buff.ly",
    "rebrand.ly",
    "cutt.ly",
    "shorturl.at",
    "tiny.cc",
    "rb.gy",
    "s.id",
    "bl.ink",
    "lnkd.in",
    "v.gd",
    "t.ly",
    "x.co",
    "shorte.st",
    "adf.ly",
    "qr.net",
    "snip.ly",
    "tr.im",
    "su.pr",
];

const fn word(w: &str) -> u64 {
    hash::token_hash(w.as_bytes())
}

const fn pair(a: &str, b: &str) -> u64 {
    word(a).rotate_left(17) ^ word(b)
}

/// Money and call-to-action terms: single words and word pairs, hashed at
/// compile time and matched against the word stream.
const MONEY: &[u64] = &[
    word("$$$"),
    word("lottery"),
    word("unsubscribe"),
    word("wire"),
    word("guaranteed"),
    word("winner"),
    word("casino"),
    word("viagra"),
    word("mortgage"),
    word("refinance"),
    word("inheritance"),
    word("beneficiary"),
    word("risk-free"),
    word("opt-out"),
    word("cash"),
    word("prize"),
    pair("100%", "free"),
    pair("click", "here"),
    pair("million", "dollars"),
    pair("wire", "transfer"),
    pair("act", "now"),
    pair("risk", "free"),
    pair("no", "obligation"),
    pair("money", "back"),
    pair("credit", "card"),
    pair("limited", "time"),
    pair("order", "now"),
    pair("extra", "income"),
    pair("dear", "friend"),
    pair("bank", "account"),
    pair("western", "union"),
    pair("opt", "out"),
];

/// One bit per possible top 12 bits of a [`MONEY`] hash: nearly every
/// hash (all but ≈ 1 in 128) is ruled out by one test.
const MONEY_MASK: [u64; 64] = {
    let mut mask = [0u64; 64];
    let mut i = 0;
    while i < MONEY.len() {
        let top = (MONEY[i] >> 52) as usize;
        mask[top / 64] |= 1 << (top % 64);
        i += 1;
    }
    mask
};

fn maybe_money(hash: u64) -> bool {
    let top = (hash >> 52) as usize;
    MONEY_MASK[top / 64] & (1 << (top % 64)) != 0
}

/// Emits the tokens of `parsed` into `sink` and returns the rules that
/// fired (each also emitted as a `rule:` token).
pub(crate) fn extract(parsed: &Parsed, sink: &mut impl Sink) -> Vec<&'static str> {
    let mut rules = Vec::new();
    if let Some(subject) = parsed.subject.as_deref() {
        let stats = words(subject, "subject:", sink);
        if stats.caps_words >= 2 && stats.caps_words == stats.letter_words {
            rules.push(SUBJECT_ALL_CAPS);
        }
    }
    sender(parsed, sink);
    headers(parsed, sink);
    let body = words(prefix_of(&parsed.text, MAX_SCAN), "", sink);
    let mut links = body.links;
    let mut shortener = body.shortener;
    let mut word_count = body.words;
    if let Some(markup) = parsed.html.as_deref() {
        let h = html::scan(prefix_of(markup, MAX_SCAN), sink);
        links += h.links;
        shortener |= h.shortener;
        if !parsed.has_text_part {
            rules.push(HTML_ONLY);
            word_count = word_count.max(h.words);
        }
        if h.hidden_text {
            rules.push(HTML_HIDDEN_TEXT);
        }
        if h.tiny_font {
            rules.push(HTML_TINY_FONT);
        }
        if h.images > 0 && h.words < 15 {
            rules.push(HTML_IMAGES_ONLY);
        }
        if h.link_mismatch {
            rules.push(HTML_LINK_MISMATCH);
        }
    }
    if links >= 3 && word_count < links * 25 {
        rules.push(LINK_DENSITY);
    }
    if shortener {
        rules.push(SHORTENER);
    }
    if body.caps_words >= 8 && body.caps_words * 4 >= body.letter_words {
        rules.push(ALL_CAPS);
    }
    if body.money.count_ones() >= 2 {
        rules.push(MONEY_WORDS);
    }
    for rule in &rules {
        sink.token(&["rule:", rule]);
    }
    rules
}

/// The longest prefix of `text` of at most `max` bytes, on a char boundary.
fn prefix_of(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

fn sender(parsed: &Parsed, sink: &mut impl Sink) {
    let Some(from) = &parsed.from else {
        sink.token(&["from:none"]);
        return;
    };
    match from.name.as_deref() {
        Some(name) => {
            words(name, "from_name:", sink);
        }
        None => sink.token(&["from_name:none"]),
    }
    if let Some((_, domain)) = from.address.rsplit_once('@') {
        sink.token(&["from_domain:", domain]);
        if let Some((_, tld)) = domain.rsplit_once('.') {
            sink.token(&["from_tld:", tld]);
        }
    }
}

/// A few header facts that say how a message was made, not who carried
/// it: transport headers (Received, List-*) would teach the model the
/// corpus's mailing lists rather than spam.
fn headers(parsed: &Parsed, sink: &mut impl Sink) {
    if let Some(ct) = parsed.header("Content-Type") {
        let mut parts = ct.split(';');
        if let Some(kind) = parts.next() {
            sink.token(&["ctype:", clean(kind.trim(), 40)]);
        }
        for param in parts {
            if let Some((name, value)) = param.split_once('=')
                && name.trim().eq_ignore_ascii_case("charset")
            {
                sink.token(&["charset:", clean(value.trim().trim_matches('"'), 30)]);
            }
        }
    }
    if let Some(cte) = parsed.header("Content-Transfer-Encoding") {
        sink.token(&["encoding:", clean(cte, 20)]);
    }
    let mailer = parsed
        .header("X-Mailer")
        .or_else(|| parsed.header("User-Agent"));
    match mailer.and_then(|m| m.split_whitespace().next()) {
        Some(first) => sink.token(&["mailer:", clean(first, 30)]),
        None => sink.token(&["mailer:none"]),
    }
    if let Some(priority) = parsed.header("X-Priority") {
        sink.token(&["priority:", clean(priority, 2)]);
    }
    for (name, token) in [
        ("Date", "date:none"),
        ("MIME-Version", "mime_version:none"),
        ("To", "to:none"),
    ] {
        if parsed.header(name).is_none() {
            sink.token(&[token]);
        }
    }
    if parsed
        .header("To")
        .is_some_and(|to| starts_with_ci(to.trim_start_matches(['"', '<']), "undisclosed"))
    {
        sink.token(&["to:undisclosed"]);
    }
    let from_site = parsed
        .from
        .as_ref()
        .and_then(|f| f.address.rsplit_once('@'))
        .map(|(_, d)| site(d));
    match parsed
        .message_id
        .as_deref()
        .and_then(|id| id.rsplit_once('@'))
    {
        None => sink.token(&["message_id:none"]),
        Some((_, domain))
            if Some(site(domain))
                .is_some_and(|s| from_site.is_some_and(|f| f.eq_ignore_ascii_case(s))) =>
        {
            sink.token(&["message_id:from_site"])
        }
        Some(_) => sink.token(&["message_id:other_site"]),
    }
    if let Some(reply_to) = parsed.header("Reply-To") {
        let same = from_site.is_some_and(|f| {
            reply_to
                .to_ascii_lowercase()
                .contains(&f.to_ascii_lowercase())
        });
        sink.token(&[if same {
            "reply_to:from_site"
        } else {
            "reply_to:other_site"
        }]);
    }
    let recipients = match parsed.header_recipients.len() {
        0 => "0",
        1 => "1",
        2..=5 => "2-5",
        _ => "6+",
    };
    sink.token(&["recipients:", recipients]);
    for attachment in &parsed.attachments {
        sink.token(&["attachment:", clean(&attachment.content_type, 40)]);
    }
}

/// `value` cut to `max` bytes and to its first white space or control
/// character, so that a token is one field of the model file.
fn clean(value: &str, max: usize) -> &str {
    let end = value
        .find(|c: char| c.is_whitespace() || c.is_control())
        .unwrap_or(value.len());
    prefix_of(&value[..end], max)
}

/// What the word scan of one text counted.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct WordStats {
    pub words: usize,
    /// Words with at least three ASCII letters, and those of them with no
    /// lowercase letter.
    pub letter_words: usize,
    pub caps_words: usize,
    pub links: usize,
    pub shortener: bool,
    /// One bit per [`MONEY`] term seen.
    pub money: u64,
}

/// Of a byte: a word's (letters, digits, non-ASCII and `$%!'-.`), an
/// ASCII letter, a lowercase one. A table: this is asked for every byte
/// of every message.
const WORD: u8 = 1;
const LETTER: u8 = 2;
const LOWER: u8 = 4;
const BYTE_CLASS: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        if c.is_ascii_alphanumeric()
            || c >= 0x80
            || matches!(c, b'$' | b'%' | b'!' | b'\'' | b'-' | b'.')
        {
            table[b] = WORD;
        }
        if c.is_ascii_alphabetic() {
            table[b] |= LETTER;
        }
        if c.is_ascii_lowercase() {
            table[b] |= LOWER;
        }
        b += 1;
    }
    table
};

fn class(b: u8) -> u8 {
    BYTE_CLASS[usize::from(b)]
}

/// `w` without `'`, `-` and `.` at either end.
fn trim_word(w: &str) -> &str {
    let edge = |b: &u8| !matches!(b, b'\'' | b'-' | b'.');
    let bytes = w.as_bytes();
    let Some(start) = bytes.iter().position(edge) else {
        return "";
    };
    let end = bytes.iter().rposition(edge).map_or(start, |e| e + 1);
    // The trimmed bytes are ASCII: the bounds are char boundaries.
    &w[start..end]
}

/// Splits `text` into words (runs of letters, digits, non-ASCII and
/// `$%!'-.`, with `'-.` trimmed at the ends), emits each as a token with
/// `prefix`, and counts words, capitals, links and money terms.
pub(crate) fn words(text: &str, prefix: &'static str, sink: &mut impl Sink) -> WordStats {
    let bytes = text.as_bytes();
    let mut stats = WordStats::default();
    let mut previous = 0u64;
    let mut previous_word = "";
    let mut previous_known = false;
    let mut i = 0;
    while i < bytes.len() {
        if class(bytes[i]) & WORD == 0 {
            i += 1;
            continue;
        }
        let start = i;
        // ASCII letters, and whether one is lowercase (the ends trimmed
        // below are none).
        let (mut letters, mut lower) = (0, 0);
        while i < bytes.len() {
            let c = class(bytes[i]);
            if c & WORD == 0 {
                break;
            }
            letters += usize::from(c & LETTER != 0);
            lower |= c & LOWER;
            i += 1;
        }
        // The bounds are ASCII bytes or the text's ends: char boundaries.
        let w = trim_word(&text[start..i]);
        if w.is_empty() {
            continue;
        }
        stats.words += 1;
        if (w.eq_ignore_ascii_case("http") || w.eq_ignore_ascii_case("https"))
            && text[i..].starts_with("://")
        {
            let host = host_at(&text[i + 3..]);
            i += 3 + host.len();
            link(host, &mut stats, sink);
            previous_known = false;
            continue;
        }
        if starts_with_ci(w, "www.") && w.len() > 4 {
            link(w, &mut stats, sink);
        }
        let hash = word(w);
        let pair = previous.rotate_left(17) ^ hash;
        if maybe_money(hash) || maybe_money(pair) {
            for (bit, &term) in MONEY.iter().enumerate() {
                if term == hash || term == pair {
                    stats.money |= 1 << bit;
                }
            }
        }
        previous = hash;
        if letters >= 3 {
            stats.letter_words += 1;
            stats.caps_words += usize::from(lower == 0);
        }
        if w.len() < MIN_WORD {
            continue;
        }
        if w.len() > MAX_WORD {
            let first = w.chars().next().map_or(0, char::len_utf8);
            sink.token(&[prefix, "skip:", &w[..first], length_bucket(w.len())]);
        } else {
            let known = if prefix.is_empty() {
                sink.word(hash, &[w])
            } else {
                sink.word(hash::parts_hash(&[prefix, w]), &[prefix, w])
            };
            if known && previous_known {
                sink.token(&[prefix, previous_word, " ", w]);
            }
            (previous_word, previous_known) = (w, known);
        }
    }
    stats
}

fn length_bucket(len: usize) -> &'static str {
    match len {
        0..=19 => ":10",
        20..=29 => ":20",
        30..=39 => ":30",
        40..=59 => ":40",
        _ => ":60",
    }
}

/// The host at the start of `rest` (what follows `scheme://`).
pub(crate) fn host_at(rest: &str) -> &str {
    let end = rest
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '.' || c == '-'))
        .unwrap_or(rest.len());
    rest[..end].trim_end_matches('.')
}

/// Counts a link to `host` and emits its `url:` token.
pub(crate) fn link(host: &str, stats: &mut WordStats, sink: &mut impl Sink) {
    stats.links += 1;
    let host = clean(host, 60);
    if host.is_empty() {
        return;
    }
    sink.token(&["url:", host]);
    // `www.` is ASCII: after it comes a char boundary.
    let bare = if starts_with_ci(host, "www.") {
        &host[4..]
    } else {
        host
    };
    if SHORTENERS.iter().any(|s| s.eq_ignore_ascii_case(bare)) {
        stats.shortener = true;
    }
}

/// The last two labels of a host (`mail.example.com` → `example.com`):
/// good enough to tell whether link text and target are the same site.
pub(crate) fn site(host: &str) -> &str {
    let mut dots = host.rmatch_indices('.');
    dots.next();
    match dots.next() {
        Some((i, _)) => &host[i + 1..],
        None => host,
    }
}

/// Whether `s` starts with the ASCII `prefix`, in any letter case.
pub(crate) fn starts_with_ci(s: &str, prefix: &str) -> bool {
    s.as_bytes()
        .get(..prefix.len())
        .is_some_and(|head| head.eq_ignore_ascii_case(prefix.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_money_mask_lets_every_money_term_through_and_few_others() {
        assert!(MONEY.iter().all(|&term| maybe_money(term)));
        let others = (0..10_000)
            .filter(|i| maybe_money(word(&format!("word{i}"))))
            .count();
        // 32 terms among 4,096 bit values: ≈ 80 of 10,000.
        assert!(others < 200, "{others} of 10,000 other words pass");
    }
}
