//! "The local default" database: `DATABASE_URL`, or a cluster in a data directory.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use sqlx::Connection;

use crate::binaries::PgBinaries;
use crate::cluster::{Cluster, SUPERUSER, wait_until_ready};
use crate::lock::DirLock;
use crate::privilege::RunAs;
use crate::sql::{CONNECT_TIMEOUT, connect, create_database_if_missing};
use crate::url::with_database;
use crate::{PgkitError, redact};

/// The database [`local_database`] creates in a cluster it manages.
pub const DEFAULT_DATABASE: &str = "seam";

/// How long to wait for another process that is setting up the same cluster.
const LOCK_TIMEOUT: Duration = Duration::from_secs(180);

/// How long a freshly started (or starting) server may take to accept connections.
const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// How many fresh ports to try when the chosen one is taken between choosing and starting.
const START_ATTEMPTS: usize = 3;

/// Where [`local_database`] finds its server.
#[derive(Clone, PartialEq, Eq)]
pub struct LocalOptions {
    /// A server to use instead of a local cluster. When set, it must be reachable: no
    /// cluster is started in its place. [`Default`] reads the `DATABASE_URL` variable.
    pub database_url: Option<String>,
    /// The cluster's data directory (used only when `database_url` is `None`).
    /// [`Default`]: `./.seam/pg`, relative to the current directory.
    pub data_dir: PathBuf,
    /// The port to start the cluster on; `None` reuses the port the cluster had last time
    /// if it is free, or picks a free one.
    pub port: Option<u16>,
}

impl Default for LocalOptions {
    fn default() -> Self {
        LocalOptions {
            database_url: std::env::var("DATABASE_URL")
                .ok()
                .filter(|u| !u.trim().is_empty()),
            data_dir: PathBuf::from(".seam").join("pg"),
            port: None,
        }
    }
}

impl fmt::Debug for LocalOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalOptions")
            .field("database_url", &self.database_url.as_deref().map(redact))
            .field("data_dir", &self.data_dir)
            .field("port", &self.port)
            .finish()
    }
}

/// A reachable database, as found or started by [`local_database`].
pub struct LocalDatabase {
    url: String,
    started: bool,
    cluster: Option<Cluster>,
}

impl LocalDatabase {
    /// Connection URL of the database (may contain a password: log it via [`redact`]).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// True if this call started the server (and so [`LocalDatabase::stop`] will stop it).
    pub fn started(&self) -> bool {
        self.started
    }

    /// The cluster's data directory, or `None` when the server came from `DATABASE_URL`.
    ///
    /// This is where the cluster really lives, which differs from the requested directory
    /// when running as root forced it under `/tmp` (see the crate documentation).
    pub fn data_dir(&self) -> Option<&Path> {
        self.cluster.as_ref().map(Cluster::dir)
    }

    /// Stops the server (`pg_ctl stop -m fast`) if, and only if, this call started it.
    pub async fn stop(self) -> Result<(), PgkitError> {
        match (&self.cluster, self.started) {
            (Some(cluster), true) => cluster.stop().await,
            _ => Ok(()),
        }
    }
}

impl fmt::Debug for LocalDatabase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalDatabase")
            .field("url", &redact(&self.url))
            .field("started", &self.started)
            .field("data_dir", &self.data_dir())
            .finish()
    }
}

/// Finds or starts "the local default" PostgreSQL database.
///
/// * `opts.database_url` set (by default from `DATABASE_URL`): connects to it with a 3 s
///   timeout and returns it, or fails with [`PgkitError::Unreachable`]. Nothing is started.
/// * Otherwise: reuses the cluster running in `opts.data_dir`, or creates it (`initdb`) and
///   starts it (`pg_ctl`) on 127.0.0.1, then creates database `seam` if missing.
///
/// Concurrent calls for the same data directory, from any process, are serialised by the
/// lock file `<data_dir>.lock`.
pub async fn local_database(opts: &LocalOptions) -> Result<LocalDatabase, PgkitError> {
    if let Some(url) = &opts.database_url {
        let conn = connect(url, CONNECT_TIMEOUT).await?;
        let _ = conn.close().await;
        tracing::info!(url = %redact(url), "using DATABASE_URL");
        return Ok(LocalDatabase {
            url: url.clone(),
            started: false,
            cluster: None,
        });
    }
    let data_dir = std::path::absolute(&opts.data_dir)
        .map_err(|e| PgkitError::io(format!("resolving {}", opts.data_dir.display()), e))?;
    cluster_database(&data_dir, opts.port, DEFAULT_DATABASE).await
}

/// Reuses or starts the cluster for `data_dir` and makes sure `database` exists in it.
pub(crate) async fn cluster_database(
    data_dir: &Path,
    port: Option<u16>,
    database: &str,
) -> Result<LocalDatabase, PgkitError> {
    let bins = PgBinaries::find()?;
    let run_as = RunAs::detect()?;
    let _lock = DirLock::acquire(&DirLock::path_for(data_dir), LOCK_TIMEOUT).await?;
    let cluster = Cluster::locate(data_dir, bins, run_as).await?;

    let (server_url, started) = match running_server(&cluster).await? {
        Some(url) => {
            tracing::info!(dir = %cluster.dir().display(), url = %url, "reusing running PostgreSQL");
            (url, false)
        }
        None => (start(&cluster, port).await?, true),
    };
    let mut conn = wait_until_ready(&server_url, READY_TIMEOUT).await?;
    create_database_if_missing(&mut conn, database).await?;
    let _ = conn.close().await;
    Ok(LocalDatabase {
        url: with_database(&server_url, database),
        started,
        cluster: Some(cluster),
    })
}

/// The URL of the `postgres` database on 127.0.0.1:`port`.
fn server_url(port: u16) -> String {
    format!("postgres://{SUPERUSER}@127.0.0.1:{port}/postgres")
}

/// The server URL if a server is already running on `cluster`.
///
/// A server that is running but not accepting connections yet (starting up, recovering)
/// is waited for; a dead one (stale `postmaster.pid`) gives `None`.
async fn running_server(cluster: &Cluster) -> Result<Option<String>, PgkitError> {
    let Some((_, port)) = cluster.pid_file() else {
        return Ok(None);
    };
    let url = server_url(port);
    let deadline = tokio::time::Instant::now() + READY_TIMEOUT;
    let mut logged = false;
    loop {
        if connect(&url, Duration::from_secs(2)).await.is_ok() {
            return Ok(Some(url));
        }
        if cluster.remove_zombie_pid_file() || !cluster.is_running().await {
            return Ok(None);
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(PgkitError::Timeout {
                what: format!(
                    "the PostgreSQL server running in {} to accept connections on port {port}",
                    cluster.dir().display()
                ),
                seconds: READY_TIMEOUT.as_secs(),
            });
        }
        if !logged {
            tracing::info!(port, "PostgreSQL is running but not ready yet; waiting");
            logged = true;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// `initdb` if needed, then start on a free (or the requested) port; returns the server URL.
async fn start(cluster: &Cluster, requested: Option<u16>) -> Result<String, PgkitError> {
    cluster.ensure_initialized().await?;
    let attempts = if requested.is_some() {
        1
    } else {
        START_ATTEMPTS
    };
    let mut last_error = None;
    for attempt in 0..attempts {
        // After a failure, do not insist on the remembered port.
        let port = cluster.choose_port(requested, attempt == 0)?;
        match cluster.start(port).await {
            Ok(()) => {
                tracing::info!(dir = %cluster.dir().display(), port, "started PostgreSQL");
                return Ok(server_url(port));
            }
            Err(e) => {
                tracing::warn!(port, error = %e, "starting PostgreSQL failed");
                last_error = Some(e);
            }
        }
    }
    Err(last_error.expect("at least one start attempt"))
}
