//! Versioned SQL migrations under `migrations/`, applied in order inside one transaction per
//! file and recorded in `seam.schema_migrations`. Concurrent callers serialise on an advisory
//! lock, so every process may call [`run`] at start.

use sqlx::PgPool;

use crate::error::{EngineError, Result};

/// One migration: its number, file name and SQL.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    /// Sequence number, from 1.
    pub version: i32,
    /// File name under `migrations/`.
    pub name: &'static str,
    /// The SQL.
    pub sql: &'static str,
}

impl Migration {
    /// FNV-1a hash of the SQL: a migration edited after it was applied is detected.
    pub fn checksum(&self) -> String {
        format!("{:016x}", fnv1a(self.sql.bytes()))
    }
}

/// A short fingerprint of every migration this build knows: changes when any of them does
/// (test suites name their migrated template databases after it).
pub fn fingerprint() -> String {
    let hash = fnv1a(MIGRATIONS.iter().flat_map(|m| m.sql.bytes()));
    format!("{:012x}", hash & 0xffff_ffff_ffff)
}

fn fnv1a(bytes: impl Iterator<Item = u8>) -> u64 {
    bytes.fold(0xcbf2_9ce4_8422_2325, |hash, b| {
        (hash ^ b as u64).wrapping_mul(0x100_0000_01b3)
    })
}

/// Every migration this build knows, in order.
pub const MIGRATIONS: &[Migration] = &[Migration {
    version: 1,
    name: "0001_engine.sql",
    sql: include_str!("../../../../migrations/0001_engine.sql"),
}];

const LOCK_KEY: i64 = 0x5EA3_0001;

/// Applies the migrations the database does not have yet; returns those it applied.
pub async fn run(pool: &PgPool) -> Result<Vec<Migration>> {
    let mut conn = pool.acquire().await?;
    sqlx::query("SELECT pg_advisory_lock($1)")
        .bind(LOCK_KEY)
        .execute(&mut *conn)
        .await?;
    let result = apply_pending(&mut conn).await;
    sqlx::query("SELECT pg_advisory_unlock($1)")
        .bind(LOCK_KEY)
        .execute(&mut *conn)
        .await?;
    result
}

async fn apply_pending(conn: &mut sqlx::PgConnection) -> Result<Vec<Migration>> {
    sqlx::query("CREATE SCHEMA IF NOT EXISTS seam")
        .execute(&mut *conn)
        .await?;
    sqlx::raw_sql(
        "CREATE TABLE IF NOT EXISTS seam.schema_migrations (
             version integer PRIMARY KEY,
             name text NOT NULL,
             applied_at timestamptz NOT NULL DEFAULT now());
         ALTER TABLE seam.schema_migrations ADD COLUMN IF NOT EXISTS checksum text;",
    )
    .execute(&mut *conn)
    .await?;
    let done: Vec<(i32, Option<String>)> =
        sqlx::query_as("SELECT version, checksum FROM seam.schema_migrations")
            .fetch_all(&mut *conn)
            .await?;
    for (version, stored) in &done {
        let Some(m) = MIGRATIONS.iter().find(|m| m.version == *version) else {
            continue; // applied by a newer build
        };
        if let Some(stored) = stored
            && *stored != m.checksum()
        {
            return Err(EngineError::MigrationChanged {
                version: m.version,
                name: m.name,
            });
        }
    }
    let done: Vec<i32> = done.into_iter().map(|(v, _)| v).collect();
    let mut applied = Vec::new();
    for m in MIGRATIONS.iter().filter(|m| !done.contains(&m.version)) {
        let fail = |source| EngineError::Migration {
            version: m.version,
            name: m.name,
            source,
        };
        let mut tx = sqlx::Connection::begin(&mut *conn).await?;
        sqlx::raw_sql(m.sql).execute(&mut *tx).await.map_err(fail)?;
        sqlx::query(
            "INSERT INTO seam.schema_migrations (version, name, checksum) VALUES ($1, $2, $3)",
        )
        .bind(m.version)
        .bind(m.name)
        .bind(m.checksum())
        .execute(&mut *tx)
        .await
        .map_err(fail)?;
        tx.commit().await?;
        applied.push(*m);
    }
    Ok(applied)
}

/// Versions already applied to the database, in order.
pub async fn applied(pool: &PgPool) -> Result<Vec<i32>> {
    let exists: bool =
        sqlx::query_scalar("SELECT to_regclass('seam.schema_migrations') IS NOT NULL")
            .fetch_one(pool)
            .await?;
    if !exists {
        return Ok(Vec::new());
    }
    Ok(
        sqlx::query_scalar("SELECT version FROM seam.schema_migrations ORDER BY version")
            .fetch_all(pool)
            .await?,
    )
}
