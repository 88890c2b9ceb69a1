//! The query limits of `/graphql`, as an attacker with a valid credential meets them: a deep
//! query, a thousand aliases, a batch of a hundred operations, a fragment cycle, a megabyte of
//! white space, a hundred thousand tokens, too many root fields or directives, a query too
//! complex by its connections' pages, and a misspelled field in production. Each is refused with
//! `BAD_USER_INPUT` and the limit named in `extensions.limit`, before any resolver runs: no
//! data, no resident's name or story in the body, and no new `resident.read` audit entry (every
//! plan read writes one).

use reqwest::StatusCode;
use sea_orm::{ConnectionTrait, Database, Statement};
use serde_json::{Value, json};
use server::{Config, Profile};
use testkit::{TestDb, TestHub};

use crate::demo::{Auth, Demo, error_code};
use crate::wijkhub;

/// What the test raises `max_tokens` to, so a thousand aliases meet the alias limit first.
const MAX_TOKENS: usize = 20_000;

async fn count(conn: &sea_orm::DatabaseConnection, sql: &str) -> i64 {
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

/// POSTs `body` as JSON with the coach's session and the purpose `support`.
async fn post(demo: &Demo, cookie: &str, body: String) -> (StatusCode, Value) {
    let response = demo
        .http
        .post(format!("{}/graphql", demo.base))
        .header("content-type", "application/json")
        .header("cookie", cookie)
        .header("Wijkhub-Purpose", "support")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.json().await.unwrap())
}

fn query(document: &str) -> String {
    json!({ "query": document }).to_string()
}

/// `levels` fields nested in each other under `plan(id)`.
fn deep(plan: &str, levels: usize) -> String {
    format!(
        "{{ plan(id: \"{plan}\") {{ {}id{} }} }}",
        "sections { ".repeat(levels),
        " }".repeat(levels)
    )
}

#[tokio::test]
async fn over_a_limit_is_refused_before_any_resolver_runs() {
    let db = TestDb::new().await;
    let mut cli = wijkhub();
    cli.database(&db)
        .env("WIJKHUB_HTTP__PORT", "0")
        .env("WIJKHUB_GRAPHQL__MAX_TOKENS", &MAX_TOKENS.to_string());
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
    let plan = plan.to_string();
    let cookie = demo.login("coach@noordwest.demo").await;

    // Within the limits the plan reads, and its story is what must not leak below.
    let read = demo
        .graphql(
            &Auth::Cookie(&cookie),
            &format!("{{ plan(id: \"{plan}\") {{ sections {{ content }} }} }}"),
            json!({}),
        )
        .await;
    assert!(read["errors"].is_null(), "{read}");
    let stories: Vec<String> = read["data"]["plan"]["sections"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|section| section["content"].as_str().map(str::to_owned))
        .collect();
    assert!(!stories.is_empty());
    let reads = "SELECT COUNT(*) FROM audit_entries WHERE action = 'resident.read'";
    let reads_before = count(&conn, reads).await;

    let plan_field = format!("plan(id: \"{plan}\") {{ sections {{ content }} }}");
    let aliases: String = (0..1_000).map(|n| format!("a{n}: {plan_field} ")).collect();
    let root_fields: String = (0..11).map(|_| format!("{plan_field} ")).collect();
    let cases: Vec<(&str, StatusCode, String, &[&str])> = vec![
        (
            "a query 20 fields deep",
            StatusCode::OK,
            query(&deep(&plan, 20)),
            &["depth"],
        ),
        (
            "a query 5,000 levels deep (refused before parsing)",
            StatusCode::OK,
            query(&deep(&plan, 5_000)),
            &["depth"],
        ),
        (
            "1,000 aliases of one field",
            StatusCode::OK,
            query(&format!("{{ {aliases} }}")),
            &["aliases"],
        ),
        (
            "11 root fields",
            StatusCode::OK,
            query(&format!("{{ {root_fields} }}")),
            &["rootFields"],
        ),
        (
            "5 directives on one field",
            StatusCode::OK,
            query(&format!(
                "{{ plan(id: \"{plan}\") @include(if: true) @include(if: true) \
                 @include(if: true) @include(if: true) @include(if: true) {{ id }} }}"
            )),
            &["directives"],
        ),
        (
            "100 plans, each with 100 revisions of every section",
            StatusCode::OK,
            query(
                "{ plans(first: 100) { edges { node { id status kind version sections { \
                 category revision revisions(first: 100) { edges { node { content } } } } } } } }",
            ),
            &["complexity"],
        ),
        (
            "a batch of 100 operations",
            StatusCode::BAD_REQUEST,
            Value::Array(
                (0..100)
                    .map(|_| json!({ "query": format!("{{ {plan_field} }}") }))
                    .collect(),
            )
            .to_string(),
            &["batch"],
        ),
        (
            "1 MB of white space around a plan read",
            StatusCode::OK,
            query(&format!("{}{{ {plan_field} }}", " ".repeat(1 << 20))),
            &["documentBytes"],
        ),
        (
            "25,000 one-byte tokens",
            StatusCode::OK,
            query(&format!("{{ {plan_field} {} }}", "!".repeat(25_000))),
            &["tokens"],
        ),
        (
            // 100,000 tokens take at least 100,000 bytes: over the document size first.
            "100,000 tokens",
            StatusCode::OK,
            query(&format!("{{ {plan_field} {} }}", "!".repeat(100_000))),
            &["documentBytes", "tokens"],
        ),
    ];
    for (what, status, body, limits) in cases {
        let (got_status, response) = post(&demo, &cookie, body).await;
        // A hub with a smaller request body limit refuses the largest bodies at the door (413).
        if got_status == StatusCode::PAYLOAD_TOO_LARGE {
            assert_eq!(
                error_code(&response),
                "BAD_USER_INPUT",
                "{what}: {response}"
            );
        } else {
            assert_eq!(got_status, status, "{what}: {response}");
            assert_eq!(
                error_code(&response),
                "BAD_USER_INPUT",
                "{what}: {response}"
            );
            let limit = response["errors"][0]["extensions"]["limit"]
                .as_str()
                .unwrap_or_else(|| panic!("{what}: no limit named in {response}"));
            assert!(limits.contains(&limit), "{what}: {limit} in {response}");
            let message = response["errors"][0]["message"].as_str().unwrap();
            assert!(message.contains(limit), "{what}: {message}");
            assert!(response["errors"][0]["extensions"]["max"].is_u64());
        }
        assert!(
            response["data"].is_null(),
            "{what}: data answered: {response}"
        );
        let text = response.to_string();
        for story in &stories {
            assert!(!text.contains(story.as_str()), "{what}: a story in {text}");
        }
    }

    // A fragment cycle is refused before the validator (or anything else) walks it.
    let cycle = query(&format!(
        "{{ plan(id: \"{plan}\") {{ ...A }} }} \
         fragment A on PlanView {{ sections {{ ...B }} }} \
         fragment B on SectionView {{ ...C }} fragment C on SectionView {{ ...A }}"
    ));
    let (status, response) = post(&demo, &cookie, cycle).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(error_code(&response), "BAD_USER_INPUT", "{response}");
    assert!(
        response["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("cycle"),
        "{response}"
    );
    assert!(response["data"].is_null(), "{response}");

    assert_eq!(
        count(&conn, reads).await,
        reads_before,
        "no plan resolver ran"
    );
    conn.close().await.unwrap();
    hub.terminate();
}

async fn misspelled(profile: Profile) -> Value {
    let test_db = TestDb::new().await;
    let hub = TestHub::start(Config {
        profile,
        ..test_db.config()
    })
    .await;
    let response: Value = hub
        .http
        .post(hub.url("/graphql"))
        .json(&json!({ "query": "{ apiVersoin }" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    hub.stop().await;
    response
}

#[tokio::test]
async fn a_misspelled_field_gets_no_suggestion_in_production() {
    let production = misspelled(Profile::Production).await;
    assert_eq!(error_code(&production), "BAD_USER_INPUT", "{production}");
    let text = production.to_string();
    assert!(
        !text.contains("Did you mean") && !text.contains("apiVersion"),
        "a field name suggested: {text}"
    );
    assert!(production["data"].is_null(), "{production}");

    // In development the suggestion helps (and shows the check above can fail).
    let development = misspelled(Profile::Development).await;
    assert_eq!(error_code(&development), "BAD_USER_INPUT", "{development}");
    assert!(
        development.to_string().contains("apiVersion"),
        "{development}"
    );
}

#[tokio::test]
async fn a_body_that_is_not_one_graphql_request_is_bad_input() {
    let test_db = TestDb::new().await;
    let hub = TestHub::start(test_db.config()).await;
    for body in [
        "{not json",
        r#"{"query": "{ apiVersion }", "variables": "a string"}"#,
    ] {
        let response = hub
            .http
            .post(hub.url("/graphql"))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{body}");
        let answer: Value = response.json().await.unwrap();
        assert_eq!(error_code(&answer), "BAD_USER_INPUT", "{body}: {answer}");
        assert!(answer["data"].is_null(), "{answer}");
        // The parser's own words (which can quote the body) never reach the client.
        let text = answer.to_string();
        assert!(
            !text.contains("not json") && !text.contains("a string"),
            "{text}"
        );
    }
    hub.stop().await;
}

async fn batch(hub: &TestHub, n: usize) -> (StatusCode, Value) {
    let body = Value::Array(
        (0..n)
            .map(|_| json!({ "query": "{ apiVersion }" }))
            .collect(),
    );
    let response = hub
        .http
        .post(hub.url("/graphql"))
        .json(&body)
        .send()
        .await
        .unwrap();
    (response.status(), response.json().await.unwrap())
}

#[tokio::test]
async fn batches_are_off_by_default_and_capped_when_on() {
    let test_db = TestDb::new().await;
    let off = TestHub::start(test_db.config()).await;
    let (status, answer) = batch(&off, 2).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    assert_eq!(error_code(&answer), "BAD_USER_INPUT", "{answer}");
    assert_eq!(answer["errors"][0]["extensions"]["limit"], "batch");
    assert_eq!(answer["errors"][0]["extensions"]["max"], 0);
    off.stop().await;

    let test_db = TestDb::new().await;
    let mut config = test_db.config();
    config.graphql.0.max_batch = 5;
    let on = TestHub::start(config).await;
    let (status, answer) = batch(&on, 5).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let answers = answer.as_array().unwrap_or_else(|| panic!("{answer}"));
    assert_eq!(answers.len(), 5);
    for one in answers {
        assert_eq!(one, &json!({ "data": { "apiVersion": "1" } }));
    }
    let (status, answer) = batch(&on, 6).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    assert_eq!(answer["errors"][0]["extensions"]["limit"], "batch");
    assert_eq!(answer["errors"][0]["extensions"]["max"], 5);
    assert!(answer["data"].is_null(), "{answer}");
    // An empty array reads as a request without a document: bad input, nothing runs.
    let (_, answer) = batch(&on, 0).await;
    assert_eq!(error_code(&answer), "BAD_USER_INPUT", "{answer}");
    assert!(answer["data"].is_null(), "{answer}");
    on.stop().await;
}
