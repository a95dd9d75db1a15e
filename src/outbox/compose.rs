//! Composing one notification from its outbox row: a plain-text mail built
//! with lettre's `Message::builder()` (lettre also sends it, so parley has
//! one mail-writing crate). Templates (minijinja, text and HTML, per queue)
//! come later; until then the wording is fixed here.
//!
//! What threads the answer back (docs/token.md, "Headers"): `Reply-To:
//! reply+TOKEN@<reply domain>` with the row's token, the row's Message-ID,
//! In-Reply-To/References naming the ticket's earlier messages, the subject
//! tag. What keeps loops away: `Auto-Submitted: auto-generated` (RFC 3834),
//! `X-Auto-Response-Suppress: All` (Exchange), our [`LOOP_HEADER`] (intake
//! classifies our own mail coming back by it) and the VERP envelope sender
//! `bounce+TOKEN@<reply domain>` naming the row, so a bounce fails exactly
//! this notification.

use lettre::Message;
use lettre::address::{Address, Envelope};
use lettre::message::Mailbox;
use lettre::message::header::{ContentType, HeaderName, HeaderValue};

use crate::intake::classify::LOOP_HEADER;
use crate::intake::reply::REPLY_MARKER;
use crate::intake::thread::SubjectTag;
use crate::store::{Message as Stored, Moderation, OutboxRow, Ticket};
use crate::token::Signer;

/// How many earlier Message-IDs References names: enough for any client
/// to thread, short enough for a long ticket.
pub const MAX_REFERENCES: i64 = 10;

/// The outbox kind of a notice that a message was not delivered.
pub use crate::store::REJECTED_NOTICE;

/// What composing needs besides the row, fixed for the process.
#[derive(Debug, Clone)]
pub struct Composer {
    pub signer: Signer,
    /// Lower case.
    pub reply_domain: String,
    /// The From address (`relay.from`).
    pub from: Address,
    pub subject_tag: SubjectTag,
}

/// What the worker read from the store for one row.
#[derive(Debug, Clone)]
pub struct Context {
    pub ticket: Ticket,
    /// The queue's display name (its name when it has none).
    pub queue_name: String,
    /// The message announced, if the row names one.
    pub message: Option<Stored>,
    /// Earlier Message-IDs (no brackets), oldest first; see
    /// [`crate::store::Store::thread_ids`].
    pub thread_ids: Vec<String>,
    /// For a rejection notice: the moderator's reason, if recorded.
    pub reason: Option<String>,
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
    #[error("cannot build the mail: {0}")]
    Build(#[from] lettre::error::Error),
}

impl Composer {
    /// The mail for `row`, its envelope set (VERP sender, the recipient).
    pub fn compose(&self, row: &OutboxRow, cx: &Context) -> Result<Message, ComposeError> {
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
        let tag = self.subject_tag.render(cx.ticket.number);
        let mut builder = Message::builder()
            .envelope(envelope)
            .from(Mailbox::new(Some(cx.queue_name.clone()), self.from.clone()))
            .to(Mailbox::new(None, to))
            .reply_to(Mailbox::new(Some(cx.queue_name.clone()), reply_to))
            .subject(format!("{tag} {}", cx.ticket.subject))
            .message_id(Some(format!("<{}>", row.message_id)))
            .date_now()
            .raw_header(raw("Auto-Submitted", "auto-generated"))
            .raw_header(raw("X-Auto-Response-Suppress", "All"))
            .raw_header(raw(LOOP_HEADER, &self.reply_domain));
        if let Some(last) = cx.thread_ids.last() {
            let references = cx
                .thread_ids
                .iter()
                .map(|id| format!("<{id}>"))
                .collect::<Vec<_>>()
                .join(" ");
            builder = builder
                .in_reply_to(format!("<{last}>"))
                .references(references);
        }
        Ok(builder
            .header(ContentType::TEXT_PLAIN)
            .body(body(row, cx, &tag))?)
    }
}

/// A header lettre has no type for; the value is ASCII we wrote.
fn raw(name: &'static str, value: &str) -> HeaderValue {
    HeaderValue::new(HeaderName::new_from_ascii_str(name), value.to_string())
}

/// The text the other party may see: redacted when the policy or the
/// moderator said so.
pub fn visible_text(message: &Stored) -> &str {
    let redact =
        message.policy_action == "redact" || message.moderation == Moderation::ApprovedRedacted;
    match (&message.redacted_text, redact) {
        (Some(redacted), true) => redacted,
        _ => &message.reply_text,
    }
}

/// The body: the marker line first (intake cuts everything from it on out
/// of a reply), then the message, then a footer.
fn body(row: &OutboxRow, cx: &Context, tag: &str) -> String {
    let marker = format!("## Please {} ##", REPLY_MARKER);
    let text = if row.kind == REJECTED_NOTICE {
        let reason = cx
            .reason
            .as_deref()
            .filter(|r| !r.trim().is_empty())
            .map(|r| format!("\n\nThe moderator's reason: {r}"))
            .unwrap_or_default();
        format!(
            "Your message on ticket {tag} was not delivered: it does not follow the \
             rules of this marketplace.{reason}"
        )
    } else {
        cx.message
            .as_ref()
            .map(|m| visible_text(m).trim_end().to_string())
            .unwrap_or_else(|| format!("There is news on ticket {tag}."))
    };
    format!(
        "{marker}\n\n{text}\n\n-- \n{}, ticket {tag}: {}\nAnswer by replying to this email.\n",
        cx.queue_name, cx.ticket.subject
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Direction, OutboxState};
    use crate::tickets::Status;

    fn composer() -> Composer {
        Composer {
            signer: Signer::new(b"0123456789abcdef"),
            reply_domain: "reply.example".into(),
            from: "noreply@reply.example".parse().unwrap(),
            subject_tag: SubjectTag::new("[#{number}]"),
        }
    }

    fn row(kind: &str) -> OutboxRow {
        OutboxRow {
            id: 7,
            ticket: 42,
            message: Some(3),
            participant: 5,
            recipient: "maria@buyer.example".into(),
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
            created_at: 0,
            policy_action: policy_action.into(),
            policy_hits: "[]".into(),
            redacted_text: Some("Call me at [phone removed]".into()),
            moderation,
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
                item_title: None,
                auction_ref: None,
                auction_title: None,
                created_at: 0,
                updated_at: 0,
                archived: false,
                deleted: false,
            },
            queue_name: "Shop desk".into(),
            message,
            thread_ids: vec!["a@x.example".into(), "b@x.example".into()],
            reason: reason.map(str::to_string),
        }
    }

    fn formatted(row: &OutboxRow, cx: &Context) -> String {
        let mail = composer().compose(row, cx).unwrap();
        String::from_utf8(mail.formatted()).unwrap()
    }

    #[test]
    fn the_other_party_sees_redacted_text_when_the_policy_or_a_moderator_says_so() {
        let plain = message("allow", Moderation::None);
        assert_eq!(visible_text(&plain), "Call me at 555 0100");
        for m in [
            message("redact", Moderation::None),
            message("hold", Moderation::ApprovedRedacted),
        ] {
            assert_eq!(visible_text(&m), "Call me at [phone removed]");
        }
        let text = formatted(
            &row("new_message"),
            &context(Some(message("redact", Moderation::None)), None),
        );
        assert!(
            text.contains("[phone removed]") && !text.contains("555 0100"),
            "{text}"
        );
    }

    #[test]
    fn headers_thread_and_mark_the_mail() {
        let text = formatted(&row("new_message"), &context(None, None));
        for line in [
            "Subject: [#42] Oak sideboard",
            "Message-ID: <abc123.1@reply.example>",
            "In-Reply-To: <b@x.example>",
            "References: <a@x.example> <b@x.example>",
            "Auto-Submitted: auto-generated",
            "X-Auto-Response-Suppress: All",
            "X-Parley-Loop: reply.example",
            "reply+abc123@reply.example",
            "## Please reply above this line ##",
        ] {
            assert!(text.contains(line), "{line} missing:\n{text}");
        }
        assert!(
            text.contains("From: \"Shop desk\" <noreply@reply.example>"),
            "{text}"
        );
    }

    #[test]
    fn a_rejection_notice_gives_the_reason_not_the_text() {
        let m = Some(message("hold", Moderation::Rejected));
        let text = formatted(
            &row(REJECTED_NOTICE),
            &context(m.clone(), Some("Phone numbers")),
        );
        assert!(text.contains("was not delivered"), "{text}");
        assert!(
            text.contains("The moderator's reason: Phone numbers"),
            "{text}"
        );
        assert!(!text.contains("555 0100"), "{text}");
        let text = formatted(&row(REJECTED_NOTICE), &context(m, None));
        assert!(!text.contains("reason"), "{text}");
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
    }
}
