//! What every command gets: the global options, the output style, a database connection on
//! demand, the operator's name, and run-id resolution.

use std::path::PathBuf;
use std::time::Duration;

use seam_engine::store::inspect;
use seam_engine::{EngineError, Operator, RunId};
use seam_pgkit::{LocalOptions, redact};
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;
use uuid::Uuid;

use crate::args::GlobalArgs;
use crate::args::parse::RunRef;
use crate::error::{CliError, Result};
use crate::output::Out;

/// How long a command waits for a database connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// A command's context.
pub struct Ctx {
    /// The global options.
    pub global: GlobalArgs,
    /// How output looks.
    pub out: Out,
}

impl Ctx {
    /// Where `seam dev` and `seam demo` find their database: `--database-url` /
    /// `DATABASE_URL` when given, else a local cluster in `data_dir`. Says so when it will
    /// start (or reuse) the local cluster.
    pub fn local_options(&self, data_dir: PathBuf, port: Option<u16>) -> LocalOptions {
        let database_url = self
            .global
            .database_url
            .clone()
            .filter(|u| !u.trim().is_empty());
        if database_url.is_none() {
            eprintln!("starting PostgreSQL in {} ...", data_dir.display());
        }
        LocalOptions {
            database_url,
            data_dir,
            port,
        }
    }

    /// The context for these options.
    pub fn new(global: GlobalArgs) -> Self {
        let out = Out::detect(global.json);
        Ctx { global, out }
    }

    /// The configured database URL.
    pub fn database_url(&self) -> Result<&str> {
        self.global
            .database_url
            .as_deref()
            .filter(|u| !u.trim().is_empty())
            .ok_or(CliError::NoDatabase)
    }

    /// A small pool on the configured database.
    pub async fn connect(&self) -> Result<PgPool> {
        let url = self.database_url()?.to_string();
        self.connect_to(&url, 4).await
    }

    /// A pool of up to `max` connections on `url`.
    pub async fn connect_to(&self, url: &str, max: u32) -> Result<PgPool> {
        if self.global.verbose {
            eprintln!("database: {}", redact(url));
            eprintln!("actor:    operator:{}", self.actor_name());
        }
        PgPoolOptions::new()
            .max_connections(max)
            .acquire_timeout(CONNECT_TIMEOUT)
            .connect(url)
            .await
            .map_err(|e| CliError::Connect {
                url: redact(url),
                reason: e.to_string(),
            })
    }

    /// The operator's name: `--actor`, `$SEAM_ACTOR`, `$USER`, `$LOGNAME`, or `whoami`.
    pub fn actor_name(&self) -> String {
        let from_env = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
        self.global
            .actor
            .clone()
            .filter(|a| !a.trim().is_empty())
            .or_else(|| from_env("USER"))
            .or_else(|| from_env("LOGNAME"))
            .or_else(whoami)
            .unwrap_or_else(|| "unknown".to_string())
    }

    /// The actor recorded in history: `operator:<name>`.
    pub fn operator_actor(&self) -> String {
        seam_engine::Actor::operator(&self.actor_name()).to_string()
    }

    /// Operator actions recorded as `operator:<name>`.
    pub fn operator(&self, pool: &PgPool) -> Operator {
        Operator::new(pool.clone(), &self.actor_name())
    }

    /// The run a full id or a unique prefix names.
    pub async fn resolve(&self, pool: &PgPool, run: &RunRef) -> Result<RunId> {
        let prefix = match run {
            RunRef::Id(id) => return Ok(*id),
            RunRef::Prefix(p) => p,
        };
        let bound = |fill: char| {
            Uuid::parse_str(&pad(prefix, fill))
                .map_err(|e| CliError::Usage(format!("bad run id prefix {prefix}: {e}")))
        };
        let (lo, hi) = (bound('0')?, bound('f')?);
        let mut conn = pool.acquire().await.map_err(EngineError::from)?;
        let ids = inspect::run_ids_between(&mut conn, lo, hi, 3).await?;
        match ids.as_slice() {
            [id] => Ok(*id),
            [] => Err(CliError::failed(format!(
                "no run id starts with {prefix} (see `seam runs list`)"
            ))),
            many => Err(CliError::failed(format!(
                "run id prefix {prefix} is ambiguous: it matches {}{}; give more digits",
                many.iter()
                    .take(2)
                    .map(|i| i.to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
                if many.len() > 2 { ", ..." } else { "" }
            ))),
        }
    }
}

fn pad(prefix: &str, fill: char) -> String {
    let mut s = prefix.to_string();
    while s.len() < 32 {
        s.push(fill);
    }
    s
}

fn whoami() -> Option<String> {
    let out = std::process::Command::new("whoami").output().ok()?;
    let name = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (!name.is_empty()).then_some(name)
}
