//! Erasure by crypto-shredding: a resident's wrapped data key is replaced by the erased marker,
//! so every field sealed under it — name, BSN, story, every revision — can never be opened again,
//! while the rows, the rest of the database and the audit trail (which holds no content) stay.
//! A tombstone records who erased the resident, when, and on what ground.
//!
//! Only when the law allows: every plan of the resident must be closed, and the retention period
//! of each plan's kind must have passed since it closed (`[retention]`; sources in SECURITY.md).
//! Otherwise erasure is refused with the date it becomes possible.
//!
//! Backups keep the old wrapped key; erasure reaches them when the KEK that wrapped it is rotated
//! and retired (`wijkhub keys rotate`, `keys retire`).

use chrono::{DateTime, Months, Utc};
use domain::{PlanKind, PlanStatus, ResidentStatus};
use sea_orm::ActiveValue::Set;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, TransactionTrait};
use serde::Deserialize;
use uuid::Uuid;

use crate::entity::{erasures, plans, residents};
use crate::{Db, StoreError};

/// `[retention]`: how many years a plan's file is kept after the plan closed, per kind of plan.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct RetentionConfig {
    /// Wmo 2015 support.
    pub wmo_years: u32,
    /// Youth care (Jeugdwet art. 7.3.8: twenty years).
    pub jeugd_years: u32,
}

impl RetentionConfig {
    pub fn years(&self, kind: PlanKind) -> u32 {
        match kind {
            PlanKind::Wmo => self.wmo_years,
            PlanKind::Jeugd => self.jeugd_years,
        }
    }
}

/// Why a resident was not erased. Nothing was written.
#[derive(Debug, thiserror::Error)]
pub enum EraseError {
    #[error("no resident with id {0}")]
    NotFound(Uuid),
    #[error("resident {resident} was already erased on {erased_at}")]
    AlreadyErased {
        resident: Uuid,
        erased_at: DateTime<Utc>,
    },
    #[error(
        "plan {plan} of this resident is still {status}; close it first, then wait for its retention period"
    )]
    PlanOpen { plan: Uuid, status: String },
    #[error(
        "the retention period runs until {until} ({kind} plan {plan}, {years} years after it closed); erasure is possible from then"
    )]
    RetentionRunning {
        plan: Uuid,
        kind: String,
        years: u32,
        until: chrono::NaiveDate,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sea_orm::DbErr> for EraseError {
    fn from(error: sea_orm::DbErr) -> Self {
        EraseError::Store(StoreError::Database(error))
    }
}

/// What an erasure did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Erased {
    pub resident: Uuid,
    pub erased_at: DateTime<Utc>,
    pub retention_ended_at: DateTime<Utc>,
}

/// Who erases, for the tombstone: `member:<uuid>` or `cli:<user>`; and the ground (no personal
/// data: a request number or decision reference).
#[derive(Clone, Debug)]
pub struct Eraser {
    pub by: String,
    pub ground: String,
}

/// Erases `resident` if the retention rules allow it, in one transaction.
pub async fn erase_resident(
    db: &Db,
    resident: Uuid,
    retention: &RetentionConfig,
    eraser: &Eraser,
    now: DateTime<Utc>,
) -> Result<Erased, EraseError> {
    let tx = db.conn().begin().await?;
    let row = residents::Entity::find_by_id(resident)
        .one(&tx)
        .await?
        .ok_or(EraseError::NotFound(resident))?;
    if row.status == ResidentStatus::Erased.as_str() {
        return Err(EraseError::AlreadyErased {
            resident,
            erased_at: row.erased_at.unwrap_or(row.updated_at),
        });
    }

    // The latest end of any plan's retention period; a resident without plans has nothing to keep.
    let mut retention_ended_at = row.created_at;
    for plan in plans::Entity::find()
        .filter(plans::Column::ResidentId.eq(resident))
        .all(&tx)
        .await?
    {
        if plan.status != PlanStatus::Closed.as_str() {
            return Err(EraseError::PlanOpen {
                plan: plan.id,
                status: plan.status,
            });
        }
        let kind = PlanKind::parse(&plan.kind)
            .map_err(|_| StoreError::Corrupt(format!("plan {}: kind {:?}", plan.id, plan.kind)))?;
        let years = retention.years(kind);
        let ends = plan
            .updated_at
            .checked_add_months(Months::new(years.saturating_mul(12)))
            .unwrap_or(DateTime::<Utc>::MAX_UTC);
        if ends > now {
            return Err(EraseError::RetentionRunning {
                plan: plan.id,
                kind: plan.kind,
                years,
                until: ends.date_naive(),
            });
        }
        retention_ended_at = retention_ended_at.max(ends);
    }

    // Compare-and-set on the status, so two erasures (or an erasure and a rotation) cannot race.
    let result = residents::Entity::update_many()
        .col_expr(
            residents::Column::WrappedDek,
            Expr::value(crypto::ERASED_WRAPPED_DEK.to_vec()),
        )
        .col_expr(
            residents::Column::Status,
            Expr::value(ResidentStatus::Erased.as_str()),
        )
        .col_expr(residents::Column::ErasedAt, Expr::value(now))
        .col_expr(residents::Column::UpdatedAt, Expr::value(now))
        .filter(residents::Column::Id.eq(resident))
        .filter(residents::Column::Status.eq(row.status.clone()))
        .exec(&tx)
        .await?;
    if result.rows_affected != 1 {
        return Err(EraseError::Store(StoreError::Corrupt(format!(
            "resident {resident} changed while being erased; try again"
        ))));
    }
    erasures::Entity::insert(erasures::ActiveModel {
        id: Set(Uuid::now_v7()),
        resident_id: Set(resident),
        erased_at: Set(now),
        erased_by: Set(eraser.by.clone()),
        ground: Set(eraser.ground.clone()),
        retention_ended_at: Set(retention_ended_at),
    })
    .exec_without_returning(&tx)
    .await?;
    tx.commit().await?;
    Ok(Erased {
        resident,
        erased_at: now,
        retention_ended_at,
    })
}
