//! Completing a job in one transaction, fenced by its lease token: the job row goes, the
//! execution and history are recorded, and the run moves on — or nothing commits at all.

use std::sync::Arc;

use serde_json::{Value, json};
use sqlx::{PgConnection, Postgres, Transaction};

use super::execute::Failure;
use super::internal;
use super::runtime::Shared;
use crate::definition::{ChildSpec, Transition, Workflow};
use crate::error::{EngineError, Result};
use crate::machine::{self, Def, GiveUp, StartParams};
use crate::state::{ExecutionStatus, JobKind, RunStatus};
use crate::store::definitions;
use crate::store::events::{self, NewEvent};
use crate::store::executions::{self, NewExecution};
use crate::store::jobs::{self, ClaimedJob};
use crate::store::runs::{self, RunRow};

type Tx = Transaction<'static, Postgres>;

/// Opens (or takes over) the completion transaction, locks the run, and fences the job.
/// `None`: the run is gone (pruned or deleted), nothing to do.
pub(super) async fn begin_fenced(
    s: &Shared,
    c: &ClaimedJob,
    tx: Option<Tx>,
) -> Result<Option<(Tx, RunRow)>> {
    let mut tx = match tx {
        Some(tx) => tx,
        None => s.pool.begin().await?,
    };
    let Some(run) = runs::lock(&mut tx, c.job.run_id).await? else {
        return Ok(None);
    };
    let token = c.job.lease_token.expect("claimed jobs carry a lease");
    if !jobs::delete_leased(&mut tx, c.job.id, token).await? {
        return Err(EngineError::LeaseLost(c.job.id));
    }
    Ok(Some((tx, run)))
}

/// Saves the run and commits.
pub(super) async fn commit(mut tx: Tx, run: &RunRow) -> Result<()> {
    runs::save(&mut tx, run).await?;
    tx.commit().await?;
    Ok(())
}

/// Records how this attempt ended.
pub(super) async fn record(
    conn: &mut PgConnection,
    s: &Shared,
    c: &ClaimedJob,
    kind: JobKind,
    status: ExecutionStatus,
    output: Option<&Value>,
    error: Option<&str>,
) -> Result<()> {
    let e = NewExecution {
        run_id: c.job.run_id,
        kind,
        queue: &c.job.queue,
        step: &c.job.step,
        iteration: c.job.iteration,
        attempt: c.job.attempt,
        status,
        input: Some(&c.job.input),
        output,
        error,
        worker_id: Some(s.id.0),
        started_at: c.job.started_at,
    };
    executions::insert(conn, &e).await
}

/// A task step succeeded with `t`.
pub(super) async fn transition(
    s: &Shared,
    wf: &Workflow,
    c: &ClaimedJob,
    t: Transition,
    tx: Option<Tx>,
) -> Result<()> {
    let Some((mut tx, mut run)) = begin_fenced(s, c, tx).await? else {
        return Ok(());
    };
    record_and_advance(&mut tx, s, wf.def(), &mut run, c, t).await?;
    commit(tx, &run).await
}

/// Records how the step ended (completed with its output, or failed for `fail`), appends
/// the matching history event, and applies the transition to the run.
pub(super) async fn record_and_advance(
    conn: &mut PgConnection,
    s: &Shared,
    def: &Def,
    run: &mut RunRow,
    c: &ClaimedJob,
    t: Transition,
) -> Result<()> {
    let (status, output, error) = match &t {
        Transition::Fail(r) => (ExecutionStatus::Failed, None, Some(r.as_str())),
        Transition::Next(v) | Transition::Complete(v) | Transition::Goto { output: v, .. } => {
            (ExecutionStatus::Completed, Some(v), None)
        }
    };
    record(conn, s, c, JobKind::Step, status, output, error).await?;
    let kind = if error.is_some() {
        "step.failed"
    } else {
        "step.completed"
    };
    let e = NewEvent::new(run.id, kind, &s.actor)
        .step(&c.job.step, c.job.iteration)
        .attempt(c.job.attempt)
        .reason(error);
    events::append(conn, &e).await?;
    machine::advance(conn, def, run, &c.job.step, t, &s.actor).await
}

/// A children step's spawn handler returned the children to start.
pub(super) async fn spawned(
    s: &Shared,
    wf: &Workflow,
    c: &ClaimedJob,
    children: Vec<ChildSpec>,
    tx: Option<Tx>,
) -> Result<()> {
    let Some((mut tx, mut run)) = begin_fenced(s, c, tx).await? else {
        return Ok(());
    };
    let mut ids = Vec::with_capacity(children.len());
    for child in &children {
        let child_wf = &child.workflow;
        definitions::upsert(
            &mut tx,
            child_wf.name(),
            child_wf.version(),
            child_wf.specs(),
        )
        .await?;
        let (id, _) = machine::start_run(
            &mut tx,
            StartParams {
                def: child_wf.def(),
                input: &child.input,
                idempotency_key: None,
                actor: &s.actor,
                parent: Some((run.id, &c.job.step, c.job.iteration)),
            },
        )
        .await?;
        ids.push(id);
    }
    let output = json!({ "children": ids });
    record(
        &mut tx,
        s,
        c,
        JobKind::Step,
        ExecutionStatus::Waiting,
        Some(&output),
        None,
    )
    .await?;
    let e = NewEvent::new(run.id, "children.started", &s.actor)
        .step(&c.job.step, c.job.iteration)
        .data(output);
    events::append(&mut tx, &e).await?;
    if ids.is_empty() {
        let t = Transition::Next(json!([]));
        machine::advance(&mut tx, wf.def(), &mut run, &c.job.step, t, &s.actor).await?;
    } else {
        run.set_status(RunStatus::Waiting);
    }
    commit(tx, &run).await
}

/// A compensation succeeded: queue the next one, or end the run.
pub(super) async fn compensated(
    s: &Shared,
    wf: &Workflow,
    c: &ClaimedJob,
    tx: Option<Tx>,
) -> Result<()> {
    let Some((mut tx, mut run)) = begin_fenced(s, c, tx).await? else {
        return Ok(());
    };
    record(
        &mut tx,
        s,
        c,
        JobKind::Compensate,
        ExecutionStatus::Completed,
        None,
        None,
    )
    .await?;
    let e = NewEvent::new(run.id, "compensation.completed", &s.actor)
        .step(&c.job.step, c.job.iteration)
        .attempt(c.job.attempt);
    events::append(&mut tx, &e).await?;
    machine::schedule_next_compensation(&mut tx, wf.def(), &mut run, &s.actor).await?;
    commit(tx, &run).await
}

/// An attempt failed: retry after backoff while attempts remain, else give up (compensate,
/// park, or mark the compensation failed). Never uses the handler's transaction: its writes
/// are rolled back.
pub(super) async fn failure(
    s: &Shared,
    wf: Option<&Workflow>,
    c: &ClaimedJob,
    (err, status): Failure,
) -> Result<()> {
    let mut tx = s.pool.begin().await?;
    let Some(mut run) = runs::lock(&mut tx, c.job.run_id).await? else {
        return Ok(());
    };
    let token = c.job.lease_token.expect("claimed jobs carry a lease");
    let job = &c.job;
    let kind = job.kind;
    let can_retry = err.is_retryable() && job.attempt < job.max_attempts;
    tracing::warn!(error = %err.message, retry = can_retry, "attempt failed");
    if can_retry {
        let policy = wf
            .and_then(|w| w.step(&job.step))
            .map(|st| st.spec.retry.clone())
            .unwrap_or_default();
        let delay = policy.delay_after(job.attempt as u32);
        if !jobs::retry_leased(&mut tx, job.id, token, delay, &err.message).await? {
            return Err(EngineError::LeaseLost(job.id));
        }
        record(&mut tx, s, c, kind, status, None, Some(&err.message)).await?;
        let e = NewEvent::new(run.id, "attempt.failed", &s.actor)
            .step(&job.step, job.iteration)
            .attempt(job.attempt)
            .reason(Some(&err.message))
            .data(json!({ "kind": kind, "retry_in_ms": delay.as_millis() as u64 }));
        events::append(&mut tx, &e).await?;
        return commit(tx, &run).await;
    }
    let loaded;
    let def = match wf {
        Some(w) => w.def(),
        None => {
            loaded = Def::load(&mut tx, &run.workflow, run.version).await?;
            &loaded
        }
    };
    let action = machine::give_up_action(def, job, !err.is_retryable());
    let fenced = match action {
        GiveUp::Compensate => jobs::delete_leased(&mut tx, job.id, token).await?,
        GiveUp::Park | GiveUp::KillCompensation => {
            jobs::kill_leased(&mut tx, job.id, token, &err.message).await?
        }
    };
    if !fenced {
        return Err(EngineError::LeaseLost(job.id));
    }
    record(&mut tx, s, c, kind, status, None, Some(&err.message)).await?;
    machine::give_up(&mut tx, def, &mut run, job, action, &err.message, &s.actor).await?;
    commit(tx, &run).await
}

/// Signal, timer and join jobs: decided from the database and the step's spec.
pub(super) async fn internal(s: &Arc<Shared>, wf: &Workflow, c: &ClaimedJob) -> Result<()> {
    let Some((mut tx, mut run)) = begin_fenced(s, c, None).await? else {
        return Ok(());
    };
    let at_step = run.effective_status() == RunStatus::Waiting
        && run.current_step.as_deref() == Some(c.job.step.as_str())
        && run.iteration == c.job.iteration;
    if !at_step {
        // The wait ended another way meanwhile (signal, timer, operator): nothing to do.
        tx.commit().await?;
        return Ok(());
    }
    let def = wf.def();
    match c.job.kind {
        JobKind::Signal => internal::on_signals(&mut tx, s, wf, def, &mut run, c).await?,
        JobKind::Timer => internal::on_timer(&mut tx, s, def, &mut run, c).await?,
        JobKind::Join => internal::on_join(&mut tx, s, def, &mut run, c).await?,
        JobKind::Step | JobKind::Compensate => unreachable!("handled by the executor"),
    }
    commit(tx, &run).await
}
