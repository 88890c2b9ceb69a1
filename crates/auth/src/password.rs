//! Member passwords: argon2id PHC strings, verification with rehash detection, and the dummy
//! verification that makes an unknown account cost as much as a wrong password.
//!
//! Exists so that login is slow for an attacker and cheap to get right for the server. It must
//! never run argon2 on the async runtime's threads (use the `_async` functions, which go through a
//! bounded blocking pool), never compare hashes by hand, and never let a password reach `Debug`,
//! an error or a log: passwords are [`SecretString`] from the edge on.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use argon2::password_hash::phc::PasswordHash;
use argon2::{Algorithm, Argon2, Params, PasswordHasher, PasswordVerifier, Version};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use tokio::sync::Semaphore;

use crate::AuthError;

/// Argon2id cost parameters (`[auth.password]` in configuration). Defaults are OWASP's
/// (m = 19456 KiB, t = 2, p = 1): about 13.5 ms per hash on our machines.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PasswordConfig {
    /// Memory cost in KiB.
    pub memory_kib: u32,
    /// Number of passes.
    pub iterations: u32,
    /// Degree of parallelism (lanes).
    pub parallelism: u32,
    /// How many hashes may run at once; `0` means one per available core.
    pub max_concurrent: usize,
    /// How many more may wait for a slot before new ones are refused with `busy` (default 256):
    /// a login flood then costs neither unbounded memory nor unbounded latency.
    pub max_waiting: usize,
}

impl Default for PasswordConfig {
    fn default() -> Self {
        PasswordConfig {
            memory_kib: 19_456,
            iterations: 2,
            parallelism: 1,
            max_concurrent: 0,
            max_waiting: 256,
        }
    }
}

/// A verified password. `needs_rehash` says the stored hash was made with other parameters (or
/// another argon2 variant) than configured now: store [`Passwords::hash`] of the same password.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verified {
    pub needs_rehash: bool,
}

/// The password hasher: configured parameters, the dummy hash, and the bounded pool.
///
/// Cheap to clone (an `Arc` inside); build one at start-up and share it.
#[derive(Clone)]
pub struct Passwords {
    inner: Arc<Inner>,
}

struct Inner {
    params: Params,
    /// A hash of a random password under the configured parameters, verified against when the
    /// account does not exist: the same parameters, hence the same work, by construction.
    dummy_hash: String,
    permits: Arc<Semaphore>,
    max_in_flight: usize,
    in_flight: AtomicUsize,
}

impl std::fmt::Debug for Passwords {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Passwords")
            .field("m_cost", &self.inner.params.m_cost())
            .field("t_cost", &self.inner.params.t_cost())
            .field("p_cost", &self.inner.params.p_cost())
            .finish_non_exhaustive()
    }
}

impl Passwords {
    /// Builds the hasher; computes the dummy hash once (one argon2 run: call at start-up, or in
    /// `spawn_blocking`).
    pub fn new(config: &PasswordConfig) -> Result<Passwords, AuthError> {
        let params = Params::new(
            config.memory_kib,
            config.iterations,
            config.parallelism,
            None,
        )
        .map_err(|_| AuthError::InvalidPasswordParams)?;
        let max_concurrent = match config.max_concurrent {
            0 => std::thread::available_parallelism().map_or(1, usize::from),
            n => n,
        };
        let random_password = hex::encode(crate::random::bytes::<32>()?.as_ref());
        let dummy_hash = hash_with(&params, random_password.as_bytes())?;
        Ok(Passwords {
            inner: Arc::new(Inner {
                params,
                dummy_hash,
                permits: Arc::new(Semaphore::new(max_concurrent)),
                max_in_flight: max_concurrent.saturating_add(config.max_waiting),
                in_flight: AtomicUsize::new(0),
            }),
        })
    }

    /// Hashes a password into a PHC string (`$argon2id$v=19$m=19456,t=2,p=1$salt$hash`), with a
    /// fresh random salt. Blocking: prefer [`Passwords::hash_async`] on the runtime.
    pub fn hash(&self, password: &SecretString) -> Result<String, AuthError> {
        hash_with(&self.inner.params, password.expose_secret().as_bytes())
    }

    /// Verifies a password against the stored PHC string of an account, or, when `stored` is
    /// `None` (no such account), against the dummy hash, so both cost the same and both fail
    /// with [`AuthError::BadCredentials`]. Blocking: prefer [`Passwords::verify_async`].
    pub fn verify(
        &self,
        password: &SecretString,
        stored: Option<&str>,
    ) -> Result<Verified, AuthError> {
        let Some(stored) = stored else {
            // The outcome is ignored on purpose: only the work matters.
            let _ = self.verify_phc(password, &self.inner.dummy_hash);
            return Err(AuthError::BadCredentials);
        };
        self.verify_phc(password, stored)
    }

    fn verify_phc(&self, password: &SecretString, stored: &str) -> Result<Verified, AuthError> {
        let hash = PasswordHash::new(stored).map_err(|_| AuthError::StoredHashInvalid)?;
        let stored_params = Params::try_from(&hash).map_err(|_| AuthError::StoredHashInvalid)?;
        // The hash's own algorithm, version and parameters are used, so older hashes still verify.
        match Argon2::default().verify_password(password.expose_secret().as_bytes(), &hash) {
            Ok(()) => {}
            Err(argon2::password_hash::Error::PasswordInvalid) => {
                return Err(AuthError::BadCredentials);
            }
            Err(_) => return Err(AuthError::StoredHashInvalid),
        }
        let configured = &self.inner.params;
        let same = hash.algorithm.as_str() == "argon2id"
            && hash.version == Some(Version::V0x13.into())
            && stored_params.m_cost() == configured.m_cost()
            && stored_params.t_cost() == configured.t_cost()
            && stored_params.p_cost() == configured.p_cost()
            && hash.hash.as_ref().map(|output| output.len())
                == Some(
                    configured
                        .output_len()
                        .unwrap_or(Params::DEFAULT_OUTPUT_LEN),
                );
        Ok(Verified {
            needs_rehash: !same,
        })
    }

    /// [`Passwords::hash`] on the blocking pool, at most `max_concurrent` at once; callers beyond
    /// that wait asynchronously, so a login flood queues instead of starving the runtime.
    pub async fn hash_async(&self, password: SecretString) -> Result<String, AuthError> {
        let this = self.clone();
        self.run_blocking(move || this.hash(&password)).await
    }

    /// [`Passwords::verify`] on the bounded blocking pool.
    pub async fn verify_async(
        &self,
        password: SecretString,
        stored: Option<String>,
    ) -> Result<Verified, AuthError> {
        let this = self.clone();
        self.run_blocking(move || this.verify(&password, stored.as_deref()))
            .await
    }

    async fn run_blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> Result<T, AuthError> + Send + 'static,
    ) -> Result<T, AuthError> {
        let _slot = InFlight::enter(&self.inner)?;
        let permit = Arc::clone(&self.inner.permits)
            .acquire_owned()
            .await
            .map_err(|_| AuthError::Hashing)?;
        tokio::task::spawn_blocking(move || {
            let result = work();
            drop(permit);
            result
        })
        .await
        .map_err(|_| AuthError::Hashing)?
    }

    /// The PHC string of the dummy hash, for tests that check it was made with the configured
    /// parameters (timing equivalence by construction).
    pub fn dummy_hash(&self) -> &str {
        &self.inner.dummy_hash
    }
}

/// One password operation counted from its call until it finished (or its caller gave up).
struct InFlight<'a>(&'a Inner);

impl<'a> InFlight<'a> {
    fn enter(inner: &'a Inner) -> Result<InFlight<'a>, AuthError> {
        let before = inner.in_flight.fetch_add(1, Ordering::AcqRel);
        let slot = InFlight(inner);
        if before >= inner.max_in_flight {
            return Err(AuthError::Busy);
        }
        Ok(slot)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

fn hash_with(params: &Params, password: &[u8]) -> Result<String, AuthError> {
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
        .hash_password(password)
        .map(|hash| hash.to_string())
        .map_err(|_| AuthError::Hashing)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    /// Cheap parameters: the tests are about behaviour, not cost (argon2 in a debug build is slow).
    fn cheap(memory_kib: u32, iterations: u32) -> Passwords {
        Passwords::new(&PasswordConfig {
            memory_kib,
            iterations,
            parallelism: 1,
            max_concurrent: 2,
            max_waiting: 4,
        })
        .unwrap()
    }

    fn secret(s: &str) -> SecretString {
        SecretString::from(s.to_owned())
    }

    #[test]
    fn defaults_are_owasp() {
        let config = PasswordConfig::default();
        assert_eq!(
            (config.memory_kib, config.iterations, config.parallelism),
            (19_456, 2, 1)
        );
    }

    #[test]
    fn hash_then_verify_and_rehash_detection() {
        let old = cheap(64, 1);
        let new = cheap(128, 1);
        let stored = old.hash(&secret("correct horse")).unwrap();
        assert!(
            stored.starts_with("$argon2id$v=19$m=64,t=1,p=1$"),
            "{stored}"
        );

        let cases = [
            (
                &old,
                "correct horse",
                Ok(Verified {
                    needs_rehash: false,
                }),
            ),
            (&new, "correct horse", Ok(Verified { needs_rehash: true })),
            (&old, "wrong horse", Err(AuthError::BadCredentials)),
            (&new, "wrong horse", Err(AuthError::BadCredentials)),
        ];
        for (passwords, password, want) in cases {
            assert_eq!(passwords.verify(&secret(password), Some(&stored)), want);
        }
        let rehashed = new.hash(&secret("correct horse")).unwrap();
        assert_eq!(
            new.verify(&secret("correct horse"), Some(&rehashed)),
            Ok(Verified {
                needs_rehash: false
            })
        );
    }

    #[test]
    fn unknown_account_costs_the_same_and_fails_the_same() {
        let passwords = cheap(64, 1);
        assert_eq!(
            passwords.verify(&secret("anything"), None),
            Err(AuthError::BadCredentials)
        );
        // Same work by construction: the dummy hash carries exactly the configured parameters.
        let dummy = PasswordHash::new(passwords.dummy_hash()).unwrap();
        let params = Params::try_from(&dummy).unwrap();
        assert_eq!(dummy.algorithm.as_str(), "argon2id");
        assert_eq!(
            (params.m_cost(), params.t_cost(), params.p_cost()),
            (64, 1, 1)
        );
        let real = passwords.hash(&secret("x")).unwrap();
        let real = PasswordHash::new(&real).unwrap();
        assert_eq!(real.params, dummy.params);
    }

    #[test]
    fn garbage_stored_hash_is_a_data_error() {
        let passwords = cheap(64, 1);
        assert_eq!(
            passwords.verify(&secret("x"), Some("not-a-phc-string")),
            Err(AuthError::StoredHashInvalid)
        );
    }

    #[test]
    fn debug_shows_no_hash() {
        let passwords = cheap(64, 1);
        let shown = format!("{passwords:?}");
        assert!(!shown.contains("argon2id$"), "{shown}");
    }

    #[tokio::test]
    async fn a_flood_beyond_the_queue_is_refused_not_queued() {
        let passwords = Passwords::new(&PasswordConfig {
            memory_kib: 64,
            iterations: 1,
            parallelism: 1,
            max_concurrent: 1,
            max_waiting: 1,
        })
        .unwrap();
        let stored = passwords.hash(&secret("pw")).unwrap();
        let attempts = (0..8).map(|_| passwords.verify_async(secret("pw"), Some(stored.clone())));
        let results = futures_join_all(attempts).await;
        let busy = results
            .iter()
            .filter(|r| **r == Err(AuthError::Busy))
            .count();
        let verified = results.iter().filter(|r| r.is_ok()).count();
        assert_eq!(busy + verified, 8);
        assert!(
            busy >= 6,
            "at most two in flight at once, got {busy} refused"
        );
        // Once the flood is over, logins go through again.
        assert!(
            passwords
                .verify_async(secret("pw"), Some(stored))
                .await
                .is_ok()
        );
    }

    /// Polls all futures concurrently on the current task (no extra dependency for a test).
    async fn futures_join_all<F: std::future::Future>(
        futures: impl Iterator<Item = F>,
    ) -> Vec<F::Output> {
        let handles: Vec<_> = futures.map(Box::pin).collect();
        let mut outputs = Vec::with_capacity(handles.len());
        let mut pending: Vec<_> = handles.into_iter().map(Some).collect();
        let mut results: Vec<Option<F::Output>> = (0..pending.len()).map(|_| None).collect();
        std::future::poll_fn(|cx| {
            let mut all_done = true;
            for (idx, slot) in pending.iter_mut().enumerate() {
                if let Some(future) = slot {
                    match future.as_mut().poll(cx) {
                        std::task::Poll::Ready(output) => {
                            results[idx] = Some(output);
                            *slot = None;
                        }
                        std::task::Poll::Pending => all_done = false,
                    }
                }
            }
            if all_done {
                std::task::Poll::Ready(())
            } else {
                std::task::Poll::Pending
            }
        })
        .await;
        outputs.extend(results.into_iter().flatten());
        outputs
    }

    #[tokio::test]
    async fn async_wrappers_run_off_the_runtime() {
        let passwords = cheap(64, 1);
        let stored = passwords.hash_async(secret("pw")).await.unwrap();
        let verified = passwords
            .verify_async(secret("pw"), Some(stored))
            .await
            .unwrap();
        assert!(!verified.needs_rehash);
        assert_eq!(
            passwords.verify_async(secret("pw"), None).await,
            Err(AuthError::BadCredentials)
        );
    }
}
