//! `seam dev`: the local all-in-one. Uses DATABASE_URL, or starts (and keeps between runs)
//! a PostgreSQL cluster under `./.seam/pg`; migrates; serves the example workflows in this
//! process; prints how to connect; on Ctrl-C stops the workers gracefully and the cluster
//! if it started it. `--reset` wipes the local cluster first.

use std::path::{Path, PathBuf};

use seam_pgkit::{LocalOptions, local_database, redact};

use super::{Exit, serve};
use crate::args::DevArgs;
use crate::context::Ctx;
use crate::error::{CliError, Result};
use crate::{examples, outln};

/// Runs until Ctrl-C.
pub async fn run(ctx: &Ctx, args: DevArgs) -> Result<Exit> {
    // From here on Ctrl-C means "stop cleanly": even during start-up it shuts the worker
    // down as soon as it runs, and stops the cluster.
    let stop = serve::ctrl_c();
    let data_dir = std::path::absolute(&args.data_dir)?;
    if args.reset {
        reset(ctx, &data_dir, args.port).await?;
    }
    let opts = ctx.local_options(data_dir.clone(), args.port);
    let db = local_database(&opts).await?;
    let cluster = db.data_dir().map(Path::to_path_buf);
    let started = db.started();
    let result = serve(ctx, &args, db.url(), cluster.as_deref(), stop).await;
    if started {
        eprintln!("stopping PostgreSQL ...");
    }
    let stopped = db.stop().await;
    result?;
    stopped?;
    if started {
        eprintln!(
            "PostgreSQL stopped; its data is kept in {}",
            data_dir.display()
        );
    }
    Ok(Exit::Ok)
}

async fn serve(
    ctx: &Ctx,
    args: &DevArgs,
    url: &str,
    cluster: Option<&Path>,
    stop: impl std::future::Future<Output = ()>,
) -> Result<Exit> {
    let pool = ctx
        .connect_to(url, args.worker.concurrency as u32 + 6)
        .await?;
    let applied = seam_engine::migrate(&pool).await?;
    examples::prepare(&pool).await?;
    let workflows = examples::all()?;
    let worker = serve::worker(&pool, &args.worker, &workflows, "dev")?;
    let (pins, queues) = serve::describe(&workflows, &args.worker);
    let shown = redact(url);
    outln!("Seam dev is running.")?;
    match cluster {
        Some(dir) => outln!(
            "  database    {shown}\n              local cluster in {} (kept between runs; `seam dev --reset` wipes it)",
            dir.display()
        )?,
        None => outln!("  database    {shown} (from DATABASE_URL)")?,
    }
    let migrations = if applied.is_empty() {
        "up to date".to_string()
    } else {
        let names: Vec<&str> = applied.iter().map(|m| m.name).collect();
        format!("applied {}", names.join(", "))
    };
    outln!("  migrations  {migrations}")?;
    outln!(
        "  worker      {} ({}): queues {queues}\n              workflows {pins}",
        args.worker
            .name
            .clone()
            .unwrap_or_else(|| format!("dev-{}", std::process::id())),
        worker.id()
    )?;
    outln!()?;
    outln!("In another terminal:")?;
    outln!("  export DATABASE_URL='{shown}'")?;
    outln!("  seam runs start hello-order --input '{{\"order\": \"A-1\", \"qty\": 2}}'")?;
    outln!("  seam runs start flaky-import --input '{{\"broken\": true}}'")?;
    outln!("  seam runs list")?;
    outln!("  seam doctor")?;
    outln!()?;
    outln!("Ctrl-C stops everything.")?;
    worker.run_until(stop).await?;
    eprintln!("workers stopped");
    pool.close().await;
    Ok(Exit::Ok)
}

/// Deletes the local cluster in `data_dir` (stopping it first when it runs).
async fn reset(ctx: &Ctx, data_dir: &Path, port: Option<u16>) -> Result<()> {
    if ctx
        .global
        .database_url
        .as_deref()
        .is_some_and(|u| !u.trim().is_empty())
    {
        return Err(CliError::Usage(
            "--reset wipes only the local cluster under ./.seam, but DATABASE_URL is set; \
             unset it (seam never wipes a configured database)"
                .into(),
        ));
    }
    if !data_dir.exists() {
        eprintln!("nothing to reset: {} does not exist", data_dir.display());
        return Ok(());
    }
    let opts = LocalOptions {
        database_url: None,
        data_dir: data_dir.to_path_buf(),
        port,
    };
    let db = local_database(&opts).await?;
    if !db.started() {
        return Err(CliError::failed(format!(
            "a PostgreSQL server is running in {} that this command did not start (another \
             `seam dev`?); stop it first",
            db.data_dir().unwrap_or(data_dir).display()
        )));
    }
    let real: Option<PathBuf> = db.data_dir().map(Path::to_path_buf);
    db.stop().await?;
    for dir in std::iter::once(data_dir.to_path_buf()).chain(real) {
        if dir.exists() {
            std::fs::remove_dir_all(&dir).map_err(|e| {
                CliError::failed(format!("could not remove {}: {e}", dir.display()))
            })?;
        }
    }
    eprintln!("reset: removed the local cluster in {}", data_dir.display());
    Ok(())
}
