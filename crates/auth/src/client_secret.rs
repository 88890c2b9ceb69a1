//! Partner client secrets (`client_secret_basic`) and the parsing of `Authorization: Basic`.
//!
//! Exists so a partner system can authenticate at the token endpoint with a secret that is
//! random, shown once, and stored only as a digest. Must never store or log a secret, never
//! compare digests in variable time, and never accept a header that is not exactly
//! `Basic base64(urlencoded(id) ":" urlencoded(secret))` (RFC 6749 §2.3.1, RFC 7617).
//!
//! Why SHA-256 and not argon2 for client secrets: a secret is 256 random bits, so an attacker
//! holding the digest must search 2^256 candidates: no hashing speed makes that feasible, and a
//! slow hash would only make every token request cost 13 ms of our CPU. Slow hashes exist for
//! secrets people choose; these are not chosen by people.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use secrecy::{ExposeSecret, SecretString};

use crate::AuthError;

/// Prefix of every client secret: recognisable in a secret scanner and in a support call.
pub const SECRET_PREFIX: &str = "whs_";

/// Longest `Authorization` header we look at; anything longer is malformed.
pub const MAX_BASIC_HEADER: usize = 1024;

/// The stored form of a client secret: SHA-256 of the full secret text (prefix included).
#[derive(Clone, PartialEq, Eq)]
pub struct ClientSecretHash([u8; 32]);

impl std::fmt::Debug for ClientSecretHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClientSecretHash(..)")
    }
}

impl ClientSecretHash {
    /// 64 lower-case hex digits, for the `clients.secret_hash` column.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    pub fn from_hex(s: &str) -> Result<ClientSecretHash, AuthError> {
        crate::random::digest_from_hex(s).map(ClientSecretHash)
    }
}

/// A fresh client secret (`whs_` + 43 base64url characters = 256 random bits), to show once,
/// and its digest, to store.
pub fn generate_client_secret() -> Result<(SecretString, ClientSecretHash), AuthError> {
    let random = crate::random::bytes::<32>()?;
    let secret = SecretString::from(format!(
        "{SECRET_PREFIX}{}",
        URL_SAFE_NO_PAD.encode(random.as_ref())
    ));
    let hash = hash_client_secret(&secret);
    Ok((secret, hash))
}

/// The digest of a presented secret.
pub fn hash_client_secret(secret: &SecretString) -> ClientSecretHash {
    ClientSecretHash(crate::random::sha256(secret.expose_secret().as_bytes()))
}

/// Whether a presented secret matches the stored digest (constant time).
pub fn verify_client_secret(presented: &SecretString, stored: &ClientSecretHash) -> bool {
    crate::random::digest_eq(&hash_client_secret(presented).0, &stored.0)
}

/// The client id and secret from an `Authorization: Basic` header.
pub struct BasicCredentials {
    pub client_id: String,
    pub secret: SecretString,
}

impl std::fmt::Debug for BasicCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BasicCredentials")
            .field("client_id", &self.client_id)
            .field("secret", &"***")
            .finish()
    }
}

/// Parses the value of an `Authorization` header for `client_secret_basic`.
///
/// Strict: the scheme `Basic` (any case), one space, canonical padded base64, valid UTF-8, a
/// colon, both parts non-empty after form-urldecoding, no control characters. Every failure is
/// [`AuthError::BasicMalformed`], so the answer never says which part was wrong.
pub fn parse_basic_authorization(header: &str) -> Result<BasicCredentials, AuthError> {
    if header.len() > MAX_BASIC_HEADER {
        return Err(AuthError::BasicMalformed);
    }
    let (scheme, encoded) = header.split_once(' ').ok_or(AuthError::BasicMalformed)?;
    if !scheme.eq_ignore_ascii_case("Basic") || encoded.is_empty() || encoded.contains(' ') {
        return Err(AuthError::BasicMalformed);
    }
    let decoded = zeroize::Zeroizing::new(
        STANDARD
            .decode(encoded)
            .map_err(|_| AuthError::BasicMalformed)?,
    );
    let text = std::str::from_utf8(&decoded).map_err(|_| AuthError::BasicMalformed)?;
    let (raw_id, raw_secret) = text.split_once(':').ok_or(AuthError::BasicMalformed)?;
    let client_id = form_urldecode(raw_id)?;
    let secret = form_urldecode(raw_secret)?;
    if client_id.is_empty() || secret.is_empty() {
        return Err(AuthError::BasicMalformed);
    }
    Ok(BasicCredentials {
        client_id: client_id.as_str().to_owned(),
        secret: SecretString::from(secret.as_str().to_owned()),
    })
}

/// `application/x-www-form-urlencoded` decoding of one value, refusing a `%` not followed by two
/// hex digits (which `percent-encoding` would pass through) and control characters.
fn form_urldecode(raw: &str) -> Result<zeroize::Zeroizing<String>, AuthError> {
    let bytes = raw.as_bytes();
    for (idx, byte) in bytes.iter().enumerate() {
        if *byte == b'%' {
            let hex_pair = bytes
                .get(idx + 1..idx + 3)
                .ok_or(AuthError::BasicMalformed)?;
            if !hex_pair.iter().all(u8::is_ascii_hexdigit) {
                return Err(AuthError::BasicMalformed);
            }
        }
    }
    let plus_as_space = zeroize::Zeroizing::new(raw.replace('+', " "));
    let decoded = percent_encoding::percent_decode_str(&plus_as_space)
        .decode_utf8()
        .map_err(|_| AuthError::BasicMalformed)?;
    if decoded.chars().any(char::is_control) {
        return Err(AuthError::BasicMalformed);
    }
    Ok(zeroize::Zeroizing::new(decoded.into_owned()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn generated_secrets_verify_and_look_right() {
        let (secret, hash) = generate_client_secret().unwrap();
        let text = secret.expose_secret();
        assert!(text.starts_with(SECRET_PREFIX));
        assert_eq!(text.len(), 4 + 43);
        assert!(verify_client_secret(&secret, &hash));
        let other = SecretString::from(format!("{text}x"));
        assert!(!verify_client_secret(&other, &hash));
        assert_eq!(ClientSecretHash::from_hex(&hash.to_hex()).unwrap(), hash);
        assert!(ClientSecretHash::from_hex("abc").is_err());
        let (second, _) = generate_client_secret().unwrap();
        assert_ne!(second.expose_secret(), text);
    }

    #[track_caller]
    fn check(header: &str, want: Option<(&str, &str)>) {
        let got = parse_basic_authorization(header);
        match (got, want) {
            (Ok(credentials), Some((id, secret))) => {
                assert_eq!(credentials.client_id, id);
                assert_eq!(credentials.secret.expose_secret(), secret);
            }
            (Err(error), None) => assert_eq!(error, AuthError::BasicMalformed),
            (got, want) => panic!("{header:?}: got {got:?}, want {want:?}"),
        }
    }

    fn basic(inner: &str) -> String {
        format!("Basic {}", STANDARD.encode(inner))
    }

    #[test]
    fn basic_header_cases() {
        let long = basic(&format!("id:{}", "x".repeat(MAX_BASIC_HEADER)));
        let cases: Vec<(String, Option<(&str, &str)>)> = vec![
            (basic("client-1:whs_abc"), Some(("client-1", "whs_abc"))),
            (basic("a%3Ab:s%2Bt+u"), Some(("a:b", "s+t u"))),
            (basic("id:sec:ret"), Some(("id", "sec:ret"))),
            (
                format!("basic {}", STANDARD.encode("id:s")),
                Some(("id", "s")),
            ),
            (basic("id"), None),
            (basic(":secret"), None),
            (basic("id:"), None),
            (basic("id:%zz"), None),
            (basic("id:%4"), None),
            (basic("id:a%00b"), None),
            (basic("id:\u{7}"), None),
            ("Bearer abc".to_owned(), None),
            ("Basic".to_owned(), None),
            ("Basic ".to_owned(), None),
            ("Basic  aWQ6cw==".to_owned(), None),
            ("Basic aWQ6cw".to_owned(), None),
            ("Basic aWQ6cw==x".to_owned(), None),
            ("Basic aWQ6cw== ".to_owned(), None),
            (
                format!("Basic {}", STANDARD.encode([0x69, 0x3a, 0xff])),
                None,
            ),
            (long, None),
        ];
        for (header, want) in cases {
            check(&header, want);
        }
    }

    #[test]
    fn debug_hides_the_secret() {
        let credentials = parse_basic_authorization(&basic("id:topsecret")).unwrap();
        let shown = format!("{credentials:?}");
        assert!(!shown.contains("topsecret"), "{shown}");
    }
}
