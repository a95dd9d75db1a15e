//! The HTTP door in tests: API keys for every role, the door's router
//! over a [`TestEnv`](super::TestEnv) called with `oneshot`, and a small
//! HTTP/1.1 client over a blocking socket for a `parley serve` process.

use std::io::{BufRead, BufReader, Read, Write};
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

    /// The body as text (a page).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
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
    let (status, headers) = read_head(&mut reader)?;
    let mut line = String::new();
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

/// Reads a status line and the headers.
fn read_head(reader: &mut impl BufRead) -> std::io::Result<(StatusCode, HeaderMap)> {
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
    Ok((status, headers))
}

/// One Server-Sent Event as a stream delivered it.
#[derive(Debug, Clone, PartialEq)]
pub struct SseEvent {
    /// The `id:` field, as a number.
    pub id: i64,
    /// The `event:` field.
    pub event: String,
    /// The `data:` field, parsed.
    pub data: Value,
    /// When it arrived.
    pub at: std::time::Instant,
}

/// What the reading thread of an [`EventStream`] hands over.
enum Frame {
    Event(SseEvent),
    /// A comment line (a keep-alive).
    Comment,
}

/// `GET /api/v1/events` over a socket of its own: a thread reads the
/// chunked `text/event-stream` and hands each event over as it comes,
/// with the instant it arrived.
pub struct EventStream {
    pub headers: HeaderMap,
    frames: std::sync::mpsc::Receiver<Frame>,
    socket: TcpStream,
    /// Comment lines (keep-alives) seen so far.
    pub comments: usize,
}

impl EventStream {
    /// Opens the stream at `path` (`/api/v1/events?…`) with `headers`
    /// (`Name: value` lines); a non-200 answer is the `Err`.
    pub fn open(port: u16, path: &str, headers: &[&str]) -> Result<EventStream, Answer> {
        EventStream::try_open(port, path, headers).unwrap_or_else(|e| panic!("GET {path}: {e}"))
    }

    fn try_open(
        port: u16,
        path: &str,
        headers: &[&str],
    ) -> std::io::Result<Result<EventStream, Answer>> {
        let socket = TcpStream::connect(("127.0.0.1", port))?;
        let mut head = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n");
        for header in headers {
            head.push_str(header);
            head.push_str("\r\n");
        }
        head.push_str("\r\n");
        (&socket).write_all(head.as_bytes())?;
        let mut reader = BufReader::new(socket.try_clone()?);
        let (status, headers) = read_head(&mut reader)?;
        if status != StatusCode::OK {
            // The rest of a problem: its body by Content-Length.
            let length = headers
                .get("content-length")
                .and_then(|v| v.to_str().ok()?.parse::<usize>().ok())
                .unwrap_or(0);
            let mut body = vec![0; length];
            reader.read_exact(&mut body)?;
            return Ok(Err(Answer {
                status,
                headers,
                body,
            }));
        }
        let (send, frames) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = read_events(reader, &send);
        });
        Ok(Ok(EventStream {
            headers,
            frames,
            socket,
            comments: 0,
        }))
    }

    /// The next event within `timeout`; `None` when none came or the
    /// stream ended.
    pub fn next(&mut self, timeout: Duration) -> Option<SseEvent> {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.frames.recv_timeout(left) {
                Ok(Frame::Event(event)) => return Some(event),
                Ok(Frame::Comment) => self.comments += 1,
                Err(_) => return None,
            }
        }
    }

    /// Whether the server ended the stream within `timeout`.
    pub fn ends_within(&mut self, timeout: Duration) -> bool {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.frames.recv_timeout(left) {
                Ok(_) => {}
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => return true,
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => return false,
            }
        }
    }

    /// Drops the connection, as a browser losing its network does.
    pub fn disconnect(self) {
        let _ = self.socket.shutdown(std::net::Shutdown::Both);
    }
}

/// Reads a chunked `text/event-stream` and hands over its events (RFC
/// 9112 §7.1 chunks; the WHATWG HTML "event stream" format: fields up to
/// an empty line, comments start with a colon).
fn read_events(
    mut reader: impl BufRead,
    frames: &std::sync::mpsc::Sender<Frame>,
) -> std::io::Result<()> {
    let bad = |what: String| std::io::Error::new(std::io::ErrorKind::InvalidData, what);
    let mut text = Vec::new();
    let (mut id, mut event, mut data) = (None, String::new(), String::new());
    loop {
        let mut size = String::new();
        if reader.read_line(&mut size)? == 0 {
            return Ok(());
        }
        let size = usize::from_str_radix(size.trim(), 16)
            .map_err(|_| bad(format!("chunk size {size:?}")))?;
        if size == 0 {
            return Ok(());
        }
        let mut chunk = vec![0; size + 2];
        reader.read_exact(&mut chunk)?;
        text.extend_from_slice(&chunk[..size]);
        while let Some(end) = text.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = text.drain(..=end).collect();
            let line = String::from_utf8_lossy(&line[..end]).into_owned();
            if line.is_empty() {
                let Some(number) = id.take() else {
                    continue;
                };
                let parsed =
                    serde_json::from_str(&data).map_err(|e| bad(format!("data {data:?}: {e}")))?;
                let sse = SseEvent {
                    id: number,
                    event: std::mem::take(&mut event),
                    data: parsed,
                    at: std::time::Instant::now(),
                };
                data.clear();
                if frames.send(Frame::Event(sse)).is_err() {
                    return Ok(());
                }
            } else if line.starts_with(':') {
                if frames.send(Frame::Comment).is_err() {
                    return Ok(());
                }
            } else if let Some((field, value)) = line.split_once(':') {
                let value = value.strip_prefix(' ').unwrap_or(value);
                match field {
                    "id" => id = Some(value.parse().map_err(|_| bad(format!("id {value:?}")))?),
                    "event" => event = value.to_string(),
                    "data" => data.push_str(value),
                    _ => {}
                }
            }
        }
    }
}
