//! Random bytes and digests shared by the modules. Exists so that every secret in this crate comes
//! from one CSPRNG (ring's `SystemRandom`, the OS source) and every stored digest is made and
//! compared the same way; must never fall back to a weaker generator or a non-constant-time compare.

use ring::rand::{SecureRandom, SystemRandom};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::AuthError;

/// `N` bytes from the operating system's CSPRNG, wiped on drop.
pub(crate) fn bytes<const N: usize>() -> Result<Zeroizing<[u8; N]>, AuthError> {
    let mut out = Zeroizing::new([0u8; N]);
    SystemRandom::new()
        .fill(out.as_mut())
        .map_err(|_| AuthError::Random)?;
    Ok(out)
}

/// SHA-256 of `data`.
pub(crate) fn sha256(data: &[u8]) -> [u8; 32] {
    let digest = ring::digest::digest(&ring::digest::SHA256, data);
    let mut out = [0u8; 32];
    out.copy_from_slice(digest.as_ref());
    out
}

/// Constant-time equality of two digests.
pub(crate) fn digest_eq(a: &[u8; 32], b: &[u8; 32]) -> bool {
    bool::from(a.ct_eq(b))
}

/// Parses 64 lower- or upper-case hex digits into a digest.
pub(crate) fn digest_from_hex(s: &str) -> Result<[u8; 32], AuthError> {
    let mut out = [0u8; 32];
    hex::decode_to_slice(s, &mut out).map_err(|_| AuthError::StoredDigestInvalid)?;
    Ok(out)
}
