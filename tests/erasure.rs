//! `parley erase --participant ADDR`: after it, the address is in no
//! value of any table of the store (every column of every table scanned,
//! so a table added later that keeps it fails here), the tickets are
//! there, the person's texts read "[erased]", on every backend.

#[macro_use]
mod common;
#[path = "retention/db.rs"]
mod db;

use common::cli::Cli;
use common::*;
use db::Db;
use parley::store::{ConsoleRole, ERASED_TEXT, NewRaw, Source, StoreError, now_ms};

/// Maria as her mail client names her.
const MARIA_FROM: &str = "Maria Rossi <Maria@Buyer.example>";

/// Rows of the search index that hold the word `word` (the names' table).
async fn indexed(db: &Db, backend: &str, word: &str) -> i64 {
    match backend {
        "sqlite" => {
            db.int(&format!(
                "SELECT count(*) FROM search_words WHERE tbl = 'search_names' \
                 AND ' ' || words || ' ' LIKE '% {word} %'"
            ))
            .await
        }
        _ => {
            db.int(&format!(
                "SELECT count(*) FROM search_names WHERE doc @@ CAST('{word}' AS tsquery)"
            ))
            .await
        }
    }
}

async fn erases_a_participant_everywhere(env: &TestEnv) {
    let store = env.store();
    let db = Db::open(&env.config.store.url).await;
    // Maria opens a ticket; the seller's side answers by mail, quoting her
    // address; she writes again; Bob has a ticket of his own.
    let mail = Mail::new(MARIA_FROM, DESK, "Is the lamp still there?")
        .body("Hello, write to me at maria@buyer.example please.\n\nMaria Rossi\n");
    env.deliver(&mail, &[]).await;
    let ticket = 1;
    let agent = env.reply_address(ticket, AGENT).await;
    let answer = Mail::new(AGENT, &agent, "Re: Is the lamp still there?").body(
        "Yes, Maria@buyer.example, it is.\n\nOn Monday maria@buyer.example wrote:\n> Hello\n",
    );
    env.deliver(&answer, &[&agent]).await;
    let maria = env.reply_address(ticket, MARIA).await;
    env.deliver(
        &Mail::new(MARIA, &maria, "Re: Is the lamp still there?").body("Great, I take it."),
        &[&maria],
    )
    .await;
    let bob = env.open_ticket(BOB, "A chair").await;
    store
        .add_console_user(
            MARIA,
            Some("Maria Rossi"),
            ConsoleRole::Seller,
            "x",
            now_ms(),
        )
        .await
        .unwrap();
    let messages = store.messages(ticket).await.unwrap();
    assert_eq!(messages.len(), 3, "{messages:?}");
    let rows = store.notifications(ticket).await.unwrap();
    let hers: Vec<_> = rows.iter().filter(|r| r.recipient == MARIA).collect();
    assert!(!hers.is_empty(), "a notification to her waits: {rows:?}");
    // A notification to her bounced: kept in quarantine, in the history.
    let bounce = format!(
        "From: MAILER-DAEMON@mx.buyer.example\r\nSubject: Undelivered\r\n\r\n\
         Final-Recipient: rfc822; {MARIA}\r\nStatus: 4.2.2 (mailbox full)\r\n"
    );
    let raw = NewRaw {
        bytes: bounce.into_bytes(),
        sha256: [7; 32],
        envelope_from: None,
        envelope_to: vec![format!("bounce+x@{REPLY_DOMAIN}")],
        source: Source::Smtp,
    };
    let detail = format!("452 4.2.2 <{MARIA}>: mailbox full");
    let bounced = store
        .record_bounce(hers[0].id, &raw, &detail)
        .await
        .unwrap();
    assert!(bounced.is_some());
    // And one more waits to go to her.
    let more = Mail::new(AGENT, &agent, "Re: Is the lamp still there?").body("Anything else?");
    env.deliver(&more, &[&agent]).await;
    let rows = store.notifications(ticket).await.unwrap();
    let pending: Vec<_> = rows
        .iter()
        .filter(|r| r.recipient == MARIA && r.state.as_str() == "pending")
        .collect();
    assert!(!pending.is_empty(), "{rows:?}");
    let before = db.naming(MARIA).await;
    for table in [
        "audit_log",
        "quarantine",
        "events",
        "outbox",
        "participants",
    ] {
        assert!(
            before.iter().any(|(t, _, _)| t == table),
            "{table}: {before:?}"
        );
    }
    assert!(before.len() >= 5, "she is all over the store: {before:?}");
    assert!(indexed(&db, env.backend, "maria").await > 0);
    let bob_raw = store.messages(bob).await.unwrap()[0].raw_id.unwrap();

    let erased = store.erase_participant(MARIA, "dpo").await.unwrap();
    assert_eq!(erased.tickets, vec![ticket]);
    assert_eq!(erased.messages, 2, "{erased:?}");
    assert_eq!(
        erased.raw_mails, 4,
        "hers, the answer that names her, the bounce"
    );
    assert_eq!(
        erased.notifications_cancelled,
        pending.len() as i64,
        "{erased:?}"
    );
    let placeholder = erased.placeholder.clone();
    assert!(
        placeholder.starts_with("erased-") && placeholder.ends_with("@invalid"),
        "{placeholder}"
    );

    // Nowhere, in any column of any table.
    let left = db.naming(MARIA).await;
    assert!(left.is_empty(), "{}: still in {left:?}", env.backend);
    assert_eq!(indexed(&db, env.backend, "maria").await, 0, "the index");
    assert_eq!(indexed(&db, env.backend, "rossi").await, 0, "the index");

    // The ticket stays, her texts masked, the others' with the placeholder.
    let t = env.ticket(ticket).await;
    assert_eq!(t.subject, ERASED_TEXT, "she opened it");
    let after = store.messages(ticket).await.unwrap();
    assert_eq!(after.len(), 4);
    assert_eq!(after[0].reply_text, ERASED_TEXT);
    assert_eq!(after[2].reply_text, ERASED_TEXT);
    assert!(after[..3].iter().all(|m| m.raw_id.is_none()), "{after:?}");
    assert!(
        after[3].raw_id.is_some(),
        "mail that does not name her keeps its raw"
    );
    assert!(
        after[1]
            .reply_text
            .contains(&format!("Yes, {placeholder}, it is")),
        "{}",
        after[1].reply_text
    );
    let people = store.participants(ticket).await.unwrap();
    let her = people
        .iter()
        .find(|p| p.address == placeholder)
        .expect("her row");
    assert_eq!(her.display_name, None);
    assert!(people.iter().any(|p| p.address == AGENT));
    let audit = store.audit(ticket).await.unwrap();
    let entry = audit
        .iter()
        .find(|a| a.action == "participant.erased")
        .expect("an audit entry");
    assert_eq!(entry.actor, "dpo");
    let now = store.notifications(ticket).await.unwrap();
    let to_her: Vec<i64> = hers.iter().chain(&pending).map(|r| r.id).collect();
    assert!(to_her.len() >= 2);
    for row in now.iter().filter(|r| to_her.contains(&r.id)) {
        assert_eq!(row.recipient, placeholder, "{row:?}");
        assert_eq!(row.state.as_str(), "failed", "{row:?}");
    }
    assert!(
        store.quarantined().await.unwrap().is_empty(),
        "the bounce is gone"
    );
    let account = store
        .console_user(&placeholder)
        .await
        .unwrap()
        .expect("renamed");
    assert!(account.disabled_ms.is_some(), "{account:?}");

    // Bob's ticket is untouched, and search works again.
    assert_eq!(env.ticket(bob).await.subject, "A chair");
    assert!(store.raw_bytes(bob_raw).await.unwrap().is_some());
    assert!(!db.naming(BOB).await.is_empty());
    assert!(
        indexed(&db, env.backend, "bob").await > 0,
        "the index is built again"
    );

    // Again: nobody left by that address. A queue's address: refused.
    let again = store.erase_participant(MARIA, "dpo").await;
    assert!(matches!(again, Err(StoreError::NotFound(_))), "{again:?}");
    let ours = store.erase_participant(AGENT, "dpo").await;
    assert!(matches!(ours, Err(StoreError::Conflict(_))), "{ours:?}");
}

#[tokio::test]
async fn erase_on_every_backend() {
    on_every_backend!(erases_a_participant_everywhere);
}

#[test]
fn parley_erase_prints_a_summary_and_refuses_what_it_cannot() {
    let cli = Cli::new();
    let mail = Mail::new(MARIA, DESK, "A question").bytes();
    cli.expect(0, &["ingest", "--recipient", DESK], &mail);
    let said = cli.expect(0, &["erase", "--participant", MARIA], b"");
    assert!(said.contains(&format!("erased {MARIA}")), "{said}");
    assert!(said.contains("tickets: #1"), "{said}");
    assert!(said.contains("messages masked: 1"), "{said}");
    let shown = cli.expect(0, &["tickets", "show", "1"], b"");
    assert!(
        shown.contains(ERASED_TEXT) && !shown.contains(MARIA),
        "{shown}"
    );
    cli.expect(1, &["erase", "--participant", MARIA], b"");
    cli.expect(77, &["erase", "--participant", DESK], b"");
    cli.expect(64, &["erase", "--participant", "not-an-address"], b"");
}
