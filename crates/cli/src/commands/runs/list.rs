//! `seam runs list`: runs matching the filters, newest first, as a table or JSON.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use seam_engine::store::inspect::{RunSummary, StuckRun};
use seam_engine::{JobState, RunId, RunStatus};
use serde::Serialize;

use super::select::select;
use crate::args::runs::ListArgs;
use crate::commands::Exit;
use crate::context::Ctx;
use crate::diagnose;
use crate::error::Result;
use crate::output::fmt::{ago, short_id, span, truncate};
use crate::output::style::status_color;
use crate::output::table::{Cell, Table};
use crate::output::{Color, Out};

/// A listed run in JSON: the summary, plus the stuck findings with `--stuck`.
#[derive(Serialize)]
struct Listed<'a> {
    #[serde(flatten)]
    run: &'a RunSummary,
    #[serde(skip_serializing_if = "Option::is_none")]
    stuck: Option<Vec<StuckJson<'a>>>,
}

#[derive(Serialize)]
struct StuckJson<'a> {
    #[serde(flatten)]
    finding: &'a StuckRun,
    #[serde(flatten)]
    diagnosis: diagnose::Diagnosis,
}

/// Lists the runs.
pub async fn run(ctx: &Ctx, args: ListArgs) -> Result<Exit> {
    let pool = ctx.connect().await?;
    let now = Utc::now();
    let sel = select(&pool, &args.filters, &args.filters.status, args.limit, now).await?;
    pool.close().await;
    if ctx.out.json {
        let listed: Vec<Listed> = sel
            .runs
            .iter()
            .map(|r| Listed {
                run: r,
                stuck: args.filters.stuck.then(|| {
                    sel.stuck
                        .get(&r.id)
                        .map(|fs| {
                            fs.iter()
                                .map(|f| StuckJson {
                                    finding: f,
                                    diagnosis: diagnose::stuck(f, now),
                                })
                                .collect()
                        })
                        .unwrap_or_default()
                }),
            })
            .collect();
        ctx.out.print_json(&listed)?;
        return Ok(Exit::Ok);
    }
    if sel.runs.is_empty() {
        eprintln!("no runs match");
        return Ok(Exit::Ok);
    }
    print_runs(&ctx.out, &sel.runs, &sel.stuck, now)?;
    if sel.runs.len() as i64 == args.limit {
        eprintln!("(showing the newest {}; --limit shows more)", args.limit);
    }
    Ok(Exit::Ok)
}

/// Prints runs as a table: short id, workflow, status, step, age, last change, and what is
/// going on (stuck reasons, retries, waits, errors).
pub fn print_runs(
    out: &Out,
    runs: &[RunSummary],
    stuck: &HashMap<RunId, Vec<StuckRun>>,
    now: DateTime<Utc>,
) -> Result<()> {
    let mut table = Table::new(&[
        "RUN", "WORKFLOW", "STATUS", "STEP", "AGE", "UPDATED", "INFO",
    ]);
    for r in runs {
        let (info, warn) = info(r, stuck.get(&r.id).map(Vec::as_slice), now);
        table.row(vec![
            short_id(r.id).into(),
            format!("{}@{}", r.workflow, r.version).into(),
            Cell::colored(r.status.as_str(), status_color(r.status)),
            r.current_step.clone().unwrap_or_default().into(),
            span(now - r.created_at).into(),
            ago(r.updated_at, now).into(),
            Cell::colored(truncate(&info, 80), warn.then_some(Color::Yellow)),
        ]);
    }
    table.print(out)
}

/// What to say about a run in one line, and whether it needs attention.
fn info(r: &RunSummary, stuck: Option<&[StuckRun]>, now: DateTime<Utc>) -> (String, bool) {
    if let Some(findings) = stuck.filter(|f| !f.is_empty()) {
        let reasons: Vec<&str> = findings.iter().map(|f| f.reason.as_str()).collect();
        let detail = diagnose::short(&findings[0], now);
        return (format!("stuck ({}): {detail}", reasons.join(", ")), true);
    }
    let attempts = match (r.attempt, r.max_attempts) {
        (Some(a), Some(m)) => format!("{a}/{m}"),
        _ => "?".into(),
    };
    let err = r.last_error.clone().unwrap_or_default();
    if r.dead_jobs > 0 {
        return (format!("dead after {attempts} attempts: {err}"), true);
    }
    if r.job_state == Some(JobState::Ready)
        && r.job_run_at.is_some_and(|t| t > now)
        && r.last_error.is_some()
    {
        let at = r.job_run_at.map(|t| ago(t, now)).unwrap_or_default();
        return (format!("attempt {attempts} retries {at}: {err}"), true);
    }
    match r.status {
        RunStatus::Waiting => {
            let deadline = r
                .wait_deadline
                .map(|d| format!(" (deadline {})", ago(d, now)))
                .unwrap_or_default();
            match &r.wait_signal {
                Some(s) => (format!("waiting for signal '{s}'{deadline}"), false),
                None => (format!("waiting{deadline}"), false),
            }
        }
        RunStatus::Failed
        | RunStatus::Cancelled
        | RunStatus::Compensating
        | RunStatus::CompensationFailed => (
            r.error.clone().unwrap_or_default(),
            r.status == RunStatus::CompensationFailed,
        ),
        _ => (String::new(), false),
    }
}
