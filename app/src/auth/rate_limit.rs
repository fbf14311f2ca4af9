//! Sign-in (and registration) attempts per key, an IP address or an email: counted in Redis
//! (shared by every app node, see [`reserve`]), and in this process's memory when Redis is not
//! configured or does not answer (then each node counts alone: the limits still hold per node).
//!
//! - An attempt is **reserved** before the password is checked, under one lock, so parallel
//!   guesses cannot all pass the check before the first failure is recorded.
//! - An address gets `per_ip` attempts in the window (an office shares one).
//! - An email gets `per_email` failures in the window; after that each further attempt waits
//!   a backoff that doubles per failure up to `max_backoff` since the last one, so a stream of
//!   guesses slows the email down without locking its owner out for good.
//! - IPv6 addresses count per /64: one host often holds a whole /64.

use std::{
    collections::{HashMap, VecDeque},
    net::IpAddr,
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
    max_backoff: Duration,
    attempts: Mutex<HashMap<String, VecDeque<Instant>>>,
}

/// An attempt held against its keys until it is known to have failed (kept) or succeeded
/// ([`RateLimiter::succeeded`] gives it back).
#[must_use]
pub struct Reservation {
    keys: Vec<String>,
    at: Instant,
}

/// The limiter key of a client address: the address, IPv6 ones by their /64.
pub fn ip_key(ip: &str) -> String {
    match ip.parse::<IpAddr>() {
        Ok(IpAddr::V6(v6)) => {
            let s = v6.segments();
            format!(
                "{IP_PREFIX}{:x}:{:x}:{:x}:{:x}::/64",
                s[0], s[1], s[2], s[3]
            )
        }
        _ => format!("{IP_PREFIX}{ip}"),
    }
}

/// An attempt held, in Redis or in this process's memory.
#[must_use]
pub enum Held {
    Shared { keys: Vec<String> },
    Local(Reservation),
}

/// Reserves an attempt against every key, or `Err(wait)`: in Redis when there is one (so every
/// node counts the same attempts), else, or when Redis fails, in `limiter`.
pub async fn reserve(
    limiter: &RateLimiter,
    redis: Option<&crate::stores::redis::Redis>,
    keys: &[String],
) -> Result<Held, Duration> {
    if let Some(redis) = redis {
        match shared_reserve(limiter, redis, keys).await {
            Ok(Ok(())) => {
                return Ok(Held::Shared {
                    keys: keys.to_vec(),
                })
            }
            Ok(Err(wait)) => return Err(wait),
            Err(err) => tracing::warn!(
                %err,
                "sign-in limits counted on this node only: Redis does not answer"
            ),
        }
    }
    limiter.reserve(keys).map(Held::Local)
}

/// The attempt succeeded: as [`RateLimiter::succeeded`], where it was held.
pub async fn succeeded(
    limiter: &RateLimiter,
    redis: Option<&crate::stores::redis::Redis>,
    held: Held,
) {
    match (held, redis) {
        (Held::Local(reservation), _) => limiter.succeeded(reservation),
        (Held::Shared { keys }, Some(redis)) => {
            let mut conn = redis.platform();
            let mut pipe = redis::pipe();
            for key in &keys {
                if key.starts_with(IP_PREFIX) {
                    pipe.cmd("DECR").arg(count_key(key)).ignore();
                } else {
                    pipe.cmd("DEL")
                        .arg(count_key(key))
                        .arg(last_key(key))
                        .ignore();
                }
            }
            if let Err(err) = pipe.query_async::<()>(&mut conn).await {
                tracing::warn!(%err, "could not forget a successful sign-in's attempt in Redis");
            }
        }
        (Held::Shared { .. }, None) => {}
    }
}

fn count_key(key: &str) -> String {
    format!("signin:count:{key}")
}

fn last_key(key: &str) -> String {
    format!("signin:last:{key}")
}

/// The same rules as [`RateLimiter::reserve`], in one Lua script (atomic: parallel guesses on
/// any node cannot all pass the check): every key is checked first, then each is counted.
const RESERVE: &str = r#"
local now, window, per_ip, per_email, max_backoff = tonumber(ARGV[1]), tonumber(ARGV[2]),
  tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local wait = 0
for i = 1, #KEYS, 2 do
  local n = tonumber(redis.call('GET', KEYS[i]) or '0')
  if ARGV[5 + (i + 1) / 2] == 'ip' then
    if n >= per_ip then wait = math.max(wait, redis.call('PTTL', KEYS[i])) end
  elseif n >= per_email then
    local backoff = math.min(1000 * 2 ^ math.min(n - per_email, 20), max_backoff)
    local last = tonumber(redis.call('GET', KEYS[i + 1]) or '0')
    wait = math.max(wait, backoff - (now - last))
  end
end
if wait > 0 then return wait end
for i = 1, #KEYS, 2 do
  redis.call('INCR', KEYS[i])
  if redis.call('PTTL', KEYS[i]) < 0 then redis.call('PEXPIRE', KEYS[i], window) end
  redis.call('SET', KEYS[i + 1], now, 'PX', window)
end
return 0
"#;

async fn shared_reserve(
    limiter: &RateLimiter,
    redis: &crate::stores::redis::Redis,
    keys: &[String],
) -> Result<Result<(), Duration>, String> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_err(|e| e.to_string())?
        .as_millis() as u64;
    let script = redis::Script::new(RESERVE);
    let mut invocation = script.prepare_invoke();
    for key in keys {
        invocation.key(count_key(key)).key(last_key(key));
    }
    invocation
        .arg(now)
        .arg(limiter.window.as_millis() as u64)
        .arg(limiter.per_ip)
        .arg(limiter.per_email)
        .arg(limiter.max_backoff.as_millis() as u64);
    for key in keys {
        invocation.arg(if key.starts_with(IP_PREFIX) {
            "ip"
        } else {
            "email"
        });
    }
    let mut conn = redis.platform();
    let wait_ms: i64 = invocation
        .invoke_async(&mut conn)
        .await
        .map_err(|e| format!("Redis: {e}"))?;
    Ok(if wait_ms > 0 {
        Err(Duration::from_millis(wait_ms as u64))
    } else {
        Ok(())
    })
}

impl RateLimiter {
    pub fn new(per_email: usize, per_ip: usize, window: Duration, max_backoff: Duration) -> Self {
        Self {
            per_email,
            per_ip,
            window,
            max_backoff,
            attempts: Mutex::new(HashMap::new()),
        }
    }

    /// How long `key`, with these attempt times, must still wait; zero when it may go.
    fn wait(&self, key: &str, times: &VecDeque<Instant>, now: Instant) -> Duration {
        if key.starts_with(IP_PREFIX) {
            if times.len() < self.per_ip {
                return Duration::ZERO;
            }
            let oldest = *times.front().expect("non-empty");
            return self.window.saturating_sub(now.duration_since(oldest));
        }
        if times.len() < self.per_email {
            return Duration::ZERO;
        }
        let excess = (times.len() - self.per_email).min(20) as u32;
        let backoff = Duration::from_secs(1)
            .saturating_mul(1 << excess)
            .min(self.max_backoff);
        let last = *times.back().expect("non-empty");
        backoff.saturating_sub(now.duration_since(last))
    }

    /// Reserves an attempt against every key, or `Err(wait)`: how long until one may be made.
    pub fn reserve(&self, keys: &[String]) -> Result<Reservation, Duration> {
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
        let mut wait = Duration::ZERO;
        for key in keys {
            if let Some(times) = attempts.get_mut(key) {
                while times
                    .front()
                    .is_some_and(|t| now.duration_since(*t) >= self.window)
                {
                    times.pop_front();
                }
                wait = wait.max(self.wait(key, times, now));
            }
        }
        if !wait.is_zero() {
            return Err(wait);
        }
        for key in keys {
            attempts.entry(key.clone()).or_default().push_back(now);
        }
        Ok(Reservation {
            keys: keys.to_vec(),
            at: now,
        })
    }

    /// The reserved attempt succeeded: it no longer counts, and the email's failures are
    /// forgotten (keys not starting with [`IP_PREFIX`]).
    pub fn succeeded(&self, reservation: Reservation) {
        let mut attempts = self.attempts.lock().unwrap_or_else(|e| e.into_inner());
        for key in &reservation.keys {
            if key.starts_with(IP_PREFIX) {
                if let Some(times) = attempts.get_mut(key) {
                    if let Some(i) = times.iter().position(|t| *t == reservation.at) {
                        times.remove(i);
                    }
                }
            } else {
                attempts.remove(key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter() -> RateLimiter {
        RateLimiter::new(2, 3, Duration::from_secs(60), Duration::from_secs(30))
    }

    #[test]
    fn an_address_is_blocked_for_the_window_after_its_attempts() {
        let limiter = limiter();
        for email in ["a", "b", "c"] {
            let _failed = limiter
                .reserve(&["ip:1".into(), format!("email:{email}")])
                .unwrap();
        }
        let wait = limiter
            .reserve(&["ip:1".into(), "email:d".into()])
            .err()
            .unwrap();
        assert!(wait > Duration::from_secs(59) && wait <= Duration::from_secs(60));
        assert!(limiter.reserve(&["ip:2".into(), "email:d".into()]).is_ok());
    }

    #[test]
    fn an_email_backs_off_instead_of_locking_out_and_a_success_forgets() {
        let limiter = limiter();
        let keys = |ip: &str| vec![format!("ip:{ip}"), "email:a".to_string()];
        let _ = limiter.reserve(&keys("1")).unwrap();
        let _ = limiter.reserve(&keys("2")).unwrap();
        // Two failures: the next waits 1 s since the last, then 2 s, 4 s, … up to 30 s.
        let wait = limiter.reserve(&keys("3")).err().unwrap();
        assert!(wait <= Duration::from_secs(1) && wait > Duration::ZERO);
        let ok = limiter.reserve(&["ip:9".into(), "email:b".into()]).unwrap();
        limiter.succeeded(ok);
        assert!(limiter.reserve(&["ip:9".into(), "email:b".into()]).is_ok());
    }

    #[test]
    fn ipv6_addresses_count_per_64() {
        assert_eq!(ip_key("2001:db8:1:2:3:4:5:6"), "ip:2001:db8:1:2::/64");
        assert_eq!(ip_key("2001:db8:1:2:ffff::1"), "ip:2001:db8:1:2::/64");
        assert_eq!(ip_key("192.0.2.7"), "ip:192.0.2.7");
    }
}
