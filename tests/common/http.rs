//! The HTTP door in tests: API keys for every role, the door's router
//! over a [`TestEnv`](super::TestEnv) called with `oneshot`, and a small
//! HTTP/1.1 client over a blocking socket for a `parley serve` process.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use parley::config::{ApiKeyConfig, Config, KeyHash, Role};
use serde_json::Value;
use tower::ServiceExt;

/// The keys of [`keys_toml`] and [`add_keys`], one per role: (name, role,
/// the key as the holder sends it).
pub const PLATFORM: (&str, Role, &str) =
    ("shop", Role::Platform, "pk_test_platform_0123456789abcdef");
pub const MODERATOR: (&str, Role, &str) = (
    "mods",
    Role::Moderator,
    "pk_test_moderator_0123456789abcdef",
);
pub const ADMIN: (&str, Role, &str) = ("ops", Role::Admin, "pk_test_admin_0123456789abcdef");
pub const KEYS: [(&str, Role, &str); 3] = [PLATFORM, MODERATOR, ADMIN];

/// `[[http.keys]]` entries for [`KEYS`], as a config file holds them.
pub fn keys_toml() -> String {
    KEYS.iter()
        .map(|(name, role, key)| {
            format!(
                "[[http.keys]]\nname = \"{name}\"\nrole = \"{}\"\nhash = \"{}\"\n\n",
                role.as_str(),
                KeyHash::of(key)
            )
        })
        .collect()
}

/// Adds [`KEYS`] to `config` (a [`TestEnv`](super::TestEnv) tweak).
pub fn add_keys(config: &mut Config) {
    for (name, role, key) in KEYS {
        config.http.keys.push(ApiKeyConfig {
            name: name.into(),
            role,
            hash: KeyHash::of(key).to_string(),
            key_file: Default::default(),
            rate_limit_per_minute: None,
            rate_limit_burst: None,
        });
    }
}

/// The door over a fresh store on `backend` with the test keys and
/// `tweak` applied, and the store's [`TestEnv`](super::TestEnv).
pub async fn door_on(
    backend: &super::Backend,
    tweak: impl FnOnce(&mut Config),
) -> (axum::Router, super::TestEnv) {
    let env = super::TestEnv::new(backend, |c| {
        add_keys(c);
        tweak(c);
    })
    .await;
    let state =
        parley::http::AppState::new(&env.config, super::SECRET.as_bytes(), env.intake.clone())
            .expect("the door's state");
    (parley::http::router(state), env)
}

/// One answer of the door.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Answer {
    /// The body as JSON (panics, showing it, when it is not).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "{}: not JSON ({e}): {}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Checks that this is a problem (RFC 9457) of `status` and `slug`,
    /// and returns its body.
    pub fn problem(&self, status: u16, slug: &str) -> Value {
        assert_eq!(
            self.status.as_u16(),
            status,
            "{}",
            String::from_utf8_lossy(&self.body)
        );
        assert_eq!(
            self.header("content-type"),
            Some("application/problem+json"),
            "{self:?}"
        );
        let body = self.json();
        assert_eq!(body["type"], format!("urn:parley:problem:{slug}"), "{body}");
        assert_eq!(body["status"], status, "{body}");
        assert!(
            body["title"].as_str().is_some_and(|t| !t.is_empty()),
            "{body}"
        );
        body
    }
}

/// A request to the door: method, path, headers, body.
pub struct Call {
    request: axum::http::request::Builder,
    body: Vec<u8>,
}

impl Call {
    pub fn new(method: Method, path: &str) -> Call {
        Call {
            request: Request::builder().method(method).uri(path),
            body: Vec::new(),
        }
    }

    pub fn get(path: &str) -> Call {
        Call::new(Method::GET, path)
    }

    pub fn post(path: &str) -> Call {
        Call::new(Method::POST, path)
    }

    pub fn header(mut self, name: &str, value: &str) -> Call {
        self.request = self.request.header(name, value);
        self
    }

    /// `Authorization: Bearer CREDENTIAL`.
    pub fn bearer(self, credential: &str) -> Call {
        self.header("authorization", &format!("Bearer {credential}"))
    }

    /// A JSON body with its content type.
    pub fn json(mut self, body: &Value) -> Call {
        self.body = serde_json::to_vec(body).unwrap();
        self.header("content-type", "application/json")
    }

    /// A body as it is.
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Call {
        self.body = body.into();
        self
    }

    /// Sends it through `router` (no socket: `oneshot`).
    pub async fn send(self, router: &axum::Router) -> Answer {
        let request = self.request.body(Body::from(self.body)).unwrap();
        let response = router.clone().oneshot(request).await.unwrap();
        let (parts, body) = response.into_parts();
        let body = axum::body::to_bytes(body, usize::MAX).await.unwrap();
        Answer {
            status: parts.status,
            headers: parts.headers,
            body: body.to_vec(),
        }
    }
}

/// A user token for `address` minted by the platform key through
/// `router`.
pub async fn user_token(router: &axum::Router, address: &str) -> String {
    let answer = Call::post("/api/v1/tokens")
        .bearer(PLATFORM.2)
        .json(&serde_json::json!({ "address": address }))
        .send(router)
        .await;
    assert_eq!(
        answer.status,
        201,
        "{:?}",
        String::from_utf8_lossy(&answer.body)
    );
    answer.json()["token"].as_str().unwrap().to_string()
}

/// One request over a fresh connection to `127.0.0.1:port` (HTTP/1.1,
/// `Connection: close`), its answer read to the end. `headers` are
/// `Name: value` lines.
pub fn request(
    port: u16,
    method: &str,
    path: &str,
    headers: &[&str],
    body: &[u8],
) -> std::io::Result<Answer> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for header in headers {
        head.push_str(header);
        head.push_str("\r\n");
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes())?;
    stream.write_all(body)?;
    read_answer(BufReader::new(stream))
}

/// Reads a status line, headers and a body (by Content-Length, chunked,
/// or to the end).
fn read_answer(mut reader: impl BufRead) -> std::io::Result<Answer> {
    let bad = |what: String| std::io::Error::new(std::io::ErrorKind::InvalidData, what);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let status = line
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse::<u16>().ok())
        .and_then(|code| StatusCode::from_u16(code).ok())
        .ok_or_else(|| bad(format!("status line {line:?}")))?;
    let mut headers = HeaderMap::new();
    loop {
        line.clear();
        reader.read_line(&mut line)?;
        let text = line.trim_end();
        if text.is_empty() {
            break;
        }
        let (name, value) = text
            .split_once(':')
            .ok_or_else(|| bad(format!("header {text:?}")))?;
        headers.append(
            axum::http::HeaderName::from_bytes(name.trim().as_bytes())
                .map_err(|e| bad(e.to_string()))?,
            value
                .trim()
                .parse()
                .map_err(|_| bad(format!("header {text:?}")))?,
        );
    }
    let mut body = Vec::new();
    let length = headers
        .get("content-length")
        .and_then(|v| v.to_str().ok()?.parse::<usize>().ok());
    let chunked = headers
        .get("transfer-encoding")
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"chunked"));
    if let Some(length) = length {
        body.resize(length, 0);
        reader.read_exact(&mut body)?;
    } else if chunked {
        loop {
            line.clear();
            reader.read_line(&mut line)?;
            let size = usize::from_str_radix(line.trim().split(';').next().unwrap_or(""), 16)
                .map_err(|_| bad(format!("chunk size {line:?}")))?;
            let mut chunk = vec![0; size + 2];
            reader.read_exact(&mut chunk)?;
            if size == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..size]);
        }
    } else {
        reader.read_to_end(&mut body)?;
    }
    Ok(Answer {
        status,
        headers,
        body,
    })
}
