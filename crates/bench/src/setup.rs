//! Where a benchmark's database and keys live, and how they are opened: the same key files the
//! hub reads (`[keys]` and `auth.key_file`), kept in the data directory so a dataset seeded once
//! can be measured many times.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use sea_orm::{ConnectionTrait, Database};
use server::Config;
use server::auth::AuthKeys;
use store::{Db, DbConfig};

/// The database and the key files of one dataset.
#[derive(Clone, Debug)]
pub struct Target {
    pub data_dir: PathBuf,
    pub database_url: String,
}

impl Target {
    pub fn new(data_dir: PathBuf, database_url: Option<String>) -> anyhow::Result<Target> {
        std::fs::create_dir_all(&data_dir)
            .with_context(|| format!("cannot create {}", data_dir.display()))?;
        let database_url = database_url
            .unwrap_or_else(|| format!("sqlite://{}", data_dir.join("bench.sqlite").display()));
        Ok(Target {
            data_dir,
            database_url,
        })
    }

    pub fn is_postgres(&self) -> bool {
        self.database_url.starts_with("postgres")
    }

    /// `sqlite` or `postgresql`, for the report.
    pub fn database_label(&self) -> &'static str {
        if self.is_postgres() {
            "PostgreSQL"
        } else {
            "SQLite"
        }
    }

    pub fn keys_file(&self) -> PathBuf {
        self.data_dir.join("keys")
    }

    pub fn auth_keys_file(&self) -> PathBuf {
        self.data_dir.join("auth-keys")
    }

    /// Where the seed records what it did, per database.
    pub fn seed_record(&self) -> PathBuf {
        let name = if self.is_postgres() {
            "seed-postgresql.json"
        } else {
            "seed-sqlite.json"
        };
        self.data_dir.join(name)
    }

    /// Creates the key files when missing (development-style keys for a benchmark dataset).
    pub fn ensure_keys(&self) -> anyhow::Result<()> {
        if !self.keys_file().exists() {
            crypto::generate_key_file(&self.keys_file()).context("cannot create the key file")?;
        }
        if !self.auth_keys_file().exists() {
            AuthKeys::create(&self.auth_keys_file())
                .map_err(|error| anyhow::anyhow!("cannot create the auth key file: {error}"))?;
        }
        Ok(())
    }

    /// The hub's configuration for this dataset: the test profile (loopback, free port) with our
    /// database and key files, and the rate limits (`[rate_limit]`) raised out of the way: one
    /// load generator on one address and one partner system is exactly what they refuse, and the
    /// benchmark measures the request path, not the limiter (whose check stays on the path).
    pub fn hub_config(&self) -> Config {
        let mut config = Config::for_tests(self.database_url.clone());
        config.keys.file = self.keys_file();
        config.auth.key_file = self.auth_keys_file();
        let unlimited = std::num::NonZeroU32::MAX;
        config.rate_limit.source_per_minute = unlimited;
        config.rate_limit.source_burst = unlimited;
        config.rate_limit.caller_per_minute = unlimited;
        config.rate_limit.caller_burst = unlimited;
        config
    }

    pub fn db_config(&self, max_connections: u32) -> DbConfig {
        DbConfig {
            url: self.database_url.clone(),
            max_connections,
            timeout_seconds: 30,
            migrate_on_start: true,
        }
    }

    pub async fn open(&self, max_connections: u32) -> anyhow::Result<Db> {
        Db::connect(&self.db_config(max_connections))
            .await
            .with_context(|| format!("cannot open {}", self.database_label()))
    }

    /// Removes the dataset: deletes the SQLite file (and its WAL), or drops and recreates the
    /// PostgreSQL database (connecting to the server's `postgres` database to do it).
    pub async fn recreate(&self) -> anyhow::Result<()> {
        if self.is_postgres() {
            let (server, name) = split_pg_url(&self.database_url)?;
            let admin = Database::connect(format!("{server}/postgres"))
                .await
                .context("cannot reach the PostgreSQL server")?;
            admin
                .execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                .await?;
            admin
                .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
                .await?;
            admin.close().await?;
        } else {
            let path = self
                .database_url
                .trim_start_matches("sqlite://")
                .trim_start_matches("sqlite:");
            let path = path.split('?').next().unwrap_or(path);
            for suffix in ["", "-wal", "-shm"] {
                let file = format!("{path}{suffix}");
                if Path::new(&file).exists() {
                    std::fs::remove_file(&file).with_context(|| format!("cannot remove {file}"))?;
                }
            }
        }
        Ok(())
    }
}

/// `postgres://user@host:port/name?x` → (`postgres://user@host:port`, `name`).
fn split_pg_url(url: &str) -> anyhow::Result<(String, String)> {
    let without_query = url.split('?').next().unwrap_or(url);
    let Some((server, name)) = without_query.rsplit_once('/') else {
        bail!("a PostgreSQL URL names its database: postgres://USER@HOST:PORT/NAME");
    };
    if name.is_empty()
        || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        || server.ends_with('/')
    {
        bail!("the PostgreSQL database name must be letters, digits and '_'");
    }
    if name == "postgres" {
        bail!("use a database of its own for the benchmark (e.g. /wijkhub_bench), not /postgres");
    }
    Ok((server.to_owned(), name.to_owned()))
}
