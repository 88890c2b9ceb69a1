//! Key files and rotation: generation, strict parsing, permissions, adding and retiring versions, and
//! rewrapping data keys across a KEK rotation.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crypto::{
    Column, CryptoError, EnvKeyProvider, FileKeyProvider, KeyProvider, KeyRing, KeyState, Place,
    add_blind_index_version, add_kek_version, decrypt_field, encrypt_field, generate_key_file,
    key_file_status, key_ring_from_text, retire_blind_index_version, retire_kek_version,
    wrapped_kek_version,
};
use domain::{Bsn, ResidentId};

const RESIDENT_NAME: Column = Column::new("residents", "name");
const KEY_A: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
const KEY_B: &str = "ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8=";

fn load(path: &Path) -> KeyRing {
    FileKeyProvider::new(path).load().unwrap()
}

#[track_caller]
fn check(text: &str, want: &str) {
    let got = match key_ring_from_text(text) {
        Ok(ring) => format!(
            "ok kek {} index {}",
            ring.current_kek_version(),
            ring.current_blind_index_version()
        ),
        Err(err) => err.to_string(),
    };
    assert_eq!(got, want, "{text:?}");
    for key in [KEY_A, KEY_B] {
        assert!(!got.contains(key), "error echoes key material");
    }
}

#[test]
fn key_text_parsing() {
    let short_key = &KEY_A[..40];
    let long_key = format!("{KEY_A}AAAA");
    let bad_alphabet = KEY_A.replace('A', "*");
    let unpadded_33 = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gIQ==";
    let cases: Vec<(String, &str)> = vec![
        (
            format!("wijkhub-keys 1\nkek 1 {KEY_A}\nindex 1 {KEY_B}\n"),
            "ok kek 1 index 1",
        ),
        (
            format!("# comment\n\nwijkhub-keys 1\r\nkek 1 retired\nkek 2 {KEY_A}\nindex 1 {KEY_B}"),
            "ok kek 2 index 1",
        ),
        (
            format!("wijkhub-keys 1;kek 1 {KEY_A};kek 3 {KEY_B};index 1 {KEY_B}"),
            "ok kek 3 index 1",
        ),
        (
            String::new(),
            "key material, line 1: empty: expected the header `wijkhub-keys 1`",
        ),
        (
            format!("wijkhub-keys 2\nkek 1 {KEY_A}"),
            "key material, line 1: expected the header `wijkhub-keys 1`",
        ),
        (
            format!("kek 1 {KEY_A}"),
            "key material, line 1: expected the header `wijkhub-keys 1`",
        ),
        (
            format!("wijkhub-keys 1\nkek 1 {short_key}\nindex 1 {KEY_B}"),
            "key material, line 2: key must be 32 bytes in padded base64 (44 characters)",
        ),
        (
            format!("wijkhub-keys 1\nkek 1 {long_key}\nindex 1 {KEY_B}"),
            "key material, line 2: key must be 32 bytes in padded base64 (44 characters)",
        ),
        (
            format!("wijkhub-keys 1\nkek 1 {unpadded_33}\nindex 1 {KEY_B}"),
            "key material, line 2: key must be 32 bytes in padded base64 (44 characters)",
        ),
        (
            format!("wijkhub-keys 1\nkek 1 {bad_alphabet}\nindex 1 {KEY_B}"),
            "key material, line 2: key is not valid base64",
        ),
        (
            format!("wijkhub-keys 1\nkek 0 {KEY_A}\nindex 1 {KEY_B}"),
            "key material, line 2: version must be a number from 1",
        ),
        (
            format!("wijkhub-keys 1\nkek +1 {KEY_A}\nindex 1 {KEY_B}"),
            "key material, line 2: version must be a number from 1",
        ),
        (
            format!("wijkhub-keys 1\nkek 1 {KEY_A}\nkek 1 {KEY_B}\nindex 1 {KEY_B}"),
            "key material, line 3: version listed twice",
        ),
        (
            format!("wijkhub-keys 1\nmaster 1 {KEY_A}"),
            "key material, line 2: unknown key kind, expected kek or index",
        ),
        (
            format!("wijkhub-keys 1\nkek 1 {KEY_A} extra"),
            "key material, line 2: expected `<kek|index> <version> <key|retired>`",
        ),
        (
            format!("wijkhub-keys 1\nkek 1 retired\nindex 1 {KEY_B}"),
            "key material: no live key-encryption key",
        ),
        (
            format!("wijkhub-keys 1\nkek 1 {KEY_A}"),
            "key material: no live blind-index key",
        ),
    ];
    for (text, want) in cases {
        check(&text, want);
    }
}

#[test]
fn generated_file_is_owner_only_and_loads() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("data").join("keys");
    let status = generate_key_file(&path).unwrap();
    assert_eq!(
        std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert_eq!(status.current_kek_version(), Some(1));
    assert_eq!(status.current_blind_index_version(), Some(1));
    assert_eq!(status, load(&path).status());
    assert_eq!(status, key_file_status(&path).unwrap());
    // The fingerprint is 16 hex digits and not part of the file.
    let fingerprint = status.keks[0].fingerprint.clone().unwrap();
    assert_eq!(fingerprint.len(), 16);
    assert!(
        !std::fs::read_to_string(&path)
            .unwrap()
            .contains(&fingerprint)
    );

    assert!(matches!(
        generate_key_file(&path),
        Err(CryptoError::KeyFileExists { .. })
    ));
}

#[test]
fn loose_permissions_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keys");
    generate_key_file(&path).unwrap();
    for (mode, refused) in [
        (0o600, false),
        (0o400, false),
        (0o640, true),
        (0o604, true),
        (0o620, true),
        (0o644, true),
        (0o666, true),
    ] {
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        let result = FileKeyProvider::new(&path).load();
        match result {
            Err(CryptoError::LoosePermissions { mode: reported, .. }) => {
                assert!(refused, "mode {mode:o} refused");
                assert_eq!(reported, mode);
            }
            Ok(_) => assert!(!refused, "mode {mode:o} accepted"),
            Err(err) => panic!("mode {mode:o}: unexpected {err}"),
        }
    }
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    assert!(matches!(
        add_kek_version(&path),
        Err(CryptoError::LoosePermissions { .. })
    ));
    assert!(matches!(
        key_file_status(&path),
        Err(CryptoError::LoosePermissions { .. })
    ));
}

#[test]
fn missing_file_and_variable() {
    let dir = tempfile::tempdir().unwrap();
    assert!(matches!(
        FileKeyProvider::new(dir.path().join("absent")).load(),
        Err(CryptoError::KeyFileIo { .. })
    ));
    assert!(matches!(
        FileKeyProvider::new(dir.path()).load(),
        Err(CryptoError::KeyFileIo { .. })
    ));
    let unset = EnvKeyProvider::new("WIJKHUB_TEST_KEYS_SURELY_UNSET");
    assert!(matches!(unset.load(), Err(CryptoError::KeyVariable { .. })));
    assert_eq!(
        unset.describe(),
        "environment variable WIJKHUB_TEST_KEYS_SURELY_UNSET"
    );
    // A variable that is set but holds no keys (PATH is always set): a format error that does not
    // echo the variable's value.
    let err = EnvKeyProvider::new("PATH").load().unwrap_err();
    assert!(matches!(err, CryptoError::KeyFormat { line: 1, .. }));
}

#[test]
fn wrong_file_content_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keys");
    std::fs::write(
        &path,
        format!("wijkhub-keys 1\nkek 1 {}\nindex 1 {KEY_B}\n", &KEY_A[..43]),
    )
    .unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    let err = FileKeyProvider::new(&path).load().unwrap_err();
    assert_eq!(
        err.to_string(),
        "key material, line 2: key must be 32 bytes in padded base64 (44 characters)"
    );
    std::fs::write(&path, [0xff, 0xfe, 0x00]).unwrap();
    assert!(matches!(
        FileKeyProvider::new(&path).load(),
        Err(CryptoError::KeyFormat { .. })
    ));
}

#[test]
fn kek_rotation_rewraps_and_retires() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keys");
    generate_key_file(&path).unwrap();
    let ring_v1 = load(&path);
    let residents: Vec<ResidentId> = (0..5).map(|_| ResidentId::new()).collect();
    let mut rows = Vec::new();
    for resident in &residents {
        let (dek, wrapped) = ring_v1.new_dek(*resident).unwrap();
        let place = Place::new(RESIDENT_NAME, *resident, *resident);
        let name = encrypt_field(&dek, &place, b"naam").unwrap();
        rows.push((*resident, wrapped, place, name));
    }

    assert_eq!(add_kek_version(&path).unwrap(), 2);
    let ring_v2 = load(&path);
    assert_eq!(ring_v2.current_kek_version(), 2);
    // A process still on the old ring does not know version 2.
    let (_, wrapped_v2) = ring_v2.new_dek(residents[0]).unwrap();
    assert!(matches!(
        ring_v1.unwrap_dek(&wrapped_v2, residents[0]),
        Err(CryptoError::UnknownKeyVersion(2))
    ));

    // Rewrap half, as a run killed half-way would leave it, then resume with the same selection.
    for (resident, wrapped, _, _) in rows.iter_mut().take(2) {
        *wrapped = ring_v2.rewrap(wrapped, *resident).unwrap();
    }
    let pending: Vec<usize> = (0..rows.len())
        .filter(|&i| ring_v2.needs_rewrap(&rows[i].1).unwrap())
        .collect();
    assert_eq!(pending, vec![2, 3, 4]);
    for i in pending {
        let (resident, wrapped, _, _) = &mut rows[i];
        *wrapped = ring_v2.rewrap(wrapped, *resident).unwrap();
    }
    assert!(
        rows.iter()
            .all(|row| wrapped_kek_version(&row.1).unwrap() == 2)
    );

    // Rotation changed no field: every one still opens.
    retire_kek_version(&path, 1).unwrap();
    retire_kek_version(&path, 1).unwrap(); // idempotent
    let ring_retired = load(&path);
    for (resident, wrapped, place, name) in &rows {
        let dek = ring_retired.unwrap_dek(wrapped, *resident).unwrap();
        assert_eq!(
            decrypt_field(&dek, place, name).unwrap().as_slice(),
            b"naam"
        );
    }
    let (_, wrapped_v1) = ring_v1.new_dek(residents[0]).unwrap();
    assert!(matches!(
        ring_retired.unwrap_dek(&wrapped_v1, residents[0]),
        Err(CryptoError::RetiredKeyVersion(1))
    ));

    let status = key_file_status(&path).unwrap();
    let states: Vec<(u32, KeyState, bool)> = status
        .keks
        .iter()
        .map(|k| (k.version, k.state, k.fingerprint.is_some()))
        .collect();
    assert_eq!(
        states,
        vec![(1, KeyState::Retired, false), (2, KeyState::Current, true)]
    );
    // The retired version's bytes are gone from the file, not just marked.
    let text = std::fs::read_to_string(&path).unwrap();
    let kek_lines: Vec<&str> = text
        .lines()
        .filter(|line| line.starts_with("kek "))
        .collect();
    assert_eq!(kek_lines.len(), 2);
    assert_eq!(kek_lines[0], "kek 1 retired");

    assert!(matches!(
        retire_kek_version(&path, 2),
        Err(CryptoError::KeyVersion { version: 2, .. })
    ));
    assert!(matches!(
        retire_kek_version(&path, 7),
        Err(CryptoError::KeyVersion { version: 7, .. })
    ));
    assert_eq!(
        std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600
    );
}

#[test]
fn blind_index_rotation_finds_old_and_new() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keys");
    generate_key_file(&path).unwrap();
    let bsn = Bsn::parse("123456782").unwrap();
    let stored_v1 = load(&path).blind_index(&bsn);
    assert_eq!(stored_v1.key_version(), 1);

    assert_eq!(add_blind_index_version(&path).unwrap(), 2);
    let ring = load(&path);
    let candidates = ring.blind_index_candidates(&bsn);
    assert_eq!(candidates.len(), 2);
    assert_eq!(candidates[0].key_version(), 2);
    assert!(candidates.contains(&stored_v1));
    assert_eq!(ring.current_blind_index_version(), 2);

    retire_blind_index_version(&path, 1).unwrap();
    assert_eq!(
        load(&path).blind_index_candidates(&bsn),
        vec![candidates[0]]
    );
}
