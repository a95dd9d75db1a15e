//! axum's extractors with their rejections as problems: an endpoint takes
//! `Json<T>`, `Query<T>` and `Path<T>` from here, never axum's own (whose
//! rejections are plain text), so every error of the door is
//! `application/problem+json`.

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::error::{Problem, from_rejection};

/// A JSON body in (400 when it is not JSON, 415 without
/// `Content-Type: application/json`, 422 when it has the wrong shape, 413
/// past `http.max_body_bytes`), or a JSON body out.
#[derive(Debug, Clone, Copy, Default)]
pub struct Json<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Json<T> {
    type Rejection = Problem;

    async fn from_request(request: Request, state: &S) -> Result<Self, Problem> {
        match axum::Json::<T>::from_request(request, state).await {
            Ok(axum::Json(value)) => Ok(Json(value)),
            Err(rejection) => Err(from_rejection(rejection.status(), rejection.body_text())),
        }
    }
}

impl<T: Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

/// The query string, deserialised (400 when it does not fit).
#[derive(Debug, Clone, Copy, Default)]
pub struct Query<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Query<T> {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Problem> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(value)) => Ok(Query(value)),
            Err(rejection) => Err(from_rejection(rejection.status(), rejection.body_text())),
        }
    }
}

/// Parameters of the path (`/conversations/{number}`), deserialised (400
/// when one does not parse).
#[derive(Debug, Clone, Copy, Default)]
pub struct Path<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for Path<T> {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Problem> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(value)) => Ok(Path(value)),
            Err(rejection) => Err(from_rejection(rejection.status(), rejection.body_text())),
        }
    }
}

/// A JSON body that may be left out: no body at all, or `null`, is
/// `T::default()`; a body is taken as [`Json`] takes it (so its
/// rejections are the same). For the POSTs whose fields all have
/// defaults.
#[derive(Debug, Clone, Copy, Default)]
pub struct OptionalJson<T>(pub T);

impl<T: DeserializeOwned + Default, S: Send + Sync> FromRequest<S> for OptionalJson<T> {
    type Rejection = Problem;

    async fn from_request(request: Request, state: &S) -> Result<Self, Problem> {
        use axum::body::HttpBody;
        // Content-Length: 0, or no body at all (no length, not chunked).
        if request.body().size_hint().exact() == Some(0) {
            return Ok(OptionalJson(T::default()));
        }
        let Json(value) = Json::<Option<T>>::from_request(request, state).await?;
        Ok(OptionalJson(value.unwrap_or_default()))
    }
}
