//! Finding the PostgreSQL server programs (`initdb`, `pg_ctl`).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::PgkitError;

/// Where the distribution packages put each major version (Debian/Ubuntu layout).
const DEBIAN_ROOT: &str = "/usr/lib/postgresql";

/// A directory holding `initdb` and `pg_ctl`.
#[derive(Debug, Clone)]
pub(crate) struct PgBinaries {
    bindir: PathBuf,
}

impl PgBinaries {
    /// Looks for the server programs: `pg_config --bindir`, then the newest
    /// `/usr/lib/postgresql/*/bin`, then `PATH`.
    pub(crate) fn find() -> Result<Self, PgkitError> {
        let mut searched = Vec::new();

        searched.push("`pg_config --bindir`".to_string());
        if let Some(dir) = pg_config_bindir().filter(|d| has_server_programs(d)) {
            return Ok(Self::at(dir));
        }

        searched.push(format!("{DEBIAN_ROOT}/*/bin"));
        if let Some(dir) = newest_debian_bindir() {
            return Ok(Self::at(dir));
        }

        searched.push("PATH".to_string());
        let path = std::env::var_os("PATH").unwrap_or_default();
        if let Some(dir) = std::env::split_paths(&path).find(|d| has_server_programs(d)) {
            return Ok(Self::at(dir));
        }

        Err(PgkitError::NoBinaries {
            searched: searched.join(", "),
        })
    }

    fn at(bindir: PathBuf) -> Self {
        tracing::debug!(bindir = %bindir.display(), "using PostgreSQL binaries");
        Self { bindir }
    }

    /// Full path of program `name` (e.g. `"pg_ctl"`) in this directory.
    pub(crate) fn program(&self, name: &str) -> PathBuf {
        self.bindir.join(name)
    }
}

/// True if `dir` contains both `initdb` and `pg_ctl`.
fn has_server_programs(dir: &Path) -> bool {
    dir.join("initdb").is_file() && dir.join("pg_ctl").is_file()
}

/// Output of `pg_config --bindir`, if that program exists and works.
fn pg_config_bindir() -> Option<PathBuf> {
    let out = Command::new("pg_config")
        .arg("--bindir")
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    let text = String::from_utf8(out.stdout).ok()?;
    let dir = text.trim();
    (out.status.success() && !dir.is_empty()).then(|| PathBuf::from(dir))
}

/// The `bin` directory of the highest version under `/usr/lib/postgresql`.
fn newest_debian_bindir() -> Option<PathBuf> {
    let entries = std::fs::read_dir(DEBIAN_ROOT).ok()?;
    entries
        .filter_map(Result::ok)
        .filter_map(|e| {
            let version = version_key(&e.file_name().to_string_lossy())?;
            let bin = e.path().join("bin");
            has_server_programs(&bin).then_some((version, bin))
        })
        .max()
        .map(|(_, bin)| bin)
}

/// `"15"` -> `[15]`, `"9.6"` -> `[9, 6]`; `None` for names that are not versions.
fn version_key(name: &str) -> Option<Vec<u32>> {
    name.split('.').map(|p| p.parse().ok()).collect()
}

#[cfg(test)]
mod tests {
    use super::version_key;

    #[test]
    fn versions_sort_numerically() {
        assert!(version_key("10") > version_key("9.6"));
        assert!(version_key("16") > version_key("15"));
        assert_eq!(version_key("main"), None);
    }
}
