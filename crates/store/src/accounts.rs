//! Reading and changing the hub's accounts: members' credentials and lock state, partner
//! clients, console sessions and the sealed signing key sets (issue 4).
//!
//! This module stores what the server's authentication code gives it — hashes, ciphertexts,
//! times — and decides nothing: who may log in is the server's `auth` module. It never receives a
//! password, a client secret, a session id or a private key in the clear. Changes that race
//! between instances (the TOTP step, recovery codes, key rotation) are compare-and-set updates
//! that report whether they won.

use chrono::{DateTime, Utc};
use domain::{MemberStatus, OrganisationKind, Purpose, Role};
use sea_orm::ActiveValue::Set;
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ColumnTrait, Condition, EntityTrait, QueryFilter, QueryOrder};
use serde_json::json;
use uuid::Uuid;

use crate::entity::{auth_key_sets, clients, console_sessions, members, organisations};
use crate::{Db, Redacted, StoreError};

/// A member as the authentication code needs it.
pub type Member = members::Model;
/// A partner client as the token endpoint needs it.
pub type Client = clients::Model;
/// A console session row.
pub type Session = console_sessions::Model;
/// A sealed key set row.
pub type KeySet = auth_key_sets::Model;

/// Whether the row's `status` column says active. Anything but `active` counts as disabled, so a
/// status this binary does not know never lets anyone in.
pub fn is_active(status: &str) -> bool {
    MemberStatus::parse(status) == Ok(MemberStatus::Active)
}

/// The roles stored in a member row; an unknown role is a corrupt row, not an empty list.
pub fn member_roles(member: &Member) -> Result<Vec<Role>, StoreError> {
    string_list(&member.roles, "members.roles")?
        .iter()
        .map(|role| Role::parse(role).map_err(|_| StoreError::Corrupt("members.roles".into())))
        .collect()
}

/// A client's allowed scopes.
pub fn client_scopes(client: &Client) -> Result<Vec<String>, StoreError> {
    string_list(&client.scopes, "clients.scopes")
}

/// A client's allowed purposes (doelbinding).
pub fn client_purposes(client: &Client) -> Result<Vec<Purpose>, StoreError> {
    string_list(&client.purposes, "clients.purposes")?
        .iter()
        .map(|purpose| {
            Purpose::parse(purpose).map_err(|_| StoreError::Corrupt("clients.purposes".into()))
        })
        .collect()
}

fn string_list(value: &serde_json::Value, column: &str) -> Result<Vec<String>, StoreError> {
    serde_json::from_value(value.clone()).map_err(|_| StoreError::Corrupt(column.to_owned()))
}

/// The stored recovery code hashes (hex), in order; none when not enrolled.
pub fn recovery_code_hashes(member: &Member) -> Result<Vec<String>, StoreError> {
    match &member.recovery_code_hashes {
        None => Ok(Vec::new()),
        Some(value) => string_list(value, "members.recovery_code_hashes"),
    }
}

// ---------------------------------------------------------------- organisations

pub async fn organisation(db: &Db, id: Uuid) -> Result<Option<organisations::Model>, StoreError> {
    Ok(organisations::Entity::find_by_id(id).one(db.conn()).await?)
}

pub async fn organisation_by_name(
    db: &Db,
    name: &str,
) -> Result<Option<organisations::Model>, StoreError> {
    Ok(organisations::Entity::find()
        .filter(organisations::Column::Name.eq(name))
        .one(db.conn())
        .await?)
}

/// The kind of an organisation row.
pub fn organisation_kind(
    organisation: &organisations::Model,
) -> Result<OrganisationKind, StoreError> {
    OrganisationKind::parse(&organisation.kind)
        .map_err(|_| StoreError::Corrupt("organisations.kind".into()))
}

// ---------------------------------------------------------------- members

/// Login names are e-mail addresses, compared case-insensitively: stored and looked up in
/// lower case, trimmed.
pub fn normalise_email(email: &str) -> String {
    email.trim().to_lowercase()
}

pub async fn member_by_email(db: &Db, email: &str) -> Result<Option<Member>, StoreError> {
    Ok(members::Entity::find()
        .filter(members::Column::Email.eq(normalise_email(email)))
        .one(db.conn())
        .await?)
}

pub async fn member_by_id(db: &Db, id: Uuid) -> Result<Option<Member>, StoreError> {
    Ok(members::Entity::find_by_id(id).one(db.conn()).await?)
}

/// Every member, by e-mail, for `wijkhub members list`.
pub async fn all_members(db: &Db) -> Result<Vec<Member>, StoreError> {
    Ok(members::Entity::find()
        .order_by_asc(members::Column::Email)
        .all(db.conn())
        .await?)
}

/// A new member to insert.
pub struct NewMember<'a> {
    pub organisation: Uuid,
    pub name: &'a str,
    pub email: &'a str,
    pub roles: &'a [Role],
    /// argon2id PHC string.
    pub password_hash: String,
}

pub async fn insert_member(
    db: &Db,
    member: NewMember<'_>,
    now: DateTime<Utc>,
) -> Result<Uuid, StoreError> {
    let id = Uuid::now_v7();
    let roles: Vec<&str> = member.roles.iter().map(|role| role.as_str()).collect();
    members::Entity::insert(members::ActiveModel {
        id: Set(id),
        organisation_id: Set(member.organisation),
        name: Set(member.name.to_owned()),
        email: Set(normalise_email(member.email)),
        roles: Set(json!(roles)),
        password_hash: Set(Some(Redacted(member.password_hash))),
        totp_secret_ciphertext: Set(None),
        totp_last_step: Set(None),
        recovery_code_hashes: Set(None),
        failed_logins: Set(0),
        locked_until: Set(None),
        status: Set(MemberStatus::Active.as_str().to_owned()),
        created_at: Set(now),
        updated_at: Set(now),
    })
    .exec(db.conn())
    .await?;
    Ok(id)
}

async fn update_member(
    db: &Db,
    id: Uuid,
    now: DateTime<Utc>,
    extra: Condition,
    set: impl FnOnce(sea_orm::UpdateMany<members::Entity>) -> sea_orm::UpdateMany<members::Entity>,
) -> Result<bool, StoreError> {
    let update = members::Entity::update_many()
        .col_expr(members::Column::UpdatedAt, Expr::value(now))
        .filter(members::Column::Id.eq(id))
        .filter(extra);
    let result = set(update).exec(db.conn()).await?;
    Ok(result.rows_affected == 1)
}

pub async fn set_member_status(
    db: &Db,
    id: Uuid,
    status: MemberStatus,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    update_member(db, id, now, Condition::all(), |update| {
        update.col_expr(members::Column::Status, Expr::value(status.as_str()))
    })
    .await
}

/// Stores a new password hash; with `clear_lock`, also forgets failures and any lock.
pub async fn set_password_hash(
    db: &Db,
    id: Uuid,
    password_hash: String,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    update_member(db, id, now, Condition::all(), |update| {
        update.col_expr(
            members::Column::PasswordHash,
            Expr::value(Some(password_hash)),
        )
    })
    .await
}

/// Records the failure count and, when the throttle locked the account, until when. The lock is
/// stored so that every instance and the administrators' CLI see it.
pub async fn record_login_failure(
    db: &Db,
    id: Uuid,
    locked_until: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    update_member(db, id, now, Condition::all(), |update| {
        let update = update.col_expr(
            members::Column::FailedLogins,
            Expr::col(members::Column::FailedLogins).add(1),
        );
        match locked_until {
            Some(until) => update.col_expr(members::Column::LockedUntil, Expr::value(until)),
            None => update,
        }
    })
    .await?;
    Ok(())
}

/// Forgets failures and lifts any lock (a successful login, or `wijkhub members unlock`).
pub async fn clear_login_failures(
    db: &Db,
    id: Uuid,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    update_member(db, id, now, Condition::all(), |update| {
        update
            .col_expr(members::Column::FailedLogins, Expr::value(0))
            .col_expr(
                members::Column::LockedUntil,
                Expr::value(Option::<DateTime<Utc>>::None),
            )
    })
    .await
}

/// Starts (or restarts) TOTP enrolment: the sealed secret is stored with no accepted step, which
/// is what "not yet confirmed" means; recovery codes are dropped until confirmation.
pub async fn begin_totp_enrolment(
    db: &Db,
    id: Uuid,
    secret_ciphertext: Vec<u8>,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    update_member(db, id, now, Condition::all(), |update| {
        update
            .col_expr(
                members::Column::TotpSecretCiphertext,
                Expr::value(Some(secret_ciphertext)),
            )
            .col_expr(
                members::Column::TotpLastStep,
                Expr::value(Option::<i64>::None),
            )
            .col_expr(
                members::Column::RecoveryCodeHashes,
                Expr::value(Option::<serde_json::Value>::None),
            )
    })
    .await
}

/// Confirms enrolment: stores the first accepted step and the recovery code hashes, only if the
/// enrolment is still the unconfirmed one that was checked.
pub async fn confirm_totp_enrolment(
    db: &Db,
    id: Uuid,
    step: i64,
    recovery_code_hashes: Vec<String>,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let unconfirmed = Condition::all()
        .add(members::Column::TotpSecretCiphertext.is_not_null())
        .add(members::Column::TotpLastStep.is_null());
    update_member(db, id, now, unconfirmed, |update| {
        update
            .col_expr(members::Column::TotpLastStep, Expr::value(step))
            .col_expr(
                members::Column::RecoveryCodeHashes,
                Expr::value(json!(recovery_code_hashes)),
            )
    })
    .await
}

/// Accepts a TOTP step once across all instances: only advances when the stored step is older.
pub async fn advance_totp_step(
    db: &Db,
    id: Uuid,
    step: i64,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let older = Condition::all().add(members::Column::TotpLastStep.lt(step));
    update_member(db, id, now, older, |update| {
        update.col_expr(members::Column::TotpLastStep, Expr::value(step))
    })
    .await
}

/// Uses a recovery code: replaces the stored list with `remaining` only when it still is
/// `expected` (so a code cannot be used twice by two concurrent logins).
pub async fn use_recovery_code(
    db: &Db,
    id: Uuid,
    expected: &[String],
    remaining: Vec<String>,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let unchanged = Condition::all().add(members::Column::RecoveryCodeHashes.eq(json!(expected)));
    update_member(db, id, now, unchanged, |update| {
        update.col_expr(
            members::Column::RecoveryCodeHashes,
            Expr::value(json!(remaining)),
        )
    })
    .await
}

/// Removes a member's second factor (`wijkhub members reset-password --reset-totp`).
pub async fn clear_totp(db: &Db, id: Uuid, now: DateTime<Utc>) -> Result<bool, StoreError> {
    update_member(db, id, now, Condition::all(), |update| {
        update
            .col_expr(
                members::Column::TotpSecretCiphertext,
                Expr::value(Option::<Vec<u8>>::None),
            )
            .col_expr(
                members::Column::TotpLastStep,
                Expr::value(Option::<i64>::None),
            )
            .col_expr(
                members::Column::RecoveryCodeHashes,
                Expr::value(Option::<serde_json::Value>::None),
            )
    })
    .await
}

// ---------------------------------------------------------------- clients

pub async fn client_by_client_id(db: &Db, client_id: &str) -> Result<Option<Client>, StoreError> {
    Ok(clients::Entity::find()
        .filter(clients::Column::ClientId.eq(client_id))
        .one(db.conn())
        .await?)
}

pub async fn client_by_id(db: &Db, id: Uuid) -> Result<Option<Client>, StoreError> {
    Ok(clients::Entity::find_by_id(id).one(db.conn()).await?)
}

/// Every client, by client id, for `wijkhub clients list`.
pub async fn all_clients(db: &Db) -> Result<Vec<Client>, StoreError> {
    Ok(clients::Entity::find()
        .order_by_asc(clients::Column::ClientId)
        .all(db.conn())
        .await?)
}

/// A new partner client to insert.
pub struct NewClient<'a> {
    pub organisation: Uuid,
    pub client_id: &'a str,
    pub name: &'a str,
    /// SHA-256 hex of the secret, when it authenticates with one.
    pub secret_hash: Option<String>,
    /// Its public key (JWK JSON), when it authenticates with `private_key_jwt`.
    pub public_key_jwk: Option<String>,
    pub scopes: &'a [String],
    pub purposes: &'a [Purpose],
}

pub async fn insert_client(
    db: &Db,
    client: NewClient<'_>,
    now: DateTime<Utc>,
) -> Result<Uuid, StoreError> {
    let id = Uuid::now_v7();
    let purposes: Vec<&str> = client.purposes.iter().map(|p| p.as_str()).collect();
    clients::Entity::insert(clients::ActiveModel {
        id: Set(id),
        organisation_id: Set(client.organisation),
        client_id: Set(client.client_id.to_owned()),
        name: Set(client.name.to_owned()),
        secret_hash: Set(client.secret_hash.map(Redacted)),
        public_key_jwk: Set(client.public_key_jwk),
        scopes: Set(json!(client.scopes)),
        purposes: Set(json!(purposes)),
        status: Set(MemberStatus::Active.as_str().to_owned()),
        created_at: Set(now),
        updated_at: Set(now),
    })
    .exec(db.conn())
    .await?;
    Ok(id)
}

async fn update_client(
    db: &Db,
    id: Uuid,
    now: DateTime<Utc>,
    set: impl FnOnce(sea_orm::UpdateMany<clients::Entity>) -> sea_orm::UpdateMany<clients::Entity>,
) -> Result<bool, StoreError> {
    let update = clients::Entity::update_many()
        .col_expr(clients::Column::UpdatedAt, Expr::value(now))
        .filter(clients::Column::Id.eq(id));
    Ok(set(update).exec(db.conn()).await?.rows_affected == 1)
}

pub async fn set_client_secret_hash(
    db: &Db,
    id: Uuid,
    secret_hash: String,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    update_client(db, id, now, |update| {
        update.col_expr(clients::Column::SecretHash, Expr::value(Some(secret_hash)))
    })
    .await
}

pub async fn set_client_public_key(
    db: &Db,
    id: Uuid,
    public_key_jwk: String,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    update_client(db, id, now, |update| {
        update.col_expr(
            clients::Column::PublicKeyJwk,
            Expr::value(Some(public_key_jwk)),
        )
    })
    .await
}

pub async fn set_client_status(
    db: &Db,
    id: Uuid,
    status: MemberStatus,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    update_client(db, id, now, |update| {
        update.col_expr(clients::Column::Status, Expr::value(status.as_str()))
    })
    .await
}

pub async fn set_organisation_status(
    db: &Db,
    id: Uuid,
    status: MemberStatus,
) -> Result<bool, StoreError> {
    let result = organisations::Entity::update_many()
        .col_expr(organisations::Column::Status, Expr::value(status.as_str()))
        .filter(organisations::Column::Id.eq(id))
        .exec(db.conn())
        .await?;
    Ok(result.rows_affected == 1)
}

// ---------------------------------------------------------------- console sessions

pub async fn insert_session(
    db: &Db,
    id_hash: String,
    member: Uuid,
    amr: &[String],
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    console_sessions::Entity::insert(console_sessions::ActiveModel {
        id_hash: Set(id_hash),
        member_id: Set(member),
        amr: Set(json!(amr)),
        created_at: Set(now),
        last_seen_at: Set(now),
        ended_at: Set(None),
    })
    .exec_without_returning(db.conn())
    .await?;
    Ok(())
}

/// A session that has not been ended (its timeouts are the caller's to check).
pub async fn live_session(db: &Db, id_hash: &str) -> Result<Option<Session>, StoreError> {
    Ok(console_sessions::Entity::find_by_id(id_hash.to_owned())
        .filter(console_sessions::Column::EndedAt.is_null())
        .one(db.conn())
        .await?)
}

pub async fn touch_session(db: &Db, id_hash: &str, now: DateTime<Utc>) -> Result<(), StoreError> {
    console_sessions::Entity::update_many()
        .col_expr(console_sessions::Column::LastSeenAt, Expr::value(now))
        .filter(console_sessions::Column::IdHash.eq(id_hash))
        .exec(db.conn())
        .await?;
    Ok(())
}

/// Ends one session (logout, expiry).
pub async fn end_session(db: &Db, id_hash: &str, now: DateTime<Utc>) -> Result<bool, StoreError> {
    let result = console_sessions::Entity::update_many()
        .col_expr(console_sessions::Column::EndedAt, Expr::value(now))
        .filter(console_sessions::Column::IdHash.eq(id_hash))
        .filter(console_sessions::Column::EndedAt.is_null())
        .exec(db.conn())
        .await?;
    Ok(result.rows_affected == 1)
}

/// Ends every live session of a member (disabled, password reset). Returns how many.
pub async fn end_member_sessions(
    db: &Db,
    member: Uuid,
    now: DateTime<Utc>,
) -> Result<u64, StoreError> {
    let result = console_sessions::Entity::update_many()
        .col_expr(console_sessions::Column::EndedAt, Expr::value(now))
        .filter(console_sessions::Column::MemberId.eq(member))
        .filter(console_sessions::Column::EndedAt.is_null())
        .exec(db.conn())
        .await?;
    Ok(result.rows_affected)
}

// ---------------------------------------------------------------- key sets

pub async fn key_set(db: &Db, name: &str) -> Result<Option<KeySet>, StoreError> {
    Ok(auth_key_sets::Entity::find_by_id(name.to_owned())
        .one(db.conn())
        .await?)
}

/// Inserts a key set at version 1. Returns false when another instance created it first.
pub async fn insert_key_set(
    db: &Db,
    name: &str,
    sealed_keys: Vec<u8>,
    public_jwks: String,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let result = auth_key_sets::Entity::insert(auth_key_sets::ActiveModel {
        name: Set(name.to_owned()),
        version: Set(1),
        sealed_keys: Set(sealed_keys),
        public_jwks: Set(public_jwks),
        updated_at: Set(now),
    })
    .on_conflict_do_nothing()
    .exec_without_returning(db.conn())
    .await?;
    Ok(matches!(result, sea_orm::TryInsertResult::Inserted(1)))
}

/// Replaces a key set if its version is still `expected`; the new version is `expected + 1`.
pub async fn replace_key_set(
    db: &Db,
    name: &str,
    expected: i64,
    sealed_keys: Vec<u8>,
    public_jwks: String,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let result = auth_key_sets::Entity::update_many()
        .col_expr(auth_key_sets::Column::Version, Expr::value(expected + 1))
        .col_expr(auth_key_sets::Column::SealedKeys, Expr::value(sealed_keys))
        .col_expr(auth_key_sets::Column::PublicJwks, Expr::value(public_jwks))
        .col_expr(auth_key_sets::Column::UpdatedAt, Expr::value(now))
        .filter(auth_key_sets::Column::Name.eq(name))
        .filter(auth_key_sets::Column::Version.eq(expected))
        .exec(db.conn())
        .await?;
    Ok(result.rows_affected == 1)
}

/// The version of a key set, for the cheap poll that notices a rotation.
pub async fn key_set_version(db: &Db, name: &str) -> Result<Option<i64>, StoreError> {
    Ok(key_set(db, name).await?.map(|set| set.version))
}
