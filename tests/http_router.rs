//! The HTTP door's router, called with `oneshot` (no socket): every branch
//! of authentication, roles, limits, CORS and errors, and the OpenAPI
//! document against the committed `docs/openapi.json`
//! (`PARLEY_GOLDEN_UPDATE=1` rewrites it).
//!
//! These touch no stored data, so they run on SQLite only; the endpoints
//! that read and write the store are tested on every backend.

mod common;

use axum::http::Method;
use axum::routing::get;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::http::{ADMIN, Answer, Call, KEYS, MODERATOR, PLATFORM, user_token};
use common::{Backend, MARIA, SECRET, TestEnv};
use hmac::{Hmac, Mac};
use parley::config::Config;
use parley::http::error::Problem;
use parley::http::token::{Claims, UserTokens};
use parley::http::{AppState, layered};
use parley::store::StoreError;
use serde_json::{Value, json};
use sha2::Sha256;

/// A door over a fresh SQLite store with the test keys and `tweak` applied.
async fn door(tweak: impl FnOnce(&mut Config)) -> (axum::Router, TestEnv) {
    common::http::door_on(&Backend::Sqlite, tweak).await
}

async fn me(router: &axum::Router, credential: &str) -> Answer {
    Call::get("/api/v1/me")
        .bearer(credential)
        .send(router)
        .await
}

#[tokio::test]
async fn every_key_is_its_role() {
    let (router, _env) = door(|_| {}).await;
    for (name, role, key) in KEYS {
        let answer = me(&router, key).await;
        assert_eq!(answer.status, 200, "{name}");
        assert_eq!(
            answer.json(),
            json!({ "role": role.as_str(), "key": name }),
            "{name}"
        );
    }
}

#[tokio::test]
async fn missing_or_unknown_credentials_are_401() {
    let (router, _env) = door(|_| {}).await;

    let answer = Call::get("/api/v1/me").send(&router).await;
    let body = answer.problem(401, "unauthorized");
    assert!(
        body["detail"].as_str().unwrap().contains("Bearer"),
        "{body}"
    );
    assert_eq!(
        answer.header("www-authenticate"),
        Some("Bearer realm=\"parley\"")
    );

    let mut near = PLATFORM.2.to_string();
    near.push('x');
    for (header, detail) in [
        (format!("Bearer {near}"), "unknown API key"),
        ("Bearer pk_nonsense".to_string(), "unknown API key"),
        (format!("Basic {}", PLATFORM.2), "not Bearer"),
        ("Bearer".to_string(), "not Bearer"),
        (format!("Bearer {} extra", PLATFORM.2), "not Bearer"),
    ] {
        let answer = Call::get("/api/v1/me")
            .header("authorization", &header)
            .send(&router)
            .await;
        let body = answer.problem(401, "unauthorized");
        assert!(
            body["detail"].as_str().unwrap().contains(detail),
            "{header}: {body}"
        );
        assert_eq!(
            answer.header("www-authenticate"),
            Some("Bearer realm=\"parley\", error=\"invalid_token\""),
            "{header}"
        );
    }
}

#[tokio::test]
async fn only_the_platform_mints_user_tokens() {
    let (router, _env) = door(|_| {}).await;
    let user = user_token(&router, MARIA).await;
    for credential in [MODERATOR.2, ADMIN.2, user.as_str()] {
        let answer = Call::post("/api/v1/tokens")
            .bearer(credential)
            .json(&json!({ "address": "bob@buyer.example" }))
            .send(&router)
            .await;
        let body = answer.problem(403, "forbidden");
        assert!(
            body["detail"].as_str().unwrap().contains("platform key"),
            "{body}"
        );
    }
}

#[tokio::test]
async fn a_user_token_is_its_participant() {
    let (router, env) = door(|_| {}).await;
    let before = parley::store::now_ms();
    let answer = Call::post("/api/v1/tokens")
        .bearer(PLATFORM.2)
        .json(&json!({
            "address": "Maria@Buyer.Example",
            "user_id": "u-1842",
            "display_name": "Maria K.",
            "expires_in": 900,
        }))
        .send(&router)
        .await;
    assert_eq!(answer.status, 201, "{:?}", answer.json());
    let minted = answer.json();
    assert_eq!(minted["address"], MARIA);
    assert_eq!(minted["user_id"], "u-1842");
    assert_eq!(minted["display_name"], "Maria K.");
    let expires = minted["expires_at"].as_i64().unwrap();
    assert!((before + 900_000..=parley::store::now_ms() + 900_000).contains(&expires));

    let answer = me(&router, minted["token"].as_str().unwrap()).await;
    assert_eq!(answer.status, 200);
    assert_eq!(
        answer.json(),
        json!({
            "role": "user",
            "address": MARIA,
            "user_id": "u-1842",
            "display_name": "Maria K.",
            "expires_at": expires,
        })
    );

    // Without expires_in: the configured life.
    let answer = Call::post("/api/v1/tokens")
        .bearer(PLATFORM.2)
        .json(&json!({ "address": MARIA }))
        .send(&router)
        .await;
    let life = answer.json()["expires_at"].as_i64().unwrap() - parley::store::now_ms();
    let configured = env.config.http.user_token_secs as i64 * 1000;
    assert!((configured - 5_000..=configured).contains(&life), "{life}");
}

#[tokio::test]
async fn token_requests_that_are_not_valid() {
    let (router, env) = door(|_| {}).await;
    let max = env.config.http.user_token_secs;
    let mint = |body: Call| body.bearer(PLATFORM.2).send(&router);

    let cases = [
        (json!({ "address": "not an address" }), "address"),
        (
            json!({ "address": MARIA, "expires_in": max + 1 }),
            "expires_in",
        ),
        (json!({ "address": MARIA, "expires_in": 0 }), "expires_in"),
        (json!({ "address": MARIA, "user_id": "" }), "user_id"),
        (
            json!({ "address": MARIA, "display_name": "a\nb" }),
            "display_name",
        ),
        (
            json!({ "address": MARIA, "display_name": "x".repeat(201) }),
            "display_name",
        ),
        (json!({ "adress": MARIA }), "adress"),
        (json!({ "address": 42 }), "address"),
    ];
    for (body, named) in cases {
        let answer = mint(Call::post("/api/v1/tokens").json(&body)).await;
        let problem = answer.problem(422, "invalid");
        assert!(
            problem["detail"].as_str().unwrap().contains(named),
            "{body}: {problem}"
        );
    }
    let answer = mint(
        Call::post("/api/v1/tokens")
            .header("content-type", "application/json")
            .body("{\"address\":"),
    )
    .await;
    answer.problem(400, "bad-request");
    let answer =
        mint(Call::post("/api/v1/tokens").body(format!("{{\"address\":\"{MARIA}\"}}"))).await;
    answer.problem(415, "unsupported-media-type");
}

/// A token of the right shape whose MAC was made with `label`.
fn token_with_label(claims: &Claims, label: &[u8]) -> String {
    let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).unwrap());
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(label);
    mac.update(payload.as_bytes());
    let tag = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
    format!("ut1.{payload}.{tag}")
}

fn claims(expires_in_ms: i64) -> Claims {
    let now = parley::store::now_ms();
    Claims {
        sub: MARIA.into(),
        uid: None,
        name: None,
        iat: now - 3_600_000,
        exp: now + expires_in_ms,
    }
}

#[tokio::test]
async fn expired_tampered_and_foreign_tokens_are_401() {
    let (router, env) = door(|_| {}).await;
    let tokens = UserTokens::new(SECRET.as_bytes());
    // The same construction as the door's: this one is accepted.
    let good = token_with_label(&claims(60_000), b"parley/user/v1");
    assert_eq!(me(&router, &good).await.status, 200);
    assert_eq!(good, tokens.mint(&claims_like(&good)));

    let expired = tokens.mint(&claims(-1));
    let body = me(&router, &expired).await.problem(401, "unauthorized");
    assert!(
        body["detail"].as_str().unwrap().contains("expired"),
        "{body}"
    );

    // Another participant's claims under this token's MAC.
    let (_, tag) = good.rsplit_once('.').unwrap();
    let mut other = claims(60_000);
    other.sub = "mallory@evil.example".into();
    let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&other).unwrap());
    let swapped = format!("ut1.{payload}.{tag}");
    // One character of the MAC changed.
    let mut flipped = good.clone();
    let last = flipped.pop().unwrap();
    flipped.push(if last == 'A' { 'B' } else { 'A' });
    // Signed for another purpose: the reply tokens' label, and a reply
    // token itself.
    let reply_label = token_with_label(&claims(60_000), b"parley/reply/v1");
    let reply_token = env.signer().reply_token(1, 1);
    // Signed with another key.
    let other_key = UserTokens::new(b"another-secret-0123456789").mint(&claims(60_000));
    for (what, token) in [
        ("swapped claims", swapped),
        ("flipped MAC", flipped),
        ("reply label", reply_label),
        ("reply token", reply_token),
        ("other key", other_key),
        ("no MAC", good.rsplit_once('.').unwrap().0.to_string()),
    ] {
        let answer = me(&router, &token).await;
        let body = answer.problem(401, "unauthorized");
        assert!(
            answer
                .header("www-authenticate")
                .unwrap()
                .contains("invalid_token"),
            "{what}"
        );
        assert!(
            !body.to_string().contains(MARIA),
            "{what}: the problem names the token's subject: {body}"
        );
    }
}

/// The claims a token carries (read without verifying: for the check that
/// the test builds tokens as the door does).
fn claims_like(token: &str) -> Claims {
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

#[tokio::test]
async fn bodies_past_the_limit_are_413() {
    let (router, env) = door(|c| c.http.max_body_bytes = 2048).await;
    let large = json!({ "address": MARIA, "display_name": "x".repeat(4096) });
    // Announced by Content-Length: refused before it is read (and before
    // the credentials are looked at).
    let answer = Call::post("/api/v1/tokens")
        .json(&large)
        .header(
            "content-length",
            &serde_json::to_vec(&large).unwrap().len().to_string(),
        )
        .send(&router)
        .await;
    let body = answer.problem(413, "too-large");
    assert!(body["detail"].as_str().unwrap().contains("2048"), "{body}");
    // Without a length (as a chunked body comes): refused as it is read.
    let answer = Call::post("/api/v1/tokens")
        .bearer(PLATFORM.2)
        .json(&large)
        .send(&router)
        .await;
    answer.problem(413, "too-large");
    // At the limit it is taken.
    let fits = json!({ "address": MARIA, "display_name": "x".repeat(150) });
    let answer = Call::post("/api/v1/tokens")
        .bearer(PLATFORM.2)
        .json(&fits)
        .send(&router)
        .await;
    assert_eq!(answer.status, 201);
    drop(env);
}

#[tokio::test]
async fn a_spent_rate_is_429_per_key_and_per_participant() {
    let (router, _env) = door(|c| {
        c.http.rate_limit_per_minute = 1;
        c.http.rate_limit_burst = 3;
        c.http.keys[1].rate_limit_burst = Some(1);
    })
    .await;
    // The platform key: three at once, then no more.
    for _ in 0..3 {
        assert_eq!(me(&router, PLATFORM.2).await.status, 200);
    }
    let answer = me(&router, PLATFORM.2).await;
    answer.problem(429, "rate-limited");
    let wait: u64 = answer.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=60).contains(&wait), "{wait}");
    // Its own burst for the moderator key.
    assert_eq!(me(&router, MODERATOR.2).await.status, 200);
    me(&router, MODERATOR.2).await.problem(429, "rate-limited");
    // The admin key is not touched by the others.
    assert_eq!(me(&router, ADMIN.2).await.status, 200);

    // Tokens for one participant share a bucket; another has its own.
    let tokens = UserTokens::new(SECRET.as_bytes());
    let maria = [tokens.mint(&claims(60_000)), tokens.mint(&claims(120_000))];
    for token in [&maria[0], &maria[1], &maria[0]] {
        assert_eq!(me(&router, token).await.status, 200);
    }
    me(&router, &maria[1]).await.problem(429, "rate-limited");
    let mut bob = claims(60_000);
    bob.sub = "bob@buyer.example".into();
    assert_eq!(me(&router, &tokens.mint(&bob)).await.status, 200);
}

#[tokio::test]
async fn cors_answers_the_configured_origins_only() {
    let origin = "https://shop.example";
    let (router, _env) = door(|c| c.http.cors_origins = vec![origin.into()]).await;
    let preflight = |from: &str| {
        Call::new(Method::OPTIONS, "/api/v1/tokens")
            .header("origin", from)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "authorization,content-type,idempotency-key,last-event-id",
            )
    };
    let answer = preflight(origin).send(&router).await;
    assert!(answer.status.is_success(), "{answer:?}");
    assert_eq!(answer.header("access-control-allow-origin"), Some(origin));
    let allowed = answer
        .header("access-control-allow-headers")
        .unwrap()
        .to_lowercase();
    for header in [
        "authorization",
        "content-type",
        "idempotency-key",
        "last-event-id",
    ] {
        assert!(allowed.contains(header), "{allowed}");
    }
    assert!(
        answer
            .header("access-control-allow-methods")
            .unwrap()
            .contains("POST")
    );

    let answer = preflight("https://evil.example").send(&router).await;
    assert_eq!(
        answer.header("access-control-allow-origin"),
        None,
        "{answer:?}"
    );

    // A real request from the page: its errors are readable there too.
    let answer = Call::get("/api/v1/me")
        .header("origin", origin)
        .send(&router)
        .await;
    answer.problem(401, "unauthorized");
    assert_eq!(answer.header("access-control-allow-origin"), Some(origin));
    let exposed = answer
        .header("access-control-expose-headers")
        .unwrap()
        .to_lowercase();
    assert!(exposed.contains("retry-after"), "{exposed}");

    // No origins configured: no CORS at all, a preflight is just OPTIONS.
    let (router, _env) = door(|_| {}).await;
    let answer = preflight(origin).send(&router).await;
    answer.problem(405, "method-not-allowed");
    assert_eq!(answer.header("access-control-allow-origin"), None);
}

#[tokio::test]
async fn unknown_paths_and_methods_are_problems() {
    let (router, _env) = door(|_| {}).await;
    Call::get("/api/v1/nothing-here")
        .bearer(PLATFORM.2)
        .send(&router)
        .await
        .problem(404, "not-found");
    let answer = Call::new(Method::DELETE, "/api/v1/me")
        .bearer(PLATFORM.2)
        .send(&router)
        .await;
    answer.problem(405, "method-not-allowed");
    assert_eq!(answer.header("allow"), Some("GET,HEAD"));
}

async fn panics() -> &'static str {
    panic!("password=hunter2 at /var/lib/parley/parley.db")
}

#[tokio::test]
async fn server_errors_never_leak() {
    let (_, env) = door(|_| {}).await;
    let state = AppState::new(&env.config, SECRET.as_bytes(), env.intake.clone()).unwrap();
    let secret = "password=hunter2 at /var/lib/parley/parley.db";
    let routes = axum::Router::new()
        .route("/panic", get(panics))
        .route(
            "/internal",
            get(|| async {
                Err::<(), _>(Problem::from(StoreError::Corrupt(
                    "password=hunter2 at /var/lib/parley/parley.db".into(),
                )))
            }),
        )
        .route(
            "/unavailable",
            get(|| async {
                Err::<(), _>(Problem::from(StoreError::Unavailable(
                    sqlx::Error::PoolTimedOut,
                )))
            }),
        );
    let router = layered(routes, state);
    for path in ["/panic", "/internal"] {
        let answer = Call::get(path).send(&router).await;
        let body = answer.problem(500, "internal");
        assert_eq!(body["title"], "Something went wrong");
        assert_eq!(body.get("detail"), None, "{body}");
        let text = String::from_utf8_lossy(&answer.body);
        assert!(
            !text.contains("hunter2") && !text.contains(secret),
            "{text}"
        );
    }
    let answer = Call::get("/unavailable").send(&router).await;
    let body = answer.problem(503, "unavailable");
    assert_eq!(body.get("detail"), None, "{body}");
    assert_eq!(answer.header("retry-after"), Some("5"));
    assert!(!String::from_utf8_lossy(&answer.body).contains("pool"));
}

#[tokio::test]
async fn health_and_the_document_need_no_credentials() {
    let (router, _env) = door(|_| {}).await;
    let answer = Call::get("/healthz").send(&router).await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.json(), json!({ "status": "ok" }));

    let answer = Call::get("/api/v1/openapi.json").send(&router).await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.header("content-type"), Some("application/json"));
    assert_eq!(
        String::from_utf8(answer.body.clone()).unwrap(),
        parley::http::openapi::json(),
        "the served document is the generated one"
    );
}

/// The committed document is what the code generates
/// (`PARLEY_GOLDEN_UPDATE=1` rewrites it), and it says what the door
/// does: OpenAPI 3.1, every /api/v1 operation but the document behind the
/// bearer scheme with its 401 and 429, every error a problem.
#[test]
fn the_committed_document_is_the_generated_one() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/openapi.json");
    let generated = parley::http::openapi::json();
    if std::env::var("PARLEY_GOLDEN_UPDATE").is_ok_and(|v| v == "1") {
        std::fs::write(&path, generated).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "docs/openapi.json differs from the document the code generates: \
         PARLEY_GOLDEN_UPDATE=1 cargo test --test http_router rewrites it"
    );

    let doc: Value = serde_json::from_str(generated).unwrap();
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3.1."),
        "{}",
        doc["openapi"]
    );
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    let paths = doc["paths"].as_object().unwrap();
    for path in [
        "/healthz",
        "/api/v1/openapi.json",
        "/api/v1/me",
        "/api/v1/tokens",
    ] {
        assert!(paths.contains_key(path), "{path} is not in the document");
    }
    for (path, item) in paths {
        for (method, operation) in item.as_object().unwrap() {
            let responses = operation["responses"].as_object().unwrap();
            assert!(responses.contains_key("default"), "{method} {path}");
            let public = ["/healthz", "/readyz", "/metrics", "/api/v1/openapi.json"]
                .contains(&path.as_str());
            if !public {
                assert_eq!(
                    operation["security"],
                    json!([{ "bearer": [] }]),
                    "{method} {path}"
                );
                assert!(
                    responses.contains_key("401") && responses.contains_key("429"),
                    "{method} {path}"
                );
            }
            for (status, response) in responses {
                if status.starts_with('4') || status.starts_with('5') || status == "default" {
                    let text = response.to_string();
                    assert!(
                        text.contains("#/components/responses/")
                            || text.contains("application/problem+json"),
                        "{method} {path} {status}: {text}"
                    );
                }
            }
        }
    }
}
