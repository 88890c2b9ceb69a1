//! What `decide` answers: permit with its basis, or deny with its reason, and the checks applied.
//!
//! The string forms here are contract (stored in audit entries, sent to partner systems as
//! `extensions.code` or `access.reason`): never rename one. A decision never carries plan content
//! or personal data, so it may be logged and audited as is.

use std::fmt;

use domain::{BreakGlassId, ConsentId};

macro_rules! coded_list {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident => ($code:literal, $description:literal)),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name {
            $($(#[$vdoc])* $variant),+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The stable code.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $code),+
                }
            }

            /// One sentence for `docs/POLICY.md`.
            pub const fn description(self) -> &'static str {
                match self {
                    $($name::$variant => $description),+
                }
            }

            pub fn parse(code: &str) -> Option<$name> {
                match code {
                    $($code => Some($name::$variant),)+
                    _ => None,
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

coded_list!(
    /// Why an access was refused. A closed list; each code is contract.
    DenyReason {
        InactiveActor => ("inactive-actor", "The member or partner system is disabled."),
        InactiveOrganisation => ("inactive-organisation", "The actor's organisation is disabled."),
        OrganisationNotInNetwork => ("organisation-not-in-network", "The actor's organisation does not take part in the resident's wijknetwerk."),
        RoleOrganisationMismatch => ("role-organisation-mismatch", "The member's role does not belong to their kind of organisation (e.g. a coach of a welfare organisation)."),
        NoClientRole => ("no-client-role", "A partner system of this kind of organisation (gemeente) has no role for resident data."),
        RoleForbidsCategory => ("role-forbids-category", "The matrix does not give the role this action on this category."),
        ScopeNotGranted => ("scope-not-granted", "The partner system's scopes do not include this action on this category."),
        PurposeNotInScope => ("purpose-not-in-scope", "The partner system may not declare this purpose."),
        NotOwnContribution => ("not-own-contribution", "A write to a section another organisation contributed; only the coordinating coach may."),
        NoCareRelation => ("no-care-relation", "No care relation links the actor or their organisation to the resident now (need to know), and no break-the-glass grant stands in for it."),
        Objection => ("objection", "An active objection (art. 21) or restriction (art. 18) covers this category and organisation."),
        NoConsent => ("no-consent", "No consent of the resident names the actor's organisation or its kind."),
        CategoryNotCovered => ("category-not-covered", "A consent names the organisation, but not this category."),
        PurposeNotCovered => ("purpose-not-covered", "A consent names the organisation and the category, but not the declared purpose."),
        ConsentExpired => ("consent-expired", "The covering consent has ended."),
        ConsentWithdrawn => ("consent-withdrawn", "The covering consent was withdrawn."),
        ConsentNotYetValid => ("consent-not-yet-valid", "The covering consent starts later."),
    }
);

coded_list!(
    /// A control applied while deciding (NEN 7513 "controles"), listed in the audit entry.
    Check {
        ActorActive => ("actor-active", "The member or partner system is active."),
        OrganisationActive => ("organisation-active", "The actor's organisation is active."),
        OrganisationInNetwork => ("organisation-in-network", "The actor's organisation takes part in the resident's network."),
        RoleFitsOrganisation => ("role-fits-organisation", "The role belongs to the organisation's kind (for a partner system: its kind has a client role)."),
        RoleMatrix => ("role-matrix", "The role × category × action matrix permits the action."),
        ClientScope => ("client-scope", "The partner system's scopes cover the action, category and purpose."),
        OwnContribution => ("own-contribution", "A write changes the actor's own organisation's contribution, or the actor is the coordinating coach."),
        CareRelation => ("care-relation", "A care relation valid now links the actor or their organisation to the resident."),
        BreakGlass => ("break-glass", "An active break-the-glass grant of this actor for this resident was considered."),
        Objection => ("objection", "No active objection or restriction covers the access."),
        StatutoryTask => ("statutory-task", "The owning wijkteam's statutory task was considered as the basis."),
        Consent => ("consent", "The resident's consents were considered as the basis."),
    }
);

/// The law under which the owning wijkteam works: the Jeugdwet for residents under 18 (at the
/// moment of the decision), the Wmo 2015 for adults.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Law {
    /// Wet maatschappelijke ondersteuning 2015.
    Wmo2015,
    /// Jeugdwet.
    Jeugdwet,
}

impl Law {
    pub const ALL: &'static [Law] = &[Law::Wmo2015, Law::Jeugdwet];

    pub const fn as_str(self) -> &'static str {
        match self {
            Law::Wmo2015 => "wmo2015",
            Law::Jeugdwet => "jeugdwet",
        }
    }
}

/// Grondslag: why a permit is lawful. String forms: `statutory:<law>`, `consent:<uuid>`,
/// `break-glass:<uuid>`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Basis {
    /// Wettelijke taak of the owning wijkteam, for its own plans.
    Statutory { law: Law },
    /// Toestemming.
    Consent(ConsentId),
    /// Noodtoegang.
    BreakGlass(BreakGlassId),
}

impl Basis {
    pub fn parse(text: &str) -> Option<Basis> {
        let (kind, value) = text.split_once(':')?;
        match kind {
            "statutory" => Law::ALL
                .iter()
                .find(|law| law.as_str() == value)
                .map(|&law| Basis::Statutory { law }),
            "consent" => value.parse().ok().map(Basis::Consent),
            "break-glass" => value.parse().ok().map(Basis::BreakGlass),
            _ => None,
        }
    }
}

impl fmt::Display for Basis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Basis::Statutory { law } => write!(f, "statutory:{}", law.as_str()),
            Basis::Consent(id) => write!(f, "consent:{id}"),
            Basis::BreakGlass(id) => write!(f, "break-glass:{id}"),
        }
    }
}

/// The checks applied, in rule order. A set: iteration follows `Check::ALL`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Checks(u16);

impl Checks {
    pub(crate) fn add(&mut self, check: Check) {
        self.0 |= 1 << (check as u16);
    }

    pub const fn contains(self, check: Check) -> bool {
        self.0 & (1 << (check as u16)) != 0
    }

    pub fn iter(self) -> impl Iterator<Item = Check> {
        Check::ALL
            .iter()
            .copied()
            .filter(move |check| self.contains(*check))
    }
}

impl fmt::Debug for Checks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.iter().map(Check::as_str))
            .finish()
    }
}

/// Permit or deny.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Outcome {
    Permit(Basis),
    Deny(DenyReason),
}

/// The answer of `decide`: the outcome and the checks applied to reach it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decision {
    outcome: Outcome,
    checks: Checks,
}

impl Decision {
    pub(crate) const fn new(outcome: Outcome, checks: Checks) -> Decision {
        Decision { outcome, checks }
    }

    pub const fn outcome(&self) -> Outcome {
        self.outcome
    }

    pub const fn checks(&self) -> Checks {
        self.checks
    }

    pub const fn is_permit(&self) -> bool {
        matches!(self.outcome, Outcome::Permit(_))
    }

    pub const fn basis(&self) -> Option<Basis> {
        match self.outcome {
            Outcome::Permit(basis) => Some(basis),
            Outcome::Deny(_) => None,
        }
    }

    pub const fn deny_reason(&self) -> Option<DenyReason> {
        match self.outcome {
            Outcome::Permit(_) => None,
            Outcome::Deny(reason) => Some(reason),
        }
    }
}
