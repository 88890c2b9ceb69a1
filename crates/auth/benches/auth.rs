//! What authentication costs: access token verification with and without the verified-token
//! cache, issuing a token, and a login's argon2 verification (real account and unknown account).
//!
//! Run: `cargo bench -p wijkhub-auth` (figures in `crates/auth/README.md`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;

use auth::keys::SigningKeys;
use auth::password::{PasswordConfig, Passwords};
use auth::throttle::{Throttle, ThrottleConfig};
use auth::token::{AccessTokenRequest, AccessTokens, Subject, TokenConfig};
use chrono::{DateTime, Utc};
use criterion::{Criterion, criterion_group, criterion_main};
use domain::{MemberId, OrganisationId, Purpose, Role};
use secrecy::SecretString;

fn now() -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000, 0).unwrap()
}

fn tokens(c: &mut Criterion) {
    let tokens = AccessTokens::new(
        TokenConfig::default(),
        SigningKeys::generate(now()).unwrap(),
    )
    .unwrap();
    let request = AccessTokenRequest {
        subject: Subject::Member(MemberId::new()),
        client_id: "wijkhub-console".to_owned(),
        organisation: OrganisationId::new(),
        roles: vec![Role::Coach],
        scopes: vec!["plans:read".to_owned(), "plans:write".to_owned()],
        purposes: vec![Purpose::Support, Purpose::Coordination],
        amr: vec!["pwd".to_owned()],
    };
    let token = tokens.issue(&request, now()).unwrap().access_token;

    c.bench_function("token/issue", |b| {
        b.iter(|| tokens.issue(black_box(&request), now()).unwrap())
    });
    c.bench_function("token/verify_uncached", |b| {
        b.iter(|| tokens.verify_uncached(black_box(&token), now()).unwrap())
    });
    tokens.verify(&token, now()).unwrap();
    c.bench_function("token/verify_cached", |b| {
        b.iter(|| tokens.verify(black_box(&token), now()).unwrap())
    });
}

fn passwords(c: &mut Criterion) {
    let passwords = Passwords::new(&PasswordConfig::default()).unwrap();
    let password = SecretString::from("correct horse battery staple".to_owned());
    let stored = passwords.hash(&password).unwrap();
    let mut group = c.benchmark_group("login");
    group.sample_size(20);
    group.bench_function("argon2id_verify_owasp", |b| {
        b.iter(|| {
            passwords
                .verify(black_box(&password), Some(&stored))
                .unwrap()
        })
    });
    group.bench_function("argon2id_verify_unknown_account", |b| {
        b.iter(|| passwords.verify(black_box(&password), None).unwrap_err())
    });
    group.finish();

    let throttle = Throttle::new(ThrottleConfig::default());
    let source = "192.0.2.1".parse().unwrap();
    c.bench_function("login/throttle_check", |b| {
        b.iter(|| throttle.check(black_box("anna@wijkteam.example"), source, now()))
    });
}

criterion_group!(benches, tokens, passwords);
criterion_main!(benches);
