//! bench/fill: fills a store with N tickets and M messages, fast, for the
//! benchmarks that need a big one (bench/search here; the HTTP benchmark
//! reuses it for 100,000 tickets and 1,000,000 messages).
//!
//! ```text
//! cargo bench --bench fill -- sqlite:///tmp/big.db 100000 1000000
//! cargo bench --bench fill -- postgres://postgres@127.0.0.1/big 100000 1000000
//! ```
//!
//! The store is created (parley's migrations) when missing; the rows go
//! after what it holds. Realistic enough to search: people with accented
//! names at one of 20,000 clients' and 500 sellers' addresses, listings
//! ("Victorian walnut sideboard") and auctions ("Estate of Zoë Müller"),
//! a few sentences a message, 2% of the clients' messages with a phone
//! number the policy masked, 0.5% held. The rows are written as plain
//! multi-row INSERTs in batches of 1,000 tickets a transaction (not
//! through the store's posts: no outbox, audit or event rows), then the
//! search index is built by the store itself (its backfill after
//! migrating, `src/store/search/backfill.rs`), so the words are the
//! store's own. Deterministic: the same N and M give the same rows.
//!
//! Without `--bench` (under `cargo test --all-targets`) a smoke pass
//! fills a temporary SQLite store with 200 tickets and 2,000 messages, then
//! 50 and 500 more, and checks the counts and one search.

use std::time::{Duration, Instant};

use parley::config::StoreConfig;
use sqlx::Connection;

/// Tickets a transaction.
const BATCH: usize = 1_000;
const CLIENTS: u64 = 20_000;
const SELLERS: u64 = 500;

const FIRST: [&str; 30] = [
    "María",
    "José",
    "Zoë",
    "Björn",
    "Chloé",
    "François",
    "Søren",
    "Anaïs",
    "Jürgen",
    "Noémie",
    "Liam",
    "Olivia",
    "Noah",
    "Emma",
    "Lucas",
    "Mia",
    "Ethan",
    "Ava",
    "Mateo",
    "Sofia",
    "Hugo",
    "Léa",
    "Jan",
    "Anna",
    "Piotr",
    "Zofia",
    "Kenji",
    "Yuki",
    "Omar",
    "Fatima",
];
const LAST: [&str; 30] = [
    "Müller",
    "Pérez",
    "García",
    "O'Brien",
    "Nguyen",
    "Smith",
    "Kowalski",
    "Rossi",
    "Dubois",
    "Andersen",
    "Schmidt",
    "López",
    "Novák",
    "Jensen",
    "Silva",
    "Costa",
    "Weber",
    "Fischer",
    "Brown",
    "Taylor",
    "Martin",
    "Bernard",
    "Sørensen",
    "Łukasz",
    "Öztürk",
    "Yamamoto",
    "Haddad",
    "Ivanova",
    "Moreau",
    "Lambert",
];
const STYLES: [&str; 10] = [
    "Victorian",
    "Antique",
    "Mid-century",
    "Rustic",
    "Art deco",
    "Vintage",
    "Handmade",
    "Georgian",
    "Danish",
    "Industrial",
];
const MATERIALS: [&str; 10] = [
    "oak",
    "walnut",
    "brass",
    "teak",
    "pine",
    "mahogany",
    "cast iron",
    "marble",
    "silver",
    "porcelain",
];
const ITEMS: [&str; 15] = [
    "sideboard",
    "dresser",
    "lamp",
    "mirror",
    "armchair",
    "bookcase",
    "clock",
    "table",
    "chest",
    "vase",
    "cabinet",
    "desk",
    "bench",
    "rug",
    "chandelier",
];
const CITIES: [&str; 12] = [
    "Köln",
    "Zürich",
    "Malmö",
    "São Paulo",
    "Kraków",
    "Lyon",
    "Oslo",
    "Porto",
    "Gent",
    "Bath",
    "Graz",
    "Aarhus",
];
const ASKS: [&str; 12] = [
    "Is the {item} still available?",
    "Could you ship it to {city}?",
    "What are the exact dimensions?",
    "Are there any scratches or repairs I should know about?",
    "Would you take a lower offer for the {item}?",
    "Can I pick it up myself next weekend?",
    "Is the price including the shipping costs?",
    "Does the {item} come with the original key?",
    "How old is it, roughly?",
    "I bid on lot {lot}, when does the auction close?",
    "Could you send more photos of the back?",
    "Thank you, I will wait for your answer.",
];
const ANSWERS: [&str; 12] = [
    "Yes, the {item} is still available.",
    "We ship to {city} with a courier, usually within a week.",
    "The measurements are in the listing, about 120 by 45 cm.",
    "There is a small scratch on the left side, nothing structural.",
    "The price is firm, sorry.",
    "Pick-up is possible on Saturdays between 10 and 16.",
    "Shipping is quoted separately after the auction.",
    "The key is included, the lock works well.",
    "It dates from around 1920 as far as we know.",
    "Lot {lot} closes on Sunday evening.",
    "I have added three more photos to the listing.",
    "Kind regards from the shop.",
];

/// A small deterministic generator (xorshift64*).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn pick<'a>(&mut self, list: &[&'a str]) -> &'a str {
        list[self.below(list.len() as u64) as usize]
    }
}

/// A person of the corpus: (display name, address), by number.
pub fn person(n: u64, domain: &str) -> (String, String) {
    let first = FIRST[(n % 30) as usize];
    let last = LAST[((n / 30) % 30) as usize];
    let local = format!(
        "{}.{}{}",
        parley::search::normalize(first),
        parley::search::normalize(last).replace(' ', ""),
        n
    );
    (format!("{first} {last}"), format!("{local}@{domain}"))
}

/// The client number `n`'s address (what bench/search searches as).
pub fn client(n: u64) -> String {
    person(n, "buyer.example").1
}

/// The seller number `n`'s address.
pub fn seller(n: u64) -> String {
    person(n + 7, "shop.example").1
}

/// SQL text of a string.
fn lit(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

fn opt(text: Option<&str>) -> String {
    text.map_or("NULL".into(), lit)
}

fn fill_in(template: &str, item: &str, city: &str, lot: u64) -> String {
    template
        .replace("{item}", item)
        .replace("{city}", city)
        .replace("{lot}", &lot.to_string())
}

/// What a fill wrote and how long it took.
#[derive(Debug)]
pub struct Filled {
    pub tickets: usize,
    pub messages: usize,
    pub rows: Duration,
    pub index: Duration,
}

/// The database behind `url`, for plain SQL.
enum Db {
    Sqlite(sqlx::SqliteConnection),
    Postgres(sqlx::PgConnection),
}

impl Db {
    async fn open(url: &str) -> Db {
        if url.starts_with("sqlite:") {
            use sqlx::ConnectOptions;
            use std::str::FromStr;
            let options = sqlx::sqlite::SqliteConnectOptions::from_str(url)
                .expect("a SQLite URL")
                .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
                .synchronous(sqlx::sqlite::SqliteSynchronous::Off);
            Db::Sqlite(options.connect().await.expect("SQLite opens"))
        } else {
            Db::Postgres(
                sqlx::PgConnection::connect(url)
                    .await
                    .expect("PostgreSQL opens"),
            )
        }
    }

    async fn run(&mut self, sql: &str) {
        let done = match self {
            Db::Sqlite(c) => sqlx::raw_sql(sql).execute(c).await.map(|_| ()),
            Db::Postgres(c) => sqlx::raw_sql(sql).execute(c).await.map(|_| ()),
        };
        done.unwrap_or_else(|e| panic!("{e}: {}", &sql[..sql.len().min(400)]));
    }

    async fn max(&mut self, sql: &str) -> i64 {
        match self {
            Db::Sqlite(c) => sqlx::query_scalar::<_, Option<i64>>(sql).fetch_one(c).await,
            Db::Postgres(c) => sqlx::query_scalar::<_, Option<i64>>(sql).fetch_one(c).await,
        }
        .expect("a number")
        .unwrap_or(0)
    }
}

fn config(url: &str) -> StoreConfig {
    StoreConfig {
        url: url.to_string(),
        max_connections: 8,
        acquire_timeout_secs: 600,
        search_cache_mb: 256,
    }
}

/// Fills the store at `url` with `tickets` tickets and about `messages`
/// messages (at least one a ticket).
pub async fn fill(url: &str, tickets: usize, messages: usize) -> Filled {
    // The schema (and the desk queue), by the store itself.
    drop(
        parley::store::open(&config(url))
            .await
            .expect("the store opens"),
    );
    let mut db = Db::open(url).await;
    db.run(
        "INSERT INTO queues (name, display_name, created_at) VALUES ('desk', 'Shop desk', 0) \
         ON CONFLICT (name) DO NOTHING",
    )
    .await;
    let queue = db
        .max("SELECT MAX(id) FROM queues WHERE name = 'desk'")
        .await;
    let mut ticket = db.max("SELECT MAX(number) FROM tickets").await;
    let mut participant = db.max("SELECT MAX(id) FROM participants").await;
    let mut message = db.max("SELECT MAX(id) FROM messages").await;

    let started = Instant::now();
    let per_ticket = (messages / tickets.max(1)).max(1);
    let extra = messages.saturating_sub(per_ticket * tickets);
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ tickets as u64);
    let year_ago = jiff::Timestamp::now().as_millisecond() - 365 * 86_400_000;
    let mut written = 0;
    let mut done = 0;
    while done < tickets {
        let n = BATCH.min(tickets - done);
        let mut t_rows = Vec::with_capacity(n);
        let mut p_rows = Vec::with_capacity(2 * n);
        let mut m_rows = Vec::with_capacity(n * per_ticket);
        for i in 0..n {
            ticket += 1;
            let style = rng.pick(&STYLES);
            let material = rng.pick(&MATERIALS);
            let item = rng.pick(&ITEMS);
            let city = rng.pick(&CITIES);
            let lot = 1 + rng.below(400);
            let listing = format!("{style} {material} {item}");
            let subject = match rng.below(3) {
                0 => format!("Question about the {listing}"),
                1 => format!("Shipping the {item} to {city}"),
                _ => format!("Lot {lot}: {listing}"),
            };
            let auction = match rng.below(5) {
                0 | 1 => {
                    let (name, _) = person(rng.below(900), "x");
                    Some(format!("Estate of {name}"))
                }
                2 => Some(format!("{city} spring sale")),
                _ => None,
            };
            let created = year_ago + (done + i) as i64 * 300_000;
            let count = per_ticket + usize::from((done + i) < extra);
            let updated = created + count as i64 * 60_000;
            let status = [
                "open",
                "awaiting_client",
                "awaiting_seller",
                "resolved",
                "closed",
            ][rng.below(5) as usize];
            t_rows.push(format!(
                "({ticket}, {queue}, {}, '{status}', NULL, {}, {}, {}, {}, {created}, {updated})",
                lit(&subject),
                lit(&format!("L{}", rng.below(1_000_000))),
                lit(&listing),
                opt(auction.as_ref().map(|_| "A1")),
                opt(auction.as_deref()),
            ));
            let (client_name, client_address) = person(rng.below(CLIENTS), "buyer.example");
            let (seller_name, seller_address) = person(rng.below(SELLERS) + 7, "shop.example");
            participant += 1;
            let client_id = participant;
            participant += 1;
            let seller_id = participant;
            p_rows.push(format!(
                "({client_id}, {ticket}, {}, {}, 'client', {created})",
                lit(&client_address),
                lit(&client_name)
            ));
            p_rows.push(format!(
                "({seller_id}, {ticket}, {}, {}, 'seller', {created})",
                lit(&seller_address),
                lit(&seller_name)
            ));
            for k in 0..count {
                message += 1;
                let from_client = k % 2 == 0;
                let sentences = if from_client { &ASKS } else { &ANSWERS };
                let mut text = (0..3)
                    .map(|_| fill_in(rng.pick(sentences), item, city, lot))
                    .collect::<Vec<_>>()
                    .join(" ");
                let (mut action, mut masked, mut moderation) = ("allow", None, "none");
                if from_client && rng.below(50) == 0 {
                    let phone = format!(
                        "06{:02} {:03} {:03}",
                        rng.below(100),
                        rng.below(1000),
                        rng.below(1000)
                    );
                    masked = Some(format!("{text} Call me at [phone removed]."));
                    text = format!("{text} Call me at {phone}.");
                    action = "redact";
                } else if from_client && rng.below(200) == 0 {
                    text = format!("{text} I pay by wire transfer outside the platform.");
                    action = "hold";
                    moderation = "held";
                }
                let (author, direction, matched) = match from_client {
                    true => (client_id, "inbound", if k == 0 { "new" } else { "token" }),
                    false => (seller_id, "outbound", "cli"),
                };
                m_rows.push(format!(
                    "({message}, {ticket}, {author}, '{direction}', {}, '<m{message}@fill.example>', \
                     'm{message}', '{matched}', {}, '{action}', {}, {}, '{moderation}')",
                    lit(&text),
                    created + k as i64 * 60_000,
                    opt(masked.as_deref()),
                    opt(masked.as_deref()),
                ));
            }
        }
        written += m_rows.len();
        let sql = format!(
            "BEGIN;\n\
             INSERT INTO tickets (number, queue_id, subject, status, assignee, item_ref, item_title, \
             auction_ref, auction_title, created_at, updated_at) VALUES {};\n\
             INSERT INTO participants (id, ticket, address, display_name, role, created_at) VALUES {};\n\
             INSERT INTO messages (id, ticket, author, direction, reply_text, message_id, dedupe_key, \
             matched_by, created_at, policy_action, redacted_text, masked_text, moderation) VALUES {};\n\
             COMMIT;",
            t_rows.join(",\n"),
            p_rows.join(",\n"),
            m_rows.join(",\n"),
        );
        db.run(&sql).await;
        done += n;
    }
    if let Db::Postgres(_) = db {
        // Explicit ids leave the identity sequences behind.
        for (table, column) in [
            ("tickets", "number"),
            ("participants", "id"),
            ("messages", "id"),
        ] {
            db.run(&format!(
                "SELECT setval(pg_get_serial_sequence('{table}', '{column}'), \
                 (SELECT MAX({column}) FROM {table}))"
            ))
            .await;
        }
    }
    // The search index, by the store: its backfill indexes what it lacks.
    // (Everything: the backfill indexes every row, so a store filled
    // twice is indexed once more from scratch.)
    let tables = [
        "search_titles",
        "search_names",
        "search_shown",
        "search_all",
        "search_own",
    ];
    let empty: Vec<String> = match &db {
        // Contentless FTS5 tables take no DELETE: 'delete-all' empties one.
        Db::Sqlite(_) => tables
            .iter()
            .map(|t| format!("INSERT INTO {t} ({t}) VALUES ('delete-all');"))
            .collect(),
        Db::Postgres(_) => tables.iter().map(|t| format!("TRUNCATE {t};")).collect(),
    };
    db.run(&format!(
        "{} UPDATE search_backfill SET done = 0",
        empty.join(" ")
    ))
    .await;
    let rows = started.elapsed();
    drop(db);
    let indexing = Instant::now();
    drop(
        parley::store::open(&config(url))
            .await
            .expect("the store opens"),
    );
    if url.starts_with("postgres") {
        // Planner statistics now, not whenever autovacuum comes by: without
        // them PostgreSQL scans the tsvectors instead of their GIN indexes.
        let mut db = Db::open(url).await;
        db.run("ANALYZE").await;
    }
    Filled {
        tickets,
        messages: written,
        rows,
        index: indexing.elapsed(),
    }
}

#[allow(dead_code)]
fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    if !full {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let url = format!("sqlite://{}/fill.db", dir.path().display());
        let filled = runtime.block_on(fill(&url, 200, 2_000));
        assert_eq!((filled.tickets, filled.messages), (200, 2_000));
        // A second fill goes after the first (and indexes both again).
        let again = runtime.block_on(fill(&url, 50, 500));
        assert_eq!((again.tickets, again.messages), (50, 500));
        runtime.block_on(async {
            let store = parley::store::open(&config(&url)).await.unwrap();
            let query = parley::search::Query::parse("sideboard").unwrap();
            let hits = store
                .search(&query, parley::access::Viewer::Moderator, 10)
                .await
                .unwrap();
            assert!(!hits.is_empty(), "the filled store is searchable");
        });
        println!("bench/fill smoke pass: {filled:?}");
        return;
    }
    let [url, tickets, messages] = &args[..] else {
        eprintln!("usage: cargo bench --bench fill -- URL TICKETS MESSAGES");
        std::process::exit(64);
    };
    let tickets: usize = tickets.parse().expect("TICKETS: a number");
    let messages: usize = messages.parse().expect("MESSAGES: a number");
    let filled = runtime.block_on(fill(url, tickets, messages));
    println!(
        "bench/fill: {} tickets, {} messages into {url}: rows in {:.1} s, search index in {:.1} s",
        filled.tickets,
        filled.messages,
        filled.rows.as_secs_f64(),
        filled.index.as_secs_f64()
    );
}
