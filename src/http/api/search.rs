//! `GET /api/v1/search?q=…`: the conversations a caller may see that hold
//! every word of `q`, best first ([`SearchStore::search`]): a moderator
//! searches every conversation and every message as written; the
//! marketplace (a platform key without `as=`) what the parties are shown;
//! a person (a user token, or a platform key with `as=`) the conversations
//! they sit in, in the text they are shown and their own messages as they
//! wrote them.

use axum::extract::State;
use serde::{Deserialize, Serialize};

use super::rfc3339;
use crate::http::AppState;
use crate::http::auth::Caller;
use crate::http::error::Problem;
use crate::http::extract::{Json, Query};
use crate::http::viewer::{ActAs, Acting};
use crate::search::{self, MAX_QUERY};
use crate::store::{Hit, Matched};
use crate::tickets::Status;

/// The most hits one answer holds, and the default.
const MAX_LIMIT: usize = 100;
const DEFAULT_LIMIT: usize = 20;

/// The search's parameters (`?as=` besides).
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SearchQuery {
    /// The words to find (at most 200 characters, 8 words): each must be
    /// found in the conversation (its subject, listing or auction title, a
    /// participant's name or address, a message's text), the last one as
    /// a prefix. Case and accents do not matter; quotes, `*`, `:` and the
    /// like are plain text.
    #[param(example = "oak sideb", min_length = 1, max_length = 200)]
    pub q: Option<String>,
    /// Hits at most: 1 to 100, 20 by default.
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<usize>,
}

/// The answer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SearchHits {
    /// Best first: where every word was found (`matched`), then the newest
    /// activity, then the highest number.
    pub hits: Vec<SearchHit>,
}

/// A conversation found.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SearchHit {
    pub number: i64,
    #[schema(example = "desk")]
    pub queue: String,
    pub subject: String,
    pub status: Status,
    /// Where every word was found: `title` (the subject, listing or
    /// auction title), `person` (those and the participants' names and
    /// addresses), `message` (anywhere, message text included).
    #[schema(value_type = String, example = "title")]
    pub matched: Matched,
    /// A piece of the newest message holding one of the words, as the
    /// caller sees it (redacted for the parties; as written for
    /// moderators); `null` when no message holds one.
    #[schema(example = "…is the oak sideboard still available?")]
    pub snippet: Option<String>,
    /// That message's id.
    pub message: Option<i64>,
    /// The conversation's last activity: RFC 3339, UTC.
    #[schema(example = "2026-11-21T08:15:00.123Z")]
    pub last_activity: String,
    pub archived: bool,
    pub deleted: bool,
}

/// Searches the conversations the caller may see.
#[utoipa::path(
    get,
    path = "/api/v1/search",
    tag = "conversations",
    operation_id = "search",
    security(("bearer" = [])),
    params(SearchQuery, ActAs),
    responses(
        (status = 200, description = "The conversations found, best first", body = SearchHits),
        (status = 400, description = "No query, an over-long one, or a parameter that does not parse (limit, as)", body = crate::http::error::ProblemSchema, content_type = "application/problem+json"),
    )
)]
pub async fn search(
    State(state): State<AppState>,
    caller: Caller,
    Query(params): Query<SearchQuery>,
    Query(act_as): Query<ActAs>,
) -> Result<Json<SearchHits>, Problem> {
    let acting = Acting::of(&caller, &act_as)?;
    let limit = params.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(Problem::bad_request(format!(
            "limit: {limit} is not between 1 and {MAX_LIMIT}"
        )));
    }
    let query = parse(params.q.as_deref().unwrap_or(""))?;
    let hits = state.store().search(&query, acting.viewer(), limit).await?;
    Ok(Json(SearchHits {
        hits: hits.iter().map(hit).collect(),
    }))
}

/// The `q` parameter as a query (400 when it is blank or too long): here
/// and on the conversation list.
pub(crate) fn parse(text: &str) -> Result<search::Query, Problem> {
    search::Query::parse(text).map_err(|e| {
        Problem::bad_request(match e {
            search::QueryError::TooLong => format!("q: longer than {MAX_QUERY} characters"),
            e => format!("q: {e}"),
        })
    })
}

fn hit(hit: &Hit) -> SearchHit {
    let t = &hit.ticket;
    SearchHit {
        number: t.number,
        queue: t.queue.clone(),
        subject: t.subject.clone(),
        status: t.status,
        matched: hit.matched,
        snippet: hit.snippet.clone(),
        message: hit.message,
        last_activity: rfc3339(t.updated_at),
        archived: t.archived,
        deleted: t.deleted,
    }
}
