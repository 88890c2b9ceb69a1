//! `docs/POLICY.md` is the rendering of the code; this test fails when it is out of date.
//!
//! Regenerate with `UPDATE_POLICY_DOC=1 cargo test -p wijkhub-policy --test policy_doc`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

fn doc_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/POLICY.md")
}

#[test]
fn policy_doc_is_current() {
    let rendered = policy::render_policy_doc();
    let path = doc_path();
    if std::env::var_os("UPDATE_POLICY_DOC").is_some() {
        std::fs::write(&path, &rendered).unwrap();
        return;
    }
    let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        on_disk == rendered,
        "docs/POLICY.md is out of date with crates/policy. Regenerate it with:\n    \
         UPDATE_POLICY_DOC=1 cargo test -p wijkhub-policy --test policy_doc\nand commit the result."
    );
}

#[test]
fn doc_shows_the_design_matrix() {
    let rendered = policy::render_policy_doc();
    let rows = [
        "| coach | RW | RW | RW | RW | RW | RW | RW | RW |",
        "| triagist | RW | R | — | — | R | — | — | R |",
        "| welfare-worker | R | R | RW | RW | R | — | RW | — |",
        "| provider-worker | R | R | RW | RW | R | RW | — | R |",
        "| privacy-officer | — | — | — | — | — | — | — | — |",
        "| administrator | — | — | — | — | — | — | — | — |",
    ];
    for row in rows {
        assert!(rendered.contains(row), "missing matrix row {row}");
    }
}
