//! The facts `decide` is given: who asks, about whom, and what the record says now.
//!
//! The caller (the GraphQL layer) loads them from the store; this module only describes them. It
//! must never load anything, read a clock or hold plan content: facts are plain data.

use chrono::{DateTime, NaiveDate, Utc};
use domain::{
    Action, BreakGlassId, CareRelationId, CareRelationKind, Category, ClientId, ConsentId,
    MemberId, NetworkId, ObjectionId, ObjectionKind, OrganisationId, OrganisationKind, Purpose,
    ResidentId, Role,
};
use uuid::Uuid;

use crate::sets::{CategorySet, PurposeSet};

/// Wettelijk vertegenwoordiger: a legal representative registered on a resident (parent,
/// guardian). Defined here because `domain` has no such id yet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RepresentativeId(pub Uuid);

/// Organisatie, as far as the policy needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Organisation {
    pub id: OrganisationId,
    pub kind: OrganisationKind,
    /// The wijknetwerken it takes part in.
    pub networks: Vec<NetworkId>,
    /// False when the organisation's account is disabled.
    pub active: bool,
}

/// Who acts: an authenticated member of staff (medewerker) or a partner system (client). Only the
/// authentication layer builds one, from a verified session or token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Actor {
    Member(MemberActor),
    Client(ClientActor),
}

/// Medewerker acting in one of their roles (the audit entry records which).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberActor {
    pub id: MemberId,
    pub role: Role,
    pub organisation: Organisation,
    pub active: bool,
}

/// A partner system. It acts with the role of its organisation's kind
/// (`OrganisationKind::client_role`), narrowed by its scopes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientActor {
    pub id: ClientId,
    pub organisation: Organisation,
    pub scopes: ClientScopes,
    pub active: bool,
}

/// What a partner system was granted when it was registered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientScopes {
    /// Categories it may read.
    pub read: CategorySet,
    /// Categories it may write.
    pub write: CategorySet,
    /// Purposes it may declare.
    pub purposes: PurposeSet,
}

/// The identity of an actor, as a break-the-glass grant names its holder.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ActorId {
    Member(MemberId),
    Client(ClientId),
}

impl Actor {
    pub const fn id(&self) -> ActorId {
        match self {
            Actor::Member(member) => ActorId::Member(member.id),
            Actor::Client(client) => ActorId::Client(client.id),
        }
    }

    pub const fn organisation(&self) -> &Organisation {
        match self {
            Actor::Member(member) => &member.organisation,
            Actor::Client(client) => &client.organisation,
        }
    }

    pub const fn is_active(&self) -> bool {
        match self {
            Actor::Member(member) => member.active,
            Actor::Client(client) => client.active,
        }
    }

    /// The role the actor acts in; `None` for a partner system of a kind of organisation that has
    /// no client role (a gemeente).
    pub const fn role(&self) -> Option<Role> {
        match self {
            Actor::Member(member) => Some(member.role),
            Actor::Client(client) => client.organisation.kind.client_role(),
        }
    }
}

/// Inwoner, as far as the policy needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resident {
    pub id: ResidentId,
    pub birth_date: NaiveDate,
    /// The wijknetwerk the resident's plan lives in.
    pub network: NetworkId,
    /// Registered legal representatives (wettelijk vertegenwoordigers).
    pub representatives: Vec<RepresentativeId>,
}

/// What is asked: one action on one category for one declared purpose.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Request {
    pub action: Action,
    pub category: Category,
    pub purpose: Purpose,
    /// For a write: the organisation that contributed the section being changed, or `None` for a
    /// new section (contributed by the actor's own organisation). Ignored for reads.
    pub section_author: Option<OrganisationId>,
}

/// Everything the record says about one resident, loaded for a request.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Facts {
    /// The resident's plan; `None` while there is none.
    pub plan: Option<PlanFacts>,
    pub care_relations: Vec<CareRelation>,
    pub consents: Vec<Consent>,
    pub objections: Vec<Objection>,
    pub break_glass: Vec<BreakGlassGrant>,
}

/// Plan: who owns it and who coordinates it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PlanFacts {
    /// The owning organisation; its statutory task is a basis only when it is a wijkteam.
    pub owning_organisation: OrganisationId,
    pub owning_organisation_kind: OrganisationKind,
    /// Regievoerder: the coordinating coach, who may write every section.
    pub coordinating_coach: Option<MemberId>,
}

/// Betrokkenheid: an organisation or a member involved with the resident.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CareRelation {
    pub id: CareRelationId,
    pub party: CareParty,
    pub kind: CareRelationKind,
    pub from: DateTime<Utc>,
    /// `None` while it runs.
    pub until: Option<DateTime<Utc>>,
}

/// Who a care relation links to the resident.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CareParty {
    /// The whole organisation (each of its members and its partner systems).
    Organisation(OrganisationId),
    /// One member only.
    Member(MemberId),
}

/// Who a consent is given to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Grantee {
    /// One organisation.
    Organisation {
        id: OrganisationId,
        kind: OrganisationKind,
    },
    /// Every organisation of a kind within a network.
    OrganisationKind {
        kind: OrganisationKind,
        network: NetworkId,
    },
}

impl Grantee {
    pub const fn kind(&self) -> OrganisationKind {
        match *self {
            Grantee::Organisation { kind, .. } | Grantee::OrganisationKind { kind, .. } => kind,
        }
    }

    /// Whether this grantee includes the given organisation.
    pub fn includes(&self, organisation: &Organisation) -> bool {
        match *self {
            Grantee::Organisation { id, .. } => id == organisation.id,
            Grantee::OrganisationKind { kind, network } => {
                kind == organisation.kind && organisation.networks.contains(&network)
            }
        }
    }
}

/// Toestemming, one version of it as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Consent {
    pub id: ConsentId,
    pub resident: ResidentId,
    pub grantee: Grantee,
    pub categories: CategorySet,
    pub purposes: PurposeSet,
    pub valid_from: DateTime<Utc>,
    pub valid_until: DateTime<Utc>,
    /// Set once withdrawn; a withdrawn consent never permits again, whatever the time says.
    pub withdrawn_at: Option<DateTime<Utc>>,
}

/// Bezwaar (GDPR art. 21) or beperking (art. 18): denies whatever else permits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Objection {
    pub id: ObjectionId,
    pub kind: ObjectionKind,
    pub categories: CategorySet,
    pub organisations: OrganisationScope,
    pub from: DateTime<Utc>,
    pub until: Option<DateTime<Utc>>,
    /// Opgeheven: set when lifted.
    pub lifted_at: Option<DateTime<Utc>>,
}

/// Which organisations an objection covers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OrganisationScope {
    Every,
    Only(Vec<OrganisationId>),
}

impl OrganisationScope {
    pub fn covers(&self, organisation: OrganisationId) -> bool {
        match self {
            OrganisationScope::Every => true,
            OrganisationScope::Only(organisations) => organisations.contains(&organisation),
        }
    }
}

/// Noodtoegang: a break-the-glass grant for one holder and one resident, for hours.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BreakGlassGrant {
    pub id: BreakGlassId,
    pub resident: ResidentId,
    pub holder: ActorId,
    pub organisation: OrganisationId,
    /// The role the holder broke the glass in.
    pub role: Role,
    pub from: DateTime<Utc>,
    pub until: DateTime<Utc>,
}

impl CareRelation {
    pub fn valid_at(&self, now: DateTime<Utc>) -> bool {
        self.from <= now && self.until.is_none_or(|until| now < until)
    }
}

impl Objection {
    pub fn active_at(&self, now: DateTime<Utc>) -> bool {
        self.from <= now
            && self.until.is_none_or(|until| now < until)
            && self.lifted_at.is_none_or(|lifted| now < lifted)
    }
}

impl BreakGlassGrant {
    pub fn active_at(&self, now: DateTime<Utc>) -> bool {
        self.from <= now && now < self.until
    }
}
