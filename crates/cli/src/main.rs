//! `seam`: parse the command line, run it, map errors to exit codes (usage errors exit 2
//! inside clap's parser).

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = seam_cli::args::Cli::parse();
    seam_cli::run(cli).unwrap_or_else(|e| {
        e.report();
        e.exit_code()
    })
}
