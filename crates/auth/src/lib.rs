//! Identity logic of wijkhub: who is calling, for which organisation, in which role.
//!
//! This crate holds the building blocks of authentication as pure or CPU-bound functions:
//! password hashing ([`password`]), the second factor and recovery codes ([`totp`]), partner
//! client secrets and `Authorization: Basic` parsing ([`client_secret`]), the hub's signing keys
//! ([`keys`]), access tokens and their validation ([`token`]), tokens of an external issuer
//! ([`external`]), `private_key_jwt` client assertions ([`client_assertion`]), login throttling
//! ([`throttle`]) and console sessions ([`session`]).
//!
//! It must never do HTTP or database IO, never read the clock itself (every check takes `now`),
//! and never put a password, secret, key or token into `Debug`, `Display`, an error or a log.
//! The server wires these blocks to routes, tables and the audit log; `README.md` beside this
//! crate describes the flows.

pub mod client_assertion;
pub mod client_secret;
mod error;
pub mod external;
mod jws;
pub mod keys;
pub mod password;
mod random;
pub mod session;
pub mod throttle;
pub mod token;
pub mod totp;

pub use error::{AuthError, TokenError};
