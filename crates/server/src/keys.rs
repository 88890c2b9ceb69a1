//! Where the encryption keys come from (`[keys]`): the key-encryption keys that wrap residents'
//! data keys, and the BSN blind-index key. See `docs/CRYPTO.md` and `SECURITY.md`.
//!
//! Production refuses to start without keys. The demo creates a development key file on first
//! run and says so loudly: whoever holds that file and the database reads every resident.

use std::path::{Path, PathBuf};

use crypto::{CryptoError, EnvKeyProvider, FileKeyProvider, KeyProvider, KeyRing};
use serde::Deserialize;

/// `[keys]` settings.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeysConfig {
    /// `file` (a key file readable by its owner only) or `env` (the key-file text in a variable).
    pub source: KeySource,
    /// The key file, for `source = "file"`.
    pub file: PathBuf,
    /// The variable holding the key-file text, for `source = "env"`.
    pub env_var: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeySource {
    File,
    Env,
}

/// The keys could not be loaded; one line, naming where they were looked for, never a key byte.
#[derive(Debug, thiserror::Error)]
pub enum KeysError {
    #[error(
        "no encryption keys: the key file {path} does not exist; create it with `wijkhub keys generate` \
         (or set keys.source = \"env\")"
    )]
    Missing { path: String },
    #[error("encryption keys from {source_name}: {error}")]
    Unusable {
        source_name: String,
        // In the message already; not a `#[source]`, so chained printing does not repeat it.
        error: CryptoError,
    },
}

impl KeysConfig {
    fn provider(&self) -> Box<dyn KeyProvider> {
        match self.source {
            KeySource::File => Box::new(FileKeyProvider::new(&self.file)),
            KeySource::Env => Box::new(EnvKeyProvider::new(&self.env_var)),
        }
    }

    /// Loads the key ring, or explains why not.
    pub fn load(&self) -> Result<KeyRing, KeysError> {
        if self.source == KeySource::File && !self.file.exists() {
            return Err(KeysError::Missing {
                path: self.file.display().to_string(),
            });
        }
        let provider = self.provider();
        provider.load().map_err(|error| KeysError::Unusable {
            source_name: provider.describe(),
            error,
        })
    }

    /// For the demo: creates a development key file when there is none, with a loud warning, then
    /// loads the keys. Never used by `serve` without `--demo`.
    pub fn load_or_create_for_demo(&self) -> Result<KeyRing, KeysError> {
        if self.source == KeySource::File && !self.file.exists() {
            create_dir_for(&self.file)?;
            crypto::generate_key_file(&self.file).map_err(|error| KeysError::Unusable {
                source_name: format!("key file {}", self.file.display()),
                error,
            })?;
            tracing::warn!(
                path = %self.file.display(),
                "DEVELOPMENT KEYS CREATED: residents' data in this database is encrypted under a key file \
                 lying next to it. Fine for the demo; never for real residents"
            );
            eprintln!(
                "warning: created development encryption keys in {} (demo only: the keys lie next to the data)",
                self.file.display()
            );
        }
        self.load()
    }
}

fn create_dir_for(path: &Path) -> Result<(), KeysError> {
    let Some(dir) = path.parent().filter(|dir| !dir.as_os_str().is_empty()) else {
        return Ok(());
    };
    std::fs::create_dir_all(dir).map_err(|error| KeysError::Unusable {
        source_name: format!("key file {}", path.display()),
        error: CryptoError::KeyFileIo {
            path: dir.to_path_buf(),
            source: error,
        },
    })
}
