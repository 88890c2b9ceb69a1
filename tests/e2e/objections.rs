//! Objections (GDPR art. 21) and restrictions (art. 18) through `/graphql`, in the network's own
//! words: Johanna agreed that Welzijn Noordwest may see her story, goals, agreements and actions.
//! She then objects to Welzijn seeing her story and goals; the coach records it, and Welzijn's
//! system gets those two sections back as not shared with the reason `objection` — her consent
//! still stands, the objection wins. She lifts it, and Welzijn reads them again on her consent.
//! Every bad input is refused with nothing written; each step is in the audit log.
//!
//! Also the helpers the care-relation and break-the-glass scenarios share.

use std::time::Duration;

use sea_orm::{ConnectionTrait, Database, DatabaseConnection, Statement};
use serde_json::{Value, json};
use testkit::TestDb;

use crate::demo::{Auth, Demo, error_code};
use crate::wijkhub;

/// Johanna Mulder: the demo's first resident.
const JOHANNA: u64 = 0;
/// Mohamed Ouali: the second.
const MOHAMED: u64 = 1;

/// POSTs a GraphQL request declaring `purpose` (none when `None`).
pub(crate) async fn graphql_for(
    demo: &Demo,
    auth: &Auth<'_>,
    purpose: Option<&str>,
    query: &str,
    variables: Value,
) -> Value {
    let mut request = demo
        .http
        .post(format!("{}/graphql", demo.base))
        .json(&json!({ "query": query, "variables": variables }));
    if let Some(purpose) = purpose {
        request = request.header("Wijkhub-Purpose", purpose);
    }
    let request = match auth {
        Auth::Cookie(cookie) => request.header("cookie", *cookie),
        Auth::Bearer(token) => request.bearer_auth(token),
    };
    request.send().await.unwrap().json().await.unwrap()
}

/// The first column of the first row of `sql`, as a count.
pub(crate) async fn count(conn: &DatabaseConnection, sql: &str) -> i64 {
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

/// The plan and resident ids of the demo's `index`-th plan.
pub(crate) async fn demo_plan(conn: &DatabaseConnection, index: u64) -> (String, String) {
    let row = conn
        .query_one_raw(Statement::from_string(
            conn.get_database_backend(),
            format!("SELECT id, resident_id FROM plans ORDER BY id LIMIT 1 OFFSET {index}"),
        ))
        .await
        .unwrap()
        .unwrap();
    (
        row.try_get::<uuid::Uuid>("", "id").unwrap().to_string(),
        row.try_get::<uuid::Uuid>("", "resident_id")
            .unwrap()
            .to_string(),
    )
}

/// The id of a row found by `sql` (first column `id`).
pub(crate) async fn id_of(conn: &DatabaseConnection, sql: &str) -> String {
    conn.query_one_raw(Statement::from_string(
        conn.get_database_backend(),
        sql.to_owned(),
    ))
    .await
    .unwrap()
    .unwrap_or_else(|| panic!("no row: {sql}"))
    .try_get::<uuid::Uuid>("", "id")
    .unwrap()
    .to_string()
}

/// A section as `plan(id)` answered it: category, granted, reason, basis.
pub(crate) type SectionAccess = (String, bool, Option<String>, Option<String>);

/// `plan(id)` for `auth`, purpose `support`: each section's access, or the error response.
pub(crate) async fn plan_access(
    demo: &Demo,
    auth: &Auth<'_>,
    plan: &str,
) -> Result<Vec<SectionAccess>, Value> {
    let query = "query($id: ID!) { plan(id: $id) { sections { category \
                 access { granted reason basis } content } } }";
    let response = demo.graphql(auth, query, json!({ "id": plan })).await;
    let Some(sections) = response["data"]["plan"]["sections"].as_array() else {
        return Err(response);
    };
    Ok(sections
        .iter()
        .map(|section| {
            let granted = section["access"]["granted"].as_bool().unwrap();
            assert_eq!(granted, section["content"].is_string(), "{response}");
            (
                section["category"].as_str().unwrap().to_owned(),
                granted,
                section["access"]["reason"].as_str().map(str::to_owned),
                section["access"]["basis"].as_str().map(str::to_owned),
            )
        })
        .collect())
}

const RECORD: &str = "mutation($input: RecordObjectionInput!) { recordObjection(input: $input) { \
                      id kind categories organisationId reason status liftedAt } }";
const LIFT: &str = "mutation($input: LiftObjectionInput!) { liftObjection(input: $input) { \
                    id status liftedAt liftedBy } }";

#[tokio::test]
async fn an_objection_denies_what_consent_permits_until_lifted() {
    let db = TestDb::new().await;
    let mut cli = wijkhub();
    cli.database(&db).env("WIJKHUB_HTTP__PORT", "0");
    let (hub, demo) = Demo::start(&cli);
    let conn = Database::connect(db.url()).await.unwrap();

    let (plan, resident) = demo_plan(&conn, JOHANNA).await;
    let (_, other_resident) = demo_plan(&conn, MOHAMED).await;
    let welzijn_id = id_of(
        &conn,
        "SELECT id FROM organisations WHERE name = 'Welzijn Noordwest'",
    )
    .await;
    let objections_before = count(&conn, "SELECT COUNT(*) FROM objections").await;

    // On her consent Welzijn's system reads her story and goals.
    let token = demo.token("welzijn-noordwest").await;
    let welzijn = Auth::Bearer(&token);
    let seen = plan_access(&demo, &welzijn, &plan).await.unwrap();
    for category in ["story", "goals"] {
        let (_, granted, _, basis) = seen.iter().find(|s| s.0 == category).unwrap();
        assert!(*granted, "{category}: {seen:?}");
        assert!(basis.as_deref().unwrap().starts_with("consent:"));
    }

    let cookie = demo.login("coach@noordwest.demo").await;
    let coach = Auth::Cookie(&cookie);
    let input = json!({
        "residentId": resident,
        "kind": "objection",
        "categories": ["story", "goals"],
        "organisationId": welzijn_id,
        "reason": "Wil niet dat haar verhaal bij de welzijnsorganisatie ligt",
    });

    // Bad input: refused with a clear error, nothing written.
    let yesterday = (chrono::Utc::now() - chrono::Duration::days(1)).to_rfc3339();
    let bad_inputs = [
        ("categories", json!([]), "at least one category"),
        ("categories", json!(["diary"]), "unknown category"),
        ("kind", json!("complaint"), "unknown objection kind"),
        (
            "organisationId",
            json!(uuid::Uuid::now_v7().to_string()),
            "unknown organisation",
        ),
        (
            "validUntil",
            json!(yesterday),
            "end must be after the start",
        ),
    ];
    for (field, value, message) in bad_inputs {
        let mut bad = input.clone();
        bad[field] = value;
        let response = demo.graphql(&coach, RECORD, json!({ "input": bad })).await;
        assert_eq!(
            error_code(&response),
            "BAD_USER_INPUT",
            "{field}: {response}"
        );
        let text = response["errors"][0]["message"].as_str().unwrap();
        assert!(text.contains(message), "{field}: {text}");
    }
    // No purpose, or one outside the closed list.
    for purpose in [None, Some("marketing")] {
        let response = graphql_for(&demo, &coach, purpose, RECORD, json!({ "input": input })).await;
        assert_eq!(error_code(&response), "PURPOSE_REQUIRED", "{response}");
    }
    // Only the owning wijkteam's coach records: Welzijn's own system may not; a provider with
    // no care relation learns nothing.
    let response = demo
        .graphql(&welzijn, RECORD, json!({ "input": input }))
        .await;
    assert_eq!(error_code(&response), "FORBIDDEN", "{response}");
    let kompas_token = demo.token("ggz-kompas").await;
    let response = demo
        .graphql(
            &Auth::Bearer(&kompas_token),
            RECORD,
            json!({ "input": input }),
        )
        .await;
    assert_eq!(error_code(&response), "NOT_FOUND", "{response}");
    assert_eq!(
        count(&conn, "SELECT COUNT(*) FROM objections").await,
        objections_before
    );

    // The coach records her objection.
    let response = demo
        .graphql(&coach, RECORD, json!({ "input": input }))
        .await;
    let recorded = &response["data"]["recordObjection"];
    assert_eq!(recorded["status"], "active", "{response}");
    assert_eq!(recorded["categories"], json!(["story", "goals"]));
    assert_eq!(recorded["organisationId"], welzijn_id.as_str());
    assert_eq!(
        recorded["reason"],
        "Wil niet dat haar verhaal bij de welzijnsorganisatie ligt"
    );
    let objection = recorded["id"].as_str().unwrap().to_owned();

    // Her consent still stands; the objection wins for story and goals, not for the rest.
    for (category, granted, reason, _) in plan_access(&demo, &welzijn, &plan).await.unwrap() {
        match category.as_str() {
            "story" | "goals" => {
                assert!(!granted, "{category}");
                assert_eq!(reason.as_deref(), Some("objection"), "{category}");
            }
            "agreements" | "actions" => assert!(granted, "{category}"),
            _ => assert!(!granted, "{category}"),
        }
    }
    // The reason is sealed: its text is nowhere in the row.
    let row = conn
        .query_one_raw(Statement::from_string(
            conn.get_database_backend(),
            "SELECT reason_ciphertext FROM objections ORDER BY id DESC LIMIT 1".to_owned(),
        ))
        .await
        .unwrap()
        .unwrap();
    let sealed: Vec<u8> = row.try_get("", "reason_ciphertext").unwrap();
    assert!(!String::from_utf8_lossy(&sealed).contains("welzijnsorganisatie"));

    // Lifting: not someone else's (the objection is Johanna's, not Mohamed's), an unknown one
    // is not found, and nothing changes.
    let response = demo
        .graphql(
            &coach,
            LIFT,
            json!({ "input": { "residentId": other_resident, "objectionId": objection } }),
        )
        .await;
    assert_eq!(error_code(&response), "BAD_USER_INPUT", "{response}");
    assert!(
        response.to_string().contains("another resident"),
        "{response}"
    );
    let response = demo
        .graphql(
            &coach,
            LIFT,
            json!({ "input": { "residentId": resident,
                   "objectionId": uuid::Uuid::now_v7().to_string() } }),
        )
        .await;
    assert_eq!(error_code(&response), "NOT_FOUND", "{response}");
    let lift = json!({ "input": { "residentId": resident, "objectionId": objection } });
    let response = demo.graphql(&welzijn, LIFT, lift.clone()).await;
    assert_eq!(error_code(&response), "FORBIDDEN", "{response}");
    assert_eq!(
        count(
            &conn,
            "SELECT COUNT(*) FROM objections WHERE lifted_at IS NOT NULL"
        )
        .await,
        0
    );

    // She lifts it; the coach records it. A second lift is refused.
    let response = demo.graphql(&coach, LIFT, lift.clone()).await;
    let lifted = &response["data"]["liftObjection"];
    assert_eq!(lifted["status"], "lifted", "{response}");
    assert!(lifted["liftedAt"].is_string());
    let again = demo.graphql(&coach, LIFT, lift).await;
    assert_eq!(error_code(&again), "BAD_USER_INPUT", "{again}");
    assert!(again.to_string().contains("already lifted"), "{again}");

    // Welzijn reads story and goals again, on her consent.
    for (category, granted, _, basis) in plan_access(&demo, &welzijn, &plan).await.unwrap() {
        if category == "story" || category == "goals" {
            assert!(granted, "{category}");
            assert!(basis.as_deref().unwrap().starts_with("consent:"));
        }
    }

    // One objection row in all; the audit log holds the recording, the lift and the refusals.
    assert_eq!(
        count(&conn, "SELECT COUNT(*) FROM objections").await,
        objections_before + 1
    );
    for action in ["objection.recorded", "objection.lifted"] {
        let permits = count(
            &conn,
            &format!(
                "SELECT COUNT(*) FROM audit_entries WHERE action = '{action}' \
                 AND outcome = 'permit' AND basis LIKE 'statutory:%'"
            ),
        )
        .await;
        assert_eq!(permits, 1, "{action}");
    }
    let refusals = count(
        &conn,
        "SELECT COUNT(*) FROM audit_entries WHERE action = 'objection.recorded' \
         AND outcome = 'deny'",
    )
    .await;
    assert_eq!(refusals, 2, "Welzijn's system and the unknown provider");
    conn.close().await.unwrap();

    hub.terminate();
    let stopped = hub.wait(Duration::from_secs(30));
    assert!(stopped.status.success(), "{}", stopped.stderr);
    let verified = cli.run(&["audit", "verify"]);
    assert!(verified.status.success(), "{}", verified.stdout);
}
