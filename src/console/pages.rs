//! The console's handlers: log in and out, the dashboard (the
//! conversation list, by month), one conversation with its reply box.
//!
//! Each page asks the same functions as the API does for the same thing
//! (`http::api::conversations::page`, `…::show::conversation`,
//! `…::compose::write_message`): what a console user sees and may do is
//! what the API lets the same person see and do.

use std::net::SocketAddr;

use axum::Form;
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::password;
use super::render::{ICON, SCRIPT, STYLESHEET, page};
use super::session::{self, LOGIN_COOKIE, SESSION_COOKIE};
use crate::address;
use crate::http::AppState;
use crate::http::api::compose::{MessageRequest, write_message};
use crate::http::api::conversations::show::conversation;
use crate::http::api::conversations::{ListQuery, page as list_page};
use crate::http::api::events;
use crate::http::api::read::mark_as;
use crate::http::error::Problem;
use crate::http::viewer::Acting;
use crate::store::{ConsoleSession, ConsoleUser, is_overdue, now_ms};
use crate::tickets::Status;

/// The account as the pages show it.
#[derive(Serialize)]
pub(super) struct Who<'a> {
    name: &'a str,
    role: &'static str,
    /// "My messages": how many of the conversations assigned to them have
    /// unread messages (the count in the corner); `None`: not shown.
    mine: Option<usize>,
}

pub(super) fn who(user: &ConsoleUser) -> Who<'_> {
    Who {
        name: user.display_name.as_deref().unwrap_or(&user.login),
        role: user.role.as_str(),
        mine: None,
    }
}

/// The most assigned conversations the count in the corner looks at.
const MINE_MAX: i64 = 200;

/// As [`who`], with the count of "my messages" for the seller side.
pub(super) async fn who_counted<'a>(state: &AppState, user: &'a ConsoleUser) -> Who<'a> {
    let mut who = who(user);
    if !user.role.sees_everything() {
        let query = ListQuery {
            assignee: Some(user.login.clone()),
            limit: Some(MINE_MAX),
            ..ListQuery::default()
        };
        // The count is a convenience: a page shows without it.
        if let Ok(mine) = list_page(state, &acting(user), &query).await {
            who.mine = Some(mine.items.iter().filter(|c| c.unread > 0).count());
        }
    }
    who
}

/// Whom a console user acts as: moderators and admins see every
/// conversation; the others are the person of their address.
pub fn acting(user: &ConsoleUser) -> Acting {
    match user.role.sees_everything() {
        true => Acting::Moderator {
            key: format!("console:{}", user.login),
        },
        false => Acting::Person {
            address: user.login.clone(),
            user_id: None,
            name: user.display_name.clone(),
        },
    }
}

/// The session of the request, or the answer that sends the browser to
/// the login page (or says the store is unavailable).
pub(super) async fn signed_in(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<ConsoleSession, Response> {
    match session::current(state.store(), headers).await {
        Ok(Some(session)) => Ok(session),
        Ok(None) => Err(Redirect::to("/console/login").into_response()),
        Err(e) => Err(failure(None, Problem::from(e))),
    }
}

/// The session of a form's POST: logged in, and the form's token the
/// session's own (else 403 before anything is done).
pub(super) async fn posted(
    state: &AppState,
    headers: &HeaderMap,
    token: Option<&str>,
) -> Result<ConsoleSession, Response> {
    let session = signed_in(state, headers).await?;
    match session::form_token_ok(token, &session.csrf) {
        true => Ok(session),
        false => Err(forbidden(&session)),
    }
}

/// An error page for `problem` (its status, and what the API would tell).
pub(super) fn failure(session: Option<&ConsoleSession>, problem: Problem) -> Response {
    let status = problem.kind().status();
    let detail = problem
        .detail()
        .map(str::to_string)
        .unwrap_or_else(|| problem.kind().title().to_string());
    page(
        status,
        "tickets.html",
        json!({
            "title": "Error",
            "heading": detail,
            "user": session.map(|s| who(&s.user)),
            "csrf": session.map(|s| s.csrf.as_str()).unwrap_or(""),
            "statuses": [],
            "filter": {"status": "", "month": "", "q": "", "view": ""},
            "groups": [],
            "next": null,
        }),
    )
}

pub async fn home() -> Redirect {
    Redirect::to("/console/tickets")
}

pub async fn stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=3600"),
        ],
        STYLESHEET,
    )
        .into_response()
}

pub async fn script() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=3600"),
        ],
        SCRIPT,
    )
        .into_response()
}

/// The session's live events (what `GET /api/v1/events` streams to the
/// same person), for the pages' script; it ends with the session.
pub async fn events(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let session = match signed_in(&state, &headers).await {
        Ok(session) => session,
        Err(_) => return StatusCode::UNAUTHORIZED.into_response(),
    };
    let after = match events::after(&headers, None) {
        Ok(after) => after,
        Err(problem) => return problem.into_response(),
    };
    let acting = acting(&session.user);
    match events::follow_as(&state, acting, after, Some(session.expires_ms)).await {
        Ok(response) => response,
        Err(problem) => problem.into_response(),
    }
}

pub async fn icon() -> Response {
    (
        [
            (header::CONTENT_TYPE, "image/svg+xml"),
            (header::CACHE_CONTROL, "max-age=86400"),
        ],
        ICON,
    )
        .into_response()
}

/// The login page, with a fresh form token in a cookie of its own.
pub async fn login_form(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Ok(Some(_)) = session::current(state.store(), &headers).await {
        return Redirect::to("/console/tickets").into_response();
    }
    login_page(&state, StatusCode::OK, "", None)
}

fn login_page(state: &AppState, status: StatusCode, login: &str, error: Option<&str>) -> Response {
    let token = match password::token() {
        Ok(token) => token,
        Err(e) => return failure(None, Problem::internal(&e)),
    };
    let mut response = page(
        status,
        "login.html",
        json!({"title": "Log in", "csrf": token, "login": login, "error": error, "user": null}),
    );
    let secure = state.config.http.console_secure_cookies;
    response.headers_mut().append(
        header::SET_COOKIE,
        session::set_cookie(LOGIN_COOKIE, &token, 600, secure),
    );
    response
}

#[derive(Deserialize)]
pub struct LoginForm {
    login: String,
    password: String,
    csrf: Option<String>,
}

pub async fn login(
    State(state): State<AppState>,
    peer: Option<axum::Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    let expected = session::cookie(&headers, LOGIN_COOKIE).unwrap_or("");
    if !session::form_token_ok(form.csrf.as_deref(), expected) {
        return login_page(
            &state,
            StatusCode::FORBIDDEN,
            &form.login,
            Some("The form expired: log in again."),
        );
    }
    let login = address::normalize(&form.login);
    let client = peer.map_or_else(|| "unknown".to_string(), |p| p.0.0.ip().to_string());
    let now = now_ms();
    let limiter = &state.logins;
    if let Some(wait) = limiter.wait(&login, &client, now) {
        let minutes = (wait + 59) / 60;
        let mut response = login_page(
            &state,
            StatusCode::TOO_MANY_REQUESTS,
            &form.login,
            Some(&format!(
                "Too many failed logins: try again in {minutes} minute{}.",
                if minutes == 1 { "" } else { "s" }
            )),
        );
        if let Ok(value) = wait.to_string().parse() {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        return response;
    }
    let user = match state.store().console_user(&login).await {
        Ok(user) => user,
        Err(e) => return failure(None, Problem::from(e)),
    };
    // The same work whether the account exists or not, off the async
    // threads (argon2id takes tens of milliseconds by design).
    let hash = user.as_ref().map(|u| u.password_hash.clone());
    let typed = form.password.clone();
    let matches = tokio::task::spawn_blocking(move || {
        let hash: &str = match &hash {
            Some(hash) => hash,
            None => password::decoy(),
        };
        password::verify(hash, &typed)
    })
    .await
    .unwrap_or(false);
    let user = match user {
        Some(user) if matches && user.disabled_ms.is_none() => user,
        _ => {
            limiter.failed(&login, &client, now);
            tracing::info!(login = %login, client = %client, "console: a login failed");
            return login_page(
                &state,
                StatusCode::UNAUTHORIZED,
                &form.login,
                Some("That email address and password do not match an account."),
            );
        }
    };
    limiter.succeeded(&login);
    let (token, csrf) = match (password::token(), password::token()) {
        (Ok(token), Ok(csrf)) => (token, csrf),
        (Err(e), _) | (_, Err(e)) => return failure(None, Problem::internal(&e)),
    };
    let hours = state.config.http.console_session_hours as i64;
    let expires = now + hours * 3_600_000;
    if let Err(e) = state
        .store()
        .open_console_session(user.id, &session::token_hash(&token), &csrf, now, expires)
        .await
    {
        return failure(None, Problem::from(e));
    }
    tracing::info!(login = %login, "console: logged in");
    let secure = state.config.http.console_secure_cookies;
    let mut response = Redirect::to("/console/tickets").into_response();
    let cookies = response.headers_mut();
    cookies.append(
        header::SET_COOKIE,
        session::set_cookie(SESSION_COOKIE, &token, hours * 3_600, secure),
    );
    cookies.append(
        header::SET_COOKIE,
        session::set_cookie(LOGIN_COOKIE, "", 0, secure),
    );
    response
}

#[derive(Deserialize)]
pub struct TokenForm {
    csrf: Option<String>,
}

pub async fn logout(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<TokenForm>,
) -> Response {
    let session = match posted(&state, &headers, form.csrf.as_deref()).await {
        Ok(session) => session,
        Err(response) => return response,
    };
    if let Some(token) = session::cookie(&headers, SESSION_COOKIE)
        && let Err(e) = state
            .store()
            .close_console_session(&session::token_hash(token))
            .await
    {
        return failure(Some(&session), Problem::from(e));
    }
    let secure = state.config.http.console_secure_cookies;
    let mut response = Redirect::to("/console/login").into_response();
    response.headers_mut().append(
        header::SET_COOKIE,
        session::set_cookie(SESSION_COOKIE, "", 0, secure),
    );
    response
}

fn forbidden(session: &ConsoleSession) -> Response {
    failure(
        Some(session),
        Problem::forbidden("the form expired or came from another page: reload and try again"),
    )
}

/// The dashboard's filters (`?status=&month=&q=&cursor=`).
#[derive(Debug, Default, Deserialize, Serialize)]
pub struct DashboardQuery {
    #[serde(default)]
    status: String,
    #[serde(default)]
    month: String,
    #[serde(default)]
    q: String,
    #[serde(default)]
    cursor: String,
    /// `archive` or `trash` instead of the open list.
    #[serde(default)]
    view: String,
}

/// The conversations of the logged-in user, newest activity first, in
/// sections by month.
pub async fn tickets(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(filter): Query<DashboardQuery>,
) -> Response {
    let session = match signed_in(&state, &headers).await {
        Ok(session) => session,
        Err(response) => return response,
    };
    let status = match filter.status.as_str() {
        "" => None,
        text => match Status::ALL.into_iter().find(|s| s.as_str() == text) {
            Some(status) => Some(status),
            None => {
                return failure(
                    Some(&session),
                    Problem::bad_request(format!("status: {text:?} is not a status")),
                );
            }
        },
    };
    let some = |s: &str| (!s.trim().is_empty()).then(|| s.trim().to_string());
    let mut assignee = None;
    let (archived, deleted, heading) = match filter.view.as_str() {
        "archive" => (Some(true), None, "Archive"),
        "trash" => (None, Some(true), "Trash"),
        "mine" => {
            assignee = Some(session.user.login.clone());
            (None, None, "My messages")
        }
        "" => (
            None,
            None,
            match session.user.role.sees_everything() {
                true => "Every conversation",
                false => "Messages",
            },
        ),
        other => {
            return failure(
                Some(&session),
                Problem::bad_request(format!("view: {other:?} is not mine, archive or trash")),
            );
        }
    };
    let query = ListQuery {
        assignee,
        archived,
        deleted,
        status,
        month: some(&filter.month),
        q: some(&filter.q),
        cursor: some(&filter.cursor),
        limit: Some(50),
        ..ListQuery::default()
    };
    let acting = acting(&session.user);
    let listed = match list_page(&state, &acting, &query).await {
        Ok(listed) => listed,
        Err(problem) => return failure(Some(&session), problem),
    };
    // Sections by the month of the last activity (the list's order); a
    // row past its queue's response target is marked overdue.
    let targets = crate::outbox::reminders::targets(&state.config);
    let now = now_ms();
    let mut groups: Vec<serde_json::Value> = Vec::new();
    let mut rows: Vec<serde_json::Value> = Vec::new();
    let mut month = String::new();
    for item in &listed.items {
        let this = item.last_activity.get(..7).unwrap_or("").to_string();
        if this != month && !rows.is_empty() {
            groups.push(group(&month, std::mem::take(&mut rows)));
        }
        month = this;
        let mut row = serde_json::to_value(item).unwrap_or_default();
        let waiting = item
            .waiting_since
            .as_deref()
            .and_then(|t| t.parse::<jiff::Timestamp>().ok())
            .map(|t| t.as_millisecond());
        row["overdue"] = json!(is_overdue(&targets, &item.queue, waiting, now));
        rows.push(row);
    }
    if !rows.is_empty() {
        groups.push(group(&month, rows));
    }
    let response = super::response::figures(&state, &acting, &targets, now, &groups).await;
    let next = listed.next_cursor.map(|cursor| {
        let mut params = vec![("cursor", cursor)];
        for (name, value) in [
            ("status", &filter.status),
            ("month", &filter.month),
            ("q", &filter.q),
            ("view", &filter.view),
        ] {
            if !value.is_empty() {
                params.push((name, value.clone()));
            }
        }
        let params: Vec<String> = params
            .iter()
            .map(|(name, value)| format!("{name}={}", url_encoded(value)))
            .collect();
        format!("/console/tickets?{}", params.join("&"))
    });
    page(
        StatusCode::OK,
        "tickets.html",
        json!({
            "title": heading,
            "heading": heading,
            "nav": if filter.view.is_empty() { "tickets" } else { filter.view.as_str() },
            "user": who_counted(&state, &session.user).await,
            "csrf": session.csrf,
            "statuses": Status::ALL.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
            "filter": filter,
            "groups": groups,
            "response": response,
            "next": next,
        }),
    )
}

/// `text` as a URL's query value (RFC 3986 unreserved characters kept).
pub(super) fn url_encoded(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn group(month: &str, rows: Vec<serde_json::Value>) -> serde_json::Value {
    json!({"month": month, "label": month_label(month), "rows": rows})
}

/// `December 2026` for `2026-12` (the month itself when it is no month).
pub(super) fn month_label(month: &str) -> String {
    jiff::civil::Date::strptime("%Y-%m-%d", format!("{month}-01"))
        .map(|d| d.strftime("%B %Y").to_string())
        .unwrap_or_else(|_| month.to_string())
}

/// One conversation, with the reply box for those who may write.
pub async fn ticket(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(number): Path<i64>,
) -> Response {
    let session = match signed_in(&state, &headers).await {
        Ok(session) => session,
        Err(response) => return response,
    };
    let acting = acting(&session.user);
    let shown = match conversation(&state, &acting, number).await {
        Ok(shown) => shown,
        Err(problem) => return failure(Some(&session), problem),
    };
    let names: std::collections::HashMap<&str, &str> = shown
        .participants
        .iter()
        .filter_map(|p| p.name.as_deref().map(|n| (p.address.as_str(), n)))
        .collect();
    // Shown: read, up to the newest message on the page (a person's
    // unread count and badge go; one that arrives meanwhile stays unread).
    if let (Some(_), Some(newest)) = (acting.address(), shown.messages.last())
        && let Err(problem) = mark_as(&state, &acting, number, Some(newest.id)).await
    {
        return failure(Some(&session), problem);
    }
    let mut c = serde_json::to_value(&shown).unwrap_or_default();
    if let Some(messages) = c.get_mut("messages").and_then(|m| m.as_array_mut()) {
        for m in messages {
            let name = m
                .get("author")
                .and_then(|a| a.as_str())
                .and_then(|a| names.get(a))
                .map(|n| n.to_string());
            m["author_name"] = json!(name);
        }
    }
    page(
        StatusCode::OK,
        "ticket.html",
        json!({
            "title": format!("#{number} {}", shown.summary.subject),
            "user": who_counted(&state, &session.user).await,
            "csrf": session.csrf,
            "c": c,
            "can_reply": !session.user.role.sees_everything() && !shown.summary.deleted,
            "can_act": !session.user.role.sees_everything(),
            "can_mediate": session.user.role.sees_everything() && !shown.summary.deleted,
            "marketplace_name": state.config.notify.marketplace_name,
            "me": session.user.login,
            "statuses": Status::ALL.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
        }),
    )
}

#[derive(Deserialize)]
pub struct ReplyForm {
    csrf: Option<String>,
    text: String,
}

/// The reply box: the message goes through the same intake as every
/// other door, then back to the conversation.
pub async fn reply(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(number): Path<i64>,
    Form(form): Form<ReplyForm>,
) -> Response {
    let session = match posted(&state, &headers, form.csrf.as_deref()).await {
        Ok(session) => session,
        Err(response) => return response,
    };
    let acting = acting(&session.user);
    let request = MessageRequest { text: form.text };
    match write_message(&state, &acting, number, request).await {
        Ok(_) => Redirect::to(&format!("/console/tickets/{number}")).into_response(),
        Err(problem) => failure(Some(&session), problem),
    }
}
