//! Recipients this process knows to be at their hourly cap
//! (`notify.throttle_recipient_per_hour`), and until when.
//!
//! The throttle finds a recipient at its cap when it sifts a claimed
//! batch, and holds the rows back until the cap's hour is over: no mail
//! to that address can go before then, whatever else happens. Without
//! this, every new notification to a busy seller at its cap was written
//! due at once, claimed (a commit on the one writer), then postponed (a
//! second commit), and so on for each batch until the hour ended: the
//! outbox's two commits a claim beside the intake's on SQLite's one
//! writer (docs/scaling.md, "The outbox beside the intake"). Now the
//! group committer writes such a row due when the hold ends, so it is
//! claimed once, then.
//!
//! A hint, in this process only: another instance on the same store
//! writes its rows due at once, and the throttle postpones them as
//! before. It can only delay a row to a moment before which the
//! throttle would not send it anyway; a worker built from a new
//! configuration (start, reload) forgets every hold, since the cap may
//! have changed.

use std::collections::HashMap;
use std::sync::Mutex;

/// At most this many recipients are held at once (a hold is a few dozen
/// bytes); past it, expired holds are dropped, and a new one is not
/// recorded while none has expired (its rows are then postponed by the
/// throttle as before).
const MAX_HOLDS: usize = 4096;

/// Recipient address → the moment (Unix ms) its rows may go again.
#[derive(Default)]
pub(crate) struct RecipientHolds(Mutex<HashMap<String, i64>>);

impl RecipientHolds {
    /// `recipient`'s rows cannot go before `until`.
    pub(crate) fn hold(&self, recipient: &str, until: i64, now: i64) {
        let mut holds = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(at) = holds.get_mut(recipient) {
            *at = until;
            return;
        }
        if holds.len() >= MAX_HOLDS {
            holds.retain(|_, at| *at > now);
            if holds.len() >= MAX_HOLDS {
                return;
            }
        }
        holds.insert(recipient.to_string(), until);
    }

    /// When a new-message row to `recipient` written at `now` is due: the
    /// end of its hold, or 0 (at once).
    pub(crate) fn due(&self, recipient: &str, now: i64) -> i64 {
        let holds = self.0.lock().unwrap_or_else(|e| e.into_inner());
        match holds.get(recipient) {
            Some(&until) if until > now => until,
            _ => 0,
        }
    }

    /// Forgets every hold.
    pub(crate) fn clear(&self) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hold_delays_until_it_ends() {
        let holds = RecipientHolds::default();
        assert_eq!(holds.due("a@x.test", 100), 0);
        holds.hold("a@x.test", 500, 100);
        assert_eq!(holds.due("a@x.test", 100), 500);
        assert_eq!(holds.due("b@x.test", 100), 0);
        assert_eq!(holds.due("a@x.test", 500), 0, "over at its end");
        holds.hold("a@x.test", 900, 600);
        assert_eq!(holds.due("a@x.test", 600), 900, "moved on");
        holds.clear();
        assert_eq!(holds.due("a@x.test", 600), 0);
    }

    #[test]
    fn holds_are_bounded() {
        let holds = RecipientHolds::default();
        for i in 0..MAX_HOLDS {
            holds.hold(&format!("{i}@x.test"), 200, 100);
        }
        holds.hold("late@x.test", 200, 100);
        assert_eq!(holds.due("late@x.test", 100), 0, "full: not recorded");
        // Once the others have expired, they make room.
        holds.hold("late@x.test", 900, 300);
        assert_eq!(holds.due("late@x.test", 300), 900);
        assert_eq!(holds.0.lock().unwrap().len(), 1);
    }
}
