//! Scale: the same throughput measurement on a database that already holds a large
//! history — finished runs with their step executions and events, and runs waiting at a
//! wait step with a far-deadline timer job in the claim queue — generated with
//! `INSERT ... SELECT generate_series`, shaped like the rows the engine writes.

use std::time::Instant;

use sqlx::{AssertSqlSafe, PgPool};

use crate::db::BenchDb;
use crate::workload::{self, CHAIN, QUEUE, WAITING};

/// Actor of generated worker rows.
const WORKER: &str = "worker:00000000-0000-4000-8000-00000000b0b0";

/// Adds `finished` completed chain runs (3 step executions and 5 events each) and
/// `waiting` runs at a wait step (a timer job 30 days out, 1 execution, 3 events each),
/// then VACUUM ANALYZE and CHECKPOINT, as a long-lived database would have had.
pub async fn fill_history(db: &BenchDb, finished: u64, waiting: u64) -> anyhow::Result<()> {
    let pool = db.pool(1).await?;
    let started = Instant::now();
    // Generated children reference runs inserted just before; skipping the FK triggers
    // needs a superuser, and only makes loading faster.
    let fk_off = sqlx::query("SET session_replication_role = replica")
        .execute(&pool)
        .await
        .is_ok();
    sqlx::query("SET maintenance_work_mem = '256MB'")
        .execute(&pool)
        .await?;
    // Building an index once is much faster than millions of random insertions into it:
    // set the secondary indexes of the big tables aside and build them again afterwards,
    // from their own definitions.
    let indexes: Vec<(String, String)> = sqlx::query_as(
        "SELECT i.indexname, i.indexdef FROM pg_indexes i
         JOIN pg_class c ON c.relname = i.indexname
         JOIN pg_index x ON x.indexrelid = c.oid
         JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = i.schemaname
         WHERE i.schemaname = 'seam'
           AND i.tablename IN ('runs', 'step_executions', 'events')
           AND NOT x.indisprimary",
    )
    .fetch_all(&pool)
    .await?;
    for (name, _) in &indexes {
        let sql = format!("DROP INDEX seam.\"{name}\"");
        sqlx::query(AssertSqlSafe(sql)).execute(&pool).await?;
    }
    const CHUNK: u64 = 250_000;
    let mut done = 0;
    while done < finished {
        let n = CHUNK.min(finished - done);
        insert_finished(&pool, n).await?;
        done += n;
        crate::progress(format!("  history: {done}/{finished} finished runs"));
    }
    insert_waiting(&pool, waiting).await?;
    crate::progress(format!(
        "  history: {finished} finished and {waiting} waiting runs in {:.1}s; indexing",
        started.elapsed().as_secs_f64()
    ));
    for (_, def) in &indexes {
        sqlx::query(AssertSqlSafe(def.clone()))
            .execute(&pool)
            .await?;
    }
    if fk_off {
        sqlx::query("SET session_replication_role = DEFAULT")
            .execute(&pool)
            .await?;
    }
    sqlx::query("VACUUM ANALYZE").execute(&pool).await?;
    // Needs a superuser or pg_checkpoint; without it a checkpoint may run during the
    // measurement.
    let _ = sqlx::query("CHECKPOINT").execute(&pool).await;
    pool.close().await;
    crate::progress(format!(
        "  history ready in {:.1}s",
        started.elapsed().as_secs_f64()
    ));
    Ok(())
}

/// `n` completed chain runs finished in the last 6 days (inside the cleaner's default
/// 7-day retention, so the workers' cleaner leaves them alone).
async fn insert_finished(pool: &PgPool, n: u64) -> anyhow::Result<()> {
    let mut tx = pool.begin().await?;
    temp_ids(&mut tx, "new_runs", n).await?;
    sqlx::query(
        "INSERT INTO seam.runs (id, workflow, version, status, input, outputs, output,
                                current_step, created_by, created_at, updated_at, finished_at)
         SELECT id, $1, 1, 'completed', to_jsonb(n), '{\"a\":null,\"b\":null,\"c\":null}',
                'null', 'c', 'api:client', t, t + interval '30 ms', t + interval '30 ms'
         FROM new_runs",
    )
    .bind(CHAIN)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO seam.step_executions (run_id, kind, queue, step, iteration, attempt,
                     status, input, output, worker_id, started_at, finished_at)
         SELECT r.id, 'step', $1, s.step, 0, 1, 'completed', 'null', 'null',
                '00000000-0000-4000-8000-00000000b0b0', r.t + s.off,
                r.t + s.off + interval '2 ms'
         FROM new_runs r
         CROSS JOIN (VALUES ('a', interval '2 ms'), ('b', interval '12 ms'),
                            ('c', interval '22 ms')) s(step, off)
         ORDER BY r.t, s.off",
    )
    .bind(QUEUE)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO seam.events (run_id, at, kind, step, iteration, attempt, actor, data)
         SELECT r.id, r.t + e.off, e.kind, e.step, e.iteration, e.attempt,
                CASE WHEN e.kind = 'run.started' THEN 'api:client' ELSE $2 END,
                CASE WHEN e.kind = 'run.started'
                     THEN jsonb_build_object('workflow', $1::text, 'version', 1, 'parent', null)
                END
         FROM new_runs r
         CROSS JOIN (VALUES ('run.started', NULL, NULL::int, NULL::int, interval '0'),
                            ('step.completed', 'a', 0, 1, interval '4 ms'),
                            ('step.completed', 'b', 0, 1, interval '14 ms'),
                            ('step.completed', 'c', 0, 1, interval '24 ms'),
                            ('run.completed', NULL, NULL, NULL, interval '24 ms'))
              e(kind, step, iteration, attempt, off)
         ORDER BY r.t, e.off",
    )
    .bind(CHAIN)
    .bind(WORKER)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

/// A temporary table `table(id, n, t)` of `n` fresh run ids with start times in the last
/// 6 days (inside the cleaner's default retention), dropped at commit.
async fn temp_ids(tx: &mut sqlx::PgConnection, table: &'static str, n: u64) -> anyhow::Result<()> {
    let sql = format!(
        "CREATE TEMP TABLE {table} ON COMMIT DROP AS
         SELECT gen_random_uuid() AS id, g AS n,
                now() - interval '6 days' * random() - interval '1 hour' AS t
         FROM generate_series(1, $1) g"
    );
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(n as i64)
        .execute(tx)
        .await?;
    Ok(())
}

/// What the engine writes as the wait step's timer job's attempts.
fn wait_max_attempts() -> i32 {
    workload::waiting()
        .specs()
        .iter()
        .find(|s| s.name == "approval")
        .map_or(1, |s| s.retry.max_attempts as i32)
}

/// `n` runs of the waiting workflow, past `prepare` and waiting for signal `approve` at
/// step `approval`, with the deadline's timer job ready in 30 days.
async fn insert_waiting(pool: &PgPool, n: u64) -> anyhow::Result<()> {
    let mut tx = pool.begin().await?;
    temp_ids(&mut tx, "new_waits", n).await?;
    sqlx::query(
        "INSERT INTO seam.runs (id, workflow, version, status, input, outputs, current_step,
                                wait_signal, wait_deadline, created_by, created_at, updated_at)
         SELECT id, $1, 1, 'waiting', to_jsonb(n), '{\"prepare\":null}', 'approval',
                'approve', t + interval '30 days', 'api:client', t, t + interval '10 ms'
         FROM new_waits",
    )
    .bind(WAITING)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO seam.jobs (run_id, kind, queue, pin, step, iteration, max_attempts,
                                input, state, run_at, created_at)
         SELECT id, 'timer', $1, $2 || '@1', 'approval', 0, $3, 'null', 'ready',
                t + interval '30 days', t + interval '10 ms'
         FROM new_waits",
    )
    .bind(QUEUE)
    .bind(WAITING)
    .bind(wait_max_attempts())
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO seam.step_executions (run_id, kind, queue, step, iteration, attempt,
                     status, input, output, worker_id, started_at, finished_at)
         SELECT id, 'step', $1, 'prepare', 0, 1, 'completed', to_jsonb(n), 'null',
                '00000000-0000-4000-8000-00000000b0b0', t + interval '2 ms', t + interval '4 ms'
         FROM new_waits",
    )
    .bind(QUEUE)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO seam.events (run_id, at, kind, step, iteration, attempt, actor, data)
         SELECT w.id, w.t + e.off, e.kind, e.step, e.iteration, e.attempt,
                CASE WHEN e.kind = 'run.started' THEN 'api:client' ELSE $2 END,
                CASE e.kind
                    WHEN 'run.started' THEN
                        jsonb_build_object('workflow', $1::text, 'version', 1, 'parent', null)
                    WHEN 'wait.started' THEN
                        jsonb_build_object('signal', 'approve',
                                           'deadline', w.t + interval '30 days',
                                           'buffered_signals', false)
                END
         FROM new_waits w
         CROSS JOIN (VALUES ('run.started', NULL, NULL::int, NULL::int, interval '0'),
                            ('step.completed', 'prepare', 0, 1, interval '4 ms'),
                            ('wait.started', 'approval', 0, NULL, interval '4 ms'))
              e(kind, step, iteration, attempt, off)
         ORDER BY w.t, e.off",
    )
    .bind(WAITING)
    .bind(WORKER)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}
