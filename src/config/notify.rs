//! `[notify]`: how notifications read (templates, links).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::ConfigError;

/// What the composer needs from the configuration besides `[mail]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotifyConfig {
    /// A folder of templates that replace the built-in ones (same names;
    /// `QUEUE/NAME` for one queue only); empty: the built-in ones only.
    pub template_dir: PathBuf,
    /// The link to a ticket on the web, with `{number}` and `{token}`;
    /// empty: notifications carry no link.
    pub web_url: String,
    /// Where a recipient turns notifications off, with `{token}`; empty:
    /// no `List-Unsubscribe` header.
    pub unsubscribe_url: String,
    /// At most one new-message notification per recipient per ticket in
    /// this many seconds; what comes within is coalesced into the next
    /// one. 0: off.
    pub throttle_ticket_secs: u64,
    /// At most this many new-message notifications to one address per
    /// hour; more wait (never dropped). 0: off.
    pub throttle_recipient_per_hour: u64,
    /// How often `parley serve` looks for tickets past their queue's
    /// response target (`[[queues]] response_target_mins`), in seconds; 0:
    /// never (no reminder is sent).
    pub overdue_check_secs: u64,
    /// The name the marketplace's own messages go by (a moderator writing
    /// into a conversation) in notifications and pages.
    pub marketplace_name: String,
}

/// The placeholders a URL template may hold.
const PLACEHOLDERS: [&str; 2] = ["{number}", "{token}"];

impl NotifyConfig {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        check_url("notify.web_url", &self.web_url, &PLACEHOLDERS)?;
        check_url(
            "notify.unsubscribe_url",
            &self.unsubscribe_url,
            &["{token}"],
        )?;
        if !self.template_dir.as_os_str().is_empty() && !self.template_dir.is_dir() {
            return Err(ConfigError::new(
                "notify.template_dir",
                format!("{} is not a folder", self.template_dir.display()),
            ));
        }
        Ok(())
    }
}

/// Fills a URL template: `{number}` and `{token}` (the token is URL-safe
/// base32, so it needs no escaping).
pub fn fill_url(template: &str, number: i64, token: &str) -> String {
    template
        .replace("{number}", &number.to_string())
        .replace("{token}", token)
}

/// An empty URL, or an http(s) one whose `{…}` are all in `allowed`.
fn check_url(key: &str, url: &str, allowed: &[&str]) -> Result<(), ConfigError> {
    if url.is_empty() {
        return Ok(());
    }
    if !(url.starts_with("https://") || url.starts_with("http://")) {
        return Err(ConfigError::new(
            key,
            format!("{url:?} is not an http:// or https:// URL"),
        ));
    }
    if url
        .chars()
        .any(|c| c.is_whitespace() || c == '<' || c == '>')
    {
        return Err(ConfigError::new(
            key,
            format!("{url:?} holds white space or angle brackets"),
        ));
    }
    let mut rest = url;
    while let Some(open) = rest.find('{') {
        let tail = &rest[open..];
        let Some(name) = allowed.iter().find(|p| tail.starts_with(**p)) else {
            return Err(ConfigError::new(
                key,
                format!(
                    "{url:?}: unknown placeholder at {:?} (allowed: {})",
                    tail.chars().take(12).collect::<String>(),
                    allowed.join(", ")
                ),
            ));
        };
        rest = &tail[name.len()..];
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_templates_are_checked_and_filled() {
        let ok = "https://market.example/t/{number}?k={token}";
        check_url("k", ok, &PLACEHOLDERS).unwrap();
        assert_eq!(fill_url(ok, 42, "abc"), "https://market.example/t/42?k=abc");
        check_url("k", "", &PLACEHOLDERS).unwrap();
        for bad in [
            "ftp://x.example/{number}",
            "https://x.example/{id}",
            "https://x.example/ {number}",
            "market.example/{number}",
        ] {
            assert!(check_url("k", bad, &PLACEHOLDERS).is_err(), "{bad}");
        }
        assert!(check_url("k", "https://x.example/{number}", &["{token}"]).is_err());
    }
}
