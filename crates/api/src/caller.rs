//! Who is calling: what the server's authentication established, handed to the schema as request
//! data. The schema trusts it as given and never parses a token or a cookie itself.
//!
//! `viewer` shows it back to the caller: identity, organisation, roles, scopes. It must never
//! show anything about residents, and never the token itself.

use async_graphql::{Context, Enum, ID, Object, SimpleObject};
use chrono::{DateTime, Utc};
use domain::{ClientId, MemberId, OrganisationId, Purpose, Role};

use crate::ApiError;

/// The authenticated subject.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CallerId {
    /// Medewerker.
    Member(MemberId),
    /// Partner system (OAuth2 client).
    Client(ClientId),
}

/// How the caller authenticated.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Enum)]
pub enum Credential {
    /// `Authorization: Bearer` with one of the hub's access tokens.
    AccessToken,
    /// A token of a configured external issuer (the municipality's IdP).
    ExternalToken,
    /// A console session cookie.
    Session,
}

/// The caller of one request, set by the server after authentication. Absent: anonymous.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caller {
    pub id: CallerId,
    /// The OAuth client the credential was issued to (`wijkhub-console` for sessions).
    pub client_id: String,
    /// The organisation the caller acts for.
    pub organisation: OrganisationId,
    pub roles: Vec<Role>,
    pub scopes: Vec<String>,
    /// Purposes (doelbinding) the caller may declare.
    pub purposes: Vec<Purpose>,
    /// RFC 8176 authentication methods (`pwd`, `otp`).
    pub amr: Vec<String>,
    pub credential: Credential,
    /// When the credential stops working (token expiry; session idle or absolute end).
    pub expires_at: DateTime<Utc>,
}

impl Caller {
    /// Whether a strong second factor was used (`amr` contains `otp`, DESIGN §9).
    pub fn has_second_factor(&self) -> bool {
        self.amr.iter().any(|method| method == "otp")
    }
}

/// The caller of this request, or `UNAUTHENTICATED`. Every resolver but `apiVersion` starts here.
pub fn caller<'a>(ctx: &Context<'a>) -> Result<&'a Caller, ApiError> {
    ctx.data_opt::<Caller>().ok_or(ApiError::Unauthenticated)
}

/// Member or partner system.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Enum)]
pub enum ViewerKind {
    Member,
    Client,
}

/// Who is calling, as the hub sees it. Nothing about residents.
pub struct Viewer(pub(crate) Caller);

#[Object]
impl Viewer {
    async fn kind(&self) -> ViewerKind {
        match self.0.id {
            CallerId::Member(_) => ViewerKind::Member,
            CallerId::Client(_) => ViewerKind::Client,
        }
    }

    /// The member's or partner system's id in the hub.
    async fn id(&self) -> ID {
        match self.0.id {
            CallerId::Member(id) => ID(id.to_string()),
            CallerId::Client(id) => ID(id.to_string()),
        }
    }

    /// The OAuth client id the credential was issued to.
    async fn client_id(&self) -> &str {
        &self.0.client_id
    }

    /// The organisation the caller acts for.
    async fn organisation(&self) -> ViewerOrganisation {
        ViewerOrganisation {
            id: ID(self.0.organisation.to_string()),
        }
    }

    /// Role codes (`coach`, `welfare-worker`, ...).
    async fn roles(&self) -> Vec<&'static str> {
        self.0.roles.iter().map(|role| role.as_str()).collect()
    }

    /// Granted OAuth scopes.
    async fn scopes(&self) -> &[String] {
        &self.0.scopes
    }

    /// Purposes (doelbinding) this credential may declare in `Wijkhub-Purpose`.
    async fn purposes(&self) -> Vec<&'static str> {
        self.0
            .purposes
            .iter()
            .map(|purpose| purpose.as_str())
            .collect()
    }

    /// RFC 8176 authentication methods: `pwd`, `otp`.
    async fn authentication_methods(&self) -> &[String] {
        &self.0.amr
    }

    async fn credential(&self) -> Credential {
        self.0.credential
    }

    async fn expires_at(&self) -> DateTime<Utc> {
        self.0.expires_at
    }
}

/// The organisation a caller acts for (organisatie).
#[derive(SimpleObject)]
pub struct ViewerOrganisation {
    pub id: ID,
}

/// The `viewer` field, on `Query`.
pub(crate) fn viewer(ctx: &Context<'_>) -> Result<Viewer, ApiError> {
    caller(ctx).map(|caller| Viewer(caller.clone()))
}
