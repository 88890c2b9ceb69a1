//! `wijkhub`: the hub's one binary. `serve` runs it; the other commands are for operators.
//!
//! Errors end the process with one line on stderr and a non-zero exit; nothing secret is
//! printed (configuration `Debug` output hides credentials).

mod audit_cli;
mod cli_auth;
mod keys_cli;
mod operator_audit;
mod residents_cli;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use server::{App, Config, Profile};
use store::seed::{self, SeedOutcome};
use store::{Db, SchemaStatus};

#[derive(Parser)]
#[command(
    name = "wijkhub",
    version,
    about = "GraphQL integration hub for a wijknetwerk"
)]
struct Cli {
    /// A TOML file overriding config/default.toml (environment variables override both).
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the hub.
    Serve {
        /// Development profile with the demo network "Noordwest" seeded (never in production).
        #[arg(long)]
        demo: bool,
    },
    /// Apply pending database migrations.
    Migrate {
        /// Only report where the schema stands; change nothing.
        #[arg(long)]
        status: bool,
    },
    /// Encryption keys: generate, status, rotate, retire.
    Keys {
        #[command(subcommand)]
        command: keys_cli::KeysCommand,
    },
    /// Members of staff: add, disable, reset-password, unlock, list.
    Members {
        #[command(subcommand)]
        command: cli_auth::MembersCommand,
    },
    /// Partner systems (OAuth2 clients): add, rotate-secret, set-key, disable, list.
    Clients {
        #[command(subcommand)]
        command: cli_auth::ClientsCommand,
    },
    /// The audit log: verify, prove, check a proof, print the public key.
    Audit {
        #[command(subcommand)]
        command: audit_cli::AuditCommand,
    },
    /// Residents' records: erase (crypto-shredding).
    Residents {
        #[command(subcommand)]
        command: residents_cli::ResidentsCommand,
    },
    /// Fill the database with demo data.
    Seed {
        /// Seed the demo wijknetwerk "Noordwest" (the only seed there is).
        #[arg(long, required = true)]
        demo: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match Config::load(cli.config.as_deref()) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::FAILURE;
        }
    };
    server::telemetry::init(&config.log);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli.command, config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {}", one_line(&error));
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command, mut config: Config) -> anyhow::Result<()> {
    match command {
        Command::Serve { demo } => {
            if demo {
                config.profile = Profile::Development;
            }
            let db = Db::connect(&config.database).await?;
            let mut example_plan = None;
            if demo {
                db.migrate().await?;
                let keys = config.keys.load_or_create_for_demo()?;
                report_seed(seed::demo(&db, &keys, chrono_now()).await?);
                cli_auth::demo_credentials(&config, &db).await?;
                example_plan = seed::demo_example_plan(&db).await?;
            }
            let app = App::build_with_db(config.clone(), db).await?;
            print_welcome(&app, &config, demo, example_plan);
            app.run().await.context("server failed")?;
            Ok(())
        }
        Command::Migrate { status } => {
            let db = Db::connect(&config.database).await?;
            if status {
                match db.schema_status().await? {
                    SchemaStatus::Current => println!("schema is current"),
                    SchemaStatus::Behind { pending } => {
                        println!("pending migrations: {}", pending.join(", "));
                    }
                    SchemaStatus::Newer { unknown } => {
                        anyhow::bail!(
                            "the database schema is newer than this binary (unknown migrations: {})",
                            unknown.join(", ")
                        );
                    }
                }
                return Ok(());
            }
            let applied = db.migrate().await?;
            if applied.is_empty() {
                println!("schema is current; nothing to do");
            } else {
                println!(
                    "applied {} migration(s): {}",
                    applied.len(),
                    applied.join(", ")
                );
            }
            Ok(())
        }
        Command::Keys { command } => keys_cli::run(command, &config).await,
        Command::Members { command } => cli_auth::members(command, &config).await,
        Command::Clients { command } => cli_auth::clients(command, &config).await,
        Command::Residents { command } => residents_cli::run(command, &config).await,
        Command::Audit { command } => audit_cli::run(command, &config).await,
        Command::Seed { demo: _ } => {
            let db = Db::connect(&config.database).await?;
            db.migrate().await?;
            let keys = config.keys.load_or_create_for_demo()?;
            report_seed(seed::demo(&db, &keys, chrono_now()).await?);
            cli_auth::demo_credentials(&config, &db).await?;
            Ok(())
        }
    }
}

/// The error and its causes on one line, outermost first. A cause whose text is already in the
/// line (`thiserror` messages often embed their source) is not repeated.
fn one_line(error: &anyhow::Error) -> String {
    let mut line = error.to_string();
    for cause in error.chain().skip(1) {
        let text = cause.to_string();
        if !line.contains(&text) {
            line.push_str(": ");
            line.push_str(&text);
        }
    }
    line
}

fn chrono_now() -> chrono::DateTime<chrono::Utc> {
    chrono::Utc::now()
}

fn report_seed(outcome: SeedOutcome) {
    match outcome {
        SeedOutcome::Seeded {
            organisations,
            members,
            clients,
            residents,
        } => println!(
            "seeded the demo network \"{}\": {organisations} organisations, {members} members, {clients} partner systems, {residents} residents with plans",
            seed::DEMO_NETWORK
        ),
        SeedOutcome::AlreadySeeded => {
            println!(
                "the demo network \"{}\" is already there; nothing changed",
                seed::DEMO_NETWORK
            );
        }
    }
}

fn print_welcome(app: &App, config: &Config, demo: bool, example_plan: Option<uuid::Uuid>) {
    let address = app.local_addr();
    println!("wijkhub listening on http://{address}");
    println!("  GraphQL API:  http://{address}/graphql");
    if config.profile == Profile::Development {
        println!("  GraphiQL:     http://{address}/graphiql   (development profile only)");
    }
    println!("  health:       http://{address}/healthz  and  /readyz");
    if demo {
        println!(
            "  demo data:    the wijknetwerk \"{}\" (demo only, never for real residents)",
            seed::DEMO_NETWORK
        );
        println!(
            "  try:          curl -s http://{address}/graphql -H 'content-type: application/json' -d '{{\"query\":\"{{ apiVersion }}\"}}'"
        );
        println!(
            "  credentials:  {} (demo members' passwords and TOTP, partner systems' secrets)",
            config.data_dir().join("demo-credentials.json").display()
        );
        println!(
            "  token:        curl -s -u CLIENT_ID:CLIENT_SECRET -d grant_type=client_credentials http://{address}/oauth/token"
        );
        if let Some(plan) = example_plan {
            println!(
                "  a plan:       {plan}  (read it with the token and header Wijkhub-Purpose: support; README)"
            );
        }
    }
    println!("stop with ctrl-c");
}
