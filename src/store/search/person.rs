//! A person's search from their own tickets: the index's words of those
//! few tickets read back and matched in Rust.
//!
//! The index finds a word's tickets across the whole store: a common word
//! ("shipping", in nearly every ticket of a marketplace) is a list of
//! nearly every ticket, merged again for each ranking tier, a few
//! milliseconds each however few tickets the person has; a prefix merges
//! the lists of every word it starts. A seller or a buyer sits in a few
//! hundred tickets: reading their words (`search_words` on SQLite, the
//! `tsvector` on PostgreSQL: [`Backend::search_words`]) and matching them
//! here costs what the person has, not what the store holds. On SQLite
//! the words come from memory (`cache.rs`), read from the store only for
//! documents not held yet; elsewhere they are read at each search and
//! ranked by the same code, in a cache of that search alone. Same rules
//! as the index's query (see the module above): every word in the ticket's
//! shown document or in the person's own words there, the last as a
//! prefix; ranked by [`Matched`], then last activity, then number.

use std::collections::HashMap;

use crate::store::sql::sql_impl;

use super::{Hit, Known, Matched, Person, SNIPPET_FIRST, cache, push_messages};
use crate::search::Query;
use crate::store::StoreError;
use crate::store::sql::{Backend, Script, TICKET_COLUMNS, get, push_list, ticket_of};
use sqlx::{ColumnIndex, Decode, Encode, Row, Type};

/// Above this many tickets in scope, a person's search goes through the
/// index (a staff address of a big queue, or a very busy seller).
pub(super) const MOST_TICKETS: usize = 2_000;

/// What the first statements of a person's search read
/// ([`push_lookup`]).
struct Lookup {
    /// Of how many queues they are staff.
    staff: i64,
    /// Their tickets in scope: `number me` pairs, newest first, by commas.
    listed: Option<String>,
    /// With the cache: the largest rowid of `search_words` and the rows
    /// after the one asked.
    feed: Option<(i64, Option<String>)>,
}

/// Whether the person is staff, their tickets in scope newest first, each
/// with their participant row there (one per ticket at most: UNIQUE
/// (ticket, address)), and with the cache its feed from `from`: three
/// statements. The scope of `push_scope` (search.rs) for a participant is
/// their row's (a client not in a deleted ticket), asked of that row
/// itself. One row each: every row a statement returns is a hand-off
/// between sqlx's SQLite thread and the caller.
fn push_lookup<'a, DB>(script: &mut Script<'a, DB>, address: &'a str, from: Option<i64>)
where
    DB: Backend,
    DB::Arguments<'a>: Default,
    for<'q> i64: Encode<'q, DB> + Type<DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
{
    let (q, _) = script
        .statement("SELECT COUNT(*) AS n FROM queue_addresses WHERE kind = 'staff' AND address = ");
    q.push_bind(address);
    let (q, _) = script.statement(
        "SELECT string_agg(number || ' ' || me, ',' ORDER BY updated_at DESC, number DESC) \
         AS tickets FROM (SELECT t.number, me.id AS me, t.updated_at FROM participants me \
         JOIN tickets t ON t.number = me.ticket WHERE me.address = ",
    );
    q.push_bind(address).push(
        " AND (me.role <> 'client' OR t.deleted_at IS NULL) AND (t.shown <> 0 OR EXISTS \
         (SELECT 1 FROM messages m WHERE m.ticket = t.number AND m.author = me.id)) \
         ORDER BY t.updated_at DESC, t.number DESC LIMIT ",
    );
    q.push_bind(MOST_TICKETS as i64 + 1).push(") s");
    if let Some(from) = from {
        let (q, _) = script.statement(cache::FEED);
        q.push_bind(from)
            .push(cache::FEED_UP_TO)
            .push_bind(from + cache::MOST_FED)
            .push(cache::FEED_END);
    }
}

fn read_lookup<R: Row>(groups: &[Vec<R>]) -> Result<Lookup, StoreError>
where
    for<'r> i64: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> String: Decode<'r, R::Database> + Type<R::Database>,
    for<'a> &'a str: ColumnIndex<R>,
{
    let staff = match groups[0].first() {
        Some(row) => get(row, "n")?,
        None => 0,
    };
    let listed = match groups[1].first() {
        Some(row) => get(row, "tickets")?,
        None => None,
    };
    let feed = match groups.get(2).and_then(|g| g.first()) {
        Some(row) => Some((
            get::<Option<i64>, _>(row, "top")?.unwrap_or(0),
            get(row, "rows")?,
        )),
        None => None,
    };
    Ok(Lookup {
        staff,
        listed,
        feed,
    })
}

/// `number me` pairs, by commas.
fn parse_tickets(listed: &str) -> Result<Vec<(i64, i64)>, StoreError> {
    let mut tickets = Vec::new();
    for pair in listed.split(',').filter(|p| !p.is_empty()) {
        let parsed = pair
            .split_once(' ')
            .and_then(|(n, me)| Some((n.parse().ok()?, me.parse().ok()?)));
        let Some(pair) = parsed else {
            return Err(StoreError::Corrupt(format!("a person's tickets: {pair:?}")));
        };
        tickets.push(pair);
    }
    Ok(tickets)
}

/// The best `limit` of `tickets` (newest first) by where the query was
/// found in each, then in the order given: (where, place in `tickets`,
/// number).
fn best(
    tickets: &[(i64, i64)],
    tiers: Vec<cache::Tier>,
    limit: usize,
) -> Vec<(Matched, usize, i64)> {
    let mut found: Vec<(Matched, usize, i64)> = tickets
        .iter()
        .zip(tiers)
        .enumerate()
        .filter_map(|(rank, ((number, _), tier))| Some((tier?, rank, *number)))
        .collect();
    found.sort_unstable();
    found.truncate(limit);
    found
}

/// The hits' tickets and, for their snippets, their newest messages; no
/// statement without hits.
fn push_hits<'a, DB>(script: &mut Script<'a, DB>, found: &[(Matched, usize, i64)], snippets: bool)
where
    DB: Backend,
    DB::Arguments<'a>: Default,
    for<'q> i64: Encode<'q, DB> + Type<DB>,
{
    if found.is_empty() {
        return;
    }
    let (q, _) = script.statement(&format!(
        "SELECT {TICKET_COLUMNS} FROM tickets t JOIN queues q ON q.id = t.queue_id \
         WHERE t.number IN "
    ));
    push_list(q, found.iter().map(|(_, _, number)| *number));
    if snippets {
        let (q, _) = script.statement("");
        push_messages(
            q,
            found.iter().map(|(_, _, number)| *number),
            0,
            SNIPPET_FIRST,
        );
    }
}

/// The hits [`push_hits`] read, and what their snippets start from.
fn read_hits<R: Row>(
    groups: &[Vec<R>],
    found: Vec<(Matched, usize, i64)>,
    tickets: &[(i64, i64)],
    snippets: bool,
) -> Result<(Vec<Hit>, Option<Known>), StoreError>
where
    for<'r> i64: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> String: Decode<'r, R::Database> + Type<R::Database>,
    for<'a> &'a str: ColumnIndex<R>,
{
    if found.is_empty() {
        return Ok((Vec::new(), None));
    }
    let mut rows = HashMap::new();
    for row in &groups[0] {
        let ticket = ticket_of(row)?;
        rows.insert(ticket.number, ticket);
    }
    let known = match groups.get(1).and_then(|g| g.first()) {
        Some(row) if snippets => Some(Known {
            first: get(row, "rows")?,
            // Their rows on the hits' tickets (`found` holds each one's
            // place in `tickets`), not on all of theirs.
            mine: found.iter().map(|(_, at, _)| tickets[*at].1).collect(),
        }),
        _ => None,
    };
    let hits = found
        .into_iter()
        .filter_map(|(matched, _, number)| {
            Some(Hit {
                ticket: rows.remove(&number)?,
                matched,
                snippet: None,
                message: None,
            })
        })
        .collect();
    Ok((hits, known))
}

/// The `words` of each statement's one row (`id words` a line, by table
/// of [`cache::TABLES`]): [`Backend::search_words`] or [`cache::load_sql`].
fn words_of<R: Row>(groups: &[Vec<R>]) -> Result<[Option<String>; 4], StoreError>
where
    for<'r> String: Decode<'r, R::Database> + Type<R::Database>,
    for<'a> &'a str: ColumnIndex<R>,
{
    let mut texts: [Option<String>; 4] = Default::default();
    for (text, rows) in texts.iter_mut().zip(groups) {
        if let Some(row) = rows.first() {
            *text = get(row, "words")?;
        }
    }
    Ok(texts)
}

sql_impl! {
    impl SqlStore {
        /// The hits of `query` among the tickets `address` (a person's,
        /// normalised) may see, best first, at most `limit`; or that they
        /// are a queue's staff or may see more than [`MOST_TICKETS`] (the
        /// index is then the better start).
        ///
        /// With the cache (SQLite), a person searched before is ranked at
        /// once from their scope as then, and their hits read in the same
        /// trip as their scope now: when it is the same and the index has
        /// no new words, that is the answer (one trip to the database);
        /// else what the trip read starts the search again.
        pub(super) async fn search_person(
            &self,
            conn: &mut DB::Connection,
            query: &Query,
            address: &str,
            limit: usize,
            snippets: bool,
        ) -> Result<Person, StoreError> {
            let from = (DB::SEARCH_WORDS_KEPT && self.words.enabled()).then(|| self.words.seen());
            let mut lookup = None;
            if let (Some(from), Some(listed)) = (from, self.words.scope(address)) {
                let tickets = parse_tickets(&listed)?;
                if let Some(tiers) = self.words.rank(query, &tickets, None)? {
                    let found = best(&tickets, tiers, limit);
                    let mut script = Script::<DB>::new();
                    push_lookup(&mut script, address, Some(from));
                    push_hits(&mut script, &found, snippets);
                    let groups = script.run(&mut *conn).await?;
                    let read = read_lookup(&groups)?;
                    let same = read.staff == 0
                        && read.listed.as_deref().unwrap_or("") == &*listed
                        && read.feed.as_ref().is_some_and(|(top, _)| *top <= from);
                    if same {
                        let (hits, known) = read_hits(&groups[3..], found, &tickets, snippets)?;
                        return Ok(Person::Hits(hits, known));
                    }
                    lookup = Some(read);
                }
            }
            // Whether they are staff, their tickets and, with the cache, its
            // feed: one trip.
            let lookup = match lookup {
                Some(lookup) => lookup,
                None => {
                    let mut script = Script::<DB>::new();
                    push_lookup(&mut script, address, from);
                    read_lookup(&script.run(&mut *conn).await?)?
                }
            };
            if lookup.staff > 0 {
                return Ok(Person::Staff);
            }
            let listed = lookup.listed.unwrap_or_default();
            let tickets = parse_tickets(&listed)?;
            if tickets.len() > MOST_TICKETS {
                return Ok(Person::Many);
            }
            if tickets.is_empty() {
                if from.is_some() {
                    self.words.keep_scope(address, &listed);
                }
                return Ok(Person::Hits(Vec::new(), None));
            }
            let mut tiers = None;
            if let (Some(from), Some((top, rows))) = (from, lookup.feed) {
                let whole = top <= from + cache::MOST_FED;
                self.words
                    .feed(from, top, whole.then(|| rows.as_deref().unwrap_or("")))?;
                self.words.keep_scope(address, &listed);
                tiers = self.cached_tiers(conn, query, &tickets, top).await?;
            }
            let tiers = match tiers {
                Some(tiers) => tiers,
                None => Self::read_tiers(conn, query, &tickets).await?,
            };
            let found = best(&tickets, tiers, limit);
            if found.is_empty() {
                return Ok(Person::Hits(Vec::new(), None));
            }
            // The hits' tickets and, for their snippets, their newest
            // messages: one trip.
            let mut script = Script::<DB>::new();
            push_hits(&mut script, &found, snippets);
            let groups = script.run(&mut *conn).await?;
            let (hits, known) = read_hits(&groups, found, &tickets, snippets)?;
            Ok(Person::Hits(hits, known))
        }

        /// Where `query` is found in each of `tickets`, from the cache
        /// (cache.rs), its missing documents read as of rowid `top`; `None`
        /// when it was emptied under this search twice.
        async fn cached_tiers(
            &self,
            conn: &mut DB::Connection,
            query: &Query,
            tickets: &[(i64, i64)],
            top: i64,
        ) -> Result<Option<Vec<cache::Tier>>, StoreError> {
            for _ in 0..2 {
                let (numbers, participants) = self.words.missing(tickets);
                if numbers.is_empty() && participants.is_empty() {
                    if let Some(tiers) = self.words.rank(query, tickets, None)? {
                        return Ok(Some(tiers));
                    }
                    continue;
                }
                let mut script = Script::<DB>::new();
                for (i, table) in cache::TABLES.iter().enumerate() {
                    let ids = if i == cache::OWN { &participants } else { &numbers };
                    let (q, _) = script.statement(&cache::load_sql(table));
                    // An empty list would be `IN ()`: ask for no id.
                    push_list(q, if ids.is_empty() { vec![0] } else { ids.clone() });
                    q.push(cache::LOAD_UP_TO).push_bind(top);
                }
                let texts = words_of(&script.run(&mut *conn).await?)?;
                let loaded = cache::Loaded {
                    top,
                    tickets: &numbers,
                    participants: &participants,
                    rows: [0, 1, 2, 3].map(|i| texts[i].as_deref()),
                };
                if let Some(tiers) = self.words.rank(query, tickets, Some(loaded))? {
                    return Ok(Some(tiers));
                }
            }
            Ok(None)
        }

        /// Where `query` is found in each of `tickets`, their words read
        /// from the store (PostgreSQL's `tsvector`s; SQLite without the
        /// cache) and ranked by the cache's rules in a cache of this search
        /// alone.
        async fn read_tiers(
            conn: &mut DB::Connection,
            query: &Query,
            tickets: &[(i64, i64)],
        ) -> Result<Vec<cache::Tier>, StoreError> {
            let numbers: Vec<i64> = tickets.iter().map(|(n, _)| *n).collect();
            let participants: Vec<i64> = tickets.iter().map(|(_, me)| *me).collect();
            let mut script = Script::<DB>::new();
            for (i, table) in cache::TABLES.iter().enumerate() {
                let ids = if i == cache::OWN { &participants } else { &numbers };
                let (q, _) = script.statement(&DB::search_words(table));
                push_list(q, ids.iter().copied());
            }
            let texts = words_of(&script.run(&mut *conn).await?)?;
            let loaded = cache::Loaded {
                top: 0,
                tickets: &numbers,
                participants: &participants,
                rows: [0, 1, 2, 3].map(|i| texts[i].as_deref()),
            };
            cache::WordCache::unbounded()
                .rank(query, tickets, Some(loaded))?
                .ok_or_else(|| StoreError::Corrupt("a person's search words".into()))
        }
    }
}
