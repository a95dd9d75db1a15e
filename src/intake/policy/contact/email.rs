//! Email addresses, written plainly or obfuscated to slip past a filter.
//!
//! - `email`: `local@domain.tld` (the local part may be non-ASCII, the top-level domain alphabetic or an IDN
//!   `xn--` label); value the lowercased address.
//! - `email_obfuscated`, value the reconstructed address:
//!   - words or brackets for "@" and ".": "maria dot lopez at gmail dot
//!     com", "peter(at)hotmail(dot)com", "jsmith [at] protonmail [dot] me",
//!     "sam-at-fastmail-dot-fm", "john at gmail.com", "anna underscore k at
//!     icloud", "kyle[.]brennan[@]aol[.]com", and the words of other
//!     languages ("arroba", "arobase", "ät", "chiocciola", "małpa",
//!     "apenstaartje" for "@"; "punto", "point", "punkt", "kropka", "punt"
//!     for "."). A plain " at " counts only before a known mail provider or
//!     a spelled-out "dot" and a real top-level domain, so "meet at the
//!     station" is no address;
//!   - spaced letters: "m a r i a @ g m a i l . c o m", "j.o.h.n @ g.m.a.i.l
//!     . c.o.m", "g-r-a-c-e-.-l-e-e-@-y-a-h-o-o-.-c-o-m", "tony77 @ g m a i
//!     l", "j-e-n-n-y at hotmail" (one side at least spaced out);
//!   - a provider named with the user name: "my gmail is tony1977",
//!     "on yahoo, username marialopez" (also other countries' free mail:
//!     libero, seznam, laposte, rambler, naver, freenet, tutanota, qq, …),
//!     "gmail: tony1977" (value `tony1977@gmail.com`);
//!   - an address told in parts: a provider beside "username", "first
//!     name", "last name" or "same name" ("my username is claire.dunn and
//!     it's a gmail account"; value the domain, `@gmail.com`), not in a
//!     question about the other's address.

use std::sync::LazyLock;

use regex::{Captures, Regex};

use super::web::is_tld;
use super::{WordList, Words, hit};
use crate::intake::policy::Hit;

/// `local@domain.tld`.
static PLAIN: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)[\p{L}\p{N}_][\p{L}\p{N}._%+\-]*@(?:[a-z0-9](?:[a-z0-9\-]*[a-z0-9])?\.)+(?:[a-z]{2,24}|xn--[a-z0-9\-]{2,30})(?-u:\b)",
    )
    .expect("email regex")
});

/// The words for "@" of other languages (lowercase): Spanish and
/// Portuguese "arroba", French "arobase", German "ät" and "klammeraffe",
/// Italian "chiocciola", Polish "małpa", Dutch "apenstaartje", Danish and
/// Swedish "snabel", Hungarian "kukac", Czech "zavináč", Russian "sobaka".
pub(super) const AT_WORDS: &[&str] = &[
    "arroba",
    "arobase",
    "ät",
    "klammeraffe",
    "chiocciola",
    "małpa",
    "malpa",
    "apenstaartje",
    "apestaartje",
    "snabel",
    "kukac",
    "zavináč",
    "zavinac",
    "sobaka",
    "собака",
];

/// The words for "." of other languages (lowercase): "punto", "point",
/// "punkt", "kropka", "punt", "piste", "ponto", "tečka", "prikk", "pont",
/// "nokta", "точка".
pub(super) const DOT_WORDS: WordList = WordList::new(&[
    "punto",
    "point",
    "punkt",
    "kropka",
    "punt",
    "piste",
    "ponto",
    "tečka",
    "tecka",
    "prikk",
    "pont",
    "nokta",
    "точка",
]);

/// Separators that stand for "@" and "." in obfuscated addresses: words
/// (of many languages) or the signs in brackets ("[@]", "(.)").
static AT: LazyLock<String> = LazyLock::new(|| {
    format!(
        r"\s*[(\[{{<]\s*(?:at|@)\s*[)\]}}>]\s*|\s+at\s+|-at-|_at_|\s+@\s*|@\s+|\s+(?:{})\s+",
        AT_WORDS.join("|")
    )
});
static DOT: LazyLock<String> = LazyLock::new(|| {
    format!(
        r"\s*[(\[{{<]\s*(?:dot|\.)\s*[)\]}}>]\s*|\s+dot\s+|-dot-|_dot_|\.|\s+(?:{})\s+",
        DOT_WORDS.words.join("|")
    )
});

/// Whether `w` is a word for ".".
fn is_dot_word(w: &str) -> bool {
    w.eq_ignore_ascii_case("dot") || DOT_WORDS.holds(w)
}

/// Words and brackets for "@" and ".".
///
/// Its parts repeat without a count (`*`, not `{0,6}`): a count copies the
/// part's automaton once per repetition (2,590 states against 694), and
/// the search for the groups clears a bit per state and byte of the match.
/// The windows it searches bound a match instead ([`LOCAL_PART`] before
/// its "at", [`AT_TO_DOMAIN`] after), and [`reconstruct`] keeps the last
/// 64 bytes of a longer local part. [`SPACED`] is written the same way.
static WORDS: LazyLock<Regex> = LazyLock::new(|| {
    let (at, dot) = (AT.as_str(), DOT.as_str());
    let local_join = format!(r"{dot}|\s+underscore\s+|_");
    Regex::new(&format!(
        r"(?i)(?-u:\b)(?P<local>[a-z0-9+]+(?:(?:{local_join})[a-z0-9+]+)*)(?P<at>{at})(?P<domain>[a-z0-9]+(?:(?:{dot})[a-z0-9]+)*)(?-u:\b)"
    ))
    .expect("obfuscated email regex")
});

/// Letters and digits separated by spaces, dots, hyphens or underscores
/// on either side of "@" ("m a r i a @ g m a i l . c o m",
/// "g-r-a-c-e-.-l-e-e-@-y-a-h-o-o-.-c-o-m", "mikejones1982 @ g m a i l",
/// "j-e-n-n-y at hotmail"): one side at least spaced out.
static SPACED: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)(?-u:\b)(?P<local>[a-z0-9](?:(?:[ ._\-]|-\.-| \. )[a-z0-9]){2,}|[a-z0-9][a-z0-9._\-]+)(?P<at>\s*(?:-?@-?|[(\[]\s*(?:at|@)\s*[)\]])\s*|\s+at\s+)(?:(?P<domain>[a-z0-9](?:(?:[ .\-]| \. |-\.-)[a-z0-9]){3,})|(?P<plain>[a-z0-9]+(?:\.[a-z0-9]+)*))(?-u:\b)",
    )
    .expect("spaced email regex")
});

/// An address told in parts: a provider named beside "username", "first
/// name", "last name" or "same name" ("my username is claire.dunn and
/// it's a gmail account", "hotmail, first name last name").
static IN_PARTS: LazyLock<Regex> = LazyLock::new(|| {
    let provider = "gmail|googlemail|yahoo|hotmail|outlook|icloud|aol|protonmail|proton|gmx|yandex|fastmail|zoho|libero|seznam|laposte|rambler|naver|freenet|tutanota|rediffmail|mailru";
    let keys = r"user\s?name|first\s+name|last\s+name|surname|same\s+(?:name|handle)|same\s+as\s+(?:my|the)\s+(?:name|username|handle)";
    Regex::new(&format!(
        r"(?i)(?-u:\b)(?:(?P<p1>{provider})(?-u:\b)[^\n]{{0,60}}?(?-u:\b)(?:{keys})|(?:{keys})(?-u:\b)[^\n]{{0,60}}?(?-u:\b)(?P<p2>{provider}))(?-u:\b)"
    ))
    .expect("email in parts regex")
});

/// "my gmail is NAME", "gmail: NAME", "on yahoo, username NAME".
static PROVIDER_IS: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)(?P<my>(?-u:\b)my\s+)?(?-u:\b)(?P<provider>gmail|yahoo|hotmail|outlook|icloud|protonmail|proton|aol|gmx|yandex|libero|seznam|laposte|rambler|naver|freenet|tutanota|rediffmail|mailru)(?:\s+(?:address|account|id))?(?:\s+is\s+|\s*[:=]\s*|[\s,;]+(?P<named>user\s*name|user\s*id|login|handle)(?:\s+is\s+|\s*[:=]\s*|\s+))(?P<name>[a-z0-9][a-z0-9._+\-]{2,63})(?-u:\b)",
    )
    .expect("provider email regex")
});

/// Mail providers whose name alone implies the domain, with that domain;
/// the word scan ([`super::Words`]) notes these names.
pub(super) const PROVIDERS: &[(&str, &str)] = &[
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

/// How far a provider's name or a spelled "dot" may be after a bare " at "
/// to make it an address's.
const AT_TO_DOMAIN: usize = 160;

/// How far before its "at" a word-obfuscated address starts at most (its
/// local part: seven words and their separators).
const LOCAL_PART: usize = 112;

pub(super) fn detect(text: &str, words: &Words, hits: &mut Vec<Hit>) {
    words.at_sign.find(text, (256, 256), &PLAIN, |_, m| {
        hits.push(hit("email", m.start(), m.end(), m.as_str().to_lowercase()));
        m.end()
    });
    // Every obfuscated address has an "at" of some kind: the windows are
    // around those. A bare " at " makes one only before a provider
    // ("j-e-n-n-y at hotmail", "maria at gmail") or a spelled-out "dot"
    // ("maria dot lopez at mariasvintage dot com"): "yesterday at 10" is
    // not searched.
    let marked = words.at_sign.or(&words.at_marked);
    let at_provider = words.at_word.followed_by(&words.provider, AT_TO_DOMAIN);
    marked
        .or(&at_provider)
        .find(text, (128, 128), &SPACED, |hay, m| {
            // Most candidates are a word, an "at" and a word ("lopez at
            // gmail"): without a letter spaced out there is nothing to
            // rebuild, and the groups (a slower search) are not needed.
            if has_spaced_run(m.as_str())
                && let Some(c) = SPACED.captures_at(hay, m.start())
            {
                spaced(&c, hits);
            }
            m.end()
        });
    let at_spelled = words
        .at_word
        .followed_by(&words.provider.or(&words.dot_word), AT_TO_DOMAIN);
    marked
        .or(&at_spelled)
        .search(text, (LOCAL_PART, AT_TO_DOMAIN + 64), &WORDS, |_, c| {
            obfuscated(&c, hits)
        });
    words
        .provider
        .search(text, (16, 128), &PROVIDER_IS, |_, c| {
            provider_is(&c, hits);
            c.get(0).expect("group 0").end()
        });
    words.provider.search(text, (80, 80), &IN_PARTS, |hay, c| {
        let m = c.get(0).expect("group 0");
        let provider = c.name("p1").or(c.name("p2")).expect("a provider");
        // "is your yahoo username the same as here?": a question about
        // the other's address gives none.
        let from = m.start() - crate::intake::policy::text_before(hay, m.start(), 24).len();
        let asked = hay[from..m.end()].to_ascii_lowercase().contains("your")
            || hay[m.end()..]
                .split(['.', '!', '\n'])
                .next()
                .is_some_and(|r| r.contains('?'));
        if let Some(domain) = provider_domain(provider.as_str()).filter(|_| !asked) {
            hits.push(hit(
                "email_obfuscated",
                m.start(),
                m.end(),
                format!("@{domain}"),
            ));
        }
        m.end()
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
    let mut local = normalise_local(local);
    // An address's local part has at most 64 bytes: the words before
    // those are not part of it.
    while local.len() > 64
        && let Some(sep) = local.find(['.', '_'])
    {
        local.drain(..=sep);
    }
    if local.is_empty() || local.len() > 64 {
        return None;
    }
    Some(format!("{local}@{host}"))
}

/// Splits at the separators for "." (words, brackets or dots).
fn split_dots(s: &str) -> Vec<&str> {
    s.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty() && !is_dot_word(w))
        .collect()
}

/// "maria dot lopez" → `maria.lopez`, "anna underscore k" → `anna_k`.
fn normalise_local(local: &str) -> String {
    let mut out = String::new();
    let mut sep = "";
    for word in local.split(|c: char| c.is_whitespace() || "()[]{}<>-".contains(c)) {
        match word.to_lowercase().as_str() {
            "" => {}
            "." => sep = ".",
            w if is_dot_word(w) => sep = ".",
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

/// Whether `s` has three letters or digits in a row that stand alone
/// ("m a r", "g-m-a"): an address spelt out has them in its local part or
/// in its domain, so a [`SPACED`] match without them is no hit.
pub(super) fn has_spaced_run(s: &str) -> bool {
    let mut singles = 0;
    for run in alnum_runs(s) {
        singles = if run.len() == 1 { singles + 1 } else { 0 };
        if singles == 3 {
            return true;
        }
    }
    false
}

/// The runs of ASCII letters and digits in `s`.
fn alnum_runs(s: &str) -> impl Iterator<Item = &str> {
    s.split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|r| !r.is_empty())
}

fn spaced(c: &Captures, hits: &mut Vec<Hit>) {
    let m = c.get(0).expect("group 0");
    let local_raw = &c["local"];
    // Spaced out: every run of letters and digits is one long.
    let is_spaced = |s: &str| {
        let runs: Vec<&str> = alnum_runs(s).collect();
        runs.len() >= 3 && runs.iter().all(|r| r.len() == 1)
    };
    let local_spaced = is_spaced(local_raw);
    let at_word = c["at"].trim().eq_ignore_ascii_case("at");
    // A dot set off by separators is a real one ("g-r-a-c-e-.-l-e-e");
    // the other separators go.
    let local: String = local_raw
        .replace("-.-", "\u{1}")
        .replace(" . ", "\u{1}")
        .chars()
        .filter_map(|c| match c {
            '\u{1}' => Some('.'),
            c if c.is_ascii_alphanumeric() => Some(c),
            _ => None,
        })
        .collect();
    let parts: Vec<String> = if let Some(plain) = c.name("plain") {
        // "j-e-n-n-y at hotmail": the local part spaced, the domain not.
        if !local_spaced {
            return;
        }
        let labels = split_dots(plain.as_str());
        match (labels.as_slice(), provider_domain(labels[0])) {
            ([_], Some(d)) => d.split('.').map(str::to_string).collect(),
            _ => labels.iter().map(|l| l.to_string()).collect(),
        }
    } else {
        if at_word && !local_spaced {
            return;
        }
        let domain = c["domain"].replace("-.-", " . ").replace('-', " ");
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
        // "@ g m a i l": a provider alone.
        match parts.as_slice() {
            [one] if provider_domain(one).is_some() => provider_domain(one)
                .expect("a provider")
                .split('.')
                .map(str::to_string)
                .collect(),
            _ => parts,
        }
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
