//! Off-platform payment and steering the deal off the site.
//!
//! One rule per thing, each a case-insensitive pattern with ASCII word
//! boundaries (value empty unless said):
//!
//! - `paypal_ff`: PayPal friends and family ("F&F", "paypal gift",
//!   "paypal personal", "send it as a gift" near "paypal"): no buyer
//!   protection. "PayPal" alone is often the marketplace's own checkout
//!   and is not a hit.
//! - `venmo`, `zelle`, `cashapp` (also a `$cashtag`, value the tag),
//!   `western_union`, `moneygram`: person-to-person transfers.
//! - `wire_transfer`: wire, bank or SEPA transfer, bank deposit, "wire me".
//! - `iban`: an IBAN (checked with its mod-97 checksum, value the IBAN
//!   without spaces), or the words IBAN, routing number, sort code, an
//!   account number with digits.
//! - `gift_card`: gift cards and store vouchers (iTunes, Steam, Google Play,
//!   Amazon, …), a classic of scams.
//! - `crypto`: Bitcoin, BTC, Ethereum, ETH, USDT, … as words;
//!   `crypto_address`: a Bitcoin (legacy or bech32) or Ethereum address,
//!   value the address.
//! - `off_platform`: steering the deal off the site: "off the site",
//!   "outside eBay", "avoid the fees", "deal directly", "sell it to you
//!   privately", "cancel your bid".
//!
//! One regex of all rules finds in one pass where any rule matches; in the
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
        id: "wire_transfer",
        pattern: r"(?-u:\b)(?:wire|bank|swift|sepa)\s*(?:transfer|payment|deposit)s?(?-u:\b)|(?-u:\b)wire\s+(?:me|you|it|the\s+money|the\s+funds|the\s+payment)(?-u:\b)",
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
        check: any,
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
    // Where any rule matches, merged into windows.
    let mut windows: Vec<(usize, usize)> = Vec::new();
    for m in ANY.find_iter(text) {
        let mut start = m.start().saturating_sub(MARGIN);
        while !text.is_char_boundary(start) {
            start -= 1;
        }
        let mut end = (m.end() + MARGIN).min(text.len());
        while !text.is_char_boundary(end) {
            end += 1;
        }
        match windows.last_mut() {
            Some(last) if start <= last.1 => last.1 = end,
            _ => windows.push((start, end)),
        }
    }
    for (start, end) in windows {
        let hay = &text[..end];
        // Which rules match in the window, in one pass.
        for i in SET.matches(&text[start..end]).iter() {
            let (rule, regex) = (&RULES[i], &EACH[i]);
            let mut pos = start;
            while let Some(m) = regex.find_at(hay, pos) {
                pos = m.end();
                if let Some(value) = (rule.check)(text, m.start(), m.as_str()) {
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
    let shaped = compact.len() >= 15
        && compact.as_bytes()[..2].iter().all(u8::is_ascii_alphabetic)
        && compact.as_bytes()[2..4].iter().all(u8::is_ascii_digit);
    if !shaped {
        return Some(String::new());
    }
    let upper = compact.to_ascii_uppercase();
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
