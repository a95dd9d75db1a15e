//! The moderators' side of the store, for every door: the held queue, one
//! message under review, and the decision on it. `parley moderation …`
//! and the HTTP API call these, so a decision is the same whichever door
//! it comes through.
//!
//! [`decide`] reads top to bottom as the rules apply: the message must be
//! held; the choice must fit it (a redacted approval needs something to
//! redact, a rejection a reason); the ticket's next status comes from
//! [`super::on_approve`] or [`super::on_reject`], who hears of a rejection
//! from [`super::no_notice`]; the store records it all in one transaction
//! ([`ModerationStore::moderate`]).

use crate::intake::Intake;
use crate::store::prelude::*;
use crate::store::{
    Approval, AuditEntry, Message, Moderate, Moderation, Participant, Ruling, StoreError, Ticket,
};
use crate::tickets::{OnClosedReply, Role, Status};

/// A message with what a moderator reads beside it.
#[derive(Debug, Clone)]
pub struct Review {
    pub message: Message,
    /// Its author, when the sender is a participant.
    pub author: Option<Participant>,
    /// Its ticket.
    pub ticket: Ticket,
    /// The audit entries about it (held, decided, the status it moved).
    pub audit: Vec<AuditEntry>,
}

/// What a moderator chooses for a held message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Choice {
    /// Let it through, shown as `Approval` says.
    Approve(Approval),
    /// Keep it from the other party; its author is told `reason` unless
    /// `silent` (or [`super::no_notice`] finds a reason not to).
    Reject { reason: String, silent: bool },
}

/// What a decision did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decided {
    pub ruling: Ruling,
    /// The ticket's status after it; `None`: unchanged.
    pub status: Option<Status>,
    /// The outbox rows written (the other side's notifications, or the
    /// author's notice).
    pub notifications: Vec<i64>,
}

/// Why nothing was decided.
#[derive(Debug, thiserror::Error)]
pub enum DecideError {
    #[error("{0}")]
    NotFound(String),
    /// Decided already (by someone else, or meanwhile).
    #[error("message {id} is not held (it is {now})")]
    NotHeld { id: i64, now: &'static str },
    /// The choice does not fit the message.
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Store(StoreError),
}

impl From<StoreError> for DecideError {
    fn from(e: StoreError) -> DecideError {
        match e {
            StoreError::NotFound(what) => DecideError::NotFound(what),
            e => DecideError::Store(e),
        }
    }
}

/// The held messages, oldest first, each with its author.
pub async fn held(store: &dyn Store) -> Result<Vec<(Message, Option<Participant>)>, StoreError> {
    let mut out = Vec::new();
    for message in store.held().await? {
        let people = store.participants(message.ticket).await?;
        let author = author_of(&message, &people).cloned();
        out.push((message, author));
    }
    Ok(out)
}

/// Message `id` (held or decided) under review.
pub async fn review(store: &dyn Store, id: i64) -> Result<Review, DecideError> {
    let message = store
        .message(id)
        .await?
        .ok_or_else(|| DecideError::NotFound(format!("message {id} does not exist")))?;
    let ticket = store.ticket(message.ticket).await?.ok_or_else(|| {
        DecideError::NotFound(format!("ticket #{} does not exist", message.ticket))
    })?;
    let people = store.participants(message.ticket).await?;
    let audit = store
        .audit(message.ticket)
        .await?
        .into_iter()
        .filter(|a| a.message == Some(id))
        .collect();
    Ok(Review {
        author: author_of(&message, &people).cloned(),
        message,
        ticket,
        audit,
    })
}

/// Decides held message `id` as `choice`, by `actor` (for the audit log):
/// checks, the ticket's next status, one transaction.
pub async fn decide(
    intake: &Intake,
    on_closed: OnClosedReply,
    id: i64,
    choice: Choice,
    actor: &str,
) -> Result<Decided, DecideError> {
    let store = intake.store();
    let Review {
        message,
        author,
        ticket,
        ..
    } = review(store, id).await?;
    if message.moderation != Moderation::Held {
        return Err(DecideError::NotHeld {
            id,
            now: message.moderation.as_str(),
        });
    }
    let messages = store.messages(message.ticket).await?;
    let (ruling, status) = match choice {
        Choice::Approve(Approval::Redacted) if message.redacted_text.is_none() => {
            return Err(DecideError::Invalid(format!(
                "message {id} has nothing to redact: the policy found no span in it; \
                 approve it otherwise or reject it"
            )));
        }
        Choice::Approve(shows) => {
            let role = author.as_ref().map_or(Role::Client, |p| p.role);
            let status = super::on_approve(ticket.status, role, on_closed, &message, &messages);
            (Ruling::Approve { shows }, status)
        }
        Choice::Reject { reason, .. } if reason.trim().is_empty() => {
            return Err(DecideError::Invalid("the reason must say why".into()));
        }
        Choice::Reject { reason, silent } => {
            let status = super::on_reject(ticket.status, &message, &messages);
            let no_notice = super::no_notice(&message, silent);
            let reason = reason.trim().to_string();
            (Ruling::Reject { reason, no_notice }, status)
        }
    };
    let request = Moderate {
        message: id,
        ruling: ruling.clone(),
        actor: actor.to_string(),
        status,
    };
    let notifications = match store.moderate(&request, intake.minter()).await {
        Ok(rows) => rows,
        // Another moderator decided it between our read and our write.
        Err(StoreError::Conflict(_)) => {
            let now = match store.message(id).await? {
                Some(m) => m.moderation.as_str(),
                None => "gone",
            };
            return Err(DecideError::NotHeld { id, now });
        }
        Err(e) => return Err(e.into()),
    };
    Ok(Decided {
        ruling,
        status,
        notifications,
    })
}

/// The participant who wrote `message`, when the sender is one.
pub fn author_of<'a>(message: &Message, people: &'a [Participant]) -> Option<&'a Participant> {
    people.iter().find(|p| Some(p.id) == message.author)
}
