//! Field-level encryption of resident data (DESIGN §6, `docs/CRYPTO.md`): the key ring, residents'
//! data keys wrapped under versioned key-encryption keys, AES-256-GCM fields bound to their place, the
//! BSN blind index, key files, and a cache of unwrapped data keys.
//!
//! This crate exists so that a copied database, a lost backup or a curious administrator reveals no
//! resident's name, BSN or story. It does no database access and no async: the store calls it. It
//! must never put key bytes, plaintext or a BSN into a log line, an error, or `Debug`/`Display`
//! output, and never decrypt a value at a place other than the one it was written for.
//!
//! The store's path for a read: [`DekCache::unwrap`] the resident's wrapped DEK, rebuild the
//! [`Place`] from the row, [`decrypt_field`]. For a new resident: [`KeyRing::new_dek`].

mod blind_index;
mod cache;
mod cursor;
mod error;
mod field;
mod format;
mod keyfile;
mod keyring;
mod place;

pub use blind_index::{BLIND_INDEX_BITS, BlindIndex, bsn_matches};
pub use cache::{DekCache, DekCacheConfig};
pub use error::CryptoError;
pub use field::{decrypt_field, decrypt_string, encrypt_field, encrypt_str};
pub use format::{FORMAT_ERASED, FORMAT_V1, MIN_CIPHERTEXT_LEN};
pub use keyfile::{
    EnvKeyProvider, FileKeyProvider, KeyProvider, add_blind_index_version, add_kek_version,
    ephemeral_key_ring, generate_key_file, generate_key_text, key_file_status, key_ring_from_text,
    retire_blind_index_version, retire_kek_version,
};
pub use keyring::{
    Dek, ERASED_WRAPPED_DEK, KeyKind, KeyRing, KeyState, KeyStatus, KeyVersionStatus,
    WRAPPED_DEK_LEN, is_erased, wrapped_kek_version,
};
pub use place::{Column, Place};

#[cfg(test)]
mod tests {
    /// The store shares these across threads and tasks; losing `Send + Sync` must break the build.
    #[test]
    fn shared_types_are_send_and_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<crate::KeyRing>();
        assert_send_sync::<crate::DekCache>();
        assert_send_sync::<crate::Dek>();
        assert_send_sync::<std::sync::Arc<crate::Dek>>();
        assert_send_sync::<Box<dyn crate::KeyProvider>>();
    }
}
