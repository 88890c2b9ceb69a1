//! Where keys come from: the key-file format, the [`KeyProvider`] trait with its file and environment
//! implementations, and the functions behind `wijkhub keys generate|status|rotate|retire`.
//!
//! It exists so that every path by which key bytes enter the process is strict and in one place. It
//! must never echo a line of key material in an error or log, never read a key file others may read,
//! and never leave a key file half-written or briefly readable by others (writes go to a 0600 temporary
//! file in the same directory, synced, then renamed over).
//!
//! Format, one entry per line (`;` also separates entries, for environment variables):
//! ```text
//! # comments and blank lines are ignored
//! wijkhub-keys 1
//! kek 1 retired
//! kek 2 <base64 of 32 bytes, standard alphabet, padded: 44 characters>
//! index 1 <base64 of 32 bytes>
//! ```
//! The current version of each kind is its highest non-retired one.

use std::collections::BTreeMap;
use std::fmt;
use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use secrecy::{ExposeSecret, SecretString};
use zeroize::Zeroizing;

use crate::CryptoError;
use crate::format::KEY_LEN;
use crate::keyring::{KeyBytes, KeyKind, KeyRing, KeyStatus, Slot, Versions, random_key};

const HEADER: &str = "wijkhub-keys 1";
const RETIRED: &str = "retired";
const PREAMBLE: &str = "# wijkhub key file: key-encryption keys (kek) and BSN blind-index keys (index).\n\
# Keep it mode 0600, out of backups of the database, and never in the repository.\n\
# The current version of each kind is its highest non-retired one. See docs/CRYPTO.md.\n";

/// A source of the key ring. The file and environment implementations hold raw key bytes; a KMS or HSM
/// plugs in here by returning a ring whose key bytes it released (unsealed) at start-up; see
/// `docs/CRYPTO.md`, "KMS and HSM".
pub trait KeyProvider: Send + Sync {
    /// Where the keys come from, for start-up logs ("key file ./data/keys"). Never key material.
    fn describe(&self) -> String;

    /// Reads and checks the keys. Called once at start-up (and on an explicit reload).
    fn load(&self) -> Result<KeyRing, CryptoError>;
}

/// Keys from a file that only its owner may read (mode 0600 or stricter on unix).
#[derive(Debug, Clone)]
pub struct FileKeyProvider {
    path: PathBuf,
}

impl FileKeyProvider {
    pub fn new(path: impl Into<PathBuf>) -> FileKeyProvider {
        FileKeyProvider { path: path.into() }
    }
}

impl KeyProvider for FileKeyProvider {
    fn describe(&self) -> String {
        format!("key file {}", self.path.display())
    }

    fn load(&self) -> Result<KeyRing, CryptoError> {
        let text = read_key_file(&self.path)?;
        let ring = KeyFile::parse(&text)?.into_ring()?;
        tracing::info!(path = %self.path.display(), kek_version = ring.current_kek_version(), "keys loaded");
        Ok(ring)
    }
}

/// Keys from an environment variable holding the key-file text (lines may be joined with `;`).
///
/// The variable stays in the process environment (and `/proc/PID/environ`) for the process lifetime;
/// removing it needs `unsafe` in Rust 2024, which this workspace forbids. Prefer the file.
#[derive(Debug, Clone)]
pub struct EnvKeyProvider {
    var: String,
}

impl EnvKeyProvider {
    /// The conventional variable: `WIJKHUB_KEYS`.
    pub const DEFAULT_VAR: &'static str = "WIJKHUB_KEYS";

    pub fn new(var: impl Into<String>) -> EnvKeyProvider {
        EnvKeyProvider { var: var.into() }
    }
}

impl KeyProvider for EnvKeyProvider {
    fn describe(&self) -> String {
        format!("environment variable {}", self.var)
    }

    fn load(&self) -> Result<KeyRing, CryptoError> {
        let text =
            Zeroizing::new(
                std::env::var(&self.var).map_err(|_| CryptoError::KeyVariable {
                    var: self.var.clone(),
                })?,
            );
        let ring = KeyFile::parse(&text)?.into_ring()?;
        tracing::info!(var = %self.var, kek_version = ring.current_kek_version(), "keys loaded");
        Ok(ring)
    }
}

/// Parses key-file text (as held in a file or variable) into a ring. For tests and custom providers.
pub fn key_ring_from_text(text: &str) -> Result<KeyRing, CryptoError> {
    KeyFile::parse(text)?.into_ring()
}

/// Creates a new key file with one fresh KEK and one fresh blind-index key, mode 0600. Refuses to
/// overwrite an existing file. For `serve --demo` on first run and `wijkhub keys generate`.
pub fn generate_key_file(path: &Path) -> Result<KeyStatus, CryptoError> {
    let mut file = KeyFile {
        entries: BTreeMap::new(),
    };
    file.add_version(KeyKind::Kek)?;
    file.add_version(KeyKind::BlindIndex)?;
    write_key_file(path, &file.render(), WriteMode::CreateNew)?;
    tracing::warn!(path = %path.display(), "new key file generated");
    file.into_ring().map(|ring| ring.status())
}

/// The text of a fresh key set, for putting into [`EnvKeyProvider`]'s variable or a secret store.
pub fn generate_key_text() -> Result<SecretString, CryptoError> {
    let mut file = KeyFile {
        entries: BTreeMap::new(),
    };
    file.add_version(KeyKind::Kek)?;
    file.add_version(KeyKind::BlindIndex)?;
    let text = file.render();
    Ok(SecretString::new(Box::from(text.as_str())))
}

/// A ring of fresh keys that exist only in memory: for tests of other crates. Whatever is encrypted
/// under it is unreadable once it is dropped.
pub fn ephemeral_key_ring() -> Result<KeyRing, CryptoError> {
    let mut file = KeyFile {
        entries: BTreeMap::new(),
    };
    file.add_version(KeyKind::Kek)?;
    file.add_version(KeyKind::BlindIndex)?;
    file.into_ring()
}

/// Rotation, step one: adds a new KEK version, which becomes current. Returns its number. Running
/// processes keep their ring until reloaded; rewrap only after every instance has reloaded.
pub fn add_kek_version(path: &Path) -> Result<u32, CryptoError> {
    add_version(path, KeyKind::Kek)
}

/// Rotation, last step: destroys the bytes of KEK `version`, keeping its number as retired. Only call
/// it when no wrapped DEK is under `version` any more (the store counts its `kek_version` column);
/// anything still under it becomes unreadable. Refuses the current version. Idempotent.
pub fn retire_kek_version(path: &Path, version: u32) -> Result<(), CryptoError> {
    retire_version(path, KeyKind::Kek, version)
}

/// Adds a blind-index key version, which becomes current; the store then recomputes the index.
pub fn add_blind_index_version(path: &Path) -> Result<u32, CryptoError> {
    add_version(path, KeyKind::BlindIndex)
}

/// Destroys blind-index key `version` once no row's index is under it. Refuses the current version.
pub fn retire_blind_index_version(path: &Path, version: u32) -> Result<(), CryptoError> {
    retire_version(path, KeyKind::BlindIndex, version)
}

/// Versions, states and fingerprints of a key file, after the same checks as loading it.
pub fn key_file_status(path: &Path) -> Result<KeyStatus, CryptoError> {
    let text = read_key_file(path)?;
    KeyFile::parse(&text)?.into_ring().map(|ring| ring.status())
}

fn add_version(path: &Path, kind: KeyKind) -> Result<u32, CryptoError> {
    let mut file = KeyFile::parse(&read_key_file(path)?)?;
    let version = file.add_version(kind)?;
    // Parse what we are about to write, so a bug here can never leave an unloadable file.
    KeyFile::parse(&file.render())?.into_ring()?;
    write_key_file(path, &file.render(), WriteMode::Replace)?;
    tracing::info!(path = %path.display(), kind = kind.as_str(), version, "key version added");
    Ok(version)
}

fn retire_version(path: &Path, kind: KeyKind, version: u32) -> Result<(), CryptoError> {
    let mut file = KeyFile::parse(&read_key_file(path)?)?;
    let current = file.current(kind);
    match file.entries.get(&(kind, version)) {
        None => {
            return Err(CryptoError::KeyVersion {
                version,
                reason: "no such version",
            });
        }
        Some(None) => return Ok(()),
        Some(Some(_)) if current == Some(version) => {
            return Err(CryptoError::KeyVersion {
                version,
                reason: "is the current version; add a new version first",
            });
        }
        Some(Some(_)) => {}
    }
    // Dropping the old value zeroizes its bytes.
    file.entries.insert((kind, version), None);
    KeyFile::parse(&file.render())?.into_ring()?;
    write_key_file(path, &file.render(), WriteMode::Replace)?;
    tracing::warn!(path = %path.display(), kind = kind.as_str(), version, "key version retired");
    Ok(())
}

/// The parsed content of a key file: `None` marks a retired version.
struct KeyFile {
    entries: BTreeMap<(KeyKind, u32), Option<KeyBytes>>,
}

impl fmt::Debug for KeyFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyFile")
            .field("versions", &self.entries.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl KeyFile {
    fn parse(text: &str) -> Result<KeyFile, CryptoError> {
        let mut entries = BTreeMap::new();
        let mut seen_header = false;
        // A `#` comment runs to the end of its line (it may contain `;`); otherwise `;` separates entries
        // on one line, for the environment-variable form. Errors name the line, never its content.
        let entries_with_line = text.lines().enumerate().flat_map(|(line_idx, line)| {
            let line = line.trim();
            let line = if line.starts_with('#') { "" } else { line };
            line.split(';')
                .map(move |entry| (line_idx + 1, entry.trim()))
        });
        for (line_no, line) in entries_with_line {
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            if !seen_header {
                if line != HEADER {
                    return Err(format_error(
                        line_no,
                        "expected the header `wijkhub-keys 1`",
                    ));
                }
                seen_header = true;
                continue;
            }
            let mut fields = line.split_ascii_whitespace();
            let (Some(kind), Some(version), Some(value), None) =
                (fields.next(), fields.next(), fields.next(), fields.next())
            else {
                return Err(format_error(
                    line_no,
                    "expected `<kek|index> <version> <key|retired>`",
                ));
            };
            let kind = match kind {
                "kek" => KeyKind::Kek,
                "index" => KeyKind::BlindIndex,
                _ => {
                    return Err(format_error(
                        line_no,
                        "unknown key kind, expected kek or index",
                    ));
                }
            };
            let version = parse_version(version)
                .ok_or_else(|| format_error(line_no, "version must be a number from 1"))?;
            let material = if value == RETIRED {
                None
            } else {
                Some(decode_key(value, line_no)?)
            };
            if entries.insert((kind, version), material).is_some() {
                return Err(format_error(line_no, "version listed twice"));
            }
        }
        if !seen_header {
            return Err(format_error(
                1,
                "empty: expected the header `wijkhub-keys 1`",
            ));
        }
        Ok(KeyFile { entries })
    }

    fn render(&self) -> Zeroizing<String> {
        let mut text = Zeroizing::new(String::with_capacity(
            PREAMBLE.len() + HEADER.len() + 1 + self.entries.len() * 64,
        ));
        text.push_str(PREAMBLE);
        text.push_str(HEADER);
        text.push('\n');
        for ((kind, version), material) in &self.entries {
            text.push_str(kind.as_str());
            text.push(' ');
            text.push_str(&version.to_string());
            text.push(' ');
            match material {
                Some(key) => STANDARD.encode_string(key.expose_secret(), &mut text),
                None => text.push_str(RETIRED),
            }
            text.push('\n');
        }
        text
    }

    fn current(&self, kind: KeyKind) -> Option<u32> {
        self.entries
            .iter()
            .rev()
            .find(|((entry_kind, _), material)| *entry_kind == kind && material.is_some())
            .map(|((_, version), _)| *version)
    }

    fn add_version(&mut self, kind: KeyKind) -> Result<u32, CryptoError> {
        let highest = self
            .entries
            .keys()
            .filter(|(entry_kind, _)| *entry_kind == kind)
            .map(|(_, version)| *version)
            .max()
            .unwrap_or(0);
        let version = highest.checked_add(1).ok_or(CryptoError::KeyVersion {
            version: highest,
            reason: "no version number left",
        })?;
        self.entries.insert((kind, version), Some(random_key()?));
        Ok(version)
    }

    fn into_ring(self) -> Result<KeyRing, CryptoError> {
        let mut keks = BTreeMap::new();
        let mut blind_index_keys = BTreeMap::new();
        for ((kind, version), material) in self.entries {
            let slot = match material {
                Some(key) => Slot::Live(key),
                None => Slot::Retired,
            };
            match kind {
                KeyKind::Kek => keks.insert(version, slot),
                KeyKind::BlindIndex => blind_index_keys.insert(version, slot),
            };
        }
        Ok(KeyRing::from_versions(
            Versions::new(keks, KeyKind::Kek)?,
            Versions::new(blind_index_keys, KeyKind::BlindIndex)?,
        ))
    }
}

fn format_error(line: usize, reason: &'static str) -> CryptoError {
    CryptoError::KeyFormat { line, reason }
}

fn parse_version(text: &str) -> Option<u32> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) || text.starts_with('0') {
        return None;
    }
    text.parse().ok()
}

fn decode_key(text: &str, line_no: usize) -> Result<KeyBytes, CryptoError> {
    // 32 bytes are exactly 44 padded characters; checking first keeps the decode buffer bounded.
    if text.len() != 44 {
        return Err(format_error(
            line_no,
            "key must be 32 bytes in padded base64 (44 characters)",
        ));
    }
    let mut decoded = Zeroizing::new([0u8; 33]);
    let len = STANDARD
        .decode_slice(text, &mut decoded[..])
        .map_err(|_| format_error(line_no, "key is not valid base64"))?;
    if len != KEY_LEN {
        return Err(format_error(
            line_no,
            "key must be 32 bytes in padded base64 (44 characters)",
        ));
    }
    Ok(KeyBytes::init_with_mut(|key: &mut [u8; KEY_LEN]| {
        key.copy_from_slice(&decoded[..KEY_LEN])
    }))
}

fn io_error(path: &Path, source: std::io::Error) -> CryptoError {
    CryptoError::KeyFileIo {
        path: path.to_path_buf(),
        source,
    }
}

/// Opens, checks the permissions of the opened file (not of the path, so there is no race), reads.
fn read_key_file(path: &Path) -> Result<Zeroizing<String>, CryptoError> {
    let mut file = File::open(path).map_err(|err| io_error(path, err))?;
    let metadata = file.metadata().map_err(|err| io_error(path, err))?;
    if !metadata.is_file() {
        return Err(io_error(path, std::io::Error::other("not a regular file")));
    }
    check_permissions(path, &metadata)?;
    // Sized up front so reading never reallocates and leaves an unwiped copy behind. A key file is a
    // few hundred bytes; anything large is not one.
    let len = usize::try_from(metadata.len()).unwrap_or(usize::MAX);
    if len > 1 << 20 {
        return Err(format_error(1, "file too large to be a key file"));
    }
    let mut bytes = Zeroizing::new(Vec::with_capacity(len + 1));
    file.read_to_end(&mut bytes)
        .map_err(|err| io_error(path, err))?;
    let text = std::str::from_utf8(&bytes).map_err(|_| format_error(1, "not UTF-8 text"))?;
    Ok(Zeroizing::new(text.to_owned()))
}

#[cfg(unix)]
fn check_permissions(path: &Path, metadata: &std::fs::Metadata) -> Result<(), CryptoError> {
    use std::os::unix::fs::PermissionsExt;
    let mode = metadata.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(CryptoError::LoosePermissions {
            path: path.to_path_buf(),
            mode,
        });
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_permissions(_path: &Path, _metadata: &std::fs::Metadata) -> Result<(), CryptoError> {
    // No mode bits to check; the deployment's ACLs must restrict the file (docs/CRYPTO.md).
    Ok(())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum WriteMode {
    CreateNew,
    Replace,
}

/// Writes through a temporary file in the same directory (created 0600 by `tempfile`), synced, then
/// renamed into place, then the directory synced: the key file is always the old or the new one.
fn write_key_file(path: &Path, text: &str, mode: WriteMode) -> Result<(), CryptoError> {
    let dir = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if mode == WriteMode::CreateNew {
        if path.exists() {
            return Err(CryptoError::KeyFileExists {
                path: path.to_path_buf(),
            });
        }
        std::fs::create_dir_all(&dir).map_err(|err| io_error(path, err))?;
    }
    let mut temporary = tempfile::Builder::new()
        .prefix(".wijkhub-keys.")
        .tempfile_in(&dir)
        .map_err(|err| io_error(path, err))?;
    set_owner_only(temporary.as_file(), path)?;
    temporary
        .write_all(text.as_bytes())
        .map_err(|err| io_error(path, err))?;
    temporary
        .as_file()
        .sync_all()
        .map_err(|err| io_error(path, err))?;
    match mode {
        WriteMode::CreateNew => temporary.persist_noclobber(path).map(drop).map_err(|err| {
            if err.error.kind() == std::io::ErrorKind::AlreadyExists {
                CryptoError::KeyFileExists {
                    path: path.to_path_buf(),
                }
            } else {
                io_error(path, err.error)
            }
        })?,
        WriteMode::Replace => temporary
            .persist(path)
            .map(drop)
            .map_err(|err| io_error(path, err.error))?,
    }
    sync_dir(&dir, path)
}

#[cfg(unix)]
fn set_owner_only(file: &File, path: &Path) -> Result<(), CryptoError> {
    use std::os::unix::fs::PermissionsExt;
    file.set_permissions(std::fs::Permissions::from_mode(0o600))
        .map_err(|err| io_error(path, err))
}

#[cfg(not(unix))]
fn set_owner_only(_file: &File, _path: &Path) -> Result<(), CryptoError> {
    Ok(())
}

#[cfg(unix)]
fn sync_dir(dir: &Path, path: &Path) -> Result<(), CryptoError> {
    File::open(dir)
        .and_then(|dir| dir.sync_all())
        .map_err(|err| io_error(path, err))
}

#[cfg(not(unix))]
fn sync_dir(_dir: &Path, _path: &Path) -> Result<(), CryptoError> {
    Ok(())
}
