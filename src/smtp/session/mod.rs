//! One SMTP or LMTP session, generic over its stream so tests can drive it
//! in memory as well as over TCP.
//!
//! Replies are buffered and written when the session is about to wait for
//! input: a pipelining client gets the replies to a whole group of commands
//! in one write. Commands are parsed with `smtp-proto`; message data goes
//! through its DATA and BDAT receivers ([`message`]), which undo dot-stuffing and end the
//! data only at `<CRLF>.<CRLF>` (a bare `<LF>.<LF>` is data, so no message
//! can be smuggled inside another).

use std::borrow::Cow;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use smtp_proto::{Error as ProtoError, MailFrom, Request};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::watch;

mod message;

use super::conn::Conn;
use super::recipients::{Target, Verdict};
use super::{Protocol, Server};

/// Room kept for the `Received:` header parley adds: `SIZE` announces the
/// intake limit less this, so the stored message still fits the limit.
pub const TRACE_ROOM: usize = 1024;

/// How the client greeted.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Greeting {
    None,
    Helo(String),
    Ehlo(String),
}

/// The envelope being built between MAIL and the end of the data.
struct Transaction {
    sender: String,
    /// Accepted recipients, normalised, with where each leads.
    recipients: Vec<(String, Target)>,
    /// Set once a BDAT chunk arrived: DATA is then out of order.
    chunked: bool,
    data: Vec<u8>,
    /// The message outgrew the size limit: its data is being discarded.
    too_big: bool,
}

/// What waiting for input gave.
enum Input {
    Data,
    Closed,
    Timeout,
    Shutdown,
}

/// What reading a command line gave.
enum Line {
    Command(Vec<u8>),
    TooLong,
    End(Input),
}

/// Whether the session goes on after a command.
#[derive(PartialEq, Eq)]
enum Flow {
    Continue,
    Close,
}

pub(super) struct Session<S> {
    conn: Conn<S>,
    server: Arc<Server>,
    /// The server's settings when the session began: a reload applies to
    /// the sessions after it.
    settings: Arc<super::Settings>,
    protocol: Protocol,
    peer: SocketAddr,
    id: String,
    input: Vec<u8>,
    /// Where unread input starts in `input`.
    start: usize,
    output: Vec<u8>,
    /// The rest of an over-long line is being skipped.
    skipping: bool,
    greeting: Greeting,
    tx: Option<Transaction>,
    errors: u32,
    messages: u64,
    shutdown: watch::Receiver<bool>,
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send> Session<S> {
    pub fn new(stream: S, server: Arc<Server>, protocol: Protocol, peer: SocketAddr) -> Self {
        let id = server.next_session_id();
        let shutdown = server.shutdown.clone();
        Session {
            conn: Conn::Plain(stream),
            settings: server.settings(),
            server,
            protocol,
            peer,
            id,
            input: Vec::with_capacity(8192),
            start: 0,
            output: Vec::with_capacity(1024),
            skipping: false,
            greeting: Greeting::None,
            tx: None,
            errors: 0,
            messages: 0,
            shutdown,
        }
    }

    /// Runs the session to its end; I/O errors end it quietly (the client
    /// went away; nothing it was not told "250" for was kept).
    pub async fn run(mut self) {
        let _open = crate::metrics::metrics().session(self.protocol == Protocol::Lmtp);
        tracing::debug!(session = %self.id, peer = %self.peer, protocol = ?self.protocol, "session opened");
        match self.serve().await {
            Ok(()) => {
                // The last reply (221, 421, 554) and a clean close, briefly.
                let close = async {
                    let _ = self.flush().await;
                    let _ = self.conn.shutdown().await;
                };
                let _ = tokio::time::timeout(Duration::from_secs(5), close).await;
            }
            Err(e) => {
                tracing::debug!(session = %self.id, error = %e, "session ended by an I/O error")
            }
        }
        tracing::debug!(session = %self.id, messages = self.messages, "session closed");
    }

    async fn serve(&mut self) -> io::Result<()> {
        if self.early_talker().await? {
            tracing::info!(session = %self.id, peer = %self.peer, "early talker refused");
            self.reply(
                554,
                "5.5.0",
                "protocol error: you talked before the greeting",
            );
            return Ok(());
        }
        let host = self.settings.hostname.clone();
        match self.protocol {
            Protocol::Smtp => self.reply(220, "", &format!("{host} ESMTP parley")),
            Protocol::Lmtp => self.reply(220, "", &format!("{host} LMTP parley")),
        }
        loop {
            if self.tx.is_none() && *self.shutdown.borrow() {
                return self.shutting_down();
            }
            let line = match self.next_line().await? {
                Line::Command(line) => line,
                Line::TooLong => {
                    if self.error(500, "5.5.2", "line too long") == Flow::Close {
                        return Ok(());
                    }
                    continue;
                }
                Line::End(Input::Timeout) => {
                    self.reply(421, "4.4.2", &format!("{host} timeout, closing"));
                    return Ok(());
                }
                Line::End(Input::Shutdown) => return self.shutting_down(),
                Line::End(Input::Closed | Input::Data) => return Ok(()),
            };
            if self.command(&line).await? == Flow::Close {
                return Ok(());
            }
        }
    }

    fn shutting_down(&mut self) -> io::Result<()> {
        let host = &self.settings.hostname;
        let text = format!("{host} shutting down, try again later");
        self.reply(421, "4.3.2", &text);
        Ok(())
    }

    /// Waits `greeting_delay` (at least one look) for input that arrives
    /// before the greeting: a real MTA never sends it.
    async fn early_talker(&mut self) -> io::Result<bool> {
        let delay = self.settings.greeting_delay;
        let mut probe = [0u8; 1];
        let read = self.conn.read(&mut probe);
        let early = if delay.is_zero() {
            // One look without a timer: a zero timeout would still wait for
            // the timer's next tick (a millisecond on every connection).
            futures_util::FutureExt::now_or_never(read)
        } else {
            tokio::time::timeout(delay, read).await.ok()
        };
        match early {
            Some(Ok(n)) => Ok(n > 0),
            Some(Err(e)) => Err(e),
            None => Ok(false),
        }
    }

    async fn command(&mut self, line: &[u8]) -> io::Result<Flow> {
        let request = match Request::parse(&mut line.iter()) {
            Ok(request) => request,
            Err(e) => return Ok(self.syntax_error(e)),
        };
        match request {
            Request::Ehlo { host } | Request::Helo { host } | Request::Lhlo { host } => {
                Ok(self.hello(line, &host))
            }
            Request::Mail { from } => Ok(self.mail(from)),
            Request::Rcpt { to } => Ok(self.rcpt(&to.address).await),
            Request::Data => self.data().await,
            Request::Bdat {
                chunk_size,
                is_last,
            } => self.bdat(chunk_size, is_last).await,
            Request::Rset => {
                self.tx = None;
                self.reply(250, "2.0.0", "OK");
                Ok(Flow::Continue)
            }
            Request::Noop { .. } => {
                self.reply(250, "2.0.0", "OK");
                Ok(Flow::Continue)
            }
            Request::Vrfy { .. } => {
                self.reply(
                    252,
                    "2.5.2",
                    "cannot verify the user, but will take mail for it",
                );
                Ok(Flow::Continue)
            }
            Request::Help { .. } => {
                self.reply(
                    214,
                    "2.0.0",
                    "see RFC 5321; this server takes mail for its own addresses only",
                );
                Ok(Flow::Continue)
            }
            Request::Quit => {
                self.reply(221, "2.0.0", "bye");
                Ok(Flow::Close)
            }
            Request::StartTls => self.starttls().await,
            Request::Expn { .. }
            | Request::Auth { .. }
            | Request::Etrn { .. }
            | Request::Atrn { .. }
            | Request::Burl { .. } => Ok(self.error(502, "5.5.1", "command not implemented")),
        }
    }

    fn syntax_error(&mut self, e: ProtoError) -> Flow {
        let text: Cow<'_, str> = match &e {
            ProtoError::UnknownCommand => "unknown command".into(),
            ProtoError::InvalidSenderAddress => {
                return self.error(501, "5.1.7", "bad sender address syntax");
            }
            ProtoError::InvalidRecipientAddress => {
                return self.error(501, "5.1.3", "bad recipient address syntax");
            }
            ProtoError::SyntaxError { syntax } => format!("syntax: {syntax}").into(),
            ProtoError::InvalidParameter { param } => format!("invalid parameter {param}").into(),
            ProtoError::UnsupportedParameter { param } => {
                let text = format!("unsupported parameter {}", printable(param, 64));
                return self.error(555, "5.5.4", &text);
            }
            _ => "command not understood".into(),
        };
        let code = if matches!(e, ProtoError::UnknownCommand) {
            (500, "5.5.1")
        } else {
            (501, "5.5.4")
        };
        self.error(code.0, code.1, &text)
    }

    fn hello(&mut self, line: &[u8], host: &str) -> Flow {
        let verb = line.get(..4).map(|v| v.to_ascii_uppercase());
        let lhlo = verb.as_deref() == Some(b"LHLO");
        match (self.protocol, lhlo) {
            (Protocol::Lmtp, false) => return self.error(500, "5.5.1", "this is LMTP: say LHLO"),
            (Protocol::Smtp, true) => {
                return self.error(500, "5.5.1", "this is SMTP: say EHLO or HELO");
            }
            _ => {}
        }
        self.tx = None;
        let host = printable(host, 255);
        let me = self.settings.hostname.clone();
        if verb.as_deref() == Some(b"HELO") {
            self.reply(250, "", &format!("{me} hello {host}"));
            self.greeting = Greeting::Helo(host);
            return Flow::Continue;
        }
        let mut lines = vec![
            format!("{me} hello {host} [{}]", self.peer.ip()),
            "PIPELINING".to_string(),
            format!("SIZE {}", self.size_limit()),
            "8BITMIME".to_string(),
            "SMTPUTF8".to_string(),
            "ENHANCEDSTATUSCODES".to_string(),
            "CHUNKING".to_string(),
        ];
        if self.settings.tls.is_some() && !self.conn.is_tls() {
            lines.push("STARTTLS".to_string());
        }
        self.reply_lines(250, &lines);
        self.greeting = Greeting::Ehlo(host);
        Flow::Continue
    }

    fn size_limit(&self) -> usize {
        self.settings.max_message_bytes
    }

    fn mail(&mut self, from: MailFrom<Cow<'_, str>>) -> Flow {
        if self.greeting == Greeting::None {
            return self.error(503, "5.5.1", "say hello first (EHLO)");
        }
        if self.tx.is_some() {
            return self.error(503, "5.5.1", "nested MAIL command");
        }
        if from.size > self.size_limit() {
            let text = format!(
                "message size exceeds the limit of {} bytes",
                self.size_limit()
            );
            self.reply(552, "5.3.4", &text);
            return Flow::Continue;
        }
        if from.flags & (smtp_proto::MAIL_BODY_BINARYMIME | smtp_proto::MAIL_REQUIRETLS) != 0 {
            return self.error(
                555,
                "5.5.4",
                "BODY=BINARYMIME and REQUIRETLS are not offered",
            );
        }
        self.tx = Some(Transaction {
            sender: from.address.into_owned(),
            recipients: Vec::new(),
            chunked: false,
            data: Vec::new(),
            too_big: false,
        });
        self.reply(250, "2.1.0", "sender OK");
        Flow::Continue
    }

    async fn rcpt(&mut self, address: &str) -> Flow {
        let max = self.settings.max_recipients;
        let Some(tx) = &self.tx else {
            return self.error(503, "5.5.1", "need MAIL before RCPT");
        };
        if tx.recipients.len() >= max {
            self.reply(
                452,
                "4.5.3",
                &format!("too many recipients (at most {max})"),
            );
            return Flow::Continue;
        }
        let shown = printable(address, 254);
        if address.is_empty() {
            return self.error(501, "5.1.3", "the null address is no recipient");
        }
        match self.server.intake.recipient(address).await.map(Verdict::of) {
            Ok(Verdict::Accept(target)) => {
                let text = match target {
                    Target::Stale => {
                        tracing::info!(session = %self.id, recipient = %shown, "reply address with a token that does not verify: taken provisionally");
                        "recipient OK provisionally: its reply token does not verify, \
                         so the message must name its ticket (References or subject tag)"
                    }
                    _ => "recipient OK",
                };
                let normalized = crate::address::normalize(address);
                if let Some(tx) = &mut self.tx
                    && !tx.recipients.iter().any(|(r, _)| *r == normalized)
                {
                    tx.recipients.push((normalized, target));
                }
                self.reply(250, "2.1.5", text);
                Flow::Continue
            }
            Ok(Verdict::ForgedBounce) => {
                tracing::info!(session = %self.id, recipient = %shown, "forged bounce address refused");
                self.error(
                    550,
                    "5.1.1",
                    &format!("<{shown}>: bounce address not valid"),
                )
            }
            Ok(Verdict::Unknown) => {
                self.error(550, "5.1.1", &format!("<{shown}>: no such recipient here"))
            }
            Err(e) => {
                tracing::error!(session = %self.id, error = ?e, "recipient lookup failed");
                self.reply(
                    451,
                    "4.3.0",
                    "temporary failure looking up the recipient; try again later",
                );
                Flow::Continue
            }
        }
    }

    async fn starttls(&mut self) -> io::Result<Flow> {
        let Some(acceptor) = self.settings.tls.clone() else {
            return Ok(self.error(502, "5.5.1", "STARTTLS not offered"));
        };
        if self.conn.is_tls() {
            return Ok(self.error(503, "5.5.1", "TLS already active"));
        }
        if !matches!(self.greeting, Greeting::Ehlo(_)) {
            return Ok(self.error(503, "5.5.1", "say EHLO first"));
        }
        self.reply(220, "2.0.0", "ready to start TLS");
        self.flush().await?;
        // Anything the client sent after STARTTLS in plain text is dropped
        // (RFC 3207 §5: it must not be taken as coming over TLS).
        self.input.clear();
        self.start = 0;
        let Conn::Plain(plain) = std::mem::replace(&mut self.conn, Conn::Taken) else {
            return Ok(Flow::Close);
        };
        let timeout = self.settings.command_timeout;
        match tokio::time::timeout(timeout, acceptor.accept(plain)).await {
            Ok(Ok(tls)) => {
                self.conn = Conn::Tls(Box::new(tls));
                self.greeting = Greeting::None;
                self.tx = None;
                Ok(Flow::Continue)
            }
            Ok(Err(e)) => {
                tracing::info!(session = %self.id, error = %e, "TLS handshake failed");
                Ok(Flow::Close)
            }
            Err(_) => Ok(Flow::Close),
        }
    }

    /// Answers an error and counts it; past the limit the session ends.
    fn error(&mut self, code: u16, esc: &str, text: &str) -> Flow {
        self.reply(code, esc, text);
        self.errors += 1;
        if self.errors >= self.settings.max_bad_commands {
            tracing::info!(session = %self.id, peer = %self.peer, "too many errors; closing");
            let host = self.settings.hostname.clone();
            self.reply(421, "4.7.0", &format!("{host} too many errors, closing"));
            return Flow::Close;
        }
        Flow::Continue
    }

    fn reply(&mut self, code: u16, esc: &str, text: &str) {
        use std::io::Write;
        crate::metrics::metrics().reply(code);
        let _ = if esc.is_empty() {
            write!(self.output, "{code} {text}\r\n")
        } else {
            write!(self.output, "{code} {esc} {text}\r\n")
        };
    }

    fn reply_lines(&mut self, code: u16, lines: &[String]) {
        use std::io::Write;
        crate::metrics::metrics().reply(code);
        for (i, line) in lines.iter().enumerate() {
            let sep = if i + 1 == lines.len() { ' ' } else { '-' };
            let _ = write!(self.output, "{code}{sep}{line}\r\n");
        }
    }

    /// Writes the pending replies. A client that does not read them within
    /// the command timeout is gone (its session ends).
    async fn flush(&mut self) -> io::Result<()> {
        if self.output.is_empty() {
            return Ok(());
        }
        let write = async {
            self.conn.write_all(&self.output).await?;
            self.conn.flush().await
        };
        match tokio::time::timeout(self.settings.command_timeout, write).await {
            Ok(result) => result?,
            Err(_) => {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "the client does not read its replies",
                ));
            }
        }
        self.output.clear();
        Ok(())
    }

    /// The next command line (LF-terminated, CR optional); over-long lines
    /// are skipped to their end and reported once.
    async fn next_line(&mut self) -> io::Result<Line> {
        let max = self.settings.max_line_length;
        loop {
            let pending = &self.input[self.start..];
            if let Some(pos) = pending.iter().position(|&b| b == b'\n') {
                let line = (!self.skipping && pos < max).then(|| pending[..=pos].to_vec());
                self.start += pos + 1;
                self.skipping = false;
                return Ok(match line {
                    Some(line) => Line::Command(line),
                    None => Line::TooLong,
                });
            }
            if pending.len() >= max {
                self.start = self.input.len();
                self.skipping = true;
            }
            let watch = self.tx.is_none();
            let timeout = self.settings.command_timeout;
            match self.read_more(timeout, watch).await? {
                Input::Data => {}
                other => return Ok(Line::End(other)),
            }
        }
    }

    /// Sends pending replies, then reads more input. Watches for shutdown
    /// only when asked (between transactions).
    async fn read_more(&mut self, timeout: Duration, watch: bool) -> io::Result<Input> {
        self.flush().await?;
        if self.start > 0 {
            self.input.drain(..self.start);
            self.start = 0;
        }
        if self.input.capacity() - self.input.len() < 4096 {
            self.input.reserve(16 * 1024);
        }
        let read = tokio::time::timeout(timeout, self.conn.read_buf(&mut self.input));
        let shutdown = self.shutdown.changed();
        tokio::select! {
            result = read => match result {
                Err(_) => Ok(Input::Timeout),
                Ok(Ok(0)) => Ok(Input::Closed),
                Ok(Ok(_)) => Ok(Input::Data),
                Ok(Err(e)) => Err(e),
            },
            _ = shutdown, if watch => Ok(Input::Shutdown),
        }
    }
}

/// Text from the client made safe for a reply or a header: printable,
/// one line, at most `max` characters.
fn printable(text: &str, max: usize) -> String {
    text.chars()
        .take(max)
        .map(|c| {
            if c.is_control() || c == '(' || c == ')' {
                '?'
            } else {
                c
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::printable;

    #[test]
    fn printable_strips_controls_and_limits_length() {
        assert_eq!(printable("a\r\nb(c)", 10), "a??b?c?");
        assert_eq!(printable("abcdef", 3), "abc");
    }
}
