//! `[relay]` and `[outbox]`: where the outbox worker sends notifications
//! and how it retries.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::ConfigError;
use crate::address;

/// Where notifications go: the SMTP relay (smarthost) they are handed to,
/// or, with no relay configured (`host` empty, the default), the local
/// Maildir `maildir`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RelayConfig {
    /// Empty: no relay; notifications go into `maildir`.
    pub host: String,
    /// The Maildir notifications go into when `host` is empty.
    pub maildir: PathBuf,
    /// Unset: 465 for `tls`, else 25.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// `none` only for a loopback host (the local MTA).
    pub tls: RelayTls,
    /// SMTP AUTH user; empty: no AUTH.
    pub username: String,
    /// The AUTH password, read at start-up (surrounding white space ignored).
    pub password_file: PathBuf,
    /// The From address of notifications; empty: `noreply@<reply domain>`.
    pub from: String,
    /// The longest one notification's delivery may take in all.
    pub timeout_secs: u64,
}

/// How the connection to the relay is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RelayTls {
    /// TLS from the first byte (SMTPS, port 465).
    Tls,
    /// STARTTLS required before MAIL FROM.
    Starttls,
    /// No TLS: only for a loopback host.
    #[serde(rename = "none")]
    Plain,
}

impl RelayConfig {
    /// The Maildir notifications go into: `maildir` when no relay is
    /// configured (`host` empty), else `None` (they go to the relay).
    pub fn local_maildir(&self) -> Option<&Path> {
        self.host
            .trim()
            .is_empty()
            .then_some(self.maildir.as_path())
    }

    pub fn port(&self) -> u16 {
        self.port.unwrap_or(match self.tls {
            RelayTls::Tls => 465,
            RelayTls::Starttls | RelayTls::Plain => 25,
        })
    }

    /// The From address: `from`, else `noreply@<reply_domain>`.
    pub fn from_address(&self, reply_domain: &str) -> String {
        if self.from.is_empty() {
            format!("noreply@{reply_domain}")
        } else {
            self.from.clone()
        }
    }

    /// The AUTH password from `password_file`; `None` without `username`.
    pub fn password(&self) -> Result<Option<String>, ConfigError> {
        if self.username.is_empty() {
            return Ok(None);
        }
        std::fs::read_to_string(&self.password_file)
            .map(|p| Some(p.trim().to_string()))
            .map_err(|e| {
                ConfigError::new(
                    "relay.password_file",
                    format!("{}: {e}", self.password_file.display()),
                )
            })
    }

    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        if self.local_maildir().is_none()
            && self.tls == RelayTls::Plain
            && !super::is_loopback(&self.host)
        {
            return Err(ConfigError::new(
                "relay.tls",
                format!(
                    "\"none\" (no TLS) is only allowed for a loopback host \
                     (127.0.0.0/8, ::1, localhost), not {:?}: use \"tls\" or \"starttls\"",
                    self.host
                ),
            ));
        }
        if !self.from.is_empty() && !address::is_address(&self.from) {
            return Err(ConfigError::new(
                "relay.from",
                format!("{:?} is not an email address", self.from),
            ));
        }
        if !self.username.is_empty() && self.password_file.as_os_str().is_empty() {
            return Err(ConfigError::new(
                "relay.password_file",
                "required when relay.username is set",
            ));
        }
        if self.timeout_secs == 0 {
            return Err(ConfigError::new("relay.timeout_secs", "must be at least 1"));
        }
        if let Some(maildir) = self.local_maildir() {
            self.validate_maildir(maildir)?;
        }
        Ok(())
    }

    /// No relay: the Maildir must be named, and settings meant for a relay
    /// must not be set without one (they would be ignored in silence).
    fn validate_maildir(&self, maildir: &Path) -> Result<(), ConfigError> {
        if maildir.as_os_str().is_empty() {
            return Err(ConfigError::new(
                "relay.maildir",
                "empty, and so is relay.host: set relay.host (the SMTP relay) \
                 or relay.maildir (a local Maildir)",
            ));
        }
        let relay_only = [
            ("relay.port", self.port.is_some()),
            ("relay.tls", self.tls != RelayTls::Plain),
            ("relay.username", !self.username.is_empty()),
        ];
        if let Some((key, _)) = relay_only.iter().find(|(_, set)| *set) {
            return Err(ConfigError::new(
                "relay.host",
                format!(
                    "empty (notifications go into the Maildir {}), but {key} is set \
                     for a relay: set relay.host too",
                    maildir.display()
                ),
            ));
        }
        Ok(())
    }
}

/// The outbox worker of `parley serve`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutboxConfig {
    /// Whether `parley serve` runs the worker.
    pub enabled: bool,
    /// Rows claimed per batch.
    pub batch: usize,
    /// Sends in flight at once (also the relay connection pool's size).
    pub concurrency: usize,
    /// How long a claim lasts: a row not recorded by then (the worker died)
    /// is claimed again. Longer than a batch can take (validated).
    pub lease_secs: u64,
    /// How long to wait for new rows when nothing is due.
    pub poll_interval_ms: u64,
    /// The first retry after a temporary failure; doubled per attempt.
    pub first_retry_secs: u64,
    /// The longest wait between two tries.
    pub max_retry_secs: u64,
    /// A row still failing temporarily this long after it was written is
    /// given up (failed).
    pub max_age_secs: u64,
}

impl OutboxConfig {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        for (key, value) in [
            ("outbox.batch", self.batch as u64),
            ("outbox.concurrency", self.concurrency as u64),
            ("outbox.lease_secs", self.lease_secs),
            ("outbox.poll_interval_ms", self.poll_interval_ms),
            ("outbox.first_retry_secs", self.first_retry_secs),
            ("outbox.max_age_secs", self.max_age_secs),
        ] {
            if value == 0 {
                return Err(ConfigError::new(key, "must be at least 1"));
            }
        }
        if self.max_retry_secs < self.first_retry_secs {
            return Err(ConfigError::new(
                "outbox.max_retry_secs",
                "must be at least outbox.first_retry_secs",
            ));
        }
        Ok(())
    }
}
