//! `[retention]`: how long parley keeps what it no longer needs. Each
//! setting is in days; 0 keeps forever (the default). `parley purge` runs
//! it once, `parley serve` every `interval_secs`.

use serde::{Deserialize, Serialize};

use super::ConfigError;

/// The most days a setting takes (a century): more is a typo, and the
/// cut-off in milliseconds stays far from overflowing.
pub const MAX_DAYS: u64 = 36_500;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetentionConfig {
    /// The raw mail (the original bytes) of closed tickets whose last
    /// activity is older than this many days is deleted; the text, the
    /// history and the ticket stay. 0: kept forever.
    pub raw_mail_days: u64,
    /// Notification rows sent longer ago than this many days are deleted.
    /// 0: kept forever.
    pub notifications_days: u64,
    /// How often `parley serve` purges, in seconds.
    pub interval_secs: u64,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        RetentionConfig {
            raw_mail_days: 0,
            notifications_days: 0,
            interval_secs: 3600,
        }
    }
}

impl RetentionConfig {
    /// Whether anything is ever purged.
    pub fn enabled(&self) -> bool {
        self.raw_mail_days > 0 || self.notifications_days > 0
    }

    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        for (key, days) in [
            ("retention.raw_mail_days", self.raw_mail_days),
            ("retention.notifications_days", self.notifications_days),
        ] {
            if days > MAX_DAYS {
                return Err(ConfigError::new(
                    key,
                    format!("{days} days is more than {MAX_DAYS} (0 keeps forever)"),
                ));
            }
        }
        if self.interval_secs < 60 {
            return Err(ConfigError::new(
                "retention.interval_secs",
                format!(
                    "{} is too often: at least 60 seconds (default 3600)",
                    self.interval_secs
                ),
            ));
        }
        Ok(())
    }
}
