//! Test support shared by the store tests and the end-to-end tests: a fresh, isolated database
//! per test ([`TestDb`]), the hub running in-process on a free loopback port ([`TestHub`]), and
//! the `wijkhub` binary run as a child in a temporary working directory ([`Cli`]).
//!
//! Tests run against SQLite in a temporary directory unless `WIJKHUB_TEST_DATABASE_URL` names a
//! PostgreSQL server; then every [`TestDb`] is a database of its own on that server. A set but
//! unreachable server fails the test loudly: a PostgreSQL run must never quietly turn into a
//! SQLite run. Nothing here listens beyond loopback or waits without a bound.

mod cli;
mod db;
mod hub;

pub use cli::{Cli, Output, RunningCli};
pub use db::{
    FUTURE_MIGRATION, Snapshot, TEST_DATABASE_URL, TestDb, exec, last_applied_migration,
    record_future_migration, snapshot,
};
pub use hub::TestHub;

/// Installs the hub's log subscriber when `TEST_LOG` is set; tests are silent otherwise.
pub fn init_test_log(config: &server::Config) {
    if std::env::var_os("TEST_LOG").is_some() {
        server::telemetry::init(&config.log);
    }
}
