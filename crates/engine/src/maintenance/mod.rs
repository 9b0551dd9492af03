//! Background services that keep the queue healthy. Each has defaults, a config, `new`,
//! `run` (a loop until stopped) and `run_once(now)` that tests call with an injected time.
//! Every worker process runs them by default; they are safe to run in many processes.

mod cleaner;
mod rescuer;

pub use cleaner::{Cleaner, CleanerConfig, CleanerReport};
pub use rescuer::{RescueReport, Rescuer, RescuerConfig};
