//! hello-saga: one order workflow run twice against the local default database.
//!
//! The first run completes. In the second, the third step (`ship`) fails for good, so the
//! first two steps (`reserve_stock`, `charge_card`) are compensated in reverse order. The
//! example prints both runs' final states and their step history, and exits 0.
//!
//! ```text
//! cargo run -p example-hello-saga
//! ```
//! Uses `DATABASE_URL` when set, otherwise a local PostgreSQL under `./.seam/pg`.

use std::time::Duration;

use anyhow::{Context, bail};
use seam_engine::store::{events, executions};
use seam_engine::{
    Client, RetryPolicy, RunId, RunStatus, Step, StepError, Transition, Worker, Workflow,
};
use seam_pgkit::{LocalOptions, local_database, redact};
use serde::{Deserialize, Serialize};
use serde_json::json;

#[derive(Serialize, Deserialize)]
struct Order {
    order: String,
    sku: String,
    qty: u32,
    /// Makes the carrier refuse the parcel: the saga must roll back.
    undeliverable: bool,
}

fn order_workflow() -> anyhow::Result<Workflow> {
    let wf = Workflow::builder("hello-order", 1)
        .step(
            Step::task("reserve_stock", |ctx| async move {
                let o: Order = ctx.input()?;
                Transition::next(json!({ "reservation": format!("res-{}-{}", o.sku, o.qty) }))
            })
            .compensate(|ctx| async move {
                let r: serde_json::Value = ctx.input()?;
                println!(
                    "  ↩ compensating reserve_stock: released {}",
                    r["reservation"]
                );
                Ok(())
            }),
        )
        .step(
            Step::task("charge_card", |ctx| async move {
                let o: Order = ctx.run_input()?;
                Transition::next(
                    json!({ "charge": format!("ch-{}", o.order), "amount": o.qty * 25 }),
                )
            })
            .compensate(|ctx| async move {
                let c: serde_json::Value = ctx.input()?;
                println!("  ↩ compensating charge_card: refunded {}", c["charge"]);
                Ok(())
            }),
        )
        .step(
            Step::task("ship", |ctx| async move {
                let o: Order = ctx.run_input()?;
                if o.undeliverable {
                    return Err(StepError::retryable("carrier refused the address"));
                }
                Transition::complete(json!({ "tracking": format!("TRK-{}", o.order) }))
            })
            .retry(
                RetryPolicy::attempts(3)
                    .backoff(Duration::from_millis(100), Duration::from_secs(1)),
            ),
        )
        .build()?;
    Ok(wf)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .init();
    let db = local_database(&LocalOptions::default())
        .await
        .context("finding or starting the local PostgreSQL")?;
    println!("database: {}", redact(db.url()));
    let result = demo(db.url()).await;
    db.stop().await?;
    result
}

async fn demo(url: &str) -> anyhow::Result<()> {
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(10)
        .connect(url)
        .await?;
    seam_engine::migrate(&pool).await?;
    let wf = order_workflow()?;
    let worker = Worker::builder(pool.clone())
        .workflow(&wf)
        .name("hello-saga")
        .poll_interval(Duration::from_millis(100))
        .build()?
        .start();
    let client = Client::new(pool.clone()).with_actor(seam_engine::Actor::caller("hello-saga"));

    let ok = client
        .start(
            &wf,
            Order {
                order: "A-1001".into(),
                sku: "tee-black-m".into(),
                qty: 2,
                undeliverable: false,
            },
        )
        .await?
        .run_id;
    let bad = client
        .start(
            &wf,
            Order {
                order: "A-1002".into(),
                sku: "hoodie-l".into(),
                qty: 1,
                undeliverable: true,
            },
        )
        .await?
        .run_id;

    let mut failures = 0;
    for (label, id, expected) in [
        ("order A-1001", ok, RunStatus::Completed),
        ("order A-1002 (undeliverable)", bad, RunStatus::Failed),
    ] {
        let run = client
            .wait_until_settled(id, Duration::from_secs(30))
            .await?;
        print_run(&pool, label, id, &run).await?;
        if run.status != expected {
            eprintln!("expected {label} to end {expected}, it is {}", run.status);
            failures += 1;
        }
    }
    worker.shutdown().await?;
    pool.close().await;
    if failures > 0 {
        bail!("{failures} run(s) did not end as expected");
    }
    Ok(())
}

async fn print_run(
    pool: &sqlx::PgPool,
    label: &str,
    id: RunId,
    run: &seam_engine::store::runs::RunRow,
) -> anyhow::Result<()> {
    println!("\n{label}: run {id}");
    println!("  status: {}", run.status);
    if let Some(out) = &run.output {
        println!("  output: {out}");
    }
    if let Some(err) = &run.error {
        println!("  error:  {err}");
    }
    let mut conn = pool.acquire().await?;
    println!("  steps:");
    println!(
        "    {:<11} {:<14} {:>4} {:>7}  {:<10} error",
        "kind", "step", "iter", "attempt", "status"
    );
    for e in executions::for_run(&mut conn, id).await? {
        println!(
            "    {:<11} {:<14} {:>4} {:>7}  {:<10} {}",
            e.kind.as_str(),
            e.step,
            e.iteration,
            e.attempt,
            e.status.as_str(),
            e.error.unwrap_or_default()
        );
    }
    println!("  history:");
    for e in events::for_run(&mut conn, id, 0, 1_000).await? {
        let step = e.step.map(|s| format!(" {s}")).unwrap_or_default();
        println!(
            "    {} {}{} by {}",
            e.at.format("%H:%M:%S%.3f"),
            e.kind,
            step,
            e.actor
        );
    }
    Ok(())
}
