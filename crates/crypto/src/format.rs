//! The byte layout of every ciphertext this crate writes, its strict decoder, and the associated data
//! that binds a ciphertext to its place.
//!
//! It exists so that one parser, written once and fuzzed by property tests, sees every stored byte
//! before ring does. It must never panic, index out of bounds or allocate by a length read from the
//! input, whatever it is given; and it must never decide anything from bytes that are not
//! authenticated afterwards (the header is part of the associated data).
//!
//! Layout (DESIGN §6, `docs/CRYPTO.md`):
//! ```text
//! offset  size  field
//! 0       1     format version (1); 0 marks an erased data key
//! 1       4     key version, u32 big-endian (KEK version of a wrapped DEK, DEK generation of a field)
//! 5       12    nonce, random
//! 17      n+16  AES-256-GCM ciphertext of n bytes followed by its 16-byte tag
//! ```

use ring::aead;
use ring::rand::{SecureRandom, SystemRandom};
use uuid::Uuid;
use zeroize::Zeroize;

use crate::CryptoError;
use crate::place::Place;

/// The only format this build writes and reads.
pub const FORMAT_V1: u8 = 1;
/// The first byte of an erased (crypto-shredded) wrapped data key. Never a valid format.
pub const FORMAT_ERASED: u8 = 0;

pub(crate) const NONCE_LEN: usize = aead::NONCE_LEN;
pub(crate) const TAG_LEN: usize = 16;
pub(crate) const HEADER_LEN: usize = 1 + 4 + NONCE_LEN;
/// The shortest valid ciphertext: header and tag around an empty plaintext.
pub const MIN_CIPHERTEXT_LEN: usize = HEADER_LEN + TAG_LEN;
pub(crate) const KEY_LEN: usize = 32;

/// Domain-separation labels, the first element of every associated-data string and HMAC input, so that
/// no encoding of one kind can equal an encoding of another.
const LABEL_FIELD: &str = "wijkhub/field";
const LABEL_DEK: &str = "wijkhub/dek";
pub(crate) const LABEL_BLIND_INDEX: &str = "wijkhub/bsn-index";

/// A decoded header and the sealed bytes after it. Nothing in it is trusted until the tag verifies.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Envelope<'a> {
    pub format_version: u8,
    pub key_version: u32,
    pub nonce: [u8; NONCE_LEN],
    /// Ciphertext followed by the tag; at least `TAG_LEN` bytes.
    pub sealed: &'a [u8],
}

impl<'a> Envelope<'a> {
    /// Strict decoding: each failure is its own error, checked in byte order.
    pub fn decode(bytes: &'a [u8]) -> Result<Envelope<'a>, CryptoError> {
        let Some((&format_version, rest)) = bytes.split_first() else {
            return Err(CryptoError::Empty);
        };
        if format_version == FORMAT_ERASED {
            return Err(CryptoError::Erased);
        }
        if format_version != FORMAT_V1 {
            return Err(CryptoError::UnknownFormatVersion(format_version));
        }
        if bytes.len() < MIN_CIPHERTEXT_LEN {
            return Err(CryptoError::Truncated {
                len: bytes.len(),
                min: MIN_CIPHERTEXT_LEN,
            });
        }
        let (version_bytes, rest) = rest.split_at(4);
        let (nonce_bytes, sealed) = rest.split_at(NONCE_LEN);
        let mut version = [0u8; 4];
        version.copy_from_slice(version_bytes);
        let mut nonce = [0u8; NONCE_LEN];
        nonce.copy_from_slice(nonce_bytes);
        Ok(Envelope {
            format_version,
            key_version: u32::from_be_bytes(version),
            nonce,
            sealed,
        })
    }
}

/// Reads the key version of a ciphertext without decrypting it (for rotation queries and status).
pub(crate) fn peek_key_version(bytes: &[u8]) -> Result<u32, CryptoError> {
    Envelope::decode(bytes).map(|envelope| envelope.key_version)
}

/// Appends `value` with a u32 big-endian length prefix, so concatenations stay unambiguous.
fn put_prefixed(out: &mut Vec<u8>, value: &[u8]) {
    // Table and column names are compile-time constants of the store; a length over u32::MAX
    // cannot occur, and saturating keeps this total rather than panicking.
    let len = u32::try_from(value.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(value);
}

/// Associated data of a field ciphertext.
///
/// `lp(label) ‖ format u8 ‖ dek generation u32 ‖ lp(table) ‖ lp(column) ‖ row uuid 16 ‖ revision flag u8 ‖
/// revision u64 ‖ resident uuid 16`, where `lp(x)` is a u32 big-endian length followed by `x`.
pub(crate) fn field_aad(format_version: u8, dek_generation: u32, place: &Place) -> Vec<u8> {
    let column = place.column();
    let mut aad = Vec::with_capacity(96 + column.table().len() + column.name().len());
    put_prefixed(&mut aad, LABEL_FIELD.as_bytes());
    aad.push(format_version);
    aad.extend_from_slice(&dek_generation.to_be_bytes());
    put_prefixed(&mut aad, column.table().as_bytes());
    put_prefixed(&mut aad, column.name().as_bytes());
    aad.extend_from_slice(place.row().as_bytes());
    match place.revision() {
        Some(revision) => {
            aad.push(1);
            aad.extend_from_slice(&revision.to_be_bytes());
        }
        None => {
            aad.push(0);
            aad.extend_from_slice(&0u64.to_be_bytes());
        }
    }
    aad.extend_from_slice(place.resident().as_uuid().as_bytes());
    aad
}

/// Associated data of a wrapped data key: `lp(label) ‖ format u8 ‖ kek version u32 ‖ resident uuid 16`.
pub(crate) fn dek_aad(format_version: u8, kek_version: u32, resident: Uuid) -> Vec<u8> {
    let mut aad = Vec::with_capacity(4 + LABEL_DEK.len() + 1 + 4 + 16);
    put_prefixed(&mut aad, LABEL_DEK.as_bytes());
    aad.push(format_version);
    aad.extend_from_slice(&kek_version.to_be_bytes());
    aad.extend_from_slice(resident.as_bytes());
    aad
}

/// HMAC input of the blind index: `lp(label) ‖ index key version u32 ‖ lp(bsn digits)`.
pub(crate) fn blind_index_input(key_version: u32, digits: &[u8]) -> Vec<u8> {
    let mut input = Vec::with_capacity(4 + LABEL_BLIND_INDEX.len() + 4 + 4 + digits.len());
    put_prefixed(&mut input, LABEL_BLIND_INDEX.as_bytes());
    input.extend_from_slice(&key_version.to_be_bytes());
    put_prefixed(&mut input, digits);
    input
}

/// Seals `plaintext` into a fresh buffer `header ‖ ciphertext ‖ tag` under `key`, with a random nonce.
///
/// The plaintext is copied straight into the output and encrypted in place there, so no second
/// plaintext copy is left behind on the heap.
pub(crate) fn seal(
    key: &[u8; KEY_LEN],
    key_version: u32,
    aad: impl FnOnce(u8, u32) -> Vec<u8>,
    plaintext: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    let mut nonce = [0u8; NONCE_LEN];
    SystemRandom::new()
        .fill(&mut nonce)
        .map_err(|_| CryptoError::Random)?;
    let aad = aad(FORMAT_V1, key_version);

    let mut out = Vec::with_capacity(HEADER_LEN + plaintext.len() + TAG_LEN);
    out.push(FORMAT_V1);
    out.extend_from_slice(&key_version.to_be_bytes());
    out.extend_from_slice(&nonce);
    out.extend_from_slice(plaintext);

    let sealed = less_safe_key(key).and_then(|sealing_key| {
        sealing_key
            .seal_in_place_separate_tag(
                aead::Nonce::assume_unique_for_key(nonce),
                aead::Aad::from(&aad),
                &mut out[HEADER_LEN..],
            )
            .map_err(|_| CryptoError::TooLong)
    });
    let tag = match sealed {
        Ok(tag) => tag,
        Err(err) => {
            // The buffer still holds the plaintext: wipe it before it is freed.
            out.zeroize();
            return Err(err);
        }
    };
    out.extend_from_slice(tag.as_ref());
    Ok(out)
}

/// Opens a decoded envelope into a zeroizing buffer. Any tag failure is `Authentication`.
pub(crate) fn open(
    key: &[u8; KEY_LEN],
    envelope: &Envelope<'_>,
    aad: &[u8],
) -> Result<zeroize::Zeroizing<Vec<u8>>, CryptoError> {
    let opening_key = less_safe_key(key)?;
    let mut buffer = zeroize::Zeroizing::new(envelope.sealed.to_vec());
    let plaintext_len = opening_key
        .open_in_place(
            aead::Nonce::assume_unique_for_key(envelope.nonce),
            aead::Aad::from(aad),
            &mut buffer[..],
        )
        .map_err(|_| CryptoError::Authentication)?
        .len();
    buffer.truncate(plaintext_len);
    Ok(buffer)
}

/// ring's key schedule is built per call and lives on the stack for that call only; our own copy of
/// the key bytes is the zeroizing one. ring does not wipe its schedule (documented in CRYPTO.md).
fn less_safe_key(key: &[u8; KEY_LEN]) -> Result<aead::LessSafeKey, CryptoError> {
    // AES-256 accepts every 32-byte key; this error cannot happen but is not worth a panic.
    let unbound =
        aead::UnboundKey::new(&aead::AES_256_GCM, key).map_err(|_| CryptoError::KeySet {
            reason: "AES-256-GCM key rejected",
        })?;
    Ok(aead::LessSafeKey::new(unbound))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[track_caller]
    fn check(bytes: &[u8], want: &str) {
        let got = match Envelope::decode(bytes) {
            Ok(envelope) => format!(
                "ok v{} key {}",
                envelope.format_version, envelope.key_version
            ),
            Err(err) => err.to_string(),
        };
        assert_eq!(got, want);
    }

    #[test]
    fn decoder_errors() {
        let mut minimal = vec![1, 0, 0, 0, 7];
        minimal.extend_from_slice(&[0u8; NONCE_LEN + TAG_LEN]);
        let cases: [(&[u8], &str); 6] = [
            (&[], "ciphertext is empty"),
            (&[0, 1, 2], "the resident's data key was erased"),
            (&[2; 40], "unknown ciphertext format version 2"),
            (
                &[1; 32],
                "ciphertext is truncated: 32 bytes, at least 33 needed",
            ),
            (&[1], "ciphertext is truncated: 1 bytes, at least 33 needed"),
            (&minimal, "ok v1 key 7"),
        ];
        for (bytes, want) in cases {
            check(bytes, want);
        }
    }

    proptest! {
        #[test]
        fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = Envelope::decode(&bytes);
        }
    }
}
