//! `seam.workers`: the registry of worker processes, their queues, definition versions,
//! in-flight count and heartbeat.

use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::error::Result;
use crate::ids::WorkerId;

/// A worker as registered.
#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct WorkerRow {
    /// Id (fresh each start).
    pub id: Uuid,
    /// Name given in config.
    pub name: String,
    /// Host name.
    pub host: String,
    /// Process id.
    pub pid: i32,
    /// Queues served.
    pub queues: Vec<String>,
    /// `workflow@version` pins it can run.
    pub pins: Vec<String>,
    /// Concurrency limit.
    pub concurrency: i32,
    /// Jobs in flight at the last heartbeat.
    pub in_flight: i32,
    /// Start.
    pub started_at: DateTime<Utc>,
    /// Last heartbeat.
    pub last_heartbeat_at: DateTime<Utc>,
    /// Clean stop, if any.
    pub stopped_at: Option<DateTime<Utc>>,
}

/// A worker to register.
#[derive(Debug, Clone)]
pub struct NewWorker<'a> {
    /// Id.
    pub id: WorkerId,
    /// Name.
    pub name: &'a str,
    /// Host.
    pub host: &'a str,
    /// Pid.
    pub pid: i32,
    /// Queues.
    pub queues: &'a [String],
    /// Pins.
    pub pins: &'a [String],
    /// Concurrency.
    pub concurrency: i32,
}

/// Registers a starting worker.
pub async fn register(conn: &mut PgConnection, w: &NewWorker<'_>) -> Result<()> {
    sqlx::query(
        "INSERT INTO seam.workers (id, name, host, pid, queues, pins, concurrency)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(w.id.0)
    .bind(w.name)
    .bind(w.host)
    .bind(w.pid)
    .bind(w.queues)
    .bind(w.pins)
    .bind(w.concurrency)
    .execute(conn)
    .await?;
    Ok(())
}

/// Records a heartbeat and the in-flight count.
pub async fn heartbeat(conn: &mut PgConnection, id: WorkerId, in_flight: i32) -> Result<()> {
    sqlx::query("UPDATE seam.workers SET last_heartbeat_at = now(), in_flight = $2 WHERE id = $1")
        .bind(id.0)
        .bind(in_flight)
        .execute(conn)
        .await?;
    Ok(())
}

/// Records a clean stop.
pub async fn stop(conn: &mut PgConnection, id: WorkerId) -> Result<()> {
    sqlx::query("UPDATE seam.workers SET stopped_at = now(), in_flight = 0 WHERE id = $1")
        .bind(id.0)
        .execute(conn)
        .await?;
    Ok(())
}

/// Workers seen since `since`, newest heartbeat first.
pub async fn seen_since(conn: &mut PgConnection, since: DateTime<Utc>) -> Result<Vec<WorkerRow>> {
    Ok(sqlx::query_as(
        "SELECT * FROM seam.workers WHERE last_heartbeat_at >= $1 ORDER BY last_heartbeat_at DESC",
    )
    .bind(since)
    .fetch_all(conn)
    .await?)
}

/// Deletes workers whose last heartbeat is older than `cutoff`.
pub async fn delete_silent_before(conn: &mut PgConnection, cutoff: DateTime<Utc>) -> Result<u64> {
    Ok(
        sqlx::query("DELETE FROM seam.workers WHERE last_heartbeat_at < $1")
            .bind(cutoff)
            .execute(conn)
            .await?
            .rows_affected(),
    )
}
