//! A lock file that serialises cluster set-up between threads and processes.
//!
//! Uses an advisory `flock` on `<data_dir>.lock` (via [`std::fs::File::try_lock`]): the
//! operating system releases it when the holder exits, even after a crash, so a stale lock
//! can never block later runs. The file itself is left in place.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::PgkitError;

/// How often to retry a lock that someone else holds.
const RETRY: Duration = Duration::from_millis(50);

/// An exclusive lock, held until dropped.
#[derive(Debug)]
pub(crate) struct DirLock {
    _file: File,
}

impl DirLock {
    /// The lock file that guards `data_dir`: a sibling named `<data_dir>.lock`.
    pub(crate) fn path_for(data_dir: &Path) -> PathBuf {
        let mut name = data_dir.as_os_str().to_owned();
        name.push(".lock");
        PathBuf::from(name)
    }

    /// Waits (up to `timeout`) for the exclusive lock on `path`, creating the file if needed.
    pub(crate) async fn acquire(path: &Path, timeout: Duration) -> Result<Self, PgkitError> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| PgkitError::io(format!("creating {}", parent.display()), e))?;
        }
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .map_err(|e| PgkitError::io(format!("opening lock file {}", path.display()), e))?;
        let start = Instant::now();
        let mut logged = false;
        loop {
            match file.try_lock() {
                Ok(()) => return Ok(DirLock { _file: file }),
                Err(TryLockError::WouldBlock) => {}
                Err(TryLockError::Error(e)) => {
                    return Err(PgkitError::io(format!("locking {}", path.display()), e));
                }
            }
            if start.elapsed() >= timeout {
                return Err(PgkitError::Timeout {
                    what: format!("lock file {}", path.display()),
                    seconds: timeout.as_secs(),
                });
            }
            if !logged {
                tracing::info!(lock = %path.display(), "waiting for another process to finish setting up PostgreSQL");
                logged = true;
            }
            tokio::time::sleep(RETRY).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn second_locker_waits_for_first() {
        let dir = std::env::temp_dir().join(format!("seam-pgkit-lock-{}", std::process::id()));
        let path = DirLock::path_for(&dir);
        let first = DirLock::acquire(&path, Duration::from_secs(1))
            .await
            .unwrap();
        let err = DirLock::acquire(&path, Duration::from_millis(200)).await;
        assert!(matches!(err, Err(PgkitError::Timeout { .. })));
        drop(first);
        DirLock::acquire(&path, Duration::from_secs(1))
            .await
            .unwrap();
        let _ = std::fs::remove_file(&path);
    }
}
