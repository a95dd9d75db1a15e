//! Email addresses, written plainly or obfuscated to slip past a filter.
//!
//! - `email`: `local@domain.tld` (the local part may be non-ASCII, the top-level domain alphabetic or an IDN
//!   `xn--` label); value the lowercased address.
//! - `email_obfuscated`, value the reconstructed address:
//!   - words or brackets for "@" and ".": "maria dot lopez at gmail dot
//!     com", "peter(at)hotmail(dot)com", "jsmith [at] protonmail [dot] me",
//!     "sam-at-fastmail-dot-fm", "john at gmail.com", "anna underscore k at
//!     icloud". A plain " at " counts only before a known mail provider or
//!     a spelled-out "dot" and a real top-level domain, so "meet at the
//!     station" is no address;
//!   - spaced letters: "m a r i a @ g m a i l . c o m", "j.o.h.n @ g.m.a.i.l
//!     . c.o.m";
//!   - a provider named with the user name: "my gmail is tony1977",
//!     "on yahoo, username marialopez" (also other countries' free mail:
//!     libero, seznam, laposte, rambler, naver, freenet, tutanota, qq, …),
//!     "gmail: tony1977" (value `tony1977@gmail.com`).

use std::sync::LazyLock;

use regex::{Captures, Regex};

use super::web::is_tld;
use super::{Words, hit};
use crate::intake::policy::Hit;

/// `local@domain.tld`.
static PLAIN: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)[\p{L}\p{N}_][\p{L}\p{N}._%+\-]*@(?:[a-z0-9](?:[a-z0-9\-]*[a-z0-9])?\.)+(?:[a-z]{2,24}|xn--[a-z0-9\-]{2,30})(?-u:\b)",
    )
    .expect("email regex")
});

/// Separators that stand for "@" and "." in obfuscated addresses.
const AT: &str = r"\s*[(\[{<]\s*at\s*[)\]}>]\s*|\s+at\s+|-at-|_at_|\s+@\s*|@\s+";
const DOT: &str = r"\s*[(\[{<]\s*dot\s*[)\]}>]\s*|\s+dot\s+|-dot-|_dot_|\.";

/// Words and brackets for "@" and ".".
static WORDS: LazyLock<Regex> = LazyLock::new(|| {
    let local_join = format!(r"{DOT}|\s+underscore\s+|_");
    Regex::new(&format!(
        r"(?i)(?-u:\b)(?P<local>[a-z0-9+]+(?:(?:{local_join})[a-z0-9+]+){{0,6}})(?P<at>{AT})(?P<domain>[a-z0-9]+(?:(?:{DOT})[a-z0-9]+){{0,5}})(?-u:\b)"
    ))
    .expect("obfuscated email regex")
});

/// Letters and digits separated by spaces or dots, on both sides of "@".
static SPACED: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)(?-u:\b)(?P<local>[a-z0-9](?:[ .][a-z0-9]){2,40})\s*(?:@|[(\[]at[)\]])\s*(?P<domain>[a-z0-9](?:(?:[ .]| \. )[a-z0-9]){3,60})(?-u:\b)",
    )
    .expect("spaced email regex")
});

/// "my gmail is NAME", "gmail: NAME", "on yahoo, username NAME".
static PROVIDER_IS: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)(?P<my>(?-u:\b)my\s+)?(?-u:\b)(?P<provider>gmail|yahoo|hotmail|outlook|icloud|protonmail|proton|aol|gmx|yandex|libero|seznam|laposte|rambler|naver|freenet|tutanota|rediffmail|mailru)(?:\s+(?:address|account|id))?(?:\s+is\s+|\s*[:=]\s*|[\s,;]+(?P<named>user\s*name|user\s*id|login|handle)(?:\s+is\s+|\s*[:=]\s*|\s+))(?P<name>[a-z0-9][a-z0-9._+\-]{2,63})(?-u:\b)",
    )
    .expect("provider email regex")
});

/// Mail providers whose name alone implies the domain, with that domain.
const PROVIDERS: &[(&str, &str)] = &[
    ("gmail", "gmail.com"),
    ("googlemail", "googlemail.com"),
    ("yahoo", "yahoo.com"),
    ("hotmail", "hotmail.com"),
    ("outlook", "outlook.com"),
    ("msn", "msn.com"),
    ("icloud", "icloud.com"),
    ("aol", "aol.com"),
    ("protonmail", "protonmail.com"),
    ("proton", "proton.me"),
    ("gmx", "gmx.com"),
    ("yandex", "yandex.com"),
    ("fastmail", "fastmail.com"),
    ("zoho", "zoho.com"),
    ("comcast", "comcast.net"),
    ("verizon", "verizon.net"),
    // Other countries' free mail, named by a word that is nothing else.
    ("libero", "libero.it"),
    ("seznam", "seznam.cz"),
    ("laposte", "laposte.net"),
    ("rambler", "rambler.ru"),
    ("naver", "naver.com"),
    ("freenet", "freenet.de"),
    ("tutanota", "tutanota.com"),
    ("rediffmail", "rediffmail.com"),
    ("mailru", "mail.ru"),
    ("qq", "qq.com"),
];

fn provider_domain(name: &str) -> Option<&'static str> {
    PROVIDERS
        .iter()
        .find(|(p, _)| p.eq_ignore_ascii_case(name))
        .map(|&(_, d)| d)
}

/// Words after "my gmail is" that say something about the account, not
/// its name.
const NOT_NAMES: &[&str] = &[
    "the", "not", "down", "full", "fine", "broken", "blocked", "better", "best", "same", "easier",
    "faster", "working", "hacked", "new", "old", "below", "above", "attached", "private",
];

pub(super) fn detect(text: &str, words: &Words, hits: &mut Vec<Hit>) {
    words.at_sign.search(text, (256, 256), &PLAIN, |_, c| {
        let m = c.get(0).expect("group 0");
        hits.push(hit("email", m.start(), m.end(), m.as_str().to_lowercase()));
        m.end()
    });
    let marked = words.at_sign.or(&words.at_marked);
    marked.search(text, (128, 128), &SPACED, |_, c| {
        spaced(&c, hits);
        c.get(0).expect("group 0").end()
    });
    // A bare " at " makes an address only before a provider or with a
    // spelled-out "dot"; the address is around one of them, or around a
    // marked "at".
    if marked.any() || words.at_word.any() && (words.provider.any() || words.dot_word.any()) {
        let around = marked.or(&words.provider).or(&words.dot_word);
        around.search(text, (256, 256), &WORDS, |_, c| obfuscated(&c, hits));
    }
    words
        .provider
        .search(text, (16, 128), &PROVIDER_IS, |_, c| {
            provider_is(&c, hits);
            c.get(0).expect("group 0").end()
        });
}

/// A word-obfuscated candidate: a hit if it is an address. A candidate
/// that is none ("me at maria dot lopez" before "maria dot lopez at gmail
/// dot com") has the search go on from its "at", so the real address behind
/// it is found.
fn obfuscated(c: &Captures, hits: &mut Vec<Hit>) -> usize {
    let at = c.name("at").expect("group at");
    let m = c.get(0).expect("group 0");
    match reconstruct(&c["local"], at.as_str(), &c["domain"]) {
        Some(value) => {
            hits.push(hit("email_obfuscated", m.start(), m.end(), value));
            m.end()
        }
        None => at.start(),
    }
}

/// The address behind a word-obfuscated candidate, if it is one.
fn reconstruct(local: &str, at: &str, domain: &str) -> Option<String> {
    let at_word = at.trim().eq_ignore_ascii_case("at");
    let labels = split_dots(domain);
    // "gmail dot com", "hotmail(dot)com": longer than the labels and dots.
    let spelled_dot = domain.len() + 1 != labels.iter().map(|l| l.len() + 1).sum::<usize>();
    let last = labels.last()?.to_ascii_lowercase();
    let host = if labels.len() >= 2 && is_tld(&last) {
        // "john at shop.co.uk": with a bare " at ", only a known provider
        // or a spelled-out "dot" makes it an address.
        if at_word && !spelled_dot && provider_domain(labels[0]).is_none() {
            return None;
        }
        labels.join(".").to_ascii_lowercase()
    } else if let Some(d) = provider_domain(labels[0]).filter(|_| labels.len() == 1) {
        d.to_string()
    } else {
        return None;
    };
    let local = normalise_local(local);
    if local.is_empty() || local.len() > 64 {
        return None;
    }
    Some(format!("{local}@{host}"))
}

/// Splits at the separators for "." (words, brackets or dots).
fn split_dots(s: &str) -> Vec<&str> {
    s.split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty() && !w.eq_ignore_ascii_case("dot"))
        .collect()
}

/// "maria dot lopez" → `maria.lopez`, "anna underscore k" → `anna_k`.
fn normalise_local(local: &str) -> String {
    let mut out = String::new();
    let mut sep = "";
    for word in local.split(|c: char| c.is_whitespace() || "()[]{}<>-".contains(c)) {
        match word.to_ascii_lowercase().as_str() {
            "" => {}
            "dot" => sep = ".",
            "underscore" => sep = "_",
            w => {
                out.push_str(sep);
                out.push_str(w);
                sep = "";
            }
        }
    }
    out
}

fn spaced(c: &Captures, hits: &mut Vec<Hit>) {
    let m = c.get(0).expect("group 0");
    let local: String = c["local"]
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .collect();
    let domain = &c["domain"];
    // The real dots are the ones set off by spaces ("g.m.a.i.l . c.o.m"),
    // or, with letters spaced by blanks, the dots themselves.
    let parts: Vec<String> = if domain.contains(" .") || domain.contains(". ") {
        domain
            .split(" . ")
            .flat_map(|p| p.split(". "))
            .flat_map(|p| p.split(" ."))
            .map(|p| p.chars().filter(char::is_ascii_alphanumeric).collect())
            .collect()
    } else if domain.contains(' ') {
        domain
            .split('.')
            .map(|p| p.chars().filter(char::is_ascii_alphanumeric).collect())
            .collect()
    } else {
        split_provider(&domain.replace('.', ""))
    };
    let host = parts.join(".").to_ascii_lowercase();
    let tld_ok = parts.len() >= 2
        && parts
            .last()
            .is_some_and(|t| is_tld(&t.to_ascii_lowercase()));
    if !tld_ok || local.len() < 3 {
        return;
    }
    hits.push(hit(
        "email_obfuscated",
        m.start(),
        m.end(),
        format!("{}@{host}", local.to_ascii_lowercase()),
    ));
}

/// "gmailcom" → ["gmail", "com"] when it starts with a known provider.
fn split_provider(joined: &str) -> Vec<String> {
    let lower = joined.to_ascii_lowercase();
    for (p, _) in PROVIDERS {
        if let Some(rest) = lower.strip_prefix(p)
            && is_tld(rest)
        {
            return vec![p.to_string(), rest.to_string()];
        }
    }
    vec![lower]
}

fn provider_is(c: &Captures, hits: &mut Vec<Hit>) {
    let name = c["name"].trim_end_matches(['.', '-']);
    let lower = name.to_ascii_lowercase();
    if NOT_NAMES.contains(&lower.as_str()) || lower.contains('@') {
        return;
    }
    // Without "my", only a name that looks like one ("tony1977",
    // "j.smith"), not a word ("gmail is slow").
    let namelike = lower.contains(|c: char| c.is_ascii_digit() || c == '.' || c == '_');
    if c.name("my").is_none() && c.name("named").is_none() && !namelike {
        return;
    }
    let provider = c.name("provider").expect("group provider");
    let Some(domain) = provider_domain(provider.as_str()) else {
        return;
    };
    let start = c.name("my").map_or(provider.start(), |m| m.start());
    let end = c.name("name").expect("group name").start() + name.len();
    hits.push(hit(
        "email_obfuscated",
        start,
        end,
        format!("{lower}@{domain}"),
    ));
}
