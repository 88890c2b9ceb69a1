//! Reading a plan: every section decided by the access policy for this caller, purpose and
//! moment; content decrypted only for sections the policy permits; one audit entry per request
//! and resident, committed before anything is returned.
//!
//! A plan the caller may not know about — no care relation, not in the network — answers exactly
//! like a plan that does not exist (`NOT_FOUND`), and the attempt is audited.

use std::collections::{BTreeSet, HashMap};

use async_graphql::{Context, ID, Object, SimpleObject};
use chrono::Utc;
use domain::{Action, Category, OrganisationId};
use policy::{DenyReason, Request};
use sea_orm::{ColumnTrait, Condition, EntityTrait, QueryFilter};
use secrecy::ExposeSecret;
use store::entity::{section_revisions, sections};
use store::sealed;
use uuid::Uuid;

use crate::ApiError;
use crate::access::{Subject, audit_entry, db, need_to_know, plan_subject};
use crate::context;

/// A support plan as the caller may see it.
pub struct PlanView {
    id: Uuid,
    resident: Uuid,
    status: String,
    kind: String,
    version: i64,
    sections: Vec<SectionView>,
}

#[Object(name = "Plan")]
impl PlanView {
    async fn id(&self) -> ID {
        ID(self.id.to_string())
    }

    /// The resident's id (never their BSN).
    async fn resident_id(&self) -> ID {
        ID(self.resident.to_string())
    }

    /// `draft`, `active` or `closed`.
    async fn status(&self) -> &str {
        &self.status
    }

    /// The legal frame: `wmo` or `jeugd`.
    async fn kind(&self) -> &str {
        &self.kind
    }

    /// Counts every change to the plan or its sections.
    async fn version(&self) -> i64 {
        self.version
    }

    /// Every section of the plan, each with the policy's answer for this caller; content only
    /// where it is granted.
    async fn sections(&self) -> &[SectionView] {
        &self.sections
    }
}

/// One part of the plan.
pub struct SectionView {
    pub(crate) id: Uuid,
    pub(crate) category: Category,
    pub(crate) revision: i64,
    pub(crate) access: AccessView,
    pub(crate) content: Option<String>,
}

#[Object(name = "Section")]
impl SectionView {
    async fn id(&self) -> ID {
        ID(self.id.to_string())
    }

    /// `story`, `goals`, `agreements`, `actions`, `network`, `health`, `finances` or `safety`.
    async fn category(&self) -> &'static str {
        self.category.as_str()
    }

    /// The current revision number.
    async fn revision(&self) -> i64 {
        self.revision
    }

    /// Whether the caller may read this section, and why (or why not).
    async fn access(&self) -> &AccessView {
        &self.access
    }

    /// The current content, only when `access.granted`.
    async fn content(&self) -> Option<&str> {
        self.content.as_deref()
    }
}

/// The policy's answer for one section.
#[derive(Clone, Debug, SimpleObject)]
#[graphql(name = "Access")]
pub struct AccessView {
    pub granted: bool,
    /// Why not: a deny reason code (`no-consent`, `role-forbids-category`, ...); null when granted.
    pub reason: Option<String>,
    /// On what ground: `statutory:<law>`, `consent:<id>`, `break-glass:<id>`; null when denied.
    pub basis: Option<String>,
}

/// `plan(id)`: the resolver.
pub(crate) async fn plan(ctx: &Context<'_>, id: &ID) -> Result<PlanView, ApiError> {
    let caller = crate::caller(ctx)?;
    let purpose = context::purpose(ctx)?;
    let services = context::services(ctx)?;
    let info = context::request_info(ctx);
    let now = Utc::now();
    let Ok(plan_id) = Uuid::parse_str(id.as_str()) else {
        return Err(ApiError::NotFound);
    };
    let conn = services.db.conn();
    let Subject {
        plan,
        actor,
        resident_id,
        dek,
        resident,
        facts,
        ..
    } = plan_subject(services, caller, plan_id).await?;

    // Sections and their current revisions.
    let section_rows = sections::Entity::find()
        .filter(sections::Column::PlanId.eq(plan.id))
        .all(conn)
        .await
        .map_err(db)?;
    // Only the current revision of each section, not the whole history.
    let current_of_each = section_rows.iter().fold(Condition::any(), |any, section| {
        any.add(
            Condition::all()
                .add(section_revisions::Column::SectionId.eq(section.id))
                .add(section_revisions::Column::Revision.eq(section.current_revision)),
        )
    });
    let current: HashMap<Uuid, section_revisions::Model> = if section_rows.is_empty() {
        HashMap::new()
    } else {
        section_revisions::Entity::find()
            .filter(current_of_each)
            .all(conn)
            .await
            .map_err(db)?
            .into_iter()
            .map(|revision| (revision.section_id, revision))
            .collect()
    };

    // One decision per section; content decrypted only where permitted.
    let mut decided = Vec::with_capacity(section_rows.len());
    for section in &section_rows {
        let category = Category::parse(&section.category).map_err(|_| {
            ApiError::Internal(store::StoreError::Corrupt(format!(
                "section {}: category {:?}",
                section.id, section.category
            )))
        })?;
        let revision = current.get(&section.id);
        let request = Request {
            action: Action::Read,
            category,
            purpose,
            section_author: revision
                .map(|revision| OrganisationId::from_uuid(revision.author_organisation_id)),
        };
        let decision = policy::decide(&services.matrix, &actor, &request, &resident, &facts, now);
        decided.push((section, category, revision, decision));
    }

    // Need to know: a caller with no care relation (or outside the network) learns nothing,
    // not even that the plan exists.
    let unknown_to_caller = !decided.is_empty()
        && decided
            .iter()
            .all(|(_, _, _, decision)| need_to_know(decision.deny_reason()));

    let mut entry = audit_entry(caller, &actor, purpose, &info, resident_id, plan.id);
    let mut checks = BTreeSet::new();
    let mut views = Vec::with_capacity(decided.len());
    for (section, category, revision, decision) in &decided {
        checks.extend(decision.checks().iter().map(|check| check.as_str()));
        match decision.basis() {
            Some(basis) if !unknown_to_caller => {
                entry.categories_returned.insert(*category);
                if entry.basis.is_none() {
                    entry.basis = audit::Code::parse(&basis.to_string()).ok();
                }
                let content = match revision {
                    Some(revision) => Some(
                        sealed::open_revision(&dek, resident_id, revision)?
                            .expose_secret()
                            .to_owned(),
                    ),
                    None => None,
                };
                views.push(SectionView {
                    id: section.id,
                    category: *category,
                    revision: section.current_revision,
                    access: AccessView {
                        granted: true,
                        reason: None,
                        basis: Some(basis.to_string()),
                    },
                    content,
                });
            }
            _ => {
                entry.categories_denied.insert(*category);
                let reason = decision.deny_reason().map(DenyReason::as_str);
                if entry.reason.is_none() {
                    entry.reason = reason.and_then(|reason| audit::Code::parse(reason).ok());
                }
                views.push(SectionView {
                    id: section.id,
                    category: *category,
                    revision: section.current_revision,
                    access: AccessView {
                        granted: false,
                        reason: reason.map(str::to_owned),
                        basis: None,
                    },
                    content: None,
                });
            }
        }
    }
    entry.checks = checks
        .into_iter()
        .filter_map(|check| audit::Code::parse(check).ok())
        .collect();
    entry.outcome = if entry.categories_returned.is_empty() {
        audit::Outcome::Deny
    } else {
        audit::Outcome::Permit
    };
    // Durable before anything leaves; if it cannot be written, nothing leaves.
    if let Err(error) = services.audit.submit(entry).await {
        tracing::error!(error = %error, "audit entry not written; plan read refused");
        return Err(ApiError::AuditUnavailable);
    }
    if unknown_to_caller {
        return Err(ApiError::NotFound);
    }
    views.sort_by_key(|view| view.category);
    Ok(PlanView {
        id: plan.id,
        resident: plan.resident_id,
        status: plan.status,
        kind: plan.kind,
        version: plan.version,
        sections: views,
    })
}
