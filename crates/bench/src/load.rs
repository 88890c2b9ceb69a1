//! The load generator: N HTTP/1.1 keep-alive connections (hyper, one per worker) on a thread of
//! its own, pinned to the last core while the servers run on the first.
//!
//! - Closed loop (`closed`): each connection sends its next request as soon as the previous
//!   answer is in, for a fixed time. For saturation throughput only.
//! - Open loop (`open`): request `i` is due at `t0 + i / rate`, whoever is free takes the next
//!   due request; latency is measured from the *due* time, so a stall that delays the requests
//!   behind it shows in their latency (no coordinated omission). The service time (from the
//!   actual send) is kept beside it. Tokio's timer has 1 ms resolution, so a worker sleeps to
//!   within a millisecond of the due time and then yields until it is due.
//!
//! Every answer is checked: HTTP 200 and no GraphQL `errors` (GraphQL errors come back as 200).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow};
use bytes::Bytes;
use hdrhistogram::Histogram;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::header::{CONTENT_TYPE, HOST, HeaderName, HeaderValue};
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use uuid::Uuid;

/// An answer sampled for the audit check: its request id and the resident it concerned.
#[derive(Clone, Debug)]
pub struct Sample {
    pub request_id: String,
    pub resident: Uuid,
}

/// What the workers send.
pub enum Requests {
    /// One prepared body per plan, drawn round-robin from a per-worker offset.
    Reads {
        bodies: Vec<Bytes>,
        residents: Vec<Uuid>,
    },
    /// `writeSection` on the `actions` section of a plan: each worker owns the plans with its
    /// index modulo the worker count and keeps their current revision.
    Writes { plans: Vec<(Uuid, i64)> },
}

pub struct Target {
    pub addr: SocketAddr,
    pub headers: Vec<(HeaderName, HeaderValue)>,
    pub requests: Requests,
    /// Send every `sample_every`-th successful answer's request id to `samples` (0: none).
    pub sample_every: u64,
    pub samples: Option<mpsc::UnboundedSender<Sample>>,
    /// Successful answers over all workers, for sampling.
    pub answered: AtomicU64,
}

/// What a run measured.
pub struct Outcome {
    pub ok: u64,
    pub failed: u64,
    /// Open loop: requests that came due but were never sent, because the server was so far
    /// behind that they were still queued 2 s after the end of the run.
    pub unsent: u64,
    pub seconds: f64,
    /// From the due time (open loop) or the send (closed loop), in µs.
    pub latency: Histogram<u64>,
    /// From the actual send, in µs.
    pub service: Histogram<u64>,
    pub loadgen_cpu_seconds: Option<f64>,
    pub first_error: Option<String>,
}

impl Outcome {
    pub fn rps(&self) -> f64 {
        self.ok as f64 / self.seconds.max(1e-9)
    }
}

/// 1 µs .. 120 s, 3 significant digits.
pub fn histogram() -> anyhow::Result<Histogram<u64>> {
    Ok(Histogram::new_with_bounds(1, 120_000_000, 3)?)
}

/// Runs `connections` closed-loop workers for `duration` (after `warmup`), on a pinned thread.
pub fn closed(
    target: Arc<Target>,
    connections: usize,
    warmup: Duration,
    duration: Duration,
) -> anyhow::Result<Outcome> {
    on_loadgen_thread(move || async move {
        let start = Instant::now() + warmup;
        let end = start + duration;
        let mut workers = tokio::task::JoinSet::new();
        for index in 0..connections {
            let target = target.clone();
            workers.spawn(worker(
                target,
                index,
                connections,
                Pace::Closed { start, end },
            ));
        }
        collect(workers, duration).await
    })
}

/// Runs an open loop at `rate` requests per second for `duration` (after `warmup`), with up to
/// `connections` requests outstanding.
pub fn open(
    target: Arc<Target>,
    rate: f64,
    connections: usize,
    warmup: Duration,
    duration: Duration,
) -> anyhow::Result<Outcome> {
    on_loadgen_thread(move || async move {
        let t0 = Instant::now() + Duration::from_millis(50);
        let next = Arc::new(AtomicU64::new(0));
        let pace = Pace::Open {
            t0,
            interval: Duration::from_secs_f64(1.0 / rate),
            record_from: t0 + warmup,
            end: t0 + warmup + duration,
            next,
        };
        let mut workers = tokio::task::JoinSet::new();
        for index in 0..connections {
            workers.spawn(worker(target.clone(), index, connections, pace.clone()));
        }
        collect(workers, duration).await
    })
}

fn on_loadgen_thread<F, Fut>(run: F) -> anyhow::Result<Outcome>
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = anyhow::Result<Outcome>>,
{
    let handle = std::thread::Builder::new()
        .name("loadgen".into())
        .spawn(move || {
            let cores = crate::sys::cores();
            if cores > 1 {
                crate::sys::pin_to(cores - 1);
            }
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let cpu_before = crate::sys::thread_cpu();
            let mut outcome = runtime.block_on(run())?;
            outcome.loadgen_cpu_seconds = crate::sys::thread_cpu()
                .zip(cpu_before)
                .map(|(after, before)| after - before);
            Ok(outcome)
        })
        .context("cannot start the load generator thread")?;
    handle
        .join()
        .map_err(|_| anyhow!("the load generator panicked"))?
}

#[derive(Clone)]
enum Pace {
    Closed {
        start: Instant,
        end: Instant,
    },
    Open {
        t0: Instant,
        interval: Duration,
        record_from: Instant,
        end: Instant,
        next: Arc<AtomicU64>,
    },
}

struct WorkerResult {
    ok: u64,
    failed: u64,
    unsent: u64,
    latency: Histogram<u64>,
    service: Histogram<u64>,
    first_error: Option<String>,
}

async fn collect(
    mut workers: tokio::task::JoinSet<anyhow::Result<WorkerResult>>,
    duration: Duration,
) -> anyhow::Result<Outcome> {
    let mut outcome = Outcome {
        ok: 0,
        failed: 0,
        unsent: 0,
        seconds: duration.as_secs_f64(),
        latency: histogram()?,
        service: histogram()?,
        loadgen_cpu_seconds: None,
        first_error: None,
    };
    while let Some(result) = workers.join_next().await {
        let result = result.map_err(|error| anyhow!("a load worker failed: {error}"))??;
        outcome.ok += result.ok;
        outcome.failed += result.failed;
        outcome.unsent += result.unsent;
        outcome.latency.add(&result.latency)?;
        outcome.service.add(&result.service)?;
        if outcome.first_error.is_none() {
            outcome.first_error = result.first_error;
        }
    }
    Ok(outcome)
}

type Sender = SendRequest<Full<Bytes>>;

async fn connect(addr: SocketAddr) -> anyhow::Result<Sender> {
    let stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(sender)
}

/// One answer: status, the hub's request id, the body.
struct Answer {
    status: u16,
    request_id: Option<String>,
    body: Bytes,
}

async fn send(sender: &mut Sender, target: &Target, body: Bytes) -> anyhow::Result<Answer> {
    let mut request = Request::builder()
        .method(Method::POST)
        .uri("/graphql")
        .header(HOST, "127.0.0.1")
        .header(CONTENT_TYPE, "application/json");
    for (name, value) in &target.headers {
        request = request.header(name, value);
    }
    let request = request.body(Full::new(body))?;
    sender.ready().await?;
    let response = sender.send_request(request).await?;
    let status = response.status().as_u16();
    let request_id = response
        .headers()
        .get("x-request-id")
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned);
    let body = response.into_body().collect().await?.to_bytes();
    Ok(Answer {
        status,
        request_id,
        body,
    })
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle)
}

async fn worker(
    target: Arc<Target>,
    index: usize,
    n_workers: usize,
    pace: Pace,
) -> anyhow::Result<WorkerResult> {
    let mut result = WorkerResult {
        ok: 0,
        failed: 0,
        unsent: 0,
        latency: histogram()?,
        service: histogram()?,
        first_error: None,
    };
    let mut sender = connect(target.addr).await?;
    let mut own_plans: Vec<(Uuid, i64)> = match &target.requests {
        Requests::Writes { plans } => plans
            .iter()
            .skip(index)
            .step_by(n_workers)
            .copied()
            .collect(),
        Requests::Reads { .. } => Vec::new(),
    };
    let mut turn = index.wrapping_mul(7919);
    loop {
        // When is this request due, and is it measured?
        let (due, record) = match &pace {
            Pace::Closed { start, end } => {
                let now = Instant::now();
                if now >= *end {
                    break;
                }
                (now, now >= *start)
            }
            Pace::Open {
                t0,
                interval,
                record_from,
                end,
                next,
            } => {
                let slot = next.fetch_add(1, Ordering::Relaxed);
                let due = *t0 + interval.mul_f64(slot as f64);
                if due >= *end {
                    break;
                }
                if Instant::now() > *end + GIVE_UP_AFTER {
                    result.unsent += 1;
                    continue;
                }
                wait_until(due).await;
                (due, due >= *record_from)
            }
        };
        turn = turn.wrapping_add(1);
        let (body, resident, write_slot) = match &target.requests {
            Requests::Reads { bodies, residents } => {
                let at = turn % bodies.len();
                (bodies[at].clone(), residents.get(at).copied(), None)
            }
            Requests::Writes { .. } => {
                if own_plans.is_empty() {
                    return Err(anyhow!("more write workers than plans"));
                }
                let at = turn % own_plans.len();
                let (plan, revision) = own_plans[at];
                (write_body(plan, revision, turn), None, Some(at))
            }
        };
        let sent = Instant::now();
        let answer = send(&mut sender, &target, body).await;
        let done = Instant::now();
        let good = match &answer {
            Ok(answer) => answer.status == 200 && !contains(&answer.body, b"\"errors\""),
            Err(_) => false,
        };
        if good {
            if let Some(at) = write_slot {
                own_plans[at].1 += 1;
            }
            let n_ok = target.answered.fetch_add(1, Ordering::Relaxed) + 1;
            if record {
                result.ok += 1;
                result
                    .latency
                    .saturating_record(done.duration_since(due).as_micros().max(1) as u64);
                result
                    .service
                    .saturating_record(done.duration_since(sent).as_micros().max(1) as u64);
            }
            if target.sample_every > 0
                && n_ok.is_multiple_of(target.sample_every)
                && let (Some(samples), Some(resident), Ok(answer)) =
                    (&target.samples, resident, &answer)
                && let Some(request_id) = &answer.request_id
            {
                let _ = samples.send(Sample {
                    request_id: request_id.clone(),
                    resident,
                });
            }
        } else {
            if record {
                result.failed += 1;
            }
            if result.first_error.is_none() {
                result.first_error = Some(match &answer {
                    Ok(answer) => format!(
                        "HTTP {}: {}",
                        answer.status,
                        String::from_utf8_lossy(&answer.body[..answer.body.len().min(300)])
                    ),
                    Err(error) => error.to_string(),
                });
            }
            if answer.is_err() {
                sender = connect(target.addr).await?;
            }
        }
    }
    Ok(result)
}

/// How long past the end of an open-loop run requests still due are sent.
const GIVE_UP_AFTER: Duration = Duration::from_secs(2);

async fn wait_until(due: Instant) {
    let early = Duration::from_millis(1);
    if let Some(sleep_until) = due.checked_sub(early)
        && sleep_until > Instant::now()
    {
        tokio::time::sleep_until(sleep_until.into()).await;
    }
    while Instant::now() < due {
        tokio::task::yield_now().await;
    }
}

const WRITE_MUTATION: &str =
    "mutation($input: WriteSectionInput!) { writeSection(input: $input) { section { revision } } }";

fn write_body(plan: Uuid, expected_revision: i64, turn: usize) -> Bytes {
    let body = serde_json::json!({
        "query": WRITE_MUTATION,
        "variables": { "input": {
            "planId": plan.to_string(),
            "category": "actions",
            "content": format!(
                "Actie {turn}: de coach belt de woningcorporatie over de betalingsregeling en meldt de uitkomst in het volgende overleg."
            ),
            "expectedRevision": expected_revision,
        }}
    });
    Bytes::from(body.to_string())
}
