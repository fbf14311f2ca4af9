//! NATS JetStream: the platform's connection, an org's stream, and its user.
//!
//! An org's subjects are `org.<id>.>`, kept by its stream `ORG_<id>` (how many events from its
//! plan, each at most 64 KiB, kept 30 days). Its user may publish and subscribe only there (but not publish to
//! `org.<id>.usage`, the platform's), read its own stream by message (no stream list, no account
//! info: they would name the other orgs; no consumers: their deliveries go where the consumer
//! says), and receives replies on its own inbox prefix.

use async_nats::jetstream;
use tracing::instrument::WithSubscriber;
use uuid::Uuid;

use super::{org_user, UserChange, UsersHook};

#[derive(Clone)]
pub struct Nats {
    client: async_nats::Client,
    /// `nats://host:port`.
    address: String,
    js: jetstream::Context,
    users: Option<UsersHook>,
}

fn fault(err: impl std::fmt::Display) -> String {
    format!("NATS: {err}")
}

/// What an org's stream keeps without a plan, and at most.
pub const DEFAULT_STREAM_MESSAGES: i64 = 1_000_000;
pub const MAX_STREAM_MESSAGES: i64 = 10_000_000;

pub fn stream_name(org: Uuid) -> String {
    format!("ORG_{}", org.simple())
}

pub fn subjects(org: Uuid) -> String {
    format!("org.{}.>", org.simple())
}

/// The inbox prefix an org's clients must use (`ConnectOptions::custom_inbox_prefix`).
pub fn inbox(org: Uuid) -> String {
    format!("_INBOX_{}", org_user(org))
}

impl Nats {
    /// Connects to `url` (`nats://user:password@host:port`); the credentials go as the user
    /// and password of the connection.
    pub async fn connect(url: &str, users: Option<UsersHook>) -> Result<Self, String> {
        let (options, address) = options(url);
        let client = options
            .name("tenantry")
            .retry_on_initial_connect()
            .connection_timeout(std::time::Duration::from_secs(5))
            .request_timeout(Some(std::time::Duration::from_secs(5)))
            .connect(address)
            .await
            .map_err(fault)?;
        let js = jetstream::new(client.clone());
        Ok(Self {
            client,
            address: address_of(url),
            js,
            users,
        })
    }

    pub async fn ping(&self) -> Result<(), String> {
        match self.client.connection_state() {
            async_nats::connection::State::Connected => {
                tokio::time::timeout(std::time::Duration::from_secs(2), self.client.flush())
                    .await
                    .map_err(|_| fault("no answer within 2 s"))?
                    .map_err(fault)
            }
            state => Err(fault(format!("not connected ({state})"))),
        }
    }

    pub fn client(&self) -> &async_nats::Client {
        &self.client
    }

    pub fn jetstream(&self) -> &jetstream::Context {
        &self.js
    }

    /// Creates `org`'s stream, or sets its storage limit if it exists.
    pub async fn ensure_stream(&self, org: Uuid, max_messages: i64) -> Result<(), String> {
        let config = jetstream::stream::Config {
            name: stream_name(org),
            subjects: vec![subjects(org)],
            max_messages,
            // A byte limit would be reserved on the server up front, for every org.
            max_bytes: -1,
            max_message_size: 64 * 1024,
            storage: jetstream::stream::StorageType::File,
            // Each usage event once: a publish repeated with the same message id within this
            // window is stored once.
            duplicate_window: std::time::Duration::from_secs(24 * 3600),
            // Recorded events are not needed after a while; the stream must not fill for good.
            max_age: std::time::Duration::from_secs(30 * 24 * 3600),
            ..Default::default()
        };
        match self.js.get_stream(stream_name(org)).await {
            Ok(_) => self
                .js
                .update_stream(config)
                .await
                .map(|_| ())
                .map_err(fault),
            Err(_) => self
                .js
                .create_stream(config)
                .await
                .map(|_| ())
                .map_err(fault),
        }
    }

    pub async fn has_stream(&self, org: Uuid) -> bool {
        self.js.get_stream(stream_name(org)).await.is_ok()
    }

    pub async fn delete_stream(&self, org: Uuid) -> Result<(), String> {
        match reloading(|| async {
            self.js
                .delete_stream(stream_name(org))
                .await
                .map(|_| ())
                .map_err(fault)
        })
        .await
        {
            Ok(_) => Ok(()),
            Err(err) if err.contains("not found") || err.contains("does not exist") => Ok(()),
            Err(err) => Err(err),
        }
    }

    /// Whether the org users can be managed here (the embedded server; at a configured address
    /// they are the operator's).
    pub fn manages_users(&self) -> bool {
        self.users.is_some()
    }

    /// Adds `org`'s user to the embedded server, and waits until it can connect (the server
    /// reads its configuration again on a signal, a moment later).
    pub async fn put_org_user(&self, org: Uuid, password: &str) -> Result<(), String> {
        let Some(hook) = &self.users else {
            return Ok(());
        };
        hook(UserChange::Put {
            org,
            entry: user_entry(org, password),
        })?;
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
        loop {
            // Refused until the server has read its configuration again: expected, so
            // async-nats's own ERROR line for a refused user is not logged for this probe (a
            // refusal at the deadline is the error returned).
            let probe = org_client(&self.address, org, password)
                .with_subscriber(tracing::subscriber::NoSubscriber::default());
            match probe.await {
                Ok(client) => {
                    drop(client);
                    return Ok(());
                }
                Err(err) if std::time::Instant::now() > deadline => {
                    return Err(format!("its new user cannot connect: {err}"))
                }
                Err(_) => tokio::time::sleep(std::time::Duration::from_millis(100)).await,
            }
        }
    }

    /// The address of the server, without credentials.
    pub fn address(&self) -> &str {
        &self.address
    }

    pub fn remove_org_user(&self, org: Uuid) -> Result<(), String> {
        match &self.users {
            Some(hook) => hook(UserChange::Remove { org }),
            None => Ok(()),
        }
    }
}

/// Runs a JetStream call again while the server answers that JetStream is not enabled for the
/// account: it says so for a moment while it reads its configuration again (each org's user
/// added or removed), for every org. Up to 5 s.
pub async fn reloading<T, F, Fut>(mut call: F) -> Result<T, String>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, String>>,
{
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        match call().await {
            Err(err)
                if (err.contains("not enabled for account") || err.contains("10039"))
                    && std::time::Instant::now() < deadline =>
            {
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
            other => return other,
        }
    }
}

/// A connection as `org`'s own user (its inbox prefix set), to the server at `address`.
pub async fn org_client(
    address: &str,
    org: Uuid,
    password: &str,
) -> Result<async_nats::Client, String> {
    async_nats::ConnectOptions::with_user_and_password(org_user(org), password.to_string())
        .custom_inbox_prefix(inbox(org))
        .connection_timeout(std::time::Duration::from_secs(2))
        .connect(address)
        .await
        .map_err(fault)
}

fn address_of(url: &str) -> String {
    options(url).1
}

/// Connection options with the user and password of `url`, and the address without them.
pub fn options(url: &str) -> (async_nats::ConnectOptions, String) {
    let (scheme, rest) = url.split_once("://").unwrap_or(("nats", url));
    match rest.rsplit_once('@') {
        Some((credentials, host)) => {
            let (user, password) = credentials.split_once(':').unwrap_or((credentials, ""));
            (
                async_nats::ConnectOptions::with_user_and_password(
                    user.to_string(),
                    password.to_string(),
                ),
                format!("{scheme}://{host}"),
            )
        }
        None => (async_nats::ConnectOptions::new(), url.to_string()),
    }
}

/// The org's user in NATS's configuration syntax, on one line.
pub fn user_entry(org: Uuid, password: &str) -> String {
    let stream = stream_name(org);
    let id = org.simple();
    // Its own subjects, but not `usage` (the platform's: the consumer bills what is there), and
    // its stream read by message (no consumers: a consumer's deliveries go to any subject the
    // consumer names, other orgs' included, outside this user's permissions).
    let publish = [
        format!("org.{id}.>"),
        format!("$JS.API.STREAM.INFO.{stream}"),
        format!("$JS.API.STREAM.MSG.GET.{stream}"),
    ];
    let deny = [format!("org.{id}.usage")];
    let subscribe = [format!("org.{id}.>"), format!("{}.>", inbox(org))];
    let list = |items: &[String]| {
        items
            .iter()
            .map(|s| format!("\"{s}\""))
            .collect::<Vec<_>>()
            .join(", ")
    };
    format!(
        "{{ user: \"{user}\", password: \"{password}\", permissions: {{ publish: {{ allow: [{p}], deny: [{d}] }}, subscribe: {{ allow: [{s}] }} }} }}",
        user = org_user(org),
        p = list(&publish),
        d = list(&deny),
        s = list(&subscribe),
    )
}
