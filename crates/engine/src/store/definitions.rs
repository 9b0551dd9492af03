//! `seam.definitions`: the step specs of every registered workflow version, so tools that do
//! not link a workflow's code (the CLI, the rescuer) can still drive its runs.

use sqlx::PgConnection;
use sqlx::types::Json;

use crate::definition::StepSpec;
use crate::error::Result;

/// Inserts or replaces the specs of `workflow@version`.
pub async fn upsert(
    conn: &mut PgConnection,
    workflow: &str,
    version: i32,
    steps: &[StepSpec],
) -> Result<()> {
    sqlx::query(
        "INSERT INTO seam.definitions (workflow, version, steps) VALUES ($1, $2, $3)
         ON CONFLICT (workflow, version) DO UPDATE
             SET steps = EXCLUDED.steps, registered_at = now()
             WHERE seam.definitions.steps IS DISTINCT FROM EXCLUDED.steps",
    )
    .bind(workflow)
    .bind(version)
    .bind(Json(steps))
    .execute(conn)
    .await?;
    Ok(())
}

/// The specs of `workflow@version`, if registered.
pub async fn get(
    conn: &mut PgConnection,
    workflow: &str,
    version: i32,
) -> Result<Option<Vec<StepSpec>>> {
    let row: Option<Json<Vec<StepSpec>>> = sqlx::query_scalar(
        "SELECT steps FROM seam.definitions WHERE workflow = $1 AND version = $2",
    )
    .bind(workflow)
    .bind(version)
    .fetch_optional(conn)
    .await?;
    Ok(row.map(|j| j.0))
}
