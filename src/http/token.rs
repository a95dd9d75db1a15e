//! User tokens: short-lived bearer credentials that the marketplace
//! backend mints (`POST /api/v1/tokens`, with a platform key) for one
//! participant, so that the marketplace's pages call the API as that
//! participant and nobody else. Layout (docs/http.md#user-tokens):
//!
//! ```text
//! ut1.BASE64URL(claims JSON).BASE64URL(HMAC-SHA256(key, "parley/user/v1" ‖ BASE64URL(claims JSON)))
//! ```
//!
//! The key is the token key of the reply addresses (`token.secret` /
//! `token.secret_file`); the label keeps a MAC of one kind from ever
//! verifying as another (a reply token never passes for a user token, nor
//! the reverse). The MAC is checked before the claims are read.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

/// The first part of every user token; a new layout gets a new one.
pub const PREFIX: &str = "ut1";
/// Mixed into the MAC: user tokens only.
const LABEL: &[u8] = b"parley/user/v1";
/// The longest `user_id` and `name` taken (characters).
pub const MAX_FIELD_CHARS: usize = 200;

/// What a user token says: who, and until when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The participant's email address (normalised).
    pub sub: String,
    /// The marketplace's own id of the user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    /// The user's display name at the marketplace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Issued at, Unix ms.
    pub iat: i64,
    /// Expires at, Unix ms: the token is refused from this instant on.
    pub exp: i64,
}

impl Claims {
    /// The claims of a token for the participant `address`, issued at
    /// `now_ms` for `life_secs` (at most `max_secs`, its default), or why
    /// not (for a 422). The address is normalised; the marketplace's user
    /// id and display name are optional, single-line and short.
    pub fn new(
        address: &str,
        uid: Option<String>,
        name: Option<String>,
        now_ms: i64,
        life_secs: Option<u64>,
        max_secs: u64,
    ) -> Result<Claims, String> {
        let sub = crate::address::normalize(address);
        if !crate::address::is_address(&sub) {
            return Err(format!("address: {address:?} is not an email address"));
        }
        for (field, value) in [("user_id", &uid), ("display_name", &name)] {
            if let Some(value) = value
                && (value.trim().is_empty()
                    || value.chars().count() > MAX_FIELD_CHARS
                    || value.chars().any(char::is_control))
            {
                return Err(format!(
                    "{field}: must be 1 to {MAX_FIELD_CHARS} characters on one line"
                ));
            }
        }
        let life = life_secs.unwrap_or(max_secs);
        if !(1..=max_secs).contains(&life) {
            return Err(format!(
                "expires_in: must be 1 to {max_secs} seconds (http.user_token_secs)"
            ));
        }
        Ok(Claims {
            sub,
            uid,
            name,
            iat: now_ms,
            exp: now_ms.saturating_add(life as i64 * 1000),
        })
    }
}

/// Why a user token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum UserTokenError {
    #[error("the user token is malformed")]
    Layout,
    #[error("the user token does not verify")]
    Signature,
    #[error("the user token has expired")]
    Expired,
}

/// Mints and verifies user tokens under the token key.
#[derive(Clone)]
pub struct UserTokens {
    key: Vec<u8>,
}

impl std::fmt::Debug for UserTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("UserTokens(<redacted>)")
    }
}

impl UserTokens {
    pub fn new(key: &[u8]) -> UserTokens {
        UserTokens { key: key.to_vec() }
    }

    fn mac(&self, payload: &str) -> Hmac<Sha256> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC takes any key length");
        mac.update(LABEL);
        mac.update(payload.as_bytes());
        mac
    }

    /// The token carrying `claims`.
    pub fn mint(&self, claims: &Claims) -> String {
        let json = serde_json::to_vec(claims).expect("claims serialise");
        let payload = URL_SAFE_NO_PAD.encode(json);
        let tag = URL_SAFE_NO_PAD.encode(self.mac(&payload).finalize().into_bytes());
        format!("{PREFIX}.{payload}.{tag}")
    }

    /// The claims of `token` when its MAC verifies and it has not expired
    /// at `now_ms`.
    pub fn verify(&self, token: &str, now_ms: i64) -> Result<Claims, UserTokenError> {
        let mut parts = token.split('.');
        let (Some(PREFIX), Some(payload), Some(tag), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(UserTokenError::Layout);
        };
        let tag = URL_SAFE_NO_PAD
            .decode(tag)
            .map_err(|_| UserTokenError::Layout)?;
        self.mac(payload)
            .verify_slice(&tag)
            .map_err(|_| UserTokenError::Signature)?;
        let json = URL_SAFE_NO_PAD
            .decode(payload)
            .map_err(|_| UserTokenError::Layout)?;
        let claims: Claims = serde_json::from_slice(&json).map_err(|_| UserTokenError::Layout)?;
        if now_ms >= claims.exp {
            return Err(UserTokenError::Expired);
        }
        Ok(claims)
    }
}

/// Whether `credential` has the shape of a user token (and so is not
/// looked up as an API key).
pub fn is_user_token(credential: &str) -> bool {
    credential
        .strip_prefix(PREFIX)
        .is_some_and(|rest| rest.starts_with('.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims() -> Claims {
        Claims {
            sub: "maria@buyer.example".into(),
            uid: Some("u-1842".into()),
            name: Some("Maria".into()),
            iat: 1_000,
            exp: 61_000,
        }
    }

    #[test]
    fn round_trip_until_expiry() {
        let tokens = UserTokens::new(b"0123456789abcdef0123");
        let token = tokens.mint(&claims());
        assert!(is_user_token(&token), "{token}");
        assert_eq!(tokens.verify(&token, 60_999), Ok(claims()));
        assert_eq!(tokens.verify(&token, 61_000), Err(UserTokenError::Expired));
    }

    #[test]
    fn another_key_or_a_changed_claim_does_not_verify() {
        let tokens = UserTokens::new(b"0123456789abcdef0123");
        let token = tokens.mint(&claims());
        let other = UserTokens::new(b"0123456789abcdef0124");
        assert_eq!(other.verify(&token, 0), Err(UserTokenError::Signature));

        let (head, tag) = token.rsplit_once('.').unwrap();
        let mut forged = claims();
        forged.sub = "mallory@evil.example".into();
        let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&forged).unwrap());
        let swapped = format!("{PREFIX}.{payload}.{tag}");
        assert_eq!(tokens.verify(&swapped, 0), Err(UserTokenError::Signature));
        for broken in [
            "",
            "ut1",
            "ut1..",
            head,
            &format!("{token}.x"),
            &format!("ut2{}", &token[3..]),
            &format!("{head}.!!"),
        ] {
            assert!(tokens.verify(broken, 0).is_err(), "{broken}");
        }
    }
}
