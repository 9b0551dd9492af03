//! [`TestDb`]: a fresh database per test.

use std::fmt;
use std::time::Duration;

use sqlx::postgres::{PgConnection, PgPool, PgPoolOptions};
use sqlx::{AssertSqlSafe, Connection};

use crate::sql::{check_name, drop_database, has_code, quote_ident};
use crate::test_server::{TestServer, new_test_name, test_server};
use crate::{PgkitError, redact};

/// Connections in the pool returned by [`TestDb::pool`].
const POOL_SIZE: u32 = 20;

/// SQLSTATE `object_in_use`: "source database ... is being accessed by other users".
const OBJECT_IN_USE: &str = "55006";

/// How often `CREATE DATABASE` is retried while the template is in use.
const CREATE_ATTEMPTS: u32 = 50;

/// A throwaway database for one test.
///
/// The server is `DATABASE_URL` when set (an error if it is unreachable), otherwise a
/// cluster shared by all test binaries in `<cargo target dir>/seam-test-pg`, started on
/// first use and left running. Each `TestDb` is a new database named
/// `seam_test_<unix seconds>_<random hex>`.
///
/// Call [`TestDb::drop_database`] at the end of a test. Databases that are not dropped
/// (e.g. because the test panicked) are removed by the first `TestDb` of a later test
/// process once they are more than two hours old.
///
/// ```no_run
/// # async fn example() -> Result<(), seam_pgkit::PgkitError> {
/// let db = seam_pgkit::TestDb::new().await?;
/// let pool = db.pool().await;
/// sqlx::query("CREATE TABLE t (x int)").execute(&pool).await.unwrap();
/// pool.close().await;
/// db.drop_database().await;
/// # Ok(()) }
/// ```
pub struct TestDb {
    url: String,
    name: String,
    server: &'static TestServer,
}

impl TestDb {
    /// Creates a new, empty database (copied from `template1`).
    pub async fn new() -> Result<TestDb, PgkitError> {
        let server = test_server().await?;
        Self::create(server, None).await
    }

    /// Connection URL of this database (may contain a password: log it via [`redact`]).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Name of this database.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// A pool of up to 20 connections to this database.
    ///
    /// # Panics
    ///
    /// If the database cannot be reached; this is meant for tests. See [`TestDb::try_pool`].
    pub async fn pool(&self) -> PgPool {
        match self.try_pool().await {
            Ok(pool) => pool,
            Err(e) => panic!("TestDb::pool: {e}"),
        }
    }

    /// Like [`TestDb::pool`], but returns an error instead of panicking.
    pub async fn try_pool(&self) -> Result<PgPool, PgkitError> {
        PgPoolOptions::new()
            .max_connections(POOL_SIZE)
            .acquire_timeout(Duration::from_secs(30))
            .connect(&self.url)
            .await
            .map_err(|e| PgkitError::Unreachable {
                url: redact(&self.url),
                reason: e.to_string(),
            })
    }

    /// Ends every session on this database and drops it (`WITH (FORCE)`).
    ///
    /// Best effort: a failure is logged (`tracing::warn!`) rather than returned, since the
    /// next test process removes leftovers anyway.
    pub async fn drop_database(self) {
        let result = async {
            let mut admin = self.server.admin().await?;
            drop_database(&mut admin, &self.name).await?;
            let _ = admin.close().await;
            Ok::<_, PgkitError>(())
        }
        .await;
        if let Err(e) = result {
            tracing::warn!(database = %self.name, error = %e, "could not drop test database");
        }
    }

    /// Creates a fresh test database, copied from `template` (or `template1`).
    pub(crate) async fn create(
        server: &'static TestServer,
        template: Option<&str>,
    ) -> Result<TestDb, PgkitError> {
        let name = new_test_name();
        let mut admin = server.admin().await?;
        let result = create_database(&mut admin, &name, template).await;
        let _ = admin.close().await;
        result?;
        tracing::debug!(database = %name, template, "created test database");
        Ok(TestDb {
            url: server.url_of(&name),
            name,
            server,
        })
    }
}

impl fmt::Debug for TestDb {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestDb")
            .field("name", &self.name)
            .field("url", &redact(&self.url))
            .finish()
    }
}

/// `CREATE DATABASE name [TEMPLATE template]`, retried while the template is in use.
async fn create_database(
    admin: &mut PgConnection,
    name: &str,
    template: Option<&str>,
) -> Result<(), PgkitError> {
    check_name(name)?;
    let mut sql = format!("CREATE DATABASE {}", quote_ident(name));
    if let Some(t) = template {
        sql.push_str(&format!(" TEMPLATE {}", quote_ident(t)));
    }
    let mut attempt = 1;
    loop {
        match sqlx::query(AssertSqlSafe(sql.as_str()))
            .execute(&mut *admin)
            .await
        {
            Ok(_) => return Ok(()),
            Err(e) if has_code(&e, OBJECT_IN_USE) && attempt < CREATE_ATTEMPTS => {
                tracing::debug!(database = name, template, "template in use; retrying");
                attempt += 1;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => {
                return Err(PgkitError::sql(format!("creating test database {name}"), e));
            }
        }
    }
}
