//! The ciphertext envelope decoder (`crypto`'s `format::Envelope::decode`) behind every stored
//! byte the hub opens: a resident's wrapped data key (`KeyRing::unwrap_dek`,
//! `wrapped_kek_version`, `needs_rewrap`, `is_erased`) and a field sealed under it
//! (`decrypt_field`, `decrypt_string`). A database row is outside bytes: whoever can write the
//! database can put anything there, and the hub must refuse it, never panic or misread it.
//!
//! Input: `wrapped data key (WRAPPED_DEK_LEN bytes) ‖ field ciphertext`, as a resident's row holds
//! them, under a fixed fuzz-only key ring (`fuzz/fixtures/keys`). The seeds are real ciphertexts
//! of the resident and places below, so both decoders are reached past authentication too.

#![no_main]

use std::sync::LazyLock;

use crypto::{Column, Dek, KeyRing, Place, WRAPPED_DEK_LEN};
use domain::ResidentId;
use libfuzzer_sys::fuzz_target;
use uuid::Uuid;

/// The resident of every seed; its row id is its own id.
const RESIDENT: Uuid = Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0001);
/// As `store::sealed` names them.
const RESIDENT_NAME: Column = Column::new("residents", "name_ciphertext");
const SECTION_CONTENT: Column = Column::new("section_revisions", "content_ciphertext");
/// The section revision of the content seed.
const SECTION: Uuid = Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0002);

static KEYS: LazyLock<KeyRing> = LazyLock::new(|| {
    crypto::key_ring_from_text(include_str!("../fixtures/keys"))
        .unwrap_or_else(|error| panic!("the fixture's key ring loads: {error}"))
});

/// A data key of the resident for when the input's wrapped key does not open, so the field
/// decoder is fuzzed whatever the first part holds.
static FALLBACK_DEK: LazyLock<Dek> = LazyLock::new(|| {
    KEYS.new_dek(ResidentId::from_uuid(RESIDENT))
        .unwrap_or_else(|error| panic!("a data key: {error}"))
        .0
});

fuzz_target!(|data: &[u8]| {
    let resident = ResidentId::from_uuid(RESIDENT);
    let (wrapped, field) = data.split_at(data.len().min(WRAPPED_DEK_LEN));

    let _ = std::hint::black_box(crypto::is_erased(data));
    let _ = std::hint::black_box(crypto::wrapped_kek_version(wrapped));
    let _ = std::hint::black_box(KEYS.needs_rewrap(wrapped));
    let unwrapped = KEYS.unwrap_dek(wrapped, resident);
    let _ = std::hint::black_box(unwrapped.as_ref().map(Dek::generation).ok());
    let dek = unwrapped.as_ref().unwrap_or(&*FALLBACK_DEK);

    let name = Place::new(RESIDENT_NAME, RESIDENT, resident);
    let content = Place::new(SECTION_CONTENT, SECTION, resident).with_revision(1);
    let _ = std::hint::black_box(crypto::decrypt_string(dek, &name, field));
    let _ = std::hint::black_box(crypto::decrypt_field(dek, &content, field));
    // The whole input as one field, for the decoder's length and version checks at every size.
    let _ = std::hint::black_box(crypto::decrypt_field(dek, &content, data));
});
