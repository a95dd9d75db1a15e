//! Who is logged in: the session cookie, the form token of every form
//! (CSRF), and the limit on failed logins.
//!
//! The cookie (`parley_session`) holds 32 random bytes; the store keeps
//! only their SHA-256 ([`crate::store::ConsoleStore`]). It is `HttpOnly`
//! (no script reads it), `SameSite=Strict` (no other site's page sends
//! it), `Path=/console`, and `Secure` when `[console] secure_cookies` says
//! the pages are served over TLS. Every form carries the session's token;
//! a POST without it is refused (403) before anything is done. The login
//! form, before there is a session, carries the token of a short-lived
//! cookie of its own (double submit).

use std::collections::HashMap;
use std::sync::Mutex;

use axum::http::{HeaderMap, HeaderValue, header};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::store::{ConsoleSession, Store, StoreError, now_ms};

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "parley_session";
/// The login form's own token cookie.
pub const LOGIN_COOKIE: &str = "parley_login";

/// The value of cookie `name` in `headers`.
pub fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, value)| value)
}

/// A `Set-Cookie` value for `name` = `value`, living `max_age` seconds
/// (0: removed).
pub fn set_cookie(name: &str, value: &str, max_age: i64, secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{name}={value}; Path=/console; Max-Age={max_age}; HttpOnly; SameSite=Strict{secure}"
    ))
    .expect("cookie names and tokens are header-safe")
}

/// The SHA-256 of a cookie's value, hex: what the store keeps.
pub fn token_hash(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The running session of the request's cookie, if any.
pub async fn current(
    store: &dyn Store,
    headers: &HeaderMap,
) -> Result<Option<ConsoleSession>, StoreError> {
    let Some(token) = cookie(headers, SESSION_COOKIE) else {
        return Ok(None);
    };
    // A value that is not one of ours is no session (and no store query).
    if token.len() != 43
        || !token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Ok(None);
    }
    store.console_session(&token_hash(token), now_ms()).await
}

/// Whether a form's token is `expected`, compared in constant time.
pub fn form_token_ok(given: Option<&str>, expected: &str) -> bool {
    match given {
        Some(given) if !expected.is_empty() => {
            bool::from(given.as_bytes().ct_eq(expected.as_bytes()))
        }
        _ => false,
    }
}

/// Failed logins per account and per client address, in a sliding window:
/// past the limit, a login is refused without looking at the password
/// (429) until the oldest failure leaves the window. A success clears the
/// account's count.
#[derive(Default)]
pub struct LoginLimiter {
    failures: Mutex<HashMap<String, Vec<i64>>>,
}

/// How long a failure counts.
pub const WINDOW_MS: i64 = 15 * 60 * 1000;
/// Failures of one account within the window.
pub const PER_ACCOUNT: usize = 5;
/// Failures from one client address within the window.
pub const PER_ADDRESS: usize = 20;

impl LoginLimiter {
    /// `None` when a login of `account` from `client` may be tried now;
    /// else the seconds until it may.
    pub fn wait(&self, account: &str, client: &str, now: i64) -> Option<i64> {
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        let mut longest = None;
        for (key, limit) in [
            (account_key(account), PER_ACCOUNT),
            (client_key(client), PER_ADDRESS),
        ] {
            if let Some(times) = failures.get_mut(&key) {
                times.retain(|t| now - t < WINDOW_MS);
                if times.len() >= limit {
                    let wait = (times[times.len() - limit] + WINDOW_MS - now + 999) / 1000;
                    longest = Some(longest.map_or(wait, |w: i64| w.max(wait)));
                }
            }
        }
        longest
    }

    /// Counts a failed login.
    pub fn failed(&self, account: &str, client: &str, now: i64) {
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        // Bounded: a flood of made-up accounts cannot grow it without end.
        if failures.len() > 100_000 {
            failures.retain(|_, times| times.iter().any(|t| now - t < WINDOW_MS));
        }
        for key in [account_key(account), client_key(client)] {
            failures.entry(key).or_default().push(now);
        }
    }

    /// A successful login of `account`: its failures are forgotten.
    pub fn succeeded(&self, account: &str) {
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        failures.remove(&account_key(account));
    }
}

fn account_key(account: &str) -> String {
    format!("account:{account}")
}

fn client_key(client: &str) -> String {
    format!("client:{client}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_found_by_name() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; parley_session=xyz; b=2"),
        );
        assert_eq!(cookie(&headers, SESSION_COOKIE), Some("xyz"));
        assert_eq!(cookie(&headers, "parley"), None);
        let set = set_cookie(SESSION_COOKIE, "v", 60, true);
        let set = set.to_str().unwrap();
        assert!(
            set.contains("HttpOnly") && set.contains("SameSite=Strict"),
            "{set}"
        );
        assert!(set.ends_with("; Secure"), "{set}");
    }

    #[test]
    fn form_tokens_must_match() {
        assert!(form_token_ok(Some("abc"), "abc"));
        assert!(!form_token_ok(Some("abd"), "abc"));
        assert!(!form_token_ok(None, "abc"));
        assert!(!form_token_ok(Some(""), ""));
    }

    #[test]
    fn failures_lock_an_account_then_expire() {
        let limiter = LoginLimiter::default();
        let t = 1_000_000;
        for i in 0..PER_ACCOUNT as i64 {
            assert_eq!(limiter.wait("a@x", "1.2.3.4", t + i), None);
            limiter.failed("a@x", "1.2.3.4", t + i);
        }
        let wait = limiter.wait("a@x", "5.6.7.8", t + 10).expect("locked");
        assert!(wait > 0 && wait <= WINDOW_MS / 1000, "{wait}");
        // Another account from the same address is not locked yet.
        assert_eq!(limiter.wait("b@x", "1.2.3.4", t + 10), None);
        // After the window, free again.
        assert_eq!(limiter.wait("a@x", "1.2.3.4", t + WINDOW_MS + 10), None);
        // Per address: many accounts from one address.
        for i in 0..PER_ADDRESS as i64 {
            limiter.failed(&format!("u{i}@x"), "9.9.9.9", t + i);
        }
        assert!(limiter.wait("fresh@x", "9.9.9.9", t + 30).is_some());
        limiter.succeeded("a@x");
        assert_eq!(limiter.wait("a@x", "5.6.7.8", t + 40), None);
    }
}
