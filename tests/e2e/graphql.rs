//! `/graphql` answers `{ apiVersion }` over POST and GET; GraphiQL and introspection exist in
//! the development profile only.

use reqwest::StatusCode;
use serde_json::{Value, json};
use server::{Config, Profile};
use testkit::{TestDb, TestHub};

async fn hub_with(profile: Profile) -> (TestDb, TestHub) {
    let test_db = TestDb::new().await;
    let config = Config {
        profile,
        ..test_db.config()
    };
    let hub = TestHub::start(config).await;
    (test_db, hub)
}

async fn post(hub: &TestHub, query: &str) -> Value {
    let res = hub
        .http
        .post(hub.url("/graphql"))
        .json(&json!({ "query": query }))
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), StatusCode::OK);
    res.json().await.expect("JSON")
}

#[tokio::test]
async fn api_version_over_post_and_get() {
    let (_test_db, hub) = hub_with(Profile::Production).await;

    let body = post(&hub, "{ apiVersion }").await;
    assert_eq!(body, json!({ "data": { "apiVersion": "1" } }));

    let res = hub
        .http
        .get(query_url(&hub, "{ apiVersion }"))
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = res.json().await.expect("JSON");
    assert_eq!(body, json!({ "data": { "apiVersion": "1" } }));

    hub.stop().await;
}

#[tokio::test]
async fn graphiql_and_introspection_only_in_development() {
    const INTROSPECT: &str = "{ __schema { queryType { name } } }";
    for profile in [Profile::Development, Profile::Production] {
        let (_test_db, hub) = hub_with(profile).await;
        let development = profile == Profile::Development;

        let res = hub
            .http
            .get(hub.url("/graphiql"))
            .send()
            .await
            .expect("request");
        if development {
            assert_eq!(res.status(), StatusCode::OK);
            let page = res.text().await.expect("body");
            assert!(page.contains("/graphql"), "GraphiQL points at the endpoint");
        } else {
            assert_eq!(
                res.status(),
                StatusCode::NOT_FOUND,
                "no GraphiQL in production"
            );
        }

        let body = post(&hub, INTROSPECT).await;
        if development {
            assert!(
                body["data"]["__schema"]["queryType"]["name"].is_string(),
                "{body}"
            );
        } else {
            // async-graphql answers a disabled introspection with null, not an error.
            assert!(
                body["data"]["__schema"].is_null(),
                "introspection in production: {body}"
            );
        }
        hub.stop().await;
    }
}

/// `/graphql?query=...`, URL-encoded.
pub(crate) fn query_url(hub: &TestHub, query: &str) -> reqwest::Url {
    reqwest::Url::parse_with_params(&hub.url("/graphql"), [("query", query)]).expect("URL")
}
