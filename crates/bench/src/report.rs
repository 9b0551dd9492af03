//! The benchmark's figures: a table for people, then one JSON line (the last line of
//! stdout) for tools. A part that was skipped has `null` figures.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::parts::latency::Latency;
use crate::parts::seam::Throughput;

/// Targets the issue sets, for the PASS/MISS lines.
const SEAM_VS_APALIS: f64 = 3.0;
const SEAM_VS_RAW: f64 = 0.5;
const STEP_P50_MS: f64 = 5.0;
const STEP_P99_MS: f64 = 25.0;
const HISTORY_RATIO: f64 = 0.8;

/// Everything measured.
#[derive(Debug, Default)]
pub struct Results {
    pub runs: u64,
    pub concurrency: usize,
    pub server: String,
    pub seam: Vec<Throughput>,
    pub raw: Vec<Throughput>,
    pub apalis_default: Option<Throughput>,
    pub apalis_tuned: Option<Throughput>,
    /// apalis stopped making progress: its figure covers the steps before the stall.
    pub apalis_default_stalled: bool,
    pub apalis_tuned_stalled: bool,
    pub apalis_note: Option<String>,
    pub latency: Option<Latency>,
    pub history: Option<History>,
    pub elapsed_s: f64,
}

/// The large-history measurement and its paired baseline.
#[derive(Debug, Clone, Copy)]
pub struct History {
    pub finished: u64,
    pub waiting: u64,
    pub empty: Throughput,
    pub large: Throughput,
}

fn best(ts: &[Throughput]) -> Option<Throughput> {
    ts.iter()
        .copied()
        .max_by(|a, b| a.steps_per_s().total_cmp(&b.steps_per_s()))
}

/// The JSON line.
#[derive(Debug, Serialize)]
pub struct Figures {
    pub seam_steps_per_s: Option<f64>,
    pub seam_best_workers: Option<usize>,
    pub seam_steps_per_s_by_workers: BTreeMap<usize, f64>,
    pub raw_steps_per_s: Option<f64>,
    pub raw_steps_per_s_by_workers: BTreeMap<usize, f64>,
    pub apalis_default_steps_per_s: Option<f64>,
    pub apalis_tuned_steps_per_s: Option<f64>,
    pub apalis_default_stalled: Option<bool>,
    pub apalis_tuned_stalled: Option<bool>,
    pub seam_vs_apalis_default: Option<f64>,
    pub seam_vs_raw: Option<f64>,
    pub step_latency_p50_ms: Option<f64>,
    pub step_latency_p95_ms: Option<f64>,
    pub step_latency_p99_ms: Option<f64>,
    pub run_latency_p50_ms: Option<f64>,
    pub run_latency_p95_ms: Option<f64>,
    pub run_latency_p99_ms: Option<f64>,
    pub large_history_ratio: Option<f64>,
    pub large_history_steps_per_s: Option<f64>,
    pub large_history_baseline_steps_per_s: Option<f64>,
    pub history_finished_runs: Option<u64>,
    pub history_waiting_runs: Option<u64>,
    pub worker_rss_mb: Option<f64>,
    pub runs: u64,
    pub concurrency: usize,
    pub elapsed_s: f64,
}

fn round(x: f64, digits: i32) -> f64 {
    let f = 10f64.powi(digits);
    (x * f).round() / f
}

impl Results {
    pub fn figures(&self) -> Figures {
        let seam = best(&self.seam);
        let raw = best(&self.raw);
        let sps = |t: Option<Throughput>| t.map(|t| round(t.steps_per_s(), 1));
        let ratio = |a: Option<Throughput>, b: Option<Throughput>| match (a, b) {
            (Some(a), Some(b)) => Some(round(a.steps_per_s() / b.steps_per_s(), 3)),
            _ => None,
        };
        let by = |ts: &[Throughput]| {
            ts.iter()
                .map(|t| (t.workers, round(t.steps_per_s(), 1)))
                .collect()
        };
        let lat = self.latency;
        let ms = |f: fn(&Latency) -> f64| lat.as_ref().map(|l| round(f(l), 2));
        let rss = self
            .seam
            .iter()
            .filter_map(|t| t.peak_rss_kib)
            .max()
            .map(|kib| round(kib as f64 / 1024.0, 1));
        Figures {
            seam_steps_per_s: sps(seam),
            seam_best_workers: seam.map(|t| t.workers),
            seam_steps_per_s_by_workers: by(&self.seam),
            raw_steps_per_s: sps(raw),
            raw_steps_per_s_by_workers: by(&self.raw),
            apalis_default_steps_per_s: sps(self.apalis_default),
            apalis_tuned_steps_per_s: sps(self.apalis_tuned),
            apalis_default_stalled: self.apalis_default.map(|_| self.apalis_default_stalled),
            apalis_tuned_stalled: self.apalis_tuned.map(|_| self.apalis_tuned_stalled),
            seam_vs_apalis_default: ratio(seam, self.apalis_default),
            seam_vs_raw: ratio(seam, raw),
            step_latency_p50_ms: ms(|l| l.step.p50),
            step_latency_p95_ms: ms(|l| l.step.p95),
            step_latency_p99_ms: ms(|l| l.step.p99),
            run_latency_p50_ms: ms(|l| l.run.p50),
            run_latency_p95_ms: ms(|l| l.run.p95),
            run_latency_p99_ms: ms(|l| l.run.p99),
            large_history_ratio: self
                .history
                .and_then(|h| ratio(Some(h.large), Some(h.empty))),
            large_history_steps_per_s: sps(self.history.map(|h| h.large)),
            large_history_baseline_steps_per_s: sps(self.history.map(|h| h.empty)),
            history_finished_runs: self.history.map(|h| h.finished),
            history_waiting_runs: self.history.map(|h| h.waiting),
            worker_rss_mb: rss,
            runs: self.runs,
            concurrency: self.concurrency,
            elapsed_s: round(self.elapsed_s, 1),
        }
    }

    /// The table, then the JSON line.
    pub fn print(&self) -> anyhow::Result<()> {
        let f = self.figures();
        println!(
            "seam-bench: {} runs x 3 no-op steps per measurement, concurrency {} per worker",
            self.runs, self.concurrency
        );
        println!("server: {}", self.server);
        println!();
        println!(
            "{:<34} {:<34} {:>10} {:>9}",
            "part", "setup", "steps/s", "elapsed"
        );
        let row = |part: &str, setup: String, t: &Throughput| {
            println!(
                "{part:<34} {setup:<34} {:>10.0} {:>8.1}s",
                t.steps_per_s(),
                t.elapsed.as_secs_f64()
            );
        };
        for t in &self.seam {
            row("seam", plural(t.workers, "worker process"), t);
        }
        for t in &self.raw {
            row("raw SQL ceiling", plural(t.workers, "claim loop"), t);
        }
        let stalled = |s: bool, t: &Throughput| {
            if s {
                format!(" STALLED after {} steps", t.steps)
            } else {
                String::new()
            }
        };
        if let Some(t) = &self.apalis_default {
            let setup = format!(
                "1 worker, pubsub{}",
                stalled(self.apalis_default_stalled, t)
            );
            row("apalis-postgres default", setup, t);
        }
        if let Some(t) = &self.apalis_tuned {
            let setup = format!(
                "{}, pubsub, batch 100{}",
                plural(t.workers, "worker"),
                stalled(self.apalis_tuned_stalled, t)
            );
            row("apalis-postgres tuned", setup, t);
        }
        if let Some(note) = &self.apalis_note {
            println!("{:<34} {note}", "apalis-postgres");
        }
        if let Some(h) = &self.history {
            row(
                "seam, empty tables (baseline)",
                plural(h.empty.workers, "worker process"),
                &h.empty,
            );
            row(
                "seam, large history",
                format!(
                    "{}k finished + {}k waiting",
                    h.finished / 1000,
                    h.waiting / 1000
                ),
                &h.large,
            );
        }
        println!();
        if let Some(l) = &self.latency {
            println!(
                "latency, idle, 1 worker, {} runs one at a time (ms)",
                l.runs
            );
            println!("{:<34} {:>8} {:>8} {:>8}", "", "p50", "p95", "p99");
            for (name, p) in [
                ("step completion -> next step start", l.step),
                ("run start -> run end", l.run),
            ] {
                println!("{name:<34} {:>8.2} {:>8.2} {:>8.2}", p.p50, p.p95, p.p99);
            }
            println!();
        }
        if let Some(mb) = f.worker_rss_mb {
            println!(
                "peak RSS of a worker process at concurrency {}: {mb:.1} MB",
                self.concurrency
            );
        }
        println!("total time: {:.0}s", self.elapsed_s);
        println!();
        self.print_targets(&f);
        println!("{}", serde_json::to_string(&f)?);
        Ok(())
    }

    fn print_targets(&self, f: &Figures) {
        let check = |name: &str, value: Option<f64>, ok: &dyn Fn(f64) -> bool, shown: String| {
            let verdict = match value {
                Some(v) if ok(v) => "PASS",
                Some(_) => "MISS",
                None => "n/a ",
            };
            println!("target {verdict}  {name:<44} {shown}");
        };
        let show =
            |v: Option<f64>, unit: &str| v.map_or("not measured".into(), |v| format!("{v}{unit}"));
        check(
            "seam >= 3x apalis-postgres default",
            f.seam_vs_apalis_default,
            &|v| v >= SEAM_VS_APALIS,
            show(f.seam_vs_apalis_default, "x"),
        );
        check(
            "seam >= 50% of the raw SQL ceiling",
            f.seam_vs_raw,
            &|v| v >= SEAM_VS_RAW,
            show(f.seam_vs_raw.map(|v| round(v * 100.0, 1)), "%"),
        );
        check(
            "idle step-to-step p50 <= 5 ms",
            f.step_latency_p50_ms,
            &|v| v <= STEP_P50_MS,
            show(f.step_latency_p50_ms, " ms"),
        );
        check(
            "idle step-to-step p99 <= 25 ms",
            f.step_latency_p99_ms,
            &|v| v <= STEP_P99_MS,
            show(f.step_latency_p99_ms, " ms"),
        );
        check(
            "large history >= 80% of empty",
            f.large_history_ratio,
            &|v| v >= HISTORY_RATIO,
            show(f.large_history_ratio.map(|v| round(v * 100.0, 1)), "%"),
        );
        println!();
    }
}

/// "1 worker process", "4 worker processes".
fn plural(n: usize, what: &str) -> String {
    let suffix = match (n, what.ends_with('s')) {
        (1, _) => "",
        (_, true) => "es",
        (_, false) => "s",
    };
    format!("{n} {what}{suffix}")
}
