//! End-to-end tests of the `wijkhub` package: the hub in-process on a free loopback port, and
//! the binary run as a child in a temporary directory. Each test has a database of its own:
//! SQLite in a temporary directory, or PostgreSQL when `WIJKHUB_TEST_DATABASE_URL` is set.
//!
//! One test binary with modules, so the hub is linked once.

#![allow(clippy::unwrap_used, clippy::expect_used)] // helpers outside #[test] fns too

mod api_docs;
mod audit;
mod audit_queries;
mod break_glass;
mod care_relations;
mod cli;
mod consents;
mod crash;
mod demo;
mod edge;
mod erasure;
mod graphql;
mod limits;
mod no_leaks;
mod objections;
mod plan_lists;
mod plan_writes;
mod plans;
mod probes;
mod request_id;
mod residents;
mod rotation;
mod serve;

/// The binary under test.
fn wijkhub() -> testkit::Cli {
    testkit::Cli::new(env!("CARGO_BIN_EXE_wijkhub"))
}
