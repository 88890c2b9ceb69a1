//! The crate's errors. Exists so that every refusal has a stable code for the audit log and the
//! HTTP mapping; must never carry a password, secret, key or token, nor echo the caller's input.

use thiserror::Error;

/// Why a JWT (an access token, an external issuer's token, or a client assertion) was refused.
///
/// A closed list: the server maps each variant to an audit reason and an HTTP answer, matched
/// without `_ =>`. The [`TokenError::code`] strings are contract: never rename one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Error)]
pub enum TokenError {
    /// Not a compact JWS, bad base64url, bad JSON, a claim of the wrong type, or an unsupported
    /// critical header.
    #[error("token is malformed")]
    Malformed,
    /// Longer than the limit (8 KiB); refused before any parsing.
    #[error("token is too large")]
    TooLarge,
    /// The signature does not verify under the key named by `kid`.
    #[error("token signature is invalid")]
    BadSignature,
    /// The header's `alg` is `none`, unknown, or not in the configured allow-list.
    #[error("token algorithm is not allowed")]
    AlgNotAllowed,
    /// No `kid`, or a `kid` we do not know.
    #[error("token key is unknown")]
    UnknownKid,
    /// `exp` is past (beyond the leeway).
    #[error("token has expired")]
    Expired,
    /// `nbf` or `iat` lies in the future (beyond the leeway).
    #[error("token is not yet valid")]
    NotYetValid,
    /// `aud` does not name us.
    #[error("token audience is wrong")]
    WrongAudience,
    /// `iss` is not the expected issuer.
    #[error("token issuer is wrong")]
    WrongIssuer,
    /// A required claim is absent.
    #[error("token lacks a required claim")]
    MissingClaim,
    /// The `typ` header is not the one this kind of token must carry (`at+jwt` for access tokens).
    #[error("token type is wrong")]
    WrongType,
    /// A client assertion whose `sub` is not its `iss`, or not the client it claims to be.
    #[error("token subject is wrong")]
    WrongSubject,
    /// A client assertion that lives longer than allowed (5 minutes).
    #[error("token lifetime is too long")]
    LifetimeTooLong,
    /// A client assertion whose `jti` was seen before.
    #[error("token was already used")]
    Replayed,
    /// `client_assertion_type` is not `urn:ietf:params:oauth:client-assertion-type:jwt-bearer`.
    #[error("client assertion type is wrong")]
    WrongAssertionType,
    /// The replay cache is full of live entries: refused rather than forgetting a `jti` early.
    #[error("replay cache is full")]
    ReplayCacheFull,
}

impl TokenError {
    /// The stable code written to the audit log and returned to clients.
    pub const fn code(self) -> &'static str {
        match self {
            TokenError::Malformed => "malformed",
            TokenError::TooLarge => "too-large",
            TokenError::BadSignature => "bad-signature",
            TokenError::AlgNotAllowed => "alg-not-allowed",
            TokenError::UnknownKid => "unknown-kid",
            TokenError::Expired => "expired",
            TokenError::NotYetValid => "not-yet-valid",
            TokenError::WrongAudience => "wrong-audience",
            TokenError::WrongIssuer => "wrong-issuer",
            TokenError::MissingClaim => "missing-claim",
            TokenError::WrongType => "wrong-type",
            TokenError::WrongSubject => "wrong-subject",
            TokenError::LifetimeTooLong => "lifetime-too-long",
            TokenError::Replayed => "replayed",
            TokenError::WrongAssertionType => "wrong-assertion-type",
            TokenError::ReplayCacheFull => "replay-cache-full",
        }
    }

    /// Every variant, for tests and documentation.
    pub const ALL: &'static [TokenError] = &[
        TokenError::Malformed,
        TokenError::TooLarge,
        TokenError::BadSignature,
        TokenError::AlgNotAllowed,
        TokenError::UnknownKid,
        TokenError::Expired,
        TokenError::NotYetValid,
        TokenError::WrongAudience,
        TokenError::WrongIssuer,
        TokenError::MissingClaim,
        TokenError::WrongType,
        TokenError::WrongSubject,
        TokenError::LifetimeTooLong,
        TokenError::Replayed,
        TokenError::WrongAssertionType,
        TokenError::ReplayCacheFull,
    ];
}

/// Everything else this crate refuses or fails at. Codes are contract, as for [`TokenError`].
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AuthError {
    /// Wrong password, or an unknown account (indistinguishable on purpose).
    #[error("bad credentials")]
    BadCredentials,
    /// A stored password hash is not a PHC string we can verify (a data problem, not the caller's).
    #[error("stored password hash is invalid")]
    StoredHashInvalid,
    /// The password parameters in configuration are not valid argon2 parameters.
    #[error("invalid password hashing parameters")]
    InvalidPasswordParams,
    /// Hashing failed inside argon2 or the blocking pool went away.
    #[error("password hashing failed")]
    Hashing,
    /// A TOTP code that is wrong, outside the window, or already used.
    #[error("one-time code rejected")]
    OtpRejected,
    /// A stored TOTP secret that does not decode or is too short.
    #[error("stored one-time secret is invalid")]
    OtpSecretInvalid,
    /// The account name cannot go into a provisioning URI (it contains `:`).
    #[error("account name not usable for a provisioning URI")]
    OtpAccountName,
    /// A recovery code that matches no unused stored code.
    #[error("recovery code rejected")]
    RecoveryCodeRejected,
    /// A stored hash (client secret, recovery code, session) is not 64 hex digits.
    #[error("stored hash is invalid")]
    StoredDigestInvalid,
    /// An `Authorization: Basic` header that is not exactly `Basic base64(id:secret)`.
    #[error("malformed basic authorization")]
    BasicMalformed,
    /// A signing key set that does not parse, is empty, or names a missing current key.
    #[error("signing keys are invalid")]
    KeysInvalid,
    /// The key set would be left without a key (retiring the current key).
    #[error("cannot retire the current signing key")]
    RetireCurrentKey,
    /// Signing a token failed in the crypto backend.
    #[error("signing failed")]
    Signing,
    /// A JWKS or a client public key that cannot be used (symmetric, unknown curve, bad encoding).
    #[error("public key is invalid or unsupported")]
    PublicKeyInvalid,
    /// Configuration that cannot work (empty allow-list, symmetric algorithm for an issuer, ...).
    #[error("invalid authentication configuration")]
    InvalidConfig,
    /// The operating system's random source failed.
    #[error("random source failed")]
    Random,
    /// Too many password hashes already queued: answer `503` with `Retry-After` and try later.
    #[error("too many logins in progress")]
    Busy,
    /// A `scope` parameter that is not space-separated RFC 6749 §3.3 scope-tokens.
    #[error("invalid scope")]
    InvalidScope,
    /// A scope the client or member was not given.
    #[error("scope not allowed")]
    ScopeNotAllowed,
    /// A purpose (doelbinding) the client was not given, or not on the closed list.
    #[error("purpose not allowed")]
    PurposeNotAllowed,
}

impl AuthError {
    /// The stable code written to the audit log.
    pub const fn code(&self) -> &'static str {
        match self {
            AuthError::BadCredentials => "bad-credentials",
            AuthError::StoredHashInvalid => "stored-hash-invalid",
            AuthError::InvalidPasswordParams => "invalid-password-params",
            AuthError::Hashing => "hashing-failed",
            AuthError::OtpRejected => "otp-rejected",
            AuthError::OtpSecretInvalid => "otp-secret-invalid",
            AuthError::OtpAccountName => "otp-account-name",
            AuthError::RecoveryCodeRejected => "recovery-code-rejected",
            AuthError::StoredDigestInvalid => "stored-digest-invalid",
            AuthError::BasicMalformed => "basic-malformed",
            AuthError::KeysInvalid => "keys-invalid",
            AuthError::RetireCurrentKey => "retire-current-key",
            AuthError::Signing => "signing-failed",
            AuthError::PublicKeyInvalid => "public-key-invalid",
            AuthError::InvalidConfig => "invalid-config",
            AuthError::Random => "random-failed",
            AuthError::Busy => "busy",
            AuthError::InvalidScope => "invalid-scope",
            AuthError::ScopeNotAllowed => "scope-not-allowed",
            AuthError::PurposeNotAllowed => "purpose-not-allowed",
        }
    }
}
