//! One module per command; [`run`] dispatches a parsed command line.

mod completions;
mod demo;
mod dev;
mod doctor;
mod migrate;
mod queues;
mod runs;
mod serve;
mod worker;
mod workers;

use std::process::ExitCode;

use crate::args::{Cli, Command};
use crate::context::Ctx;
use crate::error::Result;

/// How a command that ran to its end went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Success, healthy: exit 0.
    Ok,
    /// Ran, but the answer is bad (a refused repair, a stuck run, a failed run): exit 1.
    Failure,
    /// Stopped by Ctrl-C: exit 130.
    Interrupted,
}

impl Exit {
    fn code(self) -> ExitCode {
        match self {
            Exit::Ok => ExitCode::SUCCESS,
            Exit::Failure => ExitCode::FAILURE,
            Exit::Interrupted => ExitCode::from(130),
        }
    }
}

/// Runs the command.
pub async fn run(cli: Cli) -> Result<ExitCode> {
    let ctx = Ctx::new(cli.global);
    let exit = match cli.command {
        Command::Migrate => migrate::run(&ctx).await?,
        Command::Dev(args) => dev::run(&ctx, args).await?,
        Command::Demo(args) => demo::run(&ctx, args).await?,
        Command::Worker(args) => worker::run(&ctx, args).await?,
        Command::Runs(args) => runs::run(&ctx, args.command).await?,
        Command::Doctor => doctor::run(&ctx).await?,
        Command::Queues => queues::run(&ctx).await?,
        Command::Workers(args) => workers::run(&ctx, args).await?,
        Command::Completions(args) => completions::run(args)?,
    };
    Ok(exit.code())
}
