//! Layered, typed configuration.
//!
//! Layers, later wins: the documented defaults in `config/parley.toml`
//! (compiled in) ▸ the file named by `--config` or `PARLEY_CONFIG` (else
//! `/etc/parley/parley.toml` when it exists) ▸ environment variables
//! `PARLEY__SECTION__KEY`. Unknown keys are errors; [`Config::validate`]
//! checks addresses and the secret and names the key at fault. The config is
//! loaded once in `main` and passed down; nothing reads it globally.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::address;
use crate::tickets::OnClosedReply;

mod hours;
mod http;
mod keys;
mod notify;
mod relay;
mod retention;
mod webhooks;
pub use hours::{DEFAULT_AFTER_HOURS_MESSAGE, HoursConfig, WorkingHours};
pub use http::{ApiKeyConfig, HttpConfig, KeyHash, Role, is_key_name, is_token68};
pub use notify::{NotifyConfig, fill_url};
pub use relay::{OutboxConfig, RelayConfig, RelayTls};
pub use retention::RetentionConfig;
pub use webhooks::{DEFAULT_EVENTS, WebhookConfig};

/// The compiled-in defaults: also the documentation of every key.
pub const DEFAULTS: &str = include_str!("../config/parley.toml");
/// Read when neither `--config` nor `PARLEY_CONFIG` names a file.
pub const SYSTEM_PATH: &str = "/etc/parley/parley.toml";

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub store: StoreConfig,
    pub token: TokenConfig,
    pub mail: MailConfig,
    pub tickets: TicketsConfig,
    pub intake: IntakeConfig,
    pub smtp: SmtpConfig,
    pub relay: RelayConfig,
    pub outbox: OutboxConfig,
    pub notify: NotifyConfig,
    pub http: HttpConfig,
    /// How long what parley no longer needs is kept (`parley purge`).
    #[serde(default)]
    pub retention: RetentionConfig,
    #[serde(default)]
    pub queues: Vec<QueueConfig>,
    /// Mailboxes the IMAP poller pulls from.
    #[serde(default)]
    pub imap: Vec<ImapConfig>,
    /// Where `parley serve` POSTs events for the marketplace backend.
    #[serde(default)]
    pub webhooks: Vec<WebhookConfig>,
    /// The content policy of `intake.policy_file`, loaded by [`Config::load`].
    #[serde(skip)]
    pub policy: std::sync::Arc<crate::intake::policy::Policy>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreConfig {
    /// `sqlite://PATH` or `postgres://…`.
    pub url: String,
    /// Connections for reads (and, on PostgreSQL, writes).
    pub max_connections: u32,
    /// Seconds to wait for a connection (or SQLite's write lock) before the
    /// store counts as unavailable.
    pub acquire_timeout_secs: u64,
    /// Megabytes of the search index's words kept in memory for people's
    /// searches (SQLite); 0: none.
    pub search_cache_mb: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenConfig {
    /// The HMAC key inline. Prefer `secret_file`.
    pub secret: String,
    /// A file holding the HMAC key (used when `secret` is empty).
    pub secret_file: PathBuf,
    /// Create `secret_file` with a random key when it does not exist.
    pub generate: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MailConfig {
    /// Domain of reply addresses `reply+TOKEN@…` and of our Message-IDs.
    pub reply_domain: String,
    /// Subject tag format; `{number}` is replaced by the ticket number.
    pub subject_tag: String,
    /// Where mail to `postmaster@` a served domain goes: a queue's intake
    /// address (a ticket there); empty: kept in quarantine (`postmaster`).
    #[serde(default)]
    pub postmaster: String,
}

impl Config {
    /// The domains parley serves: the reply domain and those of the
    /// queues' intake addresses, lowercase. `postmaster@` each is taken.
    pub fn served_domains(&self) -> Vec<String> {
        let mut domains = vec![self.mail.reply_domain.to_ascii_lowercase()];
        for queue in &self.queues {
            for intake in &queue.intake {
                if let Some((_, domain)) = intake.rsplit_once('@') {
                    domains.push(domain.to_ascii_lowercase());
                }
            }
        }
        domains.sort();
        domains.dedup();
        domains
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TicketsConfig {
    pub on_closed_reply: OnClosedReply,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IntakeConfig {
    /// Largest message taken, in bytes.
    pub max_message_bytes: usize,
    /// Largest attachment whose content is kept, in bytes.
    pub max_attachment_bytes: usize,
    /// Most attachment content kept per message, in bytes.
    pub max_attachments_bytes: usize,
    /// Most messages committed in one transaction by `parley serve`.
    pub commit_batch: usize,
    /// Group-commit transactions in flight at once.
    pub commit_concurrency: usize,
    /// The content policy's rules file; empty: the built-in rules.
    pub policy_file: PathBuf,
}

/// The SMTP and LMTP listeners of `parley serve`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpConfig {
    /// Addresses (`IP:PORT`) the SMTP listener binds; empty: no SMTP.
    pub listen: Vec<String>,
    /// Addresses the LMTP listener binds; empty: no LMTP.
    pub lmtp_listen: Vec<String>,
    /// The name in the greeting and in `Received:`; empty: the host name.
    pub hostname: String,
    /// PEM certificate chain and private key for STARTTLS; both or neither.
    pub tls_cert: PathBuf,
    pub tls_key: PathBuf,
    pub max_connections: usize,
    pub max_connections_per_ip: usize,
    pub max_recipients: usize,
    pub max_line_length: usize,
    pub max_bad_commands: u32,
    pub command_timeout_secs: u64,
    pub data_timeout_secs: u64,
    pub greeting_delay_ms: u64,
    pub shutdown_grace_secs: u64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueueConfig {
    pub name: String,
    #[serde(default)]
    pub display_name: String,
    #[serde(default)]
    pub intake: Vec<String>,
    #[serde(default)]
    pub staff: Vec<String>,
    /// The acknowledgement's text: when set, a client's message that opens
    /// a ticket in this queue is answered with an `ack` notification that
    /// shows it. Empty: no acknowledgement.
    #[serde(default)]
    pub greeting: String,
    /// When the queue works; outside these hours a client's message is
    /// answered with an `after_hours` notification. `None`: always open.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hours: Option<HoursConfig>,
    /// Who manages which auction or listing (`[queues.managers]`): an
    /// auction's ref, or a listing's, → a staff address of this queue. A
    /// conversation started over HTTP about it is assigned to that
    /// manager, who alone is notified. Looked up by the auction's ref
    /// first, then the listing's.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub managers: std::collections::BTreeMap<String, String>,
    /// Minutes the seller side has to answer a client: a ticket waiting
    /// longer is overdue (marked in the console, one reminder mail to its
    /// assignee or seller side). 0: no target.
    #[serde(default = "default_response_target_mins")]
    pub response_target_mins: u64,
}

fn default_response_target_mins() -> u64 {
    24 * 60
}

impl QueueConfig {
    /// The name shown to people: its display name, else its name.
    pub fn shown_name(&self) -> &str {
        match self.display_name.is_empty() {
            true => &self.name,
            false => &self.display_name,
        }
    }

    /// Whether `address` (normalized) is one of its staff addresses.
    pub fn has_staff(&self, address: &str) -> bool {
        self.staff
            .iter()
            .any(|s| crate::address::normalize(s) == address)
    }

    /// The manager mapped to the auction `auction_ref` or, failing that,
    /// to the listing `item_ref`.
    pub fn manager_of(&self, auction_ref: Option<&str>, item_ref: Option<&str>) -> Option<&str> {
        [auction_ref, item_ref]
            .into_iter()
            .flatten()
            .find_map(|r| self.managers.get(r))
            .map(String::as_str)
    }

    /// Its response target in ms (0: none).
    pub fn response_target_ms(&self) -> i64 {
        i64::try_from(self.response_target_mins.saturating_mul(60_000)).unwrap_or(i64::MAX)
    }

    /// What its after-hours reply (and offline answer) tells the client:
    /// `hours.after_hours_message`, or the default sentence.
    pub fn after_hours_message(&self) -> &str {
        self.hours
            .as_ref()
            .map_or(DEFAULT_AFTER_HOURS_MESSAGE, |h| &h.after_hours_message)
    }

    /// The queue's working hours compiled; `key` is this queue's place in
    /// the config (`queues[0]`), for the error.
    pub fn working_hours(&self, key: &str) -> Result<Option<WorkingHours>, ConfigError> {
        self.hours
            .as_ref()
            .map(|h| h.working_hours(&format!("{key}.hours")))
            .transpose()
    }
}

/// One mailbox of the IMAP poller (`[[imap]]`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImapConfig {
    pub host: String,
    /// How the connection is secured; `none` only on loopback.
    #[serde(default)]
    pub tls: ImapTls,
    /// The port; unset: the mode's (993 for `tls`, 143 otherwise). See
    /// [`ImapConfig::port`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// A PEM file of trust anchors added to the system's (a private CA);
    /// empty: the system's only.
    #[serde(default)]
    pub tls_ca_file: PathBuf,
    pub username: String,
    /// The password inline, or (better) `password_file`.
    #[serde(default)]
    pub password: String,
    #[serde(default)]
    pub password_file: PathBuf,
    #[serde(default = "default_imap_folder")]
    pub folder: String,
    /// The queue new conversations from this mailbox open tickets in;
    /// empty: by recipient (intake addresses), as for SMTP.
    #[serde(default)]
    pub queue: String,
    /// What happens to a message once committed.
    #[serde(default)]
    pub after: ImapAfter,
    /// The folder `after = "move"` moves to (created when missing).
    #[serde(default = "default_imap_move_to")]
    pub move_to: String,
    /// Where messages that cannot be taken go (created when missing).
    #[serde(default = "default_imap_quarantine")]
    pub quarantine_folder: String,
    /// UIDs fetched per round trip.
    #[serde(default = "default_imap_batch")]
    pub batch: usize,
    /// Seconds between passes.
    #[serde(default = "default_imap_interval")]
    pub poll_interval_secs: u64,
    /// The longest one IMAP command may take (a fetch of a batch's bodies
    /// included); then the connection is dropped and made again. A message
    /// whose fetch keeps timing out is fetched alone, and after three
    /// timeouts its header is kept in quarantine.
    #[serde(default = "default_imap_timeout")]
    pub timeout_secs: u64,
}

/// What the poller does with a committed message.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ImapAfter {
    /// Flag it \Seen.
    #[default]
    Seen,
    /// Move it to `move_to`.
    Move,
    /// Delete and expunge it.
    Delete,
}

/// How the poller secures its connection to a mailbox's server.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ImapTls {
    /// TLS from the first byte (IMAPS, port 993).
    #[default]
    Tls,
    /// Plain connection upgraded with STARTTLS before login (port 143).
    Starttls,
    /// No TLS at all: only for a loopback host.
    #[serde(rename = "none")]
    Plain,
}

impl ImapTls {
    /// The IANA port of the mode.
    pub fn default_port(self) -> u16 {
        match self {
            ImapTls::Tls => 993,
            ImapTls::Starttls | ImapTls::Plain => 143,
        }
    }
}

fn default_imap_folder() -> String {
    "INBOX".into()
}
fn default_imap_move_to() -> String {
    "parley-done".into()
}
fn default_imap_quarantine() -> String {
    "parley-quarantine".into()
}
fn default_imap_batch() -> usize {
    50
}
fn default_imap_interval() -> u64 {
    60
}

fn default_imap_timeout() -> u64 {
    120
}

impl ImapConfig {
    /// The longest one IMAP command may take.
    pub fn timeout(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.timeout_secs.max(1))
    }

    /// The port connected to: `port`, else the default of the `tls` mode.
    pub fn port(&self) -> u16 {
        self.port.unwrap_or_else(|| self.tls.default_port())
    }

    /// The mailbox's name in logs and the key of its cursor (with the port
    /// connected to, set or defaulted).
    pub fn key(&self) -> String {
        format!(
            "{}@{}:{}/{}",
            self.username,
            self.host,
            self.port(),
            self.folder
        )
    }

    /// Whether `host` is a loopback address: 127.0.0.0/8, ::1 (also
    /// IPv4-mapped) or `localhost`.
    pub fn host_is_loopback(&self) -> bool {
        is_loopback(&self.host)
    }

    /// The certificates of `tls_ca_file` (none when it is empty). Errors
    /// (unreadable, not PEM, no certificate, not usable as a trust anchor)
    /// name `imap.tls_ca_file`.
    pub fn ca_certificates(
        &self,
    ) -> Result<Vec<tokio_rustls::rustls::pki_types::CertificateDer<'static>>, ConfigError> {
        ca_certificates(&self.tls_ca_file, "imap.tls_ca_file")
    }
}

/// The certificates of the PEM file `path` (none when it is empty), each
/// checked to be usable as a trust anchor. Errors name `key`.
pub fn ca_certificates(
    path: &Path,
    key: &str,
) -> Result<Vec<tokio_rustls::rustls::pki_types::CertificateDer<'static>>, ConfigError> {
    use tokio_rustls::rustls::RootCertStore;
    use tokio_rustls::rustls::pki_types::CertificateDer;
    use tokio_rustls::rustls::pki_types::pem::PemObject;

    if path.as_os_str().is_empty() {
        return Ok(Vec::new());
    }
    let fail = |message: String| ConfigError::new(key, format!("{}: {message}", path.display()));
    let pem = std::fs::read(path).map_err(|e| fail(e.to_string()))?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| fail(e.to_string()))?;
    if certs.is_empty() {
        return Err(fail("no PEM certificate in it".into()));
    }
    let mut roots = RootCertStore::empty();
    for (n, cert) in certs.iter().enumerate() {
        roots.add(cert.clone()).map_err(|e| {
            fail(format!(
                "certificate {} is not usable as a trust anchor: {e}",
                n + 1
            ))
        })?;
    }
    Ok(certs)
}

impl ImapConfig {
    /// The password, inline or from `password_file` (surrounding white
    /// space ignored).
    pub fn password(&self) -> Result<String, ConfigError> {
        if !self.password.is_empty() {
            return Ok(self.password.clone());
        }
        std::fs::read_to_string(&self.password_file)
            .map(|p| p.trim().to_string())
            .map_err(|e| {
                ConfigError::new(
                    "imap.password_file",
                    format!("{}: {e}", self.password_file.display()),
                )
            })
    }
}

/// Whether `host` is a loopback address: 127.0.0.0/8, ::1 (also
/// IPv4-mapped) or `localhost`.
pub fn is_loopback(host: &str) -> bool {
    let host = host.trim().trim_end_matches('.');
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.to_canonical().is_loopback())
}

/// A configuration problem, naming the key at fault and, when the value
/// came from an environment variable, that variable.
#[derive(Debug)]
pub struct ConfigError {
    pub key: String,
    pub message: String,
    /// The variable that set `key` (as written in the environment), if one
    /// did: the environment is the top layer, so its value is the one at
    /// fault.
    pub variable: Option<String>,
}

impl ConfigError {
    pub fn new(key: impl Into<String>, message: impl Into<String>) -> Self {
        let key = key.into();
        ConfigError {
            variable: variable_of(&key),
            key,
            message: message.into(),
        }
    }
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.variable {
            Some(variable) => write!(f, "{variable} ({}): {}", self.key, self.message),
            None => write!(f, "{}: {}", self.key, self.message),
        }
    }
}

impl std::error::Error for ConfigError {}

/// Every `PARLEY__…` variable names a key: a misspelt one is an error
/// naming it (the `config` crate would name only the table it falls in).
fn check_variables() -> Result<(), ConfigError> {
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy().to_lowercase();
        if let Some(key) = name.strip_prefix("parley__") {
            let key = key.replace("__", ".");
            if !keys::exists::<Config>(&key) {
                return Err(ConfigError::new(key, "no such key"));
            }
        }
    }
    Ok(())
}

/// The environment variable that sets `key`, or the list `key` is an item
/// of (`smtp.listen[1]`: `PARLEY__SMTP__LISTEN`), if one is set. Names
/// match as [`Config::load`] reads them: `PARLEY__` and the key's sections
/// joined by `__`, in any case.
fn variable_of(key: &str) -> Option<String> {
    let mut path = key;
    while let Some((list, _)) = path.strip_suffix(']').and_then(|p| p.rsplit_once('[')) {
        path = list;
    }
    let wanted = format!("parley__{}", path.replace('.', "__")).to_lowercase();
    std::env::vars_os()
        .map(|(name, _)| name.to_string_lossy().into_owned())
        .find(|name| name.to_lowercase() == wanted)
}

/// Which file, if any, is layered over the defaults.
pub fn config_path(explicit: Option<&Path>) -> Option<PathBuf> {
    if let Some(path) = explicit {
        return Some(path.to_path_buf());
    }
    if let Some(path) = std::env::var_os("PARLEY_CONFIG").filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(path));
    }
    Path::new(SYSTEM_PATH)
        .exists()
        .then(|| PathBuf::from(SYSTEM_PATH))
}

impl Config {
    /// Loads the layers and validates the result.
    pub fn load(explicit: Option<&Path>) -> Result<Config, ConfigError> {
        check_variables()?;
        let mut builder = config::Config::builder()
            .add_source(config::File::from_str(DEFAULTS, config::FileFormat::Toml));
        if let Some(path) = config_path(explicit) {
            if !path.is_file() {
                return Err(ConfigError::new(
                    "--config",
                    format!("{} is not a readable file", path.display()),
                ));
            }
            builder = builder.add_source(
                config::File::from(path.as_path())
                    .format(config::FileFormat::Toml)
                    .required(true),
            );
        }
        builder = builder.add_source(
            config::Environment::with_prefix("PARLEY")
                .prefix_separator("__")
                .separator("__")
                .try_parsing(true)
                // Lists from the environment: comma-separated.
                .list_separator(",")
                .with_list_parse_key("smtp.listen")
                .with_list_parse_key("smtp.lmtp_listen")
                .with_list_parse_key("http.listen")
                .with_list_parse_key("http.monitor_listen")
                .with_list_parse_key("http.cors_origins"),
        );
        let merged = builder
            .build()
            .map_err(|e| ConfigError::new("config", e.to_string()))?;
        let mut config: Config = merged
            .clone()
            .try_deserialize()
            .map_err(|e| from_config_error(e, &merged))?;
        config.validate()?;
        let policy = crate::intake::policy::Policy::load(&config.intake.policy_file)
            .map_err(|e| ConfigError::new(e.key, e.message))?;
        config.policy = std::sync::Arc::new(policy);
        Ok(config)
    }

    /// Checks what serde cannot: addresses, names, the secret, the URL.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let url = &self.store.url;
        if !(url.starts_with("sqlite:")
            || url.starts_with("postgres://")
            || url.starts_with("postgresql://"))
        {
            return Err(ConfigError::new(
                "store.url",
                format!("{url:?} is neither sqlite://… nor postgres://…"),
            ));
        }
        if self.store.max_connections == 0 {
            return Err(ConfigError::new(
                "store.max_connections",
                "must be at least 1",
            ));
        }
        if !address::is_domain(&self.mail.reply_domain) {
            return Err(ConfigError::new(
                "mail.reply_domain",
                format!("{:?} is not a domain name", self.mail.reply_domain),
            ));
        }
        let postmaster = address::normalize(&self.mail.postmaster);
        if !postmaster.is_empty()
            && !self
                .queues
                .iter()
                .flat_map(|q| &q.intake)
                .any(|a| address::normalize(a) == postmaster)
        {
            return Err(ConfigError::new(
                "mail.postmaster",
                format!(
                    "{:?} is not the intake address of any [[queues]] entry: name one \
                     (mail to postmaster@ then opens a ticket there), or leave it empty \
                     (it is kept in quarantine)",
                    self.mail.postmaster
                ),
            ));
        }
        if self.mail.subject_tag.matches("{number}").count() != 1 {
            return Err(ConfigError::new(
                "mail.subject_tag",
                "must contain {number} exactly once",
            ));
        }
        if self.intake.max_attachments_bytes < self.intake.max_attachment_bytes {
            return Err(ConfigError::new(
                "intake.max_attachments_bytes",
                "must be at least intake.max_attachment_bytes",
            ));
        }
        if self.intake.max_message_bytes < 1024 {
            return Err(ConfigError::new(
                "intake.max_message_bytes",
                "must be at least 1024",
            ));
        }
        self.validate_smtp()?;
        self.validate_imap()?;
        self.relay.validate()?;
        self.outbox.validate()?;
        self.notify.validate()?;
        self.http.validate()?;
        self.retention.validate()?;
        // A batch takes at most ceil(batch / concurrency) sends in a row,
        // each at most relay.timeout_secs, and is claimed while the batch
        // before it is sent: two batches' time. A lease that ran out
        // before would let another worker claim and send the same rows
        // again.
        let rounds = self.outbox.batch.div_ceil(self.outbox.concurrency.max(1)) as u64;
        let longest = rounds
            .saturating_mul(self.relay.timeout_secs)
            .saturating_mul(2);
        if self.outbox.lease_secs <= longest {
            return Err(ConfigError::new(
                "outbox.lease_secs",
                format!(
                    "must be longer than two batches can take (one is claimed while \
                     the one before is sent): 2 × {rounds} sends in a row \
                     (outbox.batch / outbox.concurrency) of relay.timeout_secs each, \
                     {longest} s"
                ),
            ));
        }
        if self.intake.commit_batch == 0 {
            return Err(ConfigError::new(
                "intake.commit_batch",
                "must be at least 1",
            ));
        }
        if self.intake.commit_concurrency == 0 {
            return Err(ConfigError::new(
                "intake.commit_concurrency",
                "must be at least 1",
            ));
        }
        self.validate_secret_source()?;
        webhooks::validate(&self.webhooks)?;
        let mut names = std::collections::HashSet::new();
        let mut intake = std::collections::HashMap::new();
        for (i, queue) in self.queues.iter().enumerate() {
            let key = format!("queues[{i}]");
            if !is_queue_name(&queue.name) {
                return Err(ConfigError::new(
                    format!("{key}.name"),
                    format!(
                        "{:?} must be 1-64 characters of a-z, 0-9, '-', '_', '.'",
                        queue.name
                    ),
                ));
            }
            if !names.insert(queue.name.as_str()) {
                return Err(ConfigError::new(
                    format!("{key}.name"),
                    format!("queue {:?} is defined twice", queue.name),
                ));
            }
            for (field, list) in [("intake", &queue.intake), ("staff", &queue.staff)] {
                for (j, addr) in list.iter().enumerate() {
                    if !address::is_address(addr) {
                        return Err(ConfigError::new(
                            format!("{key}.{field}[{j}]"),
                            format!("{addr:?} is not an email address"),
                        ));
                    }
                }
            }
            for (j, addr) in queue.intake.iter().enumerate() {
                if let Some(other) = intake.insert(address::normalize(addr), &queue.name) {
                    return Err(ConfigError::new(
                        format!("{key}.intake[{j}]"),
                        format!("{addr:?} is already an intake address of queue {other:?}"),
                    ));
                }
            }
            let staff: Vec<String> = queue.staff.iter().map(|a| address::normalize(a)).collect();
            for (reference, manager) in &queue.managers {
                if !staff.contains(&address::normalize(manager)) {
                    return Err(ConfigError::new(
                        format!("{key}.managers.{reference}"),
                        format!(
                            "{manager:?} is not a staff address of queue {:?}",
                            queue.name
                        ),
                    ));
                }
            }
            queue.working_hours(&key)?;
        }
        Ok(())
    }

    fn validate_imap(&self) -> Result<(), ConfigError> {
        let mut keys = std::collections::HashSet::new();
        for (i, m) in self.imap.iter().enumerate() {
            let key = |field: &str| format!("imap[{i}].{field}");
            if m.host.trim().is_empty() {
                return Err(ConfigError::new(key("host"), "missing"));
            }
            match m.tls {
                ImapTls::Plain if !m.host_is_loopback() => {
                    return Err(ConfigError::new(
                        key("tls"),
                        format!(
                            "\"none\" (no TLS) is only allowed for a loopback host \
                             (127.0.0.0/8, ::1, localhost), not {:?}: use \"tls\" or \"starttls\"",
                            m.host
                        ),
                    ));
                }
                ImapTls::Plain => {}
                ImapTls::Tls | ImapTls::Starttls => {
                    let name = tokio_rustls::rustls::pki_types::ServerName::try_from(m.host.trim());
                    if name.is_err() {
                        return Err(ConfigError::new(
                            key("host"),
                            format!("{:?} is neither a host name nor an IP address", m.host),
                        ));
                    }
                }
            }
            if m.port == Some(0) {
                return Err(ConfigError::new(key("port"), "must be 1 to 65535"));
            }
            m.ca_certificates()
                .map_err(|e| ConfigError::new(key("tls_ca_file"), e.message))?;
            if m.username.is_empty() {
                return Err(ConfigError::new(key("username"), "missing"));
            }
            if m.password.is_empty() && m.password_file.as_os_str().is_empty() {
                return Err(ConfigError::new(
                    key("password"),
                    "missing: set password or password_file",
                ));
            }
            for (field, folder) in [
                ("folder", &m.folder),
                ("move_to", &m.move_to),
                ("quarantine_folder", &m.quarantine_folder),
            ] {
                if folder.trim().is_empty() || folder.contains(['\r', '\n', '"']) {
                    return Err(ConfigError::new(key(field), "not a folder name"));
                }
            }
            if m.batch == 0 {
                return Err(ConfigError::new(key("batch"), "must be at least 1"));
            }
            if m.timeout_secs == 0 {
                return Err(ConfigError::new(key("timeout_secs"), "must be at least 1"));
            }
            if !m.queue.is_empty() && !self.queues.iter().any(|q| q.name == m.queue) {
                return Err(ConfigError::new(
                    key("queue"),
                    format!("no queue is named {:?}", m.queue),
                ));
            }
            if !keys.insert(m.key()) {
                return Err(ConfigError::new(
                    key("folder"),
                    "this mailbox is listed twice",
                ));
            }
        }
        Ok(())
    }

    fn validate_smtp(&self) -> Result<(), ConfigError> {
        let smtp = &self.smtp;
        for (field, list) in [("listen", &smtp.listen), ("lmtp_listen", &smtp.lmtp_listen)] {
            for (i, addr) in list.iter().enumerate() {
                if addr.parse::<std::net::SocketAddr>().is_err() {
                    return Err(ConfigError::new(
                        format!("smtp.{field}[{i}]"),
                        format!("{addr:?} is not IP:PORT (for example 127.0.0.1:2525 or [::]:25)"),
                    ));
                }
            }
        }
        if !smtp.hostname.is_empty() && !address::is_domain(&smtp.hostname) {
            return Err(ConfigError::new(
                "smtp.hostname",
                format!("{:?} is not a host name", smtp.hostname),
            ));
        }
        if smtp.tls_cert.as_os_str().is_empty() != smtp.tls_key.as_os_str().is_empty() {
            return Err(ConfigError::new(
                "smtp.tls_cert",
                "tls_cert and tls_key go together: set both or neither",
            ));
        }
        for (key, value, min) in [
            ("max_connections", smtp.max_connections, 1),
            ("max_connections_per_ip", smtp.max_connections_per_ip, 1),
            ("max_recipients", smtp.max_recipients, 1),
            ("max_line_length", smtp.max_line_length, 512),
            ("max_bad_commands", smtp.max_bad_commands as usize, 1),
            (
                "command_timeout_secs",
                smtp.command_timeout_secs as usize,
                1,
            ),
            ("data_timeout_secs", smtp.data_timeout_secs as usize, 1),
        ] {
            if value < min {
                return Err(ConfigError::new(
                    format!("smtp.{key}"),
                    format!("must be at least {min}"),
                ));
            }
        }
        Ok(())
    }

    fn validate_secret_source(&self) -> Result<(), ConfigError> {
        let token = &self.token;
        if !token.secret.is_empty() {
            return check_secret_length("token.secret", token.secret.len());
        }
        if token.secret_file.as_os_str().is_empty() {
            return Err(ConfigError::new(
                "token.secret",
                "missing: set token.secret or token.secret_file",
            ));
        }
        match std::fs::read(&token.secret_file) {
            Ok(bytes) => check_secret_length("token.secret_file", trim_key(&bytes).len()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && token.generate => Ok(()),
            Err(e) => Err(ConfigError::new(
                "token.secret_file",
                format!("cannot read {}: {e}", token.secret_file.display()),
            )),
        }
    }

    /// The HMAC key, creating `secret_file` when allowed and missing (what
    /// `parley serve` and `parley migrate` do; see [`crate::setup`]).
    pub fn load_secret(&self) -> Result<Vec<u8>, ConfigError> {
        if let Some(secret) = self.read_secret()? {
            return Ok(secret);
        }
        let path = &self.token.secret_file;
        if !self.token.generate {
            return Err(self.secret_file_error(std::io::ErrorKind::NotFound.into()));
        }
        generate_secret(path).map_err(|e| self.secret_file_error(e))?;
        self.read_secret()?
            .ok_or_else(|| self.secret_file_error(std::io::ErrorKind::NotFound.into()))
    }

    /// The HMAC key as it is: inline, or read from `secret_file`; `None`
    /// when that file does not exist.
    pub fn read_secret(&self) -> Result<Option<Vec<u8>>, ConfigError> {
        let token = &self.token;
        if !token.secret.is_empty() {
            return Ok(Some(token.secret.as_bytes().to_vec()));
        }
        match std::fs::read(&token.secret_file) {
            Ok(bytes) => {
                let secret = trim_key(&bytes).to_vec();
                check_secret_length("token.secret_file", secret.len())?;
                Ok(Some(secret))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(self.secret_file_error(e)),
        }
    }

    fn secret_file_error(&self, e: std::io::Error) -> ConfigError {
        let path = &self.token.secret_file;
        ConfigError::new("token.secret_file", format!("{}: {e}", path.display()))
    }

    /// The config as `parley check` prints it: secrets replaced.
    pub fn redacted(&self) -> Config {
        let mut copy = self.clone();
        if !copy.token.secret.is_empty() {
            copy.token.secret = "<redacted>".into();
        }
        copy.store.url = redact_url_password(&copy.store.url);
        for mailbox in &mut copy.imap {
            if !mailbox.password.is_empty() {
                mailbox.password = "<redacted>".into();
            }
        }
        for hook in &mut copy.webhooks {
            if !hook.secret.is_empty() {
                hook.secret = "<redacted>".into();
            }
        }
        copy
    }
}

/// The `config` crate's error about the merged layers, as parley words
/// it: the key (`imap[0].tls`, where the crate writes `imap[0]tls`), and
/// for an enum the values it takes (the crate names the Rust type).
fn from_config_error(e: config::ConfigError, merged: &config::Config) -> ConfigError {
    use config::ConfigError as E;
    let (key, message) = match &e {
        E::Type {
            key: Some(key),
            unexpected,
            expected,
            ..
        } => (
            key,
            format!("invalid type: {unexpected}, expected {expected}"),
        ),
        E::At {
            key: Some(key),
            error,
            ..
        } => (key, error.to_string()),
        E::NotFound(key) => (key, "missing".to_string()),
        _ => return ConfigError::new("config", e.to_string()),
    };
    let key = dotted(key);
    let message = match keys::choices::<Config>(&key) {
        Some(names) => {
            let value = merged
                .get_string(&key)
                .map(|v| format!("{v:?} is not valid: "))
                .unwrap_or_default();
            format!("{value}expected one of: {}", names.join(", "))
        }
        None => message,
    };
    ConfigError::new(key, message)
}

/// `key` with a dot between an index and the field after it.
fn dotted(key: &str) -> String {
    let mut out = String::with_capacity(key.len() + 2);
    let mut chars = key.chars().peekable();
    while let Some(c) = chars.next() {
        out.push(c);
        if c == ']' && chars.peek().is_some_and(|n| *n != '.' && *n != '[') {
            out.push('.');
        }
    }
    out
}

fn is_queue_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-_.".contains(&b))
}

/// 16 bytes is the floor: a shorter HMAC key is guessable.
fn check_secret_length(key: &str, len: usize) -> Result<(), ConfigError> {
    if len < 16 {
        return Err(ConfigError::new(
            key,
            format!("the secret is {len} bytes; at least 16 are needed"),
        ));
    }
    Ok(())
}

/// A key file may end with a newline (editors add one); it is not part of it.
fn trim_key(bytes: &[u8]) -> &[u8] {
    let end = bytes
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(0, |i| i + 1);
    &bytes[..end]
}

/// Creates `path` holding 32 random bytes, hex-encoded, readable by the
/// owner only, unless it exists. Processes starting together may all get
/// here: each writes a file of its own beside `path` and links it to
/// `path`, which never replaces a file there, so the first link wins, no
/// one reads a half-written key, and every process then reads the winner.
fn generate_secret(path: &Path) -> std::io::Result<()> {
    use std::io::{Read, Write};
    use std::os::unix::fs::OpenOptionsExt;
    use std::sync::atomic::{AtomicU64, Ordering};

    static TEMP: AtomicU64 = AtomicU64::new(0);
    let mut random = [0u8; 32];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut random)?;
    let hex: String = random.iter().map(|b| format!("{b:02x}")).collect();
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
    if let Some(dir) = dir {
        std::fs::create_dir_all(dir)?;
    }
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let temp = path.with_file_name(format!(
        ".{name}.{}.{}.tmp",
        std::process::id(),
        TEMP.fetch_add(1, Ordering::Relaxed)
    ));
    // The name is this process's and this call's own: a file left there
    // by a crash of an earlier process with the same id is overwritten.
    let linked = (|| {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&temp)?;
        file.write_all(hex.as_bytes())?;
        file.sync_all()?;
        match std::fs::hard_link(&temp, path) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
            Err(e) => Err(e),
        }
    })();
    let _ = std::fs::remove_file(&temp);
    if linked? {
        // The link is durable once its directory is.
        std::fs::File::open(dir.unwrap_or(Path::new(".")))?.sync_all()?;
        tracing::info!(path = %path.display(), "created a new token secret");
    }
    Ok(())
}

/// `path` from the root, as the process resolves it (a relative path
/// counts from the working directory), for messages.
pub fn absolute(path: &Path) -> String {
    std::path::absolute(path)
        .unwrap_or_else(|_| path.to_path_buf())
        .display()
        .to_string()
}

pub(crate) fn redact_url_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let Some((userinfo, host)) = rest.split_once('@') else {
        return url.to_string();
    };
    match userinfo.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:<redacted>@{host}"),
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn defaults() -> Config {
        let built = config::Config::builder()
            .add_source(config::File::from_str(DEFAULTS, config::FileFormat::Toml))
            .build()
            .unwrap();
        built.try_deserialize().unwrap()
    }

    #[test]
    fn defaults_are_valid() {
        defaults().validate().unwrap();
    }

    #[test]
    fn bad_values_name_their_key() {
        let mut c = defaults();
        c.queues[0].intake.push("not an address".into());
        let e = c.validate().unwrap_err();
        assert_eq!(e.key, "queues[0].intake[1]", "{e}");

        // A manager must be a staff address of its queue.
        let mut c = defaults();
        let staff = c.queues[0].staff[0].to_uppercase();
        c.queues[0].managers.insert("A-1".into(), staff);
        c.validate().unwrap();
        assert_eq!(
            c.queues[0].manager_of(Some("A-1"), Some("L-9")),
            Some(c.queues[0].managers["A-1"].as_str())
        );
        assert_eq!(c.queues[0].manager_of(None, Some("L-9")), None);
        c.queues[0]
            .managers
            .insert("L-9".into(), "boss@elsewhere.example".into());
        let e = c.validate().unwrap_err();
        assert_eq!(e.key, "queues[0].managers.L-9", "{e}");

        let mut c = defaults();
        c.token.secret = "short".into();
        assert_eq!(c.validate().unwrap_err().key, "token.secret");

        let mut c = defaults();
        c.token.secret_file = PathBuf::new();
        assert_eq!(c.validate().unwrap_err().key, "token.secret");

        let mut c = defaults();
        c.mail.reply_domain = "bad domain".into();
        assert_eq!(c.validate().unwrap_err().key, "mail.reply_domain");

        let mut c = defaults();
        c.store.url = "mysql://x".into();
        assert_eq!(c.validate().unwrap_err().key, "store.url");

        let mut c = defaults();
        c.smtp.listen.push("localhost:25".into());
        assert_eq!(c.validate().unwrap_err().key, "smtp.listen[1]");

        let mut c = defaults();
        c.smtp.tls_cert = "cert.pem".into();
        assert_eq!(c.validate().unwrap_err().key, "smtp.tls_cert");

        let mut c = defaults();
        c.smtp.max_line_length = 100;
        assert_eq!(c.validate().unwrap_err().key, "smtp.max_line_length");

        let mut c = defaults();
        c.intake.commit_batch = 0;
        assert_eq!(c.validate().unwrap_err().key, "intake.commit_batch");
        let mut c = defaults();
        c.intake.commit_concurrency = 0;
        assert_eq!(c.validate().unwrap_err().key, "intake.commit_concurrency");
    }

    #[test]
    fn relay_and_outbox_values_name_their_key() {
        let mut c = defaults();
        c.relay.host = "smtp.example.com".into();
        assert_eq!(c.validate().unwrap_err().key, "relay.tls");
        c.relay.tls = RelayTls::Starttls;
        c.validate().unwrap();
        assert_eq!(c.relay.port(), 25);
        c.relay.tls = RelayTls::Tls;
        assert_eq!(c.relay.port(), 465);

        let mut c = defaults();
        c.relay.host = "::1".into();
        c.validate().unwrap();
        c.relay.from = "not an address".into();
        assert_eq!(c.validate().unwrap_err().key, "relay.from");

        let mut c = defaults();
        c.relay.username = "parley".into();
        assert_eq!(c.validate().unwrap_err().key, "relay.password_file");

        let mut c = defaults();
        c.outbox.batch = 0;
        assert_eq!(c.validate().unwrap_err().key, "outbox.batch");

        let mut c = defaults();
        c.outbox.max_retry_secs = c.outbox.first_retry_secs - 1;
        assert_eq!(c.validate().unwrap_err().key, "outbox.max_retry_secs");

        // 32 rows, 8 at once: 4 sends in a row of 60 s at most, twice.
        let mut c = defaults();
        c.outbox.lease_secs = 480;
        assert_eq!(c.validate().unwrap_err().key, "outbox.lease_secs");
        c.outbox.lease_secs = 481;
        c.validate().unwrap();

        let c = defaults();
        assert_eq!(
            c.relay.from_address(&c.mail.reply_domain),
            format!("noreply@{}", c.mail.reply_domain)
        );
    }

    #[test]
    fn http_values_name_their_key() {
        let key = |name: &str, hash: &str| ApiKeyConfig {
            name: name.into(),
            role: Role::Platform,
            hash: hash.into(),
            key_file: PathBuf::new(),
            rate_limit_per_minute: None,
            rate_limit_burst: None,
        };
        let shop = KeyHash::of("pk_shop_0123456789abcdef").to_string();
        type Change = fn(&mut Config, &str);
        let cases: [(Change, &str); 12] = [
            (
                |c, _| c.http.listen.push("localhost:80".into()),
                "http.listen[1]",
            ),
            (|c, _| c.http.max_body_bytes = 10, "http.max_body_bytes"),
            (
                |c, _| c.http.cors_origins = vec!["https://shop.example/".into()],
                "http.cors_origins[0]",
            ),
            (|c, _| c.http.rate_limit_burst = 0, "http.rate_limit_burst"),
            (
                |c, _| c.http.user_token_secs = 7 * 86_400,
                "http.user_token_secs",
            ),
            (
                |c, _| c.http.max_event_streams = 0,
                "http.max_event_streams",
            ),
            (
                |c, _| c.http.keys[0].name = "Shop".into(),
                "http.keys[0].name",
            ),
            (
                |c, _| c.http.keys[0].hash = "sha256:1234".into(),
                "http.keys[0].hash",
            ),
            (
                |c, _| c.http.keys[0].key_file = "shop.key".into(),
                "http.keys[0].hash",
            ),
            (
                |c, _| {
                    c.http.keys[0].hash.clear();
                    c.http.keys[0].key_file = "/nonexistent/shop.key".into();
                },
                "http.keys[0].key_file",
            ),
            (
                |c, h| {
                    c.http.keys.push(c.http.keys[0].clone());
                    c.http.keys[1].hash = h.into();
                },
                "http.keys[1].name",
            ),
            (
                |c, _| {
                    c.http.keys[0].rate_limit_per_minute = Some(10);
                    c.http.keys[0].rate_limit_burst = Some(0);
                },
                "http.keys[0].rate_limit_burst",
            ),
        ];
        for (change, expected) in cases {
            let mut c = defaults();
            c.http.keys.push(key("shop", &shop));
            c.validate().unwrap();
            change(&mut c, &shop);
            let e = c.validate().unwrap_err();
            assert_eq!(e.key, expected, "{e}");
        }
        // The same key under two names.
        let mut c = defaults();
        c.http.keys = vec![key("shop", &shop), key("other", &shop)];
        assert_eq!(c.validate().unwrap_err().key, "http.keys[1].hash");
        // A key file: its key, hashed.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("shop.key");
        std::fs::write(&path, "pk_shop_0123456789abcdef\n").unwrap();
        let mut c = defaults();
        c.http.keys = vec![ApiKeyConfig {
            hash: String::new(),
            key_file: path.clone(),
            ..key("shop", "")
        }];
        c.validate().unwrap();
        assert_eq!(c.http.keys[0].key_hash("k").unwrap().to_string(), shop);
        std::fs::write(&path, "short").unwrap();
        assert_eq!(c.validate().unwrap_err().key, "http.keys[0].key_file");
        std::fs::write(&path, "a key with spaces in it").unwrap();
        assert_eq!(c.validate().unwrap_err().key, "http.keys[0].key_file");
    }

    #[test]
    fn without_a_relay_notifications_go_to_the_maildir() {
        let c = defaults();
        assert_eq!(c.relay.local_maildir(), Some(Path::new("data/maildir")));
        let mut c = defaults();
        c.relay.host = "127.0.0.1".into();
        assert_eq!(c.relay.local_maildir(), None);
        c.relay.maildir = PathBuf::new();
        c.validate().unwrap();

        let mut c = defaults();
        c.relay.maildir = PathBuf::new();
        assert_eq!(c.validate().unwrap_err().key, "relay.maildir");
        // Settings for a relay without one are not ignored in silence.
        for set in [
            (|c: &mut Config| c.relay.port = Some(587)) as fn(&mut Config),
            |c| c.relay.tls = RelayTls::Starttls,
            |c| {
                c.relay.username = "parley".into();
                c.relay.password_file = "pw".into();
            },
        ] {
            let mut c = defaults();
            set(&mut c);
            let e = c.validate().unwrap_err();
            assert_eq!(e.key, "relay.host", "{e}");
        }
    }

    #[test]
    fn redaction_hides_secrets() {
        let mut c = defaults();
        c.token.secret = "0123456789abcdef0123".into();
        c.store.url = "postgres://u:hunter2@db/parley".into();
        c.imap.push(
            toml::from_str(
                "host = \"localhost\"\ntls = \"none\"\nusername = \"u\"\npassword = \"imap-hunter3\"",
            )
            .unwrap(),
        );
        let text = toml::to_string(&c.redacted()).unwrap();
        assert!(!text.contains("0123456789abcdef0123"));
        assert!(!text.contains("hunter2"));
        assert!(!text.contains("imap-hunter3"));
        assert!(text.contains("postgres://u:<redacted>@db/parley"));
    }

    #[test]
    fn processes_starting_together_make_one_key() {
        for _ in 0..20 {
            let dir = tempfile::tempdir().unwrap();
            let mut c = defaults();
            c.token.secret_file = dir.path().join("data/token.key");
            assert_eq!(c.read_secret().unwrap(), None);
            let keys: Vec<Vec<u8>> = std::thread::scope(|s| {
                let starts: Vec<_> = (0..8).map(|_| s.spawn(|| c.load_secret())).collect();
                starts
                    .into_iter()
                    .map(|t| t.join().unwrap().unwrap())
                    .collect()
            });
            let written = std::fs::read(&c.token.secret_file).unwrap();
            assert_eq!(written.len(), 64);
            assert!(keys.iter().all(|k| *k == written), "two keys");
            let names: Vec<_> = std::fs::read_dir(dir.path().join("data"))
                .unwrap()
                .map(|e| e.unwrap().file_name())
                .collect();
            assert_eq!(names, ["token.key"], "nothing left beside the key");
        }
    }

    #[test]
    fn key_files_lose_trailing_newlines() {
        assert_eq!(trim_key(b"abc\n"), b"abc");
        assert_eq!(trim_key(b"\n"), b"");
    }
}
