//! `seam demo`: run the example workflows once against the local default database
//! (DATABASE_URL, or a cluster under `./.seam/pg` started for the occasion), with an
//! in-process worker; wait for them to settle and list them as `seam runs list` does.

use std::collections::HashMap;
use std::time::Duration;

use chrono::Utc;
use seam_engine::store::inspect::{self, RunFilter};
use seam_engine::{Actor, Client, EngineError, RunId, RunStatus, Workflow};
use seam_pgkit::{local_database, redact};
use serde_json::{Value, json};
use sqlx::PgPool;

use super::{Exit, runs, serve};
use crate::args::{DemoArgs, WorkerTuning};
use crate::context::Ctx;
use crate::error::{CliError, Result};
use crate::examples;

/// One demo run: what to start and how it should end.
struct Scenario {
    workflow: &'static str,
    input: Value,
    expect: RunStatus,
    /// A signal to send once the run waits.
    signal: Option<(&'static str, Value)>,
}

fn scenarios(actor: &str) -> Vec<Scenario> {
    vec![
        Scenario {
            workflow: "hello-order",
            input: json!({ "order": "A-1001", "sku": "tee-black-m", "qty": 2 }),
            expect: RunStatus::Completed,
            signal: None,
        },
        Scenario {
            workflow: "hello-order",
            input: json!({ "order": "A-1002", "sku": "hoodie-l", "qty": 1, "undeliverable": true }),
            expect: RunStatus::Failed,
            signal: None,
        },
        Scenario {
            workflow: "approval",
            input: json!({ "document": "spring-catalog" }),
            expect: RunStatus::Completed,
            signal: Some(("approve", json!({ "by": actor }))),
        },
        Scenario {
            workflow: "fanout",
            input: json!({ "items": 3 }),
            expect: RunStatus::Completed,
            signal: None,
        },
    ]
}

/// Runs the demo; exit 0 when every run ended as expected.
pub async fn run(ctx: &Ctx, args: DemoArgs) -> Result<Exit> {
    let opts = ctx.local_options(std::path::absolute(&args.data_dir)?, None);
    let db = local_database(&opts).await?;
    eprintln!("database: {}", redact(db.url()));
    let result = demo(ctx, db.url(), args.timeout).await;
    let stopped = db.stop().await;
    let exit = result?;
    stopped?;
    Ok(exit)
}

async fn demo(ctx: &Ctx, url: &str, timeout: Duration) -> Result<Exit> {
    let pool = ctx.connect_to(url, 16).await?;
    seam_engine::migrate(&pool).await?;
    examples::prepare(&pool).await?;
    let workflows = examples::all()?;
    let tuning = WorkerTuning {
        name: None,
        concurrency: 8,
        queues: Vec::new(),
        poll_interval: Duration::from_millis(100),
        no_maintenance: true,
    };
    let worker = serve::worker(&pool, &tuning, &workflows, "demo")?.start();
    let actor = ctx.actor_name();
    let client = Client::new(pool.clone()).with_actor(Actor::operator(&actor));
    let outcome = play(ctx, &pool, &client, &workflows, &actor, timeout).await;
    worker.shutdown().await?;
    let ids = outcome?;
    let now = Utc::now();
    let mut conn = pool.acquire().await.map_err(EngineError::from)?;
    let filter = RunFilter {
        ids: Some(ids.iter().map(|(id, _)| *id).collect()),
        limit: ids.len() as i64,
        ..RunFilter::default()
    };
    let listed = inspect::runs_list(&mut conn, &filter).await?;
    drop(conn);
    pool.close().await;
    if ctx.out.json {
        ctx.out.print_json(&listed)?;
    } else {
        runs::print_runs(&ctx.out, &listed, &HashMap::new(), now)?;
    }
    let wrong: Vec<String> = listed
        .iter()
        .filter_map(|r| {
            let expect = ids.iter().find(|(id, _)| *id == r.id).map(|(_, e)| *e)?;
            (r.status != expect).then(|| format!("{} is {}, expected {expect}", r.id, r.status))
        })
        .collect();
    if !wrong.is_empty() {
        return Err(CliError::failed(format!(
            "demo runs did not end as expected: {}",
            wrong.join("; ")
        )));
    }
    eprintln!(
        "\nAll demo runs settled. `seam dev` keeps PostgreSQL and the workers running; then try \
         `seam runs list`, `seam runs show <RUN>` and `seam doctor`."
    );
    Ok(Exit::Ok)
}

/// Starts every scenario, sends their signals, and waits for all to settle.
async fn play(
    ctx: &Ctx,
    pool: &PgPool,
    client: &Client,
    workflows: &[Workflow],
    actor: &str,
    timeout: Duration,
) -> Result<Vec<(RunId, RunStatus)>> {
    let deadline = tokio::time::Instant::now() + timeout;
    let mut started = Vec::new();
    for s in scenarios(actor) {
        let wf = workflows
            .iter()
            .find(|w| w.name() == s.workflow)
            .expect("scenarios name built-in workflows");
        let run = client.start(wf, &s.input).await?.run_id;
        eprintln!("started {} run {run}", wf.pin());
        started.push((run, s));
    }
    let op = ctx.operator(pool);
    for (run, s) in &started {
        if let Some((name, payload)) = &s.signal {
            wait_until(client, *run, deadline, |st| st == RunStatus::Waiting).await?;
            op.signal(*run, name, payload.clone(), None).await?;
            eprintln!("sent signal '{name}' to run {run}");
        }
    }
    for (run, _) in &started {
        wait_until(client, *run, deadline, |st| {
            st.is_terminal() || st == RunStatus::CompensationFailed
        })
        .await?;
    }
    Ok(started.into_iter().map(|(id, s)| (id, s.expect)).collect())
}

async fn wait_until(
    client: &Client,
    run: RunId,
    deadline: tokio::time::Instant,
    done: impl Fn(RunStatus) -> bool,
) -> Result<()> {
    loop {
        let row = client.run(run).await?;
        if done(row.status) {
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(CliError::failed(format!(
                "run {run} did not settle in time: it is {} at {:?}",
                row.status, row.current_step
            )));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
