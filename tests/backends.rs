//! The store tests run on both backends: a run without a reachable
//! PostgreSQL fails instead of passing on SQLite alone, unless it opted
//! out on purpose (`PARLEY_TEST_SQLITE_ONLY=1`, see docs/testing.md).
//! `scripts/test` always provides one (the local server, or a throwaway
//! cluster of its own) and never opts out.

mod common;

use common::*;

#[tokio::test]
async fn every_backend_is_there_and_answers() {
    let all = backends();
    let names: Vec<_> = all.iter().map(Backend::name).collect();
    if sqlite_only() {
        assert_eq!(names, ["sqlite"], "{SQLITE_ONLY_ENV} is set");
    } else {
        assert_eq!(names, ["sqlite", "postgres"]);
    }
    for backend in &all {
        let env = TestEnv::new(backend, |_| {}).await;
        assert_eq!(env.ticket_count().await, 0, "{}", backend.name());
        env.open_ticket(MARIA, "Is the lamp still for sale?").await;
        assert_eq!(env.ticket_count().await, 1, "{}", backend.name());
    }
}
