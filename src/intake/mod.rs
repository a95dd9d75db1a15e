//! Intake: raw bytes in, a verdict out.
//!
//! Every adapter (`parley ingest`, later SMTP and IMAP) hands a message and
//! its envelope to [`Intake::deliver`] and answers what it returns. Intake
//! runs the stages — [`parse`], [`thread`], [`reply`] — into a [`Plan`]
//! without writing anything (`parley inspect` prints that plan), then
//! commits the plan in one store transaction: the raw bytes and everything
//! derived from them land together, so nothing acknowledged is lost and
//! nothing half-stored remains. A message that cannot be taken apart is
//! stored raw in quarantine instead.

pub mod group;
pub mod parse;
pub mod reply;
mod report;
pub mod thread;

pub use report::Report;

use crate::config::Config;
use crate::outbox::Minter;
use crate::store::{
    Direction, NewParticipant, NewRaw, NewTicket, Post, Posted, Queue, Source, Store, StoreError,
    Target,
};
use crate::tickets::{self, OnClosedReply, Role, Status, Transition};
use crate::token::Signer;
use parse::Parsed;
use thread::{MatchedBy, Rules, SubjectTag, Thread};

/// How the message reached us.
#[derive(Debug, Clone)]
pub struct Envelope {
    /// The envelope sender (MAIL FROM / Return-Path); `None` for `<>`.
    pub sender: Option<String>,
    /// Envelope recipients; when empty, Delivered-To/To/Cc are used.
    pub recipients: Vec<String>,
    pub source: Source,
}

/// What intake decided for one message.
#[derive(Debug, Clone)]
pub enum Decision {
    Post(Box<Post>),
    /// Already stored: nothing to write.
    Duplicate {
        ticket: Option<i64>,
    },
    /// Stored raw for an admin to look at.
    Quarantine {
        reason: &'static str,
        detail: String,
    },
    /// No recipient is ours.
    NoMatch,
    /// Refused with a reason the sender may see.
    Reject {
        reason: String,
    },
}

/// The dry run of the whole pipeline: `inspect` prints it, `deliver`
/// commits it.
#[derive(Debug, Clone)]
pub struct Plan {
    pub parsed: Option<Parsed>,
    pub recipients: Vec<String>,
    pub thread: Option<Thread>,
    pub reply_text: String,
    pub decision: Decision,
}

/// What happened to a delivered message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Stored {
        ticket: i64,
        message: i64,
        new_ticket: bool,
    },
    Duplicate {
        ticket: Option<i64>,
    },
    Quarantined {
        id: i64,
        reason: &'static str,
    },
    NoMatch,
    Rejected {
        reason: String,
    },
}

/// The intake pipeline with its settings, shared by all adapters.
pub struct Intake {
    store: std::sync::Arc<dyn Store>,
    minter: Minter,
    subject_tag: SubjectTag,
    on_closed: OnClosedReply,
    max_bytes: usize,
    /// When set, commits go through the group committer.
    group: Option<group::GroupCommit>,
}

impl Intake {
    pub fn new(config: &Config, secret: &[u8], store: std::sync::Arc<dyn Store>) -> Self {
        Intake {
            store,
            minter: Minter::new(Signer::new(secret), &config.mail.reply_domain),
            subject_tag: SubjectTag::new(&config.mail.subject_tag),
            on_closed: config.tickets.on_closed_reply,
            max_bytes: config.intake.max_message_bytes,
            group: None,
        }
    }

    /// Commits through a group committer of at most `max_batch` messages
    /// per transaction (needs a tokio runtime). For servers with many
    /// concurrent deliveries; `1` still commits one message at a time.
    pub fn with_group_commit(mut self, max_batch: usize) -> Self {
        self.group = Some(group::GroupCommit::spawn(
            self.store.clone(),
            self.minter.clone(),
            max_batch,
        ));
        self
    }

    pub fn store(&self) -> &dyn Store {
        self.store.as_ref()
    }

    pub fn minter(&self) -> &Minter {
        &self.minter
    }

    pub fn subject_tag(&self) -> &SubjectTag {
        &self.subject_tag
    }

    /// Takes one message: plans it and commits the plan.
    pub async fn deliver(&self, raw: Vec<u8>, envelope: &Envelope) -> Result<Outcome, StoreError> {
        // The commit finds duplicates itself; no need to read for them first.
        let plan = self.plan_with(&raw, envelope, false).await?;
        let stored_raw = || NewRaw {
            sha256: parse::sha256(&raw),
            bytes: raw.clone(),
            envelope_from: envelope.sender.clone(),
            envelope_to: plan.recipients.clone(),
            source: envelope.source,
        };
        Ok(match plan.decision {
            Decision::Post(mut post) => {
                post.raw = Some(stored_raw());
                let posted = match &self.group {
                    Some(group) => group.post(*post).await?,
                    None => self.store.post(&post, &self.minter).await?,
                };
                match posted {
                    Posted::Stored {
                        ticket,
                        message,
                        new_ticket,
                        ..
                    } => Outcome::Stored {
                        ticket,
                        message,
                        new_ticket,
                    },
                    Posted::Duplicate { ticket } => Outcome::Duplicate { ticket },
                }
            }
            Decision::Duplicate { ticket } => Outcome::Duplicate { ticket },
            Decision::Quarantine { reason, detail } => {
                let id = self
                    .store
                    .quarantine(&stored_raw(), reason, &detail)
                    .await?;
                Outcome::Quarantined { id, reason }
            }
            Decision::NoMatch => Outcome::NoMatch,
            Decision::Reject { reason } => Outcome::Rejected { reason },
        })
    }

    /// Runs every stage against the current store and writes nothing.
    pub async fn plan(&self, raw: &[u8], envelope: &Envelope) -> Result<Plan, StoreError> {
        self.plan_with(raw, envelope, true).await
    }

    async fn plan_with(
        &self,
        raw: &[u8],
        envelope: &Envelope,
        find_duplicates: bool,
    ) -> Result<Plan, StoreError> {
        let mut plan = Plan {
            parsed: None,
            recipients: envelope
                .recipients
                .iter()
                .map(|r| crate::address::normalize(r))
                .collect(),
            thread: None,
            reply_text: String::new(),
            decision: Decision::NoMatch,
        };
        if raw.len() > self.max_bytes {
            plan.decision = Decision::Reject {
                reason: format!(
                    "message too large: over the limit of {} bytes",
                    self.max_bytes
                ),
            };
            return Ok(plan);
        }
        let Some(parsed) = parse::parse(raw) else {
            plan.decision = Decision::Quarantine {
                reason: "unparseable",
                detail: "no message header could be read".into(),
            };
            return Ok(plan);
        };
        if plan.recipients.is_empty() {
            plan.recipients = parsed.header_recipients.clone();
        }
        plan.reply_text = reply::extract(&parsed.text);
        let sender = parsed.from.as_ref().map(|f| f.address.as_str());
        let rules = Rules {
            signer: &self.minter.signer,
            reply_domain: &self.minter.reply_domain,
            subject_tag: &self.subject_tag,
        };
        let thread =
            thread::thread(&parsed, sender, &plan.recipients, self.store(), &rules).await?;
        plan.decision = self
            .decide(&parsed, &thread, &plan.reply_text, find_duplicates)
            .await?;
        plan.thread = Some(thread);
        plan.parsed = Some(parsed);
        Ok(plan)
    }

    async fn decide(
        &self,
        parsed: &Parsed,
        thread: &Thread,
        reply_text: &str,
        find_duplicates: bool,
    ) -> Result<Decision, StoreError> {
        let flags: Vec<String> = thread.flags.iter().map(|f| f.to_string()).collect();
        let held = thread.flags.iter().any(|f| thread::is_holding(f));
        let post = |target| {
            Decision::Post(Box::new(Post {
                raw: None,
                target,
                direction: Direction::Inbound,
                reply_text: reply_text.to_string(),
                html: None,
                message_id: parsed.message_id.clone(),
                dedupe_key: parsed.dedupe_key.clone(),
                matched_by: thread.matched_by.as_str().to_string(),
                flags: flags.clone(),
                notify: !held,
                actor: "intake".into(),
            }))
        };
        if let Some(ticket) = &thread.ticket {
            if self
                .store
                .has_message(ticket.number, &parsed.dedupe_key)
                .await?
            {
                return Ok(Decision::Duplicate {
                    ticket: Some(ticket.number),
                });
            }
            // Held messages change nothing until a moderator lets them through.
            let role = thread.author.as_ref().map_or(Role::Client, |a| a.role);
            let status = match (
                held,
                tickets::on_message(ticket.status, role, self.on_closed),
            ) {
                (true, _) => None,
                (false, Transition::To(status)) => Some(status),
                (false, Transition::Reject) => {
                    return Ok(Decision::Reject {
                        reason: format!(
                            "ticket #{} is {}; it takes no new messages",
                            ticket.number, ticket.status
                        ),
                    });
                }
                (false, Transition::NewTicket) => {
                    let queue = self.store.queue(&ticket.queue).await?;
                    return match queue {
                        Some(queue) => {
                            self.open_ticket(parsed, &queue, &post, find_duplicates)
                                .await
                        }
                        None => Ok(Decision::Quarantine {
                            reason: "no_queue",
                            detail: format!(
                                "queue {} of ticket #{} is gone",
                                ticket.queue, ticket.number
                            ),
                        }),
                    };
                }
            };
            return Ok(post(Target::Existing {
                ticket: ticket.number,
                author: thread.author.as_ref().map(|a| a.id),
                status: status.filter(|s| *s != ticket.status),
            }));
        }
        match (&thread.queue, thread.matched_by) {
            (Some(queue), MatchedBy::New) => {
                self.open_ticket(parsed, queue, &post, find_duplicates)
                    .await
            }
            _ => Ok(Decision::NoMatch),
        }
    }

    /// A new ticket in `queue` from the message's sender, with the queue's
    /// staff as the seller side.
    async fn open_ticket(
        &self,
        parsed: &Parsed,
        queue: &Queue,
        post: &impl Fn(Target) -> Decision,
        find_duplicates: bool,
    ) -> Result<Decision, StoreError> {
        let Some(from) = &parsed.from else {
            return Ok(Decision::Quarantine {
                reason: "no_sender",
                detail: "a new ticket needs a From address".into(),
            });
        };
        if find_duplicates
            && let Some(ticket) = self
                .store
                .ticket_by_origin(queue.id, &parsed.dedupe_key)
                .await?
        {
            return Ok(Decision::Duplicate {
                ticket: Some(ticket),
            });
        }
        let mut participants = vec![NewParticipant {
            address: from.address.clone(),
            display_name: from.name.clone(),
            role: Role::Client,
        }];
        participants.extend(queue.staff.iter().filter(|s| **s != from.address).map(|s| {
            NewParticipant {
                address: s.clone(),
                display_name: Some(queue.display_name.clone()),
                role: Role::Seller,
            }
        }));
        let subject = parsed
            .subject
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .unwrap_or("(no subject)");
        Ok(post(Target::New(NewTicket {
            queue_id: queue.id,
            subject: subject.to_string(),
            status: Status::Open,
            item_ref: None,
            item_title: None,
            auction_ref: None,
            auction_title: None,
            origin_key: Some(parsed.dedupe_key.clone()),
            participants,
        })))
    }
}
