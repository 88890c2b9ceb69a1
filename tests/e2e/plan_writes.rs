//! Writing plan sections through `/graphql` as the demo network's partner systems do, with real
//! tokens: the wijkteam writes and reads back; a stale revision is refused with `CONFLICT`; of
//! two concurrent writers exactly one wins and no revision is lost or duplicated; bad input and a
//! write the policy refuses leave the revisions untouched; every write is in the audit log.

use std::time::Duration;

use sea_orm::{ConnectionTrait, Database, DatabaseConnection, Statement};
use serde_json::{Value, json};
use testkit::TestDb;

use crate::demo::{Auth, Demo, error_code};
use crate::wijkhub;

const WRITE: &str = "mutation($input: WriteSectionInput!) { writeSection(input: $input) { \
                     section { id category revision access { granted basis } content } } }";

impl Demo {
    async fn write(
        &self,
        token: &str,
        plan: &str,
        category: &str,
        content: &str,
        expected: i64,
    ) -> Value {
        let input = json!({
            "planId": plan, "category": category, "content": content, "expectedRevision": expected
        });
        self.graphql(&Auth::Bearer(token), WRITE, json!({ "input": input }))
            .await
    }

    /// The current revision and content of one section, as the caller reads it.
    async fn read(&self, token: &str, plan: &str, category: &str) -> Option<(i64, Value)> {
        let query = "query($id: ID!) { plan(id: $id) { sections { category revision content } } }";
        let response = self
            .graphql(&Auth::Bearer(token), query, json!({ "id": plan }))
            .await;
        response["data"]["plan"]["sections"]
            .as_array()
            .unwrap_or_else(|| panic!("no plan: {response}"))
            .iter()
            .find(|section| section["category"] == category)
            .map(|section| {
                (
                    section["revision"].as_i64().unwrap(),
                    section["content"].clone(),
                )
            })
    }
}

/// Every stored revision number of one category of the demo's first plan, in order.
async fn revisions(conn: &DatabaseConnection, category: &str) -> Vec<i64> {
    let rows = conn
        .query_all_raw(Statement::from_string(
            conn.get_database_backend(),
            format!(
                "SELECT r.revision AS revision FROM section_revisions r \
                 JOIN sections s ON s.id = r.section_id \
                 WHERE s.category = '{category}' \
                 AND s.plan_id = (SELECT id FROM plans ORDER BY id LIMIT 1) \
                 ORDER BY r.revision"
            ),
        ))
        .await
        .unwrap();
    rows.iter()
        .map(|row| row.try_get::<i64>("", "revision").unwrap())
        .collect()
}

async fn total_revisions(conn: &DatabaseConnection) -> i64 {
    conn.query_one_raw(Statement::from_string(
        conn.get_database_backend(),
        "SELECT COUNT(*) AS n FROM section_revisions",
    ))
    .await
    .unwrap()
    .unwrap()
    .try_get("", "n")
    .unwrap()
}

#[tokio::test]
async fn every_write_is_a_new_revision_and_stale_writers_are_refused() {
    let db = TestDb::new().await;
    let mut cli = wijkhub();
    cli.database(&db).env("WIJKHUB_HTTP__PORT", "0");
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

    // The wijkteam's own system, on its statutory task: writes her story anew, reads it back.
    let wijkteam = demo.token("wijkteam-noordwest").await;
    let (story_revision, _) = demo.read(&wijkteam, &plan, "story").await.unwrap();
    let response = demo
        .write(
            &wijkteam,
            &plan,
            "story",
            "Johanna woont sinds maart\tweer thuis.\n",
            story_revision,
        )
        .await;
    let section = &response["data"]["writeSection"]["section"];
    assert_eq!(section["revision"], story_revision + 1, "{response}");
    assert!(
        section["access"]["basis"]
            .as_str()
            .unwrap()
            .starts_with("statutory:"),
        "{response}"
    );
    let (revision, content) = demo.read(&wijkteam, &plan, "story").await.unwrap();
    assert_eq!(revision, story_revision + 1);
    assert_eq!(content, "Johanna woont sinds maart\tweer thuis.\n");
    let history = revisions(&conn, "story").await;
    assert_eq!(history, (1..=story_revision + 1).collect::<Vec<_>>());

    // A writer that read before that write: refused, told the current revision, nothing written.
    let stale = demo
        .write(&wijkteam, &plan, "story", "verouderd", story_revision)
        .await;
    assert_eq!(error_code(&stale), "CONFLICT", "{stale}");
    assert_eq!(
        stale["errors"][0]["extensions"]["currentRevision"],
        story_revision + 1
    );
    assert_eq!(revisions(&conn, "story").await, history);

    // Two writers with the same expected revision at once: exactly one wins.
    let expected = story_revision + 1;
    let (first, second) = tokio::join!(
        demo.write(&wijkteam, &plan, "story", "eerste", expected),
        demo.write(&wijkteam, &plan, "story", "tweede", expected),
    );
    let won: Vec<&Value> = [&first, &second]
        .into_iter()
        .filter(|response| response["errors"].is_null())
        .collect();
    assert_eq!(won.len(), 1, "{first}\n{second}");
    let lost = if first["errors"].is_null() {
        &second
    } else {
        &first
    };
    assert_eq!(error_code(lost), "CONFLICT", "{lost}");
    assert_eq!(
        lost["errors"][0]["extensions"]["currentRevision"],
        expected + 1
    );
    assert_eq!(
        revisions(&conn, "story").await,
        (1..=expected + 1).collect::<Vec<_>>(),
        "no revision lost or duplicated"
    );
    let (_, content) = demo.read(&wijkteam, &plan, "story").await.unwrap();
    assert_eq!(
        content,
        won[0]["data"]["writeSection"]["section"]["content"]
    );

    // A section that does not exist yet, created by two writers at once: one creates it.
    let missing = [
        "finances",
        "network",
        "safety",
        "actions",
        "agreements",
        "goals",
    ];
    let mut new_category = None;
    for category in missing {
        if demo.read(&wijkteam, &plan, category).await.is_none() {
            new_category = Some(category);
            break;
        }
    }
    let new_category = new_category.expect("the demo plan lacks some category");
    let (first, second) = tokio::join!(
        demo.write(&wijkteam, &plan, new_category, "eerste", 0),
        demo.write(&wijkteam, &plan, new_category, "tweede", 0),
    );
    let n_won = [&first, &second]
        .iter()
        .filter(|response| response["errors"].is_null())
        .count();
    assert_eq!(n_won, 1, "{first}\n{second}");
    let lost = if first["errors"].is_null() {
        &second
    } else {
        &first
    };
    assert_eq!(error_code(lost), "CONFLICT", "{lost}");
    assert_eq!(lost["errors"][0]["extensions"]["currentRevision"], 1);
    assert_eq!(revisions(&conn, new_category).await, vec![1]);

    // Bad input: refused, nothing written.
    let before = total_revisions(&conn).await;
    let current = expected + 1;
    // One byte over [plans] max_section_bytes (48 KiB): small enough for the request body, so
    // it is the resolver's rule that refuses it.
    let too_long = "a".repeat(48 * 1024 + 1);
    let cases: [(&str, &str, i64); 5] = [
        ("hobbies", "tekst", current),
        ("story", &too_long, current),
        ("story", "bel\u{7}", current),
        ("story", "regel\r\n", current),
        ("story", "tekst", -1),
    ];
    for (category, content, expected) in cases {
        let response = demo
            .write(&wijkteam, &plan, category, content, expected)
            .await;
        assert_eq!(
            error_code(&response),
            "BAD_USER_INPUT",
            "{category} {expected}: {response}"
        );
        if content.len() > 48 * 1024 {
            let message = response["errors"][0]["message"].as_str().unwrap();
            assert!(message.contains("section size limit"), "{message}");
        }
    }
    assert_eq!(total_revisions(&conn).await, before);

    // The welfare organisation may read her story, but never write her health section; a
    // provider with no care relation learns nothing, not even that the plan exists.
    let welzijn = demo.token("welzijn-noordwest").await;
    let health = revisions(&conn, "health").await;
    let refused = demo
        .write(
            &welzijn,
            &plan,
            "health",
            "niet toegestaan",
            *health.last().unwrap_or(&0),
        )
        .await;
    assert_eq!(error_code(&refused), "FORBIDDEN", "{refused}");
    let kompas = demo.token("ggz-kompas").await;
    let unknown = demo
        .write(&kompas, &plan, "story", "niet toegestaan", current)
        .await;
    assert_eq!(error_code(&unknown), "NOT_FOUND", "{unknown}");
    assert_eq!(total_revisions(&conn).await, before);
    assert_eq!(revisions(&conn, "health").await, health);

    // A mutation never runs over GET.
    let mutation = format!(
        "mutation {{ writeSection(input: {{planId: \"{plan}\", category: \"story\", \
         content: \"via get\", expectedRevision: {current}}}) {{ section {{ revision }} }} }}"
    );
    let url = reqwest::Url::parse_with_params(
        &format!("{}/graphql", demo.base),
        &[("query", mutation.as_str())],
    )
    .unwrap();
    let get = demo
        .http
        .get(url)
        .bearer_auth(&wijkteam)
        .header("Wijkhub-Purpose", "support")
        .send()
        .await
        .unwrap();
    assert_eq!(get.status(), reqwest::StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(total_revisions(&conn).await, before);

    // Every write is in the audit log: the permitted ones with section, revision and basis,
    // the refused ones with their reason.
    let rows = conn
        .query_all_raw(Statement::from_string(
            conn.get_database_backend(),
            "SELECT outcome, revision, categories_returned, categories_denied, purpose, basis, \
             reason FROM audit_entries WHERE action = 'resident.write' ORDER BY occurred_at_us",
        ))
        .await
        .unwrap();
    let writes: Vec<(String, Option<i64>, String, String)> = rows
        .iter()
        .map(|row| {
            (
                row.try_get("", "outcome").unwrap(),
                row.try_get("", "revision").unwrap(),
                row.try_get("", "categories_returned").unwrap(),
                row.try_get("", "categories_denied").unwrap(),
            )
        })
        .collect();
    let reasons: Vec<Option<String>> = rows
        .iter()
        .map(|row| row.try_get("", "reason").unwrap())
        .collect();
    // The three writes refused as stale (one by hand, two by losing a race) are audited too:
    // refused, with reason `conflict` and the category they tried to write.
    let conflicts: Vec<&str> = writes
        .iter()
        .zip(&reasons)
        .filter(|(_, reason)| reason.as_deref() == Some("conflict"))
        .map(|((outcome, revision, returned, denied), _)| {
            assert_eq!(
                (outcome.as_str(), *revision, returned.as_str()),
                ("deny", None, "")
            );
            denied.as_str()
        })
        .collect();
    assert_eq!(conflicts, ["story", "story", new_category], "{writes:?}");
    let writes: Vec<_> = writes
        .into_iter()
        .zip(&reasons)
        .filter(|(_, reason)| reason.as_deref() != Some("conflict"))
        .map(|(write, _)| write)
        .collect();
    let permits: Vec<_> = writes
        .iter()
        .filter(|(outcome, ..)| outcome == "permit")
        .collect();
    assert_eq!(permits.len(), 3, "{writes:?}");
    assert_eq!(
        permits[0],
        &(
            "permit".to_owned(),
            Some(story_revision + 1),
            "story".to_owned(),
            String::new()
        )
    );
    assert!(
        rows.iter()
            .filter(|row| row.try_get::<String>("", "outcome").unwrap() == "permit")
            .all(|row| row
                .try_get::<Option<String>>("", "basis")
                .unwrap()
                .is_some_and(|basis| basis.starts_with("statutory:"))),
        "{writes:?}"
    );
    let denied: Vec<_> = writes
        .iter()
        .filter(|(outcome, ..)| outcome == "deny")
        .collect();
    assert_eq!(denied.len(), 2, "{writes:?}");
    assert_eq!(denied[0].3, "health");
    conn.close().await.unwrap();

    hub.terminate();
    let stopped = hub.wait(Duration::from_secs(30));
    assert!(stopped.status.success(), "{}", stopped.stderr);
    let verified = cli.run(&["audit", "verify"]);
    assert!(verified.status.success(), "{}", verified.stdout);
}

#[tokio::test]
async fn the_owning_wijkteam_sets_the_plan_status_against_its_version() {
    let db = TestDb::new().await;
    let mut cli = wijkhub();
    cli.database(&db).env("WIJKHUB_HTTP__PORT", "0");
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
    let set = "mutation($input: SetPlanStatusInput!) { setPlanStatus(input: $input) { \
               plan { id status version } } }";
    let input = |status: &str, version: i64| json!({ "input": { "planId": plan, "status": status, "expectedVersion": version } });

    let wijkteam = demo.token("wijkteam-noordwest").await;
    let read = demo
        .graphql(
            &Auth::Bearer(&wijkteam),
            "query($id: ID!) { plan(id: $id) { version } }",
            json!({ "id": plan }),
        )
        .await;
    let version = read["data"]["plan"]["version"].as_i64().unwrap();

    let response = demo
        .graphql(&Auth::Bearer(&wijkteam), set, input("closed", version))
        .await;
    let changed = &response["data"]["setPlanStatus"]["plan"];
    assert_eq!(changed["status"], "closed", "{response}");
    assert_eq!(changed["version"], version + 1, "{response}");

    // Against the version read before that change: refused, told the current version.
    let stale = demo
        .graphql(&Auth::Bearer(&wijkteam), set, input("active", version))
        .await;
    assert_eq!(error_code(&stale), "CONFLICT", "{stale}");
    assert_eq!(
        stale["errors"][0]["extensions"]["currentVersion"],
        version + 1
    );

    // Bad input, and a partner whose access rests on consent: nothing changes.
    for (status, expected) in [("archived", version + 1), ("active", -1)] {
        let response = demo
            .graphql(&Auth::Bearer(&wijkteam), set, input(status, expected))
            .await;
        assert_eq!(error_code(&response), "BAD_USER_INPUT", "{response}");
    }
    let welzijn = demo.token("welzijn-noordwest").await;
    let refused = demo
        .graphql(&Auth::Bearer(&welzijn), set, input("active", version + 1))
        .await;
    assert_eq!(error_code(&refused), "FORBIDDEN", "{refused}");
    let kompas = demo.token("ggz-kompas").await;
    let unknown = demo
        .graphql(&Auth::Bearer(&kompas), set, input("active", version + 1))
        .await;
    assert_eq!(error_code(&unknown), "NOT_FOUND", "{unknown}");

    let (status, current): (String, i64) = {
        let row = conn
            .query_one_raw(Statement::from_string(
                conn.get_database_backend(),
                "SELECT status, version FROM plans ORDER BY id LIMIT 1",
            ))
            .await
            .unwrap()
            .unwrap();
        (
            row.try_get("", "status").unwrap(),
            row.try_get("", "version").unwrap(),
        )
    };
    assert_eq!((status.as_str(), current), ("closed", version + 1));

    // A new plan for her: the wijkteam starts one; nobody else may.
    let resident: uuid::Uuid = conn
        .query_one_raw(Statement::from_string(
            conn.get_database_backend(),
            "SELECT resident_id FROM plans ORDER BY id LIMIT 1",
        ))
        .await
        .unwrap()
        .unwrap()
        .try_get("", "resident_id")
        .unwrap();
    let n_plans = || async {
        conn.query_one_raw(Statement::from_string(
            conn.get_database_backend(),
            "SELECT COUNT(*) AS n FROM plans",
        ))
        .await
        .unwrap()
        .unwrap()
        .try_get::<i64>("", "n")
        .unwrap()
    };
    let before = n_plans().await;
    let create = "mutation($input: CreatePlanInput!) { createPlan(input: $input) { \
                  plan { id status kind version residentId sections { category } } } }";
    let new_plan =
        |kind: &str| json!({ "input": { "residentId": resident.to_string(), "kind": kind } });
    let response = demo
        .graphql(&Auth::Bearer(&wijkteam), create, new_plan("wmo"))
        .await;
    let created = &response["data"]["createPlan"]["plan"];
    assert_eq!(created["status"], "draft", "{response}");
    assert_eq!(created["kind"], "wmo", "{response}");
    assert_eq!(created["residentId"], resident.to_string(), "{response}");
    assert_eq!(created["sections"], json!([]), "{response}");
    assert_eq!(n_plans().await, before + 1);
    let bad = demo
        .graphql(&Auth::Bearer(&wijkteam), create, new_plan("schuldhulp"))
        .await;
    assert_eq!(error_code(&bad), "BAD_USER_INPUT", "{bad}");
    let refused = demo
        .graphql(&Auth::Bearer(&welzijn), create, new_plan("wmo"))
        .await;
    assert_eq!(error_code(&refused), "FORBIDDEN", "{refused}");
    let unknown = demo
        .graphql(&Auth::Bearer(&kompas), create, new_plan("wmo"))
        .await;
    assert_eq!(error_code(&unknown), "NOT_FOUND", "{unknown}");
    assert_eq!(n_plans().await, before + 1);
    let n_permits: i64 = conn
        .query_one_raw(Statement::from_string(
            conn.get_database_backend(),
            "SELECT COUNT(*) AS n FROM audit_entries \
             WHERE action = 'resident.write' AND outcome = 'permit'",
        ))
        .await
        .unwrap()
        .unwrap()
        .try_get("", "n")
        .unwrap();
    assert_eq!(n_permits, 2);
    conn.close().await.unwrap();
    hub.terminate();
    let stopped = hub.wait(Duration::from_secs(30));
    assert!(stopped.status.success(), "{}", stopped.stderr);
}

async fn count(conn: &DatabaseConnection, sql: &str) -> i64 {
    conn.query_one_raw(Statement::from_string(conn.get_database_backend(), sql))
        .await
        .unwrap()
        .unwrap()
        .try_get("", "n")
        .unwrap()
}

#[tokio::test]
async fn a_plan_moves_only_along_its_lifecycle_and_a_resident_has_one_open_plan() {
    let db = TestDb::new().await;
    let mut cli = wijkhub();
    cli.database(&db).env("WIJKHUB_HTTP__PORT", "0");
    let (hub, demo) = Demo::start(&cli);
    let conn = Database::connect(db.url()).await.unwrap();
    let (plan, resident): (uuid::Uuid, uuid::Uuid) = {
        let row = conn
            .query_one_raw(Statement::from_string(
                conn.get_database_backend(),
                "SELECT id, resident_id FROM plans ORDER BY id LIMIT 1",
            ))
            .await
            .unwrap()
            .unwrap();
        (
            row.try_get("", "id").unwrap(),
            row.try_get("", "resident_id").unwrap(),
        )
    };
    let wijkteam = demo.token("wijkteam-noordwest").await;
    let auth = Auth::Bearer(&wijkteam);
    let set = "mutation($input: SetPlanStatusInput!) { setPlanStatus(input: $input) { \
               plan { id status version } } }";
    let create = "mutation($input: CreatePlanInput!) { createPlan(input: $input) { \
                  plan { id status version } } }";
    let status_of = |plan: uuid::Uuid| {
        let conn = &conn;
        async move {
            let row = conn
                .query_one_raw(Statement::from_string(
                    conn.get_database_backend(),
                    format!(
                        "SELECT status, version FROM plans WHERE id = {}",
                        match conn.get_database_backend() {
                            sea_orm::DatabaseBackend::Postgres => format!("'{plan}'"),
                            _ => format!("X'{}'", plan.simple()),
                        }
                    ),
                ))
                .await
                .unwrap()
                .unwrap();
            (
                row.try_get::<String>("", "status").unwrap(),
                row.try_get::<i64>("", "version").unwrap(),
            )
        }
    };
    let n_plans = "SELECT COUNT(*) AS n FROM plans";
    let (status, version) = status_of(plan).await;
    assert_eq!(status, "active");
    let plans_before = count(&conn, n_plans).await;

    // Her plan is open: a second one is refused, nothing written.
    let new_plan = json!({ "input": { "residentId": resident.to_string(), "kind": "wmo" } });
    let refused = demo.graphql(&auth, create, new_plan.clone()).await;
    assert_eq!(error_code(&refused), "BAD_USER_INPUT", "{refused}");
    assert_eq!(count(&conn, n_plans).await, plans_before);

    // An active plan neither goes back to draft nor "changes" to active; nothing written.
    for to in ["draft", "active"] {
        let response = demo
            .graphql(
                &auth,
                set,
                json!({ "input": { "planId": plan.to_string(), "status": to,
                                   "expectedVersion": version } }),
            )
            .await;
        assert_eq!(error_code(&response), "BAD_USER_INPUT", "{to}: {response}");
        assert_eq!(status_of(plan).await, ("active".to_owned(), version));
    }

    // Closed, it stays closed; then a new plan may start, as a draft, and only one.
    let closed = demo
        .graphql(
            &auth,
            set,
            json!({ "input": { "planId": plan.to_string(), "status": "closed",
                               "expectedVersion": version } }),
        )
        .await;
    assert_eq!(
        closed["data"]["setPlanStatus"]["plan"]["status"], "closed",
        "{closed}"
    );
    for to in ["active", "draft", "closed"] {
        let response = demo
            .graphql(
                &auth,
                set,
                json!({ "input": { "planId": plan.to_string(), "status": to,
                                   "expectedVersion": version + 1 } }),
            )
            .await;
        assert_eq!(error_code(&response), "BAD_USER_INPUT", "{to}: {response}");
    }
    assert_eq!(status_of(plan).await, ("closed".to_owned(), version + 1));
    let created = demo.graphql(&auth, create, new_plan.clone()).await;
    let draft = &created["data"]["createPlan"]["plan"];
    assert_eq!(draft["status"], "draft", "{created}");
    let draft_id = uuid::Uuid::parse_str(draft["id"].as_str().unwrap()).unwrap();
    let again = demo.graphql(&auth, create, new_plan.clone()).await;
    assert_eq!(error_code(&again), "BAD_USER_INPUT", "{again}");
    assert_eq!(count(&conn, n_plans).await, plans_before + 1);

    // Two creations at once for another resident who has none open: exactly one plan.
    let (other_plan, other): (uuid::Uuid, uuid::Uuid) = {
        let row = conn
            .query_one_raw(Statement::from_string(
                conn.get_database_backend(),
                "SELECT id, resident_id FROM plans WHERE status = 'active' \
                 ORDER BY id DESC LIMIT 1",
            ))
            .await
            .unwrap()
            .unwrap();
        (
            row.try_get("", "id").unwrap(),
            row.try_get("", "resident_id").unwrap(),
        )
    };
    assert_ne!(other, resident);
    let (_, other_version) = status_of(other_plan).await;
    let closing = demo
        .graphql(
            &auth,
            set,
            json!({ "input": { "planId": other_plan.to_string(), "status": "closed",
                               "expectedVersion": other_version } }),
        )
        .await;
    assert!(closing["errors"].is_null(), "{closing}");
    let for_other = json!({ "input": { "residentId": other.to_string(), "kind": "wmo" } });
    let (first, second) = tokio::join!(
        demo.graphql(&auth, create, for_other.clone()),
        demo.graphql(&auth, create, for_other.clone()),
    );
    let n_created = [&first, &second]
        .iter()
        .filter(|response| response["errors"].is_null())
        .count();
    assert_eq!(n_created, 1, "{first}\n{second}");
    assert_eq!(count(&conn, n_plans).await, plans_before + 2);

    // The draft starts: draft to active is a valid step.
    let started = demo
        .graphql(
            &auth,
            set,
            json!({ "input": { "planId": draft_id.to_string(), "status": "active",
                               "expectedVersion": 1 } }),
        )
        .await;
    assert_eq!(
        started["data"]["setPlanStatus"]["plan"]["status"], "active",
        "{started}"
    );

    // Every refusal is in the audit log with its reason.
    let reasons = |reason: &str| {
        format!(
            "SELECT COUNT(*) AS n FROM audit_entries WHERE action = 'resident.write' \
             AND outcome = 'deny' AND reason = '{reason}'"
        )
    };
    assert_eq!(count(&conn, &reasons("invalid-transition")).await, 5);
    assert_eq!(count(&conn, &reasons("open-plan-exists")).await, 3);
    conn.close().await.unwrap();
    hub.terminate();
    let stopped = hub.wait(Duration::from_secs(30));
    assert!(stopped.status.success(), "{}", stopped.stderr);
}

#[tokio::test]
async fn the_owning_wijkteam_hands_coordination_to_another_coach() {
    let db = TestDb::new().await;
    let mut cli = wijkhub();
    cli.database(&db).env("WIJKHUB_HTTP__PORT", "0");
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
    let member = |email: &'static str| {
        let conn = &conn;
        async move {
            conn.query_one_raw(Statement::from_string(
                conn.get_database_backend(),
                format!("SELECT id FROM members WHERE email = '{email}'"),
            ))
            .await
            .unwrap()
            .unwrap()
            .try_get::<uuid::Uuid>("", "id")
            .unwrap()
            .to_string()
        }
    };
    let sanne = member("coach@noordwest.demo").await;
    let ahmed = member("coach2@noordwest.demo").await;
    let kees = member("welzijn@noordwest.demo").await;
    let triagist = member("triage@noordwest.demo").await;
    let welzijn_org: uuid::Uuid = conn
        .query_one_raw(Statement::from_string(
            conn.get_database_backend(),
            "SELECT id FROM organisations WHERE name = 'Welzijn Noordwest'",
        ))
        .await
        .unwrap()
        .unwrap()
        .try_get("", "id")
        .unwrap();

    let wijkteam = demo.token("wijkteam-noordwest").await;
    let read = "query($id: ID!) { plan(id: $id) { version coordinatingMemberId } }";
    let before = demo
        .graphql(&Auth::Bearer(&wijkteam), read, json!({ "id": plan }))
        .await;
    let version = before["data"]["plan"]["version"].as_i64().unwrap();
    let current = before["data"]["plan"]["coordinatingMemberId"]
        .as_str()
        .unwrap()
        .to_owned();
    let next = if current == sanne { &ahmed } else { &sanne };
    let transfer = "mutation($input: TransferCoordinationInput!) { \
                    transferCoordination(input: $input) { plan { id version coordinatingMemberId } } }";
    let to_member = |member: &str, version: i64| json!({ "input": { "planId": plan, "toMember": member, "expectedVersion": version } });
    let open_coordinators = "SELECT COUNT(*) AS n FROM care_relations \
                             WHERE kind = 'coordinator' AND ended_at IS NULL \
                             AND resident_id = (SELECT resident_id FROM plans ORDER BY id LIMIT 1)";
    let relations_before = count(&conn, "SELECT COUNT(*) AS n FROM care_relations").await;
    assert_eq!(count(&conn, open_coordinators).await, 1);

    // Refused, nothing written: not the owner, an unrelated provider, not a coach of the
    // wijkteam, another organisation that is no wijkteam, two targets or none.
    let welzijn = demo.token("welzijn-noordwest").await;
    let refused = demo
        .graphql(&Auth::Bearer(&welzijn), transfer, to_member(next, version))
        .await;
    assert_eq!(error_code(&refused), "FORBIDDEN", "{refused}");
    let kompas = demo.token("ggz-kompas").await;
    let unknown = demo
        .graphql(&Auth::Bearer(&kompas), transfer, to_member(next, version))
        .await;
    assert_eq!(error_code(&unknown), "NOT_FOUND", "{unknown}");
    for input in [
        to_member(&kees, version),
        to_member(&triagist, version),
        to_member(&current, version),
        to_member("not-an-id", version),
        json!({ "input": { "planId": plan, "toOrganisation": welzijn_org.to_string(),
                           "expectedVersion": version } }),
        json!({ "input": { "planId": plan, "toMember": next,
                           "toOrganisation": welzijn_org.to_string(), "expectedVersion": version } }),
        json!({ "input": { "planId": plan, "expectedVersion": version } }),
    ] {
        let response = demo
            .graphql(&Auth::Bearer(&wijkteam), transfer, input.clone())
            .await;
        assert_eq!(
            error_code(&response),
            "BAD_USER_INPUT",
            "{input}: {response}"
        );
    }
    // Against a version the plan has left: refused with the current one.
    let stale = demo
        .graphql(
            &Auth::Bearer(&wijkteam),
            transfer,
            to_member(next, version - 1),
        )
        .await;
    assert_eq!(error_code(&stale), "CONFLICT", "{stale}");
    assert_eq!(stale["errors"][0]["extensions"]["currentVersion"], version);
    assert_eq!(
        count(&conn, "SELECT COUNT(*) AS n FROM care_relations").await,
        relations_before
    );

    // The wijkteam hands her plan to the other coach.
    let response = demo
        .graphql(&Auth::Bearer(&wijkteam), transfer, to_member(next, version))
        .await;
    let moved = &response["data"]["transferCoordination"]["plan"];
    assert_eq!(moved["coordinatingMemberId"], next.as_str(), "{response}");
    assert_eq!(moved["version"], version + 1, "{response}");
    // The old coach's coordinating relation ended, the new coach's started; still one open.
    assert_eq!(count(&conn, open_coordinators).await, 1);
    assert_eq!(
        count(&conn, "SELECT COUNT(*) AS n FROM care_relations").await,
        relations_before + 1
    );
    let rows = conn
        .query_all_raw(Statement::from_string(
            conn.get_database_backend(),
            format!(
                "{} ",
                open_coordinators.replace("COUNT(*) AS n", "member_id")
            ),
        ))
        .await
        .unwrap();
    let coordinating: uuid::Uuid = rows[0].try_get("", "member_id").unwrap();
    assert_eq!(coordinating.to_string(), *next);
    // The same request again is stale now.
    let again = demo
        .graphql(&Auth::Bearer(&wijkteam), transfer, to_member(next, version))
        .await;
    assert_eq!(error_code(&again), "CONFLICT", "{again}");

    let audited = |outcome: &str| {
        format!(
            "SELECT COUNT(*) AS n FROM audit_entries WHERE action = 'resident.write' \
             AND outcome = '{outcome}'"
        )
    };
    assert_eq!(count(&conn, &audited("permit")).await, 1);
    // FORBIDDEN, NOT_FOUND, four refused coordinators (an id that is none, and inputs naming
    // no single target, are refused before anything is read), two conflicts.
    assert_eq!(count(&conn, &audited("deny")).await, 8);
    conn.close().await.unwrap();
    hub.terminate();
    let stopped = hub.wait(Duration::from_secs(30));
    assert!(stopped.status.success(), "{}", stopped.stderr);
}

#[tokio::test]
async fn a_plan_handed_to_another_wijkteam_leaves_the_old_ones_sight() {
    use sea_orm::ActiveValue::Set;
    use sea_orm::EntityTrait;
    use store::entity::{organisation_networks, organisations};

    let db = TestDb::new().await;
    let mut cli = wijkhub();
    cli.database(&db).env("WIJKHUB_HTTP__PORT", "0");
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
    let network: uuid::Uuid = conn
        .query_one_raw(Statement::from_string(
            conn.get_database_backend(),
            "SELECT network_id FROM residents ORDER BY id LIMIT 1",
        ))
        .await
        .unwrap()
        .unwrap()
        .try_get("", "network_id")
        .unwrap();
    // The neighbouring wijkteam joins the network (as an administrator would register it).
    let zuid = uuid::Uuid::now_v7();
    organisations::Entity::insert(organisations::ActiveModel {
        id: Set(zuid),
        name: Set("Wijkteam Zuid".into()),
        kind: Set("wijkteam".into()),
        status: Set("active".into()),
        created_at: Set(chrono::Utc::now()),
    })
    .exec_without_returning(&conn)
    .await
    .unwrap();
    organisation_networks::Entity::insert(organisation_networks::ActiveModel {
        organisation_id: Set(zuid),
        network_id: Set(network),
    })
    .exec_without_returning(&conn)
    .await
    .unwrap();

    let wijkteam = demo.token("wijkteam-noordwest").await;
    let read = "query($id: ID!) { plan(id: $id) { version } }";
    let before = demo
        .graphql(&Auth::Bearer(&wijkteam), read, json!({ "id": plan }))
        .await;
    let version = before["data"]["plan"]["version"].as_i64().unwrap();
    let transfer = "mutation($input: TransferCoordinationInput!) { \
                    transferCoordination(input: $input) { plan { id owningOrganisationId } } }";
    let response = demo
        .graphql(
            &Auth::Bearer(&wijkteam),
            transfer,
            json!({ "input": { "planId": plan, "toOrganisation": zuid.to_string(),
                               "expectedVersion": version } }),
        )
        .await;
    assert!(response["errors"].is_null(), "{response}");
    // Handed over, the plan is out of the old wijkteam's sight: no care relation remains.
    assert!(
        response["data"]["transferCoordination"]["plan"].is_null(),
        "{response}"
    );
    let gone = demo
        .graphql(&Auth::Bearer(&wijkteam), read, json!({ "id": plan }))
        .await;
    assert_eq!(error_code(&gone), "NOT_FOUND", "{gone}");
    let owner: uuid::Uuid = conn
        .query_one_raw(Statement::from_string(
            conn.get_database_backend(),
            "SELECT owning_organisation_id FROM plans ORDER BY id LIMIT 1",
        ))
        .await
        .unwrap()
        .unwrap()
        .try_get("", "owning_organisation_id")
        .unwrap();
    assert_eq!(owner, zuid);
    let open = |sql: &'static str| count(&conn, sql);
    assert_eq!(
        open(
            "SELECT COUNT(*) AS n FROM care_relations c JOIN organisations o \
             ON o.id = c.organisation_id WHERE o.name = 'Wijkteam Zuid' \
             AND c.kind = 'coordinator' AND c.ended_at IS NULL AND c.member_id IS NULL"
        )
        .await,
        1
    );
    assert_eq!(
        open(
            "SELECT COUNT(*) AS n FROM care_relations c JOIN organisations o \
             ON o.id = c.organisation_id WHERE o.name = 'Wijkteam Noordwest' \
             AND c.ended_at IS NULL \
             AND c.resident_id = (SELECT resident_id FROM plans ORDER BY id LIMIT 1)"
        )
        .await,
        0
    );
    conn.close().await.unwrap();
    hub.terminate();
    let stopped = hub.wait(Duration::from_secs(30));
    assert!(stopped.status.success(), "{}", stopped.stderr);
}

/// More writers at once than the hub's database pool has connections. On PostgreSQL a write
/// holds its transaction open until its audit entry is committed, so the audit writer must never
/// need a connection from that same pool: every write lands, none is refused AUDIT_UNAVAILABLE.
#[tokio::test]
async fn more_writers_than_pooled_connections_all_land() {
    const WRITERS: usize = 8;
    let db = TestDb::new().await;
    let mut cli = wijkhub();
    cli.database(&db)
        .env("WIJKHUB_HTTP__PORT", "0")
        .env("WIJKHUB_DATABASE__MAX_CONNECTIONS", "2");
    let (hub, demo) = Demo::start(&cli);
    let conn = Database::connect(db.url()).await.unwrap();
    let rows = conn
        .query_all_raw(Statement::from_string(
            conn.get_database_backend(),
            format!(
                "SELECT plan_id, current_revision FROM sections WHERE category = 'story' \
                 ORDER BY plan_id LIMIT {WRITERS}"
            ),
        ))
        .await
        .unwrap();
    assert_eq!(rows.len(), WRITERS);
    let before = total_revisions(&conn).await;
    let wijkteam = demo.token("wijkteam-noordwest").await;
    let demo = std::sync::Arc::new(demo);
    let mut writers = tokio::task::JoinSet::new();
    for row in &rows {
        let plan: uuid::Uuid = row.try_get("", "plan_id").unwrap();
        let revision: i64 = row.try_get("", "current_revision").unwrap();
        let (demo, token) = (demo.clone(), wijkteam.clone());
        writers.spawn(async move {
            demo.write(
                &token,
                &plan.to_string(),
                "story",
                "Weer een gesprek gehad.",
                revision,
            )
            .await
        });
    }
    while let Some(response) = writers.join_next().await {
        let response = response.unwrap();
        assert!(response["errors"].is_null(), "{response}");
    }
    assert_eq!(total_revisions(&conn).await, before + WRITERS as i64);
    conn.close().await.unwrap();
    drop(hub);
}
