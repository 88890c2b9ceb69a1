//! What administrators do to accounts and keys from the CLI (`wijkhub members|clients|keys`),
//! and the demo's credentials.
//!
//! Exists so every credential change goes through one place that hashes before storing, seals
//! what must be sealed, ends sessions that must end, and writes an audit entry (actor `system`,
//! the target's id in the reason code). A password, secret or code is returned to the caller
//! exactly once, to be shown once; it is never logged, never in an error, never in `Debug`.

use std::path::Path;

use audit::{Actor, AuditAction, AuditWriter, Code, NewEntry, Outcome};
use auth::client_assertion::ClientPublicKey;
use auth::client_secret::{ClientSecretHash, generate_client_secret, verify_client_secret};
use auth::password::Passwords;
use auth::totp::{
    RECOVERY_CODES, RecoveryCodeHash, TotpSecret, generate_recovery_codes, provisioning_uri,
};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use domain::{ClientId, MemberStatus, OrganisationId, Purpose, Role};
use ring::rand::{SecureRandom, SystemRandom};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use store::{Db, SchemaStatus, StoreError, accounts};
use zeroize::Zeroizing;

use super::keyfile::{AuthKeyError, AuthKeys, SealKey};
use super::login::{TOTP_SEAL_LABEL, needs_second_factor, totp_enrolled};
use super::secret_file::{self, SecretFileError, WriteMode};
use super::signing::{self, SigningKeyError};
use crate::config::Config;

/// Shortest password an administrator may set by hand (generated ones are 24 characters).
pub const MIN_PASSWORD_CHARS: usize = 12;

/// An administrative action failed. One line; never a secret.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Keys(#[from] AuthKeyError),
    #[error(transparent)]
    Signing(#[from] SigningKeyError),
    #[error(transparent)]
    File(#[from] SecretFileError),
    #[error("the database schema is not current; run `wijkhub migrate` first")]
    SchemaNotCurrent,
    #[error("the audit log cannot be written: {0}")]
    Audit(#[from] audit::AuditError),
    #[error("no member with that e-mail address")]
    NoSuchMember,
    #[error("a member with that e-mail address exists already")]
    MemberExists,
    #[error("no organisation named {0:?}")]
    NoSuchOrganisation(String),
    #[error("no client with that client id")]
    NoSuchClient,
    #[error("a client with that client id exists already")]
    ClientExists,
    #[error("{0}")]
    Invalid(String),
    #[error("password hashing failed ({0})")]
    Hashing(&'static str),
}

/// A new password: generated (and shown once) or given by the administrator on stdin.
pub enum NewPassword {
    Generate,
    Given(SecretString),
}

/// What a change hands back to be shown once.
pub struct Shown {
    /// The id of the account changed.
    pub id: uuid::Uuid,
    /// A generated password or client secret, when one was generated.
    pub secret: Option<SecretString>,
}

impl std::fmt::Debug for Shown {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shown")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// A member as `members list` shows it: no credential, only whether there is one.
#[derive(Debug, Clone)]
pub struct MemberSummary {
    pub email: String,
    pub name: String,
    pub organisation: String,
    pub roles: Vec<Role>,
    pub status: String,
    pub second_factor: bool,
    pub failed_logins: i32,
    /// Set while the account is locked (lifts by itself at this time).
    pub locked_until: Option<DateTime<Utc>>,
}

/// A client as `clients list` shows it.
#[derive(Debug, Clone)]
pub struct ClientSummary {
    pub client_id: String,
    pub name: String,
    pub organisation: String,
    pub status: String,
    pub scopes: Vec<String>,
    pub purposes: Vec<Purpose>,
    pub secret: bool,
    pub public_key: bool,
}

/// A signing key as `keys status` shows it.
#[derive(Debug, Clone)]
pub struct SigningKeySummary {
    pub kid: String,
    pub created_at: DateTime<Utc>,
    pub current: bool,
}

/// `wijkhub keys init-auth`: a new auth key file, mode 0600; refuses to overwrite one.
pub fn init_auth_keys(path: &Path) -> Result<(), AuthKeyError> {
    AuthKeys::create(path).map(drop)
}

/// `serve --demo`: creates the auth key file on first run, with a loud warning.
pub fn load_or_create_auth_keys_for_demo(config: &Config) -> Result<(), AuthKeyError> {
    match AuthKeys::load(&config.auth.key_file) {
        Ok(_) => Ok(()),
        Err(AuthKeyError::Missing { .. }) => {
            AuthKeys::create(&config.auth.key_file)?;
            tracing::warn!(
                path = %config.auth.key_file.display(),
                "DEVELOPMENT AUTH KEYS CREATED: the key sealing the token signing keys lies next to the \
                 database. Fine for the demo; never for real accounts"
            );
            eprintln!(
                "warning: created development auth keys in {} (demo only: the keys lie next to the data)",
                config.auth.key_file.display()
            );
            Ok(())
        }
        Err(error) => Err(error),
    }
}

/// A random password of 24 base64url characters (144 bits).
pub fn generate_password() -> Result<SecretString, AdminError> {
    let mut bytes = Zeroizing::new([0u8; 18]);
    SystemRandom::new()
        .fill(bytes.as_mut())
        .map_err(|_| AdminError::Invalid("the operating system's random source failed".into()))?;
    Ok(SecretString::from(URL_SAFE_NO_PAD.encode(bytes.as_ref())))
}

fn check_password(password: &SecretString) -> Result<(), AdminError> {
    let chars = password.expose_secret().chars().count();
    if chars < MIN_PASSWORD_CHARS || password.expose_secret().len() > 1024 {
        return Err(AdminError::Invalid(format!(
            "a password needs {MIN_PASSWORD_CHARS} to 1024 characters"
        )));
    }
    Ok(())
}

/// An open administrative session: the database, the seal key, the hasher and an audit writer
/// (its own chain, sealed with a checkpoint at [`Admin::close`]).
pub struct Admin {
    db: Db,
    seal: SealKey,
    passwords: Passwords,
    audit: Option<AuditWriter>,
}

impl std::fmt::Debug for Admin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Admin").finish_non_exhaustive()
    }
}

impl Admin {
    /// Connects, checks the schema is current, loads the auth key file, starts an audit writer.
    pub async fn open(config: &Config) -> Result<Admin, AdminError> {
        let db = Db::connect(&config.database).await?;
        Admin::open_with_db(config, db).await
    }

    pub async fn open_with_db(config: &Config, db: Db) -> Result<Admin, AdminError> {
        if db.schema_status().await? != SchemaStatus::Current {
            return Err(AdminError::SchemaNotCurrent);
        }
        let keys = AuthKeys::load(&config.auth.key_file)?;
        let audit_key = keys
            .audit_signing_key(&config.audit.origin_prefix)
            .map_err(|_| AuthKeyError::Invalid {
                path: config.auth.key_file.display().to_string(),
            })?;
        let audit = audit::start(db.conn().clone(), config.audit.clone(), audit_key).await?;
        let password_config = config.auth.password.clone();
        let passwords = tokio::task::spawn_blocking(move || Passwords::new(&password_config))
            .await
            .map_err(|_| AdminError::Hashing("pool"))?
            .map_err(|error| AdminError::Hashing(error.code()))?;
        let AuthKeys { seal, .. } = keys;
        Ok(Admin {
            db,
            seal,
            passwords,
            audit: Some(audit),
        })
    }

    /// Commits what is queued and signs the audit chain's final checkpoint.
    pub async fn close(mut self) -> Result<(), AdminError> {
        if let Some(audit) = self.audit.take() {
            audit.shutdown().await?;
        }
        Ok(())
    }

    async fn audit(
        &self,
        action: AuditAction,
        reason: &str,
        organisation: Option<uuid::Uuid>,
        client: Option<uuid::Uuid>,
    ) -> Result<(), AdminError> {
        let Some(writer) = &self.audit else {
            return Err(AdminError::Audit(audit::AuditError::Unavailable));
        };
        let mut entry = NewEntry::new(action, Actor::System, Outcome::Permit);
        entry.reason = Some(Code::parse(reason)?);
        entry.organisation = organisation.map(OrganisationId::from_uuid);
        entry.client = client.map(ClientId::from_uuid);
        writer.log().submit(entry).await?;
        Ok(())
    }

    async fn hash(&self, password: SecretString) -> Result<String, AdminError> {
        self.passwords
            .hash_async(password)
            .await
            .map_err(|error| AdminError::Hashing(error.code()))
    }

    async fn member(&self, email: &str) -> Result<accounts::Member, AdminError> {
        accounts::member_by_email(&self.db, email)
            .await?
            .ok_or(AdminError::NoSuchMember)
    }

    async fn client(&self, client_id: &str) -> Result<accounts::Client, AdminError> {
        accounts::client_by_client_id(&self.db, client_id)
            .await?
            .ok_or(AdminError::NoSuchClient)
    }

    /// `members add`.
    pub async fn add_member(
        &self,
        email: &str,
        name: &str,
        organisation: &str,
        roles: &[Role],
        password: NewPassword,
    ) -> Result<Shown, AdminError> {
        let email = accounts::normalise_email(email);
        if !email.contains('@') || email.contains(':') || email.len() > 320 {
            return Err(AdminError::Invalid("not an e-mail address".into()));
        }
        if name.trim().is_empty() || roles.is_empty() {
            return Err(AdminError::Invalid(
                "a member needs a name and at least one role".into(),
            ));
        }
        if accounts::member_by_email(&self.db, &email).await?.is_some() {
            return Err(AdminError::MemberExists);
        }
        let organisation = accounts::organisation_by_name(&self.db, organisation)
            .await?
            .ok_or_else(|| AdminError::NoSuchOrganisation(organisation.to_owned()))?;
        let (password, shown) = match password {
            NewPassword::Generate => {
                let generated = generate_password()?;
                (generated.clone(), Some(generated))
            }
            NewPassword::Given(given) => {
                check_password(&given)?;
                (given, None)
            }
        };
        let password_hash = self.hash(password).await?;
        let now = Utc::now();
        let id = accounts::insert_member(
            &self.db,
            accounts::NewMember {
                organisation: organisation.id,
                name: name.trim(),
                email: &email,
                roles,
                password_hash,
            },
            now,
        )
        .await?;
        self.audit(
            AuditAction::AccountChange,
            &format!("member-added:{id}"),
            Some(organisation.id),
            None,
        )
        .await?;
        Ok(Shown { id, secret: shown })
    }

    /// `members disable`: refused from the next status check on (seconds), sessions ended now.
    pub async fn disable_member(&self, email: &str) -> Result<Shown, AdminError> {
        let member = self.member(email).await?;
        let now = Utc::now();
        accounts::set_member_status(&self.db, member.id, MemberStatus::Disabled, now).await?;
        accounts::end_member_sessions(&self.db, member.id, now).await?;
        self.audit(
            AuditAction::AccountChange,
            &format!("member-disabled:{}", member.id),
            Some(member.organisation_id),
            None,
        )
        .await?;
        Ok(Shown {
            id: member.id,
            secret: None,
        })
    }

    /// `members reset-password`: a new password, failures and lock forgotten, sessions ended;
    /// with `reset_second_factor`, the TOTP enrolment and recovery codes are removed too.
    pub async fn reset_password(
        &self,
        email: &str,
        password: NewPassword,
        reset_second_factor: bool,
    ) -> Result<Shown, AdminError> {
        let member = self.member(email).await?;
        let (password, shown) = match password {
            NewPassword::Generate => {
                let generated = generate_password()?;
                (generated.clone(), Some(generated))
            }
            NewPassword::Given(given) => {
                check_password(&given)?;
                (given, None)
            }
        };
        let hash = self.hash(password).await?;
        let now = Utc::now();
        accounts::set_password_hash(&self.db, member.id, hash, now).await?;
        accounts::clear_login_failures(&self.db, member.id, now).await?;
        if reset_second_factor {
            accounts::clear_totp(&self.db, member.id, now).await?;
        }
        accounts::end_member_sessions(&self.db, member.id, now).await?;
        let reason = if reset_second_factor {
            format!("password-and-second-factor-reset:{}", member.id)
        } else {
            format!("password-reset:{}", member.id)
        };
        self.audit(
            AuditAction::AccountChange,
            &reason,
            Some(member.organisation_id),
            None,
        )
        .await?;
        Ok(Shown {
            id: member.id,
            secret: shown,
        })
    }

    /// `members unlock`: lifts a lock early. Returns the lock that was lifted, if any.
    pub async fn unlock_member(&self, email: &str) -> Result<Option<DateTime<Utc>>, AdminError> {
        let member = self.member(email).await?;
        let now = Utc::now();
        accounts::clear_login_failures(&self.db, member.id, now).await?;
        self.audit(
            AuditAction::AccountChange,
            &format!("member-unlocked:{}", member.id),
            Some(member.organisation_id),
            None,
        )
        .await?;
        Ok(member.locked_until.filter(|until| *until > now))
    }

    /// `members list`: status, roles, second factor, lock.
    pub async fn list_members(&self) -> Result<Vec<MemberSummary>, AdminError> {
        let now = Utc::now();
        let mut summaries = Vec::new();
        for member in accounts::all_members(&self.db).await? {
            let organisation = accounts::organisation(&self.db, member.organisation_id)
                .await?
                .map(|org| org.name)
                .unwrap_or_default();
            summaries.push(MemberSummary {
                roles: accounts::member_roles(&member)?,
                second_factor: totp_enrolled(&member),
                locked_until: member.locked_until.filter(|until| *until > now),
                failed_logins: member.failed_logins,
                email: member.email,
                name: member.name,
                organisation,
                status: member.status,
            });
        }
        Ok(summaries)
    }

    /// `clients add`: a client with a generated secret (shown once) unless it registers only a
    /// public key for `private_key_jwt`.
    #[allow(clippy::too_many_arguments)]
    pub async fn add_client(
        &self,
        client_id: &str,
        name: &str,
        organisation: &str,
        scopes: &[String],
        purposes: &[Purpose],
        public_key: Option<&str>,
        with_secret: bool,
    ) -> Result<Shown, AdminError> {
        let valid_id = !client_id.is_empty()
            && client_id.len() <= 128
            && client_id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
        if !valid_id {
            return Err(AdminError::Invalid(
                "a client id is 1-128 characters of a-z, A-Z, 0-9, '-', '_' and '.'".into(),
            ));
        }
        if auth::token::grant_scopes(Some(&scopes.join(" ")), scopes).is_err() {
            return Err(AdminError::Invalid(
                "scopes are RFC 6749 scope tokens".into(),
            ));
        }
        if !with_secret && public_key.is_none() {
            return Err(AdminError::Invalid(
                "a client needs a secret, a public key, or both".into(),
            ));
        }
        if let Some(key) = public_key {
            ClientPublicKey::from_jwk_json(key)
                .or_else(|_| ClientPublicKey::from_pem(key))
                .map_err(|_| {
                    AdminError::Invalid(
                        "the public key is not an Ed25519 or P-256 public JWK or PEM".into(),
                    )
                })?;
        }
        if accounts::client_by_client_id(&self.db, client_id)
            .await?
            .is_some()
        {
            return Err(AdminError::ClientExists);
        }
        let organisation = accounts::organisation_by_name(&self.db, organisation)
            .await?
            .ok_or_else(|| AdminError::NoSuchOrganisation(organisation.to_owned()))?;
        if accounts::organisation_kind(&organisation)?
            .client_role()
            .is_none()
        {
            return Err(AdminError::Invalid(
                "this kind of organisation has no partner-system role".into(),
            ));
        }
        let (secret, secret_hash) = if with_secret {
            let (secret, hash) =
                generate_client_secret().map_err(|error| AdminError::Hashing(error.code()))?;
            (Some(secret), Some(hash.to_hex()))
        } else {
            (None, None)
        };
        let id = accounts::insert_client(
            &self.db,
            accounts::NewClient {
                organisation: organisation.id,
                client_id,
                name,
                secret_hash,
                public_key_jwk: public_key.map(str::to_owned),
                scopes,
                purposes,
            },
            Utc::now(),
        )
        .await?;
        self.audit(
            AuditAction::AccountChange,
            &format!("client-added:{id}"),
            Some(organisation.id),
            Some(id),
        )
        .await?;
        Ok(Shown { id, secret })
    }

    /// `clients rotate-secret`: a new secret (shown once); the old one stops working at once.
    pub async fn rotate_client_secret(&self, client_id: &str) -> Result<Shown, AdminError> {
        let client = self.client(client_id).await?;
        let (secret, hash) =
            generate_client_secret().map_err(|error| AdminError::Hashing(error.code()))?;
        accounts::set_client_secret_hash(&self.db, client.id, hash.to_hex(), Utc::now()).await?;
        self.audit(
            AuditAction::AccountChange,
            &format!("client-secret-rotated:{}", client.id),
            Some(client.organisation_id),
            Some(client.id),
        )
        .await?;
        Ok(Shown {
            id: client.id,
            secret: Some(secret),
        })
    }

    /// `clients set-key`: registers (or replaces) the public key for `private_key_jwt`.
    pub async fn set_client_public_key(
        &self,
        client_id: &str,
        public_key: &str,
    ) -> Result<Shown, AdminError> {
        ClientPublicKey::from_jwk_json(public_key)
            .or_else(|_| ClientPublicKey::from_pem(public_key))
            .map_err(|_| {
                AdminError::Invalid(
                    "the public key is not an Ed25519 or P-256 public JWK or PEM".into(),
                )
            })?;
        let client = self.client(client_id).await?;
        accounts::set_client_public_key(&self.db, client.id, public_key.to_owned(), Utc::now())
            .await?;
        self.audit(
            AuditAction::AccountChange,
            &format!("client-key-set:{}", client.id),
            Some(client.organisation_id),
            Some(client.id),
        )
        .await?;
        Ok(Shown {
            id: client.id,
            secret: None,
        })
    }

    /// `clients disable`: its tokens are refused from the next status check on (seconds).
    pub async fn disable_client(&self, client_id: &str) -> Result<Shown, AdminError> {
        let client = self.client(client_id).await?;
        accounts::set_client_status(&self.db, client.id, MemberStatus::Disabled, Utc::now())
            .await?;
        self.audit(
            AuditAction::AccountChange,
            &format!("client-disabled:{}", client.id),
            Some(client.organisation_id),
            Some(client.id),
        )
        .await?;
        Ok(Shown {
            id: client.id,
            secret: None,
        })
    }

    /// `clients list`.
    pub async fn list_clients(&self) -> Result<Vec<ClientSummary>, AdminError> {
        let mut summaries = Vec::new();
        for client in accounts::all_clients(&self.db).await? {
            let organisation = accounts::organisation(&self.db, client.organisation_id)
                .await?
                .map(|org| org.name)
                .unwrap_or_default();
            summaries.push(ClientSummary {
                scopes: accounts::client_scopes(&client)?,
                purposes: accounts::client_purposes(&client)?,
                secret: client.secret_hash.is_some(),
                public_key: client.public_key_jwk.is_some(),
                client_id: client.client_id,
                name: client.name,
                organisation,
                status: client.status,
            });
        }
        Ok(summaries)
    }

    /// `keys rotate-signing`: a new current signing key; the old ones keep verifying until
    /// retired. Instances pick it up within `auth.key_reload_seconds`.
    pub async fn rotate_signing_key(&self) -> Result<Vec<SigningKeySummary>, AdminError> {
        let keys = signing::rotate(&self.db, &self.seal, Utc::now()).await?;
        self.audit(
            AuditAction::KeyOperation,
            &format!("signing-key-rotated:{}", keys.current_kid()),
            None,
            None,
        )
        .await?;
        Ok(summarise(&keys))
    }

    /// `keys rotate-signing --retire KID`: tokens signed by that key are refused from the next
    /// reload on. Wait one token lifetime after the rotation.
    pub async fn retire_signing_key(
        &self,
        kid: &str,
    ) -> Result<Vec<SigningKeySummary>, AdminError> {
        let keys = signing::retire(&self.db, &self.seal, kid, Utc::now()).await?;
        let reason = format!("signing-key-retired:{kid}");
        let reason = if Code::parse(&reason).is_ok() {
            reason
        } else {
            "signing-key-retired".to_owned()
        };
        self.audit(AuditAction::KeyOperation, &reason, None, None)
            .await?;
        Ok(summarise(&keys))
    }

    /// `keys status` (signing part): the signing keys, oldest first.
    pub async fn signing_keys(&self) -> Result<Vec<SigningKeySummary>, AdminError> {
        match signing::load(&self.db, &self.seal).await? {
            Some((keys, _)) => Ok(summarise(&keys)),
            None => Ok(Vec::new()),
        }
    }
}

fn summarise(keys: &auth::keys::SigningKeys) -> Vec<SigningKeySummary> {
    keys.created()
        .into_iter()
        .map(|(kid, created_at)| SigningKeySummary {
            current: kid == keys.current_kid(),
            kid: kid.to_owned(),
            created_at,
        })
        .collect()
}

// ---------------------------------------------------------------- demo credentials

/// `data/demo-credentials.json`: what a person trying the demo needs. Demo only.
#[derive(Serialize, Deserialize)]
struct DemoCredentials {
    warning: String,
    token_endpoint: String,
    login_endpoint: String,
    members: Vec<DemoMemberCredentials>,
    clients: Vec<DemoClientCredentials>,
}

#[derive(Serialize, Deserialize)]
struct DemoMemberCredentials {
    email: String,
    name: String,
    roles: Vec<String>,
    password: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    totp: Option<DemoTotp>,
}

#[derive(Serialize, Deserialize)]
struct DemoTotp {
    secret: String,
    provisioning_uri: String,
    recovery_codes: Vec<String>,
}

#[derive(Serialize, Deserialize)]
struct DemoClientCredentials {
    client_id: String,
    organisation: String,
    client_secret: String,
    scopes: Vec<String>,
    purposes: Vec<String>,
}

impl Drop for DemoCredentials {
    fn drop(&mut self) {
        for member in &mut self.members {
            zeroize::Zeroize::zeroize(&mut member.password);
            if let Some(totp) = &mut member.totp {
                zeroize::Zeroize::zeroize(&mut totp.secret);
                zeroize::Zeroize::zeroize(&mut totp.provisioning_uri);
                for code in &mut totp.recovery_codes {
                    zeroize::Zeroize::zeroize(code);
                }
            }
        }
        for client in &mut self.clients {
            zeroize::Zeroize::zeroize(&mut client.client_secret);
        }
    }
}

/// What [`Admin::ensure_demo_credentials`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DemoCredentialsOutcome {
    /// The file was there and every credential in it still works: nothing changed.
    Kept,
    /// New credentials were set and written.
    Written,
}

impl Admin {
    /// Gives the demo members passwords (and TOTP for the privacy officer and the administrator)
    /// and the demo clients secrets, and writes them to `path` (mode 0600). Idempotent: when the
    /// file exists and every credential in it still works, nothing changes.
    pub async fn ensure_demo_credentials(
        &self,
        path: &Path,
        issuer: &str,
    ) -> Result<DemoCredentialsOutcome, AdminError> {
        match secret_file::read(path) {
            Ok(text) => {
                if let Ok(existing) = serde_json::from_str::<DemoCredentials>(&text)
                    && self.demo_credentials_work(&existing).await?
                {
                    return Ok(DemoCredentialsOutcome::Kept);
                }
            }
            Err(SecretFileError::Missing { .. }) => {}
            Err(error) => return Err(error.into()),
        }
        let credentials = self.issue_demo_credentials(issuer).await?;
        let text = Zeroizing::new(
            serde_json::to_string_pretty(&credentials)
                .map_err(|_| AdminError::Invalid("demo credentials".into()))?,
        );
        secret_file::write(path, &text, WriteMode::Replace)?;
        self.audit(
            AuditAction::AccountChange,
            "demo-credentials-issued",
            None,
            None,
        )
        .await?;
        Ok(DemoCredentialsOutcome::Written)
    }

    async fn demo_credentials_work(&self, existing: &DemoCredentials) -> Result<bool, AdminError> {
        for demo in store::seed::DEMO_MEMBERS {
            let Some(entry) = existing.members.iter().find(|m| m.email == demo.email) else {
                return Ok(false);
            };
            let Some(member) = accounts::member_by_email(&self.db, demo.email).await? else {
                return Ok(false);
            };
            let Some(hash) = member.password_hash.as_ref().map(|hash| hash.0.clone()) else {
                return Ok(false);
            };
            let password = SecretString::from(entry.password.clone());
            if self
                .passwords
                .verify_async(password, Some(hash))
                .await
                .is_err()
            {
                return Ok(false);
            }
            if needs_second_factor(&[demo.role]) {
                let (Some(totp), Some(sealed)) =
                    (&entry.totp, member.totp_secret_ciphertext.as_ref())
                else {
                    return Ok(false);
                };
                let Ok(stored) = self
                    .seal
                    .open(TOTP_SEAL_LABEL, member.id.as_bytes(), sealed)
                else {
                    return Ok(false);
                };
                if !totp_enrolled(&member) || stored.as_slice() != totp.secret.as_bytes() {
                    return Ok(false);
                }
            }
        }
        for entry in &existing.clients {
            let Some(client) = accounts::client_by_client_id(&self.db, &entry.client_id).await?
            else {
                return Ok(false);
            };
            let Some(stored) = client
                .secret_hash
                .as_ref()
                .and_then(|hash| ClientSecretHash::from_hex(&hash.0).ok())
            else {
                return Ok(false);
            };
            if !verify_client_secret(&SecretString::from(entry.client_secret.clone()), &stored) {
                return Ok(false);
            }
        }
        let n_demo_clients = self.demo_clients().await?.len();
        Ok(existing.clients.len() == n_demo_clients)
    }

    async fn demo_clients(&self) -> Result<Vec<(accounts::Client, String)>, AdminError> {
        let mut found = Vec::new();
        for organisation in store::seed::DEMO_ORGANISATIONS {
            let client_id = store::seed::demo_client_id(organisation.name);
            if let Some(client) = accounts::client_by_client_id(&self.db, &client_id).await? {
                found.push((client, organisation.name.to_owned()));
            }
        }
        Ok(found)
    }

    async fn issue_demo_credentials(&self, issuer: &str) -> Result<DemoCredentials, AdminError> {
        let now = Utc::now();
        let mut members = Vec::new();
        for demo in store::seed::DEMO_MEMBERS {
            let member = self.member(demo.email).await?;
            let password = generate_password()?;
            let hash = self.hash(password.clone()).await?;
            accounts::set_password_hash(&self.db, member.id, hash, now).await?;
            accounts::clear_login_failures(&self.db, member.id, now).await?;
            let totp = if needs_second_factor(&[demo.role]) {
                Some(self.enrol_demo_totp(&member, now).await?)
            } else {
                None
            };
            members.push(DemoMemberCredentials {
                email: demo.email.to_owned(),
                name: demo.name.to_owned(),
                roles: vec![demo.role.as_str().to_owned()],
                password: password.expose_secret().to_owned(),
                totp,
            });
        }
        let mut clients = Vec::new();
        for (client, organisation) in self.demo_clients().await? {
            let (secret, hash) =
                generate_client_secret().map_err(|error| AdminError::Hashing(error.code()))?;
            accounts::set_client_secret_hash(&self.db, client.id, hash.to_hex(), now).await?;
            clients.push(DemoClientCredentials {
                scopes: accounts::client_scopes(&client)?,
                purposes: accounts::client_purposes(&client)?
                    .iter()
                    .map(|purpose| purpose.as_str().to_owned())
                    .collect(),
                client_id: client.client_id,
                organisation,
                client_secret: secret.expose_secret().to_owned(),
            });
        }
        let base = issuer.trim_end_matches('/');
        Ok(DemoCredentials {
            warning:
                "DEMO ONLY: credentials of the demo network, never for real residents or staff"
                    .into(),
            token_endpoint: format!("{base}/oauth/token"),
            login_endpoint: format!("{base}/auth/login"),
            members,
            clients,
        })
    }

    async fn enrol_demo_totp(
        &self,
        member: &accounts::Member,
        now: DateTime<Utc>,
    ) -> Result<DemoTotp, AdminError> {
        let failed = |error: auth::AuthError| AdminError::Hashing(error.code());
        let secret = TotpSecret::generate().map_err(failed)?;
        let base32 = secret.to_base32();
        let uri = provisioning_uri(&secret, &member.email).map_err(failed)?;
        let sealed = self
            .seal
            .seal(
                TOTP_SEAL_LABEL,
                member.id.as_bytes(),
                base32.expose_secret().as_bytes(),
            )
            .map_err(|_| AdminError::Invalid("sealing the TOTP secret failed".into()))?;
        let (codes, hashes) = generate_recovery_codes(RECOVERY_CODES).map_err(failed)?;
        accounts::begin_totp_enrolment(&self.db, member.id, sealed, now).await?;
        // Step 0: any current code is newer, so the first login with the app works.
        let hashes: Vec<String> = hashes.iter().map(RecoveryCodeHash::to_hex).collect();
        accounts::confirm_totp_enrolment(&self.db, member.id, 0, hashes, now).await?;
        Ok(DemoTotp {
            secret: base32.expose_secret().to_owned(),
            provisioning_uri: uri.expose_secret().to_owned(),
            recovery_codes: codes
                .iter()
                .map(|code| code.expose_secret().to_owned())
                .collect(),
        })
    }
}
