//! The automatic answers to a client: the acknowledgement of a new ticket
//! (a queue's `greeting`) and the after-hours reply (a queue's `hours`),
//! which is also the offline answer while the queue's operators are all
//! away (the console's availability switch: the store reads it in the
//! message's transaction, [`crate::store::DeskStore`]).
//!
//! Decided here, from the queue's settings, the message's facts and the
//! time by intake's [`Clock`]; written by the store as outbox rows in the
//! message's own transaction (which also applies the after-hours window,
//! since only it sees the ticket's earlier rows).
//!
//! Nobody is answered automatically for:
//! - automatic mail (auto-replies, list mail; bounces and loops are not
//!   even stored): answering it is how mail loops start (RFC 3834 §2);
//! - held messages: the policy or threading held them, often as spam or
//!   from a sender who is not who the reply address was for, and an answer
//!   would be backscatter to a stranger. A moderator's approval later
//!   writes the usual notifications but no automatic answer: the seller
//!   side's reply is the answer by then;
//! - the seller side: the hours are theirs.
//!
//! One message gets at most one of the two: outside hours the after-hours
//! reply stands for the acknowledgement (it tells the client the message
//! arrived, and when to expect an answer), so a new ticket opened at night
//! is not answered twice.

use std::collections::HashMap;
use std::sync::Arc;

use jiff::Timestamp;

use super::classify::Auto;
use crate::config::{Config, HoursConfig, WorkingHours};
use crate::store::{AfterHours, AutoReplies};
use crate::tickets::Role;

/// The time intake judges working hours by. The system clock in
/// production; tests inject theirs ([`super::Intake::with_clock`]) to put a
/// message at 3 a.m. on a Sunday.
#[derive(Clone)]
pub struct Clock(Arc<dyn Fn() -> Timestamp + Send + Sync>);

impl Clock {
    pub fn system() -> Clock {
        Clock(Arc::new(Timestamp::now))
    }

    /// A clock that reads `now`.
    pub fn from_fn(now: impl Fn() -> Timestamp + Send + Sync + 'static) -> Clock {
        Clock(Arc::new(now))
    }

    pub fn now(&self) -> Timestamp {
        (self.0)()
    }
}

impl std::fmt::Debug for Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Clock")
    }
}

/// What one queue answers automatically.
#[derive(Debug, Clone, Default)]
pub struct QueueReplies {
    /// `greeting` is set: new tickets are acknowledged.
    pub ack: bool,
    /// `None`: always open.
    pub hours: Option<WorkingHours>,
    /// At most one offline answer (operators all away) per ticket within
    /// this many ms: the hours' window, or its default.
    pub offline_window_ms: i64,
}

/// Every queue's settings by name, from the config.
pub fn by_queue(config: &Config) -> HashMap<String, QueueReplies> {
    let mut all = HashMap::new();
    for (i, queue) in config.queues.iter().enumerate() {
        // Config::validate compiled these already; a config that skipped it
        // and is invalid loses its hours (said in the log) rather than
        // failing every delivery.
        let hours = queue
            .working_hours(&format!("queues[{i}]"))
            .unwrap_or_else(|e| {
                tracing::error!(queue = %queue.name, error = %e, "working hours ignored");
                None
            });
        let offline_window_ms = match &hours {
            Some(hours) => hours.window_ms,
            None => HoursConfig::default().after_hours_window_secs as i64 * 1000,
        };
        all.insert(
            queue.name.clone(),
            QueueReplies {
                ack: !queue.greeting.trim().is_empty(),
                hours,
                offline_window_ms,
            },
        );
    }
    all
}

/// The facts of one message the decision needs.
#[derive(Debug, Clone, Copy)]
pub struct Facts {
    /// It opens a ticket.
    pub new_ticket: bool,
    /// Its author's role on the ticket; `None`: not a known participant.
    pub author: Option<Role>,
    pub auto: Auto,
    pub held: bool,
}

/// The automatic answers for a message of `facts` in a queue with
/// `queue`'s settings, at `now`.
pub fn decide(queue: Option<&QueueReplies>, facts: Facts, now: Timestamp) -> AutoReplies {
    let Some(queue) = queue else {
        return AutoReplies::default();
    };
    if facts.auto != Auto::None || facts.held || facts.author != Some(Role::Client) {
        return AutoReplies::default();
    }
    let after_hours = queue
        .hours
        .as_ref()
        .filter(|hours| !hours.is_open(now))
        .map(|hours| AfterHours {
            at: now.as_millisecond(),
            window_ms: hours.window_ms,
        });
    // Open: the answer if its operators all turn out to be away, which
    // only the post's transaction can tell.
    let offline = after_hours.is_none().then_some(AfterHours {
        at: now.as_millisecond(),
        window_ms: queue.offline_window_ms,
    });
    AutoReplies {
        ack: queue.ack && facts.new_ticket && after_hours.is_none(),
        after_hours,
        offline,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::HoursConfig;

    fn queue(ack: bool) -> QueueReplies {
        QueueReplies {
            ack,
            hours: Some(
                HoursConfig::default()
                    .working_hours("queues[0].hours")
                    .unwrap(),
            ),
            offline_window_ms: 86_400_000,
        }
    }

    fn client(new_ticket: bool) -> Facts {
        Facts {
            new_ticket,
            author: Some(Role::Client),
            auto: Auto::None,
            held: false,
        }
    }

    // Friday 2026-11-20, UTC: open at noon, closed at 20:00.
    fn noon() -> Timestamp {
        "2026-11-20T12:00:00Z".parse().unwrap()
    }
    fn evening() -> Timestamp {
        "2026-11-20T20:00:00Z".parse().unwrap()
    }

    #[test]
    fn inside_hours_a_new_ticket_is_acknowledged() {
        // The offline answer stands by: the store gives it instead if the
        // queue's operators are all away.
        let offline = Some(AfterHours {
            at: noon().as_millisecond(),
            window_ms: 86_400_000,
        });
        let r = decide(Some(&queue(true)), client(true), noon());
        assert_eq!(
            r,
            AutoReplies {
                ack: true,
                after_hours: None,
                offline,
            }
        );
        // Not a new ticket, or no greeting: no acknowledgement.
        let none = AutoReplies {
            ack: false,
            after_hours: None,
            offline,
        };
        assert_eq!(decide(Some(&queue(true)), client(false), noon()), none);
        assert_eq!(decide(Some(&queue(false)), client(true), noon()), none);
    }

    #[test]
    fn outside_hours_the_after_hours_reply_stands_for_the_ack() {
        let r = decide(Some(&queue(true)), client(true), evening());
        assert!(!r.ack);
        assert_eq!(
            r.after_hours,
            Some(AfterHours {
                at: evening().as_millisecond(),
                window_ms: 86_400_000
            })
        );
        // Closed already: no offline answer on top.
        assert_eq!(r.offline, None);
        let r = decide(Some(&queue(false)), client(false), evening());
        assert!(r.after_hours.is_some());
    }

    #[test]
    fn automatic_held_and_seller_side_mail_is_never_answered() {
        let q = queue(true);
        for facts in [
            Facts {
                auto: Auto::AutoReply,
                ..client(true)
            },
            Facts {
                auto: Auto::List,
                ..client(false)
            },
            Facts {
                held: true,
                ..client(true)
            },
            Facts {
                author: Some(Role::Seller),
                ..client(false)
            },
            Facts {
                author: Some(Role::Staff),
                ..client(false)
            },
            Facts {
                author: None,
                ..client(false)
            },
        ] {
            for now in [noon(), evening()] {
                assert_eq!(
                    decide(Some(&q), facts, now),
                    AutoReplies::default(),
                    "{facts:?}"
                );
            }
        }
    }

    #[test]
    fn a_queue_without_settings_answers_only_when_its_operators_are_away() {
        assert_eq!(
            decide(None, client(true), evening()),
            AutoReplies::default()
        );
        let always_open = QueueReplies {
            ack: false,
            hours: None,
            offline_window_ms: 60_000,
        };
        let r = decide(Some(&always_open), client(true), evening());
        assert!(!r.ack && r.after_hours.is_none(), "{r:?}");
        assert_eq!(r.offline.map(|o| o.window_ms), Some(60_000));
    }
}
