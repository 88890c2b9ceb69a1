//! Every HTTP route of the hub, grouped by caller, and the one middleware stack.

use std::sync::Arc;

use async_graphql::http::GraphiQLSource;
use async_graphql_axum::{GraphQLRequest, GraphQLResponse};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router, middleware};
use serde_json::json;

use crate::app::AppState;
use crate::request_id;

pub fn router(state: Arc<AppState>) -> Router {
    // Partner systems and console members: the GraphQL API.
    let partners = Router::new().route("/graphql", get(graphql).post(graphql));

    // Developers, in the development profile only.
    let development = if state.graphiql {
        Router::new().route("/graphiql", get(graphiql))
    } else {
        Router::new()
    };

    // Operations: liveness and readiness probes.
    let ops = Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz));

    Router::new()
        .merge(partners)
        .merge(development)
        .merge(ops)
        .with_state(state)
        // Outermost first: every request gets its id before anything else runs.
        .layer(middleware::from_fn(request_id::middleware))
}

async fn graphql(State(state): State<Arc<AppState>>, request: GraphQLRequest) -> GraphQLResponse {
    state.schema.execute(request.into_inner()).await.into()
}

async fn graphiql() -> Html<String> {
    Html(GraphiQLSource::build().endpoint("/graphql").finish())
}

/// The process is up. Deliberately checks nothing else.
async fn healthz() -> &'static str {
    "ok"
}

/// The database answers and its schema is the one this binary expects.
async fn readyz(State(state): State<Arc<AppState>>) -> Response {
    match state.db.ready().await {
        Ok(true) => Json(json!({ "status": "ready" })).into_response(),
        Ok(false) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "status": "not-ready", "reason": "migrations-pending" })),
        )
            .into_response(),
        Err(error) => {
            tracing::warn!(error = %error, "readiness check failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({ "status": "not-ready", "reason": "database-unreachable" })),
            )
                .into_response()
        }
    }
}
