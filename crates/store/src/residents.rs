//! Finding and registering residents: by BSN through the blind index, a page of the residents a
//! caller has a care relation with, and a new resident with their representatives and the
//! registering wijkteam's care relation in one transaction.
//!
//! A BSN lookup never decrypts the table: only the rows whose blind index matches (a handful in a
//! municipality-sized database) have their BSN column opened, and nothing else of them. This
//! module decides nothing about access — callers pass the party whose care relations count.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use crypto::{DekCache, KeyRing};
use domain::{Bsn, CareRelationKind, ResidentId, ResidentStatus};
use sea_orm::sea_query::{Expr, Query};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, EntityTrait, ExprTrait, QueryFilter,
    QueryOrder, QuerySelect,
};
use secrecy::ExposeSecret;
use uuid::Uuid;

use crate::StoreError;
use crate::entity::{care_relations, representatives, residents};
use crate::sealed::{self, NewResident};

/// The residents whose stored BSN is `bsn` (at most one unless the data is corrupt), erased
/// residents excluded. Candidates come from the blind index under every live index key; only
/// their BSN column is decrypted, and compared in constant time.
pub async fn find_by_bsn(
    conn: &impl ConnectionTrait,
    keys: &KeyRing,
    deks: &DekCache,
    bsn: &Bsn,
) -> Result<Vec<residents::Model>, StoreError> {
    let by_index =
        keys.blind_index_candidates(bsn)
            .into_iter()
            .fold(Condition::any(), |any, index| {
                any.add(
                    Condition::all()
                        .add(residents::Column::BsnBlindIndex.eq(index.bytes().to_vec()))
                        .add(
                            residents::Column::BsnIndexKeyVersion
                                .eq(i64::from(index.key_version())),
                        ),
                )
            });
    let candidates = residents::Entity::find()
        .filter(by_index)
        .filter(residents::Column::Status.ne(ResidentStatus::Erased.as_str()))
        .order_by_asc(residents::Column::Id)
        .all(conn)
        .await?;
    let mut found = Vec::new();
    for candidate in candidates {
        // Erased rows have no data key left; their BSN can never be read again.
        let Some(wrapped) = candidate.wrapped_dek.as_deref() else {
            continue;
        };
        let id = ResidentId::from_uuid(candidate.id);
        let dek = deks.unwrap(keys, wrapped, id)?;
        let stored = sealed::open_text(
            &dek,
            sealed::RESIDENT_BSN,
            candidate.id,
            id,
            &candidate.bsn_ciphertext,
        )?;
        if crypto::bsn_matches(stored.expose_secret().as_bytes(), bsn) {
            found.push(candidate);
        }
    }
    Ok(found)
}

/// Whose care relations make a resident known: an organisation, and possibly one of its members.
#[derive(Clone, Copy, Debug)]
pub struct CareParty {
    pub organisation: Uuid,
    pub member: Option<Uuid>,
}

/// What a page of residents is narrowed to, besides the care relation.
#[derive(Clone, Debug, Default)]
pub struct ResidentFilter {
    /// `active` (the default when `None` is given is every status but `erased`).
    pub status: Option<ResidentStatus>,
    /// The wijk the resident lives in, exactly.
    pub area: Option<String>,
}

/// The ids of up to `limit` residents after `after` (ordered by id, which is time-ordered and
/// never changes), in `networks`, with a care relation of `party` valid at `now`. One query.
pub async fn page_known(
    conn: &impl ConnectionTrait,
    party: CareParty,
    networks: &[Uuid],
    filter: &ResidentFilter,
    after: Option<Uuid>,
    limit: u64,
    now: DateTime<Utc>,
) -> Result<Vec<Uuid>, StoreError> {
    if networks.is_empty() {
        return Ok(Vec::new());
    }
    let parties = Condition::any()
        .add(care_relations::Column::OrganisationId.eq(party.organisation))
        .add_option(
            party
                .member
                .map(|member| care_relations::Column::MemberId.eq(member)),
        );
    let valid_now = Condition::all()
        .add(care_relations::Column::EndedAt.is_null())
        .add(care_relations::Column::ValidFrom.lte(now))
        .add(
            Condition::any()
                .add(care_relations::Column::ValidUntil.is_null())
                .add(care_relations::Column::ValidUntil.gt(now)),
        );
    let related = Query::select()
        .column(care_relations::Column::ResidentId)
        .from(care_relations::Entity)
        .cond_where(Condition::all().add(parties).add(valid_now))
        .to_owned();
    let mut query = residents::Entity::find()
        .select_only()
        .column(residents::Column::Id)
        .filter(Expr::col((residents::Entity, residents::Column::Id)).in_subquery(related))
        .filter(residents::Column::NetworkId.is_in(networks.to_vec()));
    query = match filter.status {
        Some(status) => query.filter(residents::Column::Status.eq(status.as_str())),
        None => query.filter(residents::Column::Status.ne(ResidentStatus::Erased.as_str())),
    };
    if let Some(area) = &filter.area {
        query = query.filter(residents::Column::Area.eq(area.as_str()));
    }
    if let Some(after) = after {
        query = query.filter(residents::Column::Id.gt(after));
    }
    Ok(query
        .order_by_asc(residents::Column::Id)
        .limit(limit)
        .into_tuple::<Uuid>()
        .all(conn)
        .await?)
}

/// A legal representative as the registering coach enters them.
pub struct NewRepresentative {
    pub name: String,
    /// From the closed list the API checks (`moeder`, `vader`, `ouder`, `voogd`, ...): stored in
    /// plaintext, so never free text.
    pub relation: String,
}

impl std::fmt::Debug for NewRepresentative {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NewRepresentative(***)")
    }
}

/// Everything a registration writes.
pub struct Registration {
    /// Chosen by the caller, so the audit entry can name the resident before the write.
    pub id: ResidentId,
    pub resident: NewResident,
    pub representatives: Vec<NewRepresentative>,
    /// The registering wijkteam: it gets a coordinator care relation valid from `now`.
    pub wijkteam: Uuid,
    /// The coach who coordinates, named on the care relation (none when a triagist or a partner
    /// system registers).
    pub coordinating_member: Option<Uuid>,
    /// Who registered: a member's or a partner system's id.
    pub recorded_by: Uuid,
}

impl std::fmt::Debug for Registration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Registration(***)")
    }
}

/// What a registration wrote besides the resident's row.
pub struct Registered {
    pub representatives: Vec<Uuid>,
    pub care_relation: Uuid,
}

/// Writes a registration in `tx` (the caller commits): the resident sealed under a new data key
/// with its blind index, each representative's name sealed, and the wijkteam's care relation.
pub async fn insert_registration(
    tx: &impl ConnectionTrait,
    keys: &KeyRing,
    registration: &Registration,
    now: DateTime<Utc>,
) -> Result<Registered, StoreError> {
    let id = registration.id;
    let (row, dek) = sealed::seal_resident(keys, id, &registration.resident, now)?;
    residents::Entity::insert(row)
        .exec_without_returning(tx)
        .await?;
    let mut representative_ids = Vec::with_capacity(registration.representatives.len());
    for representative in &registration.representatives {
        let row_id = Uuid::now_v7();
        let name = sealed::seal_text(
            &dek,
            sealed::REPRESENTATIVE_NAME,
            row_id,
            id,
            &representative.name,
        )?;
        representatives::Entity::insert(representatives::ActiveModel {
            id: Set(row_id),
            resident_id: Set(id.as_uuid()),
            name_ciphertext: Set(name),
            relation: Set(representative.relation.clone()),
            created_at: Set(now),
        })
        .exec_without_returning(tx)
        .await?;
        representative_ids.push(row_id);
    }
    let care_relation = Uuid::now_v7();
    care_relations::Entity::insert(care_relations::ActiveModel {
        id: Set(care_relation),
        resident_id: Set(id.as_uuid()),
        organisation_id: Set(registration.wijkteam),
        member_id: Set(registration.coordinating_member),
        kind: Set(CareRelationKind::Coordinator.as_str().to_owned()),
        valid_from: Set(now),
        valid_until: Set(None),
        recorded_by: Set(registration.recorded_by),
        created_at: Set(now),
        ended_at: Set(None),
        ended_by: Set(None),
    })
    .exec_without_returning(tx)
    .await?;
    Ok(Registered {
        representatives: representative_ids,
        care_relation,
    })
}

/// The representatives of `residents`, each resident's in id order. One query.
pub async fn load_representatives(
    conn: &impl ConnectionTrait,
    residents: &[Uuid],
) -> Result<HashMap<Uuid, Vec<representatives::Model>>, StoreError> {
    let mut by_resident: HashMap<Uuid, Vec<representatives::Model>> = HashMap::new();
    if residents.is_empty() {
        return Ok(by_resident);
    }
    for row in representatives::Entity::find()
        .filter(representatives::Column::ResidentId.is_in(residents.to_vec()))
        .order_by_asc(representatives::Column::Id)
        .all(conn)
        .await?
    {
        by_resident.entry(row.resident_id).or_default().push(row);
    }
    Ok(by_resident)
}

/// Serialises registrations of the same BSN on PostgreSQL: a transaction-scoped advisory lock
/// keyed by the BSN's blind index under the current key, so of two concurrent registrations the
/// second waits for the first and then finds its row. (Ambiguous on purpose: registrations of
/// other BSNs sharing the 16-bit index wait too, briefly.) SQLite needs none: it has one writer,
/// taken by the first insert of the transaction, and the duplicate check follows that insert.
pub async fn lock_bsn_for_registration(
    tx: &impl ConnectionTrait,
    keys: &KeyRing,
    bsn: &Bsn,
) -> Result<(), StoreError> {
    if tx.get_database_backend() != sea_orm::DatabaseBackend::Postgres {
        return Ok(());
    }
    /// The first key of the two-key advisory lock: "wjrb", registrations by BSN.
    const REGISTRATION_LOCKS: i32 = 0x776a_7262;
    let index = i32::from(keys.blind_index(bsn).value());
    tx.execute_raw(sea_orm::Statement::from_sql_and_values(
        sea_orm::DatabaseBackend::Postgres,
        "SELECT pg_advisory_xact_lock($1, $2)",
        [REGISTRATION_LOCKS.into(), index.into()],
    ))
    .await?;
    Ok(())
}
