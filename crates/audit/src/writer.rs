//! The group-commit writer: durable before the response, fail closed.
//!
//! Handlers `submit` an entry on a bounded channel and wait for their own acknowledgement; one
//! writer task drains up to a batch, assigns sequence numbers, hashes, inserts the batch in one
//! transaction and acknowledges each entry only after the commit. It must never acknowledge an
//! entry that is not committed, never let its in-memory tree differ from what is committed (after
//! any failure it re-reads the chain from the database), and never let a request wait unbounded:
//! every path ends in a receipt or `AuditError::Unavailable`.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sea_orm::{DatabaseConnection, TransactionTrait};
use serde::Deserialize;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use crate::AuditError;
use crate::checkpoint::{Checkpoint, SigningKey};
use crate::db;
use crate::encoding::encode_entry;
use crate::entry::{AuditEntry, ChainId, NewEntry, Receipt, now_micros};
use crate::merkle::{Frontier, Hash, consistency_path, leaf_hash, root_of, verify_consistency};

/// Settings of the audit writer (`[audit]` in the configuration file).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WriterConfig {
    /// Most entries committed in one transaction (1–1000).
    pub max_batch: usize,
    /// Entries that may wait for the writer; beyond this, `submit` waits `enqueue_wait_ms`.
    pub queue_capacity: usize,
    /// How long `submit` waits for room in a full queue before failing closed, in milliseconds.
    pub enqueue_wait_ms: u64,
    /// How long one batch's transaction may take before it is abandoned and its entries fail
    /// closed, in milliseconds (a locked database, a stalled disk).
    pub commit_timeout_ms: u64,
    /// How long `submit` waits for its acknowledgement in total before failing closed, in
    /// milliseconds. Must exceed `commit_timeout_ms`.
    pub ack_timeout_ms: u64,
    /// Sign a checkpoint after this many new entries.
    pub checkpoint_every_entries: u64,
    /// Sign a checkpoint at least this often when there are new entries, in seconds.
    pub checkpoint_every_secs: u64,
    /// File outside the database to which every signed checkpoint note is appended (and
    /// fsynced). Ship it to write-once storage; `verify` checks the database against it.
    pub export_path: Option<PathBuf>,
    /// Checkpoint origin prefix; a chain's origin is `<prefix>/<chain id>`.
    pub origin_prefix: String,
    /// Years entries are kept before they may be purged; at least 5 (NEN 7513).
    pub retention_years: u32,
}

impl Default for WriterConfig {
    fn default() -> Self {
        WriterConfig {
            max_batch: 256,
            queue_capacity: 4096,
            enqueue_wait_ms: 100,
            commit_timeout_ms: 2_000,
            ack_timeout_ms: 5_000,
            checkpoint_every_entries: 10_000,
            checkpoint_every_secs: 60,
            export_path: None,
            origin_prefix: "wijkhub.local/audit".to_owned(),
            retention_years: 5,
        }
    }
}

impl WriterConfig {
    pub fn validate(&self) -> Result<(), AuditError> {
        let checks: [(bool, &'static str); 7] = [
            (
                (1..=db::MAX_ROWS_PER_INSERT).contains(&self.max_batch),
                "max_batch must be 1..=1000",
            ),
            (
                self.queue_capacity >= 1,
                "queue_capacity must be at least 1",
            ),
            (
                self.commit_timeout_ms >= 1,
                "commit_timeout_ms must be at least 1",
            ),
            (
                self.ack_timeout_ms > self.commit_timeout_ms,
                "ack_timeout_ms must exceed commit_timeout_ms",
            ),
            (
                self.checkpoint_every_entries >= 1 && self.checkpoint_every_secs >= 1,
                "checkpoint intervals must be at least 1",
            ),
            (
                self.retention_years >= 5,
                "retention_years must be at least 5",
            ),
            (
                !self.origin_prefix.is_empty() && !self.origin_prefix.contains(char::is_whitespace),
                "origin_prefix must be non-empty without whitespace",
            ),
        ];
        match checks.into_iter().find(|(ok, _)| !ok) {
            Some((_, message)) => Err(AuditError::InvalidConfig(message)),
            None => Ok(()),
        }
    }
}

/// Counters of the writer, for metrics and tests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WriterStats {
    pub committed_batches: u64,
    pub committed_entries: u64,
    pub largest_batch: u64,
    pub failed_batches: u64,
    pub restarts: u64,
    pub checkpoints: u64,
    pub checkpoint_failures: u64,
    pub export_failures: u64,
}

#[derive(Default)]
struct Counters {
    committed_batches: AtomicU64,
    committed_entries: AtomicU64,
    largest_batch: AtomicU64,
    failed_batches: AtomicU64,
    restarts: AtomicU64,
    checkpoints: AtomicU64,
    checkpoint_failures: AtomicU64,
    export_failures: AtomicU64,
}

struct Job {
    entry: NewEntry,
    ack: oneshot::Sender<Result<Receipt, AuditError>>,
}

struct Shared {
    // Behind a mutex so that a restarted writer task can take over the queue of a dead one.
    rx: tokio::sync::Mutex<mpsc::Receiver<Job>>,
    chain: Mutex<ChainId>,
    healthy: AtomicBool,
    counters: Counters,
    #[cfg(test)]
    panic_next_batch: AtomicBool,
}

struct Ctx {
    db: DatabaseConnection,
    config: WriterConfig,
    key: Arc<SigningKey>,
    shared: Arc<Shared>,
    shutdown: watch::Receiver<bool>,
}

/// The handle handlers use: cheap to clone.
#[derive(Clone)]
pub struct AuditLog {
    tx: mpsc::Sender<Job>,
    enqueue_wait: Duration,
    ack_timeout: Duration,
    shared: Arc<Shared>,
}

/// The running writer: hand out [`AuditWriter::log`], call [`AuditWriter::shutdown`] at exit.
pub struct AuditWriter {
    log: AuditLog,
    shutdown: watch::Sender<bool>,
    supervisor: JoinHandle<Option<String>>,
}

/// Starts the writer on a new chain. The database must have the audit migration applied; on
/// SQLite the connections must use `synchronous=FULL` (and WAL).
pub async fn start(
    db: DatabaseConnection,
    config: WriterConfig,
    key: SigningKey,
) -> Result<AuditWriter, AuditError> {
    config.validate()?;
    db::backend_supported(sea_orm::ConnectionTrait::get_database_backend(&db))?;
    let chain = ChainId::new();
    // Fails here, at start-up, when the audit tables are missing.
    db::chain_head(&db, chain).await?;
    let (tx, rx) = mpsc::channel(config.queue_capacity);
    let shared = Arc::new(Shared {
        rx: tokio::sync::Mutex::new(rx),
        chain: Mutex::new(chain),
        healthy: AtomicBool::new(true),
        counters: Counters::default(),
        #[cfg(test)]
        panic_next_batch: AtomicBool::new(false),
    });
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let log = AuditLog {
        tx,
        enqueue_wait: Duration::from_millis(config.enqueue_wait_ms),
        ack_timeout: Duration::from_millis(config.ack_timeout_ms),
        shared: shared.clone(),
    };
    let ctx = Arc::new(Ctx {
        db,
        config,
        key: Arc::new(key),
        shared,
        shutdown: shutdown_rx,
    });
    tracing::info!(chain_id = %chain, "audit writer started");
    let supervisor = tokio::spawn(supervise(ctx, ChainState::new_chain(chain)));
    Ok(AuditWriter {
        log,
        shutdown: shutdown_tx,
        supervisor,
    })
}

impl AuditWriter {
    pub fn log(&self) -> AuditLog {
        self.log.clone()
    }

    /// Stops accepting entries, commits what is queued, signs a final checkpoint and returns
    /// its note (`None` when there was nothing new to sign).
    pub async fn shutdown(self) -> Result<Option<String>, AuditError> {
        let _ = self.shutdown.send(true);
        self.supervisor.await.map_err(|_| AuditError::Unavailable)
    }
}

impl AuditLog {
    /// Makes an entry durable and returns its receipt, or fails closed with
    /// [`AuditError::Unavailable`] within `enqueue_wait_ms + ack_timeout_ms`.
    pub async fn submit(&self, entry: NewEntry) -> Result<Receipt, AuditError> {
        let (ack, done) = oneshot::channel();
        if self
            .tx
            .send_timeout(Job { entry, ack }, self.enqueue_wait)
            .await
            .is_err()
        {
            tracing::warn!("audit queue full or writer stopped");
            return Err(AuditError::Unavailable);
        }
        match tokio::time::timeout(self.ack_timeout, done).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) | Err(_) => Err(AuditError::Unavailable),
        }
    }

    /// False after a failed batch, until a batch commits again.
    pub fn is_healthy(&self) -> bool {
        self.shared.healthy.load(Ordering::Relaxed)
    }

    /// The chain this writer appends to now.
    pub fn chain(&self) -> ChainId {
        *self
            .shared
            .chain
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn stats(&self) -> WriterStats {
        let c = &self.shared.counters;
        let get = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        WriterStats {
            committed_batches: get(&c.committed_batches),
            committed_entries: get(&c.committed_entries),
            largest_batch: get(&c.largest_batch),
            failed_batches: get(&c.failed_batches),
            restarts: get(&c.restarts),
            checkpoints: get(&c.checkpoints),
            checkpoint_failures: get(&c.checkpoint_failures),
            export_failures: get(&c.export_failures),
        }
    }

    #[cfg(test)]
    fn panic_next_batch(&self) {
        self.shared.panic_next_batch.store(true, Ordering::Relaxed);
    }
}

/// What the writer knows of its chain. `frontier` is exactly what is committed.
struct ChainState {
    chain: ChainId,
    frontier: Frontier,
    /// The last signed checkpoint: size, root, and the frontier at that size.
    checkpoint_size: u64,
    checkpoint_root: Hash,
    checkpoint_frontier: Frontier,
    /// Leaf hashes committed since the last checkpoint (for the consistency proof).
    since_checkpoint: Vec<Hash>,
    checkpoint_time: Instant,
    /// Set after a failed commit or a restart: re-read the chain before writing.
    needs_resync: bool,
}

impl ChainState {
    fn new_chain(chain: ChainId) -> ChainState {
        ChainState {
            chain,
            frontier: Frontier::new(),
            checkpoint_size: 0,
            checkpoint_root: crate::merkle::empty_root(),
            checkpoint_frontier: Frontier::new(),
            since_checkpoint: Vec::new(),
            checkpoint_time: Instant::now(),
            needs_resync: false,
        }
    }

    fn unknown(chain: ChainId) -> ChainState {
        ChainState {
            needs_resync: true,
            ..ChainState::new_chain(chain)
        }
    }
}

/// Restarts the writer task if it dies, so requests never wait on a dead writer.
async fn supervise(ctx: Arc<Ctx>, initial: ChainState) -> Option<String> {
    let mut state = Some(initial);
    loop {
        let task_ctx = ctx.clone();
        let chain = *ctx
            .shared
            .chain
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let task_state = state.take().unwrap_or_else(|| ChainState::unknown(chain));
        match tokio::spawn(writer_loop(task_ctx, task_state)).await {
            Ok(final_note) => return final_note,
            Err(join_error) => {
                let restarts = ctx.shared.counters.restarts.fetch_add(1, Ordering::Relaxed) + 1;
                ctx.shared.healthy.store(false, Ordering::Relaxed);
                tracing::error!(error = %join_error, restarts, "audit writer task died; restarting");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

async fn writer_loop(ctx: Arc<Ctx>, mut state: ChainState) -> Option<String> {
    let mut rx = ctx.shared.rx.lock().await;
    let mut shutdown = ctx.shutdown.clone();
    let tick = Duration::from_secs(ctx.config.checkpoint_every_secs).min(Duration::from_secs(1));
    let mut ticker = tokio::time::interval(tick);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let max_batch = ctx.config.max_batch;
    loop {
        if *shutdown.borrow() {
            break;
        }
        let first = tokio::select! {
            biased;
            _ = shutdown.changed() => break,
            job = rx.recv() => match job {
                Some(job) => job,
                None => break,
            },
            _ = ticker.tick() => {
                maybe_checkpoint(&ctx, &mut state, false).await;
                continue;
            }
        };
        let mut batch = Vec::with_capacity(max_batch);
        batch.push(first);
        while batch.len() < max_batch {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        write_batch(&ctx, &mut state, batch).await;
        maybe_checkpoint(&ctx, &mut state, false).await;
    }
    // Shutdown: refuse new entries, commit the queued ones, seal the chain.
    rx.close();
    let mut batch = Vec::new();
    while let Some(job) = rx.recv().await {
        batch.push(job);
        if batch.len() == max_batch {
            write_batch(&ctx, &mut state, std::mem::take(&mut batch)).await;
        }
    }
    if !batch.is_empty() {
        write_batch(&ctx, &mut state, batch).await;
    }
    let note = maybe_checkpoint(&ctx, &mut state, true).await;
    tracing::info!(chain_id = %state.chain, tree_size = state.frontier.size(), "audit writer stopped");
    note
}

fn fail_all(acks: Vec<oneshot::Sender<Result<Receipt, AuditError>>>) {
    for ack in acks {
        let _ = ack.send(Err(AuditError::Unavailable));
    }
}

async fn write_batch(ctx: &Ctx, state: &mut ChainState, batch: Vec<Job>) {
    let n_entries = batch.len() as u64;
    let mut acks = Vec::with_capacity(batch.len());
    let mut entries = Vec::with_capacity(batch.len());
    for job in batch {
        acks.push(job.ack);
        entries.push(job.entry);
    }
    #[cfg(test)]
    if ctx.shared.panic_next_batch.swap(false, Ordering::Relaxed) {
        panic!("injected writer fault");
    }
    if state.needs_resync
        && let Err(error) = resync(ctx, state).await
    {
        tracing::error!(error = %error, chain_id = %state.chain, "audit chain resync failed");
        ctx.shared
            .counters
            .failed_batches
            .fetch_add(1, Ordering::Relaxed);
        ctx.shared.healthy.store(false, Ordering::Relaxed);
        fail_all(acks);
        return;
    }
    let mut tentative = state.frontier.clone();
    let mut rows = Vec::with_capacity(entries.len());
    for entry in entries {
        let seq = tentative.size();
        let hash = leaf_hash(&encode_entry(state.chain, seq, &entry));
        tentative.push(hash);
        rows.push(AuditEntry {
            chain: state.chain,
            seq,
            entry,
            leaf_hash: hash,
        });
    }
    let timeout = Duration::from_millis(ctx.config.commit_timeout_ms);
    let outcome = tokio::time::timeout(timeout, commit(&ctx.db, &rows)).await;
    match outcome {
        Ok(Ok(())) => {
            state.frontier = tentative;
            state
                .since_checkpoint
                .extend(rows.iter().map(|row| row.leaf_hash));
            let c = &ctx.shared.counters;
            c.committed_batches.fetch_add(1, Ordering::Relaxed);
            c.committed_entries.fetch_add(n_entries, Ordering::Relaxed);
            c.largest_batch.fetch_max(n_entries, Ordering::Relaxed);
            ctx.shared.healthy.store(true, Ordering::Relaxed);
            for (ack, row) in acks.into_iter().zip(&rows) {
                let _ = ack.send(Ok(Receipt {
                    chain: row.chain,
                    seq: row.seq,
                    leaf_hash: row.leaf_hash,
                }));
            }
        }
        Ok(Err(error)) => {
            tracing::error!(error = %error, chain_id = %state.chain, n_entries, "audit batch commit failed");
            after_failure(ctx, state, acks);
        }
        Err(_) => {
            tracing::error!(chain_id = %state.chain, n_entries, "audit batch commit timed out");
            after_failure(ctx, state, acks);
        }
    }
}

fn after_failure(
    ctx: &Ctx,
    state: &mut ChainState,
    acks: Vec<oneshot::Sender<Result<Receipt, AuditError>>>,
) {
    // The commit may or may not have happened (a lost connection after COMMIT): only the
    // database can say, so the next batch re-reads the chain first.
    state.needs_resync = true;
    ctx.shared
        .counters
        .failed_batches
        .fetch_add(1, Ordering::Relaxed);
    ctx.shared.healthy.store(false, Ordering::Relaxed);
    fail_all(acks);
}

async fn commit(db: &DatabaseConnection, rows: &[AuditEntry]) -> Result<(), AuditError> {
    let backend = sea_orm::ConnectionTrait::get_database_backend(db);
    let tx = db.begin().await?;
    for chunk in rows.chunks(db::MAX_ROWS_PER_INSERT) {
        sea_orm::ConnectionTrait::execute_raw(&tx, db::insert_statement(backend, chunk)).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Re-reads the chain from the database so that the in-memory tree equals what is committed.
/// If the stored chain no longer agrees with our own last checkpoint (it was changed behind our
/// back), the writer continues on a new chain rather than sign anything inconsistent.
async fn resync(ctx: &Ctx, state: &mut ChainState) -> Result<(), AuditError> {
    let head = db::chain_head(&ctx.db, state.chain).await?;
    // Fast path: the database holds exactly what we believe is committed. A restarted task
    // (empty frontier) over a non-empty chain always rebuilds.
    let believed = state.frontier.size() > 0 || head == 0;
    if head == state.frontier.size() && believed {
        state.needs_resync = false;
        return Ok(());
    }
    let leaves = db::load_leaf_hashes(&ctx.db, state.chain, head).await;
    let checkpoints = db::load_checkpoints(&ctx.db, Some(state.chain)).await?;
    let last = checkpoints.iter().max_by_key(|row| row.tree_size);
    let rebuilt = leaves.and_then(|leaves| rebuild(state.chain, &leaves, last));
    match rebuilt {
        Ok(rebuilt) => {
            tracing::info!(chain_id = %state.chain, tree_size = head, "audit chain re-read");
            *state = rebuilt;
        }
        Err(AuditError::Malformed(what)) => {
            let chain = ChainId::new();
            tracing::error!(old_chain_id = %state.chain, chain_id = %chain, problem = what, "audit chain disagrees with its checkpoint; starting a new chain");
            *state = ChainState::new_chain(chain);
            *ctx.shared
                .chain
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner()) = chain;
        }
        Err(error) => return Err(error),
    }
    Ok(())
}

fn rebuild(
    chain: ChainId,
    leaves: &[Hash],
    last: Option<&db::CheckpointRow>,
) -> Result<ChainState, AuditError> {
    let mut state = ChainState::new_chain(chain);
    let checkpoint_size = last.map_or(0, |row| row.tree_size);
    if checkpoint_size > leaves.len() as u64 {
        return Err(AuditError::Malformed("chain shorter than its checkpoint"));
    }
    for (idx, leaf) in leaves.iter().enumerate() {
        if idx as u64 == checkpoint_size {
            state.checkpoint_frontier = state.frontier.clone();
        }
        state.frontier.push(*leaf);
    }
    if checkpoint_size == leaves.len() as u64 {
        state.checkpoint_frontier = state.frontier.clone();
    }
    if let Some(row) = last {
        if state.checkpoint_frontier.root().as_slice() != row.root.as_slice() {
            return Err(AuditError::Malformed("root differs from checkpoint"));
        }
        state.checkpoint_root = state.checkpoint_frontier.root();
    }
    state.checkpoint_size = checkpoint_size;
    state.since_checkpoint = leaves[checkpoint_size as usize..].to_vec();
    Ok(state)
}

/// Signs, stores and exports a checkpoint when one is due (or `force`d at shutdown), after
/// proving it consistent with the previous one. Returns the note when one was made.
async fn maybe_checkpoint(ctx: &Ctx, state: &mut ChainState, force: bool) -> Option<String> {
    let size = state.frontier.size();
    if size == state.checkpoint_size || state.needs_resync {
        return None;
    }
    let due = force
        || size - state.checkpoint_size >= ctx.config.checkpoint_every_entries
        || state.checkpoint_time.elapsed() >= Duration::from_secs(ctx.config.checkpoint_every_secs);
    if !due {
        return None;
    }
    let root = state.frontier.root();
    let old_size = state.checkpoint_size;
    let since = &state.since_checkpoint;
    let old_frontier = &state.checkpoint_frontier;
    let mut oracle = |lo: u64, hi: u64| {
        if lo >= old_size {
            let (lo, hi) = ((lo - old_size) as usize, (hi - old_size) as usize);
            since.get(lo..hi).map(root_of).ok_or(AuditError::NotFound)
        } else {
            old_frontier.subtree(lo, hi).ok_or(AuditError::NotFound)
        }
    };
    let consistent = consistency_path(old_size, size, &mut oracle)
        .map(|proof| verify_consistency(old_size, size, &state.checkpoint_root, &root, &proof))
        .unwrap_or(false);
    if !consistent {
        tracing::error!(chain_id = %state.chain, old_size, tree_size = size, "audit checkpoint not consistent with the previous one; not signed");
        ctx.shared
            .counters
            .checkpoint_failures
            .fetch_add(1, Ordering::Relaxed);
        state.needs_resync = true;
        return None;
    }
    let checkpoint = Checkpoint {
        origin: Checkpoint::origin_for(&ctx.config.origin_prefix, state.chain),
        tree_size: size,
        root,
    };
    let key = ctx.key.clone();
    let note = match tokio::task::spawn_blocking(move || key.sign(&checkpoint)).await {
        Ok(note) => note,
        Err(_) => return None,
    };
    let timeout = Duration::from_millis(ctx.config.commit_timeout_ms);
    let stored = tokio::time::timeout(
        timeout,
        db::insert_checkpoint(
            &ctx.db,
            state.chain,
            size,
            &root,
            &note,
            now_micros().timestamp_micros(),
        ),
    )
    .await;
    if !matches!(stored, Ok(Ok(()))) {
        // Retried at the next tick; entries keep flowing, the tail stays unsealed meanwhile.
        tracing::error!(chain_id = %state.chain, tree_size = size, "audit checkpoint could not be stored");
        ctx.shared
            .counters
            .checkpoint_failures
            .fetch_add(1, Ordering::Relaxed);
        return None;
    }
    if let Some(path) = ctx.config.export_path.clone() {
        let text = format!("{note}\n");
        let exported = tokio::task::spawn_blocking(move || append_export(&path, &text)).await;
        if !matches!(exported, Ok(Ok(()))) {
            tracing::error!(chain_id = %state.chain, tree_size = size, "audit checkpoint export failed");
            ctx.shared
                .counters
                .export_failures
                .fetch_add(1, Ordering::Relaxed);
        }
    }
    ctx.shared
        .counters
        .checkpoints
        .fetch_add(1, Ordering::Relaxed);
    tracing::info!(chain_id = %state.chain, tree_size = size, "audit checkpoint signed");
    state.checkpoint_size = size;
    state.checkpoint_root = root;
    state.checkpoint_frontier = state.frontier.clone();
    state.since_checkpoint.clear();
    state.checkpoint_time = Instant::now();
    Some(note)
}

fn append_export(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    file.write_all(text.as_bytes())?;
    file.sync_data()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use crate::checkpoint::generate_signing_key;
    use crate::entry::{Actor, AuditAction, Outcome};
    use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
    use sea_orm_migration::{MigrationTrait, SchemaManager};

    fn entry() -> NewEntry {
        NewEntry::new(AuditAction::LoginFailed, Actor::Anonymous, Outcome::Deny)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_dead_writer_task_fails_requests_closed_and_is_restarted() {
        let dir = tempfile::tempdir().unwrap();
        let mut options = sea_orm::ConnectOptions::new(format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("a.sqlite").display()
        ));
        options.sqlx_logging(false).map_sqlx_sqlite_opts(|o| {
            o.journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Full)
                .foreign_keys(true)
        });
        let db = sea_orm::Database::connect(options).await.unwrap();
        crate::test_migration::Migration
            .up(&SchemaManager::new(&db))
            .await
            .unwrap();
        let key =
            SigningKey::from_pkcs8("wijkhub.test/audit", &generate_signing_key().unwrap()).unwrap();
        let config = WriterConfig {
            commit_timeout_ms: 500,
            ack_timeout_ms: 2_000,
            ..WriterConfig::default()
        };
        let writer = start(db.clone(), config, key).await.unwrap();
        let log = writer.log();
        assert_eq!(log.submit(entry()).await.unwrap().seq, 0);

        log.panic_next_batch();
        let started = Instant::now();
        assert!(matches!(
            log.submit(entry()).await,
            Err(AuditError::Unavailable)
        ));
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "a dead writer must not hang requests"
        );

        // The supervisor restarted the writer, which re-read the chain from the database.
        let receipt = log.submit(entry()).await.unwrap();
        assert_eq!(receipt.seq, 1);
        assert_eq!(log.stats().restarts, 1);
        assert!(writer.shutdown().await.unwrap().is_some());
    }
}
