//! The IMAP poller against a real Dovecot (started by the test in a temp
//! folder on a free loopback port; see tests/imap/dovecot.rs).

mod common;
#[path = "imap/dovecot.rs"]
mod dovecot;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use dovecot::Dovecot;
use parley::config::ImapConfig;
use parley::imap::{ImapError, MAX_TIMEOUTS, Strikes, poll_once};
use parley::store::TicketFilter;

const USER: &str = "seller";
const PASSWORD: &str = "secret-1";

/// A mailbox entry as an admin writes it, with `extra` lines.
fn mailbox(d: &Dovecot, extra: &str) -> ImapConfig {
    let text = format!(
        "host = \"127.0.0.1\"\ntls = \"none\"\nport = {}\nusername = \"{USER}\"\npassword = \"{PASSWORD}\"\n{extra}",
        d.port()
    );
    toml::from_str(&text).expect("a valid [[imap]] entry")
}

fn message(n: usize, to: &str) -> Vec<u8> {
    format!(
        "From: buyer{n}@buyer.example\r\nTo: {to}\r\nSubject: Question {n}\r\n\
         Message-ID: <imap-{n}@buyer.example>\r\nDate: Sat, 21 Nov 2026 10:00:00 +0000\r\n\r\n\
         Is lot {n} still available?\r\n"
    )
    .into_bytes()
}

#[tokio::test]
async fn takes_new_mail_flags_it_and_remembers_where_it_stopped() {
    let d = Dovecot::start(&[(USER, PASSWORD)]);
    let env = TestEnv::new(&Backend::Sqlite, |_| {}).await;
    let config = mailbox(&d, "queue = \"desk\"\n");
    let mut uids = Vec::new();
    for n in 1..=3 {
        uids.push(d.append(USER, PASSWORD, "INBOX", &message(n, "seller@shop.example")));
    }
    let pass = poll_once(&config, &env.intake, &mut Strikes::default())
        .await
        .unwrap();
    assert_eq!((pass.taken, pass.quarantined), (3, 0));
    assert_eq!(env.ticket_count().await, 3);
    for uid in &uids {
        let flags = d.flags(USER, PASSWORD, "INBOX", *uid);
        assert!(flags.iter().any(|f| f == "\\Seen"), "{uid}: {flags:?}");
    }
    let cursor = env
        .store()
        .imap_cursor(&config.key())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(cursor.last_uid, i64::from(*uids.last().unwrap()));
    // Nothing new: nothing taken, even though the messages are still there.
    let pass = poll_once(&config, &env.intake, &mut Strikes::default())
        .await
        .unwrap();
    assert_eq!(pass.taken, 0);
    d.append(USER, PASSWORD, "INBOX", &message(4, "seller@shop.example"));
    let pass = poll_once(&config, &env.intake, &mut Strikes::default())
        .await
        .unwrap();
    assert_eq!(pass.taken, 1);
    assert_eq!(env.ticket_count().await, 4);
}

#[tokio::test]
async fn moves_or_deletes_after_the_commit() {
    let d = Dovecot::start(&[(USER, PASSWORD)]);
    let env = TestEnv::new(&Backend::Sqlite, |_| {}).await;
    let moving = mailbox(
        &d,
        "queue = \"desk\"\nafter = \"move\"\nmove_to = \"Done\"\n",
    );
    d.append(USER, PASSWORD, "INBOX", &message(1, "seller@shop.example"));
    d.append(USER, PASSWORD, "INBOX", &message(2, "seller@shop.example"));
    assert_eq!(
        poll_once(&moving, &env.intake, &mut Strikes::default())
            .await
            .unwrap()
            .taken,
        2
    );
    assert!(d.uids(USER, PASSWORD, "INBOX").is_empty());
    assert_eq!(d.uids(USER, PASSWORD, "Done").len(), 2);

    let deleting = mailbox(&d, "queue = \"desk\"\nafter = \"delete\"\n");
    d.append(USER, PASSWORD, "INBOX", &message(3, "seller@shop.example"));
    assert_eq!(
        poll_once(&deleting, &env.intake, &mut Strikes::default())
            .await
            .unwrap()
            .taken,
        1
    );
    assert!(d.uids(USER, PASSWORD, "INBOX").is_empty());
    assert_eq!(d.uids(USER, PASSWORD, "Done").len(), 2);
    assert_eq!(env.ticket_count().await, 3);
}

#[tokio::test]
async fn poison_messages_go_to_quarantine_and_the_rest_is_taken() {
    let d = Dovecot::start(&[(USER, PASSWORD)]);
    let env = TestEnv::new(&Backend::Sqlite, |c| c.intake.max_message_bytes = 4096).await;
    // By recipient: no queue set.
    let config = mailbox(&d, "");
    d.append(USER, PASSWORD, "INBOX", &message(1, DESK));
    let mut big = message(2, DESK);
    big.extend(std::iter::repeat_n(b'x', 10_000));
    d.append(USER, PASSWORD, "INBOX", &big);
    d.append(USER, PASSWORD, "INBOX", &message(3, NOBODY));
    d.append(USER, PASSWORD, "INBOX", &message(4, DESK));
    let pass = poll_once(&config, &env.intake, &mut Strikes::default())
        .await
        .unwrap();
    assert_eq!((pass.taken, pass.quarantined), (2, 2));
    assert_eq!(env.ticket_count().await, 2);
    assert_eq!(d.uids(USER, PASSWORD, "parley-quarantine").len(), 2);
    let kept = env.store().quarantined().await.unwrap();
    let mut reasons: Vec<&str> = kept.iter().map(|q| q.reason.as_str()).collect();
    reasons.sort();
    assert_eq!(reasons, ["no_match", "too_large"]);
}

#[tokio::test]
async fn a_new_uidvalidity_reads_again_and_stores_nothing_twice() {
    let d = Dovecot::start(&[(USER, PASSWORD)]);
    let env = TestEnv::new(&Backend::Sqlite, |_| {}).await;
    let config = mailbox(&d, "queue = \"desk\"\n");
    for n in 1..=3 {
        d.append(USER, PASSWORD, "INBOX", &message(n, "seller@shop.example"));
    }
    assert_eq!(
        poll_once(&config, &env.intake, &mut Strikes::default())
            .await
            .unwrap()
            .taken,
        3
    );
    let before = env
        .store()
        .imap_cursor(&config.key())
        .await
        .unwrap()
        .unwrap();
    // The folder is recreated (a restore, a migration): same messages, new
    // UIDVALIDITY, UIDs from 1 again.
    d.recreate_folder(USER, PASSWORD, "INBOX");
    for n in 1..=3 {
        d.append(USER, PASSWORD, "INBOX", &message(n, "seller@shop.example"));
    }
    d.append(USER, PASSWORD, "INBOX", &message(9, "seller@shop.example"));
    let pass = poll_once(&config, &env.intake, &mut Strikes::default())
        .await
        .unwrap();
    assert_eq!(pass.taken, 4, "all read again");
    assert_eq!(
        env.ticket_count().await,
        4,
        "the three known ones are not stored twice"
    );
    let after = env
        .store()
        .imap_cursor(&config.key())
        .await
        .unwrap()
        .unwrap();
    assert_ne!(after.uidvalidity, before.uidvalidity);
}

#[tokio::test]
async fn a_server_restart_loses_nothing_and_duplicates_nothing() {
    let mut d = Dovecot::start(&[(USER, PASSWORD)]);
    let env = TestEnv::new(&Backend::Sqlite, |_| {}).await;
    let config = mailbox(&d, "queue = \"desk\"\n");
    for n in 1..=5 {
        d.append(USER, PASSWORD, "INBOX", &message(n, "seller@shop.example"));
    }
    d.stop();
    assert!(
        poll_once(&config, &env.intake, &mut Strikes::default())
            .await
            .is_err(),
        "server down"
    );
    d.restart();
    assert_eq!(
        poll_once(&config, &env.intake, &mut Strikes::default())
            .await
            .unwrap()
            .taken,
        5
    );
    assert_eq!(env.ticket_count().await, 5);
}

#[tokio::test]
async fn two_mailboxes_are_polled_in_parallel() {
    let d = Dovecot::start(&[(USER, PASSWORD), ("desk2", "secret-2")]);
    let env = TestEnv::new(&Backend::Sqlite, |_| {}).await;
    let intake = Arc::new(parley::intake::Intake::new(
        &env.config,
        SECRET.as_bytes(),
        env.intake.shared_store(),
    ));
    let one = mailbox(&d, "queue = \"desk\"\npoll_interval_secs = 1\n");
    let mut two = mailbox(&d, "queue = \"books\"\npoll_interval_secs = 1\n");
    two.username = "desk2".into();
    two.password = "secret-2".into();
    d.append(USER, PASSWORD, "INBOX", &message(1, "seller@shop.example"));
    d.append(
        "desk2",
        "secret-2",
        "INBOX",
        &message(2, "desk2@shop.example"),
    );
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let tasks = [
        tokio::spawn(parley::imap::run(one, intake.clone(), stopped.clone())),
        tokio::spawn(parley::imap::run(two, intake.clone(), stopped)),
    ];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while env.ticket_count().await < 2 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "both mailboxes taken"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = stop.send(true);
    for task in tasks {
        tokio::time::timeout(Duration::from_secs(10), task)
            .await
            .expect("the poller stops on shutdown")
            .unwrap();
    }
    let queues: Vec<String> = env
        .store()
        .tickets(&TicketFilter::default())
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.queue)
        .collect();
    assert!(queues.contains(&"desk".to_string()) && queues.contains(&"books".to_string()));
}

/// Runs the long-lived poller of `config` until the returned sender stops it.
fn spawn_poller(
    config: ImapConfig,
    env: &TestEnv,
) -> (
    tokio::sync::watch::Sender<bool>,
    tokio::task::JoinHandle<()>,
) {
    let intake = Arc::new(parley::intake::Intake::new(
        &env.config,
        SECRET.as_bytes(),
        env.intake.shared_store(),
    ));
    let (stop, stopped) = tokio::sync::watch::channel(false);
    (
        stop,
        tokio::spawn(parley::imap::run(config, intake, stopped)),
    )
}

async fn wait_for_tickets(env: &TestEnv, n: usize, within: Duration) -> Duration {
    let started = tokio::time::Instant::now();
    while env.ticket_count().await < n {
        assert!(
            started.elapsed() < within,
            "{n} tickets not there after {within:?} (have {})",
            env.ticket_count().await
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    started.elapsed()
}

#[tokio::test]
async fn idle_delivers_a_new_message_at_once() {
    let d = Dovecot::start(&[(USER, PASSWORD)]);
    let env = TestEnv::new(&Backend::Sqlite, |_| {}).await;
    // Polling alone would wait ten minutes: only IDLE can be this quick.
    let config = mailbox(&d, "queue = \"desk\"\npoll_interval_secs = 600\n");
    d.append(USER, PASSWORD, "INBOX", &message(1, "seller@shop.example"));
    let (stop, task) = spawn_poller(config, &env);
    wait_for_tickets(&env, 1, Duration::from_secs(20)).await;
    // The poller is in IDLE now (give it a moment to have sent it).
    tokio::time::sleep(Duration::from_millis(300)).await;
    d.append(USER, PASSWORD, "INBOX", &message(2, "seller@shop.example"));
    let latency = wait_for_tickets(&env, 2, Duration::from_secs(5)).await;
    println!("IDLE: the new message was a ticket after {latency:?}");
    assert!(latency < Duration::from_secs(2), "took {latency:?}");
    let _ = stop.send(true);
    tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .expect("the poller leaves IDLE on shutdown")
        .unwrap();
}

/// Each restart of Dovecot costs the poller one failure and a backoff;
/// once a pass works again the backoff starts over from a second. (It
/// used to keep growing for the life of the process: 1, 2, 4, 8, 16 s, so
/// the fifth restart here waited 16 s and more.)
#[tokio::test]
async fn the_backoff_starts_over_once_a_pass_works() {
    let mut d = Dovecot::start(&[(USER, PASSWORD)]);
    let env = TestEnv::new(&Backend::Sqlite, |_| {}).await;
    let config = mailbox(&d, "queue = \"desk\"\npoll_interval_secs = 600\n");
    let (stop, task) = spawn_poller(config, &env);
    for n in 1..=6 {
        d.restart();
        d.append(USER, PASSWORD, "INBOX", &message(n, "seller@shop.example"));
        let took = wait_for_tickets(&env, n, Duration::from_secs(30)).await;
        println!("restart {n}: the new message was a ticket after {took:?}");
        // A second's backoff plus its jitter, a login and a pass.
        assert!(took < Duration::from_secs(6), "restart {n}: {took:?}");
    }
    let _ = stop.send(true);
    tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .expect("the poller stops")
        .unwrap();
}

#[tokio::test]
async fn dovecot_restarted_mid_batch_loses_and_duplicates_nothing() {
    let mut d = Dovecot::start(&[(USER, PASSWORD)]);
    let env = TestEnv::new(&Backend::Sqlite, |_| {}).await;
    let config = mailbox(
        &d,
        "queue = \"desk\"\nbatch = 1\npoll_interval_secs = 600\n",
    );
    let total = 40;
    for n in 1..=total {
        d.append(USER, PASSWORD, "INBOX", &message(n, "seller@shop.example"));
    }
    let (stop, task) = spawn_poller(config, &env);
    wait_for_tickets(&env, 3, Duration::from_secs(20)).await;
    d.stop();
    let at_stop = env.ticket_count().await;
    d.restart();
    wait_for_tickets(&env, total, Duration::from_secs(60)).await;
    let _ = stop.send(true);
    tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .expect("the poller stops")
        .unwrap();
    println!("stopped Dovecot with {at_stop} of {total} taken");
    assert!(
        at_stop < total,
        "the stop came after the whole batch: no test"
    );
    // Exactly once: one ticket per message, each flagged in the mailbox.
    let subjects: Vec<String> = env
        .store()
        .tickets(&TicketFilter::default())
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.subject)
        .collect();
    assert_eq!(subjects.len(), total);
    let mut unique = subjects.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), total, "no message stored twice");
    for uid in d.uids(USER, PASSWORD, "INBOX") {
        let flags = d.flags(USER, PASSWORD, "INBOX", uid);
        assert!(flags.iter().any(|f| f == "\\Seen"), "{uid}: {flags:?}");
    }
}

#[tokio::test]
async fn a_reply_in_the_mailbox_threads_onto_its_ticket() {
    let d = Dovecot::start(&[(USER, PASSWORD)]);
    let env = TestEnv::new(&Backend::Sqlite, |_| {}).await;
    let config = mailbox(&d, "queue = \"desk\"\n");
    let ticket = env.open_ticket(MARIA, "Oak table").await;
    let issued = env.store().notifications(ticket).await.unwrap()[0]
        .message_id
        .clone();
    // The seller's mail client files Maria's answer to the notification in
    // the mailbox parley polls.
    let reply = format!(
        "From: {MARIA}\r\nTo: seller@shop.example\r\nSubject: Re: Oak table\r\n\
         Message-ID: <answer-1@buyer.example>\r\nIn-Reply-To: <{issued}>\r\n\
         References: <{issued}>\r\n\r\nCan you deliver it?\r\n"
    );
    d.append(USER, PASSWORD, "INBOX", reply.as_bytes());
    assert_eq!(
        poll_once(&config, &env.intake, &mut Strikes::default())
            .await
            .unwrap()
            .taken,
        1
    );
    assert_eq!(env.ticket_count().await, 1, "no new ticket");
    let messages = env.store().messages(ticket).await.unwrap();
    assert_eq!(messages.len(), 2);
    assert_eq!(messages[1].matched_by, "references");
}

/// A proxy in front of Dovecot that passes everything through until the
/// server sends `marker`; from there on it holds the connection open and
/// passes nothing more (a server stalling on one message). Returns its
/// port; it runs until the test's runtime ends.
async fn stalling_proxy(upstream: u16, marker: &'static [u8]) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let server = tokio::net::TcpStream::connect(("127.0.0.1", upstream))
                .await
                .unwrap();
            let (mut client_read, mut client_write) = client.into_split();
            let (mut server_read, mut server_write) = server.into_split();
            tokio::spawn(async move {
                let _ = tokio::io::copy(&mut client_read, &mut server_write).await;
            });
            tokio::spawn(async move {
                let mut seen: Vec<u8> = Vec::new();
                let mut chunk = vec![0u8; 16 * 1024];
                loop {
                    let n = match server_read.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => n,
                    };
                    seen.extend_from_slice(&chunk[..n]);
                    if seen.windows(marker.len()).any(|w| w == marker) {
                        // Stall: keep the socket, send nothing more.
                        std::future::pending::<()>().await;
                    }
                    let keep = seen.len().saturating_sub(marker.len());
                    seen.drain(..keep);
                    if client_write.write_all(&chunk[..n]).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    port
}

#[tokio::test]
async fn a_message_whose_fetch_keeps_timing_out_goes_to_quarantine() {
    let d = Dovecot::start(&[(USER, PASSWORD)]);
    let env = TestEnv::new(&Backend::Sqlite, |_| {}).await;
    let mut uids = Vec::new();
    for n in 1..=5 {
        let mut raw = message(n, "seller@shop.example");
        if n == 3 {
            raw.extend_from_slice(b"STALL-ON-THIS-BODY\r\n");
        }
        uids.push(d.append(USER, PASSWORD, "INBOX", &raw));
    }
    let port = stalling_proxy(d.port(), b"STALL-ON-THIS-BODY").await;
    let mut config = mailbox(&d, "queue = \"desk\"\ntimeout_secs = 1\n");
    config.port = Some(port);
    let mut strikes = Strikes::default();
    let mut timeouts = 0;
    let pass = loop {
        // Without the poller's own timeout a pass would hang: fail instead.
        let polled = tokio::time::timeout(
            Duration::from_secs(30),
            poll_once(&config, &env.intake, &mut strikes),
        )
        .await
        .expect("the poller gives up a stalled fetch after timeout_secs");
        match polled {
            Ok(pass) => break pass,
            Err(ImapError::Timeout) if timeouts < 10 => timeouts += 1,
            Err(e) => panic!("after {timeouts} timeouts: {e}"),
        }
    };
    // The batch, then the message alone, MAX_TIMEOUTS times in all; then
    // its header goes to quarantine and the others are taken.
    assert_eq!(timeouts, MAX_TIMEOUTS);
    // Messages committed in a pass that then timed out are flagged by a
    // later one: at least the two after the stalling one are in this pass.
    assert_eq!(pass.quarantined, 1);
    assert!((2..=4).contains(&pass.taken), "{pass:?}");
    assert_eq!(env.ticket_count().await, 4);
    assert_eq!(d.uids(USER, PASSWORD, "parley-quarantine").len(), 1);
    let kept = env.store().quarantined().await.unwrap();
    assert_eq!(kept.len(), 1);
    assert_eq!(kept[0].reason, "timeout");
    assert!(
        kept[0].detail.contains("timed out 3 times"),
        "{}",
        kept[0].detail
    );
    for uid in [uids[0], uids[1], uids[3], uids[4]] {
        let flags = d.flags(USER, PASSWORD, "INBOX", uid);
        assert!(flags.iter().any(|f| f == "\\Seen"), "{uid}: {flags:?}");
    }
    // Nothing is left above the cursor.
    let again = poll_once(&config, &env.intake, &mut strikes).await.unwrap();
    assert_eq!((again.taken, again.quarantined), (0, 0));
}
