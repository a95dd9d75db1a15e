//! `GET /api/v1/pool`: the conversations nobody has taken, oldest first,
//! as `parley tickets pool` lists them ([`actions::pool`]): for a
//! moderator and the marketplace every one, for a person those they are
//! on the seller side of (a client has none).

use axum::extract::State;
use serde::{Deserialize, Serialize};

use super::actions::problem;
use super::cursor;
use super::rfc3339;
use crate::actions;
use crate::http::AppState;
use crate::http::auth::Caller;
use crate::http::error::Problem;
use crate::http::extract::{Json, Query};
use crate::http::viewer::{ActAs, Acting};
use crate::store::Ticket;
use crate::tickets::Status;

/// The most entries one page holds, and the default.
const MAX_LIMIT: usize = 200;
const DEFAULT_LIMIT: usize = 50;

/// The pool's parameters (`?as=` besides).
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PoolQuery {
    /// Only this queue's conversations (404 for a queue that does not
    /// exist).
    #[param(example = "desk")]
    pub queue: Option<String>,
    /// Entries per page: 1 to 200, 50 by default.
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<usize>,
    /// Where the page starts: `next_cursor` of the page before.
    pub cursor: Option<String>,
}

/// A page of the pool.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Pool {
    /// Oldest first.
    pub items: Vec<PoolEntry>,
    /// The next page's `cursor`; `null` on the last page.
    pub next_cursor: Option<String>,
}

/// A conversation waiting in the pool.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PoolEntry {
    pub number: i64,
    #[schema(example = "desk")]
    pub queue: String,
    pub subject: String,
    pub status: Status,
    /// The listing it is about, when it names one.
    pub listing: Option<Reference>,
    /// The auction it is about, when it names one.
    pub auction: Option<Reference>,
    /// When it was opened (it waits since then): RFC 3339, UTC.
    #[schema(example = "2026-11-21T08:15:00.123Z")]
    pub created_at: String,
    /// Its last activity: RFC 3339, UTC.
    pub updated_at: String,
}

/// The marketplace's own reference to a listing or an auction.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Reference {
    #[serde(rename = "ref")]
    #[schema(rename = "ref")]
    pub reference: Option<String>,
    pub title: Option<String>,
    /// The listing's page on the marketplace (listings only, when given).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "https://shop.example/l/77")]
    pub url: Option<String>,
}

impl Reference {
    pub(crate) fn of(reference: &Option<String>, title: &Option<String>) -> Option<Reference> {
        (reference.is_some() || title.is_some()).then(|| Reference {
            reference: reference.clone(),
            title: title.clone(),
            url: None,
        })
    }

    /// The listing `ticket` is about, with its page.
    pub(crate) fn listing(ticket: &Ticket) -> Option<Reference> {
        Reference::of(&ticket.item_ref, &ticket.item_title).map(|r| Reference {
            url: ticket.item_url.clone(),
            ..r
        })
    }
}

/// The pool, oldest first, a page at a time.
#[utoipa::path(
    get,
    path = "/api/v1/pool",
    tag = "conversations",
    operation_id = "getPool",
    security(("bearer" = [])),
    params(PoolQuery, ActAs),
    responses(
        (status = 200, description = "A page of the pool", body = Pool),
        (status = 400, description = "A parameter that does not parse (limit, cursor, as)", body = crate::http::error::ProblemSchema, content_type = "application/problem+json"),
        (status = 404, description = "No such queue", body = crate::http::error::ProblemSchema, content_type = "application/problem+json"),
    )
)]
pub async fn pool(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<PoolQuery>,
    Query(act_as): Query<ActAs>,
) -> Result<Json<Pool>, Problem> {
    let acting = Acting::of(&caller, &act_as)?;
    Ok(Json(pool_of(&state, &acting, &query).await?))
}

/// A page of the pool `acting` may see: the endpoint's answer, and the
/// console's pool page.
pub async fn pool_of(
    state: &AppState,
    acting: &Acting,
    query: &PoolQuery,
) -> Result<Pool, Problem> {
    let limit = query.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(Problem::bad_request(format!(
            "limit: {limit} is not between 1 and {MAX_LIMIT}"
        )));
    }
    let after = query.cursor.as_deref().map(cursor::decode).transpose()?;
    let tickets = actions::pool(state.store(), query.queue.as_deref(), acting.viewer())
        .await
        .map_err(problem)?;
    // Oldest first by (created_at, number): the page starts after the
    // cursor's entry.
    let mut rest = tickets
        .iter()
        .filter(|t| after.is_none_or(|a| (t.created_at, t.number) > a));
    let items: Vec<&Ticket> = rest.by_ref().take(limit).collect();
    let next_cursor = match (rest.next(), items.last()) {
        (Some(_), Some(last)) => Some(cursor::encode(last.created_at, last.number)),
        _ => None,
    };
    Ok(Pool {
        items: items.into_iter().map(entry).collect(),
        next_cursor,
    })
}

fn entry(t: &Ticket) -> PoolEntry {
    PoolEntry {
        number: t.number,
        queue: t.queue.clone(),
        subject: t.subject.clone(),
        status: t.status,
        listing: Reference::listing(t),
        auction: Reference::of(&t.auction_ref, &t.auction_title),
        created_at: rfc3339(t.created_at),
        updated_at: rfc3339(t.updated_at),
    }
}
