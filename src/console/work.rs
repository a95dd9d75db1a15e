//! The console's buttons: what people do to a conversation (its status,
//! take it, forward it to an employee with a note, delete and restore,
//! archive) and the pool of conversations nobody has taken. Each asks
//! the rule book the API asks ([`act_on`], [`pool_of`]).

use axum::Form;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use serde_json::json;

use super::pages::{acting, failure, posted, signed_in, who_counted};
use super::render::page;
use crate::actions::Act;
use crate::http::AppState;
use crate::http::api::actions::act_on;
use crate::http::api::pool::{PoolQuery, pool_of};
use crate::http::error::Problem;
use crate::store::Filing;
use crate::tickets::Status;

/// A button's form: which action, and what it needs.
#[derive(Deserialize)]
pub struct ActForm {
    csrf: Option<String>,
    action: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    note: String,
}

/// The act a form asks for, or why it asks for none.
fn act_of(form: &ActForm) -> Result<Act, Problem> {
    Ok(match form.action.as_str() {
        "status" => Act::Status(
            Status::ALL
                .into_iter()
                .find(|s| s.as_str() == form.status)
                .ok_or_else(|| Problem::invalid(format!("{:?} is not a status", form.status)))?,
        ),
        "take" => Act::Take,
        "forward" => Act::Forward {
            to: form.to.trim().to_string(),
            note: Some(form.note.trim().to_string()).filter(|n| !n.is_empty()),
        },
        "delete" => Act::File(Filing::Delete),
        "restore" => Act::File(Filing::Restore),
        "archive" => Act::File(Filing::Archive),
        "unarchive" => Act::File(Filing::Unarchive),
        other => return Err(Problem::invalid(format!("{other:?} is not an action"))),
    })
}

/// `POST /console/tickets/{n}/act`: one button; back to the conversation
/// (to the list after a delete, or a take from the pool).
pub async fn act(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(number): Path<i64>,
    Form(form): Form<ActForm>,
) -> Response {
    let session = match posted(&state, &headers, form.csrf.as_deref()).await {
        Ok(session) => session,
        Err(response) => return response,
    };
    let act = match act_of(&form) {
        Ok(act) => act,
        Err(problem) => return failure(Some(&session), problem),
    };
    let next = match &act {
        Act::File(Filing::Delete) => "/console/tickets".to_string(),
        _ => format!("/console/tickets/{number}"),
    };
    match act_on(&state, &acting(&session.user), number, act).await {
        Ok(_) => Redirect::to(&next).into_response(),
        Err(problem) => failure(Some(&session), problem),
    }
}

/// `GET /console/pool`: the conversations nobody has taken, oldest first,
/// each with "Take it on me".
pub async fn pool(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let session = match signed_in(&state, &headers).await {
        Ok(session) => session,
        Err(response) => return response,
    };
    let query = PoolQuery {
        limit: Some(200),
        ..PoolQuery::default()
    };
    let pool = match pool_of(&state, &acting(&session.user), &query).await {
        Ok(pool) => pool,
        Err(problem) => return failure(Some(&session), problem),
    };
    page(
        StatusCode::OK,
        "pool.html",
        json!({
            "title": "Pool",
            "user": who_counted(&state, &session.user).await,
            "csrf": session.csrf,
            "nav": "pool",
            "can_take": !session.user.role.sees_everything(),
            "items": pool.items,
        }),
    )
}
