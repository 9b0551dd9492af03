//! The server that [`crate::TestDb`] creates its databases on, and removal of stale ones.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sqlx::Connection;
use tokio::sync::OnceCell;

use crate::local::{DEFAULT_DATABASE, cluster_database};
use crate::sql::{CONNECT_TIMEOUT, connect, drop_database};
use crate::url::{database_of, with_database};
use crate::{LocalOptions, PgkitError, redact};

/// Prefix of every database [`crate::TestDb`] creates.
pub(crate) const TEST_PREFIX: &str = "seam_test_";

/// Test databases older than this are dropped by the first `TestDb` of a process.
const STALE_AFTER: Duration = Duration::from_secs(2 * 60 * 60);

/// Name of the shared test cluster directory.
const TEST_CLUSTER_DIR: &str = "seam-test-pg";

/// The server chosen once per process.
static SERVER: OnceCell<TestServer> = OnceCell::const_new();

/// Set once housekeeping has run in this process.
static HOUSEKEEPING_DONE: AtomicBool = AtomicBool::new(false);

/// Where test databases are made.
#[derive(Debug, Clone)]
pub(crate) struct TestServer {
    /// Any URL of the server; only its database part is replaced.
    pub(crate) base_url: String,
    /// URL of the database used for `CREATE DATABASE`, `DROP DATABASE` and advisory locks.
    pub(crate) admin_url: String,
}

impl TestServer {
    /// URL of database `name` on this server.
    pub(crate) fn url_of(&self, name: &str) -> String {
        with_database(&self.base_url, name)
    }

    /// A fresh connection to the admin database.
    pub(crate) async fn admin(&self) -> Result<sqlx::PgConnection, PgkitError> {
        connect(&self.admin_url, CONNECT_TIMEOUT).await
    }
}

/// The test server of this process: `DATABASE_URL` if set (must be reachable), else the
/// shared cluster in `<cargo target dir>/seam-test-pg`. The first call also drops stale
/// test databases.
pub(crate) async fn test_server() -> Result<&'static TestServer, PgkitError> {
    let server = SERVER.get_or_try_init(resolve).await?;
    if !HOUSEKEEPING_DONE.swap(true, Ordering::SeqCst) {
        drop_stale_databases(server).await;
    }
    Ok(server)
}

/// Picks the server (see [`test_server`]).
async fn resolve() -> Result<TestServer, PgkitError> {
    let defaults = LocalOptions::default();
    if let Some(url) = defaults.database_url {
        let conn = connect(&url, CONNECT_TIMEOUT).await?;
        let _ = conn.close().await;
        tracing::info!(url = %redact(&url), "test databases on DATABASE_URL");
        let admin_url = match database_of(&url) {
            Some(_) => url.clone(),
            None => with_database(&url, "postgres"),
        };
        return Ok(TestServer {
            base_url: url,
            admin_url,
        });
    }
    let data_dir = test_cluster_dir();
    let db = cluster_database(&data_dir, None, DEFAULT_DATABASE).await?;
    tracing::info!(url = %db.url(), dir = ?db.data_dir(), "test databases on the shared local cluster");
    Ok(TestServer {
        base_url: db.url().to_string(),
        admin_url: with_database(db.url(), "postgres"),
    })
}

/// `<cargo target dir>/seam-test-pg`, or `<temp dir>/seam-test-pg` outside cargo.
///
/// The target directory is `CARGO_TARGET_DIR`, else the nearest parent of the running
/// executable holding cargo's `CACHEDIR.TAG`. Stable, so every test binary shares it.
pub(crate) fn test_cluster_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .and_then(|d| std::path::absolute(d).ok())
        .or_else(|| {
            let exe = std::env::current_exe().ok()?;
            exe.ancestors()
                .skip(1)
                .find(|d| d.join("CACHEDIR.TAG").is_file())
                .map(PathBuf::from)
        });
    target
        .unwrap_or_else(std::env::temp_dir)
        .join(TEST_CLUSTER_DIR)
}

/// A new test database name: `seam_test_<unix seconds>_<16 random hex digits>`.
pub(crate) fn new_test_name() -> String {
    format!("{TEST_PREFIX}{}_{:016x}", unix_now(), rand::random::<u64>())
}

/// Seconds since the Unix epoch.
fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The creation time embedded in a test database name.
fn created_at(name: &str) -> Option<u64> {
    let rest = name.strip_prefix(TEST_PREFIX)?;
    let (secs, random) = rest.split_once('_')?;
    (!random.is_empty()).then_some(())?;
    secs.parse().ok()
}

/// Best effort: drops test databases created more than two hours ago.
async fn drop_stale_databases(server: &TestServer) {
    let Ok(mut conn) = server.admin().await else {
        return;
    };
    let names: Vec<String> = match sqlx::query_scalar(
        "SELECT datname FROM pg_database WHERE datname LIKE 'seam\\_test\\_%'",
    )
    .fetch_all(&mut conn)
    .await
    {
        Ok(names) => names,
        Err(e) => {
            tracing::debug!(error = %e, "listing old test databases failed");
            return;
        }
    };
    let cutoff = unix_now().saturating_sub(STALE_AFTER.as_secs());
    for name in names {
        if created_at(&name).is_some_and(|t| t < cutoff) {
            match drop_database(&mut conn, &name).await {
                Ok(()) => tracing::info!(database = %name, "dropped stale test database"),
                Err(e) => {
                    tracing::debug!(database = %name, error = %e, "could not drop stale test database")
                }
            }
        }
    }
    let _ = conn.close().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_carry_their_creation_time() {
        let name = new_test_name();
        assert!(name.len() <= 63, "{name}");
        let t = created_at(&name).unwrap();
        assert!(unix_now() - t < 5);
        assert_eq!(created_at("seam_test_12_ab"), Some(12));
        assert_eq!(created_at("seam_test_x_ab"), None);
        assert_eq!(created_at("seam_test_12"), None);
        assert_eq!(created_at("other_12_ab"), None);
    }
}
