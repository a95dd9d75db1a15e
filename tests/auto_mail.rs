//! Mail no person wrote, through the whole intake: auto-replies, bounces,
//! list mail and loops never start a conversation, change a status or
//! notify anyone; a bounce of a notification marks its recipient failing.

#[macro_use]
mod common;

use common::*;
use parley::intake::{Envelope, Outcome};
use parley::store::Source;
use parley::tickets::Status;

fn quarantined(outcome: &Outcome) -> &'static str {
    match outcome {
        Outcome::Quarantined { reason, .. } => reason,
        other => panic!("expected quarantine, got {other:?}"),
    }
}

#[tokio::test]
async fn out_of_office_on_a_ticket_is_kept_but_changes_nothing() {
    on_every_backend!(out_of_office);
}

async fn out_of_office(env: &TestEnv) {
    let ticket = env.open_ticket(MARIA, "Lot 12").await;
    let to = env.reply_address(ticket, MARIA).await;
    let before = env.counts().await;
    let mail = Mail::new(MARIA, &to, "Automatic reply: Lot 12")
        .header("Auto-Submitted", "auto-replied")
        .body("I am out of the office until Monday.");
    assert_eq!(
        env.plan(&mail, &[&to])
            .await
            .classification
            .unwrap()
            .auto
            .as_str(),
        "auto_reply"
    );
    let Outcome::Stored { ticket: on, .. } = env.deliver(&mail, &[&to]).await else {
        panic!("an auto-reply on a ticket is stored");
    };
    assert_eq!(on, ticket);
    let after = env.counts().await;
    assert_eq!(after.messages, before.messages + 1);
    assert_eq!(after.notifications, before.notifications, "nobody notified");
    assert_eq!(after.audit, before.audit, "no status change");
    assert_eq!(env.status(ticket).await, Status::Open);
    let stored = env.store().messages(ticket).await.unwrap().pop().unwrap();
    assert_eq!(stored.auto, "auto_reply");
}

#[tokio::test]
async fn automatic_mail_opens_no_ticket() {
    on_every_backend!(no_ticket_from_machines);
}

async fn no_ticket_from_machines(env: &TestEnv) {
    let cases = [
        (
            "auto_reply",
            Mail::new(BOB, DESK, "Out of Office").header("X-Autoreply", "yes"),
        ),
        (
            "list",
            Mail::new(BOB, DESK, "Weekly digest")
                .header("List-Id", "<digest.lists.example>")
                .header("Precedence", "list"),
        ),
    ];
    for (reason, mail) in cases {
        let before = env.counts().await;
        assert_eq!(quarantined(&env.deliver(&mail, &[DESK]).await), reason);
        let after = env.counts().await;
        assert_eq!(after.tickets, before.tickets, "{reason}: no ticket");
        assert_eq!(after.notifications, before.notifications, "{reason}");
    }
}

#[tokio::test]
async fn our_own_mail_coming_back_is_a_loop() {
    on_every_backend!(loops);
}

async fn loops(env: &TestEnv) {
    let ticket = env.open_ticket(MARIA, "Lot 12").await;
    let issued = env.store().notifications(ticket).await.unwrap()[0]
        .message_id
        .clone();
    let to = env.reply_address(ticket, MARIA).await;
    let before = env.counts().await;
    // A notification of ours delivered back to us (its own Message-ID).
    let echo = Mail::new(AGENT, &to, "New message").header("Message-ID", &format!("<{issued}>"));
    assert_eq!(quarantined(&env.deliver(&echo, &[&to]).await), "loop");
    // Or carrying our loop header.
    let marked = Mail::new(MARIA, &to, "Re: Lot 12").header("X-Parley-Loop", REPLY_DOMAIN);
    assert_eq!(quarantined(&env.deliver(&marked, &[&to]).await), "loop");
    let after = env.counts().await;
    assert_eq!(
        (after.messages, after.tickets),
        (before.messages, before.tickets)
    );
}

#[tokio::test]
async fn a_bounce_marks_the_notified_address_failing() {
    on_every_backend!(bounces);
}

fn dsn(to: &str) -> Vec<u8> {
    report(to, "failed", "5.1.1")
}

fn report(to: &str, action: &str, status: &str) -> Vec<u8> {
    format!(
        "From: MAILER-DAEMON@mx.buyer.example\r\nTo: {to}\r\nSubject: Undelivered Mail Returned to Sender\r\n\
         Message-ID: <dsn-{}@mx.buyer.example>\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/report; report-type=delivery-status; boundary=\"b\"\r\n\r\n\
         --b\r\nContent-Type: text/plain\r\n\r\nThe mail could not be delivered.\r\n\
         --b\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.buyer.example\r\n\r\n\
         Final-Recipient: rfc822; {MARIA}\r\nAction: {action}\r\nStatus: {status}\r\n\r\n--b--\r\n",
        unique()
    )
    .into_bytes()
}

async fn bounces(env: &TestEnv) {
    // The seller answers; the notification to Maria bounces.
    let ticket = env.open_ticket(MARIA, "Lot 12").await;
    let seller_to = env.reply_address(ticket, AGENT).await;
    env.deliver(&Mail::new(AGENT, &seller_to, "Re: Lot 12"), &[&seller_to])
        .await;
    let rows = env.store().notifications(ticket).await.unwrap();
    let to_maria = rows
        .iter()
        .find(|n| n.recipient == MARIA)
        .expect("notified");
    let verp = format!(
        "bounce+{}@{REPLY_DOMAIN}",
        env.signer().bounce_token(to_maria.id)
    );
    let before = env.counts().await;
    let null_sender = Envelope {
        sender: Some(String::new()),
        recipients: vec![verp.clone()],
        source: Source::Smtp,
    };
    // "Still trying for 8 hours" is no failure: kept, the address not marked.
    let delayed = report(&verp, "delayed", "4.4.7");
    let outcome = env.intake.deliver(delayed, &null_sender).await.unwrap();
    assert_eq!(quarantined(&outcome), "delivery_report");
    assert!(env.participant(ticket, MARIA).await.failing_since.is_none());
    let outcome = env.intake.deliver(dsn(&verp), &null_sender).await.unwrap();
    let Outcome::Bounced(Some(bounced)) = outcome else {
        panic!("expected a matched bounce, got {outcome:?}");
    };
    assert_eq!(
        (bounced.notification, bounced.address.as_str()),
        (to_maria.id, MARIA)
    );
    assert!(env.participant(ticket, MARIA).await.failing_since.is_some());
    assert!(env.participant(ticket, AGENT).await.failing_since.is_none());
    let after = env.counts().await;
    assert_eq!(
        (after.tickets, after.messages),
        (before.tickets, before.messages)
    );
    assert_eq!(
        env.store()
            .quarantined()
            .await
            .unwrap()
            .last()
            .unwrap()
            .reason,
        "bounce"
    );

    // A forged VERP token is no match for anything: quarantined, no ticket.
    let forged = verp.replace("bounce+", "bounce+x");
    let outcome = env
        .intake
        .deliver(
            dsn(&forged),
            &Envelope {
                recipients: vec![forged.clone(), DESK.into()],
                ..null_sender
            },
        )
        .await
        .unwrap();
    assert_eq!(quarantined(&outcome), "bounce");
    assert_eq!(
        env.counts().await.tickets,
        after.tickets,
        "a bounce never opens a ticket"
    );
}
