//! Cost of the operations on a plan read: encrypting and decrypting a 1 KiB section, and getting a
//! resident's data key with and without the cache. Figures go into `docs/CRYPTO.md`.

// A benchmark that cannot set up must stop loudly.
#![allow(clippy::expect_used)]

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use crypto::{
    Column, DekCache, DekCacheConfig, KeyRing, Place, decrypt_field, encrypt_field,
    generate_key_text, key_ring_from_text,
};
use domain::{ResidentId, SectionId};
use secrecy::ExposeSecret;

const SECTION_CONTENT: Column = Column::new("sections", "content");

fn key_ring() -> KeyRing {
    let text = generate_key_text().expect("random source works");
    key_ring_from_text(text.expose_secret()).expect("generated keys load")
}

fn benches(c: &mut Criterion) {
    let ring = key_ring();
    let resident = ResidentId::new();
    let (dek, wrapped) = ring.new_dek(resident).expect("new data key");
    let place = Place::new(SECTION_CONTENT, SectionId::new(), resident).with_revision(3);
    let section = vec![b'x'; 1024];
    let ciphertext = encrypt_field(&dek, &place, &section).expect("encrypts");

    c.bench_function("encrypt_field 1 KiB", |b| {
        b.iter(|| encrypt_field(&dek, &place, black_box(&section)).expect("encrypts"))
    });
    c.bench_function("decrypt_field 1 KiB", |b| {
        b.iter(|| decrypt_field(&dek, &place, black_box(&ciphertext)).expect("decrypts"))
    });
    c.bench_function("unwrap_dek without cache", |b| {
        b.iter(|| {
            ring.unwrap_dek(black_box(&wrapped), resident)
                .expect("unwraps")
        })
    });
    let cache = DekCache::new(DekCacheConfig::default());
    c.bench_function("unwrap_dek through cache (hit)", |b| {
        b.iter(|| {
            cache
                .unwrap(&ring, black_box(&wrapped), resident)
                .expect("unwraps")
        })
    });
    // Reference: ring alone with a key schedule built once, as PERFORMANCE.md measured it. The
    // difference to `decrypt_field` is our per-call key schedule, associated data and buffer.
    let ring_key = ring::aead::LessSafeKey::new(
        ring::aead::UnboundKey::new(&ring::aead::AES_256_GCM, &[7; 32]).expect("32-byte key"),
    );
    let mut sealed = section.clone();
    ring_key
        .seal_in_place_append_tag(
            ring::aead::Nonce::assume_unique_for_key([1; 12]),
            ring::aead::Aad::empty(),
            &mut sealed,
        )
        .expect("seals");
    c.bench_function("reference: ring open 1 KiB, prebuilt key", |b| {
        b.iter(|| {
            let mut buffer = black_box(&sealed).clone();
            ring_key
                .open_in_place(
                    ring::aead::Nonce::assume_unique_for_key([1; 12]),
                    ring::aead::Aad::empty(),
                    &mut buffer,
                )
                .expect("opens")
                .len()
        })
    });
    c.bench_function("reference: AES-256-GCM key schedule", |b| {
        b.iter(|| {
            ring::aead::UnboundKey::new(&ring::aead::AES_256_GCM, black_box(&[7; 32]))
                .expect("32-byte key")
        })
    });
    c.bench_function("blind_index", |b| {
        let bsn = domain::Bsn::parse("123456782").expect("valid BSN");
        b.iter(|| ring.blind_index(black_box(&bsn)))
    });
}

criterion_group!(crypto_benches, benches);
criterion_main!(crypto_benches);
