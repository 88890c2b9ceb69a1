//! Break-the-glass through `/graphql`, in the network's own words: Fatima, a care provider's
//! worker at Zorggroep De Linde, finds Johanna confused at home; De Linde does not work with her,
//! so the hub tells Fatima nothing of her. She breaks the glass with a written reason; for four
//! hours she reads Johanna's plan, every section on the basis `break-glass:<id>`, and each read
//! carries that basis in the audit log. The privacy officer finds the grant
//! by its audit action; the log says it happened, never why. Roles the matrix does not allow, a
//! partner system, no or a too short reason and a too long period are refused with nothing
//! written — but audited, for the privacy officer.

use std::time::Duration;

use sea_orm::{ConnectionTrait, Database, Statement};
use serde_json::json;
use testkit::TestDb;

use crate::demo::{Auth, Demo, error_code};
use crate::objections::{count, demo_plan, graphql_for, plan_access};
use crate::wijkhub;

/// Johanna Mulder: involved with Welzijn Noordwest and Thuiszorg Het Anker, not with De Linde.
const JOHANNA: u64 = 0;

const REASON: &str = "Bewoner verward aangetroffen, huisarts onbereikbaar, medicatie onbekend";

const BREAK: &str = "mutation($input: BreakGlassInput!) { breakGlass(input: $input) { id \
                     residentId planId role from until basis } }";

#[tokio::test]
async fn breaking_the_glass_reads_one_plan_for_hours_and_signals_the_privacy_officer() {
    let db = TestDb::new().await;
    let mut cli = wijkhub();
    cli.database(&db).env("WIJKHUB_HTTP__PORT", "0");
    let (hub, demo) = Demo::start(&cli);
    let conn = Database::connect(db.url()).await.unwrap();
    let (plan, resident) = demo_plan(&conn, JOHANNA).await;

    // De Linde does not work with Johanna: nothing.
    let cookie = demo.login("zorg@noordwest.demo").await;
    let fatima = Auth::Cookie(&cookie);
    let unknown = plan_access(&demo, &fatima, &plan).await.unwrap_err();
    assert_eq!(error_code(&unknown), "NOT_FOUND", "{unknown}");

    let input = json!({ "residentId": resident, "reason": REASON });

    // Bad input: refused, nothing written.
    let bad_inputs = [
        ("reason", json!(""), "written reason"),
        (
            "reason",
            json!("   acuut, zie notitie   "),
            "written reason",
        ),
        ("reason", json!("x".repeat(2001)), "longer than 2000"),
        ("hours", json!(9), "at most"),
        ("hours", json!(25), "at most"),
        ("hours", json!(0), "more than zero"),
    ];
    for (field, value, message) in &bad_inputs {
        let mut bad = input.clone();
        bad[*field] = value.clone();
        let response = demo.graphql(&fatima, BREAK, json!({ "input": bad })).await;
        assert_eq!(
            error_code(&response),
            "BAD_USER_INPUT",
            "{field}: {response}"
        );
        let text = response["errors"][0]["message"].as_str().unwrap();
        assert!(text.contains(message), "{field}: {text}");
    }
    for purpose in [None, Some("marketing")] {
        let response = graphql_for(&demo, &fatima, purpose, BREAK, json!({ "input": input })).await;
        assert_eq!(error_code(&response), "PURPOSE_REQUIRED", "{response}");
    }
    // Roles the matrix does not allow to break the glass, and a partner system (a person must
    // answer for it).
    let mut refused_roles = 0;
    for email in ["welzijn@noordwest.demo", "triage@noordwest.demo"] {
        let session = demo.login(email).await;
        let response = demo
            .graphql(&Auth::Cookie(&session), BREAK, json!({ "input": input }))
            .await;
        assert_eq!(error_code(&response), "FORBIDDEN", "{email}: {response}");
        refused_roles += 1;
    }
    let token = demo.token("zorggroep-de-linde").await;
    let response = demo
        .graphql(&Auth::Bearer(&token), BREAK, json!({ "input": input }))
        .await;
    assert_eq!(error_code(&response), "FORBIDDEN", "{response}");
    refused_roles += 1;
    assert_eq!(count(&conn, "SELECT COUNT(*) FROM break_glass").await, 0);
    let still_unknown = plan_access(&demo, &fatima, &plan).await.unwrap_err();
    assert_eq!(error_code(&still_unknown), "NOT_FOUND");

    // Fatima breaks the glass: four hours by default.
    let response = demo
        .graphql(&fatima, BREAK, json!({ "input": input }))
        .await;
    let grant = &response["data"]["breakGlass"];
    let id = grant["id"].as_str().unwrap_or_else(|| panic!("{response}"));
    assert_eq!(grant["basis"], format!("break-glass:{id}"));
    assert_eq!(grant["role"], "provider-worker");
    assert_eq!(grant["planId"], plan.as_str());
    let from: chrono::DateTime<chrono::Utc> = grant["from"].as_str().unwrap().parse().unwrap();
    let until: chrono::DateTime<chrono::Utc> = grant["until"].as_str().unwrap().parse().unwrap();
    assert_eq!(until - from, chrono::Duration::hours(4));

    // She reads Johanna's plan — story, goals, agreements, actions, health — on the grant.
    let seen = plan_access(&demo, &fatima, &plan).await.unwrap();
    assert!(seen.iter().any(|section| section.0 == "health"));
    for (category, granted, _, basis) in &seen {
        assert!(granted, "{category}: {seen:?}");
        assert_eq!(basis.as_deref(), Some(format!("break-glass:{id}").as_str()));
    }
    // Only for her: her colleagues' partner system still learns nothing.
    let unknown = plan_access(&demo, &Auth::Bearer(&token), &plan)
        .await
        .unwrap_err();
    assert_eq!(error_code(&unknown), "NOT_FOUND", "{unknown}");

    // Stored with its role, the reason sealed.
    let row = conn
        .query_one_raw(Statement::from_string(
            conn.get_database_backend(),
            "SELECT role, reason_ciphertext FROM break_glass".to_owned(),
        ))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        row.try_get::<String>("", "role").unwrap(),
        "provider-worker"
    );
    let sealed: Vec<u8> = row.try_get("", "reason_ciphertext").unwrap();
    assert!(!String::from_utf8_lossy(&sealed).contains("huisarts"));
    assert_eq!(count(&conn, "SELECT COUNT(*) FROM break_glass").await, 1);

    // The privacy officer's signal: the grant and every refused attempt under their own action,
    // and every read under the grant with its basis.
    let started = count(
        &conn,
        &format!(
            "SELECT COUNT(*) FROM audit_entries WHERE action = 'break-glass.started' \
             AND outcome = 'permit' AND basis = 'break-glass:{id}' AND role = 'provider-worker'"
        ),
    )
    .await;
    assert_eq!(started, 1);
    let refused = count(
        &conn,
        "SELECT COUNT(*) FROM audit_entries WHERE action = 'break-glass.started' \
         AND outcome = 'deny'",
    )
    .await;
    assert_eq!(refused, bad_inputs.len() as i64 + refused_roles);
    let reads = count(
        &conn,
        &format!(
            "SELECT COUNT(*) FROM audit_entries WHERE action = 'resident.read' \
             AND outcome = 'permit' AND basis = 'break-glass:{id}'"
        ),
    )
    .await;
    assert_eq!(reads, 1);
    conn.close().await.unwrap();

    hub.terminate();
    let stopped = hub.wait(Duration::from_secs(30));
    assert!(stopped.status.success(), "{}", stopped.stderr);
    // The log says it happened, never why.
    let log = format!("{}{}", stopped.stdout, stopped.stderr);
    assert!(log.contains("break-the-glass started"), "{log}");
    assert!(!log.contains("huisarts"), "the reason reached the log");
    let verified = cli.run(&["audit", "verify"]);
    assert!(verified.status.success(), "{}", verified.stdout);
}

#[test]
fn a_break_glass_period_over_a_day_refuses_the_start() {
    let mut cli = wijkhub();
    cli.env("WIJKHUB_POLICY__BREAK_GLASS__MAX_HOURS", "25");
    let output = cli.run(&["serve"]);
    assert!(!output.status.success(), "{output:?}");
    assert!(
        output.stderr.contains("policy.break_glass"),
        "{}",
        output.stderr
    );
}
