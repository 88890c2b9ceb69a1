//! The resident record through `/graphql` with the demo network's real credentials: the
//! wijkteam registers a resident and finds them again by id and by BSN; every bad registration is
//! refused with nothing written; a provider with no care relation learns nothing, not even that
//! the resident exists, and its attempts are in the audit log; partner systems page through
//! exactly the residents they work with, identity shown only where the policy permits it.

use std::collections::BTreeSet;
use std::time::Duration;

use sea_orm::{ConnectionTrait, Database, DatabaseConnection, Statement};
use serde_json::{Value, json};
use testkit::TestDb;

use crate::demo::{Auth, Demo, error_code};
use crate::wijkhub;

const REGISTER: &str = "mutation($input: RegisterResidentInput!) { registerResident(input: $input) \
     { resident { id status planIds access { granted reason basis } name birthDate contact area \
     representatives { id name relation } } } }";
const RESIDENT: &str = "query($id: ID!) { resident(id: $id) { id status planIds \
     access { granted reason basis } name birthDate contact area representatives { name relation } } }";
const BY_BSN: &str = "query($bsn: String!) { residentByBsn(bsn: $bsn) { id access { granted basis } \
     name birthDate } }";
const LIST: &str = "query($first: Int, $after: String, $filter: ResidentFilter) { \
     residents(first: $first, after: $after, filter: $filter) { \
     edges { cursor node { id access { granted reason basis } name area } } \
     pageInfo { hasNextPage hasPreviousPage endCursor } } }";

/// A BSN that passes the 11-proef, outside the demo's fictional range.
const NEW_BSN: &str = "123456782";
/// Another, registered twice at once.
const TWIN_BSN: &str = "234567806";

async fn count(conn: &DatabaseConnection, sql: &str) -> i64 {
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

/// Rows of the tables a registration writes.
async fn written(conn: &DatabaseConnection) -> [i64; 3] {
    [
        count(conn, "SELECT COUNT(*) FROM residents").await,
        count(conn, "SELECT COUNT(*) FROM representatives").await,
        count(conn, "SELECT COUNT(*) FROM care_relations").await,
    ]
}

/// `(resident_id, outcome, reason)` of the audit entries with `action`.
async fn audited(
    conn: &DatabaseConnection,
    action: &str,
) -> Vec<(Option<uuid::Uuid>, String, Option<String>)> {
    conn.query_all_raw(Statement::from_string(
        conn.get_database_backend(),
        format!(
            "SELECT resident_id, outcome, reason FROM audit_entries WHERE action = '{action}' \
             ORDER BY occurred_at_us"
        ),
    ))
    .await
    .unwrap()
    .into_iter()
    .map(|row| {
        (
            row.try_get::<Option<uuid::Uuid>>("", "resident_id")
                .unwrap(),
            row.try_get::<String>("", "outcome").unwrap(),
            row.try_get::<Option<String>>("", "reason").unwrap(),
        )
    })
    .collect()
}

fn registration() -> Value {
    json!({
        "bsn": NEW_BSN,
        "name": "Daan Verhoeven",
        "birthDate": "2015-04-09",
        "contact": "via moeder: 06-2000 0001\nKastanjelaan 7",
        "area": "De Buitenwijk",
        "representatives": [
            { "name": "Iris Verhoeven", "relation": "moeder" },
            { "name": "Joost Verhoeven", "relation": "vader" }
        ]
    })
}

#[tokio::test]
async fn the_wijkteam_registers_a_resident_and_finds_them_again() {
    let db = TestDb::new().await;
    let mut cli = wijkhub();
    cli.database(&db).env("WIJKHUB_HTTP__PORT", "0");
    let (hub, demo) = Demo::start(&cli);
    let conn = Database::connect(db.url()).await.unwrap();
    let coach = demo.login("coach@noordwest.demo").await;
    let coach = Auth::Cookie(&coach);

    // `me` is `viewer` by another name.
    let me = demo
        .graphql(
            &coach,
            "{ me { kind id organisation { id } roles } viewer { kind id organisation { id } roles } }",
            json!({}),
        )
        .await;
    assert_eq!(me["data"]["me"], me["data"]["viewer"], "{me}");
    assert_eq!(me["data"]["me"]["kind"], "MEMBER");
    assert_eq!(me["data"]["me"]["roles"], json!(["coach"]));

    // Registered by the coach on the wijkteam's statutory task: Daan is ten, so the Jeugdwet.
    let before = written(&conn).await;
    let response = demo
        .graphql(&coach, REGISTER, json!({ "input": registration() }))
        .await;
    let resident = &response["data"]["registerResident"]["resident"];
    assert_eq!(resident["access"]["granted"], true, "{response}");
    assert_eq!(resident["access"]["basis"], "statutory:jeugdwet");
    assert_eq!(resident["name"], "Daan Verhoeven");
    assert_eq!(resident["birthDate"], "2015-04-09");
    assert_eq!(
        resident["contact"],
        "via moeder: 06-2000 0001\nKastanjelaan 7"
    );
    assert_eq!(resident["area"], "De Buitenwijk");
    assert_eq!(resident["status"], "active");
    assert_eq!(resident["planIds"], json!([]));
    let names: BTreeSet<&str> = resident["representatives"]
        .as_array()
        .unwrap()
        .iter()
        .map(|representative| representative["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, BTreeSet::from(["Iris Verhoeven", "Joost Verhoeven"]));
    let id = resident["id"].as_str().unwrap().to_owned();
    // The resident, two representatives, and the wijkteam's coordinator care relation.
    assert_eq!(
        written(&conn).await,
        [before[0] + 1, before[1] + 2, before[2] + 1]
    );

    // Sealed at rest: neither the name nor the BSN is in the row; the blind index is 16 bits.
    let row = conn
        .query_one_raw(Statement::from_string(
            conn.get_database_backend(),
            "SELECT name_ciphertext, bsn_ciphertext, bsn_blind_index FROM residents \
             ORDER BY id DESC LIMIT 1"
                .to_owned(),
        ))
        .await
        .unwrap()
        .unwrap();
    for column in ["name_ciphertext", "bsn_ciphertext"] {
        let bytes: Vec<u8> = row.try_get("", column).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        assert!(
            !text.contains("Daan") && !text.contains(NEW_BSN),
            "{column}"
        );
    }
    let index: Vec<u8> = row.try_get("", "bsn_blind_index").unwrap();
    assert_eq!(index.len(), 2);

    // Read back by id and by BSN, by the coach and by the wijkteam's partner system.
    let wijkteam = demo.token("wijkteam-noordwest").await;
    for auth in [&coach, &Auth::Bearer(&wijkteam)] {
        let read = demo.graphql(auth, RESIDENT, json!({ "id": id })).await;
        assert_eq!(read["data"]["resident"]["name"], "Daan Verhoeven", "{read}");
        assert_eq!(
            read["data"]["resident"]["representatives"][0]["relation"],
            "moeder"
        );
        let found = demo.graphql(auth, BY_BSN, json!({ "bsn": NEW_BSN })).await;
        assert_eq!(found["data"]["residentByBsn"]["id"], id.as_str(), "{found}");
        assert_eq!(found["data"]["residentByBsn"]["birthDate"], "2015-04-09");
    }

    // Bad input: refused, and nothing written.
    let before = written(&conn).await;
    let writes_before = audited(&conn, "resident.write").await.len();
    let mut cases: Vec<(Value, &str)> = Vec::new();
    let with = |field: &str, value: Value| {
        let mut input = registration();
        input[field] = value;
        input
    };
    cases.push((with("bsn", json!("123456789")), "valid BSN"));
    cases.push((with("bsn", json!("12345678")), "valid BSN"));
    cases.push((with("bsn", json!(NEW_BSN)), "already registered"));
    cases.push((with("birthDate", json!("2999-01-01")), "future"));
    cases.push((with("birthDate", json!("09-04-2015")), "YYYY-MM-DD"));
    cases.push((with("name", json!("  ")), "name is empty"));
    cases.push((with("name", json!("Daan\u{0007}")), "control characters"));
    cases.push((with("contact", json!("06\u{0000}")), "control characters"));
    cases.push((with("area", json!("")), "area is empty"));
    cases.push((
        with(
            "representatives",
            json!([{ "name": "Ans", "relation": "buurvrouw" }]),
        ),
        "relation must be",
    ));
    // A demo resident's BSN is a duplicate too.
    let demo_bsn = store::seed::demo_resident_bsns().unwrap()[0]
        .expose()
        .to_owned();
    cases.push((with("bsn", json!(demo_bsn)), "already registered"));
    for (input, message) in &cases {
        let refused = demo
            .graphql(&coach, REGISTER, json!({ "input": input }))
            .await;
        assert_eq!(error_code(&refused), "BAD_USER_INPUT", "{input}: {refused}");
        let text = refused["errors"][0]["message"].as_str().unwrap();
        assert!(text.contains(message), "{text}");
        assert!(
            !text.contains(NEW_BSN) && !text.contains(&demo_bsn),
            "{text}"
        );
    }
    assert_eq!(written(&conn).await, before);
    // The two duplicates are audited as refused writes naming the resident that has the BSN.
    let writes = audited(&conn, "resident.write").await;
    let duplicates: Vec<_> = writes[writes_before..]
        .iter()
        .filter(|(_, outcome, reason)| {
            outcome == "deny" && reason.as_deref() == Some("duplicate-bsn")
        })
        .collect();
    assert_eq!(duplicates.len(), 2, "{writes:?}");
    assert_eq!(
        duplicates[0].0.map(|resident| resident.to_string()),
        Some(id.clone())
    );

    // A welfare organisation does not register: FORBIDDEN, nothing written.
    let welzijn = demo.token("welzijn-noordwest").await;
    let mut other = registration();
    other["bsn"] = json!("111222333");
    let refused = demo
        .graphql(&Auth::Bearer(&welzijn), REGISTER, json!({ "input": other }))
        .await;
    assert_eq!(error_code(&refused), "FORBIDDEN", "{refused}");
    assert_eq!(written(&conn).await, before);

    // No purpose declared: refused before anything is read or written.
    let undeclared: Value = demo
        .http
        .post(format!("{}/graphql", demo.base))
        .bearer_auth(&wijkteam)
        .json(&json!({ "query": REGISTER, "variables": { "input": other } }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(error_code(&undeclared), "PURPOSE_REQUIRED", "{undeclared}");
    let undeclared: Value = demo
        .http
        .post(format!("{}/graphql", demo.base))
        .bearer_auth(&wijkteam)
        .json(&json!({ "query": RESIDENT, "variables": { "id": id } }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(error_code(&undeclared), "PURPOSE_REQUIRED", "{undeclared}");
    assert_eq!(written(&conn).await, before);

    // A provider with no care relation: exactly like a resident that does not exist, by id and
    // by BSN; and each attempt audited as a denial.
    let kompas = demo.token("ggz-kompas").await;
    let kompas = Auth::Bearer(&kompas);
    let reads_before = audited(&conn, "resident.read").await.len();
    let lookups_before = audited(&conn, "resident.lookup-bsn").await.len();
    let unknown = demo.graphql(&kompas, RESIDENT, json!({ "id": id })).await;
    let missing = demo
        .graphql(
            &kompas,
            RESIDENT,
            json!({ "id": uuid::Uuid::now_v7().to_string() }),
        )
        .await;
    assert_eq!(error_code(&unknown), "NOT_FOUND", "{unknown}");
    assert_eq!(unknown["errors"], missing["errors"]);
    assert!(unknown["data"].is_null() || unknown["data"]["resident"].is_null());
    let unknown = demo
        .graphql(&kompas, BY_BSN, json!({ "bsn": NEW_BSN }))
        .await;
    let missing = demo
        .graphql(&kompas, BY_BSN, json!({ "bsn": "111222333" }))
        .await;
    assert_eq!(error_code(&unknown), "NOT_FOUND", "{unknown}");
    assert_eq!(unknown["errors"], missing["errors"]);
    let invalid = demo
        .graphql(&kompas, BY_BSN, json!({ "bsn": "123456789" }))
        .await;
    assert_eq!(error_code(&invalid), "BAD_USER_INPUT", "{invalid}");
    let resident_id: uuid::Uuid = id.parse().unwrap();
    let reads = audited(&conn, "resident.read").await;
    assert_eq!(
        reads[reads_before..].to_vec(),
        vec![(
            Some(resident_id),
            "deny".to_owned(),
            Some("no-care-relation".to_owned())
        )],
        "the read of a missing resident leaves no entry; the unknown one does"
    );
    let lookups = audited(&conn, "resident.lookup-bsn").await;
    assert_eq!(
        lookups[lookups_before..].to_vec(),
        vec![
            (
                Some(resident_id),
                "deny".to_owned(),
                Some("no-care-relation".to_owned())
            ),
            (None, "deny".to_owned(), Some("not-found".to_owned())),
        ]
    );
    // The registration and the reads that found Daan were permitted and audited.
    assert!(
        audited(&conn, "resident.write")
            .await
            .iter()
            .any(|(resident, outcome, _)| *resident == Some(resident_id) && outcome == "permit")
    );
    assert_eq!(
        audited(&conn, "resident.lookup-bsn")
            .await
            .iter()
            .filter(|(resident, outcome, _)| *resident == Some(resident_id) && outcome == "permit")
            .count(),
        2
    );
    // Two registrations of one BSN at the same moment, by the coach and by the wijkteam's
    // system: exactly one is written, the other is refused as a duplicate.
    let before = written(&conn).await;
    let mut twin = registration();
    twin["bsn"] = json!(TWIN_BSN);
    twin["birthDate"] = json!("1980-02-02");
    twin["representatives"] = json!([]);
    let wijkteam_auth = Auth::Bearer(&wijkteam);
    let (first, second) = tokio::join!(
        demo.graphql(&coach, REGISTER, json!({ "input": twin })),
        demo.graphql(&wijkteam_auth, REGISTER, json!({ "input": twin })),
    );
    let won = |response: &Value| response["data"]["registerResident"]["resident"]["id"].is_string();
    assert!(won(&first) != won(&second), "{first}\n{second}");
    let lost = if won(&first) { &second } else { &first };
    assert_eq!(error_code(lost), "BAD_USER_INPUT", "{lost}");
    assert_eq!(
        written(&conn).await,
        [before[0] + 1, before[1], before[2] + 1]
    );

    // No entry holds a BSN, in any column.
    let rows = conn
        .query_all_raw(Statement::from_string(
            conn.get_database_backend(),
            "SELECT reason, basis, checks, request_id, on_behalf_of_id, on_behalf_of_name \
             FROM audit_entries"
                .to_owned(),
        ))
        .await
        .unwrap();
    for row in rows {
        for column in ["reason", "basis", "checks", "request_id", "on_behalf_of_id"] {
            let text: Option<String> = row.try_get("", column).unwrap();
            let text = text.unwrap_or_default();
            assert!(
                !text.contains(NEW_BSN) && !text.contains(&demo_bsn),
                "{text}"
            );
        }
    }
    conn.close().await.unwrap();

    hub.terminate();
    let stopped = hub.wait(Duration::from_secs(30));
    assert!(stopped.status.success(), "{}", stopped.stderr);
    let verified = cli.run(&["audit", "verify"]);
    assert!(verified.status.success(), "{}", verified.stderr);
}

/// Every page of `residents` for `auth`, `first` at a time: (ids in order, nodes).
async fn all_pages(demo: &Demo, auth: &Auth<'_>, first: i64, filter: Value) -> Vec<Value> {
    let mut nodes = Vec::new();
    let mut after = Value::Null;
    for page in 0.. {
        assert!(page < 100, "pagination does not end");
        let response = demo
            .graphql(
                auth,
                LIST,
                json!({ "first": first, "after": after, "filter": filter }),
            )
            .await;
        let connection = &response["data"]["residents"];
        let edges = connection["edges"]
            .as_array()
            .unwrap_or_else(|| panic!("{response}"));
        assert!(edges.len() as i64 <= first);
        assert_eq!(connection["pageInfo"]["hasPreviousPage"], !after.is_null());
        nodes.extend(edges.iter().map(|edge| edge["node"].clone()));
        if connection["pageInfo"]["hasNextPage"] == false {
            break;
        }
        assert_eq!(edges.len() as i64, first, "a full page before the next");
        after = connection["pageInfo"]["endCursor"].clone();
    }
    nodes
}

fn ids(nodes: &[Value]) -> Vec<String> {
    nodes
        .iter()
        .map(|node| node["id"].as_str().unwrap().to_owned())
        .collect()
}

/// The residents an organisation has a care relation with, by id, straight from the database.
async fn related(conn: &DatabaseConnection, organisation: &str) -> Vec<String> {
    let rows = conn
        .query_all_raw(Statement::from_string(
            conn.get_database_backend(),
            format!(
                "SELECT DISTINCT care_relations.resident_id AS id FROM care_relations \
                 JOIN organisations ON organisations.id = care_relations.organisation_id \
                 WHERE organisations.name = '{organisation}' AND care_relations.ended_at IS NULL"
            ),
        ))
        .await
        .unwrap();
    let mut ids: Vec<String> = rows
        .into_iter()
        .map(|row| row.try_get::<uuid::Uuid>("", "id").unwrap().to_string())
        .collect();
    ids.sort();
    ids
}

#[tokio::test]
async fn partner_systems_page_through_exactly_the_residents_they_work_with() {
    let db = TestDb::new().await;
    let mut cli = wijkhub();
    cli.database(&db).env("WIJKHUB_HTTP__PORT", "0");
    let (hub, demo) = Demo::start(&cli);
    let conn = Database::connect(db.url()).await.unwrap();

    // The wijkteam works with all 22 demo residents: 11 pages of 2, no gaps, no duplicates, in
    // one stable order.
    let wijkteam = demo.token("wijkteam-noordwest").await;
    let wijkteam = Auth::Bearer(&wijkteam);
    let reads_before = audited(&conn, "resident.read").await.len();
    let nodes = all_pages(&demo, &wijkteam, 2, Value::Null).await;
    let listed = ids(&nodes);
    let mut sorted = listed.clone();
    sorted.sort();
    assert_eq!(listed, sorted, "stable order: by id");
    sorted.dedup();
    assert_eq!(sorted.len(), listed.len(), "no duplicates");
    assert_eq!(listed, related(&conn, "Wijkteam Noordwest").await);
    assert_eq!(listed.len(), 22);
    assert!(
        nodes
            .iter()
            .all(|node| node["access"]["granted"] == true && node["name"].is_string())
    );
    // One audit entry per resident returned.
    assert_eq!(
        audited(&conn, "resident.read").await.len() - reads_before,
        listed.len()
    );
    // The same list in one page of 100, and a filter on the wijk.
    assert_eq!(
        ids(&all_pages(&demo, &wijkteam, 100, Value::Null).await),
        listed
    );
    let haven = all_pages(&demo, &wijkteam, 3, json!({ "area": "Havenkwartier" })).await;
    assert!(!haven.is_empty());
    assert!(haven.iter().all(|node| node["area"] == "Havenkwartier"));
    let in_haven = count(
        &conn,
        "SELECT COUNT(*) FROM residents WHERE area = 'Havenkwartier'",
    )
    .await;
    assert_eq!(haven.len() as i64, in_haven);
    let active = all_pages(&demo, &wijkteam, 50, json!({ "status": "active" })).await;
    assert_eq!(active.len(), 22);

    // Welzijn Noordwest sees only the residents it works with; who they are only where a
    // consent covers some part of the plan for this purpose — Anouk's consent is for GGZ Kompas.
    let welzijn = demo.token("welzijn-noordwest").await;
    let welzijn = Auth::Bearer(&welzijn);
    let nodes = all_pages(&demo, &welzijn, 2, Value::Null).await;
    assert_eq!(ids(&nodes), related(&conn, "Welzijn Noordwest").await);
    assert!(nodes.len() < 22);
    let shown: BTreeSet<&str> = nodes
        .iter()
        .filter_map(|node| node["name"].as_str())
        .collect();
    assert!(shown.contains("Johanna Mulder"), "{shown:?}");
    assert!(
        shown.contains("Priya Ramdin"),
        "consent to every welzijn: {shown:?}"
    );
    assert!(!shown.contains("Anouk Smits"), "{shown:?}");
    let hidden: Vec<&Value> = nodes
        .iter()
        .filter(|node| node["access"]["granted"] == false)
        .collect();
    assert!(!hidden.is_empty());
    for node in hidden {
        assert!(node["name"].is_null() && node["area"].is_null(), "{node}");
        assert!(node["access"]["reason"].is_string(), "{node}");
    }

    // Cursors: an edited one, one of another list's shape, garbage, and pages out of range.
    let first_page = demo.graphql(&wijkteam, LIST, json!({ "first": 2 })).await;
    let cursor = first_page["data"]["residents"]["pageInfo"]["endCursor"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut edited = cursor.clone().into_bytes();
    let at = edited.len() / 2;
    edited[at] = if edited[at] == b'A' { b'B' } else { b'A' };
    let edited = String::from_utf8(edited).unwrap();
    for (first, after) in [
        (json!(2), json!(edited)),
        (json!(2), json!("not-a-cursor")),
        (json!(2), json!("")),
        (json!(101), Value::Null),
        (json!(0), Value::Null),
        (json!(-1), Value::Null),
    ] {
        let refused = demo
            .graphql(&wijkteam, LIST, json!({ "first": first, "after": after }))
            .await;
        assert_eq!(
            error_code(&refused),
            "BAD_USER_INPUT",
            "{first} {after}: {refused}"
        );
    }
    // A cursor issued to one caller works for another only over that caller's own list.
    let theirs = demo
        .graphql(&welzijn, LIST, json!({ "first": 50, "after": cursor }))
        .await;
    let after_cursor = ids(&theirs["data"]["residents"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|edge| edge["node"].clone())
        .collect::<Vec<_>>());
    let welzijn_all = related(&conn, "Welzijn Noordwest").await;
    for id in &after_cursor {
        assert!(welzijn_all.contains(id));
    }
    let unknown_status = demo
        .graphql(&wijkteam, LIST, json!({ "filter": { "status": "gone" } }))
        .await;
    assert_eq!(error_code(&unknown_status), "BAD_USER_INPUT");
    conn.close().await.unwrap();

    hub.terminate();
    let stopped = hub.wait(Duration::from_secs(30));
    assert!(stopped.status.success(), "{}", stopped.stderr);
}
