//! Where a ciphertext lives: table, column, row and resident. The place is part of the associated
//! data, so a ciphertext copied to another row, column or resident does not decrypt.
//!
//! It exists so that the store rebuilds the place from the row it read, never from the ciphertext.
//! It must never be built from data inside a ciphertext, and table and column names must stay
//! compile-time constants (`&'static str`): a place named from user input could be chosen to match.

use domain::ResidentId;
use uuid::Uuid;

/// A table and column that hold encrypted values, as the store's constant, e.g.
/// `const RESIDENT_NAME: Column = Column::new("residents", "name");`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Column {
    table: &'static str,
    name: &'static str,
}

impl Column {
    pub const fn new(table: &'static str, name: &'static str) -> Column {
        Column { table, name }
    }

    pub const fn table(&self) -> &'static str {
        self.table
    }

    pub const fn name(&self) -> &'static str {
        self.name
    }
}

/// The exact place of one encrypted value: column, row id, optional revision, and the resident whose
/// data key encrypts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Place {
    column: Column,
    row: Uuid,
    revision: Option<u64>,
    resident: ResidentId,
}

impl Place {
    /// `row` is the primary key of the row holding the value (any of the domain ids converts).
    pub fn new(column: Column, row: impl Into<Uuid>, resident: ResidentId) -> Place {
        Place {
            column,
            row: row.into(),
            revision: None,
            resident,
        }
    }

    /// For rows keyed by (id, revision), such as section revisions: a ciphertext then also fails when
    /// moved to another revision of the same row, which would silently roll content back.
    pub fn with_revision(self, revision: u64) -> Place {
        Place {
            revision: Some(revision),
            ..self
        }
    }

    pub fn column(&self) -> Column {
        self.column
    }

    pub fn row(&self) -> Uuid {
        self.row
    }

    pub fn revision(&self) -> Option<u64> {
        self.revision
    }

    pub fn resident(&self) -> ResidentId {
        self.resident
    }
}
