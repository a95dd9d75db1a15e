//! `[[webhooks]]`: where `parley serve` POSTs the events the marketplace
//! backend may see (docs/webhooks.md), each signed with the webhook's
//! secret.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::ConfigError;
use crate::store::EventKind;

/// The kinds a webhook gets unless it lists its own: a new message, a
/// status change, a moderator's decision.
pub const DEFAULT_EVENTS: [&str; 3] = ["message.created", "ticket.status", "message.moderated"];

/// One receiver of events.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// Names the webhook in the store (its cursor, its deliveries) and in
    /// `parley webhooks status`: renaming one starts it over at the end of
    /// the event log.
    pub name: String,
    /// `http://` or `https://` (checked against the system's trust
    /// anchors); the events are POSTed there.
    pub url: String,
    /// The key of the `Parley-Signature` HMAC, inline or (better) in
    /// `secret_file`.
    #[serde(default)]
    pub secret: String,
    /// A file holding the secret (surrounding white space ignored), read
    /// at load.
    #[serde(default)]
    pub secret_file: PathBuf,
    /// Extra trusted CA certificates (PEM) for an `https://` URL, e.g. a
    /// private CA; empty: the system's trust anchors only.
    #[serde(default)]
    pub tls_ca_file: PathBuf,
    /// The event kinds sent (docs/json.md "Events").
    #[serde(default = "default_events")]
    pub events: Vec<String>,
    /// The longest one delivery may take: connecting, TLS, the request and
    /// the answer's head.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
}

fn default_events() -> Vec<String> {
    DEFAULT_EVENTS.iter().map(|k| k.to_string()).collect()
}

fn default_timeout_ms() -> u64 {
    10_000
}

impl WebhookConfig {
    /// The secret, inline or from `secret_file`; `key` names the entry
    /// (`webhooks[0]`) in the error.
    pub fn load_secret(&self, key: &str) -> Result<Vec<u8>, ConfigError> {
        let secret = if !self.secret.is_empty() {
            self.secret.trim().to_string()
        } else {
            std::fs::read_to_string(&self.secret_file)
                .map(|s| s.trim().to_string())
                .map_err(|e| {
                    ConfigError::new(
                        format!("{key}.secret_file"),
                        format!("{}: {e}", self.secret_file.display()),
                    )
                })?
        };
        if secret.is_empty() {
            return Err(ConfigError::new(
                format!("{key}.secret"),
                "empty: a webhook's requests are signed with it",
            ));
        }
        Ok(secret.into_bytes())
    }

    /// The kinds, parsed (validated at load).
    pub fn kinds(&self) -> Vec<EventKind> {
        self.events
            .iter()
            .filter_map(|k| EventKind::parse(k))
            .collect()
    }
}

/// Checks every `[[webhooks]]` entry: names, URLs, secrets, kinds.
pub(super) fn validate(webhooks: &[WebhookConfig]) -> Result<(), ConfigError> {
    let mut names = std::collections::HashSet::new();
    for (i, hook) in webhooks.iter().enumerate() {
        let key = format!("webhooks[{i}]");
        let field = |f: &str| format!("{key}.{f}");
        let good_name = (1..=64).contains(&hook.name.len())
            && hook
                .name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-_.".contains(&b));
        if !good_name {
            return Err(ConfigError::new(
                field("name"),
                format!(
                    "{:?} must be 1-64 characters of a-z, 0-9, '-', '_', '.'",
                    hook.name
                ),
            ));
        }
        if !names.insert(hook.name.as_str()) {
            return Err(ConfigError::new(
                field("name"),
                format!("webhook {:?} is defined twice", hook.name),
            ));
        }
        crate::webhooks::Target::parse(&hook.url)
            .map_err(|e| ConfigError::new(field("url"), format!("{:?}: {e}", hook.url)))?;
        if !hook.tls_ca_file.as_os_str().is_empty() && !hook.url.starts_with("https://") {
            return Err(ConfigError::new(
                field("tls_ca_file"),
                "set, but the URL is not https://",
            ));
        }
        super::ca_certificates(&hook.tls_ca_file, &field("tls_ca_file"))?;
        if !hook.secret.is_empty() && !hook.secret_file.as_os_str().is_empty() {
            return Err(ConfigError::new(
                field("secret"),
                "set secret or secret_file, not both",
            ));
        }
        if hook.secret.is_empty() && hook.secret_file.as_os_str().is_empty() {
            return Err(ConfigError::new(
                field("secret"),
                "missing: set secret or secret_file",
            ));
        }
        hook.load_secret(&key)?;
        if hook.events.is_empty() {
            return Err(ConfigError::new(field("events"), "empty: name a kind"));
        }
        for (j, kind) in hook.events.iter().enumerate() {
            if EventKind::parse(kind).is_none() {
                let known: Vec<_> = EventKind::ALL.iter().map(|k| k.as_str()).collect();
                return Err(ConfigError::new(
                    format!("{key}.events[{j}]"),
                    format!("{kind:?} is no event kind; one of {}", known.join(", ")),
                ));
            }
        }
        if hook.timeout_ms == 0 {
            return Err(ConfigError::new(field("timeout_ms"), "must be at least 1"));
        }
    }
    Ok(())
}
