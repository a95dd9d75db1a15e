//! The dialog harness: a listener on port 0 over a fresh SQLite store, and
//! a client that runs the scripts described in smtp_dialog.rs.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use parley::intake::Intake;
use parley::smtp::{Protocol, Server, Settings};
use sqlx::Connection;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::common::*;

pub trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// A listener on port 0 over a fresh SQLite store.
pub struct Harness {
    pub env: TestEnv,
    pub addr: SocketAddr,
    pub server: Arc<Server>,
    pub stop: watch::Sender<bool>,
    pub task: JoinHandle<()>,
}

impl Harness {
    pub async fn start(tweak: impl FnOnce(&mut Settings)) -> Harness {
        Self::start_with(Protocol::Smtp, tweak).await
    }

    pub async fn start_with(protocol: Protocol, tweak: impl FnOnce(&mut Settings)) -> Harness {
        let env = TestEnv::new(&Backend::Sqlite, |_| {}).await;
        Self::serve(env, protocol, SECRET, tweak).await
    }

    /// A listener over `env`'s store whose token key is `secret` (the
    /// env's own intake keeps [`SECRET`]: a key rotation between the two).
    pub async fn serve(
        env: TestEnv,
        protocol: Protocol,
        secret: &str,
        tweak: impl FnOnce(&mut Settings),
    ) -> Harness {
        let mut settings =
            Settings::new(&env.config.smtp, env.config.intake.max_message_bytes, None);
        settings.hostname = "mx.test".into();
        settings.command_timeout = Duration::from_secs(20);
        settings.data_timeout = Duration::from_secs(20);
        tweak(&mut settings);
        let store = env.intake.shared_store();
        let intake = Intake::new(&env.config, secret.as_bytes(), store).with_group_commit(8, 1);
        let (stop, stopped) = watch::channel(false);
        let server = Server::new(settings, Arc::new(intake), stopped);
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(server.clone().listen(listener, protocol));
        Harness {
            env,
            addr,
            server,
            stop,
            task,
        }
    }

    pub async fn connect(&self) -> Client {
        Client::new(Box::new(TcpStream::connect(self.addr).await.unwrap()))
    }

    /// Connects, expects the greeting, runs `script`.
    pub async fn dialog(&self, script: &str) -> Client {
        let mut client = self.connect().await;
        client.run("S: 220 mx.test").await;
        client.run(script).await;
        client
    }

    pub async fn raw_messages(&self) -> Vec<RawRow> {
        let url = &self.env.config.store.url;
        let mut conn = sqlx::SqliteConnection::connect(url).await.unwrap();
        let rows: Vec<(Vec<u8>, Option<String>, String, String)> = sqlx::query_as(
            "SELECT bytes, envelope_from, envelope_to, source FROM raw_messages ORDER BY id",
        )
        .fetch_all(&mut conn)
        .await
        .unwrap();
        rows.into_iter()
            .map(|(bytes, from, to, source)| RawRow {
                text: String::from_utf8_lossy(&bytes).into_owned(),
                from,
                to,
                source,
            })
            .collect()
    }

    pub async fn stop(self) {
        let _ = self.stop.send(true);
        tokio::time::timeout(Duration::from_secs(30), self.task)
            .await
            .expect("the listener stops")
            .unwrap();
    }
}

#[derive(Debug)]
pub struct RawRow {
    pub text: String,
    pub from: Option<String>,
    pub to: String,
    pub source: String,
}

pub struct Client {
    pub io: Box<dyn Io>,
    pub buf: Vec<u8>,
    pub last: String,
}

impl Client {
    pub fn new(io: Box<dyn Io>) -> Client {
        Client {
            io,
            buf: Vec::new(),
            last: String::new(),
        }
    }

    /// One whole reply (every line up to the one with a space after the
    /// code); `None` when the connection closed first.
    pub async fn reply(&mut self) -> Option<String> {
        let mut reply = String::new();
        loop {
            let line = self.line().await?;
            let last = line.as_bytes().get(3) != Some(&b'-');
            reply.push_str(&line);
            reply.push('\n');
            if last {
                return Some(reply);
            }
        }
    }

    pub async fn line(&mut self) -> Option<String> {
        loop {
            if let Some(pos) = self.buf.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = self.buf.drain(..=pos).collect();
                return Some(String::from_utf8_lossy(&line).trim_end().to_string());
            }
            let mut chunk = [0u8; 4096];
            let n = tokio::time::timeout(Duration::from_secs(30), self.io.read(&mut chunk))
                .await
                .expect("a reply within 30 s")
                .unwrap_or(0);
            if n == 0 {
                return None;
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    pub async fn send(&mut self, bytes: &[u8]) {
        self.io.write_all(bytes).await.unwrap();
        self.io.flush().await.unwrap();
    }

    pub async fn run(&mut self, script: &str) {
        let mut batch = Vec::new();
        for line in script.lines().map(str::trim).filter(|l| !l.is_empty()) {
            if let Some(text) = line.strip_prefix("C: ") {
                batch.extend_from_slice(text.as_bytes());
                batch.extend_from_slice(b"\r\n");
                continue;
            }
            if !batch.is_empty() {
                self.send(&std::mem::take(&mut batch)).await;
            }
            if let Some(text) = line.strip_prefix("R: ") {
                let raw = text
                    .replace("\\r", "\r")
                    .replace("\\n", "\n")
                    .replace("\\t", "\t");
                self.send(raw.as_bytes()).await;
            } else if let Some(expected) = line.strip_prefix("S: ") {
                let reply = self
                    .reply()
                    .await
                    .unwrap_or_else(|| panic!("closed while expecting {expected:?}"));
                let last_line = reply.lines().last().unwrap_or("");
                assert!(
                    last_line.starts_with(expected),
                    "expected {expected:?}, got {reply:?}"
                );
                self.last = reply;
            } else if let Some(text) = line.strip_prefix("S+ ") {
                assert!(self.last.contains(text), "{text:?} not in {:?}", self.last);
            } else if let Some(text) = line.strip_prefix("S- ") {
                assert!(!self.last.contains(text), "{text:?} in {:?}", self.last);
            } else if line == "CLOSED" {
                if let Some(reply) = self.reply().await {
                    panic!("expected the connection closed, got {reply:?}");
                }
            } else {
                panic!("bad script line {line:?}");
            }
        }
        if !batch.is_empty() {
            self.send(&batch).await;
        }
    }
}

/// A short message in SMTP data form (CRLF, dot-terminated).
pub fn data(from: &str, to: &str, subject: &str, body: &str) -> String {
    format!(
        "R: From: {from}\\r\\nTo: {to}\\r\\nSubject: {subject}\\r\\n\
         Message-ID: <{}@client.test>\\r\\n\\r\\n{body}\\r\\n.\\r\\n",
        unique()
    )
}
