//! The repairs (retry, skip, complete-wait, fail-wait, rewind, pause, resume, cancel), for
//! one run or in bulk by the list filters: select, show what would change (`--dry-run`),
//! confirm destructive ones, apply each through `seam_engine::Operator`, report.

use chrono::{DateTime, Utc};
use seam_engine::store::inspect::RunSummary;
use seam_engine::store::runs::RunRow;
use seam_engine::{EngineError, JobState, Operator, RunId, RunStatus};
use serde::Serialize;
use serde_json::{Value, json};

use super::list::print_runs;
use super::select::{one, select};
use crate::args::runs::{Confirm, Target};
use crate::commands::Exit;
use crate::context::Ctx;
use crate::error::{CliError, Result};
use crate::outln;
use crate::output::fmt::short_id;
use crate::output::prompt::confirm;

/// One repair with its arguments.
#[derive(Debug, Clone)]
pub enum Action {
    /// Run dead or backing-off jobs now.
    Retry,
    /// Skip a step (or its compensation) with an output.
    Skip {
        /// The step.
        step: String,
        /// Its output.
        output: Value,
    },
    /// Complete the wait with an output.
    CompleteWait {
        /// The wait's output.
        output: Value,
    },
    /// Fail the wait.
    FailWait,
    /// Restart at a step.
    Rewind {
        /// The step.
        to: String,
    },
    /// Hold the run.
    Pause,
    /// Release a paused run.
    Resume,
    /// Cancel, compensating or not.
    Cancel {
        /// Run compensations first.
        compensate: bool,
    },
}

impl Action {
    /// The command's name.
    fn name(&self) -> &'static str {
        match self {
            Action::Retry => "retry",
            Action::Skip { .. } => "skip",
            Action::CompleteWait { .. } => "complete-wait",
            Action::FailWait => "fail-wait",
            Action::Rewind { .. } => "rewind",
            Action::Pause => "pause",
            Action::Resume => "resume",
            Action::Cancel { .. } => "cancel",
        }
    }

    /// What it does, for prompts and dry runs.
    fn describe(&self) -> String {
        match self {
            Action::Skip { step, output } => format!("skip step '{step}' with output {output}"),
            Action::CompleteWait { output } => format!("complete the wait with output {output}"),
            Action::FailWait => "fail the wait (compensations run)".into(),
            Action::Rewind { to } => format!("rewind to step '{to}'"),
            Action::Cancel { compensate: true } => "cancel (compensations run)".into(),
            Action::Cancel { compensate: false } => "cancel without compensation".into(),
            other => other.name().into(),
        }
    }

    /// Asks for confirmation on a terminal.
    fn destructive(&self) -> bool {
        matches!(
            self,
            Action::Skip { .. } | Action::FailWait | Action::Rewind { .. } | Action::Cancel { .. }
        )
    }

    /// The statuses the bulk form selects (the engine still decides for each run).
    fn statuses(&self) -> &'static [RunStatus] {
        use RunStatus::*;
        match self {
            Action::Retry | Action::Skip { .. } => {
                &[Pending, Running, Waiting, Compensating, CompensationFailed]
            }
            Action::CompleteWait { .. } | Action::FailWait => &[Waiting],
            Action::Rewind { .. } => &[
                Pending,
                Running,
                Waiting,
                CompensationFailed,
                Completed,
                Failed,
                Cancelled,
            ],
            Action::Pause => &[Pending, Running, Waiting, Compensating],
            Action::Resume => &[Paused],
            Action::Cancel { compensate: true } => &[Pending, Running, Waiting, Paused],
            Action::Cancel { compensate: false } => &[
                Pending,
                Running,
                Waiting,
                Paused,
                Compensating,
                CompensationFailed,
            ],
        }
    }

    /// Whether the bulk form should act on this run at all.
    fn wants(&self, r: &RunSummary, now: DateTime<Utc>) -> bool {
        match self {
            Action::Retry => {
                r.dead_jobs > 0
                    || r.status == RunStatus::CompensationFailed
                    || (r.job_state == Some(JobState::Ready)
                        && r.job_run_at.is_some_and(|t| t > now))
            }
            Action::Skip { step, .. } => {
                r.current_step.as_deref() == Some(step.as_str())
                    || matches!(
                        r.status,
                        RunStatus::Compensating | RunStatus::CompensationFailed
                    )
            }
            _ => true,
        }
    }

    async fn apply(&self, op: &Operator, run: RunId, reason: &str) -> seam_engine::Result<RunRow> {
        match self {
            Action::Retry => op.retry(run, reason).await,
            Action::Skip { step, output } => op.skip(run, step, output.clone(), reason).await,
            Action::CompleteWait { output } => op.complete_wait(run, output.clone(), reason).await,
            Action::FailWait => op.fail_wait(run, reason).await,
            Action::Rewind { to } => op.rewind(run, to, reason).await,
            Action::Pause => op.pause(run, reason).await,
            Action::Resume => op.resume(run, reason).await,
            Action::Cancel { compensate } => op.cancel(run, *compensate, reason).await,
        }
    }
}

/// The outcome for one run.
#[derive(Serialize)]
struct Outcome {
    run_id: RunId,
    workflow: String,
    before: RunStatus,
    after: Option<RunStatus>,
    ok: bool,
    error: Option<String>,
}

/// Runs the repair on the target run(s).
pub async fn run(
    ctx: &Ctx,
    target: &Target,
    action: Action,
    confirmation: Option<&Confirm>,
) -> Result<Exit> {
    let pool = ctx.connect().await?;
    let now = Utc::now();
    let runs: Vec<RunSummary> = match &target.run {
        Some(r) => {
            let id = ctx.resolve(&pool, r).await?;
            vec![one(&pool, id).await?.ok_or(EngineError::RunNotFound(id))?]
        }
        None => {
            let allowed = action.statuses();
            let statuses: Vec<RunStatus> = if target.filters.status.is_empty() {
                allowed.to_vec()
            } else {
                let (keep, drop): (Vec<RunStatus>, Vec<RunStatus>) = target
                    .filters
                    .status
                    .iter()
                    .partition(|s| allowed.contains(s));
                for s in drop {
                    eprintln!(
                        "note: {} does not apply to {s} runs; skipping them",
                        action.name()
                    );
                }
                if keep.is_empty() {
                    return Ok(Exit::Ok);
                }
                keep
            };
            let sel = select(&pool, &target.filters, &statuses, target.limit, now).await?;
            if sel.runs.len() as i64 == target.limit {
                eprintln!(
                    "note: stopped at --limit {}; more runs may match",
                    target.limit
                );
            }
            sel.runs
                .into_iter()
                .filter(|r| action.wants(r, now))
                .collect()
        }
    };
    if runs.is_empty() {
        eprintln!("no runs match; nothing to {}", action.name());
        return Ok(Exit::Ok);
    }
    let what = action.describe();
    if target.dry_run {
        if ctx.out.json {
            ctx.out.print_json(&json!({
                "action": action.name(), "dry_run": true, "reason": target.reason, "runs": runs,
            }))?;
        } else {
            eprintln!("dry run: would {what}: {} run(s)", runs.len());
            print_runs(&ctx.out, &runs, &Default::default(), now)?;
            eprintln!("nothing changed");
        }
        return Ok(Exit::Ok);
    }
    if let Some(c) = confirmation.filter(|_| action.destructive()) {
        let question = match runs.as_slice() {
            [r] => format!("{what} for run {} ({}@{})?", r.id, r.workflow, r.version),
            many => format!("{what} for {} runs?", many.len()),
        };
        confirm(&question, c.yes)?;
    }
    let op = ctx.operator(&pool);
    let mut outcomes = Vec::with_capacity(runs.len());
    for r in &runs {
        let result = action.apply(&op, r.id, &target.reason).await;
        outcomes.push(match result {
            Ok(row) => Outcome {
                run_id: r.id,
                workflow: r.workflow.clone(),
                before: r.status,
                after: Some(row.status),
                ok: true,
                error: None,
            },
            Err(e) => Outcome {
                run_id: r.id,
                workflow: r.workflow.clone(),
                before: r.status,
                after: None,
                ok: false,
                error: Some(CliError::from(e).to_string()),
            },
        });
    }
    pool.close().await;
    report(ctx, &action, &outcomes)
}

fn report(ctx: &Ctx, action: &Action, outcomes: &[Outcome]) -> Result<Exit> {
    let failed = outcomes.iter().filter(|o| !o.ok).count();
    if ctx.out.json {
        ctx.out.print_json(&json!({
            "action": action.name(), "dry_run": false, "actor": ctx.operator_actor(),
            "runs": outcomes,
        }))?;
    } else {
        for o in outcomes {
            match (&o.after, &o.error) {
                (Some(after), _) => outln!(
                    "{} {} {} ({}): {} -> {after}",
                    action.name(),
                    "ok",
                    o.run_id,
                    o.workflow,
                    o.before
                )?,
                (None, Some(e)) => eprintln!("error: {e}"),
                (None, None) => {}
            }
        }
        if let [o] = outcomes
            && o.ok
        {
            eprintln!("follow it with: seam runs watch {}", short_id(o.run_id));
        }
        if outcomes.len() > 1 {
            eprintln!(
                "{}: {} done, {failed} refused",
                action.name(),
                outcomes.len() - failed
            );
        }
    }
    Ok(if failed > 0 { Exit::Failure } else { Exit::Ok })
}
