//! Search (`SearchStore`): one corpus on every backend, the same queries,
//! the same hits in the same order; what each scope may find (a phone
//! number a policy masked is found by a moderator, not by the other
//! party; a held message by its author and moderators alone; a ticket
//! opened by a held message by nobody else); accents and case; hostile
//! query syntax; an approval indexing the text it shows.

use parley::access::Viewer;
use parley::search::Query;
use parley::store::{Approval, Hit, Moderate, Ruling, Store};

use super::*;

/// Each hit as (number, where found, snippet).
type Found = Vec<(i64, String, Option<String>)>;

/// What the corpus holds, by ticket.
struct Corpus {
    oak: i64,
    lamp: i64,
    drawers: i64,
    scam: i64,
    /// Bob's held message on the lamp ticket.
    held: i64,
}

async fn pause() {
    // Every write its own millisecond: last activity orders the hits.
    tokio::time::sleep(std::time::Duration::from_millis(3)).await;
}

fn opens(
    queue: i64,
    client: (&str, &str),
    key: &str,
    subject: &str,
    titles: [Option<&str>; 2],
    text: &str,
) -> Post {
    let mut post = opening(queue, client.0, key);
    if let Target::New(t) = &mut post.target {
        t.subject = subject.into();
        t.item_title = titles[0].map(Into::into);
        t.auction_title = titles[1].map(Into::into);
        t.participants[0].display_name = Some(client.1.into());
        t.participants[1].display_name = Some("Shop Agent".into());
    }
    post.reply_text = text.into();
    post
}

fn held(mut post: Post) -> Post {
    post.policy = PolicyRecord {
        action: "hold".into(),
        hits: "[]".into(),
        redacted_text: None,
        masked_text: None,
        held: true,
    };
    post
}

async fn corpus(env: &TestEnv) -> Corpus {
    let (store, minter) = (env.store(), env.intake.minter());
    let desk = desk_id(store).await;
    let books = store.queue("books").await.unwrap().unwrap().id;

    // 1. The oak sideboard: María asks, with a phone number the policy masks.
    let mut first = opens(
        desk,
        (MARIA, "María Pérez"),
        "s1",
        "Still available?",
        [Some("Oak sideboard"), Some("Estate of Zoë Müller")],
        "Is it still there? Call me at 0612 345 678",
    );
    first.policy = PolicyRecord {
        action: "redact".into(),
        hits: "[]".into(),
        redacted_text: Some("Is it still there? Call me at [phone removed]".into()),
        masked_text: Some("Is it still there? Call me at [phone removed]".into()),
        held: false,
    };
    let (oak, ..) = stored(post(store, minter, &first).await);
    pause().await;

    // 2. The brass lamp: Bob asks; his second message is held.
    let lamp_post = opens(
        desk,
        (BOB, "Bob Stone"),
        "s2",
        "Shipping question",
        [Some("Brass lamp"), None],
        "Can you ship the lamp to Oslo?",
    );
    let (lamp, ..) = stored(post(store, minter, &lamp_post).await);
    pause().await;

    // 3. Drawers, at the books desk: María again, no titles.
    let drawers_post = opens(
        books,
        (MARIA, "María Pérez"),
        "s3",
        "Sideboard drawers",
        [None, None],
        "The drawers stick, Crème brûlée colour",
    );
    let (drawers, ..) = stored(post(store, minter, &drawers_post).await);
    pause().await;

    // 4. Opened by a held message: nobody's work but a moderator's.
    let scam_post = held(opens(
        desk,
        (MALLORY, "Mal Lory"),
        "s4",
        "Cheap oak deal",
        [None, None],
        "send money by western union",
    ));
    let (scam, ..) = stored(post(store, minter, &scam_post).await);
    pause().await;

    // The agent answers the oak sideboard (newest activity there).
    let agent = env.participant(oak, AGENT).await.id;
    let mut reply = answer(oak, agent, None, "s5");
    reply.reply_text = "Yes, pick-up in Köln on Saturday".into();
    post(store, minter, &reply).await;
    pause().await;

    // Bob's held message on the lamp.
    let bob = env.participant(lamp, BOB).await.id;
    let mut wire = held(answer(lamp, bob, None, "s6"));
    wire.reply_text = "Pay me by wire transfer instead".into();
    let (_, held_id, ..) = stored(post(store, minter, &wire).await);
    Corpus {
        oak,
        lamp,
        drawers,
        scam,
        held: held_id,
    }
}

async fn find(store: &dyn Store, text: &str, scope: Viewer<'_>) -> Found {
    let query = Query::parse(text).expect("a query");
    let hits: Vec<Hit> = store.search(&query, scope, 50).await.expect("search");
    hits.into_iter()
        .map(|h| {
            let matched = serde_json::to_value(h.matched).unwrap();
            (
                h.ticket.number,
                matched.as_str().unwrap().to_string(),
                h.snippet,
            )
        })
        .collect()
}

fn numbers(found: &Found) -> Vec<i64> {
    found.iter().map(|f| f.0).collect()
}

const MODERATOR: Viewer<'static> = Viewer::Moderator;
const MARKET: Viewer<'static> = Viewer::Marketplace;

/// The queries, each with its scope; their answers are compared across
/// backends.
const QUERIES: [(&str, &str); 22] = [
    ("moderator", "sideboard"),
    ("moderator", "SIDEBOARD drawers"),
    ("moderator", "maria"),
    ("moderator", "Pérez oak"),
    ("moderator", "zoe muller"),
    ("moderator", "buyer.example"),
    ("moderator", "koln"),
    ("moderator", "creme brulee"),
    ("moderator", "0612"),
    ("moderator", "oak"),
    ("moderator", "wire"),
    ("moderator", "sid"),
    ("market", "oak"),
    ("market", "0612"),
    ("agent", "0612"),
    ("agent", "wire"),
    ("agent", "oak"),
    ("maria", "0612"),
    ("maria", "sideboard"),
    ("bob", "wire"),
    ("bob", "sideboard"),
    ("clerk", "stick"),
];

fn scope(name: &str) -> Viewer<'static> {
    match name {
        "moderator" => MODERATOR,
        "market" => MARKET,
        "agent" => Viewer::Person { address: AGENT },
        "maria" => Viewer::Person { address: MARIA },
        "bob" => Viewer::Person { address: BOB },
        "clerk" => Viewer::Person { address: CLERK },
        other => panic!("no scope {other}"),
    }
}

#[tokio::test]
async fn search_finds_the_same_on_every_backend() {
    let mut answers: Vec<(&'static str, Vec<Found>)> = Vec::new();
    for backend in backends() {
        println!("== search story on {}", backend.name());
        let env = TestEnv::new(&backend, |_| {}).await;
        let corpus = corpus(&env).await;
        story(&env, &corpus).await;
        let mut found = Vec::new();
        for (who, text) in QUERIES {
            found.push(find(env.store(), text, scope(who)).await);
        }
        answers.push((backend.name(), found));
    }
    let (first, expected) = &answers[0];
    for (name, found) in &answers[1..] {
        for (i, (who, text)) in QUERIES.iter().enumerate() {
            assert_eq!(
                &found[i], &expected[i],
                "{who} searching {text:?}: {name} differs from {first}"
            );
        }
    }
    println!(
        "search ran on: {}",
        answers.iter().map(|a| a.0).collect::<Vec<_>>().join(", ")
    );
}

/// What each query finds, on one backend.
async fn story(env: &TestEnv, c: &Corpus) {
    let store = env.store();
    let agent = Viewer::Person { address: AGENT };
    let maria = Viewer::Person { address: MARIA };
    let bob = Viewer::Person { address: BOB };

    // Titles first (the subject, listing and auction titles), then newest
    // activity: the oak sideboard was answered last.
    let found = find(store, "sideboard", MODERATOR).await;
    assert_eq!(numbers(&found), [c.oak, c.drawers]);
    assert!(found.iter().all(|f| f.1 == "title"), "{found:?}");
    // Case, accents, words across fields of one ticket.
    assert_eq!(
        numbers(&find(store, "SIDEBOARD drawers", MODERATOR).await),
        [c.drawers]
    );
    assert_eq!(
        numbers(&find(store, "zoe muller", MODERATOR).await),
        [c.oak]
    );
    assert_eq!(
        numbers(&find(store, "ZOË MÜLLER", MODERATOR).await),
        [c.oak]
    );
    assert_eq!(
        numbers(&find(store, "creme brulee", MODERATOR).await),
        [c.drawers]
    );
    let found = find(store, "koln", MODERATOR).await;
    assert_eq!(numbers(&found), [c.oak]);
    assert_eq!(found[0].1, "message");
    assert_eq!(
        found[0].2.as_deref(),
        Some("Yes, pick-up in Köln on Saturday")
    );
    // Names and addresses: a person's tickets, ranked below titles.
    let found = find(store, "maria", MODERATOR).await;
    assert_eq!(numbers(&found), [c.oak, c.drawers]);
    assert!(found.iter().all(|f| f.1 == "person"), "{found:?}");
    assert_eq!(numbers(&find(store, "Pérez oak", MODERATOR).await), [c.oak]);
    assert_eq!(
        numbers(&find(store, "bob@buyer.example", MODERATOR).await),
        [c.lamp]
    );
    let mut found = numbers(&find(store, "buyer.example", MODERATOR).await);
    found.sort();
    assert_eq!(found, [c.oak, c.lamp, c.drawers]);
    // The last word is a prefix; the others are not.
    assert_eq!(
        numbers(&find(store, "sid", MODERATOR).await),
        [c.oak, c.drawers]
    );
    assert!(find(store, "sid oak", MODERATOR).await.is_empty());
    assert!(find(store, "nothing-like-this", MODERATOR).await.is_empty());

    // The masked phone number: the moderator finds it, with the original
    // in the snippet; the marketplace and the other party do not; María,
    // who wrote it, does.
    let found = find(store, "0612", MODERATOR).await;
    assert_eq!(numbers(&found), [c.oak]);
    assert!(
        found[0].2.as_deref().unwrap().contains("0612 345 678"),
        "{found:?}"
    );
    assert!(find(store, "0612", MARKET).await.is_empty());
    assert!(find(store, "0612", agent).await.is_empty());
    let found = find(store, "0612", maria).await;
    assert_eq!(numbers(&found), [c.oak]);
    // Words from different places of one ticket: two messages; one's own
    // masked words beside the titles.
    assert_eq!(numbers(&find(store, "0612 koln", MODERATOR).await), [c.oak]);
    assert_eq!(
        numbers(&find(store, "0612 sideboard", maria).await),
        [c.oak]
    );
    assert!(find(store, "0612 sideboard", agent).await.is_empty());
    assert!(find(store, "0612 sideboard", bob).await.is_empty());
    // The other party finds the message by its visible words, masked.
    let found = find(store, "call", agent).await;
    assert_eq!(numbers(&found), [c.oak]);
    assert_eq!(
        found[0].2.as_deref(),
        Some("Is it still there? Call me at [phone removed]")
    );

    // The held message: its author and moderators; not the seller side.
    assert_eq!(numbers(&find(store, "wire", MODERATOR).await), [c.lamp]);
    assert_eq!(numbers(&find(store, "wire", bob).await), [c.lamp]);
    assert!(find(store, "wire", agent).await.is_empty());
    assert!(find(store, "wire", MARKET).await.is_empty());
    // A ticket opened by a held message: a moderator's, and its author's.
    assert_eq!(
        numbers(&find(store, "oak", MODERATOR).await),
        [c.oak, c.scam]
    );
    assert_eq!(numbers(&find(store, "oak", MARKET).await), [c.oak]);
    assert_eq!(numbers(&find(store, "oak", agent).await), [c.oak]);
    let mallory = Viewer::Person { address: MALLORY };
    assert_eq!(numbers(&find(store, "oak", mallory).await), [c.scam]);

    // A person finds their own tickets only; a queue's staff its queue's.
    assert_eq!(
        numbers(&find(store, "sideboard", maria).await),
        [c.oak, c.drawers]
    );
    assert!(find(store, "sideboard", bob).await.is_empty());
    assert_eq!(
        numbers(&find(store, "sideboard", agent).await),
        [c.oak, c.drawers]
    );
    let clerk = Viewer::Person { address: CLERK };
    assert_eq!(numbers(&find(store, "stick", clerk).await), [c.drawers]);
    let stranger = Viewer::Person { address: NOBODY };
    for text in ["sideboard", "maria", "0612", "oak", "wire"] {
        assert!(find(store, text, stranger).await.is_empty(), "{text}");
    }

    // Hostile syntax is text: never an error, found as its words.
    for text in [
        "\"",
        "\"oak",
        "oak\"*",
        "*",
        "oak*",
        ":",
        "oak:*",
        "a & b | !c",
        "(oak",
        "NEAR(oak",
        "oak AND",
        "OR",
        "-oak",
        "'",
        "''oak''",
        "\\",
        "{titles}: oak",
        "oak^",
        "%_",
        ";--",
    ] {
        let query = Query::parse(text).expect(text);
        store.search(&query, MODERATOR, 10).await.expect(text);
        store.search(&query, maria, 10).await.expect(text);
    }
    assert_eq!(numbers(&find(store, "\"oak\"", MARKET).await), [c.oak]);
    assert_eq!(numbers(&find(store, "oak:*", MARKET).await), [c.oak]);

    // An approval shows the held message: now the seller side finds it.
    let approve = Moderate {
        message: c.held,
        ruling: Ruling::Approve {
            shows: Approval::Masked,
        },
        actor: "moderator".into(),
        status: None,
    };
    store.moderate(&approve, env.intake.minter()).await.unwrap();
    assert_eq!(numbers(&find(store, "wire", agent).await), [c.lamp]);
}

/// A search with its snippets needs one connection of the pool, not two:
/// with the snippets on a second connection while the first was held,
/// every connection of a busy pool was held by a search waiting for
/// another (bench/api: 13 searches/s and 503s after the acquire timeout).
/// One reader connection here: the old code waited for itself.
#[tokio::test]
async fn a_search_with_snippets_needs_one_connection() {
    for backend in backends() {
        let env = TestEnv::new(&backend, |config| {
            config.store.max_connections = 1;
            config.store.acquire_timeout_secs = 2;
        })
        .await;
        let c = corpus(&env).await;
        let query = Query::parse("koln").expect("a query");
        for scope in [MODERATOR, Viewer::Person { address: MARIA }] {
            let hits = env
                .store()
                .search(&query, scope, 20)
                .await
                .unwrap_or_else(|e| panic!("{}: {e}", backend.name()));
            assert_eq!(hits.len(), 1, "{}", backend.name());
            assert_eq!(hits[0].ticket.number, c.oak);
            assert_eq!(
                hits[0].snippet.as_deref(),
                Some("Yes, pick-up in Köln on Saturday"),
                "{}",
                backend.name()
            );
        }
    }
}

/// A person's search runs from their own tickets, their words matched in
/// Rust (`store/search/person.rs`); a queue's staff's through the index.
/// The same people, the same tickets in scope, searched both ways (made
/// the staff of a queue without tickets, which leaves their scope as it
/// was and sends them through the index): the same hits, in the same
/// order, found in the same place, with the same snippets.
#[tokio::test]
async fn a_persons_search_finds_what_the_index_finds() {
    use parley::config::QueueConfig;
    let queries = [
        "sideboard",
        "sid",
        "oak",
        "maria",
        "perez sideboard",
        "buyer.example",
        "0612",
        "0612 sideboard",
        "call",
        "wire",
        "koln",
        "pick",
        "stick dra",
        "shipping lamp",
        "nothing",
    ];
    for backend in backends() {
        let env = TestEnv::new(&backend, |_| {}).await;
        corpus(&env).await;
        let store = env.store();
        let people = [MARIA, BOB, MALLORY];
        let mut mine = Vec::new();
        for address in people {
            for text in queries {
                mine.push(find(store, text, Viewer::Person { address }).await);
            }
        }
        assert!(
            mine.iter().filter(|found| !found.is_empty()).count() >= 15,
            "the queries find something: {mine:?}"
        );
        store
            .sync_queue(&QueueConfig {
                name: "empty".into(),
                intake: vec!["empty@shop.example".into()],
                staff: people.iter().map(|a| a.to_string()).collect(),
                ..QueueConfig::default()
            })
            .await
            .unwrap();
        let mut i = 0;
        for address in people {
            for text in queries {
                let indexed = find(store, text, Viewer::Person { address }).await;
                assert_eq!(
                    mine[i],
                    indexed,
                    "{} searching {text:?} as {address}",
                    backend.name()
                );
                i += 1;
            }
        }
    }
}

/// A person's search on SQLite reads their words from memory
/// (`store/search/cache.rs`); the store may be written by others too
/// (`parley ingest`, another instance). Words written through a second
/// store on the same database after the first one has cached María's
/// tickets are found by the first at its next search, on the ticket they
/// were written to, and a new ticket of hers is found too; the same
/// searches with the cache off find the same.
#[tokio::test]
async fn a_persons_search_sees_what_another_writer_added() {
    for backend in backends() {
        let env = TestEnv::new(&backend, |_| {}).await;
        let c = corpus(&env).await;
        let maria = Viewer::Person { address: MARIA };
        let store = env.store();
        assert!(find(store, "zanzibar", maria).await.is_empty());
        assert_eq!(numbers(&find(store, "oak", maria).await), vec![c.oak]);
        // Another writer on the same database.
        let other = parley::store::open(&env.config.store).await.unwrap();
        let agent = env.participant(c.oak, AGENT).await.id;
        let mut reply = answer(c.oak, agent, None, "w1");
        reply.reply_text = "Zanzibar teak, if you like".into();
        post(&*other, env.intake.minter(), &reply).await;
        pause().await;
        let opened = opens(
            desk_id(&*other).await,
            (MARIA, "María Pérez"),
            "w2",
            "Zanzibar chest",
            [None, None],
            "Is the chest oak?",
        );
        let (chest, ..) = stored(post(&*other, env.intake.minter(), &opened).await);
        let found = find(store, "zanzibar", maria).await;
        assert_eq!(
            found
                .iter()
                .map(|f| (f.0, f.1.as_str()))
                .collect::<Vec<_>>(),
            vec![(chest, "title"), (c.oak, "message")],
            "{}",
            backend.name()
        );
        assert_eq!(found[1].2.as_deref(), Some("Zanzibar teak, if you like"));
        assert_eq!(numbers(&find(store, "teak oak", maria).await), vec![c.oak]);
        // The same without the cache.
        let mut config = env.config.store.clone();
        config.search_cache_mb = 0;
        let uncached = parley::store::open(&config).await.unwrap();
        for text in ["zanzibar", "teak oak", "oak", "chest", "z"] {
            assert_eq!(
                find(&*uncached, text, maria).await,
                find(store, text, maria).await,
                "{} searching {text:?}",
                backend.name()
            );
        }
    }
}

/// A snippet comes from the newest message holding a word, however old:
/// the newest few of each hit are read first, the rest only for hits
/// still without one (`SNIPPET_FIRST`), in one value a pass.
#[tokio::test]
async fn a_snippet_comes_from_an_older_message() {
    for backend in backends() {
        let env = TestEnv::new(&backend, |_| {}).await;
        let store = env.store();
        let minter = env.intake.minter();
        let opened = opens(
            desk_id(store).await,
            (MARIA, "María Pérez"),
            "o1",
            "A chest",
            [None, None],
            "Is the camphor chest still there?",
        );
        let (chest, ..) = stored(post(store, minter, &opened).await);
        let agent = env.participant(chest, AGENT).await.id;
        for i in 0..5 {
            pause().await;
            let mut reply = answer(chest, agent, None, &format!("o2{i}"));
            reply.reply_text = format!("Answer number {i}");
            post(store, minter, &reply).await;
        }
        for scope in [MODERATOR, MARKET, Viewer::Person { address: MARIA }] {
            let found = find(store, "camphor", scope).await;
            assert_eq!(
                found,
                vec![(
                    chest,
                    "message".to_string(),
                    Some("Is the camphor chest still there?".to_string())
                )],
                "{}",
                backend.name()
            );
            let newest = find(store, "answer", scope).await;
            assert_eq!(newest[0].2.as_deref(), Some("Answer number 4"));
        }
    }
}

/// A person searched before is answered from their scope as then, checked
/// in the same trip as their hits are read (`store/search/person.rs`):
/// words the index gained meanwhile without their scope changing (here
/// written straight into SQLite's index, as another writer's would be)
/// are found all the same. SQLite only: the cache's.
#[tokio::test]
async fn a_persons_search_sees_words_added_to_an_unchanged_scope() {
    let env = TestEnv::new(&Backend::Sqlite, |_| {}).await;
    let c = corpus(&env).await;
    let maria = Viewer::Person { address: MARIA };
    let store = env.store();
    assert!(find(store, "quokka", maria).await.is_empty());
    assert_eq!(numbers(&find(store, "oak", maria).await), vec![c.oak]);
    let pool = sqlx::SqlitePool::connect(&env.config.store.url)
        .await
        .unwrap();
    for sql in [
        "INSERT INTO search_words (tbl, id, words) VALUES ('search_shown', ?, 'quokka')",
        "INSERT INTO search_shown (rowid, doc) VALUES (?, 'quokka')",
    ] {
        sqlx::query(sql).bind(c.oak).execute(&pool).await.unwrap();
    }
    pool.close().await;
    assert_eq!(numbers(&find(store, "quokka", maria).await), vec![c.oak]);
    assert_eq!(
        numbers(&find(store, "quokka oak", maria).await),
        vec![c.oak]
    );
}
