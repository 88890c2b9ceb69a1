//! The GraphQL schema. This layer translates between GraphQL and the crates that decide and
//! store; it never decides access itself (that is `policy`) and never lets an internal error
//! text reach a client: every error leaves through [`ApiError`] with a stable code.

mod access;
mod audit_log;
mod break_glass;
mod caller;
mod care_relations;
mod connection;
mod consents;
mod context;
mod erasure;
mod error;
mod limits;
mod objections;
mod plan_lists;
mod plan_writes;
mod plans;
mod residents;
mod schema;
#[cfg(test)]
mod test_support;

pub use caller::{Caller, CallerId, Credential, caller};
pub use context::{DeclaredPurpose, PURPOSE_HEADER, RequestInfo, Services};
pub use error::ApiError;
pub use limits::{Limit, QueryLimits, check_document, check_text, limit_error};
pub use plan_writes::DEFAULT_MAX_SECTION_BYTES;
pub use schema::{API_VERSION, ApiSchema, SchemaOptions, build_schema, schema_sdl};
