//! The test vectors published in `docs/AUDIT.md`: fixed entries, their canonical encodings and
//! leaf hashes, the tree root, and a checkpoint signed with the published test key. If this
//! test changes, the encoding changed: that needs a new encoding version, not new vectors.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeSet;

use audit::{Actor, AuditAction, ChainId, Checkpoint, Code, NewEntry, OnBehalfOf, Outcome};
use chrono::{TimeZone, Utc};
use common::*;
use domain::{Category, ClientId, MemberId, OrganisationId, PlanId, Purpose, ResidentId, Role};
use uuid::Uuid;

fn chain() -> ChainId {
    ChainId::from_uuid(Uuid::parse_str("0192f3a0-0000-7000-8000-000000000001").unwrap())
}

fn vector_entries() -> Vec<NewEntry> {
    let time = |us: i64| Utc.timestamp_micros(us).unwrap();
    let org =
        OrganisationId::from_uuid(Uuid::parse_str("0192f3a0-0000-7000-8000-00000000000a").unwrap());
    let resident =
        ResidentId::from_uuid(Uuid::parse_str("0192f3a0-0000-7000-8000-0000000000b1").unwrap());

    let mut login = NewEntry::new(
        AuditAction::Login,
        Actor::Member(MemberId::from_uuid(
            Uuid::parse_str("0192f3a0-0000-7000-8000-0000000000c1").unwrap(),
        )),
        Outcome::Permit,
    );
    login.time = time(1_795_000_000_000_001);
    login.organisation = Some(org);
    login.role = Some(Role::Coach);
    login.checks = vec![
        Code::parse("password").unwrap(),
        Code::parse("totp").unwrap(),
    ];
    login.request_id = Some(Code::parse("req-1").unwrap());
    login.source_address = Some("192.0.2.10".parse().unwrap());

    let client =
        ClientId::from_uuid(Uuid::parse_str("0192f3a0-0000-7000-8000-0000000000d1").unwrap());
    let mut read = NewEntry::new(
        AuditAction::ResidentRead,
        Actor::Client(client),
        Outcome::Permit,
    );
    read.time = time(1_795_000_000_123_456);
    read.on_behalf_of =
        Some(OnBehalfOf::new(Code::parse("emp-42").unwrap(), "J. de Vries").unwrap());
    read.organisation = Some(org);
    read.role = Some(Role::ProviderWorker);
    read.resident = Some(resident);
    read.plan = Some(PlanId::from_uuid(
        Uuid::parse_str("0192f3a0-0000-7000-8000-0000000000e1").unwrap(),
    ));
    read.categories_returned =
        BTreeSet::from([Category::Goals, Category::Agreements, Category::Actions]);
    read.categories_denied = BTreeSet::from([Category::Health]);
    read.purpose = Some(Purpose::Support);
    read.basis = Some(Code::parse("consent:0192f3a0-0000-7000-8000-0000000000f1").unwrap());
    read.checks = [
        "authenticated",
        "role-matrix",
        "care-relation",
        "objection",
        "consent",
    ]
    .iter()
    .map(|c| Code::parse(c).unwrap())
    .collect();
    read.request_id = Some(Code::parse("req-2").unwrap());
    read.source_address = Some("2001:db8::1".parse().unwrap());
    read.client = Some(client);

    let mut denied = read.clone();
    denied.time = time(1_795_000_000_200_000);
    denied.outcome = Outcome::Deny;
    denied.categories_returned = BTreeSet::new();
    denied.categories_denied = BTreeSet::from([Category::Story, Category::Health]);
    denied.purpose = Some(Purpose::Triage);
    denied.basis = None;
    denied.reason = Some(Code::parse("purpose-not-covered").unwrap());
    denied.request_id = Some(Code::parse("req-3").unwrap());
    vec![login, read, denied]
}

#[test]
fn published_vectors() {
    let entries = vector_entries();
    let leaves: Vec<Vec<u8>> = entries
        .iter()
        .enumerate()
        .map(|(seq, e)| audit::encode_entry(chain(), seq as u64, e))
        .collect();
    let hashes: Vec<[u8; 32]> = leaves
        .iter()
        .map(|leaf| audit::merkle::leaf_hash(leaf))
        .collect();
    let root = audit::merkle::root_of(&hashes);
    // Independently: MTH of 3 leaves = H(0x01 || H(0x01 || h0 || h1) || h2).
    assert_eq!(
        root,
        audit::merkle::node_hash(
            &audit::merkle::node_hash(&hashes[0], &hashes[1]),
            &hashes[2]
        )
    );
    let key = test_key();
    let note = key.sign(&Checkpoint {
        origin: Checkpoint::origin_for(TEST_KEY_NAME, chain()),
        tree_size: 3,
        root,
    });
    if std::env::var_os("PRINT_VECTORS").is_some() {
        for (seq, (leaf, hash)) in leaves.iter().zip(&hashes).enumerate() {
            println!(
                "leaf {seq}: {}\nleaf hash {seq}: {}",
                hex::encode(leaf),
                hex::encode(hash)
            );
        }
        println!(
            "root: {}\nverifier key: {}\nnote:\n{note}",
            hex::encode(root),
            key.verifier_key()
        );
    }
    assert_eq!(hex::encode(&leaves[0]), LEAF_0);
    assert_eq!(hex::encode(hashes[0]), LEAF_HASH_0);
    assert_eq!(hex::encode(hashes[1]), LEAF_HASH_1);
    assert_eq!(hex::encode(hashes[2]), LEAF_HASH_2);
    assert_eq!(hex::encode(root), ROOT);
    assert_eq!(key.verifier_key().to_string(), VERIFIER_KEY);
    assert_eq!(note, NOTE);
    let verifier = audit::VerifierKey::parse(VERIFIER_KEY).unwrap();
    assert_eq!(verifier.verify_note(NOTE).unwrap().root, root);
}

const LEAF_0: &str = "010192f3a000007000800000000000000100000000000000000006608b015f30010000000a617574682e6c6f67696e000000066d656d626572010192f3a00000700080000000000000c100010192f3a000007000800000000000000a0100000005636f6163680000000000000000000000000000000000067065726d697400000000020000000870617373776f726400000004746f747001000000057265712d31010000000a3139322e302e322e313000";
const LEAF_HASH_0: &str = "fcd3617491493b894cdc0271ac973403ec94e9e2f95d9cca6fc7dc5df59267c0";
const LEAF_HASH_1: &str = "f1020263a54619c6400dcb4c7e4ff8f9255d1972505767ecac909bc76ed36d97";
const LEAF_HASH_2: &str = "0bd9efbea3632c6fba01b95df81d4e6316fc83d3b8af77efe4d4e12fa8c9d00a";
const ROOT: &str = "b6e07cf006ac1ca7d9715999e4d4f61164c0282a5a00704821fdc3963ae980d5";
const VERIFIER_KEY: &str =
    "wijkhub.test/audit+f9448a33+AQOhB7/zzhC+HXDdGOdLwJln5NYwm6UNXx3chmQSVTG4";
const NOTE: &str = "wijkhub.test/audit/0192f3a0-0000-7000-8000-000000000001
3
tuB88AasHKfZcVmZ5NT2EWTAKCpaAHBIIf3DljrpgNU=

\u{2014} wijkhub.test/audit +USKM8Hff91f+F4pp1PTFlbb6Nx0t3iQS0Y6oOX6He/DNt4+phYn5lgRFvc41fJ+0PEEQcJNNOGDA23e2yYhDSKnSQY=
";
