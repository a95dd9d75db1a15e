//! The `parley inspect --json` object: a stable contract (docs/json.md).

use serde::Serialize;

use super::policy::Action;
use super::{Decision, Plan};
use crate::store::Target;

#[derive(Debug, Serialize)]
pub struct Report {
    pub message_id: Option<String>,
    pub from: Option<String>,
    pub recipients: Vec<String>,
    pub subject: Option<String>,
    /// `none` | `auto_reply` | `bounce` | `list` | `loop`.
    pub auto: &'static str,
    pub thread: ThreadReport,
    pub reply_text: String,
    /// The signature (an addition): the closing `reply_text` ends with,
    /// then what was cut under a delimiter or as the client's sign-off.
    pub signature: String,
    pub policy: PolicyReport,
    pub redacted_text: String,
    /// The attachments, as they would be stored (an addition).
    pub attachments: Vec<AttachmentReport>,
    /// What `deliver` would do: `post`, `duplicate`, `quarantine`,
    /// `no_match` or `reject` (an addition to the contract's fields).
    pub decision: &'static str,
}

#[derive(Debug, Serialize)]
pub struct ThreadReport {
    /// `token` | `references` | `inbound_references` | `subject` | `new` |
    /// `none`.
    pub matched_by: &'static str,
    pub ticket: Option<i64>,
    pub queue: Option<String>,
    pub sender_is_participant: bool,
    pub flags: Vec<String>,
    /// The deleted ticket the message answers, which it follows with a
    /// new ticket (an addition; absent otherwise).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub follows_deleted: Option<i64>,
}

#[derive(Debug, Serialize)]
pub struct AttachmentReport {
    /// Sanitised, never empty.
    pub filename: String,
    pub content_type: String,
    /// Decoded size in bytes.
    pub size: usize,
    /// `executable`, `too_large`, `over_message_limit`.
    pub flags: Vec<&'static str>,
}

#[derive(Debug, Serialize)]
pub struct PolicyReport {
    /// `allow` | `redact` | `hold` | `reject`.
    pub action: &'static str,
    /// Each: rule, category, field, start, end (characters), text, action.
    pub hits: Vec<serde_json::Value>,
    /// The spam model's probability (0 to 1).
    pub spam: f64,
}

impl Report {
    pub fn new(plan: &Plan) -> Report {
        let parsed = plan.parsed.as_ref();
        let thread = plan.thread.as_ref();
        let new_ticket =
            matches!(&plan.decision, Decision::Post(p) if matches!(p.target, Target::New(_)));
        let held = thread.is_some_and(|t| t.flags.iter().any(|f| super::thread::is_holding(f)));
        Report {
            message_id: parsed.and_then(|p| p.message_id.clone()),
            from: parsed.and_then(|p| p.from.as_ref().map(|f| f.address.clone())),
            recipients: plan.recipients.clone(),
            subject: parsed.and_then(|p| p.subject.clone()),
            auto: plan
                .classification
                .as_ref()
                .map_or("none", |c| c.auto.as_str()),
            thread: ThreadReport {
                matched_by: thread.map_or("none", |t| t.matched_by.as_str()),
                // A new ticket has no number before it is stored.
                ticket: thread
                    .and_then(|t| t.ticket.as_ref())
                    .filter(|_| !new_ticket)
                    .map(|t| t.number),
                queue: thread.and_then(|t| {
                    t.queue
                        .as_ref()
                        .map(|q| q.name.clone())
                        .or_else(|| t.ticket.as_ref().map(|t| t.queue.clone()))
                        .or_else(|| t.deleted.as_ref().map(|t| t.queue.clone()))
                }),
                sender_is_participant: thread.is_some_and(|t| t.sender_is_participant),
                flags: thread.map_or_else(Vec::new, |t| {
                    t.flags.iter().map(|f| f.to_string()).collect()
                }),
                follows_deleted: thread.and_then(|t| t.deleted.as_ref()).map(|t| t.number),
            },
            reply_text: plan.reply_text.clone(),
            signature: plan.signature.clone(),
            policy: match &plan.policy {
                Some(verdict) => PolicyReport {
                    action: match held {
                        true => Action::Hold.max(verdict.action).as_str(),
                        false => verdict.action.as_str(),
                    },
                    hits: verdict.hits_json(
                        &plan.reply_text,
                        parsed.and_then(|p| p.subject.as_deref()).unwrap_or(""),
                    ),
                    spam: verdict.spam,
                },
                None => PolicyReport {
                    action: if held { "hold" } else { "allow" },
                    hits: Vec::new(),
                    spam: 0.0,
                },
            },
            redacted_text: plan
                .policy
                .as_ref()
                .and_then(|v| v.redacted_text.clone())
                .unwrap_or_else(|| plan.reply_text.clone()),
            attachments: parsed.map_or_else(Vec::new, |p| {
                p.attachments
                    .iter()
                    .map(|a| AttachmentReport {
                        filename: a.filename.clone(),
                        content_type: a.content_type.clone(),
                        size: a.size,
                        flags: a.flags.clone(),
                    })
                    .collect()
            }),
            decision: match plan.decision {
                Decision::Post(_) => "post",
                Decision::Duplicate { .. } => "duplicate",
                Decision::Quarantine { .. } => "quarantine",
                Decision::NoMatch => "no_match",
                Decision::Reject { .. } => "reject",
                Decision::Bounce { .. } => "bounce",
            },
        }
    }
}
