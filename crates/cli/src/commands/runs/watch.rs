//! `seam runs watch RUN`: a progress bar over the run's steps until it ends (or needs an
//! operator after a failed compensation). Exit 0 when it completes, 1 otherwise.

use std::io::Write;

use chrono::{DateTime, Utc};
use seam_engine::store::definitions;
use seam_engine::store::jobs::{self, JobRow};
use seam_engine::store::runs::{self, RunRow};
use seam_engine::{EngineError, JobKind, JobState, RunStatus};
use serde_json::json;

use crate::args::runs::WatchArgs;
use crate::commands::Exit;
use crate::commands::serve::ctrl_c;
use crate::context::Ctx;
use crate::error::Result;
use crate::outln;
use crate::output::fmt::{ago, duration, truncate};
use crate::output::{Color, Out};

const BAR: usize = 24;

/// Where a run is, as a bar.
#[derive(Debug, Clone, PartialEq)]
struct Progress {
    done: usize,
    total: usize,
    label: String,
}

/// Watches the run until it settles.
pub async fn run(ctx: &Ctx, args: WatchArgs) -> Result<Exit> {
    let pool = ctx.connect().await?;
    let id = ctx.resolve(&pool, &args.run).await?;
    let out = ctx.out;
    let mut steps: Option<Vec<String>> = None;
    let mut last: Option<Progress> = None;
    let interrupted = ctrl_c();
    tokio::pin!(interrupted);
    loop {
        let (run, jobs) = {
            let mut conn = pool.acquire().await.map_err(EngineError::from)?;
            let run = runs::get(&mut conn, id)
                .await?
                .ok_or(EngineError::RunNotFound(id))?;
            if steps.is_none() {
                let specs = definitions::get(&mut conn, &run.workflow, run.version).await?;
                steps = Some(
                    specs
                        .unwrap_or_default()
                        .into_iter()
                        .map(|s| s.name)
                        .collect(),
                );
            }
            (run, jobs::for_run(&mut conn, id).await?)
        };
        let now = Utc::now();
        let p = progress(&run, &jobs, steps.as_deref().unwrap_or_default(), now);
        if last.as_ref() != Some(&p) {
            show(&out, &run, &p)?;
            last = Some(p);
        }
        let settled = run.status.is_terminal() || run.status == RunStatus::CompensationFailed;
        if settled {
            return finish(&out, &run);
        }
        tokio::select! {
            _ = &mut interrupted => {
                if out.tty && !out.json {
                    eprintln!();
                }
                return Ok(Exit::Interrupted);
            }
            _ = tokio::time::sleep(args.interval) => {}
        }
    }
}

fn progress(run: &RunRow, jobs: &[JobRow], steps: &[String], now: DateTime<Utc>) -> Progress {
    let total = steps.len().max(1);
    let step = run.current_step.clone().unwrap_or_default();
    let index = steps.iter().position(|s| *s == step).unwrap_or(0);
    let done = if run.status == RunStatus::Completed {
        total
    } else {
        index
    };
    // The run and its jobs are read one after the other: describe a job only when it is
    // the run's current step (or, compensating, any compensation).
    let work = jobs.iter().rev().find(|j| match j.kind {
        JobKind::Step => j.step == step,
        JobKind::Compensate => run.status == RunStatus::Compensating,
        _ => false,
    });
    let job_label = |j: &JobRow| {
        let attempt = format!("attempt {}/{}", j.attempt, j.max_attempts);
        match j.state {
            JobState::Running => format!("running ({attempt})"),
            JobState::Ready if j.run_at > now => format!(
                "retry {} ({attempt}): {}",
                ago(j.run_at, now),
                truncate(j.last_error.as_deref().unwrap_or(""), 50)
            ),
            JobState::Ready => format!("queued ({attempt})"),
            JobState::Dead => format!(
                "dead after {attempt}: needs an operator (seam runs retry {})",
                run.id
            ),
            JobState::Paused => "held".into(),
        }
    };
    let label = match run.status {
        RunStatus::Pending => "pending: waiting for a worker".to_string(),
        RunStatus::Running => match work {
            Some(j) => format!("{step} {}", job_label(j)),
            None => format!("{step} running"),
        },
        RunStatus::Waiting => match &run.wait_signal {
            Some(s) => format!("{step} waiting for signal '{s}'"),
            None => format!("{step} waiting"),
        },
        RunStatus::Compensating => match work {
            Some(j) => format!("compensating {} {}", j.step, job_label(j)),
            None => "compensating".into(),
        },
        RunStatus::Paused => format!("{step} paused"),
        RunStatus::CompensationFailed => format!("{step} compensation failed"),
        s => s.as_str().to_string(),
    };
    Progress { done, total, label }
}

fn show(out: &Out, run: &RunRow, p: &Progress) -> Result<()> {
    if out.json {
        return out.print_json_line(&json!({
            "run_id": run.id,
            "status": run.status,
            "step": run.current_step,
            "done": p.done,
            "total": p.total,
            "label": p.label,
        }));
    }
    let filled = (p.done * BAR) / p.total.max(1);
    let mut bar = "=".repeat(filled);
    if filled < BAR {
        bar.push('>');
        bar.push_str(&" ".repeat(BAR - filled - 1));
    }
    let color = match run.status {
        RunStatus::Completed => Color::Green,
        RunStatus::Failed | RunStatus::CompensationFailed => Color::Red,
        RunStatus::Compensating | RunStatus::Waiting => Color::Yellow,
        _ => Color::Cyan,
    };
    let line = format!(
        "[{}] {}/{} {}",
        out.paint(&bar, color),
        p.done,
        p.total,
        p.label
    );
    if out.tty {
        let mut stdout = std::io::stdout().lock();
        write!(stdout, "\r\x1b[2K{line}")?;
        stdout.flush()?;
        Ok(())
    } else {
        outln!("{line}")
    }
}

fn finish(out: &Out, run: &RunRow) -> Result<Exit> {
    if out.json {
        return Ok(exit_for(run.status));
    }
    if out.tty {
        outln!()?;
    }
    let took = run
        .finished_at
        .map(|f| duration(f - run.created_at))
        .unwrap_or_default();
    let error = run.error.as_deref().unwrap_or("no error recorded");
    match run.status {
        RunStatus::Completed => {
            let output = run
                .output
                .as_ref()
                .map(|o| o.to_string())
                .unwrap_or_default();
            outln!(
                "{} in {took}: {}",
                out.paint("completed", Color::Green),
                truncate(&output, 100)
            )?;
        }
        RunStatus::CompensationFailed => outln!(
            "{}: {error}; see `seam runs show {}`",
            out.paint("compensation failed", Color::Red),
            run.id
        )?,
        s => outln!(
            "{} after {took}: {error}",
            out.paint(s.as_str(), Color::Red)
        )?,
    }
    Ok(exit_for(run.status))
}

fn exit_for(status: RunStatus) -> Exit {
    if status == RunStatus::Completed {
        Exit::Ok
    } else {
        Exit::Failure
    }
}
