//! bench/search: search latency on a big store.
//!
//! ```text
//! cargo bench --bench search                 # 100,000 tickets, 1,000,000 messages, SQLite
//! PARLEY_BENCH_TICKETS=10000 PARLEY_BENCH_MESSAGES=100000 cargo bench --bench search
//! PARLEY_BENCH_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/bench cargo bench --bench search
//! PARLEY_BENCH_STORE=sqlite:///tmp/big.db cargo bench --bench search   # reuse a filled store
//! PARLEY_BENCH_ROUNDS=50 cargo bench --bench search                   # rounds a kind (200)
//! PARLEY_BENCH_POSTGRES_FILLED=1 …                                     # reuse the PostgreSQL database
//! ```
//!
//! Fills a store with bench/fill (a fresh SQLite file in a temporary
//! folder, and the PostgreSQL database named by
//! `PARLEY_BENCH_POSTGRES_URL` when set: it must exist and be empty), then
//! runs a mix of queries through `SearchStore::search` (20 hits at most,
//! as the HTTP default), one at a time, each kind 200 times, and prints
//! p50 and p99 per kind; beside them the reference: reading one ticket by
//! number through the same store (`TicketStore::ticket`), the floor of
//! any query on this stack. Under `cargo test --all-targets` a smoke pass
//! runs every kind a few times on 200 tickets.

#[path = "fill.rs"]
#[allow(dead_code)]
mod fill;

use std::time::{Duration, Instant};

use parley::access::Viewer;
use parley::config::StoreConfig;
use parley::search::Query;
use parley::store::Store;

/// The kinds of query: (name, scope, text).
fn kinds() -> Vec<(&'static str, Viewer<'static>, String)> {
    let client: &'static str = Box::leak(fill::client(1234).into_boxed_str());
    let seller: &'static str = Box::leak(fill::seller(42).into_boxed_str());
    vec![
        ("a name (moderator)", Viewer::Moderator, "zoe muller".into()),
        ("an address (moderator)", Viewer::Moderator, client.into()),
        (
            "listing words (moderator)",
            Viewer::Moderator,
            "victorian walnut sideboard".into(),
        ),
        ("a prefix (moderator)", Viewer::Moderator, "chandel".into()),
        (
            "message words (moderator)",
            Viewer::Moderator,
            "original key koln".into(),
        ),
        ("a masked phone (moderator)", Viewer::Moderator, "06".into()),
        ("a common word (moderator)", Viewer::Moderator, "the".into()),
        (
            "listing words (marketplace)",
            Viewer::Marketplace,
            "oak dresser".into(),
        ),
        (
            "listing words (a client)",
            Viewer::Person { address: client },
            "lamp".into(),
        ),
        (
            "listing words (a seller)",
            Viewer::Person { address: seller },
            "brass lamp".into(),
        ),
        (
            "a common word (a seller)",
            Viewer::Person { address: seller },
            "the".into(),
        ),
        ("nothing found", Viewer::Moderator, "zzzzqqq".into()),
    ]
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

async fn measure(store: &dyn Store, rounds: usize, tickets: usize) {
    // The reference: one ticket by number.
    let mut times = Vec::with_capacity(rounds);
    for i in 0..rounds {
        let started = Instant::now();
        store
            .ticket(1 + (i * 7919 % tickets.max(1)) as i64)
            .await
            .expect("a ticket");
        times.push(started.elapsed());
    }
    times.sort();
    println!(
        "  {:<32} p50 {:>10}  p99 {:>10}",
        "reference: one ticket by number",
        ms(percentile(&times, 0.5)),
        ms(percentile(&times, 0.99))
    );
    let mut all = Vec::new();
    for (name, scope, text) in kinds() {
        let query = Query::parse(&text).expect("a query");
        let mut times = Vec::with_capacity(rounds);
        let mut found = 0;
        for _ in 0..rounds {
            let started = Instant::now();
            found = store.search(&query, scope, 20).await.expect("search").len();
            times.push(started.elapsed());
        }
        times.sort();
        all.extend_from_slice(&times);
        println!(
            "  {name:<32} p50 {:>10}  p99 {:>10}  ({found} hits)",
            ms(percentile(&times, 0.5)),
            ms(percentile(&times, 0.99))
        );
    }
    all.sort();
    println!(
        "  {:<32} p50 {:>10}  p99 {:>10}",
        "every kind together",
        ms(percentile(&all, 0.5)),
        ms(percentile(&all, 0.99))
    );
}

fn config(url: &str) -> StoreConfig {
    StoreConfig {
        url: url.to_string(),
        max_connections: 8,
        acquire_timeout_secs: 600,
        search_cache_mb: 256,
    }
}

async fn run(url: &str, fill_it: bool, tickets: usize, messages: usize, rounds: usize) {
    if fill_it {
        let filled = fill::fill(url, tickets, messages).await;
        println!(
            "  filled {} tickets, {} messages: rows {:.1} s, search index {:.1} s",
            filled.tickets,
            filled.messages,
            filled.rows.as_secs_f64(),
            filled.index.as_secs_f64()
        );
    }
    let store = parley::store::open(&config(url))
        .await
        .expect("the store opens");
    measure(store.as_ref(), rounds, tickets).await;
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let number = |name: &str, default: usize| {
        std::env::var(name)
            .ok()
            .and_then(|n| n.parse().ok())
            .unwrap_or(default)
    };
    let (tickets, messages, rounds) = match full {
        true => (
            number("PARLEY_BENCH_TICKETS", 100_000),
            number("PARLEY_BENCH_MESSAGES", 1_000_000),
            number("PARLEY_BENCH_ROUNDS", 200),
        ),
        false => (200, 2_000, 3),
    };
    println!(
        "bench/search ({}): {}; {} cores; {tickets} tickets, {messages} messages, {rounds} rounds a kind",
        if full { "full run" } else { "smoke pass" },
        jiff::Timestamp::now().strftime("%Y-%m-%d %H:%M UTC"),
        std::thread::available_parallelism().map_or(0, |n| n.get()),
    );
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    let dir = tempfile::tempdir().expect("a temporary folder");
    match std::env::var("PARLEY_BENCH_STORE") {
        Ok(url) if full => {
            println!("SQLite (reused: {url}):");
            runtime.block_on(run(&url, false, tickets, messages, rounds));
        }
        _ => {
            let url = format!("sqlite://{}/search.db", dir.path().display());
            println!("SQLite:");
            runtime.block_on(run(&url, true, tickets, messages, rounds));
        }
    }
    if let (true, Ok(url)) = (full, std::env::var("PARLEY_BENCH_POSTGRES_URL")) {
        // PARLEY_BENCH_POSTGRES_FILLED=1: the database is filled already.
        let filled = std::env::var("PARLEY_BENCH_POSTGRES_FILLED").is_ok_and(|v| v == "1");
        println!("PostgreSQL{}:", if filled { " (reused)" } else { "" });
        runtime.block_on(run(&url, !filled, tickets, messages, rounds));
    }
}
