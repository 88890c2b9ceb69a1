//! The operator's commands and their refusals: a bad flag, file, setting or database is one
//! clear line on stderr and a non-zero exit, and nothing is created or written.

use std::net::TcpListener;
use std::time::Duration;

use testkit::{Output, TestDb};

use crate::wijkhub;

/// A refusal: a failure exit, one line on stderr mentioning every `needle`.
#[track_caller]
fn check_refused(output: &Output, needles: &[&str]) {
    assert!(!output.status.success(), "must fail: {output:?}");
    let lines = output.stderr_lines();
    assert_eq!(lines.len(), 1, "one line on stderr: {:?}", output.stderr);
    // Causes are joined with ": "; one that repeats another only makes the line longer.
    let mut parts: Vec<&str> = lines[0].split(": ").collect();
    let n_parts = parts.len();
    parts.sort_unstable();
    parts.dedup();
    assert_eq!(parts.len(), n_parts, "a cause is repeated: {:?}", lines[0]);
    for needle in needles {
        assert!(
            lines[0].contains(needle),
            "stderr {:?} should mention {needle:?}",
            lines[0]
        );
    }
}

#[test]
fn an_unknown_flag_is_a_usage_error() {
    let cli = wijkhub();
    let output = cli.run(&["serve", "--no-such-flag"]);
    assert_eq!(
        output.status.code(),
        Some(2),
        "clap's usage exit: {output:?}"
    );
    assert!(
        output.stderr.contains("--no-such-flag"),
        "{}",
        output.stderr
    );
    assert!(
        cli.dir_entries().is_empty(),
        "nothing created: {:?}",
        cli.dir_entries()
    );

    let output = cli.run(&["frobnicate"]);
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    assert!(cli.dir_entries().is_empty());
}

#[test]
fn a_malformed_config_file_is_named() {
    let cases: [(&str, &[&str]); 3] = [
        ("[http\nport = 80\n", &["wijkhub.toml"]),
        (
            "[http]\nport = \"eighty\"\n",
            &["http.port", "wijkhub.toml"],
        ),
        ("[databse]\nurl = \"sqlite://x.db\"\n", &["databse"]),
    ];
    for (text, needles) in cases {
        let cli = wijkhub();
        std::fs::write(cli.dir().join("wijkhub.toml"), text).expect("write config");
        for args in [
            &["--config", "wijkhub.toml", "serve"][..],
            &["migrate", "--config", "wijkhub.toml"],
        ] {
            let output = cli.run(args);
            check_refused(&output, needles);
            assert_eq!(cli.dir_entries(), ["wijkhub.toml"], "no data/ created");
        }
    }

    let cli = wijkhub();
    let output = cli.run(&["--config", "missing.toml", "serve"]);
    check_refused(&output, &["missing.toml"]);
    assert!(cli.dir_entries().is_empty());
}

#[test]
fn a_bad_environment_setting_names_the_variable() {
    let mut cli = wijkhub();
    cli.env("WIJKHUB_HTTP__PORT", "eighty");
    let output = cli.run(&["serve", "--demo"]);
    check_refused(&output, &["WIJKHUB_HTTP__PORT"]);
    assert!(
        cli.dir_entries().is_empty(),
        "nothing created: {:?}",
        cli.dir_entries()
    );
}

#[test]
fn an_unreachable_database_fails_fast_and_clearly() {
    // A port that was free a moment ago: nothing listens there.
    let port = {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("addr").port()
    };
    let mut cli = wijkhub();
    cli.env(
        "DATABASE_URL",
        &format!("postgres://hub:s3cret-password@127.0.0.1:{port}/wijkhub"),
    );
    cli.env("WIJKHUB_HTTP__PORT", "0");
    // Each waits out the connect timeout; run them side by side.
    let running: Vec<_> = [&["migrate"][..], &["serve"], &["seed", "--demo"]]
        .into_iter()
        .map(|args| cli.spawn(args))
        .collect();
    for child in running {
        let output = child.wait(Duration::from_secs(60));
        check_refused(&output, &["unreachable"]);
        assert!(
            !output.stderr.contains("s3cret-password")
                && !output.stdout.contains("s3cret-password"),
            "the password is not printed: {output:?}"
        );
        assert!(
            output.elapsed < Duration::from_secs(15),
            "took {:?}",
            output.elapsed
        );
        assert!(cli.dir_entries().is_empty(), "nothing created");
    }
}

#[tokio::test]
async fn a_newer_schema_is_refused_by_every_command_and_nothing_is_written() {
    let test_db = TestDb::new().await;
    let db = test_db.migrated().await;
    testkit::record_future_migration(&db).await;
    let before = testkit::snapshot(&db).await;

    let mut cli = wijkhub();
    cli.database(&test_db).env("WIJKHUB_HTTP__PORT", "0");
    for args in [
        &["migrate"][..],
        &["migrate", "--status"],
        &["serve"],
        &["serve", "--demo"],
        &["seed", "--demo"],
    ] {
        let output = cli.run(args);
        check_refused(
            &output,
            &["newer than this binary", testkit::FUTURE_MIGRATION],
        );
        assert_eq!(
            testkit::snapshot(&db).await,
            before,
            "`wijkhub {}` wrote to the database",
            args.join(" ")
        );
    }
    assert!(
        cli.dir_entries().is_empty(),
        "nothing created: {:?}",
        cli.dir_entries()
    );
}

#[tokio::test]
async fn migrate_reports_then_applies_then_has_nothing_to_do() {
    let test_db = TestDb::new().await;
    let db = test_db.connect().await;
    let empty = testkit::snapshot(&db).await;
    let mut cli = wijkhub();
    cli.database(&test_db);

    let output = cli.run(&["migrate", "--status"]);
    assert!(output.status.success(), "{output:?}");
    assert!(
        output.stdout.contains("pending migrations: m"),
        "{}",
        output.stdout
    );
    assert_eq!(
        testkit::snapshot(&db).await,
        empty,
        "--status changes nothing"
    );

    let output = cli.run(&["migrate"]);
    assert!(output.status.success(), "{output:?}");
    assert!(output.stdout.contains("applied"), "{}", output.stdout);
    let migrated = testkit::snapshot(&db).await;
    assert!(migrated.rows("seaql_migrations") > 0);

    for args in [&["migrate", "--status"][..], &["migrate"]] {
        let output = cli.run(args);
        assert!(output.status.success(), "{output:?}");
        assert!(
            output.stdout.contains("schema is current"),
            "{}",
            output.stdout
        );
    }
    assert_eq!(testkit::snapshot(&db).await, migrated);
}

#[tokio::test]
async fn seeding_twice_does_not_duplicate() {
    let test_db = TestDb::new().await;
    let mut cli = wijkhub();
    cli.database(&test_db);

    let output = cli.run(&["seed", "--demo"]);
    assert!(output.status.success(), "{output:?}");
    assert!(
        output.stdout.contains("seeded the demo network"),
        "{}",
        output.stdout
    );
    let db = test_db.connect().await;
    let seeded = testkit::snapshot(&db).await;
    for table in ["networks", "organisations", "members", "clients"] {
        assert!(seeded.rows(table) > 0, "{table} is empty after seeding");
    }

    let output = cli.run(&["seed", "--demo"]);
    assert!(output.status.success(), "{output:?}");
    assert!(output.stdout.contains("already there"), "{}", output.stdout);
    assert_eq!(
        testkit::snapshot(&db).await,
        seeded,
        "the second seed changed something"
    );

    let output = cli.run(&["seed"]);
    assert_eq!(
        output.status.code(),
        Some(2),
        "`seed` needs --demo: {output:?}"
    );
}
