//! Threading and status rules through `Intake::plan` and `Intake::deliver`
//! on real stores (SQLite always, PostgreSQL when configured): which ticket
//! a mail lands on, which flags it gets, what it does to the status, and
//! that nothing is stored twice.

mod common;

use common::*;
use parley::config::Config;
use parley::intake::written::{About, Draft, Opening, Person, WriteOutcome, Written};
use parley::intake::{Decision, Outcome, Plan};
use parley::store::{File, Filing, Target};
use parley::tickets::{OnClosedReply, Status};
use parley::token::Signer;

/// Runs each case on a fresh store of every backend, with an optional
/// config change.
macro_rules! on_every_backend {
    ($($case:ident $(with $tweak:expr)?;)*) => {
        mod on_every_backend {
            use super::*;
            $(
                #[tokio::test]
                async fn $case() {
                    for backend in backends() {
                        println!("== {} on {}", stringify!($case), backend.name());
                        #[allow(unused_variables)]
                        let env = TestEnv::new(&backend, |c: &mut Config| {
                            $(($tweak)(c);)?
                        })
                        .await;
                        super::$case(&env).await;
                    }
                }
            )*
        }
    };
}

on_every_backend! {
    new_ticket_and_no_match;
    token_reply_threads;
    forged_tokens_are_not_threaded;
    old_key_replies_thread_by_references_or_tag;
    token_wins_over_references_and_subject;
    token_from_the_wrong_sender_is_held;
    references_thread_issued_message_ids;
    follow_up_threads_by_its_own_earlier_message;
    inbound_references_prefer_the_addressed_queue;
    long_references_are_bounded;
    subject_tag_only_from_participants;
    status_follows_the_conversation;
    finished_ticket_reopens;
    finished_ticket_opens_a_new_one
        with |c: &mut Config| c.tickets.on_closed_reply = OnClosedReply::NewTicket;
    finished_ticket_rejects
        with |c: &mut Config| c.tickets.on_closed_reply = OnClosedReply::Reject;
    duplicates_are_stored_once;
    unparseable_mail_is_quarantined;
    a_deleted_ticket_opens_a_new_one;
    a_deleted_ticket_answered_by_the_seller_side;
}

/// (matched_by, ticket, flags) of a plan.
fn thread_of(plan: &Plan) -> (&'static str, Option<i64>, Vec<&'static str>) {
    let t = plan.thread.as_ref().expect("a parsed mail is threaded");
    (
        t.matched_by.as_str(),
        t.ticket.as_ref().map(|t| t.number),
        t.flags.clone(),
    )
}

fn stored_on(outcome: &Outcome) -> (i64, bool) {
    match outcome {
        Outcome::Stored {
            ticket, new_ticket, ..
        } => (*ticket, *new_ticket),
        other => panic!("expected the mail stored, got {other:?}"),
    }
}

/// A reply from `from` to their own reply address on `ticket`.
async fn reply_by_token(env: &TestEnv, ticket: i64, from: &str) -> Outcome {
    let to = env.reply_address(ticket, from).await;
    env.deliver(&Mail::new(from, &to, "Re: your message"), &[&to])
        .await
}

/// The last Message-ID parley issued to `recipient` on `ticket`.
async fn issued_to(env: &TestEnv, ticket: i64, recipient: &str) -> String {
    let rows = env.store().notifications(ticket).await.unwrap();
    let row = rows.iter().rev().find(|n| n.recipient == recipient);
    row.unwrap_or_else(|| panic!("no notification to {recipient} on #{ticket}"))
        .message_id
        .clone()
}

async fn last_message_flags(env: &TestEnv, ticket: i64) -> (String, Vec<String>) {
    let messages = env.store().messages(ticket).await.unwrap();
    let m = messages.last().expect("a message");
    (m.matched_by.clone(), m.flags.clone())
}

async fn new_ticket_and_no_match(env: &TestEnv) {
    let mail = Mail::new("Maria Lopez <Maria@Buyer.Example>", DESK, "Lot 12");
    let plan = env.plan(&mail, &[]).await;
    assert_eq!(thread_of(&plan), ("new", None, vec![]));
    assert_eq!(plan.recipients, [DESK], "from the To header");
    let (number, new) = stored_on(&env.deliver(&mail, &[]).await);
    assert!(new);
    let ticket = env.ticket(number).await;
    assert_eq!(
        (ticket.queue.as_str(), ticket.status),
        ("desk", Status::Open)
    );
    assert_eq!(ticket.subject, "Lot 12");
    assert_eq!(env.role(number, MARIA).await, "client");
    assert_eq!(env.role(number, AGENT).await, "seller");

    // The envelope recipient decides, not the header: books, not desk.
    let to_books = Mail::new(BOB, DESK, "A book");
    let (books_ticket, _) = stored_on(&env.deliver(&to_books, &[BOOKS]).await);
    assert_eq!(env.ticket(books_ticket).await.queue, "books");
    assert_eq!(env.role(books_ticket, CLERK).await, "seller");

    let before = env.counts().await;
    let stray = Mail::new(BOB, NOBODY, "Hello?");
    assert_eq!(
        thread_of(&env.plan(&stray, &[]).await),
        ("none", None, vec![])
    );
    assert!(matches!(
        env.plan(&stray, &[]).await.decision,
        Decision::NoMatch
    ));
    assert_eq!(env.deliver(&stray, &[]).await, Outcome::NoMatch);
    assert_eq!(env.counts().await, before, "no match stores nothing");
}

async fn token_reply_threads(env: &TestEnv) {
    let ticket = env.open_ticket(MARIA, "Lot 12").await;
    let to = env.reply_address(ticket, MARIA).await;
    assert!(
        to.starts_with("reply+") && to.ends_with(&format!("@{REPLY_DOMAIN}")),
        "{to}"
    );
    // Not addressed to any intake: the token alone threads it.
    let mail = Mail::new(MARIA, &to, "Re: Lot 12 (edited subject)");
    let plan = env.plan(&mail, &[&to]).await;
    assert_eq!(thread_of(&plan), ("token", Some(ticket), vec![]));
    let thread = plan.thread.as_ref().unwrap();
    assert!(thread.sender_is_participant);
    let author = env.participant(ticket, MARIA).await;
    assert_eq!(thread.author.as_ref().map(|a| a.id), Some(author.id));

    // Case-folding MTAs do not break it.
    let upper = to.to_ascii_uppercase();
    assert_eq!(
        stored_on(&env.deliver(&mail, &[&upper]).await),
        (ticket, false)
    );
    let messages = env.store().messages(ticket).await.unwrap();
    assert_eq!(messages.len(), 2);
    assert_eq!(messages[1].author, Some(author.id));
    assert_eq!(messages[1].matched_by, "token");
}

async fn forged_tokens_are_not_threaded(env: &TestEnv) {
    let a = env.open_ticket(MARIA, "Ticket A").await;
    let b = env.open_ticket(BOB, "Ticket B").await;
    let maria_on_a = env.participant(a, MARIA).await.id;
    let signer = env.signer();
    let valid = signer.reply_token(a, maria_on_a);
    let mut flipped = valid.clone().into_bytes();
    let i = flipped.len() - 5; // inside the MAC
    flipped[i] = if flipped[i] == b'a' { b'b' } else { b'a' };
    let flipped = String::from_utf8(flipped).unwrap();
    let other_key = Signer::new(b"another key, not the configured one").reply_token(a, maria_on_a);
    // Correctly signed, but maria is no participant of B.
    let cross = signer.reply_token(b, maria_on_a);
    let unknown = signer.reply_token(a, 999_999);
    let truncated = valid[..valid.len() - 3].to_string();
    let cases = [
        ("bad HMAC", flipped, false),
        ("another key", other_key, false),
        ("another ticket's participant", cross, true),
        ("unknown participant", unknown, true),
        ("truncated", truncated, false),
    ];
    for (name, token, signature_ok) in cases {
        assert_eq!(signer.verify_reply(&token).is_ok(), signature_ok, "{name}");
        let forged = format!("reply+{token}@{REPLY_DOMAIN}");
        let mail = Mail::new(MARIA, &forged, &format!("Re: [#{b}] {name}"));
        let plan = env.plan(&mail, &[&forged]).await;
        assert_eq!(
            thread_of(&plan),
            ("none", None, vec!["bad_token"]),
            "{name}"
        );
        let before = env.counts().await;
        assert_eq!(
            env.deliver(&mail, &[&forged]).await,
            Outcome::NoMatch,
            "{name}"
        );
        assert_eq!(env.counts().await, before, "{name}: nothing stored");

        // With an intake address among the recipients: a new ticket, flagged.
        let mail = Mail::new(MARIA, &forged, &format!("Re: {name}"));
        let (number, new) = stored_on(&env.deliver(&mail, &[&forged, DESK]).await);
        assert!(new && number != a && number != b, "{name}: #{number}");
        let (matched_by, flags) = last_message_flags(env, number).await;
        assert_eq!(
            (matched_by.as_str(), flags),
            ("new", vec!["bad_token".to_string()])
        );
    }
    for ticket in [a, b] {
        assert_eq!(
            env.store().messages(ticket).await.unwrap().len(),
            1,
            "#{ticket}"
        );
    }
}

/// After a key rotation (`ingest` and the IMAP poller, through intake):
/// a reply to an address signed with the old key is flagged `bad_token`
/// and threads by References or, from a participant, by the subject tag.
async fn old_key_replies_thread_by_references_or_tag(env: &TestEnv) {
    let ticket = env.open_ticket(MARIA, "Lot 12").await;
    let issued = issued_to(env, ticket, AGENT).await;
    let maria = env.participant(ticket, MARIA).await.id;
    let old_key = Signer::new(b"the key before the rotation, 0123456");
    let old = format!(
        "reply+{}@{REPLY_DOMAIN}",
        old_key.reply_token(ticket, maria)
    );
    let agent = env.participant(ticket, AGENT).await.id;
    let old_agent = format!(
        "reply+{}@{REPLY_DOMAIN}",
        old_key.reply_token(ticket, agent)
    );

    let by_references =
        Mail::new(AGENT, &old_agent, "Re: Lot 12").header("References", &format!("<{issued}>"));
    let plan = env.plan(&by_references, &[&old_agent]).await;
    assert_eq!(
        thread_of(&plan),
        ("references", Some(ticket), vec!["bad_token"])
    );
    assert_eq!(
        stored_on(&env.deliver(&by_references, &[&old_agent]).await),
        (ticket, false)
    );
    let by_tag = Mail::new(MARIA, &old, &format!("Re: [#{ticket}] Lot 12"));
    assert_eq!(
        thread_of(&env.plan(&by_tag, &[&old]).await),
        ("subject", Some(ticket), vec!["bad_token"])
    );
    let neither = Mail::new(MARIA, &old, "Re: Lot 12");
    assert_eq!(env.deliver(&neither, &[&old]).await, Outcome::NoMatch);
}

async fn token_wins_over_references_and_subject(env: &TestEnv) {
    let a = env.open_ticket(MARIA, "Ticket A").await;
    let b = env.open_ticket(MARIA, "Ticket B").await;
    let issued_b = issued_to(env, b, AGENT).await;
    let to_a = env.reply_address(a, MARIA).await;
    // A's token, B's References and B's subject tag: the token wins.
    let mail = Mail::new(MARIA, &to_a, &format!("Re: [#{b}] mixed up"))
        .header("In-Reply-To", &format!("<{issued_b}>"));
    assert_eq!(thread_of(&env.plan(&mail, &[&to_a]).await).0, "token");
    assert_eq!(stored_on(&env.deliver(&mail, &[&to_a]).await), (a, false));
    // Without a token, References beat the subject tag.
    let mail = Mail::new(MARIA, DESK, &format!("Re: [#{a}] mixed up"))
        .header("References", &format!("<unknown@x> <{issued_b}>"));
    assert_eq!(
        thread_of(&env.plan(&mail, &[]).await),
        ("references", Some(b), vec![])
    );
    assert_eq!(stored_on(&env.deliver(&mail, &[]).await), (b, false));
}

async fn token_from_the_wrong_sender_is_held(env: &TestEnv) {
    let ticket = env.open_ticket(MARIA, "Lot 12").await;
    let to = env.reply_address(ticket, MARIA).await;
    for (sender, is_participant) in [(MALLORY, false), (AGENT, true)] {
        let before = env.counts().await;
        let mail = Mail::new(sender, &to, "Re: Lot 12");
        let plan = env.plan(&mail, &[&to]).await;
        assert_eq!(
            thread_of(&plan),
            ("token", Some(ticket), vec!["sender_mismatch"])
        );
        assert_eq!(plan.thread.unwrap().sender_is_participant, is_participant);
        assert_eq!(
            stored_on(&env.deliver(&mail, &[&to]).await),
            (ticket, false)
        );
        let (_, flags) = last_message_flags(env, ticket).await;
        assert_eq!(flags, ["sender_mismatch"], "{sender}");
        // The message is not attributed to the participant the token names.
        let author = env
            .store()
            .messages(ticket)
            .await
            .unwrap()
            .pop()
            .unwrap()
            .author;
        let maria = env.participant(ticket, MARIA).await.id;
        assert_ne!(author, Some(maria), "{sender}: not written by Maria");
        let agent = env.participant(ticket, AGENT).await.id;
        let expected = if is_participant { Some(agent) } else { None };
        assert_eq!(author, expected, "{sender}: the sender, when known");
        let after = env.counts().await;
        assert_eq!(after.messages, before.messages + 1, "{sender}: stored");
        assert_eq!(
            after.notifications, before.notifications,
            "{sender}: nobody notified"
        );
        // One audit entry, message.held; no status change.
        assert_eq!(
            after.audit,
            before.audit + 1,
            "{sender}: held, no status change"
        );
        assert_eq!(env.status(ticket).await, Status::Open, "{sender}");
    }
}

async fn references_thread_issued_message_ids(env: &TestEnv) {
    let ticket = env.open_ticket(MARIA, "Lot 12").await;
    reply_by_token(env, ticket, AGENT).await;
    assert_eq!(env.status(ticket).await, Status::AwaitingClient);
    let issued = issued_to(env, ticket, MARIA).await;
    let parent = format!("<{issued}>");

    // A stranger quoting our Message-ID: kept on the ticket, but held.
    let before = env.counts().await;
    let mail = Mail::new(MALLORY, DESK, "Re: Lot 12").header("References", &parent);
    let plan = env.plan(&mail, &[]).await;
    assert_eq!(
        thread_of(&plan),
        ("references", Some(ticket), vec!["sender_not_participant"])
    );
    assert!(!plan.thread.unwrap().sender_is_participant);
    assert_eq!(stored_on(&env.deliver(&mail, &[]).await), (ticket, false));
    let after = env.counts().await;
    assert_eq!(
        (after.messages, after.notifications),
        (before.messages + 1, before.notifications)
    );
    assert_eq!(
        env.status(ticket).await,
        Status::AwaitingClient,
        "held: unchanged"
    );

    // The client's mail program dropped the Reply-To and wrote to the desk.
    let mail = Mail::new(MARIA, DESK, "Re: Lot 12").header("In-Reply-To", &parent);
    let plan = env.plan(&mail, &[]).await;
    assert_eq!(thread_of(&plan), ("references", Some(ticket), vec![]));
    assert!(plan.thread.unwrap().sender_is_participant);
    assert_eq!(stored_on(&env.deliver(&mail, &[]).await), (ticket, false));
    assert_eq!(env.status(ticket).await, Status::AwaitingSeller);

    // A Message-ID we never issued threads nothing.
    let mail = Mail::new(MARIA, DESK, "Re: Lot 12").header("In-Reply-To", "<not-ours@x>");
    let (other, new) = stored_on(&env.deliver(&mail, &[]).await);
    assert!(new && other != ticket);
}

/// A client's second mail, written as a reply to their own first one (its
/// References name the first Message-ID; no token, no tag), joins the
/// ticket the first opened; the same References from a stranger thread
/// nothing.
async fn follow_up_threads_by_its_own_earlier_message(env: &TestEnv) {
    let first = Mail::new(MARIA, DESK, "Lot 12");
    let (ticket, _) = stored_on(&env.deliver(&first, &[]).await);
    let parent = format!("<{}>", first.message_id());

    let follow_up = Mail::new(MARIA, DESK, "Re: Lot 12").header("References", &parent);
    let plan = env.plan(&follow_up, &[]).await;
    assert_eq!(
        thread_of(&plan),
        ("inbound_references", Some(ticket), vec![])
    );
    // `inspect` reports the rule.
    let report = parley::intake::Report::new(&plan);
    assert_eq!(report.thread.matched_by, "inbound_references");
    assert_eq!(report.thread.ticket, Some(ticket));
    let thread = plan.thread.as_ref().unwrap();
    assert!(thread.sender_is_participant);
    let maria = env.participant(ticket, MARIA).await.id;
    assert_eq!(thread.author.as_ref().map(|a| a.id), Some(maria));
    let before = env.counts().await;
    assert_eq!(
        stored_on(&env.deliver(&follow_up, &[]).await),
        (ticket, false)
    );
    assert_eq!(
        env.counts().await.tickets,
        before.tickets,
        "no second ticket"
    );
    assert_eq!(
        last_message_flags(env, ticket).await,
        ("inbound_references".to_string(), vec![])
    );
    assert_eq!(env.status(ticket).await, Status::AwaitingSeller);

    // The seller side answering by hand, quoting Maria's mail: a
    // participant, so it threads as well.
    let answer = Mail::new(AGENT, DESK, "Re: Lot 12").header("In-Reply-To", &parent);
    assert_eq!(stored_on(&env.deliver(&answer, &[]).await), (ticket, false));
    assert_eq!(env.status(ticket).await, Status::AwaitingClient);

    // A stranger naming the same Message-ID is not threaded (not flagged
    // either): to the desk it opens a ticket of their own...
    let stranger = Mail::new(MALLORY, DESK, "Re: Lot 12").header("References", &parent);
    assert_eq!(
        thread_of(&env.plan(&stranger, &[]).await),
        ("new", None, vec![])
    );
    let (other, new) = stored_on(&env.deliver(&stranger, &[]).await);
    assert!(new && other != ticket, "#{other}");
    assert!(
        env.store()
            .participant_by_address(ticket, MALLORY)
            .await
            .unwrap()
            .is_none()
    );
    // ...and to nobody of ours it matches nothing.
    let before = env.counts().await;
    let stranger = Mail::new(MALLORY, NOBODY, "Re: Lot 12").header("References", &parent);
    assert_eq!(env.deliver(&stranger, &[]).await, Outcome::NoMatch);
    assert_eq!(env.counts().await, before);
    assert_eq!(env.store().messages(ticket).await.unwrap().len(), 3);

    // Maria naming a Message-ID no ticket holds: a new ticket.
    let guessed =
        Mail::new(MARIA, DESK, "Re: Lot 12").header("References", "<guess@buyer.example>");
    let (third, new) = stored_on(&env.deliver(&guessed, &[]).await);
    assert!(new && third != ticket);
}

/// The same mail sent to two queues opened a ticket in each; a follow-up
/// to one of them joins that queue's ticket.
async fn inbound_references_prefer_the_addressed_queue(env: &TestEnv) {
    let first = Mail::new(MARIA, DESK, "Lot 12 or the book");
    let (at_desk, _) = stored_on(&env.deliver(&first, &[DESK]).await);
    let (at_books, _) = stored_on(&env.deliver(&first, &[BOOKS]).await);
    assert_ne!(at_desk, at_books);
    let parent = format!("<{}>", first.message_id());
    for (queue, ticket) in [(BOOKS, at_books), (DESK, at_desk)] {
        let follow_up =
            Mail::new(MARIA, queue, "Re: Lot 12 or the book").header("In-Reply-To", &parent);
        let plan = env.plan(&follow_up, &[queue]).await;
        assert_eq!(
            thread_of(&plan),
            ("inbound_references", Some(ticket), vec![]),
            "{queue}"
        );
        assert_eq!(
            stored_on(&env.deliver(&follow_up, &[queue]).await),
            (ticket, false)
        );
    }
}

async fn subject_tag_only_from_participants(env: &TestEnv) {
    let ticket = env.open_ticket(MARIA, "Lot 12").await;
    let subject = format!("Re: [#{ticket}] Lot 12");

    let mail = Mail::new(MARIA, DESK, &subject);
    let plan = env.plan(&mail, &[]).await;
    assert_eq!(thread_of(&plan), ("subject", Some(ticket), vec![]));
    assert_eq!(stored_on(&env.deliver(&mail, &[]).await), (ticket, false));
    assert_eq!(env.status(ticket).await, Status::AwaitingSeller);

    // A stranger's tag is ignored: to the desk, a new ticket of their own.
    let mail = Mail::new(MALLORY, DESK, &subject);
    assert_eq!(
        thread_of(&env.plan(&mail, &[]).await),
        ("new", None, vec![])
    );
    let (other, new) = stored_on(&env.deliver(&mail, &[]).await);
    assert!(new && other != ticket);
    assert!(
        env.store()
            .participant_by_address(ticket, MALLORY)
            .await
            .unwrap()
            .is_none()
    );
    // ...to anyone else, no match.
    let before = env.counts().await;
    let mail = Mail::new(MALLORY, NOBODY, &subject);
    assert_eq!(env.deliver(&mail, &[]).await, Outcome::NoMatch);
    assert_eq!(env.counts().await, before);
    assert_eq!(env.store().messages(ticket).await.unwrap().len(), 2);
}

async fn status_follows_the_conversation(env: &TestEnv) {
    let ticket = env.open_ticket(MARIA, "Lot 12").await;
    assert_eq!(env.status(ticket).await, Status::Open);
    let steps = [
        (MARIA, Status::AwaitingSeller),
        (AGENT, Status::AwaitingClient),
        (MARIA, Status::AwaitingSeller),
        (MARIA, Status::AwaitingSeller),
    ];
    for (from, want) in steps {
        assert_eq!(
            stored_on(&reply_by_token(env, ticket, from).await),
            (ticket, false)
        );
        assert_eq!(env.status(ticket).await, want, "after {from}");
    }
    let audit = env.store().audit(ticket).await.unwrap();
    let changes: Vec<_> = audit
        .iter()
        .filter(|a| a.action == "status.changed")
        .map(|a| {
            (
                a.detail["from"].as_str().unwrap(),
                a.detail["to"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        changes,
        [
            ("open", "awaiting_seller"),
            ("awaiting_seller", "awaiting_client"),
            ("awaiting_client", "awaiting_seller"),
        ]
    );
    // Each message notifies the other side.
    let rows = env.store().notifications(ticket).await.unwrap();
    let recipients: Vec<_> = rows.iter().map(|n| n.recipient.as_str()).collect();
    assert_eq!(recipients, [AGENT, AGENT, MARIA, AGENT, AGENT]);
}

async fn finished_ticket_reopens(env: &TestEnv) {
    for finished in [Status::Resolved, Status::Closed] {
        let ticket = env.open_ticket(MARIA, "Lot 12").await;
        env.store()
            .set_status(ticket, finished, "test")
            .await
            .unwrap();
        // A closing remark from the seller side leaves it finished.
        assert_eq!(
            stored_on(&reply_by_token(env, ticket, AGENT).await),
            (ticket, false)
        );
        assert_eq!(env.status(ticket).await, finished);
        // The client writing again reopens it.
        assert_eq!(
            stored_on(&reply_by_token(env, ticket, MARIA).await),
            (ticket, false)
        );
        assert_eq!(
            env.status(ticket).await,
            Status::AwaitingSeller,
            "{finished}"
        );
    }
}

async fn finished_ticket_opens_a_new_one(env: &TestEnv) {
    let ticket = env.open_ticket(MARIA, "Lot 12").await;
    env.store()
        .set_status(ticket, Status::Resolved, "test")
        .await
        .unwrap();
    let to = env.reply_address(ticket, MARIA).await;
    let mail = Mail::new(MARIA, &to, "Re: Lot 12, again");
    let (number, new) = stored_on(&env.deliver(&mail, &[&to]).await);
    assert!(new && number != ticket, "#{number}");
    let opened = env.ticket(number).await;
    assert_eq!(
        (opened.queue.as_str(), opened.status),
        ("desk", Status::Open)
    );
    assert_eq!(env.role(number, MARIA).await, "client");
    assert_eq!(
        env.status(ticket).await,
        Status::Resolved,
        "old one untouched"
    );
    assert_eq!(env.store().messages(ticket).await.unwrap().len(), 1);
    // Delivered again: no third ticket.
    let before = env.counts().await;
    assert!(matches!(
        env.deliver(&mail, &[&to]).await,
        Outcome::Duplicate { .. }
    ));
    assert_eq!(env.counts().await, before);
}

async fn finished_ticket_rejects(env: &TestEnv) {
    let ticket = env.open_ticket(MARIA, "Lot 12").await;
    env.store()
        .set_status(ticket, Status::Closed, "test")
        .await
        .unwrap();
    let before = env.counts().await;
    match reply_by_token(env, ticket, MARIA).await {
        Outcome::Rejected { reason } => assert!(reason.contains(&format!("#{ticket}")), "{reason}"),
        other => panic!("expected a rejection, got {other:?}"),
    }
    assert_eq!(env.counts().await, before, "nothing stored");
    assert_eq!(env.status(ticket).await, Status::Closed);
    // The seller side may still leave a closing remark.
    assert_eq!(
        stored_on(&reply_by_token(env, ticket, AGENT).await),
        (ticket, false)
    );
    assert_eq!(env.status(ticket).await, Status::Closed);
}

async fn duplicates_are_stored_once(env: &TestEnv) {
    // The mail that opens a ticket, delivered again and relayed once more.
    let first = Mail::new(MARIA, DESK, "Lot 12");
    let (ticket, _) = stored_on(&env.deliver(&first, &[]).await);
    let before = env.counts().await;
    for (how, raw) in [("again", first.bytes()), ("relayed", first.relayed())] {
        let outcome = env.deliver_raw(raw, &[]).await;
        assert!(
            matches!(outcome, Outcome::Duplicate { .. }),
            "{how}: {outcome:?}"
        );
        assert_eq!(env.counts().await, before, "{how}");
    }
    // A reply on the ticket, the same way.
    let to = env.reply_address(ticket, MARIA).await;
    let reply = Mail::new(MARIA, &to, "Re: Lot 12");
    assert_eq!(
        stored_on(&env.deliver(&reply, &[&to]).await),
        (ticket, false)
    );
    let before = env.counts().await;
    for (how, raw) in [("again", reply.bytes()), ("relayed", reply.relayed())] {
        let outcome = env.deliver_raw(raw, &[&to]).await;
        assert_eq!(
            outcome,
            Outcome::Duplicate {
                ticket: Some(ticket)
            },
            "{how}"
        );
        assert_eq!(env.counts().await, before, "{how}");
    }
    // Three copies at once: one ticket.
    let mail = Mail::new(BOB, DESK, "Lot 13");
    let before = env.counts().await;
    let (a, b, c) = tokio::join!(
        env.deliver(&mail, &[]),
        env.deliver_raw(mail.relayed(), &[]),
        env.deliver(&mail, &[])
    );
    let stored = [&a, &b, &c]
        .iter()
        .filter(|o| matches!(o, Outcome::Stored { .. }))
        .count();
    assert_eq!(stored, 1, "{a:?} {b:?} {c:?}");
    assert_eq!(env.counts().await.tickets, before.tickets + 1);
    // Same Message-ID, other content: not a duplicate.
    let edited = String::from_utf8(reply.bytes())
        .unwrap()
        .replace("Hello", "Hi again");
    let outcome = env.deliver_raw(edited.into_bytes(), &[&to]).await;
    assert_eq!(stored_on(&outcome), (ticket, false));
}

async fn unparseable_mail_is_quarantined(env: &TestEnv) {
    let before = env.counts().await;
    let outcome = env.deliver_raw(Vec::new(), &[DESK]).await;
    assert!(
        matches!(
            outcome,
            Outcome::Quarantined {
                reason: "unparseable",
                ..
            }
        ),
        "{outcome:?}"
    );
    let held = env.store().quarantined().await.unwrap();
    assert_eq!(held.len(), 1);
    assert_eq!(held[0].reason, "unparseable");
    assert_eq!(env.store().raw_count().await.unwrap(), before.raws + 1);
    assert_eq!(env.counts().await.tickets, 0);
}

/// A References header of hundreds of ids costs one lookup of the nearest
/// 100: ours among them threads, ours beyond them does not.
async fn long_references_are_bounded(env: &TestEnv) {
    let ticket = env.open_ticket(MARIA, "Lot 12").await;
    reply_by_token(env, ticket, AGENT).await;
    let issued = issued_to(env, ticket, MARIA).await;
    let noise: Vec<String> = (0..500)
        .map(|i| format!("<noise{i}@elsewhere.example>"))
        .collect();
    // References are read nearest (last) first.
    let near = format!("{} <{issued}>", noise.join(" "));
    let mail = Mail::new(MARIA, NOBODY, "Re: Lot 12").header("References", &near);
    assert_eq!(thread_of(&env.plan(&mail, &[NOBODY]).await).0, "references");
    let far = format!("<{issued}> {}", noise.join(" "));
    let mail = Mail::new(MARIA, NOBODY, "Re: Lot 12").header("References", &far);
    assert_eq!(thread_of(&env.plan(&mail, &[NOBODY]).await).0, "none");
}

/// A ticket of queue `books` about a listing and an auction, opened by
/// Maria (typed in parley, as from a listing page), answered by the clerk.
async fn listing_ticket(env: &TestEnv) -> i64 {
    let draft = Draft {
        what: Written::Open(Opening {
            queue: "books".into(),
            client: Person {
                address: MARIA.into(),
                display_name: Some("Maria".into()),
                user_id: None,
            },
            seller: None,
            subject: "First edition".into(),
            about: About {
                item_ref: Some("item-7".into()),
                item_title: Some("A first edition".into()),
                item_url: None,
                auction_ref: Some("auction-3".into()),
                auction_title: Some("Spring books".into()),
            },
            manager: None,
        }),
        text: "Is the dust jacket original?".into(),
        actor: "test".into(),
        door: "api",
    };
    let ticket = match env.intake.write(&draft).await.unwrap() {
        WriteOutcome::Posted { ticket, .. } => ticket,
        other => panic!("{other:?}"),
    };
    reply_by_token(env, ticket, CLERK).await;
    ticket
}

async fn delete(env: &TestEnv, ticket: i64) {
    let request = File {
        ticket,
        filing: Filing::Delete,
        actor: "test".into(),
    };
    env.store().file(&request).await.unwrap();
    assert!(env.ticket(ticket).await.deleted);
}

/// The ticket `mail` opens, checked to be a fresh one in `books` between
/// the same people, about the same listing, with `first` (the author) as
/// its first participant; the deleted ticket is left as it was.
async fn successor(env: &TestEnv, deleted: i64, mail: &Mail, to: &[&str], first: &str) -> i64 {
    let messages = env.store().messages(deleted).await.unwrap().len();
    let plan = env.plan(mail, to).await;
    let thread = plan.thread.as_ref().unwrap();
    assert_eq!(thread.ticket.as_ref().map(|t| t.number), None);
    assert_eq!(thread.deleted.as_ref().map(|t| t.number), Some(deleted));
    assert!(
        matches!(&plan.decision, Decision::Post(p) if matches!(p.target, Target::New(_))),
        "{:?}",
        plan.decision
    );
    let (number, new) = stored_on(&env.deliver(mail, to).await);
    assert!(new && number != deleted, "#{number}");
    let opened = env.ticket(number).await;
    assert_eq!(opened.queue, "books", "the deleted ticket's queue");
    assert_eq!(opened.subject, "First edition");
    assert_eq!(
        (opened.item_ref.as_deref(), opened.item_title.as_deref()),
        (Some("item-7"), Some("A first edition"))
    );
    assert_eq!(
        (
            opened.auction_ref.as_deref(),
            opened.auction_title.as_deref()
        ),
        (Some("auction-3"), Some("Spring books"))
    );
    assert!(!opened.deleted && !opened.archived);
    let people = env.store().participants(number).await.unwrap();
    let who: Vec<(&str, &str)> = people
        .iter()
        .map(|p| (p.address.as_str(), p.role.as_str()))
        .collect();
    assert_eq!(who[0].0, first, "{who:?}");
    assert!(who.contains(&(MARIA, "client")), "{who:?}");
    assert!(who.contains(&(CLERK, "seller")), "{who:?}");
    assert_eq!(who.len(), 2, "{who:?}");
    let ours = env.store().messages(number).await.unwrap();
    assert_eq!(ours.len(), 1);
    assert_eq!(ours[0].author, Some(people[0].id));
    assert!(env.ticket(deleted).await.deleted, "still deleted");
    assert_eq!(
        env.store().messages(deleted).await.unwrap().len(),
        messages,
        "nothing threads to the deleted ticket"
    );
    // Delivered again: no second new ticket.
    let before = env.counts().await;
    assert!(matches!(
        env.deliver(mail, to).await,
        Outcome::Duplicate { .. }
    ));
    assert_eq!(env.counts().await, before);
    number
}

/// A client's reply to a deleted ticket — by its token, by References to
/// our mail, by the subject tag — opens a new ticket in the deleted
/// ticket's queue (even when the mail also names another queue's intake
/// address, or none), never threads to the deleted one; a stranger using
/// the token opens nothing of it. Restored, the ticket threads again.
async fn a_deleted_ticket_opens_a_new_one(env: &TestEnv) {
    let ticket = listing_ticket(env).await;
    let issued = issued_to(env, ticket, MARIA).await;
    let token = env.reply_address(ticket, MARIA).await;
    delete(env, ticket).await;

    // By token, with desk's intake address beside it: books, by the token.
    let mail = Mail::new(MARIA, &token, "Re: [#1] First edition");
    let by_token = successor(env, ticket, &mail, &[&token, DESK], MARIA).await;
    assert_eq!(env.status(by_token).await, Status::Open);
    let (matched_by, flags) = last_message_flags(env, by_token).await;
    assert_eq!((matched_by.as_str(), flags.len()), ("token", 0));
    // The seller side hears of it, as of any new ticket.
    let rows = env.store().notifications(by_token).await.unwrap();
    assert!(rows.iter().any(|n| n.recipient == CLERK), "{rows:?}");

    // By References to our notification, sent to no intake address.
    let mail =
        Mail::new(MARIA, NOBODY, "Re: First edition").header("In-Reply-To", &format!("<{issued}>"));
    successor(env, ticket, &mail, &[NOBODY], MARIA).await;

    // By the subject tag, from a participant, to no intake address.
    let mail = Mail::new(MARIA, NOBODY, &format!("Re: [#{ticket}] First edition"));
    successor(env, ticket, &mail, &[NOBODY], MARIA).await;

    // A stranger with Maria's token: not a way into the deleted ticket.
    let before = env.counts().await;
    let mail = Mail::new(MALLORY, &token, "Re: First edition");
    let plan = env.plan(&mail, &[&token]).await;
    assert_eq!(thread_of(&plan), ("none", None, vec!["bad_token"]));
    assert_eq!(env.deliver(&mail, &[&token]).await, Outcome::NoMatch);
    assert_eq!(env.counts().await, before);

    // Restored, it threads again.
    let request = File {
        ticket,
        filing: Filing::Restore,
        actor: "test".into(),
    };
    env.store().file(&request).await.unwrap();
    let mail = Mail::new(MARIA, &token, "Re: First edition, again");
    assert_eq!(
        stored_on(&env.deliver(&mail, &[&token]).await),
        (ticket, false)
    );
}

/// The seller side answering a deleted ticket by mail writes to the same
/// client in a new ticket (awaiting the client, who is notified), as
/// `tickets create` would.
async fn a_deleted_ticket_answered_by_the_seller_side(env: &TestEnv) {
    let ticket = listing_ticket(env).await;
    let token = env.reply_address(ticket, CLERK).await;
    delete(env, ticket).await;
    let mail = Mail::new(CLERK, &token, "Re: First edition");
    let number = successor(env, ticket, &mail, &[&token], CLERK).await;
    assert_eq!(env.status(number).await, Status::AwaitingClient);
    let rows = env.store().notifications(number).await.unwrap();
    let to: Vec<&str> = rows.iter().map(|n| n.recipient.as_str()).collect();
    assert_eq!(to, [MARIA]);
}
