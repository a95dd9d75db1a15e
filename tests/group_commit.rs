//! Group commit with several committers at once (`intake.commit_concurrency`,
//! four on PostgreSQL by default): many deliveries together, each new one
//! delivered twice at the same moment (an MTA's retry racing the first
//! try), and replies racing on one ticket. Every message is stored once,
//! each conversation is one ticket, on both backends.

mod common;

use std::sync::Arc;

use common::*;
use parley::intake::{Intake, Outcome};

const NEW: usize = 60;
const REPLIES: usize = 30;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn several_committers_store_each_message_once() {
    for backend in backends() {
        let env = TestEnv::new(&backend, |_| {}).await;
        let ticket = env.open_ticket(MARIA, "Lot 1").await;
        let reply_to = env.reply_address(ticket, MARIA).await;
        let intake = Arc::new(
            Intake::new(&env.config, SECRET.as_bytes(), env.intake.shared_store())
                .with_group_commit(8, 4),
        );
        let mut raws: Vec<Vec<u8>> = Vec::new();
        for n in 0..NEW {
            let mail = Mail::new(
                &format!("buyer{n}@buyer.example"),
                DESK,
                &format!("Lot {n}"),
            );
            raws.push(mail.bytes());
            raws.push(mail.bytes());
        }
        for n in 0..REPLIES {
            raws.push(Mail::new(MARIA, &reply_to, &format!("Re: Lot 1 ({n})")).bytes());
        }
        let mut deliveries = tokio::task::JoinSet::new();
        for raw in raws {
            let intake = intake.clone();
            deliveries.spawn(async move { intake.deliver(raw, &envelope(&[])).await });
        }
        let (mut stored, mut duplicates) = (0, 0);
        while let Some(outcome) = deliveries.join_next().await {
            match outcome.unwrap() {
                Ok(Outcome::Stored { .. }) => stored += 1,
                Ok(Outcome::Duplicate { .. }) => duplicates += 1,
                other => panic!("{}: {other:?}", env.backend),
            }
        }
        assert_eq!(
            (stored, duplicates),
            (NEW + REPLIES, NEW),
            "{}",
            env.backend
        );
        let counts = env.counts().await;
        assert_eq!(counts.tickets, 1 + NEW, "{}", env.backend);
        assert_eq!(counts.messages, 1 + NEW + REPLIES, "{}", env.backend);
        let on_ticket = env.store().messages(ticket).await.unwrap();
        assert_eq!(on_ticket.len(), 1 + REPLIES, "{}", env.backend);
    }
}
