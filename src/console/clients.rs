//! The clients of a seller's staff (`/console/clients`): the people of
//! their recent conversations, each with "Email customer", which opens a
//! conversation from the seller side to the client by the same intake as
//! `parley tickets create` and the API ([`Intake::write`] with an
//! [`Opening`] that names the seller): policy, notification, audit.
//!
//! [`Intake::write`]: crate::intake::Intake::write

use std::collections::BTreeMap;

use axum::Form;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::pages::{acting, failure, posted, signed_in, who};
use super::render::page;
use crate::address;
use crate::http::AppState;
use crate::http::api::conversations::{ListQuery, page as list_page};
use crate::http::error::Problem;
use crate::intake::written::{About, Draft, Opening, Person, WriteError, WriteOutcome, Written};
use crate::store::ConsoleSession;

/// How many recent conversations the clients are gathered from.
const RECENT: i64 = 200;

/// A client as the list shows it.
#[derive(Debug, Serialize)]
struct Client {
    address: String,
    name: Option<String>,
    user_id: Option<String>,
    conversations: usize,
    last: String,
    /// The "Email customer" form for them.
    write: String,
}

/// The queues whose staff address the account is: where it may write
/// from.
fn queues_of(state: &AppState, session: &ConsoleSession) -> Vec<(String, String)> {
    state
        .config
        .queues
        .iter()
        .filter(|q| q.has_staff(&session.user.login))
        .map(|q| (q.name.clone(), q.display_name.clone()))
        .collect()
}

/// `GET /console/clients`.
pub async fn list(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let session = match signed_in(&state, &headers).await {
        Ok(session) => session,
        Err(response) => return response,
    };
    let query = ListQuery {
        limit: Some(RECENT),
        ..ListQuery::default()
    };
    let recent = match list_page(&state, &acting(&session.user), &query).await {
        Ok(recent) => recent,
        Err(problem) => return failure(Some(&session), problem),
    };
    let mut clients: BTreeMap<String, Client> = BTreeMap::new();
    for row in &recent.items {
        let Some(person) = &row.client else { continue };
        let entry = clients
            .entry(person.address.clone())
            .or_insert_with(|| Client {
                address: person.address.clone(),
                name: person.name.clone(),
                user_id: person.user_id.clone(),
                conversations: 0,
                last: row.last_activity.clone(),
                write: format!(
                    "/console/clients/new?to={}",
                    super::pages::url_encoded(&person.address)
                ),
            });
        entry.conversations += 1;
    }
    let mut clients: Vec<Client> = clients.into_values().collect();
    clients.sort_by(|a, b| b.last.cmp(&a.last));
    page(
        StatusCode::OK,
        "clients.html",
        json!({
            "title": "Clients",
            "nav": "clients",
            "user": super::pages::who_counted(&state, &session.user).await,
            "csrf": session.csrf,
            "clients": clients,
            "can_write": !queues_of(&state, &session).is_empty(),
        }),
    )
}

#[derive(Debug, Default, Deserialize)]
pub struct ComposeQuery {
    #[serde(default)]
    to: String,
}

/// `GET /console/clients/new?to=ADDR`: the "Email customer" form.
pub async fn compose(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<ComposeQuery>,
) -> Response {
    let session = match signed_in(&state, &headers).await {
        Ok(session) => session,
        Err(response) => return response,
    };
    compose_page(&state, &session, &query.to, "", "", None)
}

fn compose_page(
    state: &AppState,
    session: &ConsoleSession,
    to: &str,
    subject: &str,
    text: &str,
    error: Option<&str>,
) -> Response {
    let queues = queues_of(state, session);
    if queues.is_empty() {
        return failure(
            Some(session),
            Problem::forbidden("only a queue's staff write to its clients"),
        );
    }
    page(
        match error {
            Some(_) => StatusCode::UNPROCESSABLE_ENTITY,
            None => StatusCode::OK,
        },
        "compose.html",
        json!({
            "title": "Email customer",
            "nav": "clients",
            "user": who(&session.user),
            "csrf": session.csrf,
            "to": to,
            "subject": subject,
            "text": text,
            "error": error,
            "queues": queues,
        }),
    )
}

#[derive(Deserialize)]
pub struct ComposeForm {
    csrf: Option<String>,
    to: String,
    #[serde(default)]
    queue: String,
    subject: String,
    text: String,
}

/// `POST /console/clients/new`: the new conversation, written by the
/// account to the client; to it once written.
pub async fn send(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<ComposeForm>,
) -> Response {
    let session = match posted(&state, &headers, form.csrf.as_deref()).await {
        Ok(session) => session,
        Err(response) => return response,
    };
    let queues = queues_of(&state, &session);
    let Some((queue, _)) = queues
        .iter()
        .find(|(name, _)| form.queue.is_empty() || *name == form.queue)
    else {
        return failure(
            Some(&session),
            Problem::forbidden(format!("{:?} is not a queue you are staff of", form.queue)),
        );
    };
    let to = address::normalize(&form.to);
    let again = |error: &str| {
        compose_page(
            &state,
            &session,
            &form.to,
            &form.subject,
            &form.text,
            Some(error),
        )
    };
    if !address::is_address(&to) {
        return again("That is not an email address.");
    }
    let draft = Draft {
        what: Written::Open(Opening {
            queue: queue.clone(),
            client: Person {
                address: to,
                display_name: None,
                user_id: None,
            },
            seller: Some(Person {
                address: session.user.login.clone(),
                display_name: session.user.display_name.clone(),
                user_id: None,
            }),
            subject: form.subject.trim().to_string(),
            about: About::default(),
            manager: None,
        }),
        text: form.text.clone(),
        actor: session.user.login.clone(),
        door: "console",
    };
    match state.intake.write(&draft).await {
        Ok(WriteOutcome::Posted { ticket, .. } | WriteOutcome::Held { ticket, .. }) => {
            Redirect::to(&format!("/console/tickets/{ticket}")).into_response()
        }
        Err(WriteError::Store(e)) => failure(Some(&session), Problem::from(e)),
        Err(e) => again(&e.to_string()),
    }
}
