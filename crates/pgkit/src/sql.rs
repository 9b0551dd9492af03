//! Connecting with a timeout, and creating or dropping databases.

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::{AssertSqlSafe, Connection};

use crate::{PgkitError, redact};

/// How long to wait for a server that should already be running.
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// PostgreSQL truncates identifiers longer than this many bytes.
const MAX_IDENTIFIER_BYTES: usize = 63;

/// SQLSTATE `duplicate_database`.
const DUPLICATE_DATABASE: &str = "42P04";

/// SQLSTATE `unique_violation` (two sessions creating the same database at once).
const UNIQUE_VIOLATION: &str = "23505";

/// Opens one connection to `url`, giving up after `timeout`.
///
/// Fails with [`PgkitError::Unreachable`], naming the redacted URL.
pub(crate) async fn connect(url: &str, timeout: Duration) -> Result<PgConnection, PgkitError> {
    let unreachable = |reason: String| PgkitError::Unreachable {
        url: redact(url),
        reason,
    };
    let options =
        PgConnectOptions::from_str(url).map_err(|e| unreachable(format!("invalid URL: {e}")))?;
    match tokio::time::timeout(timeout, PgConnection::connect_with(&options)).await {
        Ok(Ok(conn)) => Ok(conn),
        Ok(Err(e)) => Err(unreachable(e.to_string())),
        Err(_) => Err(unreachable(format!(
            "no answer within {} s",
            timeout.as_secs()
        ))),
    }
}

/// Quotes `name` as an SQL identifier.
pub(crate) fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Refuses names PostgreSQL would silently truncate or cannot store.
pub(crate) fn check_name(name: &str) -> Result<(), PgkitError> {
    let reason = if name.is_empty() {
        "it is empty"
    } else if name.len() > MAX_IDENTIFIER_BYTES {
        "it is longer than 63 bytes"
    } else if name.contains('\0') {
        "it contains a NUL character"
    } else {
        return Ok(());
    };
    Err(PgkitError::InvalidName {
        name: name.to_string(),
        reason: reason.to_string(),
    })
}

/// True if `err` is a database error with SQLSTATE `code`.
pub(crate) fn has_code(err: &sqlx::Error, code: &str) -> bool {
    matches!(err, sqlx::Error::Database(db) if db.code().as_deref() == Some(code))
}

/// True if database `name` exists.
pub(crate) async fn database_exists(
    conn: &mut PgConnection,
    name: &str,
) -> Result<bool, PgkitError> {
    sqlx::query_scalar::<_, bool>("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
        .bind(name)
        .fetch_one(conn)
        .await
        .map_err(|e| PgkitError::sql(format!("looking up database {name}"), e))
}

/// Creates database `name` unless it exists (safe if another session races us).
pub(crate) async fn create_database_if_missing(
    conn: &mut PgConnection,
    name: &str,
) -> Result<(), PgkitError> {
    check_name(name)?;
    if database_exists(conn, name).await? {
        return Ok(());
    }
    let sql = format!("CREATE DATABASE {}", quote_ident(name));
    match sqlx::query(AssertSqlSafe(sql)).execute(conn).await {
        Ok(_) => {
            tracing::info!(database = name, "created database");
            Ok(())
        }
        Err(e) if has_code(&e, DUPLICATE_DATABASE) || has_code(&e, UNIQUE_VIOLATION) => Ok(()),
        Err(e) => Err(PgkitError::sql(format!("creating database {name}"), e)),
    }
}

/// Ends every session connected to `name`, then drops it (if it exists) `WITH (FORCE)`.
pub(crate) async fn drop_database(conn: &mut PgConnection, name: &str) -> Result<(), PgkitError> {
    terminate_sessions(conn, name).await?;
    let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", quote_ident(name));
    sqlx::query(AssertSqlSafe(sql))
        .execute(conn)
        .await
        .map_err(|e| PgkitError::sql(format!("dropping database {name}"), e))?;
    Ok(())
}

/// Ends every other session connected to database `name`.
pub(crate) async fn terminate_sessions(
    conn: &mut PgConnection,
    name: &str,
) -> Result<(), PgkitError> {
    sqlx::query(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = $1 AND pid <> pg_backend_pid()",
    )
    .bind(name)
    .execute(conn)
    .await
    .map_err(|e| PgkitError::sql(format!("ending sessions on database {name}"), e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_quoted() {
        assert_eq!(quote_ident("seam"), "\"seam\"");
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
    }

    #[test]
    fn long_names_are_refused() {
        assert!(check_name(&"x".repeat(63)).is_ok());
        assert!(check_name(&"x".repeat(64)).is_err());
        assert!(check_name("").is_err());
    }
}
