//! Moderation: the messages held for a moderator, those decided, and the
//! decision on a held message, recorded in one transaction: the message's
//! moderation state (and, approved, how it is shown), the ticket status the
//! decision sets, the notifications it would have sent (approve) or the
//! notice to its author (reject, unless the decision says none goes), the
//! audit entry and the `message.moderated` event.

use crate::store::sql::sql_impl;
use async_trait::async_trait;
use serde::Serialize;

use super::sql::{MESSAGE_COLUMNS, get, message_of};
use super::{
    Audience, EventKind, Message, NEW_MESSAGE, NewEvent, NewNotification, StoreError, now_ms,
};
use crate::tickets::{self, Role, Status};
use crate::token::Minter;

/// The outbox kind of the notice to an author whose message was rejected.
pub const REJECTED_NOTICE: &str = "moderation_rejected";

/// Where a message stands with the moderators.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Moderation {
    /// Never held.
    None,
    /// Waits for a moderator.
    Held,
    /// Approved; the other party sees the text with the spans of `redact`
    /// rules masked (`masked_text`).
    Approved,
    /// Approved; the other party sees every span masked (`redacted_text`).
    ApprovedRedacted,
    /// Approved; the other party sees the text as written.
    ApprovedAsWritten,
    Rejected,
}

impl Moderation {
    pub fn as_str(self) -> &'static str {
        match self {
            Moderation::None => "none",
            Moderation::Held => "held",
            Moderation::Approved => "approved",
            Moderation::ApprovedRedacted => "approved_redacted",
            Moderation::ApprovedAsWritten => "approved_as_written",
            Moderation::Rejected => "rejected",
        }
    }

    pub fn parse(s: &str) -> Option<Moderation> {
        Some(match s {
            "none" => Moderation::None,
            "held" => Moderation::Held,
            "approved" => Moderation::Approved,
            "approved_redacted" => Moderation::ApprovedRedacted,
            "approved_as_written" => Moderation::ApprovedAsWritten,
            "rejected" => Moderation::Rejected,
            _ => return None,
        })
    }

    /// From the columns `moderation` and `approved_as` (migration 0008:
    /// the `moderation` column keeps its values, `approved_as` says how
    /// an approved message is shown).
    pub fn from_columns(moderation: &str, approved_as: Option<&str>) -> Option<Moderation> {
        match (moderation, approved_as) {
            ("approved", Some(how)) => Approval::parse(how).map(Approval::moderation),
            ("approved", None) => Some(Moderation::ApprovedAsWritten),
            (state, _) => Moderation::parse(state),
        }
    }

    /// The `moderation` column's value.
    pub fn column(self) -> &'static str {
        match self {
            Moderation::Approved | Moderation::ApprovedAsWritten => "approved",
            other => other.as_str(),
        }
    }
}

/// How a moderator lets a held message through: what the other party sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Approval {
    /// The spans of `redact` rules stay masked; those of `hold` rules (what
    /// the moderator judged) show. The default.
    Masked,
    /// Every span masked (`--redact`).
    Redacted,
    /// As written (`--as-written`).
    AsWritten,
}

impl Approval {
    pub fn as_str(self) -> &'static str {
        match self {
            Approval::Masked => "masked",
            Approval::Redacted => "redacted",
            Approval::AsWritten => "as_written",
        }
    }

    pub fn parse(s: &str) -> Option<Approval> {
        [Approval::Masked, Approval::Redacted, Approval::AsWritten]
            .into_iter()
            .find(|a| a.as_str() == s)
    }

    pub fn moderation(self) -> Moderation {
        match self {
            Approval::Masked => Moderation::Approved,
            Approval::Redacted => Moderation::ApprovedRedacted,
            Approval::AsWritten => Moderation::ApprovedAsWritten,
        }
    }
}

/// A moderator's decision on a held message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ruling {
    /// Let it through, shown as `shows` says.
    Approve { shows: Approval },
    /// Keep it from the other party. Its author is told (`reason`) unless
    /// `no_notice` says why not ([`crate::moderation::no_notice`]).
    Reject {
        reason: String,
        no_notice: Option<&'static str>,
    },
}

/// A decision to record: on which message, by whom, and the ticket status
/// the decision sets (`None`: unchanged; [`crate::moderation::on_approve`],
/// [`crate::moderation::on_reject`]).
#[derive(Debug, Clone)]
pub struct Moderate {
    pub message: i64,
    pub ruling: Ruling,
    pub actor: String,
    pub status: Option<Status>,
}

#[async_trait]
pub trait ModerationStore: Send + Sync {
    /// Messages waiting for a moderator, oldest first.
    async fn held(&self) -> Result<Vec<Message>, StoreError>;

    /// Messages a moderator approved or rejected, oldest first.
    async fn moderated(&self) -> Result<Vec<Message>, StoreError>;

    /// Records a moderator's decision on a held message (a `Conflict` when
    /// it is not held): approved, its notifications are written as if it
    /// had just arrived and `status` is applied; rejected, a notice to its
    /// author is written. Returns the outbox ids written.
    async fn moderate(&self, m: &Moderate, minter: &Minter) -> Result<Vec<i64>, StoreError>;
}

sql_impl! {
    #[async_trait]
    impl ModerationStore for SqlStore {
        async fn held(&self) -> Result<Vec<Message>, StoreError> {
            let sql = format!(
                "SELECT {MESSAGE_COLUMNS} FROM messages WHERE moderation = 'held' ORDER BY id"
            );
            let rows = sqlx::query(&sql).fetch_all(&self.read).await?;
            rows.iter().map(message_of).collect()
        }

        async fn moderated(&self) -> Result<Vec<Message>, StoreError> {
            let sql = format!(
                "SELECT {MESSAGE_COLUMNS} FROM messages WHERE moderation IN \
                 ('approved', 'approved_redacted', 'rejected') ORDER BY id"
            );
            let rows = sqlx::query(&sql).fetch_all(&self.read).await?;
            rows.iter().map(message_of).collect()
        }

        async fn moderate(&self, m: &Moderate, minter: &Minter) -> Result<Vec<i64>, StoreError> {
            let now = now_ms();
            let mut tx = self.write.begin_with(DB::BEGIN_WRITE).await?;
            let row = sqlx::query("SELECT ticket, author, moderation FROM messages WHERE id = $1")
                .bind(m.message)
                .fetch_optional(&mut *tx)
                .await?
                .ok_or_else(|| {
                    StoreError::NotFound(format!("message {} does not exist", m.message))
                })?;
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
            // Approved, it is shown: its visible text joins the search index.
            Self::index_shown(&mut tx, m.message).await?;
            // Read in this transaction: an assignment committed before is seen.
            let assignee: Option<String> = get(
                &sqlx::query("SELECT assignee FROM tickets WHERE number = $1")
                    .bind(ticket)
                    .fetch_one(&mut *tx)
                    .await?,
                "assignee",
            )?;
            let people = sqlx::query(
                "SELECT id, address, role FROM participants WHERE ticket = $1 ORDER BY id",
            )
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
                outbox.push(Self::write_notification(&mut tx, minter, now, row).await?);
            }
            let at = (Some(ticket), Some(m.message));
            Self::audit(&mut tx, now, &m.actor, action, at, &detail.to_string()).await?;
            let author_address = people_of.iter().find(|p| Some(p.0) == author);
            let event = decision_event(m, ticket, author_address.map(|p| p.1.clone()));
            Self::append_events(&mut tx, now, &[event]).await?;
            if let Some(status) = m.status {
                Self::move_status(&mut tx, now, &m.actor, (ticket, Some(m.message)), status)
                    .await?;
            }
            tx.commit().await?;
            self.events.committed();
            Ok(outbox)
        }
    }
}

/// The `message.moderated` event of a decision. Approved, everyone on the
/// ticket learns of the message now (for the other party it is new);
/// rejected, only its author (`author`, their address) and moderators:
/// the other party never knew of it.
fn decision_event(m: &Moderate, ticket: i64, author: Option<String>) -> NewEvent {
    let (decision, shows, audience) = match &m.ruling {
        Ruling::Approve { shows } => ("approved", Some(shows.as_str()), Audience::Ticket),
        Ruling::Reject { .. } => ("rejected", None, Audience::Held { author }),
    };
    NewEvent {
        kind: EventKind::MessageModerated,
        ticket,
        message: Some(m.message),
        actor: m.actor.clone(),
        data: serde_json::json!({ "decision": decision, "shows": shows }),
        audience,
    }
}
