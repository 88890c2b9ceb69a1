//! Key rotation over the stored rows: re-wrapping residents' data keys under the current KEK, and
//! recomputing the BSN blind index under the current index key.
//!
//! Both work in batches, one transaction each, selecting only rows not yet under the current
//! version; so a run that is killed part-way simply continues where it stopped. Encrypted fields
//! are never touched: a data key keeps its bytes, only its wrapping changes. Each row is written
//! with a compare-and-set on the bytes read, so a concurrent erasure is never undone.

use std::collections::BTreeMap;

use crypto::KeyRing;
use domain::{ResidentId, ResidentStatus};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
    TransactionTrait,
};

use crate::entity::residents;
use crate::{Db, StoreError, sealed};

/// How many residents' rows are under each key version. Erased residents have no key any more and
/// are not counted.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KeyUsage {
    /// KEK version → residents whose data key it wraps.
    pub kek: BTreeMap<u32, u64>,
    /// Blind-index key version → residents whose BSN index it computed.
    pub blind_index: BTreeMap<u32, u64>,
}

impl KeyUsage {
    pub fn kek_rows(&self, version: u32) -> u64 {
        self.kek.get(&version).copied().unwrap_or(0)
    }

    pub fn blind_index_rows(&self, version: u32) -> u64 {
        self.blind_index.get(&version).copied().unwrap_or(0)
    }

    /// Rows whose data key is not yet under `current`.
    pub fn kek_behind(&self, current: u32) -> u64 {
        self.kek
            .iter()
            .filter(|(version, _)| **version != current)
            .map(|(_, rows)| rows)
            .sum()
    }

    /// Rows whose blind index is not yet under `current`.
    pub fn blind_index_behind(&self, current: u32) -> u64 {
        self.blind_index
            .iter()
            .filter(|(version, _)| **version != current)
            .map(|(_, rows)| rows)
            .sum()
    }
}

/// Counts residents per key version.
pub async fn key_usage(db: &Db) -> Result<KeyUsage, StoreError> {
    let active = residents::Column::Status.ne(ResidentStatus::Erased.as_str());
    let kek: Vec<(i32, i64)> = residents::Entity::find()
        .select_only()
        .column(residents::Column::DekKekVersion)
        .column_as(Expr::col(residents::Column::Id).count(), "rows")
        .filter(active.clone())
        .group_by(residents::Column::DekKekVersion)
        .into_tuple()
        .all(db.conn())
        .await?;
    let blind_index: Vec<(i32, i64)> = residents::Entity::find()
        .select_only()
        .column(residents::Column::BsnIndexKeyVersion)
        .column_as(Expr::col(residents::Column::Id).count(), "rows")
        .filter(active)
        .group_by(residents::Column::BsnIndexKeyVersion)
        .into_tuple()
        .all(db.conn())
        .await?;
    Ok(KeyUsage {
        kek: to_map(kek)?,
        blind_index: to_map(blind_index)?,
    })
}

fn to_map(rows: Vec<(i32, i64)>) -> Result<BTreeMap<u32, u64>, StoreError> {
    rows.into_iter()
        .map(|(version, rows)| {
            let version = u32::try_from(version)
                .map_err(|_| StoreError::Corrupt(format!("negative key version {version}")))?;
            Ok((version, u64::try_from(rows).unwrap_or(0)))
        })
        .collect()
}

/// Re-wraps up to `batch` residents' data keys that are not under the ring's current KEK, in one
/// transaction. Returns how many rows it changed; 0 means the rotation is complete.
pub async fn rewrap_batch(db: &Db, keys: &KeyRing, batch: u64) -> Result<u64, StoreError> {
    let current = keys.current_kek_version();
    let current_i32 = i32::try_from(current)
        .map_err(|_| StoreError::Corrupt(format!("key version {current}")))?;
    let tx = db.conn().begin().await?;
    let rows = residents::Entity::find()
        .filter(residents::Column::Status.ne(ResidentStatus::Erased.as_str()))
        .filter(residents::Column::DekKekVersion.ne(current_i32))
        .order_by_asc(residents::Column::Id)
        .limit(batch)
        .all(&tx)
        .await?;
    let mut changed = 0;
    for row in rows {
        let Some(wrapped) = row.wrapped_dek.as_deref() else {
            continue;
        };
        if crypto::is_erased(wrapped) {
            continue;
        }
        let rewrapped = keys.rewrap(wrapped, ResidentId::from_uuid(row.id))?;
        let result = residents::Entity::update_many()
            .col_expr(residents::Column::WrappedDek, Expr::value(rewrapped))
            .col_expr(residents::Column::DekKekVersion, Expr::value(current_i32))
            .filter(residents::Column::Id.eq(row.id))
            .filter(residents::Column::WrappedDek.eq(wrapped.to_vec()))
            .exec(&tx)
            .await?;
        changed += result.rows_affected;
    }
    tx.commit().await?;
    Ok(changed)
}

/// Recomputes the BSN blind index of up to `batch` residents whose index is not under the ring's
/// current index key, in one transaction. Each resident's BSN is decrypted for it (their data key
/// unwrapped once). Returns how many rows it changed; 0 means the recomputation is complete.
pub async fn reindex_batch(db: &Db, keys: &KeyRing, batch: u64) -> Result<u64, StoreError> {
    let current = keys.current_blind_index_version();
    let current_i32 = i32::try_from(current)
        .map_err(|_| StoreError::Corrupt(format!("key version {current}")))?;
    let tx = db.conn().begin().await?;
    let rows = residents::Entity::find()
        .filter(residents::Column::Status.ne(ResidentStatus::Erased.as_str()))
        .filter(residents::Column::BsnIndexKeyVersion.ne(current_i32))
        .order_by_asc(residents::Column::Id)
        .limit(batch)
        .all(&tx)
        .await?;
    let mut changed = 0;
    for row in rows {
        let Some(wrapped) = row.wrapped_dek.as_deref() else {
            continue;
        };
        let dek = keys.unwrap_dek(wrapped, ResidentId::from_uuid(row.id))?;
        let opened = sealed::open_resident(&dek, &row)?;
        let index = keys.blind_index(&opened.bsn);
        let result = residents::Entity::update_many()
            .col_expr(
                residents::Column::BsnBlindIndex,
                Expr::value(index.bytes().to_vec()),
            )
            .col_expr(
                residents::Column::BsnIndexKeyVersion,
                Expr::value(current_i32),
            )
            .filter(residents::Column::Id.eq(row.id))
            .filter(residents::Column::BsnIndexKeyVersion.eq(row.bsn_index_key_version))
            .exec(&tx)
            .await?;
        changed += result.rows_affected;
    }
    tx.commit().await?;
    Ok(changed)
}

/// Residents in total, not erased: the denominator of a progress bar.
pub async fn active_residents(db: &Db) -> Result<u64, StoreError> {
    Ok(residents::Entity::find()
        .filter(residents::Column::Status.ne(ResidentStatus::Erased.as_str()))
        .count(db.conn())
        .await?)
}
