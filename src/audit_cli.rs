//! `wijkhub audit …`: the privacy officer's and an outside auditor's tools on the audit log —
//! verify everything, prove one entry or the consistency of two checkpoints, check a proof, and
//! print the public key that all of this is checked against (`docs/AUDIT.md`).

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use audit::{ChainId, ConsistencyProof, InclusionProof, VerifierKey};
use clap::Subcommand;
use indicatif::{ProgressBar, ProgressStyle};
use server::Config;
use server::auth::AuthKeys;
use store::Db;

#[derive(Subcommand)]
pub enum AuditCommand {
    /// Print the public key checkpoints are signed with (publish it; proofs are checked against it).
    PublicKey,
    /// Check every chain, every checkpoint signature, and the database against the exported
    /// checkpoints. Exit status 0 only when everything holds.
    Verify {
        /// Exported checkpoints to hold the database against (default: audit.export_path).
        #[arg(long, value_name = "FILE")]
        checkpoints: Option<PathBuf>,
        /// The published verifier key (text or a file holding it); default: derived from the
        /// hub's own auth key file.
        #[arg(long, value_name = "KEY")]
        key: Option<String>,
    },
    /// Print a proof: that an entry is in the log (`--seq`), or that a checkpoint extends an
    /// older one (`--old-size` and `--new-size`).
    Prove {
        /// The chain (from an entry or a checkpoint's origin).
        #[arg(long)]
        chain: uuid::Uuid,
        /// The entry's sequence number, for an inclusion proof.
        #[arg(long, conflicts_with_all = ["old_size", "new_size"], required_unless_present = "old_size")]
        seq: Option<u64>,
        /// The older checkpoint's size, for a consistency proof.
        #[arg(long, requires = "new_size")]
        old_size: Option<u64>,
        /// The newer checkpoint's size, for a consistency proof.
        #[arg(long, requires = "old_size")]
        new_size: Option<u64>,
    },
    /// Remove entries older than the retention period (`audit.retention_years`, at least five
    /// years): per chain, the prefix up to a signed checkpoint below which every entry is older,
    /// recorded so that `audit verify` still checks the rest. The purge is itself audited.
    Purge {
        /// Remove entries that occurred before this day (YYYY-MM-DD, UTC). Default: today minus
        /// the retention period. A later day is refused, with the date it becomes possible.
        #[arg(long, value_name = "DATE")]
        before: Option<chrono::NaiveDate>,
    },
    /// Check a proof printed by `audit prove` against a published key; needs no database.
    CheckProof {
        /// The proof file.
        file: PathBuf,
        /// The published verifier key (text or a file holding it).
        #[arg(long, value_name = "KEY")]
        key: String,
    },
}

pub async fn run(command: AuditCommand, config: &Config) -> anyhow::Result<()> {
    match command {
        AuditCommand::PublicKey => {
            println!("{}", own_key(config)?);
            Ok(())
        }
        AuditCommand::Verify { checkpoints, key } => {
            let key = match key {
                Some(text) => parse_key(&text)?,
                None => own_key(config)?,
            };
            let checkpoints = checkpoints.or_else(|| config.audit.export_path.clone());
            verify(config, &key, checkpoints.as_deref()).await
        }
        AuditCommand::Prove {
            chain,
            seq,
            old_size,
            new_size,
        } => {
            let db = Db::connect(&config.database).await?;
            let chain = ChainId::from_uuid(chain);
            let not_found = "no such entry or checkpoint, or no checkpoint covers it yet";
            match (seq, old_size, new_size) {
                (Some(seq), _, _) => {
                    let proof = audit::prove_inclusion(db.conn(), chain, seq)
                        .await
                        .context(not_found)?;
                    print!("{proof}");
                }
                (None, Some(old), Some(new)) => {
                    let proof = audit::prove_consistency(db.conn(), chain, old, new)
                        .await
                        .context(not_found)?;
                    print!("{proof}");
                }
                _ => bail!("give --seq N, or --old-size N and --new-size M"),
            }
            Ok(())
        }
        AuditCommand::Purge { before } => purge(config, before).await,
        AuditCommand::CheckProof { file, key } => {
            let key = parse_key(&key)?;
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("cannot read {}", file.display()))?;
            if text.starts_with("wijkhub audit inclusion proof") {
                let proof = InclusionProof::parse(&text)?;
                proof.verify(&key)?;
                println!(
                    "valid: entry {} of chain {} is in the log of {} entries signed by {}",
                    proof.seq,
                    proof.chain,
                    proof.tree_size,
                    key.name()
                );
            } else {
                let proof = ConsistencyProof::parse(&text)?;
                proof.verify(&key)?;
                println!(
                    "valid: the log of chain {} at {} entries extends the one at {}, both signed by {}",
                    proof.chain,
                    proof.new_size,
                    proof.old_size,
                    key.name()
                );
            }
            Ok(())
        }
    }
}

/// The hub's own verifier key, from the auth key file.
fn own_key(config: &Config) -> anyhow::Result<VerifierKey> {
    let keys = AuthKeys::load(&config.auth.key_file)?;
    let signing = keys.audit_signing_key(&config.audit.origin_prefix)?;
    Ok(signing.verifier_key())
}

/// A verifier key given as its text, or as a file holding it.
fn parse_key(text_or_file: &str) -> anyhow::Result<VerifierKey> {
    let text = if Path::new(text_or_file).is_file() {
        std::fs::read_to_string(text_or_file)
            .with_context(|| format!("cannot read {text_or_file}"))?
    } else {
        text_or_file.to_owned()
    };
    VerifierKey::parse(&text)
        .context("not a verifier key (name+keyid+base64, as `wijkhub audit public-key` prints)")
}

async fn verify(
    config: &Config,
    key: &VerifierKey,
    checkpoints: Option<&Path>,
) -> anyhow::Result<()> {
    let db = Db::connect(&config.database).await?;
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template("verifying [{bar:40}] {pos}/{len} entries ({eta} left)")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.enable_steady_tick(Duration::from_millis(200));
    let report = audit::verify(db.conn(), key, checkpoints, |done, total| {
        bar.set_length(total);
        bar.set_position(done);
    })
    .await
    .context("the audit log could not be checked")?;
    bar.finish_and_clear();

    println!(
        "checked {} entries in {} chain(s) and {} checkpoint(s){}",
        report.entries_checked,
        report.chains.len(),
        report.checkpoints_checked,
        checkpoints
            .map(|path| format!(", against {}", path.display()))
            .unwrap_or_default()
    );
    for chain in &report.chains {
        println!(
            "  chain {}: {} entries, {} under a signed checkpoint{}{}",
            chain.chain,
            chain.entries,
            chain.checkpointed_size,
            if chain.unsealed > 0 {
                format!(
                    ", {} after the last checkpoint (intact, not yet sealed)",
                    chain.unsealed
                )
            } else {
                String::new()
            },
            if chain.purged_below > 0 {
                format!(
                    "; entries below {} purged after the retention period",
                    chain.purged_below
                )
            } else {
                String::new()
            }
        );
    }
    if report.is_ok() {
        println!("the audit log is intact");
        return Ok(());
    }
    for problem in &report.problems {
        println!("PROBLEM: {problem}");
    }
    bail!(
        "the audit log does NOT verify: {} problem(s)",
        report.problems.len()
    )
}

/// `audit purge`: refuses a cut inside the retention period (audited), else records an
/// `audit.purged` entry per chain before that chain's prefix is removed.
async fn purge(config: &Config, before: Option<chrono::NaiveDate>) -> anyhow::Result<()> {
    use audit::{Actor, AuditAction, Code, NewEntry, Outcome};
    use chrono::{Months, Utc};

    let years = config.audit.retention_years;
    let months = Months::new(12 * years);
    let now = Utc::now();
    let cut = now
        .checked_sub_months(months)
        .context("the retention period reaches before the calendar")?;
    let before = match before {
        Some(day) => day.and_time(chrono::NaiveTime::MIN).and_utc(),
        None => cut,
    };
    let db = Db::connect(&config.database).await?;
    let keys = AuthKeys::load(&config.auth.key_file)
        .context("the audit log needs the auth key file (it holds the checkpoint key)")?;
    let signing = keys.audit_signing_key(&config.audit.origin_prefix)?;
    let verifier = signing.verifier_key();
    let writer = audit::start(db.conn().clone(), config.audit.clone(), signing)
        .await
        .context("the audit log cannot start")?;
    let log = writer.log();
    let record = |outcome, reason: &str| -> anyhow::Result<NewEntry> {
        let mut entry = NewEntry::new(AuditAction::AuditPurge, Actor::System, outcome);
        entry.reason = Some(Code::parse(reason)?);
        Ok(entry)
    };

    if before > cut {
        let day = before.date_naive();
        let possible = day
            .checked_add_months(months)
            .map_or_else(|| "never".to_owned(), |date| date.to_string());
        log.submit(record(Outcome::Deny, "within-retention")?)
            .await
            .context("the audit entry could not be written")?;
        writer.shutdown().await?;
        bail!(
            "refused: entries from before {day} are not all past the retention period of {years} \
             years (audit.retention_years); a purge up to {day} becomes possible on {possible}"
        );
    }

    let plans = match audit::plan_purge(db.conn(), &verifier, before).await {
        Ok(plans) => plans,
        Err(error) => {
            writer.shutdown().await?;
            return Err(error).context(
                "nothing purged: the log does not match its signed checkpoints (run `wijkhub audit verify`)",
            );
        }
    };
    if plans.is_empty() {
        writer.shutdown().await?;
        println!(
            "nothing to purge: no chain has a signed checkpoint with only entries from before {} below it",
            before.date_naive()
        );
        return Ok(());
    }
    let mut total = 0u64;
    for plan in &plans {
        // Durable before anything is deleted.
        let receipt = log
            .submit(record(Outcome::Permit, &plan.reason())?)
            .await
            .context("the audit entry could not be written; nothing purged")?;
        let deleted = audit::apply_purge(db.conn(), plan, before, &receipt)
            .await
            .context(
                "the purge failed (it needs DELETE on audit_entries: run it as the owner role)",
            )?;
        total += deleted;
        println!(
            "  chain {}: removed entries {}..{} ({deleted}), kept the signed checkpoint of size {}",
            plan.chain, plan.from, plan.purged_below, plan.purged_below
        );
    }
    writer
        .shutdown()
        .await
        .context("the audit log did not close cleanly")?;
    println!(
        "purged {total} entries from before {} in {} chain(s); `wijkhub audit verify` checks the rest",
        before.date_naive(),
        plans.len()
    );
    Ok(())
}
