//! Files that hold secrets (the auth key file, the demo credentials): read only when no one but
//! the owner can read them, written so they are never half-written or briefly readable by others.
//!
//! Same rules as the `crypto` crate's key file (docs/CRYPTO.md §2.4): the mode is checked on the
//! opened handle, not the path; writes go to a 0600 temporary file in the same directory, synced,
//! renamed over, and the directory synced. Errors name the path and a fixed reason, never content.

use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

/// Why a secret file could not be read or written. One line, no content.
#[derive(Debug, thiserror::Error)]
pub enum SecretFileError {
    #[error("{path} does not exist")]
    Missing { path: PathBuf },
    #[error("{path} already exists; refusing to overwrite it")]
    Exists { path: PathBuf },
    #[error(
        "{path} is readable or writable by others (mode {mode:o}); run `chmod 600 {path}`",
        path = path.display()
    )]
    LoosePermissions { path: PathBuf, mode: u32 },
    #[error("{path}: {reason}", path = path.display())]
    Io { path: PathBuf, reason: String },
}

fn io(path: &Path, error: &std::io::Error) -> SecretFileError {
    if error.kind() == std::io::ErrorKind::NotFound {
        return SecretFileError::Missing {
            path: path.to_path_buf(),
        };
    }
    SecretFileError::Io {
        path: path.to_path_buf(),
        reason: error.kind().to_string(),
    }
}

fn reason(path: &Path, reason: &str) -> SecretFileError {
    SecretFileError::Io {
        path: path.to_path_buf(),
        reason: reason.to_owned(),
    }
}

/// Reads a secret file of at most 64 KiB whose mode lets no one but its owner in.
pub fn read(path: &Path) -> Result<Zeroizing<String>, SecretFileError> {
    let mut file = File::open(path).map_err(|error| io(path, &error))?;
    let metadata = file.metadata().map_err(|error| io(path, &error))?;
    if !metadata.is_file() {
        return Err(reason(path, "not a regular file"));
    }
    check_permissions(path, &metadata)?;
    let len = usize::try_from(metadata.len()).unwrap_or(usize::MAX);
    if len > 64 * 1024 {
        return Err(reason(path, "too large"));
    }
    // Sized up front: reading never reallocates and leaves an unwiped copy behind.
    let mut bytes = Zeroizing::new(Vec::with_capacity(len + 1));
    file.read_to_end(&mut bytes)
        .map_err(|error| io(path, &error))?;
    let text = std::str::from_utf8(&bytes).map_err(|_| reason(path, "not UTF-8 text"))?;
    Ok(Zeroizing::new(text.to_owned()))
}

#[cfg(unix)]
fn check_permissions(path: &Path, metadata: &std::fs::Metadata) -> Result<(), SecretFileError> {
    use std::os::unix::fs::PermissionsExt;
    let mode = metadata.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(SecretFileError::LoosePermissions {
            path: path.to_path_buf(),
            mode,
        });
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_permissions(_path: &Path, _metadata: &std::fs::Metadata) -> Result<(), SecretFileError> {
    // No mode bits; the deployment's ACLs must restrict the file.
    Ok(())
}

/// Whether [`write`] may replace an existing file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteMode {
    CreateNew,
    Replace,
}

/// Writes `text` to `path` with mode 0600, atomically (temporary file, sync, rename, sync dir).
pub fn write(path: &Path, text: &str, mode: WriteMode) -> Result<(), SecretFileError> {
    let dir = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if mode == WriteMode::CreateNew && path.exists() {
        return Err(SecretFileError::Exists {
            path: path.to_path_buf(),
        });
    }
    std::fs::create_dir_all(&dir).map_err(|error| io(&dir, &error))?;
    let mut temporary = tempfile::Builder::new()
        .prefix(".wijkhub-secret.")
        .tempfile_in(&dir)
        .map_err(|error| io(path, &error))?;
    set_owner_only(temporary.as_file(), path)?;
    temporary
        .write_all(text.as_bytes())
        .map_err(|error| io(path, &error))?;
    temporary
        .as_file()
        .sync_all()
        .map_err(|error| io(path, &error))?;
    match mode {
        WriteMode::CreateNew => temporary
            .persist_noclobber(path)
            .map(drop)
            .map_err(|error| {
                if error.error.kind() == std::io::ErrorKind::AlreadyExists {
                    SecretFileError::Exists {
                        path: path.to_path_buf(),
                    }
                } else {
                    io(path, &error.error)
                }
            })?,
        WriteMode::Replace => temporary
            .persist(path)
            .map(drop)
            .map_err(|error| io(path, &error.error))?,
    }
    sync_dir(&dir, path)
}

#[cfg(unix)]
fn set_owner_only(file: &File, path: &Path) -> Result<(), SecretFileError> {
    use std::os::unix::fs::PermissionsExt;
    file.set_permissions(std::fs::Permissions::from_mode(0o600))
        .map_err(|error| io(path, &error))
}

#[cfg(not(unix))]
fn set_owner_only(_file: &File, _path: &Path) -> Result<(), SecretFileError> {
    Ok(())
}

#[cfg(unix)]
fn sync_dir(dir: &Path, path: &Path) -> Result<(), SecretFileError> {
    File::open(dir)
        .and_then(|dir| dir.sync_all())
        .map_err(|error| io(path, &error))
}

#[cfg(not(unix))]
fn sync_dir(_dir: &Path, _path: &Path) -> Result<(), SecretFileError> {
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn written_owner_only_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested").join("secret");
        write(&path, "s3cret", WriteMode::CreateNew).unwrap();
        assert_eq!(read(&path).unwrap().as_str(), "s3cret");
        assert!(matches!(
            write(&path, "again", WriteMode::CreateNew),
            Err(SecretFileError::Exists { .. })
        ));
        write(&path, "replaced", WriteMode::Replace).unwrap();
        assert_eq!(read(&path).unwrap().as_str(), "replaced");
        assert!(matches!(
            read(&dir.path().join("absent")),
            Err(SecretFileError::Missing { .. })
        ));
    }

    #[cfg(unix)]
    #[test]
    fn group_or_world_readable_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret");
        write(&path, "s3cret", WriteMode::CreateNew).unwrap();
        for mode in [0o640, 0o604, 0o620] {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
            let error = read(&path).unwrap_err();
            assert!(
                matches!(error, SecretFileError::LoosePermissions { .. }),
                "{mode:o}"
            );
            assert!(!error.to_string().contains("s3cret"));
        }
    }
}
