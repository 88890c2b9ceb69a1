//! The privacy officer (FG) reads the audit log through `/graphql`: after the wijkteam coach and
//! Stichting Buurtkracht's system have read Bram's plan (the one on its statutory task, the other
//! refused for want of consent), the FG — logged in with password and TOTP — finds those reads by
//! resident, actor and outcome, pages through them with cursors, and gets Bram's access report in
//! plain language. A coach and a partner system are refused; the FG without a second factor is
//! refused too; every read of the log, refused or not, is itself in the log.

use serde_json::{Value, json};
use testkit::TestDb;

use crate::demo::{Auth, Demo, error_code};
use crate::wijkhub;

/// Bram Willems is the demo's twelfth resident (index 11): no consent yet, a care relation with
/// Stichting Buurtkracht.
const BRAM: u64 = 11;

const ENTRIES: &str = "query($filter: AuditEntryFilter, $first: Int, $after: String) { \
    auditEntries(filter: $filter, first: $first, after: $after) { \
      edges { cursor node { id action outcome reason actorKind actorId organisationId role \
        residentId planId categoriesReturned categoriesDenied purpose basis checks requestId \
        sourceAddress clientId time } } \
      pageInfo { hasNextPage hasPreviousPage endCursor } } }";

const REPORT: &str = "query($id: ID!) { accessReport(residentId: $id) { residentId summary \
    lines { day organisationId organisationName organisationKind purpose entries permitted \
    denied actors actions categoriesReturned categoriesDenied bases text } } }";

impl Demo {
    async fn viewer_id(&self, auth: &Auth<'_>) -> String {
        let response = self.graphql(auth, "{ viewer { id } }", json!({})).await;
        response["data"]["viewer"]["id"]
            .as_str()
            .unwrap_or_else(|| panic!("no viewer: {response}"))
            .to_owned()
    }

    /// Every entry matching `filter`, following the cursors `per_page` at a time.
    async fn all_entries(&self, auth: &Auth<'_>, filter: Value, per_page: u64) -> Vec<Value> {
        let mut entries = Vec::new();
        let mut after = Value::Null;
        loop {
            let response = self
                .graphql(
                    auth,
                    ENTRIES,
                    json!({ "filter": filter, "first": per_page, "after": after }),
                )
                .await;
            let connection = &response["data"]["auditEntries"];
            let edges = connection["edges"]
                .as_array()
                .unwrap_or_else(|| panic!("no entries: {response}"));
            assert!(edges.len() as u64 <= per_page, "{response}");
            assert_eq!(
                connection["pageInfo"]["hasPreviousPage"].as_bool(),
                Some(!after.is_null())
            );
            entries.extend(edges.iter().map(|edge| edge["node"].clone()));
            if connection["pageInfo"]["hasNextPage"] != json!(true) {
                return entries;
            }
            after = connection["pageInfo"]["endCursor"].clone();
            assert_eq!(
                after,
                edges.last().unwrap()["cursor"],
                "endCursor is the last edge's"
            );
        }
    }
}

#[tokio::test]
async fn the_privacy_officer_searches_the_log_and_reports_to_a_resident() {
    let db = TestDb::new().await;
    let mut cli = wijkhub();
    cli.database(&db).env("WIJKHUB_HTTP__PORT", "0");
    let (_hub, demo) = Demo::start(&cli);

    let conn = sea_orm::Database::connect(db.url()).await.unwrap();
    let row = sea_orm::ConnectionTrait::query_one_raw(
        &conn,
        sea_orm::Statement::from_string(
            sea_orm::ConnectionTrait::get_database_backend(&conn),
            format!("SELECT id, resident_id FROM plans ORDER BY id LIMIT 1 OFFSET {BRAM}"),
        ),
    )
    .await
    .unwrap()
    .unwrap();
    let plan = row.try_get::<uuid::Uuid>("", "id").unwrap().to_string();
    let bram = row
        .try_get::<uuid::Uuid>("", "resident_id")
        .unwrap()
        .to_string();
    conn.close().await.unwrap();

    // The policy scenario: the coach reads on the wijkteam's statutory task (twice), Buurtkracht's
    // system is refused every section for want of consent.
    let coach_cookie = demo.login("coach@noordwest.demo").await;
    let coach = Auth::Cookie(&coach_cookie);
    let coach_id = demo.viewer_id(&coach).await;
    let read = "query($id: ID!) { plan(id: $id) { sections { category content } } }";
    for _ in 0..2 {
        let response = demo.graphql(&coach, read, json!({ "id": plan })).await;
        assert!(response["errors"].is_null(), "{response}");
    }
    let token = demo.token("stichting-buurtkracht").await;
    let partner = Auth::Bearer(&token);
    let refused = demo.graphql(&partner, read, json!({ "id": plan })).await;
    assert!(refused["errors"].is_null(), "{refused}");

    // Neither the coach nor a partner system reads the log; the attempts are logged.
    for (auth, query, variables) in [
        (&coach, ENTRIES, json!({})),
        (&coach, REPORT, json!({ "id": bram })),
        (&partner, ENTRIES, json!({ "filter": { "resident": bram } })),
        (&partner, REPORT, json!({ "id": bram })),
    ] {
        let response = demo.graphql(auth, query, variables).await;
        assert_eq!(error_code(&response), "FORBIDDEN", "{response}");
        assert!(response["data"].is_null(), "{response}");
    }
    // Nor does the FG without the second factor: the demo FG cannot even log in without it.
    let fg_password_only = demo
        .http
        .post(format!("{}/auth/login", demo.base))
        .json(
            &json!({ "email": "fg@noordwest.demo", "password": demo.credentials["members"]
            .as_array().unwrap().iter()
            .find(|member| member["email"] == "fg@noordwest.demo").unwrap()["password"] }),
        )
        .send()
        .await
        .unwrap();
    assert_ne!(fg_password_only.status(), 200);

    let fg_cookie = demo.login("fg@noordwest.demo").await;
    let fg = Auth::Cookie(&fg_cookie);
    let fg_id = demo.viewer_id(&fg).await;

    // By resident: the three reads, newest first, metadata only.
    let by_resident = demo
        .all_entries(
            &fg,
            json!({ "resident": bram, "action": "resident.read" }),
            100,
        )
        .await;
    assert_eq!(by_resident.len(), 3, "{by_resident:?}");
    let times: Vec<&str> = by_resident
        .iter()
        .map(|entry| entry["time"].as_str().unwrap())
        .collect();
    let mut sorted = times.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(times, sorted, "newest first");
    let partner_read = &by_resident[0];
    assert_eq!(partner_read["actorKind"], "client");
    assert_eq!(partner_read["outcome"], "deny");
    assert_eq!(partner_read["reason"], "no-consent");
    assert_eq!(partner_read["purpose"], "support");
    assert_eq!(partner_read["planId"], json!(plan));
    assert_eq!(partner_read["categoriesReturned"], json!([]));
    assert!(
        partner_read["categoriesDenied"]
            .as_array()
            .unwrap()
            .contains(&json!("story")),
        "{partner_read}"
    );
    assert!(partner_read["clientId"].is_string(), "{partner_read}");
    assert!(partner_read["requestId"].is_string(), "{partner_read}");
    assert_eq!(partner_read["sourceAddress"], "127.0.0.1");
    for coach_read in &by_resident[1..] {
        assert_eq!(coach_read["actorId"], json!(coach_id));
        assert_eq!(coach_read["outcome"], "permit");
        assert_eq!(coach_read["role"], "coach");
        assert!(
            coach_read["basis"]
                .as_str()
                .unwrap()
                .starts_with("statutory:"),
            "{coach_read}"
        );
        assert!(coach_read["clientId"].is_null());
    }

    // Paging one at a time with the cursors gives the same entries in the same order.
    let paged = demo
        .all_entries(
            &fg,
            json!({ "resident": bram, "action": "resident.read" }),
            1,
        )
        .await;
    assert_eq!(paged, by_resident);

    // By actor, and by outcome.
    let by_coach = demo
        .all_entries(
            &fg,
            json!({ "actor": coach_id, "action": "resident.read" }),
            100,
        )
        .await;
    assert_eq!(by_coach, by_resident[1..].to_vec());
    let denied = demo
        .all_entries(&fg, json!({ "resident": bram, "outcome": "deny" }), 100)
        .await;
    assert_eq!(denied, vec![partner_read.clone()]);
    let by_client = demo
        .all_entries(
            &fg,
            json!({ "client": "stichting-buurtkracht", "resident": bram }),
            100,
        )
        .await;
    assert_eq!(by_client, vec![partner_read.clone()]);

    // A cursor the hub did not issue, or bad filter values, are refused.
    for (variables, code) in [
        (json!({ "after": "bm90LWEtY3Vyc29y" }), "BAD_USER_INPUT"),
        (
            json!({ "filter": { "outcome": "maybe" } }),
            "BAD_USER_INPUT",
        ),
        (
            json!({ "filter": { "action": "resident.peek" } }),
            "BAD_USER_INPUT",
        ),
        (json!({ "first": 101 }), "BAD_USER_INPUT"),
    ] {
        let response = demo.graphql(&fg, ENTRIES, variables).await;
        assert_eq!(error_code(&response), code, "{response}");
    }

    // The access report: by organisation, purpose and day, in plain language.
    let report = demo.graphql(&fg, REPORT, json!({ "id": bram })).await;
    assert!(report["errors"].is_null(), "{report}");
    let lines = report["data"]["accessReport"]["lines"].as_array().unwrap();
    let buurtkracht = lines
        .iter()
        .find(|line| line["organisationName"] == "Stichting Buurtkracht")
        .unwrap_or_else(|| panic!("no Buurtkracht line: {report}"));
    assert_eq!(buurtkracht["purpose"], "support");
    assert_eq!(buurtkracht["denied"], 1);
    assert_eq!(buurtkracht["permitted"], 0);
    let text = buurtkracht["text"].as_str().unwrap();
    assert!(
        text.contains("Stichting Buurtkracht looked at your plan for support"),
        "{text}"
    );
    assert!(text.contains("Not shared with them:"), "{text}");
    let wijkteam = lines
        .iter()
        .find(|line| line["organisationKind"] == "wijkteam" && line["permitted"] == 2)
        .unwrap_or_else(|| panic!("no wijkteam line: {report}"));
    assert!(
        wijkteam["text"]
            .as_str()
            .unwrap()
            .contains("the legal task of the wijkteam"),
        "{wijkteam}"
    );
    let summary = report["data"]["accessReport"]["summary"].as_str().unwrap();
    assert!(summary.contains("Stichting Buurtkracht"), "{summary}");

    // Nothing personal about the resident in any answer: no name, no plan content.
    let answers = format!("{by_resident:?}{report}");
    for personal in ["Bram", "Willems", "gokt"] {
        assert!(!answers.contains(personal), "{personal} in {answers}");
    }

    // The FG's own reads are in the log, and so are the refused attempts.
    let fg_reads = demo
        .all_entries(&fg, json!({ "actor": fg_id, "action": "audit.read" }), 100)
        .await;
    assert!(fg_reads.len() >= 8, "{fg_reads:?}");
    assert!(
        fg_reads
            .iter()
            .all(|entry| entry["outcome"] == "permit" && entry["role"] == "privacy-officer"),
        "{fg_reads:?}"
    );
    let reasons: Vec<&str> = fg_reads
        .iter()
        .map(|entry| entry["reason"].as_str().unwrap())
        .collect();
    assert!(reasons.contains(&"access-report"), "{reasons:?}");
    assert!(reasons.contains(&"audit-search"), "{reasons:?}");
    assert!(
        fg_reads
            .iter()
            .any(|entry| entry["reason"] == "access-report" && entry["residentId"] == json!(bram)),
        "{fg_reads:?}"
    );
    let refusals = demo
        .all_entries(
            &fg,
            json!({ "action": "audit.read", "outcome": "deny" }),
            100,
        )
        .await;
    assert_eq!(refusals.len(), 4, "{refusals:?}");
    assert!(
        refusals
            .iter()
            .all(|entry| entry["reason"] == "role-forbids-audit-read"),
        "{refusals:?}"
    );
    assert_eq!(
        refusals
            .iter()
            .filter(|entry| entry["actorId"] == json!(coach_id))
            .count(),
        2
    );
}

/// Reads a plan with `X-Forwarded-For: 203.0.113.5, 198.51.100.7` and returns the source address
/// its audit entry recorded.
async fn source_recorded(db: &TestDb, trusted_proxies: Option<&str>) -> String {
    let mut cli = wijkhub();
    cli.database(db).env("WIJKHUB_HTTP__PORT", "0");
    if let Some(trusted) = trusted_proxies {
        cli.env("WIJKHUB_HTTP__TRUSTED_PROXIES", trusted);
    }
    let (_hub, demo) = Demo::start(&cli);
    let conn = sea_orm::Database::connect(db.url()).await.unwrap();
    let backend = sea_orm::ConnectionTrait::get_database_backend(&conn);
    let plan: uuid::Uuid = sea_orm::ConnectionTrait::query_one_raw(
        &conn,
        sea_orm::Statement::from_string(backend, "SELECT id FROM plans ORDER BY id LIMIT 1"),
    )
    .await
    .unwrap()
    .unwrap()
    .try_get("", "id")
    .unwrap();
    let token = demo.token("stichting-buurtkracht").await;
    let response = demo
        .http
        .post(format!("{}/graphql", demo.base))
        .bearer_auth(&token)
        .header("Wijkhub-Purpose", "support")
        .header("X-Forwarded-For", "203.0.113.5, 198.51.100.7")
        .json(&json!({ "query": "query($id: ID!) { plan(id: $id) { id } }", "variables": { "id": plan } }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let request_id = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let source: String = sea_orm::ConnectionTrait::query_one_raw(
        &conn,
        sea_orm::Statement::from_sql_and_values(
            backend,
            if backend == sea_orm::DbBackend::Postgres {
                "SELECT source_address FROM audit_entries WHERE request_id = $1"
            } else {
                "SELECT source_address FROM audit_entries WHERE request_id = ?"
            },
            [request_id.into()],
        ),
    )
    .await
    .unwrap()
    .unwrap_or_else(|| panic!("no audit entry for the read"))
    .try_get("", "source_address")
    .unwrap();
    conn.close().await.unwrap();
    source
}

#[tokio::test]
async fn the_source_address_follows_x_forwarded_for_only_from_a_trusted_proxy() {
    // The hub behind a proxy on loopback: the right-most address the proxy did not add itself.
    let db = TestDb::new().await;
    assert_eq!(
        source_recorded(&db, Some(r#"["127.0.0.1/32"]"#)).await,
        "198.51.100.7"
    );
    // No trusted proxies: the header is anybody's say-so, and the peer is recorded.
    let db = TestDb::new().await;
    assert_eq!(source_recorded(&db, None).await, "127.0.0.1");
}
