//! Reading a plan through `/graphql` as the demo network's partner systems do, with real tokens
//! from `/oauth/token`: the policy scenario in the network's own words. Johanna told the wijkteam
//! her story once and agreed that Welzijn Noordwest may see her story, goals, agreements and
//! actions for support. Welzijn reads them — never her health section; the home-care provider
//! that works with her but has no consent sees every section as not shared, with the reason; a
//! provider with no care relation learns nothing, not even that the plan exists; after she
//! withdraws, Welzijn sees nothing. Every read is in the audit log, which still verifies.

use std::time::Duration;

use sea_orm::{ConnectionTrait, Database, Statement};
use serde_json::{Value, json};
use testkit::TestDb;

use crate::demo::{Auth, Demo, error_code};
use crate::wijkhub;

impl Demo {
    async fn plan(&self, token: &str, purpose: Option<&str>, plan: &str) -> Value {
        let query = "query($id: ID!) { plan(id: $id) { id status sections { category revision \
                     access { granted reason basis } content } } }";
        let mut request = self
            .http
            .post(format!("{}/graphql", self.base))
            .bearer_auth(token)
            .json(&json!({ "query": query, "variables": { "id": plan } }));
        if let Some(purpose) = purpose {
            request = request.header("Wijkhub-Purpose", purpose);
        }
        request.send().await.unwrap().json().await.unwrap()
    }
}

fn sections(response: &Value) -> Vec<(String, bool, Option<String>, bool)> {
    response["data"]["plan"]["sections"]
        .as_array()
        .unwrap_or_else(|| panic!("no sections: {response}"))
        .iter()
        .map(|section| {
            (
                section["category"].as_str().unwrap().to_owned(),
                section["access"]["granted"].as_bool().unwrap(),
                section["access"]["reason"].as_str().map(str::to_owned),
                section["content"].is_string(),
            )
        })
        .collect()
}

#[tokio::test]
async fn the_story_reaches_exactly_whom_the_resident_agreed_to() {
    let db = TestDb::new().await;
    let mut cli = wijkhub();
    cli.database(&db).env("WIJKHUB_HTTP__PORT", "0");
    let (hub, demo) = Demo::start(&cli);

    // Johanna Mulder is the demo's first resident: her plan is the oldest.
    let conn = Database::connect(db.url()).await.unwrap();
    let backend = conn.get_database_backend();
    let plan: uuid::Uuid = conn
        .query_one_raw(Statement::from_string(
            backend,
            "SELECT id FROM plans ORDER BY id LIMIT 1",
        ))
        .await
        .unwrap()
        .unwrap()
        .try_get("", "id")
        .unwrap();
    let plan = plan.to_string();

    // The welfare organisation she agreed to: the four daily sections, never health.
    let welzijn = demo.token("welzijn-noordwest").await;
    let response = demo.plan(&welzijn, Some("support"), &plan).await;
    let seen = sections(&response);
    for (category, granted, reason, has_content) in &seen {
        if category == "health" {
            assert!(!granted && !has_content, "{response}");
            assert_eq!(reason.as_deref(), Some("role-forbids-category"));
        } else {
            assert!(*granted && *has_content, "{category}: {response}");
        }
    }
    assert_eq!(seen.len(), 5, "{response}");
    let story = response["data"]["plan"]["sections"]
        .as_array()
        .unwrap()
        .iter()
        .find(|section| section["category"] == "story")
        .unwrap();
    assert!(
        story["content"]
            .as_str()
            .unwrap()
            .starts_with("Johanna woont")
    );
    assert!(
        story["access"]["basis"]
            .as_str()
            .unwrap()
            .starts_with("consent:")
    );

    // The same system declaring a purpose it may not use (triage), which she did not agree to.
    let response = demo.plan(&welzijn, Some("triage"), &plan).await;
    assert!(
        sections(&response)
            .iter()
            .all(|(_, granted, _, content)| !granted && !content)
    );

    // Home care works with her, but she gave no consent: not shared, and why.
    let anker = demo.token("thuiszorg-het-anker").await;
    let response = demo.plan(&anker, Some("support"), &plan).await;
    for (category, granted, reason, has_content) in sections(&response) {
        assert!(!granted && !has_content, "{category}: {response}");
        assert_eq!(reason.as_deref(), Some("no-consent"), "{category}");
    }

    // A provider with no care relation: exactly like a plan that does not exist.
    let kompas = demo.token("ggz-kompas").await;
    let unknown = demo.plan(&kompas, Some("support"), &plan).await;
    let missing = demo
        .plan(&kompas, Some("support"), &uuid::Uuid::now_v7().to_string())
        .await;
    assert_eq!(error_code(&unknown), "NOT_FOUND");
    assert_eq!(
        unknown["errors"][0]["message"],
        missing["errors"][0]["message"]
    );
    assert!(unknown["data"]["plan"].is_null());

    // The wijkteam's own system, on its statutory task.
    let wijkteam = demo.token("wijkteam-noordwest").await;
    let response = demo.plan(&wijkteam, Some("support"), &plan).await;
    let own = &response["data"]["plan"]["sections"][0]["access"]["basis"];
    assert!(
        own.as_str().unwrap().starts_with("statutory:"),
        "{response}"
    );

    // No purpose, or one outside the closed list: refused before anything is read.
    for purpose in [None, Some("marketing")] {
        let response = demo.plan(&welzijn, purpose, &plan).await;
        assert_eq!(error_code(&response), "PURPOSE_REQUIRED", "{purpose:?}");
    }

    // She withdraws her consent; the wijkteam's coach records it. From now on Welzijn sees
    // nothing.
    let consent: uuid::Uuid = conn
        .query_one_raw(Statement::from_string(
            backend,
            format!(
                "SELECT id FROM consents WHERE resident_id = \
                 (SELECT resident_id FROM plans WHERE id = {})",
                literal_uuid(&plan, db.is_postgres())
            ),
        ))
        .await
        .unwrap()
        .unwrap()
        .try_get("", "id")
        .unwrap();
    let cookie = demo.login("coach@noordwest.demo").await;
    let withdrawn = demo
        .graphql(
            &Auth::Cookie(&cookie),
            "mutation($input: WithdrawConsentInput!) { withdrawConsent(input: $input) { status } }",
            json!({ "input": { "consentId": consent.to_string() } }),
        )
        .await;
    assert_eq!(
        withdrawn["data"]["withdrawConsent"]["status"], "withdrawn",
        "{withdrawn}"
    );
    let response = demo.plan(&welzijn, Some("support"), &plan).await;
    for (category, granted, reason, has_content) in sections(&response) {
        assert!(!granted && !has_content, "{category}: {response}");
        if category != "health" {
            assert_eq!(reason.as_deref(), Some("consent-withdrawn"), "{category}");
        }
    }

    // Every read above is in the audit log: who, which resident, which purpose, what came back.
    let rows = conn
        .query_all_raw(Statement::from_string(
            backend,
            "SELECT outcome, purpose, categories_returned, categories_denied, basis, reason \
             FROM audit_entries WHERE action = 'resident.read' ORDER BY occurred_at_us",
        ))
        .await
        .unwrap();
    let reads: Vec<(String, String, String, String)> = rows
        .iter()
        .map(|row| {
            (
                row.try_get("", "outcome").unwrap(),
                row.try_get("", "purpose").unwrap(),
                row.try_get("", "categories_returned").unwrap(),
                row.try_get("", "categories_denied").unwrap(),
            )
        })
        .collect();
    assert_eq!(reads.len(), 6, "{reads:?}");
    assert_eq!(
        reads[0],
        (
            "permit".into(),
            "support".into(),
            "story,goals,agreements,actions".into(),
            "health".into()
        )
    );
    assert_eq!(reads[2].0, "deny");
    assert_eq!(reads[5].0, "deny");
    let grounds: Vec<(Option<String>, Option<String>)> = rows
        .iter()
        .map(|row| {
            (
                row.try_get("", "basis").unwrap(),
                row.try_get("", "reason").unwrap(),
            )
        })
        .collect();
    // Welzijn's read rests on her consent; home care's refusal on its absence; the unknown
    // provider's on need to know; the wijkteam's read on its statutory task; after withdrawal,
    // the withdrawal.
    assert!(
        grounds[0].0.as_deref().unwrap().starts_with("consent:"),
        "{grounds:?}"
    );
    assert_eq!(grounds[2], (None, Some("no-consent".into())));
    assert_eq!(grounds[3], (None, Some("no-care-relation".into())));
    assert!(
        grounds[4].0.as_deref().unwrap().starts_with("statutory:"),
        "{grounds:?}"
    );
    assert_eq!(grounds[5].0, None);
    assert!(
        matches!(
            grounds[5].1.as_deref(),
            Some("consent-withdrawn" | "role-forbids-category")
        ),
        "{grounds:?}"
    );

    // Every plan of a resident the provider has no care relation with, whatever its sections:
    // one with a section the provider's role may never see (finances, safety) must not give
    // the plan away by refusing that section for the role instead.
    let unrelated = conn
        .query_all_raw(Statement::from_string(
            backend,
            "SELECT p.id FROM plans p WHERE NOT EXISTS (SELECT 1 FROM care_relations c \
             JOIN clients k ON k.organisation_id = c.organisation_id \
             WHERE c.resident_id = p.resident_id AND k.client_id = 'ggz-kompas')",
        ))
        .await
        .unwrap();
    assert!(unrelated.len() > 10, "the demo has unrelated plans");
    for row in unrelated {
        let id: uuid::Uuid = row.try_get("", "id").unwrap();
        let response = demo.plan(&kompas, Some("support"), &id.to_string()).await;
        assert_eq!(error_code(&response), "NOT_FOUND", "plan {id}: {response}");
    }
    conn.close().await.unwrap();

    hub.terminate();
    let stopped = hub.wait(Duration::from_secs(30));
    assert!(stopped.status.success(), "{}", stopped.stderr);
    let verified = cli.run(&["audit", "verify"]);
    assert!(verified.status.success(), "{}", verified.stdout);
}

fn literal_uuid(id: &str, postgres: bool) -> String {
    if postgres {
        format!("'{id}'")
    } else {
        // SQLite stores UUIDs as 16-byte blobs.
        format!("x'{}'", id.replace('-', ""))
    }
}
