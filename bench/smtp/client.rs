//! The clients bench/smtp drives servers with: Postfix's `smtp-source`
//! (one per instance, all at once) and a client of our own that times each
//! transaction; and the idle sessions of the memory figure. Included by
//! bench/smtp.rs with `#[path]`.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::proc::cpu_seconds;
use super::{INTAKE, Measured, SENDER};

/// `total` split into `parts` shares as even as can be; share `i`.
fn share(total: usize, parts: usize, i: usize) -> usize {
    total / parts + usize::from(i < total % parts)
}

/// Runs smtp-source against the servers on `ports` (processes `servers`)
/// and times it: one smtp-source per port, all at once, the sessions and
/// messages split among them; the time is that of the last to finish. Its
/// errors are what they printed on stderr.
pub fn smtp_source(
    path: &Path,
    ports: &[u16],
    sessions: usize,
    messages: usize,
    size: usize,
    reuse: bool,
    servers: &[u32],
) -> Measured {
    let commands = ports.iter().enumerate().map(|(i, port)| {
        let mut cmd = Command::new(path);
        let sessions = share(sessions, ports.len(), i).max(1);
        let messages = share(messages, ports.len(), i);
        cmd.args(["-s", &sessions.to_string(), "-m", &messages.to_string()])
            .args(["-l", &size.to_string(), "-f", SENDER, "-t", INTAKE]);
        if reuse {
            cmd.arg("-d");
        }
        cmd.arg(format!("127.0.0.1:{port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        cmd
    });
    let children_before = cpu_seconds("self", true);
    let server_before = servers_cpu(servers);
    let start = Instant::now();
    let children: Vec<_> = commands
        .map(|mut cmd| cmd.spawn().expect("run smtp-source"))
        .collect();
    let mut errors = Vec::new();
    for child in children {
        let out = child.wait_with_output().expect("wait for smtp-source");
        let printed = String::from_utf8_lossy(&out.stderr).trim().to_string();
        if !printed.is_empty() {
            errors.push(printed);
        }
        if !out.status.success() {
            errors.push(format!("(exit: {})", out.status));
        }
    }
    let seconds = start.elapsed().as_secs_f64();
    let server_cpu = servers_cpu(servers) - server_before;
    let client_cpu = cpu_seconds("self", true) - children_before;
    Measured {
        seconds,
        server_cpu,
        client_cpu,
        latency: None,
        acked: 0,
        errors: errors.join(" "),
    }
}

fn servers_cpu(pids: &[u32]) -> f64 {
    pids.iter()
        .map(|pid| cpu_seconds(&pid.to_string(), false))
        .sum()
}

// ---------------------------------------------------------------- our client

/// `threads` sessions, spread over `ports` in turn, each EHLO once, then
/// `per_thread` transactions (MAIL, RCPT and DATA in one write, then the
/// message), timed from MAIL to the reply after the dot.
pub fn own_client(
    ports: &[u16],
    threads: usize,
    per_thread: usize,
    size: usize,
    servers: &[u32],
    label: &str,
) -> Measured {
    let body = Arc::new(body(size));
    let tag = format!("{label}-{size}-{}", std::process::id());
    let server_before = servers_cpu(servers);
    let own_before = cpu_seconds("self", false);
    let start = Instant::now();
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let body = body.clone();
            let tag = tag.clone();
            let port = ports[t % ports.len()];
            std::thread::spawn(move || session(port, t, per_thread, &body, &tag))
        })
        .collect();
    let mut times = Vec::new();
    let mut errors = Vec::new();
    let mut acked = 0;
    for handle in handles {
        let (t, a, e) = handle.join().expect("client thread");
        times.extend(t);
        acked += a;
        errors.extend(e);
    }
    let seconds = start.elapsed().as_secs_f64();
    let server_cpu = servers_cpu(servers) - server_before;
    let client_cpu = cpu_seconds("self", false) - own_before;
    times.sort();
    let pct = |p: usize| {
        times
            .get((times.len() * p / 100).min(times.len().saturating_sub(1)))
            .copied()
            .unwrap_or_default()
    };
    errors.truncate(5);
    Measured {
        seconds,
        server_cpu,
        client_cpu,
        latency: Some((pct(50), pct(99))),
        acked,
        errors: errors.join("; "),
    }
}

/// A body of about `size` bytes in 78-character lines (none starts with a
/// dot, so no stuffing is needed).
fn body(size: usize) -> Vec<u8> {
    let mut body = Vec::with_capacity(size + 100);
    let mut n = 0;
    while body.len() < size {
        let _ = write!(
            body,
            "{n:05} the oak sideboard, its drawers and the brass handles, collected Saturday.\r\n"
        );
        n += 1;
    }
    body
}

fn session(
    port: u16,
    thread: usize,
    count: usize,
    body: &[u8],
    tag: &str,
) -> (Vec<Duration>, usize, Vec<String>) {
    let mut times = Vec::with_capacity(count);
    let mut errors = Vec::new();
    let mut acked = 0;
    let result = (|| -> std::io::Result<()> {
        let mut stream = TcpStream::connect(("127.0.0.1", port))?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(Duration::from_secs(120)))?;
        let mut reader = BufReader::new(stream.try_clone()?);
        expect(&mut reader, 220, "greeting")?;
        stream.write_all(b"EHLO client.bench.test\r\n")?;
        expect(&mut reader, 250, "EHLO")?;
        let envelope = format!("MAIL FROM:<{SENDER}>\r\nRCPT TO:<{INTAKE}>\r\nDATA\r\n");
        let mut message = Vec::with_capacity(body.len() + 512);
        for i in 0..count {
            message.clear();
            let _ = write!(
                message,
                "From: Bidder {thread} <{SENDER}>\r\nTo: <{INTAKE}>\r\nSubject: Lot {i}\r\n\
                 Date: Sat, 21 Nov 2026 10:00:00 +0000\r\n\
                 Message-ID: <{tag}-{thread}-{i}@client.bench.test>\r\n\r\n"
            );
            message.extend_from_slice(body);
            message.extend_from_slice(b".\r\n");
            let start = Instant::now();
            stream.write_all(envelope.as_bytes())?;
            expect(&mut reader, 250, "MAIL")?;
            expect(&mut reader, 250, "RCPT")?;
            expect(&mut reader, 354, "DATA")?;
            stream.write_all(&message)?;
            expect(&mut reader, 250, "end of data")?;
            times.push(start.elapsed());
            acked += 1;
        }
        stream.write_all(b"QUIT\r\n")?;
        let _ = read_reply(&mut reader);
        Ok(())
    })();
    if let Err(e) = result {
        errors.push(format!("session {thread}: {e}"));
    }
    (times, acked, errors)
}

/// Reads one (possibly multi-line) reply: its code and last line.
pub fn read_reply(reader: &mut impl BufRead) -> std::io::Result<(u16, String)> {
    let mut line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "connection closed",
            ));
        }
        let bytes = line.as_bytes();
        if bytes.len() < 4 || bytes[3] != b'-' {
            let code = line.get(..3).and_then(|c| c.parse().ok()).unwrap_or(0);
            return Ok((code, line.trim_end().to_string()));
        }
    }
}

fn expect(reader: &mut impl BufRead, code: u16, what: &str) -> std::io::Result<()> {
    let (got, text) = read_reply(reader)?;
    if got == code {
        Ok(())
    } else {
        Err(std::io::Error::other(format!(
            "{what}: expected {code}, got {text:?}"
        )))
    }
}

/// Opens `count` sessions and leaves them idle after EHLO.
pub fn idle_sessions(port: u16, count: usize) -> (Vec<TcpStream>, String) {
    let mut open = Vec::with_capacity(count);
    let mut error = String::new();
    for i in 0..count {
        let session = (|| -> std::io::Result<TcpStream> {
            let stream = TcpStream::connect(("127.0.0.1", port))?;
            stream.set_read_timeout(Some(Duration::from_secs(10)))?;
            let mut reader = BufReader::new(&stream);
            expect(&mut reader, 220, "greeting")?;
            (&stream).write_all(format!("EHLO idle{i}.bench.test\r\n").as_bytes())?;
            expect(&mut reader, 250, "EHLO")?;
            Ok(stream)
        })();
        match session {
            Ok(s) => open.push(s),
            Err(e) => {
                error = format!("session {i}: {e}");
                break;
            }
        }
    }
    (open, error)
}
