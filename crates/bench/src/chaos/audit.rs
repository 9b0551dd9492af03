//! After the storm: did every run end, exactly once, with its effects exactly once?

use serde::Serialize;
use sqlx::PgPool;

/// The harness's final report (printed as one JSON line).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    /// Runs started.
    pub runs: usize,
    /// Worker processes killed with SIGKILL.
    pub kills: usize,
    /// Worker processes stopped with SIGSTOP past their lease (then resumed).
    pub stops: usize,
    /// PostgreSQL restarts.
    pub pg_restarts: usize,
    /// Worker processes that exited by themselves and were restarted.
    pub worker_exits: usize,
    /// Runs that reached a terminal status.
    pub terminal: usize,
    /// Runs that never reached one (violation).
    pub not_terminal: usize,
    /// Started runs missing from the database (violation).
    pub lost: usize,
    /// Runs that ended other than expected: completed, or failed for the one-in-ten (violation).
    pub wrong_outcome: usize,
    /// (run, step) effects written more than once (violation).
    pub duplicated_effects: usize,
    /// Effects a finished step should have written but did not (violation).
    pub missing_effects: usize,
    /// (run, step) compensations run more than once (violation).
    pub double_compensations: usize,
    /// Compensations a failed run should have had but did not, or that ran for a completed
    /// run (violation).
    pub wrong_compensations: usize,
    /// Jobs still leased at the end (violation).
    pub leases_left: usize,
    /// Wall time of the workload in seconds.
    pub elapsed_s: f64,
}

impl Report {
    /// The number of violated guarantees.
    pub fn violations(&self) -> usize {
        self.not_terminal
            + self.lost
            + self.wrong_outcome
            + self.duplicated_effects
            + self.missing_effects
            + self.double_compensations
            + self.wrong_compensations
            + self.leases_left
    }
}

fn count(v: i64) -> usize {
    v.max(0) as usize
}

/// Audits the database after the workload.
pub async fn audit(pool: &PgPool, report: &mut Report) -> anyhow::Result<()> {
    let one = |sql: &'static str| async move {
        let n: i64 = sqlx::query_scalar(sql).fetch_one(pool).await?;
        Ok::<usize, sqlx::Error>(count(n))
    };
    let present = one("SELECT count(*) FROM seam.runs WHERE workflow = 'chaos-order'").await?;
    report.lost = report.runs.saturating_sub(present);
    report.terminal = one("SELECT count(*) FROM seam.runs
         WHERE workflow = 'chaos-order' AND status IN ('completed', 'failed', 'cancelled')")
    .await?;
    report.not_terminal = present - report.terminal;
    report.wrong_outcome = one("SELECT count(*) FROM seam.runs
         WHERE workflow = 'chaos-order' AND finished_at IS NOT NULL
           AND status <> CASE WHEN (input->>'fail')::bool THEN 'failed' ELSE 'completed' END")
    .await?;
    report.duplicated_effects = one(
        "SELECT count(*) FROM (SELECT 1 FROM chaos.effects GROUP BY run_id, step
                               HAVING count(*) > 1) d",
    )
    .await?;
    // Completed runs wrote reserve, charge and finish; failed ones reserve and charge.
    report.missing_effects = one("SELECT count(*) FROM seam.runs r
         CROSS JOIN LATERAL (VALUES ('reserve'), ('charge'), ('finish')) s(step)
         WHERE r.workflow = 'chaos-order' AND r.finished_at IS NOT NULL
           AND NOT (s.step = 'finish' AND r.status = 'failed')
           AND NOT EXISTS (SELECT 1 FROM chaos.effects e
                           WHERE e.run_id = r.id AND e.step = s.step)")
    .await?;
    report.double_compensations = one(
        "SELECT count(*) FROM (SELECT 1 FROM chaos.compensations GROUP BY run_id, step
                               HAVING count(*) > 1) d",
    )
    .await?;
    report.wrong_compensations = one("SELECT (SELECT count(*) FROM seam.runs r
                 CROSS JOIN LATERAL (VALUES ('reserve'), ('charge')) s(step)
                 WHERE r.workflow = 'chaos-order' AND r.status = 'failed'
                   AND NOT EXISTS (SELECT 1 FROM chaos.compensations c
                                   WHERE c.run_id = r.id AND c.step = s.step))
              + (SELECT count(*) FROM chaos.compensations c
                 JOIN seam.runs r ON r.id = c.run_id WHERE r.status = 'completed')")
    .await?;
    report.leases_left = one("SELECT count(*) FROM seam.jobs WHERE state = 'running'").await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn run(pool: &PgPool, status: &str, fail: bool) -> uuid::Uuid {
        let id = uuid::Uuid::new_v4();
        let finished = matches!(status, "completed" | "failed" | "cancelled");
        sqlx::query(
            "INSERT INTO seam.runs (id, workflow, version, status, input, created_by, finished_at)
             VALUES ($1, 'chaos-order', 1, $2, $3, 'test', CASE WHEN $4 THEN now() END)",
        )
        .bind(id)
        .bind(status)
        .bind(serde_json::json!({ "n": 0, "fail": fail }))
        .bind(finished)
        .execute(pool)
        .await
        .unwrap();
        id
    }

    async fn effect(pool: &PgPool, run: uuid::Uuid, step: &str) {
        sqlx::query("INSERT INTO chaos.effects (run_id, step, attempt) VALUES ($1, $2, 1)")
            .bind(run)
            .bind(step)
            .execute(pool)
            .await
            .unwrap();
    }

    async fn compensation(pool: &PgPool, run: uuid::Uuid, step: &str) {
        sqlx::query("INSERT INTO chaos.compensations (run_id, step) VALUES ($1, $2)")
            .bind(run)
            .bind(step)
            .execute(pool)
            .await
            .unwrap();
    }

    /// The audit must see each kind of violation it claims to check.
    #[tokio::test]
    async fn the_audit_counts_every_planted_violation() {
        let db = seam_pgkit::TestDb::new().await.unwrap();
        let pool = db.pool().await;
        seam_engine::migrate(&pool).await.unwrap();
        sqlx::raw_sql(super::super::workload::SCHEMA)
            .execute(&pool)
            .await
            .unwrap();

        // A clean completed run and a clean failed run.
        let ok = run(&pool, "completed", false).await;
        for s in ["reserve", "charge", "finish"] {
            effect(&pool, ok, s).await;
        }
        let failed = run(&pool, "failed", true).await;
        for s in ["reserve", "charge"] {
            effect(&pool, failed, s).await;
            compensation(&pool, failed, s).await;
        }
        let mut clean = Report {
            runs: 2,
            ..Report::default()
        };
        audit(&pool, &mut clean).await.unwrap();
        assert_eq!(clean.violations(), 0, "{clean:?}");

        // Planted: a duplicated effect, a missing effect, a double compensation, a missing
        // compensation, a compensation of a completed run, a wrong outcome, a run that never
        // ended, a lost run, and a job left leased.
        effect(&pool, ok, "charge").await;
        let missing = run(&pool, "completed", false).await;
        effect(&pool, missing, "reserve").await;
        effect(&pool, missing, "charge").await;
        compensation(&pool, failed, "charge").await;
        let uncompensated = run(&pool, "failed", true).await;
        effect(&pool, uncompensated, "reserve").await;
        effect(&pool, uncompensated, "charge").await;
        compensation(&pool, uncompensated, "reserve").await;
        compensation(&pool, ok, "reserve").await;
        let wrong = run(&pool, "failed", false).await;
        for s in ["reserve", "charge"] {
            effect(&pool, wrong, s).await;
            compensation(&pool, wrong, s).await;
        }
        let stuck = run(&pool, "running", false).await;
        sqlx::query(
            "INSERT INTO seam.jobs (run_id, kind, queue, pin, step, iteration, max_attempts,
                                    state, run_at, lease_token, lease_expires_at)
             VALUES ($1, 'step', 'chaos', 'chaos-order@1', 'reserve', 0, 3, 'running', now(),
                     gen_random_uuid(), now())",
        )
        .bind(stuck)
        .execute(&pool)
        .await
        .unwrap();
        let mut r = Report {
            runs: 7,
            ..Report::default()
        };
        audit(&pool, &mut r).await.unwrap();
        assert_eq!(r.duplicated_effects, 1, "{r:?}");
        assert_eq!(r.missing_effects, 1, "{r:?}");
        assert_eq!(r.double_compensations, 1, "{r:?}");
        assert_eq!(r.wrong_compensations, 2, "{r:?}");
        assert_eq!(r.wrong_outcome, 1, "{r:?}");
        assert_eq!(r.not_terminal, 1, "{r:?}");
        assert_eq!(r.lost, 1, "{r:?}");
        assert_eq!(r.leases_left, 1, "{r:?}");
        assert_eq!(r.terminal, 5);
        pool.close().await;
        db.drop_database().await;
    }
}
