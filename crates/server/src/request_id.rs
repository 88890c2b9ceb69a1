//! Request ids. The hub always makes its own id (a client cannot choose the id its audit
//! entries are filed under); an id the client sent is kept in the log as `client_request_id`.

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use http::HeaderValue;
use tracing::Instrument;
use uuid::Uuid;

/// The id of one request, in request extensions and the `x-request-id` response header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RequestId(pub Uuid);

pub const HEADER: &str = "x-request-id";

pub async fn middleware(mut request: Request, next: Next) -> Response {
    let id = RequestId(Uuid::now_v7());
    let client_request_id = request
        .headers()
        .get(HEADER)
        .and_then(|value| value.to_str().ok())
        .filter(|value| value.len() <= 128)
        .map(str::to_owned);
    request.extensions_mut().insert(id);
    let span = tracing::info_span!(
        "request",
        request_id = %id.0,
        client_request_id = client_request_id.as_deref(),
        method = %request.method(),
        path = %request.uri().path(),
    );
    let mut response = next.run(request).instrument(span.clone()).await;
    span.in_scope(|| tracing::info!(status = response.status().as_u16(), "request done"));
    if let Ok(value) = HeaderValue::from_str(&id.0.to_string()) {
        response.headers_mut().insert(HEADER, value);
    }
    response
}
