//! The key ring: every key-encryption key (KEK) version and blind-index key version the process holds,
//! and the operations on residents' data keys (DEKs): generate, wrap, unwrap, rewrap.
//!
//! It exists so that key material lives in one type that zeroizes on drop, prints no bytes, and is
//! only ever used through these operations. It must never hand out KEK or blind-index key bytes, log
//! them, or wrap under any version but the current one.

use std::collections::BTreeMap;
use std::fmt;

use domain::ResidentId;
use ring::digest;
use ring::rand::{SecureRandom, SystemRandom};
use secrecy::{ExposeSecret, ExposeSecretMut, SecretBox};

use crate::CryptoError;
use crate::format::{self, Envelope, FORMAT_ERASED, HEADER_LEN, KEY_LEN, TAG_LEN};

/// 32 bytes of key material on the heap, wiped on drop, `Debug` redacted.
pub(crate) type KeyBytes = SecretBox<[u8; KEY_LEN]>;

/// Length of a wrapped DEK: header, DEK generation (u32) and key, tag.
pub const WRAPPED_DEK_LEN: usize = HEADER_LEN + 4 + KEY_LEN + TAG_LEN;

/// The value to store in place of a wrapped DEK when a resident is erased (crypto-shredding).
/// Unwrapping it gives [`CryptoError::Erased`], never a key.
pub const ERASED_WRAPPED_DEK: [u8; 1] = [FORMAT_ERASED];

/// 32 fresh random bytes, written straight into their heap home (no stack copy to wipe).
pub(crate) fn random_key() -> Result<KeyBytes, CryptoError> {
    let mut key = KeyBytes::init_with_mut(|_: &mut [u8; KEY_LEN]| {});
    SystemRandom::new()
        .fill(key.expose_secret_mut())
        .map_err(|_| CryptoError::Random)?;
    Ok(key)
}

/// A resident's data key (DEK), unwrapped. Encrypts that resident's fields only.
///
/// Zeroized on drop; `Debug` shows the generation, never the key. There is no `Clone`: share it
/// through the `Arc` the [`DekCache`](crate::DekCache) hands out.
pub struct Dek {
    generation: u32,
    key: KeyBytes,
}

impl Dek {
    /// The first generation of every resident's DEK. A later generation would come from re-keying a
    /// resident (new DEK, fields re-encrypted), which this version of wijkhub does not do.
    pub const FIRST_GENERATION: u32 = 1;

    fn generate(generation: u32) -> Result<Dek, CryptoError> {
        Ok(Dek {
            generation,
            key: random_key()?,
        })
    }

    /// The version written into every field this key encrypts.
    pub fn generation(&self) -> u32 {
        self.generation
    }

    pub(crate) fn key(&self) -> &[u8; KEY_LEN] {
        self.key.expose_secret()
    }
}

impl fmt::Debug for Dek {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Dek(generation {}, ***)", self.generation)
    }
}

/// Which of the two key families a version belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum KeyKind {
    /// Key-encryption keys: wrap residents' DEKs.
    Kek,
    /// Blind-index keys: HMAC of the BSN.
    BlindIndex,
}

impl KeyKind {
    pub(crate) const fn as_str(self) -> &'static str {
        match self {
            KeyKind::Kek => "kek",
            KeyKind::BlindIndex => "index",
        }
    }
}

/// A key version is live (its bytes are held) or retired (only its number is remembered, so a
/// ciphertext under it gets a clear error instead of "unknown").
pub(crate) enum Slot {
    Live(KeyBytes),
    Retired,
}

/// One family of versioned keys. The current version is the highest live one; it is held apart so
/// that using it cannot fail.
pub(crate) struct Versions {
    current_version: u32,
    current_key: KeyBytes,
    others: BTreeMap<u32, Slot>,
}

impl Versions {
    pub(crate) fn new(
        mut slots: BTreeMap<u32, Slot>,
        kind: KeyKind,
    ) -> Result<Versions, CryptoError> {
        let current_version = slots
            .iter()
            .rev()
            .find(|(_, slot)| matches!(slot, Slot::Live(_)))
            .map(|(version, _)| *version);
        match current_version.and_then(|version| slots.remove(&version).map(|slot| (version, slot)))
        {
            Some((current_version, Slot::Live(current_key))) => Ok(Versions {
                current_version,
                current_key,
                others: slots,
            }),
            Some((_, Slot::Retired)) | None => Err(CryptoError::KeySet {
                reason: match kind {
                    KeyKind::Kek => "no live key-encryption key",
                    KeyKind::BlindIndex => "no live blind-index key",
                },
            }),
        }
    }

    pub(crate) fn current(&self) -> (u32, &[u8; KEY_LEN]) {
        (self.current_version, self.current_key.expose_secret())
    }

    pub(crate) fn get(&self, version: u32) -> Result<&[u8; KEY_LEN], CryptoError> {
        if version == self.current_version {
            return Ok(self.current_key.expose_secret());
        }
        match self.others.get(&version) {
            Some(Slot::Live(key)) => Ok(key.expose_secret()),
            Some(Slot::Retired) => Err(CryptoError::RetiredKeyVersion(version)),
            None => Err(CryptoError::UnknownKeyVersion(version)),
        }
    }

    /// Every live version, current first.
    pub(crate) fn live(&self) -> impl Iterator<Item = (u32, &[u8; KEY_LEN])> {
        std::iter::once(self.current()).chain(self.others.iter().filter_map(|(version, slot)| {
            match slot {
                Slot::Live(key) => Some((*version, key.expose_secret())),
                Slot::Retired => None,
            }
        }))
    }

    fn versions(&self) -> Vec<u32> {
        let mut versions: Vec<u32> = self.others.keys().copied().collect();
        versions.push(self.current_version);
        versions.sort_unstable();
        versions
    }

    fn status(&self) -> Vec<KeyVersionStatus> {
        self.versions()
            .into_iter()
            .map(|version| match self.get(version) {
                Ok(key) => KeyVersionStatus {
                    version,
                    state: if version == self.current_version {
                        KeyState::Current
                    } else {
                        KeyState::Active
                    },
                    fingerprint: Some(fingerprint(key)),
                },
                Err(_) => KeyVersionStatus {
                    version,
                    state: KeyState::Retired,
                    fingerprint: None,
                },
            })
            .collect()
    }
}

/// A non-secret name for a key: the first 8 bytes of SHA-256 over a label and the key, in hex.
/// Lets an operator compare key files across machines without showing key bytes.
fn fingerprint(key: &[u8; KEY_LEN]) -> String {
    let mut context = digest::Context::new(&digest::SHA256);
    context.update(b"wijkhub/key-fingerprint\0");
    context.update(key);
    let hash = context.finish();
    hex::encode(hash.as_ref().get(..8).unwrap_or_default())
}

/// What `keys status` shows. Holds no key bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyStatus {
    pub keks: Vec<KeyVersionStatus>,
    pub blind_index_keys: Vec<KeyVersionStatus>,
}

impl KeyStatus {
    pub fn current_kek_version(&self) -> Option<u32> {
        current_of(&self.keks)
    }

    pub fn current_blind_index_version(&self) -> Option<u32> {
        current_of(&self.blind_index_keys)
    }
}

fn current_of(versions: &[KeyVersionStatus]) -> Option<u32> {
    versions
        .iter()
        .find(|status| status.state == KeyState::Current)
        .map(|status| status.version)
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyVersionStatus {
    pub version: u32,
    pub state: KeyState,
    /// 16 hex digits, `None` for a retired version (its bytes are gone).
    pub fingerprint: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyState {
    /// New wraps (or blind indexes) use this version.
    Current,
    /// Still opens what was written under it; rotation moves everything off it.
    Active,
    /// Bytes destroyed; anything still under it is unreadable.
    Retired,
}

/// The process's keys, loaded once at start-up from a [`KeyProvider`](crate::KeyProvider).
pub struct KeyRing {
    keks: Versions,
    blind_index_keys: Versions,
}

impl fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyRing")
            .field("current_kek_version", &self.keks.current_version)
            .field("kek_versions", &self.keks.versions())
            .field(
                "current_blind_index_version",
                &self.blind_index_keys.current_version,
            )
            .finish_non_exhaustive()
    }
}

impl KeyRing {
    pub(crate) fn from_versions(keks: Versions, blind_index_keys: Versions) -> KeyRing {
        KeyRing {
            keks,
            blind_index_keys,
        }
    }

    pub(crate) fn keks(&self) -> &Versions {
        &self.keks
    }

    pub(crate) fn blind_index_keys(&self) -> &Versions {
        &self.blind_index_keys
    }

    /// The KEK version new wraps use; rows whose wrapped DEK is on another version need a rewrap.
    pub fn current_kek_version(&self) -> u32 {
        self.keks.current_version
    }

    /// Versions, states and fingerprints; never key bytes.
    pub fn status(&self) -> KeyStatus {
        KeyStatus {
            keks: self.keks.status(),
            blind_index_keys: self.blind_index_keys.status(),
        }
    }

    /// A fresh random DEK for a new resident, and its wrapped form to store in the resident's row.
    #[tracing::instrument(level = "debug", skip_all, fields(resident = %resident))]
    pub fn new_dek(&self, resident: ResidentId) -> Result<(Dek, Vec<u8>), CryptoError> {
        let dek = Dek::generate(Dek::FIRST_GENERATION)?;
        let wrapped = self.wrap_dek(&dek, resident)?;
        tracing::debug!(
            kek_version = self.keks.current_version,
            "data key generated"
        );
        Ok((dek, wrapped))
    }

    /// Wraps `dek` under the current KEK, bound to `resident`.
    #[tracing::instrument(level = "trace", skip_all, fields(resident = %resident))]
    pub fn wrap_dek(&self, dek: &Dek, resident: ResidentId) -> Result<Vec<u8>, CryptoError> {
        let (kek_version, kek) = self.keks.current();
        let mut plaintext = zeroize::Zeroizing::new([0u8; 4 + KEY_LEN]);
        plaintext[..4].copy_from_slice(&dek.generation.to_be_bytes());
        plaintext[4..].copy_from_slice(dek.key());
        let wrapped = format::seal(
            kek,
            kek_version,
            |format_version, key_version| {
                format::dek_aad(format_version, key_version, resident.as_uuid())
            },
            &plaintext[..],
        )?;
        tracing::trace!(kek_version, "data key wrapped");
        Ok(wrapped)
    }

    /// Unwraps a stored DEK. Fails with `Authentication` when it belongs to another resident or was
    /// changed, `Erased` when the resident was erased, `RetiredKeyVersion` when its KEK was retired.
    #[tracing::instrument(level = "trace", skip_all, fields(resident = %resident))]
    pub fn unwrap_dek(&self, wrapped: &[u8], resident: ResidentId) -> Result<Dek, CryptoError> {
        let envelope = Envelope::decode(wrapped)?;
        if wrapped.len() != WRAPPED_DEK_LEN {
            return Err(CryptoError::WrongLength {
                len: wrapped.len(),
                expected: WRAPPED_DEK_LEN,
            });
        }
        let kek = self.keks.get(envelope.key_version)?;
        let aad = format::dek_aad(
            envelope.format_version,
            envelope.key_version,
            resident.as_uuid(),
        );
        let plaintext = format::open(kek, &envelope, &aad)?;
        // Guaranteed by the length check and the tag; checked anyway so no input can reach a panic.
        if plaintext.len() != 4 + KEY_LEN {
            return Err(CryptoError::Authentication);
        }
        let (generation_bytes, key_bytes) = plaintext.split_at(4);
        let mut generation = [0u8; 4];
        generation.copy_from_slice(generation_bytes);
        let key = KeyBytes::init_with_mut(|key: &mut [u8; KEY_LEN]| key.copy_from_slice(key_bytes));
        tracing::trace!(kek_version = envelope.key_version, "data key unwrapped");
        Ok(Dek {
            generation: u32::from_be_bytes(generation),
            key,
        })
    }

    /// The same DEK wrapped under the current KEK, for rotation. Encrypted fields are untouched.
    ///
    /// Resumable by construction: the store selects rows whose [`wrapped_kek_version`] is not
    /// [`current_kek_version`](Self::current_kek_version), rewraps a batch, and writes each with a
    /// compare-and-set on the old bytes (so a concurrent erasure is never undone).
    #[tracing::instrument(level = "debug", skip_all, fields(resident = %resident))]
    pub fn rewrap(&self, wrapped: &[u8], resident: ResidentId) -> Result<Vec<u8>, CryptoError> {
        let dek = self.unwrap_dek(wrapped, resident)?;
        let rewrapped = self.wrap_dek(&dek, resident)?;
        tracing::debug!(
            kek_version = self.keks.current_version,
            "data key rewrapped"
        );
        Ok(rewrapped)
    }

    /// True when `wrapped` is not under the current KEK. Erased keys never need a rewrap.
    pub fn needs_rewrap(&self, wrapped: &[u8]) -> Result<bool, CryptoError> {
        match wrapped_kek_version(wrapped) {
            Ok(version) => Ok(version != self.keks.current_version),
            Err(CryptoError::Erased) => Ok(false),
            Err(err) => Err(err),
        }
    }
}

/// The KEK version a wrapped DEK is under, read from its header without any key. The store keeps it in
/// its own indexed column (`kek_version`) so rotation can select the rows still to do.
pub fn wrapped_kek_version(wrapped: &[u8]) -> Result<u32, CryptoError> {
    format::peek_key_version(wrapped)
}

/// Crypto-shredding check: true when `stored` is the erased marker (or was overwritten starting
/// with it), so no key exists any more that opens this resident's fields. The store's erase test
/// asserts this on the row it wrote; [`KeyRing::unwrap_dek`] gives [`CryptoError::Erased`] for it.
pub fn is_erased(stored: &[u8]) -> bool {
    stored.first() == Some(&FORMAT_ERASED)
}
