//! Arbitrary bytes as an SMTP or LMTP client's side of a session with
//! parley's server (`smtp::Server::session`), against a real SQLite store
//! holding a queue: the bytes are written, the client's side is closed, and
//! every reply is read to the session's end. Messages a session commits
//! are stored (the store grows with the run: a few hundred bytes a
//! message, under `intake.max_message_bytes` = 64 kB here).
//!
//! The first byte picks the protocol (even: SMTP, odd: LMTP); the rest is
//! the client's bytes. Inputs that start with a plausible dialog (EHLO,
//! MAIL, RCPT to the desk, DATA) reach the message path; the seeds in
//! `fuzz/seeds/smtp/` are such dialogs.
//!
//! Only a panic (or a session that does not end once its client has gone)
//! is a finding; every answer, 5xx included, is an answer.
//!
//! Run: see docs/testing.md ("Fuzzing").

#![no_main]

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use parley::config::Config;
use parley::intake::Intake;
use parley::smtp::{Protocol, Server, Settings};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const SECRET: &str = "fuzz-secret-0123456789abcdef0123456789";

struct World {
    runtime: tokio::runtime::Runtime,
    server: Arc<Server>,
    _stop: tokio::sync::watch::Sender<bool>,
    _dir: tempfile::TempDir,
}

fn world() -> &'static World {
    static WORLD: OnceLock<World> = OnceLock::new();
    WORLD.get_or_init(setup)
}

fn setup() -> World {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let url = format!("sqlite://{}/parley.db", dir.path().display());
    let path = dir.path().join("parley.toml");
    let text = format!(
        r#"[store]
url = "{url}"

[token]
secret = "{SECRET}"

[mail]
reply_domain = "reply.shop.example"

[intake]
max_message_bytes = 65536

[smtp]
hostname = "mx.fuzz.example"
command_timeout_secs = 1
data_timeout_secs = 1

[[queues]]
name = "desk"
intake = ["desk@shop.example"]
staff = ["agent@shop.example"]
"#
    );
    std::fs::write(&path, text).expect("config written");
    let mut config = Config::load(Some(&path)).expect("fuzz config loads");
    config.store.url = url;
    config.token.secret = SECRET.into();
    config.validate().expect("fuzz config is valid");
    let secret = config.load_secret().expect("secret");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let server = runtime.block_on(async {
        let store = parley::store::open(&config.store)
            .await
            .expect("store opens");
        for queue in &config.queues {
            store.sync_queue(queue).await.expect("queue synced");
        }
        let intake = Arc::new(Intake::new(&config, &secret, Arc::from(store)));
        let settings = Settings::new(&config.smtp, config.intake.max_message_bytes, None);
        Server::new(settings, intake, stopped)
    });
    World {
        runtime,
        server,
        _stop: stop,
        _dir: dir,
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&first, bytes)) = data.split_first() else {
        return;
    };
    let protocol = if first % 2 == 0 {
        Protocol::Smtp
    } else {
        Protocol::Lmtp
    };
    let world = world();
    let peer: SocketAddr = "192.0.2.1:25000".parse().expect("an address");
    world.runtime.block_on(async {
        let (mut client, server_side) = tokio::io::duplex(64 * 1024);
        let server = world.server.clone();
        let session = tokio::spawn(async move {
            server.session(server_side, peer, protocol).await;
        });
        let (mut reader, mut writer) = tokio::io::split(&mut client);
        // The greeting first: a client that talks before it is an early
        // talker, refused at once (which would be all any input reached).
        let mut replies = Vec::new();
        let mut chunk = [0u8; 512];
        while !replies.contains(&b'\n') {
            match reader.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => replies.extend_from_slice(&chunk[..n]),
            }
        }
        // Then write and read at once: a server that answers much must not
        // stall on a client that is still writing.
        let write = async {
            let _ = writer.write_all(bytes).await;
            let _ = writer.shutdown().await;
        };
        let read = async {
            let _ = reader.read_to_end(&mut replies).await;
        };
        tokio::join!(write, read);
        // Every reply line starts with three digits (RFC 5321 §4.2).
        for line in replies.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            assert!(
                line.len() >= 3 && line[..3].iter().all(u8::is_ascii_digit),
                "not a reply line: {:?}",
                String::from_utf8_lossy(line)
            );
        }
        tokio::time::timeout(Duration::from_secs(10), session)
            .await
            .expect("the session ends once its client has gone")
            .expect("the session does not panic");
    });
});
