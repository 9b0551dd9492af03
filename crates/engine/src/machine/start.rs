//! Starting a run: insert it (idempotently) and enter its first step.

use chrono::Utc;
use serde_json::{Value, json};
use sqlx::PgConnection;

use super::{Def, enter_step};
use crate::error::Result;
use crate::ids::{Actor, RunId};
use crate::state::RunStatus;
use crate::store::events::{self, NewEvent};
use crate::store::runs::{self, NewRun, RunRow};

/// What to start.
pub(crate) struct StartParams<'a> {
    pub def: &'a Def,
    pub input: &'a Value,
    pub idempotency_key: Option<&'a str>,
    pub actor: &'a Actor,
    pub parent: Option<(RunId, &'a str, i32)>,
}

/// Starts a run in the caller's transaction. Returns the run id and whether it was created
/// now (false: a run with the same idempotency key already existed, and is returned).
pub(crate) async fn start_run(
    conn: &mut PgConnection,
    p: StartParams<'_>,
) -> Result<(RunId, bool)> {
    let id = RunId::new();
    let new = NewRun {
        id,
        workflow: &p.def.workflow,
        version: p.def.version,
        input: p.input,
        idempotency_key: p.idempotency_key,
        created_by: p.actor.as_str(),
        parent: p.parent,
    };
    if runs::insert(conn, &new).await?.is_none() {
        let key = p.idempotency_key.unwrap_or_default();
        let existing = runs::find_by_key(conn, &p.def.workflow, key).await?;
        return Ok((
            existing.expect("conflict implies the keyed run exists"),
            false,
        ));
    }
    let now = Utc::now();
    let mut run = RunRow {
        id,
        workflow: p.def.workflow.clone(),
        version: p.def.version,
        status: RunStatus::Pending,
        input: p.input.clone(),
        outputs: json!({}),
        output: None,
        error: None,
        current_step: None,
        iteration: 0,
        wait_signal: None,
        wait_deadline: None,
        paused_from: None,
        compensation_target: None,
        parent_run_id: p.parent.map(|x| x.0),
        parent_step: p.parent.map(|x| x.1.to_string()),
        parent_iteration: p.parent.map(|x| x.2),
        idempotency_key: p.idempotency_key.map(str::to_string),
        created_by: p.actor.as_str().to_string(),
        created_at: now,
        updated_at: now,
        finished_at: None,
    };
    let e = NewEvent::new(id, "run.started", p.actor).data(json!({
        "workflow": p.def.workflow,
        "version": p.def.version,
        "parent": p.parent.map(|x| x.0),
    }));
    events::append(conn, &e).await?;
    enter_step(conn, p.def, &mut run, 0, p.input, p.actor).await?;
    runs::save(conn, &run).await?;
    Ok((id, true))
}
