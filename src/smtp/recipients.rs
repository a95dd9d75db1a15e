//! Which envelope recipients parley takes, decided at RCPT.
//!
//! Taken: a reply address whose token verifies, a queue's intake address,
//! a VERP bounce address whose token verifies. Each taken recipient has a
//! [`Target`]: a message is threaded once per distinct target (one stored
//! copy, a post on each ticket and in each queue it was sent to). Everything
//! else is refused
//! at RCPT, so parley never accepts mail it would have to bounce later
//! (no backscatter) and never relays.

use std::collections::HashMap;
use std::sync::Arc;

use crate::address;
use crate::config::Config;
use crate::store::{Store, StoreError};
use crate::token::{self, Signer};

/// What a recipient is to parley.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Ours: deliver to this target.
    Accept(Target),
    /// Has the shape of one of our addresses but its token does not verify.
    Forged,
    /// Not ours.
    Unknown,
}

/// Where an accepted recipient leads; recipients with the same target are
/// one delivery.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Target {
    /// `reply+TOKEN@<reply domain>`: the ticket the token names.
    Ticket(i64),
    /// A queue's intake address: the queue, by name.
    Queue(String),
    /// `bounce+TOKEN@<reply domain>`: the notification it returns.
    Bounce(i64),
}

/// The recipient check, shared by every session.
pub struct Recipients {
    signer: Signer,
    reply_domain: String,
    /// Intake addresses of the configured queues, normalised, and their queue.
    intake: HashMap<String, String>,
    /// For intake addresses of queues no longer in the config.
    store: Arc<dyn Store>,
}

impl Recipients {
    pub fn new(config: &Config, secret: &[u8], store: Arc<dyn Store>) -> Self {
        Recipients {
            signer: Signer::new(secret),
            reply_domain: config.mail.reply_domain.clone(),
            intake: config
                .queues
                .iter()
                .flat_map(|q| {
                    q.intake
                        .iter()
                        .map(|a| (address::normalize(a), q.name.clone()))
                })
                .collect(),
            store,
        }
    }

    /// Classifies one RCPT TO address. Only an intake address missing from
    /// the config costs a store read.
    pub async fn check(&self, recipient: &str) -> Result<Verdict, StoreError> {
        let address = address::normalize(recipient);
        if let Some(text) = token::reply_token_in(&address, &self.reply_domain) {
            return Ok(match self.signer.verify_reply(text) {
                Ok(token) => Verdict::Accept(Target::Ticket(token.ticket)),
                Err(_) => Verdict::Forged,
            });
        }
        if let Some(text) = token::bounce_token_in(&address, &self.reply_domain) {
            return Ok(match self.signer.verify_bounce(text) {
                Ok(outbox) => Verdict::Accept(Target::Bounce(outbox)),
                Err(_) => Verdict::Forged,
            });
        }
        if let Some(queue) = self.intake.get(&address) {
            return Ok(Verdict::Accept(Target::Queue(queue.clone())));
        }
        if !address::is_address(&address) {
            return Ok(Verdict::Unknown);
        }
        Ok(match self.store.queue_by_intake(&address).await? {
            Some(queue) => Verdict::Accept(Target::Queue(queue.name)),
            None => Verdict::Unknown,
        })
    }
}
