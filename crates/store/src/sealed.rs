//! The encrypted columns, and the one way rows holding them are built and opened.
//!
//! Every encrypted column has a [`Column`] constant here, and every ciphertext is bound to its
//! [`Place`] — table, column, row id, revision where there is one, resident — rebuilt from the row
//! when reading. A ciphertext copied to another row, column or resident does not decrypt.
//! See `docs/CRYPTO.md`.

use chrono::{DateTime, NaiveDate, Utc};
use crypto::{Column, Dek, KeyRing, Place};
use domain::{Bsn, NetworkId, ResidentId, ResidentStatus};
use sea_orm::ActiveValue::Set;
use secrecy::{ExposeSecret, SecretString};
use uuid::Uuid;

use crate::StoreError;
use crate::entity::{residents, section_revisions};

pub const RESIDENT_BSN: Column = Column::new("residents", "bsn_ciphertext");
pub const RESIDENT_NAME: Column = Column::new("residents", "name_ciphertext");
pub const RESIDENT_BIRTH_DATE: Column = Column::new("residents", "birth_date_ciphertext");
pub const RESIDENT_CONTACT: Column = Column::new("residents", "contact_ciphertext");
pub const REPRESENTATIVE_NAME: Column = Column::new("representatives", "name_ciphertext");
/// Keyed by the section's id and the revision number, so one revision cannot replace another.
pub const SECTION_CONTENT: Column = Column::new("section_revisions", "content_ciphertext");
pub const CONSENT_EVIDENCE: Column = Column::new("consents", "evidence_ciphertext");
pub const CONSENT_WITHDRAWAL_REASON: Column =
    Column::new("consents", "withdrawal_reason_ciphertext");
pub const OBJECTION_REASON: Column = Column::new("objections", "reason_ciphertext");
pub const BREAK_GLASS_REASON: Column = Column::new("break_glass", "reason_ciphertext");

/// A resident as a caller gives it, in plaintext; it only ever reaches the database sealed.
#[derive(Debug)]
pub struct NewResident {
    pub network: NetworkId,
    pub bsn: Bsn,
    /// `Debug` shows it: keep `NewResident` values out of logs (they are built and consumed in
    /// one call).
    pub name: String,
    pub birth_date: NaiveDate,
    pub contact: Option<String>,
    pub area: String,
}

/// Seals a new resident: a fresh data key wrapped under the current KEK, every personal field
/// encrypted under it, and the BSN's blind index. Returns the row and the data key, for sealing
/// the resident's other rows in the same transaction.
pub fn seal_resident(
    keys: &KeyRing,
    id: ResidentId,
    resident: &NewResident,
    now: DateTime<Utc>,
) -> Result<(residents::ActiveModel, Dek), StoreError> {
    let (dek, wrapped) = keys.new_dek(id)?;
    let place = |column| Place::new(column, id.as_uuid(), id);
    let seal = |column, text: &str| crypto::encrypt_str(&dek, &place(column), text);
    let bsn = seal(RESIDENT_BSN, resident.bsn.expose())?;
    let name = seal(RESIDENT_NAME, &resident.name)?;
    let birth_date = seal(
        RESIDENT_BIRTH_DATE,
        &resident.birth_date.format("%Y-%m-%d").to_string(),
    )?;
    let contact = resident
        .contact
        .as_deref()
        .map(|contact| seal(RESIDENT_CONTACT, contact))
        .transpose()?;
    let index = keys.blind_index(&resident.bsn);
    let row = residents::ActiveModel {
        id: Set(id.as_uuid()),
        network_id: Set(resident.network.as_uuid()),
        bsn_ciphertext: Set(bsn),
        bsn_blind_index: Set(index.bytes().to_vec()),
        bsn_index_key_version: Set(version(index.key_version())?),
        name_ciphertext: Set(name),
        birth_date_ciphertext: Set(birth_date),
        contact_ciphertext: Set(contact),
        area: Set(resident.area.clone()),
        wrapped_dek: Set(Some(wrapped)),
        dek_kek_version: Set(version(keys.current_kek_version())?),
        status: Set(ResidentStatus::Active.as_str().to_owned()),
        created_at: Set(now),
        updated_at: Set(now),
        erased_at: Set(None),
    };
    Ok((row, dek))
}

/// The plaintext personal fields of a resident row.
pub struct OpenedResident {
    pub bsn: Bsn,
    pub name: SecretString,
    pub birth_date: NaiveDate,
    pub contact: Option<SecretString>,
}

impl std::fmt::Debug for OpenedResident {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OpenedResident(***)")
    }
}

/// Opens a resident row's personal fields with its (unwrapped) data key.
pub fn open_resident(dek: &Dek, row: &residents::Model) -> Result<OpenedResident, StoreError> {
    let id = ResidentId::from_uuid(row.id);
    let place = |column| Place::new(column, row.id, id);
    let open = |column, bytes: &[u8]| crypto::decrypt_string(dek, &place(column), bytes);
    let bsn = open(RESIDENT_BSN, &row.bsn_ciphertext)?;
    let bsn = Bsn::parse(bsn.expose_secret())
        .map_err(|_| StoreError::Corrupt(format!("resident {}: stored BSN is invalid", row.id)))?;
    let name = open(RESIDENT_NAME, &row.name_ciphertext)?;
    let birth_date = open(RESIDENT_BIRTH_DATE, &row.birth_date_ciphertext)?;
    let birth_date = parse_birth_date(birth_date.expose_secret(), row.id)?;
    let contact = row
        .contact_ciphertext
        .as_deref()
        .map(|bytes| open(RESIDENT_CONTACT, bytes))
        .transpose()?;
    Ok(OpenedResident {
        bsn,
        name,
        birth_date,
        contact,
    })
}

/// Opens only a resident row's birth date: what the access policy's age rules need. Deciding
/// access decrypts nothing else.
pub fn open_birth_date(dek: &Dek, row: &residents::Model) -> Result<NaiveDate, StoreError> {
    let id = ResidentId::from_uuid(row.id);
    let place = Place::new(RESIDENT_BIRTH_DATE, row.id, id);
    let text = crypto::decrypt_string(dek, &place, &row.birth_date_ciphertext)?;
    parse_birth_date(text.expose_secret(), row.id)
}

fn parse_birth_date(text: &str, row: Uuid) -> Result<NaiveDate, StoreError> {
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .map_err(|_| StoreError::Corrupt(format!("resident {row}: stored birth date is invalid")))
}

/// Seals one revision of a section's content.
#[derive(Debug, Clone, Copy)]
pub struct RevisionAuthor {
    pub organisation: Uuid,
    pub member: Option<Uuid>,
    pub client: Option<Uuid>,
}

pub fn seal_revision(
    dek: &Dek,
    resident: ResidentId,
    section: Uuid,
    revision: i64,
    content: &str,
    author: RevisionAuthor,
    now: DateTime<Utc>,
) -> Result<section_revisions::ActiveModel, StoreError> {
    let place = revision_place(resident, section, revision)?;
    let ciphertext = crypto::encrypt_str(dek, &place, content)?;
    Ok(section_revisions::ActiveModel {
        id: Set(Uuid::now_v7()),
        section_id: Set(section),
        revision: Set(revision),
        content_ciphertext: Set(ciphertext),
        author_organisation_id: Set(author.organisation),
        author_member_id: Set(author.member),
        author_client_id: Set(author.client),
        created_at: Set(now),
    })
}

/// Opens one revision of a section's content.
pub fn open_revision(
    dek: &Dek,
    resident: ResidentId,
    row: &section_revisions::Model,
) -> Result<SecretString, StoreError> {
    let place = revision_place(resident, row.section_id, row.revision)?;
    Ok(crypto::decrypt_string(
        dek,
        &place,
        &row.content_ciphertext,
    )?)
}

fn revision_place(resident: ResidentId, section: Uuid, revision: i64) -> Result<Place, StoreError> {
    let revision = u64::try_from(revision)
        .map_err(|_| StoreError::Corrupt(format!("section {section}: negative revision")))?;
    Ok(Place::new(SECTION_CONTENT, section, resident).with_revision(revision))
}

/// Seals a free-text field of a resident's other rows (consent evidence, reasons).
pub fn seal_text(
    dek: &Dek,
    column: Column,
    row: Uuid,
    resident: ResidentId,
    text: &str,
) -> Result<Vec<u8>, StoreError> {
    Ok(crypto::encrypt_str(
        dek,
        &Place::new(column, row, resident),
        text,
    )?)
}

/// Opens a free-text field sealed by [`seal_text`].
pub fn open_text(
    dek: &Dek,
    column: Column,
    row: Uuid,
    resident: ResidentId,
    bytes: &[u8],
) -> Result<SecretString, StoreError> {
    Ok(crypto::decrypt_string(
        dek,
        &Place::new(column, row, resident),
        bytes,
    )?)
}

fn version(version: u32) -> Result<i32, StoreError> {
    i32::try_from(version).map_err(|_| StoreError::Corrupt(format!("key version {version}")))
}
