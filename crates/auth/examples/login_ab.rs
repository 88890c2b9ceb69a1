//! Interleaved A/B timing of a login against a real account (A) and an unknown account (B, the
//! dummy hash), as PERFORMANCE.md asks for comparisons on a noisy machine: A B A B …, medians with
//! min and max. Not a test: it proves nothing by itself, it shows the two cost the same.
//!
//! Run: `cargo run --release -p wijkhub-auth --example login_ab`

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use auth::password::{PasswordConfig, Passwords};
use secrecy::SecretString;

const BATCHES: usize = 9;
const PER_BATCH: u32 = 20;

fn main() {
    let passwords = Passwords::new(&PasswordConfig::default()).unwrap();
    let password = SecretString::from("correct horse battery staple".to_owned());
    let wrong = SecretString::from("Tr0ub4dor&3".to_owned());
    let stored = passwords.hash(&password).unwrap();

    let time = |f: &dyn Fn()| {
        let start = Instant::now();
        for _ in 0..PER_BATCH {
            f();
        }
        start.elapsed() / PER_BATCH
    };
    let known_ok = || {
        passwords.verify(&password, Some(&stored)).unwrap();
    };
    let known_wrong = || {
        passwords.verify(&wrong, Some(&stored)).unwrap_err();
    };
    let unknown = || {
        passwords.verify(&password, None).unwrap_err();
    };
    // Warm-up.
    time(&known_ok);
    time(&unknown);

    let mut results: [Vec<Duration>; 3] = [Vec::new(), Vec::new(), Vec::new()];
    for _ in 0..BATCHES {
        results[0].push(time(&known_ok));
        results[1].push(time(&known_wrong));
        results[2].push(time(&unknown));
    }
    for (name, mut times) in [
        "known account, right password",
        "known account, wrong password",
        "unknown account (dummy)",
    ]
    .into_iter()
    .zip(results)
    {
        times.sort();
        println!(
            "{name:32} median {:>8.2?}  min {:>8.2?}  max {:>8.2?}",
            times[BATCHES / 2],
            times[0],
            times[BATCHES - 1]
        );
    }
}
