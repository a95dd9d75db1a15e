//! Intake: raw bytes in, a verdict out.
//!
//! Every adapter (`parley ingest`, SMTP and LMTP, IMAP) hands a message and
//! its envelope to [`Intake::deliver`] and answers what it returns; what a
//! recipient address is, SMTP asks at RCPT of the same [`recipient`] rule
//! that threading applies. Intake
//! runs the stages — [`parse`] (with [`attachments`]), [`classify`]
//! (auto-replies, bounces, lists, loops), [`thread`], [`reply`], [`policy`]
//! and `decide` — into a [`Plan`] without writing anything (`parley inspect`
//! prints that plan), then
//! commits the plan in one store transaction: the raw bytes and everything
//! derived from them land together, so nothing acknowledged is lost and
//! nothing half-stored remains. A message that cannot be taken apart is
//! stored raw in quarantine instead.

pub mod attachments;
pub mod charset;
pub mod classify;
mod decide;
pub mod group;
pub mod parse;
pub mod policy;
pub mod recipient;
pub mod replies;
pub mod reply;
mod report;
pub mod thread;
pub mod written;

pub use report::Report;

use crate::config::Config;
use crate::metrics::{Ending, metrics};
use crate::store::{Bounced, NewRaw, Post, Posted, Source, Store, StoreError};
use crate::tickets::OnClosedReply;
use crate::token::Minter;
use crate::token::Signer;
use classify::{Auto, Classification};
use parse::Parsed;
use recipient::Recipient;
use thread::{Rules, SubjectTag, Thread};

pub use policy::EXECUTABLE_ATTACHMENT;

/// The most header recipients (Delivered-To, To, Cc) intake considers when
/// the envelope names none.
pub const MAX_HEADER_RECIPIENTS: usize = 100;

/// How the message reached us.
#[derive(Debug, Clone)]
pub struct Envelope {
    /// The envelope sender (MAIL FROM / Return-Path): `Some("")` for the
    /// null sender `<>`, `None` when unknown.
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
    /// A bounce of our notification `notification` (matched by the VERP
    /// address it came back to).
    Bounce {
        notification: i64,
        detail: String,
    },
}

/// The dry run of the whole pipeline: `inspect` prints it, `deliver`
/// commits it.
#[derive(Debug, Clone)]
pub struct Plan {
    pub parsed: Option<Parsed>,
    pub recipients: Vec<String>,
    pub classification: Option<Classification>,
    pub thread: Option<Thread>,
    pub reply_text: String,
    /// The signature reply extraction found (`Reply::signature`).
    pub signature: String,
    /// The content policy's verdict (messages that reach threading).
    pub policy: Option<policy::Verdict>,
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
    /// A bounce, matched to the notification it returns; its recipient is
    /// marked failing. `None`: the notification no longer exists (the
    /// bounce is quarantined).
    Bounced(Option<Bounced>),
}

/// The intake pipeline with its settings, shared by all adapters.
pub struct Intake {
    store: std::sync::Arc<dyn Store>,
    minter: Minter,
    /// What each recipient address is: every door asks this one rule.
    recipients: recipient::Rule,
    /// What a reload may change (SIGHUP, [`Intake::reload`]).
    tunables: std::sync::RwLock<std::sync::Arc<Tunables>>,
    /// When set, commits go through the group committer.
    group: Option<group::GroupCommit>,
    /// The time working hours are judged by.
    clock: replies::Clock,
}

/// The settings of intake a reload swaps: a message is taken with the
/// ones current when it began, whole.
struct Tunables {
    subject_tag: SubjectTag,
    on_closed: OnClosedReply,
    max_bytes: usize,
    limits: attachments::Limits,
    /// The content policy (from the config): rules and spam model.
    policy: std::sync::Arc<policy::Policy>,
    /// Each queue's greeting and working hours, by queue name.
    replies: std::collections::HashMap<String, replies::QueueReplies>,
    /// Where `postmaster@` the served domains goes.
    postmaster: recipient::Postmaster,
}

impl Tunables {
    fn new(config: &Config) -> Tunables {
        Tunables {
            subject_tag: SubjectTag::new(&config.mail.subject_tag),
            on_closed: config.tickets.on_closed_reply,
            max_bytes: config.intake.max_message_bytes,
            limits: attachments::Limits {
                per_attachment: config.intake.max_attachment_bytes,
                per_message: config.intake.max_attachments_bytes,
            },
            policy: config.policy.clone(),
            replies: replies::by_queue(config),
            postmaster: recipient::Postmaster::new(config),
        }
    }
}

impl Intake {
    pub fn new(config: &Config, secret: &[u8], store: std::sync::Arc<dyn Store>) -> Self {
        let signer = Signer::new(secret);
        Intake {
            store,
            recipients: recipient::Rule::new(signer.clone(), &config.mail.reply_domain),
            minter: Minter::new(signer, &config.mail.reply_domain),
            tunables: std::sync::RwLock::new(std::sync::Arc::new(Tunables::new(config))),
            group: None,
            clock: replies::Clock::system(),
        }
    }

    /// Takes the settings of `config` a reload may change: the subject
    /// tag, what a reply to a closed ticket does, the size limits, the
    /// content policy and spam model, the queues' greetings and working
    /// hours. Messages being taken finish with the ones they began with.
    /// (The reply domain and the token key are not among them: tokens
    /// already sent must keep verifying.)
    pub fn reload(&self, config: &Config) {
        let fresh = std::sync::Arc::new(Tunables::new(config));
        *self.tunables.write().unwrap_or_else(|e| e.into_inner()) = fresh;
    }

    fn tunables(&self) -> std::sync::Arc<Tunables> {
        self.tunables
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Judges working hours by `clock` instead of the system's (tests).
    pub fn with_clock(mut self, clock: replies::Clock) -> Self {
        self.clock = clock;
        self
    }

    /// Commits through a group committer of at most `max_batch` messages
    /// per transaction, `committers` transactions at once (needs a tokio
    /// runtime). For servers with many concurrent deliveries; `1` still
    /// commits one message at a time.
    pub fn with_group_commit(mut self, max_batch: usize, committers: usize) -> Self {
        self.group = Some(group::GroupCommit::spawn(
            self.store.clone(),
            self.minter.clone(),
            max_batch,
            committers,
        ));
        self
    }

    pub fn store(&self) -> &dyn Store {
        self.store.as_ref()
    }

    /// The store, to share with other components (the SMTP recipient check).
    pub fn shared_store(&self) -> std::sync::Arc<dyn Store> {
        self.store.clone()
    }

    /// The largest message taken, in bytes.
    pub fn max_message_bytes(&self) -> usize {
        self.tunables().max_bytes
    }

    pub fn minter(&self) -> &Minter {
        &self.minter
    }

    /// What `address` is to parley (the SMTP RCPT check asks this; threading
    /// and the bounce match apply the same rule).
    pub async fn recipient(&self, address: &str) -> Result<Recipient, StoreError> {
        let tunables = self.tunables();
        let normalized = crate::address::normalize(address);
        if tunables.postmaster.is(&normalized) {
            return match tunables.postmaster.route() {
                Some(route) => self.recipients.classify(route, self.store()).await,
                None => Ok(Recipient::Postmaster),
            };
        }
        self.recipients.classify(address, self.store()).await
    }

    /// Takes one message: plans it and commits the plan.
    pub async fn deliver(&self, raw: Vec<u8>, envelope: &Envelope) -> Result<Outcome, StoreError> {
        self.deliver_part(raw, envelope, None).await
    }

    /// One of several deliveries of the same message (SMTP delivers once
    /// per ticket or queue it was sent to): `envelope` names this part's
    /// recipients, `whole` every recipient of the message, which is what is
    /// kept with the stored bytes (stored once for all parts).
    pub async fn deliver_part(
        &self,
        raw: Vec<u8>,
        envelope: &Envelope,
        whole: Option<&[String]>,
    ) -> Result<Outcome, StoreError> {
        let result = self.deliver_unmetered(raw, envelope, whole).await;
        let ending = match &result {
            Ok(outcome) => Ending::of(outcome),
            Err(_) => Ending::Failed,
        };
        metrics().message(envelope.source, ending);
        result
    }

    /// [`Intake::deliver_part`] without counting the message.
    async fn deliver_unmetered(
        &self,
        raw: Vec<u8>,
        envelope: &Envelope,
        whole: Option<&[String]>,
    ) -> Result<Outcome, StoreError> {
        // The commit finds duplicates itself; no need to read for them first.
        let plan = self.plan_with(&raw, envelope, false).await?;
        // The bytes move into the record that stores them: no copy.
        let stored = raw_record(raw, envelope, whole.unwrap_or(plan.recipients.as_slice()));
        let rule = plan.thread.as_ref().map(|t| t.matched_by);
        let action = plan.policy.as_ref().map(|v| v.action);
        Ok(match plan.decision {
            Decision::Post(mut post) => {
                post.raw = Some(stored);
                let started = std::time::Instant::now();
                let posted = match &self.group {
                    Some(group) => group.post(*post).await?,
                    None => self.store.post(&post, &self.minter).await?,
                };
                metrics().commit(started.elapsed());
                match posted {
                    Posted::Stored {
                        ticket,
                        message,
                        new_ticket,
                        ..
                    } => {
                        if let Some(rule) = rule {
                            metrics().judged(rule, action);
                        }
                        Outcome::Stored {
                            ticket,
                            message,
                            new_ticket,
                        }
                    }
                    Posted::Duplicate { ticket } => Outcome::Duplicate { ticket },
                }
            }
            Decision::Duplicate { ticket } => Outcome::Duplicate { ticket },
            Decision::Quarantine { reason, detail } => {
                let id = self.store.quarantine(&stored, reason, &detail).await?;
                Outcome::Quarantined { id, reason }
            }
            Decision::NoMatch => Outcome::NoMatch,
            Decision::Reject { reason } => {
                if action == Some(policy::Action::Reject) {
                    metrics().policy_action(policy::Action::Reject);
                }
                Outcome::Rejected { reason }
            }
            Decision::Bounce {
                notification,
                detail,
            } => {
                match self
                    .store
                    .record_bounce(notification, &stored, &detail)
                    .await?
                {
                    Some(bounced) => Outcome::Bounced(Some(bounced)),
                    None => {
                        let detail = format!("{detail}; notification {notification} is gone");
                        self.store.quarantine(&stored, "bounce", &detail).await?;
                        Outcome::Bounced(None)
                    }
                }
            }
        })
    }

    /// Keeps one part of a message in quarantine without planning it: SMTP
    /// does this with the part for recipients that matched nothing when
    /// the other parts were taken (its one answer is then 250, and nothing
    /// may be dropped silently). `envelope` and `whole` as for
    /// [`Intake::deliver_part`].
    pub async fn quarantine_part(
        &self,
        raw: Vec<u8>,
        envelope: &Envelope,
        whole: &[String],
        reason: &str,
        detail: &str,
    ) -> Result<i64, StoreError> {
        let stored = raw_record(raw, envelope, whole);
        self.store.quarantine(&stored, reason, detail).await
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
            classification: None,
            thread: None,
            reply_text: String::new(),
            signature: String::new(),
            policy: None,
            decision: Decision::NoMatch,
        };
        let tunables = self.tunables();
        // postmaster@ a served domain: the queue it is routed to, if any.
        if let Some(route) = tunables.postmaster.route() {
            for r in &mut plan.recipients {
                if tunables.postmaster.is(r) {
                    *r = route.to_string();
                }
            }
        }
        if raw.len() > tunables.max_bytes {
            plan.decision = Decision::Reject {
                reason: format!(
                    "message too large: over the limit of {} bytes",
                    tunables.max_bytes
                ),
            };
            return Ok(plan);
        }
        let Some(parsed) = parse::parse_with(raw, tunables.limits) else {
            plan.decision = Decision::Quarantine {
                reason: "unparseable",
                detail: "no message header could be read".into(),
            };
            return Ok(plan);
        };
        if plan.recipients.is_empty() {
            // Headers can name thousands; threading looks at the first ones.
            plan.recipients = parsed
                .header_recipients
                .iter()
                .take(MAX_HEADER_RECIPIENTS)
                .cloned()
                .collect();
        }
        let domain = &self.minter.reply_domain;
        let mut classification = classify::classify(&parsed, envelope.sender.as_deref(), domain);
        // Our own Message-ID on an incoming message: one of our mails came
        // back. Ours all end in @<reply domain>: only those are looked up.
        if classification.auto != Auto::Loop
            && let Some(id) = &parsed.message_id
            && id
                .rsplit_once('@')
                .is_some_and(|(_, d)| d.eq_ignore_ascii_case(domain))
            && self
                .store
                .ticket_by_issued_id(std::slice::from_ref(id))
                .await?
                .is_some()
        {
            classification = Classification {
                auto: Auto::Loop,
                reason: "its Message-ID is one parley issued".into(),
            };
        }
        let reply = reply::for_message(&parsed);
        plan.reply_text = reply.text.clone();
        plan.signature = reply.signature.clone();
        // A bounce to a VERP address names the notification it returns.
        let verp = plan
            .recipients
            .iter()
            .find_map(|r| match self.recipients.by_token(r) {
                Some(Recipient::Bounce(notification)) => Some(notification),
                _ => None,
            });
        if let Some(notification) = verp {
            plan.decision = if classify::reports_failure(raw) {
                Decision::Bounce {
                    notification,
                    detail: format!("bounce ({})", classification.reason),
                }
            } else {
                Decision::Quarantine {
                    reason: "delivery_report",
                    detail: format!(
                        "a delay or success report on notification {notification}; \
                         the address is not marked"
                    ),
                }
            };
            plan.classification = Some(classification);
            plan.parsed = Some(parsed);
            return Ok(plan);
        }
        let sender = parsed.from.as_ref().map(|f| f.address.as_str());
        let rules = Rules {
            recipients: &self.recipients,
            subject_tag: &tunables.subject_tag,
        };
        let thread =
            thread::thread(&parsed, sender, &plan.recipients, self.store(), &rules).await?;
        let verdict = tunables.policy.evaluate(
            &reply.text,
            parsed.subject.as_deref().unwrap_or(""),
            &parsed,
            !thread.sender_is_participant,
        );
        plan.decision = self
            .decide(&decide::Facts {
                parsed: &parsed,
                classification: &classification,
                thread: &thread,
                reply: &reply,
                verdict: &verdict,
                find_duplicates,
            })
            .await?;
        // Mail to postmaster@ (no queue routes it) is never refused: kept
        // for an admin when it threads nowhere else.
        if matches!(plan.decision, Decision::NoMatch)
            && plan.recipients.iter().any(|r| tunables.postmaster.is(r))
        {
            plan.decision = Decision::Quarantine {
                reason: "postmaster",
                detail: "mail to postmaster@ (mail.postmaster names no queue)".into(),
            };
        }
        plan.policy = Some(verdict);
        plan.classification = Some(classification);
        plan.thread = Some(thread);
        plan.parsed = Some(parsed);
        Ok(plan)
    }
}

/// The raw message as stored, with the envelope it came in (`recipients`:
/// every recipient of the message).
fn raw_record(raw: Vec<u8>, envelope: &Envelope, recipients: &[String]) -> NewRaw {
    NewRaw {
        sha256: parse::sha256(&raw),
        bytes: raw,
        envelope_from: envelope.sender.clone(),
        envelope_to: recipients.to_vec(),
        source: envelope.source,
    }
}
