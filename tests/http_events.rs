//! Live events over real HTTP against `parley serve`, on every backend:
//! a message that arrives by SMTP reaches a subscribed stream within a
//! second (and one `parley ingest` stores, within the hub's poll); a
//! client that loses its connection in the middle of a burst of 1,000
//! messages and comes back with `Last-Event-ID` gets every event exactly
//! once (on PostgreSQL with `parley ingest` processes writing beside the
//! server); each stream carries only what its caller may see; a user
//! token's stream ends with the token, and every stream with the server;
//! `http.max_event_streams` caps them; an idle stream gets its keep-alive.
//!
//! The streams are read by the SSE client of `common/http.rs` (a thread
//! per stream, each event stamped with the instant it arrived).

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::http::{EventStream, MODERATOR, PLATFORM, SseEvent};
use common::served::{Served, free_port};
use common::smtp::Smtp;
use common::{AGENT, Backend, DESK, MARIA, Mail, backends};
use parley::store::{Event, Store};
use serde_json::{Value, json};

const BOB: &str = "bob@buyer.example";
const EXPERT: &str = "expert@shop.example";
/// How long a test waits for an event that must come.
const WAIT: Duration = Duration::from_secs(20);

/// `parley serve` on `backend` with SMTP and HTTP on free ports, and
/// `http` added to its `[http]`; the SMTP port.
fn serve(backend: &Backend, http: &str) -> (Served, u16) {
    let smtp = free_port();
    let served = Served::on(
        backend,
        &format!("listen = [\"127.0.0.1:{smtp}\"]"),
        &format!("listen = [\"127.0.0.1:{{http}}\"]\n{http}"),
        "",
    );
    (served, smtp)
}

fn bearer(credential: &str) -> String {
    format!("Authorization: Bearer {credential}")
}

/// A user token for `address`, minted by the platform key.
fn token(served: &Served, address: &str, expires_in: Option<u64>) -> String {
    let body = json!({ "address": address, "expires_in": expires_in });
    let answer = served.call(
        "POST",
        "/api/v1/tokens",
        &[&bearer(PLATFORM.2), "Content-Type: application/json"],
        &serde_json::to_vec(&body).unwrap(),
    );
    assert_eq!(answer.status, 201, "{}", served.log());
    answer.json()["token"].as_str().unwrap().to_string()
}

fn open(served: &Served, path: &str, credential: &str) -> EventStream {
    EventStream::open(served.http, path, &[&bearer(credential)])
        .unwrap_or_else(|answer| panic!("GET {path}: {answer:?}\n{}", served.log()))
}

/// Delivers `mail` by SMTP on an open session; panics unless it is
/// accepted ("250": committed).
fn deliver(smtp: &mut Smtp, from: &str, to: &str, mail: &[u8]) {
    smtp.expect(&format!("MAIL FROM:<{from}>"), 250).unwrap();
    smtp.expect(&format!("RCPT TO:<{to}>"), 250).unwrap();
    smtp.expect("DATA", 354).unwrap();
    let mut data = mail.to_vec();
    data.extend_from_slice(b".\r\n");
    smtp.send(&data).unwrap();
    let reply = smtp.reply().unwrap();
    assert_eq!(reply.code, 250, "{reply:?}");
}

/// An SMTP session, greeted.
fn session(port: u16) -> Smtp {
    let mut smtp = Smtp::connect(port).expect("connects");
    assert_eq!(smtp.reply().unwrap().code, 220);
    smtp.expect("EHLO client.test", 250).unwrap();
    smtp
}

/// `parley ingest` of `mail` beside the server, as an MTA's pipe runs it.
fn ingest(served: &Served, mail: &[u8]) {
    served.cli(0, &["ingest"], mail);
}

/// Every event in the server's store, read through the store's API.
fn stored_events(served: &Served) -> Vec<Event> {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let config = parley::config::Config::load(Some(&served.config)).unwrap();
        let store: Box<dyn Store> = parley::store::open_existing(&config.store).await.unwrap();
        let mut all = Vec::new();
        loop {
            let after = all.last().map_or(0, |e: &Event| e.id);
            let page = store.events_after(after, 1000).await.unwrap();
            if page.is_empty() {
                return all;
            }
            all.extend(page);
        }
    })
}

/// Reads `stream` until it delivered an event with id `until` or later;
/// every event read.
fn read_until(stream: &mut EventStream, until: i64, who: &str) -> Vec<SseEvent> {
    let mut seen = Vec::new();
    let deadline = Instant::now() + WAIT;
    while seen.last().is_none_or(|e: &SseEvent| e.id < until) {
        let left = deadline.saturating_duration_since(Instant::now());
        match stream.next(left) {
            Some(event) => seen.push(event),
            None => panic!("{who}: no event {until} within {WAIT:?}; got {seen:#?}"),
        }
    }
    seen
}

#[test]
fn a_message_by_smtp_reaches_a_stream_within_a_second() {
    for backend in backends() {
        println!("== on {}", backend.name());
        by_smtp_and_ingest(&backend);
    }
}

fn by_smtp_and_ingest(backend: &Backend) {
    let (mut served, port) = serve(backend, "shutdown_grace_secs = 30");
    let agent = token(&served, AGENT, None);
    let mut stream = open(&served, "/api/v1/events", &agent);
    assert_eq!(
        stream
            .headers
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("text/event-stream")
    );

    let mut smtp = session(port);
    let mail = Mail::new(MARIA, DESK, "Is the oak sideboard still there?");
    deliver(&mut smtp, MARIA, DESK, &mail.bytes());
    let acked = Instant::now();
    let created = stream.next(WAIT).expect("ticket.created");
    let message = stream.next(WAIT).expect("message.created");
    let late = message.at.saturating_duration_since(acked);
    println!(
        "{}: SMTP 250 → message.created on the stream: {late:?}",
        backend.name()
    );
    assert!(
        late < Duration::from_secs(1),
        "{}: {late:?}",
        backend.name()
    );
    assert_eq!(created.event, "ticket.created");
    assert_eq!(message.event, "message.created");
    let ticket = message.data["ticket"].as_i64().unwrap();
    assert_eq!(created.data["ticket"], ticket);
    assert_eq!(message.data["id"], message.id);
    assert_eq!(message.data["kind"], "message.created");
    assert!(message.data["message"].as_i64().is_some(), "{message:?}");
    assert_eq!(
        message.data["data"],
        json!({ "author_side": "client", "direction": "inbound", "held": false, "new_ticket": true })
    );
    // Maria's address is not the agent's to see.
    assert_eq!(message.data["actor"], Value::Null);
    assert!(
        message.data["at"]
            .as_str()
            .is_some_and(|at| at.ends_with('Z')),
        "{message:?}"
    );

    // Written by another process: the hub's poll finds it.
    let reply = Mail::new(MARIA, DESK, &format!("Re: [#{ticket}] sideboard"))
        .body("And can you deliver it?\n");
    ingest(&served, &reply.bytes());
    let stored = Instant::now();
    let next = stream.next(WAIT).expect("the ingested message");
    assert_eq!(next.event, "message.created");
    assert_eq!(next.data["ticket"], ticket);
    let late = next.at.saturating_duration_since(stored);
    println!("{}: parley ingest → stream: {late:?}", backend.name());
    assert!(late < Duration::from_secs(2), "{late:?}");

    // The server stops: the stream ends with it, long before the grace.
    let stopping = Instant::now();
    served.sigterm();
    assert!(stream.ends_within(Duration::from_secs(10)), "still open");
    let status = served.wait_exit(Duration::from_secs(20));
    assert_eq!(status.and_then(|s| s.code()), Some(0), "{}", served.log());
    assert!(
        stopping.elapsed() < Duration::from_secs(10),
        "the stream held the exit for {:?}",
        stopping.elapsed()
    );
}

/// Messages of the burst (each opens a ticket: two events).
const BURST: usize = 1000;
/// SMTP sessions delivering at once.
const SESSIONS: usize = 8;
/// Of the burst, messages stored by `parley ingest` processes (4 at once)
/// beside the server: other writers on the same store.
const INGESTED: usize = 40;

#[test]
fn a_client_resumes_after_a_disconnect_in_a_burst_and_misses_nothing() {
    for backend in backends() {
        println!("== on {}", backend.name());
        resume_in_a_burst(&backend);
    }
}

fn resume_in_a_burst(backend: &Backend) {
    let (served, port) = serve(backend, "");
    let served = Arc::new(served);
    let mut stream = open(&served, "/api/v1/events?after=0", MODERATOR.2);
    let sent = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let mut writers = Vec::new();
    let by_smtp = (BURST - INGESTED) / SESSIONS;
    for s in 0..SESSIONS {
        let sent = sent.clone();
        writers.push(std::thread::spawn(move || {
            let mut smtp = session(port);
            for n in 0..by_smtp {
                let from = format!("s{s}@buyer.example");
                let mail = Mail::new(&from, DESK, &format!("burst s{s} n{n}"));
                deliver(&mut smtp, &from, DESK, &mail.bytes());
                sent.fetch_add(1, Ordering::SeqCst);
            }
        }));
    }
    for p in 0..4 {
        let (served, sent) = (served.clone(), sent.clone());
        writers.push(std::thread::spawn(move || {
            for n in 0..INGESTED / 4 {
                let from = format!("p{p}@buyer.example");
                ingest(
                    &served,
                    &Mail::new(&from, DESK, &format!("pipe {p} {n}")).bytes(),
                );
                sent.fetch_add(1, Ordering::SeqCst);
            }
        }));
    }
    let waiter = {
        let done = done.clone();
        std::thread::spawn(move || {
            for writer in writers {
                writer.join().expect("a writer failed");
            }
            done.store(true, Ordering::SeqCst);
        })
    };

    // A third of the way in, the connection drops.
    let mut received: Vec<SseEvent> = Vec::new();
    while received.len() < 2 * BURST / 3 {
        received.push(stream.next(WAIT).expect("events of the burst"));
    }
    let last = received.last().unwrap().id;
    assert!(
        !done.load(Ordering::SeqCst),
        "the burst ended before the disconnect"
    );
    stream.disconnect();
    let gone = sent.load(Ordering::SeqCst);
    // The burst goes on without us for a while.
    while sent.load(Ordering::SeqCst) < gone + 100 && !done.load(Ordering::SeqCst) {
        std::thread::sleep(Duration::from_millis(10));
    }
    let mut again = EventStream::open(
        served.http,
        "/api/v1/events?after=0",
        &[&bearer(MODERATOR.2), &format!("Last-Event-ID: {last}")],
    )
    .unwrap_or_else(|a| panic!("{a:?}"));
    let resumed_at = received.len();
    while received.len() < 2 * BURST {
        match again.next(WAIT) {
            Some(event) => received.push(event),
            None => panic!(
                "{}: {} of {} events, the burst {}",
                backend.name(),
                received.len(),
                2 * BURST,
                if done.load(Ordering::SeqCst) {
                    "over"
                } else {
                    "going on"
                }
            ),
        }
    }
    waiter.join().unwrap();
    // Nothing more comes: nothing twice.
    assert_eq!(again.next(Duration::from_millis(1500)), None);

    let ids: Vec<i64> = received.iter().map(|e| e.id).collect();
    assert!(
        ids.windows(2).all(|w| w[0] < w[1]),
        "{}: out of order or twice around the resume ({resumed_at}): {:?}",
        backend.name(),
        &ids[resumed_at.saturating_sub(3)..(resumed_at + 3).min(ids.len())]
    );
    let stored: Vec<i64> = stored_events(&served).iter().map(|e| e.id).collect();
    assert_eq!(stored.len(), 2 * BURST);
    let (got, all): (BTreeSet<i64>, BTreeSet<i64>) = (
        ids.iter().copied().collect(),
        stored.iter().copied().collect(),
    );
    assert_eq!(
        all.difference(&got).collect::<Vec<_>>(),
        Vec::<&i64>::new(),
        "{}: lost",
        backend.name()
    );
    assert_eq!(ids, stored, "{}", backend.name());
    let kinds = received.iter().filter(|e| e.event == "message.created");
    assert_eq!(kinds.count(), BURST);
}

#[test]
fn a_stream_carries_only_what_its_caller_may_see() {
    for backend in backends() {
        println!("== on {}", backend.name());
        visibility(&backend);
    }
}

fn visibility(backend: &Backend) {
    let (served, port) = serve(backend, "");
    let (maria, bob, agent, expert) = (
        token(&served, MARIA, None),
        token(&served, BOB, None),
        token(&served, AGENT, None),
        token(&served, EXPERT, None),
    );
    let mut streams = vec![
        ("maria", open(&served, "/api/v1/events", &maria)),
        // A browser's EventSource: the token in the URL.
        (
            "bob",
            EventStream::open(
                served.http,
                &format!("/api/v1/events?access_token={bob}"),
                &[],
            )
            .unwrap_or_else(|a| panic!("{a:?}")),
        ),
        ("agent", open(&served, "/api/v1/events", &agent)),
        // Joins Maria's conversation when it is forwarded to them.
        ("expert", open(&served, "/api/v1/events", &expert)),
        ("moderator", open(&served, "/api/v1/events", MODERATOR.2)),
        ("marketplace", open(&served, "/api/v1/events", PLATFORM.2)),
        (
            "as maria",
            open(
                &served,
                &format!("/api/v1/events?as={}", MARIA.replace('@', "%40")),
                PLATFORM.2,
            ),
        ),
    ];

    // Maria and Bob each open a conversation; Maria then writes a payment
    // instruction (held), which a moderator rejects; the desk forwards
    // Maria's conversation to an expert; last, each writes once more.
    let mut smtp = session(port);
    let first = Mail::new(MARIA, DESK, "Oak sideboard");
    deliver(&mut smtp, MARIA, DESK, &first.bytes());
    deliver(
        &mut smtp,
        BOB,
        DESK,
        &Mail::new(BOB, DESK, "Brass lamp").bytes(),
    );
    let all = stored_events(&served);
    let (a, b) = (all[0].ticket, all[2].ticket);
    let held = Mail::new(MARIA, DESK, &format!("Re: [#{a}] Oak sideboard"))
        .body("Fine, I pay by Venmo then, skip the fees.\n");
    deliver(&mut smtp, MARIA, DESK, &held.bytes());
    let held_id = stored_events(&served)
        .iter()
        .rev()
        .find(|e| e.kind == "message.created")
        .and_then(|e| e.message)
        .unwrap();
    let reject = [
        "moderation",
        "reject",
        &held_id.to_string(),
        "--reason",
        "no",
    ];
    served.cli(0, &reject, b"");
    served.cli(
        0,
        &["tickets", "forward", &a.to_string(), "--to", EXPERT],
        b"",
    );
    let last_a = Mail::new(MARIA, DESK, &format!("Re: [#{a}] Oak sideboard")).body("Thanks!\n");
    deliver(&mut smtp, MARIA, DESK, &last_a.bytes());
    let last_b = Mail::new(BOB, DESK, &format!("Re: [#{b}] Brass lamp")).body("Still there?\n");
    deliver(&mut smtp, BOB, DESK, &last_b.bytes());

    let all = stored_events(&served);
    let sentinel = |ticket: i64| {
        all.iter()
            .rev()
            .find(|e| e.kind == "message.created" && e.ticket == ticket)
            .unwrap()
            .id
    };
    let newest = all.last().unwrap().id;
    let mut seen = std::collections::HashMap::new();
    for (who, stream) in &mut streams {
        let until = match *who {
            "maria" | "as maria" => sentinel(a),
            "bob" => sentinel(b),
            "expert" => sentinel(a),
            _ => newest,
        };
        let mut events = read_until(stream, until, who);
        // Nothing after it that is theirs: a moment more shows none.
        if let Some(more) = stream.next(Duration::from_millis(700)) {
            events.push(more);
        }
        seen.insert(*who, events);
    }
    let summary = |who: &str| -> Vec<(String, i64, bool)> {
        seen[who]
            .iter()
            .map(|e| {
                let held = e.data["data"]["held"] == true || e.event == "message.moderated";
                (e.event.clone(), e.data["ticket"].as_i64().unwrap(), held)
            })
            .collect()
    };
    let tickets = |who: &str| -> BTreeSet<i64> { summary(who).iter().map(|s| s.1).collect() };
    let kinds = |who: &str| -> Vec<String> { summary(who).into_iter().map(|s| s.0).collect() };

    // The moderator sees the whole log.
    let ids = |who: &str| -> Vec<i64> { seen[who].iter().map(|e| e.id).collect() };
    assert_eq!(
        ids("moderator"),
        all.iter().map(|e| e.id).collect::<Vec<_>>()
    );
    // Each client sees their own conversation only.
    assert_eq!(tickets("maria"), BTreeSet::from([a]));
    assert_eq!(tickets("bob"), BTreeSet::from([b]));
    // Maria sees her held message and its rejection, never the forward.
    let mine = summary("maria");
    assert!(
        mine.contains(&("message.created".into(), a, true)),
        "{mine:?}"
    );
    assert!(
        mine.contains(&("message.moderated".into(), a, true)),
        "{mine:?}"
    );
    assert!(!kinds("maria").contains(&"ticket.forwarded".to_string()));
    // The platform key acting as Maria sees what she sees.
    assert_eq!(ids("as maria"), ids("maria"));
    // The seller side and the marketplace: both conversations and the
    // forward, never the held message nor its rejection.
    for who in ["agent", "marketplace"] {
        assert_eq!(tickets(who), BTreeSet::from([a, b]), "{who}");
        assert!(
            summary(who).iter().all(|s| !s.2),
            "{who}: {:?}",
            summary(who)
        );
        assert!(
            kinds(who).contains(&"ticket.forwarded".to_string()),
            "{who}"
        );
    }
    // Forwarded to, the expert sees Maria's conversation from then on:
    // who may see a conversation is read again when it changes.
    let theirs = kinds("expert");
    assert_eq!(tickets("expert"), BTreeSet::from([a]));
    assert_eq!(theirs.first().map(String::as_str), Some("ticket.forwarded"));
    assert!(
        theirs.contains(&"message.created".to_string()),
        "{theirs:?}"
    );
    // The actor: the person's own address, nobody else's.
    let actor = |who: &str, ticket: i64| -> Vec<Value> {
        seen[who]
            .iter()
            .filter(|e| e.event == "message.created" && e.data["ticket"] == ticket)
            .map(|e| e.data["actor"].clone())
            .collect()
    };
    assert!(actor("maria", a).iter().all(|x| x == MARIA));
    assert!(actor("agent", a).iter().all(Value::is_null));
    assert!(actor("marketplace", b).iter().all(|x| x == BOB));
    assert!(
        !seen["agent"]
            .iter()
            .any(|e| e.data.to_string().contains(EXPERT) && e.event != "ticket.forwarded"),
        "an address where none belongs"
    );
    assert!(
        !seen["maria"]
            .iter()
            .any(|e| e.data.to_string().contains("Venmo")),
        "a message's text in an event"
    );
}

#[test]
fn streams_end_with_their_token_and_are_capped() {
    let (served, _) = serve(&Backend::Sqlite, "max_event_streams = 2");
    // An API key never travels in a URL.
    let refused = EventStream::open(
        served.http,
        &format!("/api/v1/events?access_token={}", PLATFORM.2),
        &[],
    )
    .err()
    .expect("refused");
    refused.problem(401, "unauthorized");
    let bad = EventStream::open(
        served.http,
        "/api/v1/events",
        &[&bearer(MODERATOR.2), "Last-Event-ID: yesterday"],
    )
    .err()
    .expect("refused");
    bad.problem(400, "bad-request");
    let acting = EventStream::open(
        served.http,
        "/api/v1/events?as=maria%40buyer.example",
        &[&bearer(MODERATOR.2)],
    )
    .err()
    .expect("refused");
    acting.problem(403, "forbidden");

    // A token for two seconds: its stream ends when it does.
    let brief = token(&served, MARIA, Some(2));
    let mut short = open(&served, "/api/v1/events", &brief);
    let opened = Instant::now();
    assert!(short.ends_within(Duration::from_secs(10)), "still open");
    assert!(
        opened.elapsed() >= Duration::from_millis(1000),
        "{:?}",
        opened.elapsed()
    );

    // Two streams at most; a third is 503 until one goes.
    let one = open(&served, "/api/v1/events", MODERATOR.2);
    let _two = open(&served, "/api/v1/events", MODERATOR.2);
    let third = EventStream::open(served.http, "/api/v1/events", &[&bearer(MODERATOR.2)])
        .err()
        .expect("over the cap");
    third.problem(503, "unavailable");
    assert!(third.header("retry-after").is_some());
    one.disconnect();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match EventStream::open(served.http, "/api/v1/events", &[&bearer(MODERATOR.2)]) {
            Ok(_) => break,
            Err(answer) if Instant::now() < deadline => {
                answer.problem(503, "unavailable");
                std::thread::sleep(Duration::from_millis(100));
            }
            Err(answer) => panic!("the closed stream still counts: {answer:?}"),
        }
    }
}

/// A follower that falls behind the hub by more than its channel holds
/// reads what it missed from the store: every event once, in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_that_falls_behind_reads_the_store() {
    for backend in backends() {
        let env = common::TestEnv::new(&backend, |_| {}).await;
        let store = env.intake.shared_store();
        let ticket = env.open_ticket(MARIA, "Oak sideboard").await;
        let start = store.newest_event().await.unwrap();
        let hub = parley::http::hub::Hub::with_channel(store.clone(), 10, 4);
        let mut follow = hub.follow(None).await.unwrap().expect("a slot");
        for i in 0..40 {
            let status = match i % 2 {
                0 => parley::tickets::Status::AwaitingClient,
                _ => parley::tickets::Status::AwaitingSeller,
            };
            store.set_status(ticket, status, "cli").await.unwrap();
        }
        let written: Vec<i64> = store
            .events_after(start, 1000)
            .await
            .unwrap()
            .iter()
            .map(|e| e.id)
            .collect();
        assert_eq!(written.len(), 40);
        // Let the hub send them all (ten times what the channel holds)
        // before the follower reads one.
        tokio::time::sleep(parley::http::hub::POLL * 3).await;
        let mut read = Vec::new();
        while read.len() < written.len() {
            let next = tokio::time::timeout(WAIT, follow.next()).await;
            let live = next.expect("in time").unwrap().expect("open");
            read.push(live.event.id);
        }
        assert_eq!(read, written, "{}", backend.name());
        let more = tokio::time::timeout(Duration::from_millis(700), follow.next()).await;
        assert!(more.is_err(), "{}: more than was written", backend.name());
    }
}

/// An idle stream gets a comment line every 15 s, and nothing else.
#[test]
fn an_idle_stream_gets_a_comment_every_15_seconds() {
    let (served, _) = serve(&Backend::Sqlite, "");
    let mut stream = open(&served, "/api/v1/events", MODERATOR.2);
    assert_eq!(
        stream
            .headers
            .get("x-accel-buffering")
            .and_then(|v| v.to_str().ok()),
        Some("no")
    );
    assert_eq!(stream.next(Duration::from_secs(14)), None);
    assert_eq!(stream.comments, 0, "a comment before 15 s");
    assert_eq!(stream.next(Duration::from_secs(3)), None);
    assert_eq!(stream.comments, 1, "no comment after 15 s");
}
