//! `[http]`: the HTTP door of `parley serve` (the JSON API under
//! `/api/v1`), its limits, and the API keys it knows (`[[http.keys]]`).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::ConfigError;

/// The HTTP listener and what it allows.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    /// Addresses (`IP:PORT`) the HTTP listener binds; empty: no HTTP.
    pub listen: Vec<String>,
    /// The largest request body taken, in bytes; larger: 413.
    pub max_body_bytes: usize,
    /// Origins (`https://market.example`) whose pages may call the API
    /// from a browser (CORS); empty: none.
    pub cors_origins: Vec<String>,
    /// Requests per minute one API key (or one user token's participant)
    /// may make; 0: no limit. Overridden per key.
    pub rate_limit_per_minute: u32,
    /// How many requests may come at once before the per-minute pace
    /// applies (the token bucket's size).
    pub rate_limit_burst: u32,
    /// The longest (and the default) life of a user token, in seconds.
    pub user_token_secs: u64,
    /// On SIGTERM or SIGINT, how long requests in flight may take to
    /// finish before their connections are closed.
    pub shutdown_grace_secs: u64,
    /// The most live event streams (`GET /api/v1/events`) served at once;
    /// past it: 503. Each holds a connection, so this keeps streams from
    /// taking every file descriptor the process has.
    pub max_event_streams: usize,
    /// The console pages (`/console`) on this listener.
    pub console: bool,
    /// How long a console login lasts, in hours (1 to 720).
    pub console_session_hours: u64,
    /// Mark the console's cookies `Secure`: set it when a TLS proxy serves
    /// the pages (browsers then send them over HTTPS only).
    pub console_secure_cookies: bool,
    /// Addresses (`IP:PORT`) of a listener that serves only `/healthz`,
    /// `/readyz` and `/metrics` (for monitoring when `listen` is empty, or
    /// on another interface); empty: none.
    pub monitor_listen: Vec<String>,
    /// `/readyz` answers 503 when a notification has been due this many
    /// seconds without an outbox worker taking it.
    pub ready_outbox_stuck_secs: u64,
    /// The API keys (`[[http.keys]]`).
    #[serde(default)]
    pub keys: Vec<ApiKeyConfig>,
}

/// One API key: who holds it, what it may do, how it is recognised.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiKeyConfig {
    /// Names the key in logs and in `GET /api/v1/me`.
    pub name: String,
    pub role: Role,
    /// `sha256:HEX`: the SHA-256 of the key (what `parley http key`
    /// prints). The key itself is never in the config.
    #[serde(default)]
    pub hash: String,
    /// Or a file holding the key itself (read at start-up, hashed; white
    /// space around it ignored): for keys provisioned as secrets.
    #[serde(default)]
    pub key_file: PathBuf,
    /// This key's requests per minute; unset: `http.rate_limit_per_minute`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit_per_minute: Option<u32>,
    /// This key's burst; unset: `http.rate_limit_burst`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit_burst: Option<u32>,
}

/// What an API key may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// The marketplace backend: acts for any user it names, mints user
    /// tokens.
    Platform,
    /// Reviews what the policy holds; sees every conversation.
    Moderator,
    /// Everything a moderator may, and the settings.
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Platform => "platform",
            Role::Moderator => "moderator",
            Role::Admin => "admin",
        }
    }
}

/// The SHA-256 of an API key, as `[[http.keys]]` stores it.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct KeyHash(pub [u8; 32]);

/// The prefix of a hash in the config: the algorithm, named so that
/// another can follow.
const HASH_PREFIX: &str = "sha256:";
/// The shortest key taken from a `key_file`: as for the token secret, a
/// shorter one is guessable.
const MIN_KEY_BYTES: usize = 16;

impl KeyHash {
    /// The hash of `key` as presented (no trimming: the key is exact).
    pub fn of(key: &str) -> KeyHash {
        KeyHash(Sha256::digest(key.as_bytes()).into())
    }

    /// Reads `sha256:HEX` (64 hex digits, either case).
    pub fn parse(text: &str) -> Option<KeyHash> {
        let hex = text.strip_prefix(HASH_PREFIX)?;
        if hex.len() != 64 {
            return None;
        }
        let mut out = [0u8; 32];
        for (byte, pair) in out.iter_mut().zip(hex.as_bytes().chunks(2)) {
            let pair = std::str::from_utf8(pair).ok()?;
            *byte = u8::from_str_radix(pair, 16).ok()?;
        }
        Some(KeyHash(out))
    }
}

impl std::fmt::Display for KeyHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(HASH_PREFIX)?;
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

impl std::fmt::Debug for KeyHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "KeyHash({self})")
    }
}

impl ApiKeyConfig {
    /// The key's hash: `hash`, or that of the key in `key_file`. `key` is
    /// this key's place in the config (`http.keys[0]`), for the error.
    pub fn key_hash(&self, key: &str) -> Result<KeyHash, ConfigError> {
        match (self.hash.is_empty(), self.key_file.as_os_str().is_empty()) {
            (false, true) => KeyHash::parse(&self.hash).ok_or_else(|| {
                ConfigError::new(
                    format!("{key}.hash"),
                    "must be \"sha256:\" and 64 hex digits (`parley http key` prints one)",
                )
            }),
            (true, false) => {
                let fail = |m: String| {
                    ConfigError::new(
                        format!("{key}.key_file"),
                        format!("{}: {m}", self.key_file.display()),
                    )
                };
                let text =
                    std::fs::read_to_string(&self.key_file).map_err(|e| fail(e.to_string()))?;
                let secret = text.trim();
                if secret.len() < MIN_KEY_BYTES {
                    return Err(fail(format!(
                        "the key is {} bytes; at least {MIN_KEY_BYTES} are needed",
                        secret.len()
                    )));
                }
                if !secret.chars().all(is_token68) {
                    return Err(fail(
                        "the key may hold only A-Z, a-z, 0-9 and -._~+/= (it is sent \
                         in an Authorization header)"
                            .into(),
                    ));
                }
                Ok(KeyHash::of(secret))
            }
            _ => Err(ConfigError::new(
                format!("{key}.hash"),
                "set exactly one of hash and key_file",
            )),
        }
    }
}

impl HttpConfig {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        for (field, list) in [
            ("listen", &self.listen),
            ("monitor_listen", &self.monitor_listen),
        ] {
            for (i, addr) in list.iter().enumerate() {
                if addr.parse::<std::net::SocketAddr>().is_err() {
                    return Err(ConfigError::new(
                        format!("http.{field}[{i}]"),
                        format!(
                            "{addr:?} is not IP:PORT (for example 127.0.0.1:8025 or [::]:8025)"
                        ),
                    ));
                }
            }
        }
        if self.ready_outbox_stuck_secs == 0 {
            return Err(ConfigError::new(
                "http.ready_outbox_stuck_secs",
                "must be at least 1 (seconds)",
            ));
        }
        if self.max_body_bytes < 1024 {
            return Err(ConfigError::new(
                "http.max_body_bytes",
                "must be at least 1024",
            ));
        }
        for (i, origin) in self.cors_origins.iter().enumerate() {
            if !is_origin(origin) {
                return Err(ConfigError::new(
                    format!("http.cors_origins[{i}]"),
                    format!(
                        "{origin:?} is not an origin: scheme, host and optional port, \
                         as https://market.example or http://localhost:3000 (no path, \
                         no trailing slash, no \"*\")"
                    ),
                ));
            }
        }
        check_rate("http", self.rate_limit_per_minute, self.rate_limit_burst)?;
        if self.max_event_streams == 0 {
            return Err(ConfigError::new(
                "http.max_event_streams",
                "must be at least 1 (each stream holds one connection: keep it below the \
                 process's open-file limit)",
            ));
        }
        if !(1..=720).contains(&self.console_session_hours) {
            return Err(ConfigError::new(
                "http.console_session_hours",
                format!("{} is not between 1 and 720", self.console_session_hours),
            ));
        }
        if !(60..=86_400).contains(&self.user_token_secs) {
            return Err(ConfigError::new(
                "http.user_token_secs",
                "must be 60 to 86400 (a user token is short-lived)",
            ));
        }
        self.validate_keys()
    }

    fn validate_keys(&self) -> Result<(), ConfigError> {
        let mut names = std::collections::HashSet::new();
        let mut hashes = std::collections::HashMap::new();
        for (i, k) in self.keys.iter().enumerate() {
            let key = format!("http.keys[{i}]");
            if !is_key_name(&k.name) {
                return Err(ConfigError::new(
                    format!("{key}.name"),
                    format!(
                        "{:?} must be 1-64 characters of a-z, 0-9, '-', '_', '.'",
                        k.name
                    ),
                ));
            }
            if !names.insert(k.name.as_str()) {
                return Err(ConfigError::new(
                    format!("{key}.name"),
                    format!("key {:?} is defined twice", k.name),
                ));
            }
            let hash = k.key_hash(&key)?;
            if let Some(other) = hashes.insert(hash, k.name.as_str()) {
                return Err(ConfigError::new(
                    format!("{key}.hash"),
                    format!("the same key as {other:?}: each holder needs a key of its own"),
                ));
            }
            check_rate(
                &key,
                k.rate_limit_per_minute
                    .unwrap_or(self.rate_limit_per_minute),
                k.rate_limit_burst.unwrap_or(self.rate_limit_burst),
            )?;
        }
        Ok(())
    }
}

impl std::hash::Hash for KeyHash {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.0.hash(state);
    }
}

/// A rate with a limit needs a bucket of at least one request.
fn check_rate(key: &str, per_minute: u32, burst: u32) -> Result<(), ConfigError> {
    if per_minute > 0 && burst == 0 {
        return Err(ConfigError::new(
            format!("{key}.rate_limit_burst"),
            "must be at least 1 while rate_limit_per_minute is not 0",
        ));
    }
    Ok(())
}

/// A character of a bearer credential (RFC 6750 §2.1, RFC 9110 §11.2).
pub fn is_token68(c: char) -> bool {
    c.is_ascii_alphanumeric() || "-._~+/=".contains(c)
}

/// The names of keys follow the names of queues.
pub fn is_key_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-_.".contains(&b))
}

/// `http(s)://host[:port]`, as a browser sends it in `Origin` (RFC 6454
/// §6.1): no path, no user info, lowercase scheme.
fn is_origin(text: &str) -> bool {
    let Some((scheme, rest)) = text.split_once("://") else {
        return false;
    };
    // An IPv6 host is bracketed (RFC 3986 §3.2.2): its colons are not the port's.
    let (host, port) = match rest.strip_prefix('[') {
        Some(v6) => match v6.split_once(']') {
            Some((ip, port)) if ip.parse::<std::net::Ipv6Addr>().is_ok() => ("v6", port),
            _ => return false,
        },
        None => match rest.rsplit_once(':') {
            Some((host, _)) => (host, &rest[host.len()..]),
            None => (rest, ""),
        },
    };
    let port_ok = port.is_empty()
        || port
            .strip_prefix(':')
            .is_some_and(|p| p.parse::<u16>().is_ok_and(|p| p > 0));
    matches!(scheme, "http" | "https")
        && port_ok
        && !host.is_empty()
        && !host.contains(['/', '@', '?', '#', ' ', '*', '[', ']', ':'])
        && axum::http::HeaderValue::from_str(text).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_read_back() {
        let hash = KeyHash::of("pk_example");
        assert_eq!(KeyHash::parse(&hash.to_string()), Some(hash));
        assert_eq!(
            KeyHash::parse(&hash.to_string().to_uppercase().replace("SHA256", "sha256")),
            Some(hash)
        );
        for bad in ["", "sha256:", "md5:00", "sha256:zz", &"sha256:0".repeat(2)] {
            assert_eq!(KeyHash::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn origins() {
        for good in [
            "https://market.example",
            "http://localhost:3000",
            "http://[::1]:8080",
            "http://127.0.0.1",
        ] {
            assert!(is_origin(good), "{good}");
        }
        for bad in [
            "*",
            "market.example",
            "https://market.example/",
            "https://market.example/app",
            "ftp://market.example",
            "https://",
            "https://market.example:0",
            "https://market.example:port",
            "https://u@market.example",
            "http://::1",
            "http://[nope]",
        ] {
            assert!(!is_origin(bad), "{bad}");
        }
    }
}
