//! Sign-in attempts per key (an IP address, an email) in a sliding window, kept in memory.
//! One process holds the counts; with several app nodes each keeps its own (Redis later).

use std::{
    collections::{HashMap, VecDeque},
    sync::Mutex,
    time::{Duration, Instant},
};

/// Keys starting with this are addresses, which many people can share (an office, a proxy), so
/// they get a larger allowance than an email.
pub const IP_PREFIX: &str = "ip:";

pub struct RateLimiter {
    per_email: usize,
    per_ip: usize,
    window: Duration,
    attempts: Mutex<HashMap<String, VecDeque<Instant>>>,
}

impl RateLimiter {
    pub fn new(per_email: usize, per_ip: usize, window: Duration) -> Self {
        Self {
            per_email,
            per_ip,
            window,
            attempts: Mutex::new(HashMap::new()),
        }
    }

    /// `Err(wait)` when any key has used up its attempts: how long until the oldest one expires.
    pub fn check(&self, keys: &[String]) -> Result<(), Duration> {
        let now = Instant::now();
        let mut attempts = self.attempts.lock().unwrap_or_else(|e| e.into_inner());
        let mut wait = Duration::ZERO;
        for key in keys {
            if let Some(times) = attempts.get_mut(key) {
                while times
                    .front()
                    .is_some_and(|t| now.duration_since(*t) >= self.window)
                {
                    times.pop_front();
                }
                let max = if key.starts_with(IP_PREFIX) {
                    self.per_ip
                } else {
                    self.per_email
                };
                if times.len() >= max {
                    let oldest = *times.front().expect("non-empty");
                    wait = wait.max(self.window - now.duration_since(oldest));
                }
            }
        }
        if wait.is_zero() {
            Ok(())
        } else {
            Err(wait)
        }
    }

    /// Counts a failed attempt against each key.
    pub fn fail(&self, keys: &[String]) {
        let now = Instant::now();
        let mut attempts = self.attempts.lock().unwrap_or_else(|e| e.into_inner());
        // Keep the map from growing without bound under a spray of keys.
        if attempts.len() > 100_000 {
            attempts.retain(|_, times| {
                times
                    .back()
                    .is_some_and(|t| now.duration_since(*t) < self.window)
            });
        }
        for key in keys {
            attempts.entry(key.clone()).or_default().push_back(now);
        }
    }

    /// Forgets the failures of an email after a successful sign-in.
    pub fn clear(&self, key: &str) {
        self.attempts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_after_max_failures_and_says_how_long() {
        let limiter = RateLimiter::new(2, 3, Duration::from_secs(60));
        let keys = vec!["ip:1".to_string(), "email:a".to_string()];
        assert!(limiter.check(&keys).is_ok());
        limiter.fail(&keys);
        assert!(limiter.check(&keys).is_ok());
        limiter.fail(&keys);
        let wait = limiter.check(&keys).unwrap_err();
        assert!(wait > Duration::from_secs(59) && wait <= Duration::from_secs(60));
        // The address has an allowance of its own: one more failure from it blocks other emails.
        assert!(limiter.check(&["ip:1".into(), "email:b".into()]).is_ok());
        limiter.fail(&["ip:1".into(), "email:b".into()]);
        assert!(limiter.check(&["ip:1".into(), "email:c".into()]).is_err());
        assert!(limiter.check(&["ip:2".into(), "email:c".into()]).is_ok());
        limiter.clear("email:a");
        assert!(limiter.check(&["ip:2".into(), "email:a".into()]).is_ok());
    }
}
