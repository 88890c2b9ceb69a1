//! Durable before the response, under a crash: the hub runs as a child process under concurrent
//! authenticated `plan(id)` reads, is killed with SIGKILL in the middle of them, and is started
//! again on the same database. Every read that was answered `200` with a plan must have its audit
//! entry (found by the `x-request-id` the response carried), and `wijkhub audit verify` must pass
//! over the chain the crash cut short and the one the restart began.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use sea_orm::{ConnectionTrait, Database, Statement};
use serde_json::{Value, json};
use testkit::TestDb;

use crate::demo::Demo;
use crate::wijkhub;

/// Readers running at once.
const TASKS: usize = 8;
/// Load before the kill; the readers keep going through the kill.
const LOAD_BEFORE_KILL: Duration = Duration::from_millis(2500);
/// How long the hub may take to start (a second start reuses the seeded database).
const START_TIMEOUT: Duration = Duration::from_secs(60);

const READ: &str = "query($id: ID!) { plan(id: $id) { id sections { category } } }";

/// One reader: reads `plans` in turn until `stop`; returns the request ids of the reads
/// answered 200 with the plan.
async fn reader(
    http: reqwest::Client,
    url: String,
    auth: (String, String),
    plans: Arc<Vec<String>>,
    offset: usize,
    stop: Arc<AtomicBool>,
) -> Vec<String> {
    let mut answered = Vec::new();
    let mut idx = offset;
    while !stop.load(Ordering::Relaxed) {
        let plan = &plans[idx % plans.len()];
        idx += 1;
        let sent = http
            .post(&url)
            .header(auth.0.as_str(), auth.1.as_str())
            .header("Wijkhub-Purpose", "support")
            .json(&json!({ "query": READ, "variables": { "id": plan } }))
            .send()
            .await;
        let Ok(response) = sent else {
            // The hub is gone: the request was not answered.
            tokio::time::sleep(Duration::from_millis(20)).await;
            continue;
        };
        if response.status() != 200 {
            continue;
        }
        let request_id = response
            .headers()
            .get("x-request-id")
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned);
        // A body cut off by the kill was not an answer either.
        let Ok(body) = response.json::<Value>().await else {
            continue;
        };
        if body["data"]["plan"]["id"] == json!(plan) {
            answered.push(request_id.expect("every answer carries x-request-id"));
        }
    }
    answered
}

#[tokio::test]
async fn every_answered_read_survives_a_sigkill_and_the_chains_verify() {
    let db = TestDb::new().await;
    let mut cli = wijkhub();
    cli.database(&db)
        .env("WIJKHUB_HTTP__PORT", "0")
        // Checkpoints during the load, so the crash falls between signed checkpoints.
        .env("WIJKHUB_AUDIT__CHECKPOINT_EVERY_SECS", "1")
        .env("WIJKHUB_AUDIT__CHECKPOINT_EVERY_ENTRIES", "200");
    let (hub, demo) = Demo::start(&cli);

    let conn = Database::connect(db.url()).await.unwrap();
    let backend = conn.get_database_backend();
    let plans: Vec<String> = conn
        .query_all_raw(Statement::from_string(
            backend,
            "SELECT id FROM plans ORDER BY id LIMIT 12",
        ))
        .await
        .unwrap()
        .iter()
        .map(|row| row.try_get::<uuid::Uuid>("", "id").unwrap().to_string())
        .collect();
    let plans = Arc::new(plans);

    // The wijkteam coach (console session) and a partner system (bearer token) read at once.
    let cookie = demo.login("coach@noordwest.demo").await;
    let token = demo.token("stichting-buurtkracht").await;
    let http = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let url = format!("{}/graphql", demo.base);
    let stop = Arc::new(AtomicBool::new(false));
    let readers: Vec<_> = (0..TASKS)
        .map(|task| {
            let auth = if task % 2 == 0 {
                ("cookie".to_owned(), cookie.clone())
            } else {
                ("authorization".to_owned(), format!("Bearer {token}"))
            };
            tokio::spawn(reader(
                http.clone(),
                url.clone(),
                auth,
                plans.clone(),
                task,
                stop.clone(),
            ))
        })
        .collect();

    tokio::time::sleep(LOAD_BEFORE_KILL).await;
    let killed = std::process::Command::new("kill")
        .args(["-KILL", &hub.pid().to_string()])
        .status()
        .unwrap();
    assert!(killed.success(), "kill -KILL failed");
    let output = hub.wait(Duration::from_secs(10));
    assert!(!output.status.success(), "the hub was killed, not stopped");
    tokio::time::sleep(Duration::from_millis(200)).await;
    stop.store(true, Ordering::Relaxed);
    let mut answered = Vec::new();
    for reader in readers {
        answered.extend(reader.await.unwrap());
    }
    eprintln!("{} reads answered before the kill", answered.len());
    assert!(
        answered.len() >= 20,
        "the load answered only {} reads before the kill",
        answered.len()
    );

    // Started again on the same database: a new chain, and reads work again.
    let restarted = cli.spawn(&["serve", "--demo"]);
    let addr = restarted.listening_addr(START_TIMEOUT);
    let response: Value = http
        .post(format!("http://{addr}/graphql"))
        .header("cookie", &cookie)
        .header("Wijkhub-Purpose", "support")
        .json(&json!({ "query": READ, "variables": { "id": plans[0] } }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        response["data"]["plan"]["id"],
        json!(plans[0]),
        "{response}"
    );
    restarted.terminate();
    let stopped = restarted.wait(Duration::from_secs(30));
    assert!(stopped.status.success(), "{}", stopped.stderr);

    // Every answered read has its entry.
    let logged: HashSet<String> = conn
        .query_all_raw(Statement::from_string(
            backend,
            "SELECT request_id FROM audit_entries WHERE action = 'resident.read'",
        ))
        .await
        .unwrap()
        .iter()
        .filter_map(|row| row.try_get::<Option<String>>("", "request_id").unwrap())
        .collect();
    let missing: Vec<&String> = answered
        .iter()
        .filter(|request_id| !logged.contains(*request_id))
        .collect();
    assert!(
        missing.is_empty(),
        "{} of {} answered reads have no audit entry: {missing:?}",
        missing.len(),
        answered.len()
    );
    let chains = conn
        .query_one_raw(Statement::from_string(
            backend,
            "SELECT COUNT(DISTINCT chain_id) FROM audit_entries",
        ))
        .await
        .unwrap()
        .unwrap()
        .try_get_by_index::<i64>(0)
        .unwrap();
    assert!(chains >= 2, "the restart began a chain of its own");
    conn.close().await.unwrap();

    // The chain the crash cut short verifies, with its unsealed tail intact.
    let verified = cli.run(&["audit", "verify"]);
    assert!(
        verified.status.success(),
        "{}\n{}",
        verified.stdout,
        verified.stderr
    );
    assert!(
        verified.stdout.contains("the audit log is intact"),
        "{}",
        verified.stdout
    );
}
