//! Response times (`ResponseStore`, migration 0019), on every backend:
//! the store keeps since when a ticket waits on the seller side and when
//! the seller side first answered; a ticket past its queue's target is
//! reminded once per waiting period, to its assignee when it has one,
//! else to its seller side; the dashboard's figures count what the viewer
//! sees.

use parley::access::Viewer;
use parley::store::{OVERDUE, Targets, now_ms};

use super::*;

const HOUR: i64 = 3_600_000;

async fn overdue_rows(store: &dyn Store, ticket: i64) -> Vec<String> {
    store
        .notifications(ticket)
        .await
        .unwrap()
        .into_iter()
        .filter(|n| n.kind == OVERDUE)
        .map(|n| n.recipient)
        .collect()
}

#[tokio::test]
async fn overdue_tickets_are_reminded_once_per_waiting_period() {
    for backend in backends() {
        let name = backend.name();
        let env = TestEnv::new(&backend, |_| {}).await;
        let (store, minter) = (env.store(), env.intake.minter());
        let desk = desk_id(store).await;
        let targets: Targets = [("desk".to_string(), 24 * HOUR)].into();

        // Two clients write; nobody answered: both wait since they opened.
        let (first, ..) = stored(post(store, minter, &opening(desk, MARIA, "r1")).await);
        let (second, ..) = stored(post(store, minter, &opening(desk, BOB, "r2")).await);
        let opened = env.ticket(first).await;
        assert_eq!(opened.waiting_since, Some(opened.created_at), "{name}");

        // The seller side answers the second, a clerk joining as staff: it
        // waits no more, and its first response is recorded.
        let mut joined = answer(second, 0, Some(Status::AwaitingClient), "r3");
        if let Target::Existing { author, join, .. } = &mut joined.target {
            *author = None;
            *join = Some(person(CLERK, Role::Staff));
        }
        post(store, minter, &joined).await;
        assert_eq!(env.ticket(second).await.waiting_since, None, "{name}");

        // Within the target: nothing; past it: the first ticket, to the
        // seller side (nobody took it), once.
        let now = now_ms();
        assert!(
            store
                .remind_overdue(&targets, now, minter)
                .await
                .unwrap()
                .is_empty()
        );
        let later = now + 25 * HOUR;
        let reminded = store.remind_overdue(&targets, later, minter).await.unwrap();
        assert_eq!(reminded.len(), 1, "{name}: {reminded:?}");
        assert_eq!(reminded[0].ticket, first);
        assert_eq!(reminded[0].recipients, [AGENT]);
        assert_eq!(overdue_rows(store, first).await, [AGENT], "{name}");
        assert!(
            store
                .remind_overdue(&targets, later + HOUR, minter)
                .await
                .unwrap()
                .is_empty()
        );
        assert!(overdue_rows(store, second).await.is_empty(), "{name}");
        let audit = store.audit(first).await.unwrap();
        assert!(audit.iter().any(|a| a.action == "ticket.overdue"), "{name}");

        // The figures: two tickets seen, one waiting and overdue; one first
        // response this month.
        let stats = store
            .response_stats(Viewer::Moderator, &targets, later, 0)
            .await
            .unwrap();
        assert_eq!(
            (stats.unanswered, stats.overdue),
            (1, 1),
            "{name}: {stats:?}"
        );
        let month = parley::store::month_of(env.ticket(second).await.created_at);
        assert_eq!(
            stats.first_response.get(&month).map(|m| m.1),
            Some(1),
            "{name}"
        );
        // The desk's staff sees both; the clerk only the one they answered.
        for (address, expected) in [(AGENT, (1, 1)), (CLERK, (0, 0))] {
            let viewer = Viewer::Person { address };
            let stats = store
                .response_stats(viewer, &targets, later, 0)
                .await
                .unwrap();
            assert_eq!(
                (stats.unanswered, stats.overdue),
                expected,
                "{name}: {address}"
            );
            assert_eq!(stats.first_response.values().map(|m| m.1).sum::<usize>(), 1);
        }
        // A client sees only their own tickets: Bob's is answered.
        let bob = Viewer::Person { address: BOB };
        let stats = store.response_stats(bob, &targets, later, 0).await.unwrap();
        assert_eq!(
            (stats.unanswered, stats.overdue),
            (0, 0),
            "{name}: {stats:?}"
        );

        // Bob asks again: a new waiting period, reminded once past the
        // target, to the whole seller side (nobody took it).
        let bob_id = env.participant(second, BOB).await.id;
        let clerk = env.participant(second, CLERK).await.id;
        let ask = |key: &str| {
            let mut post = answer(second, bob_id, Some(Status::AwaitingSeller), key);
            post.direction = Direction::Inbound;
            post
        };
        post(store, minter, &ask("r4")).await;
        let waiting = env
            .ticket(second)
            .await
            .waiting_since
            .expect("waiting again");
        let reminded = store
            .remind_overdue(&targets, waiting + 25 * HOUR, minter)
            .await
            .unwrap();
        assert_eq!(reminded.len(), 1, "{name}: the first is reminded already");
        assert_eq!(reminded[0].ticket, second);
        assert_eq!(reminded[0].recipients, [AGENT, CLERK], "{name}");

        // Answered, taken by the agent, asked again: the assignee alone.
        post(
            store,
            minter,
            &answer(second, clerk, Some(Status::AwaitingClient), "r5"),
        )
        .await;
        store
            .assign(&parley::store::Assign {
                ticket: second,
                address: AGENT.into(),
                actor: "cli".into(),
                replace: false,
            })
            .await
            .unwrap();
        post(store, minter, &ask("r6")).await;
        let waiting = env
            .ticket(second)
            .await
            .waiting_since
            .expect("waiting again");
        let reminded = store
            .remind_overdue(&targets, waiting + 25 * HOUR, minter)
            .await
            .unwrap();
        assert_eq!(reminded.len(), 1, "{name}: {reminded:?}");
        assert_eq!(reminded[0].recipients, [AGENT], "{name}");
        assert_eq!(
            overdue_rows(store, second).await,
            [AGENT, CLERK, AGENT],
            "{name}"
        );
    }
}
