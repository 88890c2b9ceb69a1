//! `wijkhub-bench`: the price of privacy, measured (issue 10). Seeds a municipality-sized
//! dataset through the hub's own store, crypto and audit writer, then measures the real hub (W2)
//! against a bare GraphQL schema over the same tables (W1) in the same run, writes (W3), the
//! privacy officer's queries (W4), audit verification and key rotation (W5), and writes one
//! table per run to `bench/RESULTS.md`. See `bench/README.md`.
//!
//! A benchmark, not a test: it asserts no timing. It must never run against a database holding
//! real residents (`seed` drops the database it is given).

mod bare;
mod dataset;
mod load;
mod report;
mod rng;
mod setup;
mod sys;
mod workloads;

use std::io::Write as _;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::{Args, Parser, Subcommand};

use crate::setup::Target;
use crate::workloads::RunOptions;

#[derive(Parser)]
#[command(
    name = "wijkhub-bench",
    about = "Benchmarks of wijkhub (issue 10); see bench/README.md"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Seed a fresh dataset (drops the database first): residents, plans, consents, care
    /// relations, and audit entries over the past year.
    Seed {
        #[command(flatten)]
        target: TargetArgs,
        /// Residents (each with a plan of 8 sections).
        #[arg(long, default_value_t = 30_000)]
        residents: usize,
        /// Audit entries, spread over the past year.
        #[arg(long, default_value_t = 1_000_000)]
        audit_entries: usize,
    },
    /// Run every workload against the seeded dataset and append a table to the results file.
    Run {
        #[command(flatten)]
        target: TargetArgs,
        #[command(flatten)]
        load: LoadArgs,
        /// Results file to append the run's table to.
        #[arg(long, default_value = "bench/RESULTS.md")]
        results: PathBuf,
        /// Print the table only; do not touch the results file.
        #[arg(long)]
        no_write: bool,
    },
    /// A few seconds of everything on a tiny dataset (dev profile is fine): seed, every
    /// workload once, no timing assertions. For CI, so the benchmark cannot rot.
    Smoke {
        /// Database to use (default: a SQLite file in a fresh temporary directory).
        #[arg(long, env = "WIJKHUB_BENCH_DATABASE_URL")]
        database_url: Option<String>,
    },
}

#[derive(Args)]
struct TargetArgs {
    /// `sqlite://PATH` or `postgres://USER@HOST:PORT/NAME` (default: SQLite in the data dir).
    #[arg(long)]
    database_url: Option<String>,
    /// Where the key files (and the default SQLite file) live.
    #[arg(long, default_value = "target/bench-data")]
    data_dir: PathBuf,
}

impl TargetArgs {
    fn target(self) -> anyhow::Result<Target> {
        Target::new(self.data_dir, self.database_url)
    }
}

#[derive(Args)]
struct LoadArgs {
    /// Seconds per closed-loop measurement (each side, each round).
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Seconds of warm-up before each measurement.
    #[arg(long, default_value_t = 2.0)]
    warmup: f64,
    /// Concurrent connections in the closed loop.
    #[arg(long, default_value_t = 32)]
    connections: usize,
    /// Interleaved W1/W2 rounds.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Open-loop rates, requests per second.
    #[arg(long, value_delimiter = ',', default_value = "1000,2500,5000")]
    rates: Vec<f64>,
    /// Seconds per open-loop rate.
    #[arg(long, default_value_t = 10.0)]
    rate_duration: f64,
    /// Connections available to the open loop (requests outstanding at most).
    #[arg(long, default_value_t = 128)]
    open_connections: usize,
    /// Runs of each privacy-officer query.
    #[arg(long, default_value_t = 200)]
    query_iterations: usize,
    /// Do not rotate the data keys (rotation adds a KEK version to the key file).
    #[arg(long)]
    skip_rotation: bool,
}

impl LoadArgs {
    fn options(&self) -> RunOptions {
        RunOptions {
            duration: Duration::from_secs_f64(self.duration),
            warmup: Duration::from_secs_f64(self.warmup),
            connections: self.connections.max(1),
            rounds: self.rounds.max(1),
            rates: self.rates.clone(),
            rate_duration: Duration::from_secs_f64(self.rate_duration),
            open_connections: self.open_connections.max(1),
            query_iterations: self.query_iterations.max(1),
            audit_sample_every: 500,
            skip_rotation: self.skip_rotation,
        }
    }
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    // Everything but the load generator on the first core; the load generator pins itself to
    // the last. Threads inherit the mask, so the runtime's and the database driver's do too.
    let cores = sys::cores();
    if cores > 1 {
        sys::pin_to(0);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("bench-server")
        .enable_all()
        .build()
        .context("cannot start the runtime")?;
    runtime.block_on(async_main(cli))
}

async fn async_main(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Seed {
            target,
            residents,
            audit_entries,
        } => {
            let target = target.target()?;
            let started = Instant::now();
            let record = dataset::seed(&target, residents, audit_entries, false).await?;
            println!(
                "seeded {} on {}: {} residents, {} sections, {} revisions, {} consents, {} care relations, {} audit entries in {} batches ({:.0} s)",
                target.data_dir.display(),
                record.database,
                record.residents,
                record.sections,
                record.revisions,
                record.consents,
                record.care_relations,
                record.audit_entries,
                record.audit_batches,
                started.elapsed().as_secs_f64()
            );
            Ok(())
        }
        Command::Run {
            target,
            load,
            results,
            no_write,
        } => {
            let target = target.target()?;
            let figures = workloads::run(&target, &load.options(), false).await?;
            let table = report::markdown(&figures, &report::Environment::detect());
            println!("{table}");
            if !no_write {
                append(&results, &table)?;
                eprintln!("bench: appended to {}", results.display());
            }
            Ok(())
        }
        Command::Smoke { database_url } => smoke(database_url).await,
    }
}

const RESULTS_HEADER: &str = "# Benchmark results\n\nWritten by `cargo run -p wijkhub-bench --release -- run` (see [README.md](README.md)): one section per\nrun, newest last. Every figure below was measured by the program in that run.\n\n";

fn append(path: &PathBuf, table: &str) -> anyhow::Result<()> {
    let exists = path.exists();
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("cannot open {}", path.display()))?;
    if !exists {
        file.write_all(RESULTS_HEADER.as_bytes())?;
    }
    file.write_all(table.as_bytes())?;
    Ok(())
}

/// Seed a tiny dataset in a temporary directory and run every workload once, briefly.
async fn smoke(database_url: Option<String>) -> anyhow::Result<()> {
    let started = Instant::now();
    let dir = std::env::temp_dir().join(format!("wijkhub-bench-smoke-{}", uuid::Uuid::new_v4()));
    let target = Target::new(dir.clone(), database_url)?;
    let record = dataset::seed(&target, 60, 3_000, true).await?;
    eprintln!(
        "smoke: seeded {} residents and {} audit entries",
        record.residents, record.audit_entries
    );
    let options = RunOptions {
        duration: Duration::from_millis(700),
        warmup: Duration::from_millis(200),
        connections: 4,
        rounds: 1,
        rates: vec![20.0],
        rate_duration: Duration::from_millis(700),
        open_connections: 8,
        query_iterations: 3,
        audit_sample_every: 10,
        skip_rotation: false,
    };
    let figures = workloads::run(&target, &options, true).await?;
    let table = report::markdown(&figures, &report::Environment::detect());
    let problems = smoke_problems(&figures);
    let _ = std::fs::remove_dir_all(&dir);
    println!("{table}");
    if !problems.is_empty() {
        anyhow::bail!("smoke run found problems: {}", problems.join("; "));
    }
    println!(
        "smoke: every workload ran ({:.1} s): W1 {:.0} req/s, W2 {:.0} req/s, W3 {:.0} req/s, {} audit samples committed, verify intact over {} entries",
        started.elapsed().as_secs_f64(),
        figures.rounds[0].w1.rps,
        figures.rounds[0].w2.rps,
        figures.w3.last().map_or(0.0, |(_, w3)| w3.rps),
        figures.audit_found,
        figures.verify.0
    );
    Ok(())
}

/// What must hold in any run, however slow: answers, audit entries, an intact log.
fn smoke_problems(figures: &report::Figures) -> Vec<String> {
    let mut problems = Vec::new();
    for round in &figures.rounds {
        if round.w1.ok == 0 || round.w1.failed > 0 {
            problems.push(format!(
                "W1: {} ok, {} failed",
                round.w1.ok, round.w1.failed
            ));
        }
        if round.w2.ok == 0 || round.w2.failed > 0 {
            problems.push(format!(
                "W2: {} ok, {} failed",
                round.w2.ok, round.w2.failed
            ));
        }
    }
    for row in &figures.rates {
        if row.failed > 0 || row.achieved == 0.0 {
            problems.push(format!("open loop {}: {} failed", row.workload, row.failed));
        }
    }
    for (connections, w3) in &figures.w3 {
        if w3.ok == 0 || w3.failed > 0 {
            problems.push(format!(
                "W3 with {connections} connections: {} ok, {} failed",
                w3.ok, w3.failed
            ));
        }
    }
    if figures.w2_decrypted.0 == 0 {
        problems.push("W2 decrypted no section".to_owned());
    }
    if figures.audit_found != figures.audit_checked {
        problems.push(format!(
            "{} of {} sampled answers had no audit entry",
            figures.audit_checked - figures.audit_found,
            figures.audit_checked
        ));
    }
    if !figures.verify.2 {
        problems.push(format!("audit verify found {} problems", figures.verify.3));
    }
    if figures.queries.iter().any(|row| row.samples.is_empty()) {
        problems.push("a W4 query did not run".to_owned());
    }
    problems
}
