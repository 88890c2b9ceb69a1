//! `[auth]` settings: the `auth` crate's sections, plus what only the server knows (where the
//! auth key file is, how long a status is trusted, how often keys are reloaded).

use std::path::PathBuf;

use auth::client_assertion::ClientAssertionConfig;
use auth::external::ExternalIssuerConfig;
use auth::password::PasswordConfig;
use auth::session::SessionConfig;
use auth::throttle::ThrottleConfig;
use auth::token::TokenConfig;
use serde::Deserialize;

/// `[auth]` settings.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthSettings {
    /// The auth key file (seal key and audit checkpoint key), mode 0600. Production refuses to
    /// start when it is missing; `serve --demo` creates it.
    pub key_file: PathBuf,
    /// Seconds a member's, client's or organisation's active status is trusted before it is read
    /// again: how long a disabled account can go on using a token it already has (default 5).
    pub status_cache_seconds: u64,
    /// Seconds between checks for rotated signing keys (default 10).
    pub key_reload_seconds: u64,
    /// Member password hashing (`[auth.password]`).
    #[serde(default)]
    pub password: PasswordConfig,
    /// The hub's access tokens (`[auth.tokens]`).
    #[serde(default)]
    pub tokens: TokenConfig,
    /// Login throttling (`[auth.throttle]`).
    #[serde(default)]
    pub throttle: ThrottleConfig,
    /// Console sessions (`[auth.session]`).
    #[serde(default)]
    pub session: SessionConfig,
    /// `private_key_jwt` client authentication (`[auth.client_assertion]`).
    #[serde(default)]
    pub client_assertion: ClientAssertionConfig,
    /// Trusted external issuers, e.g. the municipality's IdP (`[[auth.external_issuers]]`).
    #[serde(default)]
    pub external_issuers: Vec<ExternalIssuerConfig>,
}

impl AuthSettings {
    /// The token endpoint's URL, from the issuer (the hub's public base URL).
    pub fn token_endpoint(&self) -> String {
        format!("{}/oauth/token", self.tokens.issuer.trim_end_matches('/'))
    }

    /// Whether the hub is reached over TLS (its public base URL is `https://`): cookies get
    /// `Secure` and the `__Host-` name.
    pub fn tls(&self) -> bool {
        self.tokens.issuer.starts_with("https://")
    }

    /// Whether the issuer names this machine (`localhost`, `127.0.0.1`, `[::1]`): plain http is
    /// tolerated there, also in production (a local trial, the test suite), never elsewhere.
    pub fn loopback(&self) -> bool {
        let rest = self
            .tokens
            .issuer
            .strip_prefix("http://")
            .unwrap_or_default();
        let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
        let host = match host.strip_prefix('[') {
            Some(bracketed) => bracketed.split(']').next().unwrap_or_default(),
            None => host.split(':').next().unwrap_or_default(),
        };
        host == "localhost"
            || host
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback())
    }

    pub(crate) fn validate(&self) -> Result<(), String> {
        if self.status_cache_seconds > 60 {
            return Err("auth.status_cache_seconds must be at most 60: a disabled account must stop within a minute".into());
        }
        if self.key_reload_seconds == 0 {
            return Err("auth.key_reload_seconds must be at least 1".into());
        }
        if self.tokens.issuer.is_empty() || self.tokens.audience.is_empty() {
            return Err("auth.tokens.issuer and auth.tokens.audience must be set".into());
        }
        if self.tokens.lifetime_seconds == 0 || self.tokens.lifetime_seconds > 3600 {
            return Err("auth.tokens.lifetime_seconds must be 1..=3600".into());
        }
        for issuer in &self.external_issuers {
            if issuer.jwks_file.is_none() {
                return Err(format!(
                    "auth.external_issuers: {} needs jwks_file (fetching jwks_url is not built yet)",
                    issuer.issuer
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(issuer: &str, tls: bool, loopback: bool) {
        let settings = AuthSettings {
            key_file: PathBuf::from("data/auth-keys"),
            status_cache_seconds: 5,
            key_reload_seconds: 10,
            password: PasswordConfig::default(),
            tokens: TokenConfig {
                issuer: issuer.to_owned(),
                ..TokenConfig::default()
            },
            throttle: ThrottleConfig::default(),
            session: SessionConfig::default(),
            client_assertion: ClientAssertionConfig::default(),
            external_issuers: Vec::new(),
        };
        assert_eq!(settings.tls(), tls, "{issuer}");
        assert_eq!(settings.loopback(), loopback, "{issuer}");
    }

    #[test]
    fn tls_and_loopback_from_the_issuer() {
        let cases = [
            ("https://wijkhub.example", true, false),
            ("http://wijkhub.example", false, false),
            ("http://localhost:8080", false, true),
            ("http://127.0.0.1:8080/", false, true),
            ("http://[::1]:8080", false, true),
            ("http://localhost.evil.example", false, false),
            ("http://10.0.0.1", false, false),
        ];
        for (issuer, tls, loopback) in cases {
            check(issuer, tls, loopback);
        }
    }
}
