//! Composing one notification from its outbox row: the subject, text and
//! HTML templates of its kind ([`templates`], minijinja) rendered from a
//! [`view::View`], written as a multipart mail by mail-builder; lettre
//! sends the bytes.
//!
//! What threads the answer back (docs/token.md, "Headers"): `Reply-To:
//! reply+TOKEN@<reply domain>` with the row's token, the row's Message-ID,
//! In-Reply-To/References naming the recipient's own earlier mail and what
//! was issued to the recipient (never the other side's Message-IDs, which
//! name their mail host), the subject tag. What keeps loops away: `Auto-Submitted` (RFC 3834:
//! `auto-replied` for the acknowledgement and the after-hours reply, which
//! answer a message, `auto-generated` for the rest), `X-Auto-Response-Suppress:
//! All` (Exchange), our [`LOOP_HEADER`] (intake classifies our own mail
//! coming back by it) and the VERP envelope sender `bounce+TOKEN@<reply
//! domain>` naming the row, so a bounce fails exactly this notification.

pub mod templates;
pub mod view;

use std::collections::HashMap;
use std::sync::Arc;

use lettre::address::{Address, Envelope};
use mail_builder::MessageBuilder;
use mail_builder::headers::raw::Raw;
use mail_builder::headers::url::URL;

use crate::config::{Config, ConfigError};
use crate::intake::classify::LOOP_HEADER;
use crate::intake::thread::SubjectTag;
use crate::store::{ACK, AFTER_HOURS, Message as Stored, OutboxRow, Participant, Ticket};
use crate::token::Signer;
pub use templates::{TemplateError, Templates};
use view::View;

/// How many earlier Message-IDs References names: enough for any client
/// to thread, short enough for a long ticket.
pub const MAX_REFERENCES: i64 = 10;

/// The outbox kind of a notice that a message was not delivered.
pub use crate::store::REJECTED_NOTICE;

/// A queue's own texts for its templates.
#[derive(Debug, Clone, Default)]
pub struct QueueTexts {
    /// Its display name (its name when it has none).
    pub display_name: String,
    /// The acknowledgement's greeting.
    pub greeting: String,
    /// The after-hours reply's text.
    pub after_hours_message: String,
    /// Its response target, ms (0: none).
    pub response_target_ms: i64,
}

/// What composing needs besides the row, fixed for the process.
#[derive(Debug, Clone)]
pub struct Composer {
    pub signer: Signer,
    /// Lower case.
    pub reply_domain: String,
    /// The From address (`relay.from`), checked.
    pub from: String,
    pub subject_tag: SubjectTag,
    pub templates: Arc<Templates>,
    /// `notify.web_url`; empty: no link.
    pub web_url: String,
    /// `notify.unsubscribe_url`; empty: no List-Unsubscribe.
    pub unsubscribe_url: String,
    /// By queue name.
    pub queues: HashMap<String, QueueTexts>,
    /// `notify.marketplace_name`: the author of the marketplace's own
    /// messages.
    pub marketplace_name: String,
}

/// What the worker read from the store for one row.
#[derive(Debug, Clone)]
pub struct Context {
    pub ticket: Ticket,
    /// The queue's display name (its name when it has none).
    pub queue_name: String,
    /// The message announced, if the row names one.
    pub message: Option<Stored>,
    /// The recipient's earlier Message-IDs (no brackets), oldest first;
    /// see [`crate::store::OutboxStore::thread_ids`].
    pub thread_ids: Vec<String>,
    /// For a rejection notice: the moderator's reason, if recorded.
    pub reason: Option<String>,
    /// The ticket's participants (names and roles for the templates).
    pub participants: Vec<Participant>,
    /// For a transcript: the ticket's messages, oldest first.
    pub transcript: Vec<Stored>,
    /// For a transcript: the note of whoever forwarded the ticket.
    pub note: Option<String>,
    /// For a new message: the earlier messages a throttle held back and
    /// coalesced into this notification, oldest first.
    pub earlier: Vec<Stored>,
    /// For an acknowledgement or after-hours reply: the queue's texts as
    /// the console set them, which stand for the config's.
    pub custom: Option<crate::store::QueueTexts>,
}

/// A composed notification: the envelope (VERP sender, the recipient) and
/// the mail.
#[derive(Debug, Clone)]
pub struct Composed {
    pub envelope: Envelope,
    pub bytes: Vec<u8>,
}

/// A notification that cannot be composed: retrying will not help.
#[derive(Debug, thiserror::Error)]
pub enum ComposeError {
    #[error("{what} {value:?} is not a valid address: {source}")]
    Address {
        what: &'static str,
        value: String,
        #[source]
        source: lettre::address::AddressError,
    },
    #[error("cannot build the envelope: {0}")]
    Envelope(#[from] lettre::error::Error),
    #[error(transparent)]
    Template(#[from] TemplateError),
    #[error("cannot write the mail: {0}")]
    Write(#[from] std::io::Error),
}

impl Composer {
    /// The composer of `config` (`[mail]`, `[relay]`, `[notify]`): loads
    /// and checks the templates.
    pub fn new(config: &Config, secret: &[u8]) -> Result<Composer, ConfigError> {
        let from = config.relay.from_address(&config.mail.reply_domain);
        from.parse::<Address>()
            .map_err(|e| ConfigError::new("relay.from", format!("{from:?}: {e}")))?;
        let dir = &config.notify.template_dir;
        let templates = Templates::load((!dir.as_os_str().is_empty()).then_some(dir.as_path()))
            .map_err(|e| ConfigError::new("notify.template_dir", e.to_string()))?;
        Ok(Composer {
            signer: Signer::new(secret),
            reply_domain: config.mail.reply_domain.to_ascii_lowercase(),
            from,
            subject_tag: SubjectTag::new(&config.mail.subject_tag),
            templates: Arc::new(templates),
            web_url: config.notify.web_url.clone(),
            unsubscribe_url: config.notify.unsubscribe_url.clone(),
            marketplace_name: config.notify.marketplace_name.clone(),
            queues: config
                .queues
                .iter()
                .map(|q| {
                    let texts = QueueTexts {
                        display_name: q.shown_name().to_string(),
                        greeting: q.greeting.clone(),
                        after_hours_message: q.after_hours_message().to_string(),
                        response_target_ms: q.response_target_ms(),
                    };
                    (q.name.clone(), texts)
                })
                .collect(),
        })
    }

    /// The texts of `queue`, if it has any.
    pub fn queue_texts(&self, queue: &str) -> Option<&QueueTexts> {
        self.queues.get(queue)
    }

    /// The mail for `row` and its envelope.
    pub fn compose(&self, row: &OutboxRow, cx: &Context) -> Result<Composed, ComposeError> {
        let address = |what: &'static str, value: String| {
            value
                .parse::<Address>()
                .map_err(|source| ComposeError::Address {
                    what,
                    value,
                    source,
                })
        };
        let to = address("recipient", row.recipient.clone())?;
        let reply_to = address(
            "reply address",
            format!("reply+{}@{}", row.token, self.reply_domain),
        )?;
        let bounce = address(
            "bounce address",
            format!(
                "bounce+{}@{}",
                self.signer.bounce_token(row.id),
                self.reply_domain
            ),
        )?;
        let envelope = Envelope::new(Some(bounce), vec![to.clone()])?;
        let view = View::new(self, row, cx);
        let rendered = self.templates.render(&row.kind, &cx.ticket.queue, &view)?;
        // The other side's name on a new message ("Maria via Shop desk"),
        // the queue's on notices; never the other side's address.
        let from_name = match &view.sender {
            Some(sender) if sender.name != cx.queue_name => {
                format!("{} via {}", sender.name, cx.queue_name)
            }
            _ => cx.queue_name.clone(),
        };
        let auto_submitted = match row.kind.as_str() {
            ACK | AFTER_HOURS => "auto-replied",
            _ => "auto-generated",
        };
        let mut mail = MessageBuilder::new()
            .from((from_name, self.from.clone()))
            .to(to.to_string())
            .reply_to((cx.queue_name.clone(), reply_to.to_string()))
            .subject(rendered.subject)
            .message_id(row.message_id.clone())
            .header("Auto-Submitted", Raw::new(auto_submitted))
            .header("X-Auto-Response-Suppress", Raw::new("All"))
            .header(LOOP_HEADER, Raw::new(self.reply_domain.clone()));
        if let Some(last) = cx.thread_ids.last() {
            mail = mail
                .in_reply_to(last.clone())
                .references(cx.thread_ids.clone());
        }
        if let Some(url) = &view.unsubscribe_url {
            // RFC 8058: one click, by POST, without a confirmation page.
            mail = mail
                .header("List-Unsubscribe", URL::new(url.clone()))
                .header(
                    "List-Unsubscribe-Post",
                    Raw::new("List-Unsubscribe=One-Click"),
                );
        }
        let bytes = mail
            .text_body(rendered.text)
            .html_body(rendered.html)
            .write_to_vec()?;
        Ok(Composed { envelope, bytes })
    }
}

/// The text the other party may see ([`crate::moderation::visible_text`]);
/// of a message they are not shown (held, rejected), which no
/// notification announces, every span masked.
pub fn visible_text(message: &Stored) -> &str {
    crate::moderation::visible_text(message)
        .or(message.redacted_text.as_deref())
        .unwrap_or(&message.reply_text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Direction, Moderation, OutboxState};
    use crate::tickets::{Role, Status};

    fn composer() -> Composer {
        let mut queues = HashMap::new();
        queues.insert(
            "desk".to_string(),
            QueueTexts {
                display_name: "Shop desk".into(),
                greeting: "Hello! We're here to help.".into(),
                after_hours_message: "We are closed for the weekend.".into(),
                response_target_ms: 86_400_000,
            },
        );
        Composer {
            signer: Signer::new(b"0123456789abcdef"),
            reply_domain: "reply.example".into(),
            from: "noreply@reply.example".into(),
            subject_tag: SubjectTag::new("[#{number}]"),
            templates: Arc::new(Templates::built_in()),
            web_url: "https://market.example/m/{number}?t={token}".into(),
            unsubscribe_url: "https://market.example/off?t={token}".into(),
            marketplace_name: "The marketplace".into(),
            queues,
        }
    }

    fn row(kind: &str) -> OutboxRow {
        OutboxRow {
            id: 7,
            ticket: 42,
            message: Some(3),
            participant: 5,
            recipient: "agent@seller.example".into(),
            token: "abc123".into(),
            message_id: "abc123.1@reply.example".into(),
            kind: kind.into(),
            state: OutboxState::Pending,
            attempts: 0,
            last_error: None,
            last_reply: None,
            next_attempt_at: 0,
            sent_at: None,
            created_at: 0,
            coalesced_into: None,
        }
    }

    fn message(policy_action: &str, moderation: Moderation) -> Stored {
        Stored {
            id: 3,
            ticket: 42,
            author: Some(6),
            direction: Direction::Inbound,
            reply_text: "Call me at 555 0100".into(),
            html: None,
            raw_id: None,
            message_id: None,
            matched_by: "token".into(),
            flags: Vec::new(),
            auto: "none".into(),
            elided: String::new(),
            signature: String::new(),
            created_at: 0,
            policy_action: policy_action.into(),
            policy_hits: "[]".into(),
            redacted_text: Some("Call me at [phone removed]".into()),
            masked_text: (policy_action != "allow").then(|| "Call me at [phone removed]".into()),
            moderation,
        }
    }

    fn participant(id: i64, address: &str, name: Option<&str>, role: Role) -> Participant {
        Participant {
            id,
            ticket: 42,
            address: address.into(),
            display_name: name.map(str::to_string),
            user_id: None,
            role,
            failing_since: None,
        }
    }

    fn context(message: Option<Stored>, reason: Option<&str>) -> Context {
        Context {
            ticket: Ticket {
                number: 42,
                queue: "desk".into(),
                subject: "Oak sideboard".into(),
                status: Status::Open,
                assignee: None,
                item_ref: None,
                item_title: Some("Oak sideboard, 1960s".into()),
                item_url: None,
                auction_ref: None,
                auction_title: None,
                created_at: 0,
                updated_at: 0,
                archived: false,
                deleted: false,
                waiting_since: None,
            },
            queue_name: "Shop desk".into(),
            message,
            thread_ids: vec!["a@x.example".into(), "b@x.example".into()],
            reason: reason.map(str::to_string),
            participants: vec![
                participant(5, "agent@seller.example", None, Role::Seller),
                participant(6, "maria@buyer.example", Some("Maria Lopez"), Role::Client),
            ],
            transcript: Vec::new(),
            note: None,
            earlier: Vec::new(),
            custom: None,
        }
    }

    /// The mail as a reader sees it: headers, text part, HTML part.
    struct Read {
        raw: String,
        text: String,
        html: String,
    }

    fn read(row: &OutboxRow, cx: &Context) -> Read {
        let composed = composer().compose(row, cx).unwrap();
        let parsed = mail_parser::MessageParser::default()
            .parse(&composed.bytes)
            .expect("parses");
        Read {
            raw: String::from_utf8(composed.bytes.clone()).unwrap(),
            text: parsed.body_text(0).unwrap_or_default().into_owned(),
            html: parsed.body_html(0).unwrap_or_default().into_owned(),
        }
    }

    #[test]
    fn the_other_party_sees_redacted_text_unless_a_moderator_says_otherwise() {
        for m in [
            message("allow", Moderation::None),
            message("hold", Moderation::ApprovedAsWritten),
        ] {
            assert_eq!(visible_text(&m), "Call me at 555 0100");
        }
        for m in [
            message("redact", Moderation::None),
            message("hold", Moderation::Approved),
            message("hold", Moderation::ApprovedRedacted),
            message("hold", Moderation::Held),
        ] {
            assert_eq!(visible_text(&m), "Call me at [phone removed]");
        }
        let mail = read(
            &row("new_message"),
            &context(Some(message("redact", Moderation::None)), None),
        );
        for part in [&mail.text, &mail.html, &mail.raw] {
            assert!(part.contains("[phone removed]"), "{part}");
            assert!(!part.contains("555 0100"), "{part}");
        }
    }

    #[test]
    fn headers_thread_and_mark_the_mail() {
        let mail = read(
            &row("new_message"),
            &context(Some(message("allow", Moderation::None)), None),
        );
        for line in [
            "Subject: [#42] Oak sideboard",
            "Message-ID: <abc123.1@reply.example>",
            "In-Reply-To: <b@x.example>",
            "References: <a@x.example> <b@x.example>",
            "Auto-Submitted: auto-generated",
            "X-Auto-Response-Suppress: All",
            "X-Parley-Loop: reply.example",
            "Reply-To: \"Shop desk\" <reply+abc123@reply.example>",
            "From: \"Maria Lopez via Shop desk\" <noreply@reply.example>",
            "To: <agent@seller.example>",
            "List-Unsubscribe: <https://market.example/off?t=abc123>",
            "List-Unsubscribe-Post: List-Unsubscribe=One-Click",
            "multipart/alternative",
        ] {
            assert!(mail.raw.contains(line), "{line} missing:\n{}", mail.raw);
        }
        assert!(!mail.raw.contains("maria@buyer.example"), "{}", mail.raw);
        assert!(
            mail.text.contains("https://market.example/m/42?t=abc123"),
            "{}",
            mail.text
        );
        for part in [&mail.text, &mail.html] {
            assert!(
                part.contains("## Please reply above this line ##"),
                "{part}"
            );
            assert!(part.contains("Maria Lopez"), "{part}");
            assert!(part.contains("Oak sideboard, 1960s"), "{part}");
            assert!(part.contains("42?t=abc123"), "{part}");
        }
    }

    #[test]
    fn a_rejection_notice_gives_the_reason_not_the_text() {
        let m = Some(message("hold", Moderation::Rejected));
        let mail = read(
            &row(REJECTED_NOTICE),
            &context(m.clone(), Some("Phone numbers")),
        );
        assert!(mail.text.contains("was not delivered"), "{}", mail.text);
        assert!(
            mail.text.contains("The moderator's reason: Phone numbers"),
            "{}",
            mail.text
        );
        assert!(!mail.raw.contains("555 0100"), "{}", mail.raw);
        // Notices carry no unsubscribe: they are not optional.
        assert!(!mail.raw.contains("List-Unsubscribe"), "{}", mail.raw);
        let mail = read(&row(REJECTED_NOTICE), &context(m, None));
        assert!(!mail.text.contains("reason"), "{}", mail.text);
    }

    #[test]
    fn auto_replies_say_so_and_carry_the_queues_texts() {
        let m = Some(message("allow", Moderation::None));
        let ack = read(&row("ack"), &context(m.clone(), None));
        assert!(
            ack.raw.contains("Auto-Submitted: auto-replied"),
            "{}",
            ack.raw
        );
        assert!(
            ack.text.contains("Hello! We're here to help."),
            "{}",
            ack.text
        );
        assert!(
            ack.html.contains("Hello! We&#x27;re here to help."),
            "{}",
            ack.html
        );
        let away = read(&row("after_hours"), &context(m, None));
        assert!(
            away.raw.contains("Auto-Submitted: auto-replied"),
            "{}",
            away.raw
        );
        assert!(
            away.text.contains("We are closed for the weekend."),
            "{}",
            away.text
        );
    }

    #[test]
    fn a_transcript_lists_the_shown_messages_and_the_note() {
        let mut cx = context(None, None);
        let mut first = message("allow", Moderation::None);
        first.reply_text = "Is it still for sale?".into();
        first.redacted_text = None;
        let mut held = message("hold", Moderation::Held);
        held.reply_text = "pay me by wire".into();
        let mut answer = message("allow", Moderation::None);
        answer.author = Some(5);
        answer.reply_text = "Yes, it is.".into();
        answer.redacted_text = None;
        cx.transcript = vec![first, held, answer];
        cx.note = Some("Please check the drawers".into());
        let mut r = row("transcript");
        r.message = None;
        let mail = read(&r, &cx);
        for part in [&mail.text, &mail.html] {
            assert!(part.contains("Is it still for sale?"), "{part}");
            assert!(part.contains("Yes, it is."), "{part}");
            assert!(part.contains("Please check the drawers"), "{part}");
            assert!(part.contains("Maria Lopez"), "{part}");
            assert!(!part.contains("pay me by wire"), "{part}");
        }
        assert!(
            mail.raw.contains("Subject: [#42] Fwd: Oak sideboard"),
            "{}",
            mail.raw
        );
    }

    #[test]
    fn an_invalid_recipient_is_a_permanent_error() {
        let mut r = row("new_message");
        r.recipient = "not an address".into();
        let e = composer().compose(&r, &context(None, None)).unwrap_err();
        assert!(
            matches!(
                e,
                ComposeError::Address {
                    what: "recipient",
                    ..
                }
            ),
            "{e}"
        );
        let e = composer()
            .compose(&row("no_such_kind"), &context(None, None))
            .unwrap_err();
        assert!(matches!(e, ComposeError::Template(_)), "{e}");
    }
}
