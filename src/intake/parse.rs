//! Raw bytes → the plain facts later stages decide on.
//!
//! mail-parser does the MIME and charset work; this stage keeps what
//! threading, reply extraction and the store need, as owned data.

use mail_parser::{Address, HeaderValue, MessageParser, PartType};
use sha2::{Digest, Sha256};

use super::attachments::{Attachment, Limits};
use super::charset;
use crate::address;

/// A sender or recipient: normalized address and the display name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mailbox {
    pub address: String,
    pub name: Option<String>,
}

/// What intake knows about a message after parsing.
#[derive(Debug, Clone)]
pub struct Parsed {
    /// Message-ID without angle brackets.
    pub message_id: Option<String>,
    pub from: Option<Mailbox>,
    /// Delivered-To, To and Cc addresses, in that order, normalized.
    pub header_recipients: Vec<String>,
    pub subject: Option<String>,
    /// In-Reply-To then References (last first): the nearest parent first.
    pub parents: Vec<String>,
    /// The text part, or the HTML part converted to text.
    pub text: String,
    /// Whether `text` comes from a real text/plain part (else from HTML).
    pub has_text_part: bool,
    pub html: Option<String>,
    /// The top-level headers as they arrived: name, and value unfolded and
    /// trimmed (not decoded). Classification reads these.
    pub headers: Vec<(String, String)>,
    /// Attachments, with contents within the size limits.
    pub attachments: Vec<Attachment>,
    /// Hash of what stays the same when one mail is delivered twice: the
    /// Message-ID, From, Date, Subject and body, not the transport headers.
    pub dedupe_key: String,
}

/// The sha256 of the exact bytes.
pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The attachment limits of the default configuration.
pub const DEFAULT_LIMITS: Limits = Limits {
    per_attachment: 10 * 1024 * 1024,
    per_message: 25 * 1024 * 1024,
};

/// Parses a message with the default attachment limits.
pub fn parse(raw: &[u8]) -> Option<Parsed> {
    parse_with(raw, DEFAULT_LIMITS)
}

/// Parses a message; `None` when the bytes are not a message at all
/// (intake quarantines those).
pub fn parse_with(raw: &[u8], limits: Limits) -> Option<Parsed> {
    // mail-parser faces the network: a panic inside it (it has debug
    // assertions that crafted MIME trips, see fuzz/seeds) must not take
    // intake down. Such a message is not a message: it is quarantined.
    let message = std::panic::catch_unwind(|| MessageParser::default().parse(raw))
        .ok()
        .flatten()?;
    if message.root_part().headers.is_empty() {
        return None;
    }
    let from = message.from().and_then(|a| a.first()).and_then(|addr| {
        Some(Mailbox {
            address: address::normalize(addr.address.as_deref()?),
            name: addr
                .name
                .as_deref()
                .map(str::trim)
                .filter(|n| !n.is_empty())
                .map(str::to_string),
        })
    });
    let mut header_recipients = Vec::new();
    for value in message.header_values("Delivered-To") {
        if let Some(text) = value.as_text() {
            push_unique(&mut header_recipients, address::normalize(text));
        }
    }
    for list in [message.to(), message.cc()].into_iter().flatten() {
        for addr in addresses(list) {
            push_unique(&mut header_recipients, addr);
        }
    }
    let mut parents = ids(message.in_reply_to());
    for id in ids(message.references()).into_iter().rev() {
        push_unique(&mut parents, id);
    }
    // Bodies, subject and headers through the charset fallbacks, for mail
    // whose declared charset is wrong or missing.
    let text = charset::body_text(&message)
        .map(|t| t.replace("\r\n", "\n"))
        .unwrap_or_default();
    let html = charset::body_html(&message);
    let subject = charset::subject(&message);
    let has_text_part = message
        .text_body
        .first()
        .and_then(|&id| message.parts.get(id as usize))
        .is_some_and(|part| matches!(part.body, PartType::Text(_)));
    let headers = charset::headers_raw(&message)
        .map(|(name, value)| (name.to_string(), unfold(&value)))
        .collect();
    let message_id = message.message_id().map(str::to_string);
    let body = &raw[(message.root_part().offset_body as usize).min(raw.len())..];
    let mut hasher = Sha256::new();
    for field in [
        message_id.as_deref().unwrap_or(""),
        from.as_ref().map_or("", |f| f.address.as_str()),
        message.header_raw("Date").unwrap_or("").trim(),
        subject.as_deref().unwrap_or(""),
    ] {
        hasher.update(field.as_bytes());
        hasher.update(b"\n");
    }
    hasher.update(body);
    Some(Parsed {
        message_id,
        from,
        header_recipients,
        subject,
        parents,
        text,
        has_text_part,
        html,
        headers,
        attachments: super::attachments::collect(&message, limits),
        dedupe_key: hex(&hasher.finalize()),
    })
}

/// A raw header value on one line: folding white space becomes one space.
fn unfold(value: &str) -> String {
    value.split_whitespace().collect::<Vec<_>>().join(" ")
}

impl Parsed {
    /// The first value of header `name` (any letter case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

fn push_unique(list: &mut Vec<String>, item: String) {
    if !item.is_empty() && !list.contains(&item) {
        list.push(item);
    }
}

fn addresses(list: &Address<'_>) -> Vec<String> {
    list.iter()
        .filter_map(|a| a.address.as_deref())
        .map(address::normalize)
        .collect()
}

fn ids(value: &HeaderValue<'_>) -> Vec<String> {
    match value {
        HeaderValue::Text(id) => vec![id.to_string()],
        HeaderValue::TextList(list) => list.iter().map(|id| id.to_string()).collect(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAIL: &[u8] = b"From: Maria Lopez <Maria@Example.com>\r\n\
To: desk@localhost, Other <other@example.com>\r\n\
Cc: cc@example.com\r\n\
Subject: Lot 12\r\n\
Message-ID: <abc@example.com>\r\n\
In-Reply-To: <p2@x>\r\n\
References: <p0@x> <p1@x> <p2@x>\r\n\
\r\n\
Is lot 12 still available?\r\n";

    #[test]
    fn facts() {
        let p = parse(MAIL).unwrap();
        assert_eq!(p.message_id.as_deref(), Some("abc@example.com"));
        let from = p.from.clone().unwrap();
        assert_eq!(from.address, "maria@example.com");
        assert_eq!(from.name.as_deref(), Some("Maria Lopez"));
        assert_eq!(
            p.header_recipients,
            ["desk@localhost", "other@example.com", "cc@example.com"]
        );
        assert_eq!(p.parents, ["p2@x", "p1@x", "p0@x"]);
        assert_eq!(p.text.trim(), "Is lot 12 still available?");
        assert!(p.has_text_part);
        assert_eq!(p.html, None);
        assert_eq!(p.header("subject"), Some("Lot 12"));
        assert_eq!(p.header("REFERENCES"), Some("<p0@x> <p1@x> <p2@x>"));
    }

    #[test]
    fn dedupe_key_ignores_transport_headers() {
        let mut relayed =
            b"Received: from mx by parley; Sat, 21 Nov 2026 06:00:00 +0000\r\n".to_vec();
        relayed.extend_from_slice(MAIL);
        assert_eq!(
            parse(MAIL).unwrap().dedupe_key,
            parse(&relayed).unwrap().dedupe_key
        );
        let edited = String::from_utf8_lossy(MAIL).replace("still", "really");
        assert_ne!(
            parse(MAIL).unwrap().dedupe_key,
            parse(edited.as_bytes()).unwrap().dedupe_key
        );
    }

    #[test]
    fn not_a_message() {
        assert!(parse(b"").is_none());
    }

    /// Found by fuzzing: crafted MIME that trips a debug assertion inside
    /// mail-parser. Whatever the parser does, parse returns.
    #[test]
    fn parser_panics_do_not_escape() {
        let crash = include_bytes!("../../fuzz/seeds/intake/crash-mime-part-id.eml");
        let _ = parse(crash);
    }
}
