//! The hub's own log at trace level holds no key material and no resident data. `serve --demo`
//! runs with `RUST_LOG=trace` while staff and a partner system log in, read every plan and write
//! a section; then everything it printed is scanned for the bytes of both key files (in hex,
//! base64 and `Debug` renderings, and every 8-byte window in hex), for the demo residents'
//! names, BSNs and stories, and for the demo credentials' passwords and client secrets.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use sea_orm::{ConnectionTrait, Database, Statement};
use serde_json::json;
use testkit::TestDb;

use crate::demo::{Auth, Demo};
use crate::wijkhub;

/// Every way key bytes could be printed, and every 8-byte window of them in hex.
fn renderings(key: &[u8]) -> Vec<String> {
    let hex = |bytes: &[u8]| -> String { bytes.iter().map(|b| format!("{b:02x}")).collect() };
    let mut all = vec![
        hex(key),
        hex(key).to_uppercase(),
        STANDARD.encode(key),
        STANDARD_NO_PAD.encode(key),
        URL_SAFE.encode(key),
        URL_SAFE_NO_PAD.encode(key),
        format!("{key:?}"),
    ];
    for window in key.windows(8) {
        all.push(hex(window));
        all.push(format!("{window:?}").trim_matches(['[', ']']).to_owned());
    }
    all
}

/// The secrets of a key file: every word of base64 characters that decodes to at least 16 bytes
/// (key-file lines are `<kind> <version> <base64>`; the auth key file is JSON with base64 values).
fn key_file_secrets(path: &std::path::Path) -> Vec<(String, Vec<u8>)> {
    let text = std::fs::read_to_string(path).unwrap();
    text.split(|c: char| !(c.is_ascii_alphanumeric() || "+/=_-".contains(c)))
        .filter_map(|word| {
            let bytes = STANDARD
                .decode(word)
                .or_else(|_| URL_SAFE_NO_PAD.decode(word))
                .ok()?;
            (bytes.len() >= 16).then(|| (word.to_owned(), bytes))
        })
        .collect()
}

#[tokio::test]
async fn a_trace_level_log_holds_no_key_and_no_resident_data() {
    let db = TestDb::new().await;
    let mut cli = wijkhub();
    cli.database(&db)
        .env("WIJKHUB_HTTP__PORT", "0")
        .env("RUST_LOG", "trace");
    let (hub, demo) = Demo::start(&cli);

    // Staff and a partner system at work: every plan read in full, a section written.
    let cookie = demo.login("coach@noordwest.demo").await;
    let coach = Auth::Cookie(&cookie);
    let token = demo.token("welzijn-noordwest").await;
    let partner = Auth::Bearer(&token);
    let conn = Database::connect(db.url()).await.unwrap();
    let plans: Vec<String> = conn
        .query_all_raw(Statement::from_string(
            conn.get_database_backend(),
            "SELECT id FROM plans ORDER BY id",
        ))
        .await
        .unwrap()
        .iter()
        .map(|row| row.try_get::<uuid::Uuid>("", "id").unwrap().to_string())
        .collect();
    conn.close().await.unwrap();
    let query = "query($id: ID!) { plan(id: $id) { id residentId sections { category revision \
                 access { granted reason basis } content } } }";
    let mut read_stories = 0;
    for plan in &plans {
        let read = demo.graphql(&coach, query, json!({ "id": plan })).await;
        assert!(read["errors"].is_null(), "{read}");
        read_stories += read.to_string().matches("\"story\"").count();
        demo.graphql(&partner, query, json!({ "id": plan })).await;
    }
    assert!(read_stories > 0, "the coach read the stories");
    let written = demo
        .graphql(
            &coach,
            "mutation($input: WriteSectionInput!) { writeSection(input: $input) { section { revision } } }",
            json!({ "input": {
                "planId": plans[0], "category": "goals",
                "content": "Geheim doel: Johanna wil weer fietsen.", "expectedRevision": 1
            } }),
        )
        .await;
    // Written or refused as stale: either way the content went through the hub.
    assert!(
        written["errors"].is_null() || written.to_string().contains("CONFLICT"),
        "{written}"
    );
    let bad = demo
        .http
        .post(format!("{}/graphql", demo.base))
        .bearer_auth("eyJhbGciOiJFZERTQSJ9.e30.c2lnbmF0dXJl")
        .json(&json!({ "query": "{ viewer { id } }" }))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 401);

    hub.terminate();
    let output = hub.wait(Duration::from_secs(30));
    let log = format!("{}\n{}", output.stdout, output.stderr);
    assert!(
        log.lines().count() > 100 && log.contains("TRACE"),
        "the hub logged at trace level: {} lines",
        log.lines().count()
    );

    let mut found = Vec::new();
    let mut secrets = key_file_secrets(&cli.dir().join("data/keys"));
    secrets.extend(key_file_secrets(&cli.dir().join("data/auth-keys")));
    assert!(secrets.len() >= 4, "both key files were read");
    for (word, key) in &secrets {
        for rendering in renderings(key) {
            if log.contains(&rendering) {
                found.push(format!("key {}… as {rendering:?}", &word[..4]));
            }
        }
    }
    for name in store::seed::demo_resident_names() {
        if log.contains(name) {
            found.push(format!("resident name {name}"));
        }
    }
    for story in store::seed::demo_resident_stories() {
        // Any 24-character stretch of a story betrays it.
        let chars: Vec<char> = story.chars().collect();
        if chars
            .windows(24)
            .any(|window| log.contains(&window.iter().collect::<String>()))
        {
            found.push(format!("story {:.20}…", story));
        }
    }
    if log.contains("Johanna wil weer fietsen") {
        found.push("the written section".to_owned());
    }
    for bsn in store::seed::demo_resident_bsns().unwrap() {
        if log.contains(bsn.expose()) {
            found.push("a demo BSN".to_owned());
        }
    }
    for member in demo.credentials["members"].as_array().unwrap() {
        if log.contains(member["password"].as_str().unwrap()) {
            found.push(format!("password of {}", member["email"]));
        }
    }
    for client in demo.credentials["clients"].as_array().unwrap() {
        if log.contains(client["client_secret"].as_str().unwrap()) {
            found.push(format!("secret of {}", client["client_id"]));
        }
    }
    if log.contains(&token) {
        found.push("an access token".to_owned());
    }
    let session = cookie.split('=').nth(1).unwrap();
    if log.contains(session) {
        found.push("a session id".to_owned());
    }
    assert_eq!(found, Vec::<String>::new(), "the trace log leaks");
}
