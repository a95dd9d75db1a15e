//! Text typed in parley — the HTTP API, `parley tickets reply` and
//! `tickets create` — taken by the same rule book as mail.
//!
//! [`Intake::write`] reads top to bottom like `plan_with` does for mail:
//! find the ticket and the author, run the content policy on the text and
//! the subject, decide (posted, held for a moderator, or refused), and
//! commit the message, its status change, its notification rows and its
//! audit entry in one transaction ([`Store::post`]). Only the spam model
//! stays out ([`Policy::evaluate_text`]): it judges mail, and the
//! marketplace vouches for who writes here.
//!
//! [`Store::post`]: crate::store::Store::post
//! [`Policy::evaluate_text`]: super::policy::Policy::evaluate_text

use serde_json::Value;

use super::policy::Action;
use super::{Intake, parse, replies};
use crate::address;
use crate::store::{Direction, NewParticipant, NewTicket, Post, Posted, StoreError, Target};
use crate::tickets::{self, Role, Status, Transition};

/// Someone writing, by address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    pub address: String,
    pub display_name: Option<String>,
    /// The marketplace's own id of the person, kept on a participant it
    /// joins as (`participants.user_id`).
    pub user_id: Option<String>,
}

/// What a new conversation is about: the listing and the auction it was
/// started from (the marketplace's own references and titles).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct About {
    pub item_ref: Option<String>,
    pub item_title: Option<String>,
    /// The listing's page on the marketplace.
    pub item_url: Option<String>,
    pub auction_ref: Option<String>,
    pub auction_title: Option<String>,
}

/// A new conversation in a queue with a client.
#[derive(Debug, Clone)]
pub struct Opening {
    pub queue: String,
    pub client: Person,
    /// `None`: the client writes (from a listing page). `Some`: the seller
    /// side writes to the client ("email customer"), from this address,
    /// which must be a staff address of the queue.
    pub seller: Option<Person>,
    pub subject: String,
    pub about: About,
    /// The auction's (or listing's) manager: a staff address of the queue
    /// who gets the new ticket assigned and alone is notified of it.
    /// `None`: the queue's staff all are, and it waits in the pool.
    pub manager: Option<String>,
}

/// Where the text goes.
// One per request, built once and read in place.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum Written {
    /// A message on a ticket by one of its participants.
    Reply {
        ticket: i64,
        author: Person,
    },
    Open(Opening),
    /// The marketplace writes into a conversation (a moderator mediating
    /// a dispute): no participant is its author, both parties are
    /// notified, the content policy does not judge it (the marketplace's
    /// own words), and the status stays. The message is flagged
    /// [`MARKETPLACE`].
    Mediate {
        ticket: i64,
    },
}

/// The flag of a message the marketplace wrote ([`Written::Mediate`]).
pub const MARKETPLACE: &str = "marketplace";

/// What was written and by whom, for the audit log.
#[derive(Debug, Clone)]
pub struct Draft {
    pub what: Written,
    pub text: String,
    /// Who did it, for the audit log (`cli`, an API key's name, an address).
    pub actor: String,
    /// The door it came through, stored as the message's `matched_by`:
    /// `cli` or `api`.
    pub door: &'static str,
}

/// What happened to the text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteOutcome {
    /// Shown to the other side, who is notified.
    Posted {
        ticket: i64,
        message: i64,
        new_ticket: bool,
        status: Status,
        notifications: usize,
    },
    /// Stored, waiting for a moderator: nobody is notified yet.
    Held {
        ticket: i64,
        message: i64,
        new_ticket: bool,
        /// The rules that hold it.
        rules: Vec<String>,
    },
}

/// Why nothing was written.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// The text, the subject or an address is not usable.
    #[error("{0}")]
    Invalid(String),
    /// No such ticket or queue (or it is deleted).
    #[error("{0}")]
    NotFound(String),
    /// The author may not write there.
    #[error("{0}")]
    NotAllowed(String),
    /// The ticket takes no new messages (`on_closed_reply = "reject"`).
    #[error("{0}")]
    Closed(String),
    /// The content policy refuses the text; `hits` are its reasons
    /// (docs/json.md, the hits of a message).
    #[error("the message is refused by the content policy: {categories}")]
    Refused {
        categories: String,
        hits: Vec<Value>,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The longest text taken, in bytes (a typed message, not a file).
pub const MAX_TEXT_BYTES: usize = 100_000;
/// The longest subject taken, in characters.
pub const MAX_SUBJECT_CHARS: usize = 300;

impl Intake {
    /// Takes text typed in parley: policy, decision, one transaction.
    pub async fn write(&self, draft: &Draft) -> Result<WriteOutcome, WriteError> {
        let text = draft.text.trim_end();
        if text.trim().is_empty() {
            return Err(WriteError::Invalid("the text is empty".into()));
        }
        if text.len() > MAX_TEXT_BYTES {
            return Err(WriteError::Invalid(format!(
                "the text is over {MAX_TEXT_BYTES} bytes"
            )));
        }
        let place = self.place(&draft.what).await?;
        let mediated = matches!(draft.what, Written::Mediate { .. });
        let verdict = match mediated {
            true => super::policy::Verdict::unjudged(),
            false => self.tunables().policy.evaluate_text(text, &place.subject),
        };
        if verdict.action == Action::Reject {
            let hits = verdict.hits_json(text, &place.subject);
            let mut categories: Vec<&str> = verdict
                .found
                .iter()
                .filter(|f| f.action == Action::Reject)
                .map(|f| f.hit.category.as_str())
                .collect();
            categories.sort_unstable();
            categories.dedup();
            return Err(WriteError::Refused {
                categories: categories.join(", "),
                hits,
            });
        }
        let held = verdict.action == Action::Hold;
        let mut target = place.target;
        if let Target::New(ticket) = &mut target
            && let Some(masked) = &verdict.redacted_subject
        {
            ticket.subject = masked.clone();
        }
        if held && let Target::Existing { status, .. } = &mut target {
            // A held message changes nothing until a moderator lets it
            // through.
            *status = None;
        }
        let new_ticket = matches!(target, Target::New(_));
        let replies = replies::decide(
            self.tunables().replies.get(&place.queue),
            replies::Facts {
                new_ticket,
                author: Some(place.role),
                auto: super::classify::Auto::None,
                held,
            },
            self.clock.now(),
        );
        let message_id = self.minter.message_id(&place.token);
        let post = Post {
            raw: None,
            target,
            direction: Direction::Outbound,
            reply_text: text.to_string(),
            html: None,
            dedupe_key: parse::hex(&parse::sha256(message_id.as_bytes())),
            message_id: Some(message_id),
            matched_by: draft.door.into(),
            flags: match mediated {
                true => vec![MARKETPLACE.to_string()],
                false => Vec::new(),
            },
            auto: "none".into(),
            elided: String::new(),
            signature: String::new(),
            attachments: Vec::new(),
            notify: !held,
            policy: verdict.record(text, &place.subject, held),
            actor: draft.actor.clone(),
            replies,
        };
        let (ticket, message) = match self.store.post(&post, &self.minter).await? {
            Posted::Stored {
                ticket,
                message,
                notifications,
                ..
            } if !held => {
                return Ok(WriteOutcome::Posted {
                    ticket,
                    message,
                    new_ticket,
                    status: place.status,
                    notifications: notifications.len(),
                });
            }
            Posted::Stored {
                ticket, message, ..
            } => (ticket, message),
            // Our own Message-ID is new each time: a duplicate is a bug.
            Posted::Duplicate { .. } => {
                return Err(WriteError::Store(StoreError::Conflict(
                    "the message exists already".into(),
                )));
            }
        };
        let mut rules: Vec<String> = verdict
            .found
            .iter()
            .filter(|f| f.action == Action::Hold)
            .map(|f| f.hit.rule.to_string())
            .collect();
        rules.dedup();
        Ok(WriteOutcome::Held {
            ticket,
            message,
            new_ticket,
            rules,
        })
    }

    /// Where the text lands: the target, the author's role and token, the
    /// subject the policy also reads, the status after it.
    async fn place(&self, what: &Written) -> Result<Place, WriteError> {
        match what {
            Written::Reply { ticket, author } => self.reply_place(*ticket, author).await,
            Written::Open(opening) => self.open_place(opening).await,
            Written::Mediate { ticket } => self.mediate_place(*ticket).await,
        }
    }

    /// The marketplace's message on ticket `number`: nobody's, the status
    /// as it is (a closed ticket takes it too: mediation may follow a
    /// close), no automatic answer (the role given is the seller side's).
    async fn mediate_place(&self, number: i64) -> Result<Place, WriteError> {
        let ticket = self
            .store
            .ticket(number)
            .await?
            .filter(|t| !t.deleted)
            .ok_or_else(|| WriteError::NotFound(format!("ticket #{number} does not exist")))?;
        Ok(Place {
            target: Target::Existing {
                ticket: number,
                author: None,
                status: None,
                join: None,
            },
            queue: ticket.queue,
            subject: String::new(),
            role: Role::Staff,
            token: MARKETPLACE.to_string(),
            status: ticket.status,
        })
    }

    async fn reply_place(&self, number: i64, author: &Person) -> Result<Place, WriteError> {
        let ticket = self
            .store
            .ticket(number)
            .await?
            .filter(|t| !t.deleted)
            .ok_or_else(|| WriteError::NotFound(format!("ticket #{number} does not exist")))?;
        let address = address::normalize(&author.address);
        // A participant writes as themselves; a staff address of the queue
        // not on the ticket yet joins it as staff with this message (as
        // taking or being assigned it would have made it join).
        let participant = self.store.participant_by_address(number, &address).await?;
        let (writer, role, join) = match participant {
            Some(p) => (
                Person {
                    address: p.address.clone(),
                    display_name: p.display_name.clone(),
                    user_id: p.user_id.clone(),
                },
                p.role,
                Err(p.id),
            ),
            None => {
                let staff = match self.store.queue(&ticket.queue).await? {
                    Some(queue) => queue.staff,
                    None => Vec::new(),
                };
                if !staff.contains(&address) {
                    return Err(WriteError::NotAllowed(format!(
                        "{address} is not a participant of ticket #{number}"
                    )));
                }
                let writer = Person {
                    address: address.clone(),
                    ..author.clone()
                };
                let join = NewParticipant {
                    address: address.clone(),
                    display_name: author.display_name.clone(),
                    user_id: author.user_id.clone(),
                    role: Role::Staff,
                };
                (writer, Role::Staff, Ok(join))
            }
        };
        let status = match tickets::on_message(ticket.status, role, self.tunables().on_closed) {
            Transition::To(status) => status,
            Transition::NewTicket => {
                // As mail answering it would (`on_closed_reply =
                // "new_ticket"`): a new ticket in its queue, with its
                // client, subject and listing.
                let opening = self.reopening(&ticket, role, writer).await?;
                return self.open_place(&opening).await;
            }
            Transition::Reject => {
                return Err(WriteError::Closed(format!(
                    "ticket #{number} is {}; it takes no new messages",
                    ticket.status
                )));
            }
        };
        // The token part of the message's Message-ID: the author's reply
        // token; a joining author has no participant id yet.
        let (author, join, token) = match join {
            Err(id) => (Some(id), None, self.minter.reply_address(number, id).0),
            Ok(join) => (None, Some(join), "new".to_string()),
        };
        Ok(Place {
            target: Target::Existing {
                ticket: number,
                author,
                status: Some(status).filter(|s| *s != ticket.status),
                join,
            },
            queue: ticket.queue,
            subject: String::new(),
            role,
            token,
            status,
        })
    }

    /// The opening of the ticket that a message on closed ticket `ticket`
    /// by `author` (of `role`) starts, when closed tickets take no more.
    async fn reopening(
        &self,
        ticket: &crate::store::Ticket,
        role: Role,
        author: Person,
    ) -> Result<Opening, WriteError> {
        let people = self.store.participants(ticket.number).await?;
        let person = |p: &crate::store::Participant| Person {
            address: p.address.clone(),
            display_name: p.display_name.clone(),
            user_id: p.user_id.clone(),
        };
        let client = people
            .iter()
            .find(|p| p.role == Role::Client)
            .ok_or_else(|| {
                WriteError::NotAllowed(format!("ticket #{} has no client", ticket.number))
            })?;
        Ok(Opening {
            queue: ticket.queue.clone(),
            client: person(client),
            seller: role.is_seller_side().then_some(author),
            subject: ticket.subject.clone(),
            about: About {
                item_ref: ticket.item_ref.clone(),
                item_title: ticket.item_title.clone(),
                item_url: ticket.item_url.clone(),
                auction_ref: ticket.auction_ref.clone(),
                auction_title: ticket.auction_title.clone(),
            },
            manager: None,
        })
    }

    async fn open_place(&self, opening: &Opening) -> Result<Place, WriteError> {
        let subject = opening.subject.trim();
        if subject.is_empty() {
            return Err(WriteError::Invalid("the subject is empty".into()));
        }
        if subject.chars().count() > MAX_SUBJECT_CHARS {
            return Err(WriteError::Invalid(format!(
                "the subject is over {MAX_SUBJECT_CHARS} characters"
            )));
        }
        let client = address::normalize(&opening.client.address);
        if !address::is_address(&client) {
            return Err(WriteError::Invalid(format!(
                "{:?} is not an email address",
                opening.client.address
            )));
        }
        let queue = self.store.queue(&opening.queue).await?.ok_or_else(|| {
            WriteError::NotFound(format!("queue {:?} does not exist", opening.queue))
        })?;
        let seller =
            |address: &str, name: Option<&String>, user_id: Option<&String>| NewParticipant {
                address: address.to_string(),
                display_name: Some(name.cloned().unwrap_or_else(|| queue.display_name.clone())),
                user_id: user_id.cloned(),
                role: Role::Seller,
            };
        let client_row = NewParticipant {
            address: client.clone(),
            display_name: opening.client.display_name.clone(),
            user_id: opening.client.user_id.clone(),
            role: Role::Client,
        };
        if queue.staff.contains(&client) {
            return Err(WriteError::Invalid(format!(
                "{client} is a staff address of queue {}: not its client",
                queue.name
            )));
        }
        let manager = match &opening.manager {
            None => None,
            Some(manager) => {
                let manager = address::normalize(manager);
                if !queue.staff.contains(&manager) {
                    return Err(WriteError::Invalid(format!(
                        "the manager {manager} is not a staff address of queue {}",
                        queue.name
                    )));
                }
                Some(manager)
            }
        };
        // The first participant is the author.
        let (mut participants, role, status) = match &opening.seller {
            None => (vec![client_row], Role::Client, Status::Open),
            Some(writer) => {
                let writer_address = address::normalize(&writer.address);
                if !queue.staff.contains(&writer_address) {
                    return Err(WriteError::NotAllowed(format!(
                        "{writer_address} is not a staff address of queue {}",
                        queue.name
                    )));
                }
                (
                    vec![
                        seller(
                            &writer_address,
                            writer.display_name.as_ref(),
                            writer.user_id.as_ref(),
                        ),
                        client_row,
                    ],
                    Role::Seller,
                    Status::AwaitingClient,
                )
            }
        };
        for staff in &queue.staff {
            if participants.iter().all(|p| p.address != *staff) {
                participants.push(seller(staff, None, None));
            }
        }
        let about = opening.about.clone();
        Ok(Place {
            target: Target::New(NewTicket {
                queue_id: queue.id,
                subject: subject.to_string(),
                status,
                item_ref: about.item_ref,
                item_title: about.item_title,
                item_url: about.item_url,
                auction_ref: about.auction_ref,
                auction_title: about.auction_title,
                assignee: manager,
                origin_key: None,
                participants,
            }),
            queue: queue.name,
            subject: subject.to_string(),
            role,
            token: "new".into(),
            status,
        })
    }
}

/// Where a written text lands.
struct Place {
    target: Target,
    /// The queue's name (its greeting and working hours).
    queue: String,
    /// The subject the policy reads: a new ticket's; empty for a reply
    /// (its ticket's subject was judged when it was opened).
    subject: String,
    role: Role,
    /// The token part of the message's Message-ID.
    token: String,
    /// The ticket's status once the text is posted.
    status: Status,
}
