//! `seam-bench run`: every part, side by side on one server, each on its own database,
//! then the table and the JSON line.

use std::time::Instant;

use anyhow::bail;

use crate::cli::RunArgs;
use crate::db::{BenchDb, Server};
use crate::parts::{latency, raw, scale, seam};
use crate::progress;
use crate::report::{History, Results};

pub async fn run(args: RunArgs) -> anyhow::Result<()> {
    if args.runs == 0 || args.workers.is_empty() || args.workers.contains(&0) {
        bail!("--runs and every --workers count must be at least 1");
    }
    let started = Instant::now();
    let server = Server::open(&args).await?;
    let outcome = run_parts(&server, &args).await;
    server.close().await;
    let mut results = outcome?;
    results.elapsed_s = started.elapsed().as_secs_f64();
    results.print()
}

async fn run_parts(server: &Server, args: &RunArgs) -> anyhow::Result<Results> {
    let mut r = Results {
        runs: args.runs,
        concurrency: args.concurrency,
        server: format!("{} ({})", server.describe(), server.settings().await?),
        ..Results::default()
    };
    progress(format!("server: {}", r.server));
    let (n, c, pool) = (args.runs, args.concurrency, args.max_connections);

    progress(format!("seeding {n} Seam runs and {n} raw chains"));
    let seam_seed = seam::seed(server, "seam_seed", n).await?;
    let raw_seed = raw::seed(server, "raw_seed", n).await?;
    // Seam and the raw loop alternate, so both see the same machine at the same time.
    for &k in &args.workers {
        let db = server.copy(&format!("seam_{k}w"), &seam_seed).await?;
        let t = seam::measure(&db, n, k, c, pool).await?;
        server.drop_db(&db).await?;
        progress(format!(
            "seam, {k} worker process(es): {:.0} steps/s",
            t.steps_per_s()
        ));
        r.seam.push(t);

        let db = server.copy(&format!("raw_{k}w"), &raw_seed).await?;
        let t = raw::measure(&db, n, k, c, pool).await?;
        server.drop_db(&db).await?;
        progress(format!(
            "raw SQL, {k} loop(s): {:.0} steps/s",
            t.steps_per_s()
        ));
        r.raw.push(t);
    }
    server.drop_db(&raw_seed).await?;

    apalis(server, args, &mut r).await?;

    if !args.skip_latency {
        let latency_runs = args.latency_runs.unwrap_or((n / 25).clamp(20, 200));
        progress(format!("latency: {latency_runs} runs one at a time"));
        let l = latency::measure(server, latency_runs, c, pool).await?;
        progress(format!(
            "latency: step p50 {:.2} ms, p99 {:.2} ms; run p50 {:.2} ms",
            l.step.p50, l.step.p99, l.run.p50
        ));
        r.latency = Some(l);
    }

    if !args.skip_scale {
        r.history = Some(history(server, args, &seam_seed, &r).await?);
    }
    server.drop_db(&seam_seed).await?;
    Ok(r)
}

/// Throughput with a large history, against a baseline on empty tables measured just
/// before (same worker count, same machine state), so the ratio compares like with like.
async fn history(
    server: &Server,
    args: &RunArgs,
    seam_seed: &BenchDb,
    r: &Results,
) -> anyhow::Result<History> {
    let (n, c, pool) = (args.runs, args.concurrency, args.max_connections);
    let k = r
        .seam
        .iter()
        .max_by(|a, b| a.steps_per_s().total_cmp(&b.steps_per_s()))
        .map_or(2, |t| t.workers);
    let finished = args.history.unwrap_or(50 * n);
    let waiting = args.waiting.unwrap_or(5 * n);
    progress(format!(
        "large history: {finished} finished + {waiting} waiting runs, {k} worker(s)"
    ));
    let db = server.copy("history", seam_seed).await?;
    scale::fill_history(&db, finished, waiting).await?;
    let base = server.copy("history_baseline", seam_seed).await?;
    // Two rounds in opposite order (empty, large, then large, empty), each on N new runs;
    // the best of each side counts, so a burst of load elsewhere hurts neither alone.
    let mut empty = seam::measure(&base, n, k, c, pool).await?;
    let mut large = seam::measure(&db, n, k, c, pool).await?;
    progress(format!(
        "large history, round 1: {:.0} steps/s vs {:.0} on empty tables",
        large.steps_per_s(),
        empty.steps_per_s()
    ));
    seam::add_runs(&db, n).await?;
    seam::add_runs(&base, n).await?;
    let large2 = seam::measure(&db, n, k, c, pool).await?;
    let empty2 = seam::measure(&base, n, k, c, pool).await?;
    progress(format!(
        "large history, round 2: {:.0} steps/s vs {:.0} on empty tables",
        large2.steps_per_s(),
        empty2.steps_per_s()
    ));
    server.drop_db(&base).await?;
    server.drop_db(&db).await?;
    if large2.steps_per_s() > large.steps_per_s() {
        large = large2;
    }
    if empty2.steps_per_s() > empty.steps_per_s() {
        empty = empty2;
    }
    Ok(History {
        finished,
        waiting,
        empty,
        large,
    })
}

#[cfg(feature = "apalis")]
async fn apalis(server: &Server, args: &RunArgs, r: &mut Results) -> anyhow::Result<()> {
    use crate::parts::apalis::{Flavor, measure};
    if args.skip_apalis {
        r.apalis_note = Some("skipped (--skip-apalis)".into());
        return Ok(());
    }
    for flavor in [Flavor::Default, Flavor::Tuned] {
        progress(format!("apalis-postgres, {flavor:?} configuration"));
        let m = measure(server, args.runs, flavor, args.max_connections).await?;
        let t = m.throughput;
        progress(format!(
            "apalis-postgres {flavor:?}: {:.0} steps/s",
            t.steps_per_s()
        ));
        match flavor {
            Flavor::Default => (r.apalis_default, r.apalis_default_stalled) = (Some(t), m.stalled),
            Flavor::Tuned => (r.apalis_tuned, r.apalis_tuned_stalled) = (Some(t), m.stalled),
        }
    }
    Ok(())
}

#[cfg(not(feature = "apalis"))]
async fn apalis(_server: &Server, _args: &RunArgs, r: &mut Results) -> anyhow::Result<()> {
    r.apalis_note = Some("not built: the apalis feature is off (--no-default-features)".into());
    Ok(())
}
