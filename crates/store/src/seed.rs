//! The demo wijknetwerk "Noordwest": a wijkteam, two welfare organisations, four providers and
//! the municipality, with staff in every role, a partner system per organisation, and twenty-two
//! residents with plans, care relations and consents (sealed under their own data keys; see
//! `demo_residents`).
//!
//! Seeding runs in one transaction and is idempotent: a second run finds the network and
//! changes nothing. Demo data only; never run against a production database.

use chrono::{DateTime, Utc};
use crypto::KeyRing;
use domain::{MemberStatus, OrganisationKind, Role};
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, TransactionTrait};
use serde_json::json;
use uuid::Uuid;

use crate::entity::{clients, members, networks, organisation_networks, organisations};
use crate::{Db, StoreError};

pub use crate::demo_residents::{demo_resident_bsns, demo_resident_names, demo_resident_stories};

/// Name of the demo network; its presence marks a seeded database.
pub const DEMO_NETWORK: &str = "Noordwest";

/// A demo organisation.
#[derive(Clone, Copy, Debug)]
pub struct DemoOrganisation {
    pub name: &'static str,
    pub kind: OrganisationKind,
}

/// The organisations of the demo network, the wijkteam first.
pub const DEMO_ORGANISATIONS: &[DemoOrganisation] = &[
    DemoOrganisation {
        name: "Wijkteam Noordwest",
        kind: OrganisationKind::Wijkteam,
    },
    DemoOrganisation {
        name: "Welzijn Noordwest",
        kind: OrganisationKind::Welzijn,
    },
    DemoOrganisation {
        name: "Stichting Buurtkracht",
        kind: OrganisationKind::Welzijn,
    },
    DemoOrganisation {
        name: "Zorggroep De Linde",
        kind: OrganisationKind::Zorgaanbieder,
    },
    DemoOrganisation {
        name: "GGZ Kompas",
        kind: OrganisationKind::Zorgaanbieder,
    },
    DemoOrganisation {
        name: "Jeugdhulp Horizon",
        kind: OrganisationKind::Zorgaanbieder,
    },
    DemoOrganisation {
        name: "Thuiszorg Het Anker",
        kind: OrganisationKind::Zorgaanbieder,
    },
    DemoOrganisation {
        name: "Gemeente Noordwest",
        kind: OrganisationKind::Gemeente,
    },
];

/// A demo member of staff.
#[derive(Clone, Copy, Debug)]
pub struct DemoMember {
    pub name: &'static str,
    pub email: &'static str,
    pub organisation: &'static str,
    pub role: Role,
}

pub const DEMO_MEMBERS: &[DemoMember] = &[
    DemoMember {
        name: "Sanne de Vries",
        email: "coach@noordwest.demo",
        organisation: "Wijkteam Noordwest",
        role: Role::Coach,
    },
    DemoMember {
        name: "Ahmed Benali",
        email: "coach2@noordwest.demo",
        organisation: "Wijkteam Noordwest",
        role: Role::Coach,
    },
    DemoMember {
        name: "Eva Jansen",
        email: "triage@noordwest.demo",
        organisation: "Wijkteam Noordwest",
        role: Role::Triagist,
    },
    DemoMember {
        name: "Kees Bakker",
        email: "welzijn@noordwest.demo",
        organisation: "Welzijn Noordwest",
        role: Role::WelfareWorker,
    },
    DemoMember {
        name: "Fatima el Amrani",
        email: "zorg@noordwest.demo",
        organisation: "Zorggroep De Linde",
        role: Role::ProviderWorker,
    },
    DemoMember {
        name: "Mirjam Visser",
        email: "fg@noordwest.demo",
        organisation: "Gemeente Noordwest",
        role: Role::PrivacyOfficer,
    },
    DemoMember {
        name: "Pieter Smit",
        email: "beheer@noordwest.demo",
        organisation: "Gemeente Noordwest",
        role: Role::Administrator,
    },
];

/// What a seed run did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SeedOutcome {
    Seeded {
        organisations: usize,
        members: usize,
        clients: usize,
        residents: usize,
    },
    AlreadySeeded,
}

/// The partner-system client id of a demo organisation, e.g. `welzijn-noordwest`.
pub fn demo_client_id(organisation: &str) -> String {
    organisation.to_lowercase().replace(' ', "-")
}

/// Seeds the demo network unless it is there already.
pub async fn demo(db: &Db, keys: &KeyRing, now: DateTime<Utc>) -> Result<SeedOutcome, StoreError> {
    let tx = db.conn().begin().await?;
    let existing = networks::Entity::find()
        .filter(networks::Column::Name.eq(DEMO_NETWORK))
        .one(&tx)
        .await?;
    if existing.is_some() {
        tx.rollback().await?;
        return Ok(SeedOutcome::AlreadySeeded);
    }

    let network_id = Uuid::now_v7();
    networks::Entity::insert(networks::ActiveModel {
        id: Set(network_id),
        name: Set(DEMO_NETWORK.to_owned()),
        areas: Set(json!([
            "Noordwest-Centrum",
            "De Buitenwijk",
            "Havenkwartier"
        ])),
        created_at: Set(now),
    })
    .exec(&tx)
    .await?;

    let mut organisation_ids = Vec::with_capacity(DEMO_ORGANISATIONS.len());
    for organisation in DEMO_ORGANISATIONS {
        let id = Uuid::now_v7();
        organisations::Entity::insert(organisations::ActiveModel {
            id: Set(id),
            name: Set(organisation.name.to_owned()),
            kind: Set(organisation.kind.as_str().to_owned()),
            status: Set(MemberStatus::Active.as_str().to_owned()),
            created_at: Set(now),
        })
        .exec(&tx)
        .await?;
        organisation_networks::Entity::insert(organisation_networks::ActiveModel {
            organisation_id: Set(id),
            network_id: Set(network_id),
        })
        .exec_without_returning(&tx)
        .await?;
        organisation_ids.push((organisation.name, id));
    }
    let organisation_id = |name: &str| {
        organisation_ids
            .iter()
            .find(|(candidate, _)| *candidate == name)
            .map(|(_, id)| *id)
            .ok_or_else(|| StoreError::Corrupt(format!("demo organisation {name} missing")))
    };

    let mut member_ids = Vec::with_capacity(DEMO_MEMBERS.len());
    for member in DEMO_MEMBERS {
        let id = Uuid::now_v7();
        member_ids.push((member.email, id));
        members::Entity::insert(members::ActiveModel {
            id: Set(id),
            organisation_id: Set(organisation_id(member.organisation)?),
            name: Set(member.name.to_owned()),
            email: Set(member.email.to_owned()),
            roles: Set(json!([member.role.as_str()])),
            password_hash: Set(None),
            totp_secret_ciphertext: Set(None),
            totp_last_step: Set(None),
            recovery_code_hashes: Set(None),
            failed_logins: Set(0),
            locked_until: Set(None),
            status: Set(MemberStatus::Active.as_str().to_owned()),
            created_at: Set(now),
            updated_at: Set(now),
        })
        .exec(&tx)
        .await?;
    }

    let mut n_clients = 0;
    for organisation in DEMO_ORGANISATIONS {
        if organisation.kind.client_role().is_none() {
            continue;
        }
        clients::Entity::insert(clients::ActiveModel {
            id: Set(Uuid::now_v7()),
            organisation_id: Set(organisation_id(organisation.name)?),
            client_id: Set(demo_client_id(organisation.name)),
            name: Set(format!("{} (demo partner system)", organisation.name)),
            secret_hash: Set(None),
            public_key_jwk: Set(None),
            scopes: Set(json!(["plans:read", "plans:write"])),
            purposes: Set(json!(["support", "coordination"])),
            status: Set(MemberStatus::Active.as_str().to_owned()),
            created_at: Set(now),
            updated_at: Set(now),
        })
        .exec(&tx)
        .await?;
        n_clients += 1;
    }

    let member_id = |email: &str| {
        member_ids
            .iter()
            .find(|(candidate, _)| *candidate == email)
            .map(|(_, id)| *id)
            .ok_or_else(|| StoreError::Corrupt(format!("demo member {email} missing")))
    };
    let context = crate::demo_residents::Context {
        network: network_id,
        wijkteam: organisation_id("Wijkteam Noordwest")?,
        coaches: [
            member_id("coach@noordwest.demo")?,
            member_id("coach2@noordwest.demo")?,
        ],
        organisation: &organisation_id,
    };
    let residents = crate::demo_residents::seed(&tx, keys, &context, now).await?;

    tx.commit().await?;
    Ok(SeedOutcome::Seeded {
        organisations: DEMO_ORGANISATIONS.len(),
        members: DEMO_MEMBERS.len(),
        clients: n_clients,
        residents,
    })
}

/// The plan of the demo network's first resident, for the welcome message and the README's
/// example: shared with Welzijn Noordwest for support, with a health section it may not see.
pub async fn demo_example_plan(db: &Db) -> Result<Option<Uuid>, StoreError> {
    use sea_orm::QueryOrder;
    Ok(crate::entity::plans::Entity::find()
        .order_by_asc(crate::entity::plans::Column::Id)
        .one(db.conn())
        .await?
        .map(|plan| plan.id))
}
