//! `seam runs start WORKFLOW --input JSON [--idempotency-key K]`.

use seam_engine::{Actor, Client, StartOptions};
use serde_json::json;

use crate::args::runs::StartArgs;
use crate::commands::Exit;
use crate::context::Ctx;
use crate::error::{CliError, Result};
use crate::{examples, outln};

/// Starts a run of a built-in workflow; prints its id.
pub async fn run(ctx: &Ctx, args: StartArgs) -> Result<Exit> {
    let wf = examples::by_name(&args.workflow)?
        .ok_or_else(|| CliError::Usage(format!("unknown workflow '{}'", args.workflow)))?;
    let pool = ctx.connect().await?;
    let client = Client::new(pool.clone()).with_actor(Actor::operator(&ctx.actor_name()));
    let opts = StartOptions {
        idempotency_key: args.idempotency_key.clone(),
    };
    let started = client.start_with(&wf, &args.input, opts).await?;
    pool.close().await;
    if ctx.out.json {
        ctx.out.print_json(&json!({
            "run_id": started.run_id,
            "created": started.created,
            "workflow": wf.name(),
            "version": wf.version(),
        }))?;
    } else {
        outln!("{}", started.run_id)?;
        if started.created {
            eprintln!("started {} run {}", wf.pin(), started.run_id);
        } else {
            eprintln!(
                "a run with idempotency key '{}' exists already: {}",
                args.idempotency_key.unwrap_or_default(),
                started.run_id
            );
        }
        eprintln!("follow it with: seam runs watch {}", started.run_id);
    }
    Ok(Exit::Ok)
}
