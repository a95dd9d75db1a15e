//! The process's counters, for `GET /metrics` (Prometheus text format
//! 0.0.4, docs/metrics.md).
//!
//! Counters live in one process-wide [`Metrics`] ([`metrics()`]): the
//! doors and workers add to it where the thing happens (intake's commit,
//! an SMTP reply, an outbox send, an IMAP poll), with relaxed atomics and
//! no lock on the hot path. Gauges read from the store (held messages,
//! the outbox's backlog) are taken when `/metrics` is asked
//! ([`crate::store::HealthStore`]) and passed to [`Metrics::render`].
//!
//! Labels are closed sets (enums indexed into arrays), so a scrape's size
//! does not grow with traffic; the one open set is the IMAP mailboxes of
//! the configuration.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use crate::intake::Outcome;
use crate::intake::policy::Action;
use crate::intake::thread::MatchedBy;
use crate::store::Source;

/// The process's metrics.
pub fn metrics() -> &'static Metrics {
    static METRICS: std::sync::OnceLock<Metrics> = std::sync::OnceLock::new();
    METRICS.get_or_init(Metrics::default)
}

/// How a delivered message ended, as a metric label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    Stored,
    Duplicate,
    Quarantined,
    NoMatch,
    Rejected,
    Bounce,
    /// The store failed (a temporary failure: the sender retries).
    Failed,
}

const ENDINGS: [(&str, Ending); 7] = [
    ("stored", Ending::Stored),
    ("duplicate", Ending::Duplicate),
    ("quarantined", Ending::Quarantined),
    ("no_match", Ending::NoMatch),
    ("rejected", Ending::Rejected),
    ("bounce", Ending::Bounce),
    ("failed", Ending::Failed),
];

impl Ending {
    pub fn of(outcome: &Outcome) -> Ending {
        match outcome {
            Outcome::Stored { .. } => Ending::Stored,
            Outcome::Duplicate { .. } => Ending::Duplicate,
            Outcome::Quarantined { .. } => Ending::Quarantined,
            Outcome::NoMatch => Ending::NoMatch,
            Outcome::Rejected { .. } => Ending::Rejected,
            Outcome::Bounced(_) => Ending::Bounce,
        }
    }
}

const SOURCES: [(&str, Source); 3] = [
    ("smtp", Source::Smtp),
    ("imap", Source::Imap),
    ("pipe", Source::Pipe),
];

const RULES: [(&str, MatchedBy); 6] = [
    ("token", MatchedBy::Token),
    ("references", MatchedBy::References),
    ("inbound_references", MatchedBy::InboundReferences),
    ("subject", MatchedBy::Subject),
    ("new", MatchedBy::New),
    ("none", MatchedBy::None),
];

const ACTIONS: [(&str, Action); 4] = [
    ("allow", Action::Allow),
    ("redact", Action::Redact),
    ("hold", Action::Hold),
    ("reject", Action::Reject),
];

/// What the relay (or the Maildir) made of one notification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Send {
    Sent,
    /// A temporary failure: tried again later.
    Deferred,
    /// A permanent failure, or the last try.
    Failed,
}

const SENDS: [(&str, Send); 3] = [
    ("sent", Send::Sent),
    ("deferred", Send::Deferred),
    ("failed", Send::Failed),
];

/// Upper bounds of the commit latency histogram, in seconds.
const COMMIT_BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

/// SMTP reply codes counted one by one (200–599); others are not SMTP.
const FIRST_CODE: u16 = 200;
const CODES: usize = 400;

/// Every counter of the process.
pub struct Metrics {
    messages: [[AtomicU64; ENDINGS.len()]; SOURCES.len()],
    threading: [AtomicU64; RULES.len()],
    policy: [AtomicU64; ACTIONS.len()],
    sends: [AtomicU64; SENDS.len()],
    sessions: [AtomicU64; 2],
    sessions_open: AtomicI64,
    replies: [AtomicU64; CODES],
    commit_buckets: [AtomicU64; COMMIT_BUCKETS.len()],
    commit_count: AtomicU64,
    commit_micros: AtomicU64,
    imap: Mutex<BTreeMap<String, Mailbox>>,
    reloads: [AtomicU64; 2],
}

impl Default for Metrics {
    fn default() -> Metrics {
        Metrics {
            messages: Default::default(),
            threading: Default::default(),
            policy: Default::default(),
            sends: Default::default(),
            sessions: Default::default(),
            sessions_open: AtomicI64::new(0),
            replies: std::array::from_fn(|_| AtomicU64::new(0)),
            commit_buckets: Default::default(),
            commit_count: AtomicU64::new(0),
            commit_micros: AtomicU64::new(0),
            imap: Mutex::new(BTreeMap::new()),
            reloads: Default::default(),
        }
    }
}

/// One IMAP mailbox's last polls, in Unix ms.
#[derive(Debug, Clone, Copy, Default)]
struct Mailbox {
    started: i64,
    last_ok: Option<i64>,
    errors: u64,
    fetched: u64,
}

fn index<T: PartialEq + Copy>(table: &[(&str, T)], value: T) -> usize {
    table.iter().position(|(_, v)| *v == value).unwrap_or(0)
}

impl Metrics {
    /// A message taken by `source` that ended as `ending`.
    pub fn message(&self, source: Source, ending: Ending) {
        self.messages[index(&SOURCES, source)][index(&ENDINGS, ending)].fetch_add(1, Relaxed);
    }

    /// A stored message threaded by `rule`, and the policy's action on it.
    pub fn judged(&self, rule: MatchedBy, action: Option<Action>) {
        self.threading[index(&RULES, rule)].fetch_add(1, Relaxed);
        if let Some(action) = action {
            self.policy_action(action);
        }
    }

    /// The content policy's action on a message (stored, or refused).
    pub fn policy_action(&self, action: Action) {
        self.policy[index(&ACTIONS, action)].fetch_add(1, Relaxed);
    }

    /// One commit of the intake (a message, or a group of them) took `took`.
    pub fn commit(&self, took: Duration) {
        let seconds = took.as_secs_f64();
        for (bound, count) in COMMIT_BUCKETS.iter().zip(&self.commit_buckets) {
            if seconds <= *bound {
                count.fetch_add(1, Relaxed);
            }
        }
        self.commit_count.fetch_add(1, Relaxed);
        self.commit_micros
            .fetch_add(took.as_micros().min(u64::MAX as u128) as u64, Relaxed);
    }

    /// One notification handed to the relay.
    pub fn send(&self, send: Send) {
        self.sends[index(&SENDS, send)].fetch_add(1, Relaxed);
    }

    /// An SMTP (`lmtp` false) or LMTP session began; the guard ends it.
    pub fn session(&'static self, lmtp: bool) -> SessionGuard {
        self.sessions[usize::from(lmtp)].fetch_add(1, Relaxed);
        self.sessions_open.fetch_add(1, Relaxed);
        SessionGuard(self)
    }

    /// An SMTP or LMTP reply with `code` was sent.
    pub fn reply(&self, code: u16) {
        if let Some(count) = code
            .checked_sub(FIRST_CODE)
            .and_then(|i| self.replies.get(usize::from(i)))
        {
            count.fetch_add(1, Relaxed);
        }
    }

    /// A mailbox's poller started (at Unix ms `now`).
    pub fn imap_started(&self, mailbox: &str, now: i64) {
        let mut map = self.imap.lock().unwrap_or_else(|e| e.into_inner());
        map.entry(mailbox.to_owned()).or_default().started = now;
    }

    /// A mailbox was read to its end at `now`, `fetched` new messages.
    /// (Only for a mailbox [`Metrics::imap_started`] named and no reload
    /// removed since: a poller on its way out adds nothing back.)
    pub fn imap_polled(&self, mailbox: &str, now: i64, fetched: u64) {
        let mut map = self.imap.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(entry) = map.get_mut(mailbox) {
            entry.last_ok = Some(now);
            entry.fetched += fetched;
        }
    }

    /// A mailbox no longer polled (taken out by a reload): its figures go.
    pub fn imap_removed(&self, mailbox: &str) {
        let mut map = self.imap.lock().unwrap_or_else(|e| e.into_inner());
        map.remove(mailbox);
    }

    /// A mailbox's poll failed (it is retried).
    pub fn imap_failed(&self, mailbox: &str) {
        let mut map = self.imap.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(entry) = map.get_mut(mailbox) {
            entry.errors += 1;
        }
    }

    /// A reload, taken (`ok`) or refused (a bad configuration).
    pub fn reload(&self, ok: bool) {
        self.reloads[usize::from(ok)].fetch_add(1, Relaxed);
    }

    /// The text of `/metrics`: every counter, and the store's gauges
    /// (`None` when the store did not answer) at Unix ms `now`.
    pub fn render(&self, gauges: Option<&Gauges>, now: i64) -> String {
        let mut out = String::with_capacity(8192);
        let name = "parley_messages_total";
        let _ = writeln!(
            out,
            "# HELP {name} Messages taken, by the door they came through and how they ended.\n\
             # TYPE {name} counter"
        );
        for (s, (source, _)) in SOURCES.iter().enumerate() {
            for (e, (ending, _)) in ENDINGS.iter().enumerate() {
                let n = self.messages[s][e].load(Relaxed);
                let _ = writeln!(
                    out,
                    "{name}{{source=\"{source}\",outcome=\"{ending}\"}} {n}"
                );
            }
        }
        let labelled = |out: &mut String,
                        name: &str,
                        kind: &str,
                        help: &str,
                        label: &str,
                        values: &mut dyn Iterator<Item = (&str, u64)>| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
            for (value, n) in values {
                let _ = writeln!(out, "{name}{{{label}=\"{value}\"}} {n}");
            }
        };
        labelled(
            &mut out,
            "parley_threading_total",
            "counter",
            "Stored messages by the threading rule that placed them.",
            "rule",
            &mut RULES
                .iter()
                .zip(&self.threading)
                .map(|((l, _), n)| (*l, n.load(Relaxed))),
        );
        labelled(
            &mut out,
            "parley_policy_actions_total",
            "counter",
            "Messages judged by the content policy (stored, or refused by it), by its action.",
            "action",
            &mut ACTIONS
                .iter()
                .zip(&self.policy)
                .map(|((l, _), n)| (*l, n.load(Relaxed))),
        );
        labelled(
            &mut out,
            "parley_outbox_sends_total",
            "counter",
            "Notifications handed to the relay, by its answer.",
            "answer",
            &mut SENDS
                .iter()
                .zip(&self.sends)
                .map(|((l, _), n)| (*l, n.load(Relaxed))),
        );
        labelled(
            &mut out,
            "parley_smtp_sessions_total",
            "counter",
            "SMTP and LMTP sessions accepted.",
            "protocol",
            &mut [
                ("smtp", self.sessions[0].load(Relaxed)),
                ("lmtp", self.sessions[1].load(Relaxed)),
            ]
            .into_iter(),
        );
        let codes: Vec<(String, u64)> = self
            .replies
            .iter()
            .enumerate()
            .map(|(i, n)| (i as u16 + FIRST_CODE, n.load(Relaxed)))
            .filter(|(_, n)| *n > 0)
            .map(|(code, n)| (code.to_string(), n))
            .collect();
        labelled(
            &mut out,
            "parley_smtp_replies_total",
            "counter",
            "SMTP and LMTP replies sent, by code.",
            "code",
            &mut codes.iter().map(|(c, n)| (c.as_str(), *n)),
        );
        labelled(
            &mut out,
            "parley_reloads_total",
            "counter",
            "Configuration reloads (SIGHUP), by result.",
            "result",
            &mut [
                ("ok", self.reloads[1].load(Relaxed)),
                ("refused", self.reloads[0].load(Relaxed)),
            ]
            .into_iter(),
        );
        let _ = writeln!(
            out,
            "# HELP parley_smtp_sessions_open SMTP and LMTP sessions open now.\n\
             # TYPE parley_smtp_sessions_open gauge\n\
             parley_smtp_sessions_open {}",
            self.sessions_open.load(Relaxed).max(0)
        );
        let name = "parley_store_commit_seconds";
        let _ = writeln!(
            out,
            "# HELP {name} Time to commit intake's writes (one message or a group).\n\
             # TYPE {name} histogram"
        );
        for (bound, n) in COMMIT_BUCKETS.iter().zip(&self.commit_buckets) {
            let _ = writeln!(out, "{name}_bucket{{le=\"{bound}\"}} {}", n.load(Relaxed));
        }
        let count = self.commit_count.load(Relaxed);
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {count}");
        let sum = self.commit_micros.load(Relaxed) as f64 / 1e6;
        let _ = writeln!(out, "{name}_sum {sum}\n{name}_count {count}");
        self.render_imap(&mut out, now);
        if let Some(g) = gauges {
            g.render(&mut out);
        }
        let _ = writeln!(
            out,
            "# HELP parley_store_up Whether the store answered this scrape.\n\
             # TYPE parley_store_up gauge\nparley_store_up {}",
            u8::from(gauges.is_some())
        );
        out
    }

    fn render_imap(&self, out: &mut String, now: i64) {
        let map = self.imap.lock().unwrap_or_else(|e| e.into_inner());
        let _ = writeln!(
            out,
            "# HELP parley_imap_lag_seconds Seconds since the mailbox was last read to its end \
             (since its poller started, when never).\n# TYPE parley_imap_lag_seconds gauge"
        );
        for (mailbox, m) in map.iter() {
            let since = m.last_ok.unwrap_or(m.started);
            let lag = (now - since).max(0) as f64 / 1000.0;
            let _ = writeln!(
                out,
                "parley_imap_lag_seconds{{mailbox=\"{}\"}} {lag}",
                escape(mailbox)
            );
        }
        for (name, help, pick) in [
            (
                "parley_imap_errors_total",
                "Failed polls of the mailbox (each retried).",
                (|m: &Mailbox| m.errors) as fn(&Mailbox) -> u64,
            ),
            (
                "parley_imap_fetched_total",
                "Messages fetched from the mailbox.",
                |m: &Mailbox| m.fetched,
            ),
        ] {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
            for (mailbox, m) in map.iter() {
                let _ = writeln!(out, "{name}{{mailbox=\"{}\"}} {}", escape(mailbox), pick(m));
            }
        }
    }
}

/// Ends an SMTP session's count of open sessions when dropped.
pub struct SessionGuard(&'static Metrics);

impl Drop for SessionGuard {
    fn drop(&mut self) {
        self.0.sessions_open.fetch_sub(1, Relaxed);
    }
}

/// What the store says at a scrape.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Gauges {
    /// Messages held for a moderator.
    pub held: i64,
    /// Notifications not yet sent (due or waiting for a retry).
    pub outbox_pending: i64,
    /// When the oldest of them was written, Unix ms; `None` when none.
    pub oldest_pending_at: Option<i64>,
    /// Unix ms of the scrape.
    pub now: i64,
}

impl Gauges {
    /// Age of the oldest pending notification, in seconds (0 when none).
    pub fn oldest_pending_seconds(&self) -> f64 {
        self.oldest_pending_at
            .map_or(0.0, |at| (self.now - at).max(0) as f64 / 1000.0)
    }

    fn render(&self, out: &mut String) {
        let _ = writeln!(
            out,
            "# HELP parley_held_messages Messages held for a moderator.\n\
             # TYPE parley_held_messages gauge\nparley_held_messages {}\n\
             # HELP parley_outbox_pending Notifications not yet sent.\n\
             # TYPE parley_outbox_pending gauge\nparley_outbox_pending {}\n\
             # HELP parley_outbox_oldest_pending_seconds Age of the oldest notification not yet sent.\n\
             # TYPE parley_outbox_oldest_pending_seconds gauge\n\
             parley_outbox_oldest_pending_seconds {}",
            self.held,
            self.outbox_pending,
            self.oldest_pending_seconds()
        );
    }
}

/// A label value as the text format wants it.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line<'a>(text: &'a str, prefix: &str) -> &'a str {
        text.lines()
            .find(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("no {prefix} in\n{text}"))
    }

    #[test]
    fn counts_show_under_their_labels() {
        let m = Metrics::default();
        m.message(Source::Pipe, Ending::Stored);
        m.message(Source::Pipe, Ending::Stored);
        m.message(Source::Smtp, Ending::Failed);
        m.judged(MatchedBy::Token, Some(Action::Hold));
        m.send(Send::Deferred);
        m.reply(250);
        m.reply(250);
        m.reply(451);
        m.reply(99);
        m.commit(Duration::from_millis(3));
        let text = m.render(None, 0);
        assert_eq!(
            line(
                &text,
                "parley_messages_total{source=\"pipe\",outcome=\"stored\"}"
            ),
            "parley_messages_total{source=\"pipe\",outcome=\"stored\"} 2"
        );
        assert!(text.contains("parley_messages_total{source=\"smtp\",outcome=\"failed\"} 1"));
        assert!(text.contains("parley_threading_total{rule=\"token\"} 1"));
        assert!(text.contains("parley_policy_actions_total{action=\"hold\"} 1"));
        assert!(text.contains("parley_outbox_sends_total{answer=\"deferred\"} 1"));
        assert!(text.contains("parley_smtp_replies_total{code=\"250\"} 2"));
        assert!(text.contains("parley_smtp_replies_total{code=\"451\"} 1"));
        assert!(!text.contains("code=\"99\""));
        // 3 ms: not in the buckets up to 2.5 ms, in every one from 5 ms.
        assert!(text.contains("parley_store_commit_seconds_bucket{le=\"0.0025\"} 0"));
        assert!(text.contains("parley_store_commit_seconds_bucket{le=\"0.005\"} 1"));
        assert!(text.contains("parley_store_commit_seconds_bucket{le=\"+Inf\"} 1"));
        assert!(text.contains("parley_store_commit_seconds_sum 0.003"));
        assert!(text.contains("parley_store_up 0"));
    }

    #[test]
    fn sessions_open_count_down_when_they_end() {
        let m: &'static Metrics = Box::leak(Box::default());
        let a = m.session(false);
        let b = m.session(true);
        assert!(m.render(None, 0).contains("parley_smtp_sessions_open 2"));
        drop(a);
        drop(b);
        let text = m.render(None, 0);
        assert!(text.contains("parley_smtp_sessions_open 0"));
        assert!(text.contains("parley_smtp_sessions_total{protocol=\"lmtp\"} 1"));
    }

    #[test]
    fn imap_lag_counts_from_the_last_good_poll() {
        let m = Metrics::default();
        m.imap_started("a\"b@host:993/INBOX", 1_000);
        assert!(
            m.render(None, 11_000)
                .contains("parley_imap_lag_seconds{mailbox=\"a\\\"b@host:993/INBOX\"} 10")
        );
        m.imap_polled("a\"b@host:993/INBOX", 20_000, 3);
        m.imap_failed("a\"b@host:993/INBOX");
        let text = m.render(None, 21_500);
        assert!(text.contains("parley_imap_lag_seconds{mailbox=\"a\\\"b@host:993/INBOX\"} 1.5"));
        assert!(text.contains("parley_imap_fetched_total{mailbox=\"a\\\"b@host:993/INBOX\"} 3"));
        assert!(text.contains("parley_imap_errors_total{mailbox=\"a\\\"b@host:993/INBOX\"} 1"));
        m.imap_removed("a\"b@host:993/INBOX");
        assert!(!m.render(None, 22_000).contains("INBOX"));
    }

    #[test]
    fn store_gauges_are_rendered_when_the_store_answered() {
        let g = Gauges {
            held: 4,
            outbox_pending: 7,
            oldest_pending_at: Some(1_000),
            now: 61_000,
        };
        let text = Metrics::default().render(Some(&g), 61_000);
        assert!(text.contains("parley_held_messages 4"));
        assert!(text.contains("parley_outbox_pending 7"));
        assert!(text.contains("parley_outbox_oldest_pending_seconds 60"));
        assert!(text.contains("parley_store_up 1"));
    }
}
