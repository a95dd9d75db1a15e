//! Search: the index of every ticket's words and the queries over it,
//! scoped in SQL to what the searcher may see.
//!
//! The index (migrations `0013_search.sql`) holds one document per ticket
//! and table, the words [`crate::search::normalize`] makes (one tokeniser
//! for both backends: see `src/search.rs` for why it is neither FTS5's
//! `unicode61` nor PostgreSQL's `simple` configuration): `search_titles`
//! (the subject, the listing's and the auction's titles), `search_names`
//! (those and the participants' names and addresses), `search_shown`
//! (those and every message as the parties are shown it,
//! [`crate::moderation::visible_text`]), `search_all` (those and every
//! message as written, held and rejected ones too), and `search_own` by
//! participant (the words of their own messages that `search_shown`
//! lacks). SQLite keeps them in contentless FTS5 tables, PostgreSQL as
//! `tsvector`s with GIN indexes; with a document per ticket the engine
//! itself finds the tickets holding every word. Words are written by the
//! writes that store them, in their transactions ([`Docs`]: a batch of
//! posts, a participant joining by assignment or forward, a moderator's
//! approval), and only ever added; rows stored before the index existed
//! are indexed once after migrating (`search/backfill.rs`).
//!
//! A query's words must all be found in the ticket (AND), each anywhere:
//! titles, a participant, or a message the scope may see; the last word
//! as a prefix. Who searches is an [`access::Viewer`](crate::access::Viewer),
//! pushed into the SQL as [`crate::access`] decides it ([`push_scope`]):
//!
//! - a moderator searches every ticket and every message as written
//!   (`search_all`: held and rejected ones, masked words included);
//! - the marketplace every ticket someone was shown a message of, in the
//!   text the parties are shown (`search_shown`);
//! - a person the tickets they may see (a participant, or a staff address
//!   of the queue; a client not in a deleted one) that were shown to
//!   someone or hold a message of theirs, in the text they are shown and
//!   their own messages as written (`search_shown`, and `search_own` of
//!   their participant rows).
//!
//! A person who is no queue's staff, with at most
//! [`person::MOST_TICKETS`] tickets in scope, is searched from those
//! tickets instead: their words read back from the index and matched in
//! Rust by the same rules (`search/person.rs`: a common word's list of
//! nearly every ticket is never merged for them), on SQLite from words
//! the process keeps in memory (`search/cache.rs`).
//!
//! Hits are ranked the same on both backends: by where every word was
//! found ([`Matched`]: the titles, then titles and participants, then
//! anywhere), then by last activity (newest first), then by number
//! (highest first). The snippet is made in Rust from the hit's newest
//! messages as the searcher sees them ([`crate::access::message`]).

mod backfill;
mod cache;
mod index;
mod person;

use crate::store::sql::sql_impl;
pub(super) use cache::WordCache;
pub(super) use index::Docs;
use index::visible;

use std::collections::HashMap;

use async_trait::async_trait;
use serde::Serialize;
use sqlx::{Encode, QueryBuilder, Type};

use super::sql::{
    Backend, MESSAGE_COLUMNS, SHOWN_TICKET, Script, TICKET_COLUMNS, get, messages_of_json,
    ticket_of,
};
use super::{Message, StoreError, Ticket};
use crate::access::{self, Access, Side, Viewer};
use crate::address;
use crate::search::Query;

/// Where every word of a query was found, best first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Matched {
    /// The subject, the listing's or the auction's title.
    Title,
    /// Those and the participants' names and addresses.
    Person,
    /// Anywhere, message text included.
    Message,
}

impl Matched {
    fn of(tier: i64) -> Matched {
        match tier {
            1 => Matched::Title,
            2 => Matched::Person,
            _ => Matched::Message,
        }
    }
}

/// A ticket a query found.
#[derive(Debug, Clone)]
pub struct Hit {
    pub ticket: Ticket,
    pub matched: Matched,
    /// A piece of the newest message the query's words are found in, as
    /// the searcher sees it ([`crate::access::message`]; a moderator: as
    /// written); `None` when no message holds one of them.
    pub snippet: Option<String>,
    /// That message.
    pub message: Option<i64>,
}

#[async_trait]
pub trait SearchStore: Send + Sync {
    /// The tickets `scope` may see that hold every word of `query`, best
    /// first (see the module), at most `limit`, each with its snippet. A
    /// query without words finds nothing.
    async fn search(
        &self,
        query: &Query,
        scope: Viewer<'_>,
        limit: usize,
    ) -> Result<Vec<Hit>, StoreError> {
        self.search_with(query, scope, limit, true).await
    }

    /// As [`SearchStore::search`]; without `snippets` the hits carry none
    /// (the conversation list's `q=` wants only which tickets match, and
    /// a snippet reads a hit's messages).
    async fn search_with(
        &self,
        query: &Query,
        scope: Viewer<'_>,
        limit: usize,
        snippets: bool,
    ) -> Result<Vec<Hit>, StoreError>;
}

/// How many of a hit's newest messages are looked at for its snippet.
const SNIPPET_MESSAGES: i64 = 100;
/// How many of them are read first.
const SNIPPET_FIRST: i64 = 2;

sql_impl! {
    #[async_trait]
    impl SearchStore for SqlStore {
        async fn search_with(
            &self,
            query: &Query,
            scope: Viewer<'_>,
            limit: usize,
            snippets: bool,
        ) -> Result<Vec<Hit>, StoreError> {
            let mut terms = Vec::with_capacity(query.terms().len());
            for (i, term) in query.terms().iter().enumerate() {
                match DB::search_term(term, query.is_prefix(i)) {
                    Some(term) => terms.push(term),
                    // Not a word of src/search.rs: nothing has it.
                    None => return Ok(Vec::new()),
                }
            }
            if terms.is_empty() || limit == 0 {
                return Ok(Vec::new());
            }
            let every = terms.join(DB::SEARCH_AND);
            let any = terms.join(DB::SEARCH_OR);
            let person = match scope {
                Viewer::Person { address } => Some(address::normalize(address)),
                _ => None,
            };
            let found = Found {
                every: &every,
                any: &any,
                terms: &terms,
                person: person.as_deref(),
            };
            let mut conn = self.read.acquire().await?;
            // A person who is no queue's staff sits in few tickets: the search
            // starts from them, their words matched here (search/person.rs);
            // through the index when they have many. Everyone else's starts
            // from the index.
            let mine = match found.person {
                Some(address) => {
                    self.search_person(&mut conn, query, address, limit, snippets)
                        .await?
                }
                None => Person::Staff,
            };
            let from_person = !matches!(mine, Person::Staff);
            let (mut hits, known) = match mine {
                Person::Hits(hits, known) => (hits, known),
                Person::Staff | Person::Many => {
                    let mut script = Script::<DB>::new();
                    let (q, _) = script.statement("");
                    push_search(q, &found, scope, from_person, limit as i64);
                    let rows = script.run(&mut conn).await?.remove(0);
                    let mut hits = Vec::with_capacity(rows.len());
                    for row in &rows {
                        hits.push(Hit {
                            ticket: ticket_of(row)?,
                            matched: Matched::of(get(row, "tier")?),
                            snippet: None,
                            message: None,
                        });
                    }
                    (hits, None)
                }
            };
            if snippets {
                // On the same connection: a second one from the pool while
                // this one is held deadlocks under load (every connection held
                // by a search waiting for another).
                self.snippets(&mut conn, &mut hits, query, scope, person.as_deref(), known)
                    .await?;
            }
            Ok(hits)
        }
    }
}

/// What a search read of its hits' snippets with their tickets, saving a
/// trip to the database (a person's search: `search/person.rs`).
struct Known {
    /// The first pass's messages ([`push_messages`]).
    first: Option<String>,
    /// The person's participant ids on the hits' tickets.
    mine: Vec<i64>,
}

/// One value ([`Backend::json_rows`]) of the messages of `tickets`, each
/// ticket's newest first from `offset`, at most `limit` each: a statement
/// for [`messages_of_json`].
fn push_messages<'a, DB>(
    q: &mut QueryBuilder<'a, DB>,
    tickets: impl Iterator<Item = i64>,
    offset: i64,
    limit: i64,
) where
    DB: Backend,
    for<'q> i64: Encode<'q, DB> + Type<DB>,
{
    q.push(DB::json_rows(MESSAGE_COLUMNS)).push("(");
    for (k, number) in tickets.enumerate() {
        if k > 0 {
            q.push(" UNION ALL ");
        }
        q.push(format!(
            "SELECT * FROM (SELECT {MESSAGE_COLUMNS} FROM messages WHERE ticket = "
        ));
        q.push_bind(number)
            .push(" ORDER BY id DESC LIMIT ")
            .push_bind(limit)
            .push(" OFFSET ")
            .push_bind(offset)
            .push(format!(") m{k}"));
    }
    q.push(") s");
}

/// The snippet of the first of `messages` (newest first) holding a word of
/// `query` as `scope` sees it (`mine`: a person's participant ids there),
/// and its id.
fn snippet_in(
    messages: &[Message],
    query: &Query,
    scope: Viewer<'_>,
    mine: &[i64],
) -> Option<(String, i64)> {
    messages.iter().find_map(|message| {
        let access = match scope {
            Viewer::Moderator => Access::Moderator,
            Viewer::Marketplace => Access::Marketplace,
            Viewer::Person { .. } => Access::Party {
                // The side does not change what a message shows.
                side: Side::Client,
                participant: message.author.filter(|a| mine.contains(a)),
            },
        };
        let view = access::message(access, message)?;
        // Moderators search the text as written.
        let text = match view.moderation {
            Some(moderator) => moderator.original,
            None => view.text,
        };
        query
            .found_in(text)
            .then(|| (query.snippet(text), message.id))
    })
}

/// What a person's search from their own tickets found (search/person.rs).
enum Person {
    /// A staff address of a queue: searched through the index.
    Staff,
    /// More tickets than [`person::MOST_TICKETS`]: through the index, from
    /// their tickets.
    Many,
    /// With their snippets' first messages when asked for.
    Hits(Vec<Hit>, Option<Known>),
}

/// A query as the SQL binds it: every word (AND), any word (OR), each
/// word alone; and the person searching, by address.
pub(super) struct Found<'a> {
    pub every: &'a str,
    pub any: &'a str,
    pub terms: &'a [String],
    pub person: Option<&'a str>,
}

/// The whole search query: the tickets in scope whose document holds
/// every word (or, for a person, whose document and their own words
/// together do), each with where it was found, best first. With
/// `from_person`, the person's own tickets first (an index: the planner
/// may start there).
fn push_search<'a, DB>(
    q: &mut QueryBuilder<'a, DB>,
    found: &Found<'a>,
    scope: Viewer<'_>,
    from_person: bool,
    limit: i64,
) where
    DB: Backend,
    for<'q> i64: Encode<'q, DB> + Type<DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
{
    q.push(format!("SELECT {TICKET_COLUMNS}, CASE WHEN "));
    // The set of tickets each index finds, computed once by the engine
    // (a lookup a ticket would run the whole query again on SQLite: FTS5
    // does not take the rowid beside MATCH).
    let found_in = |q: &mut QueryBuilder<'a, DB>, table: &str| {
        q.push("t.number IN (");
        push_match(q, table, found.every);
        q.push(")");
    };
    found_in(q, "search_titles");
    q.push(" THEN CAST(1 AS BIGINT) WHEN ");
    found_in(q, "search_names");
    q.push(" THEN CAST(2 AS BIGINT) ELSE CAST(3 AS BIGINT) END AS tier FROM ");
    // From the person's own tickets: a join, so that both planners start
    // there (PostgreSQL otherwise checks the scope on every ticket).
    if let (true, Some(address)) = (from_person, found.person) {
        q.push("participants me JOIN tickets t ON t.number = me.ticket ");
        q.push("JOIN queues q ON q.id = t.queue_id WHERE me.address = ");
        q.push_bind(address);
        q.push(" AND ");
    } else {
        q.push("tickets t JOIN queues q ON q.id = t.queue_id WHERE ");
    }
    push_where(q, found, scope, false);
    q.push(" ORDER BY tier, t.updated_at DESC, t.number DESC LIMIT ");
    q.push_bind(limit);
}

/// The condition on `t` (a ticket) that it holds every word of the query
/// as `scope` may see it and is in scope ([`push_scope`]): for every list
/// of tickets that a text query narrows (search here; the conversation
/// list's `q=` may share it).
pub(super) fn push_where<'a, DB>(
    q: &mut QueryBuilder<'a, DB>,
    found: &Found<'a>,
    scope: Viewer<'_>,
    from_person: bool,
) where
    DB: Backend,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
{
    let document = match scope {
        Viewer::Moderator => "search_all",
        _ => "search_shown",
    };
    let found_in = |q: &mut QueryBuilder<'a, DB>, table: &str| {
        q.push("t.number IN (");
        push_match(q, table, found.every);
        q.push(")");
    };
    if let (true, Some(address)) = (from_person, found.person) {
        q.push("t.number IN (SELECT p.ticket FROM participants p WHERE p.address = ");
        q.push_bind(address);
        q.push(") AND ");
    }
    q.push("(");
    found_in(q, document);
    if let Some(address) = found.person {
        // Their own words: the tickets where a row of theirs has one of
        // the words, each word then in the ticket's shown document or in
        // their own words there.
        q.push(" OR (t.number IN (SELECT p.ticket FROM participants p WHERE p.address = ");
        q.push_bind(address);
        q.push(" AND p.id IN (");
        push_match(q, "search_own", found.any);
        q.push("))");
        for term in found.terms {
            q.push(" AND (t.number IN (");
            push_match(q, "search_shown", term);
            q.push(
                ") OR EXISTS (SELECT 1 FROM participants o WHERE o.ticket = t.number AND o.address = ",
            );
            q.push_bind(address);
            q.push(" AND o.id IN (");
            push_match(q, "search_own", term);
            q.push(")))");
        }
        q.push(")");
    }
    q.push(") AND ");
    push_scope(q, scope, found.person);
}

/// `SELECT id FROM {table}` rows matching `query`.
fn push_match<'a, DB>(q: &mut QueryBuilder<'a, DB>, table: &str, query: &'a str)
where
    DB: Backend,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
{
    let (before, after) = DB::search_match(table);
    q.push(before).push_bind(query).push(after);
}

/// The condition on `t` (a ticket) that it is in scope: see the module.
/// For every list of tickets that narrows by who looks (search here; the
/// conversation list may share it). `person`: the person's address,
/// normalised ([`address::normalize`]).
pub(super) fn push_scope<'a, DB>(
    q: &mut QueryBuilder<'a, DB>,
    scope: Viewer<'_>,
    person: Option<&'a str>,
) where
    DB: Backend,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
{
    match (scope, person) {
        (Viewer::Moderator, _) => {
            q.push("1 = 1");
        }
        (Viewer::Person { .. }, Some(address)) => {
            // access::access: a participant (a client not in a deleted
            // ticket), else a staff address of the queue.
            q.push(
                "(EXISTS (SELECT 1 FROM participants p WHERE p.ticket = t.number AND p.address = ",
            );
            q.push_bind(address);
            q.push(
                " AND (p.role <> 'client' OR t.deleted_at IS NULL)) \
                 OR (NOT EXISTS (SELECT 1 FROM participants p WHERE p.ticket = t.number \
                 AND p.address = ",
            );
            q.push_bind(address);
            q.push(
                ") AND EXISTS (SELECT 1 FROM queue_addresses a WHERE a.queue_id = t.queue_id \
                 AND a.kind = 'staff' AND a.address = ",
            );
            q.push_bind(address);
            q.push(format!(
                "))) AND ({SHOWN_TICKET} OR EXISTS (SELECT 1 FROM messages m \
                 JOIN participants p ON p.id = m.author WHERE m.ticket = t.number AND p.address = "
            ));
            q.push_bind(address);
            q.push("))");
        }
        _ => {
            q.push(SHOWN_TICKET);
        }
    }
}

// Private steps of the search.
sql_impl! {
    impl SqlStore {
        /// Each hit's snippet: the newest of its messages the scope sees that
        /// holds one of the words, in the text the scope sees, cut around
        /// the first word found. The newest [`SNIPPET_FIRST`] of each hit
        /// first (the snippet is usually there), then the rest of the
        /// [`SNIPPET_MESSAGES`] of the hits still without one; each time
        /// the messages of every hit as one value ([`Backend::json_rows`]).
        async fn snippets(
            &self,
            conn: &mut DB::Connection,
            hits: &mut [Hit],
            query: &Query,
            scope: Viewer<'_>,
            person: Option<&str>,
            known: Option<Known>,
        ) -> Result<(), StoreError> {
            if hits.is_empty() {
                return Ok(());
            }
            let (mut first, mut mine) = match known {
                Some(known) => (Some(known.first), Some(known.mine)),
                None => (None, None),
            };
            let mut open: Vec<usize> = (0..hits.len()).collect();
            let passes = [(0, SNIPPET_FIRST), (SNIPPET_FIRST, SNIPPET_MESSAGES - SNIPPET_FIRST)];
            for (offset, limit) in passes {
                if open.is_empty() {
                    break;
                }
                let json: Option<String> = match first.take() {
                    Some(json) => json,
                    None => {
                        // The hits' messages, newest first, and a person's own
                        // participant rows on these tickets, in one script.
                        let mut script = Script::<DB>::new();
                        let (q, _) = script.statement("");
                        let numbers = open.iter().map(|i| hits[*i].ticket.number);
                        push_messages(q, numbers, offset, limit);
                        if let (Some(address), None) = (person, &mine) {
                            let (q, _) =
                                script.statement("SELECT id FROM participants WHERE address = ");
                            q.push_bind(address).push(" AND ticket IN ");
                            super::sql::push_list(q, hits.iter().map(|h| h.ticket.number));
                        }
                        let groups = script.run(conn).await?;
                        if person.is_some() && mine.is_none() {
                            let mut ids = Vec::new();
                            for row in &groups[1] {
                                ids.push(get::<i64, _>(row, "id")?);
                            }
                            mine = Some(ids);
                        }
                        match groups[0].first() {
                            Some(row) => get::<Option<String>, _>(row, "rows")?,
                            None => None,
                        }
                    }
                };
                let mine = mine.as_deref().unwrap_or(&[]);
                let mut by_ticket: HashMap<i64, Vec<Message>> = HashMap::new();
                for message in messages_of_json(json.as_deref())? {
                    by_ticket.entry(message.ticket).or_default().push(message);
                }
                let mut still = Vec::new();
                for i in &open {
                    let hit = &mut hits[*i];
                    let mut messages = by_ticket.remove(&hit.ticket.number).unwrap_or_default();
                    messages.sort_unstable_by_key(|m| std::cmp::Reverse(m.id));
                    if let Some((snippet, id)) = snippet_in(&messages, query, scope, mine) {
                        hit.snippet = Some(snippet);
                        hit.message = Some(id);
                    }
                    // Fewer messages than asked: the ticket has no more.
                    if hit.snippet.is_none() && messages.len() as i64 == limit {
                        still.push(*i);
                    }
                }
                open = still;
            }
            Ok(())
        }
    }
}
