//! Column value types that keep credentials out of `Debug` output. sea-orm derives `Debug` on
//! every model and active model; a credential column wrapped in [`Redacted`] prints `***`.

use std::fmt;

use sea_orm::DeriveValueType;

/// Text that must never be printed: password hashes, secret hashes.
#[derive(Clone, PartialEq, Eq, DeriveValueType)]
pub struct Redacted(pub String);

impl fmt::Debug for Redacted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}
