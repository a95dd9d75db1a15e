//! The rules file (`config/policy.toml`, built in as the default): which
//! action each category and rule takes, the spam thresholds, allow-lists,
//! the abuse phrases and the redaction mask.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::Category;

/// The built-in rules: config/policy.toml as shipped.
pub const DEFAULT_RULES: &str = include_str!("../../../config/policy.toml");

/// What happens to a message with a hit; ordered from weakest to
/// strongest: the strongest of all hits wins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Allow,
    Redact,
    Hold,
    Reject,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Allow => "allow",
            Action::Redact => "redact",
            Action::Hold => "hold",
            Action::Reject => "reject",
        }
    }
}

/// The rules file, as written.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rules {
    pub actions: BTreeMap<Category, Action>,
    #[serde(default)]
    pub rules: BTreeMap<String, Action>,
    pub spam: SpamRules,
    #[serde(default)]
    pub allow: Allow,
    #[serde(default)]
    pub abuse: AbuseRules,
    pub redact: Redact,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpamRules {
    pub hold_at: f64,
    /// Unset: spam is held, never refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reject_at: Option<f64>,
    /// A trained model; empty: the built-in one.
    #[serde(default)]
    pub model: PathBuf,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Allow {
    #[serde(default)]
    pub domains: Vec<String>,
    #[serde(default)]
    pub emails: Vec<String>,
    #[serde(default)]
    pub phones: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AbuseRules {
    #[serde(default)]
    pub phrases: Vec<String>,
    #[serde(default = "yes")]
    pub default_list: bool,
}

impl Default for AbuseRules {
    fn default() -> Self {
        AbuseRules {
            phrases: Vec::new(),
            default_list: true,
        }
    }
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Redact {
    pub mask: String,
}

impl Default for Rules {
    fn default() -> Self {
        Rules::parse(DEFAULT_RULES).expect("the built-in config/policy.toml is valid")
    }
}

impl Rules {
    /// Parses and checks a rules file's text; the error names the key. A
    /// category the file's `[actions]` leaves out takes its built-in action
    /// (so a copy made before a category existed gets its default, not
    /// `allow`).
    pub fn parse(text: &str) -> Result<Rules, RulesError> {
        let mut rules = Rules::read(text)?;
        if text != DEFAULT_RULES {
            for (category, action) in Rules::read(DEFAULT_RULES)?.actions {
                rules.actions.entry(category).or_insert(action);
            }
        }
        rules.check()?;
        Ok(rules)
    }

    /// The file as written.
    fn read(text: &str) -> Result<Rules, RulesError> {
        toml::from_str(text).map_err(|e| RulesError {
            key: "policy".into(),
            message: e.message().to_string(),
        })
    }

    /// Reads `path`, or the built-in rules when it is empty.
    pub fn load(path: &Path) -> Result<Rules, RulesError> {
        if path.as_os_str().is_empty() {
            return Ok(Rules::default());
        }
        let text = std::fs::read_to_string(path).map_err(|e| RulesError {
            key: "intake.policy_file".into(),
            message: format!("{}: {e}", path.display()),
        })?;
        Rules::parse(&text).map_err(|e| RulesError {
            key: format!("{} ({})", e.key, path.display()),
            message: e.message,
        })
    }

    fn check(&self) -> Result<(), RulesError> {
        let bad = |key: &str, message: String| RulesError {
            key: key.into(),
            message,
        };
        let SpamRules {
            hold_at, reject_at, ..
        } = self.spam;
        if !(0.0..=1.0).contains(&hold_at) {
            return Err(bad("spam.hold_at", format!("{hold_at}: must be 0 to 1")));
        }
        match reject_at {
            Some(r) if !(0.0..=1.0).contains(&r) => {
                return Err(bad("spam.reject_at", format!("{r}: must be 0 to 1")));
            }
            Some(r) if r < hold_at => {
                return Err(bad(
                    "spam.reject_at",
                    format!("{r} is below hold_at ({hold_at})"),
                ));
            }
            _ => {}
        }
        for rule in self.rules.keys() {
            if !super::RULE_IDS.contains(&rule.as_str()) {
                return Err(bad(
                    &format!("rules.{rule}"),
                    format!(
                        "no rule is named {rule:?}; rules are: {}",
                        super::RULE_IDS.join(", ")
                    ),
                ));
            }
        }
        if self.redact.mask.is_empty() {
            return Err(bad("redact.mask", "empty: a redaction must show".into()));
        }
        Ok(())
    }

    /// The action of a hit of `rule` in `category`.
    pub fn action(&self, rule: &str, category: Category) -> Action {
        self.rules
            .get(rule)
            .or_else(|| self.actions.get(&category))
            .copied()
            .unwrap_or(Action::Allow)
    }
}

/// A rules file that cannot be used.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{key}: {message}")]
pub struct RulesError {
    pub key: String,
    pub message: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_rules_parse_and_say_what_the_file_says() {
        let rules = Rules::default();
        assert_eq!(rules.action("email", Category::Contact), Action::Redact);
        assert_eq!(rules.action("shortener", Category::Contact), Action::Hold);
        assert_eq!(rules.action("venmo", Category::Payment), Action::Hold);
        assert_eq!(
            rules.action(super::super::EXECUTABLE_ATTACHMENT, Category::Attachment),
            Action::Hold
        );
        assert_eq!(
            rules.spam.reject_at, None,
            "spam is never refused by default"
        );
        // The threshold the spam model's scores were measured at.
        assert_eq!(rules.spam.hold_at, super::super::spam::DEFAULT_HOLD_AT);
    }

    #[test]
    fn mistakes_name_their_key() {
        let text = DEFAULT_RULES.replace("shortener = \"hold\"", "shortner = \"hold\"");
        let e = Rules::parse(&text).unwrap_err();
        assert_eq!(e.key, "rules.shortner");
        let text = DEFAULT_RULES.replace("# reject_at = 0.999", "reject_at = 0.5");
        assert_eq!(Rules::parse(&text).unwrap_err().key, "spam.reject_at");
        let text = DEFAULT_RULES.replace("contact = \"redact\"", "contact = \"mask\"");
        assert!(Rules::parse(&text).is_err());
    }

    #[test]
    fn a_category_left_out_takes_its_built_in_action() {
        let text = DEFAULT_RULES
            .replace("attachment = \"hold\"", "")
            .replace("contact = \"redact\"", "contact = \"allow\"");
        let rules = Rules::parse(&text).unwrap();
        assert_eq!(rules.actions[&Category::Attachment], Action::Hold);
        assert_eq!(rules.actions[&Category::Contact], Action::Allow);
    }
}
