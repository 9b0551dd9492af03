//! The CLI's error type and how each error maps to a message and an exit code.

use std::process::ExitCode;

use seam_engine::EngineError;
use seam_pgkit::PgkitError;

/// Result alias of the CLI.
pub type Result<T, E = CliError> = std::result::Result<T, E>;

/// SQLSTATE `undefined_table`: the `seam` schema is missing.
const UNDEFINED_TABLE: &str = "42P01";

/// Everything a command can fail with. All of them exit 1, except [`CliError::Usage`] (2).
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// No database configured.
    #[error(
        "no database configured: set DATABASE_URL or pass --database-url \
         (`seam dev` starts a local PostgreSQL and prints the URL)"
    )]
    NoDatabase,
    /// The database could not be reached.
    #[error("cannot connect to the database at {url}: {reason}")]
    Connect {
        /// The URL, password hidden.
        url: String,
        /// What went wrong.
        reason: String,
    },
    /// An engine call failed (refused action, unknown run, database error, ...).
    #[error("{}", describe_engine(.0))]
    Engine(#[from] EngineError),
    /// Finding or starting the local PostgreSQL failed.
    #[error(transparent)]
    Pgkit(#[from] PgkitError),
    /// A direct database error (examples setup).
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// Writing output failed.
    #[error("output error: {0}")]
    Io(#[from] std::io::Error),
    /// Arguments that parse but do not make sense together.
    #[error("{0}")]
    Usage(String),
    /// Any other failure, with its message.
    #[error("{0}")]
    Failed(String),
}

impl CliError {
    /// A failure with this message.
    pub fn failed(msg: impl Into<String>) -> Self {
        CliError::Failed(msg.into())
    }

    /// 2 for usage errors, 1 for the rest; 0 for a closed stdout (`seam runs list | head`).
    pub fn exit_code(&self) -> ExitCode {
        match self {
            CliError::Usage(_) => ExitCode::from(2),
            CliError::Io(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
            _ => ExitCode::FAILURE,
        }
    }

    /// Prints the error to stderr (nothing for a closed stdout).
    pub fn report(&self) {
        if let CliError::Io(e) = self
            && e.kind() == std::io::ErrorKind::BrokenPipe
        {
            return;
        }
        eprintln!("error: {self}");
    }
}

fn describe_engine(e: &EngineError) -> String {
    if let EngineError::Database(sqlx::Error::Database(db)) = e
        && db.code().as_deref() == Some(UNDEFINED_TABLE)
    {
        return "the database has no Seam schema yet (or an older one): run `seam migrate`"
            .to_string();
    }
    match e {
        EngineError::RunNotFound(id) => {
            format!("run {id} not found (see `seam runs list` for the runs there are)")
        }
        EngineError::UnknownWorkflow { workflow, version } => format!(
            "workflow {workflow}@{version} is not registered in this database: start a worker \
             that has it (its definition is stored when a worker or client registers it)"
        ),
        other => other.to_string(),
    }
}

impl From<seam_engine::UnknownState> for CliError {
    fn from(e: seam_engine::UnknownState) -> Self {
        CliError::Engine(e.into())
    }
}
