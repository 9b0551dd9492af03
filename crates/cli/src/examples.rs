//! The example workflows built into `seam`, served by `seam dev`, `seam worker` and
//! `seam demo`, and startable with `seam runs start`:
//!
//! | workflow | steps | shows |
//! |---|---|---|
//! | `hello-order` | reserve_stock -> charge_card -> ship | compensation when `ship` fails (`"undeliverable": true`); the refund fails while switch `refunds` is `broken` (`compensation_failed`) |
//! | `approval` | submit -> approve (wait for signal `approve`, 24 h deadline) -> publish | signals, waits |
//! | `fanout` | split -> work (children: one `fanout-item` per item) -> sum | fan-out / join |
//! | `flaky-import` | fetch -> import -> report (queue `imports`) | a step that fails while its feed is broken and parks for an operator |
//!
//! `flaky-import` with `"broken": true` marks its feed broken in the `seam_demo.switches`
//! table; `import` then fails until the row says otherwise, exhausts its 2 attempts and parks
//! (`OnExhausted::Park`): the run is stuck with a dead job until the feed is fixed
//! (`UPDATE seam_demo.switches SET state = 'ok' WHERE name = 'prices'`) and an operator runs
//! `seam runs retry`.

use std::time::Duration;

use seam_engine::{
    ChildSpec, OnExhausted, ResultExt, RetryPolicy, Step, StepContext, StepError, Transition,
    Workflow,
};
use serde::Deserialize;
use serde_json::{Value, json};
use sqlx::PgPool;

/// The names `seam runs start` accepts.
pub const NAMES: [&str; 5] = [
    "hello-order",
    "approval",
    "fanout",
    "fanout-item",
    "flaky-import",
];

/// The queue of `flaky-import`'s steps (the others use `default`).
pub const IMPORTS_QUEUE: &str = "imports";

/// Every example workflow.
pub fn all() -> seam_engine::Result<Vec<Workflow>> {
    let item = fanout_item()?;
    Ok(vec![
        hello_order()?,
        approval()?,
        fanout(&item)?,
        item,
        flaky_import()?,
    ])
}

/// The example named `name`.
pub fn by_name(name: &str) -> seam_engine::Result<Option<Workflow>> {
    Ok(all()?.into_iter().find(|w| w.name() == name))
}

/// Creates the examples' own table, `seam_demo.switches` (idempotent).
pub async fn prepare(pool: &PgPool) -> Result<(), sqlx::Error> {
    let mut tx = pool.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock(1588845104)")
        .execute(&mut *tx)
        .await?;
    sqlx::raw_sql(
        "CREATE SCHEMA IF NOT EXISTS seam_demo;
         CREATE TABLE IF NOT EXISTS seam_demo.switches (
             name       text PRIMARY KEY,
             state      text NOT NULL,
             updated_at timestamptz NOT NULL DEFAULT now())",
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await
}

#[derive(Deserialize)]
struct Order {
    #[serde(default = "default_order")]
    order: String,
    #[serde(default = "default_sku")]
    sku: String,
    #[serde(default = "one")]
    qty: u32,
    /// Makes the carrier refuse the parcel: the saga rolls back.
    #[serde(default)]
    undeliverable: bool,
}

fn default_order() -> String {
    "A-1001".into()
}
fn default_sku() -> String {
    "tee-black-m".into()
}
fn one() -> u32 {
    1
}

fn hello_order() -> seam_engine::Result<Workflow> {
    Workflow::builder("hello-order", 1)
        .step(
            Step::task("reserve_stock", |ctx| async move {
                let o: Order = ctx.input()?;
                Transition::next(json!({ "reservation": format!("res-{}-{}", o.sku, o.qty) }))
            })
            .compensate(|ctx| async move {
                tracing::info!(reservation = %ctx.input_value()["reservation"], "released stock");
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
                // The refund fails while the `refunds` switch says the service is down.
                if switch(&ctx, "refunds").await?.as_deref() == Some("broken") {
                    return Err(StepError::retryable(
                        "refund service is down (seam_demo.switches 'refunds' is broken)",
                    ));
                }
                tracing::info!(charge = %ctx.input_value()["charge"], "refunded");
                Ok(())
            })
            .transactional()
            .retry(fast_retry(2)),
        )
        .step(
            Step::task("ship", |ctx| async move {
                let o: Order = ctx.run_input()?;
                if o.undeliverable {
                    return Err(StepError::retryable("carrier refused the address"));
                }
                Transition::complete(json!({ "tracking": format!("TRK-{}", o.order) }))
            })
            .retry(fast_retry(3)),
        )
        .build()
}

#[derive(Deserialize)]
struct Document {
    #[serde(default = "default_document")]
    document: String,
}

fn default_document() -> String {
    "spring-catalog".into()
}

fn approval() -> seam_engine::Result<Workflow> {
    Workflow::builder("approval", 1)
        .step(
            Step::task("submit", |ctx| async move {
                let d: Document = ctx.input()?;
                Transition::next(json!({ "submitted": d.document }))
            })
            .compensate(|ctx| async move {
                tracing::info!(document = %ctx.input_value()["submitted"], "withdrew submission");
                Ok(())
            }),
        )
        .step(Step::wait("approve", "approve").deadline(Duration::from_secs(24 * 3600)))
        .step(Step::task("publish", |ctx| async move {
            let d: Document = ctx.run_input()?;
            let approval: Value = ctx.output("approve")?;
            Transition::complete(json!({ "published": d.document, "approval": approval }))
        }))
        .build()
}

fn fanout_item() -> seam_engine::Result<Workflow> {
    Workflow::builder("fanout-item", 1)
        .step(Step::task("double", |ctx| async move {
            let item = ctx.input_value()["item"].as_i64().unwrap_or(0);
            Transition::complete(json!({ "item": item, "doubled": item * 2 }))
        }))
        .build()
}

fn fanout(item: &Workflow) -> seam_engine::Result<Workflow> {
    let item = item.clone();
    Workflow::builder("fanout", 1)
        .step(Step::task("split", |ctx| async move {
            let n = ctx.input_value()["items"]
                .as_i64()
                .unwrap_or(3)
                .clamp(0, 100);
            Transition::next(json!({ "items": n }))
        }))
        .step(Step::children("work", move |ctx| {
            let item = item.clone();
            async move {
                let n = ctx.input_value()["items"].as_i64().unwrap_or(0);
                (1..=n)
                    .map(|i| ChildSpec::new(&item, json!({ "item": i })))
                    .collect::<Result<Vec<_>, StepError>>()
            }
        }))
        .step(Step::task("sum", |ctx| async move {
            let children: Vec<Value> = ctx.input()?;
            let total: i64 = children
                .iter()
                .filter_map(|c| c["output"]["doubled"].as_i64())
                .sum();
            Transition::complete(json!({ "children": children.len(), "total": total }))
        }))
        .build()
}

#[derive(Deserialize)]
struct Feed {
    #[serde(default = "default_feed")]
    feed: String,
    #[serde(default)]
    broken: bool,
}

fn default_feed() -> String {
    "prices".into()
}

fn flaky_import() -> seam_engine::Result<Workflow> {
    Workflow::builder("flaky-import", 1)
        .queue(IMPORTS_QUEUE)
        .step(
            Step::task("fetch", |ctx| async move {
                let f: Feed = ctx.input()?;
                if f.broken {
                    sqlx::query(
                        "INSERT INTO seam_demo.switches (name, state) VALUES ($1, 'broken')
                         ON CONFLICT (name) DO UPDATE SET state = 'broken', updated_at = now()",
                    )
                    .bind(&f.feed)
                    .execute(&mut *ctx.tx().await?)
                    .await
                    .fatal()?;
                }
                Transition::next(json!({ "feed": f.feed, "rows": 42 }))
            })
            .transactional(),
        )
        .step(
            Step::task("import", |ctx| async move {
                let feed = ctx.input_value()["feed"]
                    .as_str()
                    .unwrap_or("prices")
                    .to_string();
                let rows = ctx.input_value()["rows"].as_i64().unwrap_or(0);
                if switch(&ctx, &feed).await?.as_deref() == Some("broken") {
                    return Err(StepError::retryable(format!(
                        "feed '{feed}' is broken upstream (seam_demo.switches says so)"
                    )));
                }
                Transition::next(json!({ "feed": feed, "imported": rows }))
            })
            .transactional()
            .retry(fast_retry(2))
            .on_exhausted(OnExhausted::Park),
        )
        .step(Step::task("report", |ctx| async move {
            let imported = ctx.input_value()["imported"].clone();
            Transition::complete(json!({ "imported": imported }))
        }))
        .build()
}

/// The state of switch `name` in `seam_demo.switches`, read in the step's transaction.
async fn switch(ctx: &StepContext, name: &str) -> Result<Option<String>, StepError> {
    Ok(
        sqlx::query_scalar("SELECT state FROM seam_demo.switches WHERE name = $1")
            .bind(name)
            .fetch_optional(&mut *ctx.tx().await?)
            .await?,
    )
}

fn fast_retry(attempts: u32) -> RetryPolicy {
    RetryPolicy::attempts(attempts)
        .backoff(Duration::from_millis(100), Duration::from_secs(1))
        .jitter(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_example_builds_and_is_startable_by_name() {
        let all = all().expect("valid definitions");
        let names: Vec<&str> = all.iter().map(|w| w.name()).collect();
        assert_eq!(names, NAMES.to_vec());
        assert!(by_name("flaky-import").unwrap().is_some());
        assert!(by_name("nope").unwrap().is_none());
    }
}
