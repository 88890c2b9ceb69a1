//! Inclusion and consistency proofs from the database: printed, parsed back, verified with the
//! public key alone, and refused when anything in them is changed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use audit::{ConsistencyProof, InclusionProof, ProofError, WriterConfig};
use common::*;
use proptest::prelude::*;

async fn logged(db: &TestDb, n: u64) -> audit::ChainId {
    let config = WriterConfig {
        checkpoint_every_entries: 7,
        ..fast_config(db)
    };
    let writer = audit::start(db.db.clone(), config, test_key())
        .await
        .unwrap();
    let log = writer.log();
    for i in 0..n {
        log.submit(sample_entry(i)).await.unwrap();
    }
    let chain = log.chain();
    writer.shutdown().await.unwrap();
    chain
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proofs_round_trip_through_text_and_verify() {
    for db in databases().await {
        let chain = logged(&db, 30).await;
        let key = test_verifier();
        for seq in [0, 1, 6, 7, 13, 29] {
            let proof = audit::prove_inclusion(&db.db, chain, seq).await.unwrap();
            assert_eq!(proof.tree_size, 30, "the latest covering checkpoint");
            let parsed = InclusionProof::parse(&proof.to_string()).unwrap();
            assert_eq!(parsed, proof);
            parsed.verify(&key).unwrap();
        }
        for (old, new) in [(7, 14), (7, 30), (14, 28), (21, 30), (28, 30)] {
            let proof = audit::prove_consistency(&db.db, chain, old, new)
                .await
                .unwrap();
            let parsed = ConsistencyProof::parse(&proof.to_string()).unwrap();
            assert_eq!(parsed, proof);
            parsed.verify(&key).unwrap();
        }
        assert!(matches!(
            audit::prove_inclusion(&db.db, chain, 30).await,
            Err(audit::AuditError::NotFound)
        ));
        assert!(matches!(
            audit::prove_consistency(&db.db, chain, 8, 30).await,
            Err(audit::AuditError::NotFound)
        ));
    }
}

fn tampered_inclusion(proof: &InclusionProof, what: u8, byte: usize) -> InclusionProof {
    let mut bad = proof.clone();
    match what % 4 {
        0 => {
            let i = byte % bad.leaf.len();
            bad.leaf[i] ^= 1;
        }
        1 => {
            let i = byte % bad.path.len();
            bad.path[i][byte % 32] ^= 1;
        }
        2 => bad.seq = (bad.seq + 1 + byte as u64 % 5) % bad.tree_size,
        _ => bad.checkpoint = bad.checkpoint.replacen("\n30\n", "\n31\n", 1),
    }
    bad
}

#[test]
fn any_change_to_a_proof_is_refused() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (inclusion, consistency) = runtime.block_on(async {
        let db = sqlite().await;
        let chain = logged(&db, 30).await;
        let inclusion: Vec<InclusionProof> = {
            let mut all = Vec::new();
            for seq in 0..30 {
                all.push(audit::prove_inclusion(&db.db, chain, seq).await.unwrap());
            }
            all
        };
        (
            inclusion,
            audit::prove_consistency(&db.db, chain, 7, 30)
                .await
                .unwrap(),
        )
    });
    let key = test_verifier();
    proptest!(|(seq in 0usize..30, what in any::<u8>(), byte in any::<usize>())| {
        let bad = tampered_inclusion(&inclusion[seq], what, byte);
        prop_assume!(bad != inclusion[seq]);
        prop_assert!(bad.verify(&key).is_err());
    });
    proptest!(|(i in any::<usize>(), byte in 0usize..32)| {
        let mut bad = consistency.clone();
        let idx = i % bad.path.len();
        bad.path[idx][byte] ^= 1;
        prop_assert_eq!(bad.verify(&key), Err(ProofError::PathMismatch));
    });
    let mut swapped = consistency.clone();
    std::mem::swap(&mut swapped.old_checkpoint, &mut swapped.new_checkpoint);
    assert_eq!(swapped.verify(&key), Err(ProofError::WrongCheckpoint));
    let other_key =
        audit::SigningKey::from_pkcs8(TEST_KEY_NAME, &audit::generate_signing_key().unwrap())
            .unwrap();
    assert!(inclusion[3].verify(&other_key.verifier_key()).is_err());
}
