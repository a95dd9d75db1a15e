//! The console: the pages sellers' staff, operators and moderators work in
//! (issue 15, docs/console.md), served under `/console` on the HTTP
//! listener when `[http] console` is on.
//!
//! One more door onto the same core: every page asks the functions the
//! JSON API asks ([`pages`]), as the person of the account's address
//! (sellers' staff, operators) or as a moderator (moderators, admins).
//! Server-rendered HTML ([`render`]: minijinja, autoescaped), one
//! stylesheet, no inline script or style: the Content-Security-Policy
//! ([`CSP`]) forbids them, so text that slipped through as markup still
//! cannot run.
//!
//! - [`password`]: argon2id hashes, random tokens;
//! - [`session`]: the session cookie, form tokens (CSRF), the limit on
//!   failed logins;
//! - [`pages`]: log in and out, the dashboard, a conversation, the reply
//!   box; [`work`]: the buttons (status, take, forward, delete, archive)
//!   and the pool; [`desk`]: an operator's availability, the queues'
//!   greeting and offline answer; [`clients`]: the clients and "Email
//!   customer";
//!   [`moderation`]: the held queue and its decisions;
//!   [`response`]: the dashboard's response times; [`render`]:
//!   templates, the stylesheet, the script.
//!
//! Accounts live in the store ([`crate::store::ConsoleStore`]) and are
//! made with `parley users`.

pub mod clients;
pub mod desk;
pub mod moderation;
pub mod pages;
pub mod password;
pub mod render;
pub mod response;
pub mod session;
pub mod work;

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::Response;
use axum::routing::{get, post};

use crate::http::AppState;

/// The console's Content-Security-Policy: its own stylesheet, nothing
/// inline, no frames of it elsewhere, forms only to itself.
pub const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self'; \
     script-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; \
     base-uri 'none'";

/// The console's routes, each answer with the security headers.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/console", get(pages::home))
        .route("/console/", get(pages::home))
        .route("/console/login", get(pages::login_form).post(pages::login))
        .route("/console/logout", post(pages::logout))
        .route("/console/tickets", get(pages::tickets))
        .route("/console/tickets/{number}", get(pages::ticket))
        .route("/console/tickets/{number}/reply", post(pages::reply))
        .route("/console/tickets/{number}/act", post(work::act))
        .route(
            "/console/tickets/{number}/mediate",
            post(moderation::mediate),
        )
        .route("/console/pool", get(work::pool))
        .route("/console/desk", get(desk::desk))
        .route("/console/desk/availability", post(desk::availability))
        .route("/console/desk/queues/{name}", post(desk::texts))
        .route("/console/clients", get(clients::list))
        .route(
            "/console/clients/new",
            get(clients::compose).post(clients::send),
        )
        .route("/console/moderation", get(moderation::panel))
        .route("/console/moderation/{id}", post(moderation::decide))
        .route("/console/static/console.css", get(pages::stylesheet))
        .route("/console/static/favicon.svg", get(pages::icon))
        .route("/console/static/console.js", get(pages::script))
        .route("/console/events", get(pages::events))
        .layer(axum::middleware::map_response(secured))
}

/// The headers of every console answer.
async fn secured(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}
