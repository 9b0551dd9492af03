//! `seam runs history RUN [--follow]`: the run's full event log, with who caused each event.

use std::time::Duration;

use seam_engine::store::events::{self, EventRow};
use seam_engine::store::runs;
use seam_engine::{EngineError, RunId};
use sqlx::PgPool;

use crate::args::runs::HistoryArgs;
use crate::commands::Exit;
use crate::commands::serve::ctrl_c;
use crate::context::Ctx;
use crate::error::Result;
use crate::outln;
use crate::output::fmt::time_ms;
use crate::output::table::{Cell, Table};
use crate::output::{Color, Out};

const PAGE: i64 = 1000;
const FOLLOW_EVERY: Duration = Duration::from_millis(300);

/// Prints the history; with `--follow`, keeps printing until the run ends.
pub async fn run(ctx: &Ctx, args: HistoryArgs) -> Result<Exit> {
    let pool = ctx.connect().await?;
    let id = ctx.resolve(&pool, &args.run).await?;
    exists(&pool, id).await?;
    let out = ctx.out;
    let first = page_all(&pool, id, 0).await?;
    let mut after = first.last().map(|e| e.id).unwrap_or(0);
    if !args.follow {
        if out.json {
            out.print_json(&first)?;
        } else {
            let mut table = Table::new(HEADERS);
            for e in &first {
                table.row(cells(e));
            }
            table.print(&out)?;
        }
        return Ok(Exit::Ok);
    }
    print_stream(&out, &first, true)?;
    let interrupted = ctrl_c();
    tokio::pin!(interrupted);
    loop {
        let ended = {
            let mut conn = pool.acquire().await.map_err(EngineError::from)?;
            runs::get(&mut conn, id)
                .await?
                .is_none_or(|r| r.status.is_terminal())
        };
        let batch = page_all(&pool, id, after).await?;
        print_stream(&out, &batch, false)?;
        after = batch.last().map(|e| e.id).unwrap_or(after);
        if ended {
            return Ok(Exit::Ok);
        }
        tokio::select! {
            _ = &mut interrupted => return Ok(Exit::Interrupted),
            _ = tokio::time::sleep(FOLLOW_EVERY) => {}
        }
    }
}

async fn exists(pool: &PgPool, id: RunId) -> Result<()> {
    let mut conn = pool.acquire().await.map_err(EngineError::from)?;
    runs::get(&mut conn, id)
        .await?
        .ok_or(EngineError::RunNotFound(id))?;
    Ok(())
}

async fn page_all(pool: &PgPool, id: RunId, mut after: i64) -> Result<Vec<EventRow>> {
    let mut conn = pool.acquire().await.map_err(EngineError::from)?;
    let mut all = Vec::new();
    loop {
        let page = events::for_run(&mut conn, id, after, PAGE).await?;
        let full = page.len() as i64 == PAGE;
        after = page.last().map(|e| e.id).unwrap_or(after);
        all.extend(page);
        if !full {
            return Ok(all);
        }
    }
}

/// Streams events: one JSON object per line, or fixed-width lines.
fn print_stream(out: &Out, events: &[EventRow], header: bool) -> Result<()> {
    if out.json {
        for e in events {
            out.print_json_line(e)?;
        }
        return Ok(());
    }
    if header {
        let h = format!(
            "{:<23}  {:<22}  {:<16}  {:<24}  DETAIL",
            "TIME", "EVENT", "STEP", "ACTOR"
        );
        outln!("{}", out.paint(&h, Color::Bold))?;
    }
    for e in events {
        let c = strings(e);
        outln!(
            "{:<23}  {:<22}  {:<16}  {:<24}  {}",
            c[0],
            c[1],
            c[2],
            c[3],
            c[4]
        )?;
    }
    Ok(())
}

/// Column headers of an event table.
pub const HEADERS: &[&str] = &["TIME", "EVENT", "STEP", "ACTOR", "DETAIL"];

/// An event as table cells.
pub fn cells(e: &EventRow) -> Vec<Cell> {
    let s = strings(e);
    let color = if e.kind.starts_with("operator.") {
        Some(Color::Magenta)
    } else if e.kind.ends_with("failed") || e.kind.ends_with("dead") {
        Some(Color::Red)
    } else {
        None
    };
    let [time, kind, step, actor, detail] = s;
    vec![
        Cell::colored(time, Some(Color::Dim)),
        Cell::colored(kind, color),
        step.into(),
        actor.into(),
        detail.into(),
    ]
}

fn strings(e: &EventRow) -> [String; 5] {
    let mut step = e.step.clone().unwrap_or_default();
    if let Some(i) = e.iteration.filter(|i| *i > 0 && e.step.is_some()) {
        step.push_str(&format!("[{i}]"));
    }
    if let Some(a) = e.attempt.filter(|_| e.step.is_some()) {
        step.push_str(&format!(" #{a}"));
    }
    [
        time_ms(e.at),
        e.kind.clone(),
        step,
        actor(&e.actor),
        detail(e),
    ]
}

/// An actor with worker ids cut to 8 digits: `worker:3f2a1b4c`.
pub fn actor(actor: &str) -> String {
    match actor.strip_prefix("worker:") {
        Some(id) if id.len() > 8 => format!("worker:{}", &id[..8]),
        _ => actor.to_string(),
    }
}

/// The reason and data of an event, compactly.
pub fn detail(e: &EventRow) -> String {
    let data = match &e.data {
        Some(serde_json::Value::Object(m)) if m.is_empty() => None,
        Some(serde_json::Value::Null) | None => None,
        Some(v) => Some(v.to_string()),
    };
    match (&e.reason, data) {
        (Some(r), Some(d)) => format!("{r}  {d}"),
        (Some(r), None) => r.clone(),
        (None, Some(d)) => d,
        (None, None) => String::new(),
    }
}
