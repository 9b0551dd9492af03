//! `seam.signals`: named messages to runs, stored on arrival (also before the run waits) and
//! marked consumed by the wait that used them.

use sqlx::PgConnection;
use sqlx::types::Json;

use crate::definition::Signal;
use crate::error::Result;
use crate::ids::RunId;

/// Stores a signal; returns its id.
pub async fn insert(
    conn: &mut PgConnection,
    run: RunId,
    name: &str,
    payload: &serde_json::Value,
    sent_by: &str,
) -> Result<i64> {
    Ok(sqlx::query_scalar(
        "INSERT INTO seam.signals (run_id, name, payload, sent_by) VALUES ($1, $2, $3, $4)
         RETURNING id",
    )
    .bind(run.0)
    .bind(name)
    .bind(Json(payload))
    .bind(sent_by)
    .fetch_one(conn)
    .await?)
}

/// True when the run has unconsumed signals named `name`.
pub async fn has_pending(conn: &mut PgConnection, run: RunId, name: &str) -> Result<bool> {
    Ok(sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM seam.signals
                        WHERE run_id = $1 AND name = $2 AND consumed_at IS NULL)",
    )
    .bind(run.0)
    .bind(name)
    .fetch_one(conn)
    .await?)
}

#[derive(sqlx::FromRow)]
struct SignalRow {
    id: i64,
    name: String,
    payload: serde_json::Value,
    sent_by: String,
    created_at: chrono::DateTime<chrono::Utc>,
}

impl From<SignalRow> for Signal {
    fn from(r: SignalRow) -> Self {
        Signal {
            id: r.id,
            name: r.name,
            payload: r.payload,
            sent_by: r.sent_by,
            created_at: r.created_at,
        }
    }
}

/// Unconsumed signals named `name`, oldest first.
pub async fn pending(conn: &mut PgConnection, run: RunId, name: &str) -> Result<Vec<Signal>> {
    let rows: Vec<SignalRow> = sqlx::query_as(
        "SELECT id, name, payload, sent_by, created_at FROM seam.signals
         WHERE run_id = $1 AND name = $2 AND consumed_at IS NULL ORDER BY id",
    )
    .bind(run.0)
    .bind(name)
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(Signal::from).collect())
}

/// Signals a wait (named `consumer`: `step/iteration`) already consumed, oldest first.
pub async fn consumed_by(
    conn: &mut PgConnection,
    run: RunId,
    consumer: &str,
) -> Result<Vec<Signal>> {
    let rows: Vec<SignalRow> = sqlx::query_as(
        "SELECT id, name, payload, sent_by, created_at FROM seam.signals
         WHERE run_id = $1 AND consumed_by = $2 ORDER BY id",
    )
    .bind(run.0)
    .bind(consumer)
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(Signal::from).collect())
}

/// Marks a signal consumed by `consumer`.
pub async fn consume(conn: &mut PgConnection, id: i64, consumer: &str) -> Result<()> {
    sqlx::query("UPDATE seam.signals SET consumed_at = now(), consumed_by = $2 WHERE id = $1")
        .bind(id)
        .bind(consumer)
        .execute(conn)
        .await?;
    Ok(())
}

/// A stored signal with its consumption, for inspection.
#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct SignalRecord {
    /// Id.
    pub id: i64,
    /// Name.
    pub name: String,
    /// Payload.
    pub payload: serde_json::Value,
    /// Sender.
    pub sent_by: String,
    /// Arrival.
    pub created_at: chrono::DateTime<chrono::Utc>,
    /// When a wait used it.
    pub consumed_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Which wait (`step/iteration`).
    pub consumed_by: Option<String>,
}

/// Every signal of a run.
pub async fn for_run(conn: &mut PgConnection, run: RunId) -> Result<Vec<SignalRecord>> {
    Ok(sqlx::query_as(
        "SELECT id, name, payload, sent_by, created_at, consumed_at, consumed_by
         FROM seam.signals WHERE run_id = $1 ORDER BY id",
    )
    .bind(run.0)
    .fetch_all(conn)
    .await?)
}
