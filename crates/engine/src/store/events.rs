//! `seam.events`: the run's history. Every state change appends one, with its actor.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::PgConnection;
use sqlx::types::Json;

use crate::error::Result;
use crate::ids::{Actor, RunId};

/// A history event as stored.
#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct EventRow {
    /// Order within all history.
    pub id: i64,
    /// Its run.
    pub run_id: RunId,
    /// When.
    pub at: DateTime<Utc>,
    /// What happened, dotted: `run.started`, `step.completed`, `operator.retry`, ...
    pub kind: String,
    /// Step concerned.
    pub step: Option<String>,
    /// Iteration concerned.
    pub iteration: Option<i32>,
    /// Attempt concerned.
    pub attempt: Option<i32>,
    /// Who caused it.
    pub actor: String,
    /// Why (operator reason, error).
    pub reason: Option<String>,
    /// Details.
    pub data: Option<Value>,
}

/// An event to append.
#[derive(Debug, Clone)]
pub struct NewEvent<'a> {
    /// Its run.
    pub run_id: RunId,
    /// What happened.
    pub kind: &'a str,
    /// Step concerned.
    pub step: Option<&'a str>,
    /// Iteration.
    pub iteration: Option<i32>,
    /// Attempt.
    pub attempt: Option<i32>,
    /// Who.
    pub actor: &'a Actor,
    /// Why.
    pub reason: Option<&'a str>,
    /// Details.
    pub data: Option<Value>,
}

impl<'a> NewEvent<'a> {
    /// An event with only a kind and actor; fill the rest with the setters.
    pub fn new(run_id: RunId, kind: &'a str, actor: &'a Actor) -> Self {
        NewEvent {
            run_id,
            kind,
            step: None,
            iteration: None,
            attempt: None,
            actor,
            reason: None,
            data: None,
        }
    }
    /// Sets step and iteration.
    pub fn step(mut self, step: &'a str, iteration: i32) -> Self {
        self.step = Some(step);
        self.iteration = Some(iteration);
        self
    }
    /// Sets the attempt.
    pub fn attempt(mut self, attempt: i32) -> Self {
        self.attempt = Some(attempt);
        self
    }
    /// Sets the reason.
    pub fn reason(mut self, reason: Option<&'a str>) -> Self {
        self.reason = reason;
        self
    }
    /// Sets details.
    pub fn data(mut self, data: Value) -> Self {
        self.data = Some(data);
        self
    }
}

/// Appends an event.
pub async fn append(conn: &mut PgConnection, e: &NewEvent<'_>) -> Result<()> {
    sqlx::query(
        "INSERT INTO seam.events (run_id, kind, step, iteration, attempt, actor, reason, data)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(e.run_id.0)
    .bind(e.kind)
    .bind(e.step)
    .bind(e.iteration)
    .bind(e.attempt)
    .bind(e.actor.as_str())
    .bind(e.reason)
    .bind(e.data.as_ref().map(Json))
    .execute(conn)
    .await?;
    Ok(())
}

/// A run's events after `after_id`, oldest first, at most `limit`.
pub async fn for_run(
    conn: &mut PgConnection,
    run: RunId,
    after_id: i64,
    limit: i64,
) -> Result<Vec<EventRow>> {
    Ok(sqlx::query_as(
        "SELECT * FROM seam.events WHERE run_id = $1 AND id > $2 ORDER BY id LIMIT $3",
    )
    .bind(run.0)
    .bind(after_id)
    .bind(limit)
    .fetch_all(conn)
    .await?)
}

/// Events to append in one statement (column arrays of equal length; no reason or data).
#[derive(Debug, Default)]
pub struct NewEvents {
    /// Runs.
    pub run_ids: Vec<uuid::Uuid>,
    /// Kinds.
    pub kinds: Vec<&'static str>,
    /// Steps (None for run-level events).
    pub steps: Vec<Option<String>>,
    /// Iterations.
    pub iterations: Vec<Option<i32>>,
    /// Attempts (None for run-level events).
    pub attempts: Vec<Option<i32>>,
}

/// Appends many events by one actor at once, in array order.
pub async fn append_many(conn: &mut PgConnection, e: &NewEvents, actor: &Actor) -> Result<()> {
    sqlx::query(
        "INSERT INTO seam.events (run_id, kind, step, iteration, attempt, actor)
         SELECT r, k, s, i, a, $6
         FROM unnest($1::uuid[], $2::text[], $3::text[], $4::int[], $5::int[])
              WITH ORDINALITY AS u(r, k, s, i, a, n)
         ORDER BY n",
    )
    .bind(&e.run_ids)
    .bind(&e.kinds)
    .bind(&e.steps)
    .bind(&e.iterations)
    .bind(&e.attempts)
    .bind(actor.as_str())
    .execute(conn)
    .await?;
    Ok(())
}
