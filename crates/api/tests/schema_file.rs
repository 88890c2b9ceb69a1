//! `docs/schema.graphql` is the published contract with partner systems; it must be exactly the
//! schema the hub serves. After a deliberate change, regenerate it with
//! `WIJKHUB_WRITE_SCHEMA=1 cargo test -p wijkhub-api --test schema_file` and review the diff.

use std::path::Path;

#[test]
fn docs_schema_graphql_is_the_schema_the_hub_serves() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/schema.graphql");
    let current = format!(
        "# The wijkhub GraphQL schema (contract version {}). Generated from crates/api; do not edit:\n\
         # regenerate with `WIJKHUB_WRITE_SCHEMA=1 cargo test -p wijkhub-api --test schema_file`.\n\n{}",
        api::API_VERSION,
        api::schema_sdl()
    );
    if std::env::var_os("WIJKHUB_WRITE_SCHEMA").is_some() {
        std::fs::write(&path, &current).unwrap();
    }
    let published = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        published == current,
        "docs/schema.graphql is out of date; regenerate it with \
         `WIJKHUB_WRITE_SCHEMA=1 cargo test -p wijkhub-api --test schema_file` and review the diff"
    );
    for expected in [
        "apiVersion",
        "viewer",
        "plan(id: ID!): Plan!",
        "type Access",
    ] {
        assert!(
            current.contains(expected),
            "{expected} missing from the schema"
        );
    }
}
