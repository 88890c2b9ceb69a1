//! Audit entries for operator commands (key operations, erasure): the command starts an audit
//! writer of its own (its own chain), commits each entry before it reports success, and seals
//! the chain with a checkpoint when it ends. If the log cannot be written, the command fails.

use anyhow::Context;
use audit::{Actor, AuditAction, AuditWriter, Code, NewEntry, Outcome};
use domain::ResidentId;
use server::Config;
use server::auth::AuthKeys;
use store::Db;

pub struct OperatorAudit {
    writer: AuditWriter,
}

impl OperatorAudit {
    /// Starts a writer on `db`, signing checkpoints with the hub's audit key.
    pub async fn start(config: &Config, db: &Db) -> anyhow::Result<OperatorAudit> {
        let keys = AuthKeys::load(&config.auth.key_file)
            .context("the audit log needs the auth key file (it holds the checkpoint key)")?;
        let key = keys.audit_signing_key(&config.audit.origin_prefix)?;
        let writer = audit::start(db.conn().clone(), config.audit.clone(), key)
            .await
            .context("the audit log cannot start")?;
        Ok(OperatorAudit { writer })
    }

    /// Commits one entry by the operator (`system` actor); returns once it is durable.
    pub async fn record(
        &self,
        action: AuditAction,
        outcome: Outcome,
        resident: Option<ResidentId>,
        reason: &str,
    ) -> anyhow::Result<()> {
        let mut entry = NewEntry::new(action, Actor::System, outcome);
        entry.resident = resident;
        entry.reason = Some(Code::parse(reason)?);
        self.writer
            .log()
            .submit(entry)
            .await
            .context("the audit entry could not be written")?;
        Ok(())
    }

    /// Seals this command's chain with a final checkpoint.
    pub async fn close(self) -> anyhow::Result<()> {
        self.writer
            .shutdown()
            .await
            .context("the audit log did not close cleanly")?;
        Ok(())
    }
}
