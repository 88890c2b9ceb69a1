//! `docs/API.md` executed: every ```graphql example (with the ```json variables block that follows
//! it) and every `curl` of "Connecting" runs against `serve --demo`, as the caller and with the
//! purpose its marker names, so the partner-facing guide cannot drift from what the hub answers.
//! Its error-code table is compared with the codes `ApiError::code` can give.
//!
//! The conventions in API.md this test relies on (written there as HTML comments, hidden when
//! rendered):
//! - `<!-- example: caller=<demo client id | member:<email>> purpose=<purpose | none>
//!   [expect=<CODE>] -->` on the line above each ```graphql and `curl` block;
//!   `<!-- example: skip: <reason> -->` for a block that is not an executable document;
//!   fragments are fenced ```graphql-fragment and skipped.
//! - Ids are written as placeholders, `"<plan-id>"`, `"<resident-id>"`, …, which this test
//!   replaces with real ids: from the demo database, or from the answer of an earlier example
//!   (`"<consent-id>"` is what `recordConsent` answered). `expectedRevision` and
//!   `expectedVersion` stand for the current value, which this test reads just before.
//!
//! It must never skip a ```graphql block silently: an unmarked one fails the test.

use std::collections::BTreeMap;

use chrono::{Months, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, ConnectionTrait, Database, DatabaseConnection, EntityTrait, QueryFilter, Statement,
};
use serde_json::{Value, json};
use store::entity::plans;
use testkit::TestDb;

use crate::demo::Demo;
use crate::wijkhub;

/// Examples whose root field is listed run in this order, after every other example (those only
/// read, in document order): each one's placeholders are answered by an earlier one.
const WRITE_ORDER: &[&str] = &[
    "registerResident",
    "residentByBsn",
    "createPlan",
    "writeSection",
    "setPlanStatus",
    "transferCoordination",
    "recordConsent",
    "withdrawConsent",
    "recordObjection",
    "liftObjection",
    "startCareRelation",
    "endCareRelation",
    "breakGlass",
    "eraseResident",
    "auditEntries",
];

/// What an example's answer gives later examples: (root field, JSON pointer, placeholder).
const CAPTURES: &[(&str, &str, &str)] = &[
    (
        "registerResident",
        "/resident/id",
        "<registered-resident-id>",
    ),
    ("createPlan", "/plan/id", "<created-plan-id>"),
    ("recordConsent", "/id", "<consent-id>"),
    ("recordObjection", "/id", "<objection-id>"),
    ("startCareRelation", "/id", "<care-relation-id>"),
];

/// How an example is run, from its `<!-- example: … -->` marker.
#[derive(Debug)]
enum Marker {
    Run {
        caller: String,
        purpose: Option<String>,
        expect: Option<String>,
    },
    Skip,
}

#[derive(Debug)]
struct Example {
    /// 1-based line of the opening fence, for messages.
    line: usize,
    marker: Marker,
    body: String,
    variables: Option<String>,
}

/// A fenced block of API.md.
struct Block {
    /// 1-based lines of the opening and the closing fence.
    open: usize,
    close: usize,
    info: String,
    body: String,
    /// The `<!-- example: … -->` line above the opening fence.
    marker: Option<String>,
}

/// Every fenced block of `markdown`.
fn blocks(markdown: &str) -> Vec<Block> {
    let lines: Vec<&str> = markdown.lines().collect();
    let mut found = Vec::new();
    let mut idx = 0;
    while idx < lines.len() {
        let trimmed = lines[idx].trim();
        let Some(info) = trimmed.strip_prefix("```") else {
            idx += 1;
            continue;
        };
        let marker = lines[..idx]
            .iter()
            .rev()
            .map(|line| line.trim())
            .find(|line| !line.is_empty())
            .filter(|line| line.starts_with("<!-- example:"))
            .map(str::to_owned);
        let start = idx;
        let mut body = String::new();
        idx += 1;
        while idx < lines.len() && lines[idx].trim() != "```" {
            body.push_str(lines[idx]);
            body.push('\n');
            idx += 1;
        }
        assert!(idx < lines.len(), "API.md:{}: unclosed fence", start + 1);
        found.push(Block {
            open: start + 1,
            close: idx + 1,
            info: info.trim().to_owned(),
            body,
            marker,
        });
        idx += 1;
    }
    found
}

#[track_caller]
fn parse_marker(line: usize, marker: Option<&str>) -> Marker {
    let marker = marker.unwrap_or_else(|| {
        panic!("API.md:{line}: an example without `<!-- example: … -->` above it")
    });
    let inner = marker
        .strip_prefix("<!-- example:")
        .and_then(|rest| rest.strip_suffix("-->"))
        .unwrap_or_else(|| panic!("API.md:{line}: malformed marker {marker}"))
        .trim();
    if let Some(reason) = inner.strip_prefix("skip:") {
        assert!(
            !reason.trim().is_empty(),
            "API.md:{line}: a skipped example names why"
        );
        return Marker::Skip;
    }
    let mut fields: BTreeMap<&str, &str> = BTreeMap::new();
    for pair in inner.split_whitespace() {
        let (key, value) = pair
            .split_once('=')
            .unwrap_or_else(|| panic!("API.md:{line}: `{pair}` is not key=value"));
        assert!(
            ["caller", "purpose", "expect"].contains(&key),
            "API.md:{line}: unknown marker key {key}"
        );
        fields.insert(key, value);
    }
    let purpose = fields
        .get("purpose")
        .unwrap_or_else(|| panic!("API.md:{line}: the marker names a purpose (or none)"));
    Marker::Run {
        caller: fields
            .get("caller")
            .unwrap_or_else(|| panic!("API.md:{line}: the marker names a caller"))
            .to_string(),
        purpose: (*purpose != "none").then(|| purpose.to_string()),
        expect: fields.get("expect").map(|code| code.to_string()),
    }
}

/// The ```graphql examples (with their variables) and the `curl` blocks of API.md; the count of
/// ```graphql-fragment blocks.
fn examples(markdown: &str) -> (Vec<Example>, Vec<Example>, usize) {
    let all = blocks(markdown);
    let lines: Vec<&str> = markdown.lines().collect();
    let mut graphql = Vec::new();
    let mut curls = Vec::new();
    let mut fragments = 0;
    // The `curl` blocks run are those of "Connecting", the first steps of a partner system.
    let connecting_start = lines
        .iter()
        .position(|line| *line == "## Connecting")
        .expect("API.md has a Connecting section");
    let connecting_end = lines[connecting_start + 1..]
        .iter()
        .position(|line| line.starts_with("## "))
        .map_or(lines.len(), |end| connecting_start + 1 + end);
    for (idx, block) in all.iter().enumerate() {
        let line = block.open;
        let info = block.info.as_str();
        if info == "graphql" {
            // The ```json block right after it (blank lines between) holds its variables.
            let variables = all
                .get(idx + 1)
                .filter(|next| {
                    next.info == "json"
                        && lines[block.close..next.open - 1]
                            .iter()
                            .all(|between| between.trim().is_empty())
                })
                .map(|next| next.body.clone());
            graphql.push(Example {
                line,
                marker: parse_marker(line, block.marker.as_deref()),
                body: block.body.clone(),
                variables,
            });
        } else if info.starts_with("graphql") {
            assert_eq!(
                info, "graphql-fragment",
                "API.md:{line}: unknown fence {info}"
            );
            fragments += 1;
        } else if info == "sh"
            && block.body.contains("curl ")
            && (connecting_start..connecting_end).contains(&line)
        {
            curls.push(Example {
                line,
                marker: parse_marker(line, block.marker.as_deref()),
                body: block.body.clone(),
                variables: None,
            });
        }
    }
    (graphql, curls, fragments)
}

/// A GraphQL document's tokens: names, punctuators and whole strings; comments dropped.
fn tokens(document: &str) -> Vec<String> {
    let chars: Vec<char> = document.chars().collect();
    let mut found = Vec::new();
    let mut idx = 0;
    while idx < chars.len() {
        let c = chars[idx];
        if c == '#' {
            while idx < chars.len() && chars[idx] != '\n' {
                idx += 1;
            }
        } else if c == '"' {
            let start = idx;
            idx += 1;
            while idx < chars.len() && chars[idx] != '"' {
                idx += if chars[idx] == '\\' { 2 } else { 1 };
            }
            idx += 1;
            found.push(chars[start..idx.min(chars.len())].iter().collect());
        } else if c.is_alphanumeric() || c == '_' || c == '-' {
            let start = idx;
            while idx < chars.len()
                && (chars[idx].is_alphanumeric() || ['_', '-', '.'].contains(&chars[idx]))
            {
                idx += 1;
            }
            found.push(chars[start..idx].iter().collect());
        } else if c == '.' {
            idx += 3;
            found.push("...".to_owned());
        } else {
            if !c.is_whitespace() && c != ',' {
                found.push(c.to_string());
            }
            idx += 1;
        }
    }
    found
}

/// The keys an operation's answer has in `data`: its top-level fields (aliases where given).
/// Panics unless `document` holds exactly one operation.
#[track_caller]
fn root_fields(line: usize, document: &str) -> Vec<String> {
    let mut fields = Vec::new();
    let (mut braces, mut parens, mut operations) = (0, 0, 0);
    let mut previous = String::new();
    for token in tokens(document) {
        match token.as_str() {
            "{" => {
                if braces == 0 && parens == 0 {
                    operations += 1;
                }
                braces += 1;
            }
            "}" => braces -= 1,
            "(" => parens += 1,
            ")" => parens -= 1,
            name if braces == 1
                && parens == 0
                && name.starts_with(|c: char| c.is_alphabetic() || c == '_')
                && previous != "@"
                && previous != ":"
                && previous != "..." =>
            {
                fields.push(name.to_owned());
            }
            _ => {}
        }
        previous = token;
    }
    assert_eq!(
        operations, 1,
        "API.md:{line}: an example holds exactly one operation"
    );
    assert!(!fields.is_empty(), "API.md:{line}: no fields");
    fields
}

/// Replaces every `"<name>"` placeholder in `text`.
#[track_caller]
fn substitute(line: usize, text: &str, ids: &BTreeMap<String, String>) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("\"<") {
        let end = rest[start..]
            .find(">\"")
            .map(|end| start + end + 2)
            .unwrap_or_else(|| panic!("API.md:{line}: unclosed placeholder"));
        let name = &rest[start + 1..end - 1];
        let id = ids.get(name).unwrap_or_else(|| {
            panic!(
                "API.md:{line}: placeholder {name} is none of {:?} (or its example has not run yet)",
                ids.keys().collect::<Vec<_>>()
            )
        });
        out.push_str(&rest[..start]);
        out.push_str(&format!("\"{id}\""));
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

/// The string argument `name: "…"` of a document, or the string at key `name` in `variables`.
fn string_arg(document: &str, variables: &Value, name: &str) -> Option<String> {
    let tokens = tokens(document);
    let in_document = tokens.windows(3).find_map(|window| {
        (window[0] == name && window[1] == ":" && window[2].starts_with('"'))
            .then(|| window[2].trim_matches('"').to_owned())
    });
    in_document.or_else(|| find_key(variables, name)?.as_str().map(str::to_owned))
}

fn find_key<'a>(value: &'a Value, name: &str) -> Option<&'a Value> {
    match value {
        Value::Object(map) => map
            .get(name)
            .or_else(|| map.values().find_map(|inner| find_key(inner, name))),
        Value::Array(items) => items.iter().find_map(|inner| find_key(inner, name)),
        _ => None,
    }
}

/// Sets `name: <n>` in the document and `"name": n` in the variables to `value`.
fn set_number(document: &mut String, variables: &mut Value, name: &str, value: i64) {
    let needle = format!("{name}:");
    if let Some(start) = document.find(&needle) {
        let digits_start = start
            + needle.len()
            + document[start + needle.len()..]
                .chars()
                .take_while(|c| c.is_whitespace())
                .count();
        let digits = document[digits_start..]
            .chars()
            .take_while(char::is_ascii_digit)
            .count();
        document.replace_range(digits_start..digits_start + digits, &value.to_string());
    }
    fn walk(value: &mut Value, name: &str, number: i64) {
        match value {
            Value::Object(map) => {
                for (key, inner) in map.iter_mut() {
                    if key == name {
                        *inner = json!(number);
                    } else {
                        walk(inner, name, number);
                    }
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|inner| walk(inner, name, number)),
            _ => {}
        }
    }
    walk(variables, name, value);
}

/// A demo caller's credential: a bearer token, or a console session (with a recovery code as the
/// second factor for members who have one).
async fn credential(demo: &Demo, caller: &str) -> (String, String) {
    let Some(email) = caller.strip_prefix("member:") else {
        let token = demo.token(caller).await;
        return ("authorization".to_owned(), format!("Bearer {token}"));
    };
    let cookie = demo.login(email).await;
    ("cookie".to_owned(), cookie)
}

async fn post(
    demo: &Demo,
    credential: &(String, String),
    purpose: Option<&str>,
    query: &str,
    variables: &Value,
) -> Value {
    let mut request = demo
        .http
        .post(format!("{}/graphql", demo.base))
        .header(credential.0.as_str(), credential.1.as_str())
        .json(&json!({ "query": query, "variables": variables }));
    if let Some(purpose) = purpose {
        request = request.header("Wijkhub-Purpose", purpose);
    }
    request.send().await.unwrap().json().await.unwrap()
}

async fn first_id(conn: &DatabaseConnection, sql: &str, column: &str) -> String {
    conn.query_one_raw(Statement::from_string(conn.get_database_backend(), sql))
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("nothing for {sql}"))
        .try_get::<uuid::Uuid>("", column)
        .unwrap()
        .to_string()
}

/// The ids the placeholders stand for before any example runs.
async fn demo_ids(conn: &DatabaseConnection) -> BTreeMap<String, String> {
    let organisation = |name: &str| format!("SELECT id FROM organisations WHERE name = '{name}'");
    let member = |email: &str| format!("SELECT id FROM members WHERE email = '{email}'");
    // Johanna Mulder's plan (the first), shared with Welzijn Noordwest for support.
    let first_plan = "SELECT id, resident_id FROM plans ORDER BY id LIMIT 1";
    // Ingrid Bos (the fourteenth plan) is made erasable below.
    let erasable = "SELECT resident_id FROM plans ORDER BY id LIMIT 1 OFFSET 13";
    let mut ids = BTreeMap::new();
    for (placeholder, sql, column) in [
        ("<plan-id>", first_plan.to_owned(), "id"),
        ("<resident-id>", first_plan.to_owned(), "resident_id"),
        ("<erasable-resident-id>", erasable.to_owned(), "resident_id"),
        (
            "<organisation-id>",
            organisation("Zorggroep De Linde"),
            "id",
        ),
        ("<member-id>", member("zorg@noordwest.demo"), "id"),
        ("<coach-id>", member("coach2@noordwest.demo"), "id"),
    ] {
        ids.insert(placeholder.to_owned(), first_id(conn, &sql, column).await);
    }
    ids
}

/// Runs one ```graphql example; returns its root field and its answer.
async fn run(
    demo: &Demo,
    example: &Example,
    ids: &BTreeMap<String, String>,
    sessions: &mut BTreeMap<String, (String, String)>,
) -> (String, Value) {
    let line = example.line;
    let Marker::Run {
        caller,
        purpose,
        expect,
    } = &example.marker
    else {
        unreachable!("skipped examples are not run")
    };
    let mut document = substitute(line, &example.body, ids);
    let mut variables: Value = match &example.variables {
        Some(text) => serde_json::from_str(&substitute(line, text, ids))
            .unwrap_or_else(|error| panic!("API.md:{line}: variables: {error}")),
        None => json!({}),
    };
    if !sessions.contains_key(caller) {
        let credential = credential(demo, caller).await;
        sessions.insert(caller.clone(), credential);
    }

    // `expectedRevision` / `expectedVersion` stand for the current one.
    let stands_for_current = ["expectedRevision", "expectedVersion"]
        .iter()
        .any(|name| document.contains(name) || find_key(&variables, name).is_some());
    if stands_for_current {
        let plan = string_arg(&document, &variables, "planId")
            .unwrap_or_else(|| panic!("API.md:{line}: a versioned write names its planId"));
        let coach = credential_of(demo, sessions, "member:coach@noordwest.demo").await;
        let current = post(
            demo,
            &coach,
            Some("support"),
            "query($id: ID!) { plan(id: $id) { version sections { category revision } } }",
            &json!({ "id": plan }),
        )
        .await;
        let version = current["data"]["plan"]["version"]
            .as_i64()
            .unwrap_or_else(|| panic!("API.md:{line}: {current}"));
        set_number(&mut document, &mut variables, "expectedVersion", version);
        if let Some(category) = string_arg(&document, &variables, "category") {
            let revision = current["data"]["plan"]["sections"]
                .as_array()
                .unwrap()
                .iter()
                .find(|section| section["category"] == category.as_str())
                .map_or(0, |section| section["revision"].as_i64().unwrap());
            set_number(&mut document, &mut variables, "expectedRevision", revision);
        }
    }

    let fields = root_fields(line, &document);
    let credential = &sessions[caller];
    let answer = post(demo, credential, purpose.as_deref(), &document, &variables).await;
    match expect {
        None => assert!(
            answer.get("errors").is_none(),
            "API.md:{line}: {caller} got errors: {answer}"
        ),
        Some(code) => {
            let codes: Vec<&str> = answer["errors"]
                .as_array()
                .unwrap_or_else(|| panic!("API.md:{line}: expected {code}: {answer}"))
                .iter()
                .map(|error| error["extensions"]["code"].as_str().unwrap_or("-"))
                .collect();
            assert!(
                !codes.is_empty() && codes.iter().all(|got| got == code),
                "API.md:{line}: expected {code}: {answer}"
            );
        }
    }
    for field in &fields {
        assert!(
            answer["data"].get(field).is_some(),
            "API.md:{line}: no `{field}` in data: {answer}"
        );
    }
    (fields[0].clone(), answer)
}

async fn credential_of(
    demo: &Demo,
    sessions: &mut BTreeMap<String, (String, String)>,
    caller: &str,
) -> (String, String) {
    if !sessions.contains_key(caller) {
        let credential = credential(demo, caller).await;
        sessions.insert(caller.to_owned(), credential);
    }
    sessions[caller].clone()
}

/// Runs a `curl` block of API.md with `sh`, against the demo hub, with the caller's client id and
/// secret in `$CLIENT_ID` / `$CLIENT_SECRET` and a token in `$TOKEN`.
async fn run_curl(demo: &Demo, example: &Example, ids: &BTreeMap<String, String>) -> Value {
    let line = example.line;
    let Marker::Run { caller, .. } = &example.marker else {
        unreachable!("skipped examples are not run")
    };
    let client = demo.credentials["clients"]
        .as_array()
        .unwrap()
        .iter()
        .find(|client| client["client_id"] == caller.as_str())
        .unwrap_or_else(|| panic!("API.md:{line}: no demo client {caller}"));
    let token = demo.token(caller).await;
    let script = substitute(line, &example.body, ids).replace("https://hub.example", &demo.base);
    // Blocking is fine: the hub is a child process, not a task of this runtime.
    let output = std::process::Command::new("sh")
        .arg("-c")
        .arg(&script)
        .env("CLIENT_ID", caller)
        .env("CLIENT_SECRET", client["client_secret"].as_str().unwrap())
        .env("TOKEN", token)
        .output()
        .unwrap();
    assert!(output.status.success(), "API.md:{line}: {output:?}");
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|error| panic!("API.md:{line}: {error}: {output:?}"))
}

/// The codes of `ApiError::code` in `crates/api/src/error.rs`.
fn api_error_codes() -> Vec<String> {
    let source = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/crates/api/src/error.rs"
    ))
    .unwrap();
    let start = source
        .find("pub fn code(&self)")
        .expect("ApiError::code in error.rs");
    let body = &source[start..];
    let body = &body[..body.find("\n    }\n").expect("the end of ApiError::code")];
    let mut codes: Vec<String> = body
        .split('"')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect();
    codes.sort();
    codes.dedup();
    codes
}

/// The codes of the table under `## Errors` in API.md.
fn documented_error_codes(markdown: &str) -> Vec<String> {
    let section = markdown
        .split("\n## Errors\n")
        .nth(1)
        .expect("API.md has an Errors section");
    let section = section.split("\n## ").next().unwrap();
    let mut codes: Vec<String> = section
        .lines()
        .filter_map(|line| line.strip_prefix("| `"))
        .filter_map(|rest| rest.split_once('`'))
        .map(|(code, _)| code.to_owned())
        .collect();
    codes.sort();
    codes
}

/// The codes the server crate answers itself, outside GraphQL (a bad token, the edge's refusals):
/// every `"code": "…"` in a JSON body and every code given to `edge::refusal(status, code, …)`.
fn server_error_codes() -> Vec<String> {
    fn walk(dir: &std::path::Path, codes: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, codes);
            } else if path.extension().is_some_and(|ext| ext == "rs") {
                let source = std::fs::read_to_string(&path).unwrap();
                let in_json = source.split("\"code\": \"").skip(1);
                let refused = source
                    .split("refusal(")
                    .skip(1)
                    .filter_map(|call| call.split_once('"').map(|(_, code)| code));
                for code in in_json.chain(refused) {
                    let code = &code[..code.find('"').unwrap()];
                    if code.chars().all(|c| c.is_ascii_uppercase() || c == '_') {
                        codes.push(code.to_owned());
                    }
                }
            }
        }
    }
    let mut codes = Vec::new();
    walk(
        std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/crates/server/src")),
        &mut codes,
    );
    codes
}

#[test]
fn the_error_table_lists_every_code_the_hub_gives() {
    let markdown =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/API.md")).unwrap();
    let api = api_error_codes();
    assert!(api.len() >= 8, "{api:?}");
    let server = server_error_codes();
    assert!(
        server.iter().any(|code| code == "INVALID_TOKEN"),
        "{server:?}"
    );
    let mut codes: Vec<String> = api.into_iter().chain(server).collect();
    codes.sort();
    codes.dedup();
    assert_eq!(documented_error_codes(&markdown), codes);
}

#[test]
fn the_example_parser_finds_root_fields_and_markers() {
    let fields = root_fields(
        1,
        "mutation {\n  a: writeSection(input: { planId: \"x\", # c { d\n b: 1 }) { section { id } }\n  me @include(if: true) { id }\n}",
    );
    assert_eq!(fields, ["a", "me"]);
    let markdown = "## Connecting\n\n<!-- example: caller=member:a@b purpose=none expect=FORBIDDEN -->\n```graphql\n{ me { id } }\n```\n\n```json\n{ \"a\": 1 }\n```\n\n```graphql-fragment\nx\n```\n";
    let (graphql, curls, fragments) = examples(markdown);
    assert_eq!((graphql.len(), curls.len(), fragments), (1, 0, 1));
    assert_eq!(graphql[0].variables.as_deref(), Some("{ \"a\": 1 }\n"));
    assert!(matches!(
        &graphql[0].marker,
        Marker::Run { caller, purpose: None, expect: Some(code) }
            if caller == "member:a@b" && code == "FORBIDDEN"
    ));
    let ids = BTreeMap::from([("<plan-id>".to_owned(), "p1".to_owned())]);
    assert_eq!(
        substitute(1, "{\"id\": \"<plan-id>\"}", &ids),
        "{\"id\": \"p1\"}"
    );
}

#[tokio::test]
async fn every_example_in_the_api_guide_runs() {
    let markdown =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/API.md")).unwrap();
    let (graphql, curls, fragments) = examples(&markdown);

    let db = TestDb::new().await;
    let mut cli = wijkhub();
    cli.database(&db).env("WIJKHUB_HTTP__PORT", "0");
    let (hub, demo) = Demo::start(&cli);
    let conn = Database::connect(db.url()).await.unwrap();
    let mut ids = demo_ids(&conn).await;

    // Ingrid's plan closed thirty years ago: every retention period has passed.
    let erasable = uuid::Uuid::parse_str(&ids["<erasable-resident-id>"]).unwrap();
    plans::Entity::update_many()
        .col_expr(plans::Column::Status, Expr::value("closed"))
        .col_expr(
            plans::Column::UpdatedAt,
            Expr::value(Utc::now() - Months::new(30 * 12)),
        )
        .filter(plans::Column::ResidentId.eq(erasable))
        .exec(&conn)
        .await
        .unwrap();

    // The curl of "Connecting", as written.
    let mut n_curls = 0;
    for example in &curls {
        let answer = run_curl(&demo, example, &ids).await;
        if example.body.contains("/oauth/token") {
            assert_eq!(answer["token_type"], "Bearer", "{answer}");
            assert!(answer["access_token"].is_string(), "{answer}");
        } else {
            assert!(
                answer.get("errors").is_none(),
                "API.md:{}: {answer}",
                example.line
            );
            assert!(
                answer["data"].is_object(),
                "API.md:{}: {answer}",
                example.line
            );
        }
        n_curls += 1;
    }
    assert_eq!(n_curls, 2, "the token and the first query");

    let mut order: Vec<(usize, &Example)> = graphql
        .iter()
        .filter(|example| matches!(example.marker, Marker::Run { .. }))
        .map(|example| {
            let root = root_fields(example.line, &example.body).remove(0);
            let rank = WRITE_ORDER
                .iter()
                .position(|write| *write == root)
                .map_or(0, |position| position + 1);
            (rank, example)
        })
        .collect();
    order.sort_by_key(|(rank, _)| *rank);

    let mut sessions = BTreeMap::new();
    let mut ran = Vec::new();
    for (_, example) in order {
        let (root, answer) = run(&demo, example, &ids, &mut sessions).await;
        for (field, pointer, placeholder) in CAPTURES {
            if *field == root {
                let id = answer["data"][&root]
                    .pointer(pointer)
                    .and_then(Value::as_str)
                    .unwrap_or_else(|| panic!("API.md:{}: no id: {answer}", example.line));
                ids.insert((*placeholder).to_owned(), id.to_owned());
            }
        }
        ran.push(root);
    }

    let skipped = graphql.len() - ran.len();
    eprintln!(
        "API.md: {} examples run ({ran:?}), {skipped} marked skip, {fragments} fragments, {n_curls} curl",
        ran.len()
    );
    // Every query and mutation the guide shows with an example, at least.
    for root in WRITE_ORDER
        .iter()
        .chain(&["plan", "plans", "me", "resident", "residents"])
    {
        assert!(
            ran.iter().any(|field| field == root),
            "no example of {root} ran"
        );
    }
    drop(hub);
}
