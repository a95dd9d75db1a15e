//! `GET /api/v1/me`: who the caller is, as parley recognised it.

use serde::Serialize;

use crate::http::auth::Caller;
use crate::http::extract::Json;

/// Who the caller is.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Identity {
    /// `platform`, `moderator`, `admin` or `user`.
    #[schema(example = "user")]
    pub role: String,
    /// The API key's name (not for a user).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// The participant's address (a user only).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "maria@buyer.example")]
    pub address: Option<String>,
    /// The marketplace's own id of the user, when the token names one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// The user's display name, when the token names one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// When the user token expires, Unix ms (a user only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<i64>,
}

impl From<&Caller> for Identity {
    fn from(caller: &Caller) -> Identity {
        let mut identity = Identity {
            role: caller.role().to_string(),
            key: caller.key().map(str::to_string),
            address: None,
            user_id: None,
            display_name: None,
            expires_at: None,
        };
        if let Caller::User {
            address,
            user_id,
            name,
            expires,
        } = caller
        {
            identity.address = Some(address.clone());
            identity.user_id = user_id.clone();
            identity.display_name = name.clone();
            identity.expires_at = Some(*expires);
        }
        identity
    }
}

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
