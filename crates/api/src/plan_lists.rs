//! `plans(filter, first, after)`: the plans of residents the caller has a care relation with, as
//! a Relay connection. Each plan is read exactly as `plan(id)` reads it ([`PlanReader`]): every
//! section decided by the policy, content decrypted only where granted.
//!
//! A page costs a fixed number of queries whatever its size: one for the page, the residents'
//! records in one batch (`store::records::load_records`), their organisations in one, the
//! sections and their current revisions in two. A test counts them (`Db::counting`). One audit
//! entry per resident on the page, all committed before the page leaves; if one cannot be
//! written, nothing leaves.
//!
//! This module must never list a plan whose resident the caller may not know about: the list is
//! drawn from the caller's care relations, and a plan the policy answers with a need-to-know
//! refusal (relation ended, outside the network) is left out, audited as denied.

use std::collections::HashMap;

use async_graphql::connection::{Connection, Edge};
use async_graphql::{Context, ErrorExtensions, ID, InputObject, Object};
use domain::{Action, Category, PlanStatus, ResidentId};
use policy::Request;
use sea_orm::sea_query::Query;
use sea_orm::{ColumnTrait, Condition, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use store::entity::{care_relations, organisation_networks, plans, residents};
use store::records;
use store::sealed;
use uuid::Uuid;

use crate::ApiError;
use crate::access::{
    ResidentRequest, actor, audit_entry, db, facts, named_organisations, need_to_know,
    policy_resident,
};
use crate::caller::CallerId;
use crate::connection;
use crate::plans::{PlanReader, PlanView, load_first_revisions, load_sections};

/// The list name plan cursors are issued under.
const PLANS: &str = "plans";

/// The plan list.
#[derive(Default)]
pub struct PlanListQuery;

#[Object]
impl PlanListQuery {
    /// The plans of residents the caller's organisation (or the caller) has a care relation
    /// with, oldest first, each as `plan(id)` shows it: every section with the policy's answer,
    /// content only where granted. `first` 1–100 (default 20); `after` a cursor from this list.
    /// Needs a purpose (`Wijkhub-Purpose`). One audit entry per resident on the page.
    async fn plans(
        &self,
        ctx: &Context<'_>,
        filter: Option<PlanFilter>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Connection<String, PlanView>> {
        plans(ctx, filter.unwrap_or_default(), first, after)
            .await
            .map_err(|error| error.extend())
    }
}

/// Which plans to list; every field narrows the list.
#[derive(InputObject, Default)]
pub struct PlanFilter {
    /// `draft`, `active` or `closed`.
    pub status: Option<String>,
    /// Only this resident's plans.
    pub resident_id: Option<ID>,
}

/// The page size of `sections.revisions` when the document asks every plan's sections for the
/// first page of their history with one page size (no `after`, which names one section), so
/// the list can load them in one batch; `None` otherwise (each `revisions` then reads its own).
fn revisions_asked(ctx: &Context<'_>) -> Option<u64> {
    let look_ahead = ctx.look_ahead();
    let mut fields = look_ahead
        .field("edges")
        .field("node")
        .field("sections")
        .field("revisions")
        .selection_fields();
    fields.extend(
        look_ahead
            .field("nodes")
            .field("sections")
            .field("revisions")
            .selection_fields(),
    );
    let mut limit = None;
    for field in fields {
        let mut first = None;
        for (name, value) in field.arguments().ok()? {
            match (name.as_str(), value) {
                ("first", async_graphql::Value::Number(number)) => {
                    first = Some(i32::try_from(number.as_i64()?).ok()?);
                }
                ("first" | "after", async_graphql::Value::Null) => {}
                _ => return None,
            }
        }
        let size = connection::page_size(first).ok()?;
        match limit {
            None => limit = Some(size),
            Some(known) if known == size => {}
            Some(_) => return None,
        }
    }
    limit
}

/// `plans`: the resolver.
async fn plans(
    ctx: &Context<'_>,
    filter: PlanFilter,
    first: Option<i32>,
    after: Option<String>,
) -> Result<Connection<String, PlanView>, ApiError> {
    let ResidentRequest {
        caller,
        purpose,
        services,
        info,
        now,
    } = ResidentRequest::new(ctx)?;
    let limit = connection::page_size(first)?;
    let status = filter
        .status
        .as_deref()
        .map(PlanStatus::parse)
        .transpose()
        .map_err(|_| ApiError::BadUserInput("unknown plan status"))?;
    let after = match after.as_deref() {
        None => None,
        Some(cursor) => {
            let position = connection::accept(&services.keys, PLANS, cursor)?;
            Some(Uuid::from_slice(&position).map_err(|_| {
                ApiError::BadUserInput("after is not a cursor this hub issued for this list")
            })?)
        }
    };
    let conn = services.db.conn();

    // The page: plans of active residents in the caller's networks with whom the caller has a
    // care relation valid now, by id (UUIDv7, so by creation), one row more than asked to know
    // whether another page follows. The policy decides again for each plan, below; the query
    // only keeps plans the policy would hide from filling the page.
    let mut party = Condition::any()
        .add(care_relations::Column::OrganisationId.eq(caller.organisation.as_uuid()));
    if let CallerId::Member(member) = caller.id {
        party = party.add(care_relations::Column::MemberId.eq(member.as_uuid()));
    }
    let related = Query::select()
        .column(care_relations::Column::ResidentId)
        .from(care_relations::Entity)
        .cond_where(
            Condition::all()
                .add(party)
                .add(care_relations::Column::EndedAt.is_null())
                .add(care_relations::Column::ValidFrom.lte(now))
                .add(
                    Condition::any()
                        .add(care_relations::Column::ValidUntil.is_null())
                        .add(care_relations::Column::ValidUntil.gt(now)),
                ),
        )
        .to_owned();
    let networks = Query::select()
        .column(organisation_networks::Column::NetworkId)
        .from(organisation_networks::Entity)
        .and_where(organisation_networks::Column::OrganisationId.eq(caller.organisation.as_uuid()))
        .to_owned();
    let active = Query::select()
        .column(residents::Column::Id)
        .from(residents::Entity)
        .and_where(residents::Column::Status.eq(domain::ResidentStatus::Active.as_str()))
        .and_where(residents::Column::NetworkId.in_subquery(networks))
        .to_owned();
    let mut query = plans::Entity::find()
        .filter(plans::Column::ResidentId.in_subquery(related))
        .filter(plans::Column::ResidentId.in_subquery(active))
        .order_by_asc(plans::Column::Id)
        .limit(limit + 1);
    if let Some(status) = status {
        query = query.filter(plans::Column::Status.eq(status.as_str()));
    }
    if let Some(resident) = &filter.resident_id {
        // An id that is not a UUID names no resident: an empty list, like an unknown one.
        let Ok(resident) = Uuid::parse_str(resident.as_str()) else {
            return Ok(Connection::new(after.is_some(), false));
        };
        query = query.filter(plans::Column::ResidentId.eq(resident));
    }
    if let Some(after) = after {
        query = query.filter(plans::Column::Id.gt(after));
    }
    let mut page = query.all(conn).await.map_err(db)?;
    let has_next = page.len() as u64 > limit;
    page.truncate(limit as usize);

    // Everything the policy needs about the page's residents, in batches.
    let mut resident_ids: Vec<Uuid> = page.iter().map(|plan| plan.resident_id).collect();
    resident_ids.sort_unstable();
    resident_ids.dedup();
    let records = records::load_records(conn, &resident_ids).await?;
    let mut organisation_ids = vec![caller.organisation.as_uuid()];
    for plan in &page {
        organisation_ids.push(plan.owning_organisation_id);
    }
    for record in records.values() {
        organisation_ids.extend(named_organisations(record));
    }
    organisation_ids.sort_unstable();
    organisation_ids.dedup();
    let organisations = records::load_organisations(conn, &organisation_ids).await?;
    let actor = actor(caller, &organisations)?;
    let plan_ids: Vec<Uuid> = page.iter().map(|plan| plan.id).collect();
    let (section_rows, current) = load_sections(conn, &plan_ids).await?;

    // Each plan decided as `plan(id)` decides it; one entry per resident, shared by their plans.
    let mut entries: HashMap<Uuid, audit::NewEntry> = HashMap::new();
    let mut plans_of: HashMap<Uuid, usize> = HashMap::new();
    let mut shown: Vec<PlanView> = Vec::with_capacity(page.len());
    for plan in page {
        let record = records
            .get(&plan.resident_id)
            .ok_or_else(|| crate::access::corrupt(format!("plan {}: resident missing", plan.id)))?;
        let resident_id = ResidentId::from_uuid(record.resident.id);
        // An erased resident has no data key left: nothing of theirs can be shown.
        let Some(wrapped) = record.resident.wrapped_dek.as_deref() else {
            continue;
        };
        let dek = services.deks.unwrap(&services.keys, wrapped, resident_id)?;
        // Only the birth date (the policy's age rules); nothing else of the record is opened.
        let birth_date = sealed::open_birth_date(&dek, &record.resident)?;
        let resident = policy_resident(record, birth_date);
        let facts = facts(record, &plan, &organisations)?;
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
        let entry = entries
            .entry(plan.resident_id)
            .or_insert_with(|| audit_entry(caller, &actor, purpose, &info, resident_id, plan.id));
        *plans_of.entry(plan.resident_id).or_default() += 1;
        let read = reader.read(plan.id, &section_rows, &current, entry)?;
        // A plan without sections says nothing through them: ask about it as a whole.
        let probe = policy::decide(
            &services.matrix,
            &actor,
            &Request {
                action: Action::Read,
                category: Category::Story,
                purpose,
                section_author: None,
            },
            &resident,
            &facts,
            now,
        );
        if read.unknown_to_caller || need_to_know(probe.deny_reason()) {
            if entry.reason.is_none() {
                entry.reason = probe
                    .deny_reason()
                    .and_then(|reason| audit::Code::parse(reason.as_str()).ok());
            }
            continue;
        }
        shown.push(PlanView::new(plan, read.views));
    }
    let entries: Vec<audit::NewEntry> = entries
        .into_iter()
        .map(|(resident, mut entry)| {
            // One entry per resident: with several of their plans on the page it names none.
            if plans_of.get(&resident).copied().unwrap_or_default() > 1 {
                entry.plan = None;
            }
            entry.outcome = if entry.categories_returned.is_empty() {
                audit::Outcome::Deny
            } else {
                audit::Outcome::Permit
            };
            entry
        })
        .collect();
    // Submitted together so the group-commit writer can make them durable in one transaction;
    // all must be durable before the page leaves.
    let receipts = async_graphql::futures_util::future::join_all(
        entries
            .into_iter()
            .map(|entry| services.audit.submit(entry)),
    )
    .await;
    if let Some(Err(error)) = receipts.into_iter().find(Result::is_err) {
        tracing::error!(error = %error, "audit entry not written; plan list refused");
        return Err(ApiError::AuditUnavailable);
    }

    // Asked for every section's history too: the first page of each in one more statement.
    if let Some(limit) = revisions_asked(ctx) {
        let section_ids: Vec<Uuid> = shown
            .iter()
            .flat_map(|plan| plan.sections.iter().map(|section| section.id))
            .collect();
        let mut pages = load_first_revisions(conn, &section_ids, limit).await?;
        for section in shown.iter_mut().flat_map(|plan| plan.sections.iter_mut()) {
            let rows = pages.remove(&section.id).unwrap_or_default();
            section.first_revisions = Some((limit, rows));
        }
    }

    let mut connection = Connection::new(after.is_some(), has_next);
    for plan in shown {
        let cursor = connection::issue(&services.keys, PLANS, plan.id.as_bytes());
        connection.edges.push(Edge::new(cursor, plan));
    }
    Ok(connection)
}

#[cfg(test)]
mod tests {
    //! The batch-loading proof: the `plans` resolver alone (its statements counted through
    //! `Db::counting`, the audit writer on a handle of its own) costs the same for a page of 2
    //! plans as for a page of 20. In-process, on the demo network, on SQLite — and on PostgreSQL
    //! when `WIJKHUB_TEST_DATABASE_URL` names a server, as the other database tests do.

    use super::*;
    use crate::test_support::Hub;

    #[tokio::test]
    async fn a_page_of_twenty_plans_costs_what_a_page_of_two_costs() {
        let hub = Hub::start().await;
        let schema = async_graphql::Schema::build(
            PlanListQuery,
            async_graphql::EmptyMutation,
            async_graphql::EmptySubscription,
        )
        .finish();
        let query = "query($first: Int) { plans(first: $first) { edges { node { id \
                     sections { category access { granted } content \
                     revisions(first: 2) { edges { node { revision content } } } } } } } }";

        let mut costs = Vec::new();
        for first in [2, 20, 2] {
            let request = hub.coach_request(query, serde_json::json!({ "first": first }));
            let before = hub.statements();
            let response = schema.execute(request).await;
            let cost = hub.statements() - before;
            assert!(response.errors.is_empty(), "{:?}", response.errors);
            let data = response.data.into_json().unwrap();
            let edges = data["plans"]["edges"].as_array().unwrap();
            assert_eq!(edges.len(), first, "the demo has more than 20 plans");
            assert!(
                edges
                    .iter()
                    .all(|edge| edge["node"]["sections"][0]["content"].is_string()
                        && edge["node"]["sections"][0]["revisions"]["edges"][0]["node"]["content"]
                            .is_string()),
                "the coach's wijkteam reads its own plans"
            );
            costs.push(cost);
        }
        assert_eq!(
            costs[0], costs[1],
            "statements for 2 and for 20 plans: {costs:?}"
        );
        assert_eq!(costs[0], costs[2], "{costs:?}");
        // Page, records (7), organisations (2), sections and their current revisions (2), the
        // first page of every section's history (1).
        assert_eq!(costs[0], 13, "{costs:?}");

        // And every resident on those pages has their entry, committed before the answer.
        let entries = hub.audit_entries("resident.read").await;
        assert_eq!(entries, 2 + 20 + 2);
        hub.remove().await;
    }
}
