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
//! here costs what the person has, not what the store holds. Same rules
//! as the index's query (see the module above): every word in the ticket's
//! shown document or in the person's own words there, the last as a
//! prefix; ranked by [`Matched`], then last activity, then number.

use std::collections::HashMap;
use std::collections::hash_map::Entry;

use crate::store::sql::sql_impl;

use super::{Hit, Matched};
use crate::search::Query;
use crate::store::StoreError;
use crate::store::sql::{Script, TICKET_COLUMNS, get, push_list, ticket_of};

/// Above this many tickets in scope, a person's search goes through the
/// index (a staff address of a big queue, or a very busy seller).
pub(super) const MOST_TICKETS: usize = 2_000;

/// A ticket in the person's scope and the words it holds, by table.
#[derive(Default)]
struct Words {
    titles: String,
    names: String,
    shown: String,
    /// The person's own words there (their participant rows').
    own: String,
}

impl Words {
    fn add(text: &mut String, words: &str) {
        text.push(' ');
        text.push_str(words);
    }
}

/// Where every word of `query` is found in `words`, or `None` when one
/// is in none of the texts the person may search.
fn matched(query: &Query, words: &Words) -> Option<Matched> {
    let every = |texts: &[&str]| {
        (0..query.terms().len()).all(|i| {
            texts
                .iter()
                .any(|text| text.split(' ').any(|word| query.matches(i, word)))
        })
    };
    if !every(&[&words.shown, &words.own]) {
        None
    } else if every(&[&words.titles]) {
        Some(Matched::Title)
    } else if every(&[&words.names]) {
        Some(Matched::Person)
    } else {
        Some(Matched::Message)
    }
}

sql_impl! {
    impl SqlStore {
        /// The hits of `query` among the tickets `address` (a person's,
        /// normalised) may see, best first, at most `limit`; `None` when
        /// they may see more than [`MOST_TICKETS`] (the index is then the
        /// better start).
        pub(super) async fn search_person(
            conn: &mut DB::Connection,
            query: &Query,
            address: &str,
            limit: usize,
        ) -> Result<Option<Vec<Hit>>, StoreError> {
            // Their tickets in scope, newest first, and their participant
            // rows there.
            let mut script = Script::<DB>::new();
            // A participant row per ticket at most (UNIQUE (ticket, address)):
            // the scope of `push_scope` (search.rs) for a participant is their row's
            // (a client not in a deleted ticket), asked of that row itself.
            let (q, _) = script.statement(
                "SELECT t.number, me.id AS me FROM participants me \
                 JOIN tickets t ON t.number = me.ticket WHERE me.address = ",
            );
            q.push_bind(address).push(
                " AND (me.role <> 'client' OR t.deleted_at IS NULL) AND (t.shown <> 0 OR EXISTS \
                 (SELECT 1 FROM messages m WHERE m.ticket = t.number AND m.author = me.id)) \
                 ORDER BY t.updated_at DESC, t.number DESC LIMIT ",
            );
            q.push_bind(MOST_TICKETS as i64 + 1);
            let rows = script.run(&mut *conn).await?.remove(0);
            let mut order: Vec<i64> = Vec::new();
            let mut words: HashMap<i64, Words> = HashMap::new();
            let mut mine: HashMap<i64, i64> = HashMap::new();
            for row in &rows {
                let number: i64 = get(row, "number")?;
                mine.insert(get(row, "me")?, number);
                if let Entry::Vacant(entry) = words.entry(number) {
                    entry.insert(Words::default());
                    order.push(number);
                }
            }
            if order.len() > MOST_TICKETS {
                return Ok(None);
            }
            if order.is_empty() {
                return Ok(Some(Vec::new()));
            }
            // Their words, by table.
            let mut script = Script::<DB>::new();
            for table in ["search_titles", "search_names", "search_shown"] {
                let (q, _) = script.statement(&DB::search_words(table));
                push_list(q, order.iter().copied());
            }
            let (q, _) = script.statement(&DB::search_words("search_own"));
            push_list(q, mine.keys().copied());
            let groups = script.run(&mut *conn).await?;
            for (i, rows) in groups.iter().enumerate() {
                let lines: Option<String> = match rows.first() {
                    Some(row) => get(row, "words")?,
                    None => None,
                };
                for line in lines.as_deref().unwrap_or("").lines() {
                    let (id, text) = line.split_once(' ').unwrap_or((line, ""));
                    let Ok(id) = id.parse::<i64>() else {
                        return Err(StoreError::Corrupt(format!("search words: {line:?}")));
                    };
                    let number = if i == 3 { mine.get(&id).copied() } else { Some(id) };
                    let Some(ticket) = number.and_then(|n| words.get_mut(&n)) else {
                        continue;
                    };
                    let into = match i {
                        0 => &mut ticket.titles,
                        1 => &mut ticket.names,
                        2 => &mut ticket.shown,
                        _ => &mut ticket.own,
                    };
                    Words::add(into, text);
                }
            }
            // Ranked: where found, then the order read (newest first).
            let mut found: Vec<(Matched, usize, i64)> = order
                .iter()
                .enumerate()
                .filter_map(|(rank, number)| {
                    let tier = matched(query, &words[number])?;
                    Some((tier, rank, *number))
                })
                .collect();
            found.sort_unstable();
            found.truncate(limit);
            if found.is_empty() {
                return Ok(Some(Vec::new()));
            }
            let mut script = Script::<DB>::new();
            let (q, _) = script.statement(&format!(
                "SELECT {TICKET_COLUMNS} FROM tickets t JOIN queues q ON q.id = t.queue_id \
                 WHERE t.number IN "
            ));
            push_list(q, found.iter().map(|(_, _, number)| *number));
            let mut tickets = HashMap::new();
            for row in &script.run(&mut *conn).await?.remove(0) {
                let ticket = ticket_of(row)?;
                tickets.insert(ticket.number, ticket);
            }
            Ok(Some(
                found
                    .into_iter()
                    .filter_map(|(matched, _, number)| {
                        Some(Hit {
                            ticket: tickets.remove(&number)?,
                            matched,
                            snippet: None,
                            message: None,
                        })
                    })
                    .collect(),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(titles: &str, names: &str, shown: &str, own: &str) -> Words {
        Words {
            titles: titles.into(),
            names: names.into(),
            shown: shown.into(),
            own: own.into(),
        }
    }

    #[test]
    fn a_ticket_ranks_where_every_word_is_found() {
        let ticket = words(
            " walnut sideboard",
            " walnut sideboard anna",
            " walnut sideboard anna shipping",
            " cash",
        );
        let rank = |text: &str| matched(&Query::parse(text).unwrap(), &ticket);
        assert_eq!(rank("walnut"), Some(Matched::Title));
        assert_eq!(rank("sideboard wal"), Some(Matched::Title));
        assert_eq!(rank("anna walnut"), Some(Matched::Person));
        assert_eq!(rank("shipping anna"), Some(Matched::Message));
        // Their own words count towards a match, in the last tier.
        assert_eq!(rank("cash walnut"), Some(Matched::Message));
        // Only the last word is a prefix.
        assert_eq!(rank("wal sideboard"), None);
        assert_eq!(rank("oak"), None);
    }
}
