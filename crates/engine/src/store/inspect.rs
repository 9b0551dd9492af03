//! Read-only queries for operators' tools (`seam runs list`, `seam runs show`, `seam doctor`,
//! `seam queues`, `seam workers`): run listings with filters, the one definition of a
//! *stuck* run, queue and worker overviews. Nothing here writes.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::error::{Result, UnknownState};
use crate::ids::RunId;
use crate::state::{JobKind, JobState, RunStatus};
use crate::store::events::EventRow;
use crate::store::runs::RunRow;
use crate::store::workers::WorkerRow;

/// Which runs [`runs_list`] returns. Empty or `None` fields do not filter.
#[derive(Debug, Clone, Default)]
pub struct RunFilter {
    /// Only runs in one of these statuses (empty: any status).
    pub statuses: Vec<RunStatus>,
    /// Only runs of this workflow.
    pub workflow: Option<String>,
    /// Only runs created before this time (`--older-than`).
    pub created_before: Option<DateTime<Utc>>,
    /// Only these runs (for example the stuck ones, from [`runs_stuck`]).
    pub ids: Option<Vec<RunId>>,
    /// Most runs returned.
    pub limit: i64,
}

/// A run as listed: its own columns plus a summary of its latest step or compensation job.
#[derive(Debug, Clone, sqlx::FromRow, Serialize)]
pub struct RunSummary {
    /// Run id.
    pub id: RunId,
    /// Workflow name.
    pub workflow: String,
    /// Definition version.
    pub version: i32,
    /// Current status.
    pub status: RunStatus,
    /// The step the run is at (or last was at).
    pub current_step: Option<String>,
    /// Gotos and rewinds taken so far.
    pub iteration: i32,
    /// Why it failed, was cancelled, or is compensating.
    pub error: Option<String>,
    /// The signal a waiting run waits for.
    pub wait_signal: Option<String>,
    /// When the wait gives up.
    pub wait_deadline: Option<DateTime<Utc>>,
    /// Parent run (children steps).
    pub parent_run_id: Option<RunId>,
    /// Who started it.
    pub created_by: String,
    /// When it was started.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
    /// When it reached a terminal status.
    pub finished_at: Option<DateTime<Utc>>,
    /// State of the run's latest step or compensation job, if it has one.
    pub job_state: Option<JobState>,
    /// That job's current attempt.
    pub attempt: Option<i32>,
    /// That job's allowed attempts.
    pub max_attempts: Option<i32>,
    /// When that job may next be claimed (a future time: waiting out a retry backoff).
    pub job_run_at: Option<DateTime<Utc>>,
    /// That job's last error.
    pub last_error: Option<String>,
    /// How many of the run's jobs are dead.
    pub dead_jobs: i64,
}

/// Runs matching `f`, newest first.
pub async fn runs_list(conn: &mut PgConnection, f: &RunFilter) -> Result<Vec<RunSummary>> {
    let statuses: Vec<&str> = f.statuses.iter().map(|s| s.as_str()).collect();
    let ids: Option<Vec<Uuid>> = f.ids.as_ref().map(|v| v.iter().map(|r| r.0).collect());
    Ok(sqlx::query_as(
        "SELECT r.id, r.workflow, r.version, r.status, r.current_step, r.iteration, r.error,
                r.wait_signal, r.wait_deadline, r.parent_run_id, r.created_by, r.created_at,
                r.updated_at, r.finished_at,
                j.state AS job_state, j.attempt, j.max_attempts, j.run_at AS job_run_at,
                j.last_error, d.dead_jobs
         FROM seam.runs r
         LEFT JOIN LATERAL (
             SELECT state, attempt, max_attempts, run_at, last_error FROM seam.jobs
             WHERE run_id = r.id AND kind IN ('step', 'compensate')
             ORDER BY id DESC LIMIT 1) j ON true
         CROSS JOIN LATERAL (
             SELECT count(*) AS dead_jobs FROM seam.jobs
             WHERE run_id = r.id AND state = 'dead') d
         WHERE (cardinality($1::text[]) = 0 OR r.status = ANY($1))
           AND ($2::text IS NULL OR r.workflow = $2)
           AND ($3::timestamptz IS NULL OR r.created_at < $3)
           AND ($4::uuid[] IS NULL OR r.id = ANY($4))
         ORDER BY r.created_at DESC, r.id DESC
         LIMIT $5",
    )
    .bind(&statuses)
    .bind(f.workflow.as_deref())
    .bind(f.created_before)
    .bind(ids)
    .bind(f.limit)
    .fetch_all(conn)
    .await?)
}

/// Ids of the runs whose id lies in `lo..=hi`, at most `limit` (resolving an id prefix).
pub async fn run_ids_between(
    conn: &mut PgConnection,
    lo: Uuid,
    hi: Uuid,
    limit: i64,
) -> Result<Vec<RunId>> {
    let ids: Vec<Uuid> = sqlx::query_scalar(
        "SELECT id FROM seam.runs WHERE id BETWEEN $1 AND $2 ORDER BY id LIMIT $3",
    )
    .bind(lo)
    .bind(hi)
    .bind(limit)
    .fetch_all(conn)
    .await?;
    Ok(ids.into_iter().map(RunId).collect())
}

/// Every child run of `parent`, oldest first.
pub async fn run_children(conn: &mut PgConnection, parent: RunId) -> Result<Vec<RunRow>> {
    Ok(
        sqlx::query_as("SELECT * FROM seam.runs WHERE parent_run_id = $1 ORDER BY created_at, id")
            .bind(parent.0)
            .fetch_all(conn)
            .await?,
    )
}

/// The run's last `n` events, oldest first, and how many events it has in all.
pub async fn run_events_tail(
    conn: &mut PgConnection,
    run: RunId,
    n: i64,
) -> Result<(Vec<EventRow>, i64)> {
    let events = sqlx::query_as(
        "SELECT * FROM (SELECT * FROM seam.events WHERE run_id = $1 ORDER BY id DESC LIMIT $2) e
         ORDER BY id",
    )
    .bind(run.0)
    .bind(n)
    .fetch_all(&mut *conn)
    .await?;
    let total: i64 = sqlx::query_scalar("SELECT count(*) FROM seam.events WHERE run_id = $1")
        .bind(run.0)
        .fetch_one(conn)
        .await?;
    Ok((events, total))
}

/// Why a run counts as stuck. Each rule is one arm of [`runs_stuck`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StuckReason {
    /// A job is `running` but its lease expired more than [`StuckRules::lease_grace`] ago:
    /// its worker is gone and no rescuer is taking it back.
    ExpiredLease,
    /// The run waits past its deadline and has no timer job, or its timer job is more than
    /// [`StuckRules::timer_grace`] overdue.
    OverdueWait,
    /// A job is ready now but no live worker serves its queue, or none that serves the queue
    /// runs its `workflow@version`.
    Unserved,
    /// A compensation exhausted its attempts: the run is `compensation_failed`.
    CompensationFailed,
    /// A step's job is dead (attempts exhausted and parked for an operator).
    DeadJob,
    /// The run has been paused for longer than [`StuckRules::pause_limit`].
    LongPause,
}

impl StuckReason {
    /// Every reason, in the order the rules are checked.
    pub const ALL: &'static [StuckReason] = &[
        StuckReason::ExpiredLease,
        StuckReason::OverdueWait,
        StuckReason::Unserved,
        StuckReason::CompensationFailed,
        StuckReason::DeadJob,
        StuckReason::LongPause,
    ];

    /// The name used in SQL and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            StuckReason::ExpiredLease => "expired_lease",
            StuckReason::OverdueWait => "overdue_wait",
            StuckReason::Unserved => "unserved",
            StuckReason::CompensationFailed => "compensation_failed",
            StuckReason::DeadJob => "dead_job",
            StuckReason::LongPause => "long_pause",
        }
    }
}

impl fmt::Display for StuckReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for StuckReason {
    type Err = UnknownState;
    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        StuckReason::ALL
            .iter()
            .copied()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| UnknownState {
                kind: "StuckReason",
                value: s.to_string(),
            })
    }
}

impl TryFrom<String> for StuckReason {
    type Error = UnknownState;
    fn try_from(s: String) -> std::result::Result<Self, Self::Error> {
        s.parse()
    }
}

/// Thresholds of the stuck-run rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StuckRules {
    /// A running job whose lease expired longer ago than this has no rescuer making progress
    /// (default 30 s; the rescuer looks every 5 s).
    pub lease_grace: Duration,
    /// How late a wait's timer job may be before the wait counts as stuck (default 1 min).
    pub timer_grace: Duration,
    /// A worker is live when it has not stopped and its last heartbeat is this recent
    /// (default 60 s).
    pub worker_silence: Duration,
    /// A run paused longer than this needs a look (default 1 h).
    pub pause_limit: Duration,
}

impl Default for StuckRules {
    fn default() -> Self {
        StuckRules {
            lease_grace: Duration::from_secs(30),
            timer_grace: Duration::from_secs(60),
            worker_silence: Duration::from_secs(60),
            pause_limit: Duration::from_secs(3600),
        }
    }
}

fn before(now: DateTime<Utc>, d: Duration) -> DateTime<Utc> {
    now - chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

/// One reason one run is stuck, with what an operator needs to act on it.
#[derive(Debug, Clone, sqlx::FromRow, Serialize)]
pub struct StuckRun {
    /// The run.
    pub run_id: RunId,
    /// Its workflow.
    pub workflow: String,
    /// Its definition version.
    pub version: i32,
    /// Its status.
    pub status: RunStatus,
    /// Why it is stuck.
    #[sqlx(try_from = "String")]
    pub reason: StuckReason,
    /// The step concerned (for a failed compensation: the compensated step).
    pub step: Option<String>,
    /// The job concerned, if any.
    pub job_id: Option<i64>,
    /// That job's kind.
    pub job_kind: Option<JobKind>,
    /// That job's queue.
    pub queue: Option<String>,
    /// That job's `workflow@version` pin.
    pub pin: Option<String>,
    /// That job's attempt.
    pub attempt: Option<i32>,
    /// That job's allowed attempts.
    pub max_attempts: Option<i32>,
    /// The worker that held the job (expired lease).
    pub worker_id: Option<Uuid>,
    /// Since when: lease expiry, wait deadline, ready time, last attempt, pause.
    pub since: Option<DateTime<Utc>>,
    /// The last error, the awaited signal, or who paused it and why.
    pub detail: Option<String>,
    /// For [`StuckReason::Unserved`]: some live worker serves the queue (but not the pin).
    pub queue_served: bool,
}

/// The stuck runs (or only `run`'s findings): one row per run and reason, oldest first.
/// The rules, each an arm of one query:
///
/// * [`StuckReason::ExpiredLease`]: job `running`, lease expired before `now - lease_grace`.
/// * [`StuckReason::OverdueWait`]: run `waiting` past `wait_deadline` with no timer job, or
///   with a ready timer job due before `now - timer_grace`.
/// * [`StuckReason::Unserved`]: job `ready` and due, and no live worker (heartbeat within
///   `worker_silence`, not stopped) serves both its queue and its pin.
/// * [`StuckReason::CompensationFailed`]: run `compensation_failed`.
/// * [`StuckReason::DeadJob`]: a dead job in a run that is not `compensation_failed`.
/// * [`StuckReason::LongPause`]: run `paused` since before `now - pause_limit` (the last
///   `operator.pause` event, else the run's last update).
pub async fn runs_stuck(
    conn: &mut PgConnection,
    rules: &StuckRules,
    now: DateTime<Utc>,
    run: Option<RunId>,
) -> Result<Vec<StuckRun>> {
    Ok(sqlx::query_as(
        "WITH live AS (
             SELECT queues, pins FROM seam.workers
             WHERE stopped_at IS NULL AND last_heartbeat_at > $4),
         findings AS (
             SELECT j.run_id, 'expired_lease' AS reason, j.step, j.id AS job_id, j.kind AS job_kind,
                    j.queue, j.pin, j.attempt, j.max_attempts, j.worker_id,
                    j.lease_expires_at AS since, j.last_error AS detail, false AS queue_served
             FROM seam.jobs j
             WHERE j.state = 'running' AND j.lease_expires_at < $2
           UNION ALL
             SELECT r.id, 'overdue_wait', r.current_step, t.id, t.kind, t.queue, t.pin, t.attempt,
                    t.max_attempts, NULL, r.wait_deadline, r.wait_signal, false
             FROM seam.runs r
             LEFT JOIN LATERAL (
                 SELECT * FROM seam.jobs
                 WHERE run_id = r.id AND kind = 'timer' AND state IN ('ready', 'running')
                 ORDER BY id DESC LIMIT 1) t ON true
             WHERE r.status = 'waiting' AND r.wait_deadline < $1
               AND (t.id IS NULL OR (t.state = 'ready' AND t.run_at < $3))
           UNION ALL
             SELECT j.run_id, 'unserved', j.step, j.id, j.kind, j.queue, j.pin, j.attempt,
                    j.max_attempts, NULL, j.run_at, j.last_error,
                    EXISTS (SELECT 1 FROM live WHERE j.queue = ANY(live.queues))
             FROM seam.jobs j
             WHERE j.state = 'ready' AND j.run_at <= $1
               AND NOT EXISTS (SELECT 1 FROM live
                               WHERE j.queue = ANY(live.queues) AND j.pin = ANY(live.pins))
           UNION ALL
             SELECT r.id, 'compensation_failed', coalesce(j.step, r.current_step), j.id, j.kind,
                    j.queue, j.pin, j.attempt, j.max_attempts, NULL, r.updated_at,
                    coalesce(j.last_error, r.error), false
             FROM seam.runs r
             LEFT JOIN LATERAL (
                 SELECT * FROM seam.jobs
                 WHERE run_id = r.id AND kind = 'compensate' AND state = 'dead'
                 ORDER BY id DESC LIMIT 1) j ON true
             WHERE r.status = 'compensation_failed'
           UNION ALL
             SELECT j.run_id, 'dead_job', j.step, j.id, j.kind, j.queue, j.pin, j.attempt,
                    j.max_attempts, NULL,
                    coalesce((SELECT max(e.finished_at) FROM seam.step_executions e
                              WHERE e.run_id = j.run_id AND e.step = j.step
                                AND e.iteration = j.iteration AND e.kind = j.kind),
                             j.created_at),
                    j.last_error, false
             FROM seam.jobs j JOIN seam.runs r ON r.id = j.run_id
             WHERE j.state = 'dead' AND r.status <> 'compensation_failed'
           UNION ALL
             SELECT r.id, 'long_pause', r.current_step, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
                    coalesce(p.at, r.updated_at),
                    CASE WHEN p.actor IS NULL THEN NULL
                         ELSE p.actor || coalesce(': ' || p.reason, '') END,
                    false
             FROM seam.runs r
             LEFT JOIN LATERAL (
                 SELECT at, actor, reason FROM seam.events
                 WHERE run_id = r.id AND kind = 'operator.pause'
                 ORDER BY id DESC LIMIT 1) p ON true
             WHERE r.status = 'paused' AND coalesce(p.at, r.updated_at) < $5)
         SELECT f.*, r.workflow, r.version, r.status
         FROM findings f JOIN seam.runs r ON r.id = f.run_id
         WHERE $6::uuid IS NULL OR f.run_id = $6
         ORDER BY f.since NULLS LAST, f.run_id, f.reason",
    )
    .bind(now)
    .bind(before(now, rules.lease_grace))
    .bind(before(now, rules.timer_grace))
    .bind(before(now, rules.worker_silence))
    .bind(before(now, rules.pause_limit))
    .bind(run.map(|r| r.0))
    .fetch_all(conn)
    .await?)
}

/// One queue's jobs and recent throughput.
#[derive(Debug, Clone, sqlx::FromRow, Serialize)]
pub struct QueueStats {
    /// Queue name.
    pub queue: String,
    /// Jobs claimable now.
    pub ready: i64,
    /// Ready jobs due later (backoff, timers, sleeps).
    pub scheduled: i64,
    /// Jobs leased by a worker.
    pub running: i64,
    /// Dead jobs.
    pub dead: i64,
    /// Jobs held by paused runs.
    pub paused: i64,
    /// Since when the oldest claimable job has been due.
    pub oldest_ready_at: Option<DateTime<Utc>>,
    /// Attempts that succeeded (or were skipped) in the window.
    pub completed: i64,
    /// Attempts that failed, timed out or were lost in the window.
    pub failed: i64,
    /// Live workers serving the queue.
    pub workers: i64,
}

/// Per-queue job counts at `now`, attempts finished since `window_start`, and live workers
/// (heartbeat since `live_since`). Lists every queue that has jobs, recent attempts or a
/// live worker.
pub async fn queue_stats(
    conn: &mut PgConnection,
    now: DateTime<Utc>,
    window_start: DateTime<Utc>,
    live_since: DateTime<Utc>,
) -> Result<Vec<QueueStats>> {
    Ok(sqlx::query_as(
        "WITH live AS (
             SELECT unnest(queues) AS queue FROM seam.workers
             WHERE stopped_at IS NULL AND last_heartbeat_at > $3),
         j AS (
             SELECT queue,
                    count(*) FILTER (WHERE state = 'ready' AND run_at <= $1) AS ready,
                    count(*) FILTER (WHERE state = 'ready' AND run_at > $1) AS scheduled,
                    count(*) FILTER (WHERE state = 'running') AS running,
                    count(*) FILTER (WHERE state = 'dead') AS dead,
                    count(*) FILTER (WHERE state = 'paused') AS paused,
                    min(run_at) FILTER (WHERE state = 'ready' AND run_at <= $1) AS oldest_ready_at
             FROM seam.jobs GROUP BY queue),
         e AS (
             SELECT queue,
                    count(*) FILTER (WHERE status IN ('completed', 'skipped')) AS completed,
                    count(*) FILTER (WHERE status IN ('failed', 'timed_out', 'lost', 'dead'))
                        AS failed
             FROM seam.step_executions WHERE finished_at > $2 AND finished_at <= $1
             GROUP BY queue),
         w AS (SELECT queue, count(*) AS workers FROM live GROUP BY queue),
         q AS (SELECT queue FROM j UNION SELECT queue FROM e UNION SELECT queue FROM w)
         SELECT q.queue,
                coalesce(j.ready, 0) AS ready, coalesce(j.scheduled, 0) AS scheduled,
                coalesce(j.running, 0) AS running, coalesce(j.dead, 0) AS dead,
                coalesce(j.paused, 0) AS paused, j.oldest_ready_at,
                coalesce(e.completed, 0) AS completed, coalesce(e.failed, 0) AS failed,
                coalesce(w.workers, 0) AS workers
         FROM q LEFT JOIN j USING (queue) LEFT JOIN e USING (queue) LEFT JOIN w USING (queue)
         ORDER BY q.queue",
    )
    .bind(now)
    .bind(window_start)
    .bind(live_since)
    .fetch_all(conn)
    .await?)
}

/// Whether a registered worker is serving.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WorkerState {
    /// Not stopped, heartbeat within [`StuckRules::worker_silence`].
    Live,
    /// Stopped cleanly.
    Stopped,
    /// Silent: no heartbeat for longer than [`StuckRules::worker_silence`] and never stopped
    /// cleanly (crashed, killed, or cut off).
    Silent,
}

impl WorkerState {
    /// The name shown and serialised.
    pub fn as_str(self) -> &'static str {
        match self {
            WorkerState::Live => "live",
            WorkerState::Stopped => "stopped",
            WorkerState::Silent => "silent",
        }
    }
}

/// A worker with the jobs it holds right now.
#[derive(Debug, Clone, sqlx::FromRow, Serialize)]
pub struct WorkerOverview {
    /// The worker as registered.
    #[sqlx(flatten)]
    #[serde(flatten)]
    pub worker: WorkerRow,
    /// Jobs it holds a lease on now.
    pub running_jobs: i64,
}

impl WorkerOverview {
    /// Live, stopped or silent at `now`.
    pub fn state(&self, now: DateTime<Utc>, rules: &StuckRules) -> WorkerState {
        if self.worker.stopped_at.is_some() {
            WorkerState::Stopped
        } else if self.worker.last_heartbeat_at > before(now, rules.worker_silence) {
            WorkerState::Live
        } else {
            WorkerState::Silent
        }
    }
}

/// Workers that heartbeat or stopped since `since`: live ones first, then by last heartbeat.
pub async fn workers_recent(
    conn: &mut PgConnection,
    since: DateTime<Utc>,
) -> Result<Vec<WorkerOverview>> {
    Ok(sqlx::query_as(
        "SELECT w.*,
                (SELECT count(*) FROM seam.jobs j WHERE j.worker_id = w.id AND j.state = 'running')
                    AS running_jobs
         FROM seam.workers w
         WHERE w.last_heartbeat_at >= $1 OR w.stopped_at >= $1
         ORDER BY (w.stopped_at IS NULL) DESC, w.last_heartbeat_at DESC",
    )
    .bind(since)
    .fetch_all(conn)
    .await?)
}

/// The workers with these ids (to name who ran an attempt).
pub async fn workers_by_ids(conn: &mut PgConnection, ids: &[Uuid]) -> Result<Vec<WorkerRow>> {
    Ok(
        sqlx::query_as("SELECT * FROM seam.workers WHERE id = ANY($1)")
            .bind(ids)
            .fetch_all(conn)
            .await?,
    )
}
