//! Redis: the platform's connection, an org's key space, and its ACL user.
//!
//! An org's keys all start with `org:<id>:` ([`OrgRedis`] adds it, so code holding an org's
//! client cannot name another org's key). Its ACL user may read and write only keys with that
//! prefix, and may not run `SCAN`, `KEYS` or `RANDOMKEY` at all: ACL key patterns do not filter
//! what those return (redis/redis #8152).

use redis::aio::ConnectionManager;
use uuid::Uuid;

use super::org_user;

#[derive(Clone)]
pub struct Redis {
    conn: ConnectionManager,
}

fn fault(err: redis::RedisError) -> String {
    format!("Redis: {err}")
}

/// The prefix of every key of `org`.
pub fn prefix(org: Uuid) -> String {
    format!("org:{}:", org.simple())
}

impl Redis {
    /// Connects (and reconnects by itself after a failure); each command gives up after
    /// `timeout`, so a Redis that is down fails the caller quickly instead of stalling it.
    pub async fn connect(url: &str, timeout: std::time::Duration) -> Result<Self, String> {
        let client = redis::Client::open(url).map_err(fault)?;
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(timeout))
            .set_response_timeout(Some(timeout))
            .set_number_of_retries(1);
        let conn = ConnectionManager::new_with_config(client, config)
            .await
            .map_err(fault)?;
        Ok(Self { conn })
    }

    pub async fn ping(&self) -> Result<(), String> {
        let mut conn = self.conn.clone();
        redis::cmd("PING")
            .query_async::<String>(&mut conn)
            .await
            .map(|_| ())
            .map_err(fault)
    }

    /// The platform's connection, for keys that belong to no org (the sign-in limiter).
    pub fn platform(&self) -> ConnectionManager {
        self.conn.clone()
    }

    /// `org`'s key space.
    pub fn org(&self, org: Uuid) -> OrgRedis {
        OrgRedis {
            conn: self.conn.clone(),
            prefix: prefix(org),
        }
    }

    /// Creates or resets `org`'s ACL user, and saves the ACL file where there is one.
    pub async fn put_org_user(&self, org: Uuid, password: &str) -> Result<(), String> {
        let mut conn = self.conn.clone();
        let prefix = prefix(org);
        redis::cmd("ACL")
            .arg("SETUSER")
            .arg(org_user(org))
            .arg("reset")
            .arg("on")
            .arg(format!(">{password}"))
            .arg(format!("~{prefix}*"))
            .arg("resetchannels")
            .arg(format!("&{prefix}*"))
            .arg("-@all")
            .arg("+@read")
            .arg("+@write")
            .arg("+@transaction")
            .arg("+@connection")
            .arg("-@dangerous")
            .arg("-@admin")
            .arg("-@scripting")
            // Whole-server views and moves out of the key space: client-side tracking (its
            // broadcast mode reports every key changed anywhere), functions, other databases.
            .arg("-client")
            .arg("-function")
            .arg("-move")
            .arg("-copy")
            .arg("-dbsize")
            .arg("-scan")
            .arg("-keys")
            .arg("-randomkey")
            .arg("-select")
            .arg("-swapdb")
            .query_async::<()>(&mut conn)
            .await
            .map_err(fault)?;
        save_acl(&mut conn).await
    }

    /// Whether `org`'s ACL user exists.
    pub async fn has_org_user(&self, org: Uuid) -> Result<bool, String> {
        let mut conn = self.conn.clone();
        let users: Vec<String> = redis::cmd("ACL")
            .arg("USERS")
            .query_async(&mut conn)
            .await
            .map_err(fault)?;
        Ok(users.contains(&org_user(org)))
    }

    /// Removes `org`'s ACL user and every key of its prefix.
    pub async fn remove_org(&self, org: Uuid) -> Result<(), String> {
        let mut conn = self.conn.clone();
        redis::cmd("ACL")
            .arg("DELUSER")
            .arg(org_user(org))
            .query_async::<i64>(&mut conn)
            .await
            .map_err(fault)?;
        save_acl(&mut conn).await?;
        let pattern = format!("{}*", prefix(org));
        let mut cursor: u64 = 0;
        loop {
            let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(&pattern)
                .arg("COUNT")
                .arg(1000)
                .query_async(&mut conn)
                .await
                .map_err(fault)?;
            if !keys.is_empty() {
                redis::cmd("UNLINK")
                    .arg(&keys)
                    .query_async::<i64>(&mut conn)
                    .await
                    .map_err(fault)?;
            }
            if next == 0 {
                return Ok(());
            }
            cursor = next;
        }
    }
}

/// `ACL SAVE`, where Redis keeps its users in a file (a server configured without one keeps
/// them in its configuration, which is the operator's to persist).
async fn save_acl(conn: &mut ConnectionManager) -> Result<(), String> {
    match redis::cmd("ACL").arg("SAVE").query_async::<()>(conn).await {
        Ok(()) => Ok(()),
        Err(err)
            if err
                .to_string()
                .contains("not configured to use an ACL file") =>
        {
            Ok(())
        }
        Err(err) => Err(fault(err)),
    }
}

/// One org's key space: every key given is taken under the org's prefix.
#[derive(Clone)]
pub struct OrgRedis {
    conn: ConnectionManager,
    prefix: String,
}

impl OrgRedis {
    pub fn key(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }

    /// One more hit on each of `keys` (under the org's prefix): see [`hits`].
    pub async fn hits(
        &self,
        keys: &[String],
        window: std::time::Duration,
    ) -> Result<Vec<(u64, u64)>, String> {
        let keys: Vec<String> = keys.iter().map(|k| self.key(k)).collect();
        hits(&mut self.conn.clone(), &keys, window).await
    }
}

/// One more hit on each of `keys` in its current window of `window` (a window starts at a key's
/// first hit): each key's count and the seconds left in its window. `INCR`, `EXPIRE … NX` and
/// `TTL` per key, all in one atomic round trip.
pub async fn hits(
    conn: &mut ConnectionManager,
    keys: &[String],
    window: std::time::Duration,
) -> Result<Vec<(u64, u64)>, String> {
    let secs = window.as_secs().max(1);
    let mut pipe = redis::pipe();
    pipe.atomic();
    for key in keys {
        pipe.cmd("INCR")
            .arg(key)
            .cmd("EXPIRE")
            .arg(key)
            .arg(secs)
            .arg("NX")
            .ignore()
            .cmd("TTL")
            .arg(key);
    }
    let flat: Vec<i64> = pipe.query_async(conn).await.map_err(fault)?;
    Ok(flat
        .chunks(2)
        .map(|pair| {
            (
                pair[0].max(0) as u64,
                pair.get(1).copied().unwrap_or(1).max(1) as u64,
            )
        })
        .collect())
}
