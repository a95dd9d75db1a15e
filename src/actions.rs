//! What people do to a ticket besides writing in it — set its status,
//! take it, assign it, forward it, delete and restore it, archive and
//! unarchive it — and the pool of tickets nobody has taken: one rule book
//! for every door. `parley tickets …` and the HTTP API call [`act`] and
//! [`pool`].
//!
//! [`act`] reads top to bottom as the rules apply: may this actor do this
//! ([`access::may`]), does the ticket's state allow it (a deleted ticket
//! takes nothing but a restore), is the request usable (addresses, the
//! note), then the store's one transaction, which writes the change with
//! its audit entry ([`TicketStore::set_status`], [`TicketStore::assign`],
//! [`TicketStore::forward`], [`FilingStore::file`]). The verdict is data
//! ([`Done`], [`ActError`]); each door maps it to its own answers.
//!
//! [`TicketStore::set_status`]: crate::store::TicketStore::set_status
//! [`TicketStore::assign`]: crate::store::TicketStore::assign
//! [`TicketStore::forward`]: crate::store::TicketStore::forward
//! [`FilingStore::file`]: crate::store::FilingStore::file

use std::collections::HashMap;

use crate::access::{self, Access, Deed, Side, TicketFacts, Viewer};
use crate::address;
use crate::intake::Intake;
use crate::store::prelude::*;
use crate::store::{
    Assign, Assignment, File, Filed, Filing, Forward, Forwarding, StoreError, Ticket,
};
use crate::tickets::Status;

/// The longest note on a forward: a few paragraphs, not a document.
pub const MAX_NOTE_CHARS: usize = 4000;

/// What someone does to a ticket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Act {
    Status(Status),
    /// The person acting becomes the assignee; refused when someone else
    /// has it.
    Take,
    /// `to` becomes the assignee: a seller-side participant of the ticket
    /// or a staff address of its queue (who then joins it). Without
    /// `replace`, refused when someone else has it.
    Assign {
        to: String,
        replace: bool,
    },
    /// `to` gets the transcript and joins the ticket as staff.
    Forward {
        to: String,
        note: Option<String>,
    },
    File(Filing),
}

impl Act {
    /// The deed whose permission it needs.
    pub fn deed(&self) -> Deed {
        match self {
            Act::Status(status) => Deed::Status(*status),
            Act::Take => Deed::Take,
            Act::Assign { .. } => Deed::Assign,
            Act::Forward { .. } => Deed::Forward,
            Act::File(Filing::Delete) => Deed::Delete,
            Act::File(Filing::Restore) => Deed::Restore,
            Act::File(Filing::Archive) => Deed::Archive,
            Act::File(Filing::Unarchive) => Deed::Unarchive,
        }
    }
}

/// Who acts.
#[derive(Debug, Clone, Copy)]
pub struct Actor<'a> {
    /// What they are to the ticket.
    pub access: Access,
    /// The person acting, when a person acts (whom [`Act::Take`] assigns).
    pub address: Option<&'a str>,
    /// Who they are in the audit log.
    pub name: &'a str,
}

impl<'a> Actor<'a> {
    /// The operator at the command line: every right, named `name`.
    pub fn operator(name: &'a str) -> Actor<'a> {
        Actor {
            access: Access::Moderator,
            address: None,
            name,
        }
    }
}

/// What an act did. `changed` is false when the ticket was so already
/// (nothing written).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Done {
    Status {
        from: Status,
        to: Status,
    },
    Assigned {
        from: Option<String>,
        to: String,
        /// `to` joined the ticket as staff now.
        added: bool,
        changed: bool,
    },
    Forwarded {
        to: String,
        note: Option<String>,
        participant: i64,
        added: bool,
        /// The outbox row of the transcript.
        notification: i64,
        /// The newest message the transcript covers.
        message: Option<i64>,
    },
    Filed {
        filing: Filing,
        changed: bool,
    },
}

/// Why nothing was done.
#[derive(Debug, thiserror::Error)]
pub enum ActError {
    #[error("{0}")]
    NotFound(String),
    /// The actor may not do this.
    #[error("{0}")]
    Forbidden(String),
    /// The ticket's state does not allow it (deleted, closed, changed
    /// meanwhile).
    #[error("{0}")]
    Conflict(String),
    /// Someone else has the ticket.
    #[error("ticket #{ticket} is assigned to {by}")]
    Taken { ticket: i64, by: String },
    /// A value that is not usable (an address, the note).
    #[error("{0}")]
    Invalid(String),
    /// Well-formed, but the rules refuse it (an assignee who is not on the
    /// seller side, a transcript to the client).
    #[error("{0}")]
    Refused(String),
    #[error(transparent)]
    Store(StoreError),
}

impl From<StoreError> for ActError {
    fn from(e: StoreError) -> ActError {
        match e {
            StoreError::NotFound(what) => ActError::NotFound(what),
            StoreError::Conflict(what) => ActError::Conflict(what),
            e => ActError::Store(e),
        }
    }
}

/// Does `act` to `ticket` as `actor`: checks, then one transaction.
pub async fn act(
    intake: &Intake,
    ticket: &Ticket,
    actor: &Actor<'_>,
    act: &Act,
) -> Result<Done, ActError> {
    let number = ticket.number;
    allowed(ticket, actor.access, act)?;
    let store = intake.store();
    match act {
        Act::Status(to) => {
            let from = store.set_status(number, *to, actor.name).await?;
            Ok(Done::Status { from, to: *to })
        }
        Act::Take => {
            let Some(me) = actor.address else {
                return Err(ActError::Forbidden(
                    "taking a ticket needs a person on the seller side".into(),
                ));
            };
            assign(intake, number, me, actor.name, false).await
        }
        Act::Assign { to, replace } => assign(intake, number, to, actor.name, *replace).await,
        Act::Forward { to, note } => forward(intake, number, to, note.as_deref(), actor.name).await,
        Act::File(filing) => {
            let request = File {
                ticket: number,
                filing: *filing,
                actor: actor.name.to_string(),
            };
            let changed = store.file(&request).await? == Filed::Changed;
            Ok(Done::Filed {
                filing: *filing,
                changed,
            })
        }
    }
}

/// Whether `access` may do `act` to `ticket` as it stands.
fn allowed(ticket: &Ticket, access: Access, act: &Act) -> Result<(), ActError> {
    let number = ticket.number;
    let deed = act.deed();
    if !access::may(access, deed) {
        // Only these two are ever refused (access::may).
        let who = match access {
            Access::Party {
                side: Side::Client, ..
            } => "the client may only mark it resolved",
            _ => "only a person on the seller side takes a ticket (assign it instead)",
        };
        return Err(ActError::Forbidden(format!("ticket #{number}: {who}")));
    }
    if ticket.deleted && !matches!(deed, Deed::Delete | Deed::Restore) {
        return Err(ActError::Conflict(format!(
            "ticket #{number} is deleted; restore it first"
        )));
    }
    // A client resolves an open question; a closed ticket is the seller
    // side's to reopen.
    if matches!(
        access,
        Access::Party {
            side: Side::Client,
            ..
        }
    ) && ticket.status == Status::Closed
    {
        return Err(ActError::Conflict(format!("ticket #{number} is closed")));
    }
    Ok(())
}

async fn assign(
    intake: &Intake,
    number: i64,
    to: &str,
    actor: &str,
    replace: bool,
) -> Result<Done, ActError> {
    if !address::is_address(to) {
        return Err(ActError::Invalid(format!("{to:?} is not an email address")));
    }
    let request = Assign {
        ticket: number,
        address: address::normalize(to),
        actor: actor.to_string(),
        replace,
    };
    let to = request.address.clone();
    match intake.store().assign(&request).await? {
        Assignment::Assigned { from, added, .. } => Ok(Done::Assigned {
            from,
            to,
            added,
            changed: true,
        }),
        Assignment::Unchanged => Ok(Done::Assigned {
            from: Some(to.clone()),
            to,
            added: false,
            changed: false,
        }),
        Assignment::Taken { by } => Err(ActError::Taken { ticket: number, by }),
        Assignment::NotEligible => Err(ActError::Refused(format!(
            "{to} is neither a seller-side participant of ticket #{number} \
             nor a staff address of its queue"
        ))),
    }
}

async fn forward(
    intake: &Intake,
    number: i64,
    to: &str,
    note: Option<&str>,
    actor: &str,
) -> Result<Done, ActError> {
    if !address::is_address(to) {
        return Err(ActError::Invalid(format!("{to:?} is not an email address")));
    }
    let note = note.map(str::trim).filter(|n| !n.is_empty());
    if note.is_some_and(|n| n.chars().count() > MAX_NOTE_CHARS) {
        return Err(ActError::Invalid(format!(
            "the note is longer than {MAX_NOTE_CHARS} characters"
        )));
    }
    let to = address::normalize(to);
    // The transcript would come back to parley: a reply address threads to
    // whoever it names, an intake address opens a ticket from our own mail.
    let ours = to
        .rsplit_once('@')
        .is_some_and(|(_, domain)| domain.eq_ignore_ascii_case(&intake.minter().reply_domain));
    if ours || intake.store().queue_by_intake(&to).await?.is_some() {
        return Err(ActError::Invalid(format!(
            "{to} is one of parley's own addresses (reply or intake); forward to a person"
        )));
    }
    let request = Forward {
        ticket: number,
        to,
        note: note.map(str::to_string),
        actor: actor.to_string(),
    };
    match intake.store().forward(&request, intake.minter()).await? {
        Forwarding::IsClient => Err(ActError::Refused(format!(
            "{} is the client of ticket #{number}; a transcript goes to the seller side only",
            request.to
        ))),
        Forwarding::Forwarded {
            participant,
            added,
            notification,
            message,
        } => Ok(Done::Forwarded {
            to: request.to,
            note: request.note,
            participant,
            added,
            notification,
            message,
        }),
    }
}

/// The pool as `viewer` may see it: tickets nobody has taken
/// ([`TicketStore::pool`]), of `queue` or all, oldest first. A person sees
/// those they are on the seller side of (a staff address of the queue, or
/// a seller-side participant); a client has no pool. An unknown queue is
/// `NotFound`.
///
/// [`TicketStore::pool`]: crate::store::TicketStore::pool
pub async fn pool(
    store: &dyn Store,
    queue: Option<&str>,
    viewer: Viewer<'_>,
) -> Result<Vec<Ticket>, ActError> {
    if let Some(name) = queue
        && store.queue(name).await?.is_none()
    {
        return Err(ActError::NotFound(format!("queue {name:?} does not exist")));
    }
    let tickets = store.pool(queue).await?;
    if !matches!(viewer, Viewer::Person { .. }) {
        return Ok(tickets);
    }
    let mut staff: HashMap<String, Vec<String>> = HashMap::new();
    let mut seen = Vec::new();
    for ticket in tickets {
        if !staff.contains_key(&ticket.queue) {
            let addresses = store
                .queue(&ticket.queue)
                .await?
                .map_or_else(Vec::new, |q| q.staff);
            staff.insert(ticket.queue.clone(), addresses);
        }
        let participants = store.participants(ticket.number).await?;
        let facts = TicketFacts {
            ticket: &ticket,
            participants: &participants,
            queue_staff: &staff[&ticket.queue],
        };
        if let Some(Access::Party {
            side: Side::Seller, ..
        }) = access::access(viewer, facts)
        {
            seen.push(ticket);
        }
    }
    Ok(seen)
}
