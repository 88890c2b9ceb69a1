//! Every HTTP route of the hub, grouped by caller, and the one middleware stack.

use std::sync::Arc;

use async_graphql::http::GraphiQLSource;
use async_graphql_axum::{GraphQLBatchRequest, GraphQLResponse};
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
use crate::{edge, request_id};
use tokio::sync::Semaphore;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;

/// Largest body the token endpoint and the login routes read.
const AUTH_BODY_LIMIT: usize = 16 * 1024;

pub fn router(state: Arc<AppState>) -> Router {
    // Partner systems and console members: the GraphQL API, behind authentication (a bearer
    // token or a console session; none is anonymous, which only `apiVersion` answers).
    let partners = Router::new()
        .route("/graphql", get(graphql).post(graphql))
        // After authentication, the caller's rate limit; before it, the transport rules (a JSON
        // body within the size limit, or a GET), so nothing else reads a refused body.
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            crate::rate_limit::by_caller,
        ))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            bearer::authenticate,
        ))
        .route_layer(middleware::from_fn(edge::graphql_transport));

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

    let trusted_proxies = state.trusted_proxies.clone();
    // Everything but the probes meets the edge limits (`[http]`, `[rate_limit]`), outermost
    // last: refusals shaped as GraphQL errors, load shed, timeout, the source's rate limit, the
    // body limit (the token and login routes keep their own smaller one).
    let limits = &state.edge;
    let api = Router::new()
        .merge(partners)
        .merge(oauth)
        .merge(console)
        .merge(development)
        .layer(RequestBodyLimitLayer::new(limits.max_body_bytes))
        .layer(DefaultBodyLimit::disable())
        .layer(middleware::from_fn_with_state(
            state.clone(),
            crate::rate_limit::by_source,
        ))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            limits.request_timeout,
        ))
        .layer(middleware::from_fn_with_state(
            Arc::new(Semaphore::new(limits.max_concurrent_requests)),
            edge::shed_load,
        ))
        .layer(middleware::from_fn(edge::shape_refusals));
    let cors_origins = Arc::new(limits.cors_origins.clone());
    let security_headers = Arc::new(edge::SecurityHeaders {
        https: limits.https,
        trusted_proxies: trusted_proxies.clone(),
    });
    Router::new()
        .merge(api)
        .merge(ops)
        .with_state(state)
        // The client's address behind trusted proxies, for every handler alike.
        .layer(middleware::from_fn_with_state(
            trusted_proxies,
            crate::forwarded::middleware,
        ))
        // CORS for `[http] cors_origins` only; other origins' preflights end at the gate.
        .layer(edge::cors(&cors_origins))
        .layer(middleware::from_fn_with_state(
            cors_origins,
            edge::cors_preflight_gate,
        ))
        // On every response, refusals included.
        .layer(middleware::from_fn_with_state(
            security_headers,
            edge::security_headers,
        ))
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
    batch: GraphQLBatchRequest<GraphqlRefusal>,
) -> Response {
    let mut request = match batch.into_inner() {
        single @ async_graphql::BatchRequest::Single(_) => single,
        // Batches are off unless `[graphql] max_batch` allows them, and never over it.
        async_graphql::BatchRequest::Batch(requests) => {
            let max = state
                .schema
                .data::<api::QueryLimits>()
                .map_or(0, |limits| limits.max_batch);
            if requests.is_empty() || requests.len() > max {
                return graphql_error(
                    StatusCode::BAD_REQUEST,
                    api::limit_error(api::Limit::Batch, max),
                );
            }
            async_graphql::BatchRequest::Batch(requests)
        }
    };
    // A GET must never change anything (it is cached, prefetched, logged with its query):
    // async-graphql would run a mutation sent over GET, so it is refused here.
    if method == Method::GET && request.iter().any(|request| has_mutation(&request.query)) {
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
    GraphQLResponse::from(state.schema.execute_batch(request).await).into_response()
}

/// A `/graphql` request that is not one GraphQL request, answered as GraphQL errors with the
/// documented code (never the parser's text): a malformed body is 400, a body over the limit
/// 413.
struct GraphqlRefusal(async_graphql::ParseRequestError);

impl From<async_graphql::ParseRequestError> for GraphqlRefusal {
    fn from(error: async_graphql::ParseRequestError) -> Self {
        GraphqlRefusal(error)
    }
}

impl IntoResponse for GraphqlRefusal {
    fn into_response(self) -> Response {
        use async_graphql::{ErrorExtensions, ParseRequestError};
        let (status, error) = match self.0 {
            ParseRequestError::PayloadTooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                api::ApiError::BadUserInput("the request body is too large").extend(),
            ),
            other => {
                tracing::debug!(error = %other, "graphql request refused before parsing");
                (
                    StatusCode::BAD_REQUEST,
                    api::ApiError::BadUserInput("the body is not a GraphQL request").extend(),
                )
            }
        };
        graphql_error(status, error)
    }
}

/// One GraphQL error as the whole answer, with `status`.
fn graphql_error(status: StatusCode, error: async_graphql::Error) -> Response {
    let mut server_error = async_graphql::ServerError::new(error.message, None);
    server_error.extensions = error.extensions;
    let body = async_graphql::Response::from_errors(vec![server_error]);
    (status, Json(body)).into_response()
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

async fn graphiql() -> impl IntoResponse {
    (
        [(header::CONTENT_SECURITY_POLICY, edge::GRAPHIQL_CSP)],
        Html(GraphiQLSource::build().endpoint("/graphql").finish()),
    )
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
