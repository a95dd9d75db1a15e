//! The HTTP door's limits: the size of a request body and the rate of
//! requests per caller.
//!
//! The rate is a token bucket per subject (an API key, or a user token's
//! participant): it holds up to `burst` requests and refills at
//! `per_minute`; a request that finds it empty is answered 429 with the
//! seconds until the next request is allowed in `Retry-After`.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::error::Problem;

/// A caller's allowance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    /// Requests per minute; 0: no limit.
    pub per_minute: u32,
    /// The bucket's size.
    pub burst: u32,
}

impl Rate {
    pub fn new(per_minute: u32, burst: u32) -> Rate {
        Rate { per_minute, burst }
    }

    fn unlimited(self) -> bool {
        self.per_minute == 0
    }

    /// Requests regained per second.
    fn per_second(self) -> f64 {
        f64::from(self.per_minute) / 60.0
    }
}

/// More subjects than this and the full buckets (idle callers, who would
/// start full anyway) are dropped, so that user tokens for ever new
/// addresses cannot grow the map without end.
const PRUNE_AT: usize = 10_000;

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
    rate: Rate,
}

impl Bucket {
    /// The bucket as it is at `now`: refilled for the time since `at`.
    fn refilled(self, now: Instant) -> Bucket {
        let gained = now.saturating_duration_since(self.at).as_secs_f64() * self.rate.per_second();
        Bucket {
            tokens: (self.tokens + gained).min(f64::from(self.rate.burst)),
            at: now,
            rate: self.rate,
        }
    }

    fn is_full(&self) -> bool {
        self.tokens >= f64::from(self.rate.burst)
    }
}

/// The buckets of every subject seen.
#[derive(Debug, Default)]
pub struct RateLimiter {
    buckets: Mutex<HashMap<String, Bucket>>,
}

impl RateLimiter {
    /// Takes one request from `subject`'s bucket, or says how long until
    /// one is there (as a 429 problem).
    pub fn charge(&self, subject: &str, rate: Rate) -> Result<(), Problem> {
        self.charge_at(subject, rate, Instant::now())
            .map_err(|wait| Problem::rate_limited(wait.as_secs_f64().ceil() as u64))
    }

    fn charge_at(&self, subject: &str, rate: Rate, now: Instant) -> Result<(), Duration> {
        if rate.unlimited() {
            return Ok(());
        }
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if buckets.len() >= PRUNE_AT && !buckets.contains_key(subject) {
            buckets.retain(|_, b| !b.refilled(now).is_full());
        }
        let full = Bucket {
            tokens: f64::from(rate.burst),
            at: now,
            rate,
        };
        let bucket = buckets.entry(subject.to_string()).or_insert(full);
        *bucket = Bucket { rate, ..*bucket }.refilled(now);
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            return Ok(());
        }
        let missing = 1.0 - bucket.tokens;
        Err(Duration::from_secs_f64(missing / rate.per_second()))
    }
}

/// Refuses a body announced larger than `limit` before it is read (413).
/// A body without a length is held to the same limit as it is read
/// ([`axum::extract::DefaultBodyLimit`], set beside this layer; the
/// extractors of [`super::extract`] answer 413 too).
pub async fn body_limit(State(limit): State<usize>, request: Request, next: Next) -> Response {
    let announced = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    match announced {
        Some(length) if length > limit as u64 => Problem::too_large(limit).into_response(),
        _ => next.run(request).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_empties_and_refills_at_its_pace() {
        let limiter = RateLimiter::default();
        let rate = Rate::new(60, 2); // one a second, two at once
        let t0 = Instant::now();
        assert_eq!(limiter.charge_at("key:shop", rate, t0), Ok(()));
        assert_eq!(limiter.charge_at("key:shop", rate, t0), Ok(()));
        let wait = limiter.charge_at("key:shop", rate, t0).unwrap_err();
        assert!((wait.as_secs_f64() - 1.0).abs() < 1e-6, "{wait:?}");
        // Another subject has its own bucket.
        assert_eq!(limiter.charge_at("user:a@b", rate, t0), Ok(()));
        let later = t0 + Duration::from_millis(1500);
        assert_eq!(limiter.charge_at("key:shop", rate, later), Ok(()));
        let wait = limiter.charge_at("key:shop", rate, later).unwrap_err();
        assert!((wait.as_secs_f64() - 0.5).abs() < 1e-6, "{wait:?}");
    }

    #[test]
    fn no_limit_means_none() {
        let limiter = RateLimiter::default();
        let t0 = Instant::now();
        for _ in 0..1000 {
            assert_eq!(limiter.charge_at("key:bench", Rate::new(0, 0), t0), Ok(()));
        }
        assert!(limiter.buckets.lock().unwrap().is_empty());
    }

    #[test]
    fn idle_subjects_are_dropped_past_the_threshold() {
        let limiter = RateLimiter::default();
        let rate = Rate::new(60, 1);
        let t0 = Instant::now();
        for i in 0..PRUNE_AT {
            limiter.charge_at(&format!("user:{i}"), rate, t0).unwrap();
        }
        // A second later every bucket is full again: all go but the new one.
        let later = t0 + Duration::from_secs(1);
        limiter.charge_at("user:new", rate, later).unwrap();
        assert_eq!(limiter.buckets.lock().unwrap().len(), 1);
    }
}
