//! The canonical byte encoding of an entry: the Merkle leaf.
//!
//! It exists so that anyone can recompute a leaf hash from the stored columns, bit for bit,
//! without our code. It must never depend on the database, on serde or on a map's order, and a
//! shipped version is never changed: a change is a new version byte. `docs/AUDIT.md` specifies
//! it; the test vectors there are checked by this module's tests.

use crate::entry::{AuditEntry, ChainId, NewEntry};

/// The only encoding version so far.
pub const ENCODING_VERSION: u8 = 1;

/// Encodes an entry (version 1). Fields in a fixed order; strings as a u32 big-endian byte
/// length then UTF-8; options as 0x00, or 0x01 then the value; lists as a u32 big-endian count
/// then the items; UUIDs as their 16 bytes; integers as 8 bytes big-endian.
pub fn encode_entry(chain: ChainId, seq: u64, entry: &NewEntry) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    encode_into(&mut out, chain, seq, entry);
    out
}

pub(crate) fn encode_into(out: &mut Vec<u8>, chain: ChainId, seq: u64, entry: &NewEntry) {
    out.push(ENCODING_VERSION);
    out.extend_from_slice(chain.as_uuid().as_bytes());
    out.extend_from_slice(&seq.to_be_bytes());
    out.extend_from_slice(&entry.time_micros().to_be_bytes());
    put_str(out, entry.action.as_str());
    put_str(out, entry.actor.kind());
    put_opt(out, entry.actor.id(), |out, id| {
        out.extend_from_slice(id.as_bytes())
    });
    put_opt(out, entry.on_behalf_of.as_ref(), |out, person| {
        put_str(out, person.user_id().as_str());
        put_str(out, person.display_name());
    });
    put_opt(out, entry.organisation, |out, id| {
        out.extend_from_slice(id.as_uuid().as_bytes())
    });
    put_opt(out, entry.role, |out, role| put_str(out, role.as_str()));
    put_opt(out, entry.resident, |out, id| {
        out.extend_from_slice(id.as_uuid().as_bytes())
    });
    put_opt(out, entry.plan, |out, id| {
        out.extend_from_slice(id.as_uuid().as_bytes())
    });
    put_opt(out, entry.section, |out, id| {
        out.extend_from_slice(id.as_uuid().as_bytes())
    });
    put_opt(out, entry.revision, |out, revision| {
        out.extend_from_slice(&revision.to_be_bytes())
    });
    put_list(
        out,
        entry
            .categories_returned
            .iter()
            .map(|category| category.as_str()),
    );
    put_list(
        out,
        entry
            .categories_denied
            .iter()
            .map(|category| category.as_str()),
    );
    put_opt(out, entry.purpose, |out, purpose| {
        put_str(out, purpose.as_str())
    });
    put_opt(out, entry.basis.as_ref(), |out, basis| {
        put_str(out, basis.as_str())
    });
    put_str(out, entry.outcome.as_str());
    put_opt(out, entry.reason.as_ref(), |out, reason| {
        put_str(out, reason.as_str())
    });
    put_list(out, entry.checks.iter().map(|check| check.as_str()));
    put_opt(out, entry.request_id.as_ref(), |out, id| {
        put_str(out, id.as_str())
    });
    put_opt(out, entry.source_address, |out, address| {
        put_str(out, &address.to_string())
    });
    put_opt(out, entry.client, |out, id| {
        out.extend_from_slice(id.as_uuid().as_bytes())
    });
}

/// The encoding of a stored entry.
pub fn encode_stored(entry: &AuditEntry) -> Vec<u8> {
    encode_entry(entry.chain, entry.seq, &entry.entry)
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    // Every string is bounded far below 4 GiB by the entry types (codes, names, addresses).
    out.extend_from_slice(&(s.len() as u32).to_be_bytes());
    out.extend_from_slice(s.as_bytes());
}

fn put_opt<T>(out: &mut Vec<u8>, value: Option<T>, put: impl FnOnce(&mut Vec<u8>, T)) {
    match value {
        None => out.push(0),
        Some(value) => {
            out.push(1);
            put(out, value);
        }
    }
}

fn put_list<'a>(out: &mut Vec<u8>, items: impl ExactSizeIterator<Item = &'a str>) {
    out.extend_from_slice(&(items.len() as u32).to_be_bytes());
    for item in items {
        put_str(out, item);
    }
}
