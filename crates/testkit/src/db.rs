//! One fresh database per test: a SQLite file in a temporary directory, or a PostgreSQL database
//! created for the test (and dropped afterwards, best effort) when `WIJKHUB_TEST_DATABASE_URL`
//! is set.

use std::collections::BTreeMap;
use std::sync::OnceLock;
use std::time::Duration;

use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection, Statement};
use store::{Backend, Db, DbConfig};
use tempfile::TempDir;

/// The environment variable naming a PostgreSQL server to test against, e.g.
/// `postgres://postgres@127.0.0.1:5432/postgres`. Its database is only used to create and drop
/// the per-test databases.
pub const TEST_DATABASE_URL: &str = "WIJKHUB_TEST_DATABASE_URL";

/// How long to wait for the PostgreSQL server before failing the test.
const ADMIN_TIMEOUT: Duration = Duration::from_secs(10);

/// A fresh, empty database that belongs to one test.
pub struct TestDb {
    url: String,
    kind: Kind,
}

enum Kind {
    Sqlite { _dir: TempDir },
    Postgres { admin_url: String, database: String },
}

impl std::fmt::Debug for TestDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let backend = if self.is_postgres() {
            "postgres"
        } else {
            "sqlite"
        };
        f.debug_struct("TestDb")
            .field("backend", &backend)
            .finish_non_exhaustive()
    }
}

impl TestDb {
    /// PostgreSQL when `WIJKHUB_TEST_DATABASE_URL` is set (panicking if it cannot be reached),
    /// SQLite in a temporary directory otherwise.
    pub async fn new() -> TestDb {
        match std::env::var(TEST_DATABASE_URL) {
            Ok(admin_url) if !admin_url.trim().is_empty() => {
                TestDb::postgres(admin_url.trim()).await
            }
            _ => TestDb::sqlite(),
        }
    }

    /// Always SQLite, for what only SQLite has (pragmas, the file in `./data`).
    pub fn sqlite() -> TestDb {
        let dir = tempfile::Builder::new()
            .prefix("wijkhub-test-")
            .tempdir()
            .unwrap_or_else(|error| panic!("cannot create a temporary directory: {error}"));
        let url = format!("sqlite://{}/wijkhub.db", dir.path().display());
        TestDb {
            url,
            kind: Kind::Sqlite { _dir: dir },
        }
    }

    /// A new database with a unique name on the server behind `admin_url`.
    pub async fn postgres(admin_url: &str) -> TestDb {
        let database = format!("wijkhub_test_{}", uuid::Uuid::new_v4().simple());
        let admin = admin_connect(admin_url).await;
        admin
            .execute_unprepared(&format!("CREATE DATABASE \"{database}\""))
            .await
            .unwrap_or_else(|error| {
                panic!("{TEST_DATABASE_URL}: cannot create the test database {database}: {error}")
            });
        let _ = admin.close().await;
        TestDb {
            url: with_database(admin_url, &database),
            kind: Kind::Postgres {
                admin_url: admin_url.to_owned(),
                database,
            },
        }
    }

    /// The database URL, as `DATABASE_URL` or `database.url` take it.
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn is_postgres(&self) -> bool {
        matches!(self.kind, Kind::Postgres { .. })
    }

    pub fn backend(&self) -> Backend {
        if self.is_postgres() {
            Backend::Postgres
        } else {
            Backend::Sqlite
        }
    }

    /// The hub's test configuration (the built-in defaults, loopback, port 0) on this database.
    pub fn config(&self) -> server::Config {
        server::Config::for_tests(self.url.clone())
    }

    /// The `[database]` settings for this database.
    pub fn db_config(&self) -> DbConfig {
        self.config().database
    }

    /// Connects without migrating.
    pub async fn connect(&self) -> Db {
        Db::connect(&self.db_config())
            .await
            .unwrap_or_else(|error| panic!("cannot connect to the test database: {error}"))
    }

    /// Connects and applies every migration.
    pub async fn migrated(&self) -> Db {
        let db = self.connect().await;
        db.migrate()
            .await
            .unwrap_or_else(|error| panic!("migrations fail on a fresh test database: {error}"));
        db
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Kind::Postgres {
            admin_url,
            database,
        } = &self.kind
        else {
            return; // the temporary directory removes itself
        };
        // Drop is synchronous and may run inside a runtime: drop the database from a thread
        // with a runtime of its own. Best effort; CI throws the whole cluster away anyway.
        let admin_url = admin_url.clone();
        let database = database.clone();
        let dropper = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            runtime.block_on(async move {
                let options = admin_options(&admin_url);
                let Ok(admin) = Database::connect(options).await else {
                    return;
                };
                let sql = format!("DROP DATABASE IF EXISTS \"{database}\" WITH (FORCE)");
                if let Err(error) = admin.execute_unprepared(&sql).await {
                    eprintln!("testkit: could not drop test database {database}: {error}");
                }
                let _ = admin.close().await;
            });
        });
        let _ = dropper.join();
    }
}

fn admin_options(admin_url: &str) -> ConnectOptions {
    let mut options = ConnectOptions::new(admin_url.to_owned());
    options
        .max_connections(1)
        .min_connections(0)
        .connect_timeout(ADMIN_TIMEOUT)
        .acquire_timeout(ADMIN_TIMEOUT)
        .sqlx_logging(false);
    options
}

/// Set once the server was found unreachable, so the remaining tests fail at once rather than
/// each waiting out the timeout.
static UNREACHABLE: OnceLock<String> = OnceLock::new();

async fn admin_connect(admin_url: &str) -> DatabaseConnection {
    if let Some(why) = UNREACHABLE.get() {
        panic!("{why}");
    }
    let why = |cause: String| -> String {
        let shown = redact(admin_url);
        let why = format!(
            "{TEST_DATABASE_URL} is set ({shown}) but PostgreSQL {cause}. \
             Start the server, or unset {TEST_DATABASE_URL} to test against SQLite."
        );
        UNREACHABLE.get_or_init(|| why).clone()
    };
    let connect = async {
        let admin = Database::connect(admin_options(admin_url)).await?;
        admin.execute_unprepared("SELECT 1").await?;
        Ok::<_, sea_orm::DbErr>(admin)
    };
    match tokio::time::timeout(ADMIN_TIMEOUT + Duration::from_secs(5), connect).await {
        Ok(Ok(admin)) => admin,
        Ok(Err(error)) => panic!("{}", why(format!("cannot be reached: {error}"))),
        Err(_) => panic!(
            "{}",
            why(format!(
                "did not answer within {}s",
                ADMIN_TIMEOUT.as_secs() + 5
            ))
        ),
    }
}

/// `url` with its database name replaced, query parameters kept.
fn with_database(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let authority_start = base.find("://").map_or(0, |at| at + 3);
    let server = match base[authority_start..].find('/') {
        Some(slash) => &base[..authority_start + slash],
        None => base,
    };
    match query {
        Some(query) => format!("{server}/{database}?{query}"),
        None => format!("{server}/{database}"),
    }
}

/// The URL without its password, for messages.
fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return "***".into();
    };
    match rest.split_once('@') {
        Some((user_info, host)) => {
            let user = user_info.split(':').next().unwrap_or_default();
            format!("{scheme}://{user}@{host}")
        }
        None => url.to_owned(),
    }
}

/// A migration name no binary of this age knows: a newer binary ran against the database.
pub const FUTURE_MIGRATION: &str = "m29991231_000001_from_a_newer_binary";

/// Runs one SQL statement, panicking with the statement when it fails.
pub async fn exec(db: &Db, sql: &str) {
    db.conn()
        .execute_unprepared(sql)
        .await
        .unwrap_or_else(|error| panic!("{sql}: {error}"));
}

/// Records [`FUTURE_MIGRATION`] as applied, as a newer binary would have.
pub async fn record_future_migration(db: &Db) {
    exec(
        db,
        &format!(
            "INSERT INTO seaql_migrations (version, applied_at) VALUES ('{FUTURE_MIGRATION}', 0)"
        ),
    )
    .await;
}

/// The most recently applied migration (by name, which sorts by date).
pub async fn last_applied_migration(db: &Db) -> String {
    let conn = db.conn();
    let row = conn
        .query_one_raw(Statement::from_string(
            conn.get_database_backend(),
            "SELECT version FROM seaql_migrations ORDER BY version DESC LIMIT 1",
        ))
        .await
        .unwrap_or_else(|error| panic!("cannot read seaql_migrations: {error}"))
        .unwrap_or_else(|| panic!("no migration has been applied"));
    row.try_get("", "version")
        .unwrap_or_else(|error| panic!("seaql_migrations.version: {error}"))
}

/// What a database holds, coarsely: the row count of every table and a description of the
/// schema (tables, columns, indexes, triggers). Two equal snapshots mean nothing was written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Snapshot {
    pub row_counts: BTreeMap<String, i64>,
    pub schema: Vec<String>,
}

impl Snapshot {
    /// The row count of `table`, panicking when there is no such table.
    pub fn rows(&self, table: &str) -> i64 {
        *self
            .row_counts
            .get(table)
            .unwrap_or_else(|| panic!("no table {table} in {:?}", self.row_counts.keys()))
    }
}

/// Takes a [`Snapshot`] of `db`.
pub async fn snapshot(db: &Db) -> Snapshot {
    let conn = db.conn();
    let backend = conn.get_database_backend();
    let (tables_sql, schema_sql) = match db.backend() {
        Backend::Sqlite => (
            "SELECT name AS v FROM sqlite_master \
             WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name",
            "SELECT type || ' ' || name || ' ' || COALESCE(sql, '') AS v FROM sqlite_master \
             ORDER BY type, name",
        ),
        Backend::Postgres => (
            "SELECT table_name::text AS v FROM information_schema.tables \
             WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' \
             ORDER BY table_name",
            "SELECT v FROM ( \
               SELECT 'column ' || table_name || '.' || column_name || ' ' || data_type || ' ' \
                      || is_nullable || ' ' || COALESCE(column_default, '') AS v \
               FROM information_schema.columns WHERE table_schema = current_schema() \
               UNION ALL \
               SELECT 'index ' || indexdef FROM pg_indexes WHERE schemaname = current_schema() \
               UNION ALL \
               SELECT 'trigger ' || tgname || ' ' || tgrelid::regclass::text FROM pg_trigger \
               WHERE NOT tgisinternal \
             ) AS schema_parts ORDER BY v",
        ),
    };
    let strings = |sql: &'static str| async move {
        conn.query_all_raw(Statement::from_string(backend, sql))
            .await
            .unwrap_or_else(|error| panic!("snapshot query failed: {error}: {sql}"))
            .iter()
            .map(|row| {
                row.try_get::<String>("", "v")
                    .unwrap_or_else(|error| panic!("snapshot row: {error}"))
            })
            .collect::<Vec<String>>()
    };
    let tables = strings(tables_sql).await;
    let schema = strings(schema_sql).await;
    let mut row_counts = BTreeMap::new();
    for table in tables {
        let sql = format!("SELECT COUNT(*) AS n FROM \"{table}\"");
        let row = conn
            .query_one_raw(Statement::from_string(backend, sql))
            .await
            .unwrap_or_else(|error| panic!("cannot count {table}: {error}"))
            .unwrap_or_else(|| panic!("no count for {table}"));
        let n: i64 = row
            .try_get("", "n")
            .unwrap_or_else(|error| panic!("count of {table}: {error}"));
        row_counts.insert(table, n);
    }
    Snapshot { row_counts, schema }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_name_is_replaced() {
        let cases = [
            (
                "postgres://postgres@127.0.0.1:5432/postgres",
                "postgres://postgres@127.0.0.1:5432/t1",
            ),
            (
                "postgres://u:p@host/db?sslmode=disable",
                "postgres://u:p@host/t1?sslmode=disable",
            ),
            ("postgres://u@host:5", "postgres://u@host:5/t1"),
            (
                "postgresql://u@host:5/?application_name=x",
                "postgresql://u@host:5/t1?application_name=x",
            ),
        ];
        for (url, want) in cases {
            assert_eq!(with_database(url, "t1"), want, "{url}");
        }
    }

    #[test]
    fn passwords_are_not_shown() {
        assert_eq!(redact("postgres://u:secret@h:1/d"), "postgres://u@h:1/d");
        assert_eq!(redact("postgres://u@h:1/d"), "postgres://u@h:1/d");
    }
}
