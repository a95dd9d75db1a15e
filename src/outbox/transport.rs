//! Where the worker hands a composed notification, as `[relay]` says: the
//! SMTP relay ([`Relay`]), or, with no relay configured (`relay.host`
//! empty, the default), the local Maildir ([`Maildir`]) of
//! `relay.maildir`. Either answers with a [`Sent`].
//!
//! The relay's answer decides: 2xx is sent; 4xx, a lost or refused
//! connection, a timeout or a TLS failure are temporary; 5xx is permanent.
//! Classification uses lettre's typed error, never its text. A Maildir
//! that cannot be written (full, missing, not writable) is temporary: an
//! operator can mend it before the row is given up.

use std::fmt;
use std::time::Duration;

use lettre::address::Envelope;

use super::maildir::Maildir;
use super::relay::{self, ConnectError, Relay};
use crate::config::{Config, ConfigError};

/// The outcome of one delivery attempt, with what the relay said (or where
/// the Maildir took it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sent {
    Sent(String),
    /// Worth trying again later.
    Retry(String),
    /// Will not get better by waiting.
    Permanent(String),
}

/// Where notifications go.
pub enum Transport {
    /// The SMTP relay of `[relay]`.
    Relay(Relay),
    /// No relay configured: the local Maildir.
    Maildir(Maildir),
}

/// What `[relay]` configures: the relay (its password file is read here,
/// at start-up), or the Maildir when `relay.host` is empty (not created
/// here: `parley serve` does, with [`Maildir::create`]).
pub fn relay(config: &Config) -> Result<Transport, ConfigError> {
    Ok(match config.relay.local_maildir() {
        Some(path) => Transport::Maildir(Maildir::new(path)),
        None => Transport::Relay(relay::relay(config)?),
    })
}

impl Transport {
    /// Hands one mail (its envelope, its bytes) over within `limit` and
    /// classifies the answer.
    pub async fn send(&self, envelope: &Envelope, bytes: &[u8], limit: Duration) -> Sent {
        match self {
            Transport::Relay(relay) => send_to_relay(relay, envelope, bytes, limit).await,
            Transport::Maildir(maildir) => {
                write_to_maildir(maildir, envelope, bytes.to_vec(), limit).await
            }
        }
    }
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Transport::Relay(relay) => write!(f, "the relay {relay}"),
            Transport::Maildir(maildir) => write!(f, "the Maildir {}", maildir.path().display()),
        }
    }
}

async fn send_to_relay(relay: &Relay, envelope: &Envelope, bytes: &[u8], limit: Duration) -> Sent {
    let Ok(answer) = tokio::time::timeout(limit, relay.send(envelope, bytes)).await else {
        // The relay may have taken it: sent again later, at least once.
        return Sent::Retry(format!("no answer from the relay within {limit:?}"));
    };
    let error = match answer {
        Ok(Ok(response)) => {
            let text = response.message().collect::<Vec<_>>().join(" ");
            return Sent::Sent(format!("{} {text}", response.code()));
        }
        Ok(Err(e)) | Err(ConnectError::Smtp(e)) => e,
        // Name resolution, TCP: the relay or the way to it may recover.
        Err(e @ ConnectError::Tcp(_)) => return Sent::Retry(e.to_string()),
    };
    if error.is_permanent() {
        // 5xx: the relay refuses for good (also AUTH refused).
        Sent::Permanent(error.to_string())
    } else {
        // 4xx, a broken connection, TLS, timeouts: the relay or the way to
        // it may recover.
        Sent::Retry(error.to_string())
    }
}

/// Writes the mail into the Maildir on a blocking thread (file writes and
/// fsyncs), within `limit`.
async fn write_to_maildir(
    maildir: &Maildir,
    envelope: &Envelope,
    bytes: Vec<u8>,
    limit: Duration,
) -> Sent {
    let (maildir, envelope) = (maildir.clone(), envelope.clone());
    let task = tokio::task::spawn_blocking(move || maildir.deliver(&envelope, &bytes));
    match tokio::time::timeout(limit, task).await {
        Ok(Ok(Ok(path))) => Sent::Sent(format!("delivered to {}", path.display())),
        Ok(Ok(Err(e))) => Sent::Retry(e.to_string()),
        Ok(Err(e)) => Sent::Retry(format!("the Maildir write failed: {e}")),
        // It may still land: written again later, at least once.
        Err(_) => Sent::Retry(format!("the Maildir write took over {limit:?}")),
    }
}
