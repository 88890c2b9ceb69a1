//! The bearer token before its signature is checked, and the other credential parsers of the
//! token endpoint: JWS compact form, header (`alg` allow-list, `typ`, `kid`, `crit`), the
//! unverified peeks used for routing (`iss`, a client assertion's client id), an external
//! issuer's token (RS256 JWKS of the test fixture), and `Authorization: Basic`.
//!
//! The hub's keys here are fixed (`fuzz/fixtures/signing-keys.json`, fuzz-only), so the seed
//! tokens in `corpus/bearer_token` verify and the claim checks after the signature are reached too.

#![no_main]

use std::sync::LazyLock;

use auth::external::{ExternalIssuer, ExternalIssuerConfig};
use auth::keys::SigningKeys;
use auth::token::{AccessTokens, TokenConfig};
use chrono::{DateTime, Utc};
use libfuzzer_sys::fuzz_target;
use secrecy::SecretString;

/// When the seed tokens were issued, plus a minute: they are valid at this instant.
const NOW: i64 = 1_800_000_060;
const ISSUER: &str = "https://wijkhub.example";
const AUDIENCE: &str = "wijkhub";
const IDP: &str = "https://login.gemeente.example/realms/staff";

fn now() -> DateTime<Utc> {
    DateTime::from_timestamp(NOW, 0).unwrap_or_default()
}

static TOKENS: LazyLock<AccessTokens> = LazyLock::new(|| {
    let stored = SecretString::from(include_str!("../fixtures/signing-keys.json").trim());
    let keys = SigningKeys::from_stored(&stored)
        .unwrap_or_else(|error| panic!("the fixture's signing keys load: {error}"));
    let config = TokenConfig {
        issuer: ISSUER.to_owned(),
        audience: AUDIENCE.to_owned(),
        ..TokenConfig::default()
    };
    AccessTokens::new(config, keys)
        .unwrap_or_else(|error| panic!("the token verifier builds: {error}"))
});

static EXTERNAL: LazyLock<ExternalIssuer> = LazyLock::new(|| {
    let config = ExternalIssuerConfig {
        issuer: IDP.to_owned(),
        audience: AUDIENCE.to_owned(),
        algorithms: ["RS256", "ES256", "EdDSA"].map(str::to_owned).to_vec(),
        member_claim: "email".to_owned(),
        token_type: None,
        leeway_seconds: 30,
        jwks_file: None,
        jwks_url: None,
    };
    let jwks = include_str!("../../crates/auth/tests/fixtures/idp-rsa-jwks.json");
    ExternalIssuer::new(config, jwks)
        .unwrap_or_else(|error| panic!("the fixture's external issuer builds: {error}"))
});

fuzz_target!(|data: &[u8]| {
    // Header values reach the parsers as text; other bytes are refused by the HTTP layer.
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let token = text.trim();
    let now = now();
    let _ = std::hint::black_box(TOKENS.verify_uncached(token, now));
    let _ = std::hint::black_box(auth::token::unverified_issuer(token));
    let _ = std::hint::black_box(auth::client_assertion::claimed_client_id(token));
    let _ = std::hint::black_box(EXTERNAL.verify(token, now));
    let _ = std::hint::black_box(auth::client_secret::parse_basic_authorization(text));
});
