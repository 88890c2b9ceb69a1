//! Opening the database and keeping its schema current.
//!
//! SQLite runs in WAL mode with `synchronous=FULL`: with `NORMAL` a committed transaction can be
//! lost on power failure, and "durable before the response" (DESIGN §7) would be a lie.

use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use migration::{Migrator, MigratorTrait};
use sea_orm::sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend, Statement,
};
use serde::Deserialize;

use crate::StoreError;

/// `[database]` settings.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DbConfig {
    /// `sqlite://PATH` (created when missing) or `postgres://USER@HOST:PORT/DB`. The plain
    /// `DATABASE_URL` environment variable overrides it.
    pub url: String,
    /// Largest number of pooled connections.
    pub max_connections: u32,
    /// Seconds to wait for a connection (and, on SQLite, for a lock) before failing.
    pub timeout_seconds: u64,
    /// Apply pending migrations when the server starts.
    pub migrate_on_start: bool,
}

impl std::fmt::Debug for DbConfig {
    // The URL may carry a password: print only the scheme.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let scheme = self.url.split("://").next().unwrap_or("?");
        f.debug_struct("DbConfig")
            .field("url", &format_args!("{scheme}://***"))
            .field("max_connections", &self.max_connections)
            .field("timeout_seconds", &self.timeout_seconds)
            .field("migrate_on_start", &self.migrate_on_start)
            .finish()
    }
}

/// Which database engine is behind a [`Db`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// How many statements ran through a handle from [`Db::counting`]. Counts only; the statements
/// themselves (which may carry resident data as parameters) are never kept.
#[derive(Clone, Debug, Default)]
pub struct StatementCounter(Arc<AtomicU64>);

impl StatementCounter {
    /// Statements run so far.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// Where the schema stands relative to this binary's migrations.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SchemaStatus {
    Current,
    /// Migrations this binary knows that have not been applied.
    Behind {
        pending: Vec<String>,
    },
    /// Migrations applied that this binary does not know: a newer binary ran here.
    Newer {
        unknown: Vec<String>,
    },
}

/// An open database.
#[derive(Clone, Debug)]
pub struct Db {
    conn: DatabaseConnection,
    backend: Backend,
}

impl Db {
    /// Connects, creating the SQLite file and its directory when missing. Nothing else is
    /// written: migrations are a separate, explicit step.
    pub async fn connect(config: &DbConfig) -> Result<Db, StoreError> {
        let timeout = Duration::from_secs(config.timeout_seconds);
        let backend = backend_of(&config.url)?;
        let mut options = ConnectOptions::new(config.url.clone());
        options
            .max_connections(config.max_connections)
            .connect_timeout(timeout)
            .acquire_timeout(timeout)
            .sqlx_logging(false);
        if backend == Backend::Sqlite {
            let path = sqlite_path(&config.url)?;
            if let Some(dir) = Path::new(&path)
                .parent()
                .filter(|dir| !dir.as_os_str().is_empty())
            {
                std::fs::create_dir_all(dir).map_err(|source| StoreError::DataDir {
                    path: dir.display().to_string(),
                    source,
                })?;
            }
            options.map_sqlx_sqlite_opts(move |opts: SqliteConnectOptions| {
                opts.create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Full)
                    .foreign_keys(true)
                    .busy_timeout(timeout)
            });
        }
        let conn = Database::connect(options)
            .await
            .map_err(StoreError::Unreachable)?;
        // Fail now, with a clear message, rather than at the first request.
        conn.execute_unprepared("SELECT 1")
            .await
            .map_err(StoreError::Unreachable)?;
        Ok(Db { conn, backend })
    }

    pub fn conn(&self) -> &DatabaseConnection {
        &self.conn
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// A handle on the same pool that counts every statement run through it (its clones and
    /// its transactions included), and only those: statements through other handles — the audit
    /// writer's, other requests' — are not counted. For tests and diagnostics that prove what a
    /// resolver costs (a page of 100 plans must cost what a page of 2 costs).
    pub fn counting(&self) -> (Db, StatementCounter) {
        let counter = StatementCounter::default();
        let count = counter.0.clone();
        let mut conn = self.conn.clone();
        conn.set_metric_callback(move |_| {
            count.fetch_add(1, Ordering::Relaxed);
        });
        (
            Db {
                conn,
                backend: self.backend,
            },
            counter,
        )
    }

    /// Compares the applied migrations with the ones this binary carries.
    pub async fn schema_status(&self) -> Result<SchemaStatus, StoreError> {
        let known: Vec<String> = Migrator::migrations()
            .iter()
            .map(|migration| migration.name().to_owned())
            .collect();
        let applied = self.applied_migrations().await?;
        let unknown: Vec<String> = applied
            .iter()
            .filter(|name| !known.contains(name))
            .cloned()
            .collect();
        if !unknown.is_empty() {
            return Ok(SchemaStatus::Newer { unknown });
        }
        let pending: Vec<String> = known
            .into_iter()
            .filter(|name| !applied.contains(name))
            .collect();
        if pending.is_empty() {
            Ok(SchemaStatus::Current)
        } else {
            Ok(SchemaStatus::Behind { pending })
        }
    }

    /// Applies pending migrations. Refuses, writing nothing, when the schema is newer than
    /// this binary.
    pub async fn migrate(&self) -> Result<Vec<String>, StoreError> {
        match self.schema_status().await? {
            SchemaStatus::Current => Ok(Vec::new()),
            SchemaStatus::Newer { unknown } => Err(StoreError::NewerSchema { unknown }),
            SchemaStatus::Behind { pending } => {
                Migrator::up(&self.conn, None)
                    .await
                    .map_err(StoreError::Migration)?;
                Ok(pending)
            }
        }
    }

    /// The database answers and its schema is the one this binary expects.
    pub async fn ready(&self) -> Result<bool, StoreError> {
        self.conn.execute_unprepared("SELECT 1").await?;
        Ok(self.schema_status().await? == SchemaStatus::Current)
    }

    async fn applied_migrations(&self) -> Result<Vec<String>, StoreError> {
        let backend = self.conn.get_database_backend();
        let exists_sql = match backend {
            DbBackend::Sqlite => {
                "SELECT COUNT(*) AS n FROM sqlite_master WHERE type = 'table' AND name = 'seaql_migrations'"
            }
            _ => {
                "SELECT COUNT(*) AS n FROM information_schema.tables \
                 WHERE table_schema = current_schema() AND table_name = 'seaql_migrations'"
            }
        };
        let row = self
            .conn
            .query_one_raw(Statement::from_string(backend, exists_sql))
            .await?
            .ok_or_else(|| StoreError::Corrupt("no answer to a table lookup".into()))?;
        let n: i64 = row.try_get("", "n")?;
        if n == 0 {
            return Ok(Vec::new());
        }
        let rows = self
            .conn
            .query_all_raw(Statement::from_string(
                backend,
                "SELECT version FROM seaql_migrations ORDER BY version",
            ))
            .await?;
        rows.iter()
            .map(|row| {
                row.try_get::<String>("", "version")
                    .map_err(StoreError::from)
            })
            .collect()
    }
}

fn backend_of(url: &str) -> Result<Backend, StoreError> {
    if url.starts_with("sqlite:") {
        Ok(Backend::Sqlite)
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Backend::Postgres)
    } else {
        Err(StoreError::UnsupportedUrl)
    }
}

/// The file path of a `sqlite:` URL, without query parameters.
fn sqlite_path(url: &str) -> Result<String, StoreError> {
    let options = SqliteConnectOptions::from_str(url).map_err(|_| StoreError::UnsupportedUrl)?;
    Ok(options.get_filename().display().to_string())
}
