//! URLs, bare domains and link shorteners.
//!
//! - `url`: `http://…`, `https://…` (any host with a dot and an alphabetic
//!   or `xn--` top-level domain, or an IPv4 address) and `www.…` (a known
//!   top-level domain);
//! - `domain`: a bare host (internationalised ones too: `straße.de`) such as `oldbarnfinds.com` or `www.shop.co.uk`,
//!   only when its last label is a real top-level domain (the list below),
//!   so that file names (`photo.jpg`), decimals (`3.5`), abbreviations
//!   (`e.g.`) and a missing space after a full stop ("fine.Thanks") are not
//!   domains;
//! - `url` too: a scheme spelled out letter by letter ("h t t p s : / /
//!   shop . store");
//! - `domain` too: a host written out in words ("mariasvintage dot com",
//!   "barnfinds (dot) de", "jasonquill(.)art", "tienda punto es", "www dot
//!   shop dot co dot uk"): labels joined by
//!   the word "dot" (in brackets or not), the last a top-level domain that
//!   is not an English word, the first not a common word ("the dot com
//!   bubble");
//! - `shortener`: either of the above whose host is a link shortener
//!   (`bit.ly`, `tinyurl.com`, …), which hides where it leads.
//!
//! The value is the lowercase host.

use std::collections::HashSet;
use std::sync::LazyLock;

use regex::Regex;

use super::{Seen, char_at, char_before, hit};
use crate::intake::policy::Hit;

/// URLs with a scheme or `www.`.
static URL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"(?i)(?-u:\b)(?:https?://|www\.)[^\s<>"'()\[\]{}]+"#).expect("url regex")
});

/// A scheme spelled out letter by letter ("h t t p s : / /", "h-t-t-p")
/// and the host after it, its dots maybe set off by spaces.
static SPACED_URL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)(?-u:\b)h[ \-]t[ \-]t[ \-]p(?:[ \-]?s)?[ \-]*:[ \-]*/[ \-]*/[ \-]*(?P<host>[a-z0-9\-]+(?: ?\. ?[a-z0-9\-]+)+)",
    )
    .expect("spaced url regex")
});

/// Link shorteners: the link hides its destination.
const SHORTENERS: &[&str] = &[
    "bit.ly",
    "bitly.com",
    "tinyurl.com",
    "t.co",
    "goo.gl",
    "ow.ly",
    "is.gd",
    "v.gd",
    "buff.ly",
    "cutt.ly",
    "rebrand.ly",
    "tiny.cc",
    "shorturl.at",
    "rb.gy",
    "t.ly",
    "bl.ink",
    "lnkd.in",
    "s.id",
    "soo.gd",
    "clck.ru",
    "shorte.st",
    "adf.ly",
    "tr.im",
    "qrco.de",
    "linktr.ee",
    "short.io",
];

/// Top-level domains that are also English words.
const WORD_TLDS: &[&str] = &[
    "am", "an", "as", "at", "be", "by", "do", "in", "is", "it", "me", "my", "no", "so", "to", "us",
];

/// Hosts on such domains that are contact details by themselves.
const KNOWN_HOSTS: &[&str] = &["t.me", "wa.me", "m.me", "about.me", "telegram.me", "ig.me"];

/// Country-code top-level domains, and those left out on purpose: `md`,
/// `sh`, `py`, `rs` end file names far more often than hosts in a message.
const CC_TLDS: &str = "ac ad ae af ag ai al am ao aq ar as at au aw ax az ba bb bd be bf bg bh bi \
bj bm bn bo br bs bt bw by bz ca cc cd cf cg ch ci ck cl cm cn co cr cu cv cw cx cy cz de dj dk dm \
do dz ec ee eg er es et eu fi fj fk fm fo fr ga gd ge gf gg gh gi gl gm gn gp gq gr gs gt gu gw gy \
hk hm hn hr ht hu id ie il im in io iq ir is it je jm jo jp ke kg kh ki km kn kp kr kw ky kz la lb \
lc li lk lr ls lt lu lv ly ma mc me mg mh mk ml mm mn mo mp mq mr ms mt mu mv mw mx my mz na nc ne \
nf ng ni nl no np nr nu nz om pa pe pf pg ph pk pl pm pn pr ps pt pw qa re ro ru rw sa sb sc sd se \
sg si sk sl sm sn so sr ss st su sv sx sy sz tc td tf tg th tj tk tl tm tn to tr tt tv tw tz ua ug \
uk us uy uz va vc ve vg vi vn vu wf ws ye yt za zm zw";

/// Generic top-level domains seen in contact spam and shop links; `zip`
/// and `mov` are left out (file names).
const G_TLDS: &str = "com net org info biz edu gov mil int name pro mobi asia aero coop jobs tel \
travel xxx shop store online site website web tech app dev xyz club top live blog art design page \
link click space fun vip win bid trade market sale deals company agency email studio photo photos \
gallery today world life news network media digital solutions services center cloud host ltd llc \
inc global social chat video tv games fashion boutique jewelry watch auction cam webcam rocks ninja \
guru expert vlaanderen berlin london nyc paris amsterdam wien brussels tokyo";

/// The word "dot" between two labels, in brackets or not.
/// Also a dot in brackets ("(.)", "[.]") and the word of other languages
/// ("punto", "punkt", "point", "kropka", "punt").
const SPELLED_DOT_PATTERN: &str = r"[ \t]*(?:[(\[{<][ \t]*\.[ \t]*[)\]}>]|[(\[{<]?[ \t]*(?:dot|punto|punkt|point|kropka|punt)[ \t]*[)\]}>]?)[ \t]*";

/// Labels joined by a spelled dot: the host's labels, the last one apart.
static SPELLED: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(&format!(
        r"(?i)(?-u:\b)((?:[a-z0-9][a-z0-9-]*{SPELLED_DOT_PATTERN})+)([a-z]{{2,6}})(?-u:\b)"
    ))
    .expect("spelled host regex")
});

/// The spelled dot between a host's labels, to split them.
static SPELLED_DOT: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(&format!("(?i){SPELLED_DOT_PATTERN}")).expect("spelled dot regex"));

/// Words that come before "dot com" without naming a host.
const NOT_A_LABEL: &[&str] = &[
    "a", "an", "the", "this", "that", "old", "new", "big", "first", "one", "red", "black", "white",
    "polka", "dot",
];

/// Hosts written out in words around the spelled dots `dots` saw
/// ("mariasvintage dot com"): rule `domain` (or `shortener`), the value
/// the host as written with dots. A host's first label (at most 63
/// letters) is before its first spelled dot, its top-level domain after
/// the last one.
pub(super) fn spelled(text: &str, dots: &Seen, hits: &mut Vec<Hit>) {
    dots.find(text, (72, 80), &SPELLED, |hay, whole| {
        // "maria dot lopez": most candidates end in no top-level domain,
        // which the last two to six letters would be; only the others are
        // cut into their labels (a slower search).
        let letters = whole
            .as_str()
            .bytes()
            .rev()
            .take_while(u8::is_ascii_alphabetic)
            .count();
        let found = whole.as_str();
        let tld_at_end =
            (2..=letters.min(6)).any(|n| is_tld(&found[found.len() - n..].to_ascii_lowercase()));
        if tld_at_end
            && let Some(caps) = SPELLED.captures(&hay[whole.start()..whole.end()])
            && let (Some(labels), Some(tld)) = (caps.get(1), caps.get(2))
        {
            spelled_host(whole, labels.as_str(), tld.as_str(), hits);
        }
        whole.end()
    });
}

/// A host written out in words, if `labels` and `tld` make one.
fn spelled_host(whole: regex::Match, labels: &str, tld: &str, hits: &mut Vec<Hit>) {
    let tld = tld.to_lowercase();
    if !is_tld(&tld) || WORD_TLDS.contains(&tld.as_str()) {
        return;
    }
    let labels: Vec<String> = SPELLED_DOT
        .split(labels.trim())
        .filter(|l| !l.is_empty())
        .map(str::to_lowercase)
        .collect();
    let Some(first) = labels.first() else {
        return;
    };
    if NOT_A_LABEL.contains(&first.as_str()) {
        return;
    }
    let host = format!("{}.{tld}", labels.join("."));
    if host_ok(&host, false) {
        hits.push(hit(
            rule_for(&host, "domain"),
            whole.start(),
            whole.end(),
            host,
        ));
    }
}

/// Both lists, for lookups.
static TLDS: LazyLock<HashSet<&'static str>> = LazyLock::new(|| {
    CC_TLDS
        .split_ascii_whitespace()
        .chain(G_TLDS.split_ascii_whitespace())
        .collect()
});

/// Whether `tld` (lowercase, no dot) is a top-level domain we recognise.
pub(super) fn is_tld(tld: &str) -> bool {
    if let Some(idn) = tld.strip_prefix("xn--") {
        return !idn.is_empty();
    }
    TLDS.contains(tld)
}

pub(super) fn detect(text: &str, hits: &mut Vec<Hit>) {
    if !text.as_bytes().contains(&b'.') {
        return;
    }
    if text.contains("t t p") || text.contains("t-t-p") || text.contains("T T P") {
        for c in SPACED_URL.captures_iter(text) {
            let m = c.get(0).expect("group 0");
            let host: String = c["host"].chars().filter(|c| *c != ' ').collect();
            let host = host.to_ascii_lowercase();
            if host_ok(&host, false) {
                hits.push(hit(rule_for(&host, "url"), m.start(), m.end(), host));
            }
        }
    }
    for m in URL.find_iter(text) {
        let s = m.as_str().trim_end_matches(['.', ',', ';', ':', '!', '?']);
        let with_scheme = s.contains("://");
        let host = host_of(s);
        if !host_ok(&host, with_scheme) {
            continue;
        }
        hits.push(hit(
            rule_for(&host, "url"),
            m.start(),
            m.start() + s.len(),
            host,
        ));
    }
    for (start, end) in bare_hosts(text) {
        let s = text[start..end].trim_end_matches(['.', ',', ';', ':', '!', '?']);
        // Part of an address, a URL's path or a longer word.
        if char_before(text, start).is_some_and(|c| "@./-_".contains(c))
            || matches!(char_at(text, end), Some('@' | '_'))
        {
            continue;
        }
        let host_len = s.find('/').unwrap_or(s.len());
        let raw_host = &s[..host_len];
        let Some((rest, tld)) = raw_host.rsplit_once('.') else {
            continue;
        };
        // "fine.Thanks": a host is written in one case. Most candidates
        // ("3.5", "photo1.jpg") end in no top-level domain.
        let lower_tld = tld.bytes().all(|b| b.is_ascii_lowercase());
        let one_case = lower_tld || tld.bytes().all(|b| b.is_ascii_uppercase());
        if !one_case
            || !(if lower_tld {
                is_tld(tld)
            } else {
                is_tld(&tld.to_ascii_lowercase())
            })
        {
            continue;
        }
        let label = rest.rsplit('.').next().unwrap_or(rest);
        let host = raw_host.to_lowercase();
        // "ok.so", "fine.to": a top-level domain that is also an English
        // word needs more to be a host: a path, a subdomain, or a known
        // host (t.me).
        let word_tld = WORD_TLDS.contains(&host.rsplit('.').next().unwrap_or(""));
        let more = s.len() > host_len
            || host.matches('.').count() >= 2
            || KNOWN_HOSTS.contains(&host.as_str());
        if !label.chars().any(char::is_alphabetic) || !host_ok(&host, false) || word_tld && !more {
            continue;
        }
        hits.push(hit(rule_for(&host, "domain"), start, start + s.len(), host));
    }
}

/// Candidate bare hosts: runs of letters, digits, `-` and `.` around a
/// dot that has a letter or digit on both sides, with a `/path` after
/// them. A scan from dot to dot instead of a regex over every word: most
/// text has few such dots.
fn bare_hosts(text: &str) -> impl Iterator<Item = (usize, usize)> + '_ {
    let label = |c: char| c.is_alphanumeric() || c == '-' || c == '.';
    let mut from = 0;
    std::iter::from_fn(move || {
        while let Some(off) = text[from..].find('.') {
            let dot = from + off;
            from = dot + 1;
            let inside = |c: Option<char>| c.is_some_and(char::is_alphanumeric);
            if !inside(char_before(text, dot)) || !inside(char_at(text, dot + 1)) {
                continue;
            }
            let start = text[..dot]
                .char_indices()
                .rev()
                .take_while(|&(_, c)| label(c))
                .last()
                .map_or(dot, |(i, _)| i);
            let start =
                start + (text[start..].len() - text[start..].trim_start_matches(['.', '-']).len());
            let mut end = text[dot..]
                .char_indices()
                .find(|&(_, c)| !label(c))
                .map_or(text.len(), |(i, _)| dot + i);
            from = end;
            if text[end..].starts_with('/') {
                end += text[end..]
                    .find(|c: char| c.is_whitespace() || "<>\"'()[]{}".contains(c))
                    .unwrap_or(text.len() - end);
                from = end;
            }
            return Some((start, end));
        }
        None
    })
}

/// The lowercase host of a URL: after the scheme and any user, before the
/// port, path, query or fragment.
fn host_of(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or(rest);
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = host.split(':').next().unwrap_or(host);
    host.trim_end_matches('.').to_ascii_lowercase()
}

/// A host with a recognised top-level domain (with a scheme: any
/// alphabetic one, or an IPv4 address).
fn host_ok(host: &str, with_scheme: bool) -> bool {
    let Some((_, tld)) = host.rsplit_once('.') else {
        return false;
    };
    if with_scheme {
        let ipv4 = host.split('.').count() == 4
            && host
                .split('.')
                .all(|p| !p.is_empty() && p.len() <= 3 && p.bytes().all(|b| b.is_ascii_digit()));
        return ipv4
            || (tld.len() >= 2 && tld.bytes().all(|b| b.is_ascii_alphabetic()))
            || tld.starts_with("xn--");
    }
    is_tld(tld)
}

fn rule_for(host: &str, otherwise: &'static str) -> &'static str {
    let bare = host.strip_prefix("www.").unwrap_or(host);
    if SHORTENERS.contains(&bare) {
        "shortener"
    } else {
        otherwise
    }
}
