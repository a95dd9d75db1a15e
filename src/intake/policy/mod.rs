//! The content policy: what a message may say.
//!
//! Detectors find hits — a rule id, a category and the exact span — in the
//! reply text and the subject: [`contact`] (emails, also obfuscated; phone
//! numbers, also spelled out; URLs, bare domains, shorteners; messenger and
//! social handles), [`payment`] (off-platform payment and steering the deal
//! off the site), [`abuse`] (a configured word and phrase list) and
//! [`spam`] (a naive Bayes model over the whole message, plus rules). The
//! rules file (`config/policy.toml`) gives each category or rule an action;
//! the strongest action wins. Detectors are pure functions of the text.

pub mod abuse;
pub mod contact;
pub mod payment;
pub mod spam;

use serde::{Deserialize, Serialize};

/// What a hit is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    /// Email addresses, phone numbers, URLs and domains, handles.
    Contact,
    /// Off-platform payment and steering the deal off the site.
    Payment,
    /// The spam model and its rules.
    Spam,
    /// The configured abuse word and phrase list.
    Abuse,
}

impl Category {
    pub fn as_str(self) -> &'static str {
        match self {
            Category::Contact => "contact",
            Category::Payment => "payment",
            Category::Spam => "spam",
            Category::Abuse => "abuse",
        }
    }
}

/// One match of a rule in a text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hit {
    /// The rule's id, e.g. `email`, `email_obfuscated`, `phone`,
    /// `phone_spelled`, `url`, `shortener`, `handle`, `venmo`.
    pub rule: &'static str,
    pub category: Category,
    /// Byte offsets of the span in the text scanned, on char boundaries.
    pub start: usize,
    pub end: usize,
    /// What the span stands for, normalised, where the detector knows:
    /// the email address (`maria.lopez@gmail.com` for "maria dot lopez at
    /// gmail dot com"), the phone number's digits, a URL's or domain's
    /// host (lowercase), a handle; else empty. Allow-lists compare this.
    pub value: String,
}
