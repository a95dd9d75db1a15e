//! `[queues.hours]`: when a queue's people work, and what a client who
//! writes outside those hours is told.
//!
//! [`HoursConfig`] is the TOML as written (strings, so that `parley check`
//! prints it back as the admin wrote it); [`HoursConfig::working_hours`]
//! checks it and compiles it into [`WorkingHours`], whose
//! [`WorkingHours::is_open`] is a pure function of a timestamp.

use std::collections::BTreeSet;

use jiff::Timestamp;
use jiff::civil::{Date, Time};
use jiff::tz::TimeZone;
use serde::{Deserialize, Serialize};

use super::ConfigError;

/// The sentence the after-hours reply shows when the queue sets none.
pub const DEFAULT_AFTER_HOURS_MESSAGE: &str = "Thank you for your message. We are away \
     right now and will answer during our working hours.";

/// Day names as written in `days`, Monday first.
const DAY_NAMES: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/// A queue's working hours as configured. Every key has a default, so an
/// empty `[queues.hours]` means Monday to Friday, 09:00 to 17:00 UTC.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HoursConfig {
    /// An IANA zone name (`Europe/Berlin`); days, hours and holidays are
    /// that zone's local dates and times.
    #[serde(default = "default_time_zone")]
    pub time_zone: String,
    /// The working days: `mon` … `sun`.
    #[serde(default = "default_days")]
    pub days: Vec<String>,
    /// The first minute open, `HH:MM`.
    #[serde(default = "default_open")]
    pub open: String,
    /// The first minute closed, `HH:MM` (`24:00`: open until midnight).
    /// Later than `open`: a day's hours do not span midnight.
    #[serde(default = "default_close")]
    pub close: String,
    /// Dates (`YYYY-MM-DD`, in `time_zone`) closed all day.
    #[serde(default)]
    pub holidays: Vec<String>,
    /// What the after-hours reply tells the client (the template shows it).
    #[serde(default = "default_after_hours_message")]
    pub after_hours_message: String,
    /// At most one after-hours reply per ticket within this many seconds:
    /// a client who writes three times one evening is answered once.
    #[serde(default = "default_after_hours_window")]
    pub after_hours_window_secs: u64,
}

impl Default for HoursConfig {
    fn default() -> Self {
        HoursConfig {
            time_zone: default_time_zone(),
            days: default_days(),
            open: default_open(),
            close: default_close(),
            holidays: Vec::new(),
            after_hours_message: default_after_hours_message(),
            after_hours_window_secs: default_after_hours_window(),
        }
    }
}

fn default_time_zone() -> String {
    "UTC".into()
}

fn default_days() -> Vec<String> {
    DAY_NAMES[..5].iter().map(|d| d.to_string()).collect()
}

fn default_open() -> String {
    "09:00".into()
}

fn default_close() -> String {
    "17:00".into()
}

fn default_after_hours_message() -> String {
    DEFAULT_AFTER_HOURS_MESSAGE.into()
}

fn default_after_hours_window() -> u64 {
    86_400
}

/// Working hours, checked and ready to answer "open at this instant?".
#[derive(Debug, Clone)]
pub struct WorkingHours {
    zone: TimeZone,
    /// Indexed Monday first.
    days: [bool; 7],
    open: Time,
    /// `None`: open until midnight (`24:00`).
    close: Option<Time>,
    holidays: BTreeSet<Date>,
    /// `after_hours_window_secs` in milliseconds (the store's unit).
    pub window_ms: i64,
}

impl HoursConfig {
    /// Checks every key and compiles the hours. `key` is where this table
    /// sits (`queues[0].hours`); errors name `key.<field>`.
    pub fn working_hours(&self, key: &str) -> Result<WorkingHours, ConfigError> {
        let at = |field: &str| format!("{key}.{field}");
        let zone = time_zone(&self.time_zone).map_err(|m| ConfigError::new(at("time_zone"), m))?;
        let mut days = [false; 7];
        for (i, day) in self.days.iter().enumerate() {
            let Some(n) = DAY_NAMES.iter().position(|d| *d == day.as_str()) else {
                return Err(ConfigError::new(
                    format!("{key}.days[{i}]"),
                    format!(
                        "{day:?} is not valid: expected one of: {}",
                        DAY_NAMES.join(", ")
                    ),
                ));
            };
            days[n] = true;
        }
        if !days.contains(&true) {
            // Never open would answer every message with the after-hours
            // reply: more likely a mistake than a wish.
            return Err(ConfigError::new(at("days"), "must name at least one day"));
        }
        let open = match clock_time(&self.open) {
            Some(Some(t)) => t,
            _ => {
                return Err(ConfigError::new(
                    at("open"),
                    format!(
                        "{:?} is not a time of day HH:MM (00:00 to 23:59)",
                        self.open
                    ),
                ));
            }
        };
        let close = clock_time(&self.close).ok_or_else(|| {
            ConfigError::new(
                at("close"),
                format!(
                    "{:?} is not a time of day HH:MM (00:00 to 24:00)",
                    self.close
                ),
            )
        })?;
        if close.is_some_and(|c| c <= open) {
            return Err(ConfigError::new(
                at("close"),
                format!(
                    "{:?} must be later than open ({:?}); hours that span midnight \
                     are not supported (close at \"24:00\" and open at \"00:00\" instead)",
                    self.close, self.open
                ),
            ));
        }
        let mut holidays = BTreeSet::new();
        for (i, day) in self.holidays.iter().enumerate() {
            let date = parse_date(day).ok_or_else(|| {
                ConfigError::new(
                    format!("{key}.holidays[{i}]"),
                    format!("{day:?} is not a date YYYY-MM-DD"),
                )
            })?;
            holidays.insert(date);
        }
        if self.after_hours_message.trim().is_empty() {
            return Err(ConfigError::new(
                at("after_hours_message"),
                "is empty (leave the key out for the default sentence)",
            ));
        }
        let window_ms = i64::try_from(self.after_hours_window_secs)
            .ok()
            .and_then(|s| s.checked_mul(1000))
            .filter(|ms| *ms > 0)
            .ok_or_else(|| {
                ConfigError::new(
                    at("after_hours_window_secs"),
                    "must be at least 1 (and fit in milliseconds)",
                )
            })?;
        Ok(WorkingHours {
            zone,
            days,
            open,
            close,
            holidays,
            window_ms,
        })
    }
}

impl WorkingHours {
    /// Whether the queue is open at `at`: a working day that is no holiday,
    /// and a local time in `[open, close)`. The instant is turned into the
    /// zone's local date and time first, so a DST change moves the hours
    /// with the clocks on the wall (09:00 stays 09:00 local).
    pub fn is_open(&self, at: Timestamp) -> bool {
        let local = self.zone.to_datetime(at);
        let day = local.weekday().to_monday_zero_offset() as usize;
        if !self.days[day] || self.holidays.contains(&local.date()) {
            return false;
        }
        let time = local.time();
        time >= self.open && self.close.is_none_or(|close| time < close)
    }
}

/// `UTC` always (no database needed); any other name from the IANA
/// database: the system's, else the one built in.
fn time_zone(name: &str) -> Result<TimeZone, String> {
    if name == "UTC" {
        return Ok(TimeZone::UTC);
    }
    TimeZone::get(name).map_err(|e| format!("{name:?} is not a known IANA time zone ({e})"))
}

/// `HH:MM` → `Some(Some(time))`, `24:00` → `Some(None)` (midnight at the
/// day's end), anything else → `None`. Strict two-digit fields: `9:00` or
/// `09:00:30` are refused rather than guessed at.
fn clock_time(text: &str) -> Option<Option<Time>> {
    let (h, m) = text.split_once(':')?;
    if h.len() != 2 || m.len() != 2 || !(h.bytes().chain(m.bytes())).all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (h, m): (i8, i8) = (h.parse().ok()?, m.parse().ok()?);
    if (h, m) == (24, 0) {
        return Some(None);
    }
    Time::new(h, m, 0, 0).ok().map(Some)
}

/// `YYYY-MM-DD`, a real date.
fn parse_date(text: &str) -> Option<Date> {
    let bytes = text.as_bytes();
    let shape = bytes.len() == 10
        && bytes[4] == b'-'
        && bytes[7] == b'-'
        && bytes
            .iter()
            .enumerate()
            .all(|(i, b)| i == 4 || i == 7 || b.is_ascii_digit());
    if !shape {
        return None;
    }
    let y: i16 = text[0..4].parse().ok()?;
    let m: i8 = text[5..7].parse().ok()?;
    let d: i8 = text[8..10].parse().ok()?;
    Date::new(y, m, d).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hours(edit: impl FnOnce(&mut HoursConfig)) -> Result<WorkingHours, ConfigError> {
        let mut config = HoursConfig::default();
        edit(&mut config);
        config.working_hours("queues[0].hours")
    }

    /// The instant of a local wall-clock time in `zone`.
    fn at(zone: &str, local: &str) -> Timestamp {
        let tz = TimeZone::get(zone).unwrap();
        local
            .parse::<jiff::civil::DateTime>()
            .unwrap()
            .to_zoned(tz)
            .unwrap()
            .timestamp()
    }

    fn utc(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    #[test]
    fn weekdays_open_weekends_closed() {
        let h = hours(|_| {}).unwrap();
        // 2026-11-20 is a Friday, 2026-11-21 a Saturday.
        assert!(h.is_open(utc("2026-11-20T10:00:00Z")));
        assert!(!h.is_open(utc("2026-11-21T10:00:00Z")));
        assert!(!h.is_open(utc("2026-11-22T10:00:00Z")));
        assert!(h.is_open(utc("2026-11-23T10:00:00Z")));
    }

    #[test]
    fn open_is_inclusive_close_exclusive() {
        let h = hours(|_| {}).unwrap();
        assert!(!h.is_open(utc("2026-11-20T08:59:59.999Z")));
        assert!(h.is_open(utc("2026-11-20T09:00:00Z")));
        assert!(h.is_open(utc("2026-11-20T16:59:59.999Z")));
        assert!(!h.is_open(utc("2026-11-20T17:00:00Z")));
    }

    #[test]
    fn closing_at_midnight() {
        let h = hours(|c| {
            c.open = "00:00".into();
            c.close = "24:00".into();
        })
        .unwrap();
        assert!(h.is_open(utc("2026-11-20T00:00:00Z")));
        assert!(h.is_open(utc("2026-11-20T23:59:59.999Z")));
        assert!(!h.is_open(utc("2026-11-21T00:00:00Z")));
    }

    #[test]
    fn holidays_are_closed_all_day() {
        let h = hours(|c| c.holidays = vec!["2026-12-24".into(), "2026-12-25".into()]).unwrap();
        assert!(h.is_open(utc("2026-12-23T12:00:00Z")));
        assert!(!h.is_open(utc("2026-12-24T12:00:00Z")));
        assert!(!h.is_open(utc("2026-12-25T12:00:00Z")));
    }

    #[test]
    fn days_and_holidays_are_local_dates() {
        // 23:30 UTC on Friday is 08:30 on Saturday in Tokyo; 00:30 UTC on
        // Monday is 09:30 on Monday there.
        let h = hours(|c| c.time_zone = "Asia/Tokyo".into()).unwrap();
        assert!(!h.is_open(utc("2026-11-20T23:30:00Z")));
        assert!(h.is_open(utc("2026-11-23T00:30:00Z")));
        let h = hours(|c| {
            c.time_zone = "Asia/Tokyo".into();
            c.holidays = vec!["2026-11-23".into()];
        })
        .unwrap();
        // Sunday 2026-11-22 in UTC, but Monday the 23rd, a holiday, in Tokyo.
        assert!(!h.is_open(utc("2026-11-23T00:30:00Z")));
    }

    #[test]
    fn hours_follow_the_wall_clock_across_dst() {
        // Europe/Berlin: summer time ends on Sunday 2026-10-25 and begins
        // on Sunday 2026-03-29; both weeks' Mondays open at 09:00 local.
        let all_week = |c: &mut HoursConfig| {
            c.time_zone = "Europe/Berlin".into();
            c.days = DAY_NAMES.iter().map(|d| d.to_string()).collect();
        };
        let h = hours(all_week).unwrap();
        // Friday before: 09:00 CEST is 07:00 UTC.
        assert!(h.is_open(utc("2026-10-23T07:00:00Z")));
        assert!(!h.is_open(utc("2026-10-23T06:59:00Z")));
        // The change day itself: 09:00 CET is 08:00 UTC.
        assert!(!h.is_open(utc("2026-10-25T07:30:00Z")));
        assert!(h.is_open(utc("2026-10-25T08:00:00Z")));
        assert!(h.is_open(at("Europe/Berlin", "2026-10-25T16:59")));
        assert!(!h.is_open(utc("2026-10-25T16:00:00Z")));
        // Spring: on 2026-03-29 09:00 CEST is 07:00 UTC, the day before 08:00.
        assert!(!h.is_open(utc("2026-03-28T07:30:00Z")));
        assert!(h.is_open(utc("2026-03-29T07:30:00Z")));
    }

    #[test]
    fn new_york_dst_day() {
        // America/New_York: clocks go from 02:00 to 03:00 on 2026-03-08.
        let h = hours(|c| {
            c.time_zone = "America/New_York".into();
            c.days = vec!["sun".into()];
            c.open = "02:30".into();
            c.close = "04:00".into();
        })
        .unwrap();
        // 06:59 UTC is 01:59 EST; 07:00 UTC is 03:00 EDT: the hours begin
        // at the change, as 02:30 does not exist that day.
        assert!(!h.is_open(utc("2026-03-08T06:59:00Z")));
        assert!(h.is_open(utc("2026-03-08T07:00:00Z")));
        assert!(!h.is_open(utc("2026-03-08T08:00:00Z")));
    }

    #[test]
    fn bad_values_name_their_key() {
        let key = |edit: fn(&mut HoursConfig)| hours(edit).unwrap_err().key;
        assert_eq!(
            key(|c| c.time_zone = "Mars/Olympus".into()),
            "queues[0].hours.time_zone"
        );
        assert_eq!(
            key(|c| c.days = vec!["monday".into()]),
            "queues[0].hours.days[0]"
        );
        assert_eq!(key(|c| c.days = Vec::new()), "queues[0].hours.days");
        assert_eq!(key(|c| c.open = "9:00".into()), "queues[0].hours.open");
        assert_eq!(key(|c| c.open = "24:00".into()), "queues[0].hours.open");
        assert_eq!(key(|c| c.close = "17:60".into()), "queues[0].hours.close");
        assert_eq!(key(|c| c.close = "08:00".into()), "queues[0].hours.close");
        assert_eq!(key(|c| c.close = "09:00".into()), "queues[0].hours.close");
        assert_eq!(
            key(|c| c.holidays = vec!["2026-12-25".into(), "2026-02-30".into()]),
            "queues[0].hours.holidays[1]"
        );
        assert_eq!(
            key(|c| c.after_hours_message = " ".into()),
            "queues[0].hours.after_hours_message"
        );
        assert_eq!(
            key(|c| c.after_hours_window_secs = 0),
            "queues[0].hours.after_hours_window_secs"
        );
        let message = hours(|c| c.time_zone = "Mars/Olympus".into())
            .unwrap_err()
            .message;
        assert!(message.contains("Mars/Olympus"), "{message}");
    }

    /// The compiled-in defaults with `extra` layered over them, as
    /// `Config::load` layers a file.
    fn config_with(extra: &str) -> Result<super::super::Config, ::config::ConfigError> {
        use ::config::{File, FileFormat};
        ::config::Config::builder()
            .add_source(File::from_str(super::super::DEFAULTS, FileFormat::Toml))
            .add_source(File::from_str(extra, FileFormat::Toml))
            .build()?
            .try_deserialize()
    }

    #[test]
    fn read_from_toml_with_defaults() {
        let c = config_with(
            "[[queues]]\nname = \"desk\"\ngreeting = \"Hello\"\n\
             [queues.hours]\ntime_zone = \"Europe/Berlin\"\nholidays = [\"2026-12-25\"]\n",
        )
        .unwrap();
        let queue = &c.queues[0];
        assert_eq!(queue.greeting, "Hello");
        let h = queue.hours.as_ref().unwrap();
        assert_eq!(h.time_zone, "Europe/Berlin");
        assert_eq!((h.open.as_str(), h.close.as_str()), ("09:00", "17:00"));
        assert_eq!(h.days, default_days());
        assert_eq!(h.after_hours_message, DEFAULT_AFTER_HOURS_MESSAGE);
        assert_eq!(h.after_hours_window_secs, 86_400);
        c.validate().unwrap();
        // The shipped default queue: no greeting, always open.
        let c = config_with("").unwrap();
        assert!(c.queues[0].hours.is_none() && c.queues[0].greeting.is_empty());

        let c = config_with(
            "[[queues]]\nname = \"a\"\n[[queues]]\nname = \"b\"\n\
             [queues.hours]\nclose = \"08:00\"\n",
        )
        .unwrap();
        assert_eq!(c.validate().unwrap_err().key, "queues[1].hours.close");
        let unknown = config_with("[[queues]]\nname = \"a\"\n[queues.hours]\nopens = \"09:00\"\n");
        let message = unknown.unwrap_err().to_string();
        assert!(message.contains("opens"), "{message}");
    }

    #[test]
    fn defaults() {
        let h = hours(|_| {}).unwrap();
        assert_eq!(h.window_ms, 86_400_000);
    }
}
