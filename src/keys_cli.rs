//! `wijkhub keys …`: the encryption keys' life cycle — generate, status, rotate, retire.
//!
//! Rotation adds a new version and then moves every resident onto it in batches (re-wrapping data
//! keys, or recomputing the BSN blind index), with a progress bar. It is resumable: a run killed
//! part-way is continued by running it again, which sees rows still under an older version and
//! finishes them instead of adding yet another version. Encrypted fields are never rewritten.

use std::time::Duration;

use anyhow::{Context, bail};
use clap::Subcommand;
use crypto::KeyRing;
use indicatif::{ProgressBar, ProgressStyle};
use server::Config;
use server::keys::KeySource;
use store::Db;
use store::rekey::{self, KeyUsage};

use crate::operator_audit::OperatorAudit;
use audit::{AuditAction, Outcome};

/// Rows per transaction: small enough that a batch commits in milliseconds, large enough that
/// the per-transaction fsync does not dominate.
const DEFAULT_BATCH: u64 = 500;

#[derive(Subcommand)]
pub enum KeysCommand {
    /// Create a new key file (one KEK and one blind-index key) at keys.file; never overwrites.
    Generate,
    /// Show key versions, their fingerprints and how many residents each one still serves.
    Status,
    /// Add a new key version and move every resident onto it (resumable: run again after an
    /// interruption and it continues instead of adding another version).
    Rotate {
        /// Rotate the BSN blind-index key (and recompute the index) instead of the KEK.
        #[arg(long)]
        blind_index: bool,
        /// Only add the new version; move residents in a later run, after every running instance
        /// was restarted to load it.
        #[arg(long)]
        add_only: bool,
        /// Residents per transaction.
        #[arg(long, default_value_t = DEFAULT_BATCH, value_parser = clap::value_parser!(u64).range(1..=100_000))]
        batch: u64,
    },
    /// Destroy an old key version's bytes once no resident is under it any more.
    Retire {
        /// The KEK version to retire.
        #[arg(
            long,
            conflicts_with = "blind_index",
            required_unless_present = "blind_index"
        )]
        kek: Option<u32>,
        /// The blind-index key version to retire.
        #[arg(long)]
        blind_index: Option<u32>,
    },
    /// Token signing keys: add a new current key (the old ones keep verifying), or retire one.
    RotateSigning(crate::cli_auth::RotateSigningArgs),
    /// Token signing keys: list them, the current one marked.
    SigningStatus,
    /// Create the auth key file (auth.key_file): the seal key and the audit checkpoint key.
    InitAuth,
}

pub async fn run(command: KeysCommand, config: &Config) -> anyhow::Result<()> {
    match command {
        KeysCommand::Generate => generate(config),
        KeysCommand::Status => status(config).await,
        KeysCommand::Rotate {
            blind_index,
            add_only,
            batch,
        } => rotate(config, blind_index, add_only, batch).await,
        KeysCommand::Retire { kek, blind_index } => retire(config, kek, blind_index).await,
        KeysCommand::RotateSigning(args) => crate::cli_auth::rotate_signing(args, config).await,
        KeysCommand::SigningStatus => crate::cli_auth::signing_status(config).await,
        KeysCommand::InitAuth => crate::cli_auth::init_auth(config),
    }
}

fn generate(config: &Config) -> anyhow::Result<()> {
    if config.keys.source == KeySource::Env {
        // The text goes to stdout once, for a secret store; nothing is written to disk.
        let text = crypto::generate_key_text()?;
        println!("{}", secrecy::ExposeSecret::expose_secret(&text));
        eprintln!(
            "put the lines above into {} (e.g. through your secret store); they are not saved anywhere",
            config.keys.env_var
        );
        return Ok(());
    }
    let path = &config.keys.file;
    if let Some(dir) = path.parent().filter(|dir| !dir.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let status = crypto::generate_key_file(path)?;
    println!(
        "created {} (mode 0600): KEK version {}, blind-index key version {}",
        path.display(),
        status.current_kek_version().unwrap_or(0),
        status.current_blind_index_version().unwrap_or(0)
    );
    println!(
        "keep it out of the database's backups; whoever holds it and a database copy reads every resident"
    );
    Ok(())
}

async fn status(config: &Config) -> anyhow::Result<()> {
    let keys = config.keys.load()?;
    let db = Db::connect(&config.database).await?;
    let usage = rekey::key_usage(&db).await?;
    print_status(&keys, &usage);
    Ok(())
}

fn print_status(keys: &KeyRing, usage: &KeyUsage) {
    let status = keys.status();
    println!("key-encryption keys (wrap residents' data keys):");
    for version in &status.keks {
        println!(
            "  version {:>3}  {:<8} {}  {} resident(s)",
            version.version,
            state_name(version.state),
            version.fingerprint.as_deref().unwrap_or("(destroyed)     "),
            usage.kek_rows(version.version)
        );
    }
    println!("blind-index keys (BSN lookup):");
    for version in &status.blind_index_keys {
        println!(
            "  version {:>3}  {:<8} {}  {} resident(s)",
            version.version,
            state_name(version.state),
            version.fingerprint.as_deref().unwrap_or("(destroyed)     "),
            usage.blind_index_rows(version.version)
        );
    }
    let kek_behind = usage.kek_behind(keys.current_kek_version());
    let index_behind = usage.blind_index_behind(keys.current_blind_index_version());
    if kek_behind > 0 {
        println!(
            "{kek_behind} resident(s) not yet under the current KEK: run `wijkhub keys rotate`"
        );
    }
    if index_behind > 0 {
        println!(
            "{index_behind} resident(s) not yet under the current blind-index key: run `wijkhub keys rotate --blind-index`"
        );
    }
}

fn state_name(state: crypto::KeyState) -> &'static str {
    match state {
        crypto::KeyState::Current => "current",
        crypto::KeyState::Active => "active",
        crypto::KeyState::Retired => "retired",
    }
}

async fn rotate(
    config: &Config,
    blind_index: bool,
    add_only: bool,
    batch: u64,
) -> anyhow::Result<()> {
    if config.keys.source != KeySource::File {
        bail!(
            "keys rotate edits the key file; with keys.source = \"env\", add a version to the key text in your secret store and restart"
        );
    }
    let path = &config.keys.file;
    let db = Db::connect(&config.database).await?;
    // Key operations are audited: the log must be writable before a key changes.
    let log = OperatorAudit::start(config, &db).await?;
    let kind = if blind_index { "blind-index" } else { "kek" };
    let keys = config.keys.load()?;
    let usage = rekey::key_usage(&db).await?;
    let behind = if blind_index {
        usage.blind_index_behind(keys.current_blind_index_version())
    } else {
        usage.kek_behind(keys.current_kek_version())
    };
    let keys = if behind > 0 {
        println!(
            "continuing an unfinished rotation: {behind} resident(s) still under an older version"
        );
        keys
    } else {
        let version = if blind_index {
            crypto::add_blind_index_version(path)?
        } else {
            crypto::add_kek_version(path)?
        };
        let what = if blind_index {
            "blind-index key"
        } else {
            "KEK"
        };
        println!("added {what} version {version} to {}", path.display());
        log.record(
            AuditAction::KeyOperation,
            Outcome::Permit,
            None,
            &format!("{kind}-version-added:v{version}"),
        )
        .await?;
        if add_only {
            log.close().await?;
            println!(
                "restart every running instance so it loads version {version}, then run this command again without --add-only"
            );
            return Ok(());
        }
        config.keys.load()?
    };

    let total = rekey::active_residents(&db).await?;
    let todo = {
        let usage = rekey::key_usage(&db).await?;
        if blind_index {
            usage.blind_index_behind(keys.current_blind_index_version())
        } else {
            usage.kek_behind(keys.current_kek_version())
        }
    };
    let bar = ProgressBar::new(todo);
    bar.set_style(
        ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} residents ({eta} left)")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.set_message(if blind_index {
        "recomputing the blind index"
    } else {
        "re-wrapping data keys"
    });
    bar.enable_steady_tick(Duration::from_millis(200));
    let mut done = 0;
    loop {
        let changed = if blind_index {
            rekey::reindex_batch(&db, &keys, batch).await?
        } else {
            rekey::rewrap_batch(&db, &keys, batch).await?
        };
        if changed == 0 {
            break;
        }
        done += changed;
        bar.inc(changed);
    }
    bar.finish_and_clear();

    let usage = rekey::key_usage(&db).await?;
    let left = if blind_index {
        usage.blind_index_behind(keys.current_blind_index_version())
    } else {
        usage.kek_behind(keys.current_kek_version())
    };
    if left > 0 {
        bail!(
            "{left} resident(s) are still under an older version (changed while rotating?); run the command again"
        );
    }
    let current = if blind_index {
        keys.current_blind_index_version()
    } else {
        keys.current_kek_version()
    };
    log.record(
        AuditAction::KeyOperation,
        Outcome::Permit,
        None,
        &format!("{kind}-rotated:v{current}"),
    )
    .await?;
    log.close().await?;
    println!(
        "done: {done} of {total} resident(s) moved; every resident is under the current version"
    );
    let old: Vec<u32> = if blind_index {
        keys.status()
            .blind_index_keys
            .iter()
            .filter(|v| v.state == crypto::KeyState::Active)
            .map(|v| v.version)
            .collect()
    } else {
        keys.status()
            .keks
            .iter()
            .filter(|v| v.state == crypto::KeyState::Active)
            .map(|v| v.version)
            .collect()
    };
    for version in old {
        let flag = if blind_index {
            "--blind-index"
        } else {
            "--kek"
        };
        println!(
            "version {version} is no longer used: once every instance runs with the new version, destroy it with `wijkhub keys retire {flag} {version}`"
        );
    }
    Ok(())
}

async fn retire(config: &Config, kek: Option<u32>, blind_index: Option<u32>) -> anyhow::Result<()> {
    if config.keys.source != KeySource::File {
        bail!(
            "keys retire edits the key file; with keys.source = \"env\", remove the version from the key text in your secret store"
        );
    }
    let db = Db::connect(&config.database).await?;
    let log = OperatorAudit::start(config, &db).await?;
    let usage = rekey::key_usage(&db).await?;
    let path = &config.keys.file;
    let reason = match (kek, blind_index) {
        (Some(version), _) => {
            let rows = usage.kek_rows(version);
            if rows > 0 {
                bail!(
                    "KEK version {version} still wraps {rows} resident(s)' data keys; run `wijkhub keys rotate` first"
                );
            }
            crypto::retire_kek_version(path, version)?;
            println!(
                "KEK version {version} destroyed; its number stays in {} as retired",
                path.display()
            );
            format!("kek-retired:v{version}")
        }
        (None, Some(version)) => {
            let rows = usage.blind_index_rows(version);
            if rows > 0 {
                bail!(
                    "blind-index key version {version} still indexes {rows} resident(s); run `wijkhub keys rotate --blind-index` first"
                );
            }
            crypto::retire_blind_index_version(path, version)?;
            println!(
                "blind-index key version {version} destroyed; its number stays in {} as retired",
                path.display()
            );
            format!("blind-index-retired:v{version}")
        }
        (None, None) => bail!("say which version to retire: --kek N or --blind-index N"),
    };
    log.record(AuditAction::KeyOperation, Outcome::Permit, None, &reason)
        .await?;
    log.close().await?;
    Ok(())
}
