//! `parley serve` as a real process: real SMTP clients (swaks, lettre and a
//! raw client written here) deliver to it and the CLI shows what was stored;
//! the embedded default configuration; SIGTERM; and SIGKILL under load,
//! after which nothing that was answered "250" may be missing.
//!
//! Every test works in its own temporary folder with its own port, config
//! and store. Every server a test starts is killed by its PID when the test
//! ends, also when it panics ([`Server`]'s `Drop`). The server's output goes
//! to a log file in the folder; failures show it.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

#[path = "common/smtp.rs"]
mod smtp;
use smtp::{Reply, Smtp};

const SECRET: &str = "serve-test-secret-0123456789-abcdef";
const REPLY_DOMAIN: &str = "reply.shop.example";
const DESK: &str = "desk@shop.example";
const AGENT: &str = "agent@shop.example";
const MARIA: &str = "maria@buyer.example";
/// How long a server may take to start listening.
const STARTUP: Duration = Duration::from_secs(20);
/// How long the test clients wait for a reply before giving up.
const IO_TIMEOUT: Duration = Duration::from_secs(30);

/// A port that was free a moment ago.
fn free_port() -> u16 {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("a free port");
    listener.local_addr().expect("a bound address").port()
}

fn local(port: u16) -> SocketAddr {
    SocketAddr::from((Ipv4Addr::LOCALHOST, port))
}

/// `parley` working in `cwd`, with `PARLEY_LOG=info` and without any parley
/// setting inherited from the caller's environment.
fn parley(cwd: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_parley"));
    command
        .current_dir(cwd)
        .env_remove("PARLEY_CONFIG")
        .env("PARLEY_LOG", "info")
        .stdin(Stdio::null());
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("PARLEY__") {
            command.env_remove(name);
        }
    }
    command
}

/// Runs `command`, expects exit 0 and returns its stdout.
fn succeed(mut command: Command) -> String {
    let out = command.output().expect("parley runs");
    assert!(
        out.status.success(),
        "{command:?}: {}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8 output")
}

/// Runs swaks against `127.0.0.1:port`; its exit code and its whole output.
fn swaks(port: u16, args: &[&str]) -> (Option<i32>, String) {
    let out: Output = Command::new("swaks")
        .arg("--server")
        .arg(format!("127.0.0.1:{port}"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("swaks runs (Debian package swaks; scripts/test installs it)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code(), text)
}

/// A running `parley serve`, killed and reaped on drop.
struct Server {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl Server {
    /// Starts `command` (a `parley … serve`) with its output going to `log`
    /// and waits until `port` greets. On failure, returns the log.
    fn start(mut command: Command, port: u16, log: PathBuf) -> Result<Server, String> {
        let file = File::create(&log).expect("log file created");
        let out = file.try_clone().expect("log file cloned");
        command.stdout(out).stderr(file);
        let child = command.spawn().expect("parley serve starts");
        let mut server = Server { child, port, log };
        let deadline = Instant::now() + STARTUP;
        loop {
            if let Some(status) = server.child.try_wait().expect("try_wait") {
                return Err(format!(
                    "parley serve exited ({status}) before it listened on port {port}:\n{}",
                    server.log()
                ));
            }
            if let Ok(mut probe) = Smtp::connect(port)
                && let Ok(greeting) = probe.reply()
                && greeting.code == 220
                && greeting.text.contains("parley")
            {
                return Ok(server);
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "parley serve does not greet on port {port} after {STARTUP:?}:\n{}",
                    server.log()
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// What the server wrote so far.
    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_else(|e| format!("(no log: {e})"))
    }

    /// Waits up to `timeout` for the process to end.
    fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return Some(status);
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether a failed start failed because its port was taken meanwhile.
fn port_taken(log: &str) -> bool {
    log.contains("cannot listen on") || log.contains("in use")
}

/// A working folder with a config file naming a store in it and a port.
struct Site {
    dir: tempfile::TempDir,
    config: PathBuf,
    port: u16,
    starts: usize,
    /// More TOML at the end of the config.
    extra: String,
}

impl Site {
    fn new() -> Site {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let config = dir.path().join("parley.toml");
        let site = Site {
            dir,
            config,
            port: free_port(),
            starts: 0,
            extra: String::new(),
        };
        site.write_config();
        site
    }

    fn write_config(&self) {
        let text = format!(
            r#"[store]
url = "sqlite://{dir}/parley.db"

[token]
secret = "{SECRET}"

[mail]
reply_domain = "{REPLY_DOMAIN}"

[smtp]
listen = ["127.0.0.1:{port}"]
hostname = "mx.test"

[http]
listen = ["127.0.0.1:0"]

[[queues]]
name = "desk"
intake = ["{DESK}"]
staff = ["{AGENT}"]
{extra}"#,
            dir = self.dir.path().display(),
            port = self.port,
            extra = self.extra,
        );
        std::fs::write(&self.config, text).expect("config written");
    }

    /// `parley --config FILE ARGS` in the folder.
    fn command(&self, args: &[&str]) -> Command {
        let mut command = parley(self.dir.path());
        command.arg("--config").arg(&self.config).args(args);
        command
    }

    /// Runs the CLI, expects exit 0, returns stdout.
    fn cli(&self, args: &[&str]) -> String {
        succeed(self.command(args))
    }

    fn json(&self, args: &[&str]) -> Value {
        let text = self.cli(args);
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{args:?}: {e}\n{text}"))
    }

    /// `tickets list --json`: every ticket, newest first.
    fn tickets(&self) -> Vec<Value> {
        match self.json(&["tickets", "list", "--json"]) {
            Value::Array(list) => list,
            other => panic!("tickets list --json: not an array: {other}"),
        }
    }

    /// Starts `parley --config FILE serve` and waits until it greets. If
    /// its port was taken in the meantime, moves to another one.
    fn serve(&mut self) -> Server {
        let mut attempt = 0;
        loop {
            attempt += 1;
            self.starts += 1;
            let log = self.dir.path().join(format!("serve-{}.log", self.starts));
            match Server::start(self.command(&["serve"]), self.port, log) {
                Ok(server) => return server,
                Err(log) if attempt < 3 && port_taken(&log) => {
                    self.port = free_port();
                    self.write_config();
                }
                Err(log) => panic!("{log}"),
            }
        }
    }
}

#[test]
fn swaks_delivers_and_the_ticket_shows() {
    let mut site = Site::new();
    let server = site.serve();
    let (code, out) = swaks(
        site.port,
        &[
            "--from",
            MARIA,
            "--to",
            DESK,
            "--header",
            "Subject: Lamp question",
            "--body",
            "Is the lamp still available?",
        ],
    );
    assert_eq!(code, Some(0), "swaks:\n{out}\nserver:\n{}", server.log());
    assert!(out.contains("250 2.0.0"), "{out}");

    let shown = site.cli(&["tickets", "show", "1"]);
    assert!(shown.contains("Lamp question"), "{shown}");
    assert!(shown.contains("Is the lamp still available?"), "{shown}");
    assert!(shown.contains(MARIA), "{shown}");

    // A recipient that is not ours: refused at RCPT, also when pipelined.
    let (code, out) = swaks(
        site.port,
        &[
            "--pipeline",
            "--from",
            MARIA,
            "--to",
            "nobody@elsewhere.example",
            "--header",
            "Subject: Not for you",
        ],
    );
    assert!(code.is_some(), "swaks was killed:\n{out}");
    assert_ne!(code, Some(0), "swaks succeeded:\n{out}");
    assert!(out.contains("550 5.1.1"), "{out}");
    let tickets = site.tickets();
    assert_eq!(tickets.len(), 1, "{tickets:?}");
    assert_eq!(tickets[0]["subject"], "Lamp question");
    drop(server);
}

#[test]
fn lettre_delivers() {
    use lettre::message::Mailbox;
    use lettre::{Message, SmtpTransport, Transport};

    let mut site = Site::new();
    let server = site.serve();
    let mailer = SmtpTransport::builder_dangerous("127.0.0.1")
        .port(site.port)
        .timeout(Some(IO_TIMEOUT))
        .build();
    let maria: Mailbox = format!("Maria <{MARIA}>").parse().unwrap();
    let message = Message::builder()
        .from(maria.clone())
        .to(DESK.parse().unwrap())
        .subject("Does the lamp come with a bulb?")
        .body("Hello, does the lamp come with a bulb?\n".to_string())
        .unwrap();
    let response = mailer
        .send(&message)
        .unwrap_or_else(|e| panic!("lettre: {e}\nserver:\n{}", server.log()));
    assert_eq!(u16::from(response.code()), 250, "{response:?}");

    let tickets = site.tickets();
    assert_eq!(tickets.len(), 1, "{tickets:?}");
    assert_eq!(tickets[0]["subject"], "Does the lamp come with a bulb?");
    assert_eq!(tickets[0]["queue"], "desk");
    let number = tickets[0]["number"].as_i64().unwrap().to_string();
    let shown = site.json(&["tickets", "show", &number, "--json"]);
    let text = shown["messages"][0]["reply_text"].as_str().unwrap_or("");
    assert!(text.contains("does the lamp come with a bulb?"), "{shown}");

    // A reply address whose token was never signed: refused for good.
    let forged = format!("reply+{}@{REPLY_DOMAIN}", "a".repeat(36));
    let message = Message::builder()
        .from(maria)
        .to(forged.parse().unwrap())
        .subject("Re: Does the lamp come with a bulb?")
        .body("Forged.\n".to_string())
        .unwrap();
    match mailer.send(&message) {
        Ok(response) => panic!("the forged address was taken: {response:?}"),
        Err(e) => {
            assert!(e.is_permanent(), "not a permanent error: {e:?}");
            assert_eq!(e.status().map(u16::from), Some(550), "{e}");
            assert!(e.to_string().contains("5.1.1"), "{e}");
        }
    }
    assert_eq!(site.tickets().len(), 1, "something was stored");
    drop(server);
}

/// `parley serve` in `cwd` on the embedded defaults, listening on a free
/// port (`PARLEY__SMTP__LISTEN`); another port when that one was taken.
fn serve_on_defaults(cwd: &Path) -> Server {
    for attempt in 1..=3 {
        let port = free_port();
        let mut command = parley(cwd);
        command
            .arg("serve")
            .env("PARLEY__SMTP__LISTEN", format!("127.0.0.1:{port}"))
            .env("PARLEY__HTTP__LISTEN", "127.0.0.1:0");
        let log = cwd.join(format!("serve-{attempt}.log"));
        match Server::start(command, port, log) {
            Ok(started) => return started,
            Err(log) if attempt < 3 && port_taken(&log) => {}
            Err(log) => panic!("{log}"),
        }
    }
    unreachable!("the third attempt returns or panics")
}

#[test]
fn starts_on_the_embedded_default() {
    if Path::new("/etc/parley/parley.toml").exists() {
        eprintln!("skipped: /etc/parley/parley.toml exists and would be layered in");
        return;
    }
    let dir = tempfile::tempdir().expect("a temporary folder");
    let cwd = dir.path();
    let server = serve_on_defaults(cwd);
    assert!(cwd.join("data/parley.db").is_file(), "no data/parley.db");
    let key = std::fs::read_to_string(cwd.join("data/token.key")).expect("data/token.key");
    assert!(key.trim().len() >= 16, "short key {key:?}");

    let (code, out) = swaks(
        server.port,
        &[
            "--from",
            MARIA,
            "--to",
            "desk@localhost",
            "--header",
            "Subject: Default desk",
            "--body",
            "Written to the default queue.",
        ],
    );
    assert_eq!(code, Some(0), "swaks:\n{out}\nserver:\n{}", server.log());
    assert!(out.contains("250 2.0.0"), "{out}");
    let mut show = parley(cwd);
    show.args(["tickets", "show", "1"]);
    let shown = succeed(show);
    assert!(shown.contains("Default desk"), "{shown}");
    assert!(shown.contains("Written to the default queue."), "{shown}");
    assert!(shown.contains("queue desk"), "{shown}");

    // `check` without a file: the documented default, and the listen list
    // from the environment, comma-separated.
    let mut check = parley(cwd);
    check.arg("check");
    let text = succeed(check);
    assert!(text.contains("# defaults + environment: valid"), "{text}");
    assert!(text.contains("listen = [\"127.0.0.1:2525\"]\n"), "{text}");
    let mut check = parley(cwd);
    check
        .arg("check")
        .env("PARLEY__SMTP__LISTEN", "127.0.0.1:2600,[::1]:2601");
    let text = succeed(check);
    assert!(
        text.contains("listen = [\"127.0.0.1:2600\", \"[::1]:2601\"]\n"),
        "{text}"
    );
    drop(server);
}

#[test]
fn sigterm_stops_cleanly() {
    let mut site = Site::new();
    let mut server = site.serve();
    let mut smtp = Smtp::connect(site.port).expect("connects");
    let greeting = smtp.reply().expect("greeting");
    assert_eq!(greeting.code, 220, "{greeting:?}");
    assert!(greeting.text.starts_with("220 mx.test "), "{greeting:?}");
    let ehlo = smtp.command("EHLO x").expect("EHLO reply");
    assert_eq!(ehlo.code, 250, "{ehlo:?}");
    assert!(ehlo.text.contains("\n250 "), "multi-line: {ehlo:?}");

    let pid = server.child.id().to_string();
    let status = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill runs");
    assert!(status.success(), "kill -TERM {pid}: {status}");
    let reply = smtp
        .reply()
        .unwrap_or_else(|e| panic!("no reply to the idle session: {e}\n{}", server.log()));
    assert!(reply.text.starts_with("421 4.3.2"), "{reply:?}");

    let exit = server.wait_exit(Duration::from_secs(10));
    let exit =
        exit.unwrap_or_else(|| panic!("still running 10 s after SIGTERM:\n{}", server.log()));
    assert!(exit.success(), "{exit}:\n{}", server.log());
    match TcpStream::connect_timeout(&local(site.port), Duration::from_secs(5)) {
        Ok(_) => panic!("port {} still accepts after the exit", site.port),
        Err(e) => assert_eq!(e.kind(), io::ErrorKind::ConnectionRefused, "{e}"),
    }
}

/// Clients delivering at once in the SIGKILL test.
const CLIENTS: usize = 8;
/// How long they deliver before the server is killed.
const LOAD: Duration = Duration::from_millis(1500);

/// The `n`th message of client `c`: the same bytes every time it is built
/// (fixed Date), so that a redelivery is the same message.
fn durability_message(c: usize, n: usize) -> Vec<u8> {
    format!(
        "From: Client {c} <c{c}@buyer.example>\r\n\
         To: {DESK}\r\n\
         Subject: {subject}\r\n\
         Date: Sat, 21 Nov 2026 09:15:00 +0100\r\n\
         Message-ID: <c{c}-{n}@test>\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\
         \r\n\
         Message {n} of client {c}.\r\n",
        subject = durability_subject(c, n),
    )
    .into_bytes()
}

fn durability_subject(c: usize, n: usize) -> String {
    format!("durability c{c} n{n}")
}

/// One message on an open session: MAIL, RCPT, DATA, the message, the dot.
/// `sent` is called once the data is about to go out: from then on the
/// server may have it although no reply is read.
fn deliver(smtp: &mut Smtp, c: usize, n: usize, sent: impl FnOnce()) -> io::Result<Reply> {
    smtp.expect(&format!("MAIL FROM:<c{c}@buyer.example>"), 250)?;
    smtp.expect(&format!("RCPT TO:<{DESK}>"), 250)?;
    smtp.expect("DATA", 354)?;
    sent();
    let mut data = durability_message(c, n);
    data.extend_from_slice(b".\r\n");
    smtp.send(&data)?;
    smtp.reply()
}

/// What one client saw.
#[derive(Debug, Default)]
struct Tally {
    /// Answered 250 after the data.
    acked: Vec<(usize, usize)>,
    /// Data sent (at least in part), no reply read.
    unknown: Vec<(usize, usize)>,
    /// How the client ended, and whether that was before the kill.
    end: String,
    early: bool,
}

/// The load on the server of the SIGKILL test, shared by its clients.
struct Load<'a> {
    port: u16,
    started: Instant,
    acked: AtomicUsize,
    /// Set just before the SIGKILL: a client ending before is a failure.
    killing: AtomicBool,
    server: Mutex<&'a mut Child>,
}

impl Load<'_> {
    /// Sends SIGKILL to the server, once.
    fn kill(&self) {
        if !self.killing.swap(true, Ordering::SeqCst) {
            let mut child = self.server.lock().unwrap_or_else(|e| e.into_inner());
            child.kill().expect("SIGKILL sent");
        }
    }
}

/// Delivers messages over one session until an error ends it. The first
/// client to read a 250 once [`LOAD`] is over kills the server at once:
/// the moment when a server that answered before its commit would still
/// have acknowledged messages in memory only.
fn durability_client(c: usize, load: &Load<'_>) -> Tally {
    let mut tally = Tally::default();
    let mut run = || -> io::Result<()> {
        let mut smtp = Smtp::connect(load.port)?;
        let greeting = smtp.reply()?;
        if greeting.code != 220 {
            return Err(io::Error::other(format!("greeting {greeting:?}")));
        }
        smtp.expect(&format!("EHLO client{c}.test"), 250)?;
        for n in 0.. {
            let mut in_flight = false;
            match deliver(&mut smtp, c, n, || in_flight = true) {
                Ok(reply) if reply.code == 250 => {
                    tally.acked.push((c, n));
                    load.acked.fetch_add(1, Ordering::SeqCst);
                    if load.started.elapsed() >= LOAD {
                        load.kill();
                    }
                }
                Ok(reply) => {
                    return Err(io::Error::other(format!("message {n}: {reply:?}")));
                }
                Err(e) => {
                    if in_flight {
                        tally.unknown.push((c, n));
                    }
                    return Err(e);
                }
            }
        }
        Ok(())
    };
    let result = run();
    tally.early = !load.killing.load(Ordering::SeqCst);
    tally.end = match result {
        Ok(()) => "ended".into(),
        Err(e) => e.to_string(),
    };
    tally
}

/// Counts the stored tickets by subject.
fn subjects(site: &Site) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for ticket in site.tickets() {
        let subject = ticket["subject"].as_str().expect("a subject").to_string();
        *counts.entry(subject).or_insert(0) += 1;
    }
    counts
}

#[test]
fn sigkill_loses_nothing_acknowledged() {
    let mut site = Site::new();
    let mut server = site.serve();
    let load = Load {
        port: site.port,
        started: Instant::now(),
        acked: AtomicUsize::new(0),
        killing: AtomicBool::new(false),
        server: Mutex::new(&mut server.child),
    };
    let tallies: Vec<Tally> = std::thread::scope(|scope| {
        let clients: Vec<_> = (0..CLIENTS)
            .map(|c| {
                let load = &load;
                scope.spawn(move || durability_client(c, load))
            })
            .collect();
        // A client kills the server; should none get a 250, this does.
        let deadline = load.started + STARTUP;
        while !load.killing.load(Ordering::SeqCst)
            && !clients.iter().all(|client| client.is_finished())
            && Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_millis(10));
        }
        load.kill();
        clients
            .into_iter()
            .map(|client| client.join().expect("client thread"))
            .collect()
    });
    let killed = server.child.wait().expect("reaped");
    assert_eq!(
        killed.signal(),
        Some(9),
        "the server ended before the kill: {killed}\n{}",
        server.log()
    );
    let log = server.log();
    drop(server);

    let early: Vec<_> = tallies.iter().filter(|t| t.early).collect();
    assert!(
        early.is_empty(),
        "clients ended before the kill: {early:?}\n{log}"
    );
    let acked: Vec<(usize, usize)> = tallies.iter().flat_map(|t| t.acked.clone()).collect();
    let unknown: Vec<(usize, usize)> = tallies.iter().flat_map(|t| t.unknown.clone()).collect();
    assert!(!acked.is_empty(), "nothing acknowledged before the kill");

    let mut server = site.serve();
    let stored = subjects(&site);
    let total: usize = stored.values().sum();
    let unknown_stored = unknown
        .iter()
        .filter(|&&(c, n)| stored.contains_key(&durability_subject(c, n)))
        .count();
    println!(
        "SIGKILL after {LOAD:?} with {CLIENTS} clients: acked {}, unknown {} ({unknown_stored} of them stored), stored {total}",
        acked.len(),
        unknown.len(),
    );
    let lost: Vec<(String, usize)> = acked
        .iter()
        .map(|&(c, n)| durability_subject(c, n))
        .map(|subject| {
            let count = stored.get(&subject).copied().unwrap_or(0);
            (subject, count)
        })
        .filter(|(_, count)| *count != 1)
        .collect();
    assert!(
        lost.is_empty(),
        "{} acknowledged messages not stored exactly once (subject, times stored): {:?}",
        lost.len(),
        &lost[..lost.len().min(20)]
    );
    let expected: HashSet<String> = acked
        .iter()
        .chain(&unknown)
        .map(|&(c, n)| durability_subject(c, n))
        .collect();
    for (subject, count) in &stored {
        assert!(
            expected.contains(subject),
            "stored, never sent: {subject:?}"
        );
        assert_eq!(*count, 1, "{subject:?} stored {count} times");
    }

    // The same bytes once more: the unknown ones now get stored (once),
    // the acknowledged ones are recognised as duplicates.
    let mut smtp = Smtp::connect(site.port).expect("connects after the restart");
    assert_eq!(smtp.reply().expect("greeting").code, 220);
    smtp.expect("EHLO again.test", 250).expect("EHLO");
    let again: Vec<(usize, usize)> = unknown
        .iter()
        .chain(acked.iter().take(5))
        .copied()
        .collect();
    for &(c, n) in &again {
        let reply = deliver(&mut smtp, c, n, || {})
            .unwrap_or_else(|e| panic!("redelivery c{c} n{n}: {e}\n{}", server.log()));
        assert_eq!(reply.code, 250, "redelivery c{c} n{n}: {reply:?}");
        // Stored before (every acknowledged one, maybe an unknown one): a
        // duplicate; else stored now.
        let expected = if stored.contains_key(&durability_subject(c, n)) {
            "already stored"
        } else {
            "stored as message"
        };
        assert!(
            reply.text.contains(expected),
            "redelivery c{c} n{n}: {reply:?}"
        );
    }
    let _ = smtp.command("QUIT");
    let stored = subjects(&site);
    for &(c, n) in acked.iter().chain(&unknown) {
        let subject = durability_subject(c, n);
        assert_eq!(
            stored.get(&subject),
            Some(&1),
            "{subject:?} after redelivery"
        );
    }
    assert_eq!(
        stored.values().sum::<usize>(),
        acked.len() + unknown.len(),
        "exactly the acknowledged and the unknown messages, once each"
    );
    assert!(
        server.wait_exit(Duration::ZERO).is_none(),
        "{}",
        server.log()
    );
}

#[test]
fn the_content_policy_refuses_and_holds_over_smtp() {
    let mut site = Site::new();
    let policy = site.dir.path().join("policy.toml");
    let rules = parley::intake::policy::rules::DEFAULT_RULES
        .replace("phrases = []", "phrases = [\"pineapple\"]")
        .replace("abuse = \"hold\"", "abuse = \"reject\"");
    std::fs::write(&policy, rules).unwrap();
    site.extra = format!("\n[intake]\npolicy_file = \"{}\"\n", policy.display());
    site.write_config();
    let server = site.serve();
    let send = |subject: &str, body: &str| {
        let header = format!("Subject: {subject}");
        swaks(
            site.port,
            &[
                "--from", MARIA, "--to", DESK, "--header", &header, "--body", body,
            ],
        )
    };
    // Refused at the end of the data, with the reason; nothing stored.
    let (code, out) = send("Lamp", "You pineapple.");
    assert_ne!(code, Some(0), "swaks succeeded:\n{out}");
    assert!(out.contains("554 5.7.1"), "{out}");
    assert!(out.contains("content policy: abuse"), "{out}");
    assert!(site.tickets().is_empty());
    // Payment off the platform: taken (250), held for a moderator.
    let (code, out) = send("Lamp", "Can I pay you with Zelle instead?");
    assert_eq!(code, Some(0), "swaks:\n{out}\nserver:\n{}", server.log());
    let held = site.json(&["moderation", "list", "--json"]);
    assert_eq!(held[0]["hits"][0]["rule"], "zelle", "{held}");
    drop(server);
}

/// A deleted ticket never threads new mail: the client's reply by SMTP to
/// its reply address (the only recipient, no intake address) is taken
/// (250) and opens a new ticket in the deleted ticket's queue; restored,
/// the old ticket takes replies again.
#[test]
fn a_reply_to_a_deleted_ticket_opens_a_new_one_over_smtp() {
    let mut site = Site::new();
    let server = site.serve();
    let send = |to: &str, subject: &str, body: &str| {
        let header = format!("Subject: {subject}");
        let (code, out) = swaks(
            site.port,
            &[
                "--from", MARIA, "--to", to, "--header", &header, "--body", body,
            ],
        );
        assert_eq!(code, Some(0), "swaks:\n{out}\nserver:\n{}", server.log());
        assert!(out.contains("250 2.0.0"), "{out}");
    };
    send(DESK, "Lamp question", "Is the lamp still available?");
    let reply = site.cli(&["tickets", "reply-address", "1", MARIA]);
    let reply = reply.trim();
    assert!(site.cli(&["tickets", "delete", "1"]).contains("deleted"));

    // No subject tag: the token alone.
    send(reply, "Re: Lamp question", "Hello? Still there?");
    let tickets = site.tickets();
    assert_eq!(
        tickets.len(),
        1,
        "the deleted one is not listed: {tickets:?}"
    );
    assert_eq!(tickets[0]["number"], 2);
    assert_eq!(tickets[0]["queue"], "desk");
    assert_eq!(tickets[0]["subject"], "Lamp question");
    let new = site.json(&["tickets", "show", "2", "--json"]);
    assert_eq!(new["messages"][0]["reply_text"], "Hello? Still there?");
    assert_eq!(new["participants"][0]["address"], MARIA);
    let old = site.json(&["tickets", "show", "1", "--json"]);
    assert_eq!(old["messages"].as_array().unwrap().len(), 1, "{old}");

    site.cli(&["tickets", "restore", "1"]);
    send(reply, "Re: [#1] Lamp question", "Found it, thanks.");
    let old = site.json(&["tickets", "show", "1", "--json"]);
    assert_eq!(old["messages"].as_array().unwrap().len(), 2, "{old}");
    drop(server);
}

/// A Maildir as Python's `mailbox.Maildir` reads it: per message its
/// sub-folder and the headers asked for.
fn python_maildir(path: &Path, headers: &[&str]) -> Vec<Value> {
    let script = "import json, mailbox, sys\n\
        box = mailbox.Maildir(sys.argv[1], factory=None, create=False)\n\
        print(json.dumps([dict([('subdir', m.get_subdir())] + \
        [(h, m[h]) for h in sys.argv[2:]]) for m in box]))\n";
    let out = Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(path)
        .args(headers)
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "python3 mailbox.Maildir: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    match serde_json::from_slice(&out.stdout).expect("JSON from python3") {
        Value::Array(list) => list,
        other => panic!("not a list: {other}"),
    }
}

/// On the embedded defaults no relay is configured: `parley serve` says
/// so at start, and the notification to the desk's staff lands in
/// `data/maildir`, complete in `new/` (nothing left in `tmp/`), readable by
/// Python's `mailbox.Maildir`. `outbox show` prints that mail, `--raw` its
/// bytes as the worker composes them.
#[test]
fn the_embedded_default_delivers_notifications_into_a_maildir() {
    if Path::new("/etc/parley/parley.toml").exists() {
        eprintln!("skipped: /etc/parley/parley.toml exists and would be layered in");
        return;
    }
    let dir = tempfile::tempdir().expect("a temporary folder");
    let cwd = dir.path();
    let server = serve_on_defaults(cwd);
    let log = server.log();
    assert!(
        log.contains("no relay configured") && log.contains("data/maildir"),
        "{log}"
    );
    let (code, out) = swaks(
        server.port,
        &[
            "--from",
            MARIA,
            "--to",
            "desk@localhost",
            "--header",
            "Subject: Is the lamp still available?",
            "--body",
            "Hello! Is it?",
        ],
    );
    assert_eq!(code, Some(0), "swaks:\n{out}\nserver:\n{}", server.log());

    let deadline = Instant::now() + IO_TIMEOUT;
    let row = loop {
        let mut list = parley(cwd);
        list.args(["outbox", "list", "--json"]);
        let rows: Value = serde_json::from_str(&succeed(list)).expect("JSON");
        if let Some(row) = rows.as_array().and_then(|r| r.first())
            && row["state"] == "sent"
        {
            break row.clone();
        }
        assert!(
            Instant::now() < deadline,
            "not sent: {rows}\n{}",
            server.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(row["recipient"], "agent@localhost", "{row}");
    assert_eq!(row["attempts"], 1, "{row}");
    let maildir = cwd.join("data/maildir");
    let file = row["last_reply"].as_str().unwrap_or_default();
    assert!(file.contains("data/maildir/new/"), "{row}");

    let token = row["token"].as_str().expect("a token");
    let message_id = row["message_id"].as_str().expect("a Message-ID");
    let read = python_maildir(&maildir, &["Subject", "Reply-To", "Message-ID", "To"]);
    assert_eq!(read.len(), 1, "{read:?}");
    let mail = &read[0];
    assert_eq!(mail["subdir"], "new", "{mail}");
    assert_eq!(
        mail["Subject"], "[#1] Is the lamp still available?",
        "{mail}"
    );
    assert_eq!(mail["Message-ID"], format!("<{message_id}>"), "{mail}");
    assert_eq!(mail["To"], "<agent@localhost>", "{mail}");
    let reply_to = mail["Reply-To"].as_str().unwrap_or_default();
    assert!(
        reply_to.ends_with(&format!("<reply+{token}@reply.localhost>")),
        "{mail}"
    );
    let left: Vec<_> = std::fs::read_dir(maildir.join("tmp"))
        .expect("tmp/")
        .collect();
    assert!(left.is_empty(), "left in tmp/: {left:?}");

    // `outbox show`: the mail as a reader sees it.
    let id = row["id"].to_string();
    let mut show = parley(cwd);
    show.args(["outbox", "show", &id]);
    let shown = succeed(show);
    for line in [
        "Subject: [#1] Is the lamp still available?",
        &format!("Message-ID: <{message_id}>"),
        &format!("Reply-To: \"Example desk\" <reply+{token}@reply.localhost>"),
        "To: <agent@localhost>",
        "Hello! Is it?",
    ] {
        assert!(shown.contains(line), "{line} missing:\n{shown}");
    }
    // `--raw`: the RFC 5322 bytes, CRLF line ends, as sent.
    let mut raw = parley(cwd);
    raw.args(["outbox", "show", &id, "--raw"]);
    let raw = succeed(raw);
    assert!(raw.starts_with("From: "), "{raw}");
    assert!(
        raw.contains("\r\nSubject: [#1] Is the lamp still available?\r\n"),
        "{raw}"
    );
    assert!(
        raw.contains(&format!("\r\nMessage-ID: <{message_id}>\r\n")),
        "{raw}"
    );
    assert!(raw.contains("Hello! Is it?"), "{raw}");
    let mut absent = parley(cwd);
    let out = absent
        .args(["outbox", "show", "999"])
        .output()
        .expect("runs");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("outbox row 999 does not exist"), "{err}");
    drop(server);
}
