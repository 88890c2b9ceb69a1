//! Writes the seeds of the fuzz targets that need keys to make: access tokens signed by the fixed
//! fuzz-only signing keys, ciphertexts and cursors under the fixed fuzz-only key ring. Run in
//! `fuzz/`: `RUSTC_BOOTSTRAP=1 cargo fuzz build --debug-assertions seedgen`, then
//! `target/x86_64-unknown-linux-gnu/release/seedgen`. The signing keys are made once
//! (`fixtures/signing-keys.json`) and kept; tokens, ciphertexts and cursors are written anew (new
//! nonces and ids, same meaning). The other targets' seeds are plain text, checked in by hand.

use std::fs;
use std::path::Path;

use auth::keys::SigningKeys;
use auth::token::{AccessTokenRequest, AccessTokens, Subject, TokenConfig};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use chrono::DateTime;
use domain::{ClientId, MemberId, OrganisationId, Purpose, ResidentId, Role};
use secrecy::{ExposeSecret, SecretString};
use uuid::Uuid;

/// As in `fuzz_targets/bearer_token.rs`: tokens are issued at `ISSUED`, checked a minute later.
const ISSUED: i64 = 1_800_000_000;
/// As in `fuzz_targets/ciphertext.rs`.
const RESIDENT: Uuid = Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0001);
const SECTION: Uuid = Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0002);

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let issued = DateTime::from_timestamp(ISSUED, 0).ok_or("timestamp")?;
    let signing = Path::new("fixtures/signing-keys.json");
    let stored = match fs::read_to_string(signing) {
        Ok(text) if !text.trim().is_empty() => SecretString::from(text.trim()),
        _ => {
            let stored = SigningKeys::generate(issued)?.to_stored();
            fs::write(signing, format!("{}\n", stored.expose_secret()))?;
            stored
        }
    };

    // Access tokens: a partner client's and a coach's with a second factor.
    let tokens = AccessTokens::new(
        TokenConfig {
            issuer: "https://wijkhub.example".to_owned(),
            audience: "wijkhub".to_owned(),
            ..TokenConfig::default()
        },
        SigningKeys::from_stored(&stored)?,
    )?;
    let organisation =
        OrganisationId::from_uuid(Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0010));
    let client = AccessTokenRequest {
        subject: Subject::Client(ClientId::from_uuid(Uuid::from_u128(
            0x0190_0000_0000_7000_8000_0000_0000_0020,
        ))),
        client_id: "buurtkracht-crm".to_owned(),
        organisation,
        roles: vec![Role::WelfareWorker],
        scopes: vec!["plans:read".to_owned(), "plans:write".to_owned()],
        purposes: vec![Purpose::Support],
        amr: Vec::new(),
    };
    let member = AccessTokenRequest {
        subject: Subject::Member(MemberId::from_uuid(Uuid::from_u128(
            0x0190_0000_0000_7000_8000_0000_0000_0030,
        ))),
        client_id: "console".to_owned(),
        organisation,
        roles: vec![Role::Coach],
        scopes: Vec::new(),
        purposes: vec![Purpose::Support],
        amr: vec!["pwd".to_owned(), "otp".to_owned()],
    };
    let dir = Path::new("corpus/bearer_token");
    fs::create_dir_all(dir)?;
    fs::write(
        dir.join("access-token-client"),
        tokens.issue(&client, issued)?.access_token,
    )?;
    fs::write(
        dir.join("access-token-member"),
        tokens.issue(&member, issued)?.access_token,
    )?;
    fs::write(
        dir.join("external-idp-rs256"),
        include_str!("../../crates/auth/tests/fixtures/idp-rsa-token.txt").trim(),
    )?;
    fs::write(
        dir.join("basic-client-secret"),
        format!("Basic {}", STANDARD.encode("buurtkracht-crm:s3cr%C3%A9t")),
    )?;

    // Ciphertexts: a resident's wrapped data key followed by a field sealed under it.
    let keys = crypto::key_ring_from_text(&fs::read_to_string("fixtures/keys")?)?;
    let resident = ResidentId::from_uuid(RESIDENT);
    let (dek, wrapped) = keys.new_dek(resident)?;
    let name = crypto::Place::new(
        crypto::Column::new("residents", "name_ciphertext"),
        RESIDENT,
        resident,
    );
    let content = crypto::Place::new(
        crypto::Column::new("section_revisions", "content_ciphertext"),
        SECTION,
        resident,
    )
    .with_revision(1);
    let dir = Path::new("corpus/ciphertext");
    fs::create_dir_all(dir)?;
    let mut row = wrapped.clone();
    row.extend(crypto::encrypt_str(&dek, &name, "Bram de Vries")?);
    fs::write(dir.join("resident-name"), &row)?;
    let mut row = wrapped.clone();
    row.extend(crypto::encrypt_field(
        &dek,
        &content,
        "Wil weer zelf boodschappen doen.".as_bytes(),
    )?);
    fs::write(dir.join("section-content"), &row)?;
    let mut row = wrapped;
    row.extend(crypto::encrypt_field(&dek, &content, b"")?);
    fs::write(dir.join("section-content-empty"), &row)?;
    fs::write(dir.join("erased-data-key"), crypto::ERASED_WRAPPED_DEK)?;

    // Cursors of each list, as `api::connection::issue` makes them.
    let dir = Path::new("corpus/cursor");
    fs::create_dir_all(dir)?;
    let cursor = |list: &str, position: &[u8]| {
        let mut payload = vec![u8::try_from(list.len()).unwrap_or(u8::MAX)];
        payload.extend_from_slice(list.as_bytes());
        payload.extend_from_slice(position);
        URL_SAFE_NO_PAD.encode(keys.tag_cursor(&payload))
    };
    fs::write(dir.join("plans"), cursor("plans", RESIDENT.as_bytes()))?;
    fs::write(
        dir.join("residents"),
        cursor("residents", RESIDENT.as_bytes()),
    )?;
    let mut revision = SECTION.as_bytes().to_vec();
    revision.extend_from_slice(&3u64.to_be_bytes());
    fs::write(dir.join("revisions"), cursor("revisions", &revision))?;
    let audit = URL_SAFE_NO_PAD.encode(format!("v1:{}:{}:{}", ISSUED * 1_000_000, SECTION, 41));
    fs::write(
        dir.join("audit-entries"),
        cursor("audit-entries", audit.as_bytes()),
    )?;
    Ok(())
}
