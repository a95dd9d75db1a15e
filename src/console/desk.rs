//! The operator desk's settings page (`/console/desk`): an operator's
//! availability switch, and each of their queues' operators, greeting and
//! offline answer ("customisations"), editable, with the history of who
//! changed what. Stored and audited by [`crate::store::DeskStore`]; the
//! store gives the offline answer while a queue's operators are all away.

use axum::Form;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::pages::{failure, posted, signed_in, who_counted};
use super::render::page;
use crate::config::QueueConfig;
use crate::http::AppState;
use crate::http::api::rfc3339;
use crate::http::error::Problem;
use crate::store::{AuditEntry, ConsoleRole, ConsoleUser, Operator, StoreError, now_ms};

/// The longest greeting or offline answer the desk takes.
const MAX_TEXT: usize = 4_000;

/// One queue as the page shows it.
#[derive(Serialize)]
struct QueueView {
    name: String,
    display_name: String,
    operators: Vec<Operator>,
    /// Nobody of them available: clients get the offline answer.
    offline: bool,
    /// Whether the config gives it a greeting (else no acknowledgement).
    acknowledges: bool,
    greeting: String,
    offline_message: String,
    /// Set in the console (else the config's).
    customised: bool,
    history: Vec<Change>,
    editable: bool,
}

/// One audited change at the desk: a queue's texts, an operator's
/// availability.
#[derive(Serialize)]
struct Change {
    /// RFC 3339, as the other pages' times.
    at: String,
    actor: String,
    what: String,
}

/// How many changes a queue's history shows.
const HISTORY: usize = 20;

/// What an audit entry of the desk says, in words.
fn what(entry: &AuditEntry) -> String {
    if entry.action == "operator.availability" {
        let login = entry.detail.get("login").and_then(|l| l.as_str());
        let state = match entry.detail.get("available").and_then(|a| a.as_bool()) {
            Some(true) => "available",
            _ => "away",
        };
        return format!("{} set {state}", login.unwrap_or("an operator"));
    }
    let fields: Vec<&str> = [("greeting", "greeting"), ("offline", "offline answer")]
        .into_iter()
        .filter(|(key, _)| entry.detail.get(*key).is_some())
        .map(|(_, label)| label)
        .collect();
    format!("changed the {}", fields.join(" and "))
}

/// Whether `user` may edit queue `queue`'s texts: an admin, or one of its
/// operators.
fn may_edit(user: &ConsoleUser, queue: &QueueConfig) -> bool {
    user.role == ConsoleRole::Admin
        || (user.role == ConsoleRole::Operator && queue.has_staff(&user.login))
}

/// `GET /console/desk`.
pub async fn desk(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let session = match signed_in(&state, &headers).await {
        Ok(session) => session,
        Err(response) => return response,
    };
    let user = &session.user;
    let mut queues = Vec::new();
    for queue in &state.config.queues {
        if !user.role.sees_everything() && !queue.has_staff(&user.login) {
            continue;
        }
        match queue_view(&state, user, queue).await {
            Ok(view) => queues.push(view),
            Err(e) => return failure(Some(&session), Problem::from(e)),
        }
    }
    page(
        StatusCode::OK,
        "desk.html",
        json!({
            "title": "Desk",
            "user": who_counted(&state, user).await,
            "csrf": session.csrf,
            "nav": "desk",
            "operator": user.role == ConsoleRole::Operator,
            "available": user.available,
            "queues": queues,
        }),
    )
}

async fn queue_view(
    state: &AppState,
    user: &ConsoleUser,
    queue: &QueueConfig,
) -> Result<QueueView, StoreError> {
    let store = state.store();
    let operators = store.queue_operators(&queue.name).await?;
    let custom = store.queue_texts(&queue.name).await?;
    let logins: Vec<String> = operators.iter().map(|o| o.login.clone()).collect();
    let history = store.desk_history(&queue.name, &logins, HISTORY).await?;
    let configured_offline = queue.after_hours_message();
    let custom_greeting = custom.as_ref().and_then(|c| c.greeting.clone());
    let custom_offline = custom.as_ref().and_then(|c| c.offline.clone());
    Ok(QueueView {
        name: queue.name.clone(),
        display_name: queue.shown_name().to_string(),
        offline: !operators.is_empty() && operators.iter().all(|o| !o.available),
        operators,
        acknowledges: !queue.greeting.trim().is_empty(),
        customised: custom_greeting.is_some() || custom_offline.is_some(),
        greeting: custom_greeting.unwrap_or_else(|| queue.greeting.clone()),
        offline_message: custom_offline.unwrap_or_else(|| configured_offline.to_string()),
        history: history
            .iter()
            .map(|entry| Change {
                at: rfc3339(entry.at),
                actor: entry.actor.clone(),
                what: what(entry),
            })
            .collect(),
        editable: may_edit(user, queue),
    })
}

#[derive(Deserialize)]
pub struct AvailabilityForm {
    csrf: Option<String>,
    available: String,
}

/// `POST /console/desk/availability`: an operator switches themselves
/// available or away.
pub async fn availability(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<AvailabilityForm>,
) -> Response {
    let session = match posted(&state, &headers, form.csrf.as_deref()).await {
        Ok(session) => session,
        Err(response) => return response,
    };
    let user = &session.user;
    if user.role != ConsoleRole::Operator {
        return failure(
            Some(&session),
            Problem::forbidden("only operators switch their availability"),
        );
    }
    let available = match form.available.as_str() {
        "1" => true,
        "0" => false,
        other => {
            return failure(
                Some(&session),
                Problem::invalid(format!("{other:?} is neither 1 nor 0")),
            );
        }
    };
    let actor = format!("console:{}", user.login);
    match state
        .store()
        .set_available(&user.login, available, &actor, now_ms())
        .await
    {
        Ok(()) => Redirect::to("/console/desk").into_response(),
        Err(e) => failure(Some(&session), Problem::from(e)),
    }
}

#[derive(Deserialize)]
pub struct TextsForm {
    csrf: Option<String>,
    #[serde(default)]
    greeting: String,
    #[serde(default)]
    offline: String,
}

/// `POST /console/desk/queues/{name}`: a queue's greeting and offline
/// answer; a text left as the config's (or emptied) is the config's.
pub async fn texts(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(name): Path<String>,
    Form(form): Form<TextsForm>,
) -> Response {
    let session = match posted(&state, &headers, form.csrf.as_deref()).await {
        Ok(session) => session,
        Err(response) => return response,
    };
    let Some(queue) = state.config.queues.iter().find(|q| q.name == name) else {
        return failure(
            Some(&session),
            Problem::not_found(format!("no queue {name}")),
        );
    };
    if !may_edit(&session.user, queue) {
        return failure(
            Some(&session),
            Problem::forbidden("only the queue's operators and admins edit its texts"),
        );
    }
    let configured_offline = queue.after_hours_message();
    // The browser sends textareas with CRLF line ends.
    let clean = |text: &str| text.replace("\r\n", "\n").trim().to_string();
    let (greeting, offline) = (clean(&form.greeting), clean(&form.offline));
    if greeting.chars().count() > MAX_TEXT || offline.chars().count() > MAX_TEXT {
        return failure(
            Some(&session),
            Problem::invalid(format!("a text is longer than {MAX_TEXT} characters")),
        );
    }
    let custom = |text: String, configured: &str| {
        (!text.is_empty() && text != configured.trim()).then_some(text)
    };
    let greeting = custom(greeting, &queue.greeting);
    let offline = custom(offline, configured_offline);
    let actor = format!("console:{}", session.user.login);
    match state
        .store()
        .set_queue_texts(
            &queue.name,
            greeting.as_deref(),
            offline.as_deref(),
            &actor,
            now_ms(),
        )
        .await
    {
        Ok(()) => Redirect::to("/console/desk").into_response(),
        Err(e) => failure(Some(&session), Problem::from(e)),
    }
}
