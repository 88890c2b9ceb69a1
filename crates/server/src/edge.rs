//! The edge every request meets before a handler: the GraphQL-over-HTTP transport rules, the
//! request body limit's answer, load shedding, and the security headers on every response.
//!
//! Exists so that a partner system, a browser on another site or a stolen token cannot make the
//! hub parse what it was not meant to (a `text/plain` or form body: the cross-site "simple
//! request"), hold more work than it can finish (an unbounded queue), or answer in a way a browser
//! would render, frame or cache. Each refusal is a GraphQL-shaped error with a documented code
//! (`docs/API.md`, "Transport and rate limits"). Must never read a body before its media type is
//! accepted, never queue a request it cannot start, and never echo what the client sent.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, FromRequest, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Version, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::json;
use tokio::sync::Semaphore;

use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::config::Origin;
use crate::forwarded::Cidr;

/// The media type of a GraphQL response when the client asks for it (GraphQL over HTTP).
const GRAPHQL_RESPONSE_JSON: &str = "application/graphql-response+json";

/// Every response but the development GraphiQL page: nothing may load, nothing may frame it.
const STRICT_CSP: &str =
    "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

/// The development GraphiQL page (`async_graphql::http::GraphiQLSource`): React, GraphiQL's script
/// and style from unpkg.com, its own inline script and style, the favicon from graphql.org, and
/// requests to this hub only. Never served in production.
pub(crate) const GRAPHIQL_CSP: &str = "default-src 'none'; \
     script-src https://unpkg.com 'unsafe-inline'; style-src https://unpkg.com 'unsafe-inline'; \
     img-src https://graphql.org data:; font-src https://unpkg.com data:; connect-src 'self'; \
     frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

/// A year, the usual HSTS lifetime; subdomains are left to their own operators.
const HSTS: &str = "max-age=31536000";

/// What the security headers depend on.
pub(crate) struct SecurityHeaders {
    /// The hub's public URL is `https://` (`auth.tokens.issuer`): every response asks for HTTPS.
    pub(crate) https: bool,
    /// `[http] trusted_proxies`: a request they forward with `X-Forwarded-Proto: https` came over
    /// TLS.
    pub(crate) trusted_proxies: Arc<Vec<Cidr>>,
}

/// Adds the security headers to every response, refusals included. Runs before the
/// `forwarded` middleware, so it sees the real peer when judging `X-Forwarded-Proto`.
pub(crate) async fn security_headers(
    State(settings): State<Arc<SecurityHeaders>>,
    request: Request,
    next: Next,
) -> Response {
    let over_tls = settings.https || forwarded_https(&request, &settings.trusted_proxies);
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    // A handler with a page of its own (GraphiQL) set its policy; everything else gets the strict
    // one, JSON included (a JSON answer opened in a browser runs nothing either).
    if !headers.contains_key(header::CONTENT_SECURITY_POLICY) {
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(STRICT_CSP),
        );
    }
    // Answers carry resident data: no shared or browser cache keeps them.
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    if over_tls {
        headers.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static(HSTS),
        );
    }
    response
}

/// Whether a trusted proxy says the client spoke HTTPS to it (the last `X-Forwarded-Proto`
/// value, the one the nearest proxy wrote).
fn forwarded_https(request: &Request, trusted: &[Cidr]) -> bool {
    let Some(ConnectInfo(peer)) = request.extensions().get::<ConnectInfo<SocketAddr>>() else {
        return false;
    };
    if !trusted.iter().any(|cidr| cidr.contains(peer.ip())) {
        return false;
    }
    let proto = HeaderName::from_static("x-forwarded-proto");
    request
        .headers()
        .get_all(proto)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .next_back()
        .is_some_and(|proto| proto.trim().eq_ignore_ascii_case("https"))
}

/// Answers a CORS preflight from an origin not in `[http] cors_origins` with `403` and no CORS
/// header at all, before `CorsLayer` (which would list the allowed methods and headers to anyone).
/// Preflights from listed origins pass on to it.
pub(crate) async fn cors_preflight_gate(
    State(origins): State<Arc<Vec<Origin>>>,
    request: Request,
    next: Next,
) -> Response {
    let preflight = request.method() == Method::OPTIONS
        && request
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
    let listed = request
        .headers()
        .get(header::ORIGIN)
        .and_then(|origin| origin.to_str().ok())
        .is_some_and(|origin| origins.iter().any(|listed| listed.as_str() == origin));
    if preflight && !listed {
        return refusal(
            StatusCode::FORBIDDEN,
            "FORBIDDEN",
            "this origin may not call the hub from a browser",
            None,
        );
    }
    next.run(request).await
}

/// The CORS layer for the listed origins: the methods of `/graphql`, the headers a partner's page
/// sends, credentials (the console's session cookie), and the headers a page may read back.
pub(crate) fn cors(origins: &[Origin]) -> CorsLayer {
    let origins: Vec<HeaderValue> = origins
        .iter()
        .filter_map(|origin| HeaderValue::from_str(origin.as_str()).ok())
        .collect();
    CorsLayer::new()
        .allow_origin(AllowOrigin::list(origins))
        .allow_methods([Method::GET, Method::POST])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::ACCEPT,
            HeaderName::from_static("wijkhub-purpose"),
            HeaderName::from_static("wijkhub-acting-user"),
        ])
        .expose_headers([
            HeaderName::from_static(crate::request_id::HEADER),
            header::RETRY_AFTER,
        ])
        .allow_credentials(true)
        .max_age(std::time::Duration::from_secs(600))
}

/// Refuses a request at once with `503` and `Retry-After` when `[http] max_concurrent_requests`
/// are already in progress: an overloaded hub sheds work instead of queueing it without bound.
pub(crate) async fn shed_load(
    State(permits): State<Arc<Semaphore>>,
    request: Request,
    next: Next,
) -> Response {
    match permits.try_acquire_owned() {
        Ok(permit) => {
            let response = next.run(request).await;
            drop(permit);
            response
        }
        Err(_) => {
            tracing::warn!("request shed: concurrency limit reached");
            refusal(
                StatusCode::SERVICE_UNAVAILABLE,
                "UNAVAILABLE",
                "the hub is busy; try again",
                Some(1),
            )
        }
    }
}

/// Gives the plain answers of tower-http's layers (the body limit's `413`, the timeout's empty
/// `503`) the GraphQL error shape with a documented code.
pub(crate) async fn shape_refusals(request: Request, next: Next) -> Response {
    let version = request.version();
    let response = next.run(request).await;
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.contains("json"));
    if is_json {
        return response;
    }
    match response.status() {
        StatusCode::PAYLOAD_TOO_LARGE => close_after(too_large(), version),
        StatusCode::SERVICE_UNAVAILABLE
            if response.headers().get(header::CONTENT_TYPE).is_none() =>
        {
            tracing::warn!("request timed out");
            refusal(
                StatusCode::SERVICE_UNAVAILABLE,
                "UNAVAILABLE",
                "the request took too long; nothing more is done for it",
                Some(1),
            )
        }
        _ => response,
    }
}

/// The transport rules of `/graphql` (GraphQL over HTTP), before authentication and before the
/// body is parsed: a POST must be `application/json` (UTF-8 if a charset is named), anything else
/// is `415` unread; the body is read here, within the request body limit (`413`, chunked bodies
/// too). The answer is `application/graphql-response+json` when the client accepts it.
pub(crate) async fn graphql_transport(request: Request, next: Next) -> Response {
    let wants_graphql_response = accepts_graphql_response(request.headers());
    let version = request.version();
    let request = if request.method() == Method::POST {
        if !is_json(request.headers()) {
            let refused = refusal(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "BAD_USER_INPUT",
                "a POST to /graphql must be application/json",
                None,
            );
            return close_after(refused, version);
        }
        let (parts, body) = request.into_parts();
        // Read whole here, so a body over the limit (the layer outside wraps it) is told apart
        // from a malformed one: the GraphQL extractor would see only an I/O error.
        let bytes = match Bytes::from_request(Request::from_parts(parts.clone(), body), &()).await {
            Ok(bytes) => bytes,
            Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                return close_after(too_large(), version);
            }
            Err(rejection) => {
                tracing::debug!(error = %rejection, "graphql body unreadable");
                return refusal(
                    StatusCode::BAD_REQUEST,
                    "BAD_USER_INPUT",
                    "the body is not a GraphQL request",
                    None,
                );
            }
        };
        Request::from_parts(parts, Body::from(bytes))
    } else {
        request
    };
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(header::VARY, HeaderValue::from_static("accept"));
    // async-graphql-axum names every answer `application/graphql-response+json`; a client that
    // did not ask for it (GraphQL over HTTP's legacy clients) gets `application/json`.
    let is_json_answer = headers.get(header::CONTENT_TYPE).is_some_and(|value| {
        let value = value.as_bytes();
        value.starts_with(b"application/json")
            || value.starts_with(GRAPHQL_RESPONSE_JSON.as_bytes())
    });
    if is_json_answer {
        let media_type = if wants_graphql_response {
            "application/graphql-response+json; charset=utf-8"
        } else {
            "application/json; charset=utf-8"
        };
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(media_type));
    }
    response
}

/// `Content-Type: application/json`, with at most a `charset` parameter that says UTF-8.
fn is_json(headers: &HeaderMap) -> bool {
    let mut values = headers.get_all(header::CONTENT_TYPE).iter();
    let (Some(value), None) = (values.next(), values.next()) else {
        return false;
    };
    let Ok(value) = value.to_str() else {
        return false;
    };
    let mut parts = value.split(';');
    let essence = parts.next().unwrap_or_default().trim();
    if !essence.eq_ignore_ascii_case("application/json") {
        return false;
    }
    parts.all(|parameter| {
        let (name, value) = parameter.split_once('=').unwrap_or((parameter, ""));
        name.trim().eq_ignore_ascii_case("charset")
            && value.trim().trim_matches('"').eq_ignore_ascii_case("utf-8")
    })
}

/// Whether `Accept` names `application/graphql-response+json` (with a non-zero quality).
fn accepts_graphql_response(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|range| {
            let mut parts = range.split(';');
            let essence = parts.next().unwrap_or_default().trim();
            // `q=0` means "not acceptable"; an unreadable quality counts as 1.
            let refused = parts.any(|parameter| {
                parameter.split_once('=').is_some_and(|(name, value)| {
                    name.trim().eq_ignore_ascii_case("q")
                        && value.trim().parse::<f32>().is_ok_and(|q| q <= 0.0)
                })
            });
            essence.eq_ignore_ascii_case(GRAPHQL_RESPONSE_JSON) && !refused
        })
}

/// Ends an HTTP/1.1 connection after a refusal whose body was left unread: the connection
/// cannot carry the next request while the rest of this body is still coming.
fn close_after(mut response: Response, version: Version) -> Response {
    if version <= Version::HTTP_11 {
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

fn too_large() -> Response {
    refusal(
        StatusCode::PAYLOAD_TOO_LARGE,
        "BAD_USER_INPUT",
        "the request body is too large",
        None,
    )
}

/// One GraphQL error as the whole answer: fixed text, a documented code, `data` absent.
pub(crate) fn refusal(
    status: StatusCode,
    code: &'static str,
    message: &'static str,
    retry_after_seconds: Option<u64>,
) -> Response {
    let body = Json(json!({ "errors": [{ "message": message, "extensions": { "code": code } }] }));
    let mut response = (status, body).into_response();
    if let Some(seconds) = retry_after_seconds {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(seconds.max(1)));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check_content_type(values: &[&str], want: bool) {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append(header::CONTENT_TYPE, HeaderValue::from_str(value).unwrap());
        }
        assert_eq!(is_json(&headers), want, "{values:?}");
    }

    #[test]
    fn only_json_bodies_are_read() {
        let cases: &[(&[&str], bool)] = &[
            (&["application/json"], true),
            (&["Application/JSON"], true),
            (&["application/json; charset=utf-8"], true),
            (&["application/json;charset=\"UTF-8\""], true),
            (&["application/json; charset=latin1"], false),
            (&["application/json; boundary=x"], false),
            (&["text/plain"], false),
            (&["text/plain; charset=utf-8"], false),
            (&["application/x-www-form-urlencoded"], false),
            (&["multipart/form-data; boundary=x"], false),
            (&["application/graphql"], false),
            (&["application/jsonx"], false),
            (&["application/json", "application/json"], false),
            (&[], false),
        ];
        for (values, want) in cases {
            check_content_type(values, *want);
        }
    }

    #[test]
    fn graphql_response_media_type_when_accepted() {
        let cases = [
            ("application/graphql-response+json", true),
            (
                "application/json, application/graphql-response+json;q=0.9",
                true,
            ),
            ("application/graphql-response+json; q=0", false),
            ("application/graphql-response+json;q=0.000", false),
            ("application/json", false),
            ("*/*", false),
        ];
        for (accept, want) in cases {
            let mut headers = HeaderMap::new();
            headers.insert(header::ACCEPT, HeaderValue::from_static(accept));
            assert_eq!(accepts_graphql_response(&headers), want, "{accept}");
        }
    }
}
