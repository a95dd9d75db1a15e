//! Which envelope recipients parley takes, decided at RCPT.
//!
//! Taken: a reply address whose token verifies, a queue's intake address,
//! a VERP bounce address whose token verifies. Everything else is refused
//! at RCPT, so parley never accepts mail it would have to bounce later
//! (no backscatter) and never relays.

use std::collections::HashSet;
use std::sync::Arc;

use crate::address;
use crate::config::Config;
use crate::store::{Store, StoreError};
use crate::token::{self, Signer};

/// What a recipient is to parley.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// `reply+TOKEN@<reply domain>` with a token we signed.
    Reply,
    /// A queue's intake address.
    Intake,
    /// `bounce+TOKEN@<reply domain>` with a token we signed.
    Bounce,
    /// Has the shape of one of our addresses but its token does not verify.
    Forged,
    /// Not ours.
    Unknown,
}

impl Verdict {
    pub fn accepted(self) -> bool {
        matches!(self, Verdict::Reply | Verdict::Intake | Verdict::Bounce)
    }
}

/// The recipient check, shared by every session.
pub struct Recipients {
    signer: Signer,
    reply_domain: String,
    /// Intake addresses of the configured queues, normalised.
    intake: HashSet<String>,
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
                .flat_map(|q| q.intake.iter().map(|a| address::normalize(a)))
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
                Ok(_) => Verdict::Reply,
                Err(_) => Verdict::Forged,
            });
        }
        if let Some(text) = token::bounce_token_in(&address, &self.reply_domain) {
            return Ok(match self.signer.verify_bounce(text) {
                Ok(_) => Verdict::Bounce,
                Err(_) => Verdict::Forged,
            });
        }
        if self.intake.contains(&address) {
            return Ok(Verdict::Intake);
        }
        if !address::is_address(&address) {
            return Ok(Verdict::Unknown);
        }
        Ok(match self.store.queue_by_intake(&address).await? {
            Some(_) => Verdict::Intake,
            None => Verdict::Unknown,
        })
    }
}
