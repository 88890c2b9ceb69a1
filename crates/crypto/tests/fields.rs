//! Field encryption and data-key wrapping through the public API: round trips, tampering, truncation,
//! versions, and ciphertexts moved between rows, columns and residents.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crypto::{
    Column, CryptoError, Dek, KeyRing, MIN_CIPHERTEXT_LEN, Place, WRAPPED_DEK_LEN, decrypt_field,
    decrypt_string, encrypt_field, encrypt_str, generate_key_text, key_ring_from_text,
};
use domain::{PlanId, ResidentId, SectionId};
use proptest::prelude::*;
use secrecy::ExposeSecret;

const RESIDENT_NAME: Column = Column::new("residents", "name");
const RESIDENT_BSN: Column = Column::new("residents", "bsn");
const SECTION_CONTENT: Column = Column::new("sections", "content");
const PLAN_NOTE: Column = Column::new("plans", "content");

fn key_ring() -> KeyRing {
    key_ring_from_text(generate_key_text().unwrap().expose_secret()).unwrap()
}

/// What a failed decryption must say: the variant name only, never content.
fn outcome(result: Result<impl AsRef<[u8]>, CryptoError>, want_plaintext: &[u8]) -> String {
    match result {
        Ok(plaintext) => {
            assert_eq!(
                plaintext.as_ref(),
                want_plaintext,
                "decrypted to other bytes"
            );
            "ok".to_owned()
        }
        Err(err) => format!("{err:?}"),
    }
}

#[track_caller]
fn check(dek: &Dek, place: &Place, ciphertext: &[u8], plaintext: &[u8], want: &str) {
    let got = outcome(
        decrypt_field(dek, place, ciphertext).map(|p| p.to_vec()),
        plaintext,
    );
    assert_eq!(got, want);
}

#[test]
fn round_trips() {
    let ring = key_ring();
    let resident = ResidentId::new();
    let (dek, _wrapped) = ring.new_dek(resident).unwrap();
    let cases: [(Place, &[u8]); 4] = [
        (
            Place::new(RESIDENT_NAME, resident, resident),
            b"Fatima el Amrani",
        ),
        (Place::new(RESIDENT_BSN, resident, resident), b"123456782"),
        (
            Place::new(SECTION_CONTENT, SectionId::new(), resident).with_revision(7),
            &[0; 4096],
        ),
        (Place::new(PLAN_NOTE, PlanId::new(), resident), b""),
    ];
    for (place, plaintext) in cases {
        let ciphertext = encrypt_field(&dek, &place, plaintext).unwrap();
        assert_eq!(ciphertext.len(), MIN_CIPHERTEXT_LEN + plaintext.len());
        check(&dek, &place, &ciphertext, plaintext, "ok");
    }
}

#[test]
fn text_round_trip_and_non_utf8() {
    let ring = key_ring();
    let resident = ResidentId::new();
    let (dek, _) = ring.new_dek(resident).unwrap();
    let place = Place::new(RESIDENT_NAME, resident, resident);
    let ciphertext = encrypt_str(&dek, &place, "Jan de Vries-Ğü").unwrap();
    assert_eq!(
        decrypt_string(&dek, &place, &ciphertext)
            .unwrap()
            .expose_secret(),
        "Jan de Vries-Ğü"
    );

    let binary = encrypt_field(&dek, &place, &[0xff, 0xfe]).unwrap();
    assert!(matches!(
        decrypt_string(&dek, &place, &binary),
        Err(CryptoError::NotUtf8)
    ));
}

#[test]
fn equal_values_give_unrelated_ciphertexts() {
    let ring = key_ring();
    let resident = ResidentId::new();
    let (dek, _) = ring.new_dek(resident).unwrap();
    let place = Place::new(RESIDENT_BSN, resident, resident);
    let first = encrypt_str(&dek, &place, "123456782").unwrap();
    let second = encrypt_str(&dek, &place, "123456782").unwrap();
    assert_ne!(first, second);
}

#[test]
fn cut_and_paste_between_places_fails() {
    let ring = key_ring();
    let resident = ResidentId::new();
    let other_resident = ResidentId::new();
    let (dek, _) = ring.new_dek(resident).unwrap();
    let (other_dek, _) = ring.new_dek(other_resident).unwrap();
    let section = SectionId::new();
    let written_at = Place::new(SECTION_CONTENT, section, resident).with_revision(2);
    let ciphertext = encrypt_str(&dek, &written_at, "het verhaal").unwrap();

    let cases = [
        ("same place", &dek, written_at, "ok"),
        (
            "other row",
            &dek,
            Place::new(SECTION_CONTENT, SectionId::new(), resident).with_revision(2),
            "Authentication",
        ),
        (
            "other revision",
            &dek,
            written_at.with_revision(1),
            "Authentication",
        ),
        (
            "no revision",
            &dek,
            Place::new(SECTION_CONTENT, section, resident),
            "Authentication",
        ),
        (
            "other column",
            &dek,
            Place::new(Column::new("sections", "summary"), section, resident).with_revision(2),
            "Authentication",
        ),
        (
            "other table",
            &dek,
            Place::new(Column::new("notes", "content"), section, resident).with_revision(2),
            "Authentication",
        ),
        // The same DEK with the resident id swapped in the place: the binding, not the key, catches it.
        (
            "other resident, same key",
            &dek,
            Place::new(SECTION_CONTENT, section, other_resident).with_revision(2),
            "Authentication",
        ),
        (
            "other resident's key",
            &other_dek,
            Place::new(SECTION_CONTENT, section, other_resident).with_revision(2),
            "Authentication",
        ),
    ];
    for (name, key, place, want) in cases {
        let got = outcome(
            decrypt_field(key, &place, &ciphertext).map(|p| p.to_vec()),
            b"het verhaal",
        );
        assert_eq!(got, want, "{name}");
    }
}

#[test]
fn malformed_field_ciphertexts() {
    let ring = key_ring();
    let resident = ResidentId::new();
    let (dek, _) = ring.new_dek(resident).unwrap();
    let place = Place::new(RESIDENT_NAME, resident, resident);
    let good = encrypt_str(&dek, &place, "Anna").unwrap();

    let mut unknown_format = good.clone();
    unknown_format[0] = 2;
    let mut other_generation = good.clone();
    other_generation[4] = 2;
    let cases: [(&str, Vec<u8>, &str); 7] = [
        ("empty", vec![], "Empty"),
        (
            "one byte",
            good[..1].to_vec(),
            "Truncated { len: 1, min: 33 }",
        ),
        (
            "header only",
            good[..17].to_vec(),
            "Truncated { len: 17, min: 33 }",
        ),
        (
            "tag cut short",
            good[..good.len() - 1].to_vec(),
            "Authentication",
        ),
        (
            "unknown format version",
            unknown_format,
            "UnknownFormatVersion(2)",
        ),
        (
            "other DEK generation",
            other_generation,
            "DekGenerationMismatch { expected: 1, found: 2 }",
        ),
        ("erased marker", vec![0], "Erased"),
    ];
    for (name, bytes, want) in cases {
        let got = outcome(
            decrypt_field(&dek, &place, &bytes).map(|p| p.to_vec()),
            b"Anna",
        );
        assert_eq!(got, want, "{name}");
    }
}

#[track_caller]
fn check_unwrap(name: &str, ring: &KeyRing, wrapped: &[u8], resident: ResidentId, want: &str) {
    let got = match ring.unwrap_dek(wrapped, resident) {
        Ok(dek) => format!("ok generation {}", dek.generation()),
        Err(err) => format!("{err:?}"),
    };
    assert_eq!(got, want, "{name}");
}

#[test]
fn wrapped_dek_errors() {
    let ring = key_ring();
    let resident = ResidentId::new();
    let (_, wrapped) = ring.new_dek(resident).unwrap();
    assert_eq!(wrapped.len(), WRAPPED_DEK_LEN);
    let mut unknown_kek = wrapped.clone();
    unknown_kek[4] = 9;
    let mut longer = wrapped.clone();
    longer.push(0);

    let cases: [(&str, Vec<u8>, ResidentId, &str); 8] = [
        ("round trip", wrapped.clone(), resident, "ok generation 1"),
        (
            "other resident",
            wrapped.clone(),
            ResidentId::new(),
            "Authentication",
        ),
        ("empty", vec![], resident, "Empty"),
        (
            "truncated",
            wrapped[..20].to_vec(),
            resident,
            "Truncated { len: 20, min: 33 }",
        ),
        (
            "short by one",
            wrapped[..WRAPPED_DEK_LEN - 1].to_vec(),
            resident,
            "WrongLength { len: 68, expected: 69 }",
        ),
        (
            "long by one",
            longer,
            resident,
            "WrongLength { len: 70, expected: 69 }",
        ),
        (
            "unknown KEK version",
            unknown_kek,
            resident,
            "UnknownKeyVersion(9)",
        ),
        (
            "erased",
            crypto::ERASED_WRAPPED_DEK.to_vec(),
            resident,
            "Erased",
        ),
    ];
    for (name, bytes, for_resident, want) in cases {
        check_unwrap(name, &ring, &bytes, for_resident, want);
    }
}

#[test]
fn a_field_ciphertext_is_not_a_wrapped_key() {
    // Same layout, different associated-data label: each kind only opens as itself.
    let ring = key_ring();
    let resident = ResidentId::new();
    let (dek, wrapped) = ring.new_dek(resident).unwrap();
    let place = Place::new(RESIDENT_NAME, resident, resident);
    let field = encrypt_field(&dek, &place, &[7; 36]).unwrap();
    check_unwrap(
        "field as wrapped key",
        &ring,
        &field,
        resident,
        "Authentication",
    );
    check(&dek, &place, &wrapped, b"", "Authentication");
}

fn flip(bytes: &[u8], bit: usize) -> Vec<u8> {
    let mut flipped = bytes.to_vec();
    let bit = bit % (flipped.len() * 8);
    flipped[bit / 8] ^= 1 << (bit % 8);
    flipped
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn decrypt_inverts_encrypt(plaintext in proptest::collection::vec(any::<u8>(), 0..2048), revision in any::<u64>()) {
        let ring = key_ring();
        let resident = ResidentId::new();
        let (dek, wrapped) = ring.new_dek(resident).unwrap();
        let place = Place::new(SECTION_CONTENT, SectionId::new(), resident).with_revision(revision);
        let ciphertext = encrypt_field(&dek, &place, &plaintext).unwrap();
        // Decrypt with the key as unwrapped from storage, as a later read would.
        let unwrapped = ring.unwrap_dek(&wrapped, resident).unwrap();
        let decrypted = decrypt_field(&unwrapped, &place, &ciphertext).unwrap();
        prop_assert_eq!(decrypted.as_slice(), plaintext.as_slice());
    }

    #[test]
    fn any_flipped_bit_of_a_field_is_detected(plaintext in proptest::collection::vec(any::<u8>(), 0..256), bit in any::<usize>()) {
        let ring = key_ring();
        let resident = ResidentId::new();
        let (dek, _) = ring.new_dek(resident).unwrap();
        let place = Place::new(RESIDENT_NAME, resident, resident);
        let ciphertext = encrypt_field(&dek, &place, &plaintext).unwrap();
        prop_assert!(decrypt_field(&dek, &place, &flip(&ciphertext, bit)).is_err());
    }

    #[test]
    fn any_flipped_bit_of_a_wrapped_key_is_detected(bit in 0usize..WRAPPED_DEK_LEN * 8) {
        let ring = key_ring();
        let resident = ResidentId::new();
        let (_, wrapped) = ring.new_dek(resident).unwrap();
        prop_assert!(ring.unwrap_dek(&flip(&wrapped, bit), resident).is_err());
    }

    #[test]
    fn arbitrary_bytes_never_panic_and_never_open(bytes in proptest::collection::vec(any::<u8>(), 0..120)) {
        let ring = key_ring();
        let resident = ResidentId::new();
        let (dek, _) = ring.new_dek(resident).unwrap();
        let place = Place::new(RESIDENT_NAME, resident, resident);
        prop_assert!(decrypt_field(&dek, &place, &bytes).is_err());
        prop_assert!(ring.unwrap_dek(&bytes, resident).is_err());
        let _ = crypto::wrapped_kek_version(&bytes);
    }
}
