//! Every response carries an `x-request-id` the hub made itself: a client cannot choose the id
//! its requests (and later their audit entries) are filed under.

use std::collections::HashSet;

use reqwest::{Method, RequestBuilder, Response};
use serde_json::json;
use testkit::{TestDb, TestHub};
use uuid::Uuid;

#[track_caller]
fn request_id(res: &Response) -> Uuid {
    let value = res
        .headers()
        .get("x-request-id")
        .unwrap_or_else(|| panic!("{} {} has no x-request-id", res.status(), res.url()));
    let value = value.to_str().expect("ASCII header");
    Uuid::parse_str(value).unwrap_or_else(|_| panic!("x-request-id {value:?} is not a UUID"))
}

#[tokio::test]
async fn every_response_has_its_own_request_id() {
    let test_db = TestDb::new().await;
    let hub = TestHub::start(test_db.config()).await;
    let requests: Vec<(&str, RequestBuilder)> = vec![
        ("healthz", hub.http.get(hub.url("/healthz"))),
        ("readyz", hub.http.get(hub.url("/readyz"))),
        (
            "graphql POST",
            hub.http
                .post(hub.url("/graphql"))
                .json(&json!({ "query": "{ apiVersion }" })),
        ),
        (
            "graphql GET, bad query",
            hub.http.get(crate::graphql::query_url(&hub, "{ nope")),
        ),
        ("unknown route", hub.http.get(hub.url("/no-such-route"))),
        (
            "wrong method",
            hub.http.request(Method::DELETE, hub.url("/healthz")),
        ),
    ];
    let mut seen = HashSet::new();
    for (what, request) in requests {
        let res = request.send().await.expect(what);
        let id = request_id(&res);
        assert!(seen.insert(id), "{what}: request id {id} reused");
    }
    hub.stop().await;
}

#[tokio::test]
async fn a_client_request_id_is_not_taken_as_ours() {
    let test_db = TestDb::new().await;
    let hub = TestHub::start(test_db.config()).await;
    let chosen_uuid = Uuid::new_v4().to_string();
    for chosen in ["client-chosen-id", chosen_uuid.as_str()] {
        let res = hub
            .http
            .get(hub.url("/healthz"))
            .header("x-request-id", chosen)
            .send()
            .await
            .expect("request");
        let ours = request_id(&res);
        assert_ne!(ours.to_string(), chosen, "the hub echoed the client's id");
    }
    hub.stop().await;
}
