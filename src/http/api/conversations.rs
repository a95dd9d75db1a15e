//! The conversations as a caller may read them: `GET
//! /api/v1/conversations` (the list by recency, with the caller's unread
//! counts, keyset-paged) and `GET /api/v1/conversations/{number}` (one,
//! with its participants, its messages as the caller may see them and its
//! history).
//!
//! Whom the request acts as is [`Acting::of`]; which conversations and
//! messages they see is [`crate::access`]: the list is the store's
//! [`ConversationStore::conversations`] (SQL that follows the same rule),
//! one conversation is [`viewer::conversation`] (404 when not visible)
//! and [`access::message`] for each of its messages.

pub mod show;

use axum::extract::State;
use serde::{Deserialize, Serialize};

use super::cursor;
use super::pool::Reference;
use super::rfc3339;
use crate::access::{self, Access, Side, Standing};
use crate::address;
use crate::http::AppState;
use crate::http::auth::Caller;
use crate::http::error::Problem;
use crate::http::extract::{Json, Query};
use crate::http::viewer::{ActAs, Acting};
use crate::store::{ConversationFilter, ConversationRow, Message, Ticket};
use crate::tickets::{Role, Status};

pub use show::{Conversation, MessageItem, ParticipantItem};

/// The most rows one page holds, and the default.
const MAX_LIMIT: i64 = 200;
const DEFAULT_LIMIT: i64 = 50;
/// The most search hits `q=` narrows the list to.
const SEARCH_CAP: usize = 1_000;
/// The most characters of a preview.
const PREVIEW_CHARS: usize = 200;

/// The list's parameters (`?as=` besides).
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Only this queue's conversations.
    #[param(example = "desk")]
    pub queue: Option<String>,
    /// Only those assigned to this address.
    #[param(example = "agent@shop.example")]
    pub assignee: Option<String>,
    /// Only those this address sits in (moderators and the marketplace
    /// only: 403 for a person).
    #[param(example = "maria@buyer.example")]
    pub participant: Option<String>,
    /// Only those with this status.
    pub status: Option<Status>,
    /// Only those opened in this month (UTC), `YYYY-MM`.
    #[param(example = "2026-11")]
    pub month: Option<String>,
    /// Only those about this listing (its reference).
    #[param(example = "lot-12")]
    pub listing: Option<String>,
    /// Only those about this auction (its reference).
    #[param(example = "auction-7")]
    pub auction: Option<String>,
    /// The archive (`true`) instead of the rest (`false`, the default;
    /// with `deleted=true`: both unless given).
    pub archived: Option<bool>,
    /// The trash (`true`) instead of the rest (`false`, the default). A
    /// person's trash holds what they are on the seller side of.
    pub deleted: Option<bool>,
    /// Only those a search for these words finds (as `GET
    /// /api/v1/search` does for the caller: every word, the last as a
    /// prefix), at most the 1,000 best of them, still newest activity
    /// first.
    #[param(example = "oak sideb")]
    pub q: Option<String>,
    /// Rows per page: 1 to 200, 50 by default.
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// Where the page starts: `next_cursor` of the page before.
    pub cursor: Option<String>,
}

/// A page of the list.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Conversations {
    /// Newest activity first.
    pub items: Vec<Summary>,
    /// The next page's `cursor`; `null` on the last page.
    pub next_cursor: Option<String>,
}

/// A conversation as a row of the list (and the head of its show).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Summary {
    pub number: i64,
    pub subject: String,
    pub status: Status,
    #[schema(example = "desk")]
    pub queue: String,
    /// The client (buyer, bidder); `null` when there is none.
    pub client: Option<Person>,
    /// Who on the seller side has it; `null` while it is in the pool.
    pub assignee: Option<String>,
    /// The listing it is about, when it names one.
    pub listing: Option<Reference>,
    /// The auction it is about, when it names one.
    pub auction: Option<Reference>,
    /// Filed away (closing archives).
    pub archived: bool,
    /// In the trash (soft-deleted, restorable).
    pub deleted: bool,
    /// When it was opened: RFC 3339, UTC.
    #[schema(example = "2026-11-21T08:15:00.123Z")]
    pub created: String,
    /// Its last activity (a message, a status, an assignment): RFC 3339,
    /// UTC. The list's order.
    #[schema(example = "2026-11-21T09:40:00.000Z")]
    pub last_activity: String,
    /// Since when it waits for the seller side's answer (its status is
    /// `open` or `awaiting_seller`): RFC 3339, UTC; `null` while it does
    /// not. Past the queue's `response_target_mins` it is overdue.
    #[schema(example = "2026-11-21T09:40:00.000Z")]
    pub waiting_since: Option<String>,
    /// The newest message the caller may see; `null` when none.
    pub last_message: Option<Preview>,
    /// The caller's unread messages: after their read horizon, shown to
    /// them, not their own. 0 for a caller who is not a person.
    pub unread: i64,
}

/// An address with its display name.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Person {
    #[schema(example = "maria@buyer.example")]
    pub address: String,
    #[schema(example = "Maria Rossi")]
    pub name: Option<String>,
    /// The marketplace's own id of this user, when it gave one.
    #[schema(example = "u-1042")]
    pub user_id: Option<String>,
}

/// The start of a message, as the caller may see it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Preview {
    /// The message's id.
    pub id: i64,
    /// RFC 3339, UTC.
    #[schema(example = "2026-11-21T09:40:00.000Z")]
    pub created: String,
    /// The caller wrote it.
    pub own: bool,
    /// `shown`; `held` or `rejected` for its author and moderators.
    #[schema(example = "shown")]
    pub standing: String,
    /// Its first 200 characters, as the caller sees it (the parties: the
    /// redacted text).
    pub text: String,
}

/// The conversations the caller may see, newest activity first, a page
/// at a time.
#[utoipa::path(
    get,
    path = "/api/v1/conversations",
    tag = "conversations",
    operation_id = "listConversations",
    security(("bearer" = [])),
    params(ListQuery, ActAs),
    responses(
        (status = 200, description = "A page of the list", body = Conversations),
        (status = 400, description = "A parameter that does not parse (limit, cursor, month, status, as, q)", body = crate::http::error::ProblemSchema, content_type = "application/problem+json"),
        (status = 403, description = "`participant` from a person", body = crate::http::error::ProblemSchema, content_type = "application/problem+json"),
    )
)]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<ListQuery>,
    Query(act_as): Query<ActAs>,
) -> Result<Json<Conversations>, Problem> {
    let acting = Acting::of(&caller, &act_as)?;
    Ok(Json(page(&state, &acting, &query).await?))
}

/// A page of the list as `acting` may see it: the endpoint's answer, and
/// the console's dashboard (one rule book for both doors).
pub async fn page(
    state: &AppState,
    acting: &Acting,
    query: &ListQuery,
) -> Result<Conversations, Problem> {
    let limit = query.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(Problem::bad_request(format!(
            "limit: {limit} is not between 1 and {MAX_LIMIT}"
        )));
    }
    if query.participant.is_some() && acting.address().is_some() {
        return Err(Problem::forbidden(
            "participant: only moderators and the marketplace list someone else's conversations",
        ));
    }
    let numbers = match query.q.as_deref() {
        Some(text) => {
            let words = super::search::parse(text)?;
            let hits = state
                .store()
                .search_with(&words, acting.viewer(), SEARCH_CAP, false)
                .await?;
            Some(hits.iter().map(|hit| hit.ticket.number).collect())
        }
        None => None,
    };
    let deleted = query.deleted.unwrap_or(false);
    let filter = ConversationFilter {
        queue: query.queue.clone(),
        assignee: query.assignee.as_deref().map(address::normalize),
        participant: query.participant.as_deref().map(address::normalize),
        status: query.status,
        created: query.month.as_deref().map(month).transpose()?,
        listing: query.listing.clone(),
        auction: query.auction.clone(),
        archived: query.archived.or((!deleted).then_some(false)),
        deleted,
        after: query.cursor.as_deref().map(cursor::decode).transpose()?,
        numbers,
        // One more than asked: whether there is a next page.
        limit: limit + 1,
    };
    let mut rows = state
        .store()
        .conversations(acting.viewer(), &filter)
        .await?;
    let more = rows.len() as i64 > limit;
    rows.truncate(limit as usize);
    let next = match (more, rows.last()) {
        (true, Some(last)) => Some(cursor::encode(last.ticket.updated_at, last.ticket.number)),
        _ => None,
    };
    Ok(Conversations {
        items: rows.iter().map(|row| row_summary(acting, row)).collect(),
        next_cursor: next,
    })
}

/// A row of the store as the list shows it to `acting`.
fn row_summary(acting: &Acting, row: &ConversationRow) -> Summary {
    let access = match acting {
        Acting::Moderator { .. } => Access::Moderator,
        Acting::Marketplace { .. } => Access::Marketplace,
        // What access::access says of a person with this row (or none: a
        // staff address of the queue).
        Acting::Person { .. } => Access::Party {
            side: match row.viewer_row {
                Some((_, Role::Client)) => Side::Client,
                _ => Side::Seller,
            },
            participant: row.viewer_row.map(|(id, _)| id),
        },
    };
    let client = row.client.as_ref().map(|(address, name, user_id)| Person {
        address: address.clone(),
        name: name.clone(),
        user_id: user_id.clone(),
    });
    summary(&row.ticket, client, access, row.last.as_ref(), row.unread)
}

/// The summary of `ticket` for a viewer with `access`, its newest
/// message they may see being `last`.
pub(crate) fn summary(
    ticket: &Ticket,
    client: Option<Person>,
    access: Access,
    last: Option<&Message>,
    unread: i64,
) -> Summary {
    Summary {
        number: ticket.number,
        subject: ticket.subject.clone(),
        status: ticket.status,
        queue: ticket.queue.clone(),
        client,
        assignee: ticket.assignee.clone(),
        listing: Reference::listing(ticket),
        auction: Reference::of(&ticket.auction_ref, &ticket.auction_title),
        archived: ticket.archived,
        deleted: ticket.deleted,
        created: rfc3339(ticket.created_at),
        last_activity: rfc3339(ticket.updated_at),
        waiting_since: ticket.waiting_since.map(rfc3339),
        last_message: last.and_then(|m| preview(access, m)),
        unread,
    }
}

fn preview(access: Access, message: &Message) -> Option<Preview> {
    let view = access::message(access, message)?;
    Some(Preview {
        id: message.id,
        created: rfc3339(message.created_at),
        own: view.own,
        standing: standing(view.standing).to_string(),
        text: view.text.chars().take(PREVIEW_CHARS).collect(),
    })
}

pub(crate) fn standing(standing: Standing) -> &'static str {
    match standing {
        Standing::Shown => "shown",
        Standing::Held => "held",
        Standing::Rejected => "rejected",
    }
}

/// `[from, to)` in Unix ms of a `YYYY-MM` month, UTC; 400 when it is not
/// one.
fn month(text: &str) -> Result<(i64, i64), Problem> {
    let bad = || Problem::bad_request(format!("month: {text:?} is not a month (YYYY-MM)"));
    let (year, month) = text.split_once('-').ok_or_else(bad)?;
    if year.len() != 4 || month.len() != 2 {
        return Err(bad());
    }
    let year: i16 = year.parse().map_err(|_| bad())?;
    let month: i8 = month.parse().map_err(|_| bad())?;
    let first = jiff::civil::Date::new(year, month, 1).map_err(|_| bad())?;
    let next = first
        .checked_add(jiff::Span::new().months(1))
        .map_err(|_| bad())?;
    let ms = |date: jiff::civil::Date| -> Result<i64, Problem> {
        Ok(date
            .to_zoned(jiff::tz::TimeZone::UTC)
            .map_err(|_| bad())?
            .timestamp()
            .as_millisecond())
    };
    Ok((ms(first)?, ms(next)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months() {
        let (from, to) = month("2026-11").unwrap();
        assert_eq!(rfc3339(from), "2026-11-01T00:00:00.000Z");
        assert_eq!(rfc3339(to), "2026-12-01T00:00:00.000Z");
        assert_eq!(
            rfc3339(month("2026-12").unwrap().1),
            "2027-01-01T00:00:00.000Z"
        );
        for bad in ["2026-13", "2026-1", "26-11", "2026/11", "november"] {
            assert_eq!(month(bad).unwrap_err().kind().status(), 400, "{bad}");
        }
    }
}
