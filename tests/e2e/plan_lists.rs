//! Listing plans and reading a section's history through `/graphql`, as the demo network's
//! partner systems do, with real tokens: the wijkteam pages through every plan it coordinates
//! (no duplicates, no gaps, one audit entry per resident); a welfare organisation lists only the
//! residents it works with, never their health; cursors the hub did not issue and pages over the
//! maximum are refused; a section's revisions come newest first; and a denied section's content
//! is never decrypted — corrupted in the database, it does not even disturb the read.

use std::time::Duration;

use sea_orm::sea_query::Expr;
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, EntityTrait, QueryFilter, Statement};
use serde_json::{Value, json};
use store::entity::{care_relations, section_revisions};
use testkit::TestDb;

use crate::demo::{Auth, Demo, error_code};
use crate::wijkhub;

const PLANS: &str = "query($first: Int, $after: String, $filter: PlanFilter) { \
                     plans(first: $first, after: $after, filter: $filter) { \
                     edges { cursor node { id residentId status \
                     sections { category access { granted reason basis } content } } } \
                     pageInfo { hasNextPage hasPreviousPage endCursor } } }";

const REVISIONS: &str = "query($id: ID!, $first: Int, $after: String) { plan(id: $id) { \
                         sections { category revision access { granted } \
                         revisions(first: $first, after: $after) { \
                         edges { cursor node { revision content authorOrganisationId createdAt } } \
                         pageInfo { hasNextPage hasPreviousPage endCursor } } } } }";

async fn scalar<T: sea_orm::TryGetable>(conn: &DatabaseConnection, sql: &str, column: &str) -> T {
    conn.query_one_raw(Statement::from_string(conn.get_database_backend(), sql))
        .await
        .unwrap()
        .unwrap()
        .try_get("", column)
        .unwrap()
}

async fn ids(conn: &DatabaseConnection, sql: &str) -> Vec<String> {
    conn.query_all_raw(Statement::from_string(conn.get_database_backend(), sql))
        .await
        .unwrap()
        .iter()
        .map(|row| row.try_get::<uuid::Uuid>("", "id").unwrap().to_string())
        .collect()
}

async fn reads(conn: &DatabaseConnection) -> i64 {
    scalar(
        conn,
        "SELECT COUNT(*) AS n FROM audit_entries WHERE action = 'resident.read'",
        "n",
    )
    .await
}

/// Every page of `plans` for `auth` with `first`, in order; panics on an error.
async fn every_page(demo: &Demo, auth: &Auth<'_>, first: i64, filter: Value) -> Vec<Value> {
    let mut nodes = Vec::new();
    let mut after = Value::Null;
    for page in 0.. {
        assert!(page < 100, "paging does not end");
        let response = demo
            .graphql(
                auth,
                PLANS,
                json!({ "first": first, "after": after, "filter": filter }),
            )
            .await;
        let connection = &response["data"]["plans"];
        let edges = connection["edges"]
            .as_array()
            .unwrap_or_else(|| panic!("no page: {response}"));
        assert!(edges.len() as i64 <= first, "{response}");
        assert_eq!(
            connection["pageInfo"]["hasPreviousPage"],
            !after.is_null(),
            "{response}"
        );
        nodes.extend(edges.iter().map(|edge| edge["node"].clone()));
        if connection["pageInfo"]["hasNextPage"] == false {
            break;
        }
        assert_eq!(
            edges.len() as i64,
            first,
            "a full page before the last: {response}"
        );
        after = connection["pageInfo"]["endCursor"].clone();
    }
    nodes
}

fn node_ids(nodes: &[Value]) -> Vec<String> {
    nodes
        .iter()
        .map(|node| node["id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn plans_page_through_what_the_caller_may_know_and_nothing_else() {
    let db = TestDb::new().await;
    let mut cli = wijkhub();
    cli.database(&db).env("WIJKHUB_HTTP__PORT", "0");
    let (hub, demo) = Demo::start(&cli);
    let conn = Database::connect(db.url()).await.unwrap();

    // The wijkteam coordinates every demo plan: pages of 5 over all of them, in a stable order,
    // no plan twice, none left out, each section granted on its statutory task.
    let wijkteam = demo.token("wijkteam-noordwest").await;
    let all = ids(&conn, "SELECT id FROM plans ORDER BY id").await;
    assert!(all.len() > 10, "the demo has more plans than two pages");
    let before = reads(&conn).await;
    let nodes = every_page(&demo, &Auth::Bearer(&wijkteam), 5, Value::Null).await;
    assert_eq!(node_ids(&nodes), all, "every plan once, in order");
    for node in &nodes {
        let sections = node["sections"].as_array().unwrap();
        assert!(!sections.is_empty(), "{node}");
        for section in sections {
            assert_eq!(section["access"]["granted"], true, "{section}");
            assert!(section["content"].is_string(), "{section}");
            assert!(
                section["access"]["basis"]
                    .as_str()
                    .unwrap()
                    .starts_with("statutory:"),
                "{section}"
            );
        }
    }
    // One entry per request and resident, committed before each page was answered.
    assert_eq!(reads(&conn).await - before, all.len() as i64);

    // The same list again in one page: the same plans.
    let one_page = every_page(&demo, &Auth::Bearer(&wijkteam), 100, Value::Null).await;
    assert_eq!(node_ids(&one_page), all);

    // Filters narrow it: one resident's plans, a status.
    let johanna: uuid::Uuid = scalar(
        &conn,
        "SELECT resident_id FROM plans ORDER BY id LIMIT 1",
        "resident_id",
    )
    .await;
    let hers = every_page(
        &demo,
        &Auth::Bearer(&wijkteam),
        5,
        json!({ "residentId": johanna.to_string() }),
    )
    .await;
    assert_eq!(node_ids(&hers), [all[0].clone()]);
    assert_eq!(hers[0]["residentId"], johanna.to_string());
    let closed = every_page(
        &demo,
        &Auth::Bearer(&wijkteam),
        5,
        json!({ "status": "closed" }),
    )
    .await;
    assert!(closed.is_empty(), "{closed:?}");
    let active = every_page(
        &demo,
        &Auth::Bearer(&wijkteam),
        50,
        json!({ "status": "active" }),
    )
    .await;
    assert_eq!(node_ids(&active), all);

    // The welfare organisation: exactly the residents it has a care relation with; their health
    // is never shown to it.
    let welzijn = demo.token("welzijn-noordwest").await;
    let related = ids(
        &conn,
        "SELECT p.id AS id FROM plans p WHERE p.resident_id IN (SELECT c.resident_id \
         FROM care_relations c JOIN organisations o ON o.id = c.organisation_id \
         WHERE o.name = 'Welzijn Noordwest' AND c.ended_at IS NULL) ORDER BY p.id",
    )
    .await;
    assert!(!related.is_empty() && related.len() < all.len());
    let seen = every_page(&demo, &Auth::Bearer(&welzijn), 3, Value::Null).await;
    assert_eq!(node_ids(&seen), related);
    for node in &seen {
        for section in node["sections"].as_array().unwrap() {
            if section["category"] == "health" {
                assert_eq!(section["access"]["granted"], false, "{section}");
                assert_eq!(section["access"]["reason"], "role-forbids-category");
                assert!(section["content"].is_null(), "{section}");
            }
            if section["access"]["granted"] == false {
                assert!(section["content"].is_null(), "{section}");
            }
        }
    }

    // A care relation that ran out is no relation: once Welzijn's relation with the first of
    // its residents has an end date in the past, her plan leaves its list.
    let expired = care_relations::Entity::update_many()
        .col_expr(
            care_relations::Column::ValidUntil,
            Expr::value(Some(chrono::Utc::now() - chrono::Duration::days(1))),
        )
        .filter(Expr::cust(format!(
            "organisation_id = (SELECT id FROM organisations WHERE name = 'Welzijn Noordwest') \
             AND resident_id = (SELECT resident_id FROM plans WHERE id = {})",
            match conn.get_database_backend() {
                sea_orm::DatabaseBackend::Postgres => format!("'{}'", related[0]),
                _ => format!(
                    "X'{}'",
                    uuid::Uuid::parse_str(&related[0]).unwrap().simple()
                ),
            }
        )))
        .exec(&conn)
        .await
        .unwrap();
    assert!(expired.rows_affected > 0);
    let after_expiry = every_page(&demo, &Auth::Bearer(&welzijn), 3, Value::Null).await;
    assert_eq!(node_ids(&after_expiry), related[1..]);

    // Bad paging input: refused with BAD_USER_INPUT, nothing read, nothing audited.
    let page = demo
        .graphql(&Auth::Bearer(&wijkteam), PLANS, json!({ "first": 2 }))
        .await;
    let cursor = page["data"]["plans"]["pageInfo"]["endCursor"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut tampered = cursor.clone().into_bytes();
    let last = tampered.len() - 1;
    tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).unwrap();
    let before = reads(&conn).await;
    for variables in [
        json!({ "first": 101 }),
        json!({ "first": 0 }),
        json!({ "first": -1 }),
        json!({ "after": "forged" }),
        json!({ "after": tampered }),
        json!({ "after": all[3] }),
        json!({ "filter": { "status": "archived" } }),
    ] {
        let response = demo
            .graphql(&Auth::Bearer(&wijkteam), PLANS, variables.clone())
            .await;
        assert_eq!(
            error_code(&response),
            "BAD_USER_INPUT",
            "{variables}: {response}"
        );
        assert!(response["data"].is_null(), "{response}");
    }
    assert_eq!(reads(&conn).await, before);
    // The wijkteam's cursor is a position, not a key: another caller using it sees only its own.
    let from_cursor = demo
        .graphql(
            &Auth::Bearer(&welzijn),
            PLANS,
            json!({ "first": 100, "after": cursor }),
        )
        .await;
    for edge in from_cursor["data"]["plans"]["edges"].as_array().unwrap() {
        assert!(related.contains(&edge["node"]["id"].as_str().unwrap().to_owned()));
    }

    // Without a purpose, nothing.
    let response: Value = demo
        .http
        .post(format!("{}/graphql", demo.base))
        .bearer_auth(&wijkteam)
        .json(&json!({ "query": PLANS, "variables": {} }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(error_code(&response), "PURPOSE_REQUIRED", "{response}");

    conn.close().await.unwrap();
    hub.terminate();
    let stopped = hub.wait(Duration::from_secs(30));
    assert!(stopped.status.success(), "{}", stopped.stderr);
    let verified = cli.run(&["audit", "verify"]);
    assert!(
        verified.status.success(),
        "{}\n{}",
        verified.stdout,
        verified.stderr
    );
}

/// The `revisions` connection of `category` in a `plan(id)` response.
fn revisions_of<'a>(response: &'a Value, category: &str) -> &'a Value {
    response["data"]["plan"]["sections"]
        .as_array()
        .unwrap_or_else(|| panic!("no plan: {response}"))
        .iter()
        .find(|section| section["category"] == category)
        .map(|section| &section["revisions"])
        .unwrap_or_else(|| panic!("no {category}: {response}"))
}

#[tokio::test]
async fn a_sections_history_comes_newest_first_and_only_where_granted() {
    let db = TestDb::new().await;
    let mut cli = wijkhub();
    cli.database(&db).env("WIJKHUB_HTTP__PORT", "0");
    let (hub, demo) = Demo::start(&cli);
    let conn = Database::connect(db.url()).await.unwrap();
    let plan = ids(&conn, "SELECT id FROM plans ORDER BY id LIMIT 1").await[0].clone();
    let wijkteam = demo.token("wijkteam-noordwest").await;

    // Three writes on top of the seeded story: four revisions.
    let write = "mutation($input: WriteSectionInput!) { writeSection(input: $input) { \
                 section { revision } } }";
    let texts = ["tweede versie", "derde versie", "vierde versie"];
    for (expected, text) in (1..).zip(texts) {
        let response = demo
            .graphql(
                &Auth::Bearer(&wijkteam),
                write,
                json!({ "input": { "planId": plan, "category": "story", "content": text,
                                   "expectedRevision": expected } }),
            )
            .await;
        assert_eq!(
            response["data"]["writeSection"]["section"]["revision"],
            expected + 1,
            "{response}"
        );
    }

    // Pages of two, newest first, every revision once.
    let mut seen = Vec::new();
    let mut after = Value::Null;
    loop {
        let response = demo
            .graphql(
                &Auth::Bearer(&wijkteam),
                REVISIONS,
                json!({ "id": plan, "first": 2, "after": after }),
            )
            .await;
        let revisions = revisions_of(&response, "story");
        for edge in revisions["edges"].as_array().unwrap() {
            let node = &edge["node"];
            assert!(node["content"].is_string(), "{node}");
            assert!(node["authorOrganisationId"].is_string(), "{node}");
            seen.push((
                node["revision"].as_i64().unwrap(),
                node["content"].as_str().unwrap().to_owned(),
            ));
        }
        if revisions["pageInfo"]["hasNextPage"] == false {
            break;
        }
        after = revisions["pageInfo"]["endCursor"].clone();
    }
    let numbers: Vec<i64> = seen.iter().map(|(revision, _)| *revision).collect();
    assert_eq!(numbers, [4, 3, 2, 1]);
    assert_eq!(seen[0].1, "vierde versie");
    assert_eq!(seen[1].1, "derde versie");
    assert_eq!(seen[2].1, "tweede versie");

    // The same history through the list, where every section's first page comes in one batch.
    let listed_history = "query($filter: PlanFilter) { plans(filter: $filter) { edges { node { \
                          sections { category revisions(first: 2) { \
                          edges { node { revision content authorOrganisationId } } \
                          pageInfo { hasNextPage } } } } } } }";
    let johanna: uuid::Uuid = scalar(
        &conn,
        "SELECT resident_id FROM plans ORDER BY id LIMIT 1",
        "resident_id",
    )
    .await;
    let filter = json!({ "filter": { "residentId": johanna.to_string() } });
    let response = demo
        .graphql(&Auth::Bearer(&wijkteam), listed_history, filter.clone())
        .await;
    let story = response["data"]["plans"]["edges"][0]["node"]["sections"]
        .as_array()
        .unwrap_or_else(|| panic!("{response}"))
        .iter()
        .find(|section| section["category"] == "story")
        .unwrap()["revisions"]
        .clone();
    let listed: Vec<(i64, &str)> = story["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|edge| {
            (
                edge["node"]["revision"].as_i64().unwrap(),
                edge["node"]["content"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(listed, [(4, "vierde versie"), (3, "derde versie")]);
    assert_eq!(story["pageInfo"]["hasNextPage"], true);

    // A cursor that is not one of this section's: refused.
    let first_page = demo
        .graphql(
            &Auth::Bearer(&wijkteam),
            REVISIONS,
            json!({ "id": plan, "first": 1 }),
        )
        .await;
    let story_cursor = revisions_of(&first_page, "story")["pageInfo"]["endCursor"].clone();
    let plans_page = demo
        .graphql(&Auth::Bearer(&wijkteam), PLANS, json!({ "first": 1 }))
        .await;
    let plans_cursor = plans_page["data"]["plans"]["pageInfo"]["endCursor"].clone();
    for after in [json!("forged"), plans_cursor] {
        let response = demo
            .graphql(
                &Auth::Bearer(&wijkteam),
                REVISIONS,
                json!({ "id": plan, "first": 1, "after": after }),
            )
            .await;
        assert_eq!(error_code(&response), "BAD_USER_INPUT", "{response}");
    }
    // Every section is asked with the story's cursor: the other sections refuse it.
    let response = demo
        .graphql(
            &Auth::Bearer(&wijkteam),
            REVISIONS,
            json!({ "id": plan, "first": 1, "after": story_cursor }),
        )
        .await;
    let errors = response["errors"].as_array().unwrap();
    assert!(!errors.is_empty(), "{response}");
    assert!(
        errors
            .iter()
            .all(|error| error["extensions"]["code"] == "BAD_USER_INPUT"),
        "{response}"
    );
    let over = demo
        .graphql(
            &Auth::Bearer(&wijkteam),
            REVISIONS,
            json!({ "id": plan, "first": 101 }),
        )
        .await;
    assert_eq!(error_code(&over), "BAD_USER_INPUT", "{over}");

    // The welfare organisation sees that her health section has a history, never what it said
    // nor who wrote it; her story's history it may read.
    let welzijn = demo.token("welzijn-noordwest").await;
    let response = demo
        .graphql(
            &Auth::Bearer(&welzijn),
            REVISIONS,
            json!({ "id": plan, "first": 10 }),
        )
        .await;
    assert!(response["errors"].is_null(), "{response}");
    let health = revisions_of(&response, "health")["edges"]
        .as_array()
        .unwrap();
    assert!(!health.is_empty(), "{response}");
    for edge in health {
        assert!(edge["node"]["content"].is_null(), "{edge}");
        assert!(edge["node"]["authorOrganisationId"].is_null(), "{edge}");
    }
    let story = revisions_of(&response, "story")["edges"]
        .as_array()
        .unwrap();
    assert_eq!(story[0]["node"]["content"], "vierde versie");
    let listed = demo
        .graphql(&Auth::Bearer(&welzijn), listed_history, filter)
        .await;
    let health = listed["data"]["plans"]["edges"][0]["node"]["sections"]
        .as_array()
        .unwrap_or_else(|| panic!("{listed}"))
        .iter()
        .find(|section| section["category"] == "health")
        .unwrap()["revisions"]["edges"]
        .clone();
    assert!(!health.as_array().unwrap().is_empty(), "{listed}");
    for edge in health.as_array().unwrap() {
        assert!(edge["node"]["content"].is_null(), "{edge}");
        assert!(edge["node"]["authorOrganisationId"].is_null(), "{edge}");
    }

    conn.close().await.unwrap();
    hub.terminate();
    let stopped = hub.wait(Duration::from_secs(30));
    assert!(stopped.status.success(), "{}", stopped.stderr);
}

#[tokio::test]
async fn a_denied_section_is_never_decrypted() {
    let db = TestDb::new().await;
    let mut cli = wijkhub();
    cli.database(&db).env("WIJKHUB_HTTP__PORT", "0");
    let (hub, demo) = Demo::start(&cli);
    let conn = Database::connect(db.url()).await.unwrap();
    let plan = ids(&conn, "SELECT id FROM plans ORDER BY id LIMIT 1").await[0].clone();
    let johanna: uuid::Uuid = scalar(
        &conn,
        "SELECT resident_id FROM plans ORDER BY id LIMIT 1",
        "resident_id",
    )
    .await;
    let welzijn = demo.token("welzijn-noordwest").await;
    let wijkteam = demo.token("wijkteam-noordwest").await;
    let plan_query = "query($id: ID!) { plan(id: $id) { sections { category \
                      access { granted } content } } }";

    // Her health section, which the welfare organisation may not see, becomes garbage in the
    // database: every revision of it.
    let corrupted = section_revisions::Entity::update_many()
        .col_expr(
            section_revisions::Column::ContentCiphertext,
            Expr::value(vec![0x5au8; 64]),
        )
        .filter(Expr::cust(
            "section_id IN (SELECT id FROM sections WHERE category = 'health' \
             AND plan_id = (SELECT id FROM plans ORDER BY id LIMIT 1))",
        ))
        .exec(&conn)
        .await
        .unwrap();
    assert!(corrupted.rows_affected > 0, "her plan has a health section");

    // The welfare organisation's reads never open it: plan, list and history all answer.
    let response = demo
        .graphql(&Auth::Bearer(&welzijn), plan_query, json!({ "id": plan }))
        .await;
    assert!(response["errors"].is_null(), "{response}");
    let health = response["data"]["plan"]["sections"]
        .as_array()
        .unwrap()
        .iter()
        .find(|section| section["category"] == "health")
        .unwrap()
        .clone();
    assert_eq!(health["access"]["granted"], false);
    assert!(health["content"].is_null());
    let listed = demo
        .graphql(
            &Auth::Bearer(&welzijn),
            PLANS,
            json!({ "filter": { "residentId": johanna.to_string() } }),
        )
        .await;
    assert!(listed["errors"].is_null(), "{listed}");
    assert_eq!(listed["data"]["plans"]["edges"][0]["node"]["id"], plan);
    let history = demo
        .graphql(
            &Auth::Bearer(&welzijn),
            REVISIONS,
            json!({ "id": plan, "first": 10 }),
        )
        .await;
    assert!(history["errors"].is_null(), "{history}");

    // The wijkteam, for whom the section is granted, does decrypt it — and the garbage fails,
    // closed: no content, an internal error that says nothing more.
    for (query, variables) in [
        (plan_query, json!({ "id": plan })),
        (
            PLANS,
            json!({ "filter": { "residentId": johanna.to_string() } }),
        ),
    ] {
        let response = demo
            .graphql(&Auth::Bearer(&wijkteam), query, variables)
            .await;
        assert_eq!(error_code(&response), "INTERNAL", "{response}");
        assert!(!response.to_string().contains("health"), "{response}");
    }

    conn.close().await.unwrap();
    hub.terminate();
    let stopped = hub.wait(Duration::from_secs(30));
    assert!(stopped.status.success(), "{}", stopped.stderr);
}
