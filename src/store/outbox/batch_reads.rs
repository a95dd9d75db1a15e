//! What one batch of the outbox worker reads, in four queries on one
//! connection: the rows' tickets, their participants, the messages the
//! rows announce, and the Message-IDs their References may name.
//!
//! Read row by row, that was four queries per notification, each a
//! hand-off to a pooled connection and back; that chain, not the CPU,
//! bounded the worker (bench/README.md, bench/outbox).

use crate::store::sql::sql_impl;
use std::collections::HashMap;

use super::OutboxRow;
use crate::store::sql::{
    MESSAGE_COLUMNS, PARTICIPANT_COLUMNS, Script, TICKET_COLUMNS, get, message_of, participant_of,
    push_list, ticket_of,
};
use crate::store::{Message, Participant, StoreError, Ticket};

/// What a batch of rows needs to be composed.
#[derive(Debug, Clone, Default)]
pub struct BatchReads {
    /// By number.
    pub tickets: HashMap<i64, Ticket>,
    /// By ticket, in id order.
    pub participants: HashMap<i64, Vec<Participant>>,
    /// By id.
    pub messages: HashMap<i64, Message>,
    /// By outbox row id: what [`super::OutboxStore::thread_ids`] gives for it.
    pub thread_ids: HashMap<i64, Vec<String>>,
}

sql_impl! {
    impl SqlStore {
        /// See [`super::OutboxStore::batch_reads`].
        pub(super) async fn read_batch(
            &self,
            rows: &[OutboxRow],
            references: i64,
        ) -> Result<BatchReads, StoreError> {
            let mut reads = BatchReads::default();
            if rows.is_empty() {
                return Ok(reads);
            }
            let mut tickets: Vec<i64> = rows.iter().map(|r| r.ticket).collect();
            tickets.sort_unstable();
            tickets.dedup();
            let messages: Vec<i64> = rows.iter().filter_map(|r| r.message).collect();
            // One script: on SQLite one call to the connection's thread for
            // all four statements.
            let mut script = Script::<DB>::new();
            let (q, at_tickets) = script.statement(&format!(
                "SELECT {TICKET_COLUMNS} FROM tickets t JOIN queues q ON q.id = t.queue_id \
                 WHERE t.number IN "
            ));
            push_list(q, tickets.iter().copied());
            let (q, at_participants) = script.statement(&format!(
                "SELECT {PARTICIPANT_COLUMNS} FROM participants WHERE ticket IN "
            ));
            push_list(q, tickets.iter().copied());
            q.push(" ORDER BY id");
            // The candidates of every row's References: the IDs of inbound
            // mail, by author, and every ID issued on these tickets; each row
            // picks its recipient's below, as `thread_message_ids` does.
            let (q, at_ids) = script.statement(
                "SELECT ticket, author AS participant, message_id, created_at FROM messages \
                 WHERE direction = 'inbound' AND message_id IS NOT NULL AND ticket IN ",
            );
            push_list(q, tickets.iter().copied());
            q.push(
                " UNION ALL SELECT ticket, participant, message_id, created_at \
                 FROM issued_message_ids WHERE ticket IN ",
            );
            push_list(q, tickets.iter().copied());
            let at_messages = (!messages.is_empty()).then(|| {
                let (q, at) = script.statement(&format!(
                    "SELECT {MESSAGE_COLUMNS} FROM messages WHERE id IN "
                ));
                push_list(q, messages.iter().copied());
                at
            });
            let mut conn = self.read.acquire().await?;
            let groups = script.run(&mut conn).await?;

            for row in &groups[at_tickets] {
                let ticket = ticket_of(row)?;
                reads.tickets.insert(ticket.number, ticket);
            }
            for row in &groups[at_participants] {
                let p = participant_of(row)?;
                reads.participants.entry(p.ticket).or_default().push(p);
            }
            if let Some(at) = at_messages {
                for row in &groups[at] {
                    let m = message_of(row)?;
                    reads.messages.insert(m.id, m);
                }
            }
            let mut candidates: HashMap<i64, Vec<(Option<i64>, String, i64)>> = HashMap::new();
            for row in &groups[at_ids] {
                candidates.entry(get(row, "ticket")?).or_default().push((
                    get(row, "participant")?,
                    get(row, "message_id")?,
                    get(row, "created_at")?,
                ));
            }
            let limit = usize::try_from(references).unwrap_or(0);
            for row in rows {
                let mut ids: Vec<&(Option<i64>, String, i64)> = candidates
                    .get(&row.ticket)
                    .into_iter()
                    .flatten()
                    .filter(|(p, id, at)| {
                        *p == Some(row.participant)
                            && *id != row.message_id
                            && *at <= row.created_at
                    })
                    .collect();
                // Newest first, ties by ID: the order `thread_message_ids` uses.
                ids.sort_by(|a, b| (b.2, &b.1).cmp(&(a.2, &a.1)));
                ids.truncate(limit);
                ids.reverse();
                reads.thread_ids.insert(
                    row.id,
                    ids.into_iter().map(|(_, id, _)| id.clone()).collect(),
                );
            }
            Ok(reads)
        }
    }
}
