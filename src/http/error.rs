//! The one error of the HTTP door, rendered as `application/problem+json`
//! (RFC 9457), and the one place where failures of the layers below
//! ([`StoreError`], [`Failure`]) become HTTP statuses.
//!
//! A problem says what the caller can act on and nothing else: a 5xx reads
//! "Something went wrong" (or that the store is unavailable) with no
//! detail, and what went wrong goes to the log.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value};

use crate::error::Failure;
use crate::store::StoreError;

/// The media type of a problem (RFC 9457 §3).
pub const PROBLEM_JSON: &str = "application/problem+json";

/// Seconds a client should wait before retrying when the store is
/// unavailable (a pool timeout or a lost connection passes quickly).
const UNAVAILABLE_RETRY_SECS: u64 = 5;

/// What kind of problem: its status, its `type` and its `title`. Clients
/// switch on `type` (docs/http.md lists them); `title` is for people.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The request is malformed (a body that is not JSON, a bad parameter).
    BadRequest,
    /// No credentials, or credentials that do not verify (unknown key,
    /// tampered or expired token).
    Unauthorized,
    /// The caller is known but its role may not do this.
    Forbidden,
    NotFound,
    MethodNotAllowed,
    /// The request does not fit the state of what it names.
    Conflict,
    /// The body is larger than `http.max_body_bytes`.
    TooLarge,
    /// The body is not `application/json`.
    UnsupportedMediaType,
    /// The body is JSON of the wrong shape, or values that are not valid.
    Invalid,
    /// The caller's rate limit is spent; `Retry-After` says when to return.
    RateLimited,
    /// A bug or a failure the caller cannot act on.
    Internal,
    /// The store is unavailable for a moment; `Retry-After` says when to
    /// return.
    Unavailable,
}

impl Kind {
    pub fn status(self) -> StatusCode {
        match self {
            Kind::BadRequest => StatusCode::BAD_REQUEST,
            Kind::Unauthorized => StatusCode::UNAUTHORIZED,
            Kind::Forbidden => StatusCode::FORBIDDEN,
            Kind::NotFound => StatusCode::NOT_FOUND,
            Kind::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Kind::Conflict => StatusCode::CONFLICT,
            Kind::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Kind::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Kind::Invalid => StatusCode::UNPROCESSABLE_ENTITY,
            Kind::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            Kind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            Kind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// The last part of the `type` URI.
    pub fn slug(self) -> &'static str {
        match self {
            Kind::BadRequest => "bad-request",
            Kind::Unauthorized => "unauthorized",
            Kind::Forbidden => "forbidden",
            Kind::NotFound => "not-found",
            Kind::MethodNotAllowed => "method-not-allowed",
            Kind::Conflict => "conflict",
            Kind::TooLarge => "too-large",
            Kind::UnsupportedMediaType => "unsupported-media-type",
            Kind::Invalid => "invalid",
            Kind::RateLimited => "rate-limited",
            Kind::Internal => "internal",
            Kind::Unavailable => "unavailable",
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            Kind::BadRequest => "The request is malformed",
            Kind::Unauthorized => "Authentication is needed",
            Kind::Forbidden => "Not allowed for this caller",
            Kind::NotFound => "Not found",
            Kind::MethodNotAllowed => "Method not allowed",
            Kind::Conflict => "Conflicts with the current state",
            Kind::TooLarge => "The request body is too large",
            Kind::UnsupportedMediaType => "The body must be application/json",
            Kind::Invalid => "The request is not valid",
            Kind::RateLimited => "Too many requests",
            Kind::Internal => "Something went wrong",
            Kind::Unavailable => "Temporarily unavailable",
        }
    }

    /// The `type` member: a URI that names the kind. It is an identifier,
    /// not a page to fetch (RFC 9457 §3.1.1 permits that).
    pub fn type_uri(self) -> String {
        format!("urn:parley:problem:{}", self.slug())
    }

    /// The kind an HTTP status stands for (for rejections of axum's own
    /// extractors, which carry only a status and a message).
    fn for_status(status: StatusCode) -> Kind {
        match status {
            StatusCode::UNAUTHORIZED => Kind::Unauthorized,
            StatusCode::FORBIDDEN => Kind::Forbidden,
            StatusCode::NOT_FOUND => Kind::NotFound,
            StatusCode::METHOD_NOT_ALLOWED => Kind::MethodNotAllowed,
            StatusCode::CONFLICT => Kind::Conflict,
            StatusCode::PAYLOAD_TOO_LARGE => Kind::TooLarge,
            StatusCode::UNSUPPORTED_MEDIA_TYPE => Kind::UnsupportedMediaType,
            StatusCode::UNPROCESSABLE_ENTITY => Kind::Invalid,
            StatusCode::TOO_MANY_REQUESTS => Kind::RateLimited,
            StatusCode::SERVICE_UNAVAILABLE => Kind::Unavailable,
            s if s.is_client_error() => Kind::BadRequest,
            _ => Kind::Internal,
        }
    }
}

/// An error answer: what a handler, an extractor or a layer returns when
/// the request does not succeed.
#[derive(Debug, Clone)]
pub struct Problem {
    kind: Kind,
    /// For the caller, about this occurrence. Never set for 5xx.
    detail: Option<String>,
    /// Extension members (RFC 9457 §3.2), as `hits` for a policy reject.
    extensions: Map<String, Value>,
    /// `Retry-After` in seconds (429, 503).
    retry_after: Option<u64>,
    /// `WWW-Authenticate` (401).
    challenge: Option<String>,
}

impl Problem {
    pub fn new(kind: Kind, detail: impl Into<String>) -> Problem {
        let detail = detail.into();
        Problem {
            kind,
            detail: (!detail.is_empty()).then_some(detail),
            extensions: Map::new(),
            retry_after: None,
            challenge: None,
        }
    }

    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// What the caller is told of this occurrence, if anything (never for
    /// 5xx): the console shows it on its error page.
    pub fn detail(&self) -> Option<&str> {
        self.detail.as_deref()
    }

    pub fn bad_request(detail: impl Into<String>) -> Problem {
        Problem::new(Kind::BadRequest, detail)
    }

    pub fn invalid(detail: impl Into<String>) -> Problem {
        Problem::new(Kind::Invalid, detail)
    }

    pub fn not_found(detail: impl Into<String>) -> Problem {
        Problem::new(Kind::NotFound, detail)
    }

    pub fn conflict(detail: impl Into<String>) -> Problem {
        Problem::new(Kind::Conflict, detail)
    }

    pub fn forbidden(detail: impl Into<String>) -> Problem {
        Problem::new(Kind::Forbidden, detail)
    }

    /// 401 with the Bearer challenge of RFC 6750 §3: without `error` when
    /// no credentials came, `invalid_token` when they did not verify.
    pub fn unauthorized(detail: impl Into<String>, presented: bool) -> Problem {
        let challenge = if presented {
            "Bearer realm=\"parley\", error=\"invalid_token\""
        } else {
            "Bearer realm=\"parley\""
        };
        Problem {
            challenge: Some(challenge.into()),
            ..Problem::new(Kind::Unauthorized, detail)
        }
    }

    pub fn too_large(limit: usize) -> Problem {
        Problem::new(
            Kind::TooLarge,
            format!("the body may have at most {limit} bytes"),
        )
    }

    pub fn rate_limited(retry_after_secs: u64) -> Problem {
        Problem {
            retry_after: Some(retry_after_secs.max(1)),
            ..Problem::new(
                Kind::RateLimited,
                "this caller's rate limit is spent; retry after the Retry-After seconds",
            )
        }
    }

    /// 503: the store is unavailable; the cause goes to the log.
    pub fn unavailable(cause: &dyn std::fmt::Display) -> Problem {
        tracing::warn!(error = %cause, "HTTP: unavailable");
        Problem {
            retry_after: Some(UNAVAILABLE_RETRY_SECS),
            ..Problem::new(Kind::Unavailable, "")
        }
    }

    /// 500: the cause goes to the log, the caller reads "Something went
    /// wrong" and nothing else.
    pub fn internal(cause: &dyn std::fmt::Display) -> Problem {
        tracing::error!(error = %cause, "HTTP: internal error");
        Problem::new(Kind::Internal, "")
    }

    /// Adds an extension member (`hits`, `moderation`, …).
    pub fn with(mut self, name: &str, value: impl serde::Serialize) -> Problem {
        let value = serde_json::to_value(value).unwrap_or(Value::Null);
        self.extensions.insert(name.to_string(), value);
        self
    }

    /// The JSON object of the body.
    fn body(&self) -> Map<String, Value> {
        let mut body = Map::new();
        body.insert("type".into(), self.kind.type_uri().into());
        body.insert("title".into(), self.kind.title().into());
        body.insert("status".into(), self.kind.status().as_u16().into());
        // A 5xx never says more than its title (detail goes to the log).
        if let Some(detail) = self.detail.as_ref().filter(|_| !self.is_server_error()) {
            body.insert("detail".into(), detail.clone().into());
        }
        for (name, value) in &self.extensions {
            body.entry(name.clone()).or_insert_with(|| value.clone());
        }
        body
    }

    fn is_server_error(&self) -> bool {
        self.kind.status().is_server_error()
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let body = serde_json::to_vec(&self.body()).unwrap_or_default();
        let mut response = (self.kind.status(), body).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        if let Some(secs) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if let Some(challenge) = self.challenge.and_then(|c| HeaderValue::from_str(&c).ok()) {
            headers.insert(header::WWW_AUTHENTICATE, challenge);
        }
        response
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.kind.status().as_u16(), self.kind.title())?;
        match &self.detail {
            Some(detail) => write!(f, ": {detail}"),
            None => Ok(()),
        }
    }
}

/// The store's failures as the caller sees them: temporary → 503 with
/// Retry-After, not found → 404, conflict → 409, the rest → 500.
impl From<StoreError> for Problem {
    fn from(e: StoreError) -> Problem {
        match e {
            e if e.is_temporary() => Problem::unavailable(&e),
            StoreError::NotFound(what) => Problem::not_found(what),
            StoreError::Conflict(what) => Problem::conflict(what),
            e => Problem::internal(&e),
        }
    }
}

/// The failures of the functions the CLI shares with this door.
impl From<Failure> for Problem {
    fn from(e: Failure) -> Problem {
        match e {
            Failure::Store(e) => e.into(),
            Failure::Usage(what) => Problem::bad_request(what),
            Failure::NotFound(what) => Problem::not_found(what),
            Failure::Rejected(what) => Problem::invalid(what),
            Failure::NoMatch => Problem::invalid(Failure::NoMatch.to_string()),
            e @ (Failure::Config(_) | Failure::NotSetUp(_) | Failure::Io(_)) => {
                Problem::internal(&e)
            }
        }
    }
}

/// A rejection of one of axum's extractors (a body that is not JSON, a
/// query that does not parse): its status and its message, as a problem.
pub(crate) fn from_rejection(status: StatusCode, text: String) -> Problem {
    match Kind::for_status(status) {
        Kind::Internal => Problem::internal(&text),
        kind => Problem::new(kind, text),
    }
}

// The OpenAPI schema of the body a [`Problem`] renders; its doc comment
// is the schema's description.
/// An error (RFC 9457): `type` names its kind, `title` says it for
/// people, `detail` says what happened this time (never on a 5xx). Some
/// kinds add members (`hits` on a policy rejection).
#[derive(utoipa::ToSchema)]
#[schema(as = Problem)]
#[allow(dead_code)]
pub(crate) struct ProblemSchema {
    /// Names the kind of problem: `urn:parley:problem:SLUG` (docs/http.md
    /// lists them).
    #[schema(rename = "type", example = "urn:parley:problem:unauthorized")]
    kind: String,
    /// The kind, for people.
    #[schema(example = "Authentication is needed")]
    title: String,
    /// The HTTP status.
    #[schema(example = 401)]
    status: u16,
    /// This occurrence, for people. Never on a 5xx.
    detail: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(problem: Problem) -> (StatusCode, Value) {
        let status = problem.kind.status();
        (status, Value::Object(problem.body()))
    }

    #[test]
    fn a_server_error_says_nothing_more() {
        let (status, body) = body(Problem::internal(&"disk on fire at /var/lib/x"));
        assert_eq!(status, 500);
        assert_eq!(body["title"], "Something went wrong");
        assert_eq!(body.get("detail"), None);
        assert!(!body.to_string().contains("disk"));
        let (_, body) = body_of_detail();
        assert_eq!(body.get("detail"), None);
    }

    fn body_of_detail() -> (StatusCode, Value) {
        body(Problem::new(Kind::Internal, "secret path /etc/x"))
    }

    #[test]
    fn store_errors_map_in_one_place() {
        let e = StoreError::Unavailable(sqlx::Error::PoolTimedOut);
        let p = Problem::from(e);
        assert_eq!(p.kind(), Kind::Unavailable);
        assert_eq!(p.retry_after, Some(UNAVAILABLE_RETRY_SECS));
        assert_eq!(
            Problem::from(StoreError::NotFound("no ticket #9".into())).kind(),
            Kind::NotFound
        );
        assert_eq!(
            Problem::from(StoreError::Conflict("not held".into())).kind(),
            Kind::Conflict
        );
        assert_eq!(
            Problem::from(StoreError::Corrupt("bad row".into())).kind(),
            Kind::Internal
        );
    }

    #[test]
    fn extensions_do_not_replace_the_members() {
        let (_, body) = body(
            Problem::invalid("held")
                .with("hits", ["phone"])
                .with("status", 1),
        );
        assert_eq!(body["hits"][0], "phone");
        assert_eq!(body["status"], 422);
    }
}
