//! The sea-orm entities, one module per table of `migrations/src/m20261123_000001_core.rs`
//! (and `auth_key_sets`, `console_sessions` of `m20261123_000003_auth.rs`, `erasures` of
//! `m20261123_000004_erasure.rs`).

pub mod auth_key_sets;
pub mod break_glass;
pub mod care_relations;
pub mod clients;
pub mod consents;
pub mod console_sessions;
pub mod erasures;
pub mod members;
pub mod networks;
pub mod objections;
pub mod organisation_networks;
pub mod organisations;
pub mod plans;
pub mod representatives;
pub mod residents;
pub mod section_revisions;
pub mod sections;
