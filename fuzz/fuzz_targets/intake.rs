//! Arbitrary bytes through intake: parse, classify, reply extraction,
//! threading and the decision, against a real SQLite store that holds a few
//! tickets (so the token, References and subject-tag lookups find
//! something). Only `Intake::plan` runs: nothing is written per input, so
//! the store stays the same size however long the fuzzer runs.
//!
//! Errors (`StoreError`) are answers; only panics are bugs.
//!
//! Every input runs:
//! - the pure stages directly: `reply::extract` and `reply::extract_html`
//!   on the bytes read as UTF-8 (lossy), `parse::parse`, then on its result
//!   `reply::for_message`, `reply::extract` of the text,
//!   `reply::extract_html` and `reply::sanitize_html` of the HTML, and
//!   `classify::classify` with a null and an unknown envelope sender;
//! - `plan` with the header recipients (empty envelope recipients);
//! - one more `plan`, chosen by the input's length so that the same input
//!   always takes the same path: (0) to the desk plus a valid reply address
//!   of an existing ticket (the token path), (1) with an `In-Reply-To:`
//!   naming a Message-ID parley issued put on top (the References path),
//!   (2) to a valid VERP bounce address of an existing notification.
//!
//! Run: see docs/testing.md ("Fuzzing").

#![no_main]

use std::sync::{Arc, OnceLock};

use libfuzzer_sys::fuzz_target;
use parley::config::Config;
use parley::intake::{Envelope, Intake, Outcome, classify, parse, reply};
use parley::store::Source;
use parley::token::Signer;

const SECRET: &str = "fuzz-secret-0123456789abcdef0123456789";
const REPLY_DOMAIN: &str = "reply.shop.example";
const DESK: &str = "desk@shop.example";
const AGENT: &str = "agent@shop.example";
const MARIA: &str = "maria@buyer.example";
const BOB: &str = "bob@buyer.example";

/// Built once per fuzzing process.
struct World {
    runtime: tokio::runtime::Runtime,
    intake: Intake,
    /// The desk and a valid reply address of an existing ticket.
    token_recipients: Vec<String>,
    /// A valid VERP bounce address of an existing notification.
    bounce_recipient: String,
    /// Message-IDs parley issued for notifications (without brackets).
    issued: Vec<String>,
    /// Holds the config file and the database.
    _dir: tempfile::TempDir,
}

fn world() -> &'static World {
    static WORLD: OnceLock<World> = OnceLock::new();
    WORLD.get_or_init(setup)
}

fn envelope(sender: Option<&str>, recipients: &[String]) -> Envelope {
    Envelope {
        sender: sender.map(str::to_string),
        recipients: recipients.to_vec(),
        source: Source::Pipe,
    }
}

/// A seed mail that opens (or continues) a ticket.
fn seed_mail(from: &str, to: &str, subject: &str, id: &str, body: &str) -> Vec<u8> {
    format!(
        "From: {from}\r\nTo: {to}\r\nSubject: {subject}\r\n\
         Date: Sat, 21 Nov 2026 09:15:00 +0100\r\nMessage-ID: <{id}>\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n"
    )
    .into_bytes()
}

fn setup() -> World {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let url = format!("sqlite://{}/parley.db", dir.path().display());
    let path = dir.path().join("parley.toml");
    let text = format!(
        r#"[store]
url = "{url}"
acquire_timeout_secs = 30

[token]
secret = "{SECRET}"

[mail]
reply_domain = "{REPLY_DOMAIN}"

[[queues]]
name = "desk"
display_name = "Shop desk"
intake = ["{DESK}"]
staff = ["{AGENT}"]
"#
    );
    std::fs::write(&path, text).expect("config written");
    let mut config = Config::load(Some(&path)).expect("fuzz config loads");
    // PARLEY__* variables of the caller's shell must not redirect the store.
    config.store.url = url;
    config.token.secret = SECRET.into();
    config.mail.reply_domain = REPLY_DOMAIN.into();
    config.validate().expect("fuzz config is valid");
    let secret = config.load_secret().expect("secret");

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let (intake, token_recipients, bounce_recipient, issued) = runtime.block_on(async {
        let store = parley::store::open(&config.store).await.expect("store opens");
        for queue in &config.queues {
            store.sync_queue(queue).await.expect("queue synced");
        }
        let intake = Intake::new(&config, &secret, Arc::from(store));
        let none: Vec<String> = Vec::new();
        let mut tickets = Vec::new();
        for (from, subject, id, body) in [
            (
                MARIA,
                "Lot 7: when does the auction close?",
                "seed-1@buyer.example",
                "Hello, when does the auction for lot 7 close?\r\n\r\nMaria",
            ),
            (
                BOB,
                "Invoice for order 1234",
                "seed-2@buyer.example",
                "Please send the invoice again.\r\n-- \r\nBob",
            ),
            (
                MARIA,
                "Shipping to Austria",
                "seed-3@buyer.example",
                "Do you ship to Vienna?",
            ),
        ] {
            let raw = seed_mail(from, DESK, subject, id, body);
            match intake.deliver(raw, &envelope(None, &none)).await {
                Ok(Outcome::Stored { ticket, .. }) => tickets.push(ticket),
                other => panic!("seed mail {id}: expected a ticket, got {other:?}"),
            }
        }
        // A reply by token, so ticket 1 has a conversation.
        let maria = intake
            .store()
            .participant_by_address(tickets[0], MARIA)
            .await
            .expect("participant read")
            .expect("maria is on the first ticket");
        let reply_address = intake.minter().reply_address(tickets[0], maria.id).1;
        let raw = seed_mail(
            MARIA,
            &reply_address,
            "Re: [#1] Lot 7: when does the auction close?",
            "seed-4@buyer.example",
            "And can I bid by phone?\r\n\r\nOn Sat, 21 Nov 2026, Shop desk wrote:\r\n> Sunday 20:00.",
        );
        intake
            .deliver(raw, &envelope(None, std::slice::from_ref(&reply_address)))
            .await
            .expect("seed reply delivered");

        let mut issued = Vec::new();
        let mut notification_ids = Vec::new();
        for &ticket in &tickets {
            for n in intake
                .store()
                .notifications(ticket)
                .await
                .expect("notifications read")
            {
                issued.push(n.message_id);
                notification_ids.push(n.id);
            }
        }
        assert!(!issued.is_empty(), "the seed tickets issued no notification");
        let signer = Signer::new(SECRET.as_bytes());
        let bounce = format!(
            "bounce+{}@{REPLY_DOMAIN}",
            signer.bounce_token(notification_ids[0])
        );
        eprintln!(
            "parley-fuzz: tickets {tickets:?}, reply address {reply_address}, \
             bounce address {bounce}, {} issued Message-IDs",
            issued.len()
        );
        (
            intake,
            vec![DESK.to_string(), reply_address],
            bounce,
            issued,
        )
    });
    World {
        runtime,
        intake,
        token_recipients,
        bounce_recipient,
        issued,
        _dir: dir,
    }
}

fuzz_target!(|data: &[u8]| {
    let world = world();

    // The pure stages, directly: reply extraction on the raw bytes as text
    // and as HTML, then on what parse makes of them.
    let text = String::from_utf8_lossy(data);
    let _ = reply::extract(&text);
    let _ = reply::extract_html(&text);
    if let Some(parsed) = parse::parse(data) {
        let _ = reply::for_message(&parsed);
        let _ = reply::extract(&parsed.text);
        if let Some(html) = &parsed.html {
            let _ = reply::extract_html(html);
            let _ = reply::sanitize_html(html);
        }
        let _ = classify::classify(&parsed, Some(""), REPLY_DOMAIN);
        let _ = classify::classify(&parsed, None, REPLY_DOMAIN);
    }

    // The whole pipeline, recipients from the message.
    let _ = world
        .runtime
        .block_on(world.intake.plan(data, &envelope(None, &[])));

    // One more path, fixed per input.
    match data.len() % 3 {
        0 => {
            let sender = if data.first().is_some_and(|b| b & 1 == 1) {
                Some("")
            } else {
                Some(MARIA)
            };
            let _ = world.runtime.block_on(
                world
                    .intake
                    .plan(data, &envelope(sender, &world.token_recipients)),
            );
        }
        1 => {
            let id = &world.issued[data.len() % world.issued.len()];
            let mut raw = format!("In-Reply-To: <{id}>\r\n").into_bytes();
            raw.extend_from_slice(data);
            let _ = world
                .runtime
                .block_on(world.intake.plan(&raw, &envelope(None, &[])));
        }
        _ => {
            let _ = world.runtime.block_on(world.intake.plan(
                data,
                &envelope(Some(""), std::slice::from_ref(&world.bounce_recipient)),
            ));
        }
    }
});
