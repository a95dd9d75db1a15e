//! Recording a moderator's decision on a held message, in one transaction:
//! the message's moderation state (and, approved, how it is shown), the
//! ticket status the decision sets, the notifications it would have sent
//! (approve) or the notice to its author (reject, unless the decision says
//! none goes), and the audit entry.

use sqlx::{ColumnIndex, Decode, Encode, Executor, IntoArguments, Type};

use super::outbox::{NewNotification, write_notification};
use super::sql::{Backend, SqlStore, audit, get, move_status};
use super::{Moderate, Moderation, NEW_MESSAGE, Ruling, StoreError, now_ms};
use crate::tickets::{self, Role};
use crate::token::Minter;

/// The outbox kind of the notice to an author whose message was rejected.
pub const REJECTED_NOTICE: &str = "moderation_rejected";

/// See [`super::Store::moderate`].
pub(super) async fn moderate<DB>(
    store: &SqlStore<DB>,
    m: &Moderate,
    minter: &Minter,
) -> Result<Vec<i64>, StoreError>
where
    DB: Backend,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    for<'q> i64: Encode<'q, DB> + Decode<'q, DB> + Type<DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    for<'q> String: Decode<'q, DB> + Type<DB> + Encode<'q, DB>,
    for<'q> Option<i64>: Encode<'q, DB>,
    for<'q> Option<&'q str>: Encode<'q, DB>,
    for<'a> &'a str: ColumnIndex<DB::Row>,
{
    let now = now_ms();
    let mut tx = store.write.begin_with(DB::BEGIN_WRITE).await?;
    let row = sqlx::query("SELECT ticket, author, moderation FROM messages WHERE id = $1")
        .bind(m.message)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("message {} does not exist", m.message)))?;
    let ticket: i64 = get(&row, "ticket")?;
    let author: Option<i64> = get(&row, "author")?;
    let state: String = get(&row, "moderation")?;
    if Moderation::parse(&state) != Some(Moderation::Held) {
        return Err(StoreError::Conflict(format!(
            "message {} is not held (it is {state})",
            m.message
        )));
    }
    let (next, approved_as, action, detail) = match &m.ruling {
        Ruling::Approve { shows } => (
            shows.moderation(),
            Some(shows.as_str()),
            "moderation.approved",
            serde_json::json!({ "text": shows.as_str() }),
        ),
        Ruling::Reject { reason, no_notice } => (
            Moderation::Rejected,
            None,
            "moderation.rejected",
            serde_json::json!({
                "reason": reason,
                "notice": no_notice.is_none(),
                "no_notice": no_notice,
            }),
        ),
    };
    // Only from `held`: of two moderators deciding at once (PostgreSQL
    // reads do not lock), the second finds it decided.
    let updated = sqlx::query(
        "UPDATE messages SET moderation = $1, approved_as = $2 \
         WHERE id = $3 AND moderation = 'held' RETURNING id",
    )
    .bind(next.column())
    .bind(approved_as)
    .bind(m.message)
    .fetch_optional(&mut *tx)
    .await?;
    if updated.is_none() {
        return Err(StoreError::Conflict(format!(
            "message {} was decided meanwhile",
            m.message
        )));
    }
    // Read in this transaction: an assignment committed before is seen.
    let assignee: Option<String> = get(
        &sqlx::query("SELECT assignee FROM tickets WHERE number = $1")
            .bind(ticket)
            .fetch_one(&mut *tx)
            .await?,
        "assignee",
    )?;
    let people =
        sqlx::query("SELECT id, address, role FROM participants WHERE ticket = $1 ORDER BY id")
            .bind(ticket)
            .fetch_all(&mut *tx)
            .await?;
    let mut people_of = Vec::with_capacity(people.len());
    for row in &people {
        let role: String = get(row, "role")?;
        let role = Role::parse(&role)
            .ok_or_else(|| StoreError::Corrupt(format!("unknown role {role:?}")))?;
        people_of.push((
            get::<i64, _>(row, "id")?,
            get::<String, _>(row, "address")?,
            role,
        ));
    }
    // Approved: the other side is told, as if it had just arrived.
    // Rejected: only the author, with the notice (unless none goes).
    let (kind, recipients): (&str, Vec<&(i64, String, Role)>) = match &m.ruling {
        Ruling::Reject {
            no_notice: Some(_), ..
        } => (REJECTED_NOTICE, Vec::new()),
        Ruling::Reject { .. } => (
            REJECTED_NOTICE,
            people_of.iter().filter(|p| Some(p.0) == author).collect(),
        ),
        Ruling::Approve { .. } => (
            NEW_MESSAGE,
            tickets::notified(&people_of, author, assignee.as_deref()),
        ),
    };
    let mut outbox = Vec::new();
    for (participant, address, _) in recipients {
        let row = NewNotification {
            ticket,
            message: Some(m.message),
            participant: *participant,
            recipient: address,
            kind,
        };
        outbox.push(write_notification::<DB>(&mut tx, minter, now, row).await?);
    }
    let at = (Some(ticket), Some(m.message));
    audit::<DB>(&mut tx, now, &m.actor, action, at, &detail.to_string()).await?;
    if let Some(status) = m.status {
        move_status::<DB>(&mut tx, now, &m.actor, (ticket, Some(m.message)), status).await?;
    }
    tx.commit().await?;
    Ok(outbox)
}
