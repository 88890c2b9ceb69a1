//! `run`: every workload of issue 10 against a seeded dataset, in one process, one run.
//!
//! The servers (the real hub for W2/W3 and the bare schema for W1) run on the runtime pinned to
//! the first core; the load generator on its own thread pinned to the last. W1 and W2 are measured
//! interleaved (W1 W2 W1 W2 …) so both see the same machine, and reported as medians with min
//! and max. W4 and W5 run in-process through the audit and store crates.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use audit::{AuditFilter, VerifierKey};
use base64::Engine;
use bytes::Bytes;
use chrono::{Duration as ChronoDuration, Utc};
use domain::{OrganisationId, ResidentId};
use http_body_util::{BodyExt, Full};
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HOST, HeaderName, HeaderValue};
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, QueryFilter, QuerySelect, Statement,
};
use secrecy::ExposeSecret;
use server::App;
use store::Db;
use store::entity::{consents, organisations, plans, sections};
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

use crate::bare::BareServer;
use crate::dataset::{READER_CLIENT, READER_ORGANISATION, WRITER_CLIENT};
use crate::load::{self, Outcome, Requests, Sample, Target as LoadTarget};
use crate::report::{Figures, LatencyRow, PairRound, QueryRow, RateRow, SideFigures};
use crate::setup::Target;
use crate::sys;

pub const READ_QUERY: &str = "query($id: ID!) { plan(id: $id) { sections { content } } }";

/// How long and how hard.
#[derive(Clone, Debug)]
pub struct RunOptions {
    pub duration: Duration,
    pub warmup: Duration,
    pub connections: usize,
    pub rounds: usize,
    pub rates: Vec<f64>,
    pub rate_duration: Duration,
    pub open_connections: usize,
    pub query_iterations: usize,
    /// Check every n-th W2 answer's audit entry by request id.
    pub audit_sample_every: u64,
    /// Skip the rotation of every data key (it changes the key file).
    pub skip_rotation: bool,
}

/// Plans the reading partner may read (3 sections under its consent), with their resident.
async fn reader_plans(db: &Db, limit: usize) -> anyhow::Result<Vec<(Uuid, Uuid)>> {
    let reader = organisations::Entity::find()
        .filter(organisations::Column::Name.eq(READER_ORGANISATION))
        .one(db.conn())
        .await?
        .ok_or_else(|| anyhow!("the reading partner is missing: seed first"))?;
    // The seeded residents who consented to the reader for exactly story, goals and agreements
    // (the demo's own residents have other consents and fewer sections).
    let consents: Vec<(Uuid, serde_json::Value)> = consents::Entity::find()
        .select_only()
        .column(consents::Column::ResidentId)
        .column(consents::Column::Categories)
        .filter(consents::Column::GranteeOrganisationId.eq(reader.id))
        .filter(consents::Column::WithdrawnAt.is_null())
        .into_tuple()
        .all(db.conn())
        .await?;
    let wanted = serde_json::json!(["story", "goals", "agreements"]);
    let residents: Vec<Uuid> = consents
        .into_iter()
        .filter(|(_, categories)| *categories == wanted)
        .map(|(resident, _)| resident)
        .take(limit)
        .collect();
    let mut found = Vec::with_capacity(residents.len());
    for chunk in residents.chunks(1000) {
        let rows: Vec<(Uuid, Uuid)> = plans::Entity::find()
            .select_only()
            .column(plans::Column::Id)
            .column(plans::Column::ResidentId)
            .filter(plans::Column::ResidentId.is_in(chunk.to_vec()))
            .into_tuple()
            .all(db.conn())
            .await?;
        found.extend(rows);
    }
    if found.is_empty() {
        bail!("no plans shared with {READER_ORGANISATION}: seed first");
    }
    Ok(found)
}

/// Plans with the current revision of their `actions` section, for W3.
async fn writable_plans(db: &Db, plans: &[(Uuid, Uuid)]) -> anyhow::Result<Vec<(Uuid, i64)>> {
    let ids: Vec<Uuid> = plans.iter().map(|(plan, _)| *plan).collect();
    let mut found = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(1000) {
        let rows: Vec<(Uuid, i64)> = sections::Entity::find()
            .select_only()
            .column(sections::Column::PlanId)
            .column(sections::Column::CurrentRevision)
            .filter(sections::Column::PlanId.is_in(chunk.to_vec()))
            .filter(sections::Column::Category.eq("actions"))
            .into_tuple()
            .all(db.conn())
            .await?;
        found.extend(rows);
    }
    Ok(found)
}

/// A one-off request outside the load generator (token, validation).
async fn one_request(
    addr: std::net::SocketAddr,
    path: &str,
    headers: &[(HeaderName, HeaderValue)],
    content_type: &str,
    body: String,
) -> anyhow::Result<(u16, Bytes)> {
    let stream = tokio::net::TcpStream::connect(addr).await?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    let mut request = Request::builder()
        .method(Method::POST)
        .uri(path)
        .header(HOST, "127.0.0.1")
        .header(CONTENT_TYPE, content_type);
    for (name, value) in headers {
        request = request.header(name, value);
    }
    let response = sender
        .send_request(request.body(Full::new(Bytes::from(body)))?)
        .await?;
    let status = response.status().as_u16();
    let body = response.into_body().collect().await?.to_bytes();
    Ok((status, body))
}

/// A bearer token for a partner system, from the hub's own `/oauth/token`.
async fn token(
    addr: std::net::SocketAddr,
    client_id: &str,
    secret: &str,
) -> anyhow::Result<String> {
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{client_id}:{secret}"));
    let (status, body) = one_request(
        addr,
        "/oauth/token",
        &[(
            AUTHORIZATION,
            HeaderValue::from_str(&format!("Basic {basic}"))?,
        )],
        "application/x-www-form-urlencoded",
        "grant_type=client_credentials".to_owned(),
    )
    .await?;
    if status != 200 {
        bail!(
            "the token endpoint answered {status}: {}",
            String::from_utf8_lossy(&body)
        );
    }
    let value: serde_json::Value = serde_json::from_slice(&body)?;
    value["access_token"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| anyhow!("no access_token in the token answer"))
}

fn read_bodies(plans: &[(Uuid, Uuid)]) -> (Vec<Bytes>, Vec<Uuid>) {
    plans
        .iter()
        .map(|(plan, resident)| {
            let body =
                serde_json::json!({ "query": READ_QUERY, "variables": { "id": plan.to_string() } });
            (Bytes::from(body.to_string()), *resident)
        })
        .unzip()
}

/// Counts granted (non-null) contents in a `plan { sections { content } }` answer.
fn contents_in(body: &[u8]) -> anyhow::Result<(usize, usize)> {
    let value: serde_json::Value = serde_json::from_slice(body)?;
    if value.get("errors").is_some() {
        bail!("GraphQL errors: {value}");
    }
    let sections = value["data"]["plan"]["sections"]
        .as_array()
        .ok_or_else(|| anyhow!("no sections in {value}"))?;
    let granted = sections.iter().filter(|s| !s["content"].is_null()).count();
    Ok((granted, sections.len()))
}

/// Samples the largest resident memory while a phase runs.
struct RssSampler {
    max_kib: Arc<AtomicU64>,
    stop: Option<oneshot::Sender<()>>,
}

impl RssSampler {
    fn start() -> RssSampler {
        let max_kib = Arc::new(AtomicU64::new(0));
        let (stop, mut stopped) = oneshot::channel();
        let max = max_kib.clone();
        tokio::spawn(async move {
            loop {
                if let Some(mib) = sys::rss_mib() {
                    max.fetch_max((mib * 1024.0) as u64, Ordering::Relaxed);
                }
                tokio::select! {
                    _ = &mut stopped => break,
                    () = tokio::time::sleep(Duration::from_millis(100)) => {}
                }
            }
        });
        RssSampler {
            max_kib,
            stop: Some(stop),
        }
    }

    fn finish(mut self) -> Option<f64> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let kib = self.max_kib.load(Ordering::Relaxed);
        (kib > 0).then(|| kib as f64 / 1024.0)
    }
}

/// Checks sampled W2 answers as they arrive: the audit entry with the answer's request id is
/// already committed (visible to another connection) when the answer has been received.
fn start_audit_checker(
    db: Db,
) -> (
    mpsc::UnboundedSender<Sample>,
    tokio::task::JoinHandle<(u64, u64)>,
) {
    let (tx, mut rx) = mpsc::unbounded_channel::<Sample>();
    let handle = tokio::spawn(async move {
        let (mut checked, mut found) = (0u64, 0u64);
        let backend = db.conn().get_database_backend();
        let sql = match backend {
            DbBackend::Postgres => {
                "SELECT COUNT(*) AS n FROM audit_entries WHERE resident_id = $1 AND request_id = $2"
            }
            _ => "SELECT COUNT(*) AS n FROM audit_entries WHERE resident_id = ? AND request_id = ?",
        };
        while let Some(sample) = rx.recv().await {
            checked += 1;
            let statement = Statement::from_sql_and_values(
                backend,
                sql,
                [sample.resident.into(), sample.request_id.into()],
            );
            if let Ok(Some(row)) = db.conn().query_one_raw(statement).await
                && row.try_get::<i64>("", "n").unwrap_or(0) >= 1
            {
                found += 1;
            }
        }
        (checked, found)
    });
    (tx, handle)
}

/// PostgreSQL's own counters: transactions committed in this database and WAL syncs.
async fn pg_counters(db: &Db) -> anyhow::Result<(i64, i64)> {
    let backend = db.conn().get_database_backend();
    db.conn()
        .execute_unprepared("SELECT pg_stat_clear_snapshot()")
        .await?;
    let row = db
        .conn()
        .query_one_raw(Statement::from_string(
            backend,
            "SELECT (SELECT xact_commit FROM pg_stat_database WHERE datname = current_database())::bigint AS commits, \
             (SELECT wal_sync FROM pg_stat_wal)::bigint AS syncs",
        ))
        .await?
        .ok_or_else(|| anyhow!("no pg_stat answer"))?;
    Ok((row.try_get("", "commits")?, row.try_get("", "syncs")?))
}

/// Closed loop with the CPU split between the servers and the load generator.
async fn closed_phase(
    target: Arc<LoadTarget>,
    options: &RunOptions,
) -> anyhow::Result<(Outcome, Option<f64>)> {
    let cpu_before = sys::process_cpu();
    let (connections, warmup, duration) = (options.connections, options.warmup, options.duration);
    let outcome =
        tokio::task::spawn_blocking(move || load::closed(target, connections, warmup, duration))
            .await??;
    let server_cpu = sys::process_cpu()
        .zip(cpu_before)
        .zip(outcome.loadgen_cpu_seconds)
        .map(|((after, before), loadgen)| (after - before - loadgen).max(0.0));
    // Over warm-up and measurement alike; per request of the measured window, an upper bound.
    let per_request = server_cpu.map(|cpu| cpu * 1e6 / outcome.ok.max(1) as f64);
    Ok((outcome, per_request))
}

fn side(outcome: &Outcome, cpu_us: Option<f64>, statements: Option<f64>) -> SideFigures {
    SideFigures {
        statements_per_request: statements,
        rps: outcome.rps(),
        ok: outcome.ok,
        failed: outcome.failed,
        p50_us: outcome.service.value_at_quantile(0.5),
        p99_us: outcome.service.value_at_quantile(0.99),
        server_cpu_us: cpu_us,
        loadgen_cpu_share: outcome
            .loadgen_cpu_seconds
            .map(|cpu| cpu / outcome.seconds.max(1e-9)),
        first_error: outcome.first_error.clone(),
    }
}

/// Runs every workload; returns the figures for the report.
pub async fn run(target: &Target, options: &RunOptions, quiet: bool) -> anyhow::Result<Figures> {
    let say = |text: &str| {
        if !quiet {
            eprintln!("bench: {text}");
        }
    };
    let config = target.hub_config();
    let started_at = Utc::now();
    let db = target.open(config.database.max_connections).await?;
    let seed: Option<crate::dataset::SeedRecord> = std::fs::read_to_string(target.seed_record())
        .ok()
        .and_then(|text| serde_json::from_str(&text).ok());

    // Partner-system secrets (rotated for this run) before the hub starts.
    let admin = server::auth::admin::Admin::open_with_db(&config, db.clone())
        .await
        .map_err(|error| anyhow!("cannot open the account admin: {error}"))?;
    let mut secrets = Vec::new();
    for client in [READER_CLIENT, WRITER_CLIENT] {
        let shown = admin
            .rotate_client_secret(client)
            .await
            .map_err(|error| anyhow!("cannot set a secret for {client}: {error}"))?;
        let secret = shown
            .secret
            .ok_or_else(|| anyhow!("no secret shown for {client}"))?;
        secrets.push(secret.expose_secret().to_owned());
    }
    admin
        .close()
        .await
        .map_err(|error| anyhow!("closing the account admin: {error}"))?;

    // The hub and the bare schema each on a pool of their own, counting their statements (the
    // audit writer's included) so the report can say what a request costs in round trips.
    let (hub_db, hub_statements) = target
        .open(config.database.max_connections)
        .await?
        .counting();
    let (bare_db, bare_statements) = target
        .open(config.database.max_connections)
        .await?
        .counting();
    let app = App::build_with_db(config.clone(), hub_db)
        .await
        .context("the hub does not start")?;
    let hub_addr = app.local_addr();
    let (stop_hub, hub_stopped) = oneshot::channel::<()>();
    let hub_task = tokio::spawn(app.run_until(async move {
        let _ = hub_stopped.await;
    }));
    let bare = BareServer::start(bare_db).await?;
    say(&format!("hub on {hub_addr}, bare schema on {}", bare.addr));
    let rss_idle = sys::rss_mib();

    let plans = reader_plans(&db, 5000).await?;
    let (bodies, residents) = read_bodies(&plans);
    let reader_token = token(hub_addr, READER_CLIENT, &secrets[0]).await?;
    let purpose = (
        HeaderName::from_static("wijkhub-purpose"),
        HeaderValue::from_static("support"),
    );
    let reader_headers = vec![
        (
            AUTHORIZATION,
            HeaderValue::from_str(&format!("Bearer {reader_token}"))?,
        ),
        purpose.clone(),
    ];

    // Both answer the same query for the same plan; the hub with 3 sections decrypted.
    let (status, body) = one_request(
        hub_addr,
        "/graphql",
        &reader_headers,
        "application/json",
        String::from_utf8_lossy(&bodies[0]).into_owned(),
    )
    .await?;
    if status != 200 {
        bail!("W2 answered {status}");
    }
    let (w2_granted, w2_sections) = contents_in(&body)?;
    let (_, body) = one_request(
        bare.addr,
        "/graphql",
        &[],
        "application/json",
        String::from_utf8_lossy(&bodies[0]).into_owned(),
    )
    .await?;
    let (w1_granted, w1_sections) = contents_in(&body)?;
    say(&format!(
        "W1 returns {w1_granted}/{w1_sections} contents, W2 {w2_granted}/{w2_sections} (decrypted)"
    ));

    let w1 = Arc::new(LoadTarget {
        addr: bare.addr,
        headers: Vec::new(),
        requests: Requests::Reads {
            bodies: bodies.clone(),
            residents: residents.clone(),
        },
        sample_every: 0,
        samples: None,
        answered: AtomicU64::new(0),
    });
    let checker_db = target.open(2).await?;
    let (samples, checker) = start_audit_checker(checker_db.clone());
    let w2 = Arc::new(LoadTarget {
        addr: hub_addr,
        headers: reader_headers.clone(),
        requests: Requests::Reads { bodies, residents },
        sample_every: options.audit_sample_every,
        samples: Some(samples),
        answered: AtomicU64::new(0),
    });

    // Closed loop, interleaved.
    let mut rounds = Vec::new();
    let mut rss_under_load: Option<f64> = None;
    let mut fsyncs_per_request = None;
    let mut commits_per_request = None;
    for round in 0..options.rounds {
        say(&format!(
            "round {}/{}: W1 closed loop",
            round + 1,
            options.rounds
        ));
        let before = bare_statements.get();
        let (w1_outcome, w1_cpu) = closed_phase(w1.clone(), options).await?;
        let w1_statements = (bare_statements.get() - before) as f64 / w1_outcome.ok.max(1) as f64;
        say(&format!(
            "round {}/{}: W2 closed loop (W1: {:.0} req/s)",
            round + 1,
            options.rounds,
            w1_outcome.rps()
        ));
        let rss = RssSampler::start();
        let last = round + 1 == options.rounds;
        // On the last round, count fsyncs (SQLite: this process) or commits and WAL syncs
        // (PostgreSQL: the server's counters) over the measured window.
        let pg_before = if last && target.is_postgres() {
            Some(pg_counters(&checker_db).await?)
        } else {
            None
        };
        let perf = (last && !target.is_postgres()).then(|| {
            let delay = options.warmup;
            let window = options.duration.saturating_sub(Duration::from_millis(200));
            tokio::task::spawn_blocking(move || {
                std::thread::sleep(delay);
                sys::count_fsyncs(window).map(|n| (n, window))
            })
        });
        let before = hub_statements.get();
        let (w2_outcome, w2_cpu) = closed_phase(w2.clone(), options).await?;
        let w2_statements = (hub_statements.get() - before) as f64 / w2_outcome.ok.max(1) as f64;
        if let Some(perf) = perf
            && let Some((n, window)) = perf.await?
        {
            let requests = w2_outcome.rps() * window.as_secs_f64();
            fsyncs_per_request = Some(n as f64 / requests.max(1.0));
        }
        if let Some((commits_before, syncs_before)) = pg_before {
            // PostgreSQL publishes its counters within a second of the transaction.
            tokio::time::sleep(Duration::from_millis(1200)).await;
            let (commits, syncs) = pg_counters(&checker_db).await?;
            // Requests of warm-up and measurement both committed: count them all.
            let total =
                (w2_outcome.rps() * (options.duration + options.warmup).as_secs_f64()).max(1.0);
            commits_per_request = Some((commits - commits_before) as f64 / total);
            fsyncs_per_request = Some((syncs - syncs_before) as f64 / total);
        }
        rss_under_load = max_of(rss_under_load, rss.finish());
        // Warm-up requests ran statements too: per measured request, an upper bound.
        rounds.push(PairRound {
            w1: side(&w1_outcome, w1_cpu, Some(w1_statements)),
            w2: side(&w2_outcome, w2_cpu, Some(w2_statements)),
        });
    }

    let rss_closed_loop = rss_under_load;
    // Open loop at fixed rates.
    let mut rates = Vec::new();
    for &rate in &options.rates {
        for (name, which) in [("W1", &w1), ("W2", &w2)] {
            say(&format!("open loop {name} at {rate} req/s"));
            let rss = RssSampler::start();
            let (which, connections, warmup, duration) = (
                which.clone(),
                options.open_connections,
                options.warmup,
                options.rate_duration,
            );
            let outcome = tokio::task::spawn_blocking(move || {
                load::open(which, rate, connections, warmup, duration)
            })
            .await??;
            if name == "W2" {
                rss_under_load = max_of(rss_under_load, rss.finish());
            } else {
                rss.finish();
            }
            rates.push(RateRow {
                workload: name,
                rate,
                achieved: outcome.rps(),
                failed: outcome.failed,
                unsent: outcome.unsent,
                latency: LatencyRow::of(&outcome.latency),
                service: LatencyRow::of(&outcome.service),
                first_error: outcome.first_error.clone(),
            });
        }
    }
    drop(w2);
    let (audit_checked, audit_found) = checker.await?;

    // W3: writes.
    say("W3 writeSection closed loop");
    let writer_token = token(hub_addr, WRITER_CLIENT, &secrets[1]).await?;
    let mut write_plans = writable_plans(&db, &plans).await?;
    let write_headers = vec![
        (
            AUTHORIZATION,
            HeaderValue::from_str(&format!("Bearer {writer_token}"))?,
        ),
        purpose,
    ];
    // Fewer writers than pooled connections, then as many as the read loop uses.
    let mut w3 = Vec::new();
    for connections in [4.min(options.connections), options.connections] {
        let target = Arc::new(LoadTarget {
            addr: hub_addr,
            headers: write_headers.clone(),
            requests: Requests::Writes {
                plans: write_plans.clone(),
            },
            sample_every: 0,
            samples: None,
            answered: AtomicU64::new(0),
        });
        let phase = RunOptions {
            connections,
            ..options.clone()
        };
        let before = hub_statements.get();
        let (outcome, cpu) = closed_phase(target, &phase).await?;
        let statements = (hub_statements.get() - before) as f64 / outcome.ok.max(1) as f64;
        w3.push((connections, side(&outcome, cpu, Some(statements))));
        // Later writes must start from the revisions the database holds now.
        write_plans = writable_plans(&db, &plans).await?;
        if connections == options.connections {
            break;
        }
    }

    let _ = stop_hub.send(());
    hub_task.await?.context("the hub failed")?;
    drop(bare);

    // W4: the privacy officer's queries, through the audit crate.
    say("W4 access reports and audit searches");
    let queries = privacy_officer_queries(&db, &plans, options.query_iterations).await?;

    // W5: verify everything, then rotate every data key.
    say("W5 audit verify");
    let key: VerifierKey = server::auth::AuthKeys::load(&target.auth_keys_file())
        .map_err(|error| anyhow!("cannot load the auth keys: {error}"))?
        .audit_signing_key(&config.audit.origin_prefix)?
        .verifier_key();
    let verify_started = Instant::now();
    let report = audit::verify(db.conn(), &key, None, |_, _| {}).await?;
    let verify_seconds = verify_started.elapsed().as_secs_f64();
    let rotation = if options.skip_rotation {
        None
    } else {
        say("W5 key rotation over every data key");
        crypto::add_kek_version(&target.keys_file())?;
        let keys = config.keys.load()?;
        let started = Instant::now();
        let mut rows = 0;
        loop {
            let changed = store::rekey::rewrap_batch(&db, &keys, 1000).await?;
            if changed == 0 {
                break;
            }
            rows += changed;
        }
        Some((rows, started.elapsed().as_secs_f64()))
    };

    let counts = table_counts(&db).await?;
    let settings = database_settings(&db).await?;
    checker_db.conn().clone().close().await?;
    db.conn().clone().close().await?;

    Ok(Figures {
        database: target.database_label().to_owned(),
        settings,
        started_at,
        options: options.clone(),
        seed,
        counts,
        w2_decrypted: (w2_granted, w2_sections),
        w1_returned: (w1_granted, w1_sections),
        rounds,
        rates,
        w3,
        queries,
        verify: (
            report.entries_checked,
            verify_seconds,
            report.is_ok(),
            report.problems.len(),
        ),
        rotation,
        rss_under_load,
        rss_idle,
        rss_closed_loop,
        fsyncs_per_request,
        commits_per_request,
        audit_checked,
        audit_found,
    })
}

async fn count(db: &Db, sql: &str) -> anyhow::Result<i64> {
    let row = db
        .conn()
        .query_one_raw(Statement::from_string(
            db.conn().get_database_backend(),
            sql,
        ))
        .await?
        .ok_or_else(|| anyhow!("no count"))?;
    Ok(row.try_get("", "n")?)
}

async fn table_counts(db: &Db) -> anyhow::Result<Vec<(&'static str, i64)>> {
    let mut counts = Vec::new();
    for table in [
        "residents",
        "plans",
        "sections",
        "section_revisions",
        "consents",
        "care_relations",
        "audit_entries",
        "audit_checkpoints",
    ] {
        counts.push((
            table,
            count(db, &format!("SELECT COUNT(*) AS n FROM {table}")).await?,
        ));
    }
    Ok(counts)
}

/// W4: the access report of one resident over a year (the busiest resident and a spread of
/// others), and audit searches by organisation, by actor and by resident, newest first, a page
/// of 50 — timed one after another, with the database's plan for each.
async fn privacy_officer_queries(
    db: &Db,
    plans: &[(Uuid, Uuid)],
    iterations: usize,
) -> anyhow::Result<Vec<QueryRow>> {
    let now = Utc::now();
    let year_ago = now - ChronoDuration::days(366);
    let busiest: Option<Uuid> = {
        let backend = db.conn().get_database_backend();
        let row = db
            .conn()
            .query_one_raw(Statement::from_string(
                backend,
                "SELECT resident_id FROM audit_entries WHERE resident_id IS NOT NULL \
                 GROUP BY resident_id ORDER BY COUNT(*) DESC LIMIT 1",
            ))
            .await?;
        row.map(|row| row.try_get::<Uuid>("", "resident_id"))
            .transpose()?
    };
    let busiest = busiest.map(ResidentId::from_uuid);
    let residents: Vec<ResidentId> = plans
        .iter()
        .map(|(_, resident)| ResidentId::from_uuid(*resident))
        .collect();
    let reader = organisations::Entity::find()
        .filter(organisations::Column::Name.eq(READER_ORGANISATION))
        .one(db.conn())
        .await?
        .ok_or_else(|| anyhow!("the reading partner is missing"))?;
    let mut rows = Vec::new();

    let time = |name: &'static str| QueryRow::new(name);
    // Access report, busiest resident.
    if let Some(resident) = busiest {
        let mut row = time("access report, busiest resident, 1 year");
        for _ in 0..iterations {
            let started = Instant::now();
            let report = audit::access_report(db.conn(), resident, year_ago, now).await?;
            row.record(started.elapsed(), report.iter().map(|r| r.entries).sum());
        }
        row.plan = audit::explain_access_report(db.conn(), resident, year_ago, now).await?;
        rows.push(row);
    }
    let mut row = time("access report, spread of residents, 1 year");
    for index in 0..iterations {
        let resident = residents[(index * 7919) % residents.len()];
        let started = Instant::now();
        let report = audit::access_report(db.conn(), resident, year_ago, now).await?;
        row.record(started.elapsed(), report.iter().map(|r| r.entries).sum());
    }
    rows.push(row);

    let searches = [
        (
            "search: organisation, last 30 days, page of 50",
            AuditFilter {
                organisation: Some(OrganisationId::from_uuid(reader.id)),
                from: Some(now - ChronoDuration::days(30)),
                ..AuditFilter::default()
            },
        ),
        (
            "search: resident, page of 50",
            AuditFilter {
                resident: busiest,
                ..AuditFilter::default()
            },
        ),
        (
            "search: denied, whole log, page of 50",
            AuditFilter {
                outcome: Some(audit::Outcome::Deny),
                ..AuditFilter::default()
            },
        ),
    ];
    for (name, filter) in searches {
        let mut row = time(name);
        for _ in 0..iterations {
            let started = Instant::now();
            let page = audit::search(db.conn(), &filter, 50, None).await?;
            row.record(started.elapsed(), page.entries.len() as u64);
        }
        row.plan = audit::explain_search(db.conn(), &filter, None).await?;
        rows.push(row);
    }
    Ok(rows)
}

fn max_of(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

/// The durability settings in force, as a connection opened like the hub's sees them.
async fn database_settings(db: &Db) -> anyhow::Result<String> {
    let backend = db.conn().get_database_backend();
    let one = |sql: &'static str, column: &'static str| async move {
        let row = db
            .conn()
            .query_one_raw(Statement::from_string(backend, sql))
            .await?
            .ok_or_else(|| anyhow!("no answer to {sql}"))?;
        anyhow::Ok(match row.try_get::<String>("", column) {
            Ok(text) => text,
            Err(_) => row.try_get::<i64>("", column)?.to_string(),
        })
    };
    Ok(match backend {
        DbBackend::Postgres => format!(
            "fsync={}, synchronous_commit={}, {}",
            one("SELECT current_setting('fsync') AS v", "v").await?,
            one("SELECT current_setting('synchronous_commit') AS v", "v").await?,
            one("SELECT version() AS v", "v").await?
        ),
        _ => format!(
            "journal_mode={}, synchronous={} (2 = FULL), SQLite {}",
            one("PRAGMA journal_mode", "journal_mode").await?,
            one("PRAGMA synchronous", "synchronous").await?,
            one("SELECT sqlite_version() AS v", "v").await?
        ),
    })
}
