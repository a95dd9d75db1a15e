//! The index's writes: the words a write stores, added in its
//! transaction ([`Docs`]), and the steps the other concerns' writes call
//! (a participant joining, a message shown).

use crate::store::sql::sql_impl;
use std::collections::{BTreeMap, BTreeSet};

use crate::moderation;
use crate::search::{hidden_words, tokens};
use crate::store::sql::{MESSAGE_COLUMNS, Script, get, message_of};
use crate::store::{Message, StoreError};

/// Words to add to the index, by table and row (a ticket's number; a
/// participant for `search_own`): built from what a write stores and
/// written in its transaction.
#[derive(Debug, Default)]
pub(in crate::store) struct Docs {
    titles: Words,
    names: Words,
    shown: Words,
    all: Words,
    own: Words,
}

/// Row → its new words, each once.
type Words = BTreeMap<i64, BTreeSet<String>>;

fn add(rows: &mut Words, id: i64, text: &str) {
    add_words(rows, id, &tokens(text));
}

/// Adds words already made (one text's words, to several tables: a text
/// is split once, not once a table).
fn add_words(rows: &mut Words, id: i64, words: &[String]) {
    if !words.is_empty() {
        rows.entry(id).or_default().extend(words.iter().cloned());
    }
}

impl Docs {
    /// A new ticket's subject and titles.
    pub(in crate::store) fn ticket(
        &mut self,
        number: i64,
        subject: &str,
        titles: [Option<&str>; 2],
    ) {
        for text in [Some(subject), titles[0], titles[1]].into_iter().flatten() {
            let words = tokens(text);
            for table in [
                &mut self.titles,
                &mut self.names,
                &mut self.shown,
                &mut self.all,
            ] {
                add_words(table, number, &words);
            }
        }
    }

    /// A new participant of ticket `ticket`: their name and address.
    pub(in crate::store) fn person(&mut self, ticket: i64, name: Option<&str>, address: &str) {
        let words = tokens(&format!("{} {address}", name.unwrap_or("")));
        for table in [&mut self.names, &mut self.shown, &mut self.all] {
            add_words(table, ticket, &words);
        }
    }

    /// A new message on `ticket` by participant `author`: `visible` is
    /// what the parties are shown of it (`None` while it is held).
    pub(in crate::store) fn message(
        &mut self,
        ticket: i64,
        author: Option<i64>,
        original: &str,
        visible: Option<&str>,
    ) {
        let words = tokens(original);
        add_words(&mut self.all, ticket, &words);
        // Shown as written (most messages): the same words, none of them
        // hidden, so the author's own words get nothing.
        if visible == Some(original) {
            add_words(&mut self.shown, ticket, &words);
            return;
        }
        if let Some(text) = visible {
            add(&mut self.shown, ticket, text);
        }
        if let Some(author) = author {
            add(&mut self.own, author, &hidden_words(original, visible));
        }
    }

    /// A message of `ticket` now shown (approved): its visible text.
    pub(in crate::store) fn shown(&mut self, ticket: i64, visible: &str) {
        add(&mut self.shown, ticket, visible);
    }

    fn tables(&self) -> [(&'static str, &Words); 5] {
        [
            ("search_titles", &self.titles),
            ("search_names", &self.names),
            ("search_shown", &self.shown),
            ("search_all", &self.all),
            ("search_own", &self.own),
        ]
    }
}

/// The message's visible text, as a new or decided message has it.
pub(super) fn visible(message: &Message) -> Option<&str> {
    moderation::visible_text(message)
}

sql_impl! {
    impl SqlStore {
        /// Writes `docs` in the caller's transaction.
        pub(in crate::store) async fn index(
            conn: &mut DB::Connection,
            docs: &Docs,
        ) -> Result<(), StoreError> {
            let mut script = Script::<DB>::new();
            let rows = Self::push_index(&mut script, docs);
            if rows > 0 {
                script.run(conn).await?;
            }
            Ok(())
        }

        /// Writes `docs` as statements of a script (the posts' write path);
        /// how many rows.
        pub(in crate::store) fn push_index<'a>(
            script: &mut Script<'a, DB>,
            docs: &'a Docs,
        ) -> usize {
            let mut count = 0;
            for (table, rows) in docs.tables() {
                let rows: Vec<(i64, String)> = rows
                    .iter()
                    .map(|(id, words)| (*id, words.iter().cloned().collect::<Vec<_>>().join(" ")))
                    .collect();
                count += rows.len();
                // Bounded by SQLite's 32,766 binds a statement.
                for chunk in rows.chunks(10_000) {
                    let (q, _) =
                        script.statement(&format!("INSERT INTO {table} ({}, doc) ", DB::SEARCH_ID));
                    let (before, after) = DB::SEARCH_DOC;
                    q.push_values(chunk.to_vec(), |mut b, (id, words)| {
                        b.push_bind(id)
                            .push(before)
                            .push_bind_unseparated(words)
                            .push_unseparated(after);
                    });
                    q.push(DB::search_upsert(table));
                    // Moderators' searches only ever go through the index.
                    if DB::SEARCH_WORDS_KEPT && table != "search_all" {
                        let (q, _) = script.statement("INSERT INTO search_words (tbl, id, words) ");
                        q.push_values(chunk.to_vec(), |mut b, (id, words)| {
                            b.push_bind(table).push_bind(id).push_bind(words);
                        });
                    }
                }
            }
            count
        }

        /// Indexes participant `id` (a staff address joining a ticket).
        pub(in crate::store) async fn index_participant(
            conn: &mut DB::Connection,
            id: i64,
        ) -> Result<(), StoreError> {
            let row =
                sqlx::query("SELECT ticket, address, display_name FROM participants WHERE id = $1")
                    .bind(id)
                    .fetch_one(&mut *conn)
                    .await?;
            let mut docs = Docs::default();
            let name: Option<String> = get(&row, "display_name")?;
            docs.person(
                get(&row, "ticket")?,
                name.as_deref(),
                &get::<String, _>(&row, "address")?,
            );
            Self::index(conn, &docs).await
        }

        /// Indexes the visible text of message `id`, just shown by a
        /// moderator's approval (nothing when it is not shown).
        pub(in crate::store) async fn index_shown(
            conn: &mut DB::Connection,
            id: i64,
        ) -> Result<(), StoreError> {
            let sql = format!("SELECT {MESSAGE_COLUMNS} FROM messages WHERE id = $1");
            let row = sqlx::query(&sql).bind(id).fetch_one(&mut *conn).await?;
            let message = message_of(&row)?;
            let mut docs = Docs::default();
            if let Some(text) = visible(&message) {
                docs.shown(message.ticket, text);
            }
            Self::index(conn, &docs).await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(rows: &Words, id: i64) -> Vec<&str> {
        rows.get(&id)
            .map(|w| w.iter().map(String::as_str).collect())
            .unwrap_or_default()
    }

    #[test]
    fn a_message_shown_as_written_hides_nothing() {
        let mut docs = Docs::default();
        docs.message(
            7,
            Some(3),
            "Is the Oak sideboard free?",
            Some("Is the Oak sideboard free?"),
        );
        let all = ["free", "is", "oak", "sideboard", "the"];
        assert_eq!(words(&docs.all, 7), all);
        assert_eq!(words(&docs.shown, 7), all);
        assert!(docs.own.is_empty(), "{:?}", docs.own);
    }

    #[test]
    fn a_masked_message_keeps_its_hidden_words_for_its_author() {
        let mut docs = Docs::default();
        docs.message(
            7,
            Some(3),
            "call me on 0612345678 today",
            Some("call me on [hidden] today"),
        );
        assert_eq!(
            words(&docs.all, 7),
            ["0612345678", "call", "me", "on", "today"]
        );
        assert_eq!(
            words(&docs.shown, 7),
            ["call", "hidden", "me", "on", "today"]
        );
        assert_eq!(words(&docs.own, 3), ["0612345678"]);
    }

    #[test]
    fn a_held_message_is_shown_to_nobody_but_its_author() {
        let mut docs = Docs::default();
        docs.message(7, Some(3), "pay me by wire", None);
        assert_eq!(words(&docs.all, 7), ["by", "me", "pay", "wire"]);
        assert!(docs.shown.is_empty(), "{:?}", docs.shown);
        assert_eq!(words(&docs.own, 3), ["by", "me", "pay", "wire"]);
    }

    #[test]
    fn a_ticket_and_a_person_go_to_their_tables() {
        let mut docs = Docs::default();
        docs.ticket(7, "Oak sideboard", [Some("Lot 12"), None]);
        docs.person(7, Some("Maria"), "maria@buyer.example");
        let title = ["12", "lot", "oak", "sideboard"];
        assert_eq!(words(&docs.titles, 7), title);
        let named = ["12", "buyer", "example", "lot", "maria", "oak", "sideboard"];
        for table in [&docs.names, &docs.shown, &docs.all] {
            assert_eq!(words(table, 7), named);
        }
        assert!(docs.own.is_empty());
    }
}
