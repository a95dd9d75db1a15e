//! The console's pages: minijinja templates compiled in
//! (`templates/console/`), autoescaped (every `.html` template: a client's
//! text never becomes markup), and the one stylesheet. No script runs
//! inline: the Content-Security-Policy ([`super::CSP`]) allows none.

use std::sync::OnceLock;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use minijinja::{Environment, UndefinedBehavior};
use serde::Serialize;

/// The templates, by name.
const TEMPLATES: [(&str, &str); 9] = [
    (
        "desk.html",
        include_str!("../../templates/console/desk.html"),
    ),
    (
        "clients.html",
        include_str!("../../templates/console/clients.html"),
    ),
    (
        "compose.html",
        include_str!("../../templates/console/compose.html"),
    ),
    (
        "moderation.html",
        include_str!("../../templates/console/moderation.html"),
    ),
    (
        "pool.html",
        include_str!("../../templates/console/pool.html"),
    ),
    (
        "base.html",
        include_str!("../../templates/console/base.html"),
    ),
    (
        "login.html",
        include_str!("../../templates/console/login.html"),
    ),
    (
        "tickets.html",
        include_str!("../../templates/console/tickets.html"),
    ),
    (
        "ticket.html",
        include_str!("../../templates/console/ticket.html"),
    ),
];

/// The stylesheet, served at `/console/static/console.css`.
pub const STYLESHEET: &str = include_str!("../../templates/console/console.css");

/// The script of live updates, served at `/console/static/console.js`.
pub const SCRIPT: &str = include_str!("../../templates/console/console.js");

/// The icon, served at `/console/static/favicon.svg`.
pub const ICON: &str = include_str!("../../templates/console/favicon.svg");

fn environment() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        // A typo in a template is a bug the tests find, not an empty cell.
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        for (name, source) in TEMPLATES {
            env.add_template(name, source)
                .unwrap_or_else(|e| panic!("console template {name}: {e}"));
        }
        env
    })
}

/// The page `name` rendered with `context`, answered with `status`; a
/// template that fails to render is a 500 with nothing of the error in it
/// (the log has it).
pub fn page(status: StatusCode, name: &str, context: impl Serialize) -> Response {
    let rendered = environment()
        .get_template(name)
        .and_then(|t| t.render(minijinja::value::Serde(&context)));
    match rendered {
        Ok(html) => {
            let mut response = (status, html).into_response();
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            );
            response
        }
        Err(e) => {
            tracing::error!(template = name, error = %e, "console: a page did not render");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "the page could not be shown",
            )
                .into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_compiles() {
        for (name, _) in TEMPLATES {
            assert!(environment().get_template(name).is_ok(), "{name}");
        }
    }

    #[tokio::test]
    async fn text_is_escaped() {
        let response = page(
            StatusCode::OK,
            "login.html",
            serde_json::json!({
                "title": "Log in",
                "csrf": "t",
                "login": "<script>alert(1)</script>",
                "error": "\"><img src=x onerror=alert(1)>",
                "user": null,
            }),
        );
        let body = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        let html = String::from_utf8(body.to_vec()).unwrap();
        assert!(!html.contains("<script>alert"), "{html}");
        assert!(!html.contains("<img src=x"), "{html}");
        assert!(html.contains("&lt;script&gt;"), "{html}");
    }
}
