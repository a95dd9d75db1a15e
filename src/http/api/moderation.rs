//! The moderators' endpoints under `/api/v1/moderation`: the held queue,
//! one message under review, approve and reject. Moderator and admin keys
//! only (403 for every other caller). Each calls what `parley moderation`
//! calls ([`review`]), so a decision is the same through either door.

use axum::extract::State;
use serde::{Deserialize, Serialize};

use super::rfc3339;
use crate::http::AppState;
use crate::http::auth::Caller;
use crate::http::error::Problem;
use crate::http::extract::{Json, OptionalJson, Path};
use crate::http::viewer::{ActAs, Acting};
use crate::moderation::review::{Choice, DecideError};
use crate::moderation::{self, review};
use crate::store::{Approval, AuditEntry, Message, Participant, Ruling};
use crate::tickets::Status;

/// The held messages, oldest first.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct HeldQueue {
    pub items: Vec<HeldMessage>,
}

/// A message as a moderator reads it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct HeldMessage {
    /// The message id: what approve and reject take.
    pub id: i64,
    /// The conversation it was written on.
    pub conversation: i64,
    /// Its author; `null` when the sender is no participant (a stranger
    /// using someone's reply address).
    pub author: Option<HeldAuthor>,
    /// RFC 3339, UTC.
    #[schema(example = "2026-11-21T08:15:00.123Z")]
    pub created_at: String,
    /// `held`; once decided `approved`, `approved_redacted`,
    /// `approved_as_written` or `rejected`.
    #[schema(example = "held")]
    pub moderation: String,
    /// The policy's verdict (`hold`).
    #[schema(example = "hold")]
    pub action: String,
    /// Why it is held: the holding flags and the rules whose hits hold.
    pub held_for: Vec<String>,
    /// The message's flags (`sender_mismatch`, `bad_token`, …).
    pub flags: Vec<String>,
    /// What the policy found, with spans.
    pub hits: Vec<PolicyHit>,
    /// The spam model's probability, when the model found it spam.
    pub spam: Option<f64>,
    /// The text as written.
    pub text: String,
    /// What a plain approval shows the other party: the spans of `redact`
    /// rules masked; `null` when there are none (then the text as written).
    pub masked_text: Option<String>,
    /// What an approval `redacted` shows: every span masked; `null` when
    /// there is nothing to redact.
    pub redacted_text: Option<String>,
}

/// A message under review, with its context and history.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ModerationReview {
    #[serde(flatten)]
    pub message: HeldMessage,
    /// The conversation's subject.
    pub subject: String,
    /// The quoted history and signature cut from the text.
    pub elided: String,
    /// What the other party sees now; `null` while held and once rejected.
    pub shown_text: Option<String>,
    /// The audit entries about this message, oldest first.
    pub audit: Vec<AuditItem>,
}

/// The author of a held message.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct HeldAuthor {
    #[schema(example = "maria@buyer.example")]
    pub address: String,
    /// `client`, `seller` or `staff`.
    #[schema(example = "client")]
    pub role: String,
}

/// A hit of the content policy (docs/json.md, a hit).
#[derive(Debug, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct PolicyHit {
    #[schema(example = "phone")]
    pub rule: String,
    #[schema(example = "contact")]
    pub category: String,
    /// `reply_text`, `subject`, `message` (the spam model) or `attachment`.
    #[schema(example = "reply_text")]
    pub field: String,
    /// The span in its field, in characters, end exclusive.
    pub start: i64,
    pub end: i64,
    /// The span's text.
    pub text: String,
    /// What the rules do with it: `redact`, `hold`, `reject`.
    pub action: String,
    /// The spam model's probability, for its hit.
    pub score: Option<f64>,
}

/// An audit entry.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AuditItem {
    /// RFC 3339, UTC.
    pub at: String,
    pub actor: String,
    #[schema(example = "moderation.approved")]
    pub action: String,
    #[schema(value_type = Object)]
    pub detail: serde_json::Value,
}

/// How an approved message is shown to the other party.
#[derive(Debug, Clone, Copy, Default, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ApprovalShow {
    /// The spans of `redact` rules stay masked; those of `hold` rules,
    /// which the moderator judged, show.
    #[default]
    Masked,
    /// Every span masked (refused when there is none).
    Redacted,
    /// As written, contact details and all (audited).
    AsWritten,
}

/// `POST …/approve`; the body may be left out.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApproveRequest {
    /// `masked` when left out.
    #[serde(default)]
    pub show: ApprovalShow,
}

/// `POST …/reject`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RejectRequest {
    /// Why: for the author's notice and the audit log.
    #[schema(example = "Payment outside the marketplace is not allowed.")]
    pub reason: String,
    /// Send the author no notice. (None goes anyway for spam and for mail
    /// from outside the conversation: its sender is likely forged.)
    #[serde(default)]
    pub silent: bool,
}

/// What a decision did.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ModerationDecision {
    pub id: i64,
    pub conversation: i64,
    /// The message's state now: `approved`, `approved_redacted`,
    /// `approved_as_written` or `rejected`.
    #[schema(example = "approved")]
    pub moderation: String,
    /// The conversation's status now.
    pub status: Status,
    /// Whether the decision moved the status.
    pub status_changed: bool,
    /// Notification rows queued: the other side's (approved), the
    /// author's notice (rejected).
    pub notifications: usize,
    /// Rejected without a notice: why (`silent`, `spam_model`,
    /// `sender_mismatch`, `sender_not_participant`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub no_notice: Option<String>,
}

/// The held messages, oldest first.
#[utoipa::path(
    get,
    path = "/api/v1/moderation",
    tag = "moderation",
    operation_id = "getModerationQueue",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The held messages", body = HeldQueue),
        (status = 403, description = "Not a moderator's or an admin's key", body = crate::http::error::ProblemSchema, content_type = "application/problem+json"),
    )
)]
pub async fn queue(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<HeldQueue>, Problem> {
    moderator(&caller)?;
    Ok(Json(held_queue(&state).await?))
}

/// The held messages, oldest first: this endpoint's answer, and the
/// console's moderation panel (which checks the role itself).
pub async fn held_queue(state: &AppState) -> Result<HeldQueue, Problem> {
    let held = review::held(state.store()).await?;
    let items = held
        .iter()
        .map(|(message, author)| held_message(message, author.as_ref()))
        .collect();
    Ok(HeldQueue { items })
}

/// One message (held or decided) as a moderator reviews it: the text as
/// written, the hits with their spans, the masked and redacted texts, the
/// spam probability, the elided quote, its audit entries.
#[utoipa::path(
    get,
    path = "/api/v1/moderation/{id}",
    tag = "moderation",
    operation_id = "getModerationMessage",
    security(("bearer" = [])),
    params(("id" = i64, Path, description = "The message id")),
    responses(
        (status = 200, description = "The message under review", body = ModerationReview),
        (status = 403, description = "Not a moderator's or an admin's key", body = crate::http::error::ProblemSchema, content_type = "application/problem+json"),
        (status = 404, description = "No such message", body = crate::http::error::ProblemSchema, content_type = "application/problem+json"),
    )
)]
pub async fn show(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<Json<ModerationReview>, Problem> {
    moderator(&caller)?;
    Ok(Json(review_of(&state, id).await?))
}

/// Message `id` under review: this endpoint's answer, and the console's.
pub async fn review_of(state: &AppState, id: i64) -> Result<ModerationReview, Problem> {
    let found = review::review(state.store(), id)
        .await
        .map_err(decide_problem)?;
    let message = &found.message;
    Ok(ModerationReview {
        message: held_message(message, found.author.as_ref()),
        subject: found.ticket.subject.clone(),
        elided: message.elided.clone(),
        shown_text: moderation::visible_text(message).map(str::to_string),
        audit: found.audit.iter().map(audit_item).collect(),
    })
}

/// Lets a held message through: the other side is notified and the
/// conversation's status moves as if it had just arrived.
#[utoipa::path(
    post,
    path = "/api/v1/moderation/{id}/approve",
    tag = "moderation",
    operation_id = "approveMessage",
    security(("bearer" = [])),
    params(("id" = i64, Path, description = "The message id")),
    request_body(content = Option<ApproveRequest>, description = "How the other party sees it; may be left out (masked)"),
    responses(
        (status = 200, description = "Approved", body = ModerationDecision),
        (status = 403, description = "Not a moderator's or an admin's key", body = crate::http::error::ProblemSchema, content_type = "application/problem+json"),
        (status = 404, description = "No such message", body = crate::http::error::ProblemSchema, content_type = "application/problem+json"),
        (status = 409, description = "Decided already (`moderation` says how)", body = crate::http::error::ProblemSchema, content_type = "application/problem+json"),
        (status = 422, description = "`redacted`, but there is nothing to redact", body = crate::http::error::ProblemSchema, content_type = "application/problem+json"),
    )
)]
pub async fn approve(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
    OptionalJson(body): OptionalJson<ApproveRequest>,
) -> Result<Json<ModerationDecision>, Problem> {
    let shows = match body.show {
        ApprovalShow::Masked => Approval::Masked,
        ApprovalShow::Redacted => Approval::Redacted,
        ApprovalShow::AsWritten => Approval::AsWritten,
    };
    decide(&state, &caller, id, Choice::Approve(shows)).await
}

/// Keeps a held message from the other party; its author gets a notice
/// with the reason, except for spam, mail from outside the conversation,
/// or `silent`. A conversation none of whose messages is shown is closed.
#[utoipa::path(
    post,
    path = "/api/v1/moderation/{id}/reject",
    tag = "moderation",
    operation_id = "rejectMessage",
    security(("bearer" = [])),
    params(("id" = i64, Path, description = "The message id")),
    request_body = RejectRequest,
    responses(
        (status = 200, description = "Rejected", body = ModerationDecision),
        (status = 403, description = "Not a moderator's or an admin's key", body = crate::http::error::ProblemSchema, content_type = "application/problem+json"),
        (status = 404, description = "No such message", body = crate::http::error::ProblemSchema, content_type = "application/problem+json"),
        (status = 409, description = "Decided already (`moderation` says how)", body = crate::http::error::ProblemSchema, content_type = "application/problem+json"),
        (status = 422, description = "No reason", body = crate::http::error::ProblemSchema, content_type = "application/problem+json"),
    )
)]
pub async fn reject(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
    Json(body): Json<RejectRequest>,
) -> Result<Json<ModerationDecision>, Problem> {
    let choice = Choice::Reject {
        reason: body.reason,
        silent: body.silent,
    };
    decide(&state, &caller, id, choice).await
}

/// The moderator's name for the audit log (`key:NAME`); 403 for any
/// caller but a moderator's or an admin's key.
fn moderator(caller: &Caller) -> Result<String, Problem> {
    match Acting::of(caller, &ActAs::default())? {
        acting @ Acting::Moderator { .. } => Ok(acting.actor()),
        _ => Err(Problem::forbidden(format!(
            "moderation needs a moderator's or an admin's key; the caller is {}",
            caller.role()
        ))),
    }
}

async fn decide(
    state: &AppState,
    caller: &Caller,
    id: i64,
    choice: Choice,
) -> Result<Json<ModerationDecision>, Problem> {
    let actor = moderator(caller)?;
    Ok(Json(decide_as(state, &actor, id, choice).await?))
}

/// Decides message `id` as `actor` (the audit log's name): the API's
/// approve and reject, and the console's buttons.
pub async fn decide_as(
    state: &AppState,
    actor: &str,
    id: i64,
    choice: Choice,
) -> Result<ModerationDecision, Problem> {
    let on_closed = state.config.tickets.on_closed_reply;
    let decided = review::decide(&state.intake, on_closed, id, choice, actor)
        .await
        .map_err(decide_problem)?;
    let message = state
        .store()
        .message(id)
        .await?
        .ok_or_else(|| Problem::not_found(format!("message {id} does not exist")))?;
    let ticket =
        state.store().ticket(message.ticket).await?.ok_or_else(|| {
            Problem::not_found(format!("conversation {} is gone", message.ticket))
        })?;
    let no_notice = match &decided.ruling {
        Ruling::Reject { no_notice, .. } => no_notice.map(str::to_string),
        Ruling::Approve { .. } => None,
    };
    Ok(ModerationDecision {
        id,
        conversation: message.ticket,
        moderation: message.moderation.as_str().to_string(),
        status: ticket.status,
        status_changed: decided.status.is_some(),
        notifications: decided.notifications.len(),
        no_notice,
    })
}

/// A refused decision as the door answers it.
fn decide_problem(e: DecideError) -> Problem {
    match e {
        DecideError::NotFound(what) => Problem::not_found(what),
        DecideError::NotHeld { id, now } => {
            Problem::conflict(format!("message {id} was decided already: it is {now}"))
                .with("moderation", now)
        }
        DecideError::Invalid(what) => Problem::invalid(what),
        DecideError::Store(e) => e.into(),
    }
}

fn held_message(message: &Message, author: Option<&Participant>) -> HeldMessage {
    HeldMessage {
        id: message.id,
        conversation: message.ticket,
        author: author.map(|p| HeldAuthor {
            address: p.address.clone(),
            role: p.role.as_str().to_string(),
        }),
        created_at: rfc3339(message.created_at),
        moderation: message.moderation.as_str().to_string(),
        action: message.policy_action.clone(),
        held_for: moderation::held_for(message),
        flags: message.flags.clone(),
        hits: serde_json::from_str(&message.policy_hits).unwrap_or_default(),
        spam: moderation::spam(message),
        text: message.reply_text.clone(),
        masked_text: message.masked_text.clone(),
        redacted_text: message.redacted_text.clone(),
    }
}

pub(crate) fn audit_item(entry: &AuditEntry) -> AuditItem {
    AuditItem {
        at: rfc3339(entry.at),
        actor: entry.actor.clone(),
        action: entry.action.clone(),
        detail: entry.detail.clone(),
    }
}
