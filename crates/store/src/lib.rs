//! Persistence of wijkhub: the sea-orm entities of DESIGN §4, the connection (SQLite with WAL,
//! `synchronous=FULL` and foreign keys; or PostgreSQL), schema migration and the demo seed.
//!
//! This crate stores what it is given. It never decides who may see what (that is `policy`) and
//! never sees a plaintext personal datum of a resident: those arrive and leave as ciphertext
//! made by `crypto`.

pub mod accounts;
mod db;
mod demo_residents;
pub mod entity;
pub mod erase;
mod error;
pub mod records;
pub mod rekey;
pub mod residents;
pub mod sealed;
pub mod seed;
mod value;

pub use db::{Backend, Db, DbConfig, SchemaStatus};
pub use error::StoreError;
pub use value::Redacted;
