//! Decide: from the parsed, classified and threaded message to one
//! [`Decision`]. Reads the store, writes nothing.
//!
//! Mail no person wrote never starts a conversation and never makes parley
//! answer: a loop (our own mail back) and an unmatched bounce go to
//! quarantine; a bounce of one of our notifications marks that recipient
//! failing; an auto-reply or list mail is stored on an existing ticket but
//! changes no status and notifies nobody, and opens no ticket.
//!
//! A message answering a deleted ticket opens a new ticket after it (see
//! [`super::thread`]): same queue, same people, same listing.

use super::classify::{Auto, Classification};
use super::parse::Parsed;
use super::policy::{Action, Verdict};
use super::replies;
use super::reply::Reply;
use super::thread::{self, MatchedBy, Thread};
use super::{Decision, Intake};
use crate::store::{
    Direction, NewAttachment, NewParticipant, NewTicket, PolicyRecord, Post, Queue, StoreError,
    Target, Ticket,
};
use crate::tickets::{self, Role, Status, Transition};

/// Everything the decision is made from.
pub(super) struct Facts<'a> {
    pub parsed: &'a Parsed,
    pub classification: &'a Classification,
    pub thread: &'a Thread,
    pub reply: &'a Reply,
    pub verdict: &'a Verdict,
    pub find_duplicates: bool,
}

impl Intake {
    pub(super) async fn decide(&self, facts: &Facts<'_>) -> Result<Decision, StoreError> {
        let (parsed, thread) = (facts.parsed, facts.thread);
        let auto = facts.classification.auto;
        match auto {
            Auto::Loop => {
                return Ok(Decision::Quarantine {
                    reason: "loop",
                    detail: facts.classification.reason.clone(),
                });
            }
            Auto::Bounce => {
                return Ok(Decision::Quarantine {
                    reason: "bounce",
                    detail: format!(
                        "{}; it names none of our notifications",
                        facts.classification.reason
                    ),
                });
            }
            Auto::None | Auto::AutoReply | Auto::List => {}
        }
        let automatic = auto != Auto::None;
        if facts.verdict.action == Action::Reject {
            let mut categories: Vec<&str> = facts
                .verdict
                .found
                .iter()
                .filter(|f| f.action == Action::Reject)
                .map(|f| f.hit.category.as_str())
                .collect();
            categories.sort_unstable();
            categories.dedup();
            return Ok(Decision::Reject {
                reason: format!(
                    "the message is refused by the content policy: {}",
                    categories.join(", ")
                ),
            });
        }
        let held = thread.flags.iter().any(|f| thread::is_holding(f))
            || facts.verdict.action == Action::Hold;
        let post = |target: Target, queue: &str| {
            Decision::Post(Box::new(self.post(facts, target, queue, held)))
        };
        if let Some(deleted) = &thread.deleted {
            if automatic {
                return Ok(Decision::Quarantine {
                    reason: auto.as_str(),
                    detail: format!(
                        "{}: automatic mail opens no ticket (ticket #{} is deleted)",
                        facts.classification.reason, deleted.number
                    ),
                });
            }
            return self.follow_deleted(facts, deleted, &post).await;
        }
        if let Some(ticket) = &thread.ticket {
            if facts.find_duplicates
                && self
                    .store
                    .has_message(ticket.number, &parsed.dedupe_key)
                    .await?
            {
                return Ok(Decision::Duplicate {
                    ticket: Some(ticket.number),
                });
            }
            // Held and automatic messages change nothing: the first until a
            // moderator lets it through, the second ever.
            let role = thread.author.as_ref().map_or(Role::Client, |a| a.role);
            let status = match (
                held || automatic,
                tickets::on_message(ticket.status, role, self.tunables().on_closed),
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
                    return match self.store.queue(&ticket.queue).await? {
                        Some(queue) => self.open_ticket(facts, &queue, &post).await,
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
            return Ok(post(
                Target::Existing {
                    ticket: ticket.number,
                    author: thread.author.as_ref().map(|a| a.id),
                    status: status.filter(|s| *s != ticket.status),
                    join: None,
                },
                &ticket.queue,
            ));
        }
        match (&thread.queue, thread.matched_by) {
            (Some(_), MatchedBy::New) if automatic => Ok(Decision::Quarantine {
                reason: auto.as_str(),
                detail: format!(
                    "{}: automatic mail opens no ticket",
                    facts.classification.reason
                ),
            }),
            (Some(queue), MatchedBy::New) => self.open_ticket(facts, queue, &post).await,
            _ => Ok(Decision::NoMatch),
        }
    }

    /// The post for this message on `target`, a ticket of `queue`.
    fn post(&self, facts: &Facts<'_>, target: Target, queue: &str, held: bool) -> Post {
        let (parsed, thread) = (facts.parsed, facts.thread);
        let auto = facts.classification.auto;
        // A new ticket's author is its first participant, the sender.
        let new_ticket = matches!(target, Target::New(_));
        let author = match &target {
            Target::New(t) => t.participants.first().map(|p| p.role),
            Target::Existing { .. } => thread.author.as_ref().map(|a| a.role),
        };
        let replies = replies::decide(
            self.tunables().replies.get(queue),
            replies::Facts {
                new_ticket,
                author,
                auto,
                held,
            },
            self.clock.now(),
        );
        let flags: Vec<String> = thread.flags.iter().map(|f| f.to_string()).collect();
        let attachments: Vec<NewAttachment> = parsed
            .attachments
            .iter()
            .map(|a| NewAttachment {
                filename: a.filename.clone(),
                content_type: a.content_type.clone(),
                size: a.size as i64,
                content: (!a.sha256.is_empty()).then(|| (a.sha256.clone(), a.bytes.clone())),
                content_id: a.content_id.clone(),
                inline: a.inline,
                flags: a.flags.iter().map(|f| f.to_string()).collect(),
            })
            .collect();
        Post {
            raw: None,
            target,
            direction: Direction::Inbound,
            reply_text: facts.reply.text.clone(),
            html: parsed.html.as_deref().map(super::reply::sanitize_html),
            message_id: parsed.message_id.clone(),
            dedupe_key: parsed.dedupe_key.clone(),
            matched_by: thread.matched_by.as_str().to_string(),
            flags,
            auto: auto.as_str().to_string(),
            elided: facts.reply.elided.clone(),
            signature: facts.reply.signature.clone(),
            attachments,
            notify: !held && auto == Auto::None,
            policy: self.policy_record(facts, held),
            actor: "intake".into(),
            replies,
        }
    }

    /// The verdict as stored with the message: a message held by threading
    /// (e.g. `sender_mismatch`) is `hold` whatever its hits.
    fn policy_record(&self, facts: &Facts<'_>, held: bool) -> PolicyRecord {
        let subject = facts.parsed.subject.as_deref().unwrap_or("");
        facts.verdict.record(&facts.reply.text, subject, held)
    }

    /// A new ticket after `deleted`, which the message answers: in its
    /// queue, between its people (the author first, every role kept),
    /// about its listing and auction, under its subject. It starts `open`
    /// when the client writes, `awaiting_client` when the seller side does
    /// (as `tickets create`).
    async fn follow_deleted(
        &self,
        facts: &Facts<'_>,
        deleted: &Ticket,
        post: &impl Fn(Target, &str) -> Decision,
    ) -> Result<Decision, StoreError> {
        let Some(queue) = self.store.queue(&deleted.queue).await? else {
            return Ok(Decision::Quarantine {
                reason: "no_queue",
                detail: format!(
                    "queue {} of deleted ticket #{} is gone",
                    deleted.queue, deleted.number
                ),
            });
        };
        let key = &facts.parsed.dedupe_key;
        if facts.find_duplicates
            && let Some(ticket) = self.store.ticket_by_origin(queue.id, key).await?
        {
            return Ok(Decision::Duplicate {
                ticket: Some(ticket),
            });
        }
        let author = facts.thread.author.as_ref().map(|a| a.id);
        let mut people = self.store.participants(deleted.number).await?;
        // The first participant is the author.
        people.sort_by_key(|p| Some(p.id) != author);
        let role = people
            .first()
            .filter(|p| Some(p.id) == author)
            .map_or(Role::Client, |p| p.role);
        let participants = people
            .into_iter()
            .map(|p| NewParticipant {
                address: p.address,
                display_name: p.display_name,
                user_id: p.user_id,
                role: p.role,
            })
            .collect();
        let target = Target::New(NewTicket {
            queue_id: queue.id,
            subject: deleted.subject.clone(),
            status: match role.is_seller_side() {
                true => Status::AwaitingClient,
                false => Status::Open,
            },
            item_ref: deleted.item_ref.clone(),
            item_title: deleted.item_title.clone(),
            item_url: deleted.item_url.clone(),
            auction_ref: deleted.auction_ref.clone(),
            auction_title: deleted.auction_title.clone(),
            assignee: None,
            origin_key: Some(key.clone()),
            participants,
        });
        Ok(post(target, &queue.name))
    }

    /// A new ticket in `queue` from the message's sender, with the queue's
    /// staff as the seller side.
    async fn open_ticket(
        &self,
        facts: &Facts<'_>,
        queue: &Queue,
        post: &impl Fn(Target, &str) -> Decision,
    ) -> Result<Decision, StoreError> {
        let parsed = facts.parsed;
        let Some(from) = &parsed.from else {
            return Ok(Decision::Quarantine {
                reason: "no_sender",
                detail: "a new ticket needs a From address".into(),
            });
        };
        if facts.find_duplicates
            && let Some(ticket) = self
                .store
                .ticket_by_origin(queue.id, &parsed.dedupe_key)
                .await?
        {
            return Ok(Decision::Duplicate {
                ticket: Some(ticket),
            });
        }
        let policy = self.tunables().policy.clone();
        let mut participants = vec![NewParticipant {
            address: from.address.clone(),
            display_name: from.name.as_deref().map(|n| policy.mask_name(n)),
            user_id: None,
            role: Role::Client,
        }];
        participants.extend(queue.staff.iter().filter(|s| **s != from.address).map(|s| {
            NewParticipant {
                address: s.clone(),
                display_name: Some(queue.display_name.clone()),
                user_id: None,
                role: Role::Seller,
            }
        }));
        // Masked where the policy redacts: both sides see the subject.
        let subject = facts
            .verdict
            .redacted_subject
            .as_deref()
            .or(parsed.subject.as_deref())
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .unwrap_or("(no subject)");
        let target = Target::New(NewTicket {
            queue_id: queue.id,
            subject: subject.to_string(),
            status: Status::Open,
            item_ref: None,
            item_title: None,
            item_url: None,
            auction_ref: None,
            auction_title: None,
            assignee: None,
            origin_key: Some(parsed.dedupe_key.clone()),
            participants,
        });
        Ok(post(target, &queue.name))
    }
}
