//! Turns what the engine found (`store::inspect::runs_stuck`) into words and commands: why a
//! run is stuck, and the `seam` commands that move it on. Shared by `seam doctor`,
//! `seam runs list --stuck` and `seam runs show`.

use chrono::{DateTime, Utc};
use seam_engine::store::inspect::{StuckReason, StuckRun};
use seam_engine::store::jobs::JobRow;
use seam_engine::store::runs::RunRow;
use seam_engine::{JobKind, JobState, RunId, RunStatus};
use serde::Serialize;

use crate::output::fmt::{ago, span};

/// Why a run is stuck and what fixes it.
#[derive(Debug, Clone, Serialize)]
pub struct Diagnosis {
    /// One sentence: what is wrong.
    pub why: String,
    /// Commands that move the run on, best first.
    pub fix: Vec<String>,
}

/// The `seam runs ...` command for `run`, with a reason placeholder to fill in.
pub fn cmd(action: &str, run: RunId, extra: &str) -> String {
    let extra = if extra.is_empty() {
        String::new()
    } else {
        format!(" {extra}")
    };
    let yes = if matches!(action, "cancel" | "fail-wait" | "rewind" | "skip") {
        " --yes"
    } else {
        ""
    };
    format!("seam runs {action} {run}{extra} --reason \"...\"{yes}")
}

/// Explains one finding.
pub fn stuck(f: &StuckRun, now: DateTime<Utc>) -> Diagnosis {
    let id = f.run_id;
    let step = f.step.as_deref().unwrap_or("?");
    let since = f.since.map(|t| ago(t, now)).unwrap_or_else(|| "?".into());
    let attempts = match (f.attempt, f.max_attempts) {
        (Some(a), Some(m)) => format!("attempt {a}/{m}"),
        _ => "its attempt".into(),
    };
    let all = match f.max_attempts {
        Some(1) => "its only attempt".to_string(),
        Some(m) => format!("all {m} attempts"),
        None => "all its attempts".into(),
    };
    let detail = f
        .detail
        .clone()
        .unwrap_or_else(|| "no error recorded".into());
    let what = match f.job_kind {
        Some(JobKind::Compensate) => format!("the compensation of step '{step}'"),
        Some(JobKind::Step) | None => format!("step '{step}'"),
        Some(kind) => format!("the {kind} job of step '{step}'"),
    };
    match f.reason {
        StuckReason::ExpiredLease => Diagnosis {
            why: format!(
                "{what} ({attempts}) is marked running on worker {}, but its lease expired \
                 {since}: that worker is gone and no rescuer is taking the job back",
                f.worker_id
                    .map(|w| w.to_string()[..8].to_string())
                    .unwrap_or_else(|| "?".into())
            ),
            fix: vec![
                cmd("retry", id, ""),
                "seam worker    # any worker with maintenance on runs the rescuer, which requeues it"
                    .into(),
            ],
        },
        StuckReason::OverdueWait => {
            let timer = if f.job_id.is_none() {
                "and it has no timer job"
            } else {
                "and its timer job has not run (no worker is claiming it)"
            };
            let mut fix = Vec::new();
            let why = match &f.detail {
                Some(signal) => {
                    fix.push(format!(
                        "seam runs signal {id} {signal} --payload '<json>'"
                    ));
                    format!(
                        "waits at step '{step}' for signal '{signal}'; its deadline passed {since} {timer}"
                    )
                }
                None => format!("sleeps at step '{step}'; it should have woken {since} {timer}"),
            };
            fix.push(cmd("complete-wait", id, "--output '<json>'"));
            fix.push(cmd("fail-wait", id, ""));
            Diagnosis { why, fix }
        }
        StuckReason::Unserved => {
            let queue = f.queue.as_deref().unwrap_or("?");
            let pin = f.pin.as_deref().unwrap_or("?");
            let waited = f.since.map(|t| span(now - t)).unwrap_or_else(|| "?".into());
            let why = if f.queue_served {
                format!(
                    "{what} has waited {waited} on queue '{queue}', but no live worker there \
                     runs {pin}"
                )
            } else {
                format!("{what} has waited {waited}, but no live worker serves queue '{queue}'")
            };
            Diagnosis {
                why,
                fix: vec![
                    format!(
                        "start a worker serving queue '{queue}' with {pin} (for the built-in \
                         examples: seam worker)"
                    ),
                    cmd("cancel", id, ""),
                ],
            }
        }
        StuckReason::CompensationFailed => Diagnosis {
            why: format!(
                "the compensation of step '{step}' failed {all}: {detail}"
            ),
            fix: vec![
                cmd("retry", id, ""),
                cmd("skip", id, &format!("--step {step} --output null")),
                cmd("cancel", id, "--no-compensate"),
            ],
        },
        StuckReason::DeadJob => Diagnosis {
            why: format!("{what} failed {all} and is parked: {detail}"),
            fix: vec![
                cmd("retry", id, ""),
                cmd("skip", id, &format!("--step {step} --output '<json>'")),
                cmd("cancel", id, ""),
            ],
        },
        StuckReason::LongPause => Diagnosis {
            why: format!(
                "paused {since}{}",
                f.detail
                    .as_deref()
                    .map(|d| format!(" by {d}"))
                    .unwrap_or_default()
            ),
            fix: vec![cmd("resume", id, ""), cmd("cancel", id, "")],
        },
    }
}

/// A few words on a finding, for one-line listings.
pub fn short(f: &StuckRun, now: DateTime<Utc>) -> String {
    let step = f.step.as_deref().unwrap_or("?");
    let since = f.since.map(|t| ago(t, now)).unwrap_or_else(|| "?".into());
    let detail = f.detail.as_deref().unwrap_or("no error recorded");
    match f.reason {
        StuckReason::ExpiredLease => format!("lease of '{step}' expired {since}"),
        StuckReason::OverdueWait => format!("deadline of '{step}' passed {since}"),
        StuckReason::Unserved if f.queue_served => format!(
            "no live worker runs {}",
            f.pin.as_deref().unwrap_or("its version")
        ),
        StuckReason::Unserved => format!(
            "no live worker on queue '{}'",
            f.queue.as_deref().unwrap_or("?")
        ),
        StuckReason::CompensationFailed => format!("compensation of '{step}': {detail}"),
        StuckReason::DeadJob => format!("'{step}' dead: {detail}"),
        StuckReason::LongPause => format!("paused {since}"),
    }
}

/// The commands that would move a run on, by its status (for `seam runs show`).
pub fn next_moves(
    run: &RunRow,
    jobs: &[JobRow],
    first_step: &str,
    now: DateTime<Utc>,
) -> Vec<String> {
    use RunStatus::*;
    let id = run.id;
    let step = run.current_step.as_deref().unwrap_or(first_step);
    let backing_off = jobs
        .iter()
        .any(|j| j.state == JobState::Ready && j.run_at > now && j.kind != JobKind::Timer);
    let dead = jobs.iter().find(|j| j.state == JobState::Dead);
    let mut moves = Vec::new();
    match run.status {
        Pending | Running => {
            if let Some(d) = dead {
                moves.push(cmd("retry", id, ""));
                moves.push(cmd(
                    "skip",
                    id,
                    &format!("--step {} --output '<json>'", d.step),
                ));
            } else if backing_off {
                moves.push(format!("{}    # run the retry now", cmd("retry", id, "")));
            }
            moves.push(cmd("pause", id, ""));
            moves.push(cmd("cancel", id, ""));
        }
        Waiting => {
            if let Some(signal) = &run.wait_signal {
                moves.push(format!("seam runs signal {id} {signal} --payload '<json>'"));
            }
            if run.wait_signal.is_some() || run.wait_deadline.is_some() {
                moves.push(cmd("complete-wait", id, "--output '<json>'"));
                moves.push(cmd("fail-wait", id, ""));
            } else {
                moves.push(cmd("skip", id, &format!("--step {step} --output '<json>'")));
            }
            moves.push(cmd("cancel", id, ""));
        }
        Compensating => {
            if backing_off {
                moves.push(format!("{}    # run the retry now", cmd("retry", id, "")));
            }
            moves.push(cmd("cancel", id, "--no-compensate"));
        }
        CompensationFailed => {
            let comp = dead.map(|j| j.step.as_str()).unwrap_or(step);
            moves.push(cmd("retry", id, ""));
            moves.push(cmd("skip", id, &format!("--step {comp} --output null")));
            moves.push(cmd("cancel", id, "--no-compensate"));
        }
        Paused => {
            moves.push(cmd("resume", id, ""));
            moves.push(cmd("cancel", id, ""));
        }
        Completed | Failed | Cancelled => match (run.parent_run_id, run.parent_step.as_deref()) {
            (Some(parent), Some(at)) => {
                moves.push(format!(
                    "{}    # a child that ended is rewound through its parent",
                    cmd("rewind", parent, &format!("--to {at}"))
                ));
            }
            _ => moves.push(cmd("rewind", id, &format!("--to {step}"))),
        },
    }
    moves
}
