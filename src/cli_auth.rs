//! `wijkhub members …`, `wijkhub clients …`, `wijkhub keys rotate-signing|signing-status|init-auth`
//! and the demo's credentials: the administrators' side of issue 4.
//!
//! Each command prints what a person needs exactly once: a generated password or client secret
//! goes to stdout (nothing else does), with a note on stderr. A password an administrator chooses
//! comes through stdin from a pipe, never as an argument, so it never lands in a shell history
//! file or the process list. Nothing secret is logged.

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use domain::{Purpose, Role};
use secrecy::{ExposeSecret, SecretString};
use server::Config;
use server::auth::admin::{Admin, DemoCredentialsOutcome, NewPassword, Shown, SigningKeySummary};
use store::Db;

#[derive(Subcommand)]
pub enum MembersCommand {
    /// Add a member of staff; prints a generated password once (or reads one from a pipe).
    Add {
        #[arg(long)]
        email: String,
        /// Full name, as colleagues know it.
        #[arg(long)]
        name: String,
        /// The organisation's name, e.g. "Wijkteam Noordwest".
        #[arg(long)]
        organisation: String,
        /// Role code, repeatable: coach, triagist, welfare-worker, provider-worker,
        /// privacy-officer, administrator.
        #[arg(long = "role", required = true, value_parser = parse_role)]
        roles: Vec<Role>,
        /// Read the password from stdin (a pipe, not a terminal) instead of generating one.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Disable a member: refused within seconds, sessions ended now.
    Disable {
        #[arg(long)]
        email: String,
    },
    /// Set a new password (generated and printed once, or from a pipe); lifts any lock and ends
    /// the member's sessions.
    ResetPassword {
        #[arg(long)]
        email: String,
        #[arg(long)]
        password_stdin: bool,
        /// Also remove the second factor (TOTP and recovery codes): the member enrols again.
        #[arg(long)]
        reset_second_factor: bool,
    },
    /// Lift a lock after failed logins before it lifts by itself.
    Unlock {
        #[arg(long)]
        email: String,
    },
    /// List members: roles, status, second factor, failed logins and locks.
    List,
}

#[derive(Subcommand)]
pub enum ClientsCommand {
    /// Register a partner system; prints its generated client secret once.
    Add {
        /// The OAuth client id, e.g. "welzijn-noordwest".
        #[arg(long)]
        client_id: String,
        #[arg(long)]
        name: String,
        /// The organisation's name.
        #[arg(long)]
        organisation: String,
        /// Allowed scope, repeatable.
        #[arg(long = "scope", required = true)]
        scopes: Vec<String>,
        /// Allowed purpose, repeatable: support, coordination, triage, safety.
        #[arg(long = "purpose", required = true, value_parser = parse_purpose)]
        purposes: Vec<Purpose>,
        /// Its public key (JWK or PEM, Ed25519 or P-256) for `private_key_jwt`.
        #[arg(long)]
        public_key_file: Option<PathBuf>,
        /// No client secret: the client authenticates with `private_key_jwt` only.
        #[arg(long, requires = "public_key_file")]
        no_secret: bool,
    },
    /// A new client secret, printed once; the old one stops working at once.
    RotateSecret {
        #[arg(long)]
        client_id: String,
    },
    /// Register or replace the client's public key for `private_key_jwt`.
    SetKey {
        #[arg(long)]
        client_id: String,
        #[arg(long)]
        public_key_file: PathBuf,
    },
    /// Disable a partner system: its tokens are refused within seconds.
    Disable {
        #[arg(long)]
        client_id: String,
    },
    /// List partner systems.
    List,
}

/// `wijkhub keys rotate-signing`.
#[derive(Args)]
pub struct RotateSigningArgs {
    /// Instead of rotating, retire this old key (wait one token lifetime after the rotation):
    /// tokens it signed are refused from the next reload on.
    #[arg(long, value_name = "KID")]
    retire: Option<String>,
}

fn parse_role(text: &str) -> Result<Role, String> {
    Role::parse(text).map_err(|_| {
        let all: Vec<&str> = Role::ALL.iter().map(|role| role.as_str()).collect();
        format!("one of {}", all.join(", "))
    })
}

fn parse_purpose(text: &str) -> Result<Purpose, String> {
    Purpose::parse(text).map_err(|_| {
        let all: Vec<&str> = Purpose::ALL.iter().map(|p| p.as_str()).collect();
        format!("one of {}", all.join(", "))
    })
}

/// One line from a pipe; refuses a terminal (the input would be echoed).
fn password_from_stdin() -> anyhow::Result<SecretString> {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        bail!(
            "--password-stdin reads from a pipe, not a terminal (it would echo); \
             leave it out to get a generated password"
        );
    }
    let mut line = String::new();
    stdin
        .lock()
        .read_line(&mut line)
        .context("cannot read the password from stdin")?;
    let password = SecretString::from(line.trim_end_matches(['\r', '\n']).to_owned());
    zeroize::Zeroize::zeroize(&mut line);
    Ok(password)
}

fn new_password(from_stdin: bool) -> anyhow::Result<NewPassword> {
    Ok(if from_stdin {
        NewPassword::Given(password_from_stdin()?)
    } else {
        NewPassword::Generate
    })
}

/// Prints a generated secret on stdout, once, and what it is on stderr.
fn show_once(shown: &Shown, what: &str) -> anyhow::Result<()> {
    if let Some(secret) = &shown.secret {
        let mut stdout = std::io::stdout().lock();
        writeln!(stdout, "{}", secret.expose_secret())?;
        stdout.flush()?;
        eprintln!(
            "the {what} above is shown once: hand it over securely now; it is stored only hashed"
        );
    }
    Ok(())
}

pub async fn members(command: MembersCommand, config: &Config) -> anyhow::Result<()> {
    let admin = Admin::open(config).await?;
    let result = members_with(&admin, command).await;
    admin.close().await?;
    result
}

async fn members_with(admin: &Admin, command: MembersCommand) -> anyhow::Result<()> {
    match command {
        MembersCommand::Add {
            email,
            name,
            organisation,
            roles,
            password_stdin,
        } => {
            let password = new_password(password_stdin)?;
            let shown = admin
                .add_member(&email, &name, &organisation, &roles, password)
                .await?;
            eprintln!("member {} added", shown.id);
            if roles
                .iter()
                .any(|role| matches!(role, Role::PrivacyOfficer | Role::Administrator))
            {
                eprintln!(
                    "this role needs a second factor: the first console login leads to TOTP enrolment"
                );
            }
            show_once(&shown, "password")
        }
        MembersCommand::Disable { email } => {
            let shown = admin.disable_member(&email).await?;
            eprintln!(
                "member {} disabled; sessions ended, tokens refused within seconds",
                shown.id
            );
            Ok(())
        }
        MembersCommand::ResetPassword {
            email,
            password_stdin,
            reset_second_factor,
        } => {
            let password = new_password(password_stdin)?;
            let shown = admin
                .reset_password(&email, password, reset_second_factor)
                .await?;
            eprintln!(
                "password of member {} reset; lock lifted, sessions ended",
                shown.id
            );
            show_once(&shown, "password")
        }
        MembersCommand::Unlock { email } => {
            match admin.unlock_member(&email).await? {
                Some(until) => eprintln!("lock lifted (it would have lasted until {until})"),
                None => eprintln!("not locked; failed-login count reset"),
            }
            Ok(())
        }
        MembersCommand::List => {
            println!(
                "email\tname\torganisation\troles\tstatus\tsecond-factor\tfailed-logins\tlocked-until"
            );
            for member in admin.list_members().await? {
                let roles: Vec<&str> = member.roles.iter().map(|role| role.as_str()).collect();
                println!(
                    "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
                    member.email,
                    member.name,
                    member.organisation,
                    roles.join(","),
                    member.status,
                    if member.second_factor { "totp" } else { "-" },
                    member.failed_logins,
                    member
                        .locked_until
                        .map_or_else(|| "-".to_owned(), |until| until.to_rfc3339()),
                );
            }
            Ok(())
        }
    }
}

fn read_public_key(path: Option<&PathBuf>) -> anyhow::Result<Option<String>> {
    path.map(|path| {
        std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the public key file {}", path.display()))
            .map(|text| text.trim().to_owned())
    })
    .transpose()
}

pub async fn clients(command: ClientsCommand, config: &Config) -> anyhow::Result<()> {
    let admin = Admin::open(config).await?;
    let result = clients_with(&admin, command).await;
    admin.close().await?;
    result
}

async fn clients_with(admin: &Admin, command: ClientsCommand) -> anyhow::Result<()> {
    match command {
        ClientsCommand::Add {
            client_id,
            name,
            organisation,
            scopes,
            purposes,
            public_key_file,
            no_secret,
        } => {
            let public_key = read_public_key(public_key_file.as_ref())?;
            let shown = admin
                .add_client(
                    &client_id,
                    &name,
                    &organisation,
                    &scopes,
                    &purposes,
                    public_key.as_deref(),
                    !no_secret,
                )
                .await?;
            eprintln!("client {client_id} added ({})", shown.id);
            show_once(&shown, "client secret")
        }
        ClientsCommand::RotateSecret { client_id } => {
            let shown = admin.rotate_client_secret(&client_id).await?;
            eprintln!("client {client_id}: new secret; the old one no longer works");
            show_once(&shown, "client secret")
        }
        ClientsCommand::SetKey {
            client_id,
            public_key_file,
        } => {
            let key = read_public_key(Some(&public_key_file))?.unwrap_or_default();
            admin.set_client_public_key(&client_id, &key).await?;
            eprintln!("client {client_id}: public key registered for private_key_jwt");
            Ok(())
        }
        ClientsCommand::Disable { client_id } => {
            admin.disable_client(&client_id).await?;
            eprintln!("client {client_id} disabled; its tokens are refused within seconds");
            Ok(())
        }
        ClientsCommand::List => {
            println!("client-id\tname\torganisation\tstatus\tscopes\tpurposes\tauthentication");
            for client in admin.list_clients().await? {
                let purposes: Vec<&str> = client.purposes.iter().map(|p| p.as_str()).collect();
                let methods = match (client.secret, client.public_key) {
                    (true, true) => "client_secret_basic,private_key_jwt",
                    (true, false) => "client_secret_basic",
                    (false, true) => "private_key_jwt",
                    (false, false) => "-",
                };
                println!(
                    "{}\t{}\t{}\t{}\t{}\t{}\t{}",
                    client.client_id,
                    client.name,
                    client.organisation,
                    client.status,
                    client.scopes.join(" "),
                    purposes.join(" "),
                    methods
                );
            }
            Ok(())
        }
    }
}

fn print_signing_keys(keys: &[SigningKeySummary]) {
    println!("kid\tcreated\tcurrent");
    for key in keys {
        println!(
            "{}\t{}\t{}",
            key.kid,
            key.created_at.to_rfc3339(),
            if key.current { "yes" } else { "no" }
        );
    }
}

/// `wijkhub keys rotate-signing [--retire KID]`.
pub async fn rotate_signing(args: RotateSigningArgs, config: &Config) -> anyhow::Result<()> {
    let admin = Admin::open(config).await?;
    let result = match &args.retire {
        Some(kid) => admin.retire_signing_key(kid).await,
        None => admin.rotate_signing_key().await,
    };
    admin.close().await?;
    let keys = result?;
    print_signing_keys(&keys);
    eprintln!(
        "running instances pick this up within {} seconds",
        config.auth.key_reload_seconds
    );
    if args.retire.is_none() {
        eprintln!(
            "retire the old key after one token lifetime ({} s): wijkhub keys rotate-signing --retire KID",
            config.auth.tokens.lifetime_seconds
        );
    }
    Ok(())
}

/// `wijkhub keys signing-status`.
pub async fn signing_status(config: &Config) -> anyhow::Result<()> {
    let admin = Admin::open(config).await?;
    let keys = admin.signing_keys().await;
    admin.close().await?;
    print_signing_keys(&keys?);
    Ok(())
}

/// `wijkhub keys init-auth`: the auth key file at `auth.key_file`.
pub fn init_auth(config: &Config) -> anyhow::Result<()> {
    server::auth::admin::init_auth_keys(&config.auth.key_file)?;
    eprintln!(
        "created the auth key file {} (mode 0600); keep it out of the database's backups",
        config.auth.key_file.display()
    );
    Ok(())
}

/// The demo: auth keys on first run, then working credentials for every demo member and client
/// in `data/demo-credentials.json` (kept when they still work).
pub async fn demo_credentials(config: &Config, db: &Db) -> anyhow::Result<PathBuf> {
    server::auth::admin::load_or_create_auth_keys_for_demo(config)?;
    let path = config.data_dir().join("demo-credentials.json");
    let admin = Admin::open_with_db(config, db.clone()).await?;
    let outcome = admin
        .ensure_demo_credentials(&path, &config.auth.tokens.issuer)
        .await;
    admin.close().await?;
    match outcome? {
        DemoCredentialsOutcome::Kept => {}
        DemoCredentialsOutcome::Written => eprintln!(
            "demo credentials (passwords, TOTP, client secrets) written to {} (mode 0600, demo only)",
            path.display()
        ),
    }
    Ok(path)
}
