//! A small cache of unwrapped data keys, so a plan read unwraps its resident's DEK at most once and
//! a burst of reads of one resident does not unwrap at all.
//!
//! It exists to bound both cost and exposure: at most `capacity` keys, each for at most `ttl` after it
//! was unwrapped (a hard deadline, not extended by use), dropped (and so zeroized, once the last
//! reader lets go of its `Arc`) as soon as it expires or is evicted. It must never hand out a key for a
//! different wrapped value than the one asked with: the cache key is the resident *and* the exact
//! wrapped bytes, so a rewrap, an erasure or a row moved to another resident misses.
//!
//! Hand-written rather than `moka` or `quick_cache`: those expire lazily (an expired key can linger in
//! memory until capacity pushes it out) and optimise hit rates we do not need. With a fixed TTL,
//! insertion order is expiry order, so a FIFO queue purged on every call gives exact, prompt expiry in
//! O(1) amortised time under one `std::sync::Mutex` held for no crypto work.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use domain::ResidentId;

use crate::CryptoError;
use crate::keyring::{Dek, KeyRing};

/// Limits of a [`DekCache`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DekCacheConfig {
    /// Most keys held at once; the oldest is dropped first.
    pub capacity: usize,
    /// How long after unwrapping a key may be used from the cache.
    pub ttl: Duration,
}

impl Default for DekCacheConfig {
    /// 10,000 keys (≈ 1 MB with overhead) for 60 seconds: enough for a busy instance's working set.
    fn default() -> Self {
        DekCacheConfig {
            capacity: 10_000,
            ttl: Duration::from_secs(60),
        }
    }
}

#[derive(Clone, PartialEq, Eq, Hash)]
struct CacheKey {
    resident: ResidentId,
    /// The stored wrapped DEK. Not secret (it is in every database copy), and exact: no fingerprint
    /// collision to reason about.
    wrapped: Box<[u8]>,
}

struct Entry {
    dek: Arc<Dek>,
    expires_at: Instant,
    /// Which insertion this is, so a stale queue item does not remove a newer entry for the same key.
    sequence: u64,
}

struct Inner {
    entries: HashMap<CacheKey, Entry>,
    /// Insertion order, which with one TTL is expiry order.
    queue: VecDeque<(CacheKey, u64)>,
    next_sequence: u64,
}

/// Thread-safe cache of unwrapped DEKs; share one per process (it is `Send + Sync`).
pub struct DekCache {
    config: DekCacheConfig,
    inner: Mutex<Inner>,
}

impl fmt::Debug for DekCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DekCache")
            .field("config", &self.config)
            .field("len", &self.len())
            .finish_non_exhaustive()
    }
}

impl DekCache {
    pub fn new(config: DekCacheConfig) -> DekCache {
        DekCache {
            config,
            inner: Mutex::new(Inner {
                entries: HashMap::new(),
                queue: VecDeque::new(),
                next_sequence: 0,
            }),
        }
    }

    /// The resident's DEK: from the cache when this exact wrapped value was unwrapped less than `ttl`
    /// ago, else unwrapped by `ring` (outside the lock) and cached. Errors are never cached.
    pub fn unwrap(
        &self,
        ring: &KeyRing,
        wrapped: &[u8],
        resident: ResidentId,
    ) -> Result<Arc<Dek>, CryptoError> {
        self.unwrap_at(ring, wrapped, resident, Instant::now())
    }

    pub(crate) fn unwrap_at(
        &self,
        ring: &KeyRing,
        wrapped: &[u8],
        resident: ResidentId,
        now: Instant,
    ) -> Result<Arc<Dek>, CryptoError> {
        let key = CacheKey {
            resident,
            wrapped: Box::from(wrapped),
        };
        {
            let mut inner = self.lock();
            inner.purge(now);
            if let Some(entry) = inner.entries.get(&key) {
                tracing::trace!(resident = %resident, "data key cache hit");
                return Ok(Arc::clone(&entry.dek));
            }
        }
        let dek = Arc::new(ring.unwrap_dek(wrapped, resident)?);
        if self.config.capacity > 0 {
            let mut inner = self.lock();
            inner.purge(now);
            while inner.entries.len() >= self.config.capacity {
                if !inner.pop_oldest() {
                    break;
                }
            }
            let sequence = inner.next_sequence;
            inner.next_sequence += 1;
            inner.queue.push_back((key.clone(), sequence));
            let entry = Entry {
                dek: Arc::clone(&dek),
                expires_at: now + self.config.ttl,
                sequence,
            };
            inner.entries.insert(key, entry);
        }
        tracing::trace!(resident = %resident, "data key cache miss");
        Ok(dek)
    }

    /// Drops every cached key of `resident`. The store calls it on erasure and after a rewrap.
    pub fn forget_resident(&self, resident: ResidentId) {
        let mut inner = self.lock();
        inner.entries.retain(|key, _| key.resident != resident);
        inner.queue.retain(|(key, _)| key.resident != resident);
    }

    /// Drops every cached key, e.g. after the key ring was reloaded.
    pub fn clear(&self) {
        let mut inner = self.lock();
        inner.entries.clear();
        inner.queue.clear();
    }

    /// Drops expired keys now rather than at the next call; for a periodic task on an idle instance.
    pub fn purge_expired(&self) {
        self.lock().purge(Instant::now());
    }

    pub fn len(&self) -> usize {
        self.lock().entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A panic while holding the lock cannot leave the maps half-updated in a way that matters (at
    /// worst a queue item without an entry, which `purge` skips), so a poisoned lock is still used.
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Inner {
    fn purge(&mut self, now: Instant) {
        while let Some((key, sequence)) = self.queue.front() {
            let still_fresh = match self.entries.get(key) {
                Some(entry) if entry.sequence == *sequence => Some(entry.expires_at > now),
                // A stale queue item: its entry was replaced or removed.
                Some(_) | None => None,
            };
            match still_fresh {
                Some(true) => break,
                Some(false) => {
                    if let Some((key, _)) = self.queue.pop_front() {
                        self.entries.remove(&key);
                    }
                }
                None => {
                    self.queue.pop_front();
                }
            }
        }
    }

    /// Removes the oldest live entry; false when there is none.
    fn pop_oldest(&mut self) -> bool {
        while let Some((key, sequence)) = self.queue.pop_front() {
            if self
                .entries
                .get(&key)
                .is_some_and(|entry| entry.sequence == sequence)
            {
                self.entries.remove(&key);
                return true;
            }
        }
        false
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::sync::Weak;

    use secrecy::ExposeSecret;

    use super::*;

    fn key_ring() -> KeyRing {
        crate::key_ring_from_text(crate::generate_key_text().unwrap().expose_secret()).unwrap()
    }

    const TTL: Duration = Duration::from_secs(60);

    /// (seconds after start, which of the prepared (resident, wrapped) pairs, want a hit).
    type Step = (u64, usize, bool);

    /// Each step: (seconds after start, which of the prepared (resident, wrapped) pairs, want a hit).
    #[track_caller]
    fn check(capacity: usize, steps: &[Step], want_len: usize) {
        let ring = key_ring();
        let rows: Vec<(ResidentId, Vec<u8>)> = (0..4)
            .map(|_| {
                let resident = ResidentId::new();
                (resident, ring.new_dek(resident).unwrap().1)
            })
            .collect();
        let cache = DekCache::new(DekCacheConfig { capacity, ttl: TTL });
        let start = Instant::now();
        let mut previous: Vec<Option<Weak<Dek>>> = vec![None; rows.len()];
        for (step_idx, &(seconds, row_idx, want_hit)) in steps.iter().enumerate() {
            let (resident, wrapped) = &rows[row_idx];
            let now = start + Duration::from_secs(seconds);
            let dek = cache.unwrap_at(&ring, wrapped, *resident, now).unwrap();
            let hit = previous[row_idx]
                .as_ref()
                .and_then(Weak::upgrade)
                .is_some_and(|old| Arc::ptr_eq(&old, &dek));
            assert_eq!(hit, want_hit, "step {step_idx}");
            previous[row_idx] = Some(Arc::downgrade(&dek));
        }
        assert_eq!(cache.len(), want_len);
        assert!(cache.len() <= capacity);
    }

    #[test]
    fn hits_expiry_and_capacity() {
        let cases: [(usize, &[Step], usize); 6] = [
            (10, &[(0, 0, false), (1, 0, true), (59, 0, true)], 1),
            // The deadline is hard: use does not extend it.
            (
                10,
                &[(0, 0, false), (30, 0, true), (60, 0, false), (61, 0, true)],
                1,
            ),
            (
                10,
                &[(0, 0, false), (1, 1, false), (2, 0, true), (2, 1, true)],
                2,
            ),
            // Capacity 2: the oldest goes first.
            (
                2,
                &[
                    (0, 0, false),
                    (1, 1, false),
                    (2, 2, false),
                    (3, 0, false),
                    (3, 2, true),
                ],
                2,
            ),
            // Expired entries are purged on any call, not only on their own lookup.
            (10, &[(0, 0, false), (1, 1, false), (100, 2, false)], 1),
            (0, &[(0, 0, false), (1, 0, false)], 0),
        ];
        for (capacity, steps, want_len) in cases {
            check(capacity, steps, want_len);
        }
    }

    #[test]
    fn evicted_keys_are_dropped() {
        let ring = key_ring();
        let resident = ResidentId::new();
        let (_, wrapped) = ring.new_dek(resident).unwrap();
        let cache = DekCache::new(DekCacheConfig {
            capacity: 4,
            ttl: TTL,
        });
        let start = Instant::now();
        let weak = Arc::downgrade(&cache.unwrap_at(&ring, &wrapped, resident, start).unwrap());
        assert!(weak.upgrade().is_some(), "held by the cache");
        cache.lock().purge(start + TTL);
        // No holder left: the Dek was dropped, and its SecretBox zeroized the bytes.
        assert!(weak.upgrade().is_none());
        assert!(cache.is_empty());
    }

    #[test]
    fn misses_for_another_wrapped_value_or_resident() {
        let ring = key_ring();
        let resident = ResidentId::new();
        let (dek, wrapped) = ring.new_dek(resident).unwrap();
        let cache = DekCache::new(DekCacheConfig::default());
        let first = cache.unwrap(&ring, &wrapped, resident).unwrap();
        // A rewrap (same DEK, new bytes) is a new entry, not a stale hit.
        let rewrapped = ring.wrap_dek(&dek, resident).unwrap();
        let second = cache.unwrap(&ring, &rewrapped, resident).unwrap();
        assert!(!Arc::ptr_eq(&first, &second));
        // The cache never serves a key to the wrong resident, and errors are not cached.
        assert!(matches!(
            cache.unwrap(&ring, &wrapped, ResidentId::new()),
            Err(CryptoError::Authentication)
        ));
        assert_eq!(cache.len(), 2);
        cache.forget_resident(resident);
        assert!(cache.is_empty());
        assert!(matches!(
            cache.unwrap(&ring, &crate::ERASED_WRAPPED_DEK, resident),
            Err(CryptoError::Erased)
        ));
        cache.unwrap(&ring, &wrapped, resident).unwrap();
        cache.clear();
        assert!(cache.is_empty());
    }

    #[test]
    fn shared_across_threads() {
        let ring = Arc::new(key_ring());
        let cache = Arc::new(DekCache::new(DekCacheConfig {
            capacity: 8,
            ttl: TTL,
        }));
        let rows: Vec<(ResidentId, Vec<u8>)> = (0..16)
            .map(|_| {
                let resident = ResidentId::new();
                (resident, ring.new_dek(resident).unwrap().1)
            })
            .collect();
        let rows = Arc::new(rows);
        let threads: Vec<_> = (0..4)
            .map(|thread_idx| {
                let (ring, cache, rows) =
                    (Arc::clone(&ring), Arc::clone(&cache), Arc::clone(&rows));
                std::thread::spawn(move || {
                    for round in 0..200 {
                        let (resident, wrapped) = &rows[(round * 7 + thread_idx) % rows.len()];
                        cache.unwrap(&ring, wrapped, *resident).unwrap();
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        assert!(cache.len() <= 8);
    }
}
