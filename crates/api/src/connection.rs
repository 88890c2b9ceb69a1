//! The pagination contract shared by every list (Relay connections): `first` between 1 and
//! [`MAX_FIRST`] (default [`DEFAULT_FIRST`]), and `after` a cursor the hub issued for that same
//! list. A cursor is opaque: base64url of a position the list chose, tagged by the key ring
//! (`crypto::KeyRing::tag_cursor`), so a cursor that was edited, forged, or issued for another
//! list is refused with `BAD_USER_INPUT` before anything is read.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use crypto::KeyRing;

use crate::ApiError;

/// Items per page when `first` is not given.
pub(crate) const DEFAULT_FIRST: i32 = 20;
/// The most items one page may ask for.
pub(crate) const MAX_FIRST: i32 = 100;

/// Longest cursor text accepted; anything longer was not issued by the hub.
const MAX_CURSOR_CHARS: usize = 512;

/// The page size for `first`: the default when absent, refused outside 1..=[`MAX_FIRST`].
pub(crate) fn page_size(first: Option<i32>) -> Result<u64, ApiError> {
    match first {
        None => Ok(DEFAULT_FIRST as u64),
        Some(n) if (1..=MAX_FIRST).contains(&n) => Ok(n as u64),
        Some(_) => Err(ApiError::BadUserInput(
            "first must be between 1 and 100 (the maximum page size)",
        )),
    }
}

/// The cursor text for `position` in the list named `list` (e.g. `"residents"`).
pub(crate) fn issue(keys: &KeyRing, list: &str, position: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(keys.tag_cursor(&payload(list, position)))
}

/// The position in `list` that `cursor` stands for; `BAD_USER_INPUT` for a cursor the hub did
/// not issue for this list.
pub(crate) fn accept(keys: &KeyRing, list: &str, cursor: &str) -> Result<Vec<u8>, ApiError> {
    const REFUSED: ApiError =
        ApiError::BadUserInput("after is not a cursor this hub issued for this list");
    if cursor.len() > MAX_CURSOR_CHARS {
        return Err(REFUSED);
    }
    let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| REFUSED)?;
    let opened = keys.open_cursor(&bytes).map_err(|_| REFUSED)?;
    let prefix = payload(list, &[]);
    opened
        .strip_prefix(prefix.as_slice())
        .map(<[u8]>::to_vec)
        .ok_or(REFUSED)
}

/// `list` length-prefixed, then the position: lists cannot pass for one another.
fn payload(list: &str, position: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(1 + list.len() + position.len());
    out.push(u8::try_from(list.len()).unwrap_or(u8::MAX));
    out.extend_from_slice(list.as_bytes());
    out.extend_from_slice(position);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    fn keys() -> KeyRing {
        crypto::key_ring_from_text(crypto::generate_key_text().unwrap().expose_secret()).unwrap()
    }

    #[test]
    fn page_sizes() {
        assert_eq!(page_size(None).unwrap(), 20);
        assert_eq!(page_size(Some(1)).unwrap(), 1);
        assert_eq!(page_size(Some(100)).unwrap(), 100);
        for bad in [0, -1, 101, i32::MAX] {
            assert!(matches!(
                page_size(Some(bad)),
                Err(ApiError::BadUserInput(_))
            ));
        }
    }

    #[test]
    fn cursors_round_trip_and_refuse_what_was_not_issued() {
        let keys = keys();
        let cursor = issue(&keys, "residents", b"\x01\x02position");
        assert!(cursor.len() < MAX_CURSOR_CHARS);
        assert_eq!(
            accept(&keys, "residents", &cursor).unwrap(),
            b"\x01\x02position"
        );
        let refused = |text: &str| {
            matches!(
                accept(&keys, "residents", text),
                Err(ApiError::BadUserInput(_))
            )
        };
        assert!(!refused(&cursor));
        assert!(matches!(
            accept(&keys, "plans", &cursor),
            Err(ApiError::BadUserInput(_))
        ));
        assert!(refused(""));
        assert!(refused("not base64 !"));
        assert!(refused(
            &URL_SAFE_NO_PAD.encode(b"residents\x01\x02position")
        ));
        assert!(refused(&"A".repeat(10_000)));
        let mut edited = cursor.into_bytes();
        edited[8] = if edited[8] == b'A' { b'B' } else { b'A' };
        assert!(refused(&String::from_utf8(edited).unwrap()));
    }
}
