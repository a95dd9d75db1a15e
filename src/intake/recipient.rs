//! What a recipient address is to parley: the one rule that the SMTP and
//! LMTP RCPT check, threading (so `parley ingest` and the IMAP poller) and
//! the bounce (VERP) match all apply. A token is verified here and nowhere
//! else, so the doors cannot disagree about an address (docs/token.md).
//!
//! The rule reads only what the address itself says (its shape, its
//! token's signature) and, for a plain address, whether it is a queue's
//! intake address. Whether the ticket and participant a valid token names
//! still exist is threading's business (a store read per message, not per
//! recipient).

use crate::address;
use crate::store::{Queue, Store, StoreError};
use crate::token::{self, ReplyToken, Signer};

/// What one recipient address is.
#[derive(Debug, Clone)]
pub enum Recipient {
    /// `reply+TOKEN@<reply domain>` whose token verifies: it names a
    /// participant of a ticket.
    Reply(ReplyToken),
    /// `reply+TOKEN@<reply domain>` whose token does not verify: forged,
    /// cut short, or signed with a key since rotated. Not a way in by
    /// itself: the message must thread by References or the subject tag
    /// (threading flags it `bad_token`).
    StaleReply,
    /// `bounce+TOKEN@<reply domain>` whose token verifies: a bounce of the
    /// notification (outbox row) it names.
    Bounce(i64),
    /// `bounce+TOKEN@<reply domain>` whose token does not verify. A bounce
    /// carries nothing else to match it by (no References of ours, no
    /// participant as its sender): it is no way in at all.
    ForgedBounce,
    /// A queue's intake address: a new ticket in that queue.
    Intake(Queue),
    /// `postmaster@` a domain parley serves, with no `mail.postmaster`
    /// queue to route it to: taken (RFC 5321 §4.5.1) and kept in
    /// quarantine.
    Postmaster,
    /// None of ours.
    Unknown,
}

/// The rule, with what it needs: the signing key and the reply domain.
#[derive(Debug, Clone)]
pub struct Rule {
    signer: Signer,
    reply_domain: String,
}

impl Rule {
    pub fn new(signer: Signer, reply_domain: &str) -> Self {
        Rule {
            signer,
            reply_domain: reply_domain.to_string(),
        }
    }

    /// What `address` is by its shape and signature alone: `None` unless
    /// it is a `reply+` or `bounce+` address of the reply domain (prefix
    /// and domain compared without case). Reads nothing.
    pub fn by_token(&self, address: &str) -> Option<Recipient> {
        if let Some(text) = token::reply_token_in(address, &self.reply_domain) {
            return Some(match self.signer.verify_reply(text) {
                Ok(token) => Recipient::Reply(token),
                Err(_) => Recipient::StaleReply,
            });
        }
        let text = token::bounce_token_in(address, &self.reply_domain)?;
        Some(match self.signer.verify_bounce(text) {
            Ok(outbox) => Recipient::Bounce(outbox),
            Err(_) => Recipient::ForgedBounce,
        })
    }

    /// What `address` (in any case, with or without angle brackets) is:
    /// a token address as [`Rule::by_token`] says, else a queue's intake
    /// address (one store read, cached by the store), else unknown.
    pub async fn classify(
        &self,
        address: &str,
        store: &dyn Store,
    ) -> Result<Recipient, StoreError> {
        let address = address::normalize(address);
        if let Some(kind) = self.by_token(&address) {
            return Ok(kind);
        }
        if !address::is_address(&address) {
            return Ok(Recipient::Unknown);
        }
        Ok(match store.queue_by_intake(&address).await? {
            Some(queue) => Recipient::Intake(queue),
            None => Recipient::Unknown,
        })
    }
}

/// `postmaster@` the domains parley serves: where it goes.
#[derive(Debug, Clone, Default)]
pub struct Postmaster {
    /// The served domains, lowercase.
    domains: Vec<String>,
    /// `mail.postmaster`, normalised; empty: quarantine.
    route: String,
}

impl Postmaster {
    pub fn new(config: &crate::config::Config) -> Postmaster {
        Postmaster {
            domains: config.served_domains(),
            route: address::normalize(&config.mail.postmaster),
        }
    }

    /// Whether `address` (normalised) is `postmaster@` a served domain.
    pub fn is(&self, address: &str) -> bool {
        address.rsplit_once('@').is_some_and(|(local, domain)| {
            local.eq_ignore_ascii_case("postmaster")
                && self.domains.iter().any(|d| d.eq_ignore_ascii_case(domain))
        })
    }

    /// The address mail to postmaster goes to, if one is configured.
    pub fn route(&self) -> Option<&str> {
        (!self.route.is_empty()).then_some(self.route.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOMAIN: &str = "reply.example.com";

    fn rule() -> (Rule, Signer) {
        let signer = Signer::new(b"a recipient rule test key");
        (Rule::new(signer.clone(), DOMAIN), signer)
    }

    #[test]
    fn token_addresses() {
        let (rule, signer) = rule();
        let want = ReplyToken {
            ticket: 12,
            participant: 34,
        };
        let reply = format!("reply+{}@{DOMAIN}", signer.reply_token(12, 34));
        for address in [reply.clone(), reply.to_ascii_uppercase()] {
            assert!(
                matches!(rule.by_token(&address), Some(Recipient::Reply(t)) if t == want),
                "{address}"
            );
        }
        let bounce = format!("bounce+{}@{DOMAIN}", signer.bounce_token(56));
        assert!(matches!(
            rule.by_token(&bounce),
            Some(Recipient::Bounce(56))
        ));

        // Another key's tokens (a rotated key) do not verify; nor does a
        // bounce token in a reply address, nor the reverse.
        let old = Signer::new(b"the key before the rotation");
        for stale in [
            format!("reply+{}@{DOMAIN}", old.reply_token(12, 34)),
            format!("reply+{}@{DOMAIN}", signer.bounce_token(56)),
            format!("reply+{}x@{DOMAIN}", signer.reply_token(12, 34)),
        ] {
            assert!(
                matches!(rule.by_token(&stale), Some(Recipient::StaleReply)),
                "{stale}"
            );
        }
        for forged in [
            format!("bounce+{}@{DOMAIN}", old.bounce_token(56)),
            format!("bounce+{}@{DOMAIN}", signer.reply_token(12, 34)),
        ] {
            assert!(
                matches!(rule.by_token(&forged), Some(Recipient::ForgedBounce)),
                "{forged}"
            );
        }

        // Not token addresses at all.
        for other in [
            "desk@shop.example",
            "reply@reply.example.com",
            "reply+@reply.example.com",
            "reply+abc@elsewhere.example",
        ] {
            assert!(rule.by_token(other).is_none(), "{other}");
        }
    }
}
