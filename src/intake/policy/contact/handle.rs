//! Social network and messenger handles.
//!
//! - `handle`: a user name tied to a platform: after its name ("my
//!   snapchat is dan_the_collector", "instagram @vintage_vera", "skype:
//!   dean.malmgren", "on Skype (dean.malmgren)", "on Skype. My ID is
//!   dean.malmgren"), before it ("i'm dean.malmgren on skype"), or a bare
//!   `@handle` that looks like one (a digit, `_` or `-` in it, or a
//!   platform named just before: "i tweet at @john_gmail"). The span is the
//!   handle itself (with its `@`); the value is `platform:handle` in
//!   lowercase (`skype:dean.malmgren`), or the handle alone when no
//!   platform is named.
//! - `messenger`: an invitation to continue on a messenger without a
//!   handle ("hit me up on telegram", "text me on WhatsApp", "add me on
//!   facebook", "let's continue on WA"), the platform as a verb ("WhatsApp
//!   me", "viber me"; not "snap me a photo"), in other languages
//!   ("scrivimi su WhatsApp", "napisz na Messengerze", Dutch "app me",
//!   "stuur een appje"): it steers the conversation off the platform all
//!   the same.
//!   Dropped when the same text gives a handle for that platform. The value
//!   is the platform.
//!
//! Plain words after a platform name are not handles ("on instagram for
//! more photos", "my instagram is private"), and the names that are also
//! English words (line, signal, snap, threads) need a `:`, `@` or bracket
//! before the handle, or a handle that cannot be a word.

use std::sync::LazyLock;

use regex::{Captures, Regex};

use super::{Words, char_at, char_before, hit};
use crate::intake::policy::Hit;

/// Platform names as people write them.
const PLATFORMS: &str = r"instagram|insta|ig|telegram|whats\s?app|wats\s?app|whatsap|watsap|snapchat|snap|discord|signal|wechat|weixin|kik|facebook|fb|messenger|tik\s?tok|twitter|tweet(?:s|er|ing)?|skype|line|viber|threads|linkedin|kakao(?:\s?talk)?|zalo|threema|imessage|facetime|vk";

/// Platform names inflected in other languages ("WhatsAppie",
/// "Messengerze", "Telegramie", "Facebooku").
const INFLECTED: &str = r"(?:whats\s?app|telegram|messenger|instagram|insta|facebook|snapchat|discord|signal|viber|skype)(?:ie|ze|em|u|a|e)";

/// Verbs and prepositions of other languages that invite to a messenger:
/// "scrivimi su", "schreib mir auf", "escríbeme por", "écris-moi sur",
/// "napisz na", "stuur me een bericht op".
const FOREIGN_INVITE: &str = r"(?:scrivimi|scrivetemi|scrivi|contattami|contattatemi|mandami|sentiamoci|schreib(?:e|t)?(?:\s+mir|\s+uns)?|kontaktier(?:e|en)?(?:\s+mich)?|meld(?:e)?\s+dich|escr[ií]beme|escr[ií]benos|escribe(?:me)?|cont[aá]ctame|m[aá]ndame|h[aá]blame|[ée]cris(?:-moi|\s+moi)?|[ée]crivez(?:-moi|\s+moi)?|contacte(?:z)?(?:-moi|\s+moi)?|ajoute(?:z)?(?:-moi|\s+moi)|napisz(?:cie)?(?:\s+do\s+mnie)?|pisz|odezwij\s+si[ęe]|stuur\s+(?:me\s+)?(?:een\s+)?(?:bericht(?:je)?|berichtje)|spreek\s+me|voeg\s+me\s+toe|me\s+chama|chama\s+no|manda\s+mensagem)\s+(?:su|sul|via|per|auf|über|ueber|bei|por|en|sur|par|na|przez|op|in|on|no|pelo|tramite)";

/// A handle: 3 to 32 characters of letters, digits, `_`, `.` and `-`.
const HANDLE: &str = r"[a-z0-9_][a-z0-9_.\-]{0,30}[a-z0-9_]";

static HANDLES: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(&format!(
        r"(?ix)
        # platform, then the handle: 'snapchat is x', 'skype: x', 'skype (x)', 'ig @x'
        (?-u:\b)(?P<p1>{PLATFORMS})(?-u:\b)
            (?:\s+(?:account|acct|id|handle|user\s?name|name))?
            (?P<c1>\s+is\s+|\s*[:=]\s*|\s+-\s+|\s*\(\s*|\s+)(?P<h1>@?{HANDLE})
        # the handle, then the platform: 'x on skype'
        | (?-u:\b)(?P<h2>{HANDLE})\s+on\s+(?:my\s+)?(?P<p2>{PLATFORMS})(?-u:\b)
        # platform, then within the sentence 'my id is x'
        | (?-u:\b)(?P<p3>{PLATFORMS})(?-u:\b)[^\n]{{0,40}}?(?-u:\b)(?:id|user\s?name|handle)(?:\s+is\s+|\s*:\s*)(?P<h3>@?{HANDLE})
        # a bare @handle
        | (?P<h4>@[a-z0-9_][a-z0-9_.\-]{{0,29}}[a-z0-9_])
        "
    ))
    .expect("handle regex")
});

static MESSENGER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(&format!(
        r"(?ix)
        # 'text me on whatsapp', 'let's continue on WA'
        (?-u:\b)(?:text|message|msg|contact|reach|call|ping|hit|add|find|dm|pm|chat\s+with|talk\s+to|write|follow|continue|move|switch|carry\s+on|take\s+(?:it|this))
            (?:\s+(?:me|us|this|the\s+chat|the\s+conversation))?(?:\s+up)?\s+(?:on|via|through|over(?:\s+to)?|in|to)\s+(?:my\s+)?(?P<p>{PLATFORMS}|wa)(?-u:\b)
        # 'WhatsApp me', 'viber me', 'fb messenger me'
        | (?-u:\b)(?P<pv>{PLATFORMS})\s+(?:me|us)(?-u:\b)
        # 'scrivimi su WhatsApp', 'napisz na Messengerze'
        | \b{FOREIGN_INVITE}\s+(?:mi\s+|mein(?:em)?\s+|mon\s+|m[oó]j\s+|moim\s+|meu\s+)?(?P<pf>{INFLECTED}|{PLATFORMS})\b
        # Dutch 'app me', 'stuur een appje': WhatsApp as a verb
        | (?-u:\b)(?P<app>app\s+me|appje|appen)(?-u:\b)
        "
    ))
    .expect("messenger regex")
});

/// Words that follow a platform name without being a handle.
const NOT_HANDLES: &[&str] = &[
    "the",
    "and",
    "for",
    "with",
    "you",
    "your",
    "this",
    "that",
    "there",
    "here",
    "too",
    "also",
    "only",
    "now",
    "then",
    "when",
    "please",
    "thanks",
    "thank",
    "message",
    "messages",
    "chat",
    "call",
    "text",
    "add",
    "find",
    "account",
    "page",
    "group",
    "profile",
    "app",
    "but",
    "not",
    "was",
    "are",
    "has",
    "have",
    "had",
    "private",
    "public",
    "down",
    "broken",
    "blocked",
    "banned",
    "deleted",
    "new",
    "old",
    "same",
    "fine",
    "better",
    "easier",
    "faster",
    "best",
    "open",
    "closed",
    "full",
    "free",
    "available",
    "marketplace",
    "story",
    "stories",
    "post",
    "posts",
    "photos",
    "pictures",
    "video",
    "videos",
    "link",
    "name",
    "handle",
    "username",
    "user",
    "instead",
    "today",
    "tomorrow",
    "tonight",
    "later",
    "soon",
    "or",
    "if",
    "is",
    "me",
    "my",
    "our",
    "his",
    "her",
    "their",
    "them",
    "him",
    "she",
    "they",
    "we",
    "it",
    "its",
    "can",
    "will",
    "would",
    "could",
    "should",
    "don",
    "didn",
    "doesn",
    "isn",
    "dm",
    "pm",
    "too",
    "yet",
    "very",
    "just",
    "more",
];

/// Platform names that are also common English words.
const WEAK: &[&str] = &["line", "signal", "snap", "threads"];

pub(super) fn detect(text: &str, words: &Words, hits: &mut Vec<Hit>) {
    let first = hits.len();
    let around = words.platform.or(&words.at_sign);
    around.search(text, (128, 128), &HANDLES, |hay, c| {
        let m = c.get(0).expect("group 0");
        match handle(hay, &c) {
            Some((start, end, value)) => {
                hits.push(hit("handle", start, end, value));
                m.end()
            }
            // Not a handle: look again from the next character, the
            // platform name may be followed by a real one.
            None => m.start() + 1,
        }
    });
    words.platform.search(text, (64, 32), &MESSENGER, |hay, c| {
        let m = c.get(0).expect("group 0");
        let named = ["p", "pv", "pf"].into_iter().find_map(|g| c.name(g));
        if let Some(p) = c.name("pv")
            && WEAK.contains(&p.as_str().to_ascii_lowercase().as_str())
        {
            // "snap me a photo", "line us up": words, not messengers.
            return m.end();
        }
        // "the app me and my wife use": a noun, not the Dutch verb.
        let noun = c.name("app").is_some()
            && hay[..m.start()]
                .split(|c: char| !c.is_alphanumeric())
                .rfind(|w| !w.is_empty())
                .is_some_and(|w| {
                    matches!(
                        w.to_ascii_lowercase().as_str(),
                        "the"
                            | "an"
                            | "this"
                            | "that"
                            | "my"
                            | "your"
                            | "our"
                            | "which"
                            | "what"
                            | "same"
                    )
                });
        if noun {
            return m.end();
        }
        let platform = named.map_or("whatsapp", |p| platform(p.as_str()));
        let prefix = format!("{platform}:");
        if !hits[first..].iter().any(|h| h.value.starts_with(&prefix)) {
            hits.push(hit("messenger", m.start(), m.end(), platform.to_string()));
        }
        m.end()
    });
}

/// The span and value of a handle candidate, if it is one.
fn handle(text: &str, c: &Captures) -> Option<(usize, usize, String)> {
    let (p, h, conn) = if let Some(h) = c.name("h1") {
        (c.name("p1"), h, c.name("c1").map_or("", |m| m.as_str()))
    } else if let Some(h) = c.name("h2") {
        (c.name("p2"), h, " on ")
    } else if let Some(h) = c.name("h3") {
        (c.name("p3"), h, ":")
    } else {
        (None, c.name("h4")?, "")
    };
    let raw = h.as_str().trim_end_matches(['.', '-']);
    let (start, end) = (h.start(), h.start() + raw.len());
    let name = raw.trim_start_matches('@').to_ascii_lowercase();
    let at = raw.starts_with('@');
    let namelike = name.contains(|c: char| c.is_ascii_digit() || c == '_' || c == '.' || c == '-');
    // An address, a URL, a phone number (the other scanners' job) or a word.
    if matches!(char_at(text, end), Some('@' | '/'))
        || name
            .bytes()
            .all(|b| b.is_ascii_digit() || b == b'.' || b == b'-')
        || NOT_HANDLES.contains(&name.as_str())
        || name.len() < 3
    {
        return None;
    }
    let Some(p) = p else {
        // Bare @handle: not inside an address, and looking like a handle
        // or after a platform name.
        if char_before(text, start).is_some_and(|c| c.is_alphanumeric() || c == '.') {
            return None;
        }
        let named = platform_before(text, start);
        if !namelike && named.is_none() {
            return None;
        }
        let value = named.map_or(name.clone(), |p| format!("{p}:{name}"));
        return Some((start, end, value));
    };
    let platform = platform(p.as_str());
    let weak = WEAK.contains(&p.as_str().to_ascii_lowercase().as_str());
    // "x on skype" and a handle after a blank only when x cannot be a word.
    let bare = conn.trim().is_empty() || conn == " on ";
    if bare && !at && !namelike || weak && !(namelike || conn.contains([':', '(']) || at) {
        return None;
    }
    Some((start, end, format!("{platform}:{name}")))
}

/// The platform a name stands for: `ig` → `instagram`.
fn platform(name: &str) -> &'static str {
    let lower = name.to_lowercase();
    let squashed: String = lower.split_whitespace().collect();
    // "whatsappie" → "whatsapp", "messengerze" → "messenger".
    let stem = INFLECTED_STEMS
        .iter()
        .chain(&["signal", "viber", "skype", "insta"])
        .find(|p| squashed.starts_with(*p))
        .copied()
        .unwrap_or(&squashed);
    match stem {
        "whatsapp" | "watsapp" | "whatsap" | "watsap" | "whatapp" | "wa" | "hatsapp" => "whatsapp",
        "kakao" | "kakaotalk" => "kakaotalk",
        "zalo" => "zalo",
        "threema" => "threema",
        "imessage" | "facetime" => "apple",
        "vk" => "vk",
        "instagram" | "insta" | "ig" => "instagram",
        "telegram" => "telegram",
        "snapchat" | "snap" => "snapchat",
        "discord" => "discord",
        "signal" => "signal",
        "wechat" | "weixin" => "wechat",
        "kik" => "kik",
        "facebook" | "fb" | "messenger" => "facebook",
        "tiktok" => "tiktok",
        "skype" => "skype",
        "line" => "line",
        "viber" => "viber",
        "threads" => "threads",
        "linkedin" => "linkedin",
        _ => "twitter",
    }
}

/// A messenger's name with an ending of up to three letters ("whatsappie",
/// "messengerze"), for [`super::Words::scan`] (the names themselves, also
/// misspelt ("wats") or a Dutch verb for WhatsApp ("appje", "appen"), are
/// [`PLATFORM_WORDS`]).
pub(super) fn is_inflected_platform(w: &[u8]) -> bool {
    INFLECTED_STEMS
        .iter()
        .any(|p| w.len() > p.len() && w.len() <= p.len() + 3 && w.starts_with(p.as_bytes()))
}

/// The messengers' names other languages inflect.
const INFLECTED_STEMS: &[&str] = &[
    "whatsapp",
    "telegram",
    "messenger",
    "instagram",
    "facebook",
    "snapchat",
    "discord",
];

/// Platform names as single words, lowercase.
pub(super) const PLATFORM_WORDS: &[&str] = &[
    "instagram",
    "insta",
    "ig",
    "telegram",
    "whatsapp",
    "whats",
    "wats",
    "watsapp",
    "whatsap",
    "wa",
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
    "kakao",
    "kakaotalk",
    "zalo",
    "threema",
    "imessage",
    "facetime",
    "vk",
    "appje",
    "appen",
];

/// A platform named in the few words before a bare `@handle`.
fn platform_before(text: &str, start: usize) -> Option<&'static str> {
    let window = crate::intake::policy::text_before(text, start, 32);
    window
        .split(|c: char| !c.is_ascii_alphanumeric())
        .rev()
        .take(4)
        .find(|w| {
            let w = w.to_ascii_lowercase();
            matches!(
                w.as_str(),
                "instagram"
                    | "insta"
                    | "ig"
                    | "telegram"
                    | "whatsapp"
                    | "snapchat"
                    | "snap"
                    | "discord"
                    | "wechat"
                    | "kik"
                    | "facebook"
                    | "fb"
                    | "tiktok"
                    | "twitter"
                    | "tweet"
                    | "tweets"
                    | "tweeter"
                    | "skype"
                    | "viber"
                    | "x"
            )
        })
        .map(platform)
}
