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
    /// Child runs (parcels) started by the runs.
    pub children: usize,
    /// Child runs that never ended though their parent did (violation).
    pub children_not_terminal: usize,
    /// Ended runs without exactly one parcel per slot (violation).
    pub wrong_children: usize,
    /// Effects of steps that did not complete: a parcel that did not complete yet labelled,
    /// an order that did not complete yet finished (violation).
    pub stray_effects: usize,
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
            + self.children_not_terminal
            + self.wrong_children
            + self.stray_effects
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
    // An order fails when its last step or one of its parcels fails; a parcel fails when
    // told to, completes in an order that completed, and otherwise may have been cancelled
    // by its failing parent.
    report.wrong_outcome = one("SELECT
           (SELECT count(*) FROM seam.runs
            WHERE workflow = 'chaos-order' AND finished_at IS NOT NULL
              AND status <> CASE WHEN (input->>'fail')::bool
                                   OR coalesce((input->>'parcel_fails')::bool, false)
                                 THEN 'failed' ELSE 'completed' END)
         + (SELECT count(*) FROM seam.runs c JOIN seam.runs p ON p.id = c.parent_run_id
            WHERE c.workflow = 'chaos-parcel' AND c.finished_at IS NOT NULL
              AND NOT CASE
                  WHEN (c.input->>'fail')::bool THEN c.status = 'failed'
                  WHEN p.status = 'completed' OR (p.input->>'fail')::bool
                      THEN c.status = 'completed'
                  ELSE c.status IN ('completed', 'cancelled') END)")
    .await?;
    report.children = one("SELECT count(*) FROM seam.runs WHERE workflow = 'chaos-parcel'").await?;
    report.children_not_terminal = one("SELECT count(*) FROM seam.runs c
         JOIN seam.runs p ON p.id = c.parent_run_id
         WHERE c.workflow = 'chaos-parcel' AND c.finished_at IS NULL
           AND p.finished_at IS NOT NULL")
    .await?;
    // Every order that ended passed `pack` (the finish failure comes after it), so it has one
    // parcel per slot, no more, no fewer.
    report.wrong_children = one("SELECT count(*) FROM seam.runs p
         CROSS JOIN generate_series(0, 2) AS slot(k)
         WHERE p.workflow = 'chaos-order' AND p.finished_at IS NOT NULL
           AND (SELECT count(*) FROM seam.runs c
                WHERE c.parent_run_id = p.id AND (c.input->>'k')::int = slot.k) <> 1")
    .await?;
    report.stray_effects = one(
        "SELECT count(*) FROM chaos.effects e
         JOIN seam.runs r ON r.id = e.run_id
         WHERE r.status <> 'completed'
           AND (r.workflow = 'chaos-parcel' OR (r.workflow = 'chaos-order' AND e.step = 'finish'))",
    )
    .await?;
    report.duplicated_effects = one(
        "SELECT count(*) FROM (SELECT 1 FROM chaos.effects GROUP BY run_id, step
                               HAVING count(*) > 1) d",
    )
    .await?;
    // Completed orders wrote reserve, charge and finish; failed ones reserve and charge.
    // Completed parcels wrote label.
    report.missing_effects = one("SELECT
           (SELECT count(*) FROM seam.runs r
            CROSS JOIN LATERAL (VALUES ('reserve'), ('charge'), ('finish')) s(step)
            WHERE r.workflow = 'chaos-order' AND r.finished_at IS NOT NULL
              AND NOT (s.step = 'finish' AND r.status = 'failed')
              AND NOT EXISTS (SELECT 1 FROM chaos.effects e
                              WHERE e.run_id = r.id AND e.step = s.step))
         + (SELECT count(*) FROM seam.runs c
            WHERE c.workflow = 'chaos-parcel' AND c.status = 'completed'
              AND NOT EXISTS (SELECT 1 FROM chaos.effects e
                              WHERE e.run_id = c.id AND e.step = 'label'))")
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

    /// Parcels of `order`, one per slot given, with the label effect of completed ones.
    async fn parcels(pool: &PgPool, order: uuid::Uuid, statuses: &[&str]) {
        for (k, status) in statuses.iter().enumerate() {
            let id = uuid::Uuid::new_v4();
            let finished = matches!(*status, "completed" | "failed" | "cancelled");
            sqlx::query(
                "INSERT INTO seam.runs (id, workflow, version, status, input, created_by,
                                        finished_at, parent_run_id, parent_step,
                                        parent_iteration)
                 VALUES ($1, 'chaos-parcel', 1, $2, $3, 'test', CASE WHEN $4 THEN now() END,
                         $5, 'pack', 0)",
            )
            .bind(id)
            .bind(status)
            .bind(serde_json::json!({ "k": k, "fail": false }))
            .bind(finished)
            .bind(order)
            .execute(pool)
            .await
            .unwrap();
            if *status == "completed" {
                effect(pool, id, "label").await;
            }
        }
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
        let done = ["completed"; 3];
        let ok = run(&pool, "completed", false).await;
        for s in ["reserve", "charge", "finish"] {
            effect(&pool, ok, s).await;
        }
        parcels(&pool, ok, &done).await;
        let failed = run(&pool, "failed", true).await;
        for s in ["reserve", "charge"] {
            effect(&pool, failed, s).await;
            compensation(&pool, failed, s).await;
        }
        parcels(&pool, failed, &done).await;
        let mut clean = Report {
            runs: 2,
            ..Report::default()
        };
        audit(&pool, &mut clean).await.unwrap();
        assert_eq!(clean.violations(), 0, "{clean:?}");

        // Planted: a duplicated effect, a missing effect, a double compensation, a missing
        // compensation, a compensation of a completed run, a wrong outcome, a run that never
        // ended, a lost run, and a job left leased; for parcels: a cancelled parcel of a
        // completed order (wrong outcome), a parcel still running under an ended order, a
        // missing parcel, and a cancelled parcel that labelled anyway (stray effect); and a
        // failed order whose last step wrote its effect anyway.
        effect(&pool, ok, "charge").await;
        let missing = run(&pool, "completed", false).await;
        effect(&pool, missing, "reserve").await;
        effect(&pool, missing, "charge").await;
        parcels(&pool, missing, &["cancelled", "completed", "completed"]).await;
        compensation(&pool, failed, "charge").await;
        let uncompensated = run(&pool, "failed", true).await;
        effect(&pool, uncompensated, "reserve").await;
        effect(&pool, uncompensated, "charge").await;
        compensation(&pool, uncompensated, "reserve").await;
        parcels(&pool, uncompensated, &["completed", "running"]).await;
        compensation(&pool, ok, "reserve").await;
        let wrong = run(&pool, "failed", false).await;
        for s in ["reserve", "charge"] {
            effect(&pool, wrong, s).await;
            compensation(&pool, wrong, s).await;
        }
        parcels(&pool, wrong, &["completed", "cancelled", "completed"]).await;
        let stray: uuid::Uuid = sqlx::query_scalar(
            "SELECT id FROM seam.runs WHERE parent_run_id = $1 AND status = 'cancelled'",
        )
        .bind(wrong)
        .fetch_one(&pool)
        .await
        .unwrap();
        effect(&pool, stray, "label").await;
        effect(&pool, uncompensated, "finish").await;
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
        assert_eq!(r.wrong_outcome, 2, "{r:?}");
        assert_eq!(r.children_not_terminal, 1, "{r:?}");
        assert_eq!(r.wrong_children, 1, "{r:?}");
        assert_eq!(r.stray_effects, 2, "{r:?}");
        assert_eq!(r.children, 14, "{r:?}");
        assert_eq!(r.not_terminal, 1, "{r:?}");
        assert_eq!(r.lost, 1, "{r:?}");
        assert_eq!(r.leases_left, 1, "{r:?}");
        assert_eq!(r.terminal, 5);
        pool.close().await;
        db.drop_database().await;
    }
}
