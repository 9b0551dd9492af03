//! Jobs that run no handler code of their own: signals shown to a wait, timers (wait
//! deadlines, sleeps), and the join of a children step.

use serde_json::{Value, json};
use sqlx::PgConnection;

use super::complete::record_and_advance;
use super::runtime::Shared;
use crate::definition::{
    ChildFailure, OnTimeout, StepKind, Transition, WaitDecision, WaitView, Workflow,
};
use crate::error::Result;
use crate::machine::Def;
use crate::state::RunStatus;
use crate::store::events::{self, NewEvent};
use crate::store::jobs::ClaimedJob;
use crate::store::runs::{self, RunRow};
use crate::store::signals;

/// Shows each buffered signal to the wait's handler until one ends the wait.
pub(super) async fn on_signals(
    conn: &mut PgConnection,
    s: &Shared,
    wf: &Workflow,
    def: &Def,
    run: &mut RunRow,
    c: &ClaimedJob,
) -> Result<()> {
    let Some(name) = run.wait_signal.clone() else {
        return Ok(());
    };
    let consumer = format!("{}/{}", c.job.step, c.job.iteration);
    let handler = wf.step(&c.job.step).and_then(|st| st.wait.clone());
    let mut view = WaitView {
        run_input: run.input.clone(),
        outputs: run.outputs.clone(),
        received: signals::consumed_by(conn, run.id, &consumer).await?,
    };
    let mut decision = WaitDecision::KeepWaiting;
    for signal in signals::pending(conn, run.id, &name).await? {
        signals::consume(conn, signal.id, &consumer).await?;
        view.received.push(signal.clone());
        decision = match &handler {
            None => WaitDecision::Complete(signal.payload.clone()),
            Some(h) => {
                let call = std::panic::AssertUnwindSafe(|| h(&view, &signal));
                match std::panic::catch_unwind(call) {
                    Ok(d) => d,
                    Err(_) => WaitDecision::Fail(format!(
                        "wait handler of step '{}' panicked on signal {}",
                        c.job.step, signal.id
                    )),
                }
            }
        };
        let e = NewEvent::new(run.id, "signal.consumed", &s.actor)
            .step(&c.job.step, c.job.iteration)
            .data(json!({ "signal": signal.id, "decision": decision_name(&decision) }));
        events::append(conn, &e).await?;
        if decision != WaitDecision::KeepWaiting {
            break;
        }
    }
    let t = match decision {
        WaitDecision::KeepWaiting => return Ok(()),
        WaitDecision::Complete(v) => Transition::Next(v),
        WaitDecision::Goto { step, output } => Transition::Goto { step, output },
        WaitDecision::Fail(reason) => Transition::Fail(reason),
    };
    record_and_advance(conn, s, def, run, c, t).await
}

fn decision_name(d: &WaitDecision) -> &'static str {
    match d {
        WaitDecision::Complete(_) => "complete",
        WaitDecision::KeepWaiting => "keep_waiting",
        WaitDecision::Goto { .. } => "goto",
        WaitDecision::Fail(_) => "fail",
    }
}

/// A sleep ended, or a wait's deadline passed.
pub(super) async fn on_timer(
    conn: &mut PgConnection,
    s: &Shared,
    def: &Def,
    run: &mut RunRow,
    c: &ClaimedJob,
) -> Result<()> {
    let spec = def.spec(&c.job.step)?.clone();
    let t = match spec.kind {
        // A sleep passes its input through.
        StepKind::Sleep { .. } => Transition::Next(c.job.input.clone()),
        StepKind::Wait { on_timeout, .. } => {
            let e = NewEvent::new(run.id, "wait.timed_out", &s.actor)
                .step(&c.job.step, c.job.iteration)
                .data(json!({ "then": on_timeout }));
            events::append(conn, &e).await?;
            match on_timeout {
                OnTimeout::Fail => {
                    let why = format!("wait '{}' passed its deadline", c.job.step);
                    Transition::Fail(why)
                }
                OnTimeout::Goto { step } => Transition::Goto {
                    step,
                    output: Value::Null,
                },
                OnTimeout::Continue { output } => Transition::Next(output),
            }
        }
        _ => return Ok(()),
    };
    record_and_advance(conn, s, def, run, c, t).await
}

/// The children of a children step ended (all of them, or one failed).
pub(super) async fn on_join(
    conn: &mut PgConnection,
    s: &Shared,
    def: &Def,
    run: &mut RunRow,
    c: &ClaimedJob,
) -> Result<()> {
    let spec = def.spec(&c.job.step)?;
    let fail_parent = matches!(
        spec.kind,
        StepKind::Children {
            on_child_failure: ChildFailure::FailParent
        }
    );
    let children = runs::children_of(conn, run.id, &c.job.step, c.job.iteration).await?;
    let failed: Vec<&RunRow> = children
        .iter()
        .filter(|ch| ch.status.is_terminal() && ch.status != RunStatus::Completed)
        .collect();
    if fail_parent && let Some(first) = failed.first() {
        let why = format!("child run {} ended {}", first.id, first.status);
        return record_and_advance(conn, s, def, run, c, Transition::Fail(why)).await;
    }
    if !children.iter().all(|ch| ch.status.is_terminal()) {
        return Ok(());
    }
    let output: Vec<Value> = children
        .iter()
        .map(|ch| {
            json!({
                "run_id": ch.id,
                "workflow": ch.workflow,
                "status": ch.status,
                "output": ch.output,
                "error": ch.error,
            })
        })
        .collect();
    record_and_advance(conn, s, def, run, c, Transition::Next(Value::Array(output))).await
}
