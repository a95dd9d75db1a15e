//! `GET /api/v1/me`: who the caller is, as parley recognised it.

use crate::http::auth::{Caller, Identity};
use crate::http::extract::Json;

/// The caller: an API key's name and role, or a user token's participant.
#[utoipa::path(
    get,
    path = "/api/v1/me",
    tag = "auth",
    operation_id = "getMe",
    security(("bearer" = [])),
    responses((status = 200, description = "The caller", body = Identity))
)]
pub async fn me(caller: Caller) -> Json<Identity> {
    Json(Identity::from(&caller))
}
