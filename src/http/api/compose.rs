//! Writing in conversations: `POST /api/v1/conversations` starts one
//! from a listing, `POST /api/v1/conversations/{number}/messages` posts a
//! message on one.
//!
//! Both hand the text to [`Intake::write`], the rule book `parley tickets
//! create` and `tickets reply` use: the content policy (a `reject`
//! answers 422 with its `hits`, a `hold` answers 202 with the moderation
//! state), the status the message moves, the notification rows for the
//! other side (sent by mail by the outbox worker), the audit entry and
//! the events, in one transaction. Both honour `Idempotency-Key`
//! ([`crate::http::idempotency`]).
//!
//! Routing: the auction (or the listing) may name its manager, in the
//! call (`auction.manager`) or in the queue's config (`[queues.managers]`);
//! the new conversation is assigned to them and they alone are notified.
//!
//! [`Intake::write`]: crate::intake::Intake::write

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::access;
use crate::http::AppState;
use crate::http::auth::Caller;
use crate::http::error::Problem;
use crate::http::extract::{Json, Path, Query};
use crate::http::idempotency;
use crate::http::viewer::{self, ActAs, Acting};
use crate::intake::written::{
    About, Draft, Opening, Person, WriteError, WriteOutcome, Written as Where,
};

mod parties;
mod shapes;

use parties::{client_of, queue_of};
pub use shapes::*;
use shapes::{MAX_FIELD_CHARS, MAX_URL_CHARS};

/// Starts a conversation from a listing: the client writes to a queue
/// (or a seller's address) about a listing and an auction. A user token
/// writes as its user; a platform key names the client (in the body, or
/// with `?as=`). The auction's
/// manager (given, or mapped in the queue's config) gets it assigned and
/// alone is notified; otherwise the queue's staff are.
#[utoipa::path(
    post,
    path = "/api/v1/conversations",
    tag = "conversations",
    operation_id = "startConversation",
    security(("bearer" = [])),
    params(
        ActAs,
        ("Idempotency-Key" = Option<String>, Header, description = "Makes a retry safe: the same key and request answer the first answer again"),
    ),
    request_body = StartRequest,
    responses(
        (status = 201, description = "Started; the other side is notified", body = WrittenAnswer, headers(("Location" = String, description = "The conversation: /api/v1/conversations/{number}"))),
        (status = 400, description = "An Idempotency-Key or `as` that is not one", body = crate::http::error::ProblemSchema, content_type = "application/problem+json"),
        (status = 202, description = "Held for a moderator; nobody is notified yet", body = WrittenAnswer, headers(("Location" = String, description = "The conversation: /api/v1/conversations/{number}"))),
        (status = 403, description = "A moderator's key, or a user (token or `?as=`) naming another client", body = crate::http::error::ProblemSchema, content_type = "application/problem+json"),
        (status = 409, description = "A request with this Idempotency-Key is still in progress", body = crate::http::error::ProblemSchema, content_type = "application/problem+json"),
        (status = 422, description = "Invalid; refused by the content policy (`hits`); the manager is not staff of the queue; the key was used with another request", body = crate::http::error::ProblemSchema, content_type = "application/problem+json"),
    )
)]
pub async fn start(
    State(state): State<AppState>,
    caller: Caller,
    Query(act_as): Query<ActAs>,
    uri: Uri,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Result<Response, Problem> {
    let call = Call {
        state: &state,
        caller: &caller,
        act_as: &act_as,
        uri: &uri,
        headers: &headers,
        body: &body,
    };
    once(call, |state, acting, request: StartRequest| async move {
        start_conversation(&state, &acting, request).await
    })
    .await
}

/// Posts a message on a conversation as the person acting: a user token's
/// user, or the user a platform key names with `?as=`. A client and the
/// seller side (its participants; a staff address of the queue joins it with
/// its first message) may write; the
/// marketplace and moderators write only as a person. On a closed
/// conversation the queue's `on_closed_reply` applies, as for mail.
#[utoipa::path(
    post,
    path = "/api/v1/conversations/{number}/messages",
    tag = "conversations",
    operation_id = "postMessage",
    security(("bearer" = [])),
    params(
        ("number" = i64, Path, description = "The conversation's number"),
        ActAs,
        ("Idempotency-Key" = Option<String>, Header, description = "Makes a retry safe: the same key and request answer the first answer again"),
    ),
    request_body = MessageRequest,
    responses(
        (status = 201, description = "Posted; the other side is notified", body = WrittenAnswer, headers(("Location" = String, description = "The conversation: /api/v1/conversations/{number}"))),
        (status = 400, description = "An Idempotency-Key or `as` that is not one", body = crate::http::error::ProblemSchema, content_type = "application/problem+json"),
        (status = 202, description = "Held for a moderator; nobody is notified yet", body = WrittenAnswer, headers(("Location" = String, description = "The conversation: /api/v1/conversations/{number}"))),
        (status = 403, description = "The caller sees it but may not write (a key that names no person)", body = crate::http::error::ProblemSchema, content_type = "application/problem+json"),
        (status = 404, description = "No such conversation, or the caller may not see it", body = crate::http::error::ProblemSchema, content_type = "application/problem+json"),
        (status = 409, description = "Closed (and closed conversations take no messages), deleted, or the Idempotency-Key's request is still in progress", body = crate::http::error::ProblemSchema, content_type = "application/problem+json"),
        (status = 422, description = "Invalid, or refused by the content policy (`hits`); the key was used with another request", body = crate::http::error::ProblemSchema, content_type = "application/problem+json"),
    )
)]
pub async fn post_message(
    State(state): State<AppState>,
    caller: Caller,
    Path(number): Path<i64>,
    Query(act_as): Query<ActAs>,
    uri: Uri,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Result<Response, Problem> {
    let call = Call {
        state: &state,
        caller: &caller,
        act_as: &act_as,
        uri: &uri,
        headers: &headers,
        body: &body,
    };
    once(
        call,
        move |state, acting, request: MessageRequest| async move {
            write_message(&state, &acting, number, request).await
        },
    )
    .await
}

/// What both writing endpoints were called with.
struct Call<'a> {
    state: &'a AppState,
    caller: &'a Caller,
    act_as: &'a ActAs,
    uri: &'a Uri,
    headers: &'a HeaderMap,
    body: &'a Value,
}

/// A writing endpoint's request, run once per `Idempotency-Key`
/// ([`idempotency::once`]): the key, the body as `R` and whom it acts as
/// are checked first (in that order), then `write` runs and its answer
/// goes out with `Location` ([`located`]).
async fn once<R, F, Fut>(call: Call<'_>, write: F) -> Result<Response, Problem>
where
    R: DeserializeOwned,
    F: FnOnce(AppState, Acting, R) -> Fut,
    Fut: Future<Output = Result<(StatusCode, WrittenAnswer), Problem>> + Send + 'static,
{
    let key = idempotency::key_of(call.headers)?;
    let request: R = parse(call.body)?;
    let acting = Acting::of(call.caller, call.act_as)?;
    let hash = idempotency::request_hash("POST", uri_text(call.uri), call.body);
    let owner = idempotency::owner(&call.caller.subject(), call.act_as.as_user.as_deref());
    let written = write(call.state.clone(), acting, request);
    let work = async move { answer(written.await) };
    Ok(located(idempotency::once(call.state, key, owner, hash, work).await).await)
}

/// A written answer (201, 202: first time or replayed) with `Location`,
/// the conversation it is on (read from its body, which the replay of an
/// `Idempotency-Key` keeps, so both answers name it alike).
async fn located(response: Response) -> Response {
    let status = response.status();
    if !(status == StatusCode::CREATED || status == StatusCode::ACCEPTED) {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    // A WrittenAnswer: a few hundred bytes.
    let Ok(bytes) = axum::body::to_bytes(body, 64 * 1024).await else {
        return (StatusCode::INTERNAL_SERVER_ERROR, "").into_response();
    };
    let number = serde_json::from_slice::<Value>(&bytes)
        .ok()
        .and_then(|v| v.get("conversation").and_then(Value::as_i64));
    if let Some(number) = number
        && let Ok(value) = format!("/api/v1/conversations/{number}").parse()
    {
        parts.headers.insert(axum::http::header::LOCATION, value);
    }
    Response::from_parts(parts, axum::body::Body::from(bytes))
}

fn uri_text(uri: &Uri) -> &str {
    uri.path_and_query().map_or(uri.path(), |p| p.as_str())
}

/// The body, as `T` (422 when it does not fit, as [`Json`] answers).
fn parse<T: DeserializeOwned>(body: &Value) -> Result<T, Problem> {
    serde_json::from_value(body.clone())
        .map_err(|e| Problem::invalid(format!("the body does not fit: {e}")))
}

/// 201 (posted) or 202 (held) with the answer, or the problem.
fn answer(result: Result<(StatusCode, WrittenAnswer), Problem>) -> Response {
    match result {
        Ok((status, body)) => (status, Json(body)).into_response(),
        Err(problem) => problem.into_response(),
    }
}

async fn start_conversation(
    state: &AppState,
    acting: &Acting,
    request: StartRequest,
) -> Result<(StatusCode, WrittenAnswer), Problem> {
    let client = client_of(acting, request.client.as_ref())?;
    let queue = queue_of(state, request.queue.as_deref(), request.seller.as_deref())?;
    let listing = request.listing.clone().unwrap_or_default();
    let auction = request.auction.clone().unwrap_or_default();
    for (name, value, max) in [
        ("listing.ref", &listing.reference, MAX_FIELD_CHARS),
        ("listing.title", &listing.title, MAX_FIELD_CHARS),
        ("listing.url", &listing.url, MAX_URL_CHARS),
        ("auction.ref", &auction.reference, MAX_FIELD_CHARS),
        ("auction.title", &auction.title, MAX_FIELD_CHARS),
    ] {
        if value.as_ref().is_some_and(|v| v.chars().count() > max) {
            return Err(Problem::invalid(format!("{name} is over {max} characters")));
        }
    }
    // Shown in notifications, linked in their HTML: a web page's address
    // and nothing else (no other scheme, no white space or controls).
    if let Some(url) = &listing.url
        && (!(url.starts_with("https://") || url.starts_with("http://"))
            || url.chars().any(|c| c.is_whitespace() || c.is_control()))
    {
        return Err(Problem::invalid("listing.url must be an http or https URL"));
    }
    // The manager: named in the call, else mapped in the queue's config.
    let manager = auction.manager.clone().or_else(|| {
        state
            .config
            .queues
            .iter()
            .find(|q| q.name == queue)
            .and_then(|q| q.manager_of(auction.reference.as_deref(), listing.reference.as_deref()))
            .map(str::to_string)
    });
    let opening = Opening {
        queue,
        client: client.clone(),
        seller: None,
        subject: request.subject,
        about: About {
            item_ref: listing.reference,
            item_title: listing.title,
            item_url: listing.url,
            auction_ref: auction.reference,
            auction_title: auction.title,
        },
        manager,
    };
    let draft = Draft {
        what: Where::Open(opening),
        text: request.text,
        actor: acting.actor(),
        door: "api",
    };
    let outcome = state.intake.write(&draft).await.map_err(|e| match e {
        // The queue and the writer are named in the body: not found there
        // is a body that does not fit.
        WriteError::NotFound(what) | WriteError::NotAllowed(what) => Problem::invalid(what),
        e => problem(e),
    })?;
    written(state, outcome).await
}

/// Posts `request` on conversation `number` as `acting`: the endpoint's
/// work, and the console's reply form.
pub async fn write_message(
    state: &AppState,
    acting: &Acting,
    number: i64,
    request: MessageRequest,
) -> Result<(StatusCode, WrittenAnswer), Problem> {
    let seen = viewer::conversation(state, acting, number).await?;
    if !access::may_write(seen.access) {
        return Err(Problem::forbidden(
            "the marketplace and moderators write as a person: act as one with ?as=ADDRESS",
        ));
    }
    let address = acting.address().unwrap_or_default().to_string();
    let (display_name, user_id) = match acting {
        Acting::Person { name, user_id, .. } => (name.clone(), user_id.clone()),
        _ => (None, None),
    };
    let what = Where::Reply {
        ticket: number,
        author: Person {
            address,
            display_name,
            user_id,
        },
    };
    write_on(state, acting, &seen.ticket, what, request).await
}

/// Posts `request` on conversation `number` as the marketplace itself
/// (a moderator mediating: both parties notified, the content policy
/// does not judge it): the console's "Write as the marketplace". Only a
/// moderator (or admin) may.
pub async fn mediate(
    state: &AppState,
    acting: &Acting,
    number: i64,
    request: MessageRequest,
) -> Result<(StatusCode, WrittenAnswer), Problem> {
    if !matches!(acting, Acting::Moderator { .. }) {
        return Err(Problem::forbidden(
            "only moderators write as the marketplace",
        ));
    }
    let seen = viewer::conversation(state, acting, number).await?;
    let what = Where::Mediate { ticket: number };
    write_on(state, acting, &seen.ticket, what, request).await
}

/// Writes `request` into `ticket` (seen by `acting`) as `what` says,
/// unless it is deleted: the draft, intake's write, the answer.
async fn write_on(
    state: &AppState,
    acting: &Acting,
    ticket: &crate::store::Ticket,
    what: Where,
    request: MessageRequest,
) -> Result<(StatusCode, WrittenAnswer), Problem> {
    if ticket.deleted {
        return Err(Problem::conflict(format!(
            "conversation {} is deleted; restore it first",
            ticket.number
        )));
    }
    let draft = Draft {
        what,
        text: request.text,
        actor: acting.actor(),
        door: "api",
    };
    let outcome = state.intake.write(&draft).await.map_err(problem)?;
    written(state, outcome).await
}

/// The answer to a write: the conversation as it stands after it.
async fn written(
    state: &AppState,
    outcome: WriteOutcome,
) -> Result<(StatusCode, WrittenAnswer), Problem> {
    let (status, number, message, new, notifications, moderation) = match outcome {
        WriteOutcome::Posted {
            ticket,
            message,
            new_ticket,
            notifications,
            ..
        } => (
            StatusCode::CREATED,
            ticket,
            message,
            new_ticket,
            notifications,
            None,
        ),
        WriteOutcome::Held {
            ticket,
            message,
            new_ticket,
            rules,
        } => (
            StatusCode::ACCEPTED,
            ticket,
            message,
            new_ticket,
            0,
            Some(HeldState {
                state: "held".into(),
                rules,
            }),
        ),
    };
    let ticket = state
        .store()
        .ticket(number)
        .await?
        .ok_or_else(|| Problem::not_found(format!("conversation {number} does not exist")))?;
    Ok((
        status,
        WrittenAnswer {
            conversation: number,
            message,
            new,
            status: ticket.status,
            assignee: ticket.assignee,
            notifications,
            moderation,
        },
    ))
}

/// A refusal of [`Intake::write`](crate::intake::Intake::write) as the
/// door answers it.
fn problem(e: WriteError) -> Problem {
    match e {
        WriteError::Invalid(what) => Problem::invalid(what),
        WriteError::NotFound(what) => Problem::not_found(what),
        WriteError::NotAllowed(what) => Problem::forbidden(what),
        WriteError::Closed(what) => Problem::conflict(what),
        e @ WriteError::Refused { .. } => {
            let detail = e.to_string();
            let WriteError::Refused { hits, .. } = e else {
                unreachable!("matched above")
            };
            Problem::invalid(detail).with("hits", hits)
        }
        WriteError::Store(e) => e.into(),
    }
}
