//! The second factor: TOTP (RFC 6238) and single-use recovery codes.
//!
//! Exists because the privacy officer and the administrator must log in with a strong second
//! factor (NEN 7513), shown in tokens as `amr: ["pwd","otp"]`. TOTP arithmetic is `totp-rs`
//! (well kept, constant-time token comparison, RFC 6238 test vectors in its own suite); this
//! module adds what it leaves to us: replay protection (a step is accepted once) and recovery
//! codes. It must never accept a step at or before the last accepted one, never store a recovery
//! code in clear, and never show a secret in `Debug` or an error.
//!
//! Recovery codes carry 100 random bits and are stored as SHA-256 digests: a slow hash protects
//! guessable secrets (passwords) against offline search, but 2^100 candidates are out of reach at
//! any hashing speed, so argon2 would only cost us 10 × 13 ms per login for nothing.

use secrecy::{ExposeSecret, SecretString};
use subtle::ConstantTimeEq;
use totp_rs::{Algorithm, Totp};
use zeroize::Zeroizing;

use crate::AuthError;

/// Issuer shown in authenticator apps.
pub const ISSUER: &str = "wijkhub";
/// Length of a step in seconds (RFC 6238 default; what authenticator apps assume).
pub const STEP_SECONDS: u64 = 30;
/// Digits of a code (what authenticator apps assume).
pub const DIGITS: u8 = 6;

/// A member's TOTP secret: 160 random bits (RFC 4226 §4 recommends 160), wiped on drop.
/// Store [`TotpSecret::to_base32`] encrypted (`crypto` crate); never log it.
pub struct TotpSecret(Zeroizing<Vec<u8>>);

impl std::fmt::Debug for TotpSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TotpSecret(***)")
    }
}

impl TotpSecret {
    /// A fresh random secret, for enrolment.
    pub fn generate() -> Result<TotpSecret, AuthError> {
        Ok(TotpSecret(Zeroizing::new(
            crate::random::bytes::<20>()?.to_vec(),
        )))
    }

    /// The secret in unpadded RFC 4648 base32, the form authenticator apps and storage use.
    pub fn to_base32(&self) -> SecretString {
        SecretString::from(totp_rs::Secret::from(self.0.to_vec()).to_base32())
    }

    /// Parses a stored base32 secret; at least 128 bits.
    pub fn from_base32(encoded: &SecretString) -> Result<TotpSecret, AuthError> {
        let secret = totp_rs::Secret::try_from_base32(encoded.expose_secret())
            .map_err(|_| AuthError::OtpSecretInvalid)?;
        let bytes = Zeroizing::new(secret.as_ref().to_vec());
        if bytes.len() < 16 {
            return Err(AuthError::OtpSecretInvalid);
        }
        Ok(TotpSecret(bytes))
    }

    fn totp(&self, account_name: &str) -> Result<Totp, AuthError> {
        totp_with(&self.0, Algorithm::SHA1, DIGITS, account_name)
    }
}

fn totp_with(
    secret: &[u8],
    algorithm: Algorithm,
    digits: u8,
    account_name: &str,
) -> Result<Totp, AuthError> {
    let mut builder = totp_rs::Builder::new()
        .with_algorithm(algorithm)
        .with_digits(digits)
        .with_skew(1)
        .with_step_duration(STEP_SECONDS)
        .with_secret(secret.to_vec())
        .with_issuer(Some(ISSUER));
    if !account_name.is_empty() {
        builder = builder.with_account_name(account_name);
    }
    builder.build().map_err(|error| match error {
        totp_rs::TotpError::InvalidAccountName { .. } => AuthError::OtpAccountName,
        _ => AuthError::OtpSecretInvalid,
    })
}

/// The `otpauth://totp/wijkhub:<account>?secret=...&issuer=wijkhub` URI to show once (as text or
/// QR) at enrolment. It contains the secret, hence a [`SecretString`].
pub fn provisioning_uri(
    secret: &TotpSecret,
    account_name: &str,
) -> Result<SecretString, AuthError> {
    if account_name.is_empty() {
        return Err(AuthError::OtpAccountName);
    }
    let uri = secret
        .totp(account_name)?
        .to_url()
        .map_err(|_| AuthError::OtpAccountName)?;
    Ok(SecretString::from(uri))
}

/// Verifies a code at `now` (Unix seconds) with a window of ±1 step, refusing any step at or
/// before `last_used_step` (RFC 6238 §5.2: a code is accepted once). Returns the step to store as
/// the new `last_used_step`.
pub fn verify_totp(
    secret: &TotpSecret,
    code: &str,
    now_unix: u64,
    last_used_step: Option<u64>,
) -> Result<u64, AuthError> {
    let totp = secret.totp("")?;
    check_steps(&totp, code.trim(), now_unix, last_used_step)
}

fn check_steps(
    totp: &Totp,
    code: &str,
    now_unix: u64,
    last_used_step: Option<u64>,
) -> Result<u64, AuthError> {
    let current = now_unix / STEP_SECONDS;
    let mut accepted = None;
    // Every candidate step is computed and compared in constant time, so the answer's timing
    // does not tell which step matched.
    for step in current.saturating_sub(1)..=current.saturating_add(1) {
        let fresh = last_used_step.is_none_or(|last| step > last);
        let Some(step_start) = step.checked_mul(STEP_SECONDS) else {
            continue;
        };
        let expected = Zeroizing::new(totp.generate(step_start).to_string());
        let matches = bool::from(expected.as_bytes().ct_eq(code.as_bytes()));
        if matches && fresh && accepted.is_none() {
            accepted = Some(step);
        }
    }
    accepted.ok_or(AuthError::OtpRejected)
}

/// How many recovery codes an enrolment gets by default.
pub const RECOVERY_CODES: usize = 10;

/// The stored form of one recovery code: SHA-256 of its normalised text, 64 hex digits.
#[derive(Clone, PartialEq, Eq)]
pub struct RecoveryCodeHash([u8; 32]);

impl std::fmt::Debug for RecoveryCodeHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RecoveryCodeHash(..)")
    }
}

impl RecoveryCodeHash {
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    pub fn from_hex(s: &str) -> Result<RecoveryCodeHash, AuthError> {
        crate::random::digest_from_hex(s).map(RecoveryCodeHash)
    }
}

/// Crockford base32, lower case: no i, l, o or u, so codes read aloud or typed stay unambiguous.
const CODE_ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";

/// `n` fresh recovery codes (shown to the member once, as `xxxxx-xxxxx-xxxxx-xxxxx`, 100 bits
/// each) and their hashes (to store, one per code, in the same order).
pub fn generate_recovery_codes(
    n: usize,
) -> Result<(Vec<SecretString>, Vec<RecoveryCodeHash>), AuthError> {
    let mut codes = Vec::with_capacity(n);
    let mut hashes = Vec::with_capacity(n);
    for _ in 0..n {
        // 20 characters of 5 bits each from 13 random bytes (104 bits, the last 4 unused).
        let random = crate::random::bytes::<13>()?;
        let mut bits: u128 = 0;
        for byte in random.iter() {
            bits = (bits << 8) | u128::from(*byte);
        }
        let mut text = Zeroizing::new(String::with_capacity(23));
        for idx in 0..20 {
            if idx > 0 && idx % 5 == 0 {
                text.push('-');
            }
            let symbol = ((bits >> (5 * idx)) & 0x1f) as usize;
            text.push(char::from(CODE_ALPHABET[symbol]));
        }
        hashes.push(hash_recovery_code(&text));
        codes.push(SecretString::from(text.as_str().to_owned()));
    }
    Ok((codes, hashes))
}

fn normalise(code: &str) -> Zeroizing<String> {
    Zeroizing::new(
        code.chars()
            .filter(|c| !c.is_whitespace() && *c != '-')
            .map(|c| match c.to_ascii_lowercase() {
                'o' => '0',
                'i' | 'l' => '1',
                other => other,
            })
            .collect(),
    )
}

fn hash_recovery_code(code: &str) -> RecoveryCodeHash {
    RecoveryCodeHash(crate::random::sha256(normalise(code).as_bytes()))
}

/// Checks a presented recovery code against the member's unused stored codes. Returns the index
/// of the code that matched: the caller deletes (or marks used) that one, which makes it single
/// use. Every stored hash is compared, in constant time, whatever matches.
pub fn verify_recovery_code(
    code: &SecretString,
    stored: &[RecoveryCodeHash],
) -> Result<usize, AuthError> {
    let presented = hash_recovery_code(code.expose_secret());
    let mut found = None;
    for (idx, candidate) in stored.iter().enumerate() {
        if crate::random::digest_eq(&presented.0, &candidate.0) && found.is_none() {
            found = Some(idx);
        }
    }
    found.ok_or(AuthError::RecoveryCodeRejected)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    /// RFC 6238 Appendix B, SHA-1 rows: 8 digits, seed "12345678901234567890".
    #[test]
    fn rfc6238_sha1_vectors() {
        let totp = totp_with(b"12345678901234567890", Algorithm::SHA1, 8, "").unwrap();
        let vectors = [
            (59, "94287082"),
            (1_111_111_109, "07081804"),
            (1_111_111_111, "14050471"),
            (1_234_567_890, "89005924"),
            (2_000_000_000, "69279037"),
            (20_000_000_000, "65353130"),
        ];
        for (time, want) in vectors {
            assert_eq!(totp.generate(time).to_string(), want, "T={time}");
            let step = time / STEP_SECONDS;
            assert_eq!(check_steps(&totp, want, time, None), Ok(step), "T={time}");
        }
    }

    /// RFC 6238 Appendix B, SHA-256 and SHA-512 rows (seeds of 32 and 64 bytes).
    #[test]
    fn rfc6238_sha256_and_sha512_vectors() {
        let sha256 = totp_with(
            b"12345678901234567890123456789012",
            Algorithm::SHA256,
            8,
            "",
        )
        .unwrap();
        let sha512 = totp_with(
            b"1234567890123456789012345678901234567890123456789012345678901234",
            Algorithm::SHA512,
            8,
            "",
        )
        .unwrap();
        let vectors = [
            (59, "46119246", "90693936"),
            (1_111_111_109, "68084774", "25091201"),
            (1_111_111_111, "67062674", "99943326"),
            (1_234_567_890, "91819424", "93441116"),
            (2_000_000_000, "90698825", "38618901"),
            (20_000_000_000, "77737706", "47863826"),
        ];
        for (time, want_256, want_512) in vectors {
            assert_eq!(
                sha256.generate(time).to_string(),
                want_256,
                "SHA-256 T={time}"
            );
            assert_eq!(
                sha512.generate(time).to_string(),
                want_512,
                "SHA-512 T={time}"
            );
        }
    }

    #[track_caller]
    fn check(offset_steps: i64, last_used: Option<u64>, want: Result<u64, AuthError>) {
        let secret = TotpSecret(Zeroizing::new(b"12345678901234567890".to_vec()));
        let now: u64 = 1_700_000_000;
        let code_time = now.checked_add_signed(offset_steps * 30).unwrap();
        let code = secret.totp("").unwrap().generate(code_time).to_string();
        assert_eq!(verify_totp(&secret, &code, now, last_used), want);
    }

    #[test]
    fn window_and_replay() {
        let step = 1_700_000_000 / 30;
        let cases = [
            (0, None, Ok(step)),
            (-1, None, Ok(step - 1)),
            (1, None, Ok(step + 1)),
            (-2, None, Err(AuthError::OtpRejected)),
            (2, None, Err(AuthError::OtpRejected)),
            // Replay: the step just accepted is refused, as is an older one.
            (0, Some(step), Err(AuthError::OtpRejected)),
            (-1, Some(step - 1), Err(AuthError::OtpRejected)),
            (-1, Some(step), Err(AuthError::OtpRejected)),
            (1, Some(step), Ok(step + 1)),
        ];
        for (offset, last_used, want) in cases {
            check(offset, last_used, want);
        }
    }

    #[test]
    fn the_end_of_time_does_not_overflow() {
        let secret = TotpSecret::generate().unwrap();
        assert_eq!(
            verify_totp(&secret, "123456", u64::MAX, Some(u64::MAX)),
            Err(AuthError::OtpRejected)
        );
        assert_eq!(
            verify_totp(&secret, "123456", 0, None).is_err(),
            secret.totp("").unwrap().generate(0).to_string() != "123456"
        );
    }

    #[test]
    fn wrong_codes_are_refused() {
        let secret = TotpSecret::generate().unwrap();
        for code in ["", "12345", "1234567", "abcdef", "+12345"] {
            assert_eq!(
                verify_totp(&secret, code, 1_700_000_000, None),
                Err(AuthError::OtpRejected)
            );
        }
    }

    #[test]
    fn provisioning_uri_names_the_issuer() {
        let secret = TotpSecret::from_base32(&SecretString::from(
            "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ".to_owned(),
        ))
        .unwrap();
        let uri = provisioning_uri(&secret, "anna@wijkteam.example").unwrap();
        assert_eq!(
            uri.expose_secret(),
            "otpauth://totp/wijkhub:anna%40wijkteam.example?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=wijkhub"
        );
        assert_eq!(
            provisioning_uri(&secret, "a:b").err(),
            Some(AuthError::OtpAccountName)
        );
        assert_eq!(format!("{secret:?}"), "TotpSecret(***)");
    }

    #[test]
    fn base32_round_trip_and_short_secrets_refused() {
        let secret = TotpSecret::generate().unwrap();
        let again = TotpSecret::from_base32(&secret.to_base32()).unwrap();
        assert_eq!(secret.0, again.0);
        let short = SecretString::from("GEZDGNBV".to_owned());
        assert_eq!(
            TotpSecret::from_base32(&short).err(),
            Some(AuthError::OtpSecretInvalid)
        );
    }

    #[test]
    fn recovery_codes_are_single_use_by_index() {
        let (codes, mut hashes) = generate_recovery_codes(RECOVERY_CODES).unwrap();
        assert_eq!(codes.len(), RECOVERY_CODES);
        let third = codes[2].expose_secret().to_owned();
        assert_eq!(third.len(), 23);
        // Typed loosely: upper case, spaces instead of dashes.
        let typed = SecretString::from(third.to_uppercase().replace('-', " "));
        assert_eq!(verify_recovery_code(&typed, &hashes), Ok(2));
        hashes.remove(2);
        assert_eq!(
            verify_recovery_code(&typed, &hashes),
            Err(AuthError::RecoveryCodeRejected)
        );
        let stored = hashes[0].to_hex();
        assert_eq!(RecoveryCodeHash::from_hex(&stored).unwrap(), hashes[0]);
    }
}
