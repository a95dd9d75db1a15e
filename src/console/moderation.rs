//! The moderation panel (`/console/moderation`, moderators and admins):
//! the held queue, each message with the policy's spans marked in the
//! text, what the other party would see beside it (masked, redacted),
//! the elided quote to unfold; approve, approve redacted, reject with a
//! reason. Each decision is the API's ([`decide_as`]), so the panel, the
//! API and `parley moderation` decide alike. A moderator may also write
//! into a conversation as the marketplace ([`mediate`]: both parties
//! notified).

use axum::Form;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::pages::{failure, posted, signed_in, who_counted};
use super::render::page;
use crate::http::AppState;
use crate::http::api::compose::{MessageRequest, mediate as mediate_as};
use crate::http::api::moderation::{PolicyHit, decide_as, held_queue, review_of};
use crate::http::error::Problem;
use crate::moderation::review::Choice;
use crate::store::{Approval, ConsoleSession};

/// The most held messages one page shows.
const PAGE: usize = 100;

/// A piece of a text: plain, or a span the policy hit (`rule`).
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct Piece {
    text: String,
    rule: Option<String>,
}

/// `text` cut at the hits on `field` (spans in characters, end
/// exclusive); overlapping or out-of-range spans are clipped.
pub fn pieces(text: &str, hits: &[PolicyHit], field: &str) -> Vec<Piece> {
    let chars: Vec<char> = text.chars().collect();
    let mut spans: Vec<(usize, usize, &str)> = hits
        .iter()
        .filter(|h| h.field == field && h.start >= 0 && h.end > h.start)
        .map(|h| {
            (
                (h.start as usize).min(chars.len()),
                (h.end as usize).min(chars.len()),
                h.rule.as_str(),
            )
        })
        .collect();
    spans.sort();
    let mut out = Vec::new();
    let mut at = 0;
    for (start, end, rule) in spans {
        let start = start.max(at);
        if start >= end {
            continue;
        }
        if start > at {
            out.push(Piece {
                text: chars[at..start].iter().collect(),
                rule: None,
            });
        }
        out.push(Piece {
            text: chars[start..end].iter().collect(),
            rule: Some(rule.to_string()),
        });
        at = end;
    }
    if at < chars.len() {
        out.push(Piece {
            text: chars[at..].iter().collect(),
            rule: None,
        });
    }
    out
}

/// The moderator's session, or the answer for anyone else.
fn moderator(session: &ConsoleSession) -> Result<String, Problem> {
    match session.user.role.sees_everything() {
        true => Ok(format!("console:{}", session.user.login)),
        false => Err(Problem::forbidden(
            "the moderation panel is for moderators and admins",
        )),
    }
}

/// `GET /console/moderation`: the held queue, oldest first.
pub async fn panel(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let session = match signed_in(&state, &headers).await {
        Ok(session) => session,
        Err(response) => return response,
    };
    if let Err(problem) = moderator(&session) {
        return failure(Some(&session), problem);
    }
    let queue = match held_queue(&state).await {
        Ok(queue) => queue,
        Err(problem) => return failure(Some(&session), problem),
    };
    let mut items = Vec::new();
    for held in queue.items.iter().take(PAGE) {
        let review = match review_of(&state, held.id).await {
            Ok(review) => review,
            Err(problem) => return failure(Some(&session), problem),
        };
        let hits = &review.message.hits;
        items.push(json!({
            "m": &review.message,
            "subject": review.subject,
            "elided": review.elided,
            "pieces": pieces(&review.message.text, hits, "reply_text"),
            "can_redact": review.message.redacted_text.is_some(),
        }));
    }
    page(
        StatusCode::OK,
        "moderation.html",
        json!({
            "title": "Moderation",
            "nav": "moderation",
            "user": who_counted(&state, &session.user).await,
            "csrf": session.csrf,
            "items": items,
            "more": queue.items.len() > PAGE,
        }),
    )
}

#[derive(Deserialize)]
pub struct DecisionForm {
    csrf: Option<String>,
    decision: String,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    silent: Option<String>,
}

/// `POST /console/moderation/{id}`: approve (masked or redacted) or
/// reject with a reason; back to the panel.
pub async fn decide(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<i64>,
    Form(form): Form<DecisionForm>,
) -> Response {
    let session = match posted(&state, &headers, form.csrf.as_deref()).await {
        Ok(session) => session,
        Err(response) => return response,
    };
    let actor = match moderator(&session) {
        Ok(actor) => actor,
        Err(problem) => return failure(Some(&session), problem),
    };
    let choice = match form.decision.as_str() {
        "approve" => Choice::Approve(Approval::Masked),
        "approve_redacted" => Choice::Approve(Approval::Redacted),
        "reject" if form.reason.trim().is_empty() => {
            return failure(
                Some(&session),
                Problem::invalid("a rejection needs a reason (its author is told it)"),
            );
        }
        "reject" => Choice::Reject {
            reason: form.reason.trim().to_string(),
            silent: form.silent.is_some(),
        },
        other => {
            return failure(
                Some(&session),
                Problem::invalid(format!("{other:?} is not a decision")),
            );
        }
    };
    match decide_as(&state, &actor, id, choice).await {
        Ok(_) => Redirect::to("/console/moderation").into_response(),
        Err(problem) => failure(Some(&session), problem),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hit(start: i64, end: i64, rule: &str) -> PolicyHit {
        PolicyHit {
            rule: rule.into(),
            field: "reply_text".into(),
            start,
            end,
            ..PolicyHit::default()
        }
    }

    #[test]
    fn spans_cut_the_text_by_characters() {
        let text = "Call Zoë at 0612 345 678 or mail z@x.example";
        let pieces = pieces(
            text,
            &[hit(12, 24, "phone"), hit(33, 44, "email")],
            "reply_text",
        );
        let shown: Vec<(&str, Option<&str>)> = pieces
            .iter()
            .map(|p| (p.text.as_str(), p.rule.as_deref()))
            .collect();
        assert_eq!(
            shown,
            [
                ("Call Zoë at ", None),
                ("0612 345 678", Some("phone")),
                (" or mail ", None),
                ("z@x.example", Some("email")),
            ]
        );
        // Overlapping and out-of-range spans are clipped, nothing doubled.
        let clipped = super::pieces("abcdef", &[hit(1, 4, "a"), hit(2, 9, "b")], "reply_text");
        let joined: String = clipped.iter().map(|p| p.text.as_str()).collect();
        assert_eq!(joined, "abcdef");
    }
}

#[derive(Deserialize)]
pub struct MediateForm {
    csrf: Option<String>,
    text: String,
}

/// `POST /console/tickets/{number}/mediate`: a moderator writes into the
/// conversation as the marketplace; back to it.
pub async fn mediate(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(number): Path<i64>,
    Form(form): Form<MediateForm>,
) -> Response {
    let session = match posted(&state, &headers, form.csrf.as_deref()).await {
        Ok(session) => session,
        Err(response) => return response,
    };
    if let Err(problem) = moderator(&session) {
        return failure(Some(&session), problem);
    }
    let acting = super::pages::acting(&session.user);
    let request = MessageRequest { text: form.text };
    match mediate_as(&state, &acting, number, request).await {
        Ok(_) => Redirect::to(&format!("/console/tickets/{number}")).into_response(),
        Err(problem) => failure(Some(&session), problem),
    }
}
