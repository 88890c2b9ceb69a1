//! `wijkhub residents …`: operator commands on residents' records. Today: erasure.

use anyhow::Context;
use clap::Subcommand;
use server::Config;
use store::Db;
use store::erase::{self, Eraser};
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
            let eraser = Eraser {
                by: format!("cli:{}", operator()),
                ground: ground.to_owned(),
            };
            let erased = erase::erase_resident(
                &db,
                resident,
                &config.retention,
                &eraser,
                chrono::Utc::now(),
            )
            .await
            .with_context(|| format!("resident {resident} not erased"))?;
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
