//! The database the server runs on: the embedded cluster (holding the data directory's lock
//! while it runs), or one at a URL.

use std::{
    fs::{self, File, OpenOptions},
    io,
    path::Path,
};

use crate::config::Config;
use crate::embedded_pg::{Cluster, ClusterOptions, PgBinaries};
use crate::{db, embedded_pg, Error};
use nix::fcntl::{Flock, FlockArg};
use sqlx::{postgres::PgConnectOptions, PgPool};

/// The embedded cluster, with the data directory lock held for as long as it runs.
pub(crate) struct Embedded {
    cluster: Cluster,
    _lock: Flock<File>,
}

impl Embedded {
    pub(crate) async fn start(config: &Config) -> Result<Self, Error> {
        let data_dir = config.data_dir.clone();
        let lock = lock_data_dir(&data_dir)?;
        let bins = PgBinaries::locate(config.pg_bin_dir.as_deref())?;
        let options = ClusterOptions {
            dir: data_dir.join("pg"),
            log_file: data_dir.join("postgres.log"),
            durable: true,
        };
        let cluster = tokio::task::spawn_blocking(move || Cluster::start(&bins, &options))
            .await
            .map_err(|e| Error::Io(io::Error::other(e)))??;
        let superuser = cluster.connect_options(embedded_pg::SUPERUSER, "postgres");
        db::bootstrap(&superuser, db::DATABASE)
            .await
            .map_err(Error::Bootstrap)?;
        Ok(Self {
            cluster,
            _lock: lock,
        })
    }

    pub(crate) async fn migrate(&self) -> Result<(), Error> {
        let owner = self.cluster.connect_options(db::OWNER_ROLE, db::DATABASE);
        let pool = connect(owner, 1, "the embedded PostgreSQL").await?;
        db::MIGRATOR.run(&pool).await?;
        pool.close().await;
        Ok(())
    }

    pub(crate) async fn owner_pool(&self) -> Result<PgPool, Error> {
        let options = self.cluster.connect_options(db::OWNER_ROLE, db::DATABASE);
        connect(options, 2, "the embedded PostgreSQL").await
    }

    pub(crate) async fn runtime_pool(&self) -> Result<PgPool, Error> {
        let options = self.cluster.connect_options(db::RUNTIME_ROLE, db::DATABASE);
        connect(options, 10, "the embedded PostgreSQL").await
    }

    pub(crate) async fn stop(self) -> Result<(), Error> {
        tokio::task::spawn_blocking(move || self.cluster.stop())
            .await
            .map_err(|e| Error::Io(io::Error::other(e)))??;
        Ok(())
    }
}

/// Creates the data directory and takes its lock, so two servers never share one cluster.
pub(crate) fn lock_data_dir(data_dir: &Path) -> Result<Flock<File>, Error> {
    let err = |source| Error::DataDir {
        path: data_dir.to_path_buf(),
        source,
    };
    fs::create_dir_all(data_dir).map_err(err)?;
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(data_dir.join("server.lock"))
        .map_err(err)?;
    Flock::lock(file, FlockArg::LockExclusiveNonblock)
        .map_err(|_| Error::DataDirBusy(data_dir.to_path_buf()))
}

/// The runtime pool of the server running on `data_dir` (this machine), for a node that joins
/// it: refused when no server holds that directory's lock.
pub(crate) async fn join(data_dir: &Path) -> Result<PgPool, Error> {
    let refuse = |reason: &str| Error::Join {
        path: data_dir.to_path_buf(),
        reason: reason.to_string(),
    };
    let file = OpenOptions::new()
        .write(true)
        .open(data_dir.join("server.lock"))
        .map_err(|_| refuse("no Tenantry server has used that data directory"))?;
    if Flock::lock(file, FlockArg::LockExclusiveNonblock).is_ok() {
        return Err(refuse(
            "no Tenantry server is running on it; start that one first",
        ));
    }
    let options = embedded_pg::socket_options(&data_dir.join("pg"), db::RUNTIME_ROLE, db::DATABASE);
    connect(
        options,
        10,
        &format!("the PostgreSQL of the server on {}", data_dir.display()),
    )
    .await
}

pub(crate) async fn connect_url(url: &str) -> Result<PgPool, Error> {
    let options: PgConnectOptions = url.parse().map_err(|source| Error::Connect {
        target: redact(url),
        source,
    })?;
    connect(options, 10, &redact(url)).await
}

pub(crate) async fn connect(
    options: PgConnectOptions,
    max: u32,
    target: &str,
) -> Result<PgPool, Error> {
    db::connect(options, max)
        .await
        .map_err(|source| Error::Connect {
            target: target.to_string(),
            source,
        })
}

/// The URL with its password replaced, fit for messages and logs.
pub(crate) fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &url[scheme_end + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme_end + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn redact_hides_only_the_password() {
        assert_eq!(
            redact("postgres://app:s3cret@db:5432/x"),
            "postgres://app:***@db:5432/x"
        );
        assert_eq!(redact("postgres://app@db/x"), "postgres://app@db/x");
        assert_eq!(redact("postgres://db/x"), "postgres://db/x");
        assert_eq!(redact("not a url"), "not a url");
    }
}
