//! Integration tests of seam-engine against a real PostgreSQL: every test gets its own
//! database, copied from a migrated template.

mod common;

mod basics;
mod children;
mod failures;
mod leases;
mod maintenance;
mod operator;
mod waits;
