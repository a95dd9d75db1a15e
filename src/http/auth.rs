//! Who is calling: [`Caller`], taken from `Authorization: Bearer …`
//! (RFC 6750 §2.1) by every endpoint that is not public.
//!
//! A credential is an API key of `[[http.keys]]` (its SHA-256 compared in
//! constant time with every configured hash) or a user token
//! ([`super::token`]). Taking a `Caller` also charges the caller's rate
//! limit ([`super::limit`]), so an endpoint that takes one is authenticated
//! and limited, and one that does not is public.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderValue, header};
use subtle::ConstantTimeEq;

use super::AppState;
use super::error::Problem;
use super::limit::Rate;
use super::token::{self, Claims, UserTokenError, UserTokens};
use crate::config::{ConfigError, HttpConfig, KeyHash, Role, is_token68};

/// The caller of a request, as the endpoints match on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// The marketplace backend (an API key of role `platform`): acts for
    /// any user it names.
    Platform { key: String },
    /// A moderator's key: sees everything, moderates.
    Moderator { key: String },
    /// An admin's key.
    Admin { key: String },
    /// One participant, by a user token: sees and acts only as that
    /// participant.
    User {
        /// The participant's address (normalised).
        address: String,
        /// The marketplace's own id of the user, when the token names one.
        user_id: Option<String>,
        /// The user's display name, when the token names one.
        name: Option<String>,
        /// When the token expires, Unix ms.
        expires: i64,
    },
}

impl Caller {
    /// The role, as `GET /api/v1/me` and the logs name it.
    pub fn role(&self) -> &'static str {
        match self {
            Caller::Platform { .. } => Role::Platform.as_str(),
            Caller::Moderator { .. } => Role::Moderator.as_str(),
            Caller::Admin { .. } => Role::Admin.as_str(),
            Caller::User { .. } => "user",
        }
    }

    /// The name of the API key, or `None` for a user.
    pub fn key(&self) -> Option<&str> {
        match self {
            Caller::Platform { key } | Caller::Moderator { key } | Caller::Admin { key } => {
                Some(key)
            }
            Caller::User { .. } => None,
        }
    }

    /// Ok for the platform's key; 403 for every other caller.
    pub fn require_platform(&self) -> Result<&str, Problem> {
        match self {
            Caller::Platform { key } => Ok(key),
            other => Err(Problem::forbidden(format!(
                "this needs a platform key; the caller is {}",
                other.role()
            ))),
        }
    }

    /// What its rate limit is counted by: the key, or the participant
    /// (every token minted for one address shares one limit).
    pub(crate) fn subject(&self) -> String {
        match self {
            Caller::User { address, .. } => format!("user:{address}"),
            other => format!("key:{}", other.key().unwrap_or_default()),
        }
    }

    fn from_claims(claims: Claims) -> Caller {
        Caller::User {
            address: claims.sub,
            user_id: claims.uid,
            name: claims.name,
            expires: claims.exp,
        }
    }
}

/// One configured API key, its hash resolved.
#[derive(Debug, Clone)]
struct ApiKey {
    name: String,
    role: Role,
    hash: KeyHash,
    rate: Rate,
}

/// Recognises credentials: the configured API keys and user tokens.
#[derive(Debug, Clone)]
pub struct Authenticator {
    keys: Vec<ApiKey>,
    tokens: UserTokens,
    /// The limit of user tokens' participants.
    user_rate: Rate,
}

impl Authenticator {
    /// The keys of `http` (their `key_file`s read) and the token key.
    pub fn new(http: &HttpConfig, secret: &[u8]) -> Result<Authenticator, ConfigError> {
        let default = Rate::new(http.rate_limit_per_minute, http.rate_limit_burst);
        let keys = http
            .keys
            .iter()
            .enumerate()
            .map(|(i, k)| {
                Ok(ApiKey {
                    name: k.name.clone(),
                    role: k.role,
                    hash: k.key_hash(&format!("http.keys[{i}]"))?,
                    rate: Rate::new(
                        k.rate_limit_per_minute
                            .unwrap_or(http.rate_limit_per_minute),
                        k.rate_limit_burst.unwrap_or(http.rate_limit_burst),
                    ),
                })
            })
            .collect::<Result<_, ConfigError>>()?;
        Ok(Authenticator {
            keys,
            tokens: UserTokens::new(secret),
            user_rate: default,
        })
    }

    pub fn tokens(&self) -> &UserTokens {
        &self.tokens
    }

    /// The caller presenting `authorization` at `now_ms`, with its rate.
    pub fn authenticate(
        &self,
        authorization: Option<&HeaderValue>,
        now_ms: i64,
    ) -> Result<(Caller, Rate), Problem> {
        let Some(value) = authorization else {
            return Err(Problem::unauthorized(
                "send Authorization: Bearer with an API key or a user token",
                false,
            ));
        };
        let credential = bearer(value).ok_or_else(|| {
            Problem::unauthorized("the Authorization header is not Bearer CREDENTIAL", true)
        })?;
        if token::is_user_token(credential) {
            let claims = self
                .tokens
                .verify(credential, now_ms)
                .map_err(|e| Problem::unauthorized(user_token_detail(e), true))?;
            return Ok((Caller::from_claims(claims), self.user_rate));
        }
        let key = self
            .key(credential)
            .ok_or_else(|| Problem::unauthorized("unknown API key", true))?;
        let name = key.name.clone();
        let caller = match key.role {
            Role::Platform => Caller::Platform { key: name },
            Role::Moderator => Caller::Moderator { key: name },
            Role::Admin => Caller::Admin { key: name },
        };
        Ok((caller, key.rate))
    }

    /// The key whose hash is the hash of `credential`. Every configured
    /// hash is compared, each in constant time, so the answer's timing says
    /// nothing about how close a guess came.
    fn key(&self, credential: &str) -> Option<&ApiKey> {
        let presented = KeyHash::of(credential);
        let mut found = None;
        for key in &self.keys {
            if bool::from(key.hash.0.ct_eq(&presented.0)) {
                found = Some(key);
            }
        }
        found
    }
}

fn user_token_detail(e: UserTokenError) -> &'static str {
    match e {
        UserTokenError::Expired => "the user token has expired: mint a new one",
        UserTokenError::Layout | UserTokenError::Signature => "the user token does not verify",
    }
}

/// The credential of `Bearer CREDENTIAL`: the scheme in any case (RFC 9110
/// §11.1), then one or more spaces, then a token68 (RFC 9110 §11.2).
fn bearer(value: &HeaderValue) -> Option<&str> {
    let text = value.to_str().ok()?;
    let (scheme, rest) = text.split_once(' ')?;
    let credential = rest.trim_start_matches(' ');
    (scheme.eq_ignore_ascii_case("bearer")
        && !credential.is_empty()
        && credential.chars().all(is_token68))
    .then_some(credential)
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = Problem;

    /// Authenticates, then charges the caller's rate limit (429 when it
    /// is spent).
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Caller, Problem> {
        let (caller, rate) = state.auth.authenticate(
            parts.headers.get(header::AUTHORIZATION),
            crate::store::now_ms(),
        )?;
        state.limiter.charge(&caller.subject(), rate)?;
        Ok(caller)
    }
}

/// The caller of an event stream (`GET /api/v1/events`): a [`Caller`] as
/// everywhere, or a user token in `?access_token=` (RFC 6750 §2.3) for a
/// browser's `EventSource`, which cannot send an `Authorization` header.
/// Only a user token may come that way (it is short-lived and names one
/// participant); an API key in a URL is refused, as URLs end up in logs.
#[derive(Debug, Clone)]
pub struct StreamCaller(pub Caller);

impl FromRequestParts<AppState> for StreamCaller {
    type Rejection = Problem;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<StreamCaller, Problem> {
        let in_query = access_token(&parts.uri);
        let token = match in_query {
            Some(token) if !parts.headers.contains_key(header::AUTHORIZATION) => token,
            _ => {
                return Caller::from_request_parts(parts, state)
                    .await
                    .map(StreamCaller);
            }
        };
        if !token::is_user_token(&token) {
            return Err(Problem::unauthorized(
                "access_token takes a user token only: send an API key in the Authorization header",
                true,
            ));
        }
        let value = HeaderValue::from_str(&format!("Bearer {token}"))
            .map_err(|_| Problem::unauthorized("the user token does not verify", true))?;
        let (caller, rate) = state
            .auth
            .authenticate(Some(&value), crate::store::now_ms())?;
        state.limiter.charge(&caller.subject(), rate)?;
        Ok(StreamCaller(caller))
    }
}

/// The `access_token` of a request's query string, percent-decoded.
fn access_token(uri: &axum::http::Uri) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Given {
        access_token: Option<String>,
    }
    let given = axum::extract::Query::<Given>::try_from_uri(uri).ok()?;
    given.0.access_token
}

/// A fresh random API key (`pk_` and 43 base64url characters: 256 bits)
/// and its hash, for `parley http key`.
pub fn new_api_key() -> std::io::Result<(String, KeyHash)> {
    use base64::Engine;
    use std::io::Read;
    let mut random = [0u8; 32];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut random)?;
    let key = format!(
        "pk_{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random)
    );
    let hash = KeyHash::of(&key);
    Ok((key, hash))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_schemes() {
        let h = |s: &'static str| HeaderValue::from_static(s);
        assert_eq!(bearer(&h("Bearer abc")), Some("abc"));
        assert_eq!(bearer(&h("bearer   abc")), Some("abc"));
        assert_eq!(bearer(&h("BEARER a.b-c_d~e+f/g=")), Some("a.b-c_d~e+f/g="));
        for bad in ["Basic abc", "Bearer", "Bearer ", "Bearer a b", "Bearerabc"] {
            assert_eq!(bearer(&h(bad)), None, "{bad}");
        }
    }

    #[test]
    fn new_keys_are_random_and_hash_to_what_they_print() {
        let (a, hash) = new_api_key().unwrap();
        let (b, _) = new_api_key().unwrap();
        assert_ne!(a, b);
        assert!(a.starts_with("pk_") && a.len() == 46, "{a}");
        assert_eq!(KeyHash::parse(&hash.to_string()), Some(KeyHash::of(&a)));
    }
}
