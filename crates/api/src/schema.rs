//! Schema assembly.

use async_graphql::{EmptyMutation, EmptySubscription, Object, Schema};

/// The version of the GraphQL contract, bumped on a breaking change only.
pub const API_VERSION: &str = "1";

pub type ApiSchema = Schema<Query, EmptyMutation, EmptySubscription>;

/// How the schema is built for a profile.
#[derive(Clone, Copy, Debug)]
pub struct SchemaOptions {
    /// Introspection queries answered (development only).
    pub introspection: bool,
}

pub fn build_schema(options: SchemaOptions) -> ApiSchema {
    let mut builder = Schema::build(Query, EmptyMutation, EmptySubscription);
    if !options.introspection {
        builder = builder.disable_introspection();
    }
    builder.finish()
}

pub struct Query;

#[Object]
impl Query {
    /// The version of this GraphQL contract.
    async fn api_version(&self) -> &'static str {
        API_VERSION
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn answers_api_version() {
        let schema = build_schema(SchemaOptions {
            introspection: false,
        });
        let response = schema.execute("{ apiVersion }").await;
        assert!(response.errors.is_empty(), "{:?}", response.errors);
        assert_eq!(response.data.to_string(), r#"{apiVersion: "1"}"#);
    }

    #[tokio::test]
    async fn introspection_follows_the_option() {
        let query = "{ __schema { queryType { name } } }";
        let closed = build_schema(SchemaOptions {
            introspection: false,
        })
        .execute(query)
        .await;
        assert!(
            !closed.data.to_string().contains("Query"),
            "closed schema answered introspection: {}",
            closed.data
        );
        let open = build_schema(SchemaOptions {
            introspection: true,
        })
        .execute(query)
        .await;
        assert!(open.errors.is_empty(), "{:?}", open.errors);
        assert!(open.data.to_string().contains("Query"), "{}", open.data);
    }
}
