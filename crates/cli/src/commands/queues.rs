//! `seam queues`: per queue, the jobs by state, how long the oldest ready job has waited,
//! attempts finished in the last minute, and live workers.

use chrono::{Duration, Utc};
use seam_engine::EngineError;
use seam_engine::store::inspect::{self, StuckRules};

use super::Exit;
use crate::context::Ctx;
use crate::error::Result;
use crate::output::Color;
use crate::output::fmt::span;
use crate::output::table::{Cell, Table};

/// Prints the queue table.
pub async fn run(ctx: &Ctx) -> Result<Exit> {
    let pool = ctx.connect().await?;
    let now = Utc::now();
    let rules = StuckRules::default();
    let live_since = now - Duration::from_std(rules.worker_silence).unwrap_or_default();
    let mut conn = pool.acquire().await.map_err(EngineError::from)?;
    let stats =
        inspect::queue_stats(&mut conn, now, now - Duration::minutes(1), live_since).await?;
    drop(conn);
    pool.close().await;
    if ctx.out.json {
        ctx.out.print_json(&stats)?;
        return Ok(Exit::Ok);
    }
    if stats.is_empty() {
        eprintln!("no queues yet: no jobs, no recent attempts, no live workers");
        return Ok(Exit::Ok);
    }
    let mut t = Table::new(&[
        "QUEUE",
        "READY",
        "SCHEDULED",
        "RUNNING",
        "DEAD",
        "PAUSED",
        "OLDEST READY",
        "DONE/1M",
        "FAILED/1M",
        "WORKERS",
    ]);
    for q in &stats {
        let starving = q.ready > 0 && q.workers == 0;
        t.row(vec![
            q.queue.clone().into(),
            Cell::colored(q.ready.to_string(), starving.then_some(Color::Yellow)),
            q.scheduled.to_string().into(),
            q.running.to_string().into(),
            Cell::colored(q.dead.to_string(), (q.dead > 0).then_some(Color::Red)),
            q.paused.to_string().into(),
            q.oldest_ready_at
                .map(|t| span(now - t))
                .unwrap_or_else(|| "-".into())
                .into(),
            q.completed.to_string().into(),
            Cell::colored(
                q.failed.to_string(),
                (q.failed > 0).then_some(Color::Yellow),
            ),
            Cell::colored(q.workers.to_string(), starving.then_some(Color::Red)),
        ]);
    }
    t.print(&ctx.out)?;
    Ok(Exit::Ok)
}
