//! ClickHouse over its HTTP interface (Debian's server is 18.16, from 2018: plain SQL over HTTP
//! is what it and current versions both speak; the official crate's RowBinary protocol needs a
//! newer server). The platform's user, an org's database `org_<id>`, and its user.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::{
    client::legacy::{connect::HttpConnector, Client},
    rt::TokioExecutor,
};
use uuid::Uuid;

use super::{org_user, UserChange, UsersHook};

#[derive(Clone)]
pub struct ClickHouse {
    client: Client<HttpConnector, Full<Bytes>>,
    /// `http://host:port`, without credentials.
    base: String,
    user: String,
    password: String,
    users: Option<UsersHook>,
}

fn fault(err: impl std::fmt::Display) -> String {
    format!("ClickHouse: {err}")
}

/// `org`'s database.
pub fn database(org: Uuid) -> String {
    org_user(org)
}

impl ClickHouse {
    /// From `http://user:password@host:port`.
    pub fn new(url: &str, users: Option<UsersHook>) -> Result<Self, String> {
        let rest = url
            .strip_prefix("http://")
            .ok_or_else(|| fault("the address must start with http://"))?;
        let (credentials, host) = rest.rsplit_once('@').unwrap_or(("default:", rest));
        let (user, password) = credentials.split_once(':').unwrap_or((credentials, ""));
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(std::time::Duration::from_secs(3)));
        Ok(Self {
            client: Client::builder(TokioExecutor::new()).build(connector),
            base: format!("http://{}", host.trim_end_matches('/')),
            user: user.to_string(),
            password: password.to_string(),
            users,
        })
    }

    pub async fn ping(&self) -> Result<(), String> {
        self.query("SELECT 1").await.map(|_| ())
    }

    /// Runs `sql` as the platform; the answer's body.
    pub async fn query(&self, sql: &str) -> Result<String, String> {
        self.query_as(&self.user, &self.password, sql).await
    }

    /// Runs `sql` as `user`, with `body` as the data of an `INSERT … FORMAT …`.
    pub async fn insert(&self, sql: &str, body: String) -> Result<(), String> {
        self.send(&self.user, &self.password, sql, body)
            .await
            .map(|_| ())
    }

    /// Runs `sql` as `user` (an org's user, in tests of isolation).
    pub async fn query_as(&self, user: &str, password: &str, sql: &str) -> Result<String, String> {
        self.send(user, password, "", sql.to_string()).await
    }

    async fn send(
        &self,
        user: &str,
        password: &str,
        query: &str,
        body: String,
    ) -> Result<String, String> {
        let mut uri = format!("{}/?", self.base);
        if !query.is_empty() {
            uri.push_str("query=");
            uri.push_str(&percent(query));
        }
        let request = axum::http::Request::post(uri)
            .header("X-ClickHouse-User", user)
            .header("X-ClickHouse-Key", password)
            .body(Full::new(Bytes::from(body)))
            .map_err(fault)?;
        let response = tokio::time::timeout(
            std::time::Duration::from_secs(30),
            self.client.request(request),
        )
        .await
        .map_err(|_| fault("no answer within 30 s"))?
        .map_err(fault)?;
        let status = response.status();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(fault)?
            .to_bytes();
        let text = String::from_utf8_lossy(&body).into_owned();
        if status.is_success() {
            Ok(text)
        } else {
            Err(fault(text.trim()))
        }
    }

    /// Creates `org`'s database (and its tables) if missing.
    pub async fn ensure_database(&self, org: Uuid) -> Result<(), String> {
        let db = database(org);
        self.query(&format!("CREATE DATABASE IF NOT EXISTS {db}"))
            .await?;
        for table in super::provision::CLICKHOUSE_TABLES {
            self.query(&table.replace("{db}", &db)).await?;
        }
        Ok(())
    }

    pub async fn has_database(&self, org: Uuid) -> Result<bool, String> {
        let found = self
            .query(&format!(
                "SELECT count() FROM system.databases WHERE name = '{}'",
                database(org)
            ))
            .await?;
        Ok(found.trim() == "1")
    }

    pub async fn drop_database(&self, org: Uuid) -> Result<(), String> {
        self.query(&format!("DROP DATABASE IF EXISTS {}", database(org)))
            .await
            .map(|_| ())
    }

    /// Creates or replaces `org`'s user: in the embedded server's users file, else with SQL
    /// (current ClickHouse; 18.16 has no `CREATE USER`).
    pub async fn put_org_user(&self, org: Uuid, password: &str) -> Result<(), String> {
        let user = org_user(org);
        match &self.users {
            Some(hook) => {
                hook(UserChange::Put {
                    org,
                    entry: user_entry(org, password),
                })?;
                // ClickHouse reads a changed users file within seconds: done means usable.
                let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
                loop {
                    match self.query_as(&user, password, "SELECT 1").await {
                        Ok(_) => return Ok(()),
                        Err(err) if std::time::Instant::now() > deadline => {
                            return Err(format!("its new user cannot sign in: {err}"))
                        }
                        Err(_) => tokio::time::sleep(std::time::Duration::from_millis(250)).await,
                    }
                }
            }
            None => {
                self.query(&format!(
                    "CREATE USER IF NOT EXISTS {user} IDENTIFIED WITH sha256_password BY '{password}'"
                ))
                .await?;
                self.query(&format!(
                    "GRANT SELECT ON {db}.* TO {user}",
                    db = database(org)
                ))
                .await
                .map(|_| ())
            }
        }
    }

    pub async fn remove_org_user(&self, org: Uuid) -> Result<(), String> {
        match &self.users {
            Some(hook) => hook(UserChange::Remove { org }),
            None => self
                .query(&format!("DROP USER IF EXISTS {}", org_user(org)))
                .await
                .map(|_| ()),
        }
    }
}

/// The org's user in ClickHouse's users file, on one line: its own database only, read-only
/// (settings may be changed, data not).
pub fn user_entry(org: Uuid, password: &str) -> String {
    let user = org_user(org);
    let hash = super::sha256_hex(password);
    format!(
        "<{user}><password_sha256_hex>{hash}</password_sha256_hex><networks><ip>127.0.0.1</ip><ip>::1</ip></networks><profile>org</profile><quota>default</quota><allow_databases><database>{db}</database></allow_databases></{user}>",
        db = database(org)
    )
}

/// `text` as a URL query value.
fn percent(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
