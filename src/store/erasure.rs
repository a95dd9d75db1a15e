//! Erasure: `parley erase --participant ADDR`, for a data-protection
//! request. In one write transaction:
//!
//! - every message the address wrote is masked (its text, HTML, masked
//!   and redacted forms become [`ERASED_TEXT`]; its signature, elided
//!   quote, policy hits and Message-ID are emptied), its attachments and
//!   its raw mail are deleted, and so is any other raw mail of its tickets
//!   that names the address (that mail's extracted text stays, the address
//!   replaced), and any other raw mail that names it (quarantine
//!   included: bounces of mail to it; every raw mail is read);
//! - a ticket it opened gets the subject [`ERASED_TEXT`];
//! - the address becomes a placeholder, `erased-N@invalid` (N: the id of
//!   its first participant row, which says nothing of the person),
//!   wherever the store keeps it: its participant rows (their name and
//!   user id emptied), assignees, read markers, console logins (disabled,
//!   their sessions ended), notification rows (those not yet sent to it
//!   cancelled: failed, `cancelled: recipient erased`), and inside every
//!   text that names it ([`SCRUBBED`]: messages, the history, the event
//!   log, webhook deliveries, relay answers, …). Stored API answers that
//!   name it are dropped;
//! - each ticket it was on gets an audit entry `participant.erased`.
//!
//! Then the search index is built again from what is left (the words of
//! the masked texts and of the address are gone): every ticket, as after
//! migration 0017, so searches find less until it is done.

use crate::store::sql::sql_impl;
use async_trait::async_trait;
use serde::Serialize;

use super::StoreError;
use super::now_ms;
use super::retention::id_list;
use super::sql::get;

/// What an erased text reads.
pub const ERASED_TEXT: &str = "[erased]";

/// What an erasure did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Erased {
    /// What the address reads now.
    pub placeholder: String,
    /// The tickets the address was a participant of.
    pub tickets: Vec<i64>,
    /// Messages it wrote, masked.
    pub messages: i64,
    /// Raw mails deleted.
    pub raw_mails: i64,
    /// Notifications to it not yet sent, cancelled.
    pub notifications_cancelled: i64,
    /// Other values that named the address, rewritten.
    pub values_rewritten: i64,
}

#[async_trait]
pub trait ErasureStore: Send + Sync {
    /// Erases `address` (see the module). [`StoreError::NotFound`] when no
    /// ticket has it as a participant; [`StoreError::Conflict`] when it is
    /// a queue's intake or staff address (the config would bring it back).
    async fn erase_participant(&self, address: &str, actor: &str) -> Result<Erased, StoreError>;
}

/// The texts that may name an address, by table: its key column and its
/// text columns. Each value naming the address gets the placeholder in its
/// place. (Raw mail is deleted, not rewritten; the search index is built
/// again.)
const SCRUBBED: &[(&str, &str, &[&str])] = &[
    (
        "tickets",
        "number",
        &[
            "subject",
            "assignee",
            "origin_key",
            "item_title",
            "item_url",
            "auction_title",
        ],
    ),
    (
        "participants",
        "id",
        &["address", "display_name", "failing_reason"],
    ),
    (
        "messages",
        "id",
        &[
            "reply_text",
            "html",
            "redacted_text",
            "masked_text",
            "signature",
            "elided",
            "policy_hits",
            "message_id",
            "dedupe_key",
        ],
    ),
    ("outbox", "id", &["recipient", "last_error", "last_reply"]),
    ("quarantine", "id", &["detail"]),
    ("raw_messages", "id", &["envelope_from", "envelope_to"]),
    ("audit_log", "id", &["actor", "detail"]),
    ("events", "id", &["actor", "data", "person"]),
    ("webhook_deliveries", "id", &["payload", "last_error"]),
    ("console_users", "id", &["login", "display_name"]),
    (
        "queue_texts",
        "queue_id",
        &["greeting", "offline", "changed_by"],
    ),
];

/// Whether the address `pat` is at `i` of `hay`, ASCII case ignored, as a
/// whole address: not the end of a longer one (`anna.maria@…` is not
/// `maria@…`), nor the start of one in a longer domain (`…@buyer.example`
/// is not `…@buyer.example.org`).
fn address_at(hay: &[u8], i: usize, pat: &[u8]) -> bool {
    let end = i + pat.len();
    if end > hay.len() || !hay[i..end].eq_ignore_ascii_case(pat) {
        return false;
    }
    let before = i.checked_sub(1).map(|j| hay[j]);
    let local = |b: u8| b.is_ascii_alphanumeric() || b"._%+-=!#$&'*/?^`{|}~".contains(&b);
    if before.is_some_and(local) {
        return false;
    }
    let domain = |b: u8| b.is_ascii_alphanumeric() || b == b'-' || b == b'_';
    match (hay.get(end), hay.get(end + 1)) {
        (Some(&b), _) if domain(b) => false,
        (Some(b'.'), Some(&b)) if domain(b) => false,
        _ => true,
    }
}

/// `text` with every occurrence of the address `needle` (ASCII case
/// ignored, [`address_at`]) replaced by `with`; `None` when there is none.
pub(super) fn replace_address(text: &str, needle: &str, with: &str) -> Option<String> {
    let (hay, pat) = (text.as_bytes(), needle.as_bytes());
    if pat.is_empty() || hay.len() < pat.len() {
        return None;
    }
    let mut out = String::with_capacity(text.len());
    let (mut i, mut from, mut found) = (0, 0, false);
    while i + pat.len() <= hay.len() {
        if address_at(hay, i, pat)
            && text.is_char_boundary(i)
            && text.is_char_boundary(i + pat.len())
        {
            out.push_str(&text[from..i]);
            out.push_str(with);
            i += pat.len();
            from = i;
            found = true;
        } else {
            i += 1;
        }
    }
    found.then(|| {
        out.push_str(&text[from..]);
        out
    })
}

/// Whether `bytes` hold the address `needle` ([`address_at`]).
fn names(bytes: &[u8], needle: &str) -> bool {
    let pat = needle.as_bytes();
    !pat.is_empty() && (0..bytes.len()).any(|i| address_at(bytes, i, pat))
}

sql_impl! {
    #[async_trait]
    impl ErasureStore for SqlStore {
        async fn erase_participant(
            &self,
            address: &str,
            actor: &str,
        ) -> Result<Erased, StoreError> {
            let address = crate::address::normalize(address);
            let now = now_ms();
            let mut tx = self.write.begin_with(DB::BEGIN_WRITE).await?;
            let queue = sqlx::query(
                "SELECT 1 AS one FROM queue_addresses WHERE lower(address) = $1",
            )
            .bind(address.as_str())
            .fetch_optional(&mut *tx)
            .await?;
            if queue.is_some() {
                return Err(StoreError::Conflict(format!(
                    "{address} is an intake or staff address of a queue: take it out of \
                     [[queues]] first"
                )));
            }
            let rows = sqlx::query(
                "SELECT id, ticket FROM participants WHERE lower(address) = $1 ORDER BY id",
            )
            .bind(address.as_str())
            .fetch_all(&mut *tx)
            .await?;
            let mut people = Vec::new();
            let mut tickets = Vec::new();
            for row in &rows {
                people.push(get::<i64, _>(row, "id")?);
                tickets.push(get::<i64, _>(row, "ticket")?);
            }
            tickets.sort_unstable();
            tickets.dedup();
            let Some(first) = people.first() else {
                return Err(StoreError::NotFound(format!(
                    "no ticket has {address} as a participant"
                )));
            };
            let placeholder = format!("erased-{first}@invalid");
            let (people_list, ticket_list) = (id_list(&people), id_list(&tickets));

            // Their messages: masked, attachments and raw mail gone.
            let rows = sqlx::query(&format!(
                "SELECT id, ticket, raw_id FROM messages WHERE ticket IN {ticket_list} \
                 AND author IN {people_list}"
            ))
            .fetch_all(&mut *tx)
            .await?;
            let mut messages = Vec::new();
            let mut per_ticket = std::collections::BTreeMap::<i64, i64>::new();
            let mut raws = Vec::new();
            for row in &rows {
                messages.push(get::<i64, _>(row, "id")?);
                *per_ticket.entry(get(row, "ticket")?).or_default() += 1;
                raws.extend(get::<Option<i64>, _>(row, "raw_id")?);
            }
            if !messages.is_empty() {
                let list = id_list(&messages);
                sqlx::query(&format!(
                    "UPDATE messages SET reply_text = $1, html = NULL, \
                     redacted_text = CASE WHEN redacted_text IS NULL THEN NULL ELSE $1 END, \
                     masked_text = CASE WHEN masked_text IS NULL THEN NULL ELSE $1 END, \
                     signature = '', elided = '', policy_hits = '[]', message_id = NULL \
                     WHERE id IN {list}"
                ))
                .bind(ERASED_TEXT)
                .execute(&mut *tx)
                .await?;
                let shas = sqlx::query(&format!(
                    "SELECT DISTINCT sha256 FROM message_attachments \
                     WHERE message IN {list} AND sha256 IS NOT NULL"
                ))
                .fetch_all(&mut *tx)
                .await?;
                sqlx::query(&format!("DELETE FROM message_attachments WHERE message IN {list}"))
                    .execute(&mut *tx)
                    .await?;
                for row in &shas {
                    let sha: String = get(row, "sha256")?;
                    sqlx::query(
                        "DELETE FROM attachments WHERE sha256 = $1 AND NOT EXISTS \
                         (SELECT 1 FROM message_attachments m WHERE m.sha256 = $1)",
                    )
                    .bind(sha.as_str())
                    .execute(&mut *tx)
                    .await?;
                }
            }
            // The subject of a ticket they opened.
            sqlx::query(&format!(
                "UPDATE tickets SET subject = $1 WHERE number IN {ticket_list} AND \
                 (SELECT m.author FROM messages m WHERE m.ticket = tickets.number \
                  ORDER BY m.id LIMIT 1) IN {people_list}"
            ))
            .bind(ERASED_TEXT)
            .execute(&mut *tx)
            .await?;

            // Raw mail naming them anywhere (the other messages' of their
            // tickets that quote them, the quarantine's: bounces of mail to
            // them, mail they sent that was never posted): every raw mail is
            // read.
            let pattern = format!("%{address}%");
            let (before, after) = DB::BYTES_AS_TEXT;
            let others = sqlx::query(&format!(
                "SELECT id, bytes, envelope_from, envelope_to FROM raw_messages \
                 WHERE lower({before}bytes{after}) LIKE $1 OR lower(envelope_from) LIKE $1 \
                 OR lower(envelope_to) LIKE $1"
            ))
            .bind(pattern.as_str())
            .fetch_all(&mut *tx)
            .await?;
            for row in &others {
                let bytes: Vec<u8> = get(row, "bytes")?;
                let from: Option<String> = get(row, "envelope_from")?;
                let to: String = get(row, "envelope_to")?;
                let envelope = format!("{} {to}", from.unwrap_or_default());
                if names(&bytes, &address) || names(envelope.as_bytes(), &address) {
                    raws.push(get(row, "id")?);
                }
            }
            raws.sort_unstable();
            raws.dedup();
            if !raws.is_empty() {
                let list = id_list(&raws);
                for sql in [
                    format!("DELETE FROM quarantine WHERE raw_id IN {list}"),
                    format!("UPDATE messages SET raw_id = NULL WHERE raw_id IN {list}"),
                    format!("DELETE FROM raw_messages WHERE id IN {list}"),
                ] {
                    sqlx::query(&sql).execute(&mut *tx).await?;
                }
            }

            // Notifications to them not sent yet: cancelled.
            let cancelled = sqlx::query(&format!(
                "UPDATE outbox SET state = 'failed', last_error = 'cancelled: recipient erased', \
                 lease_until = NULL WHERE participant IN {people_list} AND state = 'pending' \
                 RETURNING id"
            ))
            .fetch_all(&mut *tx)
            .await?
            .len() as i64;

            // The address itself, where it is a whole value.
            sqlx::query(&format!(
                "UPDATE participants SET address = $1, display_name = NULL, user_id = NULL, \
                 failing_reason = NULL WHERE id IN {people_list}"
            ))
            .bind(placeholder.as_str())
            .execute(&mut *tx)
            .await?;
            sqlx::query(&format!(
                "UPDATE outbox SET recipient = $1 WHERE participant IN {people_list}"
            ))
            .bind(placeholder.as_str())
            .execute(&mut *tx)
            .await?;
            sqlx::query("UPDATE read_markers SET address = $1 WHERE lower(address) = $2")
                .bind(placeholder.as_str())
                .bind(address.as_str())
                .execute(&mut *tx)
                .await?;
            sqlx::query(
                "DELETE FROM console_sessions WHERE user_id IN \
                 (SELECT id FROM console_users WHERE lower(login) = $1)",
            )
            .bind(address.as_str())
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "UPDATE console_users SET login = $1, display_name = NULL, \
                 disabled_ms = COALESCE(disabled_ms, $2) WHERE lower(login) = $3",
            )
            .bind(placeholder.as_str())
            .bind(now)
            .bind(address.as_str())
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "DELETE FROM api_idempotency WHERE lower(owner) LIKE $1 OR lower(body) LIKE $1",
            )
            .bind(pattern.as_str())
            .execute(&mut *tx)
            .await?;

            // And inside every text that names it.
            let mut rewritten = 0;
            for (table, key, columns) in SCRUBBED {
                rewritten +=
                    Self::scrub(&mut tx, (table, key, columns), &address, &placeholder).await?;
            }

            for ticket in &tickets {
                let detail = serde_json::json!({
                    "participant": placeholder,
                    "messages": per_ticket.get(ticket).copied().unwrap_or(0),
                });
                Self::audit(
                    &mut tx,
                    now,
                    actor,
                    "participant.erased",
                    (Some(*ticket), None),
                    &detail.to_string(),
                )
                .await?;
            }
            Self::empty_search_index(&mut tx).await?;
            tx.commit().await?;
            self.backfill_search().await?;
            Ok(Erased {
                placeholder,
                tickets,
                messages: messages.len() as i64,
                raw_mails: raws.len() as i64,
                notifications_cancelled: cancelled,
                values_rewritten: rewritten,
            })
        }
    }
}

sql_impl! {
    impl SqlStore {
        /// Replaces `address` by `placeholder` in the `columns` of `table`
        /// wherever a value names it; how many values.
        async fn scrub(
            conn: &mut DB::Connection,
            (table, key, columns): (&str, &str, &[&str]),
            address: &str,
            placeholder: &str,
        ) -> Result<i64, StoreError> {
            let pattern = format!("%{address}%");
            let naming: Vec<String> = columns
                .iter()
                .map(|c| format!("lower({c}) LIKE $1"))
                .collect();
            let rows = sqlx::query(&format!(
                "SELECT {key} AS row_key, {} FROM {table} WHERE {}",
                columns.join(", "),
                naming.join(" OR ")
            ))
            .bind(pattern.as_str())
            .fetch_all(&mut *conn)
            .await?;
            let mut count = 0;
            for row in &rows {
                let id: i64 = get(row, "row_key")?;
                for column in columns.iter() {
                    let Some(text) = get::<Option<String>, _>(row, column)? else {
                        continue;
                    };
                    let Some(new) = replace_address(&text, address, placeholder) else {
                        continue;
                    };
                    sqlx::query(&format!("UPDATE {table} SET {column} = $1 WHERE {key} = $2"))
                        .bind(new.as_str())
                        .bind(id)
                        .execute(&mut *conn)
                        .await?;
                    count += 1;
                }
            }
            Ok(count)
        }

        /// Empties the search index and asks for it to be built again
        /// (`backfill_search`, after the commit).
        async fn empty_search_index(conn: &mut DB::Connection) -> Result<(), StoreError> {
            for table in ["search_titles", "search_names", "search_shown", "search_all", "search_own"] {
                let sql = if DB::SEARCH_WORDS_KEPT {
                    // SQLite's contentless FTS5 tables empty by command.
                    format!("INSERT INTO {table} ({table}) VALUES ('delete-all')")
                } else {
                    format!("DELETE FROM {table}")
                };
                sqlx::query(&sql).execute(&mut *conn).await?;
            }
            if DB::SEARCH_WORDS_KEPT {
                sqlx::query("DELETE FROM search_words").execute(&mut *conn).await?;
            }
            sqlx::query("UPDATE search_backfill SET done = 0")
                .execute(&mut *conn)
                .await?;
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::replace_address;

    #[test]
    fn an_address_is_replaced_whatever_its_case() {
        assert_eq!(
            replace_address(
                "Write to Maria@Buyer.example or maria@buyer.example.",
                "maria@buyer.example",
                "x@invalid"
            ),
            Some("Write to x@invalid or x@invalid.".into())
        );
        assert_eq!(
            replace_address("nobody here", "maria@buyer.example", "x"),
            None
        );
        assert_eq!(
            replace_address("é maria@buyer.exampleé", "maria@buyer.example", "x"),
            Some("é xé".into())
        );
        // Longer addresses that end or start with it are others'.
        let others = "anna.maria@buyer.example, maria@buyer.example.org, maria@buyer.examples";
        assert_eq!(replace_address(others, "maria@buyer.example", "x"), None);
        assert_eq!(
            replace_address(
                "<maria@buyer.example>. (maria@buyer.example)",
                "maria@buyer.example",
                "x"
            ),
            Some("<x>. (x)".into())
        );
    }
}
