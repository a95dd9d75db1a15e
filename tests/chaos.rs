//! The chaos suite (issue 18, docs/scaling.md): three `parley serve`
//! instances on one PostgreSQL of the suite's own, under SMTP load, with
//! two IMAP mailboxes on a real Dovecot and smtp-sink as the relay of
//! their notifications; rounds of faults:
//!
//! - **kill**: SIGKILL to a random instance at a random instant, started
//!   again at once on the same ports; **kill the holder**: the same to the
//!   instance polling a mailbox (another takes it over once its lease runs
//!   out, at the cursor the dead one committed);
//! - **postgres**: the database server stopped as a crash stops it
//!   (immediate shutdown), for a few seconds: meanwhile every instance
//!   must answer SMTP with 451 (never 5xx, never 250) and `parley ingest`
//!   exit 75; then started;
//! - **dovecot**: Dovecot restarted right after new mail was appended
//!   (the instance polling it is mid-fetch);
//! - **relay**: the relay down for a while, then back on the same port.
//!
//! After each round the load pauses (every message in flight taken
//! first) and, within a minute: every message acknowledged is stored
//! exactly once and nothing else was; every IMAP message exactly once;
//! one ticket per conversation (so, numbers unique); every notification
//! sent (none stuck in a lease), each at least once and at most twice;
//! no 5xx answered at any time.
//!
//! `bounded_run` (in scripts/test) runs each fault once. The long run is a
//! benchmark: `PARLEY_CHAOS_ROUNDS=25 cargo test --test chaos --
//! --ignored --nocapture` (random faults; `PARLEY_CHAOS_SEED` replays a
//! run); bench/README.md records its figures.

#[path = "chaos/cluster.rs"]
mod cluster;
mod common;
#[path = "imap/dovecot.rs"]
mod dovecot;
#[path = "chaos/load.rs"]
mod load;
#[path = "chaos/world.rs"]
mod world;

use world::{Fault, World};

#[test]
fn bounded_run() {
    if common::sqlite_only() {
        return;
    }
    let mut world = World::start(0x5eed_0001);
    for fault in [
        Fault::KillHolder,
        Fault::Postgres,
        Fault::Dovecot,
        Fault::Relay,
        Fault::Kill,
    ] {
        world.round(fault);
    }
    world.report();
}

#[test]
#[ignore = "the long run, a benchmark: PARLEY_CHAOS_ROUNDS=25 cargo test --test chaos -- --ignored --nocapture"]
fn long_run() {
    let rounds: usize = std::env::var("PARLEY_CHAOS_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(25);
    let seed: u64 = std::env::var("PARLEY_CHAOS_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        });
    if common::sqlite_only() {
        return;
    }
    println!("PARLEY_CHAOS_SEED={seed}");
    let mut world = World::start(seed);
    let mut left = rounds;
    while left > 0 {
        // Every fault once in every five rounds, in a random order.
        let mut faults = [
            Fault::Kill,
            Fault::KillHolder,
            Fault::Postgres,
            Fault::Dovecot,
            Fault::Relay,
        ];
        for i in (1..faults.len()).rev() {
            let j = world.random(i as u64 + 1) as usize;
            faults.swap(i, j);
        }
        for fault in faults.into_iter().take(left) {
            world.round(fault);
            left -= 1;
        }
    }
    world.report();
}
