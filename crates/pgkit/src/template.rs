//! Template databases: run migrations once, then copy them into every [`TestDb`].

use std::future::Future;

use sqlx::postgres::PgConnection;
use sqlx::{AssertSqlSafe, Connection};

use crate::cluster::fnv1a_bytes;
use crate::sql::{
    check_name, create_database_if_missing, drop_database, quote_ident, terminate_sessions,
};
use crate::test_server::{TestServer, test_server};
use crate::{PgkitError, TestDb};

/// Comment put on a template database once `init` has succeeded.
const READY_COMMENT: &str = "seam-pgkit template: ready";

impl TestDb {
    /// Creates a test database as a copy of template database `template`, creating and
    /// initialising the template first if it does not exist yet.
    ///
    /// The first caller (across all processes, serialised by a PostgreSQL advisory lock
    /// on the admin database) creates database `template` and runs `init` with its URL,
    /// e.g. to apply migrations. Everyone then gets `CREATE DATABASE ... TEMPLATE template`,
    /// which is much faster than migrating each test database.
    ///
    /// * Put a hash of your migrations in `template` (e.g. `seam_tpl_3fa9c2`) so that a
    ///   changed migration makes a new template. Templates are kept between runs; remove
    ///   old ones with [`TestDb::drop_template`].
    /// * `init` must close every connection it opens (e.g. `pool.close().await`) before
    ///   returning: PostgreSQL cannot copy a database that has sessions. Sessions left
    ///   open are terminated.
    /// * If `init` fails, the half-made template is dropped and
    ///   [`PgkitError::TemplateInit`] is returned; the next caller tries again.
    ///
    /// ```no_run
    /// # async fn example() -> Result<(), seam_pgkit::PgkitError> {
    /// use seam_pgkit::TestDb;
    /// let db = TestDb::from_template("seam_tpl_example_v1", |url| async move {
    ///     let pool = sqlx::PgPool::connect(&url).await.map_err(|e| e.to_string())?;
    ///     sqlx::query("CREATE TABLE t (x int)").execute(&pool).await.map_err(|e| e.to_string())?;
    ///     pool.close().await;
    ///     Ok(())
    /// })
    /// .await?;
    /// # Ok(()) }
    /// ```
    pub async fn from_template<F, Fut>(template: &str, init: F) -> Result<TestDb, PgkitError>
    where
        F: FnOnce(String) -> Fut,
        Fut: Future<Output = Result<(), String>>,
    {
        check_name(template)?;
        let server = test_server().await?;
        let mut admin = server.admin().await?;
        let key = lock_key(template);
        sqlx::query("SELECT pg_advisory_lock($1)")
            .bind(key)
            .execute(&mut admin)
            .await
            .map_err(|e| PgkitError::sql(format!("locking template {template}"), e))?;
        let prepared = prepare(&mut admin, server, template, init).await;
        // Closing the session also releases the lock; unlock explicitly anyway.
        let _ = sqlx::query("SELECT pg_advisory_unlock($1)")
            .bind(key)
            .execute(&mut admin)
            .await;
        let _ = admin.close().await;
        prepared?;
        Self::create(server, Some(template)).await
    }

    /// Drops template database `template` (if it exists), e.g. to clean up after a test or
    /// to remove templates of old migrations.
    pub async fn drop_template(template: &str) -> Result<(), PgkitError> {
        check_name(template)?;
        let server = test_server().await?;
        let mut admin = server.admin().await?;
        let result = drop_database(&mut admin, template).await;
        let _ = admin.close().await;
        result
    }
}

/// Makes sure `template` exists and is initialised; the caller holds the advisory lock.
async fn prepare<F, Fut>(
    admin: &mut PgConnection,
    server: &TestServer,
    template: &str,
    init: F,
) -> Result<(), PgkitError>
where
    F: FnOnce(String) -> Fut,
    Fut: Future<Output = Result<(), String>>,
{
    let state: Option<Option<String>> = sqlx::query_scalar(
        "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = $1",
    )
    .bind(template)
    .fetch_optional(&mut *admin)
    .await
    .map_err(|e| PgkitError::sql(format!("looking up template {template}"), e))?;
    match state {
        Some(Some(comment)) if comment == READY_COMMENT => return Ok(()),
        Some(_) => {
            tracing::info!(template, "dropping unfinished template database");
            drop_database(admin, template).await?;
        }
        None => {}
    }

    create_database_if_missing(admin, template).await?;
    tracing::info!(template, "initialising template database");
    if let Err(message) = init(server.url_of(template)).await {
        if let Err(e) = drop_database(admin, template).await {
            tracing::warn!(template, error = %e, "could not drop failed template");
        }
        return Err(PgkitError::TemplateInit {
            template: template.to_string(),
            message,
        });
    }
    terminate_sessions(admin, template).await?;
    let sql = format!(
        "COMMENT ON DATABASE {} IS '{READY_COMMENT}'",
        quote_ident(template)
    );
    sqlx::query(AssertSqlSafe(sql))
        .execute(&mut *admin)
        .await
        .map_err(|e| PgkitError::sql(format!("marking template {template} ready"), e))?;
    Ok(())
}

/// The advisory-lock key for `template`.
fn lock_key(template: &str) -> i64 {
    let hash = fnv1a_bytes(format!("seam-pgkit-template:{template}").as_bytes());
    i64::from_ne_bytes(hash.to_ne_bytes())
}
