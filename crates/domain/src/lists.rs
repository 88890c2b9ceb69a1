//! The closed lists. Each string form is stored and exchanged with partner systems: never rename.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::DomainError;

macro_rules! closed_list {
    ($(#[$doc:meta])* $name:ident, $list:literal { $($(#[$vdoc:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "&'static str")]
        pub enum $name {
            $($(#[$vdoc])* $variant),+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub const fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }

            pub fn parse(s: &str) -> Result<Self, DomainError> {
                match s {
                    $($text => Ok($name::$variant),)+
                    _ => Err(DomainError::UnknownValue { list: $list }),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = DomainError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::parse(s)
            }
        }

        impl TryFrom<String> for $name {
            type Error = DomainError;
            fn try_from(s: String) -> Result<Self, Self::Error> {
                Self::parse(&s)
            }
        }

        impl From<$name> for &'static str {
            fn from(value: $name) -> &'static str {
                value.as_str()
            }
        }
    };
}

closed_list!(
    /// The part of a plan a section holds. Access is decided per category.
    Category, "category" {
        /// Het verhaal: the resident's story, told once.
        Story => "story",
        /// Doelen.
        Goals => "goals",
        /// Afspraken.
        Agreements => "agreements",
        /// Acties.
        Actions => "actions",
        /// Het netwerk: people around the resident.
        Network => "network",
        /// Gezondheid (special category, GDPR art. 9).
        Health => "health",
        /// Financiën, debts included.
        Finances => "finances",
        /// Veiligheid, the safety of children included.
        Safety => "safety",
    }
);

closed_list!(
    /// Doelbinding: why a request touches resident data. Declared on every such request.
    Purpose, "purpose" {
        /// Ondersteuning: giving the support in the plan.
        Support => "support",
        /// Regie: coordinating the plan across the network.
        Coordination => "coordination",
        /// Triage: assessing a new question.
        Triage => "triage",
        /// Veiligheid: acting on a safety concern.
        Safety => "safety",
    }
);

closed_list!(
    /// What a member may be. The role decides the most a member can ever get (DESIGN §5).
    Role, "role" {
        /// Coach of a wijkteam, owns the plan (regie).
        Coach => "coach",
        /// Triagist of a wijkteam.
        Triagist => "triagist",
        /// Medewerker welzijn.
        WelfareWorker => "welfare-worker",
        /// Medewerker zorgaanbieder.
        ProviderWorker => "provider-worker",
        /// Functionaris gegevensbescherming (FG): metadata only, never content.
        PrivacyOfficer => "privacy-officer",
        /// Beheerder: organisations, accounts, keys; no resident data at all.
        Administrator => "administrator",
    }
);

closed_list!(
    /// Soort organisatie.
    OrganisationKind, "organisation kind" {
        Wijkteam => "wijkteam",
        Welzijn => "welzijn",
        Zorgaanbieder => "zorgaanbieder",
        Gemeente => "gemeente",
    }
);

closed_list!(
    /// Soort betrokkenheid.
    CareRelationKind, "care relation kind" {
        /// Regievoerder.
        Coordinator => "coordinator",
        /// Betrokken.
        Involved => "involved",
        /// Verwezen.
        Referral => "referral",
    }
);

closed_list!(
    /// What an access does.
    Action, "action" {
        Read => "read",
        Write => "write",
    }
);

closed_list!(
    /// How a consent was evidenced.
    EvidenceKind, "evidence kind" {
        /// Mondeling.
        Verbal => "verbal",
        /// Schriftelijk.
        Written => "written",
        /// Digitaal.
        Digital => "digital",
    }
);

closed_list!(
    /// Bezwaar (art. 21) or beperking van de verwerking (art. 18).
    ObjectionKind, "objection kind" {
        Objection => "objection",
        Restriction => "restriction",
    }
);

closed_list!(
    /// Status of a plan.
    PlanStatus, "plan status" {
        Draft => "draft",
        Active => "active",
        Closed => "closed",
    }
);

closed_list!(
    /// The legal frame of a plan, which sets how long its file is kept (`[retention]`).
    PlanKind, "plan kind" {
        /// Support under the Wmo 2015 (the wijkteam's general task).
        Wmo => "wmo",
        /// Youth care under the Jeugdwet.
        Jeugd => "jeugd",
    }
);

closed_list!(
    /// Status of a member, client or organisation account.
    MemberStatus, "status" {
        Active => "active",
        Disabled => "disabled",
    }
);

closed_list!(
    /// Status of a resident's record.
    ResidentStatus, "resident status" {
        Active => "active",
        /// Crypto-shredded: the data key is destroyed, only a tombstone remains.
        Erased => "erased",
    }
);

impl OrganisationKind {
    /// The role a partner system of this kind of organisation acts with (DESIGN §5), or `None`
    /// where such an organisation has no partner-system role.
    pub const fn client_role(self) -> Option<Role> {
        match self {
            OrganisationKind::Wijkteam => Some(Role::Coach),
            OrganisationKind::Welzijn => Some(Role::WelfareWorker),
            OrganisationKind::Zorgaanbieder => Some(Role::ProviderWorker),
            OrganisationKind::Gemeente => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn string_forms_round_trip() {
        for category in Category::ALL {
            assert_eq!(Category::parse(category.as_str()), Ok(*category));
        }
        for purpose in Purpose::ALL {
            assert_eq!(Purpose::parse(purpose.as_str()), Ok(*purpose));
        }
        for role in Role::ALL {
            assert_eq!(Role::parse(role.as_str()), Ok(*role));
        }
        for kind in OrganisationKind::ALL {
            assert_eq!(OrganisationKind::parse(kind.as_str()), Ok(*kind));
        }
    }

    #[test]
    fn unknown_values_are_refused() {
        assert_eq!(
            Purpose::parse("marketing"),
            Err(DomainError::UnknownValue { list: "purpose" })
        );
        assert!(
            Category::parse("Story").is_err(),
            "parsing is case-sensitive"
        );
    }

    #[test]
    fn serde_uses_the_contract_strings() {
        let json = serde_json_like(Role::WelfareWorker);
        assert_eq!(json, "welfare-worker");
    }

    fn serde_json_like(role: Role) -> &'static str {
        role.into()
    }
}
