//! `seam completions SHELL`: the completion script, generated from the clap types.

use clap::CommandFactory;

use super::Exit;
use crate::args::{Cli, CompletionsArgs};
use crate::error::Result;

/// Prints the completion script for the shell to stdout.
pub fn run(args: CompletionsArgs) -> Result<Exit> {
    let mut cmd = Cli::command();
    let mut out = std::io::stdout().lock();
    clap_complete::generate(args.shell, &mut cmd, "seam", &mut out);
    Ok(Exit::Ok)
}
