//! Rate limits (`[rate_limit]`): per source address before authentication, per caller (a partner
//! system's client, a console member) after it, each a GCRA bucket (`governor`).
//!
//! Exists so that no one address and no one credential — a misbehaving partner system, a stolen
//! token — can take the hub's capacity from everyone else. A refusal is `429` with `Retry-After`
//! and the code `RATE_LIMITED`, and is audited (`request.rate-limited`) before it is answered;
//! when the audit log cannot take it, the answer is `AUDIT_UNAVAILABLE` (still refused). Must
//! never let a refused request reach authentication (per source) or the schema (per caller).

use std::hash::Hash;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use api::{Caller, CallerId};
use audit::{Actor, AuditAction, Outcome};
use axum::extract::{ConnectInfo, Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use domain::{ClientId, MemberId};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};
use serde::Deserialize;

use crate::RequestId;
use crate::app::AppState;
use crate::auth::audit_trail::{self, Event, RequestMeta};

/// How often (in checks) buckets idle long enough to be full again are dropped, so that the
/// table of addresses stays as small as the recent traffic.
const PRUNE_EVERY: u64 = 4096;

/// `[rate_limit]`: requests per minute and the burst allowed on top, per source address and per
/// caller. Each value at least 1.
#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitSettings {
    /// Requests a minute from one source address (IPv6: one /64), sustained, before
    /// authentication; every route but the probes.
    pub source_per_minute: NonZeroU32,
    /// Requests one source address may send at once before the per-minute rate applies.
    pub source_burst: NonZeroU32,
    /// Requests a minute to `/graphql` by one caller (a partner system's client or a console
    /// member), sustained, after authentication.
    pub caller_per_minute: NonZeroU32,
    /// Requests one caller may send at once before the per-minute rate applies.
    pub caller_burst: NonZeroU32,
}

/// Whose bucket a request draws from, after authentication.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
enum CallerKey {
    Member(MemberId),
    Client(ClientId),
}

/// The buckets of a running hub.
pub(crate) struct RateLimits {
    source: DefaultKeyedRateLimiter<IpAddr>,
    caller: DefaultKeyedRateLimiter<CallerKey>,
    clock: DefaultClock,
    checks: AtomicU64,
}

impl RateLimits {
    pub(crate) fn new(settings: &RateLimitSettings) -> RateLimits {
        let quota = |per_minute: NonZeroU32, burst: NonZeroU32| {
            Quota::per_minute(per_minute).allow_burst(burst)
        };
        RateLimits {
            source: DefaultKeyedRateLimiter::keyed(quota(
                settings.source_per_minute,
                settings.source_burst,
            )),
            caller: DefaultKeyedRateLimiter::keyed(quota(
                settings.caller_per_minute,
                settings.caller_burst,
            )),
            clock: DefaultClock::default(),
            checks: AtomicU64::new(0),
        }
    }

    /// `Ok`, or the whole seconds until the source may send again (at least 1).
    fn check_source(&self, source: IpAddr) -> Result<(), u64> {
        self.prune();
        self.source
            .check_key(&source_key(source))
            .map_err(|not_until| whole_seconds(not_until.wait_time_from(self.clock.now())))
    }

    fn check_caller(&self, caller: CallerKey) -> Result<(), u64> {
        self.prune();
        self.caller
            .check_key(&caller)
            .map_err(|not_until| whole_seconds(not_until.wait_time_from(self.clock.now())))
    }

    fn prune(&self) {
        if self.checks.fetch_add(1, Ordering::Relaxed) % PRUNE_EVERY == PRUNE_EVERY - 1 {
            self.source.retain_recent();
            self.source.shrink_to_fit();
            self.caller.retain_recent();
            self.caller.shrink_to_fit();
        }
    }
}

/// The bucket of an address: IPv4 as is, IPv6 by its /64 (one host usually holds a whole /64, so
/// counting single addresses would give it billions of buckets).
fn source_key(address: IpAddr) -> IpAddr {
    match address.to_canonical() {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => {
            let network = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(Ipv6Addr::from(network))
        }
    }
}

fn whole_seconds(wait: std::time::Duration) -> u64 {
    let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    seconds.max(1)
}

/// Before authentication: the source address's bucket.
pub(crate) async fn by_source(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request,
    next: Next,
) -> Response {
    match state.rate_limits.check_source(peer.ip()) {
        Ok(()) => next.run(request).await,
        Err(retry_after) => {
            let meta = meta(&request, peer);
            let mut event = Event::new(AuditAction::RateLimited, Actor::Anonymous, Outcome::Deny);
            event.reason = Some("source-rate");
            event.checks = &["rate-limit-source"];
            refuse(&state, meta, event, retry_after).await
        }
    }
}

/// After authentication, on `/graphql`: the caller's bucket. An anonymous request (only
/// `apiVersion` answers it) has the source's bucket only.
pub(crate) async fn by_caller(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request,
    next: Next,
) -> Response {
    let Some(caller) = request.extensions().get::<Caller>() else {
        return next.run(request).await;
    };
    let (key, actor, client) = match caller.id {
        CallerId::Member(id) => (CallerKey::Member(id), Actor::Member(id), None),
        CallerId::Client(id) => (CallerKey::Client(id), Actor::Client(id), Some(id)),
    };
    let organisation = caller.organisation;
    match state.rate_limits.check_caller(key) {
        Ok(()) => next.run(request).await,
        Err(retry_after) => {
            let meta = meta(&request, peer);
            let mut event = Event::new(AuditAction::RateLimited, actor, Outcome::Deny);
            event.organisation = Some(organisation);
            event.client = client;
            event.reason = Some("caller-rate");
            event.checks = &["rate-limit-caller"];
            refuse(&state, meta, event, retry_after).await
        }
    }
}

fn meta(request: &Request, peer: SocketAddr) -> RequestMeta {
    RequestMeta {
        request_id: request.extensions().get::<RequestId>().copied(),
        source: Some(peer.ip()),
    }
}

async fn refuse(state: &AppState, meta: RequestMeta, event: Event, retry_after: u64) -> Response {
    if let Err(unavailable) = audit_trail::record(&state.audit, meta, event).await {
        return unavailable.into_response();
    }
    crate::edge::refusal(
        StatusCode::TOO_MANY_REQUESTS,
        "RATE_LIMITED",
        "too many requests; try again after the time in Retry-After",
        Some(retry_after),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_sources_share_a_bucket_per_64() {
        let cases = [
            ("203.0.113.9", "203.0.113.9"),
            ("::ffff:203.0.113.9", "203.0.113.9"),
            ("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::"),
            ("2001:db8:1:2:ffff::1", "2001:db8:1:2::"),
            ("2001:db8:1:3::1", "2001:db8:1:3::"),
        ];
        for (address, want) in cases {
            let got = source_key(address.parse().unwrap());
            assert_eq!(got, want.parse::<IpAddr>().unwrap(), "{address}");
        }
    }

    #[test]
    fn a_burst_over_the_limit_is_refused_with_a_wait() {
        let one = NonZeroU32::MIN;
        let three = NonZeroU32::new(3).unwrap();
        let limits = RateLimits::new(&RateLimitSettings {
            source_per_minute: one,
            source_burst: three,
            caller_per_minute: one,
            caller_burst: one,
        });
        let source: IpAddr = "198.51.100.7".parse().unwrap();
        for _ in 0..3 {
            assert_eq!(limits.check_source(source), Ok(()));
        }
        let wait = limits.check_source(source).unwrap_err();
        assert!((1..=60).contains(&wait), "{wait}");
        // Another address and a caller have buckets of their own.
        assert_eq!(limits.check_source("198.51.100.8".parse().unwrap()), Ok(()));
        let client = CallerKey::Client(ClientId::new());
        assert_eq!(limits.check_caller(client), Ok(()));
        assert!(limits.check_caller(client).is_err());
    }

    #[test]
    fn waits_round_up_to_whole_seconds() {
        use std::time::Duration;
        assert_eq!(whole_seconds(Duration::ZERO), 1);
        assert_eq!(whole_seconds(Duration::from_millis(1)), 1);
        assert_eq!(whole_seconds(Duration::from_millis(1001)), 2);
        assert_eq!(whole_seconds(Duration::from_secs(60)), 60);
    }
}
