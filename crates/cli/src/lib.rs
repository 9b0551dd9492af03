//! `seam`, Seam's operator tool: apply migrations, run Seam locally (`seam dev`,
//! `seam demo`, `seam worker`), and answer "what is stuck, why, and how do I get it moving
//! again" from a terminal (`seam doctor`, `seam runs list --stuck`, `seam runs show`, the
//! repairs, `seam queues`, `seam workers`).
//!
//! Layout: [`args`] holds every clap type; `commands/` one module per command; `output/`
//! tables, colours and time formatting; `diagnose` turns stuck-run findings into reasons
//! and fixing commands; [`examples`] the workflows built into the binary. All SQL lives in
//! the engine (`seam_engine::store`, read-only queries in `store::inspect`).

pub mod args;
mod commands;
mod context;
mod diagnose;
mod error;
pub mod examples;
mod output;

use std::io::IsTerminal;
use std::process::ExitCode;

pub use error::{CliError, Result};

/// Runs a parsed command line to its exit code (0 ok, 1 failure or needs a human).
/// Errors are returned for the caller to [report](CliError::report).
pub fn run(cli: args::Cli) -> Result<ExitCode> {
    // The demo fails a step on purpose: keep the engine's warnings about it out of the way.
    let quiet = matches!(cli.command, args::Command::Demo(_));
    init_tracing(cli.global.verbose, quiet);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(commands::run(cli))
}

fn init_tracing(verbose: bool, quiet: bool) {
    let default = match (verbose, quiet) {
        (true, _) => "info",
        (false, true) => "error",
        (false, false) => "warn",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let ansi = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
}
