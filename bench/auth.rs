//! What authentication costs in the running hub (issue 4), end to end over HTTP on loopback:
//! bearer-token verification with and without the verified-token cache, the token endpoint, and
//! member login (argon2id with the OWASP parameters), against an anonymous baseline.
//!
//! A benchmark, not a timed test: it prints medians and nothing fails on a slow machine.
//! Run: `cargo bench --bench auth` (release profile; `AUTH_BENCH_N=500` for more samples).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use domain::{Purpose, Role};
use secrecy::ExposeSecret;
use serde_json::{Value, json};
use server::auth::admin::{Admin, NewPassword};
use testkit::{TestDb, TestHub};

const PASSWORD: &str = "correct horse battery staple";
const VIEWER: &str = "{ viewer { id } }";

struct Stats {
    name: &'static str,
    samples: Vec<Duration>,
}

impl Stats {
    fn print(&mut self) {
        self.samples.sort();
        let n = self.samples.len();
        let at = |q: f64| self.samples[((n as f64 - 1.0) * q).round() as usize];
        let mean = self.samples.iter().sum::<Duration>() / u32::try_from(n).unwrap();
        println!(
            "| {:<58} | {:>5} | {:>9.1} | {:>9.1} | {:>9.1} |",
            self.name,
            n,
            at(0.5).as_secs_f64() * 1e6,
            at(0.9).as_secs_f64() * 1e6,
            mean.as_secs_f64() * 1e6,
        );
    }
}

async fn time<F, Fut>(name: &'static str, n: usize, mut request: F) -> Stats
where
    F: FnMut(usize) -> Fut,
    Fut: std::future::Future<Output = u16>,
{
    // Warm-up with indices past the measured ones, so per-index inputs (fresh tokens) stay unused.
    for warm in n..n + 20 {
        request(warm).await;
    }
    let mut samples = Vec::with_capacity(n);
    for idx in 0..n {
        let start = Instant::now();
        let status = request(idx).await;
        samples.push(start.elapsed());
        assert!(status < 500, "{name}: status {status}");
    }
    Stats { name, samples }
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(run());
}

async fn run() {
    let n: usize = std::env::var("AUTH_BENCH_N")
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or(200);
    let test_db = TestDb::sqlite();
    let mut config = test_db.config();
    // OWASP argon2id (the defaults); throttling off for the bench, which fails logins on purpose.
    config.auth.throttle.account_max_failures = u32::MAX;
    config.auth.throttle.source_max_failures = u32::MAX;
    let db = test_db.migrated().await;
    store::seed::demo(&db, &config.keys.load().unwrap(), chrono::Utc::now())
        .await
        .unwrap();
    let admin = Admin::open_with_db(&config, db.clone()).await.unwrap();
    let client = admin
        .add_client(
            "bench-client",
            "Bench",
            "Welzijn Noordwest",
            &["plans:read".to_owned()],
            &[Purpose::Support],
            None,
            true,
        )
        .await
        .unwrap();
    let secret = client.secret.unwrap().expose_secret().to_owned();
    admin
        .add_member(
            "bench@noordwest.demo",
            "Bench",
            "Wijkteam Noordwest",
            &[Role::Coach],
            NewPassword::Given(PASSWORD.to_owned().into()),
        )
        .await
        .unwrap();
    admin.close().await.unwrap();
    let hub = TestHub::start_with_db(config, db).await;
    let http = &hub.http;

    let token = || async {
        let response = http
            .post(hub.url("/oauth/token"))
            .basic_auth("bench-client", Some(&secret))
            .header("content-type", "application/x-www-form-urlencoded")
            .body("grant_type=client_credentials")
            .send()
            .await
            .unwrap();
        let body: Value = response.json().await.unwrap();
        body["access_token"].as_str().unwrap().to_owned()
    };
    let graphql = |authorization: Option<String>, query: &'static str| {
        let mut request = http
            .post(hub.url("/graphql"))
            .json(&json!({ "query": query }));
        if let Some(value) = authorization {
            request = request.header("authorization", value);
        }
        async move { request.send().await.unwrap().status().as_u16() }
    };

    // Fresh tokens, each used once (warm-up included): every request verifies the signature.
    let mut fresh = Vec::with_capacity(n + 20);
    for _ in 0..n + 20 {
        fresh.push(token().await);
    }
    let cached = token().await;

    let mut rows = vec![
        time("anonymous `{ apiVersion }` (baseline)", n, |_| {
            graphql(None, "{ apiVersion }")
        })
        .await,
        time("bearer, cache hit: `{ viewer { id } }`", n, |_| {
            graphql(Some(format!("Bearer {cached}")), VIEWER)
        })
        .await,
        time(
            "bearer, cache miss (new token each time): `{ viewer { id } }`",
            n,
            |idx| graphql(Some(format!("Bearer {}", fresh[idx])), VIEWER),
        )
        .await,
        time("bearer refused (bad signature, audited)", n, |_| {
            let mut bad = cached.clone();
            bad.pop();
            bad.push(if cached.ends_with('A') { 'B' } else { 'A' });
            graphql(Some(format!("Bearer {bad}")), VIEWER)
        })
        .await,
        time(
            "POST /oauth/token (client_secret_basic, audited)",
            n,
            |_| async {
                token().await;
                200
            },
        )
        .await,
    ];
    let login = |email: &'static str, password: &'static str| {
        let request = http
            .post(hub.url("/auth/login"))
            .json(&json!({ "email": email, "password": password }));
        async move { request.send().await.unwrap().status().as_u16() }
    };
    let n_login = (n / 4).max(20);
    rows.push(
        time(
            "POST /auth/login, right password (argon2id OWASP)",
            n_login,
            |_| login("bench@noordwest.demo", PASSWORD),
        )
        .await,
    );
    rows.push(
        time("POST /auth/login, wrong password", n_login, |_| {
            login("bench@noordwest.demo", "wrong password!")
        })
        .await,
    );
    rows.push(
        time(
            "POST /auth/login, unknown account (dummy hash)",
            n_login,
            |_| login("nobody@noordwest.demo", "wrong password!"),
        )
        .await,
    );

    println!();
    println!(
        "| {:<58} | {:>5} | {:>9} | {:>9} | {:>9} |",
        "request (sequential, one client, loopback)", "n", "median µs", "p90 µs", "mean µs"
    );
    println!(
        "|{:-<60}|{:-<7}|{:-<11}|{:-<11}|{:-<11}|",
        "", "", "", "", ""
    );
    for row in &mut rows {
        row.print();
    }
    hub.stop().await;
}
