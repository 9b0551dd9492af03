//! Confirmation of destructive actions: ask on a terminal, refuse without one unless
//! `--yes` was given.

use std::io::{BufRead, IsTerminal, Write};

use crate::error::{CliError, Result};

/// Ok when the operator confirmed `question` (or passed `--yes`).
pub fn confirm(question: &str, yes: bool) -> Result<()> {
    if yes {
        return Ok(());
    }
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        return Err(CliError::failed(format!(
            "not confirmed: {question} Pass --yes to confirm when stdin is not a terminal"
        )));
    }
    let mut err = std::io::stderr().lock();
    write!(err, "{question} [y/N] ")?;
    err.flush()?;
    let mut answer = String::new();
    stdin.lock().read_line(&mut answer)?;
    match answer.trim().to_ascii_lowercase().as_str() {
        "y" | "yes" => Ok(()),
        _ => Err(CliError::failed("aborted: nothing changed")),
    }
}
