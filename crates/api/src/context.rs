//! What the server hands the schema with every request, besides the caller: the services that
//! touch resident data (database, keys, audit log, policy matrix), the request's id and source,
//! and the purpose it declared in `Wijkhub-Purpose`.

use std::net::IpAddr;
use std::sync::Arc;

use async_graphql::Context;
use crypto::{DekCache, KeyRing};
use domain::Purpose;
use store::Db;

use crate::ApiError;

/// The name of the header a request declares its purpose (doelbinding) in.
pub const PURPOSE_HEADER: &str = "wijkhub-purpose";

/// Shared by every request; cheap to clone.
#[derive(Clone)]
pub struct Services {
    pub db: Db,
    pub keys: Arc<KeyRing>,
    pub deks: Arc<DekCache>,
    pub audit: audit::AuditLog,
    pub matrix: Arc<policy::Matrix>,
    /// `[policy.break_glass]`: the reason's minimum length, the default and the longest grant.
    pub break_glass: policy::BreakGlassConfig,
    /// `[retention]`: how long plans' files are kept before a resident may be erased.
    pub retention: store::erase::RetentionConfig,
    /// `[plans] max_section_bytes`: the most a section's content may hold, in bytes of UTF-8.
    pub max_section_bytes: usize,
}

impl std::fmt::Debug for Services {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Services").finish_non_exhaustive()
    }
}

/// Where a request came from, for its audit entries.
#[derive(Clone, Debug, Default)]
pub struct RequestInfo {
    /// The hub's own request id (also in `x-request-id`).
    pub request_id: Option<String>,
    /// The client's address after trusted-proxy handling.
    pub source: Option<IpAddr>,
}

/// What the request said in `Wijkhub-Purpose`: absent, a known purpose, or something else.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DeclaredPurpose {
    Missing,
    Known(Purpose),
    Unknown,
}

impl DeclaredPurpose {
    /// Parses the header's value (`None` when the header is absent).
    pub fn from_header(value: Option<&str>) -> DeclaredPurpose {
        match value.map(str::trim) {
            None | Some("") => DeclaredPurpose::Missing,
            Some(text) => Purpose::parse(text)
                .map(DeclaredPurpose::Known)
                .unwrap_or(DeclaredPurpose::Unknown),
        }
    }
}

pub(crate) fn services<'a>(ctx: &Context<'a>) -> Result<&'a Services, ApiError> {
    ctx.data_opt::<Services>().ok_or(ApiError::Unavailable)
}

pub(crate) fn request_info(ctx: &Context<'_>) -> RequestInfo {
    ctx.data_opt::<RequestInfo>().cloned().unwrap_or_default()
}

/// The purpose this request declared; every resolver touching resident data asks first.
pub(crate) fn purpose(ctx: &Context<'_>) -> Result<Purpose, ApiError> {
    match ctx.data_opt::<DeclaredPurpose>() {
        Some(DeclaredPurpose::Known(purpose)) => Ok(*purpose),
        _ => Err(ApiError::PurposeRequired),
    }
}
