//! "Why is this run where it is?": one sentence from the run, its jobs, signals, children
//! and stuck findings.

use chrono::{DateTime, Utc};
use seam_engine::store::events::EventRow;
use seam_engine::store::inspect::StuckRun;
use seam_engine::store::jobs::JobRow;
use seam_engine::store::runs::RunRow;
use seam_engine::store::signals::SignalRecord;
use seam_engine::{JobKind, JobState, RunStatus};

use crate::diagnose;
use crate::output::fmt::{ago, short_id};

/// Everything the explanation looks at.
pub struct Facts<'a> {
    /// The run.
    pub run: &'a RunRow,
    /// Its queued jobs.
    pub jobs: &'a [JobRow],
    /// Its signals.
    pub signals: &'a [SignalRecord],
    /// Its child runs.
    pub children: &'a [RunRow],
    /// Why it is stuck, if it is.
    pub stuck: &'a [StuckRun],
    /// Its latest history events.
    pub events: &'a [EventRow],
}

/// Why the run is where it is, in one sentence.
pub fn why(f: &Facts<'_>, now: DateTime<Utc>) -> String {
    if let Some(finding) = f.stuck.first() {
        return format!("stuck: {}", diagnose::stuck(finding, now).why);
    }
    let run = f.run;
    let step = run.current_step.as_deref().unwrap_or("?");
    let work = f
        .jobs
        .iter()
        .rev()
        .find(|j| matches!(j.kind, JobKind::Step | JobKind::Compensate));
    match run.status {
        RunStatus::Pending => match work {
            Some(j) => format!(
                "waiting for a worker on queue '{}' to claim its first step '{}'",
                j.queue, j.step
            ),
            None => "waiting for its first job".into(),
        },
        RunStatus::Running | RunStatus::Compensating => {
            let doing = match work {
                Some(j) => job_sentence(j, now),
                None => format!("at step '{step}'"),
            };
            if run.status == RunStatus::Compensating {
                let cause = run.error.as_deref().unwrap_or("no reason recorded");
                format!("compensating because {cause}; {doing}")
            } else {
                doing
            }
        }
        RunStatus::Waiting => waiting(f, step, now),
        RunStatus::Paused => {
            let by = f
                .events
                .iter()
                .rev()
                .find(|e| e.kind == "operator.pause")
                .map(|e| {
                    let why = e
                        .reason
                        .as_deref()
                        .map(|r| format!(": {r}"))
                        .unwrap_or_default();
                    format!(" by {} {}{why}", e.actor, ago(e.at, now))
                })
                .unwrap_or_else(|| " by an operator".into());
            format!(
                "paused{by} while {}; none of its jobs is claimed until it is resumed",
                run.paused_from.map(|s| s.as_str()).unwrap_or("running")
            )
        }
        RunStatus::CompensationFailed => format!(
            "a compensation failed all its attempts: {}",
            run.error.as_deref().unwrap_or("no error recorded")
        ),
        RunStatus::Completed => {
            let at = run.finished_at.map(|t| ago(t, now)).unwrap_or_default();
            format!("completed {at}")
        }
        RunStatus::Failed => format!(
            "failed and was compensated: {}",
            run.error.as_deref().unwrap_or("no error recorded")
        ),
        RunStatus::Cancelled => format!(
            "cancelled: {}",
            run.error.as_deref().unwrap_or("no reason recorded")
        ),
    }
}

fn job_sentence(j: &JobRow, now: DateTime<Utc>) -> String {
    let what = match j.kind {
        JobKind::Compensate => format!("compensation of '{}'", j.step),
        _ => format!("step '{}'", j.step),
    };
    let attempt = format!("attempt {}/{}", j.attempt, j.max_attempts);
    match j.state {
        JobState::Running => format!(
            "{what} {attempt} is running on worker {} since {} (lease {})",
            j.worker_id
                .map(|w| w.simple().to_string()[..8].to_string())
                .unwrap_or_else(|| "?".into()),
            j.started_at.map(|t| ago(t, now)).unwrap_or_default(),
            j.lease_expires_at
                .map(|t| format!("expires {}", ago(t, now)))
                .unwrap_or_default()
        ),
        JobState::Ready if j.run_at > now => format!(
            "{what} failed ({}); {attempt} runs {}",
            j.last_error.as_deref().unwrap_or("no error recorded"),
            ago(j.run_at, now)
        ),
        JobState::Ready => format!(
            "{what} ({attempt}) is queued on '{}' for a worker, ready {}",
            j.queue,
            ago(j.run_at, now)
        ),
        JobState::Dead => format!(
            "{what} failed all {} attempts and is parked: {}",
            j.max_attempts,
            j.last_error.as_deref().unwrap_or("no error recorded")
        ),
        JobState::Paused => format!("{what} is held while the run is paused"),
    }
}

fn waiting(f: &Facts<'_>, step: &str, now: DateTime<Utc>) -> String {
    let run = f.run;
    let deadline = run
        .wait_deadline
        .map(|d| format!(", deadline {}", ago(d, now)))
        .unwrap_or_default();
    if let Some(signal) = &run.wait_signal {
        let buffered = f
            .signals
            .iter()
            .filter(|s| s.consumed_at.is_none() && &s.name == signal)
            .count();
        let extra = if buffered > 0 {
            format!(" ({buffered} arrived and being delivered)")
        } else {
            String::new()
        };
        return format!("waits at step '{step}' for signal '{signal}'{deadline}{extra}");
    }
    if !f.children.is_empty() {
        let active: Vec<String> = f
            .children
            .iter()
            .filter(|c| !c.status.is_terminal())
            .map(|c| format!("{} {}", short_id(c.id), c.status))
            .collect();
        return format!(
            "waits at step '{step}' for {} of {} child run(s): {}",
            active.len(),
            f.children.len(),
            active.join(", ")
        );
    }
    format!("sleeps at step '{step}'{deadline}")
}
