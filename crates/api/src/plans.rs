//! Reading a plan: every section decided by the access policy for this caller, purpose and
//! moment; content decrypted only for sections the policy permits; one audit entry per request
//! and resident, committed before anything is returned.
//!
//! A plan the caller may not know about — no care relation, not in the network — answers exactly
//! like a plan that does not exist (`NOT_FOUND`), and the attempt is audited.
//!
//! The deciding and decrypting of a plan's sections ([`PlanReader`]) and the batch loading of
//! sections and their current revisions are shared with the `plans` list (`plan_lists.rs`), so
//! one plan and a page of plans are read by the same rules. A section's `revisions` are read here
//! too: decrypted only when the section is granted, and only the page returned.

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::connection::{Connection, Edge};
use async_graphql::{Context, ErrorExtensions, ID, Object, SimpleObject};
use chrono::{DateTime, Utc};
use crypto::Dek;
use domain::{Action, Category, OrganisationId, Purpose, ResidentId};
use policy::{Actor, DenyReason, Facts, Request};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use secrecy::ExposeSecret;
use store::entity::{section_revisions, sections};
use store::sealed;
use uuid::Uuid;

use crate::ApiError;
use crate::access::{Subject, audit_entry, corrupt, db, plan_subject};
use crate::connection;
use crate::context;

/// A support plan as the caller may see it.
pub struct PlanView {
    pub(crate) id: Uuid,
    pub(crate) resident: Uuid,
    pub(crate) status: String,
    pub(crate) kind: String,
    pub(crate) version: i64,
    pub(crate) coordinating_member: Option<Uuid>,
    pub(crate) owning_organisation: Uuid,
    pub(crate) sections: Vec<SectionView>,
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

    /// The wijkteam that owns the plan (regie).
    async fn owning_organisation_id(&self) -> ID {
        ID(self.owning_organisation.to_string())
    }

    /// The coach who coordinates the plan, if one is named.
    async fn coordinating_member_id(&self) -> Option<ID> {
        self.coordinating_member.map(|id| ID(id.to_string()))
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
    pub(crate) resident: ResidentId,
    /// The resident's data key, held only for a granted section: the history of a denied one
    /// cannot be decrypted by mistake.
    pub(crate) dek: Option<Arc<Dek>>,
    /// The first page of `revisions` (`limit` rows and one more), when the list that returned
    /// this section loaded every section's first page in one batch.
    pub(crate) first_revisions: Option<(u64, Vec<section_revisions::Model>)>,
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

    /// The section's full history, newest first: every revision ever written (nothing is
    /// overwritten). Content and author only when `access.granted`, decrypted only for the page
    /// returned. `first` 1–100 (default 20); `after` a cursor from this connection.
    async fn revisions(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Connection<String, RevisionView>> {
        revisions(ctx, self, first, after)
            .await
            .map_err(|error| error.extend())
    }
}

/// One revision of a section (a version of its content, never changed once written).
pub struct RevisionView {
    revision: i64,
    created_at: DateTime<Utc>,
    author_organisation: Option<Uuid>,
    content: Option<String>,
}

#[Object(name = "SectionRevision")]
impl RevisionView {
    /// 1 for the first version, one more for each write.
    async fn revision(&self) -> i64 {
        self.revision
    }

    async fn created_at(&self) -> DateTime<Utc> {
        self.created_at
    }

    /// The organisation that wrote it; only when the section is granted (who writes in a
    /// section can itself say something about the resident).
    async fn author_organisation_id(&self) -> Option<ID> {
        self.author_organisation.map(|id| ID(id.to_string()))
    }

    /// The content of this revision; only when the section is granted.
    async fn content(&self) -> Option<&str> {
        self.content.as_deref()
    }
}

/// The list name revision cursors are issued under.
const REVISIONS: &str = "revisions";

/// `Section.revisions`: one query for the page (plus one row to know whether more follow).
/// The section's access was decided, and audited, by the read that returned the section.
async fn revisions(
    ctx: &Context<'_>,
    section: &SectionView,
    first: Option<i32>,
    after: Option<String>,
) -> Result<Connection<String, RevisionView>, ApiError> {
    let services = context::services(ctx)?;
    let limit = connection::page_size(first)?;
    // A position is the section's id and the revision: a cursor of another section is refused.
    let before = match after.as_deref() {
        None => None,
        Some(cursor) => {
            let position = connection::accept(&services.keys, REVISIONS, cursor)?;
            let (section_bytes, revision_bytes) = position
                .split_at_checked(16)
                .ok_or(ApiError::BadUserInput(CURSOR_REFUSED))?;
            let revision = <[u8; 8]>::try_from(revision_bytes)
                .map_err(|_| ApiError::BadUserInput(CURSOR_REFUSED))?;
            if section_bytes != section.id.as_bytes() {
                return Err(ApiError::BadUserInput(CURSOR_REFUSED));
            }
            Some(i64::from_be_bytes(revision))
        }
    };
    let mut rows = match &section.first_revisions {
        // Loaded with the rest of the page (`plans`): no query of its own.
        Some((batch_limit, rows)) if before.is_none() && *batch_limit == limit => rows.clone(),
        _ => {
            let mut query = section_revisions::Entity::find()
                .filter(section_revisions::Column::SectionId.eq(section.id))
                .order_by_desc(section_revisions::Column::Revision)
                .limit(limit + 1);
            if let Some(before) = before {
                query = query.filter(section_revisions::Column::Revision.lt(before));
            }
            query.all(services.db.conn()).await.map_err(db)?
        }
    };
    let has_next = rows.len() as u64 > limit;
    rows.truncate(limit as usize);
    let mut page = Connection::new(before.is_some(), has_next);
    for row in rows {
        let content = match &section.dek {
            Some(dek) => Some(
                sealed::open_revision(dek, section.resident, &row)?
                    .expose_secret()
                    .to_owned(),
            ),
            None => None,
        };
        let mut position = section.id.as_bytes().to_vec();
        position.extend_from_slice(&row.revision.to_be_bytes());
        page.edges.push(Edge::new(
            connection::issue(&services.keys, REVISIONS, &position),
            RevisionView {
                revision: row.revision,
                created_at: row.created_at,
                author_organisation: section.dek.is_some().then_some(row.author_organisation_id),
                content,
            },
        ));
    }
    Ok(page)
}

const CURSOR_REFUSED: &str = "after is not a cursor this hub issued for this list";

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

/// The sections of `plans`, and the current revision of each: two queries, whatever the number
/// of plans.
pub(crate) async fn load_sections(
    conn: &impl ConnectionTrait,
    plans: &[Uuid],
) -> Result<
    (
        Vec<sections::Model>,
        HashMap<Uuid, section_revisions::Model>,
    ),
    ApiError,
> {
    if plans.is_empty() {
        return Ok((Vec::new(), HashMap::new()));
    }
    let section_rows = sections::Entity::find()
        .filter(sections::Column::PlanId.is_in(plans.to_vec()))
        .order_by_asc(sections::Column::Id)
        .all(conn)
        .await
        .map_err(db)?;
    if section_rows.is_empty() {
        return Ok((section_rows, HashMap::new()));
    }
    // Only the current revision of each section, not the whole history: the row whose number
    // is its section's `current_revision` (one correlated subquery, on SQLite and PostgreSQL).
    let current = section_revisions::Entity::find()
        .filter(
            section_revisions::Column::SectionId.is_in(
                section_rows
                    .iter()
                    .map(|section| section.id)
                    .collect::<Vec<_>>(),
            ),
        )
        .filter(Expr::cust(
            "section_revisions.revision = (SELECT sections.current_revision FROM sections \
             WHERE sections.id = section_revisions.section_id)",
        ))
        .all(conn)
        .await
        .map_err(db)?
        .into_iter()
        .map(|revision| (revision.section_id, revision))
        .collect();
    Ok((section_rows, current))
}

/// What deciding one plan's sections needs: the caller as the policy's actor, the resident, the
/// facts about this plan, and the resident's data key (used only for granted sections).
pub(crate) struct PlanReader<'a> {
    pub(crate) matrix: &'a policy::Matrix,
    pub(crate) actor: &'a Actor,
    pub(crate) resident: &'a policy::Resident,
    pub(crate) facts: &'a Facts,
    pub(crate) dek: &'a Arc<Dek>,
    pub(crate) resident_id: ResidentId,
    pub(crate) purpose: Purpose,
    pub(crate) now: DateTime<Utc>,
}

/// One plan's sections as decided for the caller.
pub(crate) struct ReadSections {
    pub(crate) views: Vec<SectionView>,
    /// Every section was denied for need-to-know: the caller may not learn the plan exists.
    pub(crate) unknown_to_caller: bool,
}

impl PlanReader<'_> {
    /// Decides every section of one plan (`sections` may hold other plans' sections too; only
    /// `plan`'s are read), decrypts the granted ones, and records categories returned and
    /// denied, basis, reason and checks in `entry`.
    pub(crate) fn read(
        &self,
        plan: Uuid,
        sections: &[sections::Model],
        current: &HashMap<Uuid, section_revisions::Model>,
        entry: &mut audit::NewEntry,
    ) -> Result<ReadSections, ApiError> {
        let mut decided = Vec::new();
        for section in sections.iter().filter(|section| section.plan_id == plan) {
            let category = Category::parse(&section.category).map_err(|_| {
                corrupt(format!(
                    "section {}: category {:?}",
                    section.id, section.category
                ))
            })?;
            let revision = current.get(&section.id);
            let request = Request {
                action: Action::Read,
                category,
                purpose: self.purpose,
                section_author: revision
                    .map(|revision| OrganisationId::from_uuid(revision.author_organisation_id)),
            };
            let decision = policy::decide(
                self.matrix,
                self.actor,
                &request,
                self.resident,
                self.facts,
                self.now,
            );
            decided.push((section, category, revision, decision));
        }

        // Need to know: a caller with no care relation (or outside the network) learns nothing,
        // not even that the plan exists. Asked of the policy as a whole, not read off the
        // sections' refusals: a section the caller's role may never see is refused for its role
        // before the care relation is looked at, and a plan without sections has no refusals at
        // all. A permit (break-the-glass stands in for the care relation) always makes it known.
        let unknown_to_caller =
            !(policy::knows_resident(self.actor, self.resident, self.facts, self.now)
                || decided
                    .iter()
                    .any(|(_, _, _, decision)| decision.basis().is_some()));

        let mut views = Vec::with_capacity(decided.len());
        for (section, category, revision, decision) in &decided {
            for check in decision.checks().iter() {
                if let Ok(code) = audit::Code::parse(check.as_str())
                    && !entry.checks.contains(&code)
                {
                    entry.checks.push(code);
                }
            }
            match decision.basis() {
                Some(basis) if !unknown_to_caller => {
                    entry.categories_returned.insert(*category);
                    if entry.basis.is_none() {
                        entry.basis = audit::Code::parse(&basis.to_string()).ok();
                    }
                    // Decrypted here and only here: the policy permitted this section.
                    let content = match revision {
                        Some(revision) => Some(
                            sealed::open_revision(self.dek, self.resident_id, revision)?
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
                        resident: self.resident_id,
                        dek: Some(self.dek.clone()),
                        first_revisions: None,
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
                        resident: self.resident_id,
                        dek: None,
                        first_revisions: None,
                    });
                }
            }
        }
        views.sort_by_key(|view| view.category);
        Ok(ReadSections {
            views,
            unknown_to_caller,
        })
    }
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
    let Subject {
        plan,
        actor,
        resident_id,
        dek,
        resident,
        facts,
        ..
    } = plan_subject(services, caller, plan_id).await?;

    let (section_rows, current) = load_sections(services.db.conn(), &[plan.id]).await?;
    let reader = PlanReader {
        matrix: &services.matrix,
        actor: &actor,
        resident: &resident,
        facts: &facts,
        dek: &dek,
        resident_id,
        purpose,
        now,
    };
    let mut entry = audit_entry(caller, &actor, purpose, &info, resident_id, plan.id);
    let read = reader.read(plan.id, &section_rows, &current, &mut entry)?;
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
    if read.unknown_to_caller {
        return Err(ApiError::NotFound);
    }
    Ok(PlanView::new(plan, read.views))
}

impl PlanView {
    pub(crate) fn new(plan: store::entity::plans::Model, sections: Vec<SectionView>) -> PlanView {
        PlanView {
            id: plan.id,
            resident: plan.resident_id,
            status: plan.status,
            kind: plan.kind,
            version: plan.version,
            coordinating_member: plan.coordinating_member_id,
            owning_organisation: plan.owning_organisation_id,
            sections,
        }
    }
}

/// The newest `limit + 1` revisions of each of `sections` (the first page of each `revisions`
/// and one row more, to know whether another page follows), in one statement: a window over the
/// sections' histories, on SQLite (3.25+) and PostgreSQL alike.
pub(crate) async fn load_first_revisions(
    conn: &impl ConnectionTrait,
    sections: &[Uuid],
    limit: u64,
) -> Result<HashMap<Uuid, Vec<section_revisions::Model>>, ApiError> {
    let mut pages: HashMap<Uuid, Vec<section_revisions::Model>> = HashMap::new();
    if sections.is_empty() {
        return Ok(pages);
    }
    let backend = conn.get_database_backend();
    let placeholders: Vec<String> = (1..=sections.len())
        .map(|n| match backend {
            sea_orm::DbBackend::Postgres => format!("${n}"),
            _ => "?".to_owned(),
        })
        .collect();
    let sql = format!(
        "SELECT id, section_id, revision, content_ciphertext, author_organisation_id, \
         author_member_id, author_client_id, created_at FROM (SELECT section_revisions.*, \
         ROW_NUMBER() OVER (PARTITION BY section_id ORDER BY revision DESC) AS position \
         FROM section_revisions WHERE section_id IN ({})) ranked \
         WHERE position <= {} ORDER BY section_id, revision DESC",
        placeholders.join(", "),
        limit + 1
    );
    let values: Vec<sea_orm::Value> = sections.iter().map(|id| (*id).into()).collect();
    let rows = section_revisions::Entity::find()
        .from_raw_sql(sea_orm::Statement::from_sql_and_values(
            backend, sql, values,
        ))
        .all(conn)
        .await
        .map_err(db)?;
    for row in rows {
        pages.entry(row.section_id).or_default().push(row);
    }
    Ok(pages)
}
