//! Cancel a run, with compensation (the saga way) or without (abandon it as it is).

use serde_json::json;
use sqlx::PgConnection;

use super::Operator;
use crate::error::Result;
use crate::ids::{Actor, RunId};
use crate::machine;
use crate::state::RunStatus;
use crate::store::runs::{self, RunRow};

impl Operator {
    /// Cancels the run. With `compensate`, the succeeded steps are compensated in reverse
    /// order and the run ends `cancelled`; without, it ends `cancelled` at once, and so do its
    /// active children.
    pub async fn cancel(&self, run: RunId, compensate: bool, reason: &str) -> Result<RunRow> {
        let mut a = self.begin(run, "cancel").await?;
        use RunStatus::*;
        let actor = self.actor.clone();
        if a.run.status.is_terminal() {
            return Err(a.refuse("the run has already ended"));
        }
        if compensate {
            match a.run.status {
                Compensating => {
                    return Err(a.refuse(
                        "it is already compensating; use --no-compensate to abandon that",
                    ));
                }
                CompensationFailed => {
                    return Err(a.refuse(
                        "a compensation failed; retry or skip it, or cancel --no-compensate",
                    ));
                }
                _ => {}
            }
            if a.run.status == Paused {
                a.run.status = a.run.paused_from.take().unwrap_or(Running);
            }
            let why = format!("cancelled by {actor}: {reason}");
            machine::begin_compensation(&mut a.tx, &a.def, &mut a.run, Cancelled, &why, &actor)
                .await?;
        } else {
            a.run.paused_from = None;
            a.run.status = Running;
            cancel_tree(&mut a.tx, &mut a.run, reason, &actor).await?;
        }
        self.commit(a, reason, json!({ "compensate": compensate }))
            .await
    }
}

/// Ends `run` and its active descendants `cancelled`, without compensation.
async fn cancel_tree(
    conn: &mut PgConnection,
    run: &mut RunRow,
    reason: &str,
    actor: &Actor,
) -> Result<()> {
    // All of them locked before any ends: see `runs::lock_active_children`.
    for mut child in runs::lock_active_children(conn, run.id).await? {
        child.paused_from = None;
        child.status = RunStatus::Running;
        Box::pin(cancel_tree(conn, &mut child, reason, actor)).await?;
        runs::save(conn, &child).await?;
    }
    let why = format!("cancelled without compensation by {actor}: {reason}");
    machine::finish(conn, run, RunStatus::Cancelled, None, Some(why), actor).await
}
