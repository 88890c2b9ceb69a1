//! `eraseResident` through `/graphql`, as the network's administrator uses it: a resident whose
//! plan closed long ago is erased — afterwards their plan and consents answer `NOT_FOUND` to
//! everyone, their data key is the erased marker, a tombstone and the audit entry remain. A
//! resident whose plan closed last year is refused with the date erasure becomes possible, one
//! with an open plan is refused too; a coach and a partner system are refused outright. The
//! answers never hold the resident's name or story.

use chrono::{DateTime, Months, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, Database, EntityTrait, QueryFilter, Statement};
use serde_json::{Value, json};
use store::entity::plans;
use testkit::TestDb;

use crate::demo::{Auth, Demo, error_code};
use crate::wijkhub;

const ERASE: &str = "mutation($input: EraseResidentInput!) { eraseResident(input: $input) { \
                     id residentId erasedAt erasedBy ground retentionEndedAt } }";
const PLAN: &str = "query($id: ID!) { plan(id: $id) { id sections { category content } } }";
const CONSENTS: &str = "query($id: ID!) { consents(residentId: $id) { id } }";

impl Demo {
    async fn erase(&self, auth: &Auth<'_>, resident: &str, ground: &str) -> Value {
        self.graphql(
            auth,
            ERASE,
            json!({ "input": { "residentId": resident, "ground": ground } }),
        )
        .await
    }
}

/// Plan `offset` in id order, with its resident and kind.
async fn plan_at(conn: &sea_orm::DatabaseConnection, offset: u64) -> (String, String, String) {
    let row = conn
        .query_one_raw(Statement::from_string(
            conn.get_database_backend(),
            format!("SELECT id, resident_id, kind FROM plans ORDER BY id LIMIT 1 OFFSET {offset}"),
        ))
        .await
        .unwrap()
        .unwrap();
    (
        row.try_get::<uuid::Uuid>("", "id").unwrap().to_string(),
        row.try_get::<uuid::Uuid>("", "resident_id")
            .unwrap()
            .to_string(),
        row.try_get::<String>("", "kind").unwrap(),
    )
}

/// Closes every plan of `resident` as of `closed_at`, as the store records a closing.
async fn close_plans(conn: &sea_orm::DatabaseConnection, resident: &str, closed_at: DateTime<Utc>) {
    let closed = plans::Entity::update_many()
        .col_expr(plans::Column::Status, Expr::value("closed"))
        .col_expr(plans::Column::UpdatedAt, Expr::value(closed_at))
        .filter(plans::Column::ResidentId.eq(uuid::Uuid::parse_str(resident).unwrap()))
        .exec(conn)
        .await
        .unwrap();
    assert!(closed.rows_affected >= 1);
}

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

/// Text of the demo's plans that must never appear in an erasure's answer.
async fn stories(demo: &Demo, coach: &Auth<'_>, plan: &str) -> Vec<String> {
    let read = demo.graphql(coach, PLAN, json!({ "id": plan })).await;
    assert!(read["errors"].is_null(), "{read}");
    read["data"]["plan"]["sections"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|section| section["content"].as_str().map(str::to_owned))
        .collect()
}

#[tokio::test]
async fn an_administrator_erases_a_resident_whose_retention_period_passed() {
    let db = TestDb::new().await;
    let mut cli = wijkhub();
    cli.database(&db).env("WIJKHUB_HTTP__PORT", "0");
    let (hub, demo) = Demo::start(&cli);
    let conn = Database::connect(db.url()).await.unwrap();

    // Johanna (the first plan) becomes erasable: her plan closed thirty years ago. Bram's (the
    // twelfth) closed a year ago; Gerrit's (the second) is still open.
    let (plan, resident, _) = plan_at(&conn, 0).await;
    let (_, recent, recent_kind) = plan_at(&conn, 11).await;
    let (_, open, _) = plan_at(&conn, 1).await;
    assert!(resident != recent && recent != open && open != resident);

    let cookie = demo.login("coach@noordwest.demo").await;
    let coach = Auth::Cookie(&cookie);
    let story = stories(&demo, &coach, &plan).await;
    assert!(!story.is_empty());

    let now = Utc::now();
    close_plans(&conn, &resident, now - Months::new(30 * 12)).await;
    let recently = now - Months::new(12);
    close_plans(&conn, &recent, recently).await;

    // Nobody but the administrator, whether or not the resident is eligible.
    let token = demo.token("stichting-buurtkracht").await;
    let partner = Auth::Bearer(&token);
    for (who, auth) in [("coach", &coach), ("partner", &partner)] {
        let refused = demo.erase(auth, &resident, "AVG-verzoek 2026-114").await;
        assert_eq!(error_code(&refused), "FORBIDDEN", "{who}: {refused}");
        assert!(refused["data"]["eraseResident"].is_null(), "{refused}");
    }

    let admin_cookie = demo.login("beheer@noordwest.demo").await;
    let admin = Auth::Cookie(&admin_cookie);

    // Inside the retention period: refused, with the date it becomes possible.
    let years = if recent_kind == "jeugd" { 20 } else { 15 };
    let erasable_from = (recently + Months::new(years * 12))
        .date_naive()
        .to_string();
    let refused = demo.erase(&admin, &recent, "AVG-verzoek 2026-115").await;
    assert_eq!(error_code(&refused), "BAD_USER_INPUT", "{refused}");
    assert_eq!(
        refused["errors"][0]["extensions"]["erasableFrom"],
        erasable_from.as_str(),
        "{refused}"
    );
    assert!(
        refused["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains(&erasable_from),
        "{refused}"
    );
    let refused = demo.erase(&admin, &open, "AVG-verzoek 2026-116").await;
    assert_eq!(error_code(&refused), "BAD_USER_INPUT", "{refused}");
    let refused = demo.erase(&admin, &resident, "  ").await;
    assert_eq!(error_code(&refused), "BAD_USER_INPUT", "{refused}");
    let unknown = demo
        .erase(&admin, &uuid::Uuid::now_v7().to_string(), "AVG-verzoek 1")
        .await;
    assert_eq!(error_code(&unknown), "NOT_FOUND", "{unknown}");
    assert_eq!(
        count(&conn, "SELECT COUNT(*) FROM erasures").await,
        0,
        "a refusal erases nothing"
    );

    // The administrator erases Johanna: the answer is the tombstone and nothing else.
    let erased = demo.erase(&admin, &resident, "AVG-verzoek 2026-114").await;
    assert!(erased["errors"].is_null(), "{erased}");
    let tombstone = &erased["data"]["eraseResident"];
    assert_eq!(tombstone["residentId"], resident.as_str());
    assert_eq!(tombstone["ground"], "AVG-verzoek 2026-114");
    assert!(
        tombstone["erasedBy"]
            .as_str()
            .unwrap()
            .starts_with("member:"),
        "{tombstone}"
    );
    let text = erased.to_string();
    for content in &story {
        assert!(!text.contains(content.as_str()), "content in {text}");
    }

    // Afterwards her plan and consents are gone for everyone, and a second erasure is refused.
    for (who, auth) in [("coach", &coach), ("partner", &partner), ("admin", &admin)] {
        let read = demo.graphql(auth, PLAN, json!({ "id": plan })).await;
        assert_eq!(error_code(&read), "NOT_FOUND", "{who}: {read}");
        let read = demo
            .graphql(auth, CONSENTS, json!({ "id": resident }))
            .await;
        assert_eq!(error_code(&read), "NOT_FOUND", "{who}: {read}");
    }
    let again = demo.erase(&admin, &resident, "AVG-verzoek 2026-114").await;
    assert_eq!(error_code(&again), "BAD_USER_INPUT", "{again}");

    // The data key is destroyed; the rows, the tombstone and the audit trail stay.
    let resident_uuid = uuid::Uuid::parse_str(&resident).unwrap();
    let row = store::entity::residents::Entity::find_by_id(resident_uuid)
        .one(&conn)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.status, "erased");
    assert!(crypto::is_erased(row.wrapped_dek.as_deref().unwrap()));
    assert_eq!(count(&conn, "SELECT COUNT(*) FROM erasures").await, 1);
    let entries = |outcome: &str, reason: &str, id: &str| {
        let resident = if db.is_postgres() {
            format!("resident_id = '{id}'")
        } else {
            format!(
                "hex(resident_id) = '{}'",
                id.replace('-', "").to_uppercase()
            )
        };
        format!(
            "SELECT COUNT(*) FROM audit_entries WHERE action = 'resident.erased' \
             AND outcome = '{outcome}' AND reason = '{reason}' AND {resident}"
        )
    };
    assert_eq!(
        count(&conn, &entries("permit", "erased", &resident)).await,
        1
    );
    assert_eq!(
        count(&conn, &entries("deny", "role-forbids-erasure", &resident)).await,
        2,
        "the coach's and the partner's attempts"
    );
    assert_eq!(
        count(&conn, &entries("deny", "retention-running", &recent)).await,
        1
    );
    assert_eq!(count(&conn, &entries("deny", "plan-open", &open)).await, 1);
    assert_eq!(
        count(&conn, &entries("deny", "already-erased", &resident)).await,
        1
    );

    // Another resident's plan still reads.
    let (other_plan, _, _) = plan_at(&conn, 2).await;
    assert!(!stories(&demo, &coach, &other_plan).await.is_empty());

    conn.close().await.unwrap();
    hub.terminate();
}
