//! The HTTP face of wijkhub: configuration, the axum application, its middleware and routes.
//!
//! Handlers here translate HTTP into calls on `api` and `store`; they make no access decisions.
//! Every route is listed in `router.rs`.

mod app;
pub mod auth;
pub mod config;
mod edge;
mod forwarded;
pub mod keys;
pub mod rate_limit;
mod request_id;
mod router;
pub mod telemetry;

pub use app::{App, StartError};
pub use config::{Config, ConfigError, Profile};
pub use keys::{KeysConfig, KeysError};
pub use request_id::RequestId;
