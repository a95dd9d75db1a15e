//! Email addresses as parley compares them.
//!
//! Addresses are compared and stored in lowercase: local parts are
//! case-sensitive in theory (RFC 5321 §2.4) but no mail system a
//! marketplace meets treats them so, and people type them in any case.

/// The form an address is stored and compared in.
pub fn normalize(address: &str) -> String {
    address.trim().trim_matches(['<', '>']).to_lowercase()
}

/// A plausible `local@domain`: what config and the CLI accept.
pub fn is_address(address: &str) -> bool {
    let Some((local, domain)) = address.rsplit_once('@') else {
        return false;
    };
    !local.is_empty()
        && local.len() <= 64
        && !local
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || "<>()[],;:\\\"@".contains(c))
        && is_domain(domain)
}

/// A DNS name of letters, digits and hyphens (or an IDN in UTF-8).
pub fn is_domain(domain: &str) -> bool {
    !domain.is_empty()
        && domain.len() <= 253
        && domain.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_alphanumeric() || c == '-')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses() {
        for good in [
            "a@b",
            "desk@example.com",
            "first.last+tag@sub.example.co.uk",
            "ü@bücher.de",
        ] {
            assert!(is_address(good), "{good}");
        }
        for bad in [
            "", "a", "@b", "a@", "a b@c", "a@b c", "a@-b", "a@b..c", "<a@b>", "a@b@c",
        ] {
            assert!(!is_address(bad), "{bad}");
        }
        assert_eq!(normalize(" <Desk@Example.COM> "), "desk@example.com");
    }
}
