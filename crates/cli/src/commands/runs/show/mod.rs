//! `seam runs show RUN`: where the run is and why, its steps, the pending wait, children,
//! the latest history, and the commands that would move it on.

mod print;

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use seam_engine::store::definitions;
use seam_engine::store::events::EventRow;
use seam_engine::store::executions::{self, ExecutionRow};
use seam_engine::store::inspect::{self, StuckRules, StuckRun};
use seam_engine::store::jobs::{self, JobRow};
use seam_engine::store::runs::{self, RunRow};
use seam_engine::store::signals::{self, SignalRecord};
use seam_engine::{EngineError, RunId};
use serde::Serialize;
use sqlx::PgPool;
use uuid::Uuid;

use super::explain::{self, Facts};
use crate::args::runs::ShowArgs;
use crate::commands::Exit;
use crate::context::Ctx;
use crate::diagnose::{self, Diagnosis};
use crate::error::Result;

/// Everything `show` prints, as JSON too.
#[derive(Serialize)]
pub struct View {
    /// The run.
    pub run: RunRow,
    /// Why it is where it is.
    pub why: String,
    /// The workflow's steps, in order (empty if its definition is not registered).
    pub definition: Vec<String>,
    /// Ended attempts, in order.
    pub executions: Vec<ExecutionRow>,
    /// Queued, running, dead or held jobs.
    pub jobs: Vec<JobRow>,
    /// The wait the run is in, if any.
    pub wait: Option<Wait>,
    /// Every signal sent to the run.
    pub signals: Vec<SignalRecord>,
    /// Child runs.
    pub children: Vec<RunRow>,
    /// The latest history events, oldest first.
    pub events: Vec<EventRow>,
    /// How many events the run has in all.
    pub events_total: i64,
    /// Why it is stuck (empty when it is not), with fixes.
    pub stuck: Vec<Finding>,
    /// Commands that would move it on.
    pub next: Vec<String>,
    /// Worker names by id.
    #[serde(skip)]
    pub worker_names: HashMap<Uuid, String>,
}

/// The wait a run is in.
#[derive(Serialize)]
pub struct Wait {
    /// The step.
    pub step: Option<String>,
    /// The signal it waits for (none: a sleep or children).
    pub signal: Option<String>,
    /// When it gives up (or wakes).
    pub deadline: Option<DateTime<Utc>>,
    /// Signals that arrived and are not consumed yet.
    pub buffered: Vec<SignalRecord>,
}

/// A stuck finding with its diagnosis.
#[derive(Serialize)]
pub struct Finding {
    /// What the engine found.
    #[serde(flatten)]
    pub finding: StuckRun,
    /// Why and what fixes it.
    #[serde(flatten)]
    pub diagnosis: Diagnosis,
}

/// Shows the run.
pub async fn run(ctx: &Ctx, args: ShowArgs) -> Result<Exit> {
    let pool = ctx.connect().await?;
    let id = ctx.resolve(&pool, &args.run).await?;
    let now = Utc::now();
    let view = gather(&pool, id, args.events, now).await?;
    pool.close().await;
    if ctx.out.json {
        ctx.out.print_json(&view)?;
    } else {
        print::view(&ctx.out, &view, now)?;
    }
    Ok(Exit::Ok)
}

/// Reads everything about the run.
pub async fn gather(pool: &PgPool, id: RunId, events: i64, now: DateTime<Utc>) -> Result<View> {
    let mut conn = pool.acquire().await.map_err(EngineError::from)?;
    let run = runs::get(&mut conn, id)
        .await?
        .ok_or(EngineError::RunNotFound(id))?;
    let definition: Vec<String> = definitions::get(&mut conn, &run.workflow, run.version)
        .await?
        .unwrap_or_default()
        .into_iter()
        .map(|s| s.name)
        .collect();
    let executions = executions::for_run(&mut conn, id).await?;
    let jobs = jobs::for_run(&mut conn, id).await?;
    let signals = signals::for_run(&mut conn, id).await?;
    let children = inspect::run_children(&mut conn, id).await?;
    let (events, events_total) = inspect::run_events_tail(&mut conn, id, events.max(0)).await?;
    let stuck = inspect::runs_stuck(&mut conn, &StuckRules::default(), now, Some(id)).await?;
    let mut worker_ids: Vec<Uuid> = executions
        .iter()
        .filter_map(|e| e.worker_id)
        .chain(jobs.iter().filter_map(|j| j.worker_id))
        .collect();
    worker_ids.sort();
    worker_ids.dedup();
    let worker_names = inspect::workers_by_ids(&mut conn, &worker_ids)
        .await?
        .into_iter()
        .map(|w| (w.id, w.name))
        .collect();
    let why = explain::why(
        &Facts {
            run: &run,
            jobs: &jobs,
            signals: &signals,
            children: &children,
            stuck: &stuck,
            events: &events,
        },
        now,
    );
    let first = definition.first().map(String::as_str).unwrap_or("?");
    let mut next: Vec<String> = Vec::new();
    for f in &stuck {
        for cmd in diagnose::stuck(f, now).fix {
            if !next.contains(&cmd) {
                next.push(cmd);
            }
        }
    }
    for cmd in diagnose::next_moves(&run, &jobs, first, now) {
        if !next.contains(&cmd) {
            next.push(cmd);
        }
    }
    let wait = wait_of(&run, &signals);
    let stuck = stuck
        .into_iter()
        .map(|f| Finding {
            diagnosis: diagnose::stuck(&f, now),
            finding: f,
        })
        .collect();
    Ok(View {
        run,
        why,
        definition,
        executions,
        jobs,
        wait,
        signals,
        children,
        events,
        events_total,
        stuck,
        next,
        worker_names,
    })
}

fn wait_of(run: &RunRow, signals: &[SignalRecord]) -> Option<Wait> {
    let waiting = run.effective_status() == seam_engine::RunStatus::Waiting;
    if !waiting {
        return None;
    }
    let buffered = signals
        .iter()
        .filter(|s| s.consumed_at.is_none())
        .cloned()
        .collect();
    Some(Wait {
        step: run.current_step.clone(),
        signal: run.wait_signal.clone(),
        deadline: run.wait_deadline,
        buffered,
    })
}
