//! `GET /api/v1/conversations/{number}`: one conversation as the caller
//! may see it — its row, its participants, its messages (the parties: the
//! text shown, their own as written; moderators: the original, the
//! policy's hits and the elided quotes too), its history (moderators, the
//! marketplace and the seller side) and the caller's read horizon.

use axum::extract::State;
use serde::Serialize;

use super::{Person, Summary, standing, summary};
use crate::access::{self, Access, Side};
use crate::http::AppState;
use crate::http::api::moderation::{AuditItem, PolicyHit, audit_item};
use crate::http::api::rfc3339;
use crate::http::auth::Caller;
use crate::http::error::Problem;
use crate::http::extract::{Json, Path, Query};
use crate::http::viewer::{self, ActAs, Acting};
use crate::intake::written::MARKETPLACE;
use crate::store::{Direction, Message, Participant};
use crate::tickets::Role;

/// One conversation.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Conversation {
    #[serde(flatten)]
    pub summary: Summary,
    pub participants: Vec<ParticipantItem>,
    /// Oldest first, those the caller may see.
    pub messages: Vec<MessageItem>,
    /// The audit entries, oldest first: for moderators, the marketplace
    /// and the seller side; `null` for the client.
    pub history: Option<Vec<AuditItem>>,
    /// The caller's read horizon (a message id): every message up to it
    /// is read; `null` before they marked any, and for a caller who is
    /// not a person.
    pub horizon: Option<i64>,
}

/// A participant.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ParticipantItem {
    #[schema(example = "maria@buyer.example")]
    pub address: String,
    pub name: Option<String>,
    /// The marketplace's own id of this user, when it gave one.
    pub user_id: Option<String>,
    /// `client`, `seller` or `staff`.
    #[schema(value_type = String, example = "client")]
    pub role: Role,
}

/// A message as the caller may see it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MessageItem {
    pub id: i64,
    /// RFC 3339, UTC.
    #[schema(example = "2026-11-21T09:40:00.000Z")]
    pub created: String,
    /// Its author's address; `null` for one written by nobody on the
    /// conversation (a stranger's mail under review, or the marketplace's
    /// own).
    pub author: Option<String>,
    /// Written by the marketplace itself (a moderator mediating, both
    /// parties notified).
    pub marketplace: bool,
    /// Its author's role (`client`, `seller`, `staff`); `null` with
    /// `author`.
    #[schema(value_type = Option<String>, example = "client")]
    pub role: Option<Role>,
    /// `inbound`: it arrived by mail; `outbound`: written in parley.
    #[schema(value_type = String, example = "inbound")]
    pub direction: Direction,
    /// The caller wrote it.
    pub own: bool,
    /// `shown`; `held` or `rejected` for its author and moderators.
    #[schema(example = "shown")]
    pub standing: String,
    /// The text for the caller: what the other party sees (contact details
    /// masked), or, for its author, what they wrote.
    pub text: String,
    /// The closing `text` ends with ("Thanks,\nMaria"), its last lines, which
    /// a page may fold away; empty without one.
    #[schema(example = "Thanks,\nMaria")]
    pub signature: String,
    /// Moderators only: the text as written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub original: Option<String>,
    /// Moderators only: what the policy found.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hits: Option<Vec<PolicyHit>>,
    /// Moderators only: the quoted history and signature cut from it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub elided: Option<String>,
}

/// One conversation as the caller may see it.
#[utoipa::path(
    get,
    path = "/api/v1/conversations/{number}",
    tag = "conversations",
    operation_id = "getConversation",
    security(("bearer" = [])),
    params(("number" = i64, Path, description = "The conversation's number"), ActAs),
    responses(
        (status = 200, description = "The conversation", body = Conversation),
        (status = 404, description = "No such conversation, or the caller may not see it", body = crate::http::error::ProblemSchema, content_type = "application/problem+json"),
    )
)]
pub async fn show(
    State(state): State<AppState>,
    caller: Caller,
    Path(number): Path<i64>,
    Query(act_as): Query<ActAs>,
) -> Result<Json<Conversation>, Problem> {
    let acting = Acting::of(&caller, &act_as)?;
    Ok(Json(conversation(&state, &acting, number).await?))
}

/// Conversation `number` as `acting` may see it: the endpoint's answer,
/// and the console's page of it.
pub async fn conversation(
    state: &AppState,
    acting: &Acting,
    number: i64,
) -> Result<Conversation, Problem> {
    let seen = viewer::conversation(state, acting, number).await?;
    let store = state.store();
    let messages = store.messages(number).await?;
    let horizon = match acting.address() {
        Some(address) => store.horizon(number, address).await?,
        None => None,
    };
    let access = seen.access;
    let seller_side = !matches!(
        access,
        Access::Party {
            side: Side::Client,
            ..
        }
    );
    let history = match seller_side {
        true => Some(store.audit(number).await?.iter().map(audit_item).collect()),
        false => None,
    };
    // The rule itself (access::counts_as_unread), over the messages read
    // anyway; the list's SQL follows it (tests/store/conversations.rs).
    let unread = messages
        .iter()
        .filter(|m| m.id > horizon.unwrap_or(0) && access::counts_as_unread(access, m))
        .count() as i64;
    let items: Vec<MessageItem> = messages
        .iter()
        .filter_map(|m| item(access, m, &seen.participants))
        .collect();
    let last = messages
        .iter()
        .rev()
        .find(|m| access::message(access, m).is_some());
    let client = seen
        .participants
        .iter()
        .find(|p| p.role == Role::Client)
        .map(|p| Person {
            address: p.address.clone(),
            name: p.display_name.clone(),
            user_id: p.user_id.clone(),
        });
    Ok(Conversation {
        summary: summary(&seen.ticket, client, access, last, unread),
        participants: seen
            .participants
            .iter()
            .map(|p| ParticipantItem {
                address: p.address.clone(),
                name: p.display_name.clone(),
                user_id: p.user_id.clone(),
                role: p.role,
            })
            .collect(),
        messages: items,
        history,
        horizon,
    })
}

/// `message` as a viewer with `access` sees it; `None`: not at all.
fn item(access: Access, message: &Message, people: &[Participant]) -> Option<MessageItem> {
    let view = access::message(access, message)?;
    let author = message
        .author
        .and_then(|id| people.iter().find(|p| p.id == id));
    let moderator = view.moderation.as_ref();
    Some(MessageItem {
        id: message.id,
        created: rfc3339(message.created_at),
        author: author.map(|p| p.address.clone()),
        role: author.map(|p| p.role),
        marketplace: message.flags.iter().any(|f| f == MARKETPLACE),
        direction: message.direction,
        own: view.own,
        standing: standing(view.standing).to_string(),
        text: view.text.to_string(),
        signature: crate::intake::reply::sign_off_in(
            view.text,
            &message.reply_text,
            &message.signature,
        )
        .to_string(),
        original: moderator.map(|m| m.original.to_string()),
        hits: moderator.map(|m| serde_json::from_str(m.hits).unwrap_or_default()),
        elided: moderator.map(|m| m.elided.to_string()),
    })
}
