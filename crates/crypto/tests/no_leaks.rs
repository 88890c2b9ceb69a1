//! No key material, plaintext or BSN in logs, errors or `Debug` output; and the byte format as written
//! in `docs/CRYPTO.md`, checked by opening stored bytes with ring directly, not through this crate.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::sync::{Arc, Mutex};

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use crypto::{
    Column, DekCache, DekCacheConfig, FileKeyProvider, KeyProvider, Place, add_kek_version,
    decrypt_field, decrypt_string, encrypt_str, generate_key_file, key_file_status,
};
use domain::{Bsn, ResidentId, SectionId};
use ring::aead;
use secrecy::ExposeSecret;
use tracing_subscriber::fmt::format::FmtSpan;

const SECTION_CONTENT: Column = Column::new("sections", "content");
const RESIDENT_BSN: Column = Column::new("residents", "bsn");
const STORY: &str = "Mijn verhaal: schulden sinds de scheiding";
const BSN: &str = "123456782";

#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Every way 32 key bytes could be printed, and every 8-byte window of them in hex.
fn renderings(key: &[u8]) -> Vec<String> {
    let mut all = vec![
        hex::encode(key),
        hex::encode_upper(key),
        STANDARD.encode(key),
        STANDARD_NO_PAD.encode(key),
        URL_SAFE.encode(key),
        URL_SAFE_NO_PAD.encode(key),
        format!("{key:?}"),
    ];
    for window in key.windows(8) {
        all.push(hex::encode(window));
        all.push(format!("{window:?}").trim_matches(['[', ']']).to_owned());
    }
    all
}

/// What of `secrets`, the story and the BSN shows in `text`.
fn leaks(text: &str, secrets: &[(String, Vec<u8>)]) -> Vec<String> {
    let mut found = Vec::new();
    for (name, key) in secrets {
        for rendering in renderings(key) {
            if text.contains(&rendering) {
                found.push(format!("{name} as {rendering:?}"));
            }
        }
    }
    for (name, plaintext) in [("the story", STORY), ("the BSN", BSN)] {
        if text.contains(plaintext) {
            found.push(name.to_owned());
        }
    }
    found
}

#[track_caller]
fn check(what: &str, text: &str, secrets: &[(String, Vec<u8>)]) {
    assert_eq!(leaks(text, secrets), Vec::<String>::new(), "{what} leaks");
}

/// Opens a wrapped DEK with ring alone, following the layout and associated data in CRYPTO.md.
fn open_wrapped_by_the_book(kek: &[u8], wrapped: &[u8], resident: ResidentId) -> Vec<u8> {
    assert_eq!(wrapped.len(), 69);
    assert_eq!(wrapped[0], 1, "format version");
    let kek_version = u32::from_be_bytes(wrapped[1..5].try_into().unwrap());
    let mut aad = Vec::new();
    aad.extend_from_slice(&11u32.to_be_bytes());
    aad.extend_from_slice(b"wijkhub/dek");
    aad.push(1);
    aad.extend_from_slice(&kek_version.to_be_bytes());
    aad.extend_from_slice(resident.as_uuid().as_bytes());
    let key = aead::LessSafeKey::new(aead::UnboundKey::new(&aead::AES_256_GCM, kek).unwrap());
    let nonce = aead::Nonce::try_assume_unique_for_key(&wrapped[5..17]).unwrap();
    let mut sealed = wrapped[17..].to_vec();
    let plaintext = key
        .open_in_place(nonce, aead::Aad::from(&aad), &mut sealed)
        .unwrap();
    assert_eq!(&plaintext[..4], &1u32.to_be_bytes(), "DEK generation 1");
    plaintext[4..].to_vec()
}

/// Opens a field with ring alone, following CRYPTO.md.
fn open_field_by_the_book(dek: &[u8], ciphertext: &[u8], place: &Place) -> Vec<u8> {
    let prefixed = |out: &mut Vec<u8>, value: &[u8]| {
        out.extend_from_slice(&u32::try_from(value.len()).unwrap().to_be_bytes());
        out.extend_from_slice(value);
    };
    let mut aad = Vec::new();
    prefixed(&mut aad, b"wijkhub/field");
    aad.push(ciphertext[0]);
    aad.extend_from_slice(&ciphertext[1..5]);
    prefixed(&mut aad, place.column().table().as_bytes());
    prefixed(&mut aad, place.column().name().as_bytes());
    aad.extend_from_slice(place.row().as_bytes());
    aad.push(u8::from(place.revision().is_some()));
    aad.extend_from_slice(&place.revision().unwrap_or(0).to_be_bytes());
    aad.extend_from_slice(place.resident().as_uuid().as_bytes());
    let key = aead::LessSafeKey::new(aead::UnboundKey::new(&aead::AES_256_GCM, dek).unwrap());
    let nonce = aead::Nonce::try_assume_unique_for_key(&ciphertext[5..17]).unwrap();
    let mut sealed = ciphertext[17..].to_vec();
    key.open_in_place(nonce, aead::Aad::from(&aad), &mut sealed)
        .unwrap()
        .to_vec()
}

fn keys_in_file(path: &std::path::Path) -> Vec<(String, Vec<u8>)> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split(' ').collect();
            match fields.as_slice() {
                [kind @ ("kek" | "index"), version, key] if *key != "retired" => {
                    Some((format!("{kind} {version}"), STANDARD.decode(key).unwrap()))
                }
                _ => None,
            }
        })
        .collect()
}

#[test]
fn trace_logs_debug_and_errors_hold_no_secrets() {
    let buffer = Buffer::default();
    let writer = buffer.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_span_events(FmtSpan::FULL)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keys");
    let resident = ResidentId::new();
    let place = Place::new(SECTION_CONTENT, SectionId::new(), resident).with_revision(1);
    let bsn_place = Place::new(RESIDENT_BSN, resident, resident);
    let mut debug_and_errors = String::new();

    let (wrapped, story_ciphertext, bsn_ciphertext) =
        tracing::subscriber::with_default(subscriber, || {
            generate_key_file(&path).unwrap();
            let ring = FileKeyProvider::new(&path).load().unwrap();
            let (dek, wrapped) = ring.new_dek(resident).unwrap();
            let story_ciphertext = encrypt_str(&dek, &place, STORY).unwrap();
            let bsn_ciphertext = encrypt_str(&dek, &bsn_place, BSN).unwrap();
            let cache = DekCache::new(DekCacheConfig::default());
            let cached = cache.unwrap(&ring, &wrapped, resident).unwrap();
            let cached_again = cache.unwrap(&ring, &wrapped, resident).unwrap();
            assert!(
                Arc::ptr_eq(&cached, &cached_again),
                "second read hits the cache"
            );
            let story = decrypt_string(&cached, &place, &story_ciphertext).unwrap();
            assert_eq!(story.expose_secret(), STORY);
            let bsn = Bsn::parse(BSN).unwrap();
            let index = ring.blind_index(&bsn);
            let decrypted_bsn = decrypt_field(&dek, &bsn_place, &bsn_ciphertext).unwrap();
            assert!(crypto::bsn_matches(&decrypted_bsn, &bsn));

            add_kek_version(&path).unwrap();
            let rotated = FileKeyProvider::new(&path).load().unwrap();
            let rewrapped = rotated.rewrap(&wrapped, resident).unwrap();
            let unwrapped = rotated.unwrap_dek(&rewrapped, resident).unwrap();
            let status = key_file_status(&path).unwrap();

            // Failures, logged and formatted as a store would.
            let wrong_place = Place::new(SECTION_CONTENT, SectionId::new(), resident);
            let mut tampered = story_ciphertext.clone();
            tampered[20] ^= 1;
            let errors = [
                decrypt_field(&dek, &wrong_place, &story_ciphertext).unwrap_err(),
                decrypt_field(&dek, &place, &tampered).unwrap_err(),
                ring.unwrap_dek(&rewrapped, resident).unwrap_err(),
                rotated.unwrap_dek(&wrapped, ResidentId::new()).unwrap_err(),
            ];
            for err in &errors {
                tracing::error!(error = %err, debug = ?err, "decryption failed");
                debug_and_errors.push_str(&format!("{err}\n{err:?}\n"));
            }
            let provider = FileKeyProvider::new(&path);
            for debug in [
                format!("{dek:?}"),
                format!("{cached:?}"),
                format!("{unwrapped:?}"),
                format!("{ring:?}"),
                format!("{rotated:?}"),
                format!("{cache:?}"),
                format!("{status:?}"),
                format!("{index:?}"),
                format!("{provider:?}"),
                format!("{story:?}"),
                format!("{place:?}"),
            ] {
                debug_and_errors.push_str(&debug);
                debug_and_errors.push('\n');
            }
            (wrapped, story_ciphertext, bsn_ciphertext)
        });

    // The keys as the file holds them, and the DEK as recovered by following the documented format.
    let mut secrets = keys_in_file(&path);
    assert_eq!(secrets.len(), 3, "kek 1, kek 2, index 1");
    let kek_1 = secrets
        .iter()
        .find(|(name, _)| name == "kek 1")
        .unwrap()
        .1
        .clone();
    let dek = open_wrapped_by_the_book(&kek_1, &wrapped, resident);
    assert_eq!(
        open_field_by_the_book(&dek, &story_ciphertext, &place),
        STORY.as_bytes()
    );
    assert_eq!(
        open_field_by_the_book(&dek, &bsn_ciphertext, &bsn_place),
        BSN.as_bytes()
    );
    secrets.push(("DEK".to_owned(), dek));

    let log = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
    for expected in [
        "data key generated",
        "data key wrapped",
        "data key unwrapped",
        "field encrypted",
        "field decrypted",
        "data key rewrapped",
        "decryption failed",
        "key version added",
    ] {
        assert!(
            log.contains(expected),
            "the trace log has {expected:?}; it was:\n{log}"
        );
    }
    // The scan itself finds what it looks for (a control, so a broken scan cannot pass silently).
    for (_, key) in &secrets {
        assert!(!leaks(&format!("x{}x", STANDARD_NO_PAD.encode(key)), &secrets).is_empty());
        assert!(!leaks(&hex::encode(&key[3..11]), &secrets).is_empty());
    }
    check("the trace log", &log, &secrets);
    check("Debug and error output", &debug_and_errors, &secrets);
    assert!(debug_and_errors.contains("Dek(generation 1, ***)"));
}
