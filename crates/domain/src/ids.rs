use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::DomainError;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            /// A new, time-ordered identifier (UUIDv7), so inserts stay index-friendly.
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }

            pub const fn from_uuid(uuid: Uuid) -> Self {
                Self(uuid)
            }

            pub const fn as_uuid(&self) -> Uuid {
                self.0
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "({})"), self.0)
            }
        }

        impl FromStr for $name {
            type Err = DomainError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self).map_err(|_| DomainError::InvalidId)
            }
        }

        impl From<$name> for Uuid {
            fn from(id: $name) -> Uuid {
                id.0
            }
        }
    };
}

id_type!(
    /// Wijknetwerk: the neighbourhood network of organisations.
    NetworkId
);
id_type!(
    /// Organisatie.
    OrganisationId
);
id_type!(
    /// Medewerker: a member of staff of an organisation.
    MemberId
);
id_type!(
    /// A partner system (OAuth2 client) of an organisation.
    ClientId
);
id_type!(
    /// Inwoner.
    ResidentId
);
id_type!(
    /// Plan (het plan).
    PlanId
);
id_type!(
    /// Plan section.
    SectionId
);
id_type!(
    /// Toestemming.
    ConsentId
);
id_type!(
    /// Betrokkenheid.
    CareRelationId
);
id_type!(
    /// Bezwaar of beperking (GDPR art. 18, 21).
    ObjectionId
);
id_type!(
    /// Noodtoegang (break-the-glass).
    BreakGlassId
);
