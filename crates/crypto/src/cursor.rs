//! Integrity tags for the pagination cursors the API hands out: a cursor is opaque to clients,
//! and one the hub did not issue (forged, edited, or for another list) is refused.
//!
//! The tag is HMAC-SHA256, truncated to 128 bits, under a key derived with HKDF-SHA256 from the
//! current key-encryption key (info `wijkhub cursor v1`), so no new key needs managing and the
//! derived key reveals nothing about the KEK. A cursor names the KEK version it was tagged under;
//! after a KEK rotation, cursors under a still-live version keep working, and those under a
//! retired one are refused like forged ones.

use ring::{hkdf, hmac};
use subtle::ConstantTimeEq;

use crate::CryptoError;
use crate::keyring::KeyRing;

/// Bytes of tag kept: 128 bits, beyond guessing.
const TAG_LEN: usize = 16;
const VERSION_LEN: usize = 4;
const INFO: &[u8] = b"wijkhub cursor v1";

impl KeyRing {
    /// `payload` with the KEK version in front and its tag behind: the bytes of a cursor.
    pub fn tag_cursor(&self, payload: &[u8]) -> Vec<u8> {
        let (version, kek) = self.keks().current();
        let mut out = Vec::with_capacity(VERSION_LEN + payload.len() + TAG_LEN);
        out.extend_from_slice(&version.to_be_bytes());
        out.extend_from_slice(payload);
        let tag = hmac::sign(&cursor_key(kek), &out);
        out.extend_from_slice(&tag.as_ref()[..TAG_LEN]);
        out
    }

    /// The payload of a cursor made by [`tag_cursor`](KeyRing::tag_cursor); `Authentication` for
    /// anything else (too short, an unknown or retired key version, a tag that does not verify).
    pub fn open_cursor(&self, bytes: &[u8]) -> Result<Vec<u8>, CryptoError> {
        if bytes.len() < VERSION_LEN + TAG_LEN {
            return Err(CryptoError::Authentication);
        }
        let (signed, tag) = bytes.split_at(bytes.len() - TAG_LEN);
        let mut version = [0u8; VERSION_LEN];
        version.copy_from_slice(&signed[..VERSION_LEN]);
        let kek = self
            .keks()
            .get(u32::from_be_bytes(version))
            .map_err(|_| CryptoError::Authentication)?;
        let key = cursor_key(kek);
        let expected = hmac::sign(&key, signed);
        if !bool::from(expected.as_ref()[..TAG_LEN].ct_eq(tag)) {
            return Err(CryptoError::Authentication);
        }
        Ok(signed[VERSION_LEN..].to_vec())
    }
}

fn cursor_key(kek: &[u8; 32]) -> hmac::Key {
    let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, b"").extract(kek);
    // `expand` fails only when asked for more than 255 blocks; one HMAC key is one block.
    let okm = prk
        .expand(&[INFO], hmac::HMAC_SHA256)
        .unwrap_or_else(|_| unreachable!("one block of HKDF output"));
    hmac::Key::from(okm)
}

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret;

    use crate::{KeyRing, generate_key_text, key_ring_from_text};

    fn ring() -> KeyRing {
        key_ring_from_text(generate_key_text().unwrap().expose_secret()).unwrap()
    }

    #[test]
    fn a_tagged_cursor_opens_and_any_change_is_refused() {
        let keys = ring();
        let cursor = keys.tag_cursor(b"residents:42");
        assert_eq!(keys.open_cursor(&cursor).unwrap(), b"residents:42");
        for byte in 0..cursor.len() {
            for bit in 0..8 {
                let mut flipped = cursor.clone();
                flipped[byte] ^= 1 << bit;
                assert!(keys.open_cursor(&flipped).is_err(), "flip {byte}:{bit}");
            }
        }
        assert!(keys.open_cursor(&cursor[..cursor.len() - 1]).is_err());
        assert!(keys.open_cursor(b"").is_err());
        assert!(
            ring().open_cursor(&cursor).is_err(),
            "another key ring's cursor"
        );
    }
}
