//! Every HTTP route of the hub, grouped by caller, and the one middleware stack.

use std::sync::Arc;

use async_graphql::http::GraphiQLSource;
use async_graphql_axum::{GraphQLRequest, GraphQLResponse};
use std::net::SocketAddr;

use axum::extract::{ConnectInfo, DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::http::{HeaderMap, Method, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router, middleware};
use serde_json::json;

use crate::app::AppState;
use crate::auth::{bearer, login, oauth};
use crate::request_id;

/// Largest body the token endpoint and the login routes read.
const AUTH_BODY_LIMIT: usize = 16 * 1024;

pub fn router(state: Arc<AppState>) -> Router {
    // Partner systems and console members: the GraphQL API, behind authentication (a bearer
    // token or a console session; none is anonymous, which only `apiVersion` answers).
    let partners = Router::new()
        .route("/graphql", get(graphql).post(graphql))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            bearer::authenticate,
        ));

    // Partner systems: OAuth2 client credentials and the keys that verify the tokens.
    let oauth = Router::new()
        .route("/oauth/token", post(oauth::token))
        .route("/.well-known/jwks.json", get(oauth::jwks))
        .layer(DefaultBodyLimit::max(AUTH_BODY_LIMIT));

    // Console members: login with a session cookie, second-factor enrolment.
    let console = Router::new()
        .route("/auth/login", post(login::login))
        .route("/auth/logout", post(login::logout))
        .route("/auth/totp/enrol", post(login::totp_enrol))
        .route("/auth/totp/confirm", post(login::totp_confirm))
        .layer(DefaultBodyLimit::max(AUTH_BODY_LIMIT));

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
        .merge(oauth)
        .merge(console)
        .merge(development)
        .merge(ops)
        .with_state(state)
        // Outermost first: every request gets its id before anything else runs.
        .layer(middleware::from_fn(request_id::middleware))
}

async fn graphql(
    State(state): State<Arc<AppState>>,
    caller: Option<Extension<api::Caller>>,
    request_id: Option<Extension<request_id::RequestId>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    method: Method,
    headers: HeaderMap,
    request: GraphQLRequest,
) -> Response {
    let mut request = request.into_inner();
    // A GET must never change anything (it is cached, prefetched, logged with its query):
    // async-graphql would run a mutation sent over GET, so it is refused here.
    if method == Method::GET && has_mutation(&request.query) {
        return (
            StatusCode::METHOD_NOT_ALLOWED,
            [(header::ALLOW, "POST")],
            Json(json!({ "errors": [{
                "message": "mutations need POST",
                "extensions": { "code": "BAD_USER_INPUT" }
            }] })),
        )
            .into_response();
    }
    if let Some(Extension(caller)) = caller {
        request = request.data(caller);
    }
    let purpose = headers
        .get(api::PURPOSE_HEADER)
        .map(|value| value.to_str().unwrap_or("\u{fffd}"));
    request = request
        .data(api::DeclaredPurpose::from_header(purpose))
        .data(api::RequestInfo {
            request_id: request_id.map(|Extension(id)| id.0.to_string()),
            source: Some(peer.ip()),
        })
        .data(state.services.clone());
    GraphQLResponse::from(state.schema.execute(request).await).into_response()
}

/// Whether a GraphQL document holds a mutation. A document that does not parse holds none the
/// schema would run (it answers with the parse error).
fn has_mutation(query: &str) -> bool {
    use async_graphql::parser::types::OperationType;
    async_graphql::parser::parse_query(query).is_ok_and(|document| {
        document
            .operations
            .iter()
            .any(|(_, operation)| operation.node.ty == OperationType::Mutation)
    })
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
        Ok(false) => {
            // Which way the schema is off: behind (migrate) or newer (an older binary rolled back).
            let reason = match state.db.schema_status().await {
                Ok(store::SchemaStatus::Newer { .. }) => "schema-newer-than-binary",
                _ => "migrations-pending",
            };
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({ "status": "not-ready", "reason": reason })),
            )
                .into_response()
        }
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
