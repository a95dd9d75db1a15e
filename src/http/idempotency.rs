//! `Idempotency-Key` on the POSTs that write (draft-ietf-httpapi-
//! idempotency-key-header): a client that retries a request with the key
//! it sent the first time gets the first answer again, and nothing is
//! done twice.
//!
//! The key belongs to its owner: the caller (an API key's name, or a user
//! token's person) and the person it acts as, so two callers never see
//! each other's answers. The request is known by a hash of its method,
//! path, query and JSON body (keys sorted, so that the order of members
//! does not matter). With a key:
//!
//! - first time: the key is reserved, the request runs, its answer is
//!   kept for 24 hours (a 5xx is not kept: nothing was written, the key
//!   is freed for a retry);
//! - the same request again: the kept answer, same status and body, with
//!   `Idempotent-Replayed: true`;
//! - the same key with another request: 422;
//! - the same request while the first still runs: 409 (retry later).
//!
//! The request runs in a task of its own, so that a client that hangs up
//! does not leave its key reserved with the work half done: the work
//! finishes and its answer is kept for the retry. The store's side, and
//! why it cannot post twice, is [`crate::store::IdempotencyStore`].

use std::future::Future;

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::AppState;
use super::error::{PROBLEM_JSON, Problem};
use crate::store::{Reserved, now_ms};

/// The request header (case-insensitive, as every header).
pub const IDEMPOTENCY_KEY: &str = "idempotency-key";
/// The answer header of a replayed answer.
pub const REPLAYED: &str = "idempotent-replayed";
/// The longest key taken.
pub const MAX_KEY_CHARS: usize = 255;

/// The `Idempotency-Key` of `headers`: `None` without one; 400 when it is
/// empty, longer than [`MAX_KEY_CHARS`] or not visible ASCII.
pub fn key_of(headers: &HeaderMap) -> Result<Option<String>, Problem> {
    let Some(value) = headers.get(IDEMPOTENCY_KEY) else {
        return Ok(None);
    };
    let key = value.to_str().unwrap_or_default().trim();
    let visible = key.bytes().all(|b| b.is_ascii_graphic() || b == b' ');
    if key.is_empty() || key.len() > MAX_KEY_CHARS || !visible {
        return Err(Problem::bad_request(format!(
            "Idempotency-Key must be 1 to {MAX_KEY_CHARS} visible ASCII characters"
        )));
    }
    Ok(Some(key.to_string()))
}

/// The hash a request is known by: `method path?query` and its body,
/// members sorted.
pub fn request_hash(method: &str, path_and_query: &str, body: &Value) -> String {
    let mut hasher = Sha256::new();
    hasher.update(method.as_bytes());
    hasher.update(b" ");
    hasher.update(path_and_query.as_bytes());
    hasher.update(b"\n");
    hasher.update(canonical(body).as_bytes());
    hex(&hasher.finalize())
}

/// `value` as JSON text with every object's members sorted by name.
fn canonical(value: &Value) -> String {
    match value {
        Value::Object(map) => {
            let mut members: Vec<(&String, &Value)> = map.iter().collect();
            members.sort_by(|a, b| a.0.cmp(b.0));
            let inner: Vec<String> = members
                .into_iter()
                .map(|(k, v)| format!("{}:{}", Value::from(k.as_str()), canonical(v)))
                .collect();
            format!("{{{}}}", inner.join(","))
        }
        Value::Array(items) => {
            let inner: Vec<String> = items.iter().map(canonical).collect();
            format!("[{}]", inner.join(","))
        }
        other => other.to_string(),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Who a key belongs to: the caller's subject (`key:NAME`, `user:ADDRESS`)
/// and the person it acts as, if any.
pub fn owner(subject: &str, acting_for: Option<&str>) -> String {
    match acting_for {
        Some(person) => format!("{subject} as {person}"),
        None => subject.to_string(),
    }
}

/// Runs `work` once per `key` of `owner` (none: every time) and answers
/// what it answered, or what it answered the first time.
pub async fn once<F>(
    state: &AppState,
    key: Option<String>,
    owner: String,
    hash: String,
    work: F,
) -> Response
where
    F: Future<Output = Response> + Send + 'static,
{
    let Some(key) = key else {
        return work.await;
    };
    let store = state.intake.shared_store();
    match store.reserve(&owner, &key, &hash, now_ms()).await {
        Err(e) => return Problem::from(e).into_response(),
        Ok(Reserved::Mismatch) => {
            return Problem::invalid(
                "this Idempotency-Key was used with another request; use a new key",
            )
            .into_response();
        }
        Ok(Reserved::InFlight) => {
            return Problem::conflict(
                "a request with this Idempotency-Key is still in progress; retry later",
            )
            .into_response();
        }
        Ok(Reserved::Done { status, body }) => return replay(status, body),
        Ok(Reserved::Fresh) => {}
    }
    // Its own task: a client hanging up cancels this handler, not the
    // work, whose answer is then kept for the retry.
    let (held, held_owner, held_key) = (store.clone(), owner.clone(), key.clone());
    let done = tokio::spawn(async move {
        let response = work.await;
        let (parts, body) = response.into_parts();
        let bytes = axum::body::to_bytes(body, usize::MAX)
            .await
            .unwrap_or_default();
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let kept = if parts.status.is_server_error() {
            // Nothing was written (the store failed or was unavailable):
            // free the key so that a retry runs.
            store.release(&owner, &key).await
        } else {
            store
                .complete(&owner, &key, parts.status.as_u16(), &text)
                .await
        };
        if let Err(e) = kept {
            // The work is done and answered; the key stays in flight
            // (409) until it expires rather than run the work twice.
            tracing::warn!(error = %e, "HTTP: an idempotent answer was not kept");
        }
        Response::from_parts(parts, Body::from(bytes))
    });
    match done.await {
        Ok(response) => response,
        Err(e) => {
            // It panicked before its answer: nothing to replay.
            let _ = held.release(&held_owner, &held_key).await;
            Problem::internal(&format_args!("an idempotent request failed: {e}")).into_response()
        }
    }
}

/// A kept answer, again.
fn replay(status: u16, body: String) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
    let kind = match status.is_client_error() || status.is_server_error() {
        true => PROBLEM_JSON,
        false => "application/json",
    };
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
    headers.insert(REPLAYED, HeaderValue::from_static("true"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_order_of_members_does_not_matter() {
        let a: Value =
            serde_json::from_str(r#"{"b":1,"a":{"y":[1,{"q":2,"p":1}],"x":"s"}}"#).unwrap();
        let b: Value =
            serde_json::from_str(r#"{"a":{"x":"s","y":[1,{"p":1,"q":2}]},"b":1}"#).unwrap();
        assert_eq!(
            request_hash("POST", "/x", &a),
            request_hash("POST", "/x", &b)
        );
        assert_ne!(
            request_hash("POST", "/x", &a),
            request_hash("POST", "/y", &a)
        );
        let c: Value =
            serde_json::from_str(r#"{"b":2,"a":{"x":"s","y":[1,{"p":1,"q":2}]}}"#).unwrap();
        assert_ne!(
            request_hash("POST", "/x", &a),
            request_hash("POST", "/x", &c)
        );
    }

    #[test]
    fn keys_are_visible_ascii() {
        let mut headers = HeaderMap::new();
        assert_eq!(key_of(&headers).unwrap(), None);
        headers.insert(IDEMPOTENCY_KEY, HeaderValue::from_static("  k-1 "));
        assert_eq!(key_of(&headers).unwrap().as_deref(), Some("k-1"));
        headers.insert(IDEMPOTENCY_KEY, HeaderValue::from_static(""));
        assert!(key_of(&headers).is_err());
        let long = "k".repeat(MAX_KEY_CHARS + 1);
        headers.insert(IDEMPOTENCY_KEY, HeaderValue::from_str(&long).unwrap());
        assert!(key_of(&headers).is_err());
    }
}
