//! Recording and withdrawing consent through `/graphql`, in the network's own words: Bram tells
//! the wijkteam coach his story once and agrees that Stichting Buurtkracht may see his story and
//! goals for support. The coach records it; Buurtkracht's system now reads those two sections and
//! nothing else; he narrows it to his story (a second version); he withdraws, the coach records
//! it, and Buurtkracht sees nothing any more (`consent-withdrawn`). The history shows every state; every bad input is refused with nothing
//! written; every step is in the audit log.

use std::time::Duration;

use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, Database, EntityTrait, QueryFilter, Statement,
};
use serde_json::json;
use testkit::TestDb;

use crate::demo::{Auth, Demo, error_code};
use crate::wijkhub;

/// Bram Willems is the demo's twelfth resident (index 11): no consent yet, a care relation with
/// Stichting Buurtkracht.
const BRAM: u64 = 11;
/// Noah de Wit (10, two parents registered) and Sara Yilmaz (14, her mother registered).
const NOAH: u64 = 20;
const SARA: u64 = 21;

impl Demo {
    async fn sections(&self, auth: &Auth<'_>, plan: &str) -> Vec<(String, bool, Option<String>)> {
        let query = "query($id: ID!) { plan(id: $id) { sections { category \
                     access { granted reason } content } } }";
        let response = self.graphql(auth, query, json!({ "id": plan })).await;
        response["data"]["plan"]["sections"]
            .as_array()
            .unwrap_or_else(|| panic!("no sections: {response}"))
            .iter()
            .map(|section| {
                let granted = section["access"]["granted"].as_bool().unwrap();
                assert_eq!(granted, section["content"].is_string(), "{response}");
                (
                    section["category"].as_str().unwrap().to_owned(),
                    granted,
                    section["access"]["reason"].as_str().map(str::to_owned),
                )
            })
            .collect()
    }
}

const RECORD: &str = "mutation($input: RecordConsentInput!) { recordConsent(input: $input) { \
                      id version status categories purposes givenBy evidence } }";
const WITHDRAW: &str = "mutation($input: WithdrawConsentInput!) { withdrawConsent(input: $input) \
                        { id status withdrawnAt withdrawnBy withdrawalReason } }";
const CONSENTS: &str = "query($id: ID!) { consents(residentId: $id) { id version status \
                        granteeOrganisationId categories purposes withdrawnAt withdrawnBy \
                        withdrawalReason evidence } }";

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

#[tokio::test]
async fn the_coach_records_and_withdraws_consent() {
    let db = TestDb::new().await;
    let mut cli = wijkhub();
    cli.database(&db).env("WIJKHUB_HTTP__PORT", "0");
    let (hub, demo) = Demo::start(&cli);

    let conn = Database::connect(db.url()).await.unwrap();
    let backend = conn.get_database_backend();
    let row = conn
        .query_one_raw(Statement::from_string(
            backend,
            format!("SELECT id, resident_id FROM plans ORDER BY id LIMIT 1 OFFSET {BRAM}"),
        ))
        .await
        .unwrap()
        .unwrap();
    let plan = row.try_get::<uuid::Uuid>("", "id").unwrap().to_string();
    let resident = row
        .try_get::<uuid::Uuid>("", "resident_id")
        .unwrap()
        .to_string();
    let buurtkracht: uuid::Uuid = conn
        .query_one_raw(Statement::from_string(
            backend,
            "SELECT id FROM organisations WHERE name = 'Stichting Buurtkracht'",
        ))
        .await
        .unwrap()
        .unwrap()
        .try_get("", "id")
        .unwrap();
    let buurtkracht = buurtkracht.to_string();
    let consents_before = count(&conn, "SELECT COUNT(*) FROM consents").await;

    // The coach logs in; the wijkteam reads Bram's plan on its statutory task.
    let cookie = demo.login("coach@noordwest.demo").await;
    let coach = Auth::Cookie(&cookie);
    let story = demo
        .graphql(
            &coach,
            "query($id: ID!) { plan(id: $id) { sections { category content } } }",
            json!({ "id": plan }),
        )
        .await;
    assert!(story.to_string().contains("Bram gokt"), "{story}");

    // Without consent Buurtkracht sees nothing of the plan.
    let token = demo.token("stichting-buurtkracht").await;
    let partner = Auth::Bearer(&token);
    for (category, granted, reason) in demo.sections(&partner, &plan).await {
        assert!(!granted, "{category}");
        assert_eq!(reason.as_deref(), Some("no-consent"), "{category}");
    }

    let a_year = (chrono::Utc::now() + chrono::Duration::days(365)).to_rfc3339();
    let input = json!({
        "residentId": resident,
        "granteeOrganisationId": buurtkracht,
        "categories": ["story", "goals"],
        "purposes": ["support"],
        "validUntil": a_year,
        "givenByResident": true,
        "evidenceKind": "verbal",
        "evidenceReference": "Huisbezoek 23-11, notitie 2026-118",
    });

    // Bad input: refused with a clear error, nothing written.
    let yesterday = (chrono::Utc::now() - chrono::Duration::days(1)).to_rfc3339();
    // A welfare organisation that takes part in none of Bram's networks.
    let elsewhere = uuid::Uuid::now_v7();
    store::entity::organisations::Entity::insert(store::entity::organisations::ActiveModel {
        id: Set(elsewhere),
        name: Set("Welzijn Elders".into()),
        kind: Set("welzijn".into()),
        status: Set("active".into()),
        created_at: Set(chrono::Utc::now()),
    })
    .exec_without_returning(&conn)
    .await
    .unwrap();
    let bad_inputs = [
        ("categories", json!([]), "at least one category"),
        ("purposes", json!([]), "at least one purpose"),
        ("purposes", json!(["marketing"]), "unknown purpose"),
        (
            "granteeOrganisationId",
            json!(elsewhere.to_string()),
            "does not take part in the resident's network",
        ),
        (
            "validUntil",
            json!(yesterday),
            "end must be after the start",
        ),
        ("givenByResident", json!(false), "wrong person"),
        (
            "givenByRepresentativeIds",
            json!([uuid::Uuid::now_v7().to_string()]),
            "not registered",
        ),
        (
            "evidenceReference",
            json!(" "),
            "evidence needs a reference",
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
    // An organisation the hub does not know.
    let mut unknown_grantee = input.clone();
    unknown_grantee["granteeOrganisationId"] = json!(uuid::Uuid::now_v7().to_string());
    let response = demo
        .graphql(&coach, RECORD, json!({ "input": unknown_grantee }))
        .await;
    assert_eq!(error_code(&response), "BAD_USER_INPUT", "{response}");
    // Only the owning wijkteam's coach records: Buurtkracht's own system may not.
    let response = demo
        .graphql(&partner, RECORD, json!({ "input": input }))
        .await;
    assert_eq!(error_code(&response), "FORBIDDEN", "{response}");
    assert_eq!(
        count(&conn, "SELECT COUNT(*) FROM consents").await,
        consents_before
    );

    // The coach records the consent.
    let response = demo
        .graphql(&coach, RECORD, json!({ "input": input }))
        .await;
    let recorded = &response["data"]["recordConsent"];
    assert_eq!(recorded["status"], "current", "{response}");
    assert_eq!(recorded["version"], 1);
    assert_eq!(recorded["givenBy"], "resident");
    assert_eq!(recorded["evidence"], "Huisbezoek 23-11, notitie 2026-118");
    let first = recorded["id"].as_str().unwrap().to_owned();

    // Buurtkracht now reads story and goals on that consent, and nothing else.
    let seen = demo.sections(&partner, &plan).await;
    assert!(!seen.is_empty());
    for (category, granted, reason) in &seen {
        match category.as_str() {
            "story" | "goals" => assert!(*granted, "{category}: {seen:?}"),
            _ => assert!(!granted && reason.is_some(), "{category}: {seen:?}"),
        }
    }
    assert!(seen.iter().any(|(category, ..)| category == "story"));

    // The overview says so, in plain language.
    let overview = demo
        .graphql(
            &coach,
            "query($id: ID!) { sharingOverview(residentId: $id) { organisation parts purposes \
             basis text } }",
            json!({ "id": resident }),
        )
        .await;
    let lines = overview["data"]["sharingOverview"]
        .as_array()
        .unwrap_or_else(|| panic!("{overview}"));
    let line = lines
        .iter()
        .find(|line| line["organisation"] == "Stichting Buurtkracht")
        .unwrap_or_else(|| panic!("{overview}"));
    assert_eq!(line["parts"], json!(["story", "goals"]));
    assert_eq!(line["basis"], format!("consent:{first}"));
    assert!(
        line["text"]
            .as_str()
            .unwrap()
            .contains("may see story, goals for support")
    );

    // Bram changes his mind about his goals: a new version, story only; the first stays in the
    // history and no longer counts. A version already changed cannot be changed again.
    let mut change = input.clone();
    change["categories"] = json!(["story"]);
    change["supersedesId"] = json!(first);
    let response = demo
        .graphql(&coach, RECORD, json!({ "input": change.clone() }))
        .await;
    let changed = &response["data"]["recordConsent"];
    assert_eq!(changed["version"], 2, "{response}");
    assert_eq!(changed["status"], "current");
    let consent = changed["id"].as_str().unwrap().to_owned();
    let again = demo
        .graphql(&coach, RECORD, json!({ "input": change }))
        .await;
    assert_eq!(error_code(&again), "BAD_USER_INPUT", "{again}");
    assert!(again.to_string().contains("already changed"), "{again}");
    for (category, granted, reason) in demo.sections(&partner, &plan).await {
        match category.as_str() {
            "story" => assert!(granted),
            "goals" => assert_eq!(reason.as_deref(), Some("category-not-covered")),
            _ => assert!(!granted, "{category}"),
        }
    }

    // Bram withdraws; the coach records it. A second withdrawal is refused.
    let withdrawal = json!({ "input": { "consentId": consent, "reason": "Wil het zelf regelen" } });
    let response = demo.graphql(&coach, WITHDRAW, withdrawal.clone()).await;
    let withdrawn = &response["data"]["withdrawConsent"];
    assert_eq!(withdrawn["status"], "withdrawn", "{response}");
    assert_eq!(withdrawn["withdrawnBy"], "resident");
    assert_eq!(withdrawn["withdrawalReason"], "Wil het zelf regelen");
    let again = demo.graphql(&coach, WITHDRAW, withdrawal).await;
    assert_eq!(error_code(&again), "BAD_USER_INPUT", "{again}");
    assert!(again.to_string().contains("already withdrawn"));
    // A withdrawal in the name of someone who is not Bram's representative.
    let other = demo
        .graphql(
            &coach,
            WITHDRAW,
            json!({ "input": { "consentId": consent,
                   "withdrawnByRepresentativeId": uuid::Uuid::now_v7().to_string() } }),
        )
        .await;
    assert_eq!(error_code(&other), "BAD_USER_INPUT", "{other}");

    // Buurtkracht sees nothing any more, and why.
    for (category, granted, reason) in demo.sections(&partner, &plan).await {
        assert!(!granted, "{category}");
        if category == "story" {
            assert_eq!(reason.as_deref(), Some("consent-withdrawn"), "{category}");
        }
    }

    // The history shows both states: recorded (with evidence), then withdrawn (who, when, why).
    let history = demo
        .graphql(&coach, CONSENTS, json!({ "id": resident }))
        .await;
    let rows = history["data"]["consents"]
        .as_array()
        .unwrap_or_else(|| panic!("{history}"));
    let row = rows
        .iter()
        .find(|row| row["id"] == consent.as_str())
        .unwrap();
    assert_eq!(row["status"], "withdrawn");
    assert_eq!(row["version"], 2);
    assert_eq!(row["categories"], json!(["story"]));
    let original = rows.iter().find(|row| row["id"] == first.as_str()).unwrap();
    assert_eq!(original["status"], "superseded");
    assert_eq!(original["categories"], json!(["story", "goals"]));
    assert!(row["withdrawnAt"].is_string());
    assert_eq!(row["withdrawalReason"], "Wil het zelf regelen");
    assert_eq!(row["evidence"], "Huisbezoek 23-11, notitie 2026-118");
    // Buurtkracht (involved, not the owning wijkteam) sees the history without evidence or reason.
    let theirs = demo
        .graphql(&partner, CONSENTS, json!({ "id": resident }))
        .await;
    let row = theirs["data"]["consents"]
        .as_array()
        .unwrap_or_else(|| panic!("{theirs}"))
        .iter()
        .find(|row| row["id"] == consent.as_str())
        .unwrap();
    assert_eq!(row["status"], "withdrawn");
    assert!(row["evidence"].is_null() && row["withdrawalReason"].is_null());
    // No care relation: nothing, not even that the resident exists.
    let horizon = demo.token("jeugdhulp-horizon").await;
    let unknown = demo
        .graphql(&Auth::Bearer(&horizon), CONSENTS, json!({ "id": resident }))
        .await;
    assert_eq!(error_code(&unknown), "NOT_FOUND", "{unknown}");

    // The age rules: Noah is 10, so only his parents give consent; Sara is 14, so she and her
    // mother give it together. Either alone, or Noah joining in, is the wrong person.
    for (index, by_resident, by_representative) in [(NOAH, true, true), (SARA, false, true)] {
        let resident: uuid::Uuid = conn
            .query_one_raw(Statement::from_string(
                backend,
                format!("SELECT resident_id FROM plans ORDER BY id LIMIT 1 OFFSET {index}"),
            ))
            .await
            .unwrap()
            .unwrap()
            .try_get("", "resident_id")
            .unwrap();
        let representative = store::entity::representatives::Entity::find()
            .filter(store::entity::representatives::Column::ResidentId.eq(resident))
            .one(&conn)
            .await
            .unwrap()
            .unwrap();
        let mut minor = input.clone();
        minor["residentId"] = json!(resident.to_string());
        minor["givenByResident"] = json!(by_resident);
        minor["givenByRepresentativeIds"] = if by_representative {
            json!([representative.id.to_string()])
        } else {
            json!([])
        };
        let response = demo
            .graphql(&coach, RECORD, json!({ "input": minor }))
            .await;
        assert_eq!(
            error_code(&response),
            "BAD_USER_INPUT",
            "{index}: {response}"
        );
        assert!(response.to_string().contains("wrong person"), "{response}");
    }

    // No audit log, no consent: the recording is refused and nothing is stored.
    conn.execute_unprepared("ALTER TABLE audit_entries RENAME TO audit_entries_away")
        .await
        .unwrap();
    let response = demo
        .graphql(&coach, RECORD, json!({ "input": input }))
        .await;
    conn.execute_unprepared("ALTER TABLE audit_entries_away RENAME TO audit_entries")
        .await
        .unwrap();
    assert_eq!(error_code(&response), "AUDIT_UNAVAILABLE", "{response}");

    // Two consent rows written in all (two versions); the audit log holds both recordings and
    // the withdrawal.
    assert_eq!(
        count(&conn, "SELECT COUNT(*) FROM consents").await,
        consents_before + 2
    );
    for (action, id) in [
        ("consent.recorded", &first),
        ("consent.recorded", &consent),
        ("consent.withdrawn", &consent),
    ] {
        let permits = count(
            &conn,
            &format!(
                "SELECT COUNT(*) FROM audit_entries WHERE action = '{action}' \
                 AND outcome = 'permit' AND basis = 'consent:{id}'"
            ),
        )
        .await;
        assert_eq!(permits, 1, "{action} {id}");
    }
    conn.close().await.unwrap();

    hub.terminate();
    let stopped = hub.wait(Duration::from_secs(30));
    assert!(stopped.status.success(), "{}", stopped.stderr);
    let verified = cli.run(&["audit", "verify"]);
    assert!(verified.status.success(), "{}", verified.stdout);
}
