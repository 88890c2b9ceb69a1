//! The audit entry: what one access or security event records, and nothing more.
//!
//! An entry never holds plan content, a resident's name or a BSN: residents appear only by their
//! internal id, and every free-form field is a [`Code`] (a short ASCII token), so a name or a
//! sentence cannot slip in. The only personal text is the display name of a partner system's
//! acting staff member, as asserted by that system (NEN 7513 wants the person, see
//! `docs/AUDIT.md`). Every string form here is stored and hashed: never rename one.

use std::collections::BTreeSet;
use std::fmt;
use std::net::IpAddr;

use chrono::{DateTime, TimeZone, Utc};
use domain::{
    Category, ClientId, MemberId, OrganisationId, PlanId, Purpose, ResidentId, Role, SectionId,
};
use uuid::Uuid;

use crate::AuditError;
use crate::merkle::Hash;

macro_rules! code_enum {
    ($(#[$doc:meta])* $name:ident, $field:literal { $($(#[$vdoc:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name {
            $($(#[$vdoc])* $variant),+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The stable string code, stored and hashed.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }

            pub fn parse(s: &str) -> Result<Self, AuditError> {
                match s {
                    $($text => Ok($name::$variant),)+
                    _ => Err(AuditError::InvalidField { field: $field }),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

code_enum!(
    /// What happened. A closed list: a new kind of event is a new variant with a new code.
    AuditAction, "action" {
        /// Reading resident data (a plan, sections, the resident record).
        ResidentRead => "resident.read",
        /// Writing resident data (a section revision, the resident record).
        ResidentWrite => "resident.write",
        /// Looking a resident up by BSN (the BSN itself is never logged).
        ResidentLookupByBsn => "resident.lookup-bsn",
        /// A plan shared in the network.
        PlanShared => "plan.shared",
        /// Successful login of a member.
        Login => "auth.login",
        /// Failed login attempt.
        LoginFailed => "auth.login-failed",
        /// An account locked after repeated failures.
        Lockout => "auth.lockout",
        /// An access token issued to a partner client.
        TokenIssued => "auth.token-issued",
        /// A token request refused.
        TokenRefused => "auth.token-refused",
        /// Toestemming recorded (or a new version of it).
        ConsentRecorded => "consent.recorded",
        /// Toestemming withdrawn.
        ConsentWithdrawn => "consent.withdrawn",
        /// Bezwaar or beperking recorded.
        ObjectionRecorded => "objection.recorded",
        /// Bezwaar or beperking lifted.
        ObjectionLifted => "objection.lifted",
        /// Betrokkenheid started.
        CareRelationStarted => "care-relation.started",
        /// Betrokkenheid ended.
        CareRelationEnded => "care-relation.ended",
        /// Noodtoegang started (the FG is signalled).
        BreakGlassStarted => "break-glass.started",
        /// Noodtoegang ended.
        BreakGlassEnded => "break-glass.ended",
        /// A key operation: generation, rotation, re-wrapping, export of a public key.
        KeyOperation => "key.operation",
        /// A resident erased (crypto-shredding).
        Erasure => "resident.erased",
        /// A change in the breach register (datalekregister).
        BreachRegisterChange => "breach.changed",
        /// Reading the audit log itself (search, access report, proof).
        AuditRead => "audit.read",
        /// Purging audit entries past their retention period.
        AuditPurge => "audit.purged",
        /// A request refused by rate limiting.
        RateLimited => "request.rate-limited",
        /// An account, organisation or client created, changed or disabled.
        AccountChange => "account.changed",
    }
);

code_enum!(
    /// The result of the event.
    Outcome, "outcome" {
        /// Allowed and done.
        Permit => "permit",
        /// Refused by policy, authentication or limits.
        Deny => "deny",
        /// Failed for a technical reason.
        Error => "error",
    }
);

/// Who acted. A partner system acting for one of its staff is `Client`, with the person in
/// [`NewEntry::on_behalf_of`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Actor {
    /// Medewerker, authenticated by the hub.
    Member(MemberId),
    /// Partner system (OAuth2 client).
    Client(ClientId),
    /// The hub itself (scheduled purge, key rotation at start-up).
    System,
    /// Not authenticated (a failed login for an unknown account, a refused token request).
    Anonymous,
}

impl Actor {
    /// The stored kind code: `member`, `client`, `system` or `anonymous`.
    pub const fn kind(&self) -> &'static str {
        match self {
            Actor::Member(_) => "member",
            Actor::Client(_) => "client",
            Actor::System => "system",
            Actor::Anonymous => "anonymous",
        }
    }

    pub fn id(&self) -> Option<Uuid> {
        match self {
            Actor::Member(id) => Some(id.as_uuid()),
            Actor::Client(id) => Some(id.as_uuid()),
            Actor::System | Actor::Anonymous => None,
        }
    }

    pub(crate) fn from_parts(kind: &str, id: Option<Uuid>) -> Result<Actor, AuditError> {
        let bad = AuditError::Malformed("actor");
        match (kind, id) {
            ("member", Some(id)) => Ok(Actor::Member(MemberId::from_uuid(id))),
            ("client", Some(id)) => Ok(Actor::Client(ClientId::from_uuid(id))),
            ("system", None) => Ok(Actor::System),
            ("anonymous", None) => Ok(Actor::Anonymous),
            _ => Err(bad),
        }
    }
}

/// A short token: reason codes, bases (`consent:<id>`), checks, request ids. Only `parse` builds
/// one, so each holds 1–128 characters from `A-Z a-z 0-9 . _ : @ / -` — never a sentence, a name
/// or a comma (lists of codes are stored comma-joined).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Code(String);

impl Code {
    pub const MAX_LEN: usize = 128;

    pub fn parse(s: &str) -> Result<Code, AuditError> {
        let allowed = |b: u8| b.is_ascii_alphanumeric() || b"._:@/-".contains(&b);
        if s.is_empty() || s.len() > Self::MAX_LEN || !s.bytes().all(allowed) {
            return Err(AuditError::InvalidField { field: "code" });
        }
        Ok(Code(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Code({})", self.0)
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The staff member of a partner system for whom that system acts, as the system asserts it in
/// `Wijkhub-Acting-User`. The hub cannot check it; it records that the client said so.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OnBehalfOf {
    user_id: Code,
    display_name: String,
}

impl OnBehalfOf {
    pub const MAX_NAME_LEN: usize = 200;

    /// The display name must be 1–200 characters without control characters.
    pub fn new(user_id: Code, display_name: &str) -> Result<OnBehalfOf, AuditError> {
        let name_ok = !display_name.is_empty()
            && display_name.chars().count() <= Self::MAX_NAME_LEN
            && !display_name.chars().any(char::is_control);
        if !name_ok {
            return Err(AuditError::InvalidField {
                field: "on_behalf_of.display_name",
            });
        }
        Ok(OnBehalfOf {
            user_id,
            display_name: display_name.to_owned(),
        })
    }

    pub fn user_id(&self) -> &Code {
        &self.user_id
    }

    pub fn display_name(&self) -> &str {
        &self.display_name
    }
}

/// The chain an entry belongs to: one per writer start (see `docs/AUDIT.md`).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ChainId(Uuid);

impl ChainId {
    /// A new, time-ordered chain id (UUIDv7).
    pub fn new() -> ChainId {
        ChainId(Uuid::now_v7())
    }

    pub const fn from_uuid(uuid: Uuid) -> ChainId {
        ChainId(uuid)
    }

    pub const fn as_uuid(&self) -> Uuid {
        self.0
    }
}

impl Default for ChainId {
    fn default() -> Self {
        ChainId::new()
    }
}

impl fmt::Display for ChainId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl fmt::Debug for ChainId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ChainId({})", self.0)
    }
}

/// What a handler submits. Build it with [`NewEntry::new`] and set the fields that apply; the
/// writer adds chain, sequence number and leaf hash.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewEntry {
    /// When it happened (UTC); stored and hashed with microsecond precision.
    pub time: DateTime<Utc>,
    pub action: AuditAction,
    pub actor: Actor,
    /// The person a partner system acts for, as it asserts.
    pub on_behalf_of: Option<OnBehalfOf>,
    /// The organisation the actor acts for.
    pub organisation: Option<OrganisationId>,
    pub role: Option<Role>,
    /// The resident concerned: internal id only, never the BSN.
    pub resident: Option<ResidentId>,
    pub plan: Option<PlanId>,
    pub section: Option<SectionId>,
    /// The section revision read or written.
    pub revision: Option<i64>,
    pub categories_returned: BTreeSet<Category>,
    pub categories_denied: BTreeSet<Category>,
    /// Doelbinding declared by the request.
    pub purpose: Option<Purpose>,
    /// Grondslag: `consent:<id>`, `statutory:<law>`, `break-glass:<id>`.
    pub basis: Option<Code>,
    pub outcome: Outcome,
    /// Deny or error reason code (`no-consent`, `objection`, ...).
    pub reason: Option<Code>,
    /// The checks applied, in the order applied (`authenticated`, `role-matrix`, ...).
    pub checks: Vec<Code>,
    pub request_id: Option<Code>,
    /// The client's address after trusted-proxy handling.
    pub source_address: Option<IpAddr>,
    /// The partner system (client application) the request came through, if any.
    pub client: Option<ClientId>,
}

impl NewEntry {
    /// An entry stamped now (truncated to microseconds) with every optional field empty.
    pub fn new(action: AuditAction, actor: Actor, outcome: Outcome) -> NewEntry {
        NewEntry {
            time: now_micros(),
            action,
            actor,
            on_behalf_of: None,
            organisation: None,
            role: None,
            resident: None,
            plan: None,
            section: None,
            revision: None,
            categories_returned: BTreeSet::new(),
            categories_denied: BTreeSet::new(),
            purpose: None,
            basis: None,
            outcome,
            reason: None,
            checks: Vec::new(),
            request_id: None,
            source_address: None,
            client: None,
        }
    }

    /// The time as stored: microseconds since the Unix epoch, UTC.
    pub fn time_micros(&self) -> i64 {
        self.time.timestamp_micros()
    }
}

/// The current time truncated to whole microseconds, so what is stored equals what was hashed.
pub fn now_micros() -> DateTime<Utc> {
    micros_to_time(Utc::now().timestamp_micros())
}

pub(crate) fn micros_to_time(micros: i64) -> DateTime<Utc> {
    Utc.timestamp_micros(micros)
        .single()
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// An entry as stored in a chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditEntry {
    pub chain: ChainId,
    /// Position in the chain, from 0: the Merkle leaf index.
    pub seq: u64,
    pub entry: NewEntry,
    /// RFC 6962 leaf hash of the canonical encoding, as stored by the writer.
    pub leaf_hash: Hash,
}

/// The acknowledgement of a durable entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Receipt {
    pub chain: ChainId,
    pub seq: u64,
    pub leaf_hash: Hash,
}
