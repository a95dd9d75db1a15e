//! Minting what a notification needs to thread its answer back: the
//! recipient's reply token and a Message-ID of ours
//! (`<TOKEN.SEQ@reply domain>`, see `docs/token.md`).
//!
//! Below the store: the store mints them inside the transaction that writes
//! a notification row (the token names ids it reserves there).

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use super::Signer;

/// Mints reply tokens and Message-IDs under the configured key and domain.
#[derive(Debug, Clone)]
pub struct Minter {
    pub signer: Signer,
    pub reply_domain: String,
}

impl Minter {
    pub fn new(signer: Signer, reply_domain: &str) -> Self {
        Minter {
            signer,
            reply_domain: reply_domain.to_ascii_lowercase(),
        }
    }

    /// The token and reply address of a participant.
    pub fn reply_address(&self, ticket: i64, participant: i64) -> (String, String) {
        let token = self.signer.reply_token(ticket, participant);
        let address = format!("reply+{token}@{}", self.reply_domain);
        (token, address)
    }

    /// A fresh Message-ID (without angle brackets, as stored and as
    /// mail-parser reports the ones in replies) for a mail to the holder of
    /// `token`.
    pub fn message_id(&self, token: &str) -> String {
        format!("{token}.{:x}@{}", next_sequence(), self.reply_domain)
    }
}

/// A process-wide sequence seeded from the clock and the PID, so that
/// Message-IDs from concurrent processes do not collide.
fn next_sequence() -> u64 {
    static SEQ: OnceLock<AtomicU64> = OnceLock::new();
    SEQ.get_or_init(|| {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        AtomicU64::new(nanos ^ (u64::from(std::process::id()) << 40))
    })
    .fetch_add(1, Ordering::Relaxed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_ids_are_unique_and_ours() {
        let m = Minter::new(Signer::new(b"0123456789abcdef"), "Reply.Example.com");
        let (token, address) = m.reply_address(5, 6);
        assert_eq!(address, format!("reply+{token}@reply.example.com"));
        let a = m.message_id(&token);
        let b = m.message_id(&token);
        assert_ne!(a, b);
        assert!(a.starts_with(&format!("{token}.")) && a.ends_with("@reply.example.com"));
    }
}
