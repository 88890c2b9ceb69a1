//! The BSN blind index: a short keyed hash of the BSN, stored beside the encrypted BSN, so a resident is
//! found by BSN without decrypting the table.
//!
//! It exists to make lookup cheap while the stored value stays ambiguous: 16 bits leave ~1,400 valid
//! BSNs behind every value, so even someone holding the index key cannot read a BSN from it
//! (`docs/CRYPTO.md`, "Blind index"). It must never be widened to a unique fingerprint, never be
//! computed without its key, and never be treated as a match on its own: the store decrypts every
//! candidate and compares with [`bsn_matches`].

use domain::Bsn;
use ring::hmac;
use subtle::ConstantTimeEq;

use crate::format;
use crate::keyring::KeyRing;

/// Bits kept of the HMAC-SHA256. Changing it is a new index format (and a recomputation).
pub const BLIND_INDEX_BITS: u32 = 16;

/// A truncated HMAC of a BSN under one blind-index key version. Not secret by itself, but only
/// meaningful together with that version: the store keeps both columns and queries both.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BlindIndex {
    key_version: u32,
    bytes: [u8; 2],
}

impl BlindIndex {
    pub fn key_version(&self) -> u32 {
        self.key_version
    }

    pub fn bytes(&self) -> [u8; 2] {
        self.bytes
    }

    /// The same value as an integer, for an integer column.
    pub fn value(&self) -> u16 {
        u16::from_be_bytes(self.bytes)
    }

    /// Rebuilds one read from the database (both columns).
    pub fn from_parts(key_version: u32, value: u16) -> BlindIndex {
        BlindIndex {
            key_version,
            bytes: value.to_be_bytes(),
        }
    }
}

impl KeyRing {
    /// The blind index to store for `bsn`, under the current blind-index key.
    pub fn blind_index(&self, bsn: &Bsn) -> BlindIndex {
        let (version, key) = self.blind_index_keys().current();
        compute(version, key, bsn)
    }

    /// The values to look `bsn` up by: one per live blind-index key version, current first. While an
    /// index rotation is under way, rows still under the old version are found too.
    pub fn blind_index_candidates(&self, bsn: &Bsn) -> Vec<BlindIndex> {
        let current = self.blind_index(bsn);
        let mut all = vec![current];
        all.extend(
            self.blind_index_keys()
                .live()
                .filter(|(version, _)| *version != current.key_version)
                .map(|(version, key)| compute(version, key, bsn)),
        );
        all
    }

    /// The current blind-index key version; rows under another need their index recomputed.
    pub fn current_blind_index_version(&self) -> u32 {
        self.blind_index_keys().current().0
    }
}

fn compute(version: u32, key: &[u8; 32], bsn: &Bsn) -> BlindIndex {
    let key = hmac::Key::new(hmac::HMAC_SHA256, key);
    let tag = hmac::sign(
        &key,
        &format::blind_index_input(version, bsn.expose().as_bytes()),
    );
    let mut bytes = [0u8; 2];
    bytes.copy_from_slice(&tag.as_ref()[..2]);
    tracing::trace!(blind_index_version = version, "blind index computed");
    BlindIndex {
        key_version: version,
        bytes,
    }
}

/// Compares a decrypted BSN candidate with the one searched for, in constant time.
pub fn bsn_matches(decrypted: &[u8], bsn: &Bsn) -> bool {
    decrypted.ct_eq(bsn.expose().as_bytes()).into()
}
