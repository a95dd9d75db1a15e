//! What a caller does to a conversation besides writing in it, under
//! `/api/v1/conversations/{number}`: its status, take it, assign it,
//! forward it, delete and restore it, archive and unarchive it.
//!
//! Each handler finds whom the request acts as and what they are to the
//! conversation ([`viewer::conversation`]: 404 when they may not see it),
//! then calls [`actions::act`], the rule book `parley tickets …` uses:
//! who may ([`crate::access::may`]: 403), what the conversation's state
//! allows (409), one transaction with its audit entry. The answer is the
//! conversation as it stands after it, and whether anything changed.

use axum::extract::State;
use serde::{Deserialize, Serialize};

use super::rfc3339;
use crate::actions::{self, Act, ActError, Actor, Done};
use crate::http::AppState;
use crate::http::auth::Caller;
use crate::http::error::Problem;
use crate::http::extract::{Json, Path, Query};
use crate::http::viewer::{self, ActAs, Acting};
use crate::store::{Filing, Ticket};
use crate::tickets::Status;

/// `POST …/status`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StatusRequest {
    /// The new status. A client may set `resolved` only.
    pub status: Status,
}

/// `POST …/assign`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssignRequest {
    /// The new assignee: a seller-side participant of the conversation or
    /// a staff address of its queue (who then joins it as staff).
    #[schema(example = "agent@shop.example")]
    pub to: String,
}

/// `POST …/forward`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ForwardRequest {
    /// A staff address: it joins the conversation as staff and gets the
    /// transcript with its own reply address. Not the client, not one of
    /// parley's own addresses.
    #[schema(example = "boss@hq.example")]
    pub to: String,
    /// A note above the transcript (at most 4,000 characters).
    #[schema(example = "She asks about shipping to Norway.", max_length = 4000)]
    pub note: Option<String>,
}

/// The conversation after an action.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Acted {
    pub number: i64,
    #[schema(example = "desk")]
    pub queue: String,
    pub status: Status,
    /// Who has it; `null` while it is in the pool.
    pub assignee: Option<String>,
    /// Filed away (closing archives).
    pub archived: bool,
    /// In the trash (soft-deleted, restorable).
    pub deleted: bool,
    /// RFC 3339, UTC.
    #[schema(example = "2026-11-21T08:15:00.123Z")]
    pub updated_at: String,
    /// Whether the action changed anything (`false`: it was so already,
    /// nothing was written).
    pub changed: bool,
    /// `forward` only: the transcript sent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub forwarded: Option<Forwarded>,
}

/// A transcript on its way.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Forwarded {
    /// The address, lowercased.
    pub to: String,
    /// The note, trimmed.
    pub note: Option<String>,
    /// The address joined the conversation with this forward.
    pub joined: bool,
    /// The outbox row of the transcript.
    pub notification: i64,
}

/// Sets the conversation's status. Closing archives it; open or awaiting
/// either side takes it out of the archive. A client may only mark it
/// `resolved` (not once it is closed).
#[utoipa::path(
    post,
    path = "/api/v1/conversations/{number}/status",
    tag = "conversations",
    operation_id = "setConversationStatus",
    security(("bearer" = [])),
    params(("number" = i64, Path, description = "The conversation's number"), ActAs),
    request_body = StatusRequest,
    responses(
        (status = 200, description = "The conversation after it", body = Acted),
        (status = 403, description = "The caller may not set this status", body = crate::http::error::ProblemSchema, content_type = "application/problem+json"),
        (status = 404, description = "No such conversation, or the caller may not see it", body = crate::http::error::ProblemSchema, content_type = "application/problem+json"),
        (status = 409, description = "Deleted (restore it first), or closed (for a client)", body = crate::http::error::ProblemSchema, content_type = "application/problem+json"),
        (status = 422, description = "Not a status", body = crate::http::error::ProblemSchema, content_type = "application/problem+json"),
    )
)]
pub async fn set_status(
    State(state): State<AppState>,
    caller: Caller,
    Path(number): Path<i64>,
    Query(act_as): Query<ActAs>,
    Json(body): Json<StatusRequest>,
) -> Result<Json<Acted>, Problem> {
    run(&state, &caller, &act_as, number, Act::Status(body.status)).await
}

/// Takes the conversation: the person acting becomes its assignee and
/// alone hears of the client's messages. A person on the seller side
/// only; someone else having it is a conflict (assign it instead).
#[utoipa::path(
    post,
    path = "/api/v1/conversations/{number}/take",
    tag = "conversations",
    operation_id = "takeConversation",
    security(("bearer" = [])),
    params(("number" = i64, Path, description = "The conversation's number"), ActAs),
    responses(
        (status = 200, description = "The conversation after it", body = Acted),
        (status = 403, description = "Not a person on the seller side", body = crate::http::error::ProblemSchema, content_type = "application/problem+json"),
        (status = 404, description = "No such conversation, or the caller may not see it", body = crate::http::error::ProblemSchema, content_type = "application/problem+json"),
        (status = 409, description = "Someone else has it (`assignee` names them), or it is deleted", body = crate::http::error::ProblemSchema, content_type = "application/problem+json"),
    )
)]
pub async fn take(
    State(state): State<AppState>,
    caller: Caller,
    Path(number): Path<i64>,
    Query(act_as): Query<ActAs>,
) -> Result<Json<Acted>, Problem> {
    run(&state, &caller, &act_as, number, Act::Take).await
}

/// Gives the conversation to someone on the seller side, whoever had it.
#[utoipa::path(
    post,
    path = "/api/v1/conversations/{number}/assign",
    tag = "conversations",
    operation_id = "assignConversation",
    security(("bearer" = [])),
    params(("number" = i64, Path, description = "The conversation's number"), ActAs),
    request_body = AssignRequest,
    responses(
        (status = 200, description = "The conversation after it", body = Acted),
        (status = 403, description = "A client may not assign", body = crate::http::error::ProblemSchema, content_type = "application/problem+json"),
        (status = 404, description = "No such conversation, or the caller may not see it", body = crate::http::error::ProblemSchema, content_type = "application/problem+json"),
        (status = 409, description = "Deleted (restore it first), or assigned meanwhile", body = crate::http::error::ProblemSchema, content_type = "application/problem+json"),
        (status = 422, description = "Not an address, or not on the seller side", body = crate::http::error::ProblemSchema, content_type = "application/problem+json"),
    )
)]
pub async fn assign(
    State(state): State<AppState>,
    caller: Caller,
    Path(number): Path<i64>,
    Query(act_as): Query<ActAs>,
    Json(body): Json<AssignRequest>,
) -> Result<Json<Acted>, Problem> {
    let act = Act::Assign {
        to: body.to,
        replace: true,
    };
    run(&state, &caller, &act_as, number, act).await
}

/// Forwards the conversation to a staff address: it gets the transcript
/// (with the note) and can answer for the seller side by replying. The
/// status and the assignee stay.
#[utoipa::path(
    post,
    path = "/api/v1/conversations/{number}/forward",
    tag = "conversations",
    operation_id = "forwardConversation",
    security(("bearer" = [])),
    params(("number" = i64, Path, description = "The conversation's number"), ActAs),
    request_body = ForwardRequest,
    responses(
        (status = 200, description = "The conversation, and the transcript queued", body = Acted),
        (status = 403, description = "A client may not forward", body = crate::http::error::ProblemSchema, content_type = "application/problem+json"),
        (status = 404, description = "No such conversation, or the caller may not see it", body = crate::http::error::ProblemSchema, content_type = "application/problem+json"),
        (status = 409, description = "Deleted (restore it first)", body = crate::http::error::ProblemSchema, content_type = "application/problem+json"),
        (status = 422, description = "Not an address, one of parley's own, the client, or a note too long", body = crate::http::error::ProblemSchema, content_type = "application/problem+json"),
    )
)]
pub async fn forward(
    State(state): State<AppState>,
    caller: Caller,
    Path(number): Path<i64>,
    Query(act_as): Query<ActAs>,
    Json(body): Json<ForwardRequest>,
) -> Result<Json<Acted>, Problem> {
    let act = Act::Forward {
        to: body.to,
        note: body.note,
    };
    run(&state, &caller, &act_as, number, act).await
}

/// Deletes the conversation (soft, restorable): it leaves the lists and
/// the pool, its client no longer sees it, and mail answering it opens a
/// new conversation in its queue.
#[utoipa::path(
    delete,
    path = "/api/v1/conversations/{number}",
    tag = "conversations",
    operation_id = "deleteConversation",
    security(("bearer" = [])),
    params(("number" = i64, Path, description = "The conversation's number"), ActAs),
    responses(
        (status = 200, description = "The conversation after it", body = Acted),
        (status = 403, description = "A client may not delete", body = crate::http::error::ProblemSchema, content_type = "application/problem+json"),
        (status = 404, description = "No such conversation, or the caller may not see it", body = crate::http::error::ProblemSchema, content_type = "application/problem+json"),
    )
)]
pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path(number): Path<i64>,
    Query(act_as): Query<ActAs>,
) -> Result<Json<Acted>, Problem> {
    run(&state, &caller, &act_as, number, Act::File(Filing::Delete)).await
}

/// Brings a deleted conversation back, as it was.
#[utoipa::path(
    post,
    path = "/api/v1/conversations/{number}/restore",
    tag = "conversations",
    operation_id = "restoreConversation",
    security(("bearer" = [])),
    params(("number" = i64, Path, description = "The conversation's number"), ActAs),
    responses(
        (status = 200, description = "The conversation after it", body = Acted),
        (status = 403, description = "A client may not restore", body = crate::http::error::ProblemSchema, content_type = "application/problem+json"),
        (status = 404, description = "No such conversation, or the caller may not see it", body = crate::http::error::ProblemSchema, content_type = "application/problem+json"),
    )
)]
pub async fn restore(
    State(state): State<AppState>,
    caller: Caller,
    Path(number): Path<i64>,
    Query(act_as): Query<ActAs>,
) -> Result<Json<Acted>, Problem> {
    run(&state, &caller, &act_as, number, Act::File(Filing::Restore)).await
}

/// Files the conversation away; its status stays.
#[utoipa::path(
    post,
    path = "/api/v1/conversations/{number}/archive",
    tag = "conversations",
    operation_id = "archiveConversation",
    security(("bearer" = [])),
    params(("number" = i64, Path, description = "The conversation's number"), ActAs),
    responses(
        (status = 200, description = "The conversation after it", body = Acted),
        (status = 403, description = "A client may not archive", body = crate::http::error::ProblemSchema, content_type = "application/problem+json"),
        (status = 404, description = "No such conversation, or the caller may not see it", body = crate::http::error::ProblemSchema, content_type = "application/problem+json"),
        (status = 409, description = "Deleted (restore it first)", body = crate::http::error::ProblemSchema, content_type = "application/problem+json"),
    )
)]
pub async fn archive(
    State(state): State<AppState>,
    caller: Caller,
    Path(number): Path<i64>,
    Query(act_as): Query<ActAs>,
) -> Result<Json<Acted>, Problem> {
    run(&state, &caller, &act_as, number, Act::File(Filing::Archive)).await
}

/// Takes the conversation out of the archive; its status stays.
#[utoipa::path(
    post,
    path = "/api/v1/conversations/{number}/unarchive",
    tag = "conversations",
    operation_id = "unarchiveConversation",
    security(("bearer" = [])),
    params(("number" = i64, Path, description = "The conversation's number"), ActAs),
    responses(
        (status = 200, description = "The conversation after it", body = Acted),
        (status = 403, description = "A client may not unarchive", body = crate::http::error::ProblemSchema, content_type = "application/problem+json"),
        (status = 404, description = "No such conversation, or the caller may not see it", body = crate::http::error::ProblemSchema, content_type = "application/problem+json"),
        (status = 409, description = "Deleted (restore it first)", body = crate::http::error::ProblemSchema, content_type = "application/problem+json"),
    )
)]
pub async fn unarchive(
    State(state): State<AppState>,
    caller: Caller,
    Path(number): Path<i64>,
    Query(act_as): Query<ActAs>,
) -> Result<Json<Acted>, Problem> {
    run(
        &state,
        &caller,
        &act_as,
        number,
        Act::File(Filing::Unarchive),
    )
    .await
}

/// Every action: whom it acts as, what they are to the conversation, the
/// rule book, the conversation after it.
async fn run(
    state: &AppState,
    caller: &Caller,
    act_as: &ActAs,
    number: i64,
    act: Act,
) -> Result<Json<Acted>, Problem> {
    let acting = Acting::of(caller, act_as)?;
    Ok(Json(act_on(state, &acting, number, act).await?))
}

/// Does `act` to conversation `number` as `acting`, by the rule book
/// ([`actions::act`]): the API's actions, and the console's buttons.
pub async fn act_on(
    state: &AppState,
    acting: &Acting,
    number: i64,
    act: Act,
) -> Result<Acted, Problem> {
    let seen = viewer::conversation(state, acting, number).await?;
    let name = acting.actor();
    let actor = Actor {
        access: seen.access,
        address: acting.address(),
        name: &name,
    };
    let done = actions::act(&state.intake, &seen.ticket, &actor, &act)
        .await
        .map_err(problem)?;
    let ticket = state
        .store()
        .ticket(number)
        .await?
        .ok_or_else(|| Problem::not_found(format!("conversation {number} does not exist")))?;
    Ok(acted(&ticket, &done))
}

fn acted(ticket: &Ticket, done: &Done) -> Acted {
    let (changed, forwarded) = match done {
        Done::Status { from, to } => (from != to, None),
        Done::Assigned { changed, .. } | Done::Filed { changed, .. } => (*changed, None),
        Done::Forwarded {
            to,
            note,
            added,
            notification,
            ..
        } => (
            true,
            Some(Forwarded {
                to: to.clone(),
                note: note.clone(),
                joined: *added,
                notification: *notification,
            }),
        ),
    };
    Acted {
        number: ticket.number,
        queue: ticket.queue.clone(),
        status: ticket.status,
        assignee: ticket.assignee.clone(),
        archived: ticket.archived,
        deleted: ticket.deleted,
        updated_at: rfc3339(ticket.updated_at),
        changed,
        forwarded,
    }
}

/// An act's refusal as the door answers it.
pub(crate) fn problem(e: ActError) -> Problem {
    match e {
        ActError::NotFound(what) => Problem::not_found(what),
        ActError::Forbidden(what) => Problem::forbidden(what),
        ActError::Conflict(what) => Problem::conflict(what),
        ActError::Taken { ticket, by } => Problem::conflict(format!(
            "conversation {ticket} is assigned to {by}; assign it to take it over"
        ))
        .with("assignee", by),
        ActError::Invalid(what) | ActError::Refused(what) => Problem::invalid(what),
        ActError::Store(e) => e.into(),
    }
}
