//! Run, job and execution states: the vocabulary every layer shares.
//!
//! Each state's doc says which component moves work into it and out of it.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

macro_rules! string_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name {
            $($(#[$vmeta])* $variant),+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The name stored in the database.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl sqlx::Type<sqlx::Postgres> for $name {
            fn type_info() -> sqlx::postgres::PgTypeInfo {
                <&str as sqlx::Type<sqlx::Postgres>>::type_info()
            }
            fn compatible(ty: &sqlx::postgres::PgTypeInfo) -> bool {
                <&str as sqlx::Type<sqlx::Postgres>>::compatible(ty)
            }
        }

        impl<'r> sqlx::Decode<'r, sqlx::Postgres> for $name {
            fn decode(
                value: sqlx::postgres::PgValueRef<'r>,
            ) -> Result<Self, sqlx::error::BoxDynError> {
                let text = <&str as sqlx::Decode<sqlx::Postgres>>::decode(value)?;
                Ok(text.parse()?)
            }
        }

        impl TryFrom<String> for $name {
            type Error = crate::error::UnknownState;
            fn try_from(s: String) -> Result<Self, Self::Error> {
                s.parse()
            }
        }

        impl FromStr for $name {
            type Err = crate::error::UnknownState;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($text => Ok($name::$variant),)+
                    other => Err(crate::error::UnknownState {
                        kind: stringify!($name),
                        value: other.to_string(),
                    }),
                }
            }
        }
    };
}

string_enum! {
    /// Where a workflow run is in its life.
    RunStatus {
        /// Created by `Client::start`; left when its first job is claimed (worker) or it is
        /// paused or cancelled (operator).
        Pending => "pending",
        /// A task step is queued or executing. Entered from pending, waiting (a wait ends) or
        /// by an operator's rewind/resume; left when a step waits, the run ends, or it fails.
        Running => "running",
        /// At a wait, sleep or children step. Left by a signal, a timer, children ending, or an
        /// operator (complete-wait, fail-wait, cancel, rewind).
        Waiting => "waiting",
        /// Compensations of succeeded steps are running in reverse order (worker).
        Compensating => "compensating",
        /// Ended with an output. Terminal (an operator may still rewind it).
        Completed => "completed",
        /// A step failed for good and every compensation ran. Terminal.
        Failed => "failed",
        /// Cancelled, with or without compensation. Terminal.
        Cancelled => "cancelled",
        /// A compensation exhausted its retries: an operator must retry, skip or abandon it.
        CompensationFailed => "compensation_failed",
        /// Paused by an operator: no job of the run is claimed until it is resumed.
        Paused => "paused",
    }
}

impl RunStatus {
    /// True for completed, failed and cancelled.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            RunStatus::Completed | RunStatus::Failed | RunStatus::Cancelled
        )
    }
}

string_enum! {
    /// The state of one queued job.
    JobState {
        /// Claimable once `run_at` has passed. Entered on enqueue, retry, rescue, resume.
        Ready => "ready",
        /// Leased by a worker. Left by a fenced completion (row deleted), a retry (ready), the
        /// rescuer (ready or dead) or an operator.
        Running => "running",
        /// Attempts exhausted; kept and visible until an operator retries it.
        Dead => "dead",
        /// Held while its run is paused; made ready again on resume.
        Paused => "paused",
    }
}

string_enum! {
    /// What a job asks a worker to do.
    JobKind {
        /// Run the step's handler.
        Step => "step",
        /// Run the compensation of an earlier, succeeded step.
        Compensate => "compensate",
        /// Show buffered signals to a waiting step's handler.
        Signal => "signal",
        /// A wait's deadline or a sleep's end.
        Timer => "timer",
        /// The children of a children step have ended.
        Join => "join",
    }
}

string_enum! {
    /// How one attempt of a job ended.
    ExecutionStatus {
        /// The handler succeeded.
        Completed => "completed",
        /// An operator skipped the step with a given output.
        Skipped => "skipped",
        /// The handler returned an error.
        Failed => "failed",
        /// The attempt ran past its timeout.
        TimedOut => "timed_out",
        /// The worker lost its lease (crashed, stalled) and the rescuer took the job back.
        Lost => "lost",
        /// The last allowed attempt was lost: the job is dead.
        Dead => "dead",
        /// The handler saw a signal and chose to keep waiting.
        Waiting => "waiting",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_status_round_trips_through_its_name() {
        for s in RunStatus::ALL {
            assert_eq!(s.as_str().parse::<RunStatus>().unwrap(), *s);
        }
        assert!("stuck".parse::<RunStatus>().is_err());
    }

    #[test]
    fn only_three_statuses_are_terminal() {
        let terminal: Vec<_> = RunStatus::ALL.iter().filter(|s| s.is_terminal()).collect();
        assert_eq!(terminal.len(), 3);
    }
}
