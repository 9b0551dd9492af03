//! Running PostgreSQL programs as an unprivileged user when we are root.
//!
//! PostgreSQL refuses to run as root. When the effective uid is 0 the server programs are run
//! through `runuser -u <user> --` (or `su <user> -s /bin/sh -c ...` where `runuser` is
//! missing), as user `postgres`, or `nobody` if there is no `postgres` user.

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};

use tokio::process::Command;

use crate::PgkitError;

/// How the PostgreSQL programs are run.
#[derive(Debug, Clone)]
pub(crate) enum RunAs {
    /// Directly, as the current (non-root) user.
    Current,
    /// Through `runuser -u <user> --`.
    Runuser {
        /// Path of the `runuser` program.
        runuser: PathBuf,
        /// The unprivileged user.
        user: String,
    },
    /// Through `su <user> -s /bin/sh -c <command>`.
    Su {
        /// The unprivileged user.
        user: String,
    },
}

impl RunAs {
    /// Decides how to run the server programs for the current process.
    pub(crate) fn detect() -> Result<Self, PgkitError> {
        if !is_root() {
            return Ok(RunAs::Current);
        }
        let user = ["postgres", "nobody"]
            .into_iter()
            .find(|u| user_exists(u))
            .ok_or(PgkitError::NoUnprivilegedUser)?
            .to_string();
        let run_as = match find_in_path("runuser") {
            Some(runuser) => RunAs::Runuser { runuser, user },
            None => RunAs::Su { user },
        };
        tracing::info!(
            user = run_as.user().unwrap_or_default(),
            "running as root: PostgreSQL programs will run as an unprivileged user"
        );
        Ok(run_as)
    }

    /// The unprivileged user, or `None` when running as the current user.
    pub(crate) fn user(&self) -> Option<&str> {
        match self {
            RunAs::Current => None,
            RunAs::Runuser { user, .. } | RunAs::Su { user } => Some(user),
        }
    }

    /// A command that runs `program args...` as the right user, with no stdin and with `/`
    /// as working directory (the unprivileged user may not be able to enter ours).
    pub(crate) fn command(&self, program: &OsStr, args: &[OsString]) -> Command {
        let mut cmd = match self {
            RunAs::Current => {
                let mut c = Command::new(program);
                c.args(args);
                c
            }
            RunAs::Runuser { runuser, user } => {
                let mut c = Command::new(runuser);
                c.arg("-u").arg(user).arg("--").arg(program).args(args);
                c
            }
            RunAs::Su { user } => {
                let line = std::iter::once(program)
                    .chain(args.iter().map(OsString::as_os_str))
                    .map(|a| shell_quote(&a.to_string_lossy()))
                    .collect::<Vec<_>>()
                    .join(" ");
                let mut c = Command::new("su");
                c.arg(user).arg("-s").arg("/bin/sh").arg("-c").arg(line);
                c
            }
        };
        cmd.current_dir("/")
            .stdin(Stdio::null())
            .kill_on_drop(false);
        cmd
    }

    /// True if the PostgreSQL user can reach and enter `dir` (every parent must be searchable).
    pub(crate) async fn can_enter(&self, dir: &Path) -> bool {
        if matches!(self, RunAs::Current) {
            return true;
        }
        let args = [OsString::from("-x"), dir.as_os_str().to_owned()];
        let mut cmd = self.command(OsStr::new("test"), &args);
        cmd.stdout(Stdio::null()).stderr(Stdio::null());
        matches!(cmd.status().await, Ok(s) if s.success())
    }

    /// Gives `dir` and everything in it to the PostgreSQL user (no-op when not root).
    pub(crate) async fn chown(&self, dir: &Path) -> Result<(), PgkitError> {
        let Some(user) = self.user() else {
            return Ok(());
        };
        tracing::info!(dir = %dir.display(), user, "chown -R");
        let mut cmd = Command::new("chown");
        cmd.arg("-R").arg(format!("{user}:")).arg(dir);
        cmd.stdin(Stdio::null());
        run(cmd).await.map(drop)
    }
}

/// Runs `cmd`, capturing its output; an error (with the output's tail) if it fails.
pub(crate) async fn run(mut cmd: Command) -> Result<Output, PgkitError> {
    let shown = describe(&cmd);
    tracing::debug!(command = %shown, "running");
    let out = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .await
        .map_err(|e| PgkitError::Command {
            command: shown.clone(),
            status: "could not start".into(),
            output: e.to_string(),
        })?;
    if out.status.success() {
        Ok(out)
    } else {
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        Err(PgkitError::Command {
            command: shown,
            status: out.status.to_string(),
            output: tail(&text, 30),
        })
    }
}

/// The command line of `cmd`, for messages.
pub(crate) fn describe(cmd: &Command) -> String {
    let std = cmd.as_std();
    std::iter::once(std.get_program())
        .chain(std.get_args())
        .map(|a| a.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The last `lines` lines of `text`, trimmed.
pub(crate) fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.trim().lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// True if the effective uid is 0 (asks `id -u`; no `unsafe` needed).
fn is_root() -> bool {
    std::process::Command::new("id")
        .arg("-u")
        .stdin(Stdio::null())
        .output()
        .map(|o| o.status.success() && String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// True if the system knows user `name`.
fn user_exists(name: &str) -> bool {
    std::process::Command::new("id")
        .arg("-u")
        .arg(name)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// Finds an executable in `PATH`, `/usr/sbin` or `/sbin`.
fn find_in_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/sbin")])
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// Quotes `s` for `/bin/sh`.
pub(crate) fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_for_sh() {
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
    }

    #[test]
    fn tail_keeps_last_lines() {
        assert_eq!(tail("a\nb\nc\n", 2), "b\nc");
        assert_eq!(tail("a", 5), "a");
    }
}
