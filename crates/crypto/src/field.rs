//! Encryption of one resident field under that resident's data key, bound to its place.
//!
//! It exists so the store has exactly one way to turn a personal value into stored bytes and back.
//! It must never return plaintext in anything but a zeroizing or secret type, never put plaintext or
//! its length-revealing details into logs or errors, and never accept a ciphertext whose place, key
//! generation or bytes do not authenticate.

use secrecy::SecretString;
use zeroize::Zeroizing;

use crate::CryptoError;
use crate::format::{self, Envelope};
use crate::keyring::Dek;
use crate::place::Place;

/// Encrypts `plaintext` for `place` under the resident's `dek`. Every call uses a fresh random nonce,
/// so equal values give unrelated ciphertexts.
pub fn encrypt_field(dek: &Dek, place: &Place, plaintext: &[u8]) -> Result<Vec<u8>, CryptoError> {
    let ciphertext = format::seal(
        dek.key(),
        dek.generation(),
        |format_version, dek_generation| format::field_aad(format_version, dek_generation, place),
        plaintext,
    )?;
    tracing::trace!(
        table = place.column().table(),
        column = place.column().name(),
        row = %place.row(),
        resident = %place.resident(),
        "field encrypted"
    );
    Ok(ciphertext)
}

/// Decrypts a field read from `place` (rebuilt from the row, never from the ciphertext).
pub fn decrypt_field(
    dek: &Dek,
    place: &Place,
    ciphertext: &[u8],
) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    let envelope = Envelope::decode(ciphertext)?;
    if envelope.key_version != dek.generation() {
        return Err(CryptoError::DekGenerationMismatch {
            expected: dek.generation(),
            found: envelope.key_version,
        });
    }
    let aad = format::field_aad(envelope.format_version, envelope.key_version, place);
    let plaintext = format::open(dek.key(), &envelope, &aad)?;
    tracing::trace!(
        table = place.column().table(),
        column = place.column().name(),
        row = %place.row(),
        resident = %place.resident(),
        "field decrypted"
    );
    Ok(plaintext)
}

/// [`encrypt_field`] for text.
pub fn encrypt_str(dek: &Dek, place: &Place, plaintext: &str) -> Result<Vec<u8>, CryptoError> {
    encrypt_field(dek, place, plaintext.as_bytes())
}

/// [`decrypt_field`] for text: the value comes back as a `SecretString`, wiped on drop.
pub fn decrypt_string(
    dek: &Dek,
    place: &Place,
    ciphertext: &[u8],
) -> Result<SecretString, CryptoError> {
    let plaintext = decrypt_field(dek, place, ciphertext)?;
    // Copy into an exact-size box rather than converting the buffer: a conversion could reallocate
    // and free a plaintext copy unwiped. The zeroizing buffer is wiped when it drops here.
    let text = std::str::from_utf8(&plaintext).map_err(|_| CryptoError::NotUtf8)?;
    Ok(SecretString::new(Box::from(text)))
}
