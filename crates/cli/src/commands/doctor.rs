//! `seam doctor`: find wedged runs (the rules of `store::inspect::runs_stuck`), say for each
//! why and which commands fix it. Exit 0 when healthy, 1 when something needs a human.

use chrono::Utc;
use seam_engine::store::inspect::{self, StuckRules, StuckRun, WorkerState};
use seam_engine::store::migrate::{MIGRATIONS, applied};
use seam_engine::{EngineError, RunId};
use serde::Serialize;

use super::Exit;
use crate::context::Ctx;
use crate::diagnose::{self, Diagnosis};
use crate::error::Result;
use crate::outln;
use crate::output::Color;
use crate::output::fmt::ago;
use crate::output::style::status_color;

#[derive(Serialize)]
struct Finding<'a> {
    #[serde(flatten)]
    finding: &'a StuckRun,
    #[serde(flatten)]
    diagnosis: Diagnosis,
}

#[derive(Serialize)]
struct Report<'a> {
    healthy: bool,
    pending_migrations: Vec<&'static str>,
    live_workers: usize,
    findings: Vec<Finding<'a>>,
}

/// Checks and reports.
pub async fn run(ctx: &Ctx) -> Result<Exit> {
    let pool = ctx.connect().await?;
    let now = Utc::now();
    let present = applied(&pool).await?;
    let pending: Vec<&'static str> = MIGRATIONS
        .iter()
        .filter(|m| !present.contains(&m.version))
        .map(|m| m.name)
        .collect();
    if present.is_empty() {
        return report_unmigrated(ctx, pending);
    }
    let rules = StuckRules::default();
    let mut conn = pool.acquire().await.map_err(EngineError::from)?;
    let stuck = inspect::runs_stuck(&mut conn, &rules, now, None).await?;
    let since = now - chrono::Duration::from_std(rules.worker_silence).unwrap_or_default();
    let live_workers = inspect::workers_recent(&mut conn, since)
        .await?
        .iter()
        .filter(|w| w.state(now, &rules) == WorkerState::Live)
        .count();
    drop(conn);
    pool.close().await;
    let healthy = stuck.is_empty() && pending.is_empty();
    let findings: Vec<Finding> = stuck
        .iter()
        .map(|f| Finding {
            finding: f,
            diagnosis: diagnose::stuck(f, now),
        })
        .collect();
    if ctx.out.json {
        ctx.out.print_json(&Report {
            healthy,
            pending_migrations: pending,
            live_workers,
            findings,
        })?;
        return Ok(if healthy { Exit::Ok } else { Exit::Failure });
    }
    let out = &ctx.out;
    for name in &pending {
        outln!(
            "{} migration {name} is not applied: run `seam migrate`",
            out.paint("✗", Color::Red)
        )?;
    }
    if stuck.is_empty() {
        if pending.is_empty() {
            outln!(
                "{} healthy: no stuck runs; {live_workers} live worker(s)",
                out.paint("✓", Color::Green)
            )?;
        }
        return Ok(if healthy { Exit::Ok } else { Exit::Failure });
    }
    let mut runs: Vec<RunId> = stuck.iter().map(|f| f.run_id).collect();
    runs.dedup();
    let mut seen = std::collections::HashSet::new();
    runs.retain(|r| seen.insert(*r));
    outln!(
        "{} {} stuck run(s) need a human ({live_workers} live worker(s)):",
        out.paint("✗", Color::Red),
        runs.len()
    )?;
    for run in runs {
        let mine: Vec<&Finding> = findings
            .iter()
            .filter(|f| f.finding.run_id == run)
            .collect();
        let first = mine[0].finding;
        outln!()?;
        outln!(
            "{}  {}@{}  {}  step {}",
            out.paint(&run.to_string(), Color::Bold),
            first.workflow,
            first.version,
            out.paint(
                first.status.as_str(),
                status_color(first.status).unwrap_or(Color::Bold)
            ),
            first.step.as_deref().unwrap_or("-"),
        )?;
        for f in mine {
            let since = f.finding.since.map(|t| ago(t, now)).unwrap_or_default();
            outln!(
                "  {}  {}",
                out.paint(&format!("{:<19}", f.finding.reason.as_str()), Color::Yellow),
                out.paint(&format!("since {since}"), Color::Dim)
            )?;
            outln!("    why  {}", f.diagnosis.why)?;
            for (i, cmd) in f.diagnosis.fix.iter().enumerate() {
                let label = if i == 0 { "fix" } else { "or " };
                outln!("    {label}  {cmd}")?;
            }
        }
    }
    Ok(Exit::Failure)
}

fn report_unmigrated(ctx: &Ctx, pending: Vec<&'static str>) -> Result<Exit> {
    if ctx.out.json {
        ctx.out.print_json(&Report {
            healthy: false,
            pending_migrations: pending,
            live_workers: 0,
            findings: Vec::new(),
        })?;
    } else {
        outln!(
            "{} the database has no Seam schema: run `seam migrate`",
            ctx.out.paint("✗", Color::Red)
        )?;
    }
    Ok(Exit::Failure)
}
