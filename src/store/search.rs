//! Search: the index of every ticket's words and the queries over it,
//! scoped in SQL to what the searcher may see.
//!
//! What is indexed (migrations `0013_search.sql`), each row the words of
//! one thing as [`crate::search::normalize`] makes them (one tokeniser for
//! both backends: see `src/search.rs` for why it is not FTS5's
//! `unicode61` nor PostgreSQL's `simple` configuration): a ticket's
//! subject, listing and auction titles (`search_titles`); a participant's
//! name and address (`search_people`); a message's visible text
//! (`search_visible`, [`crate::moderation::visible_text`]: what the other
//! party sees, none while it is held) and the words of its original that
//! the visible text lacks (`search_hidden`). SQLite keeps them in
//! contentless FTS5 tables, PostgreSQL as `tsvector`s with GIN indexes.
//! The rows are written by the writes that make the things, in their
//! transactions ([`Docs`]: a batch of posts, a participant joining by
//! assignment or forward, a moderator's approval), and only ever added;
//! rows stored before the index existed are indexed once after migrating
//! ([`SqlStore::backfill_search`]).
//!
//! A query's words must all be found in the ticket (AND), each anywhere:
//! titles, a participant, or a message the scope may see; the last word
//! as a prefix. Who searches is an [`access::Viewer`](crate::access::Viewer),
//! pushed into the SQL as [`crate::access`] decides it:
//!
//! - a moderator searches every ticket and every message as written
//!   (held and rejected ones too, masked words included);
//! - the marketplace every ticket someone was shown a message of, and the
//!   visible text of shown messages;
//! - a person the tickets they may see (a participant, or a staff address
//!   of the queue; a client not in a deleted one) that were shown to
//!   someone or hold a message of theirs; the visible text of shown
//!   messages and the text of their own, held ones too.
//!
//! Hits are ranked the same on both backends: by where every word was
//! found ([`Matched`]: the titles, then titles and participants, then
//! anywhere), then by last activity (newest first), then by number
//! (highest first).

mod backfill;

use async_trait::async_trait;
use serde::Serialize;
use sqlx::{ColumnIndex, Decode, Encode, Executor, IntoArguments, QueryBuilder, Type};

use super::sql::{
    Backend, MESSAGE_COLUMNS, SHOWN_TICKET, Script, SqlStore, TICKET_COLUMNS, get, message_of,
    ticket_of,
};
use super::{Message, StoreError, Ticket};
use crate::access::{self, Access, Side, Viewer};
use crate::address;
use crate::moderation;
use crate::search::{Query, normalize};

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
    /// first (see the module), at most `limit`. A query without words
    /// finds nothing.
    async fn search(
        &self,
        query: &Query,
        scope: Viewer<'_>,
        limit: usize,
    ) -> Result<Vec<Hit>, StoreError>;
}

/// Index rows to add, each `(id, words)`: built from what a write stores
/// and written in its transaction.
#[derive(Debug, Default)]
pub(super) struct Docs {
    titles: Vec<(i64, String)>,
    people: Vec<(i64, String)>,
    visible: Vec<(i64, String)>,
    hidden: Vec<(i64, String)>,
}

impl Docs {
    /// A new ticket's subject and titles.
    pub(super) fn ticket(&mut self, number: i64, subject: &str, titles: [Option<&str>; 2]) {
        let text = [Some(subject), titles[0], titles[1]]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" ");
        push(&mut self.titles, number, normalize(&text));
    }

    /// A new participant's name and address.
    pub(super) fn person(&mut self, id: i64, name: Option<&str>, address: &str) {
        let text = format!("{} {address}", name.unwrap_or(""));
        push(&mut self.people, id, normalize(&text));
    }

    /// A new message: `visible` is what the other party sees of it
    /// (`None` while it is held).
    pub(super) fn message(&mut self, id: i64, original: &str, visible: Option<&str>) {
        if let Some(text) = visible {
            push(&mut self.visible, id, normalize(text));
        }
        push(
            &mut self.hidden,
            id,
            crate::search::hidden_words(original, visible),
        );
    }

    /// A message now shown (approved): its visible text.
    pub(super) fn shown(&mut self, id: i64, visible: &str) {
        push(&mut self.visible, id, normalize(visible));
    }

    fn is_empty(&self) -> bool {
        self.titles.is_empty()
            && self.people.is_empty()
            && self.visible.is_empty()
            && self.hidden.is_empty()
    }
}

fn push(rows: &mut Vec<(i64, String)>, id: i64, words: String) {
    if !words.is_empty() {
        rows.push((id, words));
    }
}

/// The message's visible text, as a new or decided message has it.
pub(super) fn visible(message: &Message) -> Option<&str> {
    moderation::visible_text(message)
}

#[async_trait]
impl<DB> SearchStore for SqlStore<DB>
where
    DB: Backend,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB> + Default,
    for<'q> i64: Encode<'q, DB> + Decode<'q, DB> + Type<DB>,
    for<'q> Option<i64>: Encode<'q, DB> + Decode<'q, DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    for<'q> Option<&'q str>: Encode<'q, DB>,
    for<'q> String: Encode<'q, DB> + Decode<'q, DB> + Type<DB>,
    for<'q> &'q [u8]: Encode<'q, DB> + Type<DB>,
    for<'q> Vec<u8>: Decode<'q, DB> + Type<DB>,
    for<'a> &'a str: ColumnIndex<DB::Row>,
{
    async fn search(
        &self,
        query: &Query,
        scope: Viewer<'_>,
        limit: usize,
    ) -> Result<Vec<Hit>, StoreError> {
        let mut words = Vec::with_capacity(query.terms().len());
        for (i, term) in query.terms().iter().enumerate() {
            match DB::search_word(term, query.is_prefix(i)) {
                Some(word) => words.push(word),
                // Not a word of src/search.rs: nothing has it.
                None => return Ok(Vec::new()),
            }
        }
        if words.is_empty() || limit == 0 {
            return Ok(Vec::new());
        }
        let person = match scope {
            Viewer::Person { address } => Some(address::normalize(address)),
            _ => None,
        };
        let mut script = Script::<DB>::new();
        let (q, _) = script.statement("");
        push_search(q, &words, scope, person.as_deref(), limit as i64);
        let mut conn = self.read.acquire().await?;
        let rows = script.run(&mut conn).await?.remove(0);
        let mut hits = Vec::with_capacity(rows.len());
        for row in &rows {
            hits.push(Hit {
                ticket: ticket_of(row)?,
                matched: Matched::of(get(row, "tier")?),
                snippet: None,
                message: get(row, "message")?,
            });
        }
        self.snippets(&mut hits, query, scope, person.as_deref())
            .await?;
        Ok(hits)
    }
}

/// The whole search query: per word `i`, the messages in scope holding it
/// (`m{i}`) and each ticket's best place holding it (`b{i}`: 1 titles,
/// 2 a participant, 3 a message); the tickets found for every word, in
/// scope, ranked; and the newest matching message of each.
fn push_search<'a, DB>(
    q: &mut QueryBuilder<'a, DB>,
    words: &'a [String],
    scope: Viewer<'_>,
    person: Option<&'a str>,
    limit: i64,
) where
    DB: Backend,
    for<'q> i64: Encode<'q, DB> + Type<DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
{
    q.push("WITH ");
    for (i, word) in words.iter().enumerate() {
        if i > 0 {
            q.push(", ");
        }
        q.push(format!("m{i} AS ("));
        push_messages(q, word, scope, person);
        q.push(format!("), b{i} AS (SELECT ticket, MIN(tier) AS tier FROM ("));
        q.push("SELECT x.id AS ticket, CAST(1 AS BIGINT) AS tier FROM (");
        push_match(q, "search_titles", word);
        q.push(") x UNION ALL SELECT p.ticket, CAST(2 AS BIGINT) FROM participants p WHERE p.id IN (");
        push_match(q, "search_people", word);
        q.push(format!(
            ") UNION ALL SELECT ticket, CAST(3 AS BIGINT) FROM m{i}) h GROUP BY ticket)"
        ));
    }
    let tiers: Vec<String> = (0..words.len()).map(|i| format!("b{i}.tier")).collect();
    let tier = match tiers.len() {
        1 => tiers[0].clone(),
        _ => format!("{}({})", DB::GREATEST, tiers.join(", ")),
    };
    q.push(format!(
        ", page AS (SELECT {TICKET_COLUMNS}, {tier} AS tier FROM b0 "
    ));
    for i in 1..words.len() {
        q.push(format!("JOIN b{i} ON b{i}.ticket = b0.ticket "));
    }
    q.push("JOIN tickets t ON t.number = b0.ticket JOIN queues q ON q.id = t.queue_id WHERE ");
    push_scope(q, scope, person);
    q.push(" ORDER BY tier, t.updated_at DESC, t.number DESC LIMIT ");
    q.push_bind(limit);
    let found: Vec<String> = (0..words.len())
        .map(|i| format!("SELECT id, ticket FROM m{i}"))
        .collect();
    q.push(format!(
        ") SELECT page.*, (SELECT MAX(a.id) FROM ({}) a WHERE a.ticket = page.number) AS message \
         FROM page ORDER BY tier, updated_at DESC, number DESC",
        found.join(" UNION ALL ")
    ));
}

/// `SELECT id FROM {table}` rows holding `word`.
fn push_match<'a, DB>(q: &mut QueryBuilder<'a, DB>, table: &str, word: &'a str)
where
    DB: Backend,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
{
    let (before, after) = DB::search_match(table);
    q.push(before).push_bind(word).push(after);
}

/// `SELECT m.id, m.ticket` of the messages holding `word` whose text the
/// scope searches: a moderator every message as written (its visible and
/// hidden words); the marketplace the visible text; a person the visible
/// text, and their own messages as written.
fn push_messages<'a, DB>(
    q: &mut QueryBuilder<'a, DB>,
    word: &'a str,
    scope: Viewer<'_>,
    person: Option<&'a str>,
) where
    DB: Backend,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
{
    q.push("SELECT m.id, m.ticket FROM messages m WHERE m.id IN (");
    push_match(q, "search_visible", word);
    q.push(")");
    match (scope, person) {
        (Viewer::Moderator, _) => {
            q.push(" UNION SELECT m.id, m.ticket FROM messages m WHERE m.id IN (");
            push_match(q, "search_hidden", word);
            q.push(")");
        }
        (Viewer::Person { .. }, Some(address)) => {
            q.push(" UNION SELECT m.id, m.ticket FROM messages m WHERE m.id IN (");
            push_match(q, "search_hidden", word);
            q.push(") AND m.author IN (SELECT id FROM participants WHERE address = ");
            q.push_bind(address);
            q.push(")");
        }
        _ => {}
    }
}

/// The condition on `t` (a ticket) that it is in scope: see the module.
/// For every list of tickets that narrows by who looks (search here; the
/// conversation list may share it).
pub(super) fn push_scope<'a, DB>(q: &mut QueryBuilder<'a, DB>, scope: Viewer<'_>, person: Option<&'a str>)
where
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

// Private steps of the search and the index's writes.
impl<DB> SqlStore<DB>
where
    DB: Backend,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB> + Default,
    for<'q> i64: Encode<'q, DB> + Decode<'q, DB> + Type<DB>,
    for<'q> Option<i64>: Encode<'q, DB> + Decode<'q, DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    for<'q> Option<&'q str>: Encode<'q, DB>,
    for<'q> String: Encode<'q, DB> + Decode<'q, DB> + Type<DB>,
    for<'q> &'q [u8]: Encode<'q, DB> + Type<DB>,
    for<'q> Vec<u8>: Decode<'q, DB> + Type<DB>,
    for<'a> &'a str: ColumnIndex<DB::Row>,
{
    /// Each hit's snippet: its message's text as `scope` sees it, cut
    /// around the first word found.
    async fn snippets(
        &self,
        hits: &mut [Hit],
        query: &Query,
        scope: Viewer<'_>,
        person: Option<&str>,
    ) -> Result<(), StoreError> {
        let ids: Vec<i64> = hits.iter().filter_map(|h| h.message).collect();
        if ids.is_empty() {
            return Ok(());
        }
        // The messages, and a person's own participant rows on these
        // tickets, in one script.
        let mut script = Script::<DB>::new();
        let (q, _) = script.statement(&format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages WHERE id IN "
        ));
        super::sql::push_list(q, ids.iter().copied());
        if let Some(address) = person {
            let (q, _) = script.statement("SELECT id FROM participants WHERE address = ");
            q.push_bind(address).push(" AND ticket IN ");
            super::sql::push_list(q, hits.iter().map(|h| h.ticket.number));
        }
        let mut conn = self.read.acquire().await?;
        let mut groups = script.run(&mut conn).await?.into_iter();
        let messages: Vec<Message> = groups
            .next()
            .unwrap_or_default()
            .iter()
            .map(message_of)
            .collect::<Result<_, _>>()?;
        let mut mine = Vec::new();
        for row in groups.next().unwrap_or_default() {
            mine.push(get::<i64, _>(&row, "id")?);
        }
        for hit in hits.iter_mut() {
            let Some(message) = messages.iter().find(|m| Some(m.id) == hit.message) else {
                continue;
            };
            let access = match scope {
                Viewer::Moderator => Access::Moderator,
                Viewer::Marketplace => Access::Marketplace,
                Viewer::Person { .. } => Access::Party {
                    // The side does not change what a message shows.
                    side: Side::Client,
                    participant: message.author.filter(|a| mine.contains(a)),
                },
            };
            let text = access::message(access, message).map(|view| match view.moderation {
                // Moderators search the text as written.
                Some(original) => original.original,
                None => view.text,
            });
            hit.snippet = text.map(|t| query.snippet(t));
        }
        Ok(())
    }

    /// Writes `docs` in the caller's transaction.
    pub(super) async fn index(conn: &mut DB::Connection, docs: &Docs) -> Result<(), StoreError> {
        let mut script = Script::<DB>::new();
        Self::push_index(&mut script, docs);
        script.run(conn).await?;
        Ok(())
    }

    /// Writes `docs` as statements of a script (the posts' write path).
    pub(super) fn push_index<'a>(script: &mut Script<'a, DB>, docs: &'a Docs) {
        if docs.is_empty() {
            return;
        }
        for (table, rows) in [
            ("search_titles", &docs.titles),
            ("search_people", &docs.people),
            ("search_visible", &docs.visible),
            ("search_hidden", &docs.hidden),
        ] {
            // Bounded by SQLite's 32,766 binds a statement.
            for chunk in rows.chunks(10_000) {
                let (q, _) =
                    script.statement(&format!("INSERT INTO {table} ({}, doc) ", DB::SEARCH_ID));
                let (before, after) = DB::SEARCH_DOC;
                q.push_values(chunk, |mut b, (id, words)| {
                    b.push_bind(*id)
                        .push(before)
                        .push_bind_unseparated(words.as_str())
                        .push_unseparated(after);
                });
            }
        }
    }

    /// Indexes participant `id` (a staff address joining a ticket).
    pub(super) async fn index_participant(
        conn: &mut DB::Connection,
        id: i64,
    ) -> Result<(), StoreError> {
        let row = sqlx::query("SELECT address, display_name FROM participants WHERE id = $1")
            .bind(id)
            .fetch_one(&mut *conn)
            .await?;
        let mut docs = Docs::default();
        let name: Option<String> = get(&row, "display_name")?;
        docs.person(id, name.as_deref(), &get::<String, _>(&row, "address")?);
        Self::index(conn, &docs).await
    }

    /// Indexes the visible text of message `id`, just shown by a
    /// moderator's approval (nothing when it is not shown).
    pub(super) async fn index_shown(conn: &mut DB::Connection, id: i64) -> Result<(), StoreError> {
        let sql = format!("SELECT {MESSAGE_COLUMNS} FROM messages WHERE id = $1");
        let row = sqlx::query(&sql).bind(id).fetch_one(&mut *conn).await?;
        let message = message_of(&row)?;
        let mut docs = Docs::default();
        if let Some(text) = visible(&message) {
            docs.shown(id, text);
        }
        Self::index(conn, &docs).await
    }
}
