//! The OpenAPI 3.1 document of the door, generated from the code: the
//! operations of [`super::api::routes`] (their `#[utoipa::path]`s), the
//! schemas they name, and the conventions every operation shares, added
//! here in one place (the bearer scheme; 401 and 429 on every
//! authenticated operation, 413 on every one with a body, a problem as
//! the default answer). Served at `/api/v1/openapi.json` and committed as
//! `docs/openapi.json` (tests/http_router.rs fails when they differ).

use std::sync::LazyLock;

use axum::http::header;
use axum::response::IntoResponse;
use utoipa::OpenApi;
use utoipa::openapi::path::{Operation, PathItem};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{
    ContentBuilder, Ref, RefOr, Response, ResponseBuilder, header::HeaderBuilder,
};
use utoipa_axum::router::OpenApiRouter;

use super::error::{PROBLEM_JSON, ProblemSchema};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "parley",
        description = "The HTTP API of parley, the email gateway and ticketing daemon for \
                       marketplaces. Authentication, roles, user tokens, errors and limits: \
                       docs/http.md."
    ),
    components(schemas(ProblemSchema)),
    tags(
        (name = "auth", description = "Who calls: API keys and user tokens"),
        (name = "meta", description = "The process and this document"),
        (name = "conversations", description = "Conversations (tickets): what callers do to them, and the pool"),
        (name = "moderation", description = "Held messages and the moderators' decisions"),
        (name = "events", description = "Live events: the event log as Server-Sent Events, resumable by id"),
    )
)]
struct ApiDoc;

/// The name of the security scheme every authenticated operation uses.
pub const BEARER: &str = "bearer";

/// The document, built once.
static DOCUMENT: LazyLock<String> = LazyLock::new(|| {
    let mut text = document()
        .to_pretty_json()
        .expect("the OpenAPI document serialises");
    text.push('\n');
    text
});

/// The document as `docs/openapi.json` holds it: pretty JSON, a newline
/// at the end.
pub fn json() -> &'static str {
    &DOCUMENT
}

/// The document: the operations of every route, with the shared
/// conventions.
pub fn document() -> utoipa::openapi::OpenApi {
    let (_, mut doc) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(super::api::routes())
        .split_for_parts();
    conventions(&mut doc);
    doc
}

/// The OpenAPI 3.1 document of this API.
#[utoipa::path(
    get,
    path = "/api/v1/openapi.json",
    tag = "meta",
    operation_id = "getOpenApi",
    responses((status = 200, description = "This document", content_type = "application/json"))
)]
pub async fn document_json() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], json())
}

/// What every operation shares, so that no endpoint repeats it.
fn conventions(doc: &mut utoipa::openapi::OpenApi) {
    let components = doc.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        BEARER,
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .description(Some(
                    "An API key of [[http.keys]], or a user token from POST /api/v1/tokens",
                ))
                .build(),
        ),
    );
    let shared = [
        ("Problem", problem("An error (RFC 9457)", None)),
        (
            "Unauthorized",
            problem(
                "No credentials, or ones that do not verify (unknown key, tampered or expired token)",
                Some(("WWW-Authenticate", "The Bearer challenge (RFC 6750 §3)")),
            ),
        ),
        (
            "RateLimited",
            problem(
                "The caller's rate limit is spent",
                Some(("Retry-After", "Seconds until a request is allowed again")),
            ),
        ),
        (
            "TooLarge",
            problem("The body is larger than http.max_body_bytes", None),
        ),
    ];
    for (name, response) in shared {
        components.responses.insert(name.into(), RefOr::T(response));
    }
    for item in doc.paths.paths.values_mut() {
        for operation in operations(item) {
            let authenticated = operation.security.as_ref().is_some_and(|s| !s.is_empty());
            let with_body = operation.request_body.is_some();
            let responses = &mut operation.responses.responses;
            let mut add = |status: &str, name: &str| {
                responses
                    .entry(status.into())
                    .or_insert_with(|| RefOr::Ref(Ref::from_response_name(name)));
            };
            if authenticated {
                add("401", "Unauthorized");
                add("429", "RateLimited");
            }
            if with_body {
                add("413", "TooLarge");
            }
            add("default", "Problem");
        }
    }
}

/// A problem response, with a header when it carries one.
fn problem(description: &str, header: Option<(&str, &str)>) -> Response {
    let content = ContentBuilder::new()
        .schema(Some(Ref::from_schema_name("Problem")))
        .build();
    let mut response = ResponseBuilder::new()
        .description(description)
        .content(PROBLEM_JSON, content);
    if let Some((name, description)) = header {
        response = response.header(
            name,
            HeaderBuilder::new().description(Some(description)).build(),
        );
    }
    response.build()
}

fn operations(item: &mut PathItem) -> impl Iterator<Item = &mut Operation> {
    [
        &mut item.get,
        &mut item.put,
        &mut item.post,
        &mut item.delete,
        &mut item.options,
        &mut item.head,
        &mut item.patch,
        &mut item.trace,
    ]
    .into_iter()
    .filter_map(Option::as_mut)
}
