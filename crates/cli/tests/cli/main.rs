//! Integration tests of the `seam` binary against a real PostgreSQL: each test gets its own
//! database (copied from a migrated template), runs the binary, and checks stdout, stderr
//! and the exit code. Workers run in the test process unless the test is about `seam worker`
//! or `seam dev`.

mod common;

mod basics;
mod local;
mod migrate;
mod ops;
mod repairs;
mod runs;
mod stories;
