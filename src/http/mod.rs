//! The HTTP door: the JSON API under `/api/v1` that the marketplace's
//! backend and its pages call, served by `parley serve` (`[http]`).
//!
//! HTTP is one more door, like SMTP and IMAP: a handler parses the
//! request and authorises the caller, then calls the same intake, ticket
//! and moderation functions the CLI calls, and renders the result. It
//! decides nothing of its own.
//!
//! - [`router`] builds the whole door for a state (tests call it with
//!   `tower::ServiceExt::oneshot`); [`serve`] runs it on a listener until
//!   `parley serve` stops (`listen.rs`: hyper's HTTP/1.1 per connection).
//! - [`api`] holds the endpoints, one file per resource, each documented
//!   with `#[utoipa::path]` and registered with `routes!` (so a route
//!   cannot be served without being in the OpenAPI document, [`openapi`]).
//! - [`auth`] says who calls ([`auth::Caller`]: an API key's role, or a
//!   user token's participant, [`token`]) and charges its rate limit
//!   ([`limit`]).
//! - [`error`] is the one error type ([`error::Problem`]), rendered as
//!   `application/problem+json`; [`extract`] wraps axum's extractors so
//!   that their rejections are problems too.
//! - [`hub`] reads the event log once per process and fans it out to the
//!   live event streams (`GET /api/v1/events`, [`api::events`]).
//! - [`idempotency`] runs a POST with an `Idempotency-Key` once and
//!   replays its answer to a retry.
//! - [`viewer`] says whom a request acts as (a moderator, the marketplace,
//!   a person: a user token, or a platform key with `?as=`) and, through
//!   [`crate::access`], what they are to a conversation (404 when nothing).
//!
//! docs/http.md describes the door for its users.

pub mod api;
pub mod auth;
pub mod error;
pub mod extract;
pub mod hub;
pub mod idempotency;
pub mod limit;
mod listen;
pub mod openapi;
pub mod token;
pub mod viewer;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, HeaderValue, Method, header};
use axum::response::{IntoResponse, Response};
use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::config::{Config, ConfigError};
use crate::intake::Intake;
use crate::store::Store;
use error::{Kind, Problem};

pub use listen::serve;

/// What every handler can reach, cheap to clone (one `Arc`).
#[derive(Clone)]
pub struct AppState {
    shared: Arc<Shared>,
}

/// The state behind [`AppState`].
pub struct Shared {
    /// The same intake (and through it the store) as the other doors.
    pub intake: Arc<Intake>,
    /// The configuration `parley serve` runs with.
    pub config: Arc<Config>,
    /// The API keys and the user-token key.
    pub auth: auth::Authenticator,
    /// The rate-limit buckets of every caller.
    pub limiter: limit::RateLimiter,
    /// The one reader of the event log, for the live event streams.
    pub hub: hub::Hub,
    /// Failed console logins, per account and client address.
    pub logins: crate::console::session::LoginLimiter,
    /// `parley serve` has started: store open, listeners bound, the first
    /// IMAP logins tried (`/readyz`).
    started: std::sync::atomic::AtomicBool,
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.shared
    }
}

impl AppState {
    /// The state for `config`, with the token key `secret` and the intake
    /// the other doors use. Fails when a key's `key_file` cannot be read.
    pub fn new(
        config: &Config,
        secret: &[u8],
        intake: Arc<Intake>,
    ) -> Result<AppState, ConfigError> {
        Ok(AppState {
            shared: Arc::new(Shared {
                auth: auth::Authenticator::new(&config.http, secret)?,
                hub: hub::Hub::new(intake.shared_store(), config.http.max_event_streams),
                intake,
                config: Arc::new(config.clone()),
                limiter: limit::RateLimiter::default(),
                logins: Default::default(),
                started: Default::default(),
            }),
        })
    }

    pub fn store(&self) -> &dyn Store {
        self.intake.store()
    }

    /// Says `parley serve` has started (`/readyz` may then answer ready).
    pub fn mark_started(&self) {
        self.started
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }

    /// Whether [`AppState::mark_started`] was called.
    pub fn started(&self) -> bool {
        self.started.load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// The headers a page of another origin may send (CORS): credentials, the
/// body's type, the key that makes a POST safe to retry, and where an
/// event stream resumes.
const CORS_REQUEST_HEADERS: [&str; 4] = [
    "authorization",
    "content-type",
    "idempotency-key",
    "last-event-id",
];
/// How long a browser may cache a preflight's answer.
const CORS_MAX_AGE: Duration = Duration::from_secs(600);

/// The whole door: every endpoint of [`api`] inside the door's layers
/// ([`layered`]).
pub fn router(state: AppState) -> Router {
    let mut routes: Router<AppState> = api::routes().into();
    if state.config.http.console {
        routes = routes.merge(crate::console::routes());
    }
    layered(routes, state)
}

/// The monitoring door of `http.monitor_listen`: `/healthz`, `/readyz` and
/// `/metrics` only, in the same layers.
pub fn monitor_router(state: AppState) -> Router {
    layered(api::monitor_routes().into(), state)
}

/// `routes` with problems for unknown paths and methods, and the layers
/// (outermost first): a panic becomes a 500 problem, CORS (so that the
/// pages of allowed origins can read errors too), the body limit. Tests
/// wrap routes of their own in it to see what the layers make of a panic
/// or a failing store.
pub fn layered(routes: Router<AppState>, state: AppState) -> Router {
    let limit = state.config.http.max_body_bytes;
    let mut router = routes
        .fallback(|| async { Problem::not_found("no such endpoint") })
        .method_not_allowed_fallback(|| async {
            Problem::new(
                Kind::MethodNotAllowed,
                "this endpoint does not take that method",
            )
        })
        .layer(axum::middleware::from_fn_with_state(
            limit,
            limit::body_limit,
        ))
        .layer(DefaultBodyLimit::max(limit));
    if let Some(cors) = cors(&state.config.http.cors_origins) {
        router = router.layer(cors);
    }
    router
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(panicked))
        .with_state(state)
}

/// CORS for `origins` only; `None` when there are none (then no answer
/// carries CORS headers and browsers keep other origins out).
fn cors(origins: &[String]) -> Option<CorsLayer> {
    let origins: Vec<HeaderValue> = origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o).ok())
        .collect();
    if origins.is_empty() {
        return None;
    }
    Some(
        CorsLayer::new()
            .allow_origin(AllowOrigin::list(origins))
            .allow_methods([
                Method::GET,
                Method::POST,
                Method::PUT,
                Method::PATCH,
                Method::DELETE,
            ])
            .allow_headers(CORS_REQUEST_HEADERS.map(HeaderName::from_static))
            .expose_headers([
                header::RETRY_AFTER,
                header::WWW_AUTHENTICATE,
                header::LOCATION,
            ])
            .max_age(CORS_MAX_AGE),
    )
}

/// A handler that panicked: a 500 problem (the panic is logged, the
/// caller learns nothing of it).
fn panicked(cause: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let message = cause
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| cause.downcast_ref::<&str>().copied())
        .unwrap_or("a panic");
    Problem::internal(&format_args!("handler panicked: {message}")).into_response()
}
