//! Login throttling: per-account lockout with growing lock periods, and a per-source limit that
//! catches password spraying across many accounts.
//!
//! Exists so brute force on one account and spraying across many are slowed to uselessness and
//! answered with `429` + `Retry-After`. Pure and in memory: the caller passes `now`, and counts
//! failures for unknown accounts too (so a lock does not reveal that an account exists). Must
//! never grow without bound (entries are evicted, quiet ones first) and never block for long
//! (one short mutex per map). A lock lifts by itself; [`Throttle::unlock`] lifts it early.
//!
//! Per-instance state: with several instances behind a load balancer each counts on its own, so
//! the effective limits multiply by the instance count. Acceptable for the scale in DESIGN §1;
//! a shared store is the upgrade path.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::{Mutex, PoisonError};

use chrono::{DateTime, Duration, Utc};
use serde::Deserialize;

/// Throttling settings (`[auth.throttle]` in configuration).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ThrottleConfig {
    /// Failed logins on one account before it is locked (default 5).
    pub account_max_failures: u32,
    /// First lock period in seconds (default 60); each further lock doubles it.
    pub account_lock_seconds: u32,
    /// Longest lock period in seconds (default 3600).
    pub account_lock_max_seconds: u32,
    /// Failed logins from one source (IPv4 address or IPv6 /64) within the window before the
    /// source is throttled (default 20).
    pub source_max_failures: u32,
    /// The source window in seconds (default 600).
    pub source_window_seconds: u32,
    /// How long a source is throttled once over the limit, in seconds (default 900).
    pub source_lock_seconds: u32,
    /// After this many quiet seconds an account's or source's history is forgotten (default 86400).
    pub forget_after_seconds: u32,
    /// Most accounts, and most sources, tracked at once (default 100,000 each).
    pub max_entries: usize,
}

impl Default for ThrottleConfig {
    fn default() -> Self {
        ThrottleConfig {
            account_max_failures: 5,
            account_lock_seconds: 60,
            account_lock_max_seconds: 3600,
            source_max_failures: 20,
            source_window_seconds: 600,
            source_lock_seconds: 900,
            forget_after_seconds: 86_400,
            max_entries: 100_000,
        }
    }
}

/// Whether a login attempt may go ahead.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    Allowed,
    /// Answer `429 Too Many Requests` with `Retry-After: retry_after` (whole seconds, rounded up).
    Throttled {
        retry_after: std::time::Duration,
    },
}

/// What a recorded failure caused, for the audit log (`account-locked`, `source-throttled`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FailureOutcome {
    /// Set when this failure locked the account, until when.
    pub account_locked_until: Option<DateTime<Utc>>,
    /// Set when this failure throttled the source, until when.
    pub source_throttled_until: Option<DateTime<Utc>>,
}

#[derive(Clone, Copy)]
struct AccountState {
    failures: u32,
    locks: u32,
    locked_until: Option<DateTime<Utc>>,
    last_seen: DateTime<Utc>,
}

#[derive(Clone, Copy)]
struct SourceState {
    window_start: DateTime<Utc>,
    failures: u32,
    locked_until: Option<DateTime<Utc>>,
    last_seen: DateTime<Utc>,
}

trait LastSeen {
    fn last_seen(&self) -> DateTime<Utc>;
    fn locked_until(&self) -> Option<DateTime<Utc>>;
}

impl LastSeen for AccountState {
    fn last_seen(&self) -> DateTime<Utc> {
        self.last_seen
    }
    fn locked_until(&self) -> Option<DateTime<Utc>> {
        self.locked_until
    }
}

impl LastSeen for SourceState {
    fn last_seen(&self) -> DateTime<Utc> {
        self.last_seen
    }
    fn locked_until(&self) -> Option<DateTime<Utc>> {
        self.locked_until
    }
}

/// The throttle. Thread-safe; share one per process (`Arc`).
pub struct Throttle {
    config: ThrottleConfig,
    /// Keyed by SHA-256 of the login name: fixed size per entry whatever the caller sends, and no
    /// login names (e-mail addresses) held in memory.
    accounts: Mutex<HashMap<[u8; 32], AccountState>>,
    sources: Mutex<HashMap<IpAddr, SourceState>>,
}

impl std::fmt::Debug for Throttle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Throttle")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// The unit a source is counted in: an IPv4 address, or an IPv6 /64 (one subscriber's network;
/// counting single IPv6 addresses would let an attacker rotate through 2^64 of them).
fn source_key(source: IpAddr) -> IpAddr {
    match source {
        IpAddr::V4(_) => source,
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return IpAddr::V4(v4);
            }
            let mut segments = v6.segments();
            segments[4..].fill(0);
            IpAddr::V6(segments.into())
        }
    }
}

fn account_key(account: &str) -> [u8; 32] {
    crate::random::sha256(account.as_bytes())
}

fn retry_after(until: DateTime<Utc>, now: DateTime<Utc>) -> std::time::Duration {
    let millis = (until - now).num_milliseconds().max(0);
    // Rounded up to whole seconds: `Retry-After` has no fractions, and rounding down would invite
    // a retry that is still refused.
    std::time::Duration::from_secs(u64::try_from(millis).unwrap_or(0).div_ceil(1000).max(1))
}

fn seconds(n: u32) -> Duration {
    Duration::seconds(i64::from(n))
}

/// Makes room for one more entry: first drops quiet, unlocked entries; if that is not enough,
/// drops the least recently seen tenth.
fn make_room<K: Eq + Hash + Clone, V: LastSeen>(
    map: &mut HashMap<K, V>,
    max_entries: usize,
    quiet_since: DateTime<Utc>,
    now: DateTime<Utc>,
) {
    if map.len() < max_entries {
        return;
    }
    map.retain(|_, state| {
        state.locked_until().is_some_and(|until| until > now) || state.last_seen() >= quiet_since
    });
    if map.len() < max_entries {
        return;
    }
    let mut by_age: Vec<(DateTime<Utc>, K)> = map
        .iter()
        .map(|(key, state)| (state.last_seen(), key.clone()))
        .collect();
    let n_evict = (max_entries / 10).max(1).min(by_age.len());
    if n_evict == 0 {
        return;
    }
    by_age.select_nth_unstable_by_key(n_evict - 1, |(seen, _)| *seen);
    for (_, key) in by_age.into_iter().take(n_evict) {
        map.remove(&key);
    }
}

impl Throttle {
    pub fn new(config: ThrottleConfig) -> Throttle {
        Throttle {
            config,
            accounts: Mutex::new(HashMap::new()),
            sources: Mutex::new(HashMap::new()),
        }
    }

    /// Before checking a password: may this account be tried from this source now?
    /// `account` is the normalised login name (also for accounts that do not exist).
    pub fn check(&self, account: &str, source: IpAddr, now: DateTime<Utc>) -> Decision {
        let account_until = self.lock_status(account, now);
        let source_until = self
            .sources
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&source_key(source))
            .and_then(|state| state.locked_until)
            .filter(|until| *until > now);
        match account_until.max(source_until) {
            Some(until) => Decision::Throttled {
                retry_after: retry_after(until, now),
            },
            None => Decision::Allowed,
        }
    }

    /// After a failed login (wrong password, unknown account, wrong second factor).
    pub fn record_failure(
        &self,
        account: &str,
        source: IpAddr,
        now: DateTime<Utc>,
    ) -> FailureOutcome {
        let forget_after = seconds(self.config.forget_after_seconds);
        let account_locked_until = {
            let key = account_key(account);
            let mut accounts = self.accounts.lock().unwrap_or_else(PoisonError::into_inner);
            if !accounts.contains_key(&key) {
                make_room(
                    &mut accounts,
                    self.config.max_entries,
                    now - forget_after,
                    now,
                );
            }
            let state = accounts.entry(key).or_insert(AccountState {
                failures: 0,
                locks: 0,
                locked_until: None,
                last_seen: now,
            });
            if now - state.last_seen > forget_after {
                state.failures = 0;
                state.locks = 0;
            }
            state.last_seen = now;
            state.failures += 1;
            if state.failures >= self.config.account_max_failures {
                state.failures = 0;
                state.locks = state.locks.saturating_add(1);
                let doublings = state.locks.saturating_sub(1).min(20);
                let lock = u64::from(self.config.account_lock_seconds)
                    .saturating_mul(1 << doublings)
                    .min(u64::from(self.config.account_lock_max_seconds));
                let until = now + Duration::seconds(i64::try_from(lock).unwrap_or(i64::MAX / 2));
                state.locked_until = Some(until);
                Some(until)
            } else {
                None
            }
        };
        let source_throttled_until = {
            let key = source_key(source);
            let mut sources = self.sources.lock().unwrap_or_else(PoisonError::into_inner);
            if !sources.contains_key(&key) {
                make_room(
                    &mut sources,
                    self.config.max_entries,
                    now - forget_after,
                    now,
                );
            }
            let state = sources.entry(key).or_insert(SourceState {
                window_start: now,
                failures: 0,
                locked_until: None,
                last_seen: now,
            });
            state.last_seen = now;
            if now - state.window_start >= seconds(self.config.source_window_seconds) {
                state.window_start = now;
                state.failures = 0;
            }
            state.failures += 1;
            if state.failures >= self.config.source_max_failures {
                state.failures = 0;
                state.window_start = now;
                let until = now + seconds(self.config.source_lock_seconds);
                state.locked_until = Some(until);
                Some(until)
            } else {
                None
            }
        };
        FailureOutcome {
            account_locked_until,
            source_throttled_until,
        }
    }

    /// After a successful login: the account's failures and lock history are forgotten. The
    /// source's count is kept, so an attacker with one valid account cannot reset it.
    pub fn record_success(&self, account: &str) {
        self.accounts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&account_key(account));
    }

    /// Until when the account is locked, if it is (for administrators and the login answer).
    pub fn lock_status(&self, account: &str, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.accounts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&account_key(account))
            .and_then(|state| state.locked_until)
            .filter(|until| *until > now)
    }

    /// Lifts a lock early and forgets the account's history (`wijkhub members unlock`).
    pub fn unlock(&self, account: &str) {
        self.record_success(account);
    }

    /// How many accounts and sources are tracked (for metrics and the memory-bound test).
    pub fn tracked(&self) -> (usize, usize) {
        let accounts = self
            .accounts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len();
        let sources = self
            .sources
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len();
        (accounts, sources)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn t(seconds: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + seconds, 0).unwrap()
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn throttled(secs: u64) -> Decision {
        Decision::Throttled {
            retry_after: std::time::Duration::from_secs(secs),
        }
    }

    #[test]
    fn brute_force_on_one_account_locks_it_with_growing_periods() {
        let throttle = Throttle::new(ThrottleConfig::default());
        // Each attempt from a different address: the account lock alone must stop it.
        let attacker = |n: u32| IpAddr::from([198, 51, 100, (n % 250) as u8]);
        for n in 0..4 {
            assert_eq!(throttle.check("anna", attacker(n), t(0)), Decision::Allowed);
            let outcome = throttle.record_failure("anna", attacker(n), t(0));
            assert_eq!(outcome.account_locked_until, None);
        }
        let outcome = throttle.record_failure("anna", attacker(4), t(0));
        assert_eq!(outcome.account_locked_until, Some(t(60)));
        assert_eq!(throttle.lock_status("anna", t(10)), Some(t(60)));
        assert_eq!(throttle.check("anna", attacker(5), t(10)), throttled(50));
        // Other accounts are unaffected.
        assert_eq!(
            throttle.check("bert", attacker(5), t(10)),
            Decision::Allowed
        );
        // The lock lifts by itself.
        assert_eq!(throttle.lock_status("anna", t(60)), None);
        assert_eq!(
            throttle.check("anna", attacker(6), t(60)),
            Decision::Allowed
        );
        // The next lock doubles, and so on up to the cap.
        let mut now = 60;
        for want in [120, 240, 480, 960, 1920, 3600, 3600] {
            let mut locked = None;
            for n in 0..5 {
                locked = throttle
                    .record_failure("anna", attacker(n), t(now))
                    .account_locked_until;
            }
            assert_eq!(locked, Some(t(now + want)));
            now += want;
        }
        // A success forgets the history; an administrator's unlock too.
        throttle.record_success("anna");
        assert_eq!(throttle.lock_status("anna", t(now)), None);
        for n in 0..5 {
            throttle.record_failure("anna", attacker(n), t(now));
        }
        assert!(throttle.lock_status("anna", t(now)).is_some());
        throttle.unlock("anna");
        assert_eq!(
            throttle.check("anna", attacker(0), t(now)),
            Decision::Allowed
        );
    }

    #[test]
    fn spraying_across_many_accounts_throttles_the_source() {
        let throttle = Throttle::new(ThrottleConfig::default());
        let sprayer = ip("203.0.113.7");
        for n in 0..19 {
            let account = format!("user{n}");
            assert_eq!(throttle.check(&account, sprayer, t(n)), Decision::Allowed);
            let outcome = throttle.record_failure(&account, sprayer, t(n));
            assert_eq!(
                outcome,
                FailureOutcome {
                    account_locked_until: None,
                    source_throttled_until: None
                }
            );
        }
        let outcome = throttle.record_failure("user19", sprayer, t(19));
        assert_eq!(outcome.source_throttled_until, Some(t(19 + 900)));
        assert_eq!(throttle.check("user20", sprayer, t(20)), throttled(899));
        // Nobody's account got locked, and other sources still get in.
        assert_eq!(throttle.lock_status("user0", t(20)), None);
        assert_eq!(
            throttle.check("user20", ip("192.0.2.1"), t(20)),
            Decision::Allowed
        );
        assert_eq!(
            throttle.check("user20", sprayer, t(19 + 900)),
            Decision::Allowed
        );
    }

    #[test]
    fn source_window_forgets_slow_failures() {
        let throttle = Throttle::new(ThrottleConfig::default());
        let source = ip("203.0.113.8");
        // 19 failures per ten-minute window, forever: never throttled.
        for window in 0..3 {
            for n in 0..19 {
                let outcome =
                    throttle.record_failure(&format!("u{n}"), source, t(window * 600 + n));
                assert_eq!(outcome.source_throttled_until, None);
            }
        }
    }

    #[test]
    fn ipv6_counts_per_64() {
        let throttle = Throttle::new(ThrottleConfig::default());
        for n in 0..20u16 {
            let addr = IpAddr::from([0x2001, 0xdb8, 0, 1, n, 0, 0, 1]);
            throttle.record_failure(&format!("u{n}"), addr, t(0));
        }
        let other_host_same_net = ip("2001:db8:0:1:ffff::9");
        assert_eq!(
            throttle.check("x", other_host_same_net, t(1)),
            throttled(899)
        );
        assert_eq!(
            throttle.check("x", ip("2001:db8:0:2::1"), t(1)),
            Decision::Allowed
        );
    }

    #[test]
    fn a_zero_sized_table_does_not_panic() {
        let throttle = Throttle::new(ThrottleConfig {
            max_entries: 0,
            ..ThrottleConfig::default()
        });
        throttle.record_failure("a", ip("192.0.2.1"), t(0));
        throttle.record_failure("b", ip("192.0.2.2"), t(0));
        assert!(throttle.tracked().0 <= 2);
    }

    #[test]
    fn memory_stays_bounded() {
        let throttle = Throttle::new(ThrottleConfig {
            max_entries: 100,
            ..ThrottleConfig::default()
        });
        for n in 0..1000u32 {
            let addr = IpAddr::from(n.to_be_bytes());
            throttle.record_failure(&format!("account{n}"), addr, t(i64::from(n)));
        }
        let (accounts, sources) = throttle.tracked();
        assert!(accounts <= 100 && sources <= 100, "{accounts} {sources}");
        // The most recent entries survive eviction.
        assert_eq!(
            throttle
                .accounts
                .lock()
                .unwrap()
                .get(&account_key("account999"))
                .map(|s| s.failures),
            Some(1)
        );
    }
}
