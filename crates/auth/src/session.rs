//! Console sessions: random session ids stored only as digests, and idle/absolute timeouts.
//!
//! Exists so the web console can keep a member logged in with a cookie that is useless to anyone
//! reading the sessions table. Pure: `now` is a parameter; cookie attributes (`HttpOnly`,
//! `Secure`, `SameSite=Strict`) are the server's. Must never store or log a session id in clear;
//! a new id is issued at every login (rotation), never reused from before authentication.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Duration, Utc};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use crate::AuthError;

/// Session timeouts (`[auth.session]` in configuration).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SessionConfig {
    /// A session unused for this many seconds ends (default 1800: 30 minutes).
    pub idle_timeout_seconds: u32,
    /// A session ends this many seconds after login, used or not (default 43200: 12 hours).
    pub absolute_timeout_seconds: u32,
    /// `last_seen_at` is written back at most this often, in seconds (default 60), to spare the
    /// database a write per request.
    pub touch_interval_seconds: u32,
}

impl Default for SessionConfig {
    fn default() -> Self {
        SessionConfig {
            idle_timeout_seconds: 1800,
            absolute_timeout_seconds: 43_200,
            touch_interval_seconds: 60,
        }
    }
}

/// The stored form of a session id: SHA-256 of the cookie value. 256 random bits make a slow
/// hash pointless (see `client_secret`); the digest is the table's lookup key.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct SessionIdHash([u8; 32]);

impl std::fmt::Debug for SessionIdHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionIdHash(..)")
    }
}

impl SessionIdHash {
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    pub fn from_hex(s: &str) -> Result<SessionIdHash, AuthError> {
        crate::random::digest_from_hex(s).map(SessionIdHash)
    }

    /// The digest of a presented cookie value, to look the session up by.
    pub fn of(cookie_value: &SecretString) -> SessionIdHash {
        SessionIdHash(crate::random::sha256(
            cookie_value.expose_secret().as_bytes(),
        ))
    }
}

/// A new session id (256 random bits, base64url: the cookie value) and its digest (to store).
pub fn new_session_id() -> Result<(SecretString, SessionIdHash), AuthError> {
    let random = crate::random::bytes::<32>()?;
    let cookie_value = SecretString::from(URL_SAFE_NO_PAD.encode(random.as_ref()));
    let hash = SessionIdHash::of(&cookie_value);
    Ok((cookie_value, hash))
}

/// Where a session stands at `now`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SessionState {
    /// Usable. When `touch` is true, store `now` as the new `last_seen_at`.
    Active {
        touch: bool,
        expires_at: DateTime<Utc>,
    },
    /// Unused for longer than the idle timeout.
    IdleExpired,
    /// Older than the absolute timeout.
    AbsoluteExpired,
}

/// Decides whether a session created at `created_at` and last used at `last_seen_at` still holds.
pub fn session_state(
    created_at: DateTime<Utc>,
    last_seen_at: DateTime<Utc>,
    now: DateTime<Utc>,
    config: &SessionConfig,
) -> SessionState {
    let absolute_end = created_at + Duration::seconds(i64::from(config.absolute_timeout_seconds));
    let idle_end = last_seen_at + Duration::seconds(i64::from(config.idle_timeout_seconds));
    if now >= absolute_end {
        return SessionState::AbsoluteExpired;
    }
    if now >= idle_end {
        return SessionState::IdleExpired;
    }
    let touch = now - last_seen_at >= Duration::seconds(i64::from(config.touch_interval_seconds));
    let next_idle_end = if touch {
        now + Duration::seconds(i64::from(config.idle_timeout_seconds))
    } else {
        idle_end
    };
    SessionState::Active {
        touch,
        expires_at: next_idle_end.min(absolute_end),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn t(seconds: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + seconds, 0).unwrap()
    }

    #[track_caller]
    fn check(created: i64, last_seen: i64, now: i64, want: SessionState) {
        assert_eq!(
            session_state(t(created), t(last_seen), t(now), &SessionConfig::default()),
            want
        );
    }

    #[test]
    fn timeouts() {
        let cases = [
            (
                0,
                0,
                10,
                SessionState::Active {
                    touch: false,
                    expires_at: t(1800),
                },
            ),
            (
                0,
                0,
                60,
                SessionState::Active {
                    touch: true,
                    expires_at: t(1860),
                },
            ),
            (
                0,
                0,
                1799,
                SessionState::Active {
                    touch: true,
                    expires_at: t(3599),
                },
            ),
            (0, 0, 1800, SessionState::IdleExpired),
            (
                0,
                42_000,
                42_100,
                SessionState::Active {
                    touch: true,
                    expires_at: t(43_200),
                },
            ),
            (0, 43_100, 43_200, SessionState::AbsoluteExpired),
        ];
        for (created, last_seen, now, want) in cases {
            check(created, last_seen, now, want);
        }
    }

    #[test]
    fn ids_are_random_and_stored_hashed() {
        let (cookie, hash) = new_session_id().unwrap();
        assert_eq!(cookie.expose_secret().len(), 43);
        assert_eq!(SessionIdHash::of(&cookie), hash);
        assert_eq!(SessionIdHash::from_hex(&hash.to_hex()).unwrap(), hash);
        let (other, _) = new_session_id().unwrap();
        assert_ne!(other.expose_secret(), cookie.expose_secret());
        assert!(!format!("{hash:?}").contains(&hash.to_hex()));
    }
}
