//! Off-platform payment and steering the deal off the site.
//!
//! One rule per thing, each a case-insensitive pattern with ASCII word
//! boundaries (value empty unless said):
//!
//! - `paypal_ff`: PayPal friends and family ("F&F", "paypal gift",
//!   "paypal personal", "send it as a gift" near "paypal"): no buyer
//!   protection. "PayPal" alone is often the marketplace's own checkout
//!   and is not a hit.
//!   Also in other languages: "PayPal entre amis", "amici e parenti",
//!   "Freunde und Familie", "amigos y familiares", …
//! - `venmo`, `zelle`, `cashapp` (also a `$cashtag`, value the tag),
//!   `western_union`, `moneygram`: person-to-person transfers.
//! - `payment_app`: the person-to-person apps of other countries (Bizum,
//!   Tikkie, Lydia, Wise, Apple Cash, Revolut, Satispay, BLIK, Swish,
//!   MobilePay, Vipps, Twint, Pix, UPI, …; value the app). Names that are
//!   also words or first names (Wise, Lydia, Pix, BLIK, …) only beside a
//!   payment word ("via Wise", "Lydia request"); an app's card ("my
//!   Revolut card") pays at the checkout and is not a hit.
//! - `wire_transfer`: wire, bank or SEPA transfer, bank deposit, "wire me",
//!   the words of other languages (virement, bonifico, Überweisung,
//!   przelew, overmaken, …), and asking for or offering bank details.
//! - `iban`: an IBAN (checked with its country's length and its mod-97
//!   checksum, value the IBAN without spaces), or the words IBAN, routing
//!   number, sort code, an account number with digits.
//! - `gift_card`: gift cards and store vouchers (iTunes, Steam, Google Play,
//!   Amazon, …), a classic of scams; not a gift card of the marketplace
//!   itself ("a gift card from the platform").
//! - `crypto`: Bitcoin, BTC, Ethereum, ETH, USDT, … as words;
//!   `crypto_address`: a Bitcoin (legacy or bech32) or Ethereum address,
//!   value the address.
//! - `off_platform`: steering the deal off the site: "off the site",
//!   "outside eBay", "avoid the fees", "deal directly", "sell it to you
//!   privately", "cancel your bid"; also in other languages ("fuori dal
//!   sito", "Gebühren sparen", "servicekosten besparen", "págame
//!   directamente").
//!
//! A hit of words (not a detail such as an IBAN, an address or a cashtag)
//! is dropped when its sentence refuses it in the first person ("I won't
//! pay outside the app") or tells what others do ("some sellers ask buyers
//! to pay outside, but …", "someone asked me for gift cards, I reported
//! them").
//!
//! One regex of all rules finds in one pass where any rule matches (the
//! policy joins it with the abuse phrases: [`super::screen`]); in the
//! windows around those places a `RegexSet` says which rules match, and
//! only those are searched for their spans.

use std::sync::LazyLock;

use regex::{Regex, RegexBuilder, RegexSet, RegexSetBuilder};

use super::{Category, Hit};

/// A rule: its id, its pattern, and a check of each match (the value, or
/// `None` to drop the match).
struct Rule {
    id: &'static str,
    pattern: &'static str,
    check: fn(&str, usize, &str) -> Option<String>,
}

/// Keeps every match, with no value.
fn any(_: &str, _: usize, _: &str) -> Option<String> {
    Some(String::new())
}

const RULES: &[Rule] = &[
    Rule {
        id: "paypal_ff",
        pattern: r"(?x)(?-u:\b)(?:
            f\s?(?:&|and|n)\s?f
            | (?:pay(?:pal)?|send|sent|via|using|through)\s+(?:(?:it|me|you|the|money|payment|as|with|via|through|using|by|on|paypal)\s+){0,4}friends?\s*(?:and|&|n|\+)\s*family
            | pay\s?pal\s+(?:(?:as|a|the|it|payment)\s+){0,3}(?:gift|personal|ff|family|friends)
            | (?:gift|personal|family)\s+(?:(?:payment|it|the|money)\s+){0,2}(?:via|on|through|with|over)\s+pay\s?pal
            | pay\s?pal\s+(?:(?:als|an|aan|per|par|pour|en|entre|como|para|con|tra|fra|jako|dla|till|f(?:ö|o|oe)r|mit|met|voor|as|to)\s+){0,2}(?:amigos|amici|amis|proches|famille|familia|famiglia|parenti|freunde|familie|vrienden|familj|v(?:ä|a|ae)nner|znajom[a-z]*|przyjaci[a-z]*|rodzin[a-z]*)
            | (?:amigos\s+y\s+familia(?:res)?|amigos\s+e\s+familiares|amici\s+e\s+(?:parenti|familiari)|entre\s+(?:proches|amis)|amis\s+(?:et|&)\s+famille|freunde\s+(?:und|&)\s+familie|familie\s+(?:und|&)\s+freunde|vrienden\s+(?:en|&)\s+familie)\s+(?:(?:via|on|su|sur|par|por|auf|per|met|with)\s+)?pay\s?pal
        )(?-u:\b)",
        check: any,
    },
    Rule {
        id: "venmo",
        pattern: r"(?-u:\b)venmo",
        check: any,
    },
    Rule {
        id: "zelle",
        pattern: r"(?-u:\b)zelle(?-u:\b)",
        check: any,
    },
    Rule {
        id: "cashapp",
        pattern: r"(?-u:\b)cash\s?app(?-u:\b)|\$[a-z][a-z0-9_]{2,20}(?-u:\b)",
        check: cashtag,
    },
    Rule {
        id: "payment_app",
        pattern: r"(?-u:\b)(?:bizum|tikkie|revolut|satispay|mobilepay|vipps|twint|paylib|payconiq|swish|paytm|phonepe|gcash|m-?pesa|interac|e-?transfer|apple\s?cash|skrill|payoneer|alipay|wechat\s?pay|mercado\s?pago|nequi|yape|paysera|blik(?:iem)?|wise|lydia|pix|upi|payid|paynow)(?-u:\b)",
        check: payment_app,
    },
    Rule {
        id: "wire_transfer",
        pattern: r"(?-u:\b)(?:wire|bank|swift|sepa)\s*(?:transfer|payment|deposit)s?(?-u:\b)|(?-u:\b)wire\s+(?:me|you|it|the\s+money|the\s+funds|the\s+payment)(?-u:\b)|(?-u:\b)(?:virement|bonifico|transferencia\s+bancaria|transfer(?:e|ê)ncia\s+banc(?:a|á)ria|przelew[a-z]*|overboeking|overmaken|overmaak|bank(?:ö|o)verf(?:ö|o)ring|bankoverf(?:ø|o)rsel|tilisiirto)(?-u:\b)|(?:(?-u:\b)(?:ue|u)|Ü|ü)berweis(?:ung|en|e)?(?-u:\b)|(?-u:\b)(?:send|give|message|text|share|dm|pm|email|mail)\s+(?:me\s+|you\s+)?(?:your|my|the)\s+(?:bank(?:ing)?|account|iban|payment)\s+(?:details|info|information|number)(?-u:\b)|(?-u:\b)(?:bankverbindung|bankdaten|kontodaten|coordonn(?:é|e)es\s+bancaires|datos\s+bancarios|coordinate\s+bancarie|dane\s+do\s+przelewu|rekeningnummer)(?-u:\b)",
        check: any,
    },
    Rule {
        id: "iban",
        pattern: r"(?-u:\b)(?:iban|routing\s*(?:number|no|#)|sort\s*code|aba\s*(?:number|no)|account\s*(?:number|no\.?|#)\s*:?\s*\d{4,})(?-u:\b)|(?-u:\b)[a-z]{2}\d{2}(?: ?[a-z0-9]{4}){2,7}(?: ?[a-z0-9]{1,3})?(?-u:\b)",
        check: iban,
    },
    Rule {
        id: "western_union",
        pattern: r"(?-u:\b)western\s*union(?-u:\b)",
        check: any,
    },
    Rule {
        id: "moneygram",
        pattern: r"(?-u:\b)money\s*gram(?-u:\b)",
        check: any,
    },
    Rule {
        id: "gift_card",
        pattern: r"(?-u:\b)(?:(?:itunes|apple|steam|google\s*play|amazon|ebay|visa|vanilla|target|walmart|sephora|razer\s*gold|xbox|playstation|psn)\s*(?:gift\s*)?(?:cards?|vouchers?|codes?)|gift\s*cards?|gift\s*vouchers?)(?-u:\b)",
        check: not_site_credit,
    },
    Rule {
        id: "crypto",
        pattern: r"(?-u:\b)(?:bitcoins?|btc|ethereum|eth|usdt|usdc|tether|crypto(?:currency|currencies)?|litecoin|ltc|dogecoin|doge|monero|xmr|binance|coinbase|bnb|solana)(?-u:\b)",
        check: any,
    },
    Rule {
        id: "crypto_address",
        pattern: r"(?-u:\b)(?:bc1[a-z0-9]{25,59}|[13][a-km-zA-HJ-NP-Z1-9]{25,34}|0x[a-f0-9]{40})(?-u:\b)",
        check: crypto_address,
    },
    Rule {
        id: "off_platform",
        pattern: r"(?x)(?-u:\b)(?:
            (?:off|outside(?:\s+of)?)\s+(?:the\s+|this\s+)?(?:platform|site|website|app|ebay|etsy|marketplace|auction\s+site)
            | (?:avoid|skip|dodge|bypass|cut\s+out|get\s+around|no\s+need\s+to\s+pay)\s+(?:the\s+|on\s+|all\s+)?(?:[a-z0-9_]+\s+)?(?:fees?|commission|middle\s?man)
            | deal\s+(?:directly|direct|privately|in\s+private|outside)
            | (?:pay|buy|sell|trade|transact|do)\s+(?:(?:it|this|me|you|to|from|the|deal|item|them|us|each|other)\s+){0,4}(?:directly|privately|in\s+private|outside)
            | (?:cancel|retract|withdraw)\s+(?:your|the|my)\s+(?:bid|offer|order|purchase)
            | (?:spar[a-z]*|vermeid[a-z]*|umgeh[a-z]*|sans|(?:e|é)vit(?:er|ons|ez)|(?:e|é)conomis[a-z]*|evit(?:ar|amos|are|iamo)|ahorr[a-z]*|risparmi[a-z]*|senza|bez|omin[a-z]*|scheelt|bespar[a-z]*|uitspar[a-z]*)
                \s+(?:[a-z']+\s+){0,4}(?:geb(?:ü|u|ue)hren|provision|frais|commissions?|comisi(?:o|ó)n|comisiones|commissioni|commissione|prowizj[a-z]*|servicekosten|transactiekosten|platformkosten)
            | (?:geb(?:ü|u|ue)hren|servicekosten|frais|commissioni|comisiones|prowizj[a-z]*)\s+(?:zu\s+|de\s+|le\s+)?(?:sparen|umgehen|vermeiden|besparen|uitsparen|(?:e|é)viter|evitare|evitar|risparmiare|ahorrar)
            | (?:pag(?:a|ar|ami|ame|arme|ate|ate)|p(?:á|a)game|payez|paie|paye|zahl(?:e|en|st)?|bezahl(?:e|en|st)?|betaal|betalen|zap(?:ł|l)a(?:ć|c)|p(?:ł|l)a(?:ć|c)|(?:ü|ue|u)berweis[a-z]*)
                \s+(?:[a-z']+\s+){0,4}(?:direkt|direttamente|directamente|directement|rechtstreeks|bezpo(?:ś|s)rednio|privat|privatamente|en\s+privado)
            | fuera\s+de\s+(?:la\s+)?(?:app|web|plataforma)
            | fuori\s+(?:dal|dalla|dall')\s*(?:app|sito|piattaforma)
            | (?:en\s+dehors|hors)\s+(?:de\s+la\s+|du\s+|de\s+l')?(?:plateforme|appli|app|site)
            | au(?:ß|ss)erhalb\s+(?:der|von|des)\s+(?:app|plattform|seite|website)
            | buiten\s+(?:de\s+|het\s+)?(?:app|site|platform|website)
            | poza\s+(?:aplikacj|platform|serwis|portal)[a-z]*
        )(?-u:\b)",
        check: not_shipping,
    },
];

/// The patterns, case-insensitive, each in a group of its own so that its
/// flags end with it.
fn patterns() -> impl Iterator<Item = String> {
    RULES.iter().map(|r| format!("(?:(?i){})", r.pattern))
}

// ASCII patterns without Unicode case folding: smaller automata, about
// 3× faster over decoded mail.
static ANY: LazyLock<Regex> = LazyLock::new(|| {
    let all: Vec<String> = patterns().collect();
    RegexBuilder::new(&all.join("|"))
        .unicode(false)
        .build()
        .expect("payment regex")
});
static SET: LazyLock<RegexSet> = LazyLock::new(|| {
    RegexSetBuilder::new(patterns())
        .unicode(false)
        .build()
        .expect("payment set")
});
static EACH: LazyLock<Vec<Regex>> = LazyLock::new(|| {
    patterns()
        .map(|p| {
            RegexBuilder::new(&p)
                .unicode(false)
                .build()
                .expect("payment regex")
        })
        .collect()
});

/// How far around a match of any rule the rules are searched.
const MARGIN: usize = 96;

/// Appends the payment hits found in `text` to `hits`.
pub fn detect(text: &str, hits: &mut Vec<Hit>) {
    let spans = ANY.find_iter(text).map(|m| (m.start(), m.end()));
    detect_in(text, &windows(text, spans), hits);
}

/// All rules as one pattern (ASCII mode, case-insensitive), for a search
/// that finds where any may match ([`super::screen`]).
pub(super) fn pattern() -> &'static str {
    ANY.as_str()
}

/// The windows around `spans` where the rules are searched: [`MARGIN`]
/// bytes on each side (to the end of a word), merged where they overlap,
/// on char boundaries.
pub(super) fn windows(
    text: &str,
    spans: impl Iterator<Item = (usize, usize)>,
) -> Vec<(usize, usize)> {
    super::windows(text, spans, MARGIN, MARGIN)
}

/// Appends the payment hits in `windows` of `text` (see [`windows`]).
pub(super) fn detect_in(text: &str, windows: &[(usize, usize)], hits: &mut Vec<Hit>) {
    for &(start, end) in windows {
        let hay = &text[..end];
        // Which rules match in the window, in one pass.
        for i in SET.matches(&text[start..end]).iter() {
            let (rule, regex) = (&RULES[i], &EACH[i]);
            let mut pos = start;
            while let Some(m) = regex.find_at(hay, pos) {
                pos = m.end();
                if let Some(value) = (rule.check)(text, m.start(), m.as_str())
                    && (is_detail(rule.id, &value) || !hearsay(text, m.start()))
                {
                    hits.push(Hit {
                        rule: rule.id,
                        category: Category::Payment,
                        start: m.start(),
                        end: m.end(),
                        value,
                    });
                }
            }
        }
    }
}

/// An IBAN, a crypto address or a cashtag is a detail given whatever is
/// said around it; the other hits are words, which a refusal or a story
/// about someone else can contain.
fn is_detail(rule: &str, value: &str) -> bool {
    matches!(rule, "iban" | "cashapp" | "crypto_address") && !value.is_empty()
}

/// Words that refuse what follows them.
const NEGATIONS: &[&str] = &[
    "not", "never", "won't", "wont", "don't", "dont", "didn't", "didnt", "refuse", "cannot",
    "can't", "wouldn't",
];

/// Who, at the start of a sentence, makes it a story about others (the
/// words of each).
const OTHERS: &[&[&str]] = &[
    &["someone"],
    &["somebody"],
    &["some", "sellers"],
    &["some", "buyers"],
    &["some", "people"],
    &["other", "sellers"],
    &["other", "buyers"],
    &["scammer"],
    &["scammers"],
];

/// Whether the sentence up to `start` refuses it in the first person ("I
/// won't pay outside the app", "I'd never use gift cards") or tells what
/// others do ("some sellers ask buyers to pay outside, but …", "someone
/// asked me for gift cards, I reported them").
fn hearsay(text: &str, start: usize) -> bool {
    let before = super::text_before(text, start, 160);
    let sentence = before
        .rfind(['.', '!', '?', '\n', ';'])
        .map_or(before, |i| &before[i + 1..])
        .to_lowercase();
    let words: Vec<&str> = sentence
        .split(|c: char| !(c.is_alphanumeric() || c == '\''))
        .filter(|w| !w.is_empty())
        .collect();
    // "I won't", "I will not", "we'd never": a negation among the last
    // four words, said by "I" or "we" just before it.
    let tail = words.len().saturating_sub(4);
    let refused = (tail..words.len()).any(|i| {
        NEGATIONS.contains(&words[i])
            && words[i.saturating_sub(2)..i]
                .iter()
                .any(|w| matches!(*w, "i" | "we" | "i'd" | "we'd" | "i'll" | "we'll"))
    });
    refused
        || OTHERS
            .iter()
            .any(|&who| words.windows(who.len()).any(|w| w == who))
}

/// A gift card the marketplace itself issued ("a gift card from the
/// platform", "the site's gift card") pays at its checkout.
fn not_site_credit(text: &str, start: usize, s: &str) -> Option<String> {
    let after = text[start + s.len()..].trim_start().to_ascii_lowercase();
    let site = ["platform", "site", "website", "app", "marketplace"];
    let from_site = ["from ", "of ", "on ", "for ", "issued by "]
        .iter()
        .filter_map(|p| after.strip_prefix(p))
        .map(|r| {
            r.trim_start_matches("the ")
                .trim_start_matches("this ")
                .trim_start_matches("your ")
        })
        .any(|r| site.iter().any(|w| r.starts_with(w)));
    let before = super::text_before(text, start, 24).to_ascii_lowercase();
    let site_before = site
        .iter()
        .any(|w| before.trim_end().ends_with(w) || before.trim_end().ends_with(&format!("{w}'s")));
    (!from_site && !site_before).then(String::new)
}

/// Payment apps, each the name it is known by: those whose name is also a
/// word or a first name ("wise", "lydia", "pix", "blik") only beside a
/// payment word ("via Wise", "Lydia request", "pay by Blik"); an app's
/// card ("my Revolut card") is paid at the checkout like any card.
fn payment_app(text: &str, start: usize, s: &str) -> Option<String> {
    let name: String = s
        .to_ascii_lowercase()
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .collect();
    let name = match name.as_str() {
        "blikiem" => "blik".to_string(),
        "etransfer" => "interac".to_string(),
        _ => name,
    };
    let after: Vec<String> = text[start + s.len()..]
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .take(1)
        .map(str::to_lowercase)
        .collect();
    let next = after.first().map_or("", String::as_str);
    if matches!(
        next,
        "card" | "cards" | "debit" | "credit" | "karte" | "carte" | "tarjeta" | "carta"
    ) {
        return None;
    }
    let before: Vec<String> = super::text_before(text, start, 40)
        .rsplit(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .take(3)
        .map(str::to_lowercase)
        .collect();
    let ambiguous = matches!(
        name.as_str(),
        "wise" | "lydia" | "pix" | "upi" | "payid" | "paynow" | "blik"
    );
    let paid_before = before.iter().enumerate().any(|(i, w)| {
        i == 0
            && matches!(
                w.as_str(),
                "via"
                    | "by"
                    | "per"
                    | "par"
                    | "por"
                    | "przez"
                    | "using"
                    | "com"
                    | "through"
                    | "over"
                    | "kod"
            )
            || PAY_WORDS.contains(&w.as_str())
    });
    let paid_after = matches!(
        next,
        "transfer"
            | "transfers"
            | "request"
            | "requests"
            | "payment"
            | "payments"
            | "code"
            | "key"
            | "me"
            | "tag"
            | "id"
            | "works"
    );
    (!ambiguous || paid_before || paid_after).then_some(name)
}

/// Verbs of paying, in a few languages.
const PAY_WORDS: &[&str] = &[
    "pay",
    "paid",
    "paying",
    "payment",
    "accept",
    "accepts",
    "take",
    "send",
    "pagar",
    "pago",
    "paga",
    "pagami",
    "payer",
    "payez",
    "paie",
    "zahlen",
    "bezahlen",
    "betalen",
    "betaal",
    "zapłać",
    "zaplac",
    "chave",
    "request",
    "demande",
    "richiesta",
    "solicitud",
    "anfrage",
    "verzoek",
];

/// The length of an IBAN of each country (ISO 13616), `None` for a
/// country without IBANs.
fn iban_length(country: &str) -> Option<usize> {
    const LENGTHS: &[(&str, usize)] = &[
        ("AD", 24),
        ("AE", 23),
        ("AL", 28),
        ("AT", 20),
        ("AZ", 28),
        ("BA", 20),
        ("BE", 16),
        ("BG", 22),
        ("BH", 22),
        ("BR", 29),
        ("BY", 28),
        ("CH", 21),
        ("CR", 22),
        ("CY", 28),
        ("CZ", 24),
        ("DE", 22),
        ("DK", 18),
        ("DO", 28),
        ("EE", 20),
        ("EG", 29),
        ("ES", 24),
        ("FI", 18),
        ("FO", 18),
        ("FR", 27),
        ("GB", 22),
        ("GE", 22),
        ("GI", 23),
        ("GL", 18),
        ("GR", 27),
        ("GT", 28),
        ("HR", 21),
        ("HU", 28),
        ("IE", 22),
        ("IL", 23),
        ("IQ", 23),
        ("IS", 26),
        ("IT", 27),
        ("JO", 30),
        ("KW", 30),
        ("KZ", 20),
        ("LB", 28),
        ("LC", 32),
        ("LI", 21),
        ("LT", 20),
        ("LU", 20),
        ("LV", 21),
        ("MC", 27),
        ("MD", 24),
        ("ME", 22),
        ("MK", 19),
        ("MR", 27),
        ("MT", 31),
        ("MU", 30),
        ("NL", 18),
        ("NO", 15),
        ("PK", 24),
        ("PL", 28),
        ("PS", 29),
        ("PT", 25),
        ("QA", 29),
        ("RO", 24),
        ("RS", 22),
        ("SA", 24),
        ("SC", 31),
        ("SE", 24),
        ("SI", 19),
        ("SK", 24),
        ("SM", 27),
        ("ST", 25),
        ("SV", 28),
        ("TL", 23),
        ("TN", 24),
        ("TR", 26),
        ("UA", 29),
        ("VA", 22),
        ("VG", 24),
        ("XK", 20),
    ];
    LENGTHS.iter().find(|(c, _)| *c == country).map(|&(_, n)| n)
}

/// Avoiding the shipping fee (by picking up) is no steering.
fn not_shipping(_: &str, _: usize, s: &str) -> Option<String> {
    let lower = s.to_ascii_lowercase();
    let shipping = [
        "shipping", "delivery", "postage", "handling", "customs", "import", "courier",
    ]
    .iter()
    .any(|w| lower.contains(w));
    (!shipping).then(String::new)
}

/// "Cash App" always; a `$cashtag` only when not glued to a word, with the
/// tag (lowercase) as value.
fn cashtag(text: &str, start: usize, s: &str) -> Option<String> {
    if !s.starts_with('$') {
        return Some(String::new());
    }
    let glued = text[..start]
        .chars()
        .next_back()
        .is_some_and(|c| c.is_alphanumeric());
    // "$USD", "$CAD": currencies, not tags.
    let currency = matches!(
        s.to_ascii_lowercase().as_str(),
        "$usd" | "$cad" | "$aud" | "$nzd" | "$hkd" | "$sgd" | "$mxn"
    );
    (!glued && !currency).then(|| s.to_ascii_lowercase())
}

/// The keywords always; an IBAN-shaped token only in capitals (or all
/// lowercase) with a valid mod-97 checksum (ISO 13616), value the IBAN.
fn iban(_: &str, _: usize, s: &str) -> Option<String> {
    let compact: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    let shaped = compact.len() >= 4
        && compact.as_bytes()[..2].iter().all(u8::is_ascii_alphabetic)
        && compact.as_bytes()[2..4].iter().all(u8::is_ascii_digit);
    if !shaped {
        return Some(String::new());
    }
    let upper = compact.to_ascii_uppercase();
    // The country fixes the length: "JD014600003SE" is a parcel.
    if iban_length(&upper[..2]) != Some(upper.len()) {
        return None;
    }
    let (head, tail) = upper.split_at(4);
    let mut rem: u32 = 0;
    for c in tail.chars().chain(head.chars()) {
        let v = c.to_digit(36)?;
        rem = if v >= 10 {
            (rem * 100 + v) % 97
        } else {
            (rem * 10 + v) % 97
        };
    }
    (rem == 1).then_some(upper)
}

/// Bitcoin addresses mix letters and digits; a 26+ character token of
/// one kind is something else. `0x` and 40 hex digits is an Ethereum
/// address.
fn crypto_address(_: &str, _: usize, s: &str) -> Option<String> {
    if s.starts_with("0x") {
        return Some(s.to_string());
    }
    let digits = s.bytes().filter(u8::is_ascii_digit).count();
    let letters = s.bytes().filter(u8::is_ascii_alphabetic).count();
    (digits >= 4 && letters >= 8).then(|| s.to_string())
}

#[cfg(test)]
mod tests;
