//! The content policy: what a message may say.
//!
//! Detectors find hits — a rule id, a category and the exact span — in the
//! reply text and the subject: [`contact`] (emails, also obfuscated; phone
//! numbers, also spelled out; URLs, bare domains, shorteners; messenger and
//! social handles), [`payment`] (off-platform payment and steering the deal
//! off the site), [`abuse`] (a configured word and phrase list) and
//! [`spam`] (a naive Bayes model over the whole message, plus rules); and
//! in the attachments: an executable or script ([`EXECUTABLE_ATTACHMENT`]).
//! The rules file (`config/policy.toml`) gives each category or rule an
//! action; the strongest action wins. Detectors are pure functions of the
//! message. Payment and abuse, each one alternation, are read in one pass
//! ([`screen`]).

pub mod abuse;
pub mod contact;
pub mod payment;
pub mod rules;
pub mod screen;
pub mod spam;

use serde::{Deserialize, Serialize};

pub use rules::{Action, Rules, RulesError};

use super::parse::Parsed;
use crate::store::PolicyRecord;

/// What a hit is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    /// Email addresses, phone numbers, URLs and domains, handles.
    Contact,
    /// Off-platform payment and steering the deal off the site.
    Payment,
    /// The spam model and its rules.
    Spam,
    /// The configured abuse word and phrase list.
    Abuse,
    /// Attachments: executables and scripts.
    Attachment,
}

impl Category {
    pub fn as_str(self) -> &'static str {
        match self {
            Category::Contact => "contact",
            Category::Payment => "payment",
            Category::Spam => "spam",
            Category::Abuse => "abuse",
            Category::Attachment => "attachment",
        }
    }
}

/// One match of a rule in a text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hit {
    /// The rule's id, e.g. `email`, `email_obfuscated`, `phone`,
    /// `phone_spelled`, `url`, `shortener`, `handle`, `venmo`.
    pub rule: &'static str,
    pub category: Category,
    /// Byte offsets of the span in the text scanned, on char boundaries.
    pub start: usize,
    pub end: usize,
    /// What the span stands for, normalised, where the detector knows:
    /// the email address (`maria.lopez@gmail.com` for "maria dot lopez at
    /// gmail dot com"), the phone number's digits, a URL's or domain's
    /// host (lowercase), a handle; else empty. Allow-lists compare this.
    pub value: String,
}

/// Every rule id a detector reports (the keys `[rules]` accepts).
pub const RULE_IDS: &[&str] = &[
    "email",
    "email_obfuscated",
    "phone",
    "phone_spelled",
    "url",
    "domain",
    "shortener",
    "handle",
    "messenger",
    "paypal_ff",
    "venmo",
    "zelle",
    "cashapp",
    "payment_app",
    "wire_transfer",
    "iban",
    "western_union",
    "moneygram",
    "gift_card",
    "crypto",
    "crypto_address",
    "off_platform",
    "abuse",
    "spam_model",
    EXECUTABLE_ATTACHMENT,
];

/// The rule of an attachment of an executable or script type (by name,
/// type or content: `attachments.rs` flags it `executable`).
pub const EXECUTABLE_ATTACHMENT: &str = "executable_attachment";

/// Where a hit is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Field {
    ReplyText,
    Subject,
    /// The whole message (the spam model): no span.
    Message,
    /// An attachment: no span; the hit's value is its file name.
    Attachment,
}

/// A hit, where it is, and the action it calls for.
#[derive(Debug, Clone, PartialEq)]
pub struct Found {
    pub hit: Hit,
    pub field: Field,
    pub action: Action,
}

/// The policy's verdict on one message.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    /// The strongest action of the hits; `Allow` without hits.
    pub action: Action,
    pub found: Vec<Found>,
    /// The reply text with every span whose action is `redact` or stronger
    /// masked; `None` when there is none. What the other party sees when a
    /// moderator approves with `--redact`.
    pub redacted_text: Option<String>,
    /// The reply text with every span whose action is `redact` (exactly)
    /// masked; `None` when there is none. What the other party sees of a
    /// message let through: at once when the action is `redact`, and after
    /// a moderator's plain approval of a held one (the spans of `hold`
    /// rules are what the moderator judged).
    pub masked_text: Option<String>,
    /// The subject with every span whose action is `redact` or stronger
    /// masked; `None` when there is none. A new ticket's subject is stored
    /// so: it is shown to both sides from the start, whatever a moderator
    /// later decides about the text.
    pub redacted_subject: Option<String>,
    /// The spam model's probability.
    pub spam: f64,
}

impl Verdict {
    /// The verdict on text the policy does not judge (the marketplace's
    /// own, written by a moderator): nothing found.
    pub fn unjudged() -> Verdict {
        Verdict {
            action: Action::Allow,
            found: Vec::new(),
            redacted_text: None,
            masked_text: None,
            redacted_subject: None,
            spam: 0.0,
        }
    }

    /// The hits as stored and printed (docs/json.md): spans in characters
    /// (Unicode scalar values) of their field, with the text they cover.
    /// The verdict as stored with the message: a message held for another
    /// reason (threading's `sender_mismatch`, say) is `hold` whatever its
    /// hits.
    pub fn record(&self, reply_text: &str, subject: &str, held: bool) -> PolicyRecord {
        let action = match held {
            true => Action::Hold.max(self.action),
            false => self.action,
        };
        PolicyRecord {
            action: action.as_str().to_string(),
            hits: serde_json::Value::Array(self.hits_json(reply_text, subject)).to_string(),
            redacted_text: self.redacted_text.clone(),
            masked_text: self.masked_text.clone(),
            held,
        }
    }

    pub fn hits_json(&self, reply_text: &str, subject: &str) -> Vec<serde_json::Value> {
        self.found
            .iter()
            .map(|f| {
                let text = match f.field {
                    Field::ReplyText => reply_text,
                    Field::Subject => subject,
                    Field::Message | Field::Attachment => "",
                };
                let span = match f.field {
                    Field::Attachment => f.hit.value.as_str(),
                    _ => text.get(f.hit.start..f.hit.end).unwrap_or(""),
                };
                let chars = |byte: usize| text.get(..byte).map_or(0, |t| t.chars().count());
                // The spam model's hit keeps its probability: moderators
                // see it with the held message (`moderation show`).
                let score = (f.hit.rule == SPAM_MODEL).then_some(self.spam);
                serde_json::json!({
                    "rule": f.hit.rule,
                    "category": f.hit.category,
                    "field": f.field,
                    "start": chars(f.hit.start),
                    "end": chars(f.hit.end),
                    "text": span,
                    "action": f.action.as_str(),
                    "score": score,
                })
            })
            .collect()
    }
}

/// The spam model's rule id.
pub const SPAM_MODEL: &str = "spam_model";

/// The policy in force: the rules with their detectors built.
pub struct Policy {
    rules: Rules,
    abuse: abuse::Phrases,
    screen: screen::Screen,
    model: ModelRef,
    allow_phones: Vec<String>,
}

enum ModelRef {
    BuiltIn,
    Loaded(Box<spam::Model>),
}

impl std::fmt::Debug for Policy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Policy")
            .field("rules", &self.rules)
            .finish_non_exhaustive()
    }
}

impl Default for Policy {
    fn default() -> Self {
        Policy::new(Rules::default()).expect("the built-in policy loads")
    }
}

impl Policy {
    /// The rules of `path` (empty: the built-in ones), with their spam
    /// model.
    pub fn load(path: &std::path::Path) -> Result<Policy, RulesError> {
        Policy::new(Rules::load(path)?)
    }

    pub fn new(rules: Rules) -> Result<Policy, RulesError> {
        let abuse = match rules.abuse.default_list {
            true => abuse::Phrases::built_in(&rules.abuse.phrases),
            false => abuse::Phrases::new(&rules.abuse.phrases),
        };
        let model = if rules.spam.model.as_os_str().is_empty() {
            ModelRef::BuiltIn
        } else {
            let model = spam::Model::load(&rules.spam.model).map_err(|e| RulesError {
                key: "spam.model".into(),
                message: format!("{}: {e}", rules.spam.model.display()),
            })?;
            ModelRef::Loaded(Box::new(model))
        };
        let allow_phones = rules.allow.phones.iter().map(|p| digits(p)).collect();
        Ok(Policy {
            screen: screen::Screen::new(&abuse),
            abuse,
            rules,
            model,
            allow_phones,
        })
    }

    pub fn rules(&self) -> &Rules {
        &self.rules
    }

    pub fn model(&self) -> &spam::Model {
        match &self.model {
            ModelRef::BuiltIn => spam::Model::default_model(),
            ModelRef::Loaded(model) => model,
        }
    }

    /// The hits of the detectors in `text`, allow-listed ones left out.
    pub fn detect(&self, text: &str) -> Vec<Hit> {
        let mut hits = Vec::new();
        contact::detect(text, &mut hits);
        // payment::detect and self.abuse.detect, in one pass.
        self.screen.detect(text, &self.abuse, &mut hits);
        hits.retain(|h| !self.allowed(h));
        hits
    }

    /// Runs every detector on the reply text and the subject, looks at the
    /// attachments and, when `spam_check`, runs the spam model on the whole
    /// message. (Intake leaves the model out for a participant writing in
    /// their own conversation: spam comes from strangers, and short honest
    /// replies are where the model errs.)
    pub fn evaluate(
        &self,
        reply_text: &str,
        subject: &str,
        parsed: &Parsed,
        spam_check: bool,
    ) -> Verdict {
        self.judge(reply_text, subject, Some(parsed), spam_check)
    }

    /// The verdict on text typed in parley (the HTTP API, the CLI): every
    /// detector on the text and the subject; no attachments, and no spam
    /// model, which judges mail (its headers, its HTML, its senders) and
    /// has no mail to judge here: the marketplace vouches for who writes.
    pub fn evaluate_text(&self, reply_text: &str, subject: &str) -> Verdict {
        self.judge(reply_text, subject, None, false)
    }

    /// A sender's display name as the other side may see it ("Maria via
    /// Shop desk"): every span the rules redact or hold masked, so that a
    /// name cannot carry what a message may not ("Anna 0171 2345678").
    pub fn mask_name(&self, name: &str) -> String {
        self.evaluate_text(name, "")
            .redacted_text
            .unwrap_or_else(|| name.to_string())
    }

    fn judge(
        &self,
        reply_text: &str,
        subject: &str,
        parsed: Option<&Parsed>,
        spam_check: bool,
    ) -> Verdict {
        let mut found = Vec::new();
        for (field, text) in [(Field::ReplyText, reply_text), (Field::Subject, subject)] {
            for hit in self.detect(text) {
                let action = self.rules.action(hit.rule, hit.category);
                found.push(Found { hit, field, action });
            }
        }
        let attachments = parsed.map_or(&[][..], |p| p.attachments.as_slice());
        for attachment in attachments {
            if attachment.flags.contains(&super::attachments::EXECUTABLE) {
                let hit = Hit {
                    rule: EXECUTABLE_ATTACHMENT,
                    category: Category::Attachment,
                    start: 0,
                    end: 0,
                    value: attachment.filename.clone(),
                };
                let action = self.rules.action(hit.rule, hit.category);
                found.push(Found {
                    hit,
                    field: Field::Attachment,
                    action,
                });
            }
        }
        let spam_check = spam_check && parsed.is_some();
        let score = match parsed.filter(|_| spam_check) {
            Some(parsed) => self.model().score(parsed),
            None => spam::Score {
                probability: 0.0,
                rules: Vec::new(),
            },
        };
        let spam = &self.rules.spam;
        if spam_check && score.probability >= spam.hold_at {
            let hit = Hit {
                rule: SPAM_MODEL,
                category: Category::Spam,
                start: 0,
                end: 0,
                value: format!("{:.3} {}", score.probability, score.rules.join(" ")),
            };
            let action = match spam.reject_at {
                Some(at) if score.probability >= at => Action::Reject,
                _ => self.rules.action(hit.rule, hit.category),
            };
            found.push(Found {
                hit,
                field: Field::Message,
                action,
            });
        }
        let action = found
            .iter()
            .map(|f| f.action)
            .max()
            .unwrap_or(Action::Allow);
        let mask = |field: Field, text: &str, masked: &dyn Fn(Action) -> bool| {
            let spans: Vec<(usize, usize, Category)> = found
                .iter()
                .filter(|f| f.field == field && masked(f.action))
                .map(|f| (f.hit.start, f.hit.end, f.hit.category))
                .collect();
            (!spans.is_empty()).then(|| redact(text, spans, &self.rules.redact.mask))
        };
        let redacted_text = mask(Field::ReplyText, reply_text, &|a| a >= Action::Redact);
        let masked_text = mask(Field::ReplyText, reply_text, &|a| a == Action::Redact);
        let redacted_subject = mask(Field::Subject, subject, &|a| a >= Action::Redact);
        Verdict {
            action,
            found,
            redacted_text,
            masked_text,
            redacted_subject,
            spam: score.probability,
        }
    }

    /// Whether `hit` names the marketplace's own addresses.
    fn allowed(&self, hit: &Hit) -> bool {
        let allow = &self.rules.allow;
        let value = hit.value.to_ascii_lowercase();
        if value.is_empty() {
            return false;
        }
        let host = value.rsplit_once('@').map_or(value.as_str(), |(_, d)| d);
        let on_domain = |d: &String| {
            let d = d.trim().trim_start_matches('@').to_ascii_lowercase();
            host == d || host.ends_with(&format!(".{d}"))
        };
        match hit.rule {
            "phone" | "phone_spelled" => {
                let found = digits(&value);
                self.allow_phones
                    .iter()
                    .any(|p| !p.is_empty() && (found.ends_with(p.as_str()) || p.ends_with(&found)))
            }
            _ => {
                allow
                    .emails
                    .iter()
                    .any(|e| e.trim().eq_ignore_ascii_case(&value))
                    || allow.domains.iter().any(on_domain)
            }
        }
    }
}

/// At most `bytes` bytes of `text` before byte `start` (a char boundary),
/// from the first char boundary in reach.
fn text_before(text: &str, start: usize, bytes: usize) -> &str {
    let mut from = start.saturating_sub(bytes);
    while !text.is_char_boundary(from) {
        from += 1;
    }
    &text[from..start]
}

/// The windows of `text` from `before` bytes before each span's start to
/// `after` bytes after its end (to the end of a word: [`window_end`]),
/// widened to char boundaries and merged where they overlap; `spans` in
/// order of their starts.
fn windows(
    text: &str,
    spans: impl Iterator<Item = (usize, usize)>,
    before: usize,
    after: usize,
) -> Vec<(usize, usize)> {
    let mut out: Vec<(usize, usize)> = Vec::new();
    for (span_start, span_end) in spans {
        let mut start = span_start.saturating_sub(before);
        while !text.is_char_boundary(start) {
            start -= 1;
        }
        let end = window_end(text, span_end.saturating_add(after));
        match out.last_mut() {
            Some(last) if start <= last.1 => last.1 = last.1.max(end),
            _ => out.push((start, end)),
        }
    }
    out
}

/// Where a window of `text` that should end at byte `end` ends: after the
/// word `end` falls in, on a char boundary. The end of the text a regex
/// searches is a word boundary to it: cut inside "idiotic", "idiot" would
/// match there, and "gmail dot co" inside "gmail dot com".
fn window_end(text: &str, end: usize) -> usize {
    let bytes = text.as_bytes();
    let mut end = end.min(text.len());
    while end < text.len() && (bytes[end].is_ascii_alphanumeric() || bytes[end] == b'_') {
        end += 1;
    }
    while !text.is_char_boundary(end) {
        end += 1;
    }
    end
}

/// The digits of `text`.
fn digits(text: &str) -> String {
    text.chars().filter(char::is_ascii_digit).collect()
}

/// `text` with each span (byte offsets) replaced by the mask, `{category}`
/// in it by the span's category; overlapping spans are masked once.
pub fn redact(text: &str, mut spans: Vec<(usize, usize, Category)>, mask: &str) -> String {
    spans.sort_by_key(|s| (s.0, std::cmp::Reverse(s.1)));
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for (start, end, category) in spans {
        let end = end.min(text.len());
        if end <= at || !text.is_char_boundary(end) || !text.is_char_boundary(start) {
            continue;
        }
        if start < at {
            // Overlaps the span masked last: mask up to its end, once.
            at = end;
            continue;
        }
        out.push_str(&text[at..start]);
        out.push_str(&mask.replace("{category}", category.as_str()));
        at = end;
    }
    out.push_str(&text[at..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_window_ends_after_its_word_on_a_char_boundary() {
        let text = "call idiotic gmail dot com, ö ok";
        // Inside "idiotic" and inside "com": after them.
        assert_eq!(&text[..window_end(text, 10)], "call idiotic");
        assert_eq!(&text[..window_end(text, 24)], "call idiotic gmail dot com");
        // On a blank or a comma: there.
        assert_eq!(window_end(text, 4), 4);
        assert_eq!(window_end(text, 26), 26);
        // Inside "ö" (two bytes, not an ASCII word char): after it.
        let o = text.find('ö').expect("ö");
        assert_eq!(window_end(text, o + 1), o + 2);
        // Past the end: the end.
        assert_eq!(window_end(text, 1000), text.len());
    }

    fn hit(rule: &'static str, category: Category, text: &str, span: &str) -> Hit {
        let start = text.find(span).expect("span in text");
        Hit {
            rule,
            category,
            start,
            end: start + span.len(),
            value: String::new(),
        }
    }

    #[test]
    fn redaction_replaces_exactly_the_spans_with_non_ascii_around_them() {
        let text = "Ça coûte 45 €. Écris à zoë@exemple.fr — ou 06 12 34 56 78 ☎ merci";
        let email = hit("email", Category::Contact, text, "zoë@exemple.fr");
        let phone = hit("phone", Category::Contact, text, "06 12 34 56 78");
        let spans = vec![
            (phone.start, phone.end, phone.category),
            (email.start, email.end, email.category),
        ];
        assert_eq!(
            redact(text, spans, "[{category} removed]"),
            "Ça coûte 45 €. Écris à [contact removed] — ou [contact removed] ☎ merci"
        );
    }

    #[test]
    fn overlapping_spans_are_masked_once_and_bad_spans_skipped() {
        let text = "pay me on venmo @maria-l today";
        let a = hit("venmo", Category::Payment, text, "venmo @maria");
        let b = hit("handle", Category::Contact, text, "@maria-l");
        let spans = vec![(a.start, a.end, a.category), (b.start, b.end, b.category)];
        assert_eq!(redact(text, spans, "▇"), "pay me on ▇ today");
        // Inside a multi-byte character: ignored; past the end: clamped.
        let text = "né";
        assert_eq!(redact(text, vec![(2, 3, Category::Abuse)], "x"), "né");
        assert_eq!(redact(text, vec![(1, 400, Category::Abuse)], "x"), "nx");
    }

    #[test]
    fn hit_spans_are_reported_in_characters() {
        let text = "Très bien — écris-moi à maria@gmail.com";
        let found = Found {
            hit: hit("email", Category::Contact, text, "maria@gmail.com"),
            field: Field::ReplyText,
            action: Action::Redact,
        };
        let verdict = Verdict {
            action: Action::Redact,
            found: vec![found],
            redacted_text: None,
            masked_text: None,
            redacted_subject: None,
            spam: 0.0,
        };
        let json = verdict.hits_json(text, "");
        assert_eq!(json[0]["start"], 24);
        assert_eq!(json[0]["end"], 39);
        assert_eq!(json[0]["text"], "maria@gmail.com");
        assert_eq!(json[0]["field"], "reply_text");
        let chars: Vec<char> = text.chars().collect();
        let span: String = chars[24..39].iter().collect();
        assert_eq!(span, "maria@gmail.com");
    }

    #[test]
    fn approval_text_masks_redact_spans_only_and_the_subject_is_masked() {
        let raw = b"From: maria@buyer.example\r\nSubject: Lot 12\r\n\r\nhello\r\n";
        let parsed = crate::intake::parse::parse(raw).unwrap();
        let verdict = Policy::default().evaluate(
            "Call 0151 2345 6789, I pay by Venmo",
            "Call me on 0151 2345 6789",
            &parsed,
            false,
        );
        assert_eq!(verdict.action, Action::Hold);
        assert_eq!(
            verdict.masked_text.as_deref(),
            Some("Call [contact removed], I pay by Venmo")
        );
        assert_eq!(
            verdict.redacted_text.as_deref(),
            Some("Call [contact removed], I pay by [payment removed]")
        );
        assert_eq!(
            verdict.redacted_subject.as_deref(),
            Some("Call me on [contact removed]")
        );
        let clean = Policy::default().evaluate("See you at 11", "Lot 12", &parsed, false);
        assert_eq!((clean.masked_text, clean.redacted_subject), (None, None));
    }

    #[test]
    fn allow_lists_drop_the_marketplaces_own_addresses() {
        let mut rules = Rules::default();
        rules.allow.domains = vec!["market.example".into()];
        rules.allow.phones = vec!["+1 (800) 555-0100".into()];
        let policy = Policy::new(rules).unwrap();
        let mut own = Hit {
            rule: "email",
            category: Category::Contact,
            start: 0,
            end: 1,
            value: "help@support.market.example".into(),
        };
        assert!(policy.allowed(&own));
        own.value = "help@notmarket.example".into();
        assert!(!policy.allowed(&own));
        own.rule = "phone";
        own.value = "8005550100".into();
        assert!(policy.allowed(&own));
        own.value = "8005550199".into();
        assert!(!policy.allowed(&own));
    }
}
