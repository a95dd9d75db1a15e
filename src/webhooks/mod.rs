//! Webhooks: the events the marketplace backend may see, POSTed to each
//! `[[webhooks]]` URL, signed, through a durable outbox of their own
//! (docs/webhooks.md).
//!
//! ```text
//! event log ─► queue (per webhook: its cursor, its kinds, what the
//!              marketplace may see) ─► deliveries ─► worker ─► POST
//! ```
//!
//! - [`payload`] decides what a webhook gets of an event (the rule is
//!   [`crate::access::marketplace_sees_event`], the marketplace's view
//!   of the event log, as its SSE stream has) and renders it as the
//!   stream's `data:` ([`EventJson`]);
//! - the store ([`crate::store::WebhookStore`]) queues, in one
//!   transaction, a delivery per event and moves the webhook's cursor;
//! - [`worker`] (run by `parley serve` when webhooks are configured)
//!   claims due deliveries, POSTs them ([`client`]) with a
//!   `Parley-Signature` ([`signature`]) and records the answer: 2xx
//!   delivered; anything else tried again on the mail outbox's schedule
//!   until `outbox.max_age_secs`, 410 Gone failed at once.

pub mod client;
pub mod worker;

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::access;
use crate::config::{ConfigError, WebhookConfig};
use crate::http::api::events::EventJson;
use crate::store::{Event, Ticket};

pub use client::Target;

/// One configured webhook, ready to send.
#[derive(Clone)]
pub struct Webhook {
    pub name: String,
    pub target: Target,
    secret: Vec<u8>,
    /// The kinds it gets (`events`).
    pub kinds: Vec<String>,
    pub timeout: std::time::Duration,
    /// For an `https://` URL: the system's trust anchors and
    /// `tls_ca_file`'s.
    pub tls: Option<tokio_rustls::TlsConnector>,
}

impl std::fmt::Debug for Webhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Webhook")
            .field("name", &self.name)
            .field("target", &self.target)
            .field("kinds", &self.kinds)
            .finish_non_exhaustive()
    }
}

impl Webhook {
    /// The webhook `[[webhooks]]` entry `i` configures (its secret read).
    pub fn new(i: usize, config: &WebhookConfig) -> Result<Webhook, ConfigError> {
        let key = format!("webhooks[{i}]");
        let target =
            Target::parse(&config.url).map_err(|e| ConfigError::new(format!("{key}.url"), e))?;
        let tls = match target.https {
            true => {
                let extra = crate::config::ca_certificates(
                    &config.tls_ca_file,
                    &format!("{key}.tls_ca_file"),
                )?;
                let connector = client::connector(extra)
                    .map_err(|e| ConfigError::new(format!("{key}.tls_ca_file"), e))?;
                Some(connector)
            }
            false => None,
        };
        Ok(Webhook {
            tls,
            name: config.name.clone(),
            target,
            secret: config.load_secret(&key)?,
            kinds: config.events.clone(),
            timeout: std::time::Duration::from_millis(config.timeout_ms),
        })
    }

    /// The `Parley-Signature` of `body` sent at `unix` seconds.
    pub fn sign(&self, unix: i64, body: &str) -> String {
        signature(&self.secret, unix, body)
    }
}

/// What the marketplace's webhooks get of `event`, whose ticket is
/// `ticket` (`None`: gone): its JSON, as the marketplace's event stream
/// carries it (docs/json.md "Events", the actor shown), or `None` when
/// the marketplace may not see it (a held message, a read marker).
pub fn payload(event: &Event, ticket: Option<&Ticket>) -> Option<String> {
    if !access::marketplace_sees_event(ticket, &event.audience) {
        return None;
    }
    Some(serde_json::to_string(&EventJson::new(event, true)).expect("JSON values serialise"))
}

/// `t=UNIX,v1=HEX`, HEX = hex(HMAC-SHA256(secret, "UNIX.BODY")): the
/// receiver recomputes it over the raw body and refuses an old `t`.
pub fn signature(secret: &[u8], unix: i64, body: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(unix.to_string().as_bytes());
    mac.update(b".");
    mac.update(body.as_bytes());
    let digest = mac.finalize().into_bytes();
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("t={unix},v1={hex}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Audience;

    fn event(kind: &str, audience: Audience) -> Event {
        Event {
            id: 42,
            at: 1_795_241_489_172,
            kind: kind.into(),
            ticket: 7,
            message: Some(31),
            actor: "maria@buyer.example".into(),
            data: serde_json::json!({ "held": false }),
            audience,
        }
    }

    fn ticket() -> Ticket {
        Ticket {
            number: 7,
            queue: "desk".into(),
            subject: "Oak sideboard".into(),
            status: crate::tickets::Status::Open,
            assignee: None,
            item_ref: None,
            item_title: None,
            item_url: None,
            auction_ref: None,
            auction_title: None,
            created_at: 0,
            updated_at: 0,
            archived: false,
            deleted: false,
            waiting_since: None,
        }
    }

    #[test]
    fn the_body_is_the_marketplace_stream_event() {
        let t = ticket();
        let body = payload(&event("message.created", Audience::Ticket), Some(&t)).unwrap();
        let json: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "id": 42, "kind": "message.created", "at": "2026-11-21T06:11:29.172Z",
                "ticket": 7, "message": 31, "actor": "maria@buyer.example",
                "data": { "held": false }
            })
        );
    }

    #[test]
    fn what_the_marketplace_may_not_see_is_never_sent() {
        let t = ticket();
        let read = Audience::Reader {
            address: "maria@buyer.example".into(),
        };
        assert_eq!(payload(&event("read.marked", read), Some(&t)), None);
        let held = Audience::Held {
            author: Some("maria@buyer.example".into()),
        };
        assert_eq!(payload(&event("message.created", held), Some(&t)), None);
        assert_eq!(
            payload(&event("message.created", Audience::Ticket), None),
            None
        );
        assert!(payload(&event("ticket.forwarded", Audience::SellerSide), Some(&t)).is_some());
    }

    #[test]
    fn the_signature_is_stripe_style() {
        // Computed independently:
        // printf '1700000000.{"id":1}' | openssl dgst -sha256 -hmac whsec
        let signed = signature(b"whsec", 1_700_000_000, r#"{"id":1}"#);
        assert_eq!(
            signed,
            "t=1700000000,v1=e79220cb981f992adbc8b93ac6d46028b0217ea19327d27dc9d18bf334403bde"
        );
        assert_ne!(signed, signature(b"other", 1_700_000_000, r#"{"id":1}"#));
        assert_ne!(signed, signature(b"whsec", 1_700_000_001, r#"{"id":1}"#));
    }
}
