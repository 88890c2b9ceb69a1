//! What sealing costs where the store does it: a 1 KiB section revision sealed and opened through
//! `store::sealed` (place built from the row, AES-256-GCM under the resident's data key, the
//! active model or the plaintext handed back), and a resident's data key unwrapped with and
//! without the DEK cache. Figures go into `docs/CRYPTO.md` §11.

// A benchmark that cannot set up must stop loudly.
#![allow(clippy::expect_used)]

use std::hint::black_box;

use chrono::Utc;
use criterion::{Criterion, criterion_group, criterion_main};
use crypto::{DekCache, DekCacheConfig, KeyRing, generate_key_text, key_ring_from_text};
use domain::ResidentId;
use sea_orm::ActiveValue;
use secrecy::ExposeSecret;
use store::entity::section_revisions;
use store::sealed::{self, RevisionAuthor};
use uuid::Uuid;

fn key_ring() -> KeyRing {
    let text = generate_key_text().expect("random source works");
    key_ring_from_text(text.expose_secret()).expect("generated keys load")
}

fn benches(c: &mut Criterion) {
    let ring = key_ring();
    let resident = ResidentId::new();
    let (dek, wrapped) = ring.new_dek(resident).expect("new data key");
    let section = Uuid::now_v7();
    let author = RevisionAuthor {
        organisation: Uuid::now_v7(),
        member: Some(Uuid::now_v7()),
        client: None,
    };
    // 1 KiB of plan prose, as a coach writes it.
    let content: String = "Johanna woont sinds maart weer thuis. "
        .chars()
        .cycle()
        .take(1024)
        .collect();
    let now = Utc::now();

    c.bench_function("sealed::seal_revision 1 KiB", |b| {
        b.iter(|| {
            sealed::seal_revision(&dek, resident, section, 3, black_box(&content), author, now)
                .expect("seals")
        })
    });

    let active =
        sealed::seal_revision(&dek, resident, section, 3, &content, author, now).expect("seals");
    let ActiveValue::Set(ciphertext) = active.content_ciphertext else {
        panic!("a sealed revision has its ciphertext set");
    };
    let row = section_revisions::Model {
        id: Uuid::now_v7(),
        section_id: section,
        revision: 3,
        content_ciphertext: ciphertext,
        author_organisation_id: author.organisation,
        author_member_id: author.member,
        author_client_id: author.client,
        created_at: now,
    };
    c.bench_function("sealed::open_revision 1 KiB", |b| {
        b.iter(|| sealed::open_revision(&dek, resident, black_box(&row)).expect("opens"))
    });

    c.bench_function("data key unwrap, no cache", |b| {
        b.iter(|| {
            ring.unwrap_dek(black_box(&wrapped), resident)
                .expect("unwraps")
        })
    });
    let cache = DekCache::new(DekCacheConfig::default());
    c.bench_function("data key unwrap, cache hit", |b| {
        b.iter(|| {
            cache
                .unwrap(&ring, black_box(&wrapped), resident)
                .expect("unwraps")
        })
    });
    // A plan read as `plan(id)` does it for a resident already in the cache: the key, then three
    // 1 KiB sections.
    c.bench_function("plan read: cached key + 3 sections of 1 KiB", |b| {
        b.iter(|| {
            let dek = cache
                .unwrap(&ring, black_box(&wrapped), resident)
                .expect("unwraps");
            for _ in 0..3 {
                black_box(sealed::open_revision(&dek, resident, &row).expect("opens"));
            }
        })
    });
}

criterion_group!(sealing, benches);
criterion_main!(sealing);
