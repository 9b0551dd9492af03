//! `seam workers`: live workers and those gone recently, with their queues, workflow
//! versions, in-flight jobs and last heartbeat.

use chrono::Utc;
use seam_engine::EngineError;
use seam_engine::store::inspect::{self, StuckRules, WorkerOverview, WorkerState};
use serde::Serialize;

use super::Exit;
use crate::args::WorkersArgs;
use crate::context::Ctx;
use crate::error::Result;
use crate::output::Color;
use crate::output::fmt::ago;
use crate::output::table::{Cell, Table};

#[derive(Serialize)]
struct Listed<'a> {
    #[serde(flatten)]
    worker: &'a WorkerOverview,
    state: WorkerState,
}

/// Prints the worker table.
pub async fn run(ctx: &Ctx, args: WorkersArgs) -> Result<Exit> {
    let pool = ctx.connect().await?;
    let now = Utc::now();
    let rules = StuckRules::default();
    let since = now - chrono::Duration::from_std(args.since).unwrap_or(chrono::Duration::MAX);
    let mut conn = pool.acquire().await.map_err(EngineError::from)?;
    let workers = inspect::workers_recent(&mut conn, since).await?;
    drop(conn);
    pool.close().await;
    if ctx.out.json {
        let listed: Vec<Listed> = workers
            .iter()
            .map(|w| Listed {
                worker: w,
                state: w.state(now, &rules),
            })
            .collect();
        ctx.out.print_json(&listed)?;
        return Ok(Exit::Ok);
    }
    if workers.is_empty() {
        eprintln!(
            "no workers seen in the last {}",
            crate::output::fmt::span(now - since)
        );
        return Ok(Exit::Ok);
    }
    let mut t = Table::new(&[
        "NAME",
        "ID",
        "STATE",
        "HOST",
        "PID",
        "QUEUES",
        "WORKFLOWS",
        "IN FLIGHT",
        "HEARTBEAT",
        "STARTED",
    ]);
    for w in &workers {
        let state = w.state(now, &rules);
        let color = match state {
            WorkerState::Live => Color::Green,
            WorkerState::Stopped => Color::Dim,
            WorkerState::Silent => Color::Red,
        };
        let r = &w.worker;
        t.row(vec![
            r.name.clone().into(),
            r.id.simple().to_string()[..8].to_string().into(),
            Cell::colored(state.as_str(), Some(color)),
            r.host.clone().into(),
            r.pid.to_string().into(),
            r.queues.join(",").into(),
            r.pins.join(",").into(),
            format!(
                "{}/{} ({} leased)",
                r.in_flight, r.concurrency, w.running_jobs
            )
            .into(),
            ago(r.last_heartbeat_at, now).into(),
            ago(r.started_at, now).into(),
        ]);
    }
    t.print(&ctx.out)?;
    Ok(Exit::Ok)
}
