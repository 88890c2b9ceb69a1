//! Whatever a caller sends, the parsers answer with an error, never a panic: header values,
//! tokens, assertions, codes.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::LazyLock;

use auth::client_secret::parse_basic_authorization;
use auth::keys::SigningKeys;
use auth::token::{AccessTokens, TokenConfig, unverified_issuer};
use auth::totp::{TotpSecret, verify_recovery_code, verify_totp};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use common::now;
use proptest::prelude::*;
use secrecy::SecretString;

static TOKENS: LazyLock<AccessTokens> = LazyLock::new(|| {
    AccessTokens::new(
        TokenConfig::default(),
        SigningKeys::generate(now()).unwrap(),
    )
    .unwrap()
});

/// Three base64url parts of JSON-ish bytes: gets past the shape checks far more often than
/// arbitrary text.
fn jwt_like() -> impl Strategy<Value = String> {
    let part =
        prop::collection::vec(any::<u8>(), 0..64).prop_map(|bytes| URL_SAFE_NO_PAD.encode(bytes));
    let json_part =
        "\\{\"(alg|typ|kid|crit|iss|aud|exp)\":(\"EdDSA\"|\"at\\+jwt\"|1|\\[\\]|null|-9e99)\\}"
            .prop_map(|json| URL_SAFE_NO_PAD.encode(json));
    (
        json_part.clone(),
        prop_oneof![json_part, part.clone()],
        part,
    )
        .prop_map(|(header, payload, signature)| format!("{header}.{payload}.{signature}"))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn tokens_never_panic(token in prop_oneof![jwt_like(), any::<String>()]) {
        let _ = TOKENS.verify(&token, now());
        let _ = unverified_issuer(&token);
        let _ = auth::client_assertion::claimed_client_id(&token);
    }

    #[test]
    fn basic_headers_never_panic(raw in any::<String>(), inner in any::<String>()) {
        let _ = parse_basic_authorization(&raw);
        let _ = parse_basic_authorization(&format!("Basic {}", STANDARD.encode(inner)));
    }

    #[test]
    fn codes_never_panic(code in any::<String>(), now_unix in prop_oneof![any::<u64>(), u64::MAX - 100..=u64::MAX], last in any::<Option<u64>>()) {
        let secret = TotpSecret::from_base32(&SecretString::from("GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ".to_owned())).unwrap();
        let _ = verify_totp(&secret, &code, now_unix, last);
        let _ = verify_recovery_code(&SecretString::from(code), &[]);
    }
}
