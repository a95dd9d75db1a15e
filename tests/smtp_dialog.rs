//! SMTP and LMTP dialog tests: scripts of client lines and expected reply
//! codes (in the manner of chasquid's), run against a listener on port 0 of
//! 127.0.0.1 with a real store behind it.
//!
//! Script lines:
//! - `C: text`  send `text` + CRLF; consecutive `C:` lines go in one write
//!   (that is how pipelining is tested);
//! - `R: text`  send `text` as is, with `\r`, `\n` and `\t` unescaped, in
//!   its own write (data, odd line endings);
//! - `S: 250 2.1.5` read one reply; its last line must start so;
//! - `S+ text` / `S- text` the reply last read does / does not contain text;
//! - `CLOSED`   the server closed the connection.

mod common;
#[path = "smtp_dialog/harness.rs"]
mod harness;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use common::*;
use harness::{Client, Harness, data};
use parley::smtp::Protocol;
use sqlx::Connection;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[tokio::test]
async fn every_command_and_a_delivery() {
    let h = Harness::start(|_| {}).await;
    let mut c = h
        .dialog(
            "C: EHLO client.test
             S: 250 CHUNKING
             S+ 250-PIPELINING
             S+ 250-SIZE
             S+ 250-8BITMIME
             S+ 250-SMTPUTF8
             S+ 250-ENHANCEDSTATUSCODES
             S- STARTTLS
             C: HELO client.test
             S: 250 mx.test
             C: NOOP
             S: 250 2.0.0
             C: VRFY maria
             S: 252 2.5.2
             C: HELP
             S: 214
             C: EXPN staff
             S: 502 5.5.1
             C: MAIL FROM:<maria@buyer.example>
             S: 250 2.1.0
             C: RSET
             S: 250 2.0.0
             C: MAIL FROM:<maria@buyer.example>
             S: 250 2.1.0
             C: RCPT TO:<desk@shop.example>
             S: 250 2.1.5
             C: DATA
             S: 354",
        )
        .await;
    c.run(&data(
        MARIA,
        DESK,
        "Is the lamp still there?",
        "Hello, is it?",
    ))
    .await;
    c.run("S: 250 2.0.0\nS+ ticket 1\nC: QUIT\nS: 221 2.0.0\nCLOSED")
        .await;

    let ticket = h.env.ticket(1).await;
    assert_eq!(ticket.subject, "Is the lamp still there?");
    let raws = h.raw_messages().await;
    assert_eq!(raws.len(), 1);
    let raw = &raws[0];
    assert!(
        raw.text.starts_with(
            "Received: from client.test ([127.0.0.1])\r\n\tby mx.test (parley) with SMTP id "
        ),
        "{}",
        raw.text
    );
    assert!(raw.text.contains("\tfor <desk@shop.example>;\r\n"));
    assert!(raw.text.contains("\r\n\r\nHello, is it?\r\n"));
    assert!(
        !raw.text.ends_with(".\r\n"),
        "the terminating dot is not data"
    );
    assert_eq!(raw.from.as_deref(), Some(MARIA));
    assert_eq!(raw.to, r#"["desk@shop.example"]"#);
    assert_eq!(raw.source, "smtp");
    h.stop().await;
}

#[tokio::test]
async fn commands_out_of_order() {
    let h = Harness::start(|_| {}).await;
    h.dialog(
        "C: MAIL FROM:<maria@buyer.example>
         S: 503 5.5.1
         C: EHLO client.test
         S: 250
         C: RCPT TO:<desk@shop.example>
         S: 503 5.5.1
         C: DATA
         S: 503 5.5.1
         C: MAIL FROM:<maria@buyer.example>
         S: 250
         C: MAIL FROM:<maria@buyer.example>
         S: 503 5.5.1
         C: DATA
         S: 554 5.5.1
         C: FOO bar
         S: 500 5.5.1
         C: MAIL FROM:maria
         S: 501
         C: RCPT TO:<>
         S: 501
         C: STARTTLS
         S: 502 5.5.1
         C: AUTH PLAIN AGhpAGhp
         S: 502 5.5.1
         C: QUIT
         S: 221",
    )
    .await;
    assert_eq!(h.env.counts().await.raws, 0);
    h.stop().await;
}

#[tokio::test]
async fn pipelined_commands_get_their_replies_in_order() {
    let h = Harness::start(|_| {}).await;
    let mut c = h
        .dialog(
            "C: EHLO client.test
             S: 250
             C: MAIL FROM:<maria@buyer.example>
             C: RCPT TO:<someone@elsewhere.example>
             C: RCPT TO:<desk@shop.example>
             C: RCPT TO:<books@shop.example>
             C: DATA
             S: 250 2.1.0
             S: 550 5.1.1
             S+ someone@elsewhere.example
             S: 250 2.1.5
             S: 250 2.1.5
             S: 354",
        )
        .await;
    // The data and the next transaction in one write.
    let message = data(MARIA, DESK, "Two queues", "For both of you.");
    c.run(&format!(
        "{message}\nC: MAIL FROM:<bob@buyer.example>\nC: RCPT TO:<desk@shop.example>\nC: RSET\nC: NOOP\n\
         S: 250 2.0.0\nS: 250 2.1.0\nS: 250 2.1.5\nS: 250 2.0.0\nS: 250 2.0.0"
    ))
    .await;
    let raws = h.raw_messages().await;
    assert_eq!(raws.len(), 1, "one stored copy for two recipients");
    assert_eq!(raws[0].to, r#"["desk@shop.example","books@shop.example"]"#);
    assert!(
        !raws[0].text.contains("\tfor <"),
        "no `for` with two recipients"
    );
    // Threaded for each recipient: a ticket in each queue.
    let tickets = h.env.store().tickets(&Default::default()).await.unwrap();
    let mut queues: Vec<String> = tickets.iter().map(|t| t.queue.clone()).collect();
    queues.sort();
    assert_eq!(queues, ["books", "desk"]);
    h.stop().await;
}

/// Taken at RCPT: reply addresses (those whose token does not verify only
/// provisionally: see the key rotation tests below), bounce addresses with
/// a valid token, intake addresses. Refused: everything else.
#[tokio::test]
async fn recipients_are_checked_at_rcpt() {
    let h = Harness::start(|_| {}).await;
    let ticket = h.env.open_ticket(MARIA, "Old lamp").await;
    let reply = h.env.reply_address(ticket, MARIA).await;
    // Change one character of the token: the signature no longer holds.
    let (local, domain) = reply.split_once('@').unwrap();
    let last = local.chars().last().unwrap();
    let other = if last == 'a' { 'b' } else { 'a' };
    let forged = format!("{}{other}@{domain}", &local[..local.len() - 1]);
    let bounce = format!("bounce+{}@{REPLY_DOMAIN}", h.env.signer().bounce_token(1));
    let forged_bounce = format!("{}a", h.env.signer().bounce_token(1));
    let mut c = h
        .dialog(&format!(
            "C: EHLO client.test
             S: 250
             C: MAIL FROM:<maria@buyer.example>
             S: 250
             C: RCPT TO:<{forged}>
             S: 250 2.1.5
             S+ provisionally
             C: RCPT TO:<bounce+{forged_bounce}@{REPLY_DOMAIN}>
             S: 550 5.1.1
             S+ bounce address not valid
             C: RCPT TO:<reply+@{REPLY_DOMAIN}>
             S: 550 5.1.1
             C: RCPT TO:<somebody@gmail.example>
             S: 550 5.1.1
             C: RCPT TO:<{bounce}>
             S: 250 2.1.5
             C: RCPT TO:<DESK@Shop.Example>
             S: 250 2.1.5
             C: RSET
             S: 250
             C: MAIL FROM:<maria@buyer.example>
             S: 250
             C: RCPT TO:<{reply}>
             S: 250 2.1.5
             C: DATA
             S: 354"
        ))
        .await;
    c.run(&data(MARIA, &reply, "Re: Old lamp", "Still there?"))
        .await;
    c.run("S: 250 2.0.0").await;
    let messages = h.env.store().messages(ticket).await.unwrap();
    assert_eq!(messages.len(), 2, "the reply threads onto the ticket");
    assert_eq!(messages[1].matched_by, "token");
    h.stop().await;
}

#[tokio::test]
async fn size_is_announced_checked_at_mail_and_enforced_while_reading() {
    let h = Harness::start(|s| s.max_message_bytes = 2000).await;
    let big = "x".repeat(70);
    let body: String = (0..40).map(|_| format!("{big}\\r\\n")).collect();
    let mut c = h
        .dialog(
            "C: EHLO client.test
             S: 250
             S+ 250-SIZE 2000
             C: MAIL FROM:<maria@buyer.example> SIZE=2001
             S: 552 5.3.4
             C: MAIL FROM:<maria@buyer.example> SIZE=1500
             S: 250
             C: RCPT TO:<desk@shop.example>
             S: 250
             C: DATA
             S: 354",
        )
        .await;
    c.run(&format!(
        "R: Subject: too big\\r\\n\\r\\n{body}.\\r\\n\nS: 552 5.3.4"
    ))
    .await;
    // The session goes on; the next message fits.
    c.run(
        "C: MAIL FROM:<maria@buyer.example>
         C: RCPT TO:<desk@shop.example>
         C: DATA
         S: 250
         S: 250
         S: 354",
    )
    .await;
    c.run(&data(MARIA, DESK, "small", "fits")).await;
    c.run("S: 250 2.0.0").await;
    // BDAT: the chunk that crosses the limit is refused, and so is LAST.
    c.run(&format!(
        "C: MAIL FROM:<maria@buyer.example>
         C: RCPT TO:<desk@shop.example>
         S: 250
         S: 250
         R: BDAT 1000\\r\\n{a}
         S: 250 2.0.0
         R: BDAT 1500\\r\\n{b}
         S: 552 5.3.4
         R: BDAT 3 LAST\\r\\nabc
         S: 552 5.3.4
         C: NOOP
         S: 250",
        a = "a".repeat(1000),
        b = "b".repeat(1500),
    ))
    .await;
    let raws = h.raw_messages().await;
    assert_eq!(raws.len(), 1, "only the message that fits is stored");
    assert!(raws[0].text.contains("Subject: small"));
    h.stop().await;
}

#[tokio::test]
async fn bdat_chunks() {
    let h = Harness::start(|_| {}).await;
    let head = "Subject: chunked\r\nFrom: maria@buyer.example\r\n\r\n";
    let body = "line one\r\n.line with a dot, not stuffed in BDAT\r\n";
    let esc = |s: &str| s.replace('\r', "\\r").replace('\n', "\\n");
    h.dialog(&format!(
        "R: BDAT 3\\r\\nabc
         S: 503 5.5.1
         C: EHLO client.test
         S: 250
         C: MAIL FROM:<maria@buyer.example>
         C: RCPT TO:<desk@shop.example>
         S: 250
         S: 250
         R: BDAT {h_len}\\r\\n{head}BDAT {b_len}\\r\\n{body}
         S: 250 2.0.0 {h_len} octets
         S: 250 2.0.0 {b_len} octets
         C: DATA
         S: 503 5.5.1
         C: BDAT 0 LAST
         S: 250 2.0.0
         S+ ticket 1",
        h_len = head.len(),
        b_len = body.len(),
        head = esc(head),
        body = esc(body),
    ))
    .await;
    // The chunk of the refused BDAT was read and dropped, not taken as
    // commands; the one message is the chunks joined, byte for byte.
    let raws = h.raw_messages().await;
    assert_eq!(raws.len(), 1);
    assert!(
        raws[0].text.ends_with(&format!("{head}{body}")),
        "{}",
        raws[0].text
    );
    h.stop().await;
}

#[tokio::test]
async fn dot_stuffing_and_no_smuggling() {
    let h = Harness::start(|_| {}).await;
    // A stuffed line loses one dot. A bare-LF dot line does not end the
    // data, so the "smuggled" MAIL inside it stays data: one message, one
    // reply.
    h.dialog(
        r"C: EHLO client.test
          S: 250
          C: MAIL FROM:<maria@buyer.example>
          C: RCPT TO:<desk@shop.example>
          C: DATA
          S: 250
          S: 250
          S: 354
          R: Subject: dots\r\nFrom: maria@buyer.example\r\n\r\n..leading dot\r\n...two\r\nsmuggle\n.\nMAIL FROM:<mallory@evil.example>\r\nalso\r.\rnot an end\r\n
          R: .\r\n
          S: 250 2.0.0
          C: NOOP
          S: 250 2.0.0",
    )
    .await;
    let raws = h.raw_messages().await;
    assert_eq!(raws.len(), 1);
    let text = &raws[0].text;
    assert!(text.contains("\r\n.leading dot\r\n..two\r\n"), "{text}");
    assert!(
        text.contains("smuggle\n.\nMAIL FROM:<mallory@evil.example>\r\n"),
        "{text}"
    );
    assert!(text.contains("also\r.\rnot an end\r\n"), "{text}");
    h.stop().await;
}

#[tokio::test]
async fn line_ending_oddities_and_long_lines() {
    let h = Harness::start(|s| s.max_line_length = 600).await;
    let long = "x".repeat(700);
    h.dialog(&format!(
        r"R: EHLO client.test\n
          S: 250
          R: NOOP\r\nNOOP\n
          S: 250 2.0.0
          S: 250 2.0.0
          R: NOOP {long}\r\n
          S: 500 5.5.2
          R: NO
          R: OP\r\n
          S: 250 2.0.0
          R: \r\n
          S: 500
          C: QUIT
          S: 221"
    ))
    .await;
    h.stop().await;
}

#[tokio::test]
async fn too_many_recipients() {
    let h = Harness::start(|s| s.max_recipients = 2).await;
    h.dialog(&format!(
        "C: EHLO client.test
         S: 250
         C: MAIL FROM:<maria@buyer.example>
         C: RCPT TO:<{DESK}>
         C: RCPT TO:<{BOOKS}>
         C: RCPT TO:<{DESK}>
         S: 250
         S: 250 2.1.5
         S: 250 2.1.5
         S: 452 4.5.3"
    ))
    .await;
    h.stop().await;
}

#[tokio::test]
async fn too_many_bad_commands_end_the_session() {
    let h = Harness::start(|s| s.max_bad_commands = 3).await;
    h.dialog(
        "C: EHLO client.test
         S: 250
         C: FOO
         S: 500 5.5.1
         C: RCPT TO:<desk@shop.example>
         S: 503 5.5.1
         C: BAR
         S: 500 5.5.1
         S: 421 4.7.0
         CLOSED",
    )
    .await;
    h.stop().await;
}

#[tokio::test]
async fn command_and_data_timeouts() {
    let h = Harness::start(|s| {
        s.command_timeout = Duration::from_millis(300);
        s.data_timeout = Duration::from_millis(300);
    })
    .await;
    h.dialog("C: EHLO client.test\nS: 250\nS: 421 4.4.2\nCLOSED")
        .await;
    h.dialog(
        "C: EHLO client.test
         S: 250
         C: MAIL FROM:<maria@buyer.example>
         C: RCPT TO:<desk@shop.example>
         C: DATA
         S: 250
         S: 250
         S: 354
         R: Subject: half a message\r\n
         S: 421 4.4.2
         CLOSED",
    )
    .await;
    assert_eq!(h.raw_messages().await.len(), 0, "a cut message is not kept");
    h.stop().await;
}

#[tokio::test]
async fn connection_limits() {
    let h = Harness::start(|s| s.max_connections_per_ip = 2).await;
    let first = h.dialog("C: NOOP\nS: 250").await;
    let _second = h.dialog("C: NOOP\nS: 250").await;
    let mut third = h.connect().await;
    third
        .run("S: 421 4.7.0\nS+ from your address\nCLOSED")
        .await;
    drop(first);
    // The slot frees when the first session ends.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let mut c = h.connect().await;
        let reply = c.reply().await.unwrap_or_default();
        if reply.starts_with("220") {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "slot never freed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    h.stop().await;

    let h = Harness::start(|s| s.max_connections = 1).await;
    let _only = h.dialog("C: NOOP\nS: 250").await;
    let mut refused = h.connect().await;
    refused
        .run("S: 421 4.7.0\nS+ too many connections\nCLOSED")
        .await;
    h.stop().await;
}

#[tokio::test]
async fn early_talkers_are_refused() {
    let h = Harness::start(|s| s.greeting_delay = Duration::from_millis(500)).await;
    let mut c = h.connect().await;
    c.run("C: EHLO spam.example\nS: 554 5.5.0\nCLOSED").await;
    // A patient client is served.
    h.dialog("C: EHLO client.test\nS: 250").await;
    h.stop().await;
}

#[tokio::test]
async fn store_failure_answers_451_and_keeps_nothing() {
    let h = Harness::start(|_| {}).await;
    let url = &h.env.config.store.url;
    let mut admin = sqlx::SqliteConnection::connect(url).await.unwrap();
    sqlx::query(
        "CREATE TRIGGER fail_messages BEFORE INSERT ON messages \
         BEGIN SELECT RAISE(ABORT, 'disk on fire'); END",
    )
    .execute(&mut admin)
    .await
    .unwrap();
    let message = data(MARIA, DESK, "Lost?", "Not lost.");
    let mut c = h
        .dialog(
            "C: EHLO client.test
             S: 250
             C: MAIL FROM:<maria@buyer.example>
             C: RCPT TO:<desk@shop.example>
             C: DATA
             S: 250
             S: 250
             S: 354",
        )
        .await;
    c.run(&format!("{message}\nS: 451 4.3.0")).await;
    assert_eq!(h.raw_messages().await.len(), 0, "nothing half-stored");
    assert_eq!(h.env.counts().await.tickets, 0);
    // The store recovers; the sender retries the same message and it lands.
    sqlx::query("DROP TRIGGER fail_messages")
        .execute(&mut admin)
        .await
        .unwrap();
    c.run(
        "C: MAIL FROM:<maria@buyer.example>
         C: RCPT TO:<desk@shop.example>
         C: DATA
         S: 250
         S: 250
         S: 354",
    )
    .await;
    c.run(&format!("{message}\nS: 250 2.0.0")).await;
    assert_eq!(h.raw_messages().await.len(), 1);
    h.stop().await;
}

#[tokio::test]
async fn lmtp_answers_per_recipient() {
    let h = Harness::start_with(Protocol::Lmtp, |s| s.max_message_bytes = 3000).await;
    let mut c = h
        .dialog(&format!(
            "C: EHLO client.test
             S: 500 5.5.1
             C: LHLO client.test
             S: 250
             S+ PIPELINING
             C: MAIL FROM:<maria@buyer.example>
             C: RCPT TO:<{DESK}>
             C: RCPT TO:<{BOOKS}>
             C: DATA
             S: 250
             S: 250
             S: 250
             S: 354"
        ))
        .await;
    c.run(&data(MARIA, DESK, "via LMTP", "hello")).await;
    c.run(&format!(
        "S: 250 2.0.0 <{DESK}>\nS+ ticket 1\nS: 250 2.0.0 <{BOOKS}>\nS+ ticket 2\n\
         C: MAIL FROM:<maria@buyer.example>\nC: RCPT TO:<{DESK}>\nC: RCPT TO:<{BOOKS}>\nC: DATA\n\
         S: 250\nS: 250\nS: 250\nS: 354\nR: Subject: big\\r\\n\\r\\n{}\\r\\n.\\r\\n\n\
         S: 552 5.3.4 <{DESK}>\nS: 552 5.3.4 <{BOOKS}>",
        "y".repeat(3500)
    ))
    .await;
    let raws = h.raw_messages().await;
    assert_eq!(raws.len(), 1);
    assert!(raws[0].text.contains("with LMTP id"), "{}", raws[0].text);
    h.stop().await;

    // And SMTP refuses LHLO.
    let h = Harness::start(|_| {}).await;
    h.dialog("C: LHLO client.test\nS: 500 5.5.1").await;
    h.stop().await;
}

#[tokio::test]
async fn shutdown_answers_idle_sessions_and_lets_transactions_finish() {
    let h = Harness::start(|_| {}).await;
    let mut idle = h.dialog("C: EHLO idle.test\nS: 250").await;
    let mut busy = h
        .dialog(
            r"C: EHLO busy.test
             S: 250
             C: MAIL FROM:<maria@buyer.example>
             C: RCPT TO:<desk@shop.example>
             C: DATA
             S: 250
             S: 250
             S: 354
             R: Subject: in flight\r\nFrom: maria@buyer.example\r\n\r\nfirst half\r\n",
        )
        .await;
    let _ = h.stop.send(true);
    idle.run("S: 421 4.3.2\nCLOSED").await;
    busy.run("R: second half\\r\\n.\\r\\n\nS: 250 2.0.0\nS: 421 4.3.2\nCLOSED")
        .await;
    tokio::time::timeout(Duration::from_secs(30), h.task)
        .await
        .expect("the listener stops")
        .unwrap();
    assert!(
        TcpStream::connect(h.addr).await.is_err(),
        "no longer accepting"
    );
    let messages = h.env.store().messages(1).await.unwrap();
    assert_eq!(messages.len(), 1);
    assert!(messages[0].reply_text.contains("second half"));
}

#[tokio::test]
async fn a_session_runs_over_any_stream() {
    let h = Harness::start(|_| {}).await;
    let (client, server_side) = tokio::io::duplex(64 * 1024);
    let server = h.server.clone();
    let peer: SocketAddr = "192.0.2.7:4711".parse().unwrap();
    let session = tokio::spawn(async move {
        server.session(server_side, peer, Protocol::Smtp).await;
    });
    let mut c = Client::new(Box::new(client));
    c.run("S: 220 mx.test\nC: EHLO memory.test\nS: 250\nS+ [192.0.2.7]\nC: MAIL FROM:<>\nC: RCPT TO:<desk@shop.example>\nC: DATA\nS: 250\nS: 250\nS: 354")
        .await;
    c.run(&data(MARIA, DESK, "in memory", "no socket")).await;
    c.run("S: 250 2.0.0\nC: QUIT\nS: 221\nCLOSED").await;
    session.await.unwrap();
    let raws = h.raw_messages().await;
    assert!(raws[0].text.contains("([192.0.2.7])"));
    assert_eq!(raws[0].from.as_deref(), Some(""), "the null sender is kept");
    h.stop().await;
}

/// A self-signed certificate and key made by `openssl` in `dir`.
fn certificate(dir: &std::path::Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let out = std::process::Command::new("openssl")
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt"])
        .args(["ec_paramgen_curve:prime256v1", "-nodes", "-days", "2"])
        .args(["-subj", "/CN=mx.test", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl runs (scripts/test installs it)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (cert, key)
}

/// The test client trusts any certificate: what is tested is the server's
/// side of STARTTLS, not certificate validation.
#[derive(Debug)]
struct AnyCertificate(Arc<tokio_rustls::rustls::crypto::CryptoProvider>);

mod any_certificate {
    use super::AnyCertificate;
    use tokio_rustls::rustls::client::danger::{
        HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier,
    };
    use tokio_rustls::rustls::crypto::{verify_tls12_signature, verify_tls13_signature};
    use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName, UnixTime};
    use tokio_rustls::rustls::{DigitallySignedStruct, Error, SignatureScheme};

    impl ServerCertVerifier for AnyCertificate {
        fn verify_server_cert(
            &self,
            _: &CertificateDer<'_>,
            _: &[CertificateDer<'_>],
            _: &ServerName<'_>,
            _: &[u8],
            _: UnixTime,
        ) -> Result<ServerCertVerified, Error> {
            Ok(ServerCertVerified::assertion())
        }

        fn verify_tls12_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, Error> {
            verify_tls12_signature(
                message,
                cert,
                dss,
                &self.0.signature_verification_algorithms,
            )
        }

        fn verify_tls13_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, Error> {
            verify_tls13_signature(
                message,
                cert,
                dss,
                &self.0.signature_verification_algorithms,
            )
        }

        fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
            self.0.signature_verification_algorithms.supported_schemes()
        }
    }
}

#[tokio::test]
async fn starttls() {
    use tokio_rustls::rustls::{ClientConfig, crypto::ring, pki_types::ServerName};

    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = certificate(dir.path());
    let acceptor = parley::smtp::tls::acceptor(&cert, &key).expect("certificate loads");
    let h = Harness::start(move |s| s.tls = Some(acceptor)).await;

    // A command pipelined after STARTTLS in plain text is dropped, never
    // answered over TLS (RFC 3207 §5).
    let mut c = h
        .dialog(
            "C: EHLO client.test
             S: 250
             S+ 250 STARTTLS
             C: MAIL FROM:<maria@buyer.example>
             S: 250
             C: STARTTLS
             C: NOOP
             S: 220 2.0.0",
        )
        .await;
    let provider = Arc::new(ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let plain = std::mem::replace(&mut c.io, Box::new(tokio::io::duplex(1).0));
    assert!(c.buf.is_empty(), "nothing was answered after 220");
    let tls = connector
        .connect(ServerName::try_from("mx.test").unwrap(), plain)
        .await
        .expect("TLS handshake");
    let mut c = Client::new(Box::new(tls));
    // The MAIL before STARTTLS is forgotten: MAIL again is not nested.
    c.run(
        "C: EHLO client.test
         S: 250
         S- STARTTLS
         C: STARTTLS
         S: 503 5.5.1
         C: MAIL FROM:<maria@buyer.example>
         C: RCPT TO:<desk@shop.example>
         C: DATA
         S: 250
         S: 250
         S: 354",
    )
    .await;
    c.run(&data(MARIA, DESK, "over TLS", "secret")).await;
    c.run("S: 250 2.0.0\nC: QUIT\nS: 221").await;
    let raws = h.raw_messages().await;
    assert_eq!(raws.len(), 1);
    assert!(raws[0].text.contains("with ESMTPS id"), "{}", raws[0].text);
    h.stop().await;
}

#[tokio::test]
async fn reply_all_to_a_notification_posts_once() {
    let h = Harness::start(|_| {}).await;
    let ticket = h.env.open_ticket(MARIA, "Blue vase").await;
    let reply = h.env.reply_address(ticket, MARIA).await;
    let notified = h.env.store().notifications(ticket).await.unwrap();
    let issued = &notified[0].message_id;
    // Reply-all: the reply address and the desk's intake address, with
    // References naming the notification. Both deliveries land on the
    // ticket; the second is the same message: stored once, no new ticket.
    let mut c = h
        .dialog(&format!(
            "C: EHLO client.test
             C: MAIL FROM:<{MARIA}>
             C: RCPT TO:<{reply}>
             C: RCPT TO:<{DESK}>
             C: DATA
             S: 250
             S: 250
             S: 250
             S: 250
             S: 354
             R: From: {MARIA}\\r\\nTo: {reply}, {DESK}\\r\\nSubject: Re: Blue vase\\r\\n\
             Message-ID: <reply-all-1@buyer.example>\\r\\nReferences: <{issued}>\\r\\n\\r\\n\
             Is it chipped?\\r\\n.\\r\\n
             S: 250 2.0.0"
        ))
        .await;
    c.run("C: QUIT\nS: 221").await;
    let messages = h.env.store().messages(ticket).await.unwrap();
    assert_eq!(messages.len(), 2, "{messages:#?}");
    assert_eq!(h.env.counts().await.tickets, 1, "no second ticket");
    assert_eq!(
        h.raw_messages().await.len(),
        2,
        "the ticket's first mail and this one"
    );
    h.stop().await;
}

#[tokio::test]
async fn a_client_that_never_reads_its_replies_is_dropped() {
    let h = Harness::start(|s| {
        s.command_timeout = Duration::from_millis(500);
        s.max_connections_per_ip = 1;
    })
    .await;
    let mut stream = TcpStream::connect(h.addr).await.unwrap();
    let mut greeting = [0u8; 64];
    let n = stream.read(&mut greeting).await.unwrap();
    assert!(greeting[..n].starts_with(b"220 "));
    let (_reader, mut writer) = stream.into_split();
    // Pipelined NOOPs, replies never read: the server's writes block once
    // the socket buffers are full.
    let flood = tokio::spawn(async move {
        let chunk = "NOOP\r\n".repeat(10_000);
        while writer.write_all(chunk.as_bytes()).await.is_ok() {}
    });
    // The session ends after the timeout and frees the one slot.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let mut c = h.connect().await;
        if c.reply().await.unwrap_or_default().starts_with("220") {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the stuck session was never dropped"
        );
    }
    flood.abort();
    h.stop().await;
}

/// Random input must never panic a session nor get a malformed reply:
/// SMTP words, addresses, data and raw bytes in random order, from a fixed
/// seed so a failure repeats.
#[tokio::test]
async fn random_input_never_panics_a_session() {
    let h = Harness::start(|s| {
        s.max_bad_commands = 1000;
        s.max_line_length = 600;
        s.max_message_bytes = 4000;
    })
    .await;
    let pieces: &[&[u8]] = &[
        b"EHLO x\r\n",
        b"HELO \r\n",
        b"LHLO y\r\n",
        b"MAIL FROM:<a@b.example>\r\n",
        b"MAIL FROM:<> SIZE=99999999999999999999\r\n",
        b"MAIL FROM:<a@b> BODY=8BITMIME SMTPUTF8\r\n",
        b"RCPT TO:<desk@shop.example>\r\n",
        b"RCPT TO:<reply+zzzz@reply.shop.example>\r\n",
        b"RCPT TO:<bounce+@reply.shop.example> NOTIFY=NEVER\r\n",
        b"DATA\r\n",
        b"BDAT 5\r\n",
        b"BDAT 0 LAST\r\n",
        b"BDAT 18446744073709551615 LAST\r\n",
        b"RSET\r\n",
        b"NOOP\r\n",
        b"VRFY\r\n",
        b"STARTTLS\r\n",
        b"AUTH LOGIN\r\n",
        b".\r\n",
        b"\r\n.\r\n",
        b"..\r\n",
        b"\n.\n",
        b"\r",
        b"\n",
        b"\0",
        b"\xff\xfe",
        "é😀".as_bytes(),
        b"Subject: x\r\n",
        b"MAIL",
        b" FROM:<",
        b">",
        b"\r\n",
    ];
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut codes = std::collections::BTreeMap::<String, usize>::new();
    for round in 0..300 {
        let mut input = Vec::new();
        if round % 2 == 0 {
            // Half the rounds start a valid transaction, so that DATA and
            // BDAT in the random rest are taken and their data read.
            input.extend_from_slice(b"EHLO x\r\nMAIL FROM:<a@b.example>\r\n");
            input.extend_from_slice(b"RCPT TO:<desk@shop.example>\r\n");
        }
        for _ in 0..(next() % 60) {
            match next() % 5 {
                0 => input.extend((0..next() % 40).map(|_| next() as u8)),
                _ => input.extend_from_slice(pieces[(next() as usize) % pieces.len()]),
            }
        }
        input.extend_from_slice(b"\r\n.\r\nRSET\r\nQUIT\r\n");
        let (client, server_side) = tokio::io::duplex(1 << 20);
        let server = h.server.clone();
        let peer: SocketAddr = "192.0.2.9:25".parse().unwrap();
        let session = tokio::spawn(async move {
            server.session(server_side, peer, Protocol::Smtp).await;
        });
        let (mut read, mut write) = tokio::io::split(client);
        // After the greeting: input before it ends the session at once.
        let mut greeting = [0u8; 256];
        let n = read.read(&mut greeting).await.unwrap();
        assert!(greeting[..n].starts_with(b"220 "), "round {round}");
        write.write_all(&input).await.unwrap();
        let mut replies = Vec::new();
        let read_all = read.read_to_end(&mut replies);
        tokio::time::timeout(Duration::from_secs(30), read_all)
            .await
            .unwrap_or_else(|_| panic!("round {round}: the session hangs"))
            .unwrap();
        drop(write);
        session
            .await
            .unwrap_or_else(|e| panic!("round {round}: the session panicked: {e}"));
        let text = String::from_utf8_lossy(&replies);
        assert!(
            text.ends_with("221 2.0.0 bye\r\n") || text.contains("421 "),
            "round {round}: the session did not reach QUIT: {text}"
        );
        for line in text.split("\r\n").filter(|l| !l.is_empty()) {
            *codes
                .entry(line.get(..3).unwrap_or("").to_string())
                .or_insert(0) += 1;
            let b = line.as_bytes();
            assert!(
                b.len() >= 4
                    && b[..3].iter().all(u8::is_ascii_digit)
                    && (b[3] == b' ' || b[3] == b'-'),
                "round {round}: malformed reply line {line:?}"
            );
        }
    }
    // The rounds reach the interesting states, not only errors.
    println!("reply codes over all rounds: {codes:?}");
    for code in ["250", "354", "500", "503"] {
        assert!(codes.contains_key(code), "no {code} in {codes:?}");
    }
    h.stop().await;
}

/// The key `serve` runs with after the rotation (the env keeps [`SECRET`],
/// the key the old notifications were signed with).
const ROTATED: &str = "the key after the rotation, 0123456789";

/// A ticket whose seller answered under the old key: Maria holds a
/// notification with her reply address and its Message-ID. Returns the
/// env, the ticket, that reply address and that Message-ID.
async fn answered_under_the_old_key() -> (TestEnv, i64, String, String) {
    let env = TestEnv::new(&Backend::Sqlite, |_| {}).await;
    let ticket = env.open_ticket(MARIA, "Oak sideboard").await;
    let to_agent = env.reply_address(ticket, AGENT).await;
    let answer = Mail::new(AGENT, &to_agent, "Re: Oak sideboard");
    env.deliver(&answer, &[&to_agent]).await;
    let old = env.reply_address(ticket, MARIA).await;
    let notified = env.store().notifications(ticket).await.unwrap();
    let issued = notified
        .iter()
        .rev()
        .find(|n| n.recipient == MARIA)
        .expect("a notification to maria")
        .message_id
        .clone();
    let token = old
        .strip_prefix("reply+")
        .unwrap()
        .split('@')
        .next()
        .unwrap();
    assert!(
        parley::token::Signer::new(ROTATED.as_bytes())
            .verify_reply(token)
            .is_err(),
        "the old address does not verify under the new key"
    );
    (env, ticket, old, issued)
}

/// Mail from `from` to `to` with extra header lines (each `Name: value`),
/// as SMTP data.
fn data_with(from: &str, to: &str, subject: &str, headers: &[String]) -> String {
    let extra: String = headers.iter().map(|h| format!("{h}\\r\\n")).collect();
    format!(
        "R: From: {from}\\r\\nTo: {to}\\r\\nSubject: {subject}\\r\\n{extra}\
         Message-ID: <{}@client.test>\\r\\n\\r\\nIs it still for sale?\\r\\n.\\r\\n",
        unique()
    )
}

/// docs/token.md, "Key rotation": a reply to a reply address signed with
/// the old key is taken at RCPT provisionally, and lands on its ticket when
/// it names it by References or (from a participant) by the subject tag;
/// otherwise it is refused after the data. Bounce addresses of the old key
/// stay refused at RCPT.
#[tokio::test]
async fn replies_to_old_reply_addresses_after_a_key_rotation() {
    let (env, ticket, old, issued) = answered_under_the_old_key().await;
    let h = Harness::serve(env, Protocol::Smtp, ROTATED, |_| {}).await;
    let rcpt_old = format!(
        "C: EHLO client.test\nS: 250\nC: MAIL FROM:<{MARIA}>\nS: 250\n\
         C: RCPT TO:<{old}>\nS: 250 2.1.5\nS+ provisionally\nC: DATA\nS: 354\n"
    );
    let tagged = format!("Re: [#{ticket}] Oak sideboard");

    // By References.
    let mut c = h.dialog(&rcpt_old).await;
    c.run(&data_with(
        MARIA,
        &old,
        "Re: Oak sideboard",
        &[format!("References: <{issued}>")],
    ))
    .await;
    c.run(&format!(
        "S: 250 2.0.0\nS+ ticket {ticket}\nC: QUIT\nS: 221"
    ))
    .await;
    let messages = h.env.store().messages(ticket).await.unwrap();
    let last = messages.last().unwrap();
    assert_eq!(
        (last.matched_by.as_str(), last.flags.as_slice()),
        ("references", ["bad_token".to_string()].as_slice())
    );
    let maria = h.env.participant(ticket, MARIA).await.id;
    assert_eq!(last.author, Some(maria));

    // By the subject tag, from a participant.
    let mut c = h.dialog(&rcpt_old).await;
    c.run(&data_with(MARIA, &old, &tagged, &[])).await;
    c.run(&format!("S: 250 2.0.0\nS+ ticket {ticket}")).await;
    let messages = h.env.store().messages(ticket).await.unwrap();
    assert_eq!(messages.len(), 4);
    assert_eq!(messages[3].matched_by, "subject");

    // Neither: refused after the data, nothing kept.
    let before = h.env.counts().await;
    let mut c = h.dialog(&rcpt_old).await;
    c.run(&data_with(MARIA, &old, "Oak sideboard", &[])).await;
    c.run("S: 550 5.1.1\nS+ names no ticket").await;
    // The tag from a stranger is no way in either.
    let mut c = h
        .dialog(&format!(
            "C: EHLO client.test\nS: 250\nC: MAIL FROM:<{MALLORY}>\nS: 250\n\
             C: RCPT TO:<{old}>\nS: 250 2.1.5\nC: DATA\nS: 354"
        ))
        .await;
    c.run(&data_with(MALLORY, &old, &tagged, &[])).await;
    c.run("S: 550 5.1.1").await;
    // A token that was never signed, with nothing else: refused the same.
    let forged = format!("reply+{}@{REPLY_DOMAIN}", "a".repeat(36));
    let mut c = h
        .dialog(&format!(
            "C: EHLO client.test\nS: 250\nC: MAIL FROM:<{MARIA}>\nS: 250\n\
             C: RCPT TO:<{forged}>\nS: 250 2.1.5\nC: DATA\nS: 354"
        ))
        .await;
    c.run(&data_with(MARIA, &forged, "Hello", &[])).await;
    c.run("S: 550 5.1.1").await;
    assert_eq!(h.env.counts().await, before, "nothing stored");
    assert!(h.env.store().quarantined().await.unwrap().is_empty());

    // A bounce address of the old key: refused at RCPT (a bounce has
    // nothing else to be matched by).
    let bounce = format!("bounce+{}@{REPLY_DOMAIN}", h.env.signer().bounce_token(1));
    h.dialog(&format!(
        "C: EHLO client.test\nS: 250\nC: MAIL FROM:<>\nS: 250\n\
         C: RCPT TO:<{bounce}>\nS: 550 5.1.1\nS+ bounce address not valid"
    ))
    .await;
    h.stop().await;
}

/// An old reply address beside a good recipient: the message is taken for
/// the good one (250); the part for the old address, which names no
/// ticket, is kept in quarantine, not dropped. LMTP answers each.
#[tokio::test]
async fn an_old_reply_address_beside_a_good_recipient() {
    let (env, _, old, _) = answered_under_the_old_key().await;
    let h = Harness::serve(env, Protocol::Smtp, ROTATED, |_| {}).await;
    let before = h.env.counts().await;
    let mut c = h
        .dialog(&format!(
            "C: EHLO client.test\nS: 250\nC: MAIL FROM:<{MARIA}>\nS: 250\n\
             C: RCPT TO:<{old}>\nS: 250 2.1.5\nC: RCPT TO:<{DESK}>\nS: 250 2.1.5\n\
             C: DATA\nS: 354"
        ))
        .await;
    c.run(&data_with(
        MARIA,
        &format!("{old}, {DESK}"),
        "A new question",
        &[],
    ))
    .await;
    c.run("S: 250 2.0.0").await;
    assert_eq!(h.env.counts().await.tickets, before.tickets + 1, "desk");
    let kept = h.env.store().quarantined().await.unwrap();
    assert_eq!(kept.len(), 1, "{kept:?}");
    assert_eq!(kept[0].reason, "no_match");
    assert!(kept[0].detail.contains(&old), "{}", kept[0].detail);
    h.stop().await;

    let (env, ticket, old, issued) = answered_under_the_old_key().await;
    let h = Harness::serve(env, Protocol::Lmtp, ROTATED, |_| {}).await;
    let mut c = h
        .dialog(&format!(
            "C: LHLO client.test\nS: 250\nC: MAIL FROM:<{MARIA}>\nS: 250\n\
             C: RCPT TO:<{old}>\nS: 250 2.1.5\nC: RCPT TO:<{DESK}>\nS: 250 2.1.5\n\
             C: DATA\nS: 354"
        ))
        .await;
    c.run(&data_with(
        MARIA,
        &format!("{old}, {DESK}"),
        "A new question",
        &[],
    ))
    .await;
    c.run(&format!(
        "S: 550 5.1.1 <{old}>\nS: 250 2.0.0 <{DESK}>\n\
         C: MAIL FROM:<{MARIA}>\nS: 250\nC: RCPT TO:<{old}>\nS: 250 2.1.5\nC: DATA\nS: 354"
    ))
    .await;
    c.run(&data_with(
        MARIA,
        &old,
        "Re: Oak sideboard",
        &[format!("In-Reply-To: <{issued}>")],
    ))
    .await;
    c.run(&format!("S: 250 2.0.0 <{old}>\nS+ ticket {ticket}"))
        .await;
    assert!(h.env.store().quarantined().await.unwrap().is_empty());
    h.stop().await;
}

/// Issue 13 point 11 over the wire: a client's second mail, a reply to
/// their own first, joins the ticket the first opened.
#[tokio::test]
async fn a_follow_up_to_the_clients_own_mail_threads() {
    let h = Harness::start(|_| {}).await;
    let mut c = h
        .dialog(&format!(
            "C: EHLO client.test\nS: 250\nC: MAIL FROM:<{MARIA}>\nS: 250\n\
             C: RCPT TO:<{DESK}>\nS: 250\nC: DATA\nS: 354\n\
             R: From: {MARIA}\\r\\nTo: {DESK}\\r\\nSubject: Oak sideboard\\r\\n\
             Message-ID: <first-1@buyer.example>\\r\\n\\r\\nIs it oak?\\r\\n.\\r\\n\n\
             S: 250 2.0.0\nS+ ticket 1\n\
             C: MAIL FROM:<{MARIA}>\nS: 250\nC: RCPT TO:<{DESK}>\nS: 250\nC: DATA\nS: 354\n\
             R: From: {MARIA}\\r\\nTo: {DESK}\\r\\nSubject: Re: Oak sideboard\\r\\n\
             Message-ID: <second-1@buyer.example>\\r\\nIn-Reply-To: <first-1@buyer.example>\\r\\n\
             References: <first-1@buyer.example>\\r\\n\\r\\nAnd the legs?\\r\\n.\\r\\n\n\
             S: 250 2.0.0\nS+ ticket 1"
        ))
        .await;
    c.run("C: QUIT\nS: 221").await;
    assert_eq!(h.env.counts().await.tickets, 1);
    let messages = h.env.store().messages(1).await.unwrap();
    assert_eq!(messages[1].matched_by, "inbound_references");
    h.stop().await;
}
