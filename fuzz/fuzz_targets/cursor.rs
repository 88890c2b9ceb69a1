//! Pagination cursors (`after` of every connection): the text a client sends back, decoded as
//! `api`'s `connection::accept` does (length cap, base64url, `crypto::KeyRing::open_cursor`, the
//! list's prefix; `accept` is crate-private, so its few lines are mirrored in [`accept`] below and
//! must follow it), then the position as each list reads it. A cursor the hub did not issue for
//! that list must be refused, never panic; only a cursor tagged by the hub gets a position.
//!
//! Input: the cursor text. The key ring is fixed (`fuzz/fixtures/keys`, fuzz-only), so the seeds
//! in `corpus/cursor` are real cursors of each list and reach the position decoders.

#![no_main]

use std::sync::LazyLock;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use crypto::KeyRing;
use libfuzzer_sys::fuzz_target;

/// The lists that hand out cursors, by the names they tag them with.
const LISTS: [&str; 4] = ["plans", "residents", "revisions", "audit-entries"];

static KEYS: LazyLock<KeyRing> = LazyLock::new(|| {
    crypto::key_ring_from_text(include_str!("../fixtures/keys"))
        .unwrap_or_else(|error| panic!("the fixture's key ring loads: {error}"))
});

/// `connection::MAX_CURSOR_CHARS`.
const MAX_CURSOR_CHARS: usize = 512;

/// `api::connection::accept`, line for line: the position `cursor` stands for in `list`.
fn accept(keys: &KeyRing, list: &str, cursor: &str) -> Option<Vec<u8>> {
    if cursor.len() > MAX_CURSOR_CHARS {
        return None;
    }
    let bytes = URL_SAFE_NO_PAD.decode(cursor).ok()?;
    let opened = keys.open_cursor(&bytes).ok()?;
    let mut prefix = vec![u8::try_from(list.len()).unwrap_or(u8::MAX)];
    prefix.extend_from_slice(list.as_bytes());
    opened.strip_prefix(prefix.as_slice()).map(<[u8]>::to_vec)
}

fuzz_target!(|data: &[u8]| {
    // GraphQL strings are UTF-8.
    let Ok(cursor) = std::str::from_utf8(data) else {
        return;
    };
    for list in LISTS {
        let Some(position) = accept(&KEYS, list, cursor) else {
            continue;
        };
        // Only a cursor the hub tagged gets here; its position is read as the list reads it.
        match list {
            "plans" | "residents" => {
                std::hint::black_box(uuid::Uuid::from_slice(&position).ok());
            }
            "revisions" => {
                let (section, revision) = position.split_at(position.len().min(16));
                std::hint::black_box(uuid::Uuid::from_slice(section).ok());
                std::hint::black_box(<[u8; 8]>::try_from(revision).ok().map(u64::from_be_bytes));
            }
            _ => {
                let text = std::str::from_utf8(&position).ok();
                std::hint::black_box(text.map(audit::Cursor::parse));
            }
        }
    }
    // The tag check on its own, for bytes that are not base64url text.
    let _ = std::hint::black_box(KEYS.open_cursor(data));
});
