//! Identity logic of wijkhub: who is calling, for which organisation, in which role.
//!
//! This crate holds the building blocks of authentication as pure or CPU-bound functions:
//! password hashing ([`password`]), the second factor and recovery codes ([`totp`]), partner
//! client secrets and `Authorization: Basic` parsing ([`client_secret`]), the hub's signing keys
//! ([`keys`]), access tokens and their validation ([`token`]), tokens of an external issuer
//! ([`external`]), `private_key_jwt` client assertions ([`client_assertion`]), login throttling
//! ([`throttle`]) and console sessions ([`session`]).
//!
//! It must never do HTTP or database IO, never read the clock itself (every check takes `now`),
//! and never put a password, secret, key or token into `Debug`, `Display`, an error or a log.
//! The server wires these blocks to routes, tables and the audit log; `README.md` beside this
//! crate describes the flows.

pub mod client_assertion;
pub mod client_secret;
mod error;
pub mod external;
mod jws;
pub mod keys;
pub mod password;
mod random;
pub mod session;
pub mod throttle;
pub mod token;
pub mod totp;

pub use error::{AuthError, TokenError};
/// Longest bearer token or client assertion looked at (8 KiB); longer ones are `too-large`.
pub use jws::MAX_TOKEN_BYTES;

use serde::Deserialize;

/// The `[auth]` section of the configuration: every setting of this crate in one place. Each
/// sub-section has working defaults (OWASP argon2id, 10-minute EdDSA tokens, 30 s leeway, ...),
/// except what only the deployment knows: the token issuer and audience, and external issuers.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// Member password hashing (`[auth.password]`).
    pub password: password::PasswordConfig,
    /// The hub's access tokens (`[auth.tokens]`).
    pub tokens: token::TokenConfig,
    /// Login throttling (`[auth.throttle]`).
    pub throttle: throttle::ThrottleConfig,
    /// Console sessions (`[auth.session]`).
    pub session: session::SessionConfig,
    /// `private_key_jwt` client authentication (`[auth.client_assertion]`).
    pub client_assertion: client_assertion::ClientAssertionConfig,
    /// Trusted external issuers, e.g. the municipality's IdP (`[[auth.external_issuers]]`).
    pub external_issuers: Vec<external::ExternalIssuerConfig>,
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn config_defaults_and_unknown_fields() {
        let config: AuthConfig = serde_json::from_str("{}").unwrap();
        assert_eq!(config, AuthConfig::default());
        assert_eq!(config.password.memory_kib, 19_456);
        assert_eq!(config.tokens.lifetime_seconds, 600);
        assert_eq!(config.tokens.algorithms, ["EdDSA"]);
        assert_eq!(config.client_assertion.max_lifetime_seconds, 300);

        let config: AuthConfig = serde_json::from_value(serde_json::json!({
            "tokens": {"issuer": "https://wijkhub.example", "audience": "wijkhub"},
            "throttle": {"account_max_failures": 3},
            "external_issuers": [{
                "issuer": "https://idp.example", "audience": "wijkhub", "member_claim": "email",
                "jwks_file": "config/idp-jwks.json"
            }]
        }))
        .unwrap();
        assert_eq!(config.tokens.leeway_seconds, 30);
        assert_eq!(config.throttle.account_max_failures, 3);
        assert_eq!(config.throttle.account_lock_seconds, 60);
        assert_eq!(
            config.external_issuers[0].algorithms,
            ["RS256", "ES256", "EdDSA"]
        );

        let readme = include_str!("../README.md");
        let example = readme
            .split("```toml\n")
            .nth(1)
            .and_then(|rest| rest.split("```").next())
            .unwrap();
        #[derive(Deserialize)]
        struct Root {
            auth: AuthConfig,
        }
        let documented: Root = toml::from_str(example).unwrap();
        assert_eq!(
            documented.auth.tokens.issuer, "https://wijkhub.example",
            "README's [auth] example parses with the real keys"
        );
        let defaults_but_issuer = AuthConfig {
            tokens: token::TokenConfig {
                issuer: "https://wijkhub.example".to_owned(),
                ..token::TokenConfig::default()
            },
            ..AuthConfig::default()
        };
        assert_eq!(
            documented.auth, defaults_but_issuer,
            "README shows the defaults"
        );

        let typo = serde_json::json!({"tokens": {"lifetime_secs": 60}});
        assert!(serde_json::from_value::<AuthConfig>(typo).is_err());
    }
}
