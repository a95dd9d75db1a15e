//! The endpoints, one file per resource. Each handler parses and
//! authorises (taking a [`Caller`](super::auth::Caller) makes it
//! authenticated and rate-limited), calls the same functions the CLI
//! calls, and renders the result; errors are [`Problem`](super::error::Problem)s.
//!
//! To add one: write the handler in the resource's file with a
//! `#[utoipa::path]` (its responses beside it; the ones every endpoint
//! shares are added by [`super::openapi`]), take `Caller` and the
//! extractors of [`super::extract`], and register it below with `routes!`.

pub mod actions;
pub mod compose;
pub mod conversations;
pub mod cursor;
pub mod events;
pub mod health;
pub mod me;
pub mod moderation;
pub mod pool;
pub mod read;
pub mod search;
pub mod tokens;

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;

/// Every endpoint, each with its OpenAPI operation.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(health::healthz))
        .routes(routes!(health::readyz))
        .routes(routes!(health::metrics))
        .routes(routes!(super::openapi::document_json))
        .routes(routes!(me::me))
        .routes(routes!(tokens::mint))
        .routes(routes!(events::stream))
        // One path, two methods: registered together so that the OpenAPI
        // document keeps both operations.
        .routes(routes!(conversations::list, compose::start))
        .routes(routes!(compose::post_message))
        .routes(routes!(conversations::show::show, actions::delete))
        .routes(routes!(read::mark))
        .routes(routes!(read::unread))
        .routes(routes!(actions::set_status))
        .routes(routes!(actions::take))
        .routes(routes!(actions::assign))
        .routes(routes!(actions::forward))
        .routes(routes!(actions::restore))
        .routes(routes!(actions::archive))
        .routes(routes!(actions::unarchive))
        .routes(routes!(pool::pool))
        .routes(routes!(search::search))
        .routes(routes!(moderation::queue))
        .routes(routes!(moderation::show))
        .routes(routes!(moderation::approve))
        .routes(routes!(moderation::reject))
}

/// The probes and the metrics alone (`http.monitor_listen`).
pub fn monitor_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(health::healthz))
        .routes(routes!(health::readyz))
        .routes(routes!(health::metrics))
}

/// A time as the API writes it: RFC 3339, UTC, to the millisecond
/// (`2026-11-21T08:15:00.123Z`). The command line's JSON keeps Unix ms.
pub fn rfc3339(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .map(|t| format!("{t:.3}"))
        .unwrap_or_else(|_| ms.to_string())
}
