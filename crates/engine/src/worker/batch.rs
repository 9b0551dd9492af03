//! Batched completion of the most common transition: a task step that succeeded and moves
//! its run on to the next task step, or completes it. One completer task per worker applies
//! every such completion that is waiting, together, in one transaction of set-based
//! statements — the same rows the general path writes, at a fraction of the round trips.
//!
//! Anything else (waits, sleeps, children, gotos, failures, transactional steps, paused or
//! cancelled runs, children finishing) takes the general path in `complete.rs`.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use serde_json::Value;
use tokio::sync::{mpsc, oneshot, watch};
use uuid::Uuid;

use super::runtime::Shared;
use crate::definition::{StepKind, Transition, Workflow};
use crate::error::Result;
use crate::state::{JobKind, RunStatus};
use crate::store::events::NewEvents;
use crate::store::executions::CompletedSteps;
use crate::store::jobs::{ClaimedJob, NewStepJobs};
use crate::store::runs::StepAdvances;
use crate::store::{events, executions, jobs, runs};

/// Most completions applied in one transaction.
pub(crate) const MAX_BATCH: usize = 128;

/// The next task step a completion moves to.
pub(crate) struct NextStep {
    name: String,
    queue: String,
    max_attempts: i32,
}

/// One completion waiting for the completer.
pub(crate) struct Pending {
    job: ClaimedJob,
    output: Value,
    next: Option<NextStep>,
    reply: oneshot::Sender<Outcome>,
}

/// What became of a completion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Committed.
    Done,
    /// The lease was lost: nothing was written.
    LeaseLost,
    /// Not for the batch path (run paused, cancelled, a child finishing, or the batch
    /// failed): nothing was written; complete it on the general path.
    Fallback,
}

/// The batchable form of a task step's transition, if it has one.
pub(crate) fn batchable(
    wf: &Workflow,
    c: &ClaimedJob,
    t: &Transition,
) -> Option<(Value, Option<NextStep>)> {
    if c.job.kind != JobKind::Step {
        return None;
    }
    let specs = wf.specs();
    let idx = specs.iter().position(|s| s.name == c.job.step)?;
    let spec = &specs[idx];
    if spec.kind != StepKind::Task || spec.transactional {
        return None;
    }
    let (output, completes) = match t {
        Transition::Next(v) => (v, idx + 1 == specs.len()),
        Transition::Complete(v) => (v, true),
        _ => return None,
    };
    if completes {
        return Some((output.clone(), None));
    }
    let next = &specs[idx + 1];
    if next.kind != StepKind::Task {
        return None;
    }
    Some((
        output.clone(),
        Some(NextStep {
            name: next.name.clone(),
            queue: next.queue.clone(),
            max_attempts: next.retry.max_attempts as i32,
        }),
    ))
}

/// Hands a completion to the completer and waits for its outcome.
pub(crate) async fn submit(
    tx: &mpsc::Sender<Pending>,
    job: &ClaimedJob,
    output: Value,
    next: Option<NextStep>,
) -> Outcome {
    let (reply, rx) = oneshot::channel();
    let pending = Pending {
        job: job.clone(),
        output,
        next,
        reply,
    };
    if tx.send(pending).await.is_err() {
        return Outcome::Fallback;
    }
    rx.await.unwrap_or(Outcome::Fallback)
}

/// The completer: applies whatever completions are waiting, together, until stopped.
pub(crate) async fn run(
    s: Arc<Shared>,
    mut rx: mpsc::Receiver<Pending>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        let first = tokio::select! {
            biased;
            c = rx.recv() => match c { Some(c) => c, None => return },
            _ = stop.wait_for(|v| *v) => return,
        };
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(c) => batch.push(c),
                Err(_) => break,
            }
        }
        let outcomes = match apply(&s, &batch).await {
            Ok(o) => o,
            Err(e) => {
                tracing::warn!(error = %e, size = batch.len(), "batched completion failed; completing one by one");
                vec![Outcome::Fallback; batch.len()]
            }
        };
        for (p, o) in batch.into_iter().zip(outcomes) {
            let _ = p.reply.send(o);
        }
    }
}

async fn apply(s: &Shared, batch: &[Pending]) -> Result<Vec<Outcome>> {
    let mut tx = s.pool.begin().await?;
    let ids: Vec<Uuid> = batch.iter().map(|p| p.job.job.run_id.0).collect();
    let locked: HashMap<Uuid, (RunStatus, bool)> = runs::lock_many(&mut tx, &ids)
        .await?
        .into_iter()
        .map(|(id, status, has_parent)| (id, (status, has_parent)))
        .collect();
    let mut seen = HashSet::new();
    let mut outcomes = vec![Outcome::Fallback; batch.len()];
    let (mut job_ids, mut tokens, mut candidates) = (Vec::new(), Vec::new(), Vec::new());
    for (i, p) in batch.iter().enumerate() {
        let run = p.job.job.run_id.0;
        let Some(&(status, has_parent)) = locked.get(&run) else {
            continue;
        };
        let live = matches!(status, RunStatus::Running | RunStatus::Pending);
        // A child that completes must tell its parent: general path.
        let ends_child = p.next.is_none() && has_parent;
        if live && !ends_child && seen.insert(run) {
            job_ids.push(p.job.job.id);
            tokens.push(p.job.job.lease_token.expect("claimed jobs carry a lease"));
            candidates.push(i);
        }
    }
    if candidates.is_empty() {
        return Ok(outcomes);
    }
    let deleted: HashSet<i64> = jobs::delete_leased_many(&mut tx, &job_ids, &tokens)
        .await?
        .into_iter()
        .collect();
    let mut execs = CompletedSteps::default();
    let mut evs = NewEvents::default();
    let mut next_jobs = NewStepJobs::default();
    let mut advances = StepAdvances::default();
    for i in candidates {
        let p = &batch[i];
        let j = &p.job.job;
        if !deleted.contains(&j.id) {
            outcomes[i] = Outcome::LeaseLost;
            continue;
        }
        outcomes[i] = Outcome::Done;
        execs.run_ids.push(j.run_id.0);
        execs.queues.push(j.queue.clone());
        execs.steps.push(j.step.clone());
        execs.iterations.push(j.iteration);
        execs.attempts.push(j.attempt);
        execs.inputs.push(j.input.clone());
        execs.outputs.push(p.output.clone());
        execs.worker_ids.push(s.id.0);
        execs
            .started_at
            .push(j.started_at.unwrap_or_else(chrono::Utc::now));
        let (run, step) = (j.run_id.0, Some(j.step.clone()));
        push_event(
            &mut evs,
            run,
            "step.completed",
            step,
            Some(j.iteration),
            Some(j.attempt),
        );
        advances.run_ids.push(j.run_id.0);
        advances.steps.push(j.step.clone());
        advances.outputs.push(p.output.clone());
        advances
            .next_steps
            .push(p.next.as_ref().map(|n| n.name.clone()));
        match &p.next {
            Some(n) => {
                next_jobs.run_ids.push(j.run_id.0);
                next_jobs.queues.push(n.queue.clone());
                next_jobs.pins.push(j.pin.clone());
                next_jobs.steps.push(n.name.clone());
                next_jobs.iterations.push(j.iteration);
                next_jobs.max_attempts.push(n.max_attempts);
                next_jobs.inputs.push(p.output.clone());
            }
            None => push_event(&mut evs, run, "run.completed", None, None, None),
        }
    }
    if !advances.run_ids.is_empty() {
        executions::insert_completed(&mut tx, &execs).await?;
        events::append_many(&mut tx, &evs, &s.actor).await?;
        jobs::insert_steps(&mut tx, &next_jobs).await?;
        runs::advance_many(&mut tx, &advances).await?;
    }
    tx.commit().await?;
    Ok(outcomes)
}

fn push_event(
    e: &mut NewEvents,
    run: Uuid,
    kind: &'static str,
    step: Option<String>,
    iteration: Option<i32>,
    attempt: Option<i32>,
) {
    e.run_ids.push(run);
    e.kinds.push(kind);
    e.steps.push(step);
    e.iterations.push(iteration);
    e.attempts.push(attempt);
}
