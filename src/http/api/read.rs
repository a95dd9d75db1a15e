//! Read markers and unread counts of a person: `POST
//! /api/v1/conversations/{number}/read` moves their read horizon forward
//! ([`ReadStore::mark_read`], which appends the `read.marked` event for
//! them alone), `GET /api/v1/unread` counts what they have not read
//! ([`ConversationStore::unread_all`]).
//!
//! Only a person has a horizon (a user token, or a platform key acting
//! for a user with `?as=`): a moderator's key and the marketplace's own
//! are refused with 403. A message is unread for a person when it is after
//! their horizon, shown to them and not their own
//! ([`crate::access::counts_as_unread`]): mail that arrived counts, their
//! own messages never do.

use axum::extract::State;
use serde::{Deserialize, Serialize};

use crate::access;
use crate::http::AppState;
use crate::http::auth::Caller;
use crate::http::error::Problem;
use crate::http::extract::{Json, OptionalJson, Path, Query};
use crate::http::viewer::{self, ActAs, Acting};
use crate::store::StoreError;

/// `POST …/read`.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReadRequest {
    /// Read up to this message (one the caller sees on this
    /// conversation); left out: up to the newest one they see.
    pub message: Option<i64>,
}

/// A person's read horizon on a conversation, after marking.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ReadMarker {
    pub conversation: i64,
    /// Every message up to this id is read; `null` when there was nothing
    /// to read (no message the caller sees).
    pub horizon: Option<i64>,
    /// What is still unread on it.
    pub unread: i64,
}

/// A person's unread messages.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Unread {
    /// Over every conversation in their inbox (not archived, not deleted).
    pub total: i64,
    /// The conversations with unread messages, newest activity first.
    pub conversations: Vec<UnreadConversation>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct UnreadConversation {
    pub conversation: i64,
    pub unread: i64,
}

/// Marks the conversation read up to a message. The horizon only moves
/// forward: marking an earlier message leaves it where it is.
#[utoipa::path(
    post,
    path = "/api/v1/conversations/{number}/read",
    tag = "conversations",
    operation_id = "markConversationRead",
    security(("bearer" = [])),
    params(("number" = i64, Path, description = "The conversation's number"), ActAs),
    request_body(content = Option<ReadRequest>, description = "Optional: no body reads up to the newest message"),
    responses(
        (status = 200, description = "The horizon now, and what is left unread", body = ReadMarker),
        (status = 403, description = "Not a person (a moderator's key, the marketplace without `as`)", body = crate::http::error::ProblemSchema, content_type = "application/problem+json"),
        (status = 404, description = "No such conversation, or the caller may not see it", body = crate::http::error::ProblemSchema, content_type = "application/problem+json"),
        (status = 422, description = "Not a message of this conversation the caller sees", body = crate::http::error::ProblemSchema, content_type = "application/problem+json"),
    )
)]
pub async fn mark(
    State(state): State<AppState>,
    caller: Caller,
    Path(number): Path<i64>,
    Query(act_as): Query<ActAs>,
    OptionalJson(body): OptionalJson<ReadRequest>,
) -> Result<Json<ReadMarker>, Problem> {
    let acting = Acting::of(&caller, &act_as)?;
    Ok(Json(mark_as(&state, &acting, number, body.message).await?))
}

/// Marks conversation `number` read by `acting` (a person) up to
/// `message` (`None`: the newest they see): this endpoint's work, and the
/// console's when a page shows a conversation.
pub async fn mark_as(
    state: &AppState,
    acting: &Acting,
    number: i64,
    message: Option<i64>,
) -> Result<ReadMarker, Problem> {
    let address = person(acting)?;
    let seen = viewer::conversation(state, acting, number).await?;
    let store = state.store();
    let sees = |m: &crate::store::Message| access::message(seen.access, m).is_some();
    let up_to = match message {
        Some(id) => {
            let message = store.message(id).await?;
            match message {
                Some(m) if m.ticket == number && sees(&m) => Some(id),
                _ => {
                    return Err(Problem::invalid(format!(
                        "message {id} is not a message of conversation {number} you see"
                    )));
                }
            }
        }
        None => store
            .messages(number)
            .await?
            .iter()
            .rev()
            .find(|m| sees(m))
            .map(|m| m.id),
    };
    let horizon = match up_to {
        Some(id) => match store.mark_read(number, address, id).await {
            Ok(marked) => Some(marked.horizon),
            Err(StoreError::NotFound(what)) => return Err(Problem::invalid(what)),
            Err(e) => return Err(e.into()),
        },
        None => store.horizon(number, address).await?,
    };
    Ok(ReadMarker {
        conversation: number,
        horizon,
        unread: store.unread(number, address).await?,
    })
}

/// The acting person's unread messages, in total and per conversation.
#[utoipa::path(
    get,
    path = "/api/v1/unread",
    tag = "conversations",
    operation_id = "getUnread",
    security(("bearer" = [])),
    params(ActAs),
    responses(
        (status = 200, description = "The unread counts", body = Unread),
        (status = 403, description = "Not a person (a moderator's key, the marketplace without `as`)", body = crate::http::error::ProblemSchema, content_type = "application/problem+json"),
    )
)]
pub async fn unread(
    State(state): State<AppState>,
    caller: Caller,
    Query(act_as): Query<ActAs>,
) -> Result<Json<Unread>, Problem> {
    let acting = Acting::of(&caller, &act_as)?;
    let address = person(&acting)?;
    let counts = state.store().unread_all(address).await?;
    Ok(Json(Unread {
        total: counts.iter().map(|(_, n)| n).sum(),
        conversations: counts
            .into_iter()
            .map(|(conversation, unread)| UnreadConversation {
                conversation,
                unread,
            })
            .collect(),
    }))
}

/// The acting person's address; 403 for a caller who is not a person.
fn person(acting: &Acting) -> Result<&str, Problem> {
    acting.address().ok_or_else(|| {
        Problem::forbidden(
            "only a person has read markers: a user token, or a platform key with as=",
        )
    })
}
