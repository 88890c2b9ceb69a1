//! Authentication in the running hub (issue 4): the `auth` crate's building blocks wired to the
//! database, the audit log and HTTP.
//!
//! - `keyfile`: the auth key file (seal key, audit checkpoint key), outside the database;
//! - `signing`: the token signing keys, sealed in the database, shared and rotated;
//! - `oauth`: `POST /oauth/token` and `GET /.well-known/jwks.json`;
//! - `bearer`: who calls `/graphql` (bearer token or console session), checked against the
//!   account's current status;
//! - `login`: console login, logout, TOTP enrolment;
//! - `status`: the short-lived cache of account status;
//! - `admin`: what the CLI does to accounts and keys.
//!
//! Handlers here establish *who* calls; they never decide what a caller may see (that is
//! `policy`). Every grant and refusal is audited before the answer leaves (fail closed). No
//! password, secret, token, session id or key ever reaches a log, an error or `Debug`.

pub mod admin;
pub(crate) mod audit_trail;
pub(crate) mod bearer;
pub mod keyfile;
pub(crate) mod login;
pub(crate) mod oauth;
mod secret_file;
pub mod settings;
pub mod signing;
pub(crate) mod status;

use std::sync::Arc;
use std::time::Duration;

use auth::client_assertion::{ClientAssertionConfig, ClientAssertions};
use auth::external::ExternalIssuer;
use auth::password::Passwords;
use auth::session::SessionConfig;
use auth::throttle::Throttle;
use auth::token::AccessTokens;
use chrono::Utc;
use store::Db;

pub use keyfile::{AuthKeyError, AuthKeys, SealKey};
pub use secret_file::SecretFileError;
pub use settings::AuthSettings;
pub use signing::SigningKeyError;

use self::status::StatusCache;

/// The OAuth client id of the hub's own console, in sessions and the audit log.
pub const CONSOLE_CLIENT_ID: &str = "wijkhub-console";

/// Authentication could not be set up at start-up. One line each.
#[derive(Debug, thiserror::Error)]
pub enum AuthSetupError {
    #[error(transparent)]
    Keys(#[from] AuthKeyError),
    #[error(transparent)]
    Signing(#[from] SigningKeyError),
    #[error("auth configuration: {0}")]
    Config(String),
    #[error("external issuer {issuer}: {reason}")]
    ExternalIssuer { issuer: String, reason: String },
}

/// Everything authentication needs at run time, shared by the handlers.
pub(crate) struct AuthState {
    pub(crate) settings: AuthSettings,
    pub(crate) seal: SealKey,
    pub(crate) tokens: Arc<AccessTokens>,
    pub(crate) passwords: Passwords,
    pub(crate) throttle: Throttle,
    pub(crate) assertions: ClientAssertions,
    pub(crate) external: Vec<ExternalIssuer>,
    pub(crate) status: StatusCache,
    /// The version of the signing key set in use; the reload task advances it.
    pub(crate) key_version: std::sync::atomic::AtomicI64,
}

impl AuthState {
    /// Builds the state: loads the signing keys (creating the first on a new deployment), the
    /// password hasher (one argon2 run for the dummy hash, off the runtime) and external issuers.
    pub(crate) async fn build(
        settings: AuthSettings,
        keys: AuthKeys,
        db: &Db,
    ) -> Result<AuthState, AuthSetupError> {
        settings.validate().map_err(AuthSetupError::Config)?;
        let AuthKeys { seal, .. } = keys;
        let (signing_keys, key_version) = signing::load_or_create(db, &seal, Utc::now()).await?;
        let tokens = AccessTokens::new(settings.tokens.clone(), signing_keys)
            .map_err(|error| AuthSetupError::Config(format!("auth.tokens: {}", error.code())))?;
        let password_config = settings.password.clone();
        let passwords = tokio::task::spawn_blocking(move || Passwords::new(&password_config))
            .await
            .map_err(|_| AuthSetupError::Config("auth.password: hashing failed".into()))?
            .map_err(|error| AuthSetupError::Config(format!("auth.password: {}", error.code())))?;
        let mut assertion_config: ClientAssertionConfig = settings.client_assertion.clone();
        if assertion_config.audiences.is_empty() {
            assertion_config.audiences = vec![
                settings.token_endpoint(),
                settings.tokens.issuer.trim_end_matches('/').to_owned(),
            ];
        }
        let assertions = ClientAssertions::new(assertion_config).map_err(|error| {
            AuthSetupError::Config(format!("auth.client_assertion: {}", error.code()))
        })?;
        let mut external = Vec::with_capacity(settings.external_issuers.len());
        for issuer in &settings.external_issuers {
            external.push(load_external_issuer(issuer)?);
        }
        Ok(AuthState {
            throttle: Throttle::new(settings.throttle.clone()),
            status: StatusCache::new(Duration::from_secs(settings.status_cache_seconds)),
            tokens: Arc::new(tokens),
            passwords,
            assertions,
            external,
            seal,
            key_version: std::sync::atomic::AtomicI64::new(key_version),
            settings,
        })
    }

    pub(crate) fn session_config(&self) -> &SessionConfig {
        &self.settings.session
    }
}

fn load_external_issuer(
    config: &auth::external::ExternalIssuerConfig,
) -> Result<ExternalIssuer, AuthSetupError> {
    let failed = |reason: String| AuthSetupError::ExternalIssuer {
        issuer: config.issuer.clone(),
        reason,
    };
    let Some(path) = &config.jwks_file else {
        return Err(failed("jwks_file is not set".into()));
    };
    let jwks = std::fs::read_to_string(path)
        .map_err(|error| failed(format!("cannot read {path}: {}", error.kind())))?;
    ExternalIssuer::new(config.clone(), &jwks).map_err(|error| failed(error.code().to_owned()))
}

/// Background upkeep while the hub runs: picks up rotated signing keys, drops expired entries of
/// the token cache.
pub(crate) async fn maintain(state: Arc<AuthState>, db: Db) {
    let mut reload = tokio::time::interval(Duration::from_secs(state.settings.key_reload_seconds));
    reload.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut ticks: u64 = 0;
    loop {
        reload.tick().await;
        ticks += 1;
        let known = state.key_version.load(std::sync::atomic::Ordering::Relaxed);
        match signing::reload_if_changed(&db, &state.seal, &state.tokens, known).await {
            Ok(version) => state
                .key_version
                .store(version, std::sync::atomic::Ordering::Relaxed),
            Err(error) => {
                tracing::warn!(error = %error, "checking for rotated signing keys failed")
            }
        }
        if ticks.is_multiple_of(6) {
            state.tokens.purge_expired(Utc::now());
        }
    }
}
