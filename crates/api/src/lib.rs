//! The GraphQL schema. This layer translates between GraphQL and the crates that decide and
//! store; it never decides access itself (that is `policy`) and never lets an internal error
//! text reach a client: every error leaves through [`ApiError`] with a stable code.

mod access;
mod break_glass;
mod caller;
mod care_relations;
#[allow(dead_code)] // used by the list resolvers being added (issue 8); remove with the first use
mod connection;
mod consents;
mod context;
mod error;
mod objections;
mod plan_writes;
mod plans;
mod schema;

pub use caller::{Caller, CallerId, Credential, caller};
pub use context::{DeclaredPurpose, PURPOSE_HEADER, RequestInfo, Services};
pub use error::ApiError;
pub use schema::{API_VERSION, ApiSchema, SchemaOptions, build_schema, schema_sdl};
