//! `seam runs show` for humans: a header, then sections (steps, wait, children, history,
//! next moves).

use chrono::{DateTime, Utc};
use seam_engine::store::executions::ExecutionRow;
use seam_engine::store::jobs::JobRow;
use seam_engine::{JobKind, JobState};
use uuid::Uuid;

use super::View;
use crate::commands::runs::history;
use crate::error::Result;
use crate::outln;
use crate::output::fmt::{ago, duration, short_id, time, truncate};
use crate::output::style::status_color;
use crate::output::table::{Cell, Table};
use crate::output::{Color, Out};

/// Prints the view.
pub fn view(out: &Out, v: &View, now: DateTime<Utc>) -> Result<()> {
    header(out, v, now)?;
    section(out, "Steps")?;
    steps(out, v, now)?;
    if let Some(w) = &v.wait {
        section(out, "Wait")?;
        match &w.signal {
            Some(s) => outln!(
                "  signal    '{s}' at step '{}'",
                w.step.as_deref().unwrap_or("?")
            )?,
            None if !v.children.is_empty() => outln!("  children  all must end")?,
            None => outln!("  sleep     at step '{}'", w.step.as_deref().unwrap_or("?"))?,
        }
        if let Some(d) = w.deadline {
            outln!("  deadline  {} ({})", time(d), ago(d, now))?;
        }
        if w.buffered.is_empty() {
            outln!("  buffered  none")?;
        }
        for s in &w.buffered {
            outln!(
                "  buffered  '{}' from {} {}: {}",
                s.name,
                s.sent_by,
                ago(s.created_at, now),
                truncate(&s.payload.to_string(), 60)
            )?;
        }
    }
    if !v.children.is_empty() {
        section(out, "Children")?;
        let mut t = Table::new(&["RUN", "WORKFLOW", "STATUS", "STEP", "ERROR"]).indent(2);
        for c in &v.children {
            t.row(vec![
                c.id.to_string().into(),
                format!("{}@{}", c.workflow, c.version).into(),
                Cell::colored(c.status.as_str(), status_color(c.status)),
                c.current_step.clone().unwrap_or_default().into(),
                truncate(c.error.as_deref().unwrap_or(""), 60).into(),
            ]);
        }
        t.print(out)?;
    }
    let shown = v.events.len() as i64;
    section(
        out,
        &format!(
            "History (last {shown} of {}; all: seam runs history {})",
            v.events_total,
            short_id(v.run.id)
        ),
    )?;
    let mut t = Table::new(history::HEADERS).indent(2);
    for e in &v.events {
        t.row(history::cells(e));
    }
    t.print(out)?;
    if !v.next.is_empty() {
        section(out, "Next")?;
        for cmd in &v.next {
            outln!("  {cmd}")?;
        }
    }
    Ok(())
}

fn section(out: &Out, title: &str) -> Result<()> {
    outln!()?;
    outln!("{}", out.paint(title, Color::Bold))
}

fn header(out: &Out, v: &View, now: DateTime<Utc>) -> Result<()> {
    let r = &v.run;
    let field = |name: &str| out.paint(&format!("{name:<9}"), Color::Dim);
    outln!(
        "{} {}",
        field("run"),
        out.paint(&r.id.to_string(), Color::Bold)
    )?;
    outln!("{} {}@{}", field("workflow"), r.workflow, r.version)?;
    let mut status = out.paint(
        r.status.as_str(),
        status_color(r.status).unwrap_or(Color::Bold),
    );
    if let Some(from) = r.paused_from {
        status.push_str(&format!(" (from {from})"));
    }
    outln!("{} {status}", field("status"))?;
    let step = match (&r.current_step, v.definition.len()) {
        (Some(s), n) if n > 0 => {
            let pos = v.definition.iter().position(|d| d == s).map(|i| i + 1);
            format!(
                "{s} ({} of {n}, iteration {})",
                pos.map(|p| p.to_string()).unwrap_or("?".into()),
                r.iteration
            )
        }
        (Some(s), _) => format!("{s} (iteration {})", r.iteration),
        (None, _) => "-".into(),
    };
    outln!("{} {step}", field("step"))?;
    outln!(
        "{} {} ({}) by {}",
        field("started"),
        time(r.created_at),
        ago(r.created_at, now),
        r.created_by
    )?;
    outln!("{} {}", field("updated"), ago(r.updated_at, now))?;
    if let Some(p) = r.parent_run_id {
        let at = r.parent_step.as_deref().unwrap_or("?");
        outln!("{} {p} (step '{at}')", field("parent"))?;
    }
    let why_color = if v.stuck.is_empty() {
        Color::Bold
    } else {
        Color::Yellow
    };
    outln!("{} {}", field("why"), out.paint(&v.why, why_color))?;
    if let Some(e) = &r.error {
        outln!("{} {}", field("error"), out.paint(e, Color::Red))?;
    }
    if let Some(o) = &r.output {
        outln!("{} {}", field("output"), truncate(&o.to_string(), 120))?;
    }
    outln!("{} {}", field("input"), truncate(&r.input.to_string(), 120))
}

fn steps(out: &Out, v: &View, now: DateTime<Utc>) -> Result<()> {
    let mut t = Table::new(&[
        "STEP", "ITER", "ATTEMPT", "STATUS", "WORKER", "STARTED", "DURATION", "ERROR",
    ])
    .indent(2);
    for e in &v.executions {
        t.row(execution(v, e));
    }
    for j in &v.jobs {
        t.row(job(v, j, now));
    }
    if t.is_empty() {
        outln!("  (no attempts yet)")?;
        return Ok(());
    }
    t.print(out)
}

fn step_label(kind: JobKind, step: &str) -> String {
    match kind {
        JobKind::Step => step.to_string(),
        JobKind::Compensate => format!("↩ {step}"),
        other => format!("{step} ({other})"),
    }
}

fn worker(v: &View, id: Option<Uuid>) -> String {
    match id {
        Some(id) => {
            let short = &id.simple().to_string()[..8];
            match v.worker_names.get(&id) {
                Some(name) => format!("{name}/{short}"),
                None => short.to_string(),
            }
        }
        None => "-".into(),
    }
}

fn execution(v: &View, e: &ExecutionRow) -> Vec<Cell> {
    // By name, so statuses added to the engine later still print.
    let color = match e.status.as_str() {
        "completed" | "skipped" => Some(Color::Green),
        "failed" | "timed_out" | "lost" | "dead" => Some(Color::Red),
        "waiting" => Some(Color::Yellow),
        _ => None,
    };
    let took = e
        .started_at
        .map(|s| duration(e.finished_at - s))
        .unwrap_or_default();
    let attempt = if e.attempt == 0 {
        "operator".to_string()
    } else {
        e.attempt.to_string()
    };
    vec![
        step_label(e.kind, &e.step).into(),
        e.iteration.to_string().into(),
        attempt.into(),
        Cell::colored(e.status.as_str(), color),
        worker(v, e.worker_id).into(),
        e.started_at.map(time).unwrap_or_default().into(),
        took.into(),
        truncate(e.error.as_deref().unwrap_or(""), 70).into(),
    ]
}

fn job(v: &View, j: &JobRow, now: DateTime<Utc>) -> Vec<Cell> {
    let (status, color) = match j.state {
        JobState::Running => ("running".to_string(), Color::Cyan),
        JobState::Ready if j.run_at > now && j.kind == JobKind::Timer => {
            (format!("due {}", ago(j.run_at, now)), Color::Yellow)
        }
        JobState::Ready if j.run_at > now => {
            (format!("retry {}", ago(j.run_at, now)), Color::Yellow)
        }
        JobState::Ready => ("queued".to_string(), Color::Yellow),
        JobState::Dead => ("dead".to_string(), Color::Red),
        JobState::Paused => ("held (paused)".to_string(), Color::Magenta),
    };
    let running_for = match (j.state, j.started_at) {
        (JobState::Running, Some(s)) => format!("{}…", duration(now - s)),
        _ => String::new(),
    };
    vec![
        step_label(j.kind, &j.step).into(),
        j.iteration.to_string().into(),
        format!("{}/{}", j.attempt, j.max_attempts).into(),
        Cell::colored(status, Some(color)),
        if j.state == JobState::Running {
            worker(v, j.worker_id)
        } else {
            "-".into()
        }
        .into(),
        match j.state {
            JobState::Running => j.started_at.map(time).unwrap_or_default(),
            _ => String::new(),
        }
        .into(),
        running_for.into(),
        truncate(j.last_error.as_deref().unwrap_or(""), 70).into(),
    ]
}
