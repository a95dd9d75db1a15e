//! The endpoints, one file per resource. Each handler parses and
//! authorises (taking a [`Caller`](super::auth::Caller) makes it
//! authenticated and rate-limited), calls the same functions the CLI
//! calls, and renders the result; errors are [`Problem`](super::error::Problem)s.
//!
//! To add one: write the handler in the resource's file with a
//! `#[utoipa::path]` (its responses beside it; the ones every endpoint
//! shares are added by [`super::openapi`]), take `Caller` and the
//! extractors of [`super::extract`], and register it below with `routes!`.

pub mod health;
pub mod me;
pub mod tokens;

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;

/// Every endpoint, each with its OpenAPI operation.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(health::healthz))
        .routes(routes!(super::openapi::document_json))
        .routes(routes!(me::me))
        .routes(routes!(tokens::mint))
}
