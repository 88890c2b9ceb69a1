//! `wijkhub residents …`: operator commands on residents' records. Today: erasure.

use anyhow::Context;
use audit::{AuditAction, Outcome};
use clap::Subcommand;
use domain::ResidentId;
use server::Config;
use store::Db;
use store::erase::{self, EraseError, Eraser};

use crate::operator_audit::OperatorAudit;
use uuid::Uuid;

#[derive(Subcommand)]
pub enum ResidentsCommand {
    /// Erase a resident by crypto-shredding: destroy their data key, so their name, BSN and plan
    /// can never be read again. Refused while a plan is open or its retention period runs.
    Erase {
        /// The resident's id (as in the audit log), never the BSN.
        resident: Uuid,
        /// The request or decision this erasure follows (e.g. "AVG-verzoek 2026-114"); no personal data.
        #[arg(long)]
        ground: String,
    },
}

pub async fn run(command: ResidentsCommand, config: &Config) -> anyhow::Result<()> {
    match command {
        ResidentsCommand::Erase { resident, ground } => {
            let ground = ground.trim();
            anyhow::ensure!(
                !ground.is_empty() && ground.len() <= 500,
                "--ground must say which request or decision this follows (1 to 500 characters)"
            );
            let db = Db::connect(&config.database).await?;
            // The log must be writable before anything is erased: an erasure is an audited event.
            let log = OperatorAudit::start(config, &db).await?;
            let eraser = Eraser {
                by: format!("cli:{}", operator()),
                ground: ground.to_owned(),
            };
            let result = erase::erase_resident(
                &db,
                resident,
                &config.retention,
                &eraser,
                chrono::Utc::now(),
            )
            .await;
            let subject = Some(ResidentId::from_uuid(resident));
            let (outcome, reason) = match &result {
                Ok(_) => (Outcome::Permit, "erased"),
                Err(EraseError::NotFound(_)) => (Outcome::Deny, "not-found"),
                Err(EraseError::AlreadyErased { .. }) => (Outcome::Deny, "already-erased"),
                Err(EraseError::PlanOpen { .. }) => (Outcome::Deny, "plan-open"),
                Err(EraseError::RetentionRunning { .. }) => (Outcome::Deny, "retention-running"),
                Err(EraseError::Store(_)) => (Outcome::Error, "store-error"),
            };
            let recorded = log
                .record(AuditAction::Erasure, outcome, subject, reason)
                .await;
            log.close().await?;
            let erased = result.with_context(|| format!("resident {resident} not erased"))?;
            recorded.context(
                "the resident WAS erased (see the tombstone), but its audit entry could not be written",
            )?;
            println!(
                "resident {} erased at {}: their data key is destroyed; the tombstone and the audit trail remain",
                erased.resident,
                erased.erased_at.format("%Y-%m-%d %H:%M:%S UTC")
            );
            println!(
                "backups still hold the old wrapped key until the KEK is rotated and retired (`wijkhub keys rotate`, then `keys retire`)"
            );
            Ok(())
        }
    }
}

/// The operating-system user running the command, for the tombstone.
fn operator() -> String {
    std::env::var("SUDO_USER")
        .or_else(|_| std::env::var("USER"))
        .unwrap_or_else(|_| "unknown".to_owned())
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        .take(64)
        .collect()
}
