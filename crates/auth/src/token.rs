//! The hub's access tokens: JWTs per RFC 9068 (`typ: at+jwt`), signed with the current Ed25519
//! key, validated per RFC 8725, with a bounded cache of verified tokens for the hot path.
//!
//! Exists so every request knows who calls, for which organisation, in which roles, with which
//! scopes and purposes. Must never accept an algorithm the configuration does not list, a token
//! without `exp`/`iss`/`aud`/`sub`/`typ`, or a cached entry past its `exp`; must never read the
//! clock (`now` is a parameter) and never log a token. Verification proves the token was issued;
//! whether its member, organisation or client is *still* active is the caller's status check,
//! on every request, using the ids in [`Principal`].

use std::str::FromStr;
use std::sync::{Arc, RwLock};

use chrono::{DateTime, Duration, Utc};
use domain::{ClientId, MemberId, OrganisationId, Purpose, Role};
use jsonwebtoken::{Algorithm, Header};
use serde::{Deserialize, Serialize};

use crate::jws::{self, Audience};
use crate::keys::SigningKeys;
use crate::{AuthError, TokenError};

/// The `typ` header of our access tokens (RFC 9068 §2.1).
pub const ACCESS_TOKEN_TYPE: &str = "at+jwt";

/// Access token settings (`[auth.tokens]` in configuration).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TokenConfig {
    /// Our issuer identifier (`iss`), the hub's public base URL.
    pub issuer: String,
    /// The audience our resource server expects (`aud`).
    pub audience: String,
    /// Lifetime of an access token in seconds (default 600: ten minutes).
    pub lifetime_seconds: u32,
    /// Clock skew tolerated on `exp`, `nbf` and `iat`, in seconds (default 30).
    pub leeway_seconds: u32,
    /// Algorithms accepted on our own tokens; never taken from a token (default `["EdDSA"]`).
    pub algorithms: Vec<String>,
    /// How many verified tokens the cache keeps (default 10,000).
    pub cache_capacity: usize,
}

impl Default for TokenConfig {
    fn default() -> Self {
        TokenConfig {
            issuer: "http://localhost:8080".to_owned(),
            audience: "wijkhub".to_owned(),
            lifetime_seconds: 600,
            leeway_seconds: 30,
            algorithms: vec!["EdDSA".to_owned()],
            cache_capacity: 10_000,
        }
    }
}

/// Who a token is about (`sub`): a member (staff, console or their own system) or a partner
/// client (client credentials). Encoded as `member:<uuid>` / `client:<uuid>`, so the two id spaces
/// can never be confused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Subject {
    Member(MemberId),
    Client(ClientId),
}

impl Subject {
    fn encode(self) -> String {
        match self {
            Subject::Member(id) => format!("member:{id}"),
            Subject::Client(id) => format!("client:{id}"),
        }
    }

    fn decode(s: &str) -> Option<Subject> {
        let (kind, id) = s.split_once(':')?;
        match kind {
            "member" => MemberId::from_str(id).ok().map(Subject::Member),
            "client" => ClientId::from_str(id).ok().map(Subject::Client),
            _ => None,
        }
    }
}

/// What to put in a new access token. The caller decides it (client's organisation, granted
/// scopes and purposes, the member's roles, `amr` from how they logged in).
#[derive(Clone, Debug)]
pub struct AccessTokenRequest {
    pub subject: Subject,
    /// The OAuth client the token was issued to (`client_id`, RFC 9068 §2.2): the partner's
    /// client id, or the hub's own first-party client name (e.g. `wijkhub-console`).
    pub client_id: String,
    /// The organisation the subject acts for.
    pub organisation: OrganisationId,
    pub roles: Vec<Role>,
    /// Granted scopes; each an RFC 6749 §3.3 scope-token (no spaces).
    pub scopes: Vec<String>,
    /// Purposes (doelbinding) the caller may declare with this token.
    pub purposes: Vec<Purpose>,
    /// Authentication methods (RFC 8176): `["pwd"]`, `["pwd","otp"]`; empty for clients.
    pub amr: Vec<String>,
}

/// A freshly issued token. The token is a bearer credential: no `Debug`, never log it.
pub struct IssuedToken {
    pub access_token: String,
    pub expires_at: DateTime<Utc>,
    pub jti: String,
    pub kid: String,
}

/// The claims we sign. Names follow RFC 9068 and RFC 8176; `org` and `purposes` are ours.
#[derive(Serialize)]
struct AccessClaims<'a> {
    iss: &'a str,
    aud: &'a str,
    sub: String,
    exp: i64,
    iat: i64,
    nbf: i64,
    jti: &'a str,
    client_id: &'a str,
    org: String,
    roles: &'a [Role],
    scope: String,
    purposes: &'a [Purpose],
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    amr: &'a [String],
}

/// The claims as read back: every field optional so that absence is `missing-claim`, not
/// `malformed`.
#[derive(Deserialize)]
struct RawAccessClaims {
    iss: Option<String>,
    aud: Option<Audience>,
    sub: Option<String>,
    exp: Option<i64>,
    iat: Option<i64>,
    nbf: Option<i64>,
    jti: Option<String>,
    client_id: Option<String>,
    org: Option<String>,
    roles: Option<Vec<String>>,
    scope: Option<String>,
    purposes: Option<Vec<String>>,
    amr: Option<Vec<String>>,
}

/// A verified access token: who calls and what they may claim. The ids are what the caller checks
/// against current status (member, organisation, client disabled ⇒ refuse within seconds).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    pub subject: Subject,
    pub client_id: String,
    pub organisation: OrganisationId,
    pub roles: Vec<Role>,
    pub scopes: Vec<String>,
    pub purposes: Vec<Purpose>,
    pub amr: Vec<String>,
    pub jti: String,
    pub kid: String,
    pub issued_at: DateTime<Utc>,
    pub not_before: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

impl Principal {
    /// Whether the subject logged in with a second factor (`amr` contains `otp`, DESIGN §9).
    pub fn has_second_factor(&self) -> bool {
        self.amr.iter().any(|method| method == "otp")
    }

    pub fn member_id(&self) -> Option<MemberId> {
        match self.subject {
            Subject::Member(id) => Some(id),
            Subject::Client(_) => None,
        }
    }

    pub fn client(&self) -> Option<ClientId> {
        match self.subject {
            Subject::Client(id) => Some(id),
            Subject::Member(_) => None,
        }
    }

    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.iter().any(|granted| granted == scope)
    }

    /// Whether the token has expired at `now`, allowing `leeway` (checked arithmetic: no panic at
    /// the edges of time).
    fn expired_at(&self, now: DateTime<Utc>, leeway: Duration) -> bool {
        self.expires_at
            .checked_add_signed(leeway)
            .is_none_or(|end| now >= end)
    }

    /// Whether a request may declare `purpose` (`Wijkhub-Purpose`) with this token.
    pub fn may_declare(&self, purpose: Purpose) -> bool {
        self.purposes.contains(&purpose)
    }
}

/// Issues and verifies the hub's access tokens. Build one at start-up and share it (`Arc`).
pub struct AccessTokens {
    config: TokenConfig,
    algorithms: Vec<Algorithm>,
    keys: RwLock<Arc<SigningKeys>>,
    cache: quick_cache::sync::Cache<[u8; 32], Arc<Principal>>,
}

impl std::fmt::Debug for AccessTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessTokens")
            .field("issuer", &self.config.issuer)
            .field("audience", &self.config.audience)
            .field("algorithms", &self.algorithms)
            .finish_non_exhaustive()
    }
}

/// Parses an algorithm allow-list from configuration. Only asymmetric algorithms: a shared secret
/// has no place where the verifier holds public keys only.
pub(crate) fn parse_algorithms(names: &[String]) -> Result<Vec<Algorithm>, AuthError> {
    if names.is_empty() {
        return Err(AuthError::InvalidConfig);
    }
    names
        .iter()
        .map(|name| match Algorithm::from_str(name) {
            Ok(Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512) | Err(_) => {
                Err(AuthError::InvalidConfig)
            }
            Ok(alg) => Ok(alg),
        })
        .collect()
}

fn is_scope_token(scope: &str) -> bool {
    !scope.is_empty()
        && scope
            .bytes()
            .all(|b| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b))
}

/// The scopes to grant for a token request's `scope` parameter (RFC 6749 §3.3): space-separated
/// scope-tokens, each of which must be in `allowed`; when the parameter is absent, all of `allowed`.
/// A malformed parameter is `invalid-scope`, an ungranted scope `scope-not-allowed` (both OAuth's
/// `invalid_scope`).
pub fn grant_scopes(requested: Option<&str>, allowed: &[String]) -> Result<Vec<String>, AuthError> {
    let Some(requested) = requested else {
        return Ok(allowed.to_vec());
    };
    let mut granted: Vec<String> = Vec::new();
    for scope in requested.split(' ') {
        if !is_scope_token(scope) {
            return Err(AuthError::InvalidScope);
        }
        if !allowed.iter().any(|a| a == scope) {
            return Err(AuthError::ScopeNotAllowed);
        }
        if !granted.iter().any(|g| g == scope) {
            granted.push(scope.to_owned());
        }
    }
    Ok(granted)
}

/// The purposes to grant for a token request that names some (space-separated `Purpose` strings):
/// each must be on the closed list and in `allowed`; when none are named, all of `allowed`.
pub fn grant_purposes(
    requested: Option<&str>,
    allowed: &[Purpose],
) -> Result<Vec<Purpose>, AuthError> {
    let Some(requested) = requested else {
        return Ok(allowed.to_vec());
    };
    let mut granted: Vec<Purpose> = Vec::new();
    for name in requested.split(' ') {
        let purpose = Purpose::parse(name).map_err(|_| AuthError::PurposeNotAllowed)?;
        if !allowed.contains(&purpose) {
            return Err(AuthError::PurposeNotAllowed);
        }
        if !granted.contains(&purpose) {
            granted.push(purpose);
        }
    }
    Ok(granted)
}

/// The `iss` a token claims, read **without verification**: only for routing a bearer token to
/// the verifier of its issuer (ours or an [`crate::external::ExternalIssuer`]); never trust it.
pub fn unverified_issuer(token: &str) -> Result<String, TokenError> {
    #[derive(Deserialize)]
    struct IssuerOnly {
        iss: Option<String>,
    }
    if token.len() > jws::MAX_TOKEN_BYTES {
        return Err(TokenError::TooLarge);
    }
    let claims: IssuerOnly = jws::unverified_claims(token)?;
    claims.iss.ok_or(TokenError::MissingClaim)
}

fn timestamp(seconds: i64) -> Result<DateTime<Utc>, TokenError> {
    DateTime::from_timestamp(seconds, 0).ok_or(TokenError::Malformed)
}

impl AccessTokens {
    pub fn new(config: TokenConfig, keys: SigningKeys) -> Result<AccessTokens, AuthError> {
        let algorithms = parse_algorithms(&config.algorithms)?;
        if config.lifetime_seconds == 0 || config.cache_capacity == 0 {
            return Err(AuthError::InvalidConfig);
        }
        Ok(AccessTokens {
            cache: quick_cache::sync::Cache::new(config.cache_capacity),
            config,
            algorithms,
            keys: RwLock::new(Arc::new(keys)),
        })
    }

    fn keys(&self) -> Arc<SigningKeys> {
        match self.keys.read() {
            Ok(keys) => Arc::clone(&keys),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    /// Installs a new key set (after rotation or retirement) and empties the cache, so a token of
    /// a retired key is refused at once.
    pub fn replace_keys(&self, keys: SigningKeys) {
        let keys = Arc::new(keys);
        match self.keys.write() {
            Ok(mut slot) => *slot = keys,
            Err(poisoned) => *poisoned.into_inner() = keys,
        }
        self.cache.clear();
    }

    /// The public keys, for `/.well-known/jwks.json`.
    pub fn jwks_json(&self) -> String {
        self.keys().jwks_json()
    }

    /// Forgets every cached verification (e.g. after disabling many accounts at once). Not a
    /// substitute for the per-request status check.
    pub fn forget_cached(&self) {
        self.cache.clear();
    }

    /// Forgets the cached verifications of one subject's tokens (the member or client was just
    /// disabled on this instance). Not a substitute for the per-request status check, which also
    /// covers the other instances.
    pub fn forget_subject(&self, subject: Subject) {
        self.cache
            .retain(|_, principal| principal.subject != subject);
    }

    /// Drops cached entries whose token has expired at `now`, so they do not wait for eviction.
    /// Call it now and then (every minute is plenty); hits check expiry anyway.
    pub fn purge_expired(&self, now: DateTime<Utc>) {
        let leeway = Duration::seconds(i64::from(self.config.leeway_seconds));
        self.cache
            .retain(|_, principal| !principal.expired_at(now, leeway));
    }

    /// How many verified tokens are cached (for metrics).
    pub fn cached(&self) -> usize {
        self.cache.len()
    }

    /// Signs an access token for `request`, valid from `now` for the configured lifetime.
    pub fn issue(
        &self,
        request: &AccessTokenRequest,
        now: DateTime<Utc>,
    ) -> Result<IssuedToken, AuthError> {
        if !request.scopes.iter().all(|scope| is_scope_token(scope)) {
            return Err(AuthError::InvalidScope);
        }
        let keys = self.keys();
        let key = keys.current_key();
        let iat = now.timestamp();
        let expires_at = now + Duration::seconds(i64::from(self.config.lifetime_seconds));
        let jti = uuid::Uuid::new_v4().to_string();
        let claims = AccessClaims {
            iss: &self.config.issuer,
            aud: &self.config.audience,
            sub: request.subject.encode(),
            exp: expires_at.timestamp(),
            iat,
            nbf: iat,
            jti: &jti,
            client_id: &request.client_id,
            org: request.organisation.to_string(),
            roles: &request.roles,
            scope: request.scopes.join(" "),
            purposes: &request.purposes,
            amr: &request.amr,
        };
        let mut header = Header::new(Algorithm::EdDSA);
        header.typ = Some(ACCESS_TOKEN_TYPE.to_owned());
        header.kid = Some(key.kid.clone());
        let access_token = jsonwebtoken::encode(&header, &claims, &key.encoding)
            .map_err(|_| AuthError::Signing)?;
        Ok(IssuedToken {
            access_token,
            expires_at,
            jti,
            kid: key.kid.clone(),
        })
    }

    /// Verifies a bearer token at `now`, through the cache: a token verified before is found by
    /// its SHA-256 and only its times are checked again. Errors are never cached.
    pub fn verify(&self, token: &str, now: DateTime<Utc>) -> Result<Arc<Principal>, TokenError> {
        if token.len() > jws::MAX_TOKEN_BYTES {
            return Err(TokenError::TooLarge);
        }
        let cache_key = crate::random::sha256(token.as_bytes());
        if let Some(principal) = self.cache.get(&cache_key) {
            let leeway = Duration::seconds(i64::from(self.config.leeway_seconds));
            if principal.expired_at(now, leeway) {
                self.cache.remove(&cache_key);
                return Err(TokenError::Expired);
            }
            if now
                .checked_add_signed(leeway)
                .is_some_and(|late| principal.not_before > late)
            {
                return Err(TokenError::NotYetValid);
            }
            return Ok(principal);
        }
        let principal = Arc::new(self.verify_uncached(token, now)?);
        self.cache.insert(cache_key, Arc::clone(&principal));
        Ok(principal)
    }

    /// Full verification, without the cache (benchmarks, and callers that must not cache).
    pub fn verify_uncached(
        &self,
        token: &str,
        now: DateTime<Utc>,
    ) -> Result<Principal, TokenError> {
        let peeked = jws::peek(token, &self.algorithms)?;
        if !peeked
            .typ
            .as_deref()
            .is_some_and(|typ| jws::typ_is(typ, ACCESS_TOKEN_TYPE))
        {
            return Err(TokenError::WrongType);
        }
        let keys = self.keys();
        let kid = peeked.kid.ok_or(TokenError::UnknownKid)?;
        let key = keys.find(&kid).ok_or(TokenError::UnknownKid)?;
        let claims: RawAccessClaims = jws::verify(token, peeked.alg, &key.decoding)?;

        // Signature good: now the claims, required ones first.
        let (
            Some(iss),
            Some(aud),
            Some(sub),
            Some(exp),
            Some(iat),
            Some(jti),
            Some(client_id),
            Some(org),
        ) = (
            claims.iss,
            claims.aud,
            claims.sub,
            claims.exp,
            claims.iat,
            claims.jti,
            claims.client_id,
            claims.org,
        )
        else {
            return Err(TokenError::MissingClaim);
        };
        if iss != self.config.issuer {
            return Err(TokenError::WrongIssuer);
        }
        if !aud.contains(&self.config.audience) {
            return Err(TokenError::WrongAudience);
        }
        jws::check_times(
            exp,
            claims.nbf,
            Some(iat),
            now.timestamp(),
            i64::from(self.config.leeway_seconds),
        )?;

        let subject = Subject::decode(&sub).ok_or(TokenError::Malformed)?;
        let organisation = OrganisationId::from_str(&org).map_err(|_| TokenError::Malformed)?;
        let roles = claims
            .roles
            .unwrap_or_default()
            .iter()
            .map(|role| Role::parse(role))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| TokenError::Malformed)?;
        let purposes = claims
            .purposes
            .unwrap_or_default()
            .iter()
            .map(|purpose| Purpose::parse(purpose))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| TokenError::Malformed)?;
        let scopes = claims
            .scope
            .unwrap_or_default()
            .split(' ')
            .filter(|scope| !scope.is_empty())
            .map(str::to_owned)
            .collect();
        Ok(Principal {
            subject,
            client_id,
            organisation,
            roles,
            scopes,
            purposes,
            amr: claims.amr.unwrap_or_default(),
            jti,
            kid,
            issued_at: timestamp(iat)?,
            not_before: timestamp(claims.nbf.unwrap_or(iat))?,
            expires_at: timestamp(exp)?,
        })
    }
}
