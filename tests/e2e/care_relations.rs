//! Care relations through `/graphql`: need to know, in the network's own words. Jeugdhulp Horizon
//! does not work with Johanna, so its system learns nothing of her plan (`NOT_FOUND`, as for a
//! plan that does not exist). The coach records that Horizon is now involved; Horizon's system
//! sees the plan's sections — as not shared, because Johanna gave Horizon no consent
//! (`no-consent`). The coach ends the relation; Horizon learns nothing again. Every bad input is refused with nothing
//! written; each step is in the audit log.

use std::time::Duration;

use sea_orm::{Database, EntityTrait};
use serde_json::json;
use testkit::TestDb;

use crate::demo::{Auth, Demo, error_code};
use crate::objections::{count, demo_plan, graphql_for, id_of, plan_access};
use crate::wijkhub;

/// Johanna Mulder: involved with Welzijn Noordwest and Thuiszorg Het Anker, consent to Welzijn
/// only.
const JOHANNA: u64 = 0;

const START: &str = "mutation($input: StartCareRelationInput!) { startCareRelation(input: \
                     $input) { id organisationId memberId kind status endedAt } }";
const END: &str = "mutation($input: EndCareRelationInput!) { endCareRelation(input: $input) { \
                   id status endedAt endedBy } }";

#[tokio::test]
async fn no_care_relation_no_access() {
    let db = TestDb::new().await;
    let mut cli = wijkhub();
    cli.database(&db).env("WIJKHUB_HTTP__PORT", "0");
    let (hub, demo) = Demo::start(&cli);
    let conn = Database::connect(db.url()).await.unwrap();

    let (plan, resident) = demo_plan(&conn, JOHANNA).await;
    let horizon_id = id_of(
        &conn,
        "SELECT id FROM organisations WHERE name = 'Jeugdhulp Horizon'",
    )
    .await;
    let coach_id = id_of(
        &conn,
        "SELECT id FROM members WHERE email = 'coach@noordwest.demo'",
    )
    .await;
    let relations_before = count(&conn, "SELECT COUNT(*) FROM care_relations").await;
    let ended_before = count(
        &conn,
        "SELECT COUNT(*) FROM care_relations WHERE ended_at IS NOT NULL",
    )
    .await;

    // Horizon does not work with Johanna: nothing, not even that the plan exists.
    let token = demo.token("jeugdhulp-horizon").await;
    let horizon = Auth::Bearer(&token);
    let unknown = plan_access(&demo, &horizon, &plan).await.unwrap_err();
    assert_eq!(error_code(&unknown), "NOT_FOUND", "{unknown}");

    let cookie = demo.login("coach@noordwest.demo").await;
    let coach = Auth::Cookie(&cookie);
    let input = json!({
        "residentId": resident,
        "organisationId": horizon_id,
        "kind": "involved",
    });

    // Bad input: refused with a clear error, nothing written.
    let yesterday = (chrono::Utc::now() - chrono::Duration::days(1)).to_rfc3339();
    let elsewhere = uuid::Uuid::now_v7();
    store::entity::organisations::Entity::insert(store::entity::organisations::ActiveModel {
        id: sea_orm::ActiveValue::Set(elsewhere),
        name: sea_orm::ActiveValue::Set("Jeugdzorg Elders".into()),
        kind: sea_orm::ActiveValue::Set("zorgaanbieder".into()),
        status: sea_orm::ActiveValue::Set("active".into()),
        created_at: sea_orm::ActiveValue::Set(chrono::Utc::now()),
    })
    .exec_without_returning(&conn)
    .await
    .unwrap();
    let bad_inputs = [
        ("kind", json!("friend"), "unknown care relation kind"),
        ("kind", json!("coordinator"), "only a wijkteam coordinates"),
        (
            "validUntil",
            json!(yesterday),
            "end must be after the start",
        ),
        (
            "organisationId",
            json!(uuid::Uuid::now_v7().to_string()),
            "unknown organisation",
        ),
        (
            "organisationId",
            json!(elsewhere.to_string()),
            "does not take part in the resident's network",
        ),
        (
            "memberId",
            json!(coach_id),
            "does not belong to the organisation",
        ),
        (
            "memberId",
            json!(uuid::Uuid::now_v7().to_string()),
            "unknown member",
        ),
    ];
    for (field, value, message) in bad_inputs {
        let mut bad = input.clone();
        bad[field] = value;
        let response = demo.graphql(&coach, START, json!({ "input": bad })).await;
        assert_eq!(
            error_code(&response),
            "BAD_USER_INPUT",
            "{field}: {response}"
        );
        let text = response["errors"][0]["message"].as_str().unwrap();
        assert!(text.contains(message), "{field}: {text}");
    }
    for purpose in [None, Some("marketing")] {
        let response = graphql_for(&demo, &coach, purpose, START, json!({ "input": input })).await;
        assert_eq!(error_code(&response), "PURPOSE_REQUIRED", "{response}");
    }
    // Only the owning wijkteam's coach: Welzijn, which works with Johanna, may not; Horizon
    // itself, which does not, learns nothing.
    let welzijn = demo.token("welzijn-noordwest").await;
    let response = demo
        .graphql(&Auth::Bearer(&welzijn), START, json!({ "input": input }))
        .await;
    assert_eq!(error_code(&response), "FORBIDDEN", "{response}");
    let response = demo
        .graphql(&horizon, START, json!({ "input": input }))
        .await;
    assert_eq!(error_code(&response), "NOT_FOUND", "{response}");
    assert_eq!(
        count(&conn, "SELECT COUNT(*) FROM care_relations").await,
        relations_before
    );

    // The coach records that Horizon is involved now.
    let response = demo.graphql(&coach, START, json!({ "input": input })).await;
    let started = &response["data"]["startCareRelation"];
    assert_eq!(started["status"], "current", "{response}");
    assert_eq!(started["kind"], "involved");
    assert_eq!(started["organisationId"], horizon_id.as_str());
    let relation = started["id"].as_str().unwrap().to_owned();

    // Horizon sees the plan now, but without Johanna's consent not its content.
    let seen = plan_access(&demo, &horizon, &plan).await.unwrap();
    assert!(!seen.is_empty());
    for (category, granted, reason, _) in &seen {
        assert!(!granted, "{category}: {seen:?}");
        assert_eq!(reason.as_deref(), Some("no-consent"), "{category}");
    }
    assert!(seen.iter().any(|section| section.0 == "story"));

    // Only the owning wijkteam's coach ends it; an unknown relation is not found.
    let end = json!({ "input": { "careRelationId": relation } });
    let response = demo.graphql(&horizon, END, end.clone()).await;
    assert_eq!(error_code(&response), "FORBIDDEN", "{response}");
    let response = demo
        .graphql(
            &coach,
            END,
            json!({ "input": { "careRelationId": uuid::Uuid::now_v7().to_string() } }),
        )
        .await;
    assert_eq!(error_code(&response), "NOT_FOUND", "{response}");
    let response = graphql_for(&demo, &coach, Some("marketing"), END, end.clone()).await;
    assert_eq!(error_code(&response), "PURPOSE_REQUIRED", "{response}");

    // The coach ends it; ending it again is refused.
    let response = demo.graphql(&coach, END, end.clone()).await;
    let ended = &response["data"]["endCareRelation"];
    assert_eq!(ended["status"], "ended", "{response}");
    assert!(ended["endedAt"].is_string());
    assert_eq!(ended["endedBy"], coach_id.as_str());
    let again = demo.graphql(&coach, END, end).await;
    assert_eq!(error_code(&again), "BAD_USER_INPUT", "{again}");
    assert!(again.to_string().contains("already ended"), "{again}");

    // Horizon learns nothing again.
    let unknown = plan_access(&demo, &horizon, &plan).await.unwrap_err();
    assert_eq!(error_code(&unknown), "NOT_FOUND", "{unknown}");

    // One relation added, ended once, never deleted; both steps audited on the statutory task.
    assert_eq!(
        count(&conn, "SELECT COUNT(*) FROM care_relations").await,
        relations_before + 1
    );
    assert_eq!(
        count(
            &conn,
            "SELECT COUNT(*) FROM care_relations WHERE ended_at IS NOT NULL"
        )
        .await,
        ended_before + 1
    );
    for action in ["care-relation.started", "care-relation.ended"] {
        let permits = count(
            &conn,
            &format!(
                "SELECT COUNT(*) FROM audit_entries WHERE action = '{action}' \
                 AND outcome = 'permit' AND basis LIKE 'statutory:%'"
            ),
        )
        .await;
        assert_eq!(permits, 1, "{action}");
        let refusals = count(
            &conn,
            &format!(
                "SELECT COUNT(*) FROM audit_entries WHERE action = '{action}' \
                 AND outcome = 'deny'"
            ),
        )
        .await;
        assert!(refusals >= 1, "{action}");
    }
    conn.close().await.unwrap();

    hub.terminate();
    let stopped = hub.wait(Duration::from_secs(30));
    assert!(stopped.status.success(), "{}", stopped.stderr);
    let verified = cli.run(&["audit", "verify"]);
    assert!(verified.status.success(), "{}", verified.stdout);
}
