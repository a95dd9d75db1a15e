//! `POST /api/v1/tokens`: the platform mints a user token for one
//! participant, for the marketplace's pages to call the API as that
//! participant (docs/http.md#user-tokens).

use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

use crate::http::AppState;
use crate::http::auth::Caller;
use crate::http::error::Problem;
use crate::http::extract::Json;
use crate::http::token::Claims;

/// Whom the token is for.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenRequest {
    /// The participant's email address: the token acts as this
    /// participant and nobody else.
    #[schema(example = "maria@buyer.example")]
    pub address: String,
    /// The marketplace's own id of the user (one line).
    #[schema(example = "u-1842", min_length = 1, max_length = 200)]
    pub user_id: Option<String>,
    /// The user's display name at the marketplace (one line).
    #[schema(example = "Maria", min_length = 1, max_length = 200)]
    pub display_name: Option<String>,
    /// Seconds the token lives: 1 to `http.user_token_secs` (3600 by
    /// default, 86400 at most), which is also the default.
    #[schema(example = 900, minimum = 1, maximum = 86400)]
    pub expires_in: Option<u64>,
}

/// A fresh user token.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TokenResponse {
    /// Send it as `Authorization: Bearer TOKEN`.
    pub token: String,
    /// When it expires, Unix ms.
    pub expires_at: i64,
    /// The participant it acts as (normalised).
    pub address: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
}

/// Mints a user token (platform keys only).
#[utoipa::path(
    post,
    path = "/api/v1/tokens",
    tag = "auth",
    operation_id = "createUserToken",
    security(("bearer" = [])),
    request_body = TokenRequest,
    responses(
        (status = 201, description = "The token", body = TokenResponse),
        (status = 403, description = "Not a platform key", body = crate::http::error::ProblemSchema, content_type = "application/problem+json"),
        (status = 422, description = "An address, user id, name or lifetime that is not valid", body = crate::http::error::ProblemSchema, content_type = "application/problem+json"),
    )
)]
pub async fn mint(
    State(state): State<AppState>,
    caller: Caller,
    Json(request): Json<TokenRequest>,
) -> Result<(StatusCode, Json<TokenResponse>), Problem> {
    caller.require_platform()?;
    let claims = Claims::new(
        &request.address,
        request.user_id,
        request.display_name,
        crate::store::now_ms(),
        request.expires_in,
        state.config.http.user_token_secs,
    )
    .map_err(Problem::invalid)?;
    let token = state.auth.tokens().mint(&claims);
    Ok((
        StatusCode::CREATED,
        Json(TokenResponse {
            token,
            expires_at: claims.exp,
            address: claims.sub,
            user_id: claims.uid,
            display_name: claims.name,
        }),
    ))
}
