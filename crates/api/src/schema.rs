//! Schema assembly.

use async_graphql::{Context, EmptySubscription, ErrorExtensions, MergedObject, Object, Schema};

use crate::caller::Viewer;

/// The version of the GraphQL contract, bumped on a breaking change only.
pub const API_VERSION: &str = "1";

pub type ApiSchema = Schema<Query, Mutation, EmptySubscription>;

/// How the schema is built for a profile.
#[derive(Clone, Copy, Debug)]
pub struct SchemaOptions {
    /// Introspection queries answered (development only).
    pub introspection: bool,
    /// "Did you mean …?" in validation errors (development only: they spell out field names).
    pub suggestions: bool,
    /// What one document may ask (`[graphql]`), checked before any resolver runs.
    pub limits: crate::limits::QueryLimits,
}

impl SchemaOptions {
    /// Production: no introspection, no suggestions.
    pub fn production(limits: crate::limits::QueryLimits) -> SchemaOptions {
        SchemaOptions {
            introspection: false,
            suggestions: false,
            limits,
        }
    }

    /// Development: introspection and suggestions on; the same limits.
    pub fn development(limits: crate::limits::QueryLimits) -> SchemaOptions {
        SchemaOptions {
            introspection: true,
            suggestions: true,
            limits,
        }
    }
}

pub fn build_schema(options: SchemaOptions) -> ApiSchema {
    let limits = options.limits;
    let mut builder = Schema::build(Query::default(), Mutation::default(), EmptySubscription)
        // The limits extension refuses deep documents before parsing; async-graphql's own
        // recursion guard stays as a second line, never the first to answer.
        .limit_recursive_depth(limits.max_depth.saturating_add(16).max(32))
        .extension(crate::limits::LimitsExtension(limits))
        // The server reads `max_batch` here before it runs a batch.
        .data(limits);
    if !options.introspection {
        builder = builder.disable_introspection();
    }
    if !options.suggestions {
        builder = builder.disable_suggestions();
    }
    builder.finish()
}

/// The schema in GraphQL SDL, as published in `docs/schema.graphql` (a test keeps it current).
pub fn schema_sdl() -> String {
    build_schema(SchemaOptions::production(Default::default())).sdl()
}

// One member per area, each in its own module.
/// Every read. Whatever touches resident data needs a credential and a declared purpose
/// (`Wijkhub-Purpose`), and is audited.
#[derive(MergedObject, Default)]
pub struct Query(
    BaseQuery,
    crate::plan_lists::PlanListQuery,
    crate::audit_log::AuditQuery,
    crate::residents::ResidentQuery,
);

/// Every mutation, one member per area.
#[derive(MergedObject, Default)]
pub struct Mutation(
    crate::plan_writes::PlanMutations,
    crate::consents::ConsentMutations,
    crate::objections::ObjectionMutations,
    crate::care_relations::CareRelationMutations,
    crate::break_glass::BreakGlassMutations,
    crate::erasure::ErasureMutations,
    crate::residents::ResidentMutations,
);

/// The version, the caller, and the first plan and consent reads.
#[derive(Default)]
pub struct BaseQuery;

#[Object]
impl BaseQuery {
    /// The version of this GraphQL contract.
    async fn api_version(&self) -> &'static str {
        API_VERSION
    }

    /// A support plan: every section with the policy's answer for this caller and the declared
    /// purpose (`Wijkhub-Purpose`), content only where granted. Audited.
    async fn plan(
        &self,
        ctx: &Context<'_>,
        id: async_graphql::ID,
    ) -> async_graphql::Result<crate::plans::PlanView> {
        crate::plans::plan(ctx, &id)
            .await
            .map_err(|error| error.extend())
    }

    /// The resident's consents with their full history: every version, withdrawals with who and
    /// when; evidence and withdrawal reason only for the wijkteam that owns the plan. Needs a care
    /// relation and a declared purpose. Audited.
    async fn consents(
        &self,
        ctx: &Context<'_>,
        resident_id: async_graphql::ID,
    ) -> async_graphql::Result<Vec<crate::consents::ConsentView>> {
        crate::consents::consents(ctx, &resident_id)
            .await
            .map_err(|error| error.extend())
    }

    /// In plain language: which organisation may see which parts of the resident's plan, for
    /// which purpose, until when and on what basis. Needs a care relation and a purpose. Audited.
    async fn sharing_overview(
        &self,
        ctx: &Context<'_>,
        resident_id: async_graphql::ID,
    ) -> async_graphql::Result<Vec<crate::consents::SharingLineView>> {
        crate::consents::sharing_overview(ctx, &resident_id)
            .await
            .map_err(|error| error.extend())
    }

    /// Who is calling: member or partner system, organisation, roles, scopes. Needs a credential.
    async fn viewer(&self, ctx: &Context<'_>) -> async_graphql::Result<Viewer> {
        crate::caller::viewer(ctx).map_err(|error| error.extend())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn answers_api_version() {
        let schema = build_schema(SchemaOptions::production(Default::default()));
        let response = schema.execute("{ apiVersion }").await;
        assert!(response.errors.is_empty(), "{:?}", response.errors);
        assert_eq!(response.data.to_string(), r#"{apiVersion: "1"}"#);
    }

    #[tokio::test]
    async fn introspection_follows_the_option() {
        let query = "{ __schema { queryType { name } } }";
        let closed = build_schema(SchemaOptions::production(Default::default()))
            .execute(query)
            .await;
        assert!(
            !closed.data.to_string().contains("Query"),
            "closed schema answered introspection: {}",
            closed.data
        );
        let open = build_schema(SchemaOptions::development(Default::default()))
            .execute(query)
            .await;
        assert!(open.errors.is_empty(), "{:?}", open.errors);
        assert!(open.data.to_string().contains("Query"), "{}", open.data);
    }

    #[tokio::test]
    async fn viewer_needs_a_caller_and_shows_only_who_it_is() {
        use crate::{Caller, CallerId, Credential};
        let schema = build_schema(SchemaOptions::production(Default::default()));
        let query = "{ viewer { kind id clientId organisation { id } roles scopes purposes authenticationMethods credential } }";
        let anonymous = schema.execute(query).await;
        assert_eq!(anonymous.errors.len(), 1);
        assert_eq!(
            anonymous.errors[0]
                .extensions
                .as_ref()
                .and_then(|ext| ext.get("code"))
                .map(ToString::to_string),
            Some("\"UNAUTHENTICATED\"".to_owned())
        );

        let client = domain::ClientId::new();
        let organisation = domain::OrganisationId::new();
        let caller = Caller {
            id: CallerId::Client(client),
            client_id: "welzijn-noordwest".into(),
            organisation,
            roles: vec![domain::Role::WelfareWorker],
            scopes: vec!["plans:read".into()],
            purposes: vec![domain::Purpose::Support],
            amr: Vec::new(),
            credential: Credential::AccessToken,
            expires_at: chrono::Utc::now(),
        };
        let response = schema
            .execute(async_graphql::Request::new(query).data(caller))
            .await;
        assert!(response.errors.is_empty(), "{:?}", response.errors);
        let data = response.data.to_string();
        for expected in [
            "kind: CLIENT",
            &client.to_string(),
            "welzijn-noordwest",
            &organisation.to_string(),
            "welfare-worker",
            "plans:read",
            "support",
            "ACCESS_TOKEN",
        ] {
            assert!(data.contains(expected), "{expected} missing from {data}");
        }
    }
}
