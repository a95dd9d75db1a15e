//! `GET /api/v1/events`: the event log as Server-Sent Events, filtered to
//! what the caller may see, resumable by event id (docs/http.md "Live
//! events").
//!
//! Each event goes out as `id:` (its id in the log), `event:` (its kind)
//! and `data:` (its JSON, [`EventJson`]). A client that reconnects with
//! `Last-Event-ID` (browsers' `EventSource` sends it by itself), or asks
//! `?after=ID`, first gets every event after that id it may see, then the
//! live ones; without either it gets the live ones only. A comment line
//! every [`KEEP_ALIVE`] keeps proxies from closing an idle stream.
//!
//! The stream reads nothing per event: the process's hub
//! ([`crate::http::hub`]) reads each event once and this only decides, by
//! [`crate::access`], whether the caller sees it, and which of its two
//! renderings (with or without the actor) goes out.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::Stream;
use serde::{Deserialize, Serialize};

use crate::access;
use crate::http::AppState;
use crate::http::auth::StreamCaller;
use crate::http::error::Problem;
use crate::http::extract::Query;
use crate::http::hub::{Follow, Live};
use crate::http::viewer::{ActAs, Acting};
use crate::store::Event;

/// How often an idle stream gets a comment line.
pub const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// Where to resume, and (for a browser) the user token.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Resume {
    /// Replay the events after this id first (what `Last-Event-ID` says;
    /// the header wins when both are given). Without either: live
    /// events only.
    #[param(example = 1842, minimum = 0)]
    pub after: Option<i64>,
    /// A user token, for a browser's `EventSource`, which cannot send an
    /// `Authorization` header (RFC 6750 §2.3). User tokens only: an API key
    /// never travels in a URL.
    pub access_token: Option<String>,
}

/// One event of the log, as a stream's `data:` carries it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct EventJson {
    /// Its id in the log (also the SSE `id:`): resume after it.
    #[schema(example = 1842)]
    pub id: i64,
    /// What happened (also the SSE `event:`): `message.created`,
    /// `ticket.created`, `ticket.status`, `ticket.assigned`,
    /// `ticket.forwarded`, `message.moderated`, `read.marked`,
    /// `ticket.deleted`, `ticket.restored`, `ticket.archived`,
    /// `ticket.unarchived`; a client ignores kinds it does not know.
    #[schema(example = "message.created")]
    pub kind: String,
    /// When, RFC 3339 UTC.
    #[schema(example = "2026-11-21T09:15:00.123Z")]
    pub at: String,
    /// The conversation's number.
    #[schema(example = 7)]
    pub ticket: i64,
    /// The message it is about, when it is about one.
    #[schema(example = 31)]
    pub message: Option<i64>,
    /// Who did it (an address, `intake`, `cli`, `key:NAME`): for
    /// moderators and the marketplace; a person sees it only when it is
    /// their own address, else `null`.
    pub actor: Option<String>,
    /// What the kind carries: ids and states, never a message's text
    /// (docs/json.md "Events"). Fetch the message to read it.
    #[schema(value_type = Object)]
    pub data: serde_json::Value,
}

impl EventJson {
    pub fn new(event: &Event, show_actor: bool) -> EventJson {
        EventJson {
            id: event.id,
            kind: event.kind.clone(),
            at: super::rfc3339(event.at),
            ticket: event.ticket,
            message: event.message,
            actor: show_actor.then(|| event.actor.clone()),
            data: event.data.clone(),
        }
    }

    fn render(event: &Event, show_actor: bool) -> String {
        serde_json::to_string(&EventJson::new(event, show_actor)).expect("JSON values serialise")
    }
}

/// The live events the caller may see, after the id it names.
#[utoipa::path(
    get,
    path = "/api/v1/events",
    tag = "events",
    operation_id = "streamEvents",
    security(("bearer" = [])),
    params(
        ActAs,
        Resume,
        ("Last-Event-ID" = Option<i64>, Header, description = "The id of the last event received: replay what came after it (wins over `after`)"),
    ),
    responses(
        (status = 200, description = "An endless `text/event-stream`: per event `id:` (its id), `event:` (its kind) and `data:` (an EventJson on one line); a comment line every 15 s", content_type = "text/event-stream", body = EventJson),
        (status = 400, description = "`after` or `Last-Event-ID` is not a whole number ≥ 0, or `as` is not an address", body = crate::http::error::ProblemSchema, content_type = "application/problem+json"),
        (status = 403, description = "`as` from a caller other than a platform key", body = crate::http::error::ProblemSchema, content_type = "application/problem+json"),
        (status = 503, description = "`http.max_event_streams` streams are open (with Retry-After), or the store is unavailable", body = crate::http::error::ProblemSchema, content_type = "application/problem+json"),
    )
)]
pub async fn stream(
    State(state): State<AppState>,
    StreamCaller(caller): StreamCaller,
    Query(act_as): Query<ActAs>,
    Query(resume): Query<Resume>,
    headers: HeaderMap,
) -> Result<Response, Problem> {
    let acting = Acting::of(&caller, &act_as)?;
    let after = after(&headers, resume.after)?;
    // A user token's stream ends when the token does: the page reconnects
    // with a fresh token and its Last-Event-ID, and misses nothing.
    let expires = match &caller {
        crate::http::auth::Caller::User { expires, .. } => Some(*expires),
        _ => None,
    };
    follow_as(&state, acting, after, expires).await
}

/// The event stream of `acting` from after `after` (`None`: live only),
/// ending at `expires` (Unix ms) when given: this endpoint's, and the
/// console's for a session.
pub async fn follow_as(
    state: &AppState,
    acting: Acting,
    after: Option<i64>,
    expires: Option<i64>,
) -> Result<Response, Problem> {
    let Some(follow) = state.hub.follow(after).await? else {
        return Err(Problem::unavailable(&format_args!(
            "http.max_event_streams ({}) event streams are open",
            state.config.http.max_event_streams
        )));
    };
    let watcher = Watcher {
        follow,
        acting,
        until: expires.map(deadline),
    };
    let sse = Sse::new(events(watcher)).keep_alive(KeepAlive::new().interval(KEEP_ALIVE));
    let mut response = sse.into_response();
    // nginx buffers answers unless told not to; a stream must not wait.
    response
        .headers_mut()
        .insert("x-accel-buffering", HeaderValue::from_static("no"));
    Ok(response)
}

/// Where the stream starts: `Last-Event-ID`, else `?after=`, else now.
pub fn after(headers: &HeaderMap, query: Option<i64>) -> Result<Option<i64>, Problem> {
    let header = headers.get("last-event-id").map(|value| {
        value
            .to_str()
            .ok()
            .and_then(|text| text.trim().parse::<i64>().ok())
            .filter(|id| *id >= 0)
            .ok_or_else(|| Problem::bad_request("Last-Event-ID: not an event id"))
    });
    match (header.transpose()?, query) {
        (Some(id), _) => Ok(Some(id)),
        (None, Some(id)) if id < 0 => Err(Problem::bad_request("after: not an event id")),
        (None, query) => Ok(query),
    }
}

/// The tokio instant of a token's expiry (Unix ms).
fn deadline(expires_ms: i64) -> tokio::time::Instant {
    let left = expires_ms.saturating_sub(crate::store::now_ms()).max(0) as u64;
    tokio::time::Instant::now() + Duration::from_millis(left)
}

/// One caller's stream: its place in the log and who it is.
struct Watcher {
    follow: Follow,
    acting: Acting,
    /// When the stream ends (a user token's expiry).
    until: Option<tokio::time::Instant>,
}

impl Watcher {
    /// The JSON `live` goes out as to this caller; `None`: not theirs to see.
    fn shown<'l>(&self, live: &'l Live) -> Option<&'l str> {
        let viewer = self.acting.viewer();
        if !access::sees_event(viewer, live.access(viewer), &live.event.audience) {
            return None;
        }
        let show_actor = match self.acting.address() {
            Some(address) => live.event.actor == address,
            None => true,
        };
        Some(live.json(show_actor, EventJson::render))
    }

    /// The next event this caller sees; `None` ends the stream.
    async fn next(&mut self) -> Option<SseEvent> {
        loop {
            let next = match self.until {
                Some(until) => tokio::time::timeout_at(until, self.follow.next())
                    .await
                    .ok()?,
                None => self.follow.next().await,
            };
            let live = match next {
                Ok(Some(live)) => live,
                Ok(None) => return None,
                Err(e) => {
                    // The client reconnects with its Last-Event-ID.
                    tracing::warn!(error = %e, after = self.follow.cursor(), "event stream: reading the log failed; ending the stream");
                    return None;
                }
            };
            if let Some(json) = self.shown(&live) {
                return Some(
                    SseEvent::default()
                        .id(live.event.id.to_string())
                        .event(live.event.kind.as_str())
                        .data(json),
                );
            }
        }
    }
}

fn events(watcher: Watcher) -> impl Stream<Item = Result<SseEvent, Infallible>> {
    futures_util::stream::unfold(watcher, |mut watcher| async move {
        let event = watcher.next().await?;
        Some((Ok(event), watcher))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn where_a_stream_starts() {
        let mut headers = HeaderMap::new();
        assert_eq!(after(&headers, None).unwrap(), None);
        assert_eq!(after(&headers, Some(7)).unwrap(), Some(7));
        assert_eq!(after(&headers, Some(-1)).unwrap_err().kind().status(), 400);
        headers.insert("last-event-id", HeaderValue::from_static(" 42 "));
        assert_eq!(
            after(&headers, Some(7)).unwrap(),
            Some(42),
            "the header wins"
        );
        for bad in ["x", "-3", "1.5", ""] {
            headers.insert("last-event-id", HeaderValue::from_static(bad));
            assert_eq!(
                after(&headers, None).unwrap_err().kind().status(),
                400,
                "{bad:?}"
            );
        }
    }

    #[test]
    fn an_event_as_json() {
        let event = Event {
            id: 12,
            at: 1_795_241_489_172,
            kind: "ticket.status".into(),
            ticket: 7,
            message: None,
            actor: "agent@shop.example".into(),
            data: serde_json::json!({ "from": "open", "to": "resolved" }),
            audience: crate::store::Audience::Ticket,
        };
        let full: serde_json::Value =
            serde_json::from_str(&EventJson::render(&event, true)).unwrap();
        assert_eq!(
            full,
            serde_json::json!({
                "id": 12, "kind": "ticket.status", "at": "2026-11-21T06:11:29.172Z",
                "ticket": 7, "message": null, "actor": "agent@shop.example",
                "data": { "from": "open", "to": "resolved" }
            })
        );
        let veiled: serde_json::Value =
            serde_json::from_str(&EventJson::render(&event, false)).unwrap();
        assert_eq!(veiled["actor"], serde_json::Value::Null);
        assert!(!EventJson::render(&event, false).contains("agent@"));
        // Always to the millisecond, as every time the API writes.
        let round = Event {
            at: 1_795_241_489_860,
            ..event
        };
        assert_eq!(EventJson::new(&round, true).at, "2026-11-21T06:11:29.860Z");
    }
}
