//! Selecting runs by the list filters (`seam runs list`, the bulk repairs).

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use seam_engine::store::inspect::{self, RunFilter, RunSummary, StuckRules, StuckRun};
use seam_engine::{EngineError, RunId, RunStatus};
use sqlx::PgPool;

use crate::args::runs::Filters;
use crate::error::Result;

/// Runs that matched, newest first, with the stuck findings of each (only with `--stuck`).
pub struct Selected {
    /// The runs.
    pub runs: Vec<RunSummary>,
    /// Why each is stuck (`--stuck`).
    pub stuck: HashMap<RunId, Vec<StuckRun>>,
}

/// The runs `filters` match, in `statuses` (replacing `filters.status`), at most `limit`.
pub async fn select(
    pool: &PgPool,
    filters: &Filters,
    statuses: &[RunStatus],
    limit: i64,
    now: DateTime<Utc>,
) -> Result<Selected> {
    let mut conn = pool.acquire().await.map_err(EngineError::from)?;
    let mut stuck: HashMap<RunId, Vec<StuckRun>> = HashMap::new();
    let mut ids = None;
    if filters.stuck {
        for f in inspect::runs_stuck(&mut conn, &StuckRules::default(), now, None).await? {
            stuck.entry(f.run_id).or_default().push(f);
        }
        ids = Some(stuck.keys().copied().collect());
    }
    let created_before = filters
        .older_than
        .map(|d| now - chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX));
    let filter = RunFilter {
        statuses: statuses.to_vec(),
        workflow: filters.workflow.clone(),
        created_before,
        ids,
        limit,
    };
    let runs = inspect::runs_list(&mut conn, &filter).await?;
    Ok(Selected { runs, stuck })
}

/// One run, as listed (`None` if there is no such run).
pub async fn one(pool: &PgPool, id: RunId) -> Result<Option<RunSummary>> {
    let mut conn = pool.acquire().await.map_err(EngineError::from)?;
    let filter = RunFilter {
        ids: Some(vec![id]),
        limit: 1,
        ..RunFilter::default()
    };
    Ok(inspect::runs_list(&mut conn, &filter).await?.pop())
}
