//! The HTTP door of `parley serve` as a real process, over real sockets:
//! a platform key mints a user token, the token is the participant, the
//! OpenAPI document is served; the listener is bound before "started" is
//! logged; SIGTERM lets a request in flight finish and exits 0 without
//! waiting for idle connections; `[http] listen = []` serves no HTTP.
//!
//! Every server is killed by its PID when its test ends ([`Served`]'s
//! `Drop`, tests/common/served.rs); its log is in its folder and shown on
//! failures.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::MARIA;
use common::http::PLATFORM;
use common::served::{Served, free_port};
use serde_json::{Value, json};

fn mint_body(address: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({ "address": address, "display_name": "Maria" })).unwrap()
}

#[test]
fn a_platform_key_mints_a_token_that_is_its_participant() {
    let smtp = format!("listen = [\"127.0.0.1:{}\"]", free_port());
    let mut served = Served::start(&smtp, "listen = [\"127.0.0.1:{http}\"]");
    // Bound before "started" was logged, and said so first.
    let log = served.log();
    let bound = log
        .find("protocol=\"http\"")
        .expect("the HTTP listener is logged");
    assert!(bound < log.find("parley serve started").unwrap(), "{log}");

    let health = served.call("GET", "/healthz", &[], b"");
    assert_eq!(health.status, 200);
    assert_eq!(health.json(), json!({ "status": "ok" }));

    let platform = format!("Authorization: Bearer {}", PLATFORM.2);
    let minted = served.call(
        "POST",
        "/api/v1/tokens",
        &[&platform, "Content-Type: application/json"],
        &mint_body(MARIA),
    );
    assert_eq!(
        minted.status,
        201,
        "{:?}",
        String::from_utf8_lossy(&minted.body)
    );
    let token = minted.json()["token"].as_str().unwrap().to_string();
    let me = served.call(
        "GET",
        "/api/v1/me",
        &[&format!("Authorization: Bearer {token}")],
        b"",
    );
    assert_eq!(me.status, 200);
    assert_eq!(me.json()["role"], "user");
    assert_eq!(me.json()["address"], MARIA);
    assert_eq!(me.json()["display_name"], "Maria");

    let anonymous = served.call("GET", "/api/v1/me", &[], b"");
    assert_eq!(anonymous.status, 401);
    assert_eq!(
        anonymous.header("content-type"),
        Some("application/problem+json")
    );
    assert_eq!(anonymous.json()["type"], "urn:parley:problem:unauthorized");

    let doc = served.call("GET", "/api/v1/openapi.json", &[], b"");
    assert_eq!(doc.status, 200);
    let doc: Value = doc.json();
    let version = doc["openapi"].as_str().unwrap_or_default();
    assert!(version.starts_with("3.1."), "openapi: {version:?}");
    assert!(doc["paths"]["/api/v1/tokens"]["post"].is_object(), "{doc}");

    served.sigterm();
    let status = served.wait_exit(Duration::from_secs(15));
    assert_eq!(status.and_then(|s| s.code()), Some(0), "{}", served.log());
}

/// SIGTERM while a request is half sent and another connection idles
/// (HTTP only: no SMTP listener): the request finishes and is answered,
/// the idle connection is closed at once (the exit comes long before the
/// 30 s grace), the exit is 0.
#[test]
fn sigterm_lets_requests_in_flight_finish() {
    let mut served = Served::start(
        "listen = []",
        "listen = [\"127.0.0.1:{http}\"]\nshutdown_grace_secs = 30",
    );
    let body = mint_body(MARIA);
    let (first, rest) = body.split_at(body.len() / 2);
    let mut in_flight = TcpStream::connect(("127.0.0.1", served.http)).unwrap();
    in_flight
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    write!(
        in_flight,
        "POST /api/v1/tokens HTTP/1.1\r\nHost: parley\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        PLATFORM.2,
        body.len()
    )
    .unwrap();
    in_flight.write_all(first).unwrap();

    let mut idle = TcpStream::connect(("127.0.0.1", served.http)).unwrap();
    idle.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: parley\r\n\r\n")
        .unwrap();
    let mut greeting = [0u8; 12];
    idle.read_exact(&mut greeting).unwrap();
    assert_eq!(&greeting, b"HTTP/1.1 200");

    // The handler is waiting for the rest of the body.
    std::thread::sleep(Duration::from_millis(300));
    let stopping = Instant::now();
    served.sigterm();
    std::thread::sleep(Duration::from_millis(300));
    in_flight.write_all(rest).unwrap();
    let mut answer = String::new();
    in_flight.read_to_string(&mut answer).unwrap();
    assert!(
        answer.starts_with("HTTP/1.1 201"),
        "{answer}\n{}",
        served.log()
    );
    assert!(answer.contains("\"token\":\"ut1."), "{answer}");

    let status = served.wait_exit(Duration::from_secs(20));
    assert_eq!(status.and_then(|s| s.code()), Some(0), "{}", served.log());
    assert!(
        stopping.elapsed() < Duration::from_secs(10),
        "the idle connection held the exit for {:?}",
        stopping.elapsed()
    );
    assert!(
        TcpStream::connect(("127.0.0.1", served.http)).is_err(),
        "still listening"
    );
}

#[test]
fn an_empty_listen_serves_no_http() {
    let smtp_port = free_port();
    let smtp = format!("listen = [\"127.0.0.1:{smtp_port}\"]");
    let mut served = Served::start(&smtp, "listen = []");
    let log = served.log();
    assert!(log.contains("protocol=Smtp"), "{log}");
    assert!(!log.contains("protocol=\"http\""), "{log}");
    served.sigterm();
    let status = served.wait_exit(Duration::from_secs(15));
    assert_eq!(status.and_then(|s| s.code()), Some(0), "{}", served.log());

    // Nothing at all to serve is a configuration error naming the keys.
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("parley.toml");
    std::fs::write(
        &config,
        format!(
            "[store]\nurl = \"sqlite://{}/parley.db\"\n\n[token]\nsecret = \"{}\"\n\n\
             [smtp]\nlisten = []\n\n[http]\nlisten = []\n",
            dir.path().display(),
            common::SECRET
        ),
    )
    .unwrap();
    let out = common::cli::parley(dir.path())
        .arg("--config")
        .arg(&config)
        .arg("serve")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("http.listen"), "{err}");
}

/// `parley http key` prints a key and the entry to paste; pasted, the key
/// is that key's name and role.
#[test]
fn a_key_from_parley_http_key_is_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let out = common::cli::parley(dir.path())
        .args(["http", "key", "--name", "backoffice", "--role", "moderator"])
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(out.status.success(), "{text}");
    let key = text.lines().next().unwrap();
    assert!(key.starts_with("pk_") && key.len() >= 40, "{text}");
    let entry = &text[text.find("[[http.keys]]").expect("the entry")..];
    assert!(
        !entry.contains(key),
        "the entry holds the key itself:\n{entry}"
    );
    assert!(
        entry.contains("name = \"backoffice\"\nrole = \"moderator\"\nhash = \"sha256:"),
        "{entry}"
    );
    let again = common::cli::parley(dir.path())
        .args(["http", "key", "--name", "backoffice", "--role", "moderator"])
        .output()
        .unwrap();
    assert_ne!(
        String::from_utf8_lossy(&again.stdout).lines().next(),
        Some(key),
        "the same key twice"
    );

    let served = Served::start_with("listen = []", "listen = [\"127.0.0.1:{http}\"]", entry);
    let me = served.call(
        "GET",
        "/api/v1/me",
        &[&format!("Authorization: Bearer {key}")],
        b"",
    );
    assert_eq!(me.status, 200, "{}", served.log());
    assert_eq!(
        me.json(),
        json!({ "role": "moderator", "key": "backoffice" })
    );

    for bad in [
        ["--name", "Back Office", "--role", "admin"],
        ["--name", "ok", "--role", "root"],
    ] {
        let out = common::cli::parley(dir.path())
            .args(["http", "key"])
            .args(bad)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(64), "{bad:?}");
        assert!(out.stdout.is_empty(), "{bad:?}: a key was printed");
    }
}
