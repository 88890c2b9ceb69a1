//! The edge of the hub (issue 9), as a client meets it: the GraphQL-over-HTTP transport rules
//! (JSON bodies only, 415 before parsing, the body limit also for chunked bodies, the response
//! media type), load shedding and the request timeout, the security headers on every response,
//! CORS closed but for listed origins, and the rate limits per caller and per source address
//! (429, `Retry-After`, `RATE_LIMITED`, audited). Each refusal carries its documented status and
//! code, no resident data, and — where a plan read was sent — no new `resident.read` entry: no
//! resolver ran. Malformed JSON and `variables` as a string are in `limits.rs`.

use std::num::{NonZeroU32, NonZeroU64, NonZeroUsize};

use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, Statement};
use serde_json::{Value, json};
use server::config::Origin;
use server::{Config, Profile};
use testkit::{TestDb, TestHub};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::demo::{Auth, Demo, error_code};
use crate::wijkhub;

/// The request body limit the transport test's hub runs with (the default, 64 KiB).
const MAX_BODY: usize = 65_536;

async fn count(conn: &DatabaseConnection, sql: &str) -> i64 {
    conn.query_one_raw(Statement::from_string(
        conn.get_database_backend(),
        sql.to_owned(),
    ))
    .await
    .unwrap()
    .unwrap()
    .try_get_by_index::<i64>(0)
    .unwrap()
}

const READS: &str = "SELECT COUNT(*) FROM audit_entries WHERE action = 'resident.read'";
const RATE_LIMITED: &str =
    "SELECT COUNT(*) FROM audit_entries WHERE action = 'request.rate-limited'";

/// `{"query": document}` padded with spaces inside the JSON to exactly `size` bytes.
fn padded(document: &str, size: usize) -> String {
    let bare = json!({ "query": document }).to_string();
    assert!(bare.len() <= size);
    format!("{}{}", " ".repeat(size - bare.len()), bare)
}

/// One HTTP/1.1 exchange over a fresh connection, written by hand so that the body can be sent
/// chunked (`Transfer-Encoding: chunked`, no `Content-Length`). Returns the status and the body.
async fn raw_exchange(addr: std::net::SocketAddr, head: &str, chunks: &[&[u8]]) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(head.as_bytes()).await.unwrap();
    for chunk in chunks {
        let frame = format!("{:x}\r\n", chunk.len());
        // The hub may answer and close as soon as the limit is passed: later writes may fail.
        if stream.write_all(frame.as_bytes()).await.is_err()
            || stream.write_all(chunk).await.is_err()
            || stream.write_all(b"\r\n").await.is_err()
        {
            break;
        }
    }
    let _ = stream.write_all(b"0\r\n\r\n").await;
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer).await;
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let status = answer
        .split(' ')
        .nth(1)
        .and_then(|status| status.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {answer:?}"));
    let body = answer
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_owned())
        .unwrap_or_default();
    (status, body)
}

#[track_caller]
fn assert_refused(what: &str, status: StatusCode, body: &Value, want: StatusCode, code: &str) {
    assert_eq!(status, want, "{what}: {body}");
    assert_eq!(error_code(body), code, "{what}: {body}");
    assert!(body["data"].is_null(), "{what}: data answered: {body}");
}

#[tokio::test]
async fn only_json_within_the_body_limit_reaches_the_schema() {
    let db = TestDb::new().await;
    let mut cli = wijkhub();
    cli.database(&db).env("WIJKHUB_HTTP__PORT", "0");
    let (hub, demo) = Demo::start(&cli);
    let conn = Database::connect(db.url()).await.unwrap();
    let plan: uuid::Uuid = conn
        .query_one_raw(Statement::from_string(
            conn.get_database_backend(),
            "SELECT id FROM plans ORDER BY id LIMIT 1",
        ))
        .await
        .unwrap()
        .unwrap()
        .try_get("", "id")
        .unwrap();
    let cookie = demo.login("coach@noordwest.demo").await;
    let read = format!("{{ plan(id: \"{plan}\") {{ sections {{ content }} }} }}");
    let url = format!("{}/graphql", demo.base);
    let post = |content_type: Option<&str>, body: Vec<u8>| {
        let request = demo
            .http
            .post(&url)
            .header("cookie", &cookie)
            .header("Wijkhub-Purpose", "support")
            .body(body);
        match content_type {
            Some(content_type) => request.header("content-type", content_type),
            None => request,
        }
    };

    // As JSON the plan reads: its stories are what must not leak below, and a read is audited
    // (which is what shows the counts below can change).
    let reads_at_start = count(&conn, READS).await;
    let response = post(
        Some("application/json; charset=utf-8"),
        json!({ "query": read }).to_string().into_bytes(),
    )
    .header("accept", "application/graphql-response+json")
    .send()
    .await
    .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()["content-type"],
        "application/graphql-response+json; charset=utf-8"
    );
    let answer: Value = response.json().await.unwrap();
    assert!(answer["errors"].is_null(), "{answer}");
    let stories: Vec<String> = answer["data"]["plan"]["sections"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|section| section["content"].as_str().map(str::to_owned))
        .collect();
    assert!(!stories.is_empty());
    let reads_before = count(&conn, READS).await;
    assert!(reads_before > reads_at_start, "the read is audited");
    // Without asking for it, the answer is application/json.
    let response = post(
        Some("application/json"),
        json!({ "query": "{ apiVersion }" })
            .to_string()
            .into_bytes(),
    )
    .send()
    .await
    .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json"),
        "{:?}",
        response.headers()
    );

    let json_body = json!({ "query": read }).to_string();
    let form_body = format!(
        "query={}",
        read.replace(' ', "+")
            .replace('{', "%7B")
            .replace('}', "%7D")
    );
    let multipart = format!(
        "--x\r\nContent-Disposition: form-data; name=\"operations\"\r\n\r\n{json_body}\r\n--x--\r\n"
    );
    let mut not_utf8 = br#"{"query": "{ apiVersion }", "operationName": ""#.to_vec();
    not_utf8.extend_from_slice(&[0xff, 0xfe, 0xc3]);
    not_utf8.extend_from_slice(br#""}"#);
    let cases: Vec<(&str, Option<&str>, Vec<u8>, StatusCode)> = vec![
        (
            "a plan read as text/plain",
            Some("text/plain"),
            json_body.clone().into_bytes(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
        (
            "a plan read as text/plain with a charset",
            Some("text/plain; charset=utf-8"),
            json_body.clone().into_bytes(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
        (
            "a plan read as a form",
            Some("application/x-www-form-urlencoded"),
            form_body.into_bytes(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
        (
            "a plan read as multipart",
            Some("multipart/form-data; boundary=x"),
            multipart.into_bytes(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
        (
            "a plan read without a content type",
            None,
            json_body.clone().into_bytes(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
        (
            "a plan read one byte over the body limit",
            Some("application/json"),
            padded(&read, MAX_BODY + 1).into_bytes(),
            StatusCode::PAYLOAD_TOO_LARGE,
        ),
        (
            "a body that is not UTF-8",
            Some("application/json"),
            not_utf8,
            StatusCode::BAD_REQUEST,
        ),
    ];
    for (what, content_type, body, want) in cases {
        let response = post(content_type, body)
            .send()
            .await
            .unwrap_or_else(|error| panic!("{what}: {error:?}"));
        let status = response.status();
        let answer: Value = response.json().await.unwrap();
        assert_refused(what, status, &answer, want, "BAD_USER_INPUT");
        let text = answer.to_string();
        for story in &stories {
            assert!(!text.contains(story.as_str()), "{what}: a story in {text}");
        }
    }

    // The same body over the limit, sent chunked (no Content-Length to refuse it by): the
    // limit holds while it is read.
    let addr = demo.base.trim_start_matches("http://").parse().unwrap();
    let over = padded(&read, MAX_BODY + 1);
    let head = format!(
        "POST /graphql HTTP/1.1\r\nHost: hub\r\nContent-Type: application/json\r\n\
         Cookie: {cookie}\r\nWijkhub-Purpose: support\r\nTransfer-Encoding: chunked\r\n\
         Connection: close\r\n\r\n"
    );
    let chunks: Vec<&[u8]> = over.as_bytes().chunks(4096).collect();
    let (status, body) = raw_exchange(addr, &head, &chunks).await;
    assert_eq!(status, 413, "chunked over the limit: {body}");
    let answer: Value = serde_json::from_str(&body).unwrap_or_else(|_| panic!("{body:?}"));
    assert_refused(
        "chunked over the limit",
        StatusCode::PAYLOAD_TOO_LARGE,
        &answer,
        StatusCode::PAYLOAD_TOO_LARGE,
        "BAD_USER_INPUT",
    );
    for story in &stories {
        assert!(!body.contains(story.as_str()), "a story in {body}");
    }
    assert_eq!(count(&conn, READS).await, reads_before, "no resolver ran");

    // A body exactly at the limit, chunked, is read and answered.
    let at = padded(&read, MAX_BODY);
    let chunks: Vec<&[u8]> = at.as_bytes().chunks(4096).collect();
    let (status, body) = raw_exchange(addr, &head, &chunks).await;
    assert_eq!(status, 200, "chunked at the limit: {body}");
    assert!(count(&conn, READS).await > reads_before, "the read ran");

    conn.close().await.unwrap();
    hub.terminate();
}

#[track_caller]
fn assert_security_headers(what: &str, headers: &HeaderMap) {
    assert_eq!(headers["x-content-type-options"], "nosniff", "{what}");
    assert_eq!(headers["referrer-policy"], "no-referrer", "{what}");
    let csp = headers["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("frame-ancestors 'none'"), "{what}: {csp}");
    assert!(csp.starts_with("default-src 'none'"), "{what}: {csp}");
}

#[tokio::test]
async fn every_response_carries_the_security_headers() {
    let test_db = TestDb::new().await;
    let mut config = Config {
        profile: Profile::Development,
        ..test_db.config()
    };
    config.http.trusted_proxies = serde_json::from_value(json!(["127.0.0.1"])).unwrap();
    let hub = TestHub::start(config).await;

    // JSON: an answer, a refusal before parsing, a probe, a route that does not exist.
    let answer = hub
        .http
        .post(hub.url("/graphql"))
        .json(&json!({ "query": "{ apiVersion }" }))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::OK);
    assert_security_headers("a GraphQL answer", answer.headers());
    assert_eq!(answer.headers()["cache-control"], "no-store");
    assert_eq!(
        answer.headers()["content-security-policy"],
        "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
    );
    // Plain http to a hub whose public URL is http: no HSTS.
    assert!(answer.headers().get("strict-transport-security").is_none());
    let refused = hub
        .http
        .post(hub.url("/graphql"))
        .header("content-type", "text/plain")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_security_headers("a 415", refused.headers());
    for path in ["/healthz", "/nowhere"] {
        let response = hub.http.get(hub.url(path)).send().await.unwrap();
        assert_security_headers(path, response.headers());
    }

    // HTML: the development GraphiQL page has its own policy, for what it loads and no more.
    let page = hub.http.get(hub.url("/graphiql")).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert!(
        page.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert_security_headers("GraphiQL", page.headers());
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    let html = page.text().await.unwrap();
    for script in html.split("src=\"").skip(1) {
        let source = script.split('"').next().unwrap();
        let origin: String = source.split('/').take(3).collect::<Vec<_>>().join("/");
        assert!(csp.contains(&origin), "{source} not allowed by {csp}");
    }
    assert!(csp.contains("connect-src 'self'"), "{csp}");

    // Over https through a trusted proxy (the test's loopback): HSTS.
    let forwarded = hub
        .http
        .get(hub.url("/healthz"))
        .header("x-forwarded-proto", "https")
        .send()
        .await
        .unwrap();
    assert_eq!(
        forwarded.headers()["strict-transport-security"],
        "max-age=31536000"
    );
    hub.stop().await;
}

/// A CORS preflight for a POST to `/graphql` from `origin`.
async fn preflight(hub: &TestHub, origin: &str) -> reqwest::Response {
    hub.http
        .request(reqwest::Method::OPTIONS, hub.url("/graphql"))
        .header("origin", origin)
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization, content-type, wijkhub-purpose",
        )
        .send()
        .await
        .unwrap()
}

#[track_caller]
fn assert_no_cors(what: &str, response: &reqwest::Response) {
    let granted: Vec<_> = response
        .headers()
        .keys()
        .filter(|name| name.as_str().starts_with("access-control-"))
        .collect();
    assert!(granted.is_empty(), "{what}: {granted:?}");
}

#[tokio::test]
async fn cors_is_closed_but_for_listed_origins() {
    const CONSOLE: &str = "https://console.example.nl";

    // By default no origin gets anything.
    let test_db = TestDb::new().await;
    let closed = TestHub::start(test_db.config()).await;
    let response = preflight(&closed, CONSOLE).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_no_cors("no origins configured", &response);
    closed.stop().await;

    let test_db = TestDb::new().await;
    let mut config = test_db.config();
    config.http.cors_origins = vec![Origin::parse(CONSOLE).unwrap()];
    let open = TestHub::start(config).await;
    for unlisted in [
        "https://evil.example",
        "https://console.example.nl.evil.example",
        "null",
    ] {
        let response = preflight(&open, unlisted).await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{unlisted}");
        assert_no_cors(unlisted, &response);
        assert_security_headers(unlisted, response.headers());
    }
    let response = preflight(&open, CONSOLE).await;
    assert!(response.status().is_success(), "{}", response.status());
    let headers = response.headers();
    assert_eq!(headers["access-control-allow-origin"], CONSOLE);
    assert_eq!(headers["access-control-allow-credentials"], "true");
    let methods = headers["access-control-allow-methods"].to_str().unwrap();
    assert!(methods.contains("POST"), "{methods}");
    let allowed = headers["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .to_ascii_lowercase();
    assert!(allowed.contains("wijkhub-purpose"), "{allowed}");

    // The actual request from the listed origin may be read by its page; another's may not.
    let from = |origin: &'static str| {
        open.http
            .post(open.url("/graphql"))
            .header("origin", origin)
            .json(&json!({ "query": "{ apiVersion }" }))
            .send()
    };
    let listed = from(CONSOLE).await.unwrap();
    assert_eq!(listed.headers()["access-control-allow-origin"], CONSOLE);
    let unlisted = from("https://evil.example").await.unwrap();
    assert!(
        unlisted
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
    open.stop().await;
}

/// POSTs `{ apiVersion }` as JSON; the status, `Retry-After` and the body.
async fn api_version(hub: &TestHub) -> (StatusCode, Option<u64>, Value) {
    let response = hub
        .http
        .post(hub.url("/graphql"))
        .json(&json!({ "query": "{ apiVersion }" }))
        .send()
        .await
        .unwrap();
    let status = response.status();
    let retry_after = response
        .headers()
        .get("retry-after")
        .map(|value| value.to_str().unwrap().parse().unwrap());
    (status, retry_after, response.json().await.unwrap())
}

#[tokio::test]
async fn a_burst_over_the_source_limit_is_refused_and_audited() {
    let test_db = TestDb::new().await;
    let mut config = test_db.config();
    // Five at once, then one a minute: the sixth request within the test is over the limit.
    config.rate_limit.source_burst = NonZeroU32::new(5).unwrap();
    config.rate_limit.source_per_minute = NonZeroU32::MIN;
    let hub = TestHub::start(config).await;
    let conn = Database::connect(test_db.url()).await.unwrap();
    let refused_before = count(&conn, RATE_LIMITED).await;

    for n in 0..5 {
        let (status, _, answer) = api_version(&hub).await;
        assert_eq!(status, StatusCode::OK, "request {n}: {answer}");
    }
    let (status, retry_after, answer) = api_version(&hub).await;
    assert_refused(
        "over the source limit",
        status,
        &answer,
        StatusCode::TOO_MANY_REQUESTS,
        "RATE_LIMITED",
    );
    let retry_after = retry_after.expect("Retry-After");
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    // Before authentication: a token endpoint call from the same address is refused as well.
    let token = hub
        .http
        .post(hub.url("/oauth/token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=client_credentials")
        .send()
        .await
        .unwrap();
    assert_eq!(token.status(), StatusCode::TOO_MANY_REQUESTS);
    // Each refusal is in the audit log, anonymous, with the source and the reason.
    assert_eq!(count(&conn, RATE_LIMITED).await, refused_before + 2);
    let reasons = count(
        &conn,
        "SELECT COUNT(*) FROM audit_entries WHERE action = 'request.rate-limited' \
         AND actor_kind = 'anonymous' AND reason = 'source-rate' \
         AND source_address = '127.0.0.1' AND outcome = 'deny'",
    )
    .await;
    assert_eq!(reasons, 2);
    // The probes are not limited: an orchestrator keeps seeing the hub alive.
    let probe = hub.http.get(hub.url("/healthz")).send().await.unwrap();
    assert_eq!(probe.status(), StatusCode::OK);
    conn.close().await.unwrap();
    hub.stop().await;
}

#[tokio::test]
async fn a_burst_over_the_caller_limit_is_refused_and_audited() {
    let db = TestDb::new().await;
    let mut cli = wijkhub();
    cli.database(&db)
        .env("WIJKHUB_HTTP__PORT", "0")
        .env("WIJKHUB_RATE_LIMIT__CALLER_BURST", "3")
        .env("WIJKHUB_RATE_LIMIT__CALLER_PER_MINUTE", "1");
    let (hub, demo) = Demo::start(&cli);
    let conn = Database::connect(db.url()).await.unwrap();
    let buurtkracht = demo.token("stichting-buurtkracht").await;
    let linde = demo.token("zorggroep-de-linde").await;
    let viewer = "{ viewer { id clientId } }";
    let refused_before = count(&conn, RATE_LIMITED).await;
    let reads_before = count(&conn, READS).await;

    for n in 0..3 {
        let answer = demo
            .graphql(&Auth::Bearer(&buurtkracht), viewer, json!({}))
            .await;
        assert!(answer["errors"].is_null(), "request {n}: {answer}");
    }
    let response = demo
        .http
        .post(format!("{}/graphql", demo.base))
        .bearer_auth(&buurtkracht)
        .header("Wijkhub-Purpose", "support")
        .json(&json!({ "query": "{ plans(first: 5) { edges { node { id } } } }" }))
        .send()
        .await
        .unwrap();
    let status = response.status();
    let retry_after: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    let answer: Value = response.json().await.unwrap();
    assert_refused(
        "over the caller limit",
        status,
        &answer,
        StatusCode::TOO_MANY_REQUESTS,
        "RATE_LIMITED",
    );
    assert_eq!(count(&conn, READS).await, reads_before, "no resolver ran");
    let audited = count(
        &conn,
        "SELECT COUNT(*) FROM audit_entries WHERE action = 'request.rate-limited' \
         AND actor_kind = 'client' AND reason = 'caller-rate' AND client_id IS NOT NULL",
    )
    .await;
    assert_eq!(audited, 1);
    assert_eq!(count(&conn, RATE_LIMITED).await, refused_before + 1);

    // Another partner system has a bucket of its own.
    let answer = demo.graphql(&Auth::Bearer(&linde), viewer, json!({})).await;
    assert!(answer["errors"].is_null(), "{answer}");
    conn.close().await.unwrap();
    hub.terminate();
}

/// Sends the head of a POST whose body never comes, and reads whatever the hub answers.
async fn stalled_post(addr: std::net::SocketAddr) -> String {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(
            b"POST /graphql HTTP/1.1\r\nHost: hub\r\nContent-Type: application/json\r\n\
              Content-Length: 100\r\nConnection: close\r\n\r\n{",
        )
        .await
        .unwrap();
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer).await;
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test]
async fn over_the_concurrency_limit_is_shed_and_a_stalled_request_times_out() {
    let test_db = TestDb::new().await;
    let mut config = test_db.config();
    config.http.max_concurrent_requests = NonZeroUsize::MIN;
    config.http.request_timeout_seconds = NonZeroU64::MIN;
    let hub = TestHub::start(config).await;

    // Two requests whose bodies never come, with room for one: whichever comes first holds the
    // place until the timeout answers it; the other is shed at once, not queued behind it.
    let (first, second) = tokio::join!(stalled_post(hub.addr()), stalled_post(hub.addr()));
    let (shed, timed_out) = if first.contains("busy") {
        (first, second)
    } else {
        (second, first)
    };
    for answer in [&shed, &timed_out] {
        assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
        assert!(answer.contains("\"UNAVAILABLE\""), "{answer}");
        assert!(answer.contains("nosniff"), "{answer}");
    }
    assert!(shed.contains("the hub is busy"), "{shed}");
    assert!(
        shed.to_ascii_lowercase().contains("retry-after: 1\r\n"),
        "{shed}"
    );
    assert!(timed_out.contains("took too long"), "{timed_out}");

    // The place is free again.
    let (status, _, answer) = api_version(&hub).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    hub.stop().await;
}
