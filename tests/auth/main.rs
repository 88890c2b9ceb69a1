//! End-to-end tests of authentication (issue 4) against the running hub: the token endpoint,
//! bearer tokens on `/graphql`, console login, keys. Each bad input of the issue is its own
//! test, refused with a stable code and an audit entry, with nothing created.
//!
//! One test binary with modules, so the hub is linked once. Databases as in `tests/e2e`:
//! SQLite in a temporary directory, or PostgreSQL when `WIJKHUB_TEST_DATABASE_URL` is set.

#![allow(clippy::unwrap_used, clippy::expect_used)] // helpers outside #[test] fns too

mod bearer;
mod keys;
mod login;
mod oauth_token;
mod support;
