//! The benchmark's parts, each on its own database: Seam throughput, the raw SQL ceiling,
//! apalis-postgres, idle latency, and throughput over a large history.

#[cfg(feature = "apalis")]
pub mod apalis;
pub mod latency;
pub mod raw;
pub mod scale;
pub mod seam;
