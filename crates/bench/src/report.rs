//! The figures of one run and their Markdown table for `bench/RESULTS.md`. Every number printed
//! here was measured by this run (or by the seed run it names); targets are compared with them,
//! never typed in.

use std::fmt::Write as _;
use std::time::Duration;

use chrono::{DateTime, Utc};
use hdrhistogram::Histogram;

use crate::dataset::SeedRecord;
use crate::workloads::RunOptions;

#[derive(Clone, Debug)]
pub struct SideFigures {
    pub rps: f64,
    pub ok: u64,
    pub failed: u64,
    pub p50_us: u64,
    pub p99_us: u64,
    pub server_cpu_us: Option<f64>,
    /// Database statements run through the server's pool per request (its audit writer's too).
    pub statements_per_request: Option<f64>,
    /// Load generator CPU seconds per second (1.0 = its core saturated).
    pub loadgen_cpu_share: Option<f64>,
    pub first_error: Option<String>,
}

#[derive(Clone, Debug)]
pub struct PairRound {
    pub w1: SideFigures,
    pub w2: SideFigures,
}

#[derive(Clone, Debug)]
pub struct LatencyRow {
    pub p50_us: u64,
    pub p99_us: u64,
    pub p999_us: u64,
    pub max_us: u64,
}

impl LatencyRow {
    pub fn of(histogram: &Histogram<u64>) -> LatencyRow {
        LatencyRow {
            p50_us: histogram.value_at_quantile(0.5),
            p99_us: histogram.value_at_quantile(0.99),
            p999_us: histogram.value_at_quantile(0.999),
            max_us: histogram.max(),
        }
    }
}

#[derive(Clone, Debug)]
pub struct RateRow {
    pub workload: &'static str,
    pub rate: f64,
    pub achieved: f64,
    pub failed: u64,
    pub unsent: u64,
    /// From the due time (coordinated omission corrected).
    pub latency: LatencyRow,
    /// From the actual send.
    pub service: LatencyRow,
    pub first_error: Option<String>,
}

#[derive(Clone, Debug)]
pub struct QueryRow {
    pub name: &'static str,
    pub samples: Vec<Duration>,
    pub entries: u64,
    pub plan: Vec<String>,
}

impl QueryRow {
    pub fn new(name: &'static str) -> QueryRow {
        QueryRow {
            name,
            samples: Vec::new(),
            entries: 0,
            plan: Vec::new(),
        }
    }

    pub fn record(&mut self, elapsed: Duration, entries: u64) {
        self.samples.push(elapsed);
        self.entries = self.entries.max(entries);
    }

    fn quantile(&self, q: f64) -> f64 {
        let mut sorted = self.samples.clone();
        sorted.sort();
        if sorted.is_empty() {
            return 0.0;
        }
        let at = ((sorted.len() as f64 - 1.0) * q).round() as usize;
        sorted[at].as_secs_f64() * 1e3
    }
}

/// Everything one run measured.
#[derive(Clone, Debug)]
pub struct Figures {
    pub database: String,
    /// Durability settings as read from the database.
    pub settings: String,
    pub started_at: DateTime<Utc>,
    pub options: RunOptions,
    pub seed: Option<SeedRecord>,
    pub counts: Vec<(&'static str, i64)>,
    pub w2_decrypted: (usize, usize),
    pub w1_returned: (usize, usize),
    pub rounds: Vec<PairRound>,
    pub rates: Vec<RateRow>,
    /// (connections, figures).
    pub w3: Vec<(usize, SideFigures)>,
    pub queries: Vec<QueryRow>,
    /// Entries checked, seconds, chain intact, problems.
    pub verify: (u64, f64, bool, usize),
    /// Rows re-wrapped, seconds.
    pub rotation: Option<(u64, f64)>,
    pub rss_under_load: Option<f64>,
    /// The same, closed loop only (32 connections).
    pub rss_closed_loop: Option<f64>,
    /// VmRSS with both servers started, before any load.
    pub rss_idle: Option<f64>,
    pub fsyncs_per_request: Option<f64>,
    pub commits_per_request: Option<f64>,
    pub audit_checked: u64,
    pub audit_found: u64,
}

/// Median, min and max.
fn spread(values: &[f64]) -> (f64, f64, f64) {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    if sorted.is_empty() {
        return (0.0, 0.0, 0.0);
    }
    (
        sorted[sorted.len() / 2],
        sorted[0],
        sorted[sorted.len() - 1],
    )
}

fn ms(us: u64) -> String {
    format!("{:.2}", us as f64 / 1e3)
}

fn opt(value: Option<f64>, digits: usize) -> String {
    value.map_or_else(|| "n/a".to_owned(), |v| format!("{v:.digits$}"))
}

fn verdict(met: bool) -> &'static str {
    if met { "**met**" } else { "**missed**" }
}

/// Machine and source facts for the run header.
pub struct Environment {
    pub commit: String,
    pub cpu: String,
    pub cores: usize,
    pub profile: &'static str,
}

impl Environment {
    pub fn detect() -> Environment {
        let commit = std::process::Command::new("git")
            .args(["rev-parse", "--short=12", "HEAD"])
            .output()
            .ok()
            .filter(|out| out.status.success())
            .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_owned())
            .unwrap_or_else(|| "unknown".to_owned());
        let dirty = std::process::Command::new("git")
            .args(["status", "--porcelain", "--untracked-files=no"])
            .output()
            .ok()
            .is_some_and(|out| !out.stdout.is_empty());
        let cpu = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|text| {
                text.lines()
                    .find(|line| line.starts_with("model name"))
                    .and_then(|line| line.split(':').nth(1))
                    .map(|name| name.trim().to_owned())
            })
            .unwrap_or_else(|| "unknown CPU".to_owned());
        Environment {
            commit: if dirty {
                format!("{commit} (work tree with uncommitted changes)")
            } else {
                commit
            },
            cpu,
            cores: crate::sys::cores(),
            profile: if cfg!(debug_assertions) {
                "dev (unoptimised: figures not comparable)"
            } else {
                "release"
            },
        }
    }
}

/// The run as Markdown: one section with its tables.
pub fn markdown(figures: &Figures, env: &Environment) -> String {
    let mut out = String::new();
    let o = &figures.options;
    let _ = writeln!(
        out,
        "## Run of {} on {}\n",
        figures.started_at.format("%Y-%m-%d %H:%M UTC"),
        figures.database
    );
    let _ = writeln!(out, "| | |\n|---|---|");
    let _ = writeln!(out, "| machine | {} cores, {} |", env.cores, env.cpu);
    let _ = writeln!(
        out,
        "| date | {} |",
        figures.started_at.format("%Y-%m-%d %H:%M:%S UTC")
    );
    let _ = writeln!(out, "| git commit | {} |", env.commit);
    let _ = writeln!(out, "| build | {} |", env.profile);
    let _ = writeln!(
        out,
        "| database | {}: {} |",
        figures.database, figures.settings
    );
    let _ = writeln!(
        out,
        "| placement | servers (hub + bare schema, 1 tokio worker) pinned to core 0, load generator (hyper, {} connections closed loop, {} open loop) pinned to core {} |",
        o.connections,
        o.open_connections,
        env.cores.saturating_sub(1)
    );
    let _ = writeln!(
        out,
        "| durations | closed loop {} s per side per round after {} s warm-up, {} rounds interleaved W1 W2; open loop {} s per rate |",
        o.duration.as_secs_f64(),
        o.warmup.as_secs_f64(),
        o.rounds,
        o.rate_duration.as_secs_f64()
    );
    let counts = figures
        .counts
        .iter()
        .map(|(table, n)| format!("{table} {n}"))
        .collect::<Vec<_>>()
        .join(", ");
    let _ = writeln!(out, "| dataset (rows at the end of the run) | {counts} |");
    if let Some(seed) = &figures.seed {
        let _ = writeln!(
            out,
            "| seed | {} residents in {:.0} s; {} audit entries in {:.0} s through the writer ({} batches, largest {}, {} checkpoints) |",
            seed.residents,
            seed.residents_seconds,
            seed.audit_entries,
            seed.audit_seconds,
            seed.audit_batches,
            seed.audit_largest_batch,
            seed.audit_checkpoints
        );
    }
    let _ = writeln!(out);

    // W1 vs W2.
    let _ = writeln!(
        out,
        "### W1 bare vs W2 full, closed loop (`plan(id) {{ sections {{ content }} }}`)\n"
    );
    let _ = writeln!(
        out,
        "W1 returns {}/{} section contents (ciphertext, no controls); W2 returns {}/{} decrypted, the others denied by the policy, each answer audited.\n",
        figures.w1_returned.0,
        figures.w1_returned.1,
        figures.w2_decrypted.0,
        figures.w2_decrypted.1
    );
    let _ = writeln!(
        out,
        "| round | W1 req/s | W2 req/s | W2/W1 | server CPU µs/req (W1, W2) | statements/req (W1, W2) | W1 p50/p99 ms | W2 p50/p99 ms | load generator CPU (W1, W2) | failed (W1, W2) |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|---|---|---|");
    let mut ratios = Vec::new();
    for (index, round) in figures.rounds.iter().enumerate() {
        let ratio = round.w2.rps / round.w1.rps.max(1e-9);
        ratios.push(ratio);
        let _ = writeln!(
            out,
            "| {} | {:.0} | {:.0} | {:.3} | {}, {} | {}, {} | {} / {} | {} / {} | {} , {} | {}, {} |",
            index + 1,
            round.w1.rps,
            round.w2.rps,
            ratio,
            opt(round.w1.server_cpu_us, 1),
            opt(round.w2.server_cpu_us, 1),
            opt(round.w1.statements_per_request, 2),
            opt(round.w2.statements_per_request, 2),
            ms(round.w1.p50_us),
            ms(round.w1.p99_us),
            ms(round.w2.p50_us),
            ms(round.w2.p99_us),
            opt(round.w1.loadgen_cpu_share, 2),
            opt(round.w2.loadgen_cpu_share, 2),
            round.w1.failed,
            round.w2.failed,
        );
    }
    let w1 = spread(&figures.rounds.iter().map(|r| r.w1.rps).collect::<Vec<_>>());
    let w2 = spread(&figures.rounds.iter().map(|r| r.w2.rps).collect::<Vec<_>>());
    let ratio = spread(&ratios);
    let _ = writeln!(
        out,
        "| **median** (min–max) | **{:.0}** ({:.0}–{:.0}) | **{:.0}** ({:.0}–{:.0}) | **{:.3}** ({:.3}–{:.3}) | | | | | | |\n",
        w1.0, w1.1, w1.2, w2.0, w2.1, w2.2, ratio.0, ratio.1, ratio.2
    );
    for round in &figures.rounds {
        for (name, side) in [("W1", &round.w1), ("W2", &round.w2)] {
            if let Some(error) = &side.first_error {
                let _ = writeln!(out, "- first {name} failure: `{}`", error.replace('`', "'"));
            }
        }
    }
    let _ = writeln!(
        out,
        "- audit entry committed before the answer: {} of {} sampled W2 answers (every {}th, looked up by `x-request-id` on another connection as soon as the answer arrived)",
        figures.audit_found, figures.audit_checked, o.audit_sample_every
    );
    if let Some(commits) = figures.commits_per_request {
        let _ = writeln!(
            out,
            "- PostgreSQL transactions committed per W2 request: {commits:.3}; WAL fsyncs per request: {}",
            opt(figures.fsyncs_per_request, 3)
        );
    } else {
        let _ = writeln!(
            out,
            "- fsync + fdatasync calls per W2 request (this process, `perf stat` on the syscall tracepoints, last round): {}",
            opt(figures.fsyncs_per_request, 3)
        );
    }
    let _ = writeln!(
        out,
        "- resident memory (VmRSS, whole process: hub, bare schema, load generator, their pools), max under W2 load: {} MiB (closed loop only: {} MiB); with both servers started, before load: {} MiB\n",
        opt(figures.rss_under_load, 1),
        opt(figures.rss_closed_loop, 1),
        opt(figures.rss_idle, 1)
    );

    // Open loop.
    let _ = writeln!(
        out,
        "### Open loop at fixed rates (latency from the due time: coordinated omission corrected)\n"
    );
    let _ = writeln!(
        out,
        "| workload | rate req/s | achieved req/s | p50 ms | p99 ms | p99.9 ms | max ms | service p50 / p99 ms | failed | never sent (server too far behind) |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|---|---|---|");
    for row in &figures.rates {
        if row.achieved == 0.0 {
            let _ = writeln!(
                out,
                "| {} | {:.0} | 0 | — | — | — | — | — | {} | {} |",
                row.workload, row.rate, row.failed, row.unsent
            );
            continue;
        }
        let _ = writeln!(
            out,
            "| {} | {:.0} | {:.0} | {} | {} | {} | {} | {} / {} | {} | {} |",
            row.workload,
            row.rate,
            row.achieved,
            ms(row.latency.p50_us),
            ms(row.latency.p99_us),
            ms(row.latency.p999_us),
            ms(row.latency.max_us),
            ms(row.service.p50_us),
            ms(row.service.p99_us),
            row.failed,
            row.unsent
        );
    }
    for row in &figures.rates {
        if let Some(error) = &row.first_error {
            let _ = writeln!(
                out,
                "- first {} failure at {:.0} req/s: `{}`",
                row.workload,
                row.rate,
                error.replace('`', "'")
            );
        }
    }
    let _ = writeln!(out);

    // W3.
    let _ = writeln!(
        out,
        "### W3 writes (`writeSection`, a new sealed revision each, audited)\n"
    );
    let _ = writeln!(
        out,
        "| connections | req/s | p50 ms | p99 ms (closed loop) | server CPU µs/req | statements/req | failed |\n|---|---|---|---|---|---|---|"
    );
    for (connections, w3) in &figures.w3 {
        let _ = writeln!(
            out,
            "| {connections} | {:.0} | {} | {} | {} | {} | {} |",
            w3.rps,
            ms(w3.p50_us),
            ms(w3.p99_us),
            opt(w3.server_cpu_us, 1),
            opt(w3.statements_per_request, 2),
            w3.failed
        );
    }
    for (connections, w3) in &figures.w3 {
        if let Some(error) = &w3.first_error {
            let _ = writeln!(
                out,
                "\n- first W3 failure with {connections} connections: `{}`",
                error.replace('`', "'")
            );
        }
    }
    let _ = writeln!(out);

    // W4.
    let _ = writeln!(
        out,
        "### W4 the privacy officer (audit crate `query.rs`, in process, one after another)\n"
    );
    let _ = writeln!(
        out,
        "| query | runs | entries (max) | p50 ms | p99 ms | max ms | database plan |\n|---|---|---|---|---|---|---|"
    );
    for row in &figures.queries {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {:.2} | {:.2} | {:.2} | {} |",
            row.name,
            row.samples.len(),
            row.entries,
            row.quantile(0.5),
            row.quantile(0.99),
            row.quantile(1.0),
            if row.plan.is_empty() {
                "(as above)".to_owned()
            } else {
                format!("`{}`", row.plan.join("; ").replace('|', "\\|"))
            }
        );
    }
    let _ = writeln!(out);

    // W5.
    let (entries, seconds, intact, problems) = figures.verify;
    let _ = writeln!(out, "### W5 audit verify and key rotation\n");
    let _ = writeln!(
        out,
        "| operation | amount | seconds | rate |\n|---|---|---|---|"
    );
    let _ = writeln!(
        out,
        "| `audit::verify` (every chain, leaf hashes, checkpoint signatures and consistency) | {entries} entries, {} | {seconds:.2} | {:.0} entries/s |",
        if intact {
            "intact".to_owned()
        } else {
            format!("{problems} problems")
        },
        entries as f64 / seconds.max(1e-9)
    );
    if let Some((rows, seconds)) = figures.rotation {
        let _ = writeln!(
            out,
            "| KEK rotation: re-wrap every data key (`store::rekey::rewrap_batch`, 1000 per transaction) | {rows} data keys | {seconds:.2} | {:.0} keys/s |",
            rows as f64 / seconds.max(1e-9)
        );
    }
    let _ = writeln!(out);

    // Targets.
    let _ = writeln!(out, "### Targets of issue 10\n");
    let _ = writeln!(out, "| target | measured | |\n|---|---|---|");
    let sqlite = figures.database == "SQLite";
    if sqlite {
        let _ = writeln!(
            out,
            "| W2 ≥ 0.75 × W1 (SQLite, same run) | {:.3} (median of {} rounds) | {} |",
            ratio.0,
            ratios.len(),
            verdict(ratio.0 >= 0.75)
        );
        if let Some(row) = figures
            .rates
            .iter()
            .find(|row| row.workload == "W2" && (row.rate - 5000.0).abs() < 1.0)
        {
            let met =
                row.latency.p99_us <= 2000 && row.failed == 0 && row.achieved >= 0.95 * row.rate;
            let measured = if row.achieved == 0.0 {
                format!(
                    "no request of the measured window was answered: {} of the due requests never sent",
                    row.unsent
                )
            } else {
                format!(
                    "{} ms (achieved {:.0} req/s, {} never sent)",
                    ms(row.latency.p99_us),
                    row.achieved,
                    row.unsent
                )
            };
            let _ = writeln!(
                out,
                "| W2 p99 ≤ 2 ms at 5,000 req/s | {measured} | {} |",
                verdict(met)
            );
        }
    } else {
        let _ = writeln!(
            out,
            "| W2 ≥ 10,000 req/s on PostgreSQL | {:.0} (median) | {} |",
            w2.0,
            verdict(w2.0 >= 10_000.0)
        );
    }
    let _ = writeln!(
        out,
        "| every sampled W2 answer audited before it left | {}/{} | {} |",
        figures.audit_found,
        figures.audit_checked,
        verdict(figures.audit_checked > 0 && figures.audit_found == figures.audit_checked)
    );
    if let Some(row) = figures.queries.first() {
        let audit_rows = figures
            .counts
            .iter()
            .find(|(table, _)| *table == "audit_entries")
            .map_or(0, |(_, n)| *n);
        let _ = writeln!(
            out,
            "| W4 access report p99 ≤ 20 ms (issue: at 10 M entries; here at {audit_rows}) | {:.2} ms | {} |",
            row.quantile(0.99),
            verdict(row.quantile(0.99) <= 20.0)
        );
    }
    let verify_rate = entries as f64 / seconds.max(1e-9);
    let _ = writeln!(
        out,
        "| W5 `audit verify` ≥ 500,000 entries/s | {verify_rate:.0} entries/s | {} |",
        verdict(verify_rate >= 500_000.0 && intact)
    );
    if let Some((rows, seconds)) = figures.rotation {
        let _ = writeln!(
            out,
            "| W5 rotation of 30,000 data keys < 1 min | {rows} keys in {seconds:.1} s | {} |",
            verdict(
                rows >= 30_000 && seconds < 60.0
                    || rows < 30_000 && seconds * 30_000.0 / (rows.max(1) as f64) < 60.0
            )
        );
    }
    if let Some(rss) = figures.rss_under_load {
        let _ = writeln!(
            out,
            "| resident memory under load < 200 MB | {rss:.0} MiB | {} |",
            verdict(rss * 1.048_576 < 200.0)
        );
    }
    let _ = writeln!(out);
    out
}
