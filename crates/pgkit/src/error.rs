//! The crate's error type.

use std::io;

/// Everything that can go wrong while finding, starting or using a PostgreSQL server.
///
/// URLs inside these errors are always passed through [`crate::redact`] first, so an
/// error message never contains a password.
#[derive(Debug, thiserror::Error)]
pub enum PgkitError {
    /// A server was named (e.g. by `DATABASE_URL`) but could not be reached.
    #[error(
        "cannot connect to PostgreSQL at {url}: {reason} \
         (check that the server is running, or unset DATABASE_URL to use a local one)"
    )]
    Unreachable {
        /// The redacted URL that was tried.
        url: String,
        /// Why the connection failed.
        reason: String,
    },

    /// `initdb` / `pg_ctl` could not be found anywhere.
    #[error(
        "PostgreSQL server binaries (initdb, pg_ctl) not found; looked in: {searched}. \
         Install PostgreSQL (e.g. `apt-get install postgresql`) or set DATABASE_URL \
         to an existing server"
    )]
    NoBinaries {
        /// The places that were searched, comma separated.
        searched: String,
    },

    /// Running as root, but there is no unprivileged user to run PostgreSQL as.
    #[error(
        "running as root, but PostgreSQL refuses to run as root and neither user `postgres` \
         nor `nobody` exists; create a `postgres` user or set DATABASE_URL"
    )]
    NoUnprivilegedUser,

    /// An external command (initdb, pg_ctl, chown, ...) failed.
    #[error("`{command}` failed ({status}): {output}")]
    Command {
        /// The command line that was run.
        command: String,
        /// Its exit status, or why it could not be started.
        status: String,
        /// The tail of its output (stdout and stderr), or of the server log.
        output: String,
    },

    /// A file-system operation failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done, including the path.
        context: String,
        /// The underlying error.
        #[source]
        source: io::Error,
    },

    /// A SQL statement failed.
    #[error("{context}: {source}")]
    Sql {
        /// What was being done.
        context: String,
        /// The underlying error.
        #[source]
        source: sqlx::Error,
    },

    /// Something did not happen in time.
    #[error("timed out after {seconds} s waiting for {what}")]
    Timeout {
        /// What was awaited.
        what: String,
        /// How long we waited.
        seconds: u64,
    },

    /// The data directory exists, holds files, and is not a PostgreSQL cluster.
    #[error(
        "data directory {path} is not empty and is not a PostgreSQL cluster \
         (no PG_VERSION file); remove it or choose another data directory"
    )]
    NotACluster {
        /// The offending directory.
        path: String,
    },

    /// A database name is not acceptable.
    #[error("invalid database name {name:?}: {reason}")]
    InvalidName {
        /// The name that was given.
        name: String,
        /// Why it was refused.
        reason: String,
    },

    /// The `init` callback of [`crate::TestDb::from_template`] failed.
    #[error("initialising template database {template} failed: {message}")]
    TemplateInit {
        /// The template database name.
        template: String,
        /// The message the callback returned.
        message: String,
    },
}

impl PgkitError {
    /// Builds an [`PgkitError::Io`] error with some context.
    pub(crate) fn io(context: impl Into<String>, source: io::Error) -> Self {
        PgkitError::Io {
            context: context.into(),
            source,
        }
    }

    /// Builds an [`PgkitError::Sql`] error with some context.
    pub(crate) fn sql(context: impl Into<String>, source: sqlx::Error) -> Self {
        PgkitError::Sql {
            context: context.into(),
            source,
        }
    }
}
